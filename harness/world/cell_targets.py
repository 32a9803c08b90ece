"""Exact dense labels of a scene on the 8x8 cell grid (object centres sit at cell centres): per cell
"is an object centred here" and its colour, shape and size; per image the background. Shared by the
judge's vision-tower pretraining and the teacher's dense auxiliary loss."""
from __future__ import annotations

import numpy as np
import torch

from .palette import BACKGROUNDS, COLORS, SHAPES, SIZE_ORDER
from .render import object_mask
from .scene import GRID, Scene

N_ATTR = (len(COLORS), len(SHAPES), len(SIZE_ORDER))
PER_CELL = 1 + sum(N_ATTR)  # centre logit + colour, shape, size logits
_C, _S, _Z = ({k: i for i, k in enumerate(seq)} for seq in (COLORS, SHAPES, SIZE_ORDER))
_B = {k: i for i, k in enumerate(BACKGROUNDS)}
COVER_MIN = 2.0  # pixels of an object inside a 4x4-px cell for the cell to carry its attributes (cover mode)


def _cover(scene: Scene, resolution: int = 32) -> np.ndarray:
    """[n_objects, GRID, GRID] pixel coverage of each object in each cell."""
    cell = resolution // GRID
    return np.stack([object_mask(o, resolution).reshape(GRID, cell, GRID, cell).sum((1, 3))
                     for o in scene.objects]) if scene.objects else np.zeros((0, GRID, GRID))


def scene_targets(scenes: list[Scene], cover: bool = False) -> dict[str, torch.Tensor]:
    """Exact dense labels: centre map [B, 8, 8], attribute indices (-100 where none), background.
    Attributes sit at the object's centre cell, or with ``cover`` at every cell the object covers
    (>= COVER_MIN px; the object with most pixels there), so that every vision token that shows part of
    an object also carries its shape, not only the token holding its centre."""
    b = len(scenes)
    center = torch.zeros(b, GRID, GRID)
    attrs = torch.full((3, b, GRID, GRID), -100, dtype=torch.long)
    for i, s in enumerate(scenes):
        if cover and s.objects:
            cov = _cover(s)
            owner = cov.argmax(0)
            for y, x in zip(*np.nonzero(cov.max(0) >= COVER_MIN)):
                o = s.objects[owner[y, x]]
                attrs[:, i, y, x] = torch.tensor([_C[o.color], _S[o.shape], _Z[o.size]])
        for o in s.objects:
            center[i, o.y, o.x] = 1.0
            attrs[:, i, o.y, o.x] = torch.tensor([_C[o.color], _S[o.shape], _Z[o.size]])
    bg = torch.tensor([_B[s.background] for s in scenes])
    return {"center": center, "color": attrs[0], "shape": attrs[1], "size": attrs[2], "background": bg}
