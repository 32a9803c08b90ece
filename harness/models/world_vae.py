"""A tiny diffusers AutoencoderKL trained on world renders: the embedded stand-in for the VAE of a
latent diffusion model (the teacher then runs in an 8x8 latent grid, one latent pixel per world cell)."""
from __future__ import annotations

import math
import time

import numpy as np
import torch
from diffusers import AutoencoderKL
from tqdm.auto import tqdm

from harness.models.optim import adamw
from harness.world.render import render_batch
from harness.world.scene import random_scene


def build_world_vae(resolution: int, latent_channels: int, blocks: tuple[int, ...], seed: int) -> AutoencoderKL:
    torch.manual_seed(seed)
    groups = math.gcd(8, *blocks)  # GroupNorm groups must divide every block's channels
    return AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * len(blocks),
                         up_block_types=("UpDecoderBlock2D",) * len(blocks), block_out_channels=tuple(blocks),
                         layers_per_block=1, latent_channels=latent_channels, norm_num_groups=groups,
                         sample_size=resolution, mid_block_add_attention=False)


def train_world_vae(cfg, device: str = "cpu", progress: bool = True, log=None) -> tuple[AutoencoderKL, dict]:
    """Reconstruction (MSE + small KL) on fresh scenes; then sets scaling/shift so latents have unit std.
    ``cfg`` is the TeacherConfig (vae_* fields)."""
    vae = build_world_vae(cfg.resolution, cfg.latent_channels, tuple(cfg.vae_blocks), cfg.seed).to(device)
    opt = adamw(vae.parameters(), lr=cfg.vae_lr, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 50) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * s / cfg.vae_steps))))
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 303]))
    gen = torch.Generator().manual_seed(cfg.seed + 3)
    t0, losses = time.time(), []
    for step in tqdm(range(cfg.vae_steps), desc="vae", disable=not progress, mininterval=2.0):
        scenes = [random_scene(rng, cfg.min_objects, cfg.max_objects) for _ in range(cfg.vae_batch)]
        x = render_batch(scenes, cfg.resolution).to(device) * 2 - 1
        post = vae.encode(x).latent_dist
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=gen).to(device)
        rec = vae.decode(z).sample
        # L1 keeps flat colours exact (the oracle's tolerance is per pixel), MSE the edges
        loss = (rec - x).abs().mean() + ((rec - x) ** 2).mean() + cfg.vae_kl_weight * post.kl().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if log and (step + 1) % 200 == 0:
            log(f"vae step {step + 1}: loss {np.mean(losses[-200:]):.4f}")
    vae.eval()
    with torch.no_grad():
        scenes = [random_scene(rng, cfg.min_objects, cfg.max_objects) for _ in range(256)]
        x = render_batch(scenes, cfg.resolution).to(device) * 2 - 1
        z = vae.encode(x).latent_dist.mode()
        shift, scale = float(z.mean()), float(1.0 / z.std())
        rec = vae.decode(z).sample
        err = ((rec - x).abs().amax(1) / 2)  # per-pixel max channel error in [0, 1] units
    vae.register_to_config(scaling_factor=scale, shift_factor=shift)
    stats = {"vae_wall_s": round(time.time() - t0, 1), "vae_loss_last": float(np.mean(losses[-50:])),
             "vae_pixels_within_0.1": float((err < 0.1).float().mean()), "vae_max_err": float(err.max())}
    return vae.requires_grad_(False), stats
