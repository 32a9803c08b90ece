"""The embedded VLM judge: a tiny LLaVA trained on Yes/No questions about the shapes world.

It is a standard `LlavaForConditionalGeneration` (CLIP vision tower + Llama) with a word-level
tokenizer and a `LlavaProcessor`, saved with `save_pretrained` and loaded like any checkpoint.
Training data is generated on the fly from scene graphs, so every label is exact.
"""
from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from harness.atomic_io import write_json
from harness.cache import cached_build
from harness.models.optim import adamw
from harness.world.edits import CATEGORIES, DIRECTIONS, preserved, sample_edit
from harness.world.palette import BACKGROUNDS, COLORS, SHAPES, SIZE_ORDER
from harness.world.render import render_batch
from harness.world.scene import MAX_OBJECTS, Obj, Scene, is_valid, placements, random_scene
from harness.world.text import vocabulary

from .questions import (COUNT_WORDS, DESCRIBE, EDIT, IDENTITY, PAIR_VQA_SIZE, PROBES, TEMPLATES, VQA,
                        question_words)
from .judge_config import JUDGE_VERSION, JudgeConfig  # noqa: F401 (re-exported)
from .augment import gaussian_noise, grain_batch
from .scorer import SCORER_OPTION_NAMES, SCORER_OPTIONS, HFVLMScorer

SPECIALS = ["<pad>", "<unk>", "<s>", "</s>", "<image>", "USER:", "ASSISTANT:", "Yes", "No"]
# Images first, then the question, then the answer: the question words sit right after the
# images and read them, like the describe-stage text does.
CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'user' %}USER: {% else %}ASSISTANT: {% endif %}"
    "{% if m['content'] is string %}{{ m['content'] }} {% else %}"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image> {% endif %}{% endfor %}"
    "{% for c in m['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }} {% endif %}{% endfor %}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
# Question first, then the images: every image token can read the question (which object, which
# attribute) while the vision features are mixed in.
CHAT_TEMPLATE_TEXT_FIRST = CHAT_TEMPLATE.replace(
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image> {% endif %}{% endfor %}"
    "{% for c in m['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }} {% endif %}{% endfor %}",
    "{% for c in m['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }} {% endif %}{% endfor %}"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image> {% endif %}{% endfor %}")
assert CHAT_TEMPLATE_TEXT_FIRST != CHAT_TEMPLATE
PROBE_TYPES = tuple(PROBES)
QUESTION_TYPES = (EDIT, IDENTITY) + PROBE_TYPES


# ---------------------------------------------------------------- model + processor

def build_tokenizer():
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import PreTrainedTokenizerFast

    words = set(vocabulary()) | question_words() | set(COUNT_WORDS) | {".", ",", ":", "?", "nothing"}
    vocab = {w: i for i, w in enumerate(SPECIALS)}
    for w in sorted(words - set(vocab)):
        vocab[w] = len(vocab)
    tk = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=tk, unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>",
        extra_special_tokens={"image_token": "<image>"}, padding_side="left",
    )


def build_processor(cfg: JudgeConfig):
    from transformers import LlavaProcessor

    try:
        from transformers import CLIPImageProcessorPil as IP  # no torchvision here
    except ImportError:  # pragma: no cover - older transformers
        from transformers import CLIPImageProcessor as IP
    ip = IP(size={"shortest_edge": cfg.image_size}, crop_size={"height": cfg.image_size, "width": cfg.image_size},
            resample=3)
    clip = cfg.vision_model == "clip"  # CLIP has a CLS token (dropped by the "default" strategy)
    return LlavaProcessor(image_processor=ip, tokenizer=build_tokenizer(), patch_size=cfg.patch_size,
                          vision_feature_select_strategy="default" if clip else "full", image_token="<image>",
                          num_additional_image_tokens=1 if clip else 0,
                          chat_template=CHAT_TEMPLATE if cfg.images_first else CHAT_TEMPLATE_TEXT_FIRST)


