"""A user's own training data as JSONL (``data.unpaired=FILE``, ``data.paired=FILE``), one object per line:

    {"image": "imgs/0.png", "instruction": "make the cat red", "category": "color_alter",
     "target_caption": "a red cat on a sofa", "object_name": "cat"}

``image`` (and ``target``, paired only) are paths relative to the JSONL file; ``object_name`` is optional
(the removal questions use it); ``source_caption`` is optional. Images of any size are resized in torch to
the run's resolution (``generator.resolution``). A missing file, a row that is not an object, a missing or
empty required field or an unknown category is a ``DataError`` naming file, row and field; an image that
does not decode is skipped and counted (``LoadedData.skipped``). The unpaired loader never reads a target.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from harness.world.dataset import EditSample

REQUIRED = ("image", "instruction", "category", "target_caption")
OPTIONAL = ("object_name", "source_caption")


class DataError(ValueError):
    """Unusable training data; the message names the file, the row (1-based line) and the field."""


@dataclass
class LoadedData:
    samples: list[EditSample]
    skipped: list[dict] = field(default_factory=list)  # {"row", "field", "reason"} per skipped image


def known_categories() -> list[str]:
    from harness.scorers.questions import TEMPLATES

    return sorted(TEMPLATES)


def read_image(path: Path, size: int) -> torch.Tensor:
    """[3, size, size] in [0, 1]: PIL decode, then a bicubic antialiased resize in torch."""
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        arr = np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    x = torch.from_numpy(arr).permute(2, 0, 1).float().div(255.0)
    if tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x[None], size=(size, size), mode="bicubic", antialias=True, align_corners=False)[0]
    return x.clamp(0, 1)


def _row_problem(row: Any, paired: bool, categories: list[str]) -> tuple[str, str] | None:
    if not isinstance(row, dict):
        return "row", f"expected a JSON object, got {type(row).__name__}"
    for key in REQUIRED + (("target",) if paired else ()):
        if not isinstance(row.get(key), str) or not row[key].strip():
            return key, "missing or not a non-empty string"
    for key in OPTIONAL:
        if key in row and not isinstance(row[key], str):
            return key, "must be a string"
    if row["category"] not in categories:
        return "category", f"{row['category']!r} is not a known category; allowed: {', '.join(categories)}"
    return None


def load_jsonl(path: str | Path, resolution: int, paired: bool = False) -> LoadedData:
    path = Path(path).expanduser()
    what = "data.paired" if paired else "data.unpaired"
    if not path.is_file():
        raise DataError(f"{what}={path}: file not found")
    categories = known_categories()
    samples, skipped = [], []
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{n}: not valid JSON ({e.msg})") from None
        problem = _row_problem(row, paired, categories)
        if problem:
            raise DataError(f"{path}:{n}: field '{problem[0]}': {problem[1]}")
        images = {}
        for key in ("image", "target") if paired else ("image",):
            try:
                images[key] = read_image(path.parent / row[key], resolution)
            except (OSError, ValueError, SyntaxError) as e:  # missing, truncated, not an image: skip and count
                skipped.append({"row": n, "field": key, "reason": f"{type(e).__name__}: {e}"})
                break
        if len(images) < (2 if paired else 1):
            continue
        samples.append(EditSample(
            id=f"{path.stem}-{n:06d}", source=images["image"], instruction=row["instruction"],
            category=row["category"], source_caption=row.get("source_caption", ""),
            target_caption=row["target_caption"], object_name=row.get("object_name", ""),
            target=images.get("target"), meta={"file": str(path), "row": n}))
    if not samples:
        raise DataError(f"{what}={path}: no usable rows ({len(skipped)} skipped"
                        + (f"; first: row {skipped[0]['row']}: {skipped[0]['reason']})" if skipped else ")"))
    return LoadedData(samples, skipped)


def training_data(ctx: Any, paired: bool) -> Any:
    """What a method's StepBatches draws from: the user's JSONL (``data.paired`` / ``data.unpaired``), loaded
    once per run and logged as a ``data_load`` event with what was skipped, else the shapes world."""
    from harness.run_sections import image_resolution

    run = ctx.cfg.run
    data = getattr(run, "data", None)
    file = getattr(data, "paired" if paired else "unpaired", None)
    if not file:
        return run.world
    cache = ctx.extras.setdefault("jsonl_data", {})
    if file not in cache:
        loaded = load_jsonl(file, image_resolution(run), paired=paired)
        cache[file] = loaded.samples
        if os.environ.get("RANK", "0") == "0":
            from harness.atomic_io import append_jsonl

            append_jsonl(Path(ctx.run_dir) / "metrics.jsonl", [{
                "event": "data_load", "file": str(file), "paired": paired, "loaded": len(loaded.samples),
                "skipped": len(loaded.skipped), "skipped_examples": loaded.skipped[:5]}])
    return cache[file]
