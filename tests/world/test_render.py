import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import harness.world.render as render_mod
from harness.world.palette import BACKGROUNDS, COLORS, SHAPES, SIZES, rgb01
from harness.world.render import object_mask, render, render_batch
from harness.world.scene import GRID, Obj, Scene, is_valid, random_scene


def _scenes(n, seed=0):
    rng = np.random.default_rng(seed)
    return [random_scene(rng) for _ in range(n)]


def test_deterministic_including_fresh_cache():
    scenes = _scenes(20)
    a = render_batch(scenes)
    render_mod.mask_patch.cache_clear()
    b = render_batch(scenes)
    assert torch.equal(a, b)
    assert torch.equal(render(scenes[3]), a[3])


@pytest.mark.parametrize("res", [32, 64])
def test_shape_dtype_range(res):
    scenes = _scenes(10)
    for s in scenes:
        img = render(s, res)
        assert img.shape == (3, res, res) and img.dtype == torch.float32
        assert img.min() >= 0 and img.max() <= 1
    assert render_batch(scenes, res).shape == (10, 3, res, res)
    assert render_batch([], res).shape == (0, 3, res, res)


def test_background_only_and_colours_exact():
    img = render(Scene("gray", ()))
    assert torch.allclose(img, torch.tensor(rgb01(BACKGROUNDS["gray"]))[:, None, None].expand(3, 32, 32))
    o = Obj("square", "red", "large", 3, 3)
    img = render(Scene("white", (o,)))
    # cell centre is fully covered -> exact object colour
    c = int((o.x + 0.5) * 32 / GRID)
    assert torch.allclose(img[:, c, c], torch.tensor(rgb01(COLORS["red"])))


@pytest.mark.parametrize("shape,res", [(s, 32) for s in SHAPES if s != "square"] + [(s, 40) for s in SHAPES])
def test_antialiased_edges(shape, res):
    # Squares are pixel-aligned at multiples of 32 px, so they are checked at 40 px.
    img = render(Scene("white", (Obj(shape, "blue", "medium", 3, 4),)), res)
    g = img[0]  # red channel: blue object 40/255, white background 1.0
    lo, hi = 40 / 255, 1.0
    inter = ((g > lo + 0.02) & (g < hi - 0.02)).sum().item()
    assert inter >= 4, f"{shape}: no intermediate edge values"


def test_resolutions_consistent():
    # A 64 px render pooled to 32 px should look like the 32 px render.
    for s in _scenes(30, seed=5):
        a = render(s, 32)
        b = F.avg_pool2d(render(s, 64)[None], 2)[0]
        assert (a - b).abs().mean() < 0.01


def test_shapes_and_sizes_distinct():
    areas = {}
    for shape in SHAPES:
        for size in SIZES:
            m = object_mask(Obj(shape, "red", size, 3, 3), 32)
            areas[(shape, size)] = m.sum()
    for shape in SHAPES:
        a = [areas[(shape, s)] for s in ("small", "medium", "large")]
        assert a[0] < a[1] < a[2]
    masks = {k: object_mask(Obj(k[0], "red", k[1], 3, 3), 32) for k in areas}
    keys = list(masks)
    for i, k in enumerate(keys):
        for k2 in keys[i + 1 :]:
            assert np.abs(masks[k] - masks[k2]).sum() > 2.0, (k, k2)


def test_palette_separation():
    cols = np.array([rgb01(c) for c in COLORS.values()])
    bgs = np.array([rgb01(c) for c in BACKGROUNDS.values()])
    d_obj = np.linalg.norm(cols[:, None] - cols[None], axis=2) + np.eye(len(cols)) * 9
    assert d_obj.min() > 0.3
    assert np.linalg.norm(cols[:, None] - bgs[None], axis=2).min() > 0.35


def test_random_scenes_valid_and_pixel_separated():
    for s in _scenes(400, seed=1):
        assert is_valid(s)
        assert 1 <= len(s.objects) <= 3
        names = [(o.color, o.shape) for o in s.objects]
        assert len(set(names)) == len(names)
        masks = [object_mask(o, 32) > 0 for o in s.objects]
        for m in masks:  # at least one clean pixel to the border
            assert not (m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any())
        for i in range(len(masks)):
            grown = masks[i].copy()
            grown[1:] |= masks[i][:-1]
            grown[:-1] |= masks[i][1:]
            grown[:, 1:] |= grown[:, :-1].copy()
            grown[:, :-1] |= grown[:, 1:].copy()
            for j in range(i + 1, len(masks)):
                assert not (grown & masks[j]).any(), s


def test_render_speed():
    scenes = _scenes(5000, seed=2)
    render_batch(scenes[:50])
    t = time.perf_counter()
    render_batch(scenes)
    assert time.perf_counter() - t < 10.0
