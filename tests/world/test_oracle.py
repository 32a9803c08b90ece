import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.world.dataset import EditSample, WorldConfig, build_split
from harness.world.edits import CATEGORIES, with_object
from harness.world.oracle import parse, score
from harness.world.render import render, render_batch
from harness.world.scene import Obj, Scene, is_valid, random_scene
from harness.world.text import caption

HYP = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def eval_split():
    return build_split(WorldConfig(n_unpaired=0, n_paired=0, n_eval=140, seed=3), "eval")


def _same(parsed: Scene, truth: Scene) -> bool:
    return parsed.background == truth.background and set(parsed.objects) == set(truth.objects) \
        and len(parsed.objects) == len(truth.objects)


# (a) exact recovery on clean renders
def test_parse_recovers_clean_renders_exactly():
    rng = np.random.default_rng(123)
    scenes = [random_scene(rng, 0, 3) for _ in range(2000)]
    imgs = render_batch(scenes)
    for s, img in zip(scenes, imgs):
        p = parse(img)
        assert _same(p.scene, s), (s, p.scene)
        assert p.explained == 1.0 and p.residual < 1e-6
        assert max(p.object_errors, default=0.0) < 1e-6


def test_parse_exact_at_64px():
    rng = np.random.default_rng(7)
    for _ in range(100):
        s = random_scene(rng)
        assert _same(parse(render(s, 64)).scene, s)


# (b) the true target passes, (c) a copy of the source fails the edit
def test_target_scores_perfect(eval_split):
    seen = set()
    for s in eval_split:
        r = score(s, s.target)
        assert r["edit_success"] == 1.0, (s.id, s.instruction)
        assert r["preservation"] == 1.0, (s.id, s.instruction)
        assert r["realism"] >= 0.99
        assert r["pixel_mse_target"] == 0.0
        assert r["pixel_mse_unedited"] == 0.0, (s.id, s.category)
        seen.add(s.category)
    assert seen == set(CATEGORIES)


def test_copy_of_source_fails_edit(eval_split):
    for s in eval_split:
        r = score(s, s.source.clone())
        assert r["edit_success"] == 0.0, (s.id, s.instruction)
        assert r["preservation"] == 1.0  # nothing unnamed changed
        assert r["pixel_mse_target"] > 0.0


def test_score_requires_target(eval_split):
    s = eval_split[0].without_target()
    with pytest.raises(ValueError, match=s.id):
        score(s, eval_split[0].source)


# (d) hand-made rejections
def _sample(category, src: Scene, tgt: Scene, spec: dict, name="x") -> EditSample:
    assert is_valid(src) and is_valid(tgt)
    return EditSample(
        id=f"hand-{category}", source=render(src), instruction="-", category=category,
        source_caption=caption(src), target_caption=caption(tgt), object_name=name,
        source_scene=src, spec=spec, target=render(tgt), target_scene=tgt,
    )


RC = Obj("circle", "red", "medium", 2, 2)
BS = Obj("square", "blue", "small", 5, 5)
GT = Obj("triangle", "green", "large", 5, 2)
SRC = Scene("white", (RC, BS, GT))




def test_reject_wrong_colour():
    tgt = with_object(SRC, 0, dataclasses.replace(RC, color="yellow"))
    s = _sample("color_alter", SRC, tgt, {"index": 0, "color": "yellow"})
    assert score(s, s.target)["edit_success"] == 1.0
    wrong = render(with_object(SRC, 0, dataclasses.replace(RC, color="cyan")))
    r = score(s, wrong)
    assert r["edit_success"] == 0.0 and r["preservation"] == 1.0


def test_reject_wrong_object_removed():
    s = _sample("subject-remove", SRC, with_object(SRC, 0, None), {"index": 0})
    r = score(s, render(with_object(SRC, 1, None)))  # removed the blue square instead
    assert r["edit_success"] == 0.0 and r["preservation"] == 0.0
    r = score(s, s.target)
    assert r["edit_success"] == 1.0 and r["preservation"] == 1.0


def test_reject_extra_object():
    tgt = with_object(SRC, 0, dataclasses.replace(RC, color="yellow"))
    s = _sample("color_alter", SRC, tgt, {"index": 0, "color": "yellow"})
    extra = Scene(tgt.background, tgt.objects[:2] + (Obj("diamond", "purple", "small", 1, 6),))
    r = score(s, render(Scene(tgt.background, tgt.objects + (Obj("diamond", "purple", "small", 1, 6),))))
    assert r["edit_success"] == 1.0 and r["preservation"] == 0.0
    # extra object during a removal is also caught
    s = _sample("subject-remove", SRC, with_object(SRC, 0, None), {"index": 0})
    r = score(s, render(Scene("white", (BS, GT, Obj("diamond", "purple", "small", 1, 6)))))
    assert r["edit_success"] == 1.0 and r["preservation"] == 0.0
    assert extra is not None


def test_reject_shifted_untouched_object():
    tgt = with_object(SRC, 0, dataclasses.replace(RC, color="yellow"))
    s = _sample("color_alter", SRC, tgt, {"index": 0, "color": "yellow"})
    shifted = with_object(tgt, 1, dataclasses.replace(BS, x=3))
    r = score(s, render(shifted))
    assert r["edit_success"] == 1.0 and r["preservation"] == 0.0
    assert r["pixel_mse_unedited"] > 0.0


