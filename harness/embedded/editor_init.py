"""The shared editor initialisation: the embedded teacher turned into an editor that copies its source.

NP-Edit starts its generator with an identity warm-up (reference/npedit.md §1.6): flow matching toward
the source itself, so the zero-initialised reference inputs grow until the editor carries the source
through. Run inside every method it was too short to make a copier; here it runs once, long enough, is
cached under ``$HARNESS_HOME/editor/<key>/`` like the teacher and the judge, and every generator method
starts from it, so all of them start from the same editor.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from harness.atomic_io import write_json
from harness.cache import cached_build, entry_key
from harness.embedded.editor_config import EditorInitConfig
from harness.models.edit_model import EditModel
from harness.world.edits import CATEGORIES, sample_edit
from harness.world.render import render_batch
from harness.world.scene import random_scene


def _lr(step: int, cfg: EditorInitConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    p = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))


def _batch(rng: np.random.Generator, n: int, resolution: int) -> tuple[torch.Tensor, list[str]]:
    """Fresh scenes with an instruction each (any category): the editor learns to copy whatever it is asked."""
    scenes, instructions = [], []
    while len(scenes) < n:
        scene = random_scene(rng)
        edit = sample_edit(scene, CATEGORIES[int(rng.integers(len(CATEGORIES)))], rng)
        if edit is not None:
            scenes.append(scene)
            instructions.append(edit.instruction)
    return render_batch(scenes, resolution), instructions


def train_editor(cfg: EditorInitConfig, teacher: EditModel, out_dir: str | Path, progress: bool = True) -> EditModel:
    """Identity warm-up of ``EditModel.from_teacher(teacher)`` (t ~ U[0, 1], target = the source), saved to ``out_dir``."""
    from harness.editor import trainable
    from harness.models.losses import uniform_flow_matching_loss

    cfg.validate()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0xED17]))
    editor = trainable(EditModel.from_teacher(teacher, ref_mode=cfg.ref_mode)).train()
    opt = torch.optim.AdamW(editor.trainable_parameters(), lr=cfg.lr, weight_decay=0.0)
    resolution = int(teacher.transformer.config.sample_size)
    losses, t0 = [], time.time()
    for step in tqdm(range(cfg.steps), desc="editor init (identity warm-up)", disable=not progress):
        for group in opt.param_groups:
            group["lr"] = _lr(step, cfg)
        pixels, instructions = _batch(rng, cfg.batch_size, resolution)
        x = editor.encode_image(pixels)
        loss = uniform_flow_matching_loss(editor, x, instructions, ref=x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    editor.eval().requires_grad_(False)
    editor.save_pretrained(out_dir)
    write_json(Path(out_dir) / "train_log.json", {"config": asdict(cfg), "wall_s": round(time.time() - t0, 1),
                                                  "loss_first50": float(np.mean(losses[:50])),
                                                  "loss_last50": float(np.mean(losses[-50:])),
                                                  "losses_every10": [round(v, 5) for v in losses[::10]]})
    return editor


def editor_key(cfg: EditorInitConfig, teacher_key: str) -> dict:
    """The editor is keyed by its own config and by the teacher it starts from."""
    return {"teacher": teacher_key, "editor": asdict(cfg)}


def load_or_train_editor(cfg: EditorInitConfig, teacher: EditModel, teacher_key: str, force: bool = False,
                         progress: bool = True) -> Path:
    """The cached editor initialisation's folder (trained on first use, or installed from a shipped copy)."""
    cfg.validate()
    return cached_build("editor", editor_key(cfg, teacher_key),
                        lambda tmp: train_editor(cfg, teacher, tmp, progress=progress), force=force)


def editor_entry_name(cfg: EditorInitConfig, teacher_key: str) -> str:
    return entry_key("editor", editor_key(cfg, teacher_key))
