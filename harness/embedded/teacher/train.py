"""Training of the embedded text-to-image teacher: a tiny conv UNet + tiny text encoder trained jointly by
flow matching on freshly rendered world scenes (config.py says why each default)."""
from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from diffusers.training_utils import (
    compute_density_for_timestep_sampling,
    compute_loss_weighting_for_sd3,
)
from tqdm.auto import tqdm

from harness.atomic_io import write_json
from harness.embedded.teacher.config import TeacherConfig
from harness.models.edit_model import EditModel
from harness.models.losses import flow_matching_loss
from harness.embedded.optim import adamw
from harness.world.render import render_batch
from harness.world.scene import random_scene
from harness.world.text import caption


def build_teacher_model(cfg: TeacherConfig) -> EditModel:
    """Randomly initialised teacher; deterministic given cfg.seed. The output conv starts at zero, so the
    untrained teacher predicts zero velocity."""
    torch.manual_seed(cfg.seed)
    model = EditModel.tiny_unet(
        resolution=cfg.resolution, channels=3, block_channels=cfg.unet_channels,
        attention_levels=cfg.unet_attention_levels, layers_per_block=cfg.unet_layers_per_block,
        heads=cfg.unet_heads, text_hidden=cfg.text_hidden, text_layers=cfg.text_layers, train_text_encoder=True)
    with torch.no_grad():
        model.transformer.conv_out.weight.zero_()
        model.transformer.conv_out.bias.zero_()
    return model


def scene_batch(rng: np.random.Generator, n: int, cfg: TeacherConfig):
    """(images [n,3,H,W] in [0,1], captions, scenes) of fresh random scenes, object counts drawn by
    cfg.object_count_weights (uniform when empty)."""
    if len(cfg.object_count_weights):
        w = np.asarray(cfg.object_count_weights, dtype=float)
        counts = cfg.min_objects + rng.choice(len(w), size=n, p=w / w.sum())
        scenes = [random_scene(rng, int(k), int(k)) for k in counts]
    else:  # the original random stream, so teachers cached before the option reproduce exactly
        scenes = [random_scene(rng, cfg.min_objects, cfg.max_objects) for _ in range(n)]
    return render_batch(scenes, cfg.resolution), [caption(s) for s in scenes], scenes


def _lr_factor(step: int, cfg: TeacherConfig) -> float:
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    p = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, p)))


