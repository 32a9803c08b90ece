"""NP-Edit's losses, each as in the paper (reference/npedit.md §1.3-1.6)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from harness.scorers.questions import Question


def vlm_loss(scorer, source: torch.Tensor, output: torch.Tensor, questions: Sequence[Sequence[Question]],
             mode: str = "binary", logit_scale: float = 1.0, reduce: str = "sum",
             stats: dict | None = None) -> torch.Tensor:
    """Eqn 4: L = -sum_j log p(a_j), p(a_j) = sigmoid(l_{a_j} - l_{not a_j}) over the Yes/No logits.

    ``questions[i]`` are sample i's questions (edit verification, identity preservation); a
    question with one image sees the output alone (removal), two images see (source, output).
    ``mode="full_vocab_ce"`` is the ablation: softmax over the whole vocabulary instead.
    Images are in [0, 1]; the gradient flows into ``output`` only. Returns the batch mean; ``stats``
    (if given) receives the judge's mean probability of the correct answers ("reward").
    """
    per_question: list[tuple[int, torch.Tensor]] = []
    for n_images in (1, 2):
        rows = [(i, q) for i, qs in enumerate(questions) for q in qs if q.n_images == n_images]
        if not rows:
            continue
        idx = torch.tensor([i for i, _ in rows], device=output.device)
        images = [output[idx]] if n_images == 1 else [source[idx], output[idx]]
        texts = [q.text for _, q in rows]
        expected = torch.tensor([q.expected for _, q in rows], device=output.device)
        if mode == "binary":
            yes_no = scorer.yes_no_logits(images, texts) * logit_scale
            sign = expected.to(yes_no.dtype) * 2 - 1  # +1 when the correct answer is Yes
            losses = F.softplus(-sign * (yes_no[:, 0] - yes_no[:, 1]))  # = -log sigmoid(+-diff)
        elif mode == "full_vocab_ce":
            logits = scorer.answer_logits(images, texts) * logit_scale
            target = torch.where(expected, scorer.yes_id, scorer.no_id)
            losses = F.cross_entropy(logits, target, reduction="none")
        else:
            raise ValueError(f"vlm_loss mode must be 'binary' or 'full_vocab_ce', got {mode!r}")
        per_question += list(zip(idx.tolist(), losses))
    if stats is not None and mode == "binary":  # binary loss = -log p(correct)
        stats["reward"] = float(torch.exp(-torch.stack([l for _, l in per_question]).detach()).mean())
    per_sample = [torch.stack([l for i, l in per_question if i == s]) for s in range(len(questions))]
    reduced = [l.sum() if reduce == "sum" else l.mean() for l in per_sample]
    return torch.stack(reduced).mean()


def dmd_loss(x: torch.Tensor, teacher, aux, caption, cfg_scale: torch.Tensor, t_min: float = 0.02,
             t_max: float = 0.98, generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
    """Eqn 5 in the DMD2 form: re-noise the output to t ~ U[t_min, t_max]; the frozen teacher
    (target caption, CFG) and the auxiliary model (no CFG) each predict x0; the gradient
    (x0_fake - x0_real) / mean|x - x0_real| is applied through 0.5 * MSE(x, sg(x - grad))."""
    b = x.shape[0]
    t = t_min + (t_max - t_min) * torch.rand(b, generator=generator)
    t = t.to(x.device, x.dtype)
    tb = t.view(-1, 1, 1, 1)
    x_t = (1 - tb) * x.detach() + tb * torch.randn(x.shape, generator=generator).to(x.device, x.dtype)
    with torch.no_grad():
        text = teacher.encode_text(list(caption))
        empty = teacher.encode_text([""] * b)
        v_cond, v_uncond = teacher.velocity(x_t, t, text), teacher.velocity(x_t, t, empty)
        scale = cfg_scale.to(x.device, x.dtype).view(-1, 1, 1, 1)
        x0_real = x_t - tb * (v_uncond + scale * (v_cond - v_uncond))
        x0_fake = x_t - tb * aux.velocity(x_t, t, list(caption))
        norm = (x.detach() - x0_real).abs().mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
        grad = (x0_fake - x0_real) / norm
    loss = 0.5 * F.mse_loss(x, (x - grad).detach())
    return loss, {"dmd_grad_norm": float(grad.flatten(1).norm(dim=1).mean())}