def build_model(cfg: JudgeConfig, tokenizer):
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration, SiglipVisionConfig

    torch.manual_seed(cfg.seed)
    common = dict(hidden_size=cfg.vision_hidden, intermediate_size=2 * cfg.vision_hidden,
                  num_hidden_layers=cfg.vision_layers, num_attention_heads=cfg.vision_heads,
                  image_size=cfg.image_size, patch_size=cfg.patch_size)
    if cfg.vision_model == "clip":
        vision = CLIPVisionConfig(**common, projection_dim=cfg.vision_hidden)
    elif cfg.vision_model == "siglip":
        vision = SiglipVisionConfig(**common, vision_use_head=False)
    else:
        raise ValueError(f"unknown vision_model {cfg.vision_model!r}; use 'clip' or 'siglip'")
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=cfg.text_hidden,
                       intermediate_size=cfg.text_intermediate, num_hidden_layers=cfg.text_layers,
                       num_attention_heads=cfg.text_heads, num_key_value_heads=cfg.text_heads,
                       max_position_embeddings=512, rope_theta=cfg.rope_theta,
                       pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False,
                       initializer_range=cfg.init_std)
    config = LlavaConfig(vision_config=vision, text_config=text,
                         image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
                         vision_feature_layer=-1,
                         vision_feature_select_strategy="default" if cfg.vision_model == "clip" else "full")
    model = LlavaForConditionalGeneration(config)
    if cfg.pos_init_std > 0:
        with torch.no_grad():
            model.model.vision_tower.embeddings.position_embedding.weight.normal_(0.0, cfg.pos_init_std)
    return model


# ---------------------------------------------------------------- exact labels from scene graphs

@dataclass(frozen=True)
class Case:
    source: Scene
    category: str
    spec: dict
    target: Scene
    instruction: str
    object_name: str


def random_case(rng: np.random.Generator, max_objects: int = 3, category: str | None = None) -> Case:
    while True:
        scene = random_scene(rng, max_objects=max_objects)
        cat = category or CATEGORIES[int(rng.integers(len(CATEGORIES)))]
        e = sample_edit(scene, cat, rng)
        if e is not None:
            return Case(scene, cat, e.spec, e.target, e.instruction, e.object_name)


def edit_done(case: Case, out: Scene) -> bool:
    cat, spec, src = case.category, case.spec, case.source
    o = src.objects[spec["index"]] if "index" in spec else None
    objs = out.objects
    if cat == "color_alter":
        return replace(o, color=spec["color"]) in objs
    if cat == "subject-remove":
        return not any(p.color == o.color and p.shape == o.shape for p in objs)
    if cat == "subject-add":
        return any(p.color == spec["obj"]["color"] and p.shape == spec["obj"]["shape"] for p in objs)
    if cat == "subject-replace":
        return replace(o, shape=spec["shape"]) in objs
    if cat == "background_change":
        return out.background == spec["background"]
    same = [p for p in objs if p.color == o.color and p.shape == o.shape]
    if cat == "subject-move":
        dx, dy = DIRECTIONS[spec["direction"]]
        return any(p.size == o.size and (p.x - o.x) * dx + (p.y - o.y) * dy >= 1
                   and (p.x - o.x) * dy == 0 and (p.y - o.y) * dx == 0 for p in same)
    if cat == "resize":
        sign = 1 if spec["direction"] == "bigger" else -1
        k = SIZE_ORDER.index(o.size)
        return any(p.x == o.x and p.y == o.y and (SIZE_ORDER.index(p.size) - k) * sign > 0 for p in same)
    raise ValueError(f"unknown category {cat!r}")


def identity_kept(case: Case, out: Scene) -> bool:
    """Everything the instruction does not name is unchanged: the world's rule, as the oracle uses it."""
    return preserved(case.category, case.spec, case.source, out)


# ---------------------------------------------------------------- candidate outputs

def _pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


def perturb(scene: Scene, rng: np.random.Generator) -> Scene | None:
    """One random change to a scene (move/recolour/reshape/resize/remove/add/background)."""
    objs = list(scene.objects)
    kind = _pick(rng, ["move", "move", "color", "shape", "size", "remove", "add", "background"])
    if kind == "background":
        return Scene(_pick(rng, [b for b in BACKGROUNDS if b != scene.background]), scene.objects)
    if kind == "add":
        if len(objs) >= MAX_OBJECTS:
            return None
        used = {(o.color, o.shape) for o in objs}
        combos = [(c, s) for c in COLORS for s in SHAPES if (c, s) not in used]
        spots = placements(objs)
        if not spots:
            return None
        (c, s), (size, x, y) = _pick(rng, combos), _pick(rng, spots)
        return Scene(scene.background, tuple(objs + [Obj(s, c, size, x, y)]))
    if not objs:
        return None
    i = int(rng.integers(len(objs)))
    o = objs[i]
    if kind == "remove":
        new = None
    elif kind == "move":
        dx, dy = _pick(rng, list(DIRECTIONS.values()))
        step = int(rng.integers(1, 3))
        new = replace(o, x=o.x + dx * step, y=o.y + dy * step)
    elif kind == "color":
        new = replace(o, color=_pick(rng, [c for c in COLORS if c != o.color]))
    elif kind == "shape":
        new = replace(o, shape=_pick(rng, [s for s in SHAPES if s != o.shape]))
    else:
        new = replace(o, size=_pick(rng, [s for s in SIZE_ORDER if s != o.size]))
    objs = objs[:i] + ([] if new is None else [new]) + objs[i + 1:]
    out = Scene(scene.background, tuple(objs))
    return out if is_valid(out) else None


