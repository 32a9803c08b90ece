"""The Engine: the only code that touches Accelerate and DeepSpeed.

Presets: ``single`` (one process), ``ddp`` (Accelerate DDP), ``zero1|zero2|zero3`` (DeepSpeed
through Accelerate, JSON in ``harness/configs/deepspeed/``). Each trained model gets its own name
and, under DeepSpeed, its own plugin, ``backward`` and ``step`` (NP-Edit trains a generator and an
auxiliary model). Frozen models stay plain modules on every rank.

CPU rules (see docs): DeepSpeed needs the gloo backend; a single process without a launcher needs
RANK/LOCAL_RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT (set here); client torch optimizers avoid
DeepSpeed's JIT-compiled ones.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

PRESETS = ("single", "ddp", "zero1", "zero2", "zero3")
TRACKERS = ("none", "tensorboard", "wandb")  # Accelerate trackers a run may log its training scalars to
DEEPSPEED_DIR = Path(__file__).parent / "configs" / "deepspeed"


@dataclass
class EngineConfig:
    preset: str = field(default="single", metadata={"choices": list(PRESETS)})
    mixed_precision: str = field(default="no", metadata={"choices": ["no", "bf16"]})
    grad_accum: int = field(default=1, metadata={"ge": 1})
    max_grad_norm: float = field(default=1.0, metadata={"ge": 0.0})  # 0 disables clipping
    micro_batch_size: int = field(default=8, metadata={"ge": 1})
    cpu: bool = False  # force CPU even where CUDA is visible
    tracker: str = field(default="none", metadata={"choices": list(TRACKERS)})
    tracker_dir: str | None = None  # where local trackers (tensorboard) write; one sub-folder per run name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_dist_env() -> None:
    """Without a launcher DeepSpeed falls into MPI discovery (needs mpi4py); fake a 1-rank world."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return
    os.environ.update({"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1",
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port())})


def _reset_accelerate_state() -> None:
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def deepspeed_config(cfg: EngineConfig) -> dict:
    stage = int(cfg.preset[-1])
    ds = json.loads((DEEPSPEED_DIR / f"zero{stage}.json").read_text())
    ds["train_micro_batch_size_per_gpu"] = cfg.micro_batch_size
    ds["gradient_accumulation_steps"] = cfg.grad_accum
    ds["gradient_clipping"] = cfg.max_grad_norm
    ds["bf16"] = {"enabled": cfg.mixed_precision == "bf16"}
    return ds


