"""The shared training loop: steps, metric logging, checkpoints, resume, compute accounting.

A trainable method supplies ``setup(engine)`` (build models, ``engine.prepare`` them) and
``train_step(step) -> dict[str, float]``; everything around that lives here, once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

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
    # learning curve: every N steps edit a few eval samples and score them (0: off); the time it
    # takes is not counted in wall_seconds, so curves compare methods at equal training compute
    eval_every: int = field(default=0, metadata={"ge": 0})
    # steps with a non-finite loss or gradient to skip (their update refused, counted as skipped_nonfinite)
    # before the method stops; 0: the first one stops it, naming the step and the loss term
    skip_nonfinite: int = field(default=0, metadata={"ge": 0})


class NonFiniteError(FloatingPointError):
    """A non-finite loss or gradient stopped a method; one line naming the step and the term (exit 2)."""


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


def headline(metrics: dict[str, float]) -> dict[str, float]:
    """The few numbers a progress bar shows of a step's metrics: the method's main loss
    (``loss_total``, else ``loss``, else its first ``loss_*`` key) and ``reward`` if it has one."""
    losses = [k for k in metrics if k.startswith("loss")]
    main = next((k for k in ("loss_total", "loss") if k in metrics), losses[0] if losses else None)
    return {k: metrics[k] for k in (main, "reward") if k is not None and k in metrics}


def _gather_lists(items: list[str]) -> list[list[str]]:
    from accelerate.utils import gather_object

    return gather_object([items])


class Trainer:
    def __init__(self, method: Any, engine: Any, run_dir: Path, name: str, seed: int = 0,
                 resume: str = "auto", curve: Callable[[], dict] | None = None, progress: bool = True,
                 project: str = "harness"):
        self.method, self.engine, self.name, self.seed = method, engine, name, seed
        self.curve = curve
        self.project = project  # the tracker's project (wandb); each method is one run in it
        self.progress = progress  # a console progress bar on the main process (stderr; never in metrics.jsonl)
        self.wall_offset = 0.0  # training seconds of the run before a resume
        self.run_dir = Path(run_dir)
        self.cfg: TrainConfig = method.cfg
        self.ckpt = Checkpointer(self.run_dir / "checkpoints" / name, keep_last=self.cfg.keep_last)
        self.resume = resume

    def _log(self, row: dict) -> None:
        if self.engine.is_main:
            append_jsonl(self.run_dir / "metrics.jsonl", [{"method": self.name, **row}])
        if row.get("event") in ("train", "curve"):  # the same scalars to tracker=tensorboard|wandb
            self.engine.log_scalars({k: v for k, v in row.items() if k not in ("event", "step")}, step=row["step"])

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
        self.method.load_state_dict(self.ckpt.load_tensors(path))
        self.wall_offset = float(state.get("wall_seconds", 0.0))
        self._log({"event": "resume", "step": step, "from": str(path)})
        return step

    def _curve_point(self, step: int, wall: float) -> None:
        if self.curve is None:
            return
        scores = self.curve()
        self._log({"event": "curve", "step": step, "wall_seconds": round(wall, 3), **self.method.counters,
                   **scores})

    def fit(self) -> dict:
        self.engine.start_tracking(self.name, project=self.project)
        try:
            return self._fit()
        finally:
            self.engine.end_tracking()

    def _bar(self, start: int) -> tqdm:
        # a resumed run's bar starts at the resumed step; its ETA counts only the steps this process runs
        return tqdm(total=self.cfg.steps, initial=start, desc=f"train {self.name}", unit="step",
                    disable=not (self.progress and self.engine.is_main), mininterval=1.0, dynamic_ncols=True)

    def _fit(self) -> dict:
        start = self.start_step()
        wall = self.wall_offset  # training time only: logging, curves and checkpoints excluded
        if self.cfg.eval_every and start == 0:
            self._curve_point(0, wall)
        with self._bar(start) as bar:
            for step in range(start, self.cfg.steps):
                wall = self._step(step, wall, bar)
        return {"wall_seconds": round(wall, 3), "steps": self.cfg.steps, **self.method.counters}

    def _guard_nonfinite(self, step: int, metrics: dict[str, float]) -> dict[str, float]:
        """Stop on a non-finite loss term or gradient (the engine refused its update), or skip and count it
        while ``skip_nonfinite`` allows; returns the finite metrics."""
        refused = getattr(self.engine, "take_nonfinite", dict)()
        bad = [k for k, v in metrics.items() if not np.isfinite(v)] + [f"{m} {what}" for m, what in refused.items()]
        if getattr(self.engine, "world_size", 1) > 1:  # every rank stops (or skips) together
            bad = sorted({b for rank_bad in _gather_lists(bad) for b in rank_bad})
        if not bad:
            return metrics
        skipped = self.method.counters.get("skipped_nonfinite", 0)
        if skipped < self.cfg.skip_nonfinite:
            self.method.count("skipped_nonfinite")
            self._log({"event": "skip_nonfinite", "step": step + 1, "terms": bad})
            return {k: v for k, v in metrics.items() if np.isfinite(v)}
        last = self.ckpt.latest()
        kept = f"the last good checkpoint is {last[1]}" if last else "no checkpoint was written before it"
        self._log({"event": "stopped", "step": step + 1, "terms": bad, "reason": "non-finite"})
        raise NonFiniteError(
            f"{self.name}: non-finite {', '.join(bad)} at step {step + 1} (skipped so far: {skipped}, "
            f"{self.name}.skip_nonfinite={self.cfg.skip_nonfinite}); {kept}. Lower {self.name}.lr, or set "
            f"{self.name}.skip_nonfinite=N to skip up to N such steps")

    def _step(self, step: int, wall: float, bar: tqdm) -> float:
        """One step with its logging, curve point and checkpoint; returns the training seconds so far."""
        t0 = time.perf_counter()
        _rng_for(self.seed, step, self.engine.rank)
        metrics = self.method.train_step(step)
        wall += time.perf_counter() - t0
        metrics = self._guard_nonfinite(step, metrics)
        bar.set_postfix(headline(metrics), refresh=False)
        bar.update(1)
        last, every = step + 1 == self.cfg.steps, self.cfg.eval_every
        if (step + 1) % self.cfg.log_every == 0 or last:
            reduced = self.engine.mean_dict(metrics)
            self._log({"event": "train", "step": step + 1, **reduced, **self.method.counters,
                       "wall_seconds": round(wall, 3)})
        if every and ((step + 1) % every == 0 or last):
            self._curve_point(step + 1, wall)
        if last or (self.cfg.save_every and (step + 1) % self.cfg.save_every == 0):
            self.ckpt.save(self.engine, step + 1, {"method": self.method.trainer_state(),
                                                   "wall_seconds": wall}, tensors=self.method.state_dict())
        return wall
