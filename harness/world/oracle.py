"""Analytic oracle: parse images back into scenes and score edits. Never used for training."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from .edits import preserved
from .palette import BACKGROUNDS, COLORS, SIZE_ORDER, rgb01
from .render import _render_np, candidate_stack, object_mask
from .scene import GRID, Obj, Scene

FG_THRESHOLD = 0.18  # Euclidean RGB distance from background marking a foreground pixel
MATCH_TOL = 0.1  # per-channel tolerance for a pixel to count as explained by the re-render
MAX_OBJECTS = 8  # largest components fitted; bounds time on garbage images

_BG_NAMES = list(BACKGROUNDS)
_BG_RGB = np.array([rgb01(BACKGROUNDS[b]) for b in _BG_NAMES], np.float32)
_COL_NAMES = list(COLORS)
_COL_RGB = np.array([rgb01(COLORS[c]) for c in _COL_NAMES], np.float32)


@dataclass
class ParsedScene:
    scene: Scene
    explained: float  # fraction of pixels the re-render matches within MATCH_TOL
    explained_content: float  # same, over non-background pixels only (stricter)
    residual: float  # mean abs difference between image and re-render
    background_distance: float  # RGB distance of the border colour to the snapped background
    object_errors: tuple[float, ...]  # per-object mean squared coverage misfit


def _components(fg: np.ndarray, min_px: int) -> list[np.ndarray]:
    """4-connected components of a boolean [H, W] mask as flat index arrays, largest first."""
    h, w = fg.shape
    flat = fg.reshape(-1)
    seen = np.zeros(h * w, bool)
    comps = []
    for start in np.flatnonzero(flat):
        if seen[start]:
            continue
        seen[start] = True
        queue, members = deque([int(start)]), []
        while queue:
            p = queue.popleft()
            members.append(p)
            r, c = divmod(p, w)
            for q, ok in ((p - w, r > 0), (p + w, r < h - 1), (p - 1, c > 0), (p + 1, c < w - 1)):
                if ok and flat[q] and not seen[q]:
                    seen[q] = True
                    queue.append(q)
        if len(members) >= min_px:
            comps.append(np.array(members))
    comps.sort(key=len, reverse=True)
    return comps


def _dilate(m: np.ndarray) -> np.ndarray:
    out = m.copy()
    out[1:] |= m[:-1]
    out[:-1] |= m[1:]
    out[:, 1:] |= out[:, :-1].copy()
    out[:, :-1] |= out[:, 1:].copy()
    return out


def _erode(m: np.ndarray) -> np.ndarray:
    return ~_dilate(~m)


def _to_hwc(image) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        image = image.detach().to("cpu", torch.float32).numpy()
    img = np.asarray(image, np.float32)
    if img.ndim != 3 or img.shape[0] != 3 or img.shape[1] != img.shape[2] or img.shape[1] < 8:
        raise ValueError(f"expected a square image [3, H, W] with H >= 8, got shape {tuple(img.shape)}")
    img = np.nan_to_num(img, nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(img, 0.0, 1.0).transpose(1, 2, 0)


@lru_cache(maxsize=8)
def _candidates(res: int):
    keys, stack, norms = candidate_stack(res)
    return keys, stack, norms, np.array([k[2] for k in keys]), np.array([k[3] for k in keys])


def _snap_background(img: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Median border colour, its distance to every palette background, and the nearest one."""
    border = np.concatenate([img[0], img[-1], img[1:-1, 0], img[1:-1, -1]])
    med = np.median(border, axis=0)
    d_bg = np.linalg.norm(_BG_RGB - med, axis=1)
    return med, d_bg, int(np.argmin(d_bg))


def _foreground_components(img: np.ndarray, med: np.ndarray) -> list[np.ndarray]:
    # Foreground is measured against the observed border colour, so a constant image of
    # any colour has no foreground; the re-render still uses the snapped colour.
    res = img.shape[0]
    dist = np.linalg.norm(img - med, axis=2)
    scale = (res / 32) ** 2
    return _components(dist > FG_THRESHOLD, max(3, int(round(6 * scale))))[:MAX_OBJECTS]


