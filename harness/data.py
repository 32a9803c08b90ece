"""Training batches for methods, drawn as a pure function of the step (resume-exact, per-rank shards)."""

from __future__ import annotations

import math

from harness.trainer import StepSampler
from harness.world.dataset import PairedDataset, UnpairedDataset, WorldConfig, collate_samples


class StepBatches:
    """``batches(step) -> dict``. ``paired=False`` wraps the unpaired split, whose items have no
    target key at all: an unpaired method cannot reach a target through this object."""

    def __init__(self, world: WorldConfig, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 paired: bool = False, data_fraction: float = 1.0):
        if not 0 < data_fraction <= 1:
            raise ValueError(f"data_fraction must be in (0, 1], got {data_fraction}")
        self.dataset = PairedDataset(world) if paired else UnpairedDataset(world)
        n = max(batch_size, math.ceil(len(self.dataset) * data_fraction))
        self.n = min(n, len(self.dataset))  # the first n samples: nested subsets across fractions
        self.sampler = StepSampler(self.n, batch_size, seed, rank, world_size)

    def __call__(self, step: int) -> dict:
        return collate_samples([self.dataset[i] for i in self.sampler.indices(step)])
