"""Deterministic splits of edit samples and torch datasets over them."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import numbers
from dataclasses import dataclass, field

import numpy as np
import torch

from .edits import CATEGORIES, RESULT_CATEGORIES, sample_edit
from .palette import COLORS, SHAPES
from .render import render_batch
from .scene import Scene, random_scene
from .text import caption

WORLD_VERSION = "shapes-world-1"
SPLITS = ("unpaired", "paired", "eval")
_SPLIT_KEYS = {"unpaired": 1, "paired": 2, "eval": 3}
_MAX_TRIES = 10_000


def parse_combo(s: str) -> tuple[str, str]:
    """"red triangle" -> ("red", "triangle")."""
    parts = s.split()
    if len(parts) != 2 or parts[0] not in COLORS or parts[1] not in SHAPES:
        raise ValueError(
            f"WorldConfig.heldout entries must be 'colour shape' with colour in {sorted(COLORS)} "
            f"and shape in {list(SHAPES)}, got {s!r}"
        )
    return parts[0], parts[1]


@dataclass
class WorldConfig:
    resolution: int = 32
    n_unpaired: int = 2000
    n_paired: int = 2000
    n_eval: int = 140
    seed: int = 0
    categories: list[str] = field(default_factory=lambda: list(CATEGORIES))
    heldout: list[str] = field(default_factory=lambda: ["red triangle", "blue square"])

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        for f in ("resolution", "n_unpaired", "n_paired", "n_eval", "seed"):
            v = getattr(self, f)
            # Accept numpy integers but store plain ints so the config stays JSON-able.
            if isinstance(v, numbers.Integral) and not isinstance(v, bool):
                setattr(self, f, int(v))
        r = self.resolution
        if not isinstance(r, int) or isinstance(r, bool) or r < 16 or r % 8:
            raise ValueError(f"WorldConfig.resolution must be an int >= 16 and a multiple of 8, got {r!r}")
        for f in ("n_unpaired", "n_paired", "n_eval", "seed"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"WorldConfig.{f} must be a non-negative int, got {v!r}")
        if self.n_eval < 1:
            raise ValueError(f"WorldConfig.n_eval must be >= 1 (the eval split is what suite shapes scores), "
                             f"got {self.n_eval}")
        if not self.categories:
            raise ValueError(f"WorldConfig.categories must be a non-empty subset of {list(CATEGORIES)}")
        for c in self.categories:
            if c not in CATEGORIES:
                raise ValueError(f"WorldConfig.categories: unknown category {c!r}; allowed: {list(CATEGORIES)}")
        for h in self.heldout:
            parse_combo(h)

    def heldout_pairs(self) -> frozenset[tuple[str, str]]:
        return frozenset(parse_combo(h) for h in self.heldout)


def world_hash(cfg: WorldConfig) -> str:
    blob = json.dumps({"version": WORLD_VERSION, "config": dataclasses.asdict(cfg)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class EditSample:
    """One edit to make. The world fills every field; an external benchmark (gedit, imgedit) has
    no captions, scenes or targets: those default to empty, and its own fields go in ``meta``."""

    id: str
    source: torch.Tensor
    instruction: str
    category: str
    source_caption: str = ""
    target_caption: str = ""
    object_name: str = ""
    source_scene: Scene | None = None
    spec: dict = field(default_factory=dict)
    target: torch.Tensor | None = None
    target_scene: Scene | None = None
    meta: dict = field(default_factory=dict)  # benchmark fields: key, language, source size, ...

    def without_target(self) -> "EditSample":
        return dataclasses.replace(self, target=None, target_scene=None)


def result_combo(category: str, spec: dict, source: Scene) -> tuple[str, str] | None:
    """(colour, shape) of the object an edit produces, for RESULT_CATEGORIES."""
    if category == "color_alter":
        return spec["color"], source.objects[spec["index"]].shape
    if category == "subject-add":
        return spec["obj"]["color"], spec["obj"]["shape"]
    if category == "subject-replace":
        return source.objects[spec["index"]].color, spec["shape"]
    return None


def build_split(cfg: WorldConfig, split: str) -> list[EditSample]:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    cfg.validate()
    n = {"unpaired": cfg.n_unpaired, "paired": cfg.n_paired, "eval": cfg.n_eval}[split]
    # Independent stream per split so splits never share samples by construction.
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, _SPLIT_KEYS[split]]))
    heldout = sorted(cfg.heldout_pairs())
    forbidden = frozenset() if split == "eval" else frozenset(heldout)
    per_cat: dict[str, int] = {}
    drawn = []
    for i in range(n):
        cat = cfg.categories[i % len(cfg.categories)]  # round robin keeps categories balanced
        k = per_cat.get(cat, 0)
        per_cat[cat] = k + 1
        required = None
        if split == "eval" and cat in RESULT_CATEGORIES and heldout and k % 2 == 0:
            required = heldout[(k // 2) % len(heldout)]  # force held-out results into eval
        for _ in range(_MAX_TRIES):
            scene = random_scene(rng)
            edit = sample_edit(scene, cat, rng, forbidden, required_result=required)
            if edit is not None:
                break
        else:
            raise RuntimeError(f"could not sample a {cat} edit for {split} sample {i}")
        drawn.append((scene, edit))
    sources = render_batch([s for s, _ in drawn], cfg.resolution)
    targets = None
    if split != "unpaired":  # the unpaired split never even renders targets
        targets = render_batch([e.target for _, e in drawn], cfg.resolution)
    out = []
    for i, (scene, edit) in enumerate(drawn):
        sample = EditSample(
            id=f"{split}-{i:06d}",
            source=sources[i],
            instruction=edit.instruction,
            category=edit.category,
            source_caption=caption(scene),
            target_caption=caption(edit.target),
            object_name=edit.object_name,
            source_scene=scene,
            spec=edit.spec,
            target=None if targets is None else targets[i],
            target_scene=edit.target,
        )
        out.append(sample.without_target() if split == "unpaired" else sample)
    return out


_KEYS = ("source", "instruction", "category", "source_caption", "target_caption", "object_name")


def _samples(arg, split: str) -> list[EditSample]:
    return build_split(arg, split) if isinstance(arg, WorldConfig) else list(arg)


class UnpairedDataset(torch.utils.data.Dataset):
    """Unpaired split: items never carry a target."""

    def __init__(self, cfg_or_samples):
        self.samples = [s.without_target() for s in _samples(cfg_or_samples, "unpaired")]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        s = self.samples[i]
        return {k: getattr(s, k) for k in _KEYS}


class PairedDataset(torch.utils.data.Dataset):
    def __init__(self, cfg_or_samples):
        self.samples = _samples(cfg_or_samples, "paired")
        for s in self.samples:
            if s.target is None:
                raise ValueError(f"PairedDataset needs targets; sample {s.id} has none")

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        s = self.samples[i]
        item = {k: getattr(s, k) for k in _KEYS}
        item["target"] = s.target
        return item


def collate_samples(items: list[dict]) -> dict:
    """Stack tensors, keep everything else as lists."""
    out = {}
    for k in items[0]:
        vals = [it[k] for it in items]
        out[k] = torch.stack(vals) if isinstance(vals[0], torch.Tensor) else vals
    return out
