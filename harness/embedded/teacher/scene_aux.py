"""A dense auxiliary loss for the teacher: its mid-level features must name the scene.

REPA (Yu et al., 2025) speeds up diffusion training by aligning a middle layer of the denoiser with
the features of a pretrained image encoder. The embedded world has something better than a
pretrained encoder: the exact scene graph of every training image. So a linear head on the
denoiser's cell-grid features (the UNet's mid block) predicts, per 4-px cell,
"is an object centred here" and the colour, shape and size of the object covering it, and the
background (``harness.world.cell_targets``). The head is training-only; the saved teacher is a plain
diffusers model. Each sample is weighted by (1 - t): at pure noise the layout cannot be read.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.world.cell_targets import N_ATTR, PER_CELL, scene_targets
from harness.world.palette import BACKGROUNDS
from harness.world.scene import GRID


def _feature_module(transformer) -> tuple[torch.nn.Module, int]:
    """(module whose output is read, its channels): the UNet's mid block."""
    kind = type(transformer).__name__
    if kind != "UNet2DConditionModel":
        raise ValueError(f"the scene auxiliary loss reads a UNet's mid block; got {kind}")
    return transformer.mid_block, int(transformer.config.block_out_channels[-1])


class FeatureTap(torch.nn.Module):
    """Keeps the output of the denoiser's cell-grid features (``_feature_module``) from the last forward,
    as [B, C, g, g], for a training-only head."""

    def __init__(self, transformer):
        super().__init__()
        module, self.channels = _feature_module(transformer)
        self._feat: torch.Tensor | None = None
        self._hook = module.register_forward_hook(self._keep)

    def _keep(self, _module, _inputs, output):
        self._feat = output

    def remove(self) -> None:
        self._hook.remove()

    def take_cells(self) -> torch.Tensor:
        """The kept features pooled to the GRID x GRID cells; each forward's features are read once."""
        h = self._feat
        if h is None:
            raise RuntimeError(f"{type(self).__name__}.loss needs a forward pass of the denoiser first")
        if h.shape[-1] < GRID:
            raise ValueError(f"feature grid {h.shape[-1]}x{h.shape[-1]} is coarser than the {GRID}x{GRID} cells")
        self._feat = None
        return F.adaptive_avg_pool2d(h, GRID)


class SceneAux(FeatureTap):
    def __init__(self, transformer):
        super().__init__(transformer)
        self.cell = torch.nn.Conv2d(self.channels, PER_CELL, 1)
        self.background = torch.nn.Linear(self.channels, len(BACKGROUNDS))

    def loss(self, scenes, t: torch.Tensor, t_weighting: str = "1-t") -> torch.Tensor:
        """Mean over the batch of (1 - t) x the dense scene loss (``t_weighting="none"``: unweighted), from
        the features of the last forward."""
        h = self.take_cells()
        tgt = {k: v.to(h.device) for k, v in scene_targets(scenes, cover=True).items()}
        logits = self.cell(h)  # [B, PER_CELL, 8, 8]
        per = F.binary_cross_entropy_with_logits(logits[:, 0], tgt["center"], reduction="none").mean((1, 2))
        start = 1
        for name, n in zip(("color", "shape", "size"), N_ATTR):
            y = tgt[name]
            ce = F.cross_entropy(logits[:, start:start + n], y, ignore_index=-100, reduction="none")  # [B, 8, 8]
            per = per + ce.sum((1, 2)) / (y != -100).sum((1, 2)).clamp(min=1)
            start += n
        per = per + F.cross_entropy(self.background(h.mean((2, 3))), tgt["background"], reduction="none")
        if t_weighting == "none":
            return per.mean()
        return (per * (1 - t.to(per))).mean()
