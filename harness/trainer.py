"""The shared training loop: steps, metric logging, checkpoints, resume, compute accounting.

A trainable method supplies ``setup(engine)`` (build models, ``engine.prepare`` them) and
``train_step(step) -> dict[str, float]``; everything around that lives here, once.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.atomic_io import append_jsonl
from harness.checkpoint import Checkpointer


@dataclass
class TrainConfig:
    """Loop settings shared by every trainable method (a method's Config subclasses this)."""

    steps: int = field(default=100, metadata={"ge": 0})
    batch_size: int = field(default=8, metadata={"ge": 1})
    grad_accum: int = field(default=1, metadata={"ge": 1})
    max_grad_norm: float = field(default=1.0, metadata={"ge": 0.0})
    log_every: int = field(default=10, metadata={"ge": 1})
    save_every: int = field(default=0, metadata={"ge": 0})  # 0: only at the end
    keep_last: int = field(default=2, metadata={"ge": 1})


class StepSampler:
    """Batch indices as a pure function of (seed, step, rank): a resumed run draws the same
    batches as an uninterrupted one, and ranks draw disjoint shards."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1):
        if n < 1:
            raise ValueError("cannot sample batches from an empty dataset")
        self.n, self.batch_size, self.seed, self.rank, self.world = n, batch_size, seed, rank, world_size

    def indices(self, step: int) -> list[int]:
        per_epoch = max(1, self.n // (self.batch_size * self.world))
        epoch, k = divmod(step, per_epoch)
        perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        start = (k * self.world + self.rank) * self.batch_size
        return [int(perm[(start + i) % self.n]) for i in range(self.batch_size)]


def _rng_for(seed: int, step: int, rank: int) -> None:
    # Per-step seeding makes a resumed run's noise identical to an uninterrupted one's.
    torch.manual_seed(hash((seed, step, rank)) % (2**63))


class Trainer:
    def __init__(self, method: Any, engine: Any, run_dir: Path, name: str, seed: int = 0,
                 resume: str = "auto"):
        self.method, self.engine, self.name, self.seed = method, engine, name, seed
        self.run_dir = Path(run_dir)
        self.cfg: TrainConfig = method.cfg
        self.ckpt = Checkpointer(self.run_dir / "checkpoints" / name, keep_last=self.cfg.keep_last)
        self.resume = resume

    def _log(self, row: dict) -> None:
        if self.engine.is_main:
            append_jsonl(self.run_dir / "metrics.jsonl", [{"method": self.name, **row}])

    def start_step(self) -> int:
        if self.resume == "never":
            return 0
        if self.resume == "auto":
            found = self.ckpt.latest()
        else:
            path = Path(self.resume)
            found = (int(json.loads((path / "trainer_state.json").read_text())["step"]), path) if path.exists() else None
            if found is None:
                raise FileNotFoundError(f"resume={self.resume}: no such checkpoint folder")
        if found is None:
            return 0
        step, path = found
        self.engine.load(path)
        state = json.loads((path / "trainer_state.json").read_text())
        self.method.load_trainer_state(state.get("method", {}))
        self._log({"event": "resume", "step": step, "from": str(path)})
        return step

    def fit(self) -> dict:
        start = self.start_step()
        t0 = time.perf_counter()
        wall = 0.0
        for step in range(start, self.cfg.steps):
            _rng_for(self.seed, step, self.engine.rank)
            metrics = self.method.train_step(step)
            bad = [k for k, v in metrics.items() if not np.isfinite(v)]
            if bad:
                raise FloatingPointError(f"{self.name}: non-finite {', '.join(bad)} at step {step}; "
                                         "lower the learning rate or check the inputs")
            if (step + 1) % self.cfg.log_every == 0 or step + 1 == self.cfg.steps:
                reduced = {k: self.engine.mean(v) for k, v in sorted(metrics.items())}
                wall = time.perf_counter() - t0
                self._log({"event": "train", "step": step + 1, **reduced, **self.method.counters,
                           "wall_seconds": round(wall, 3)})
            last = step + 1 == self.cfg.steps
            if last or (self.cfg.save_every and (step + 1) % self.cfg.save_every == 0):
                self.ckpt.save(self.engine, step + 1, {"method": self.method.trainer_state()})
        return {"wall_seconds": round(time.perf_counter() - t0, 3), "steps": self.cfg.steps - start,
                **self.method.counters}
