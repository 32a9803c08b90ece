"""Embedded synthetic "shapes" image-editing world with an exact analytic oracle."""
from .dataset import (
    EditSample,
    PairedDataset,
    UnpairedDataset,
    WorldConfig,
    build_split,
    collate_samples,
    world_hash,
)
from .edits import CATEGORIES, Edit, sample_edit
from .palette import BACKGROUNDS, COLORS, SHAPES, SIZES
# render()/render_batch() are not re-exported: a function named `render` here would
# shadow the `harness.world.render` submodule for `import harness.world.render as r`.
from .scene import Obj, Scene, name, random_scene
from .text import caption, vocabulary

__all__ = [
    "BACKGROUNDS", "CATEGORIES", "COLORS", "SHAPES", "SIZES", "Edit", "EditSample", "Obj",
    "PairedDataset", "Scene", "UnpairedDataset", "WorldConfig", "build_split", "caption",
    "collate_samples", "name", "random_scene", "sample_edit",
    "vocabulary", "world_hash",
]
