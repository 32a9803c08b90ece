"""The embedded judge's training losses: Yes/No cross-entropy, the dense change map of the pair questions,
and the teacher-forced LM loss of the one-word VQA answers."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.scorers.scorer import HFVLMScorer

from .augment import grain_batch
from .data import Example, render_examples


def yes_no_loss(scorer: HFVLMScorer, examples: list[Example], rng, resolution: int, change_head=None,
                grain_prob: float = 0.0, grain_sigma: float = 0.0):
    """(Yes/No cross-entropy, accuracy, dense change-map loss or None). The change map (see
    ``change_map_loss``) needs ``change_head`` = (LM layer, linear head) and two-image examples. A share
    ``grain_prob`` of the examples that are not degraded get ``grain`` on their last image, with the same
    answer; the change map keeps the exact renders' labels."""
    slots = render_examples(examples, rng, resolution)
    seen = slots
    if grain_prob > 0:
        seen = slots[:-1] + [grain_batch(slots[-1], grain_prob, grain_sigma, rng, skip=[e.degrade for e in examples])]
    questions = [e.question for e in examples]
    aux = None
    if change_head is None:
        logits = scorer.yes_no_logits(seen, questions)
    else:
        inputs = scorer.model_inputs(seen, questions)
        out = scorer.model(**inputs, logits_to_keep=1, output_hidden_states=True)
        logits = out.logits[:, -1].float()[:, [scorer.yes_id, scorer.no_id]]
        aux = change_map_loss(change_head, out.hidden_states, inputs["input_ids"], scorer._image_token_id(),
                              slots, [not e.degrade for e in examples], n_images=len(scorer.prompt_slots(slots)))
    target = torch.tensor([0 if e.answer else 1 for e in examples], device=logits.device)  # class 0 = Yes
    loss = F.cross_entropy(logits, target)  # 2-way CE == BCE on the Yes-No difference
    acc = (logits.argmax(-1) == target).float().mean()
    return loss, acc, aux


def _any_per_patch(pixels: torch.Tensor, patch: int) -> torch.Tensor:
    """[B, H, W] bool -> [B, cells] float: 1.0 where any pixel of the patch is set (row-major cells,
    the order of the vision tower's patch tokens)."""
    bsz, h, w = pixels.shape
    return pixels.view(bsz, h // patch, patch, w // patch, patch).amax(dim=(2, 4)).flatten(1).float()


def change_cells(a: torch.Tensor, b: torch.Tensor, patch: int, tol: float = 0.05) -> torch.Tensor:
    """[B, cells] 1.0 where any pixel of the patch differs by more than ``tol`` between two renders."""
    return _any_per_patch((a - b).abs().amax(1) > tol, patch)


def change_map_loss(head, hidden_states, input_ids, image_token_id: int, slots, keep, n_images: int = 2):
    """Dense pair supervision: from the hidden state of every token of the last image in the prompt, predict
    whether its patch differs between the source and the edited image (in a causal LM only a later image sees
    the first). Exact labels from the renders; ``keep`` masks out the degraded examples. A Yes/No bit per pair
    teaches the comparison only after a long plateau; a per-token target asks for it directly."""
    layer, linear = head
    h = hidden_states[layer]
    mask = input_ids == image_token_id
    bsz, n = mask.shape[0], int(mask[0].sum()) // n_images
    tok = h[mask].view(bsz, n_images, n, -1)[:, -1]
    patch = slots[0].shape[-1] // int(round(n ** 0.5))
    target = change_cells(slots[0].to(h.device), slots[1].to(h.device), patch)  # [B, n]
    logits = linear(tok)  # [B, n, 1]
    w = torch.tensor(keep, dtype=h.dtype, device=h.device)[:, None].expand_as(target)
    per = F.binary_cross_entropy_with_logits(logits[..., 0], target, reduction="none")
    return (per * w).sum() / w.sum().clamp(min=1)


def answer_loss(scorer: HFVLMScorer, examples: list[Example], rng, resolution: int):
    """Teacher-forced LM loss on a short answer text (stored in Example.variant), prompted as the Yes/No
    questions are (a pair with the change crops the judge is built with)."""
    slots = scorer.prompt_slots(render_examples(examples, rng, resolution))
    pix = scorer.pixel_inputs(slots)
    n_tok = scorer._llava_tokens_per_image(tuple(pix["pixel_values"].shape[-2:]))
    tok = scorer.tokenizer
    rows = [(scorer._ids(e.question, len(slots), n_tok), tok.encode(e.variant, add_special_tokens=False)
             + [tok.eos_token_id]) for e in examples]
    n = max(len(a) + len(b) for a, b in rows)
    ids = torch.full((len(rows), n), tok.pad_token_id, dtype=torch.long)
    labels = torch.full((len(rows), n), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), n), dtype=torch.long)
    for i, (a, b) in enumerate(rows):
        seq = torch.tensor(a + b)
        ids[i, n - len(seq):] = seq
        mask[i, n - len(seq):] = 1
        labels[i, n - len(b):] = torch.tensor(b)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    dev = scorer.device
    out = scorer.model(input_ids=ids.to(dev), attention_mask=mask.to(dev), position_ids=pos.to(dev),
                       labels=labels.to(dev), **pix)
    return out.loss
