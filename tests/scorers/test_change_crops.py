"""The change crops (and their growth to whole objects) that a judge trained with them is prompted with:
inference-side prompting of HFVLMScorer."""
from dataclasses import replace

import pytest
import torch


def test_change_crops_show_each_image_only_where_the_pair_differs():
    from harness.scorers.scorer import change_crop_slots
    from harness.world.render import render_batch
    from harness.world.scene import Obj, Scene

    src = render_batch([Scene("white", (Obj("circle", "red", "medium", 2, 2), Obj("square", "blue", "medium", 5, 5)))], 32)
    out = render_batch([Scene("white", (Obj("circle", "red", "medium", 2, 2), Obj("square", "green", "medium", 5, 5)))], 32)
    faint = (out + 0.05 * torch.randn(out.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    before, after = change_crop_slots(src, out)
    changed = (out - src).abs().amax(1, keepdim=True) > 0.2
    assert changed.any()
    # where the square changed colour: the old (blue) and the new (green) square; the circle is hidden
    assert torch.allclose(before[changed.expand_as(src)], src[changed.expand_as(src)], atol=1e-6)
    assert torch.allclose(after[changed.expand_as(out)], out[changed.expand_as(out)], atol=1e-6)
    assert torch.all(before[~changed.expand_as(src)] == 0.5) and torch.all(after[~changed.expand_as(out)] == 0.5)
    # an unchanged pair and faint noise give blank crops; the crops carry the edited image's gradient
    assert torch.all(change_crop_slots(src, src)[1] == 0.5)
    assert (change_crop_slots(out, faint)[1] - 0.5).abs().mean() < 0.01
    edited = out.clone().requires_grad_(True)
    change_crop_slots(src, edited)[1].sum().backward()
    assert edited.grad[changed.expand_as(out)].abs().min() > 0


@pytest.mark.parametrize("bg", ["white", "gray", "black"])
@pytest.mark.parametrize("new", [{"size": "large"}, {"shape": "square"}, {"x": 3}])
def test_object_crops_show_the_old_and_the_new_object_whole(bg, new):
    from harness.scorers.scorer import change_crop_slots
    from harness.world.palette import COLORS, rgb01
    from harness.world.render import render_batch
    from harness.world.scene import Obj, Scene

    render = lambda *objs: render_batch([Scene(bg, objs)], 32)
    old, other = Obj("circle", "red", "small", 2, 2), Obj("square", "blue", "medium", 5, 5)
    edited_obj = replace(old, **new)
    src, out = render(old, other), render(edited_obj, other)
    # an object's solid pixels (its anti-aliased rim, a blend with the background, is not grown into)
    drawn = lambda o: (render(o) - torch.tensor(rgb01(COLORS[o.color]))[:, None, None]).abs().amax(1, keepdim=True) < 0.02
    whole = drawn(old) | drawn(edited_obj)
    before, after = change_crop_slots(src, out, objects=True)
    shown = lambda crop, img: ((crop - img).abs() < 1e-6).all(1, keepdim=True) & ((crop - 0.5).abs() > 1e-6).any(1, keepdim=True)
    # the new object whole in the edited crop (the plain crop shows only where the two differ)
    assert (shown(after, out) & drawn(edited_obj)).sum() >= 0.95 * drawn(edited_obj).sum()
    assert (shown(change_crop_slots(src, out)[1], out) & drawn(edited_obj)).sum() < 0.9 * drawn(edited_obj).sum()
    assert (shown(before, src) & drawn(old)).sum() >= 0.95 * drawn(old).sum()
    # the untouched square stays hidden, in both crops
    assert not (shown(before, src) & drawn(other) & ~whole).any() and not (shown(after, out) & drawn(other)).any()


def test_object_crops_leave_a_background_change_alone_and_keep_the_gradient():
    from harness.scorers.scorer import change_crop_slots
    from harness.world.render import render_batch
    from harness.world.scene import Obj, Scene

    objs = (Obj("circle", "red", "small", 2, 2), Obj("square", "blue", "medium", 5, 5))
    src, out = render_batch([Scene("white", objs)], 32), render_batch([Scene("beige", objs)], 32)
    for plain, grown in zip(change_crop_slots(src, out), change_crop_slots(src, out, objects=True)):
        assert torch.equal(plain, grown)  # the objects stay grey holes: they did not change
    moved = render_batch([Scene("white", (replace(objs[0], x=3), objs[1]))], 32).requires_grad_(True)
    change_crop_slots(src, moved, objects=True)[1].sum().backward()
    assert moved.grad.abs().sum() > 0
