"""Edit sampling: instruction + exact target scene + machine-readable spec."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .palette import BACKGROUNDS, COLORS, SHAPES, SIZE_ORDER
from .scene import GRID, MAX_OBJECTS, Obj, Scene, fits, is_valid, name, placements
from .text import DIRECTION_PHRASES, TEMPLATES, with_article

CATEGORIES = (
    "color_alter",
    "subject-remove",
    "subject-add",
    "subject-replace",
    "background_change",
    "subject-move",
    "resize",
)
# Categories whose result object is a (possibly new) colour+shape combination.
RESULT_CATEGORIES = ("color_alter", "subject-add", "subject-replace")
MOVE_CELLS = 2
DIRECTIONS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}


@dataclass(frozen=True)
class Edit:
    category: str
    instruction: str
    target: Scene
    object_name: str
    spec: dict


def _pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


def _phrase(rng, key: str, **kw) -> str:
    return _pick(rng, TEMPLATES[key]).format(**kw)


def with_object(scene: Scene, i: int, obj: Obj | None) -> Scene:
    """The scene with object i replaced by ``obj`` (or removed when ``obj`` is None)."""
    objs = list(scene.objects)
    if obj is None:
        del objs[i]
    else:
        objs[i] = obj
    return Scene(scene.background, tuple(objs))


def moved(obj: Obj, direction: str, cells: int = MOVE_CELLS) -> Obj:
    dx, dy = DIRECTIONS[direction]
    return replace(obj, x=obj.x + dx * cells, y=obj.y + dy * cells)


# Each sampler gets the scene, the rng and an allowed(colour, shape) test for result objects,
# and returns an Edit or None when the category is impossible for this scene. They must draw
# from the rng in a fixed order: the dataset splits are defined by that stream.


def _color_alter(scene: Scene, rng, allowed) -> Edit | None:
    objs = scene.objects
    cands = [(i, c) for i, o in enumerate(objs) for c in COLORS if c != o.color and allowed(c, o.shape)]
    if not cands:
        return None
    i, c = _pick(rng, cands)
    o = objs[i]
    return Edit("color_alter", _phrase(rng, "color_alter", obj=name(o), color=c),
                with_object(scene, i, replace(o, color=c)), name(o), {"index": i, "color": c})


def _subject_remove(scene: Scene, rng, allowed) -> Edit | None:
    objs = scene.objects
    if not objs:
        return None
    i = int(rng.integers(len(objs)))
    return Edit("subject-remove", _phrase(rng, "subject-remove", obj=name(objs[i])),
                with_object(scene, i, None), name(objs[i]), {"index": i})


def _subject_add(scene: Scene, rng, allowed) -> Edit | None:
    objs = scene.objects
    combos = [(c, s) for s in SHAPES for c in COLORS if allowed(c, s)]
    spots = placements(objs) if len(objs) < MAX_OBJECTS else []
    if not (combos and spots):
        return None
    c, s = _pick(rng, combos)
    size, x, y = _pick(rng, spots)
    new = Obj(s, c, size, x, y)
    return Edit("subject-add", _phrase(rng, "subject-add", a_new=with_article(name(new))),
                Scene(scene.background, objs + (new,)), name(new),
                {"obj": {"shape": s, "color": c, "size": size, "x": x, "y": y}})


def _subject_replace(scene: Scene, rng, allowed) -> Edit | None:
    objs = scene.objects
    cands = [(i, s) for i, o in enumerate(objs) for s in SHAPES if s != o.shape and allowed(o.color, s)]
    if not cands:
        return None
    i, s = _pick(rng, cands)
    o = objs[i]
    new = replace(o, shape=s)
    text = _phrase(rng, "subject-replace", obj=name(o), shape=s, a_new=with_article(name(new)))
    return Edit("subject-replace", text, with_object(scene, i, new), name(o), {"index": i, "shape": s})


def _background_change(scene: Scene, rng, allowed) -> Edit | None:
    bg = _pick(rng, [b for b in BACKGROUNDS if b != scene.background])
    return Edit("background_change", _phrase(rng, "background_change", bg=bg), Scene(bg, scene.objects),
                "background", {"background": bg})


def _subject_move(scene: Scene, rng, allowed) -> Edit | None:
    objs = scene.objects
    cands = []
    for i, o in enumerate(objs):
        others = objs[:i] + objs[i + 1 :]
        for d in DIRECTIONS:
            m = moved(o, d)
            if 0 <= m.x < GRID and 0 <= m.y < GRID and fits(m, others):
                cands.append((i, d))
    if not cands:
        return None
    i, d = _pick(rng, cands)
    o = objs[i]
    return Edit("subject-move", _phrase(rng, "subject-move", obj=name(o), dir=DIRECTION_PHRASES[d]),
                with_object(scene, i, moved(o, d)), name(o), {"index": i, "direction": d})


def _resize(scene: Scene, rng, allowed) -> Edit | None:
    objs = scene.objects
    cands = []
    for i, o in enumerate(objs):
        others = objs[:i] + objs[i + 1 :]
        k = SIZE_ORDER.index(o.size)
        for d, k2 in (("bigger", k + 1), ("smaller", k - 1)):
            if 0 <= k2 < len(SIZE_ORDER) and fits(replace(o, size=SIZE_ORDER[k2]), others):
                cands.append((i, d, SIZE_ORDER[k2]))
    if not cands:
        return None
    i, d, size = _pick(rng, cands)
    o = objs[i]
    return Edit("resize", _phrase(rng, f"resize-{d}", obj=name(o)),
                with_object(scene, i, replace(o, size=size)), name(o),
                {"index": i, "size": size, "direction": d})


_SAMPLERS = {
    "color_alter": _color_alter,
    "subject-remove": _subject_remove,
    "subject-add": _subject_add,
    "subject-replace": _subject_replace,
    "background_change": _background_change,
    "subject-move": _subject_move,
    "resize": _resize,
}
assert set(_SAMPLERS) == set(CATEGORIES)


def sample_edit(
    scene: Scene,
    category: str,
    rng: np.random.Generator,
    forbidden_results=frozenset(),
    required_result: tuple[str, str] | None = None,
) -> Edit | None:
    """Draw one edit of `category`, or None when impossible for this scene.

    forbidden_results / required_result are (colour, shape) pairs constraining the
    result object of color_alter / subject-add / subject-replace.
    """
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; allowed: {CATEGORIES}")
    forbidden = {tuple(f) for f in forbidden_results}
    if required_result is not None and category not in RESULT_CATEGORIES:
        raise ValueError(f"required_result only applies to {RESULT_CATEGORIES}")
    used = {(o.color, o.shape) for o in scene.objects}

    def allowed(color: str, shape: str) -> bool:
        # A result object must be a new combination in the scene and respect the split's constraints.
        if (color, shape) in used or (color, shape) in forbidden:
            return False
        return required_result is None or (color, shape) == tuple(required_result)

    edit = _SAMPLERS[category](scene, rng, allowed)
    if edit is not None:
        assert is_valid(edit.target), edit  # sampling logic must keep scenes valid
    return edit


def preserved(category: str, spec: dict, src: Scene, out: Scene) -> bool:
    """The world's rule for "nothing the instruction did not name changed", on scene graphs: every
    untouched source object is present exactly, the background is kept (unless it is the edit), and
    at most one other object (the attempted edit) is there. Shared by the oracle (on parsed
    outputs) and the embedded judge's training labels (on true scenes), so both mean the same."""
    i = spec.get("index")
    if category != "background_change" and out.background != src.background:
        return False
    others = list(src.objects) if category == "background_change" else [o for j, o in enumerate(src.objects) if j != i]
    rest = list(out.objects)
    for o in others:
        if o not in rest:
            return False
        rest.remove(o)
    if category == "background_change":
        return not rest
    if category == "subject-remove":  # a leftover copy of the object is an edit failure, not extra
        return all(p == src.objects[i] for p in rest) and len(rest) <= 1
    return len(rest) <= 1
