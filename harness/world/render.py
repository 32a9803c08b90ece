"""Deterministic anti-aliased rasteriser for scenes."""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from .palette import BACKGROUNDS, COLORS, SHAPES, SIZES, rgb01
from .scene import GRID, Obj, Scene, cell_center

SUPERSAMPLE = 4


def _inside(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """u, v: offsets from the centre divided by the radius (v points down)."""
    if shape == "circle":
        return u * u + v * v <= 1.0
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 1.0
    if shape == "diamond":
        return np.abs(u) + np.abs(v) <= 1.0
    if shape == "triangle":  # apex up, base along the bottom of the box
        return (v >= -1.0) & (v <= 1.0) & (np.abs(u) <= (v + 1.0) / 2.0)
    raise ValueError(f"unknown shape {shape!r}; allowed: {SHAPES}")


@lru_cache(maxsize=None)
def mask_patch(shape: str, size: str, x: int, y: int, resolution: int):
    """Coverage of one object: (y0, x0, patch[h, w] float32) with patch inside the image."""
    r = SIZES[size]
    cx, cy = cell_center(x), cell_center(y)
    # Pixel window that can contain coverage, clipped to the image.
    x0 = max(0, math.floor((cx - r) * resolution))
    x1 = min(resolution, math.ceil((cx + r) * resolution))
    y0 = max(0, math.floor((cy - r) * resolution))
    y1 = min(resolution, math.ceil((cy + r) * resolution))
    if x1 <= x0 or y1 <= y0:
        return 0, 0, np.zeros((0, 0), np.float32)
    s = SUPERSAMPLE
    off = (np.arange(s) + 0.5) / s
    xs = ((np.arange(x0, x1)[:, None] + off[None, :]).reshape(-1) / resolution - cx) / r
    ys = ((np.arange(y0, y1)[:, None] + off[None, :]).reshape(-1) / resolution - cy) / r
    inside = _inside(shape, xs[None, :], ys[:, None]).astype(np.float64)
    h, w = y1 - y0, x1 - x0
    cov = inside.reshape(h, s, w, s).mean(axis=(1, 3)).astype(np.float32)
    cov.setflags(write=False)
    return y0, x0, cov


def object_mask(obj: Obj, resolution: int = 32) -> np.ndarray:
    """Full-image coverage map [H, W] float32 of a single object."""
    out = np.zeros((resolution, resolution), np.float32)
    y0, x0, p = mask_patch(obj.shape, obj.size, obj.x, obj.y, resolution)
    out[y0 : y0 + p.shape[0], x0 : x0 + p.shape[1]] = p
    return out


@lru_cache(maxsize=8)
def candidate_stack(resolution: int):
    """Every (shape, size, x, y) mask flattened: (keys, masks[N, H*W], squared norms[N])."""
    keys, rows = [], []
    for shape in SHAPES:
        for size in SIZES:
            for y in range(GRID):
                for x in range(GRID):
                    keys.append((shape, size, x, y))
                    rows.append(object_mask(Obj(shape, "red", size, x, y), resolution).reshape(-1))
    m = np.stack(rows)
    return tuple(keys), m, (m.astype(np.float64) ** 2).sum(1)


def _render_np(scene: Scene, resolution: int) -> np.ndarray:
    if resolution < 1:
        raise ValueError(f"resolution must be positive, got {resolution}")
    bg = np.asarray(rgb01(BACKGROUNDS[scene.background]), np.float32)
    img = np.empty((3, resolution, resolution), np.float32)
    img[:] = bg[:, None, None]
    for o in scene.objects:
        y0, x0, p = mask_patch(o.shape, o.size, o.x, o.y, resolution)
        if p.size == 0:
            continue
        col = np.asarray(rgb01(COLORS[o.color]), np.float32)[:, None, None]
        reg = img[:, y0 : y0 + p.shape[0], x0 : x0 + p.shape[1]]
        reg[:] = reg * (1.0 - p) + col * p  # "over" compositing, objects never overlap
    return img


def render(scene: Scene, resolution: int = 32) -> torch.Tensor:
    """float32 [3, H, W] image in [0, 1]."""
    return torch.from_numpy(_render_np(scene, resolution))


def render_batch(scenes, resolution: int = 32) -> torch.Tensor:
    scenes = list(scenes)
    if not scenes:
        return torch.zeros((0, 3, resolution, resolution), dtype=torch.float32)
    return torch.from_numpy(np.stack([_render_np(s, resolution) for s in scenes]))