def candidate(case: Case, rng: np.random.Generator) -> tuple[Scene, str]:
    """A plausible editor output for the case, with a tag saying how it was made."""
    r = rng.random()
    if r < 0.25:
        return case.target, "target"
    if r < 0.4:
        return case.source, "unchanged"
    if r < 0.6:  # the same kind of edit, drawn again: often another object or another value
        e = sample_edit(case.source, case.category, rng)
        if e is not None:
            return e.target, "alt_edit"
    if r < 0.7:  # a different edit altogether
        e = sample_edit(case.source, _pick(rng, CATEGORIES), rng)
        if e is not None:
            return e.target, "other_edit"
    base, tag = (case.target, "extra_change") if rng.random() < 0.75 else (case.source, "unchanged_changed")
    out = perturb(base, rng)
    if out is not None and rng.random() < 0.2:
        out = perturb(out, rng) or out
    return (out, tag) if out is not None else (case.target, "target")


def degrade(img: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Blur or heavy noise: images the judge must not accept as a clean edit."""
    if rng.random() < 0.5:
        k = int(_pick(rng, [3, 5]))
        w = torch.ones(3, 1, k, k) / (k * k)
        return F.conv2d(F.pad(img[None], [k // 2] * 4, mode="replicate"), w, groups=3)[0]
    return gaussian_noise(img, 0.08, 0.25, rng)


# ---------------------------------------------------------------- question examples

@dataclass
class Example:
    images: list  # Scenes (or tensors after rendering)
    question: str
    answer: bool
    qtype: str
    variant: str
    degrade: bool = False
    # two-image questions: objects whose pixels the request may change (the named object in the
    # source, the output's objects that are not untouched source objects); None: not defined
    # (background change, one-image questions). Used by the optional violation map.
    allowed: tuple | None = None


def edit_example(case: Case, kind: str, want: bool, rng, degrade_prob: float, tries: int = 60) -> Example | None:
    """Edit-verification or identity question on (source, output) with the wanted answer."""
    t = TEMPLATES[case.category][0 if kind == EDIT else 1]
    text = t.text.format(instruction=case.instruction, obj=case.object_name)
    label_fn = edit_done if kind == EDIT else identity_kept
    # Literal answer to the question: the removal edit question asks whether the object is
    # present, so its answer is the negation of "edit done".
    answer = (lambda s: label_fn(case, s) == t.expected)
    # Degraded: a blurred/noisy copy of an image that would get "Yes" must get "No".
    degr = t.expected and (not want) and rng.random() < degrade_prob
    need = True if degr else want
    for _ in range(tries):
        out, tag = candidate(case, rng)
        if answer(out) == need:
            imgs = [out] if t.n_images == 1 else [case.source, out]
            allowed = allowed_objects(case, out) if t.n_images == 2 else None
            return Example(imgs, text, want, kind, "degraded" if degr else tag, degr, allowed)
    return None


def allowed_objects(case: Case, out: Scene) -> tuple | None:
    """Objects whose pixels may differ between source and output under the request (see Example)."""
    if case.category == "background_change":
        return None
    i = case.spec.get("index")
    untouched = [o for j, o in enumerate(case.source.objects) if j != i]
    rest = list(out.objects)
    for o in untouched:
        if o in rest:
            rest.remove(o)
    if len(rest) > 1:  # one object may be the edited (or added) one; the others are extra changes
        if i is not None:
            o = case.source.objects[i]
            rest = [min(rest, key=lambda p: (p.color != o.color) + (p.shape != o.shape) + abs(p.x - o.x) + abs(p.y - o.y))]
        else:
            want = case.spec.get("obj", {})
            rest = [min(rest, key=lambda p: (p.color != want.get("color")) + (p.shape != want.get("shape")))]
    return tuple(([case.source.objects[i]] if i is not None else []) + rest)


def probe_example(scene: Scene, qtype: str, want: bool, rng, count_near: float = 0.0) -> Example | None:
    """A one-image Yes/No question of type ``qtype`` about ``scene``. ``count_near``: the share of wrong counts
    drawn next to the true one (n - 1 or n + 1), the hard negatives of the count question; 0 draws every
    wrong count alike (and leaves the random stream as it was)."""
    objs = scene.objects
    tpl = PROBES[qtype]
    if qtype == "presence":
        present = {(o.color, o.shape) for o in objs}
        if want:
            if not objs:
                return None
            o = _pick(rng, objs)
            c, s = o.color, o.shape
        else:
            absent = [(c, s) for c in COLORS for s in SHAPES if (c, s) not in present]
            near = [(c, s) for (c, s) in absent if any(c == o.color or s == o.shape for o in objs)]
            c, s = _pick(rng, near if near and rng.random() < 0.6 else absent)
        return Example([scene], tpl.format(color=c, shape=s), want, qtype, "probe")
    if qtype == "color":
        uniq = [o for o in objs if sum(p.shape == o.shape for p in objs) == 1]
        if not uniq:
            return None
        o = _pick(rng, uniq)
        c = o.color if want else _pick(rng, [c for c in COLORS if c != o.color])
        return Example([scene], tpl.format(shape=o.shape, color=c), want, qtype, "probe")
    if qtype == "shape":
        uniq = [o for o in objs if sum(p.color == o.color for p in objs) == 1]
        if not uniq:
            return None
        o = _pick(rng, uniq)
        s = o.shape if want else _pick(rng, [s for s in SHAPES if s != o.shape])
        return Example([scene], tpl.format(color=o.color, shape=s), want, qtype, "probe")
    if qtype == "count":
        n = len(objs)
        if want:
            w = COUNT_WORDS[n]
        elif count_near > 0 and rng.random() < count_near:
            w = _pick(rng, [COUNT_WORDS[k] for k in (n - 1, n + 1) if 0 <= k < len(COUNT_WORDS)])
        else:
            w = _pick(rng, [x for x in COUNT_WORDS if x != COUNT_WORDS[n]])
        return Example([scene], tpl.format(count=w), want, qtype, "probe")
    if qtype == "background":
        b = scene.background if want else _pick(rng, [b for b in BACKGROUNDS if b != scene.background])
        return Example([scene], tpl.format(bg=b), want, qtype, "probe")
    raise ValueError(f"unknown probe type {qtype!r}")


def sample_examples(rng, n_pair: int, n_single: int, degrade_prob: float, probe_types=PROBE_TYPES,
                    remove_share: float = 0.3, max_objects: int = 3, pair_max_objects: int = 3,
                    identity_share: float = 0.5, count_near: float = 0.0) -> tuple[list, list]:
    """Balanced Yes/No examples: n_pair two-image questions (a share ``identity_share`` of them identity
    questions, on scenes of at most ``pair_max_objects`` objects), n_single one-image questions
    (probe scenes with at most ``max_objects`` objects; ``count_near`` as in ``probe_example``)."""
    pairs, singles = [], []
    while len(pairs) < n_pair:
        case = random_case(rng, pair_max_objects)
        kind = IDENTITY if rng.random() < identity_share else EDIT
        if kind == EDIT and TEMPLATES[case.category][0].n_images == 1:
            continue  # removal edit questions are single-image
        ex = edit_example(case, kind, len(pairs) % 2 == 0, rng, degrade_prob)
        if ex is not None:
            pairs.append(ex)
    while len(singles) < n_single:
        want = len(singles) % 2 == 0
        if rng.random() < remove_share:  # the removal edit question (one image)
            case = random_case(rng)
            if case.category != "subject-remove":
                continue
            ex = edit_example(case, EDIT, want, rng, degrade_prob)
        else:
            scene = random_scene(rng, min_objects=0 if rng.random() < 0.1 else 1, max_objects=max_objects)
            if rng.random() < 0.3 and max_objects > 1:
                scene = perturb(scene, rng) or scene
            ex = probe_example(scene, _pick(rng, list(probe_types)), want, rng, count_near)
        if ex is not None:
            singles.append(ex)
    return pairs, singles


def render_examples(examples: list[Example], rng, resolution: int = 32) -> list[torch.Tensor]:
    """[B, 3, H, W] per image slot; degraded examples get their last image blurred or noised."""
    k = len(examples[0].images)
    slots = [render_batch([e.images[j] for e in examples], resolution) for j in range(k)]
    for i, e in enumerate(examples):
        if e.degrade:
            slots[-1][i] = degrade(slots[-1][i], rng)
    return slots


# ---------------------------------------------------------------- training

def _loss(scorer: HFVLMScorer, examples: list[Example], rng, resolution: int, change_head=None,
          grain_prob: float = 0.0, grain_sigma: float = 0.0):
    """(Yes/No cross-entropy, accuracy, dense change-map loss or None). The change map (see
    ``change_map_loss``) needs ``change_head`` and two-image examples. A share ``grain_prob`` of the
    examples that are not degraded get ``grain`` on their last image, with the same answer; the change map
    keeps the exact renders' labels."""
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
                              slots, [not e.degrade for e in examples],
                              [e.allowed for e in examples] if change_head[1].out_features > 1 else None,
                              n_images=len(scorer.prompt_slots(slots)))
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


