"""Read one or several run directories into DataFrames: scores, metric events, provenance.

Only the run's files are read (scores.jsonl, metrics.jsonl, provenance.json, config.yaml). When
several runs hold the same method name, that method is renamed ``<run>/<method>`` in every frame
so that rows, curves and provenance stay matched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from harness.atomic_io import read_jsonl
from harness.suite import NON_METRIC_COLUMNS as SUITE_NON_METRIC

# Ids, suite tags and judge bookkeeping (harness.suite), plus the run a merged row came from.
NON_METRIC_COLUMNS = tuple(SUITE_NON_METRIC) + ("run",)


def run_names(run_dirs: list[Path]) -> list[str]:
    """Folder names, or ``parent/name`` where two runs share a name (e.g. ``full/seed0``)."""
    names = [d.name for d in run_dirs]
    if len(set(names)) == len(names):
        return names
    return [f"{d.parent.name}/{d.name}" for d in run_dirs]


def metric_columns(df: pd.DataFrame) -> list[str]:
    """Numeric, non-boolean columns that are not ids or judge bookkeeping and hold a value here
    (merged suites leave each other's metrics empty)."""
    return [c for c in df.columns if c not in NON_METRIC_COLUMNS
            and pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
            and df[c].notna().any()]


@dataclass
class RunSet:
    dirs: list[Path]
    names: list[str]
    scores: pd.DataFrame
    events: pd.DataFrame  # every metrics.jsonl row, with "run" and the (renamed) "method"
    provenance: dict[str, dict] = field(default_factory=dict)  # run name -> provenance.json
    configs: dict[str, dict] = field(default_factory=dict)  # run name -> config.yaml

    def events_of(self, kind: str) -> pd.DataFrame:
        if self.events.empty or "event" not in self.events:
            return pd.DataFrame()
        df = self.events[self.events["event"] == kind]
        return df.dropna(axis=1, how="all").reset_index(drop=True)


def _read_frame(path: Path, run: str) -> pd.DataFrame:
    df = pd.DataFrame(read_jsonl(path)) if path.exists() else pd.DataFrame()
    if not df.empty:
        df["run"] = run
    return df


def load_runs(run_dirs: list[Path]) -> RunSet:
    dirs = [Path(d) for d in run_dirs]
    for d in dirs:
        if not (d / "scores.jsonl").exists():
            raise FileNotFoundError(f"{d / 'scores.jsonl'} not found: is {d} a run directory of `harness run`?")
    names = run_names(dirs)
    scores = pd.concat([_read_frame(d / "scores.jsonl", n) for d, n in zip(dirs, names)], ignore_index=True)
    frames = [_read_frame(d / "metrics.jsonl", n) for d, n in zip(dirs, names)]
    frames = [f for f in frames if not f.empty]
    events = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(dirs) > 1 and not scores.empty:
        clash = scores.groupby("method")["run"].nunique()
        clash = set(clash[clash > 1].index)
        for df in (scores, events):
            if not df.empty and "method" in df:
                hit = df["method"].isin(clash)
                df.loc[hit, "method"] = df.loc[hit, "run"] + "/" + df.loc[hit, "method"]
    prov, cfgs = {}, {}
    for d, n in zip(dirs, names):
        p = d / "provenance.json"
        prov[n] = json.loads(p.read_text()) if p.exists() else {}
        c = d / "config.yaml"
        cfgs[n] = (yaml.safe_load(c.read_text()) or {}) if c.exists() else {}
    return RunSet(dirs, names, scores, events, prov, cfgs)


def _short_sha(sha: str) -> str:
    return sha[:10] + ("-dirty" if sha.endswith("-dirty") else "") if len(sha) > 12 else sha


def method_provenance(runs: RunSet, method: str, run: str) -> dict:
    """What a method row must carry: git sha, config hash, seed, training and editing steps."""
    prov, cfg = runs.provenance.get(run, {}), runs.configs.get(run, {})
    base = method.split("/", 1)[1] if method.startswith(f"{run}/") else method
    section = cfg.get(base) if isinstance(cfg.get(base), dict) else {}
    return {"seed": cfg.get("seed", "?"),
            "train steps": section.get("steps", "-"),
            "edit steps": section.get("inference_steps", "-"),
            "git": _short_sha(str(prov.get("git_sha", "?"))),
            "config": str(prov.get("config_hash", "?"))}
