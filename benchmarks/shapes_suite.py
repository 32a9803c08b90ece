"""Suite ``shapes``: the embedded world's held-out eval split, scored by the exact oracle."""

from __future__ import annotations

from functools import cached_property
from typing import Sequence

import pandas as pd
import torch

from harness.suite import Suite
from harness.world import oracle
from harness.world.dataset import EditSample, build_split, result_combo

# Values of the ``composition`` column: does the edit produce a (colour, shape) never made in
# training (``world.heldout``)? "n/a" for edits that produce no new composition (remove, move, ...).
HELD_OUT, SEEN, NO_RESULT = "held_out", "seen", "n/a"


def composition(sample: EditSample, heldout: frozenset[tuple[str, str]]) -> str:
    combo = result_combo(sample.category, sample.spec, sample.source_scene)
    if combo is None:
        return NO_RESULT
    return HELD_OUT if tuple(combo) in heldout else SEEN


class ShapesSuite(Suite):
    name = "shapes"
    metrics = ("edit_success", "preservation", "realism", "pixel_mse_target", "pixel_mse_unedited")

    @cached_property
    def _samples(self) -> list[EditSample]:
        return build_split(self.ctx.world, "eval")

    def samples(self) -> list[EditSample]:
        return self._samples

    def score(self, samples: Sequence[EditSample], outputs: torch.Tensor) -> pd.DataFrame:
        heldout = self.ctx.world.heldout_pairs()
        rows = []
        for sample, out in zip(samples, outputs):
            metrics = oracle.score(sample, out)
            # "all three" is the paper-style strict success: the edit, nothing else, cleanly.
            strict = float(metrics["edit_success"] >= 1 and metrics["preservation"] >= 1 and metrics["realism"] >= 0.99)
            rows.append({"sample_id": sample.id, "category": sample.category,
                         "composition": composition(sample, heldout),
                         **{m: float(metrics[m]) for m in self.metrics}, "success_all": strict})
        return pd.DataFrame(rows)
