"""Exact posterior mean E[x0 | x_t, scene structure] of a world image under the flow forward process.

Flow convention x_t = (1 - t) x0 + t eps. Given what a caption fixes (background and the ordered list of
(colour, shape)), the unknowns are each object's (size, cell); the image is
x0 = B + sum_i (C_i - B) m_i with disjoint masks m_i, so the Gaussian log-likelihood splits into one
term per object, and the joint posterior over placements is those terms times the world's sampling
prior (random_scene: size uniform, then a uniform cell among those that fit beside the earlier
objects). With at most 3 objects and 108 placements each the joint is enumerated exactly.

Used as a low-variance flow-matching target for the embedded teacher (the "stable target field"
idea, Xu et al. 2023, with the reference batch replaced by the exact sum): the minimiser of the
flow-matching loss is the same, the gradient noise is far smaller.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from .palette import BACKGROUNDS, COLORS, SHAPES, SIZE_ORDER, rgb01
from .render import object_mask
from .scene import GRID, MAX_OBJECTS, Obj, Scene, in_bounds, separated


@lru_cache(maxsize=1)
def _placements() -> tuple[tuple[str, int, int], ...]:
    """Every (size, x, y) an object can take in the image, in the order of the posterior's K axis."""
    return tuple((s, x, y) for s in SIZE_ORDER for y in range(GRID) for x in range(GRID)
                 if in_bounds(Obj("circle", "red", s, x, y)))


@lru_cache(maxsize=4)
def _tables(resolution: int):
    """Masks per shape [K, H*W] of the K placements (size, x, y) that fit in the image, and the log prior
    (and prior) of a 1/2/3-object placement sequence under random_scene."""
    cands = _placements()
    k = len(cands)
    masks = {sh: torch.from_numpy(np.stack(
        [object_mask(Obj(sh, "red", *c), resolution).reshape(-1) for c in cands])).double() for sh in SHAPES}
    boxes = [Obj("circle", "red", *c) for c in cands]
    compat = torch.tensor([[separated(a, b) for b in boxes] for a in boxes], dtype=torch.float64)
    size_1hot = torch.zeros(k, len(SIZE_ORDER), dtype=torch.float64)
    for j, (s, _, _) in enumerate(cands):
        size_1hot[j, SIZE_ORDER.index(s)] = 1.0
    n_sizes = len(SIZE_ORDER)

    def next_prob(fits: torch.Tensor) -> torch.Tensor:
        """P(next placement) given a [..., K] 0/1 'fits' mask: a size uniformly, then a uniform fitting
        cell of it; if that size has no room, a uniform cell among all that fit (random_scene's fallback)."""
        per_size = fits @ size_1hot  # [..., S]
        total = fits.sum(-1, keepdim=True)
        p_size = torch.where(per_size > 0, 1.0 / per_size.clamp(min=1), torch.zeros_like(per_size)) / n_sizes
        p = fits * (p_size @ size_1hot.T)
        fallback = (per_size == 0).double().sum(-1, keepdim=True) / n_sizes  # mass of sizes without room
        return p + fits * fallback / total.clamp(min=1)

    first = next_prob(torch.ones(k, dtype=torch.float64))
    second = next_prob(compat)  # [K(a), K(b)]
    third = next_prob(compat[:, None, :] * compat[None, :, :])  # [K, K, K]
    lp1 = first.log()
    lp2 = lp1[:, None] + second.log()
    lp3 = lp2[:, :, None] + third.log()
    return masks, lp1, lp2, lp3, lp2.exp(), lp3.exp()


def _marginals(unary, lp1, lp2, lp3, p2, p3) -> list[torch.Tensor]:
    """Each object's posterior over placements. Fast path: exp of max-shifted unaries contracted with
    the prior tensor (matrix-vector products, no [K, K, K] exp); if that underflows, the log-space sum."""
    n = len(unary)
    if n == 0:
        return []
    if n == 1:
        return [torch.softmax(unary[0] + lp1, 0)]
    e = [torch.exp(u - u.max()) for u in unary]
    if n == 2:
        pe1 = p2 @ e[1]
        z = e[0] @ pe1
        if z > 0 and torch.isfinite(z):
            return [e[0] * pe1 / z, e[1] * (e[0] @ p2) / z]
        p = torch.softmax((unary[0][:, None] + unary[1][None, :] + lp2).reshape(-1), 0).reshape(lp2.shape)
        return [p.sum(1), p.sum(0)]
    k = e[0].shape[0]
    ab = p3 @ e[2]  # [a, b]: sum over c
    bc = (e[0] @ p3.reshape(k, k * k)).reshape(k, k)  # [b, c]: sum over a
    m0 = e[0] * (ab @ e[1])
    z = m0.sum()
    if z > 0 and torch.isfinite(z):
        return [m0 / z, e[1] * (e[0] @ ab) / z, e[2] * (e[1] @ bc) / z]
    logits = unary[0][:, None, None] + unary[1][None, :, None] + unary[2][None, None, :] + lp3
    p = torch.softmax(logits.reshape(-1), 0).reshape(lp3.shape)
    return [p.sum((1, 2)), p.sum((0, 2)), p.sum((0, 1))]