def violation_cells(a: torch.Tensor, b: torch.Tensor, allowed: list, patch: int, tol: float = 0.05):
    """[B, cells] 1.0 where a pixel changed outside every allowed object (dilated by one pixel), and a
    [B] weight that is 0 where ``allowed`` is None (not defined for that example)."""
    from harness.world.render import object_mask

    res = a.shape[-1]
    changed = (a - b).abs().amax(1) > tol  # [B, H, W]
    free = torch.ones_like(changed)
    for k, objs in enumerate(allowed):
        if objs:
            m = torch.from_numpy(sum(object_mask(o, res) for o in objs) > 0)
            m = F.max_pool2d(m[None, None].float(), 3, 1, 1)[0, 0] > 0
            free[k] = ~m.to(free.device)
    v = _any_per_patch(changed & free, patch)
    weight = torch.tensor([objs is not None for objs in allowed], dtype=v.dtype, device=v.device)
    return v, weight


def change_map_loss(head, hidden_states, input_ids, image_token_id: int, slots, keep, allowed=None,
                    n_images: int = 2) -> torch.Tensor:
    """Dense pair supervision: from the hidden state of every token of the second image, predict
    whether its patch differs from the first image's (the causal LM lets only the second image see
    the first; with the difference image, read its tokens, the last). Exact labels from the renders.
    A Yes/No bit per pair teaches the language model to compare the two images only after a long plateau (issue #3: identity questions at chance for
    ~250 steps); a per-token target asks for that comparison directly."""
    layer, linear = head
    h = hidden_states[layer]
    mask = input_ids == image_token_id
    # tokens of the last image in the prompt: the edited image, or the difference image after it
    bsz, n = mask.shape[0], int(mask[0].sum()) // n_images
    tok = h[mask].view(bsz, n_images, n, -1)[:, -1]
    patch = slots[0].shape[-1] // int(round(n ** 0.5))
    target = change_cells(slots[0].to(h.device), slots[1].to(h.device), patch)  # [B, n]
    logits = linear(tok)  # [B, n, 1 or 2]
    w = torch.tensor(keep, dtype=h.dtype, device=h.device)[:, None].expand_as(target)
    per = F.binary_cross_entropy_with_logits(logits[..., 0], target, reduction="none")
    loss = (per * w).sum() / w.sum().clamp(min=1)
    if allowed is not None:  # second channel: changed outside what the request allows (identity)
        viol, defined = violation_cells(slots[0].to(h.device), slots[1].to(h.device), allowed, patch)
        wv = w * defined[:, None]
        per = F.binary_cross_entropy_with_logits(logits[..., 1], viol, reduction="none")
        loss = loss + (per * wv).sum() / wv.sum().clamp(min=1)
    return loss


