"""Suite ``gedit``: GEdit-Bench (StepFun) from a local copy of its Hugging Face dataset.

Rows carry ``task_type``, ``key``, ``instruction``, ``instruction_language`` (en|cn),
``input_image``, ``input_image_raw`` and ``Intersection_exist``. Methods edit ``input_image_raw``
resized (in torch) to the run's resolution, as the official example generates from the raw image;
``input_image`` is the source the official scorer judges against (written as ``<key>_SRCIMG.png``).
There is no ground truth: a judge protocol scores the edits (benchmarks/judging.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Optional, Sequence

import pandas as pd
import torch

from benchmarks import judging
from benchmarks.hf_local import image_bytes, open_local_dataset, undecoded
from benchmarks.images import ImageDecodeError, decode_rgb, png_from_pil, resize_square, to_tensor
from harness.atomic_io import atomic_write_bytes
from harness.rundir import png_bytes
from harness.suite import BenchmarkError, Suite
from harness.world.dataset import EditSample

FIELDS = ("task_type", "key", "instruction", "instruction_language", "input_image", "input_image_raw",
          "Intersection_exist")
IMAGE_FIELDS = ("input_image", "input_image_raw")
CATEGORIES = ("background_change", "color_alter", "material_alter", "motion_change", "ps_human", "style_change",
              "subject-add", "subject-remove", "subject-replace", "text_change", "tone_transfer")
LANGUAGES = ("en", "cn")  # GEdit's own spelling: cn, not zh
SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")  # keys become file names in the official layout
MAX_SKIP_EXAMPLES = 10


@dataclass
class GEditConfig:
    """``gedit.*``: where the local copy is and which rows to run."""

    path: Optional[str] = None  # a local copy of stepfun-ai/GEdit-Bench (see benchmarks/hf_local.py)
    language: str = field(default="en", metadata={"choices": ["en", "cn", "all"]})
    subset: str = field(default="full", metadata={"choices": ["full", "intersection"]})
    split: str = "train"  # the dataset's only split
    categories: list[str] = field(default_factory=lambda: list(CATEGORIES))
    max_per_category: Optional[int] = field(default=None, metadata={"ge": 1})  # quick runs: first N per category
    resolution: Optional[int] = field(default=None, metadata={"ge": 8})  # default: generator.resolution, else world.resolution
    allow_download: bool = False  # true: a path that is not a folder is fetched as a hub id
    judge: judging.JudgeChoice = field(default_factory=judging.JudgeChoice)

    def validate(self) -> None:
        if not self.path:
            raise ValueError("gedit.path is not set: give gedit.path=DIR, a local copy of the Hugging Face dataset "
                             "stepfun-ai/GEdit-Bench (a save_to_disk folder or a folder of parquet files)")
        if not self.allow_download and not Path(self.path).expanduser().exists():
            raise ValueError(f"gedit.path={self.path} does not exist (downloading is off; "
                             "gedit.allow_download=true fetches a hub id)")
        bad = [c for c in self.categories if c not in CATEGORIES]
        if bad or not self.categories:
            raise ValueError(f"gedit.categories={self.categories}: allowed categories are {', '.join(CATEGORIES)}")


def _skip(skipped: list, row: int, key: Any, fld: str, reason: str) -> None:
    skipped.append({"row": row, "key": None if key is None else str(key), "field": fld, "reason": reason})


def select_rows(meta: list[dict], cfg: GEditConfig) -> tuple[list[dict], list[dict]]:
    """Rows (non-image fields + ``row`` index) that pass the language/subset/category filters, and
    the rows skipped because a field is unusable (each names the field and why)."""
    langs = LANGUAGES if cfg.language == "all" else (cfg.language,)
    keep, skipped, seen, per_cat = [], [], set(), {}
    for i, r in enumerate(meta):
        key = r.get("key")
        if not isinstance(key, str) or not SAFE_KEY.match(key):
            _skip(skipped, i, key, "key", "must be a non-empty file-name-safe string")
            continue
        if r.get("instruction_language") not in LANGUAGES:
            _skip(skipped, i, key, "instruction_language", f"{r.get('instruction_language')!r} is not one of {LANGUAGES}")
            continue
        if r.get("task_type") not in CATEGORIES:
            _skip(skipped, i, key, "task_type", f"{r.get('task_type')!r} is not a GEdit category")
            continue
        if not isinstance(r.get("instruction"), str) or not r["instruction"].strip():
            _skip(skipped, i, key, "instruction", "empty or not a string")
            continue
        inter = r.get("Intersection_exist")
        if not isinstance(inter, (bool, int)) or inter not in (0, 1):
            _skip(skipped, i, key, "Intersection_exist", f"{inter!r} is not a bool")
            continue
        lang = r["instruction_language"]
        if (key, lang) in seen:
            _skip(skipped, i, key, "key", f"duplicate of an earlier {lang} row")
            continue
        seen.add((key, lang))
        if lang not in langs or r["task_type"] not in cfg.categories:
            continue
        if cfg.subset == "intersection" and not inter:
            continue
        n = per_cat.get((r["task_type"], lang), 0)
        if cfg.max_per_category is not None and n >= cfg.max_per_category:
            continue
        per_cat[(r["task_type"], lang)] = n + 1
        keep.append({**{f: r[f] for f in FIELDS if f not in IMAGE_FIELDS}, "row": i,
                     "Intersection_exist": bool(inter)})
    return keep, skipped


class GEditSuite(Suite):
    name = "gedit"
    Config = GEditConfig

    @property
    def resolution(self) -> int:
        from harness.run_sections import image_resolution  # generator.resolution, else world.resolution

        return self.cfg.resolution or image_resolution(self.ctx.cfg.run)

    @cached_property
    def dataset(self) -> Any:
        from harness.cache import harness_home

        ds = open_local_dataset(self.cfg.path, self.cfg.split, "gedit.path", self.cfg.allow_download,
                                harness_home() / "datasets")
        missing = [f for f in FIELDS if f not in ds.column_names]
        if missing:
            raise BenchmarkError(f"gedit.path={self.cfg.path}: the dataset has no field(s) {', '.join(missing)} "
                                 f"(it has: {', '.join(ds.column_names)}); GEdit-Bench rows need: {', '.join(FIELDS)}")
        return undecoded(ds, IMAGE_FIELDS)

    @cached_property
    def _loaded(self) -> tuple[list[EditSample], list[dict]]:
        ds = self.dataset
        meta = ds.select_columns([f for f in FIELDS if f not in IMAGE_FIELDS]).to_list()
        rows, skipped = select_rows(meta, self.cfg)
        samples = []
        images = ds.select_columns(list(IMAGE_FIELDS)).select([r["row"] for r in rows]) if rows else []
        for r, imgs in zip(rows, images):
            try:
                raw = decode_rgb(image_bytes(imgs["input_image_raw"], "input_image_raw"), "input_image_raw")
                src = decode_rgb(image_bytes(imgs["input_image"], "input_image"), "input_image")
            except ImageDecodeError as e:
                field_name = str(e).split(":", 1)[0]
                _skip(skipped, r["row"], r["key"], field_name, str(e).split(":", 1)[1].strip())
                continue
            lang = r["instruction_language"]
            samples.append(EditSample(
                id=f"{r['key']}_{lang}", source=resize_square(to_tensor(raw), self.resolution),
                instruction=r["instruction"], category=r["task_type"],
                meta={"key": r["key"], "language": lang, "intersection": r["Intersection_exist"], "row": r["row"],
                      "source_size": list(src.size)}))
        if not samples:
            first = f"; first skipped row: {skipped[0]}" if skipped else ""
            raise BenchmarkError(f"gedit.path={self.cfg.path}: no usable samples for language={self.cfg.language}, "
                                 f"subset={self.cfg.subset} ({len(meta)} rows, {len(skipped)} skipped{first})")
        return samples, skipped

    def samples(self) -> list[EditSample]:
        return self._loaded[0]

    def load_report(self) -> dict:
        samples, skipped = self._loaded
        return {"source": str(self.cfg.path), "language": self.cfg.language, "subset": self.cfg.subset,
                "loaded": len(samples), "skipped": len(skipped), "skipped_examples": skipped[:MAX_SKIP_EXAMPLES]}

    def official_dir(self, run_dir: Path, method: str, sample: EditSample) -> Path:
        """``<run>/gedit/<method>/fullset/<task_type>/<lang>/``: where GEdit's scripts look."""
        return Path(run_dir) / "gedit" / method / "fullset" / sample.category / sample.meta["language"]

    def write_official(self, method: str, samples: Sequence[EditSample], outputs: torch.Tensor,
                       run_dir: Path) -> None:
        for s, out in zip(samples, outputs):
            folder = self.official_dir(run_dir, method, s)
            atomic_write_bytes(folder / f"{s.meta['key']}.png", png_bytes(out))
            src = folder / f"{s.meta['key']}_SRCIMG.png"
            if not src.exists():  # the judged source, at its own size (the scorer resizes the edit to it)
                value = self.dataset[s.meta["row"]]["input_image"]
                atomic_write_bytes(src, png_from_pil(decode_rgb(image_bytes(value, "input_image"), "input_image")))

    def score(self, samples: Sequence[EditSample], outputs: torch.Tensor) -> pd.DataFrame:
        df = judging.judge(self, "viescore", samples, outputs)
        df.insert(2, "language", [s.meta["language"] for s in samples])
        df.insert(3, "intersection", [bool(s.meta["intersection"]) for s in samples])
        df.insert(4, "key", [s.meta["key"] for s in samples])
        return df
