"""Probes of the embedded models: ``python -m harness probe teacher|judge``.

teacher: generate from eval-split captions, parse with the oracle: caption match and realism.
judge:   accuracy per question type on held-out pairs, and on noisy images x_t and on the
         one-step prediction x0 = x_t - t v (NP-Edit, Appendix B: judges fail on noisy images).
"""

from __future__ import annotations

import numpy as np
import torch

from harness.world.dataset import WorldConfig, build_split
from harness.world.text import caption

NOISE_LEVELS = (0.25, 0.5, 0.75, 1.0)


def _scene_match(parsed, scene) -> bool:
    want = sorted((o.color, o.shape) for o in scene.objects)
    got = sorted((o.color, o.shape) for o in parsed.objects)
    return want == got and parsed.background == scene.background


@torch.no_grad()
def probe_teacher(teacher, n: int = 128, steps: int = 25, cfg_scale: float = 2.0, seed: int = 1234,
                  batch_size: int = 32) -> dict:
    from harness.models.samplers import euler_sample
    from harness.world import oracle

    scenes = [s.target_scene for s in build_split(WorldConfig(n_eval=n), "eval")][:n]
    gen = torch.Generator().manual_seed(seed)
    res = teacher.transformer.config.sample_size
    matches, realism = [], []
    for i in range(0, len(scenes), batch_size):
        chunk = scenes[i:i + batch_size]
        noise = torch.randn((len(chunk), teacher.channels, res, res), generator=gen).to(teacher.device)
        images = teacher.decode(euler_sample(teacher, [caption(s) for s in chunk], steps, noise, cfg_scale=cfg_scale))
        for scene, img in zip(chunk, images):
            parsed = oracle.parse(img)
            matches.append(_scene_match(parsed.scene, scene))
            realism.append(parsed.explained_content)
    return {"caption_match": float(np.mean(matches)), "realism": float(np.mean(realism)), "n": len(scenes),
            "steps": steps, "cfg_scale": cfg_scale}


@torch.no_grad()
def probe_judge(scorer, teacher=None, n: int = 140, seed: int = 1234, batch: int = 64) -> dict:
    """Clean accuracy per question type; with a teacher, accuracy on noisy edited images."""
    from harness.embedded.judge.data import render_examples
    from harness.embedded.judge.evaluate import eval_examples, evaluate_judge

    out: dict = {"clean": evaluate_judge(scorer, n=n, seed=seed, batch=batch)}
    out["n"] = out["clean"].pop("n")
    if teacher is None:
        return out
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    pairs = [e for e in eval_examples(n, seed) if len(e.images) == 2]
    noisy: dict = {}
    for t in NOISE_LEVELS:
        right = {"x_t": [], "x0_pred": []}
        for b in range(0, len(pairs), batch):
            chunk = pairs[b:b + batch]
            source, edited = render_examples(chunk, rng)
            x0 = teacher.encode_image(edited)
            x_t = (1 - t) * x0 + t * torch.randn(x0.shape, generator=gen)
            v = teacher.velocity(x_t, t, [caption(e.images[-1]) for e in chunk])
            questions = [e.question for e in chunk]
            answers = torch.tensor([e.answer for e in chunk])
            for name, x in (("x_t", x_t), ("x0_pred", x_t - t * v)):
                p_yes = scorer.reward([source, teacher.decode(x).clamp(0, 1)], questions)
                right[name] += ((p_yes >= 0.5) == answers).tolist()
        noisy[str(t)] = {k: float(np.mean(v)) for k, v in right.items()}
    out["noisy"] = noisy
    return out
