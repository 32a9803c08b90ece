"""A layout loss for the teacher: for each caption object, where it is, as the exact posterior says.

The teacher's errors are composition errors: an object drawn twice, or not at all
(docs/embedded_models_sweeps.md). The layout is decided at high noise, where x_t says only softly where
each object will be. For the shapes world that softness is known exactly:
``harness.world.posterior.cell_posteriors`` gives, per object, a distribution over the 8x8 cells given
x_t, and it sums to one (one object, one place).

A training-only head reads the denoiser's cell-grid features (the UNet's mid block, as the scene loss):
a query vector per (colour, shape) scores every cell, a softmax over the cells gives the model's
distribution for that object, and the loss is its KL divergence from the exact one. The softmax runs over
cells, not over objects as cross-attention does, so the features must say where each object is and
nowhere else. The target is exact at every t, so the loss is not weighted in t. The saved teacher is a
plain diffusers model.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.world.palette import COLORS, SHAPES
from harness.world.posterior import cell_posteriors
from harness.world.scene import MAX_OBJECTS, Scene

from .scene_aux import FeatureTap

_COLORS, _SHAPES = list(COLORS), list(SHAPES)


class LayoutAux(FeatureTap):
    def __init__(self, transformer, dim: int = 32):
        super().__init__(transformer)
        self.key = torch.nn.Conv2d(self.channels, dim, 1)
        self.query = torch.nn.Embedding(len(_COLORS) * len(_SHAPES), dim)
        self.scale = dim ** -0.5

    def loss(self, x_t: torch.Tensor, t: torch.Tensor, scenes: list[Scene]) -> torch.Tensor:
        """Mean over the batch's objects of KL(exact cell posterior || the head's), from the features of
        the last forward on ``x_t`` (model-space pixels) at times ``t``."""
        keys = self.key(self.take_cells()).flatten(2)  # [B, D, cells]
        b, cells = keys.shape[0], keys.shape[2]
        target = torch.zeros(b, MAX_OBJECTS, cells)
        ids = torch.zeros(b, MAX_OBJECTS, dtype=torch.long)
        present = torch.zeros(b, MAX_OBJECTS, dtype=torch.bool)
        for i, (scene, post) in enumerate(zip(scenes, cell_posteriors(x_t, t, scenes))):
            for j, o in enumerate(scene.objects):
                target[i, j] = post[j]
                ids[i, j] = _COLORS.index(o.color) * len(_SHAPES) + _SHAPES.index(o.shape)
                present[i, j] = True
        if not present.any():  # only empty scenes: nothing to place
            return keys.sum() * 0.0
        target, ids, present = target.to(keys), ids.to(keys.device), present.to(keys.device)
        logits = torch.einsum("bjd,bdc->bjc", self.query(ids), keys) * self.scale
        kl = (target * (target.clamp_min(1e-12).log() - F.log_softmax(logits, -1))).sum(-1)  # [B, objects]
        return kl[present].mean()