def test_reject_unchanged_and_wrong_moves():
    moved = with_object(SRC, 1, dataclasses.replace(BS, x=3))
    s = _sample("subject-move", SRC, moved, {"index": 1, "direction": "left"})
    assert score(s, s.target)["edit_success"] == 1.0
    assert score(s, s.source)["edit_success"] == 0.0
    assert score(s, render(with_object(SRC, 1, dataclasses.replace(BS, x=6))))["edit_success"] == 0.0  # right
    partial = score(s, render(with_object(SRC, 1, dataclasses.replace(BS, x=4))))  # only one cell
    assert partial["edit_success"] == 1.0 and partial["preservation"] == 1.0


def test_reject_wrong_resize_and_background():
    big = with_object(SRC, 1, dataclasses.replace(BS, size="medium"))
    s = _sample("resize", SRC, big, {"index": 1, "size": "medium", "direction": "bigger"})
    assert score(s, s.target)["edit_success"] == 1.0
    assert score(s, s.source)["edit_success"] == 0.0
    s = _sample("background_change", SRC, Scene("black", SRC.objects), {"background": "black"})
    r = score(s, render(Scene("gray", SRC.objects)))
    assert r["edit_success"] == 0.0 and r["preservation"] == 1.0
    r = score(s, render(Scene("black", SRC.objects[:2])))  # dropped an object
    assert r["edit_success"] == 1.0 and r["preservation"] == 0.0


def test_replace_and_add():
    tgt = with_object(SRC, 0, dataclasses.replace(RC, shape="square"))
    s = _sample("subject-replace", SRC, tgt, {"index": 0, "shape": "square"})
    assert score(s, s.target)["edit_success"] == 1.0
    assert score(s, render(with_object(SRC, 0, dataclasses.replace(RC, shape="diamond"))))["edit_success"] == 0.0
    src = Scene("white", SRC.objects[:2])
    new = Obj("diamond", "orange", "small", 1, 6)
    s = _sample("subject-add", src, Scene("white", src.objects + (new,)), {"obj": dataclasses.asdict(new)})
    assert score(s, s.target)["edit_success"] == 1.0
    other = Obj("diamond", "purple", "small", 1, 6)
    r = score(s, render(Scene("white", src.objects + (other,))))
    assert r["edit_success"] == 0.0 and r["preservation"] == 1.0


# (e) robustness / property tests
scene_seeds = st.integers(0, 2**32 - 1)


@HYP
@given(seed=scene_seeds, sigma=st.floats(0.0, 0.02))
def test_small_noise_keeps_parse(seed, sigma):
    rng = np.random.default_rng(seed)
    s = random_scene(rng)
    img = render(s)
    noisy = (img + sigma * torch.from_numpy(rng.standard_normal(img.shape).astype(np.float32))).clamp(0, 1)
    p = parse(noisy)
    assert _same(p.scene, s)
    assert p.explained >= 0.98


@HYP
@given(seed=scene_seeds)
def test_realism_degrades_with_noise(seed):
    rng = np.random.default_rng(seed)
    s = random_scene(rng)
    img = render(s)
    realism = []
    for sigma in (0.0, 0.05, 0.3):
        noisy = (img + sigma * torch.from_numpy(rng.standard_normal(img.shape).astype(np.float32))).clamp(0, 1)
        realism.append(parse(noisy).explained_content)
    assert realism[0] == 1.0
    assert realism[2] < realism[1] < realism[0]
    assert realism[2] < 0.5


@HYP
@given(seed=scene_seeds)
def test_uniform_noise_is_unrealistic(seed):
    g = torch.Generator().manual_seed(seed)
    p = parse(torch.rand(3, 32, 32, generator=g))
    assert p.explained < 0.5 and p.explained_content < 0.5
    assert len(p.scene.objects) <= 8


@HYP
@given(rgb=st.tuples(*[st.floats(0, 1)] * 3), res=st.sampled_from([16, 32, 64]))
def test_constant_image_has_no_objects(rgb, res):
    img = torch.tensor(rgb, dtype=torch.float32)[:, None, None].expand(3, res, res)
    assert parse(img).scene.objects == ()


@HYP
@given(
    coarse=st.lists(st.floats(0, 1, width=32), min_size=3 * 4 * 4, max_size=3 * 4 * 4),
    mode=st.sampled_from(["nearest", "bilinear", "noise", "scene+patch"]),
    seed=scene_seeds,
)
def test_parser_never_raises(coarse, mode, seed):
    base = torch.tensor(coarse, dtype=torch.float32).reshape(1, 3, 4, 4)
    if mode in ("nearest", "bilinear"):
        img = torch.nn.functional.interpolate(base, size=32, mode=mode)[0]
    elif mode == "noise":
        img = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(seed))
    else:
        img = render(random_scene(np.random.default_rng(seed))).clone()
        img[:, 8:16, 8:16] = base[0].repeat_interleave(2, 1).repeat_interleave(2, 2)
    p = parse(img.clamp(0, 1))
    assert 0.0 <= p.explained <= 1.0 and 0.0 <= p.explained_content <= 1.0
    assert p.residual >= 0.0


def test_blur_lowers_realism(eval_split):
    vals = []
    for s in eval_split[:40]:
        blurred = torch.nn.functional.avg_pool2d(
            torch.nn.functional.pad(s.target[None], (1, 1, 1, 1), mode="replicate"), 3, 1)[0]
        vals.append(score(s, blurred)["realism"])
    assert np.mean(vals) < 0.8


def test_parse_rejects_bad_shapes():
    with pytest.raises(ValueError):
        parse(torch.zeros(1, 32, 32))
    with pytest.raises(ValueError):
        parse(torch.zeros(3, 32, 16))


def test_parse_speed(eval_split):
    import time

    imgs = [s.target for s in eval_split] + [s.source for s in eval_split[:10]]
    t = time.perf_counter()
    for im in imgs:
        parse(im)
    assert time.perf_counter() - t < 3.0
