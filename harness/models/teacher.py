"""The embedded text-to-image teacher: a tiny SD3-style DiT + tiny text encoder trained jointly by
flow matching on freshly rendered world scenes, cached under $HARNESS_HOME by config hash."""
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
from harness.cache import cached_build
from harness.models.edit_model import EditModel
from harness.models.optim import adamw
from harness.models.samplers import euler_sample
from harness.models.teacher_config import TIMESTEP_SCHEMES, TeacherConfig  # noqa: F401 (re-exported)
from harness.world.render import render_batch
from harness.world.scene import random_scene
from harness.world.text import caption


def build_teacher_model(cfg: TeacherConfig, vae=None) -> EditModel:
    """Randomly initialised teacher; deterministic given cfg.seed. ``vae``: a trained world VAE when
    cfg.latent_channels > 0 (the DiT then works on its latents)."""
    torch.manual_seed(cfg.seed)
    if cfg.backbone == "unet":
        model = EditModel.tiny_unet(
            resolution=cfg.model_resolution, channels=cfg.latent_channels or 3, block_channels=cfg.unet_channels,
            attention_levels=cfg.unet_attention_levels, layers_per_block=cfg.unet_layers_per_block,
            heads=cfg.unet_heads, text_hidden=cfg.text_hidden, text_layers=cfg.text_layers,
            train_text_encoder=True, vae=vae, prediction=cfg.prediction)
        if cfg.zero_init:  # the output conv starts at zero, as the DiT's final projection
            with torch.no_grad():
                model.transformer.conv_out.weight.zero_()
                model.transformer.conv_out.bias.zero_()
        return model
    model = EditModel.tiny_sd3(
        resolution=cfg.model_resolution, patch_size=cfg.patch_size, channels=cfg.latent_channels or 3,
        num_layers=cfg.num_layers, num_heads=cfg.num_heads, head_dim=cfg.head_dim,
        caption_projection_dim=cfg.caption_projection_dim, text_hidden=cfg.text_hidden,
        text_layers=cfg.text_layers, train_text_encoder=True, vae=vae, prediction=cfg.prediction,
    )
    if cfg.zero_init:
        _adaln_zero_init(model.transformer)
    return model


def _adaln_zero_init(transformer: torch.nn.Module) -> None:
    """Zero the adaLN modulation linears (norm*.linear) and the final projection (proj_out)."""
    with torch.no_grad():
        for name, mod in transformer.named_modules():
            leaf = name.rsplit(".", 1)[-1]
            parent = name.rsplit(".", 2)[-2] if name.count(".") >= 1 else ""
            if isinstance(mod, torch.nn.Linear) and (name == "proj_out" or
                                                     (leaf == "linear" and parent.startswith("norm"))):
                mod.weight.zero_()
                if mod.bias is not None:
                    mod.bias.zero_()


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


def flow_matching_loss(model: EditModel, x0: torch.Tensor, text, noise: torch.Tensor, t: torch.Tensor,
                       weighting: torch.Tensor | None = None, ref: torch.Tensor | None = None,
                       x0_target: torch.Tensor | None = None) -> torch.Tensor:
    """Mean weighted || v(x_t) - (eps - x0) ||^2 with x_t = (1 - t) x0 + t eps. With ``x0_target``
    (an estimate of E[x0 | x_t]) the target is (x_t - x0_target) / t, which equals eps - x0 when
    x0_target = x0."""
    tb = t.reshape(-1, 1, 1, 1).to(x0.dtype)
    x_t = (1 - tb) * x0 + tb * noise
    v = model.velocity(x_t, t, text, ref=ref)
    target = noise - x0 if x0_target is None else (x_t - x0_target.to(x_t)) / tb
    per = ((v.float() - target.float()) ** 2).flatten(1).mean(1)
    if weighting is not None:
        per = per * weighting.reshape(-1)
    return per.mean()


def uniform_flow_matching_loss(model: EditModel, x0: torch.Tensor, text, generator: torch.Generator | None = None,
                               ref: torch.Tensor | None = None) -> torch.Tensor:
    """flow_matching_loss with t ~ U[0, 1] and fresh noise: NP-Edit's auxiliary update on detached
    generator samples (§1.4) and, with x0 = the reference, the identity warm-up (§1.6)."""
    t = torch.rand(x0.shape[0], generator=generator).to(x0.device, x0.dtype)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device, x0.dtype)
    return flow_matching_loss(model, x0, text, noise, t, ref=ref)


