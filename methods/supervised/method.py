"""Supervised baseline: flow matching on (source, instruction, target) triples, as diffusers'
editing recipes train (reference/baselines.md §4.2): t from ``compute_density_for_timestep_sampling``,
loss weighted by ``compute_loss_weighting_for_sd3``, the source as the reference condition."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from diffusers.training_utils import (
    compute_density_for_timestep_sampling,
    compute_loss_weighting_for_sd3,
)

from harness.data import StepBatches
from harness.data_jsonl import training_data
from harness.editor import EditorConfig, GeneratorMethod, euler_edit, initial_generator
from harness.models.generator import build_generator


@dataclass
class SupervisedConfig(EditorConfig):
    steps: int = 300
    eval_every: int = field(default=50, metadata={"ge": 0})  # learning-curve points for the report
    batch_size: int = 8
    lr: float = 1e-4
    weighting_scheme: str = field(default="logit_normal",
                                  metadata={"choices": ["logit_normal", "mode", "uniform", "sigma_sqrt", "cosmap"]})
    logit_mean: float = 0.0
    logit_std: float = 1.0
    mode_scale: float = 1.29
    inference_steps: int = field(default=8, metadata={"ge": 1})  # Euler ODE steps at evaluation
    data_fraction: float = field(default=1.0, metadata={"ge": 0.0, "le": 1.0})


class Supervised(GeneratorMethod):
    Config = SupervisedConfig
    trainable = True
    trained_models = ("generator",)

    def setup(self, engine) -> None:
        cfg, run = self.cfg, self.ctx.cfg.run
        self.engine = engine
        with engine.building_frozen():
            family = build_generator(self.ctx)
            family.teacher()  # built here, where frozen models are built (outside ZeRO-3 init)
        generator = initial_generator(cfg, family, self.ctx.run_dir)
        self.gen = self.prepare_generator(engine, generator, cfg.lr)
        # Paired data: the one method here that sees targets.
        self.batches = StepBatches(training_data(self.ctx, paired=True), cfg.batch_size, run.seed, engine.rank,
                                   engine.world_size, paired=True, data_fraction=cfg.data_fraction)

    def loss(self, batch: dict) -> torch.Tensor:
        cfg = self.cfg
        device = self.engine.device
        x0 = self.gen.encode_image(batch["target"].to(device))
        ref = self.gen.encode_image(batch["source"].to(device))
        b = x0.shape[0]
        t = compute_density_for_timestep_sampling(cfg.weighting_scheme, b, logit_mean=cfg.logit_mean,
                                                  logit_std=cfg.logit_std, mode_scale=cfg.mode_scale).to(device)
        weight = compute_loss_weighting_for_sd3(cfg.weighting_scheme, sigmas=t).to(device).view(-1)
        noise = torch.randn_like(x0)
        tb = t.view(-1, 1, 1, 1).to(x0.dtype)
        v = self.gen.velocity((1 - tb) * x0 + tb * noise, t, batch["instruction"], ref=ref)
        per_sample = ((v.float() - (noise - x0).float()) ** 2).flatten(1).mean(1)
        return (weight * per_sample).mean()

    def train_step(self, step: int) -> dict[str, float]:
        loss = self.loss(self.batches(step))
        self.engine.backward("generator", loss)
        self.step_generator()
        self.count("nfe", self.cfg.batch_size)
        return {"loss_fm": float(loss.detach())}

    def edit(self, samples, steps: int | None = None) -> torch.Tensor:
        with self.editing_weights():
            return euler_edit(self.gen, samples, steps or self.cfg.inference_steps, self.ctx.cfg.run.seed,
                              self.engine.device)
