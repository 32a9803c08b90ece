"""``python -m harness probe editor``: is the shared editor initialisation a clean copier?

It edits the eval split (every instruction) and the oracle scores the outputs, quantised to 8 bit as a
run's outputs are, under both samplers the methods edit with: the Euler ODE (supervised, Flow-GRPO) and
the few-step x0-renoise sampler (NP-Edit). A copier does no edit and keeps everything: targets
edit_success <= 0.05, preservation >= 0.95, realism >= 0.95.
"""

from __future__ import annotations

import numpy as np
import torch

from harness.models.edit_model import EditModel

TARGETS = {"edit_success": ("<=", 0.05), "preservation": (">=", 0.95), "realism": (">=", 0.95)}


@torch.no_grad()
def edit_copies(editor: EditModel, samples, sampler: str, steps: int, seed: int = 0,
                batch_size: int = 64) -> torch.Tensor:
    from harness.models.samplers import euler_sample, few_step_sample

    out = []
    gen = torch.Generator().manual_seed(seed)
    for i in range(0, len(samples), batch_size):
        chunk = samples[i:i + batch_size]
        ref = editor.encode_image(torch.stack([s.source for s in chunk]))
        noise = torch.randn(ref.shape, generator=gen)
        text = [s.instruction for s in chunk]
        if sampler == "euler":
            x = euler_sample(editor, text, steps, noise, ref=ref)
        else:
            x = few_step_sample(editor, text, noise, steps=steps, ref=ref, generator=gen)
        out.append((editor.decode(x) * 255).round() / 255)
    return torch.cat(out)


def probe_editor(editor: EditModel, n: int = 140, seed: int = 0) -> dict:
    from harness.world import oracle
    from harness.world.dataset import WorldConfig, build_split

    samples = build_split(WorldConfig(n_eval=n), "eval")
    result = {"n": len(samples), "targets": {k: f"{op} {v}" for k, (op, v) in TARGETS.items()}}
    for sampler, steps in (("euler", 8), ("few_step", 4)):
        images = edit_copies(editor, samples, sampler, steps, seed)
        scores = [oracle.score(s, img) for s, img in zip(samples, images)]
        row = {m: float(np.mean([sc[m] for sc in scores])) for m in TARGETS}
        row["pixel_mse_source"] = float(((images - torch.stack([s.source for s in samples])) ** 2).mean())
        row["meets_targets"] = all((row[m] <= v) if op == "<=" else (row[m] >= v) for m, (op, v) in TARGETS.items())
        result[f"{sampler}{steps}"] = row
    return result
