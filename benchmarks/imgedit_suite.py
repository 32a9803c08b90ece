"""Suite ``imgedit``: ImgEdit-Bench Basic (PKU-YuanGroup) from its JSON and image folder.

``basic_edit.json`` maps key -> ``{"id": relative image path, "prompt": instruction,
"edit_type": one of 9 types}``; ``id`` is relative to the extracted benchmark images
(``imgedit.images``, the official ``origin_img_root``). Outputs are also written as
``<run>/imgedit/<method>/<key>.png``, the official ``edited_images/<key>.png`` naming.
No ground truth: a judge protocol scores the edits (benchmarks/judging.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Optional, Sequence

import pandas as pd
import torch

from benchmarks import judging
from benchmarks.gedit_suite import MAX_SKIP_EXAMPLES, SAFE_KEY
from benchmarks.images import ImageDecodeError, read_rgb, resize_square, to_tensor
from harness.atomic_io import atomic_write_bytes
from harness.rundir import png_bytes
from harness.suite import BenchmarkError, Suite
from harness.world.dataset import EditSample

JSON_NAME = "basic_edit.json"
FIELDS = ("id", "prompt", "edit_type")
# The leaderboard calls "compose" Hybrid.
CATEGORIES = ("add", "adjust", "extract", "replace", "remove", "background", "style", "compose", "action")


@dataclass
class ImgEditConfig:
    """``imgedit.*``."""

    path: Optional[str] = None  # the folder holding basic_edit.json (Benchmark/Basic), or the JSON file
    images: Optional[str] = None  # root of the JSON's "id" paths (origin_img_root); default: the JSON's folder
    categories: list[str] = field(default_factory=lambda: list(CATEGORIES))
    max_per_category: Optional[int] = field(default=None, metadata={"ge": 1})  # quick runs: first N per type
    resolution: Optional[int] = field(default=None, metadata={"ge": 8})  # default: generator.resolution, else world.resolution
    judge: judging.JudgeChoice = field(default_factory=judging.JudgeChoice)

    def validate(self) -> None:
        if not self.path:
            raise ValueError(f"imgedit.path is not set: give imgedit.path=DIR, the ImgEdit Benchmark/Basic folder "
                             f"holding {JSON_NAME} (with imgedit.images=DIR for the extracted benchmark images)")
        if not Path(self.path).expanduser().exists():
            raise ValueError(f"imgedit.path={self.path} does not exist")
        if self.images and not Path(self.images).expanduser().is_dir():
            raise ValueError(f"imgedit.images={self.images} is not a folder")
        bad = [c for c in self.categories if c not in CATEGORIES]
        if bad or not self.categories:
            raise ValueError(f"imgedit.categories={self.categories}: allowed edit types are {', '.join(CATEGORIES)}")

    def json_file(self) -> Path:
        p = Path(self.path).expanduser()
        return p / JSON_NAME if p.is_dir() else p

    def image_root(self) -> Path:
        return Path(self.images).expanduser() if self.images else self.json_file().parent


def read_entries(path: Path) -> dict:
    """The JSON mapping, or a BenchmarkError naming the file and what is wrong with it."""
    if not path.is_file():
        raise BenchmarkError(f"imgedit.path: {path} not found; the folder must hold {JSON_NAME} "
                             f"(key -> {{id, prompt, edit_type}})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise BenchmarkError(f"imgedit.path: {path} is not UTF-8 text ({e.reason})") from None
    except json.JSONDecodeError as e:
        raise BenchmarkError(f"imgedit.path: {path} is not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(data, dict) or not data:
        raise BenchmarkError(f"imgedit.path: {path} must hold a non-empty JSON object key -> "
                             f"{{id, prompt, edit_type}}, got {type(data).__name__}")
    return data


def entry_problem(key: str, entry: Any) -> tuple[str, str] | None:
    """(field, reason) of the first unusable field of one entry, or None."""
    if not SAFE_KEY.match(str(key)):
        return "key", "must be a file-name-safe string"
    if not isinstance(entry, dict):
        return "entry", f"expected an object with {', '.join(FIELDS)}, got {type(entry).__name__}"
    for f in FIELDS:
        if not isinstance(entry.get(f), str) or not entry[f].strip():
            return f, "missing or not a non-empty string"
    if entry["edit_type"] not in CATEGORIES:
        return "edit_type", f"{entry['edit_type']!r} is not an ImgEdit Basic edit type"
    if Path(entry["id"]).is_absolute() or ".." in Path(entry["id"]).parts:
        return "id", "must be a path relative to the image folder"
    return None


class ImgEditSuite(Suite):
    name = "imgedit"
    Config = ImgEditConfig

    @property
    def resolution(self) -> int:
        from harness.run_sections import image_resolution  # generator.resolution, else world.resolution

        return self.cfg.resolution or image_resolution(self.ctx.cfg.run)

    @cached_property
    def _loaded(self) -> tuple[list[EditSample], list[dict]]:
        path, root = self.cfg.json_file(), self.cfg.image_root()
        samples, skipped, per_cat = [], [], {}
        for key, entry in read_entries(path).items():
            problem = entry_problem(key, entry)
            if problem:
                skipped.append({"key": str(key), "field": problem[0], "reason": problem[1]})
                continue
            cat = entry["edit_type"]
            if cat not in self.cfg.categories:
                continue
            if self.cfg.max_per_category is not None and per_cat.get(cat, 0) >= self.cfg.max_per_category:
                continue
            try:
                image = read_rgb(root / entry["id"])
            except ImageDecodeError as e:
                skipped.append({"key": str(key), "field": "id", "reason": str(e)})
                continue
            per_cat[cat] = per_cat.get(cat, 0) + 1
            samples.append(EditSample(
                id=str(key), source=resize_square(to_tensor(image), self.resolution), instruction=entry["prompt"],
                category=cat, meta={"key": str(key), "image": entry["id"], "source_size": list(image.size)}))
        if not samples:
            first = f"; first skipped: {skipped[0]}" if skipped else ""
            raise BenchmarkError(f"imgedit.path: {path}: no usable samples (images under {root}; "
                                 f"{len(skipped)} skipped{first})")
        return samples, skipped

    def samples(self) -> list[EditSample]:
        return self._loaded[0]

    def load_report(self) -> dict:
        samples, skipped = self._loaded
        return {"source": str(self.cfg.json_file()), "images": str(self.cfg.image_root()), "loaded": len(samples),
                "skipped": len(skipped), "skipped_examples": skipped[:MAX_SKIP_EXAMPLES]}

    def write_official(self, method: str, samples: Sequence[EditSample], outputs: torch.Tensor,
                       run_dir: Path) -> None:
        for s, out in zip(samples, outputs):
            atomic_write_bytes(Path(run_dir) / "imgedit" / method / f"{s.meta['key']}.png", png_bytes(out))

    def score(self, samples: Sequence[EditSample], outputs: torch.Tensor) -> pd.DataFrame:
        df = judging.judge(self, "imgedit", samples, outputs)
        df.insert(2, "key", [s.meta["key"] for s in samples])
        return df
