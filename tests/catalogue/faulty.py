"""A trainable toy method whose loss (or gradient) turns non-finite at chosen steps: drives the guard."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from harness.method import Method
from harness.trainer import TrainConfig


@dataclass
class FaultyConfig(TrainConfig):
    bad_steps: list[int] = field(default_factory=list)  # 1-based steps whose loss or gradient is non-finite
    bad: str = field(default="nan", metadata={"choices": ["nan", "inf", "grad"]})
    save_every: int = 2
    log_every: int = 1
    steps: int = 6


class Faulty(Method):
    Config = FaultyConfig
    trainable = True
    trained_models = ("generator",)

    def setup(self, engine):
        self.engine = engine
        self.gain = torch.nn.Parameter(torch.full((3, 1, 1), 0.5))
        module = torch.nn.ParameterList([self.gain])
        engine.prepare("generator", module, torch.optim.SGD(module.parameters(), lr=0.5))

    def train_step(self, step):
        x = torch.rand(self.cfg.batch_size, 3, 8, 8)
        loss = ((self.gain * x - x) ** 2).mean()
        if step + 1 in self.cfg.bad_steps:
            if self.cfg.bad == "nan":
                loss = loss * float("nan")
            elif self.cfg.bad == "inf":
                loss = loss + float("inf")
            else:  # a finite loss (0 added) whose gradient is infinite: d sqrt(u)/du at u = 0
                u = self.gain.sum() - self.gain.sum().detach()
                loss = loss + torch.sqrt(u)
        self.engine.backward("generator", loss)
        self.engine.step("generator")
        return {"loss": float(loss.detach())}

    def edit(self, samples, steps=None):
        return torch.stack([s.source for s in samples]) * self.gain.detach()