def describe_scene(scene: Scene) -> str:
    objs = sorted(scene.objects, key=lambda o: (o.y, o.x))
    parts = " and ".join(f"a {o.size} {o.color} {o.shape}" for o in objs) or "nothing"
    return f"{parts} on a {scene.background} background"


def describe_examples(rng, n: int, k: int) -> list[Example]:
    """k=1: describe one scene; k=2: name the request that turns image one into image two."""
    out = []
    for _ in range(n):
        case = random_case(rng)
        if k == 1:
            scene = _pick(rng, [case.source, case.target])
            out.append(Example([scene], DESCRIBE["image"], True, "describe", describe_scene(scene)))
        else:
            out.append(Example([case.source, case.target], DESCRIBE["change"], True, "describe", case.instruction))
    return out


def vqa_examples(rng, n: int, max_objects: int = 3) -> list[Example]:
    """One-image questions with a one-word answer (stored in Example.variant), attributes drawn evenly."""
    out = []
    while len(out) < n:
        scene = random_scene(rng, min_objects=0 if rng.random() < 0.1 else 1, max_objects=max_objects)
        if rng.random() < 0.3 and max_objects > 1:
            scene = perturb(scene, rng) or scene
        kind = _pick(rng, list(VQA))
        objs = scene.objects
        if kind == "background":
            q, a = VQA[kind], scene.background
        elif kind == "count":
            q, a = VQA[kind], COUNT_WORDS[len(objs)]
        elif kind == "color":
            uniq = [o for o in objs if sum(p.shape == o.shape for p in objs) == 1]
            if not uniq:
                continue
            o = _pick(rng, uniq)
            q, a = VQA[kind].format(shape=o.shape), o.color
        else:
            uniq = [o for o in objs if sum(p.color == o.color for p in objs) == 1]
            if not uniq:
                continue
            o = _pick(rng, uniq)
            q, a = VQA[kind].format(color=o.color), o.shape
        out.append(Example([scene], q, True, "vqa", a))
    return out


