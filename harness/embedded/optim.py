"""The optimiser the embedded models' trainers share."""
from __future__ import annotations

import torch

_FUSED_DEVICES = ("cpu", "cuda")


def adamw(params, **kwargs) -> torch.optim.AdamW:
    """AdamW with the fused kernel where every parameter's device has one. On CPU torch defaults to the
    per-tensor loop, which cost 7 % of a teacher step (160 -> 149 ms at batch 8, one thread)."""
    params = list(params)
    flat = [p for g in params for p in g["params"]] if params and isinstance(params[0], dict) else params
    fused = bool(flat) and all(p.device.type in _FUSED_DEVICES and p.is_floating_point() for p in flat)
    return torch.optim.AdamW(params, fused=fused or None, **kwargs)