def _assign_pixels(comps: list[np.ndarray], res: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Component masks and an [H, W] owner map (-1 = nobody).

    Pixels are assigned to the nearest component (chessboard distance <= reach), so each
    fit sees its own anti-aliased fringe but not a neighbour's."""
    reach = max(2, int(round(2 * res / 32)))
    owner = np.full((res, res), -1, np.int64)
    best = np.full((res, res), reach + 1, np.int64)
    masks = []
    for k, comp in enumerate(comps):
        m = np.zeros(res * res, bool)
        m[comp] = True
        m = m.reshape(res, res)
        masks.append(m)
        cur = m
        for d in range(reach + 1):
            if d:
                cur = _dilate(cur)
            upd = cur & (best > d)
            best[upd] = d
            owner[upd] = k
    return masks, owner


def _fit_object(img: np.ndarray, med: np.ndarray, mask: np.ndarray, comp: np.ndarray,
                region: np.ndarray) -> tuple[Obj, float]:
    """Best candidate object for one component, and its per-pixel squared coverage misfit."""
    res = img.shape[0]
    keys, stack, norms, cand_x, cand_y = _candidates(res)
    # Colour from the eroded core, away from anti-aliased edges mixed with the background.
    core = _erode(mask)
    px = img[core] if core.any() else img[mask]
    col_i = int(np.argmin(np.linalg.norm(_COL_RGB - np.median(px, axis=0), axis=1)))
    diff = _COL_RGB[col_i] - med
    # Per-pixel coverage: projection of the image onto the background -> colour segment.
    alpha = ((img - med) @ diff) / max(float(diff @ diff), 1e-6)
    a = np.clip(alpha.reshape(-1)[region], 0.0, 1.0).astype(np.float64)
    # Only candidates centred within 2 cells of the component's centroid are tried; the
    # squared error over the whole image is |M|^2 - 2 M.a + |a|^2 with a zero off-region.
    cy, cx = np.divmod(comp, res)
    gx, gy = int(cx.mean() * GRID / res), int(cy.mean() * GRID / res)
    rows = np.flatnonzero((np.abs(cand_x - gx) <= 2) & (np.abs(cand_y - gy) <= 2))
    sub = stack[np.ix_(rows, region)].astype(np.float64)
    err = norms[rows] - 2.0 * (sub * a).sum(axis=1) + float((a * a).sum())
    best = int(np.argmin(err))
    shape, size, x, y = keys[int(rows[best])]
    return Obj(shape, _COL_NAMES[col_i], size, x, y), float(max(err[best], 0.0)) / max(1, len(region))


def _judge_fit(img: np.ndarray, scene: Scene, bg_i: int, bg_distance: float,
               errs: tuple[float, ...]) -> ParsedScene:
    """Re-render the parsed scene and measure how much of the image it explains."""
    res = img.shape[0]
    bg = _BG_RGB[bg_i]
    rec = _render_np(scene, res).transpose(1, 2, 0)
    absdiff = np.abs(img - rec)
    ok = absdiff.max(axis=2) < MATCH_TOL
    # Content = pixels where the image or the re-render is not plain background.
    content = _dilate((np.abs(img - bg).max(axis=2) >= MATCH_TOL) | (np.abs(rec - bg).max(axis=2) >= MATCH_TOL))
    return ParsedScene(
        scene=scene,
        explained=float(ok.mean()),
        explained_content=float(ok[content].mean()) if content.any() else float(ok.mean()),
        residual=float(absdiff.mean()),
        background_distance=bg_distance,
        object_errors=errs,
    )


def parse(image: torch.Tensor) -> ParsedScene:
    img = _to_hwc(image)
    res = img.shape[0]
    med, d_bg, bg_i = _snap_background(img)
    comps = _foreground_components(img, med)
    masks, owner = _assign_pixels(comps, res)
    owner_flat = owner.reshape(-1)
    fitted = [_fit_object(img, med, m, comps[k], np.flatnonzero(owner_flat == k)) for k, m in enumerate(masks)]
    # Canonical reading order (row, then column), independent of component discovery order.
    order = sorted(range(len(fitted)), key=lambda i: (fitted[i][0].y, fitted[i][0].x))
    scene = Scene(_BG_NAMES[bg_i], tuple(fitted[i][0] for i in order))
    return _judge_fit(img, scene, bg_i, float(d_bg[bg_i]), tuple(fitted[i][1] for i in order))


# ---------------------------------------------------------------- scoring

def _edited_index(sample) -> int | None:
    return sample.spec.get("index")


def _edit_success(sample, src: Scene, tgt: Scene, out: Scene) -> bool:
    cat, spec = sample.category, sample.spec
    i = _edited_index(sample)
    o = src.objects[i] if i is not None else None
    if cat == "color_alter":
        return any(p.x == o.x and p.y == o.y and p.shape == o.shape and p.color == spec["color"]
                   for p in out.objects)
    if cat == "subject-remove":
        return not any(p.shape == o.shape and p.color == o.color for p in out.objects)
    if cat == "subject-add":
        new = spec["obj"]
        return any(p.shape == new["shape"] and p.color == new["color"] for p in out.objects)
    if cat == "subject-replace":
        return any(p.x == o.x and p.y == o.y and p.color == o.color and p.shape == spec["shape"]
                   for p in out.objects)
    if cat == "background_change":
        return out.background == tgt.background
    same = [p for p in out.objects if p.shape == o.shape and p.color == o.color]
    if cat == "subject-move":
        d = spec["direction"]
        ok = {"left": lambda p: p.x <= o.x - 1, "right": lambda p: p.x >= o.x + 1,
              "up": lambda p: p.y <= o.y - 1, "down": lambda p: p.y >= o.y + 1}[d]
        return any(ok(p) for p in same)
    if cat == "resize":
        k = SIZE_ORDER.index(o.size)
        sign = 1 if spec["direction"] == "bigger" else -1
        return any((SIZE_ORDER.index(p.size) - k) * sign > 0 for p in same)
    raise ValueError(f"unknown category {cat!r}")


def _edited_region(sample, res: int) -> np.ndarray:
    """Boolean [H, W] mask of pixels the edit may change (dilated by one pixel)."""
    src, tgt = sample.source_scene, sample.target_scene
    m = np.zeros((res, res), np.float32)
    i = _edited_index(sample)
    if sample.category == "subject-add":
        m += object_mask(tgt.objects[-1], res)
    elif i is not None:
        m += object_mask(src.objects[i], res)
        if sample.category != "subject-remove":
            m += object_mask(tgt.objects[i], res)
    return _dilate(m > 0)


def score(sample, output: torch.Tensor) -> dict[str, float]:
    if sample.target_scene is None or sample.target is None:
        raise ValueError(f"sample {sample.id!r} has no target/target_scene; score needs an eval or paired sample")
    out_np = _to_hwc(output)
    res = out_np.shape[0]
    src_np = _to_hwc(sample.source)
    tgt_np = _to_hwc(sample.target)
    if src_np.shape != out_np.shape or tgt_np.shape != out_np.shape:
        raise ValueError(f"sample {sample.id!r}: output shape {tuple(output.shape)} does not match source/target")
    parsed = parse(output)
    out = parsed.scene
    success = _edit_success(sample, sample.source_scene, sample.target_scene, out)
    kept = preserved(sample.category, sample.spec, sample.source_scene, out)

    if sample.category == "background_change":
        # Only the fully covered object pixels must survive a background change.
        cov = sum((object_mask(o, res) for o in sample.source_scene.objects), np.zeros((res, res), np.float32))
        keep = cov >= 0.999
    else:
        keep = ~_edited_region(sample, res)
    sq = ((out_np - src_np) ** 2).mean(axis=2)
    mse_unedited = float(sq[keep].mean()) if keep.any() else 0.0
    return {
        "edit_success": float(success),
        "preservation": float(kept),
        # Content-restricted so a few wrong edge pixels are not diluted by plain background.
        "realism": float(parsed.explained_content),
        "pixel_mse_target": float(((out_np - tgt_np) ** 2).mean()),
        "pixel_mse_unedited": mse_unedited,
    }