def size_change_examples(rng, n: int, max_objects: int = 3, resize_share: float = 0.5,
                         changed_share: float = 0.6) -> list[Example]:
    """Two-image questions "how does the size of the X change ?" (answer bigger / smaller / same) on
    (source, candidate output) pairs: the comparison across images that a resize's edit question rests on.
    A share `resize_share` of the cases are resizes; where an object's size changed, it is the one asked
    about with probability `changed_share`."""
    out = []
    while len(out) < n:
        case = random_case(rng, max_objects, "resize" if rng.random() < resize_share else None)
        edited, _ = candidate(case, rng)
        both = []  # objects named by colour and shape, present once in each image
        for o in case.source.objects:
            m = [p for p in edited.objects if p.color == o.color and p.shape == o.shape]
            if len(m) == 1:
                both.append((o, m[0]))
        if not both:
            continue
        resized = [(o, p) for o, p in both if o.size != p.size]
        o, p = _pick(rng, resized if resized and rng.random() < changed_share else both)
        k = SIZE_ORDER.index(p.size) - SIZE_ORDER.index(o.size)
        answer = "bigger" if k > 0 else "smaller" if k < 0 else "same"
        out.append(Example([case.source, edited], PAIR_VQA_SIZE.format(color=o.color, shape=o.shape),
                           True, "vqa", answer))
    return out


def _describe_loss(scorer: HFVLMScorer, examples: list[Example], rng, resolution: int):
    """Teacher-forced LM loss on the answer text (stored in Example.variant). A pair is prompted as the
    Yes/No questions prompt it (with the change crops or difference image the judge was built with)."""
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


