"""SDE sampling with per-step log-probs (Flow-GRPO), next to the ODE sampler in samplers.py.

Convention: x_t = (1 - t) x0 + t eps, v = eps - x0, t runs 1 -> 0 so dt < 0. Two forms:

- ``sde``: Euler-Maruyama on the reverse SDE with the flow's marginals,
  sigma_t = a * sqrt(t / (1 - t)); mean = x + [v + sigma_t^2 / (2t) (x + (1 - t) v)] dt,
  std = sigma_t * sqrt(-dt).
- ``cps`` (coefficient-preserving): std = t_next * sin(a pi / 2),
  mean = x0_hat (1 - t_next) + x1_hat sqrt(t_next^2 - std^2), constants dropped in the log-prob.

As in the official code the log-prob is a per-element MEAN over non-batch dims (why PPO's clip
range is tiny), and all of it is computed in float32. ``noise_level = 0`` is the plain Euler ODE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from harness.models.samplers import timesteps

SDE_TYPES = ("sde", "cps")


@dataclass
class SDEStep:
    x_next: torch.Tensor  # detached sample
    log_prob: torch.Tensor  # [B], per-element mean
    mean: torch.Tensor  # [B, ...] carries the graph of v (for KL to a reference)
    std: torch.Tensor  # scalar tensor


def sde_step_with_logprob(v: torch.Tensor, x: torch.Tensor, t: float, t_next: float, noise_level: float,
                          sde_type: str = "sde", t_max: float | None = None,
                          prev_sample: torch.Tensor | None = None,
                          generator: torch.Generator | None = None) -> SDEStep:
    """One step from t to t_next. With ``prev_sample`` given, score that sample (training);
    otherwise draw one (rollout). ``t_max`` replaces t in 1 - t at t = 1 (else sigma_t is infinite);
    the official code uses the second grid time."""
    if sde_type not in SDE_TYPES:
        raise ValueError(f"sde_type must be one of {SDE_TYPES}, got {sde_type!r}")
    v, x = v.float(), x.float()
    dt = t_next - t
    if sde_type == "sde":
        denom = 1 - (t_max if (t >= 1.0 and t_max is not None) else t)
        std_t = math.sqrt(t / denom) * noise_level if denom > 0 else 0.0
        mean = x * (1 + std_t**2 / (2 * t) * dt) + v * (1 + std_t**2 * (1 - t) / (2 * t)) * dt
        std = std_t * math.sqrt(-dt)
    else:
        std = t_next * math.sin(noise_level * math.pi / 2)
        x0_hat, x1_hat = x - t * v, x + (1 - t) * v
        mean = x0_hat * (1 - t_next) + x1_hat * math.sqrt(max(t_next**2 - std**2, 0.0))
    if prev_sample is None:
        eps = torch.randn(x.shape, generator=generator, dtype=torch.float32).to(x.device)
        prev_sample = mean + std * eps
    x_next = prev_sample.detach().float()
    dims = tuple(range(1, x.ndim))
    if std == 0:  # deterministic step: the density is a point mass; report 0 like a no-op
        log_prob = torch.zeros(x.shape[0], device=x.device)
    elif sde_type == "sde":
        log_prob = (-((x_next - mean) ** 2) / (2 * std**2) - math.log(std)
                    - 0.5 * math.log(2 * math.pi)).mean(dim=dims)
    else:
        log_prob = (-((x_next - mean) ** 2)).mean(dim=dims)
    return SDEStep(x_next=x_next, log_prob=log_prob, mean=mean, std=torch.tensor(std))


@dataclass
class Trajectory:
    xs: list[torch.Tensor]  # steps + 1 states, xs[0] = noise, xs[-1] = sample
    log_probs: torch.Tensor  # [B, steps]
    times: list[float]  # steps + 1 times
    sde_mask: list[bool]  # which steps were stochastic (trained)


@torch.no_grad()
def sde_sample(model, text, steps: int, noise: torch.Tensor, ref: torch.Tensor | None = None,
               noise_level: float = 0.7, sde_type: str = "sde", shift: float = 1.0,
               window: tuple[int, int] | None = None, generator: torch.Generator | None = None) -> Trajectory:
    """Rollout keeping every state and log-prob. ``window=(start, end)``: only steps in
    [start, end) are stochastic, the rest are ODE steps (Flow-GRPO-Fast)."""
    if not isinstance(text, tuple) and hasattr(model, "encode_text"):
        text = model.encode_text(list(text))
    ts = [float(t) for t in timesteps(steps, shift)]
    x, xs, lps, mask = noise, [noise], [], []
    for i in range(steps):
        stochastic = window is None or window[0] <= i < window[1]
        v = model.velocity(x, ts[i], text, ref=ref)
        step = sde_step_with_logprob(v, x, ts[i], ts[i + 1], noise_level if stochastic else 0.0,
                                     sde_type, t_max=ts[1], generator=generator)
        x = step.x_next
        xs.append(x)
        lps.append(step.log_prob)
        mask.append(stochastic)
    return Trajectory(xs=xs, log_probs=torch.stack(lps, dim=1), times=ts, sde_mask=mask)
