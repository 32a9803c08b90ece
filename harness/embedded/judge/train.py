"""Train the embedded judge: vision-tower pretraining, then the LLaVA loop (one-image questions first,
then the pairs), saved as a plain LLaVA checkpoint with the prompting options it was trained with."""
from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
import torch

from harness.atomic_io import write_json
from harness.embedded.optim import adamw
from harness.scorers.scorer import SCORER_OPTION_NAMES, SCORER_OPTIONS, HFVLMScorer

from .config import JudgeConfig
from .data import sample_examples, vqa_examples
from .losses import answer_loss, yes_no_loss
from .model import build_model, build_processor

NAN = float("nan")


def _scorer(cfg: JudgeConfig, device: str):
    """A fresh judge wrapped as a trainable scorer that prompts as every later load of it will."""
    processor = build_processor(cfg)
    model = build_model(cfg, processor.tokenizer)
    scorer = HFVLMScorer.from_parts(model, processor.tokenizer, processor.image_processor, processor,
                                    device=device, freeze=False)
    for name in SCORER_OPTION_NAMES:
        setattr(scorer, name, getattr(cfg, name))
    return scorer, processor


def _pretrain_tower(model, cfg: JudgeConfig, device: str, log, image_processor) -> dict | None:
    """Dense scene-graph targets for the vision tower alone (vision_pretrain.py), or None when off."""
    if cfg.vision_pretrain_steps <= 0:
        return None
    from .vision_pretrain import make_heads, pretrain_vision_tower

    # made here, outside the stage's forked RNG: their initialisation advances the global torch RNG
    heads = make_heads(cfg).to(device)
    return pretrain_vision_tower(model.model.vision_tower, cfg, device, log, image_processor,
                                 model.config.vision_feature_layer, model.config.vision_feature_select_strategy,
                                 heads=heads)


def _optimiser(params, cfg: JudgeConfig):
    """AdamW with linear warmup and a cosine decay over cfg.steps."""
    opt = adamw(params, lr=cfg.lr, betas=(0.9, 0.98), weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, cfg.warmup))
        * 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, cfg.steps)))))
    return opt, sched


def _fixed_loss(scorer: HFVLMScorer, fixed, resolution: int) -> float:
    """Mean Yes/No loss on a held-fixed batch (before/after training), in eval mode and without gradients."""
    scorer.model.eval()
    with torch.no_grad():
        r = np.random.default_rng(0)
        parts = [yes_no_loss(scorer, f, r, resolution)[0] * len(f) for f in fixed if f]
    scorer.model.train()
    return float(sum(parts) / sum(len(f) for f in fixed))


def _step_loss(scorer: HFVLMScorer, cfg: JudgeConfig, step: int, rng, draw, change_head):
    """The loss of one LLaVA step and its history row (pair loss, pair acc, single loss, single acc, VQA
    loss, change-map loss; NaN where the step has none). The curriculum: one-object scenes first (an
    attribute question then needs no binding to an object), one-image questions before the pairs."""
    k_obj = 1 if step < cfg.one_object_steps else 3
    pair_step = step - cfg.single_only_steps  # < 0: before the pair stage
    k_pair = 1 if pair_step < cfg.one_object_pair_steps else 3
    grain = (cfg.grain_prob, cfg.grain_sigma)
    aux = ch = None
    if cfg.vqa_batch and step % max(1, cfg.vqa_every) == 0:
        aux = answer_loss(scorer, vqa_examples(rng, cfg.vqa_batch, k_obj), rng, cfg.image_size)
    if pair_step < 0:
        _, singles = draw(rng, 0, cfg.pair_batch + cfg.single_batch, k_obj)
        ls, as_, _ = yes_no_loss(scorer, singles, rng, cfg.image_size, None, *grain)
        lp, ap, loss = torch.tensor(NAN), torch.tensor(NAN), ls
    else:
        pairs, singles = draw(rng, cfg.pair_batch, cfg.single_batch, k_obj, k_pair)
        lp, ap, ch = yes_no_loss(scorer, pairs, rng, cfg.image_size, change_head, *grain)
        ls, as_, _ = yes_no_loss(scorer, singles, rng, cfg.image_size, None, *grain)
        loss = (lp * cfg.pair_batch + ls * cfg.single_batch) / (cfg.pair_batch + cfg.single_batch)
    if aux is not None:
        loss = loss + 0.5 * aux
    if ch is not None:
        loss = loss + cfg.change_aux_weight * ch
    row = (lp.item(), ap.item(), ls.item(), as_.item(), NAN if aux is None else aux.item(),
           NAN if ch is None else ch.item())
    return loss, row


