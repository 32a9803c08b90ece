"""The Suite contract and the explicit aggregation of per-sample scores."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Sequence

import pandas as pd
import torch

from harness.method import RunContext
from harness.world.dataset import EditSample

# Columns of a scores row that are not metrics.
ID_COLUMNS = ("method", "suite", "sample_id", "category", "role")


class Suite:
    name: ClassVar[str] = ""
    metrics: ClassVar[tuple[str, ...]] = ()

    def __init__(self, ctx: RunContext):
        self.ctx = ctx

    def samples(self) -> list[EditSample]:
        raise NotImplementedError

    def score(self, samples: Sequence[EditSample], outputs: torch.Tensor) -> pd.DataFrame:
        """One row per sample: ``sample_id``, ``category`` and one column per metric."""
        raise NotImplementedError


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def aggregate(scores: pd.DataFrame) -> dict:
    """``{method: {suite: {metric: micro mean, "macro": {...}, "by_category": {...}, "n": N}}}``.

    micro = mean over samples; macro = mean over categories of the per-category means. Both are
    labelled in the output so that nobody has to guess which one a number is.
    """
    summary: dict[str, dict] = {}
    if scores.empty:
        return summary
    metric_cols = [c for c in scores.columns if c not in ID_COLUMNS and pd.api.types.is_numeric_dtype(scores[c])]
    for (method, suite), df in scores.groupby(["method", "suite"], sort=False):
        by_cat = df.groupby("category")[metric_cols].mean()
        entry: dict[str, Any] = {m: _clean(float(df[m].mean())) for m in metric_cols}
        entry["n"] = int(len(df))
        entry["aggregation"] = "micro (mean over samples); see 'macro' for mean over categories"
        entry["macro"] = {m: _clean(float(by_cat[m].mean())) for m in metric_cols}
        entry["by_category"] = {
            str(cat): {m: _clean(float(row[m])) for m in metric_cols} | {"n": int((df["category"] == cat).sum())}
            for cat, row in by_cat.iterrows()
        }
        summary.setdefault(str(method), {})[str(suite)] = entry
        if "role" in df:
            summary[str(method)]["role"] = str(df["role"].iloc[0])
    return summary
