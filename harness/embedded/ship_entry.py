"""Turn a trained model folder into a shipped cache entry (harness/embedded/pretrained/<kind>/<key>/).

    python -m harness.embedded.ship_entry teacher MODEL_DIR PROBE_JSON "python -m harness prepare --force" "notes"

The model must have been trained with the current default config of its kind (its train_log.json says
which); the entry gets the cache's manifest and a shipped.json with the command and the probe numbers.
"""
import json
import os
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from harness import cache
from harness.atomic_io import write_json


def _cache_key(kind: str, cfg):
    if kind != "editor":
        return cfg.cache_key()
    from harness.embedded.editor_init import editor_key
    from harness.embedded.teacher.config import TeacherConfig

    return editor_key(cfg, cache.entry_key("teacher", TeacherConfig().cache_key()))  # the default teacher's editor


def main(kind: str, model_dir: str, probe_json: str, command: str, notes: str = "") -> None:
    if kind == "teacher":
        from harness.embedded.teacher.config import TeacherConfig as Config
    elif kind == "judge":
        from harness.embedded.judge.config import JudgeConfig as Config
    elif kind == "editor":
        from harness.embedded.editor_config import EditorInitConfig as Config
    else:
        raise SystemExit(f"kind must be 'teacher', 'judge' or 'editor', got {kind!r}")
    log = Path(model_dir) / "train_log.json"
    if not log.is_file():
        raise SystemExit(f"{log} not found: MODEL_DIR must be a folder that train_teacher/train_judge wrote")
    trained = json.loads(log.read_text())["config"]
    cfg = Config()
    if json.loads(json.dumps(asdict(cfg))) != trained:
        raise SystemExit(f"{model_dir} was not trained with the default {kind} config")
    info = {"kind": kind, "command": command, "probe": json.loads(Path(probe_json).read_text()),
            "torch": torch.__version__, "notes": notes}
    with tempfile.TemporaryDirectory() as home:  # build it through the cache, so its manifest is the cache's
        def build(tmp: Path) -> None:
            for p in Path(model_dir).rglob("*"):
                if p.is_file() and p.name != cache.MANIFEST:
                    (tmp / p.relative_to(model_dir)).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(p, tmp / p.relative_to(model_dir))
            write_json(tmp / cache.SHIPPED_INFO, info)

        os.environ["HARNESS_HOME"] = home
        os.environ["HARNESS_SHIPPED_DIR"] = str(Path(home) / "none")
        entry = cache.cached_build(kind, _cache_key(kind, cfg), build)
        dest = Path(__file__).resolve().parent / "pretrained" / kind / entry.name
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(entry, dest)
    print(dest)


if __name__ == "__main__":
    if len(sys.argv) not in (5, 6):
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