def train_judge(cfg: JudgeConfig, out_dir, log=print, device: str = "cpu", on_step=None) -> dict:
    """Train the judge and save model + processor into out_dir. Returns a summary dict.

    on_step(step, scorer), if given, is called after every optimiser step (learning curves).
    """
    out_dir = Path(out_dir)
    processor = build_processor(cfg)
    model = build_model(cfg, processor.tokenizer)
    scorer = HFVLMScorer.from_parts(model, processor.tokenizer, processor.image_processor, processor,
                                    device=device, freeze=False)
    for name in SCORER_OPTION_NAMES:  # prompt while training as every later load will
        setattr(scorer, name, getattr(cfg, name))
    vision_pretrain, dense_aux = None, None
    if cfg.vision_pretrain_steps > 0 or cfg.dense_aux_weight > 0:
        from .vision_pretrain import DenseAux, make_heads, pretrain_vision_tower
        heads = make_heads(cfg, cfg.vision_pretrain_projector).to(device)
        if cfg.dense_aux_weight > 0:
            dense_aux = DenseAux(model, heads, cfg, processor.image_processor, device)
    if cfg.vision_pretrain_steps > 0:  # dense scene-graph targets for the tower alone, then the LLaVA loop
        vision_pretrain = pretrain_vision_tower(
            model.model.vision_tower, cfg, device, log, processor.image_processor,
            model.config.vision_feature_layer, model.config.vision_feature_select_strategy,
            projector=model.model.multi_modal_projector if cfg.vision_pretrain_projector else None, heads=heads)
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 7001]))
    fixed_rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 7002]))
    draw = lambda r, n_pair, n_single, k=3, k_pair=3: sample_examples(  # noqa: E731
        r, n_pair, n_single, cfg.degrade_prob, cfg.probe_types, cfg.remove_share, k, k_pair, cfg.identity_share,
        cfg.count_near_share)
    # Held-fixed batch for before/after losses; pairs only count if training reaches them.
    fixed = draw(fixed_rng, 64 if cfg.steps > cfg.single_only_steps + cfg.describe_steps else 0, 64)

    fixed_describe = [describe_examples(fixed_rng, 32, k) for k in (1, 2)]

    def fixed_loss():
        model.eval()
        with torch.no_grad():
            r = np.random.default_rng(0)
            parts = [_loss(scorer, f, r, cfg.image_size)[0] * len(f) for f in fixed if f]
            desc = sum(_describe_loss(scorer, f, r, cfg.image_size) for f in fixed_describe) / 2
        model.train()
        return float(sum(parts) / sum(len(f) for f in fixed)), float(desc)

    # training-only linear head for the pair change map (not saved: the judge is a plain LLaVA)
    change_head = None
    if cfg.change_aux_weight > 0:
        lin = torch.nn.Linear(cfg.text_hidden, 2 if cfg.change_aux_violation else 1).to(device)
        change_head = (cfg.change_aux_layer, lin)
    params = list(model.parameters()) + (list(dense_aux.heads.parameters()) if dense_aux else []) \
        + (list(change_head[1].parameters()) if change_head else [])
    opt = adamw(params, lr=cfg.lr, betas=(0.9, 0.98), weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, cfg.warmup))
        * 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, cfg.steps)))))
    grain_args = (cfg.grain_prob, cfg.grain_sigma)
    loss0, desc0 = fixed_loss()
    history, t0 = [], time.time()
    model.train()
    tower = model.model.vision_tower
    for step in range(cfg.steps):
        # a pretrained tower is held fixed while the projector and LM learn to read it
        if cfg.freeze_vision_steps and step in (0, cfg.freeze_vision_steps):
            tower.requires_grad_(step >= cfg.freeze_vision_steps)
        aux, ch = None, None
        if step < cfg.describe_steps or (cfg.describe_every and step % cfg.describe_every == 0):
            aux = sum(_describe_loss(scorer, describe_examples(rng, cfg.describe_batch, k), rng, cfg.image_size)
                      for k in (1, 2)) / 2
        # curriculum: one-object scenes first, where an attribute question needs no binding to an object
        k_obj = 1 if step - cfg.describe_steps < cfg.one_object_steps else 3
        pair_step = step - cfg.describe_steps - cfg.single_only_steps  # < 0: before the pair stage
        k_pair = 1 if pair_step < cfg.one_object_pair_steps else 3
        if cfg.vqa_batch and (step < cfg.describe_steps or step % max(1, cfg.vqa_every) == 0):
            vq = _describe_loss(scorer, vqa_examples(rng, cfg.vqa_batch, k_obj), rng, cfg.image_size)
            aux = vq if aux is None else aux + vq
        if cfg.size_change_batch and pair_step >= 0:
            sc = _describe_loss(scorer, size_change_examples(rng, cfg.size_change_batch, k_pair), rng,
                                cfg.image_size)
            aux = sc if aux is None else aux + sc
        if step < cfg.describe_steps:
            nan = torch.tensor(float("nan"))
            lp = ap = ls = as_ = nan
            loss = aux
        elif step < cfg.describe_steps + cfg.single_only_steps:
            _, singles = draw(rng, 0, cfg.pair_batch + cfg.single_batch, k_obj)
            ls, as_, _ = _loss(scorer, singles, rng, cfg.image_size, None, *grain_args)
            lp, ap, loss = torch.tensor(float("nan")), torch.tensor(float("nan")), ls
        else:
            pairs, singles = draw(rng, cfg.pair_batch, cfg.single_batch, k_obj, k_pair)
            lp, ap, ch = _loss(scorer, pairs, rng, cfg.image_size, change_head, *grain_args)
            ls, as_, _ = _loss(scorer, singles, rng, cfg.image_size, None, *grain_args)
            loss = (lp * cfg.pair_batch + ls * cfg.single_batch) / (cfg.pair_batch + cfg.single_batch)
        if aux is not None and step >= cfg.describe_steps:
            loss = loss + 0.5 * aux
        if dense_aux is not None:
            loss = loss + cfg.dense_aux_weight * dense_aux.loss()
        if ch is not None:
            loss = loss + cfg.change_aux_weight * ch
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        history.append((lp.item(), ap.item(), ls.item(), as_.item(), float("nan") if aux is None else aux.item(),
                        float("nan") if ch is None else ch.item()))
        if on_step is not None:
            on_step(step, scorer)
        if log and (step + 1) % 50 == 0:
            with warnings.catch_warnings():  # a stage without Yes/No losses averages only NaNs
                warnings.simplefilter("ignore", RuntimeWarning)
                h = np.nanmean(history[-50:], axis=0)
            log(f"judge step {step + 1}/{cfg.steps}: pair loss {h[0]:.3f} acc {h[1]:.2f} | "
                f"single loss {h[2]:.3f} acc {h[3]:.2f} | aux (describe+vqa) {h[4]:.3f} | change map {h[5]:.3f} | "
                f"{time.time() - t0:.0f}s")
    loss1, desc1 = fixed_loss()
    model.eval().to("cpu")
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    options = {name: True for name in SCORER_OPTION_NAMES if getattr(cfg, name)}
    if not cfg.change_crops:
        options.pop("object_crops", None)  # they only grow the change crops
    if options:
        write_json(out_dir / SCORER_OPTIONS, options)
    summary = {"config": asdict(cfg), "loss_init": loss0, "loss_final": loss1,
               "describe_loss_init": desc0, "describe_loss_final": desc1, "seconds": time.time() - t0,
               "vision_pretrain": vision_pretrain,
               "history": [[None if math.isnan(v) else v for v in row] for row in history]}  # strict JSON
    (out_dir / "train_log.json").write_text(json.dumps(summary))
    return summary