def _model_rgb(rgb) -> torch.Tensor:
    return torch.tensor(rgb01(rgb), dtype=torch.float64) * 2 - 1


def _check(x_t: torch.Tensor, scenes: list[Scene]) -> None:
    b, c, h, w = x_t.shape
    if c != 3 or h != w:
        raise ValueError(f"the world posterior works on square RGB pixel images, got shape {tuple(x_t.shape)}")
    if len(scenes) != b:
        raise ValueError(f"the world posterior needs one scene per image, got {len(scenes)} for {b}")
    for scene in scenes:
        if len(scene.objects) > MAX_OBJECTS:
            raise ValueError(f"the world posterior: at most {MAX_OBJECTS} objects, got {len(scene.objects)}")


def _per_image(x_t: torch.Tensor, t, scenes: list[Scene], resolution: int | None):
    """For each image: (background in model space, each object's placement posterior [K], its masks
    [K, HW] and its colour minus the background [3])."""
    _check(x_t, scenes)
    b, _, h, _ = x_t.shape
    masks, lp1, lp2, lp3, p2, p3 = _tables(resolution or h)
    t = torch.as_tensor(t, dtype=torch.float64).reshape(-1).expand(b).clamp(min=1e-4)
    xt = x_t.detach().to("cpu", torch.float64).reshape(b, 3, -1)
    for i, scene in enumerate(scenes):
        ti = float(t[i])
        bg = _model_rgb(BACKGROUNDS[scene.background])
        r = xt[i] - (1 - ti) * bg[:, None]  # [3, HW]
        unary, m_list, d_list = [], [], []
        for o in scene.objects:
            d = (1 - ti) * (_model_rgb(COLORS[o.color]) - bg)  # [3]
            m = masks[o.shape]
            s = d @ r  # [HW]: per-pixel <r, d>
            unary.append((m @ s - 0.5 * float(d @ d) * (m * m).sum(1)) / (ti * ti))
            m_list.append(m)
            d_list.append(_model_rgb(COLORS[o.color]) - bg)
        yield bg, _marginals(unary, lp1, lp2, lp3, p2, p3), m_list, d_list


@torch.no_grad()
def posterior_mean(x_t: torch.Tensor, t, scenes: list[Scene], resolution: int | None = None) -> torch.Tensor:
    """E[x0 | x_t, background, ordered (colour, shape) of each scene] in model space ([-1, 1] pixels).

    ``x_t``: [B, 3, H, W] model-space images at flow time ``t`` (float or [B]); objects' sizes and
    cells are marginalised exactly. Returns float32 [B, 3, H, W]."""
    b, _, h, w = x_t.shape
    out = torch.empty(b, 3, h, w, dtype=torch.float64)
    for i, (bg, joint, m_list, d_list) in enumerate(_per_image(x_t, t, scenes, resolution)):
        x0 = bg[:, None].expand(3, h * w).clone()
        for marg, m, d in zip(joint, m_list, d_list):
            x0 += d[:, None] * (marg @ m)[None, :]
        out[i] = x0.reshape(3, h, w)
    return out.to(torch.float32)


@lru_cache(maxsize=1)
def _placement_cells() -> torch.Tensor:
    """[K, GRID*GRID] 0/1: the cell each placement (size, x, y) is centred on."""
    cands = _placements()
    out = torch.zeros(len(cands), GRID * GRID, dtype=torch.float64)
    for j, (_, x, y) in enumerate(cands):
        out[j, y * GRID + x] = 1.0
    return out


@torch.no_grad()
def cell_posteriors(x_t: torch.Tensor, t, scenes: list[Scene], resolution: int | None = None) -> list[torch.Tensor]:
    """Per image, [n_objects, GRID * GRID]: P(object j is centred on cell c | x_t, scene structure),
    sizes marginalised. Each row sums to 1: an object is somewhere, exactly once."""
    cells = _placement_cells()
    return [torch.stack([m @ cells for m in joint]).float() if joint else torch.zeros(0, GRID * GRID)
            for _, joint, _, _ in _per_image(x_t, t, scenes, resolution)]