class Engine:
    def __init__(self, cfg: EngineConfig, trained: list[str]):
        from accelerate import Accelerator
        from accelerate.utils import DeepSpeedPlugin, InitProcessGroupKwargs

        self.cfg = cfg
        self.trained = list(trained)
        self.models: dict[str, Any] = {}
        self.grad_norms: dict[str, float | None] = {}  # per trained model: the last step's gradient norm
        # per trained model: "loss" or "gradient" when its last update was refused for a non-finite value
        self.nonfinite: dict[str, str] = {}
        self._skip_step: set[str] = set()  # models whose pending step follows a skipped (non-finite) backward
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        # per trained model: its ``activate()`` if it has one (one LoRA adapter of a shared base, harness/models/lora.py)
        self._activate: dict[str, Any] = {}
        self._micro_steps: dict[str, int] = {n: 0 for n in trained}
        self.deepspeed = cfg.preset.startswith("zero")
        cpu = cfg.cpu or not torch.cuda.is_available()
        kwargs: dict[str, Any] = {"mixed_precision": cfg.mixed_precision}
        if self.deepspeed:
            _ensure_dist_env()
            ds = deepspeed_config(cfg)
            plugins = {n: DeepSpeedPlugin(hf_ds_config=copy.deepcopy(ds),
                                          zero3_save_16bit_model=int(cfg.preset[-1]) == 3) for n in trained}
            kwargs["deepspeed_plugins"] = plugins if len(plugins) > 1 else next(iter(plugins.values()))
            if cpu:  # DeepSpeed on CPU resolves no backend by itself
                kwargs["kwargs_handlers"] = [InitProcessGroupKwargs(backend="gloo")]
        else:
            kwargs["cpu"] = cpu
            kwargs["gradient_accumulation_steps"] = cfg.grad_accum
        if cfg.tracker != "none":
            from accelerate.utils import ProjectConfiguration

            kwargs["log_with"] = cfg.tracker
            kwargs["project_config"] = ProjectConfiguration(project_dir=cfg.tracker_dir, logging_dir=cfg.tracker_dir)
        _reset_accelerate_state()  # one run may build an engine per method, with other presets
        self.accelerator = Accelerator(**kwargs)
        self._tracking = False

    # ------------------------------------------------------------------ facts
    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    @property
    def rank(self) -> int:
        return self.accelerator.process_index

    @property
    def world_size(self) -> int:
        return self.accelerator.num_processes

    # ------------------------------------------------------------------ models
    @contextlib.contextmanager
    def building_frozen(self) -> Iterator[None]:
        """Build frozen transformers models (teacher, VLM) with ZeRO-3's HF hook unset, or
        transformers partitions their weights and ``post_init`` fails."""
        if not (self.deepspeed and self.cfg.preset == "zero3"):
            yield
            return
        from transformers.integrations import unset_hf_deepspeed_config

        unset_hf_deepspeed_config()
        try:
            yield
        finally:
            self.accelerator.state.deepspeed_plugin.set_deepspeed_weakref()

    def frozen(self, model: torch.nn.Module) -> torch.nn.Module:
        model.requires_grad_(False).eval()
        return model.to(self.device)

    def prepare(self, name: str, model: torch.nn.Module, optimizer: torch.optim.Optimizer):
        if name not in self.trained:
            raise KeyError(f"model '{name}' was not declared as trained; declared: {', '.join(self.trained)}")
        if self.deepspeed and len(self.trained) > 1:
            self.accelerator.state.select_deepspeed_plugin(name)
        self._activate[name] = getattr(model, "activate", None)
        model, optimizer = self.accelerator.prepare(model, optimizer)
        self.models[name], self.optimizers[name] = model, optimizer
        return model

    def unwrap(self, name: str) -> torch.nn.Module:
        return self.accelerator.unwrap_model(self.models[name])

    # ------------------------------------------------------------------ updates
    def backward(self, name: str, loss: torch.Tensor) -> None:
        model = self.models[name]
        if self._activate.get(name) is not None:  # its adapter active again: checkpointed blocks recompute now
            self._activate[name]()
        if not self._finite_everywhere(loss):  # every rank skips it: a NaN update would poison the weights
            self.nonfinite[name] = "loss"
            self._skip_step.add(name)
            return
        self._skip_step.discard(name)
        if self.deepspeed:
            model.backward(loss)  # the DeepSpeedEngine of this model
        else:
            self.accelerator.backward(loss / self.cfg.grad_accum)
        self._micro_steps[name] += 1

    def set_lr(self, name: str, lr: float) -> None:
        """Learning rate of every parameter group of ``name``'s optimizer (DeepSpeed's too)."""
        for group in self.optimizers[name].param_groups:
            group["lr"] = lr

    def step(self, name: str) -> bool:
        """Optimizer step at an accumulation boundary; returns True when the weights changed."""
        model, opt = self.models[name], self.optimizers[name]
        if name in self._skip_step:  # its backward was skipped: nothing to step
            self._skip_step.discard(name)
            if not self.deepspeed:
                opt.zero_grad(set_to_none=True)
            return False
        if self.deepspeed:
            boundary = model.is_gradient_accumulation_boundary()
            model.step()  # clips, steps and zeroes at the boundary; skips the update on a non-finite norm
            if boundary:
                norm = model.get_global_grad_norm()  # before clipping; None where DeepSpeed did not compute it
                self.grad_norms[name] = None if norm is None else float(norm)
                if norm is not None and not np.isfinite(float(norm)):
                    self.nonfinite[name] = "gradient"
                    return False
            return boundary
        if self._micro_steps[name] % self.cfg.grad_accum:
            return False
        # the total gradient norm before clipping (an infinite bound only measures it)
        limit = self.cfg.max_grad_norm if self.cfg.max_grad_norm > 0 else float("inf")
        self.grad_norms[name] = float(self.accelerator.clip_grad_norm_(model.parameters(), limit))
        if not np.isfinite(self.grad_norms[name]):  # the same norm on every rank (gradients are reduced)
            opt.zero_grad(set_to_none=True)
            self.nonfinite[name] = "gradient"
            return False
        opt.step()
        opt.zero_grad(set_to_none=True)
        return True

    def _finite_everywhere(self, loss: torch.Tensor) -> bool:
        ok = bool(torch.isfinite(loss.detach()).all())
        if self.world_size > 1:  # ranks must agree, or one waits forever in the backward's collectives
            ok = bool(self.gather(torch.tensor([float(ok)])).min() > 0)
        return ok

    def take_nonfinite(self) -> dict[str, str]:
        """Models whose update was refused since the last call (model -> "loss" | "gradient"); clears them."""
        out, self.nonfinite = self.nonfinite, {}
        return out

    # ------------------------------------------------------------------ collectives
    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        return self.accelerator.gather(tensor.to(self.device).contiguous())

    def mean(self, value: float | torch.Tensor) -> float:
        t = torch.as_tensor(value, dtype=torch.float32, device=self.device).reshape(1)
        return float(self.gather(t).mean())

    def mean_dict(self, metrics: dict[str, float]) -> dict[str, float]:
        """Mean of each metric over the ranks that reported it. Ranks may report different keys
        (e.g. a loss only some ranks' batches had), so whole dicts are gathered, not per-key."""
        from accelerate.utils import gather_object

        rows = gather_object([metrics]) if self.world_size > 1 else [metrics]
        keys = sorted({k for r in rows for k in r})
        return {k: float(np.mean([r[k] for r in rows if k in r])) for k in keys}

    def wait(self) -> None:
        self.accelerator.wait_for_everyone()

    # ------------------------------------------------------------------ trackers
    def start_tracking(self, run_name: str, project: str = "harness") -> None:
        """Open the configured tracker (no-op for ``tracker=none``): tensorboard writes into
        ``tracker_dir/<run_name>/``; wandb logs run ``run_name`` in project ``project``."""
        if self.cfg.tracker == "none" or self._tracking:
            return
        if self.cfg.tracker == "wandb":
            wandb = {"name": run_name, "dir": self.cfg.tracker_dir}
            self.accelerator.init_trackers(project, init_kwargs={"wandb": wandb})
        else:
            self.accelerator.init_trackers(run_name)
        self._tracking = True

    def log_scalars(self, values: dict, step: int) -> None:
        """The numeric entries of ``values`` to the tracker at ``step`` (main process only; no-op without one)."""
        if not self._tracking:
            return
        scalars = {k: float(v) for k, v in values.items()
                   if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)}
        if scalars:
            self.accelerator.log(scalars, step=step)

    def end_tracking(self) -> None:
        """Flush and close the tracker (the trainer calls this at the end of ``fit``). Not
        ``accelerator.end_training``: that also destroys the process group a later method reuses."""
        if self._tracking:
            for tracker in self.accelerator.trackers:
                tracker.finish()
            self.accelerator.trackers = []
            self._tracking = False

    # ------------------------------------------------------------------ state
    def save(self, directory: str | Path) -> None:
        self.accelerator.save_state(str(directory))

    def load(self, directory: str | Path) -> None:
        self.accelerator.load_state(str(directory))

    def state_dict(self, name: str) -> dict[str, torch.Tensor]:
        """Full (ZeRO-3: gathered 16-bit) weights of a trained model, for export."""
        return self.accelerator.get_state_dict(self.models[name])


def shutdown_distributed() -> None:
    """Tear a multi-process group down before the interpreter exits. Left to exit handlers, a gloo rank
    can abort in teardown ("terminate called without an active exception") after its work is done.
    A one-process group (DeepSpeed on one rank) stays: a later run in the same process reuses it."""
    if (torch.distributed.is_available() and torch.distributed.is_initialized()
            and torch.distributed.get_world_size() > 1):
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
