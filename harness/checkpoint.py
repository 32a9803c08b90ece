"""Checkpoints: ``<run>/checkpoints/<method>/step-<N>/``, complete only when ``COMPLETE`` exists.

A checkpoint is written into ``.step-<N>.tmp`` by every rank (DeepSpeed saves are collective),
then rank 0 writes the trainer state, the marker, and renames the folder into place. A folder
without the marker (a run killed mid-save) is never loaded and is cleaned up. ``keep_last``
bounds the number kept.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from harness.atomic_io import atomic_write_text, write_json

MARKER = "COMPLETE"
TENSORS = "method_state.safetensors"  # a method's own tensors (e.g. a generator EMA), beside the engine's state
_NAME = re.compile(r"^step-(\d{8})$")


class Checkpointer:
    def __init__(self, root: str | Path, keep_last: int = 2):
        if keep_last < 1:
            raise ValueError(f"keep_last must be >= 1, got {keep_last}")
        self.root = Path(root)
        self.keep_last = keep_last

    def complete(self) -> list[tuple[int, Path]]:
        out = []
        if self.root.exists():
            for p in self.root.iterdir():
                m = _NAME.match(p.name)
                if m and (p / MARKER).exists():
                    out.append((int(m.group(1)), p))
        return sorted(out)

    def latest(self) -> tuple[int, Path] | None:
        done = self.complete()
        return done[-1] if done else None

    def save(self, engine: Any, step: int, state: dict, tensors: dict | None = None) -> Path:
        """Collective: every rank calls it. ``state`` is JSON-able trainer state and ``tensors`` the
        method's own tensors (rank 0 writes both; tensors as safetensors, never pickle)."""
        final = self.root / f"step-{step:08d}"
        tmp = self.root / f".step-{step:08d}.tmp"
        if engine.is_main:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        engine.wait()
        engine.save(tmp)
        engine.wait()
        if engine.is_main:
            write_json(tmp / "trainer_state.json", {"step": step, **state})
            if tensors:
                from safetensors.torch import save_file

                save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp / TENSORS))
            atomic_write_text(tmp / MARKER, f"{step}\n")
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
            self._prune()
        engine.wait()
        return final

    @staticmethod
    def load_tensors(path: Path) -> dict:
        """The method tensors of checkpoint ``path`` ({} when it saved none)."""
        f = Path(path) / TENSORS
        if not f.exists():
            return {}
        from safetensors.torch import load_file

        return load_file(str(f))

    def _prune(self) -> None:
        for _, path in self.complete()[:-self.keep_last]:
            shutil.rmtree(path, ignore_errors=True)
        for p in self.root.glob(".step-*.tmp"):  # leftovers of killed saves
            shutil.rmtree(p, ignore_errors=True)
