"""A run directory written by hand (scores, metrics, provenance, config): the report's input."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

SHA = "0123456789abcdef0123456789abcdef01234567"


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def score(method, role, sid, category, suite="shapes", **metrics):
    return {"method": method, "suite": suite, "role": role, "sample_id": sid, "category": category, **metrics}


def write_run(path: Path, method: str = "npedit", seed: int = 3, judged: bool = True) -> Path:
    path.mkdir(parents=True)
    held, seen = {"composition": "held_out"}, {"composition": "seen"}
    rows = [score("copy", "lower bound", "s1", "color_alter", edit_success=0.0, preservation=1.0, **held),
            score("copy", "lower bound", "s2", "subject-remove", edit_success=0.0, preservation=1.0, **seen),
            score(method, "method", "s1", "color_alter", edit_success=1.0, preservation=0.5, **held),
            score(method, "method", "s2", "subject-remove", edit_success=0.0, preservation=0.75, **seen)]
    if judged:  # a judged suite: metric None where the reply did not parse
        common = dict(protocol="viescore", protocol_version="1", template_id="own-viescore-v1", judge_id="tiny-1",
                      raw_replies="{}")
        rows += [score(method, "method", "g1", "color_alter", "judged", viescore_O=6.0, parse_ok=True, retries=0,
                       **common),
                 score(method, "method", "g2", "color_alter", "judged", viescore_O=None, parse_ok=False, retries=2,
                       **common),
                 score(method, "method", "g3", "subject-add", "judged", viescore_O=4.0, parse_ok=True, retries=1,
                       **common)]
    _jsonl(path / "scores.jsonl", rows)
    train = [{"event": "train", "method": method, "step": s, "loss_vlm": 1.0 / s, "reward": r}
             for s, r in zip([1, 2, 3, 4], [0.6, 0.8, 0.9, 1.0])]
    curve = [{"event": "curve", "method": method, "step": s, "wall_seconds": w, "nfe": 3 * s, "eval_edit_success": e}
             for s, w, e in zip([0, 2, 4], [0.0, 1.0, 2.0], [0.1, 0.25, 0.2])]
    _jsonl(path / "metrics.jsonl", train + curve)
    (path / "provenance.json").write_text(json.dumps({"git_sha": SHA, "config_hash": "cafe1234",
                                                      "world_hash": "w0", "engine": "single", "device": "cpu"}))
    (path / "config.yaml").write_text(yaml.safe_dump({"seed": seed, "methods": ["copy", method],
                                                      method: {"steps": 300, "inference_steps": 4}}))
    return path
