"""Tiny benchmark folders in the real schemas, built in temp folders (no downloads)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

CORRUPT = b"\x89PNG\r\n\x1a\nthis is not a png"


def png(color: tuple[int, int, int], size: tuple[int, int] = (24, 16)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def gedit_rows() -> list[dict]:
    """3 images x (en, cn); k2 is outside the Intersection subset."""
    rows = []
    for i, (key, task, inter) in enumerate([("k1", "color_alter", True), ("k2", "subject-add", False),
                                            ("k3", "background_change", True)]):
        for lang, text in (("en", f"edit {key} in English"), ("cn", f"编辑 {key}")):
            rows.append({"task_type": task, "key": key, "instruction": text, "instruction_language": lang,
                         "input_image": {"bytes": png((40 * i, 90, 200), (24, 16)), "path": None},
                         "input_image_raw": {"bytes": png((40 * i, 90, 200), (48, 32)), "path": None},
                         "Intersection_exist": inter})
    return rows


def gedit_dataset(rows: list[dict]):
    import datasets

    features = datasets.Features({
        "task_type": datasets.Value("string"), "key": datasets.Value("string"),
        "instruction": datasets.Value("string"), "instruction_language": datasets.Value("string"),
        "input_image": datasets.Image(), "input_image_raw": datasets.Image(),
        "Intersection_exist": datasets.Value("bool"),
    })
    return datasets.Dataset.from_list(rows, features=features)


def gedit_folder(root: Path, rows: list[dict] | None = None, as_parquet: bool = False) -> Path:
    """A save_to_disk DatasetDict with split "train" (as the hub dataset), or a parquet snapshot."""
    import datasets

    ds = gedit_dataset(gedit_rows() if rows is None else rows)
    out = Path(root) / ("gedit_parquet" if as_parquet else "gedit")
    if as_parquet:
        (out / "data").mkdir(parents=True)
        ds.to_parquet(str(out / "data" / "train-00000-of-00001.parquet"))
    else:
        datasets.DatasetDict({"train": ds}).save_to_disk(str(out))
    return out


def imgedit_folder(root: Path, entries: dict | None = None, corrupt: tuple[str, ...] = ()) -> Path:
    """Benchmark/Basic/basic_edit.json + images under Benchmark/singleturn/ (id paths relative to it)."""
    root = Path(root)
    basic, images = root / "Basic", root / "singleturn"
    basic.mkdir(parents=True)
    if entries is None:
        entries = {
            "1": {"id": "animal/000001.jpg", "prompt": "add a hat to the cat", "edit_type": "add"},
            "2": {"id": "animal/000002.jpg", "prompt": "remove the dog", "edit_type": "remove"},
            "3": {"id": "style/000003.jpg", "prompt": "make it a watercolor", "edit_type": "style"},
            "4": {"id": "compose/000004.jpg", "prompt": "replace the car and add a tree", "edit_type": "compose"},
        }
    for i, (key, e) in enumerate(entries.items()):
        if isinstance(e, dict) and isinstance(e.get("id"), str) and ".." not in e["id"]:  # never write outside root
            p = images / e["id"]
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(CORRUPT if key in corrupt else png((30 * i, 120, 60), (20, 30)))
    (basic / "basic_edit.json").write_text(json.dumps(entries))
    return basic
