"""``prepare``: build the embedded world into $HARNESS_HOME, keyed by its hash.

Runs rebuild the world deterministically from its config (it takes seconds), so the cache is a
record for people: a data card with split sizes per category and a preview grid of samples.
"""

from __future__ import annotations

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