def load_or_train_judge(cfg: JudgeConfig | None = None, force: bool = False, log=print) -> Path:
    cfg = cfg or JudgeConfig()
    return cached_build("judge", cfg.cache_key(), lambda tmp: train_judge(cfg, tmp, log=log), force=force, log=log)


class TinyJudgeScorer(HFVLMScorer):
    """The embedded judge, trained (once, cached under $HARNESS_HOME/judge) on first use."""

    def __init__(self, cfg: JudgeConfig | dict | None = None, device: str = "cpu", force: bool = False):
        if isinstance(cfg, dict):
            cfg = JudgeConfig(**cfg)
        self.cfg = cfg or JudgeConfig()
        super().__init__(str(load_or_train_judge(self.cfg, force=force)), device=device)


# ---------------------------------------------------------------- held-out evaluation

def eval_examples(n: int, seed: int, include_degraded: bool = False) -> list[Example]:
    """Balanced questions on the world's eval split (never trained on), negatives drawn with `seed`."""
    from harness.world.dataset import WorldConfig, build_split

    samples = build_split(WorldConfig(n_eval=n), "eval")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 9001]))
    dp = 0.15 if include_degraded else 0.0
    out = []
    for i, s in enumerate(samples):
        case = Case(s.source_scene, s.category, s.spec, s.target_scene, s.instruction, s.object_name)
        for kind in (EDIT, IDENTITY):
            for want in (True, False):
                ex = edit_example(case, kind, want, rng, dp)
                if ex is not None:
                    out.append(ex)
        for j, scene in enumerate((s.source_scene, s.target_scene)):
            qtype = PROBE_TYPES[(2 * i + j) % len(PROBE_TYPES)]
            for want in (True, False):
                ex = probe_example(scene, qtype, want, rng)
                if ex is not None:
                    out.append(ex)
    return out


@torch.no_grad()
def evaluate_judge(scorer, n: int = 140, seed: int = 1234, batch: int = 64, include_degraded: bool = False) -> dict:
    """Accuracy per question type ("edit", "identity", probes), plus "<type>/<variant>" breakdowns."""
    examples = eval_examples(n, seed, include_degraded)
    rng = np.random.default_rng(seed)
    correct: dict[str, list[bool]] = {}
    for k in (1, 2):
        group = [e for e in examples if len(e.images) == k]
        for b in range(0, len(group), batch):
            chunk = group[b:b + batch]
            p = scorer.reward(render_examples(chunk, rng), [e.question for e in chunk])
            for e, v in zip(chunk, p.tolist()):
                ok = (v >= 0.5) == e.answer
                correct.setdefault(e.qtype, []).append(ok)
                if e.qtype in (EDIT, IDENTITY):
                    correct.setdefault(f"{e.qtype}/{e.variant}", []).append(ok)
                    correct.setdefault(f"{e.qtype}/{'yes' if e.answer else 'no'}", []).append(ok)
    res = {k: float(np.mean(v)) for k, v in sorted(correct.items())}
    res["n"] = len(examples)
    return res
