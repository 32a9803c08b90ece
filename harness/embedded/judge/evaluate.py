"""Held-out evaluation of the embedded judge: balanced questions on the world's eval split (never trained
on), accuracy per question type."""
from __future__ import annotations

import numpy as np
import torch

from harness.scorers.questions import EDIT, IDENTITY

from .cases import Case
from .data import PROBE_TYPES, Example, edit_example, probe_example, render_examples


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
