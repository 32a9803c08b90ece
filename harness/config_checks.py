"""Checks across config sections, made before anything starts: a typo in a path, a chain or a plugin
name fails in seconds with one line (a ``ConfigError``, exit 2) instead of a traceback hours later.

Cheap by design: folders and headers are read, weights never loaded.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

from harness import registry

VLM_TYPES = ("llava", "qwen2_vl", "qwen2_5_vl")  # model_type of the checkpoints scorer "hf" loads


def _error(msg: str):
    from harness.config import ConfigError

    return ConfigError(msg)


def safetensors_problem(path: Path) -> str | None:
    """Why ``path`` is not an intact safetensors file (truncated, not one at all), or None. Reads the header only."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return f"{path} is truncated ({size} bytes, not even a safetensors header)"
            (n,) = struct.unpack("<Q", head)
            if n > size - 8:
                return f"{path} is truncated or not a safetensors file (header of {n} bytes, file of {size})"
            header = json.loads(f.read(n))
    except (OSError, ValueError, UnicodeDecodeError) as e:
        return f"{path} is not a readable safetensors file ({type(e).__name__})"
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)]
    expected = 8 + n + max(ends, default=0)
    if size < expected:
        return f"{path} is truncated: its header describes {expected} bytes, the file has {size}"
    return None


def _check_weights_folder(folder: Path, what: str) -> None:
    for f in sorted(folder.rglob("*.safetensors")):
        problem = safetensors_problem(f)
        if problem:
            raise _error(f"{what}: {problem}; re-export or re-download that checkpoint")


def _check_output_dir(out: str | None) -> None:
    """(An output_dir that is itself a file is refused by run_sections.check_paths.)"""
    if not out:
        return
    probe = Path(out)
    while not probe.exists():  # the first existing ancestor is where the run directory gets made
        probe = probe.parent
    if not probe.is_dir():
        raise _error(f"output_dir={out}: {probe} is a file, so no directory can be made there")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise _error(f"output_dir={out}: {probe} is not writable; choose a directory you can write to")


def _check_scorers(run: Any, method_cfgs: dict[str, Any]) -> None:
    known = registry.scorers.names()
    for name, c in method_cfgs.items():
        scorer = getattr(c, "scorer", None)
        if isinstance(scorer, str) and scorer not in known:
            raise _error(f"{name}.scorer={scorer!r} is not a registered scorer; choose one of: {', '.join(known)}")
    users = [name for name, c in method_cfgs.items() if getattr(c, "scorer", None) == "hf"]
    path = run.scorer_path or getattr(getattr(run, "scorer", None), "path", None)
    if not users or not (path and Path(path).is_dir()):  # a missing folder: run_sections.check_paths says so
        return
    where = f"scorer 'hf' ({', '.join(f'{u}.scorer' for u in users)})"
    try:
        model_type = json.loads((Path(path) / "config.json").read_text()).get("model_type")
    except (OSError, ValueError, AttributeError):
        raise _error(f"scorer_path={path}: no readable config.json; {where} needs a "
                     "save_pretrained folder of a LLaVA or Qwen2-VL checkpoint") from None
    if model_type not in VLM_TYPES:
        raise _error(f"scorer_path={path}: model_type {model_type!r} is another model family; "
                     f"{where} loads one of: {', '.join(VLM_TYPES)}")
    _check_weights_folder(Path(path), f"scorer_path={path}")


def _check_chains(rows: list[str], method_cfgs: dict[str, Any]) -> None:
    """``<m>.init_from``: ``:other`` must be trained earlier in this run; ``RUN[:other]`` must hold that generator."""
    from harness.editor import parse_init_from

    for name, c in method_cfgs.items():
        spec = getattr(c, "init_from", None)
        if not spec:
            continue
        key = f"{name}.init_from={spec}"
        if spec.startswith(":"):
            earlier = rows[:rows.index(name)] if name in rows else []
            if spec[1:] not in earlier:
                raise _error(f"{key}: '{spec[1:]}' is not trained earlier in this run; put it before '{name}' "
                             f"in methods= (earlier here: {', '.join(earlier) or 'none'})")
            continue
        run_dir, method = parse_init_from(spec)
        root = run_dir / "models"
        found = sorted(p.name for p in root.iterdir() if (p / "edit_model.json").exists()  # embedded, or a
                       or (p / "harness_generator.json").exists()) if root.is_dir() else []  # real family's LoRA
        if method is None and len(found) != 1:
            raise _error(f"{key}: {root} holds {len(found)} generators ({', '.join(found) or 'none'}); "
                         "name one as RUN_DIR:method")
        method = method or found[0]
        if method not in found:
            raise _error(f"{key}: {root} has no generator '{method}'; it has: {', '.join(found) or 'none'}")
        _check_weights_folder(root / method, key)


def _check_resume(resume: str) -> None:
    if resume in ("auto", "never"):
        return
    from harness.checkpoint import MARKER, TENSORS

    path = Path(resume)
    if not path.is_dir():
        raise _error(f"resume={resume}: no such checkpoint folder; use resume=auto, resume=never or a "
                     "checkpoints/<method>/step-N folder")
    if not (path / MARKER).exists() or not (path / "trainer_state.json").is_file():
        raise _error(f"resume={resume}: not a complete checkpoint (no {MARKER} marker: its save was cut short); "
                     "give a step-N folder that has one, or resume=auto")
    _check_weights_folder(path, f"resume={resume}")
    if (path / TENSORS).exists():
        problem = safetensors_problem(path / TENSORS)
        if problem:
            raise _error(f"resume={resume}: {problem}")


def _check_suites(suites: list[str]) -> None:
    if not suites:
        raise _error("suites is empty: name at least one suite to evaluate on, e.g. suites=shapes")
    if len(set(suites)) != len(suites):
        raise _error(f"suites={','.join(suites)} names a suite twice")


def check_run(run: Any, method_cfgs: dict[str, Any], rows: list[str]) -> None:
    """Every cross-section check of a resolved run config (see the module docstring)."""
    _check_suites(list(run.suites))
    _check_output_dir(run.output_dir)
    _check_scorers(run, method_cfgs)
    _check_chains(rows, method_cfgs)
    _check_resume(run.resume)
    if run.engine == "zero3":
        ema = [f"{n}.ema_decay" for n, c in method_cfgs.items() if (getattr(c, "ema_decay", 0) or 0) > 0]
        if ema:
            raise _error(f"{', '.join(ema)} > 0 needs the full generator on every rank and engine=zero3 shards it; "
                         "use engine=zero2 (or lower), or ema_decay=0")
