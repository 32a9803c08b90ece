"""A bare PyTorch stand-in for ``harness.engine.Engine``: the same methods' maths on the same models,
with ``loss.backward()``, ``clip_grad_norm_`` and ``opt.step()`` and nothing else (no Accelerate, no
guards). The harness-overhead benchmark times one training step through each."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import torch


class BareEngine:
    rank, world_size, is_main, deepspeed = 0, 1, True, False

    def __init__(self, max_grad_norm: float = 1.0):
        self.cfg = SimpleNamespace(preset="single", max_grad_norm=max_grad_norm, grad_accum=1)
        self.device = torch.device("cpu")
        self.models: dict = {}
        self.optimizers: dict = {}
        self.grad_norms: dict = {}

    def building_frozen(self):
        return contextlib.nullcontext()

    def frozen(self, model):
        return model.requires_grad_(False).eval()

    def prepare(self, name, model, optimizer):
        self.models[name], self.optimizers[name] = model, optimizer
        return model

    def unwrap(self, name):
        return self.models[name]

    def backward(self, name, loss):
        loss.backward()

    def set_lr(self, name, lr):
        for g in self.optimizers[name].param_groups:
            g["lr"] = lr

    def step(self, name):
        limit = self.cfg.max_grad_norm if self.cfg.max_grad_norm > 0 else float("inf")
        self.grad_norms[name] = float(torch.nn.utils.clip_grad_norm_(self.models[name].parameters(), limit))
        self.optimizers[name].step()
        self.optimizers[name].zero_grad(set_to_none=True)
        return True

    def gather(self, t):
        return t

    def mean_dict(self, metrics):
        return dict(metrics)

    def wait(self):
        pass

    def state_dict(self, name):
        return self.models[name].state_dict()
