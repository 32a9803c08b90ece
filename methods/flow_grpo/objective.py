"""Flow-GRPO's group-relative advantages and PPO-clip objective (reference/baselines.md §1.1 d-f)."""

from __future__ import annotations

import torch


def group_advantages(rewards: torch.Tensor, groups: torch.Tensor, global_std: bool = True,
                     clip: float = 5.0) -> tuple[torch.Tensor, torch.Tensor]:
    """A = (r - mean of its group) / (std + 1e-4), std over the batch or per group, clipped.
    Returns (advantages, keep): groups whose advantages are all zero are dropped (keep False)."""
    adv = torch.zeros_like(rewards)
    keep = torch.zeros_like(rewards, dtype=torch.bool)
    batch_std = rewards.std() if rewards.numel() > 1 else rewards.new_tensor(0.0)
    for g in groups.unique():
        m = groups == g
        r = rewards[m]
        std = batch_std if global_std else (r.std() if r.numel() > 1 else r.new_tensor(0.0))
        adv[m] = ((r - r.mean()) / (std + 1e-4)).clamp(-clip, clip)
        keep[m] = bool((adv[m] != 0).any())
    return adv, keep


def ppo_clip_loss(log_prob: torch.Tensor, old_log_prob: torch.Tensor, adv: torch.Tensor, clip_range: float,
                  weight: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """mean(max(-A r, -A clip(r, 1 - eps, 1 + eps))), r = exp(logp - logp_old), over kept samples."""
    ratio = torch.exp(log_prob - old_log_prob)
    per = torch.maximum(-adv * ratio, -adv * ratio.clamp(1 - clip_range, 1 + clip_range))
    w = torch.ones_like(per) if weight is None else weight.to(per.dtype)
    loss = (per * w).sum() / w.sum().clamp_min(1.0)
    with torch.no_grad():
        stats = {"ratio": float(ratio.mean()), "clipfrac": float(((ratio - 1).abs() > clip_range).float().mean()),
                 "approx_kl": float(0.5 * ((log_prob - old_log_prob) ** 2).mean())}
    return loss, stats


def gaussian_kl(mean: torch.Tensor, mean_ref: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """KL between two same-variance Gaussians per sample, as the official code: per-element mean of
    (mu - mu_ref)^2 / (2 std^2) (Delta t dropped, see §1.1 f)."""
    return ((mean - mean_ref) ** 2).flatten(1).mean(1) / (2 * std.clamp_min(1e-12) ** 2)
