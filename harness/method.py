"""The Method contract every training method (and calibration bound) implements.

A method package is thin: a ``Config`` dataclass, its losses and its step. Data, samplers,
scorer, engine, logging and checkpointing come from ``harness`` through the ``RunContext``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from harness.world.dataset import EditSample


@dataclass
class RunContext:
    """What a method or suite may use: config, device, where to write, where the cache lives."""

    cfg: Any  # harness.config.ResolvedConfig
    run_dir: Path
    home: Path  # $HARNESS_HOME: prepared models and data, keyed by config hash
    device: torch.device
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def world(self):
        return self.cfg.run.world


class Method:
    """Base class. ``edit`` gets samples WITHOUT targets unless ``privileged`` is True."""

    Config: ClassVar[Any] = None  # a dataclass; its fields become ``<method>.<key>`` overrides
    # role is shown in reports: "method", or "lower bound"/"upper bound" for calibration
    role: ClassVar[str] = "method"
    # a privileged method sees eval targets; only calibration bounds may set this
    privileged: ClassVar[bool] = False
    # trainable methods get a training phase before evaluation (see harness.trainer)
    trainable: ClassVar[bool] = False
    # names of the models the Engine trains (each gets its own DeepSpeed plugin)
    trained_models: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cfg: Any, ctx: RunContext, name: str | None = None):
        self.cfg = cfg
        self.ctx = ctx
        self.name = name or type(self).__name__.lower()  # the name the run knows it by
        # compute accounting, summed over the run: nfe, vlm_calls, ... (logged by the Trainer)
        self.counters: dict[str, int] = {}

    def setup(self, engine: Any) -> None:
        """Build the trained models and ``engine.prepare`` each of them (trainable methods)."""

    def train_step(self, step: int) -> dict[str, float]:
        """One update; returns scalar metrics. Batches are drawn as a function of ``step``."""
        raise NotImplementedError(f"{type(self).__name__} is marked trainable but has no train_step")

    def finish(self) -> None:
        """After training: export what later runs may chain from (see harness.editor)."""

    def trainer_state(self) -> dict:
        """JSON-able state the checkpoint must carry besides weights (e.g. counters)."""
        return {"counters": dict(self.counters)}

    def load_trainer_state(self, state: dict) -> None:
        self.counters = dict(state.get("counters", {}))

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def edit(self, samples: Sequence[EditSample], steps: int | None = None) -> torch.Tensor:
        """Return edited images ``[N, 3, H, W]`` in [0, 1], one per sample."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors a checkpoint must carry besides the engine's models and optimizers (e.g. an EMA);
        saved as safetensors, given back to ``load_state_dict`` on resume."""
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        pass
