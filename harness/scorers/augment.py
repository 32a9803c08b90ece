"""Training-time image augmentation of the embedded judge that keeps every answer."""
from __future__ import annotations

import numpy as np
import torch


def grain(img: torch.Tensor, sigma_max: float, rng: np.random.Generator) -> torch.Tensor:
    """Faint pixel noise (sigma ~ U(0, sigma_max)) that changes no scene: a generator's output is never
    exactly clean, and a judge trained only on exact renders and heavily degraded negatives reads any grain
    as "changed" (identity reward 0.002 for every NP-Edit / Flow-GRPO sample, docs/embedded_models_sweeps.md)."""
    sigma = float(rng.uniform(0.0, sigma_max))
    g = torch.Generator().manual_seed(int(rng.integers(2**31)))
    return (img + sigma * torch.randn(img.shape, generator=g)).clamp(0, 1)


def grain_batch(images: torch.Tensor, prob: float, sigma_max: float, rng: np.random.Generator) -> torch.Tensor:
    """``grain`` on a share ``prob`` of a batch [B, 3, H, W] (a copy; the input is kept)."""
    out = images.clone()
    for i in range(len(out)):
        if rng.random() < prob:
            out[i] = grain(out[i], sigma_max, rng)
    return out
