import numpy as np
import pytest

from harness.world.edits import CATEGORIES, RESULT_CATEGORIES, sample_edit
from harness.world.dataset import result_combo
from harness.world.palette import SIZE_ORDER
from harness.world.scene import Obj, Scene, is_valid, name, random_scene
from harness.world.text import TEMPLATES, caption, vocabulary


def test_name_and_caption():
    a = Obj("circle", "red", "small", 2, 2)
    b = Obj("square", "orange", "large", 5, 5)
    assert name(a) == "red circle" == a.name
    assert caption(Scene("white", (b, a))) == "a red circle and an orange square on a white background"
    assert caption(Scene("white", (a, b))) == caption(Scene("white", (b, a)))
    assert caption(Scene("black", ())) == "a plain black background"
    words = set(caption(Scene("white", (a, b))).split())
    assert not words & {"small", "medium", "large", "left", "right"}


def test_templates_have_enough_phrasings():
    for key, phrasings in TEMPLATES.items():
        assert len(phrasings) >= 3, key
        for p in phrasings:
            assert p == p.lower() and not set(p) & set(".,!?;:")


@pytest.mark.parametrize("category", CATEGORIES)
def test_sample_edit_valid(category):
    rng = np.random.default_rng(0)
    got = 0
    phrasings = set()
    for _ in range(300):
        scene = random_scene(rng)
        e = sample_edit(scene, category, rng)
        if e is None:
            continue
        got += 1
        assert e.category == category and is_valid(e.target)
        assert set(e.instruction.split()) <= set(vocabulary())
        assert e.target != scene
        phrasings.add(e.instruction.split()[0])
        if category == "subject-move":
            i = e.spec["index"]
            o, t = scene.objects[i], e.target.objects[i]
            dx, dy = t.x - o.x, t.y - o.y
            assert {"left": (dx < 0, dy == 0), "right": (dx > 0, dy == 0), "up": (dy < 0, dx == 0),
                    "down": (dy > 0, dx == 0)}[e.spec["direction"]] == (True, True)
        if category == "resize":
            i = e.spec["index"]
            k0, k1 = SIZE_ORDER.index(scene.objects[i].size), SIZE_ORDER.index(e.target.objects[i].size)
            assert (k1 > k0) == (e.spec["direction"] == "bigger") and e.spec["size"] == e.target.objects[i].size
        if category == "background_change":
            assert e.object_name == "background"
    assert got > 150  # add is impossible on 3-object scenes
    assert len(phrasings) >= 2


def test_impossible_edits_return_none():
    rng = np.random.default_rng(0)
    empty = Scene("white", ())
    for cat in ("color_alter", "subject-remove", "subject-replace", "subject-move", "resize"):
        assert sample_edit(empty, cat, rng) is None
    full = Scene("white", (Obj("circle", "red", "small", 1, 1), Obj("square", "red", "small", 4, 4),
                           Obj("diamond", "red", "small", 6, 6)))
    assert sample_edit(full, "subject-add", rng) is None
    with pytest.raises(ValueError):
        sample_edit(full, "teleport", rng)


@pytest.mark.parametrize("category", RESULT_CATEGORIES)
def test_forbidden_and_required_results(category):
    rng = np.random.default_rng(1)
    forbidden = {("red", "triangle"), ("blue", "square")}
    for _ in range(300):
        scene = random_scene(rng)
        e = sample_edit(scene, category, rng, forbidden)
        if e is not None:
            assert result_combo(category, e.spec, scene) not in forbidden
        e = sample_edit(scene, category, rng, required_result=("red", "triangle"))
        if e is not None:
            assert result_combo(category, e.spec, scene) == ("red", "triangle")
