"""Grow a change mask to the whole objects it touches (the embedded judge's object crops).

A change crop shows the pair only where its pixels differ. For a resize that is a ring, for a circle
replaced by a square four corners: the judge had to infer the objects from their difference. Grown to
the objects, the crops show the old and the new object whole. The growth needs no scene graph: an
object pixel is one whose colour is away from the image's background (the median of its border), and
the mask spreads from a changed object pixel to neighbouring object pixels of the same colour. A
background change's mask is background-coloured, so it does not spread onto the unchanged objects.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

GROW_STEPS = 8  # px: more than the widest object of the world (10 px across) needs from its edge
COLOR_TOL = 0.15  # max per-channel difference of "the same colour" (world colours are >= 0.3 apart)


def background_color(images: torch.Tensor) -> torch.Tensor:
    """[B, 3, 1, 1]: the per-channel median of each image's border pixels."""
    border = torch.cat([images[..., 0, :], images[..., -1, :], images[..., 1:-1, 0], images[..., 1:-1, -1]], dim=-1)
    return border.median(dim=-1).values[..., None, None]


@torch.no_grad()
def grow_to_objects(mask: torch.Tensor, images: torch.Tensor, steps: int = GROW_STEPS,
                    tol: float = COLOR_TOL) -> torch.Tensor:
    """[B, 1, H, W] in {0, 1}: the object pixels of `images` connected, through neighbours of one colour, to
    a pixel where `mask` [B, 1, H, W] is above 0.5. No gradient: the crops stay differentiable through
    the pixel values they show."""
    h, w = images.shape[-2:]
    objects = (images - background_color(images)).abs().amax(1, keepdim=True) > tol
    padded = F.pad(images, (1, 1, 1, 1), mode="replicate")
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    # a pixel joins from its neighbour at (dy, dx) when both are object pixels of the same colour
    links = [objects & ((images - padded[..., 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]).abs().amax(1, keepdim=True) < tol)
             for dy, dx in shifts]
    grown = (mask > 0.5) & objects
    for _ in range(steps):
        g = F.pad(grown, (1, 1, 1, 1))
        new = grown.clone()
        for (dy, dx), link in zip(shifts, links):
            new |= g[..., 1 + dy:1 + dy + h, 1 + dx:1 + dx + w] & link
        grown = new
    # The anti-aliased rim (blends of object and background) stays out: adding it, on pixels away from the
    # background by more than 0.03, let faint grain grow the mask and cost identity 0.91 -> 0.86 (run J_oc).
    return grown.to(images.dtype)
