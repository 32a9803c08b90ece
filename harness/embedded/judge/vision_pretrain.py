"""Vision-tower pretraining for the embedded judge: dense targets from the scene graph.

The embedded-world analogue of starting LLaVA from a pretrained CLIP tower. A 1-bit Yes/No answer
teaches the tower shape features far too slowly, so before the LLaVA loop the tower alone is trained
with linear heads on the features LLaVA reads (`vision_feature_layer`, the patch tokens it keeps):
per 4-px grid cell (object centres sit at cell centres) "is an object centred here" and its colour,
shape and size; per image the background and whether the image was blurred/noised. The heads are
thrown away; only the tower's weights change (it stays trainable in the LLaVA stage).
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from harness.embedded.optim import adamw
from harness.world.cell_targets import COVER_MIN, N_ATTR, PER_CELL, scene_targets  # noqa: F401
from harness.world.palette import BACKGROUNDS
from harness.world.render import render_batch
from harness.world.scene import GRID, random_scene

from harness.scorers.scorer import clip_preprocess

from .augment import degrade, grain_batch
from .cases import perturb
from .config import JudgeConfig
from .model import build_processor

TARGETS = ("center", "color", "shape", "size", "background", "degraded")
DEGRADE_SHARE = 0.15  # share of pretraining images blurred or noised (labels unchanged), as the judge sees


def token_grid(cfg: JudgeConfig) -> int:
    """Vision tokens per side; it must tile the 8x8 cell grid (several cells per token or the reverse)."""
    g = cfg.image_size // cfg.patch_size
    if cfg.image_size % cfg.patch_size or (g % GRID and GRID % g):
        raise ValueError(f"patch_size {cfg.patch_size} does not tile {cfg.image_size} px into the "
                         f"{GRID}x{GRID} cell grid")
    return g


class DenseHeads(torch.nn.Module):
    """Linear heads: patch tokens -> per-cell logits [B, GRID, GRID, PER_CELL]; pooled -> image logits."""

    def __init__(self, hidden: int, grid: int):
        super().__init__()
        self.grid = grid
        self.cells_per_token = max(1, GRID // grid)  # per side; tokens finer than cells are mean-pooled
        self.cell = torch.nn.Linear(hidden, self.cells_per_token ** 2 * PER_CELL)
        self.image = torch.nn.Linear(hidden, len(BACKGROUNDS) + 1)

    def forward(self, tokens: torch.Tensor):
        b, _, h = tokens.shape
        g, c = self.grid, self.cells_per_token
        x = tokens.reshape(b, g, g, h)
        if g > GRID:  # t x t tokens per cell
            t = g // GRID
            x = x.reshape(b, GRID, t, GRID, t, h).mean((2, 4))
        gy = x.shape[1]  # token rows after pooling: GRID // c
        y = self.cell(x).reshape(b, gy, gy, c, c, PER_CELL)
        # [b, gy, gx, cy, cx, k] -> [b, gy, cy, gx, cx, k] -> [b, GRID, GRID, k]
        cells = y.permute(0, 1, 3, 2, 4, 5).reshape(b, GRID, GRID, PER_CELL)
        return cells, self.image(tokens.mean(1))


def draw_batch(rng: np.random.Generator, n: int, image_size: int, degrade_share: float = DEGRADE_SHARE,
               cover: bool = False):
    """Fresh scenes like the judge's one-image questions: images [n, 3, H, W] in [0, 1] and targets."""
    scenes = []
    for _ in range(n):
        s = random_scene(rng, min_objects=0 if rng.random() < 0.1 else 1)
        if rng.random() < 0.3:
            s = perturb(s, rng) or s
        scenes.append(s)
    imgs = render_batch(scenes, image_size)
    deg = torch.from_numpy(rng.random(n) < degrade_share)
    for i in torch.nonzero(deg).flatten().tolist():
        imgs[i] = degrade(imgs[i], rng)
    tgt = scene_targets(scenes, cover)
    tgt["degraded"] = deg.float()
    return imgs, tgt


def make_heads(cfg: JudgeConfig) -> DenseHeads:
    """Fresh heads on the tower's patch tokens (their initialisation draws from the global torch RNG)."""
    return DenseHeads(cfg.vision_hidden, token_grid(cfg))


def _features(vision_tower, pixels: torch.Tensor, layer: int, strategy: str) -> torch.Tensor:
    """The patch tokens LLaVA feeds its projector (same layer, CLS dropped under "default")."""
    out = vision_tower(pixel_values=pixels, output_hidden_states=True)
    h = out.hidden_states[layer]
    return h[:, 1:] if strategy == "default" else h


def _losses(heads, feats, tgt):
    cells, img = heads(feats)
    center = tgt["center"]
    loss = F.binary_cross_entropy_with_logits(cells[..., 0], center, pos_weight=torch.tensor(4.0, device=center.device))
    start, preds = 1, {}
    for name, k in zip(("color", "shape", "size"), N_ATTR):
        logit = cells[..., start:start + k]
        start += k
        if (tgt[name] >= 0).any():
            loss = loss + F.cross_entropy(logit.reshape(-1, k), tgt[name].reshape(-1), ignore_index=-100)
        preds[name] = logit.argmax(-1)
    nb = len(BACKGROUNDS)
    loss = loss + F.cross_entropy(img[:, :nb], tgt["background"])
    loss = loss + F.binary_cross_entropy_with_logits(img[:, nb], tgt["degraded"])
    preds["center"] = cells[..., 0] > 0
    preds["background"] = img[:, :nb].argmax(-1)
    preds["degraded"] = img[:, nb] > 0
    return loss, preds


