"""``prepare``: build the embedded world and train the embedded models into $HARNESS_HOME.

The world is rebuilt deterministically from its config in seconds, so its cache entry is a record
for people (a data card and a preview grid). The teacher and the judge are trained once per config
hash, in parallel, one process and one thread each: tiny models use a core each better than two
threads share one model. A second ``prepare`` finds both in the cache and returns in seconds.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections import Counter
from dataclasses import asdict

import torch

from harness.atomic_io import atomic_write_bytes, write_json
from harness.cache import harness_home
from harness.rundir import png_bytes
from harness.world.dataset import WorldConfig, build_split, world_hash


def preview_grid(samples, n: int = 8) -> torch.Tensor:
    """Rows of (source | target) pairs, 1 px gaps, for a quick look at the data."""
    rows = []
    for s in samples[:n]:
        pad = torch.ones(3, s.source.shape[1], 1)
        pair = [s.source, pad, s.target if s.target is not None else torch.zeros_like(s.source)]
        rows.append(torch.cat(pair, dim=2))
        rows.append(torch.ones(3, 1, rows[-1].shape[2]))
    return torch.cat(rows[:-1], dim=1)


def prepare_world(cfg: WorldConfig) -> dict:
    out = harness_home() / "world" / world_hash(cfg)
    card = {"path": str(out), "world_hash": world_hash(cfg), "config": asdict(cfg), "splits": {}}
    for split in ("unpaired", "paired", "eval"):
        samples = build_split(cfg, split)
        card["splits"][split] = {"n": len(samples), "categories": dict(Counter(s.category for s in samples))}
        if split == "eval":
            atomic_write_bytes(out / "preview_eval.png", png_bytes(preview_grid(samples)))
    write_json(out / "card.json", card)
    return card


def _train_one(kind: str, cfg_dicts: dict, force: bool, threads: int) -> str:
    """Worker entry point (a spawned process): train or reuse one cached model. The teacher's worker goes
    on to the editor initialisation, which starts from it."""
    torch.set_num_threads(threads)
    if kind == "teacher":
        from harness.cache import entry_key
        from harness.embedded.editor_config import EditorInitConfig
        from harness.embedded.editor_init import load_or_train_editor
        from harness.embedded.teacher import TeacherConfig, load_or_train_teacher

        teacher_cfg = TeacherConfig(**cfg_dicts["teacher"])
        teacher = load_or_train_teacher(teacher_cfg, force=force)
        load_or_train_editor(EditorInitConfig(**cfg_dicts["editor"]), teacher,
                             entry_key("teacher", teacher_cfg.cache_key()), force=force)
    else:
        from harness.embedded.judge.config import JudgeConfig
        from harness.embedded.judge.scorer import load_or_train_judge

        load_or_train_judge(JudgeConfig(**cfg_dicts["judge"]), force=force)
    return kind


def prepare_models(teacher_cfg, judge_cfg, editor_cfg, force: bool = False, parallel: bool = True) -> dict[str, float]:
    """Train (or find in the cache) the teacher, then the editor initialisation, beside the judge;
    returns seconds per job ("teacher" covers both of its models)."""
    cfgs = {"teacher": asdict(teacher_cfg), "judge": asdict(judge_cfg), "editor": asdict(editor_cfg)}
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    if parallel and (os.cpu_count() or 1) >= 2:
        ctx = mp.get_context("spawn")  # fork after torch has started threads can deadlock
        with ctx.Pool(2) as pool:
            def done(kind: str) -> None:  # runs in this process as each worker finishes
                seconds[kind] = round(time.perf_counter() - start, 1)

            results = [pool.apply_async(_train_one, (k, cfgs, force, 1), callback=done) for k in ("teacher", "judge")]
            for res in results:
                res.get()  # re-raises a worker's error here, with its message
    else:
        for kind in ("teacher", "judge"):
            _train_one(kind, cfgs, force, torch.get_num_threads())
            seconds[kind] = round(time.perf_counter() - start, 1)
    return seconds
