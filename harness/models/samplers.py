"""Shared samplers (pure functions). Flow convention: x_t = (1 - t) x0 + t eps, v = eps - x0, t = 1 is noise."""
from __future__ import annotations

import torch


def shift_t(t, s: float):
    """SD3 time shift: s t / (1 + (s - 1) t); s > 1 spends more steps near the noise end."""
    return s * t / (1 + (s - 1) * t)


def timesteps(steps: int, shift: float = 1.0) -> torch.Tensor:
    """steps + 1 times from 1 down to 0 (float64 for an exact grid)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return shift_t(torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64), shift)


def euler_sample(model, text, steps: int, noise: torch.Tensor, ref: torch.Tensor | None = None,
                 cfg_scale: float = 1.0, shift: float = 1.0, negative: str = "") -> torch.Tensor:
    """Euler ODE from t = 1 (``noise``) to t = 0; returns x0 in model space. NFE = steps
    (each CFG step is one batched call on the doubled batch)."""
    b = noise.shape[0]
    if not isinstance(text, tuple) and hasattr(model, "encode_text"):
        text = model.encode_text(list(text))  # encode once, not once per step
    if cfg_scale != 1.0 and isinstance(negative, str) and hasattr(model, "encode_text"):
        negative = model.encode_text([negative] * b)
    ts = timesteps(steps, shift)
    x = noise
    for i in range(steps):
        t, t_next = float(ts[i]), float(ts[i + 1])
        if cfg_scale == 1.0:
            v = model.velocity(x, t, text, ref=ref)
        else:
            v = model.velocity_cfg(x, t, text, cfg_scale, ref=ref, negative=negative)
        x = x + (t_next - t) * v
    return x
