"""Edit cases with exact labels from scene graphs, and the candidate outputs the judge is asked about:
the targets, copies, other edits and extra changes that make its hard negatives."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from harness.world.edits import CATEGORIES, DIRECTIONS, preserved, sample_edit
from harness.world.palette import BACKGROUNDS, COLORS, SHAPES, SIZE_ORDER
from harness.world.scene import MAX_OBJECTS, Obj, Scene, is_valid, placements, random_scene


@dataclass(frozen=True)
class Case:
    source: Scene
    category: str
    spec: dict
    target: Scene
    instruction: str
    object_name: str


def random_case(rng: np.random.Generator, max_objects: int = 3, category: str | None = None) -> Case:
    while True:
        scene = random_scene(rng, max_objects=max_objects)
        cat = category or CATEGORIES[int(rng.integers(len(CATEGORIES)))]
        e = sample_edit(scene, cat, rng)
        if e is not None:
            return Case(scene, cat, e.spec, e.target, e.instruction, e.object_name)


def edit_done(case: Case, out: Scene) -> bool:
    cat, spec, src = case.category, case.spec, case.source
    o = src.objects[spec["index"]] if "index" in spec else None
    objs = out.objects
    if cat == "color_alter":
        return replace(o, color=spec["color"]) in objs
    if cat == "subject-remove":
        return not any(p.color == o.color and p.shape == o.shape for p in objs)
    if cat == "subject-add":
        return any(p.color == spec["obj"]["color"] and p.shape == spec["obj"]["shape"] for p in objs)
    if cat == "subject-replace":
        return replace(o, shape=spec["shape"]) in objs
    if cat == "background_change":
        return out.background == spec["background"]
    same = [p for p in objs if p.color == o.color and p.shape == o.shape]
    if cat == "subject-move":
        dx, dy = DIRECTIONS[spec["direction"]]
        return any(p.size == o.size and (p.x - o.x) * dx + (p.y - o.y) * dy >= 1
                   and (p.x - o.x) * dy == 0 and (p.y - o.y) * dx == 0 for p in same)
    if cat == "resize":
        sign = 1 if spec["direction"] == "bigger" else -1
        k = SIZE_ORDER.index(o.size)
        return any(p.x == o.x and p.y == o.y and (SIZE_ORDER.index(p.size) - k) * sign > 0 for p in same)
    raise ValueError(f"unknown category {cat!r}")


def identity_kept(case: Case, out: Scene) -> bool:
    """Everything the instruction does not name is unchanged: the world's rule, as the oracle uses it."""
    return preserved(case.category, case.spec, case.source, out)


def pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


def perturb(scene: Scene, rng: np.random.Generator) -> Scene | None:
    """One random change to a scene (move/recolour/reshape/resize/remove/add/background)."""
    objs = list(scene.objects)
    kind = pick(rng, ["move", "move", "color", "shape", "size", "remove", "add", "background"])
    if kind == "background":
        return Scene(pick(rng, [b for b in BACKGROUNDS if b != scene.background]), scene.objects)
    if kind == "add":
        if len(objs) >= MAX_OBJECTS:
            return None
        used = {(o.color, o.shape) for o in objs}
        combos = [(c, s) for c in COLORS for s in SHAPES if (c, s) not in used]
        spots = placements(objs)
        if not spots:
            return None
        (c, s), (size, x, y) = pick(rng, combos), pick(rng, spots)
        return Scene(scene.background, tuple(objs + [Obj(s, c, size, x, y)]))
    if not objs:
        return None
    i = int(rng.integers(len(objs)))
    o = objs[i]
    if kind == "remove":
        new = None
    elif kind == "move":
        dx, dy = pick(rng, list(DIRECTIONS.values()))
        step = int(rng.integers(1, 3))
        new = replace(o, x=o.x + dx * step, y=o.y + dy * step)
    elif kind == "color":
        new = replace(o, color=pick(rng, [c for c in COLORS if c != o.color]))
    elif kind == "shape":
        new = replace(o, shape=pick(rng, [s for s in SHAPES if s != o.shape]))
    else:
        new = replace(o, size=pick(rng, [s for s in SIZE_ORDER if s != o.size]))
    objs = objs[:i] + ([] if new is None else [new]) + objs[i + 1:]
    out = Scene(scene.background, tuple(objs))
    return out if is_valid(out) else None


def candidate(case: Case, rng: np.random.Generator) -> tuple[Scene, str]:
    """A plausible editor output for the case, with a tag saying how it was made."""
    r = rng.random()
    if r < 0.25:
        return case.target, "target"
    if r < 0.4:
        return case.source, "unchanged"
    if r < 0.6:  # the same kind of edit, drawn again: often another object or another value
        e = sample_edit(case.source, case.category, rng)
        if e is not None:
            return e.target, "alt_edit"
    if r < 0.7:  # a different edit altogether
        e = sample_edit(case.source, pick(rng, CATEGORIES), rng)
        if e is not None:
            return e.target, "other_edit"
    base, tag = (case.target, "extra_change") if rng.random() < 0.75 else (case.source, "unchanged_changed")
    out = perturb(base, rng)
    if out is not None and rng.random() < 0.2:
        out = perturb(out, rng) or out
    return (out, tag) if out is not None else (case.target, "target")
