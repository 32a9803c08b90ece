"""Scene sampling: the vectorised placements must equal the per-cell definition (in_bounds + separated)."""
import numpy as np

from harness.world.palette import SIZES
from harness.world.scene import GRID, Obj, fits, placements, random_scene


def _placements_by_definition(others, sizes=None):
    return [(size, x, y) for size in sizes or SIZES for y in range(GRID) for x in range(GRID)
            if fits(Obj("circle", "red", size, x, y), others)]


def test_placements_equal_the_per_cell_definition_in_order():
    rng = np.random.default_rng(0)
    checked_crowded = False
    for _ in range(300):
        others = random_scene(rng, 0, 3).objects
        for sizes in (None, ["small"], ["large", "medium"]):
            got = placements(others, sizes)
            assert got == _placements_by_definition(others, sizes)
            assert all(type(v) is int for _, x, y in got for v in (x, y))  # plain ints, as Obj fields
        checked_crowded |= len(others) == 3 and len(placements(others)) < len(placements([]))
    assert checked_crowded  # the objects really removed spots


def test_placements_exclude_the_border_and_overlaps():
    empty = placements([], ["large"])
    # a large object (half-extent 5/32) needs its box inside the 1/32 margin: not in the outer cell ring
    assert all(0 < x < GRID - 1 and 0 < y < GRID - 1 for _, x, y in empty)
    blocker = Obj("square", "blue", "large", 3, 3)
    assert ("large", 3, 3) in empty and ("large", 3, 3) not in placements([blocker], ["large"])
