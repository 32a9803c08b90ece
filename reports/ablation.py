"""``ablation_<TABLE>.md|.csv|.png`` from the runs of ``python -m harness ablate`` (their
scores.jsonl alone): per row and metric the mean over seeds with a 95 % Student-t interval, beside
the paper's numbers for the same row, which are on another benchmark and scale."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pandas as pd

from harness.atomic_io import atomic_write_bytes, atomic_write_text, read_jsonl
from reports.stats import t_interval
from reports.tables import header


def per_seed(runs: list[tuple], metrics: list[str]) -> pd.DataFrame:
    """One row per (variant, seed, suite): micro mean over samples of the row's report method."""
    out = []
    for row, seed, run_dir in runs:
        scores = pd.DataFrame(read_jsonl(Path(run_dir) / "scores.jsonl"))
        if scores.empty:
            continue
        mine = scores[scores["method"] == row.report]
        for suite, df in mine.groupby("suite", sort=False):
            rec = {"variant": row.label, "seed": seed, "suite": suite, "n_samples": len(df), "run_dir": str(run_dir)}
            rec.update({m: float(df[m].mean()) if m in df else math.nan for m in metrics})
            out.append(rec)
    return pd.DataFrame(out)


def summarise(table, seeds: pd.DataFrame) -> pd.DataFrame:
    """One row per variant (and suite): mean / ci_low / ci_high / half per metric, then the paper's row."""
    rows = []
    order = [r.label for r in table.rows]
    for r in table.rows:
        part = seeds[seeds["variant"] == r.label] if not seeds.empty else seeds
        for suite, df in (part.groupby("suite", sort=False) if not part.empty else [(None, part)]):
            rec = {"variant": r.label, "methods": "+".join(r.methods), "report_method": r.report, "suite": suite,
                   "n_seeds": len(df), "seeds": " ".join(str(s) for s in sorted(df["seed"])) if len(df) else ""}
            for m in table.metrics:
                ci = t_interval(df[m] if m in df else [])
                rec.update({f"{m}_mean": ci["mean"], f"{m}_ci_low": ci["ci_low"], f"{m}_ci_high": ci["ci_high"],
                            f"{m}_half": ci["half_width"]})
            rec["paper_row"] = r.paper or ""
            paper = table.paper_rows.get(r.paper, {}) if r.paper else {}
            rec.update({f"paper_{pm}": paper.get(pm, math.nan) for pm in table.paper_metrics})
            rows.append(rec)
    out = pd.DataFrame(rows)
    if not out.empty:
        out["variant"] = pd.Categorical(out["variant"], categories=order, ordered=True)
    return out


def _cell(mean: float, half: float) -> str:
    if pd.isna(mean):
        return "--"
    return f"{mean:.3f} ± {half:.3f}" if not pd.isna(half) else f"{mean:.3f} ± n/a"


def markdown(table, summary: pd.DataFrame, seeds: pd.DataFrame) -> str:
    n_samples = sorted(set(seeds["n_samples"])) if not seeds.empty else []
    suites = sorted(set(summary["suite"].dropna())) if not summary.empty else []
    view = pd.DataFrame({"variant": summary["variant"].astype(str), "methods": summary["methods"]})
    if len(suites) > 1:
        view["suite"] = summary["suite"]
    for m in table.metrics:
        view[f"{header(m)} (ours)"] = [_cell(a, h) for a, h in zip(summary[f"{m}_mean"], summary[f"{m}_half"])]
    view["seeds"] = summary["n_seeds"].astype(str)
    view["paper row"] = summary["paper_row"].replace("", "--")
    for pm in table.paper_metrics:
        view[f"{pm} (paper)"] = [f"{v:.2f}" if not pd.isna(v) else "--" for v in summary[f"paper_{pm}"]]
    ours = (f"**Ours**: suite {', '.join(f'`{s}`' for s in suites) or '?'} scored by the analytic oracle (0-1); "
            f"micro mean over {', '.join(map(str, n_samples)) or '?'} eval samples of each row's method; "
            "cell = mean ± half-width of the 95 % Student-t interval over seeds (t(0.975, n-1) · s / √n; "
            "n/a with one seed).")
    paper = (f"**Paper**: {table.paper_source or 'not given'}; scale: {table.paper_scale or 'not given'}. "
             "Different benchmark, judge and scale from ours: compare the order of rows, never the values.")
    if not table.paper_rows:
        paper += " The paper's numbers for this table were not recovered (`--`)."
    # disable_numparse: cells are preformatted text ("6.10" must not print as 6.1)
    lines = [f"# {table.title}", "", ours, "", paper, "", view.to_markdown(index=False, disable_numparse=True), ""]
    if not seeds.empty:
        rank = {r.label: i for i, r in enumerate(table.rows)}
        detail = seeds.assign(_rank=seeds["variant"].map(rank)).sort_values(["_rank", "seed"])
        detail = detail[["variant", "seed", "suite", "n_samples", *table.metrics, "run_dir"]]
        lines += ["## Per seed", "", detail.to_markdown(index=False, floatfmt=".3f"), ""]
    lines += [f"![{table.name}](ablation_{table.name}.png)", ""]
    return "\n".join(lines)


def plot(table, summary: pd.DataFrame, seeds: pd.DataFrame, path: Path) -> Path | None:
    """One panel per metric: bars = mean over seeds, whiskers = 95 % t-interval, dots = seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    if summary.empty or seeds.empty:
        return None
    fig, axes = plt.subplots(1, len(table.metrics), figsize=(3.6 * len(table.metrics), 3.4), squeeze=False)
    order = [r.label for r in table.rows]
    for ax, m in zip(axes[0], table.metrics):
        s = summary.assign(variant=summary["variant"].astype(str))
        sns.barplot(data=s, x="variant", y=f"{m}_mean", order=order, errorbar=None, color="#8fb3d9", ax=ax)
        xs = [order.index(v) for v in s["variant"]]
        lo = (s[f"{m}_mean"] - s[f"{m}_ci_low"]).fillna(0).clip(lower=0)
        hi = (s[f"{m}_ci_high"] - s[f"{m}_mean"]).fillna(0).clip(lower=0)
        ax.errorbar(xs, s[f"{m}_mean"], yerr=[lo, hi], fmt="none", ecolor="black", capsize=4)
        if m in seeds:
            sns.stripplot(data=seeds, x="variant", y=m, order=order, color="black", size=3, ax=ax)
        ax.set_title(f"{m} (ours, oracle)")
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.tick_params(axis="x", labelrotation=30)
    fig.suptitle(f"{table.title}: mean over seeds, 95 % t-interval", fontsize=10, y=1.04)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def write_ablation(table, runs: list[tuple], out_dir: Path) -> dict[str, Path]:
    """``runs``: (row, seed, run_dir) for every planned run. Returns the written files by suffix."""
    out_dir = Path(out_dir)
    seeds = per_seed(runs, table.metrics)
    summary = summarise(table, seeds)
    files = {"md": atomic_write_text(out_dir / f"ablation_{table.name}.md", markdown(table, summary, seeds))}
    csv = summary.drop(columns=[c for c in summary.columns if c.endswith("_half")])
    files["csv"] = atomic_write_text(out_dir / f"ablation_{table.name}.csv", csv.to_csv(index=False))
    png = plot(table, summary, seeds, out_dir / f"ablation_{table.name}.png")
    if png:
        files["png"] = png
    return files
