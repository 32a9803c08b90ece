"""The Suite contract and the explicit aggregation of per-sample scores."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar, Sequence

import pandas as pd
import torch

from harness.config import ConfigError
from harness.method import RunContext
from harness.world.dataset import EditSample

# Columns of a scores row that are not metrics.
ID_COLUMNS = ("method", "suite", "sample_id", "category", "role")
# Tags a suite may add to its rows; each present one gets a ``by_<tag>`` block in the summary
# (shapes: held-out compositions; gedit: instruction language).
BREAKDOWN_COLUMNS = ("composition", "language")
# Other non-metric columns suites write (strings or flags, never averaged as metrics).
TAG_COLUMNS = BREAKDOWN_COLUMNS + ("intersection", "key", "parse_ok", "retries", "n_retries", "attempts")
# String columns a judge protocol writes; the summary lists their values (which judge, which template).
JUDGE_COLUMNS = ("judge_id", "judge_mode", "judge_scale", "protocol", "protocol_version", "template_id",
                 "template_path")
NON_METRIC_COLUMNS = ID_COLUMNS + TAG_COLUMNS


class BenchmarkError(ConfigError):
    """A benchmark folder, file or field the suite cannot use; names the file and the field.
    A ConfigError, so the CLI prints it on one line and exits with status 2."""


class Suite:
    name: ClassVar[str] = ""
    metrics: ClassVar[tuple[str, ...]] = ()
    # A dataclass whose fields become ``<suite>.<key>`` overrides (like a method's Config).
    Config: ClassVar[Any] = None

    def __init__(self, ctx: RunContext):
        self.ctx = ctx

    @property
    def cfg(self) -> Any:
        """This suite's typed config section (None when the suite has no Config)."""
        return getattr(self.ctx.cfg, "suites", {}).get(self.name)

    def samples(self) -> list[EditSample]:
        raise NotImplementedError

    def score(self, samples: Sequence[EditSample], outputs: torch.Tensor) -> pd.DataFrame:
        """One row per sample: ``sample_id``, ``category`` and one column per metric."""
        raise NotImplementedError

    def load_report(self) -> dict:
        """What loading found, logged and put into the summary: e.g. ``{"skipped": 2, ...}``."""
        return {}

    def write_official(self, method: str, samples: Sequence[EditSample], outputs: torch.Tensor,
                       run_dir: Path) -> None:
        """Also write outputs where a benchmark's own scripts expect them (default: nothing)."""


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def metric_columns(scores: pd.DataFrame) -> list[str]:
    return [c for c in scores.columns if c not in NON_METRIC_COLUMNS
            and pd.api.types.is_numeric_dtype(scores[c]) and not pd.api.types.is_bool_dtype(scores[c])]


def _block(df: pd.DataFrame, metrics: list[str]) -> dict:
    """Micro means, ``n`` and the macro (mean of per-category means) of one group of rows."""
    by_cat = df.groupby("category")[metrics].mean()
    return ({m: _clean(float(df[m].mean())) for m in metrics} | {"n": int(len(df))}
            | {"macro": {m: _clean(float(by_cat[m].mean())) for m in metrics}})


def _judge_block(df: pd.DataFrame) -> dict:
    """Which judge and template produced a judged suite's numbers, and how many replies parsed
    (metrics are means over parsed samples only: an unparsed score is missing, never made up)."""
    out = {c: sorted(map(str, df[c].dropna().unique())) for c in JUDGE_COLUMNS if c in df and df[c].notna().any()}
    if "parse_ok" in df and df["parse_ok"].notna().any():
        ok = df["parse_ok"].fillna(False).astype(bool)
        out |= {"parsed": int(ok.sum()), "parse_failures": int((~ok).sum()), "failure_rate": float(1 - ok.mean())}
    return out


def aggregate(scores: pd.DataFrame) -> dict:
    """``{method: {suite: {metric: micro mean, "macro": {...}, "by_category": {...}, "n": N}}}``.

    micro = mean over samples; macro = mean over categories of the per-category means. Both are
    labelled in the output so that nobody has to guess which one a number is. Rows tagged with a
    BREAKDOWN_COLUMNS column add ``by_<column>``: the same numbers per tag value.
    """
    summary: dict[str, dict] = {}
    if scores.empty:
        return summary
    all_metrics = metric_columns(scores)
    for (method, suite), df in scores.groupby(["method", "suite"], sort=False):
        metric_cols = [m for m in all_metrics if df[m].notna().any()]  # another suite's metrics are not ours
        by_cat = df.groupby("category")[metric_cols].mean()
        entry: dict[str, Any] = {m: _clean(float(df[m].mean())) for m in metric_cols}
        entry["n"] = int(len(df))
        entry["aggregation"] = "micro (mean over samples); see 'macro' for mean over categories"
        entry["macro"] = {m: _clean(float(by_cat[m].mean())) for m in metric_cols}
        entry["by_category"] = {
            str(cat): {m: _clean(float(row[m])) for m in metric_cols} | {"n": int((df["category"] == cat).sum())}
            for cat, row in by_cat.iterrows()
        }
        judge = _judge_block(df)
        if judge:
            entry["judge"] = judge
        for col in BREAKDOWN_COLUMNS:
            if col in df and df[col].notna().any():
                entry[f"by_{col}"] = {str(v): _block(g, metric_cols) for v, g in df.groupby(col, sort=True)}
        summary.setdefault(str(method), {})[str(suite)] = entry
        if "role" in df:
            summary[str(method)]["role"] = str(df["role"].iloc[0])
    return summary