class _Run:
    """The state of one training run: model, optional scene head, optimiser, EMA and the random streams.
    Built in the order that fixes the random draws (model init, text pretraining, scene head init)."""

    def __init__(self, cfg: TeacherConfig, device: str):
        self.cfg = cfg
        self.model = build_teacher_model(cfg).to(device)
        self.text_stats = {}
        if cfg.text_pretrain_steps:
            from harness.embedded.teacher.text_pretrain import pretrain_text_encoder
            self.text_stats = {"text_pretrain": pretrain_text_encoder(
                self.model.text_encoder, cfg.text_pretrain_steps, seed=cfg.seed,
                min_objects=cfg.min_objects, max_objects=cfg.max_objects)}
        self.model.train()
        self.params = self.model.trainable_parameters()
        self.scene_aux = None
        if cfg.scene_aux_weight > 0:
            from harness.embedded.teacher.scene_aux import SceneAux
            self.scene_aux = SceneAux(self.model.transformer).to(device)
        heads = list(self.scene_aux.parameters()) if self.scene_aux is not None else []
        self.opt = adamw(self.params + heads, lr=cfg.lr, betas=(0.9, 0.99), weight_decay=cfg.weight_decay)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: _lr_factor(s, cfg))
        self.ema = [p.detach().clone() for p in self.params] if cfg.ema_decay > 0 else None
        self.rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 101]))
        self.gen = torch.Generator().manual_seed(cfg.seed + 1)

    def loss(self) -> torch.Tensor:
        """The loss of one fresh batch: flow matching (SD3's timestep density and weighting) + the scene loss."""
        cfg, model = self.cfg, self.model
        imgs, caps, scenes = scene_batch(self.rng, cfg.batch_size, cfg)
        caps = [c if self.rng.random() >= cfg.caption_dropout else "" for c in caps]
        x0 = model.encode_image(imgs)
        # noise and timesteps drawn on the CPU generator: the same run on any device
        noise = torch.randn(x0.shape, generator=self.gen).to(x0.device)
        t = compute_density_for_timestep_sampling(cfg.timestep_sampling, cfg.batch_size, logit_mean=cfg.logit_mean,
                                                  logit_std=cfg.logit_std, mode_scale=cfg.mode_scale,
                                                  generator=self.gen).to(x0.device)
        w = compute_loss_weighting_for_sd3(cfg.timestep_sampling, sigmas=t)
        loss = flow_matching_loss(model, x0, caps, noise, t, w)
        if self.scene_aux is not None:
            loss = loss + cfg.scene_aux_weight * self.scene_aux.loss(scenes, t, cfg.scene_aux_t_weighting)
        return loss

    def step(self, step: int) -> float:
        loss = self.loss()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"teacher training: non-finite loss {loss.item()} at step {step}; "
                                     "lower TeacherConfig.lr")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip)
        self.opt.step()
        self.sched.step()
        if self.ema is not None:
            d = min(self.cfg.ema_decay, (1 + step) / (10 + step))  # short warm-up so early EMA is not stale init
            with torch.no_grad():
                torch._foreach_lerp_(self.ema, [p.detach() for p in self.params], 1 - d)
        return loss.item()

    def probe(self, probe, step: int, train_s: float) -> None:
        """``probe(step, train_s, model)`` on the weights that would be saved (EMA when enabled), in eval
        mode; the training weights and mode come back after."""
        backup = [p.detach().clone() for p in self.params] if self.ema is not None else None
        self._load_ema()
        self.model.eval()
        probe(step, train_s, self.model)
        self.model.train()
        if backup is not None:
            with torch.no_grad():
                for p, b in zip(self.params, backup):
                    p.copy_(b)

    def _load_ema(self) -> None:
        if self.ema is not None:
            with torch.no_grad():
                for p, e in zip(self.params, self.ema):
                    p.copy_(e)

    def finish(self) -> EditModel:
        """The model to save: the scene head's hook removed, the EMA weights loaded, on the CPU, in eval mode."""
        if self.scene_aux is not None:
            self.scene_aux.remove()
        self._load_ema()
        return self.model.eval().to("cpu")


def train_teacher(cfg: TeacherConfig, out_dir: str | Path, progress: bool = True, probe=None,
                  probe_every: int = 0, device: str = "cpu") -> EditModel:
    """Train the teacher from scratch and save it (EMA weights when enabled) to ``out_dir``.
    ``probe(step, train_seconds, model)`` (optional, for learning curves) is called every ``probe_every``
    steps with the weights that would be saved (EMA when enabled) in eval mode; its time is not counted."""
    cfg.validate()
    t_all = time.time()
    run = _Run(cfg, device)
    losses, t0, probe_s = [], time.time(), 0.0
    bar = tqdm(range(cfg.steps), desc="teacher", disable=not progress, mininterval=2.0)
    for step in bar:
        losses.append(run.step(step))
        if step % 20 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
        if probe is not None and probe_every and (step + 1) % probe_every == 0:
            tp = time.time()
            run.probe(probe, step + 1, tp - t0 - probe_s)
            probe_s += time.time() - tp
    model = run.finish()
    model.save_pretrained(out_dir)
    write_json(Path(out_dir) / "train_log.json", {
        "config": asdict(cfg), "wall_s": round(time.time() - t_all - probe_s, 1),
        "denoiser_wall_s": round(time.time() - t0 - probe_s, 1), **run.text_stats,
        "loss_first50": float(np.mean(losses[:50])), "loss_last50": float(np.mean(losses[-50:])),
        "losses_every10": [round(x, 5) for x in losses[::10]]})
    return model
