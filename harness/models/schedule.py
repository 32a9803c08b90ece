"""A real family's inference schedule, computed by its own diffusers scheduler: the sigmas its pipeline
walks (``linspace(1, 1/N, N)``, the dynamic shift from the target token count, the ``shift_terminal``
stretch where the config sets one, then 0), so the harness's Euler edit equals the pipeline's."""
from __future__ import annotations

import numpy as np
import torch
from diffusers import FlowMatchEulerDiscreteScheduler
from diffusers.pipelines.flux.pipeline_flux import (
    calculate_shift,  # the same function every flow pipeline copies
)


def _mu(config: dict, shape) -> float | None:
    """The pipeline's resolution-dependent shift exponent for latents of ``shape`` (2x2-packed tokens)."""
    if not config.get("use_dynamic_shifting", False):
        return None
    seq = (shape[-2] // 2) * (shape[-1] // 2)
    return calculate_shift(seq, config.get("base_image_seq_len", 256), config.get("max_image_seq_len", 4096),
                           config.get("base_shift", 0.5), config.get("max_shift", 1.15))


def pipeline_sigmas(config: dict, steps: int, shape) -> torch.Tensor:
    """The ``steps + 1`` sigmas (from 1 to 0) the family's pipeline denoises through (float64)."""
    scheduler = FlowMatchEulerDiscreteScheduler.from_config(config)
    scheduler.set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps).tolist(), mu=_mu(config, shape))
    return scheduler.sigmas.to(torch.float64)
