"""``report.md``: Markdown tables built with pandas from ``scores.jsonl`` (and ``provenance.json``).

``python -m harness report RUN_DIR [RUN_DIR ...]`` rebuilds it; several run directories are
merged into one table (method names are prefixed by their run when they collide).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from harness.atomic_io import atomic_write_text, read_jsonl
from harness.suite import ID_COLUMNS

# Metrics where lower is better get an arrow in the header so tables read at a glance.
LOWER_IS_BETTER = {"pixel_mse_target", "pixel_mse_unedited"}


def load_scores(run_dirs: list[Path]) -> pd.DataFrame:
    frames = []
    for run_dir in run_dirs:
        path = Path(run_dir) / "scores.jsonl"
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: is {run_dir} a run directory of `harness run`?")
        df = pd.DataFrame(read_jsonl(path))
        df["run"] = Path(run_dir).name
        frames.append(df)
    scores = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(run_dirs) > 1 and not scores.empty:
        clash = scores.groupby("method")["run"].nunique() > 1
        scores.loc[scores["method"].isin(clash[clash].index), "method"] = scores["run"] + "/" + scores["method"]
    return scores


def _label(method: str, role: str) -> str:
    return method if role in ("method", "", None) else f"{method} ({role})"


def _header(metric: str) -> str:
    return f"{metric} ↓" if metric in LOWER_IS_BETTER else f"{metric} ↑"


def _metric_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in ID_COLUMNS + ("run",) and pd.api.types.is_numeric_dtype(df[c])]


def tables(scores: pd.DataFrame) -> str:
    parts = []
    for suite, df in scores.groupby("suite", sort=False):
        df = df.assign(label=[_label(m, r) for m, r in zip(df["method"], df.get("role", "method"))])
        metrics = _metric_columns(df)
        main = df.groupby("label", sort=False)[metrics].mean()
        main.insert(0, "n", df.groupby("label", sort=False).size().astype(str))  # str: no "140.000"
        main.columns = ["n"] + [_header(m) for m in metrics]
        parts.append(f"## Suite `{suite}`: every metric (micro mean over samples)\n")
        parts.append(main.rename_axis("method").to_markdown(floatfmt=".3f") + "\n")
        for metric in metrics:
            if metric in LOWER_IS_BETTER:
                continue
            by_cat = df.pivot_table(index="label", columns="category", values=metric, aggfunc="mean", sort=False)
            by_cat["macro"] = by_cat.mean(axis=1)
            parts.append(f"### `{metric}` per category (macro = mean over categories)\n")
            parts.append(by_cat.rename_axis("method").to_markdown(floatfmt=".3f") + "\n")
    return "\n".join(parts)


def build_report(run_dirs: list[Path]) -> str:
    run_dirs = [Path(d) for d in run_dirs]
    scores = load_scores(run_dirs)
    lines = ["# Report", ""]
    for run_dir in run_dirs:
        prov_path = run_dir / "provenance.json"
        prov = json.loads(prov_path.read_text()) if prov_path.exists() else {}
        lines.append(f"- run `{run_dir.name}`: git {prov.get('git_sha', 'unknown')}, config {prov.get('config_hash', '?')}, "
                     f"world {prov.get('world_hash', '?')}, engine {prov.get('engine', '?')}, device {prov.get('device', '?')}")
    lines += ["", "Calibration rows: `copy (lower bound)` returns the source unchanged; `target (upper bound)` "
              "returns the true target and is privileged (it reads eval targets). Every method lies between them.", ""]
    if scores.empty:
        lines.append("No scores yet.")
    else:
        lines.append(tables(scores))
    lines += figures(run_dirs[0], list(dict.fromkeys(scores["suite"])) if not scores.empty else [])
    return "\n".join(lines) + "\n"


def figures(run_dir: Path, suites: list[str]) -> list[str]:
    """Plots and grids of the (first) run, written next to report.md and linked from it."""
    from reports import plots

    out = []
    path = plots.training_curves(run_dir)
    if path:
        out += ["## Training curves", "", f"![training curves]({path.name})", ""]
    path = plots.compute_curves(run_dir)
    if path:
        out += ["## Oracle edit success against compute", "",
                "Learning-curve points score the first eval samples during training; their time is not "
                "counted as training time.", "", f"![compute curves]({path.name})", ""]
        equal = plots.at_equal_budget(run_dir)
        if not equal.empty:
            out += ["### At the smallest shared budget", "", equal.to_markdown(index=False, floatfmt=".3f"), ""]
    for suite in suites:
        grid = plots.qualitative_grid(run_dir, suite)
        if grid:
            path, columns = grid
            out += [f"## Samples of suite `{suite}`", "", "Columns: " + ", ".join(columns) + ".", "",
                    f"![{suite} samples]({path.name})", ""]
    return out


def write_report(run_dir: Path, extra_runs: list[Path] | None = None) -> Path:
    run_dir = Path(run_dir)
    text = build_report([run_dir, *(extra_runs or [])])
    return atomic_write_text(run_dir / "report.md", text)
