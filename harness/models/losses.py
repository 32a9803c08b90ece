"""The rectified-flow (flow-matching) loss every generator here trains with, on any EditModel."""
from __future__ import annotations

import torch


def flow_matching_loss(model, x0: torch.Tensor, text, noise: torch.Tensor, t: torch.Tensor,
                       weighting: torch.Tensor | None = None, ref: torch.Tensor | None = None) -> torch.Tensor:
    """Mean weighted || v(x_t) - (eps - x0) ||^2 with x_t = (1 - t) x0 + t eps."""
    tb = t.reshape(-1, 1, 1, 1).to(x0.dtype)
    x_t = (1 - tb) * x0 + tb * noise
    v = model.velocity(x_t, t, text, ref=ref)
    per = ((v.float() - (noise - x0).float()) ** 2).flatten(1).mean(1)
    if weighting is not None:
        per = per * weighting.reshape(-1)
    return per.mean()


def uniform_flow_matching_loss(model, x0: torch.Tensor, text, generator: torch.Generator | None = None,
                               ref: torch.Tensor | None = None) -> torch.Tensor:
    """flow_matching_loss with t ~ U[0, 1] and fresh noise: NP-Edit's auxiliary update on detached
    generator samples (§1.4) and, with x0 = the reference, the identity warm-up (§1.6)."""
    t = torch.rand(x0.shape[0], generator=generator).to(x0.device, x0.dtype)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device, x0.dtype)
    return flow_matching_loss(model, x0, text, noise, t, ref=ref)
