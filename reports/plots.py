"""Figures for report.md, from metrics.jsonl and outputs/ alone (seaborn + PIL)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from PIL import Image

from harness.atomic_io import atomic_write_bytes, read_jsonl


def _save(fig, path: Path) -> Path:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())
    return path


def events(run_dir: Path, kind: str) -> pd.DataFrame:
    rows = [r for r in read_jsonl(Path(run_dir) / "metrics.jsonl") if r.get("event") == kind]
    return pd.DataFrame(rows)


def training_curves(run_dir: Path) -> Path | None:
    """Every logged loss / reward over steps, one panel per quantity, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import seaborn as sns

    train = events(run_dir, "train")
    if train.empty:
        return None
    keys = [c for c in train.columns if c.startswith(("loss_", "reward")) and train[c].notna().any()]
    if not keys:
        return None
    long = train.melt(id_vars=["method", "step"], value_vars=keys, var_name="quantity").dropna()
    grid = sns.relplot(data=long, x="step", y="value", hue="method", col="quantity", col_wrap=min(4, len(keys)),
                       kind="line", marker="o", height=2.6, facet_kws={"sharey": False})
    return _save(grid.figure, Path(run_dir) / "training_curves.png")


def compute_curves(run_dir: Path, metric: str = "eval_edit_success") -> Path | None:
    """Oracle metric against training seconds and against generator NFE, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    curve = events(run_dir, "curve")
    if curve.empty or metric not in curve:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    sns.lineplot(data=curve, x="wall_seconds", y=metric, hue="method", marker="o", ax=axes[0])
    if "nfe" in curve:
        sns.lineplot(data=curve, x="nfe", y=metric, hue="method", marker="o", ax=axes[1])
    axes[0].set_xlabel("training wall-clock seconds")
    axes[1].set_xlabel("generator forward passes (NFE)")
    return _save(fig, Path(run_dir) / "compute_curves.png")


def at_equal_budget(run_dir: Path, metric: str = "eval_edit_success") -> pd.DataFrame:
    """Each method's metric at the largest curve point within the smallest final budget of all
    methods, by wall-clock seconds and by NFE."""
    curve = events(run_dir, "curve")
    if curve.empty or metric not in curve:
        return pd.DataFrame()
    rows = []
    for budget_col in ("wall_seconds", "nfe"):
        if budget_col not in curve:
            continue
        budget = curve.groupby("method")[budget_col].max().min()
        for method, df in curve.groupby("method"):
            within = df[df[budget_col] <= budget]
            if within.empty:
                continue
            last = within.sort_values(budget_col).iloc[-1]
            rows.append({"budget": f"{budget_col} <= {budget:g}", "method": method, metric: last[metric],
                         "at": last[budget_col]})
    return pd.DataFrame(rows)


def qualitative_grid(run_dir: Path, suite: str, n: int = 8, scale: int = 3) -> tuple[Path, list[str]] | None:
    """Rows = the first n samples; columns = source, then every method's output."""
    run_dir = Path(run_dir)
    outputs = pd.DataFrame(read_jsonl(run_dir / "outputs" / "outputs.jsonl"))
    if outputs.empty:
        return None
    outputs = outputs[(outputs["suite"] == suite) & outputs["path"].notna()]
    methods = list(dict.fromkeys(outputs["method"]))
    ids = list(dict.fromkeys(outputs["sample_id"]))[:n]
    columns = [("source", lambda sid: run_dir / "outputs" / "_source" / suite / f"{sid}.png")]
    by = outputs.set_index(["method", "sample_id"])["path"]
    columns += [(m, lambda sid, m=m: run_dir / by[(m, sid)] if (m, sid) in by.index else None) for m in methods]
    tiles = [[Image.open(p).convert("RGB") if p is not None and Path(p).exists() else None
              for _, p in ((name, get(sid)) for name, get in columns)] for sid in ids]
    first = next((t for row in tiles for t in row if t is not None), None)
    if first is None:
        return None
    w, h = first.size
    pad = 2
    grid = Image.new("RGB", (len(columns) * (w + pad), len(ids) * (h + pad)), "white")
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            if tile is not None:
                grid.paste(tile, (c * (w + pad), r * (h + pad)))
    grid = grid.resize((grid.width * scale, grid.height * scale), Image.NEAREST)
    import io

    buf = io.BytesIO()
    grid.save(buf, format="PNG")
    path = run_dir / f"grid_{suite}.png"
    atomic_write_bytes(path, buf.getvalue())
    return path, [name for name, _ in columns]
