"""The embedded judge's training questions, generated on the fly from scene graphs so that every label
is exact: Yes/No questions on one image or a (source, output) pair, balanced, with hard negatives
(other edits, extra changes, degraded images, neighbouring counts), and one-word VQA questions."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from harness.scorers.questions import COUNT_WORDS, EDIT, IDENTITY, PROBES, TEMPLATES, VQA
from harness.world.palette import BACKGROUNDS, COLORS, SHAPES
from harness.world.render import render_batch
from harness.world.scene import Scene, random_scene

from .augment import degrade
from .cases import Case, pick, candidate, edit_done, identity_kept, perturb, random_case

PROBE_TYPES = tuple(PROBES)
QUESTION_TYPES = (EDIT, IDENTITY) + PROBE_TYPES


@dataclass
class Example:
    images: list  # Scenes (or tensors after rendering)
    question: str
    answer: bool  # Yes/No questions: the literal answer; VQA: always True, the answer word is in variant
    qtype: str
    variant: str  # how the candidate was made (cases.candidate), "probe", or the VQA answer word
    degrade: bool = False


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
            return Example(imgs, text, want, kind, "degraded" if degr else tag, degr)
    return None


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
            o = pick(rng, objs)
            c, s = o.color, o.shape
        else:
            absent = [(c, s) for c in COLORS for s in SHAPES if (c, s) not in present]
            near = [(c, s) for (c, s) in absent if any(c == o.color or s == o.shape for o in objs)]
            c, s = pick(rng, near if near and rng.random() < 0.6 else absent)
        return Example([scene], tpl.format(color=c, shape=s), want, qtype, "probe")
    if qtype == "color":
        uniq = [o for o in objs if sum(p.shape == o.shape for p in objs) == 1]
        if not uniq:
            return None
        o = pick(rng, uniq)
        c = o.color if want else pick(rng, [c for c in COLORS if c != o.color])
        return Example([scene], tpl.format(shape=o.shape, color=c), want, qtype, "probe")
    if qtype == "shape":
        uniq = [o for o in objs if sum(p.color == o.color for p in objs) == 1]
        if not uniq:
            return None
        o = pick(rng, uniq)
        s = o.shape if want else pick(rng, [s for s in SHAPES if s != o.shape])
        return Example([scene], tpl.format(color=o.color, shape=s), want, qtype, "probe")
    if qtype == "count":
        n = len(objs)
        if want:
            w = COUNT_WORDS[n]
        elif count_near > 0 and rng.random() < count_near:
            w = pick(rng, [COUNT_WORDS[k] for k in (n - 1, n + 1) if 0 <= k < len(COUNT_WORDS)])
        else:
            w = pick(rng, [x for x in COUNT_WORDS if x != COUNT_WORDS[n]])
        return Example([scene], tpl.format(count=w), want, qtype, "probe")
    if qtype == "background":
        b = scene.background if want else pick(rng, [b for b in BACKGROUNDS if b != scene.background])
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
            ex = probe_example(scene, pick(rng, list(probe_types)), want, rng, count_near)
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


def vqa_examples(rng, n: int, max_objects: int = 3) -> list[Example]:
    """One-image questions with a one-word answer (stored in Example.variant), attributes drawn evenly."""
    out = []
    while len(out) < n:
        scene = random_scene(rng, min_objects=0 if rng.random() < 0.1 else 1, max_objects=max_objects)
        if rng.random() < 0.3 and max_objects > 1:
            scene = perturb(scene, rng) or scene
        kind = pick(rng, list(VQA))
        objs = scene.objects
        if kind == "background":
            q, a = VQA[kind], scene.background
        elif kind == "count":
            q, a = VQA[kind], COUNT_WORDS[len(objs)]
        elif kind == "color":
            uniq = [o for o in objs if sum(p.shape == o.shape for p in objs) == 1]
            if not uniq:
                continue
            o = pick(rng, uniq)
            q, a = VQA[kind].format(shape=o.shape), o.color
        else:
            uniq = [o for o in objs if sum(p.color == o.color for p in objs) == 1]
            if not uniq:
                continue
            o = pick(rng, uniq)
            q, a = VQA[kind].format(color=o.color), o.shape
        out.append(Example([scene], q, True, "vqa", a))
    return out