def _posterior_target(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, scenes, caps) -> torch.Tensor:
    """E[x0 | x_t, scene structure] for captioned rows; x0 itself (the one-sample target) where the
    caption was dropped, since the unconditional posterior is not what the caption-free model learns."""
    from harness.world.posterior import posterior_mean

    tb = t.reshape(-1, 1, 1, 1).to(x0.dtype)
    target = posterior_mean((1 - tb) * x0 + tb * noise, t, scenes).to(x0)
    dropped = torch.tensor([c == "" for c in caps], device=x0.device).reshape(-1, 1, 1, 1)
    return torch.where(dropped, x0, target)


def _lr_factor(step: int, cfg: TeacherConfig) -> float:
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    p = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, p)))


def train_teacher(cfg: TeacherConfig, out_dir: str | Path, progress: bool = True, probe=None,
                  probe_every: int = 0, device: str = "cpu") -> EditModel:
    """Train the teacher from scratch and save it (EMA weights when enabled) to ``out_dir``.
    ``probe(step, train_seconds, model)`` (optional, for learning curves) is called every ``probe_every``
    steps with the weights that would be saved (EMA when enabled) in eval mode; its time is not counted."""
    cfg.validate()
    out_dir = Path(out_dir)
    vae, vae_stats, t_all = None, {}, time.time()
    if cfg.latent_channels:
        from harness.models.world_vae import train_world_vae
        vae, vae_stats = train_world_vae(cfg, device=device, progress=progress)
    model = build_teacher_model(cfg, vae).to(device)
    text_stats = {}
    if cfg.text_pretrain_steps:
        from harness.models.text_pretrain import pretrain_text_encoder
        text_stats = {"text_pretrain": pretrain_text_encoder(model.text_encoder, cfg.text_pretrain_steps, seed=cfg.seed,
                                                             min_objects=cfg.min_objects, max_objects=cfg.max_objects)}
    model.train()
    params = model.trainable_parameters()
    scene_aux = None
    if cfg.scene_aux_weight > 0:
        from harness.models.scene_aux import SceneAux
        scene_aux = SceneAux(model.transformer).to(device)
    layout_aux = None
    if cfg.layout_aux_weight > 0:
        from harness.models.layout_aux import LayoutAux
        layout_aux = LayoutAux(model.transformer).to(device)
    attn_ground = None
    if cfg.attn_ground_weight > 0:
        from harness.models.attn_ground import AttnGround
        attn_ground = AttnGround(model.transformer)
    heads = [h for h in (scene_aux, layout_aux) if h is not None]
    opt = adamw(params + [p for h in heads for p in h.parameters()], lr=cfg.lr,
                betas=(0.9, 0.99), weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, cfg))
    ema = [p.detach().clone() for p in params] if cfg.ema_decay > 0 else None
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 101]))
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    losses, t0, probe_s = [], time.time(), 0.0
    bar = tqdm(range(cfg.steps), desc="teacher", disable=not progress, mininterval=2.0)
    for step in bar:
        imgs, caps, scenes = scene_batch(rng, cfg.batch_size, cfg)
        caps = [c if rng.random() >= cfg.caption_dropout else "" for c in caps]
        x0 = model.encode_image(imgs)
        # noise and timesteps drawn on the CPU generator: the same run on any device
        noise = torch.randn(x0.shape, generator=gen).to(x0.device)
        t = compute_density_for_timestep_sampling(cfg.timestep_sampling, cfg.batch_size, logit_mean=cfg.logit_mean,
                                                  logit_std=cfg.logit_std, mode_scale=cfg.mode_scale,
                                                  generator=gen).to(x0.device)
        w = compute_loss_weighting_for_sd3(cfg.timestep_sampling, sigmas=t)
        x0_target = _posterior_target(x0, noise, t, scenes, caps) if cfg.posterior_target else None
        loss = flow_matching_loss(model, x0, caps, noise, t, w, x0_target=x0_target)
        if scene_aux is not None:
            loss = loss + cfg.scene_aux_weight * scene_aux.loss(scenes, t, cfg.scene_aux_t_weighting)
        if layout_aux is not None:
            x_t = (1 - t.reshape(-1, 1, 1, 1)) * x0 + t.reshape(-1, 1, 1, 1) * noise  # as flow_matching_loss drew it
            loss = loss + cfg.layout_aux_weight * layout_aux.loss(x_t, t, scenes)
        if attn_ground is not None:
            loss = loss + cfg.attn_ground_weight * attn_ground.loss(scenes, caps, t, cfg.resolution,
                                                                    cfg.attn_ground_t_weighting)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"teacher training: non-finite loss {loss.item()} at step {step}; "
                                     "lower TeacherConfig.lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        sched.step()
        if ema is not None:
            d = min(cfg.ema_decay, (1 + step) / (10 + step))  # short warm-up so early EMA is not stale init
            with torch.no_grad():
                torch._foreach_lerp_(ema, [p.detach() for p in params], 1 - d)
        losses.append(loss.item())
        if step % 20 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
        if probe is not None and probe_every and (step + 1) % probe_every == 0:
            tp = time.time()
            backup = [p.detach().clone() for p in params] if ema is not None else None
            with torch.no_grad():
                if ema is not None:
                    for p, e in zip(params, ema):
                        p.copy_(e)
            model.eval()
            probe(step + 1, tp - t0 - probe_s, model)
            model.train()
            if backup is not None:
                with torch.no_grad():
                    for p, b in zip(params, backup):
                        p.copy_(b)
            probe_s += time.time() - tp
    for h in heads:
        h.remove()
    if attn_ground is not None:
        attn_ground.remove()
    if ema is not None:
        with torch.no_grad():
            for p, e in zip(params, ema):
                p.copy_(e)
    model.eval().to("cpu")
    model.save_pretrained(out_dir)
    write_json(out_dir / "train_log.json", {"config": asdict(cfg), "wall_s": round(time.time() - t_all - probe_s, 1),
                                             "dit_wall_s": round(time.time() - t0 - probe_s, 1), **vae_stats, **text_stats,
                                             "loss_first50": float(np.mean(losses[:50])),
                                             "loss_last50": float(np.mean(losses[-50:])),
                                             "losses_every10": [round(x, 5) for x in losses[::10]]})
    return model


