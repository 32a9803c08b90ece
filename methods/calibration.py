"""Two calibration bounds that every report shows beside the trained methods.

``copy`` returns the source unchanged: the score a method gets for doing nothing (lower bound on
edit success, upper bound on preservation). ``target`` returns the true target: it is
privileged (it reads eval targets, which no real method may) and exists only to show what a
perfect edit scores under each metric.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from harness.method import Method
from harness.world.dataset import EditSample


class CopyMethod(Method):
    role = "lower bound"

    def edit(self, samples: Sequence[EditSample], steps: int | None = None) -> torch.Tensor:
        return torch.stack([s.source for s in samples])


class TargetMethod(Method):
    role = "upper bound"
    privileged = True

    def edit(self, samples: Sequence[EditSample], steps: int | None = None) -> torch.Tensor:
        missing = [s.id for s in samples if s.target is None]
        if missing:
            raise ValueError(f"'target' needs suite samples with targets; {missing[0]} has none")
        return torch.stack([s.target for s in samples])
