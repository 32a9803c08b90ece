"""The run directory: one place per run, every file in it written atomically.

    config.yaml  provenance.json  metrics.jsonl  scores.jsonl  summary.json  report.md
    outputs/outputs.jsonl  outputs/<method>/<suite>/<sample_id>.png
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime
from pathlib import Path

import torch
from PIL import Image

from harness.atomic_io import append_jsonl, atomic_write_bytes, read_jsonl


def default_run_dir(name: str, root: str | Path = "runs") -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{stamp}-{name}"


def png_bytes(image: torch.Tensor) -> bytes:
    """[3, H, W] float in [0, 1] -> PNG bytes (uint8, rounded)."""
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected an image of shape [3, H, W], got {tuple(image.shape)}")
    arr = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    buf = io.BytesIO()
    Image.fromarray(arr, mode="RGB").save(buf, format="PNG")
    return buf.getvalue()


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    config = property(lambda self: self.path / "config.yaml")
    provenance = property(lambda self: self.path / "provenance.json")
    metrics = property(lambda self: self.path / "metrics.jsonl")
    scores = property(lambda self: self.path / "scores.jsonl")
    summary = property(lambda self: self.path / "summary.json")
    report = property(lambda self: self.path / "report.md")
    outputs = property(lambda self: self.path / "outputs")
    outputs_index = property(lambda self: self.path / "outputs" / "outputs.jsonl")

    def log_metrics(self, row: dict) -> None:
        append_jsonl(self.metrics, [row])

    def scored_ids(self, method: str, suite: str) -> set[str]:
        """Samples already scored (a resumed run never scores them again)."""
        return {r["sample_id"] for r in read_jsonl(self.scores) if r["method"] == method and r["suite"] == suite}

    def save_outputs(self, method: str, suite: str, sample_ids: list[str], images: torch.Tensor,
                     extra: list[dict], save_images: bool = True) -> list[dict]:
        rows = []
        for sid, img, ex in zip(sample_ids, images, extra):
            data = png_bytes(img)
            rel = Path("outputs") / method / suite / f"{sid}.png"
            if save_images:
                atomic_write_bytes(self.path / rel, data)
            rows.append({"method": method, "suite": suite, "sample_id": sid,
                         "path": str(rel) if save_images else None,
                         "sha256": hashlib.sha256(data).hexdigest(), **ex})
        ids = {(method, suite, r["sample_id"]) for r in rows}
        old = read_jsonl(self.outputs_index)
        if any((r["method"], r["suite"], r["sample_id"]) in ids for r in old):  # a killed run's rows: replaced
            kept = [r for r in old if (r["method"], r["suite"], r["sample_id"]) not in ids]
            atomic_write_bytes(self.outputs_index, "".join(json.dumps(r, sort_keys=True, default=str) + "\n"
                                                           for r in kept + rows).encode("utf-8"))
        else:
            append_jsonl(self.outputs_index, rows)
        return rows