def load_or_train_teacher(cfg: TeacherConfig | None = None, force: bool = False, progress: bool = True) -> EditModel:
    """The cached teacher for ``cfg`` (trained on first use), loaded with from_pretrained and frozen."""
    cfg = cfg or TeacherConfig()
    cfg.validate()
    entry = cached_build("teacher", cfg.cache_key(), lambda tmp: train_teacher(cfg, tmp, progress=progress), force=force)
    model = EditModel.from_pretrained(entry)
    model.requires_grad_(False)
    return model.eval()


@torch.no_grad()
def caption_match_rate(model: EditModel, n: int = 64, steps: int = 20, cfg_scale: float = 3.0, shift: float = 1.0,
                       seed: int = 1234, batch_size: int = 32, clean_threshold: float = 0.95) -> dict:
    """Probe (not a test): sample from captions of fresh scenes and parse the images with the oracle.
    match = same background and same set of (colour, shape); clean = the re-render explains
    >= clean_threshold of the pixels."""
    from harness.world.oracle import parse  # lazy: the oracle is never needed to train

    rng = np.random.default_rng(np.random.SeedSequence([seed, 202]))
    gen = torch.Generator().manual_seed(seed)
    res = model.transformer.config.sample_size
    match = bg_ok = objs_ok = clean = 0
    explained = []
    examples = []
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        scenes = [random_scene(rng) for _ in range(b)]
        caps = [caption(s) for s in scenes]
        noise = torch.randn((b, model.channels, res, res), generator=gen).to(model.device)
        imgs = model.decode(euler_sample(model, caps, steps, noise, cfg_scale=cfg_scale, shift=shift))
        for s, c, img in zip(scenes, caps, imgs):
            p = parse(img)
            want = sorted((o.color, o.shape) for o in s.objects)
            got = sorted((o.color, o.shape) for o in p.scene.objects)
            bg_ok += p.scene.background == s.background
            objs_ok += want == got
            ok = want == got and p.scene.background == s.background
            match += ok
            clean += p.explained >= clean_threshold
            explained.append(p.explained)
            if len(examples) < 8:
                examples.append({"caption": c, "parsed": p.scene.to_dict(), "match": bool(ok)})
    return {"n": n, "match": match / n, "background": bg_ok / n, "objects": objs_ok / n, "clean": clean / n,
            "explained_mean": float(np.mean(explained)), "steps": steps, "cfg_scale": cfg_scale,
            "examples": examples}
