"""Pixel noise for the embedded judge's training images: a degraded negative (blur or heavy noise, which
the judge must refuse) and faint grain that keeps every answer."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def gaussian_noise(img: torch.Tensor, sigma_low: float, sigma_high: float, rng: np.random.Generator) -> torch.Tensor:
    """``img`` plus Gaussian noise of sigma ~ U(sigma_low, sigma_high), clamped to [0, 1]; seeded from ``rng``."""
    sigma = float(rng.uniform(sigma_low, sigma_high))
    g = torch.Generator().manual_seed(int(rng.integers(2**31)))
    return (img + sigma * torch.randn(img.shape, generator=g)).clamp(0, 1)


def degrade(img: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Blur or heavy noise: images the judge must not accept as a clean edit."""
    if rng.random() < 0.5:
        k = int((3, 5)[int(rng.integers(2))])
        w = torch.ones(3, 1, k, k) / (k * k)
        return F.conv2d(F.pad(img[None], [k // 2] * 4, mode="replicate"), w, groups=3)[0]
    return gaussian_noise(img, 0.08, 0.25, rng)


def grain(img: torch.Tensor, sigma_max: float, rng: np.random.Generator) -> torch.Tensor:
    """Faint pixel noise (sigma ~ U(0, sigma_max)) that changes no scene: a generator's output is never
    exactly clean, and a judge trained only on exact renders and heavily degraded negatives reads any grain
    as "changed"."""
    return gaussian_noise(img, 0.0, sigma_max, rng)


def grain_batch(images: torch.Tensor, prob: float, sigma_max: float, rng: np.random.Generator,
                skip=None) -> torch.Tensor:
    """``grain`` on a share ``prob`` of a batch [B, 3, H, W], leaving rows where ``skip`` is true (a copy;
    the input is kept)."""
    out = images.clone()
    for i in range(len(out)):
        if not (skip is not None and skip[i]) and rng.random() < prob:
            out[i] = grain(out[i], sigma_max, rng)
    return out
