"""Figures for report.md from the run files alone (seaborn + PIL). Curves take every merged run's
metrics.jsonl; the qualitative grid takes one run's outputs/."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pandas as pd
from PIL import Image

from harness.atomic_io import atomic_write_bytes, read_jsonl
from reports.load import RunSet, metric_columns
from reports.tables import LOWER_IS_BETTER


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _smooth(values: pd.Series) -> pd.Series:
    """Centred rolling mean over ~1/8 of the points: one logged batch is too noisy to show a trend."""
    return values.rolling(max(1, len(values) // 8), center=True, min_periods=1).mean()


def training_curves(runs: RunSet, path: Path) -> Path | None:
    """Every logged loss / reward over steps, one panel per quantity, one colour per method: the logged
    points faint, their rolling mean as the line. The oracle's edit success on the learning-curve eval
    samples joins as its own panel, so the judge's view and the oracle's sit side by side."""
    import seaborn as sns

    train = runs.events_of("train")
    if train.empty:
        return None
    keys = [c for c in train.columns if c.startswith(("loss_", "reward")) and train[c].notna().any()]
    if not keys:
        return None
    long = train.melt(id_vars=["method", "step"], value_vars=keys, var_name="quantity").dropna()
    curve = runs.events_of("curve")
    # held-fixed eval samples: the oracle's edit success and, for judge-trained methods, the judge's reward
    for col, label in (("eval_edit_success", "oracle eval_edit_success"), ("eval_judge_reward", "judge eval_reward")):
        if curve.empty or col not in curve:
            continue
        fixed = curve[curve["method"].isin(set(long["method"]))][["method", "step", col]].dropna()
        long = pd.concat([long, fixed.rename(columns={col: "value"}).assign(quantity=label)], ignore_index=True)
    long = long.sort_values(["method", "quantity", "step"]).reset_index(drop=True)
    long["smoothed"] = long.groupby(["method", "quantity"], sort=False)["value"].transform(_smooth)
    n_panels = long["quantity"].nunique()
    grid = sns.FacetGrid(long, col="quantity", hue="method", col_wrap=min(4, n_panels), height=2.6,
                         sharey=False, sharex=False)
    grid.map_dataframe(sns.scatterplot, x="step", y="value", alpha=0.3, s=10)
    grid.map_dataframe(sns.lineplot, x="step", y="smoothed")
    grid.set_axis_labels("step", "value")
    grid.add_legend()
    return _save(grid.figure, path)


def curve_metric(curve: pd.DataFrame) -> str:
    """The headline metric of the learning curves: strict success (the edit done, nothing else changed,
    cleanly) where the suite scores it, else edit success."""
    return "eval_success_all" if "eval_success_all" in curve else "eval_edit_success"


def compute_curves(runs: RunSet, path: Path, metric: str | None = None) -> Path | None:
    """Oracle metric against training seconds and against generator NFE, one line per method (all on one axis)."""
    import seaborn as sns

    curve = runs.events_of("curve")
    metric = metric or (curve_metric(curve) if not curve.empty else "eval_edit_success")
    if curve.empty or metric not in curve:
        return None
    fig, axes = _pyplot().subplots(1, 2, figsize=(9, 3.2))
    sns.lineplot(data=curve, x="wall_seconds", y=metric, hue="method", marker="o", ax=axes[0])
    if "nfe" in curve:
        sns.lineplot(data=curve, x="nfe", y=metric, hue="method", marker="o", ax=axes[1])
    axes[0].set_xlabel("training wall-clock seconds")
    axes[1].set_xlabel("generator forward passes (NFE)")
    return _save(fig, path)


def at_equal_budget(runs: RunSet, metric: str | None = None) -> pd.DataFrame:
    """Each method's metric at the largest curve point within the smallest final budget of all
    methods, by wall-clock seconds and by NFE."""
    curve = runs.events_of("curve")
    metric = metric or (curve_metric(curve) if not curve.empty else "eval_edit_success")
    if curve.empty or metric not in curve:
        return pd.DataFrame()
    rows = []
    for budget_col in ("wall_seconds", "nfe"):
        if budget_col not in curve:
            continue
        budget = curve.groupby("method")[budget_col].max().min()
        for method, df in curve.groupby("method", sort=False):
            within = df[df[budget_col] <= budget]
            if within.empty:
                continue
            last = within.sort_values(budget_col).iloc[-1]
            rows.append({"budget": f"{budget_col} <= {budget:g}", "method": method, metric: last[metric],
                         "at": last[budget_col]})
    return pd.DataFrame(rows)


def category_bars(runs: RunSet, suite: str, path: Path) -> Path | None:
    """Per-category means of every higher-is-better metric, one bar per method (95 % bootstrap CI
    over samples, seaborn's default)."""
    import seaborn as sns

    df = runs.scores[runs.scores["suite"] == suite]
    metrics = [m for m in metric_columns(df) if m not in LOWER_IS_BETTER]
    if df.empty or not metrics:
        return None
    long = df.melt(id_vars=["method", "category"], value_vars=metrics, var_name="metric").dropna()
    grid = sns.catplot(data=long, x="category", y="value", hue="method", row="metric", kind="bar",
                       height=2.4, aspect=3.2, sharey=False, errorbar=("ci", 95), seed=0)
    grid.tick_params(axis="x", labelrotation=30)
    return _save(grid.figure, path)


def reward_gap_frame(runs: RunSet) -> pd.DataFrame:
    """Per method and learning-curve step: the judge's training reward (mean of the train rows since
    the previous curve point; ``reward_edit`` when logged, else ``reward``) beside the oracle's
    ``eval_edit_success``; gap = reward - oracle. A gap that grows while the reward rises is reward hacking."""
    train, curve = runs.events_of("train"), runs.events_of("curve")
    if train.empty or curve.empty or "eval_edit_success" not in curve:
        return pd.DataFrame()
    rows = []
    for method, c in curve.groupby("method", sort=False):
        t = train[train["method"] == method]
        col = next((k for k in ("reward_edit", "reward") if k in t and t[k].notna().any()), None)
        if col is None:
            continue
        c = c.sort_values("step")
        prev = -1
        for _, point in c.iterrows():
            window = t[(t["step"] > prev) & (t["step"] <= point["step"])][col].dropna()
            prev = point["step"]
            if window.empty:
                continue
            reward = float(window.mean())
            rows.append({"method": method, "step": int(point["step"]), "reward": col, "judge_reward": reward,
                         "oracle_edit_success": float(point["eval_edit_success"]),
                         "gap": reward - float(point["eval_edit_success"])})
    return pd.DataFrame(rows)


def reward_gap(runs: RunSet, path: Path) -> tuple[Path, pd.DataFrame] | None:
    """Judge-said success and oracle success over training steps, and their gap."""
    import seaborn as sns

    gap = reward_gap_frame(runs)
    if gap.empty:
        return None
    long = gap.melt(id_vars=["method", "step"], value_vars=["judge_reward", "oracle_edit_success"],
                    var_name="who says success")
    fig, axes = _pyplot().subplots(1, 2, figsize=(10, 3.2))
    sns.lineplot(data=long, x="step", y="value", hue="method", style="who says success", marker="o", ax=axes[0])
    axes[0].set_ylabel("success (0-1)")
    sns.lineplot(data=gap, x="step", y="gap", hue="method", marker="o", ax=axes[1])
    axes[1].axhline(0.0, color="grey", lw=0.8)
    axes[1].set_ylabel("judge reward - oracle")
    return _save(fig, path), gap


def _outputs(runs: RunSet, suite: str) -> pd.DataFrame:
    """outputs.jsonl of every run with absolute paths, methods renamed as in the scores."""
    frames = []
    renamed = set(runs.scores["method"]) if not runs.scores.empty else set()
    for d, name in zip(runs.dirs, runs.names):
        df = pd.DataFrame(read_jsonl(d / "outputs" / "outputs.jsonl"))
        if df.empty or "path" not in df:
            continue
        df = df[(df["suite"] == suite) & df["path"].notna()].copy()
        df["file"] = [d / p for p in df["path"]]
        df["method"] = [f"{name}/{m}" if f"{name}/{m}" in renamed else m for m in df["method"]]
        df["source_file"] = [d / "outputs" / "_source" / suite / f"{sid}.png" for sid in df["sample_id"]]
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _grid_columns(runs: RunSet, methods: list[str]) -> tuple[list[str], str | None]:
    """Method columns in run order, and the upper-bound row whose outputs are the targets (shown last,
    as "target"; any further upper bound would repeat it, so it is dropped)."""
    roles = {}
    if not runs.scores.empty and "role" in runs.scores:
        roles = dict(runs.scores.drop_duplicates("method")[["method", "role"]].itertuples(index=False))
    bounds = [m for m in methods if roles.get(m) == "upper bound"]
    return [m for m in methods if m not in bounds], (bounds[0] if bounds else None)


def _row_label(instruction: str, category: str, width: int = 30) -> str:
    text = textwrap.fill(instruction or "", width=width, max_lines=4, placeholder=" ...")
    return f"{text}\n({category})" if category else text


def qualitative_grid(runs: RunSet, suite: str, path: Path, n: int = 8, tile_inches: float = 1.15
                     ) -> tuple[Path, list[str]] | None:
    """Rows = the first n samples of the first run, each labelled with its instruction; columns =
    source, every method's output (of every merged run) for those same samples, then the target (the
    upper-bound row's outputs, when the run has one). The header row names each column."""
    import numpy as np

    outputs = _outputs(runs, suite)
    if outputs.empty:
        return None
    methods, target = _grid_columns(runs, list(dict.fromkeys(outputs["method"])))
    ids = list(dict.fromkeys(outputs["sample_id"]))[:n]
    files = outputs.drop_duplicates(["method", "sample_id"]).set_index(["method", "sample_id"])["file"]
    first_rows = outputs.drop_duplicates("sample_id").set_index("sample_id")
    columns = ["source", *methods, *(["target"] if target else [])]
    keys = {"source": None, **{m: m for m in methods}, **({"target": target} if target else {})}

    def tile(column: str, sid: str):
        f = first_rows["source_file"].get(sid) if column == "source" else files.get((keys[column], sid))
        return Image.open(f).convert("RGB") if f is not None and Path(f).exists() else None

    tiles = [[tile(c, sid) for c in columns] for sid in ids]
    if all(t is None for row in tiles for t in row):
        return None
    plt = _pyplot()
    label_inches = 2.3
    fig = plt.figure(figsize=(label_inches + len(columns) * tile_inches, 0.45 + len(ids) * tile_inches))
    grid = fig.add_gridspec(len(ids), len(columns) + 1, width_ratios=[label_inches / tile_inches] + [1] * len(columns),
                            wspace=0.06, hspace=0.06)
    for r, sid in enumerate(ids):
        label = fig.add_subplot(grid[r, 0])
        label.axis("off")
        row = first_rows.loc[sid]
        label.text(0.97, 0.5, _row_label(str(row.get("instruction") or sid), str(row.get("category") or "")),
                   ha="right", va="center", fontsize=8.5, transform=label.transAxes)
        if r == 0:
            label.set_title("instruction", fontsize=9.5, fontweight="bold", loc="right")
        for c, (column, t) in enumerate(zip(columns, tiles[r])):
            ax = fig.add_subplot(grid[r, c + 1], aspect="equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if t is not None:
                ax.imshow(np.asarray(t), interpolation="nearest")
            else:
                ax.text(0.5, 0.5, "missing", ha="center", va="center", fontsize=8, color="grey",
                        transform=ax.transAxes)
            if r == 0:
                ax.set_title(textwrap.fill(column, width=14), fontsize=9.5, fontweight="bold")
        ax.apply_aspect()  # square tiles leave a gap in their cell: the label takes the tiles' height,
        box, own = ax.get_position(), label.get_position()  # so it centres on them and its header aligns
        label.set_position([own.x0, box.y0, own.width, box.height])
    return _save(fig, path), columns