def _accuracy(preds, tgt) -> dict[str, float]:
    """center: share of images whose whole 8x8 centre map is exact; attributes: at true object cells."""
    res = {"center": float((preds["center"] == tgt["center"].bool()).flatten(1).all(1).float().mean())}
    for name in ("color", "shape", "size"):
        m = tgt[name] >= 0
        res[name] = float((preds[name][m] == tgt[name][m]).float().mean()) if m.any() else float("nan")
    res["background"] = float((preds["background"] == tgt["background"]).float().mean())
    res["degraded"] = float((preds["degraded"] == tgt["degraded"].bool()).float().mean())
    return res


def _optimiser(params, lr: float, steps: int):
    """AdamW with a short linear warmup and a cosine decay over ``steps``."""
    opt = adamw(params, lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    warm = max(1, min(50, steps // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, steps)))))
    return opt, sched


def _held_out(vision_tower, heads, feat, cfg: JudgeConfig, ip, device, n_eval: int):
    """evaluate() -> per-target accuracy of the heads on a fixed held-out batch (tower in eval mode)."""
    ev_imgs, ev_tgt = draw_batch(np.random.default_rng(np.random.SeedSequence([cfg.seed, 7102])), n_eval,
                                 cfg.image_size, cover=cfg.vision_pretrain_cover)
    ev_pix = clip_preprocess(ev_imgs.to(device), ip)
    ev_tgt = {k: v.to(device) for k, v in ev_tgt.items()}

    def evaluate() -> dict:
        was = vision_tower.training
        vision_tower.eval()
        with torch.no_grad():
            _, preds = _losses(heads, feat(ev_pix), ev_tgt)
        vision_tower.train(was)
        return _accuracy(preds, ev_tgt)

    return evaluate


def _train_batch(rng, cfg: JudgeConfig, ip, device):
    """Fresh scenes, preprocessed pixels and targets for one pretraining step."""
    imgs, tgt = draw_batch(rng, cfg.vision_pretrain_batch, cfg.image_size, cover=cfg.vision_pretrain_cover)
    if cfg.grain_prob > 0:  # the tower must read shapes through the grain the LLaVA stage shows it
        imgs = grain_batch(imgs, cfg.grain_prob, cfg.grain_sigma, rng)
    return clip_preprocess(imgs.to(device), ip), {k: v.to(device) for k, v in tgt.items()}


def pretrain_vision_tower(vision_tower, cfg: JudgeConfig, device="cpu", log=print, image_processor=None,
                          layer: int = -1, strategy: str | None = None, eval_every: int = 0,
                          on_eval=None, n_eval: int = 256, heads: DenseHeads | None = None) -> dict:
    """Train `vision_tower` in place for cfg.vision_pretrain_steps steps; returns held-out accuracies.

    Pixels are normalised by the judge's image processor exactly as at training time
    (`clip_preprocess`). `layer`/`strategy` pick the features LLaVA uses (its `vision_feature_layer`
    and `vision_feature_select_strategy`). Global torch RNG is left as it was, so the LLaVA stage
    that follows draws the same numbers with or without this stage. on_eval(step, seconds, acc) is
    called every eval_every steps (learning curves). ``heads``: the caller's DenseHeads (from
    ``make_heads``; train_judge makes them before this stage, outside its forked RNG), else made here.
    """
    ip = image_processor or build_processor(cfg).image_processor
    strategy = strategy or "default"
    steps = cfg.vision_pretrain_steps
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed + 7100)
        feat = lambda px: _features(vision_tower, px, layer, strategy)  # noqa: E731
        heads = heads if heads is not None else make_heads(cfg).to(device)
        params = [p for p in vision_tower.parameters() if p.requires_grad] + list(heads.parameters())
        opt, sched = _optimiser(params, cfg.vision_pretrain_lr, steps)
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 7101]))
        evaluate = _held_out(vision_tower, heads, feat, cfg, ip, device, n_eval)
        vision_tower.train()
        t0, t_eval, hist = time.time(), 0.0, []
        for step in range(steps):
            pix, tgt = _train_batch(rng, cfg, ip, device)
            loss, _ = _losses(heads, feat(pix), tgt)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            hist.append(loss.item())
            if eval_every and (step + 1) % eval_every == 0 and on_eval is not None:
                te = time.time()
                acc = evaluate()
                on_eval(step + 1, te - t0 - t_eval, acc)  # training seconds, evaluations excluded
                t_eval += time.time() - te
            if log and (step + 1) % 100 == 0:
                log(f"vision pretrain step {step + 1}/{steps}: loss {np.mean(hist[-100:]):.3f} | "
                    f"{time.time() - t0:.0f}s")
        acc = evaluate()
        opt.zero_grad(set_to_none=True)
    if log:
        log("vision pretrain held-out accuracy: " + ", ".join(f"{k} {v:.3f}" for k, v in acc.items()))
    return {**acc, "seconds": time.time() - t0 - t_eval, "loss_final": float(np.mean(hist[-20:])) if hist else float("nan")}
