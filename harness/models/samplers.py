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
                 cfg_scale: float = 1.0, shift: float = 1.0, negative: str = "",
                 sigmas: torch.Tensor | None = None) -> torch.Tensor:
    """Euler ODE from t = 1 (``noise``) to t = 0; returns x0 in model space. NFE = steps
    (each CFG step is one batched call on the doubled batch). ``sigmas`` (steps + 1 times, 1 to 0) replaces
    the shifted uniform grid: a real family's own scheduler schedule."""
    b = noise.shape[0]
    if not isinstance(text, tuple) and hasattr(model, "encode_text"):
        text = model.encode_text(list(text))  # encode once, not once per step
    if cfg_scale != 1.0 and isinstance(negative, str) and hasattr(model, "encode_text"):
        negative = model.encode_text([negative] * b)
    ts = timesteps(steps, shift) if sigmas is None else sigmas
    if len(ts) != steps + 1:
        raise ValueError(f"sigmas must hold steps + 1 = {steps + 1} times, got {len(ts)}")
    x = noise
    for i in range(steps):
        t, t_next = float(ts[i]), float(ts[i + 1])
        if cfg_scale == 1.0:
            v = model.velocity(x, t, text, ref=ref)
        else:
            v = model.velocity_cfg(x, t, text, cfg_scale, ref=ref, negative=negative)
        x = x + (t_next - t) * v
    return x


def unrolled_sample(model, text, noise: torch.Tensor, ref: torch.Tensor | None = None, t_mid: float | None = None,
                    renoise: str = "fresh", generator: torch.Generator | None = None) -> torch.Tensor:
    """NP-Edit's training-time generator (§1.2): predict x0 from pure noise at t = 1; with ``t_mid``,
    re-noise that prediction to t_mid (same eps, or fresh noise as the re-implementation does)
    and predict again. No ``no_grad`` anywhere: the gradient flows through both steps."""
    if renoise not in ("same", "fresh"):
        raise ValueError(f"renoise must be 'same' or 'fresh', got {renoise!r}")
    x0 = noise - model.velocity(noise, 1.0, text, ref=ref)
    if t_mid is None:
        return x0
    eps = noise if renoise == "same" else torch.randn(noise.shape, generator=generator, dtype=noise.dtype).to(noise.device)
    x_t = (1 - t_mid) * x0 + t_mid * eps
    return x_t - t_mid * model.velocity(x_t, t_mid, text, ref=ref)


def few_step_sample(model, text, noise: torch.Tensor, steps: int = 4, ref: torch.Tensor | None = None,
                    shift: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Few-step inference of a distilled generator: at each time predict x0 = x_t - t v, then
    re-noise it with fresh noise to the next time on the (shifted) grid. NFE = steps."""
    if not isinstance(text, tuple) and hasattr(model, "encode_text"):
        text = model.encode_text(list(text))
    ts = timesteps(steps, shift)
    x = noise
    for i in range(steps):
        t, t_next = float(ts[i]), float(ts[i + 1])
        x0 = x - t * model.velocity(x, t, text, ref=ref)
        if t_next == 0:
            return x0
        eps = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        x = (1 - t_next) * x0 + t_next * eps
    return x