def _log_progress(log, cfg: JudgeConfig, step: int, history: list, t0: float) -> None:
    with warnings.catch_warnings():  # a stage without Yes/No pair losses averages only NaNs
        warnings.simplefilter("ignore", RuntimeWarning)
        h = np.nanmean(history[-50:], axis=0)
    log(f"judge step {step + 1}/{cfg.steps}: pair loss {h[0]:.3f} acc {h[1]:.2f} | "
        f"single loss {h[2]:.3f} acc {h[3]:.2f} | vqa {h[4]:.3f} | change map {h[5]:.3f} | "
        f"{time.time() - t0:.0f}s")


def _save(scorer: HFVLMScorer, processor, cfg: JudgeConfig, out_dir: Path) -> None:
    """The model and processor, plus scorer_options.json: the prompting options every later load uses."""
    scorer.model.eval().to("cpu")
    out_dir.mkdir(parents=True, exist_ok=True)
    scorer.model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    options = {name: True for name in SCORER_OPTION_NAMES if getattr(cfg, name)}
    if not cfg.change_crops:
        options.pop("object_crops", None)  # they only grow the change crops
    if options:
        write_json(out_dir / SCORER_OPTIONS, options)


def train_judge(cfg: JudgeConfig, out_dir, log=print, device: str = "cpu", on_step=None) -> dict:
    """Train the judge and save model + processor into out_dir. Returns a summary dict.

    on_step(step, scorer), if given, is called after every optimiser step (learning curves).
    """
    out_dir = Path(out_dir)
    scorer, processor = _scorer(cfg, device)
    model = scorer.model
    vision_pretrain = _pretrain_tower(model, cfg, device, log, processor.image_processor)
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 7001]))
    fixed_rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 7002]))
    draw = partial(_draw, cfg)
    # held-fixed batch for before/after losses; pairs only count if training reaches them
    fixed = draw(fixed_rng, 64 if cfg.steps > cfg.single_only_steps else 0, 64)
    # training-only linear head for the pair change map (not saved: the judge is a plain LLaVA)
    change_head = (cfg.change_aux_layer, torch.nn.Linear(cfg.text_hidden, 1).to(device)) \
        if cfg.change_aux_weight > 0 else None
    params = list(model.parameters()) + (list(change_head[1].parameters()) if change_head else [])
    opt, sched = _optimiser(params, cfg)
    loss0 = _fixed_loss(scorer, fixed, cfg.image_size)
    history, t0 = [], time.time()
    model.train()
    for step in range(cfg.steps):
        loss, row = _step_loss(scorer, cfg, step, rng, draw, change_head)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        history.append(row)
        if on_step is not None:
            on_step(step, scorer)
        if log and (step + 1) % 50 == 0:
            _log_progress(log, cfg, step, history, t0)
    loss1 = _fixed_loss(scorer, fixed, cfg.image_size)
    _save(scorer, processor, cfg, out_dir)
    summary = {"config": asdict(cfg), "loss_init": loss0, "loss_final": loss1, "seconds": time.time() - t0,
               "vision_pretrain": vision_pretrain,
               "history": [[None if math.isnan(v) else v for v in row] for row in history]}  # strict JSON
    (out_dir / "train_log.json").write_text(json.dumps(summary))
    return summary


def _draw(cfg: JudgeConfig, rng, n_pair: int, n_single: int, k: int = 3, k_pair: int = 3):
    """A batch of Yes/No examples with cfg's mixture (sample_examples)."""
    return sample_examples(rng, n_pair, n_single, cfg.degrade_prob, cfg.probe_types, cfg.remove_share, k, k_pair,
                           cfg.identity_share, cfg.count_near_share)
