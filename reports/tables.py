"""The report's tables as DataFrames, so Markdown and LaTeX print the very same numbers."""

from __future__ import annotations

import pandas as pd

from harness.suite import BREAKDOWN_COLUMNS
from harness.suite import JUDGE_COLUMNS as SUITE_JUDGE_COLUMNS
from reports.load import RunSet, method_provenance, metric_columns

# Metrics where lower is better get an arrow in the header so tables read at a glance.
LOWER_IS_BETTER = {"pixel_mse_target", "pixel_mse_unedited"}
# String columns a judge protocol writes (harness.suite); the report lists their values.
JUDGE_COLUMNS = tuple(SUITE_JUDGE_COLUMNS) + ("decoding",)


def label(method: str, role: str | None) -> str:
    return method if role in ("method", "", None) or pd.isna(role) else f"{method} ({role})"


def header(metric: str) -> str:
    return f"{metric} ↓" if metric in LOWER_IS_BETTER else f"{metric} ↑"


def _labelled(df: pd.DataFrame) -> pd.DataFrame:
    roles = df["role"] if "role" in df else [None] * len(df)
    return df.assign(label=[label(m, r) for m, r in zip(df["method"], roles)])


def headline(runs: RunSet, suite: str) -> pd.DataFrame:
    """One row per method: n, every metric (micro mean over samples), then its provenance."""
    df = _labelled(runs.scores[runs.scores["suite"] == suite])
    metrics = sorted(metric_columns(df), key=lambda m: m != "success_all")  # strict success first: the headline
    table = df.groupby("label", sort=False)[metrics].mean()
    table.columns = [header(m) for m in metrics]
    table.insert(0, "n", df.groupby("label", sort=False).size().astype(str))  # str: no "140.000"
    first = df.groupby("label", sort=False)[["method", "run"]].first()
    prov = pd.DataFrame([method_provenance(runs, m, r) for m, r in zip(first["method"], first["run"])],
                        index=first.index).astype(str)
    if len(runs.names) > 1:
        prov.insert(0, "run", first["run"])
    return table.join(prov).rename_axis("method")


def per_category(runs: RunSet, suite: str) -> dict[str, pd.DataFrame]:
    """metric -> methods x categories, with the macro mean (mean over categories) last."""
    df = _labelled(runs.scores[runs.scores["suite"] == suite])
    out = {}
    for metric in metric_columns(df):
        if metric in LOWER_IS_BETTER:
            continue
        by_cat = df.pivot_table(index="label", columns="category", values=metric, aggfunc="mean", sort=False)
        by_cat["macro"] = by_cat.mean(axis=1)
        out[metric] = by_cat.rename_axis("method").rename_axis(None, axis=1)
    return out


def per_breakdown(runs: RunSet, suite: str) -> dict[tuple[str, str], pd.DataFrame]:
    """(tag, metric) -> methods x tag values (e.g. shapes' held-out vs seen compositions)."""
    df = _labelled(runs.scores[runs.scores["suite"] == suite])
    out = {}
    for tag in BREAKDOWN_COLUMNS:
        if tag not in df or df[tag].nunique(dropna=True) < 2:
            continue
        for metric in metric_columns(df):
            if metric in LOWER_IS_BETTER:
                continue
            table = df.pivot_table(index="label", columns=tag, values=metric, aggfunc="mean", sort=False)
            table.insert(0, "n", df.groupby("label", sort=False).size().astype(str))
            out[(tag, metric)] = table.rename_axis("method").rename_axis(None, axis=1)
    return out


def parse_failures(runs: RunSet, suite: str) -> pd.DataFrame:
    """Judge replies that did not parse, per method (empty when the suite's scores carry no parse_ok)."""
    df = _labelled(runs.scores[runs.scores["suite"] == suite])
    if "parse_ok" not in df or df["parse_ok"].isna().all():
        return pd.DataFrame()
    df = df[df["parse_ok"].notna()]  # rows without a judge verdict say nothing about parsing
    g = df.assign(ok=df["parse_ok"].astype(bool)).groupby("label", sort=False)
    table = pd.DataFrame({"n": g.size().astype(str), "parsed": g["ok"].sum().astype(int).astype(str),
                          "failed": (g.size() - g["ok"].sum()).astype(int).astype(str),
                          "failure rate": 1.0 - g["ok"].mean()})
    for col in ("retries", "n_retries"):
        if col in df and pd.api.types.is_numeric_dtype(df[col]):
            table["mean retries"] = g[col].mean()
    return table.rename_axis("method")


def judge_labels(runs: RunSet, suite: str) -> pd.DataFrame:
    """Which judge / protocol / template produced each method's numbers (columns present only)."""
    df = _labelled(runs.scores[runs.scores["suite"] == suite])
    cols = [c for c in JUDGE_COLUMNS if c in df and df[c].notna().any()]
    if not cols:
        return pd.DataFrame()
    g = df.groupby("label", sort=False)
    return pd.DataFrame({c: g[c].agg(lambda s: ", ".join(sorted(map(str, s.dropna().unique())))) for c in cols}
                        ).rename_axis("method")


def reward_trend(runs: RunSet, key: str = "reward") -> pd.DataFrame:
    """Per method that logs ``key``: its mean over the first and the last fifth of the logged training
    steps and the change, with a Welch 95 % interval of the change (each logged point is one batch's
    mean, so the points of a fifth are the samples)."""
    from reports.stats import t_quantile_975

    train = runs.events_of("train")
    if train.empty or key not in train:
        return pd.DataFrame()
    rows = []
    for method, df in train.dropna(subset=[key]).sort_values("step").groupby("method", sort=False):
        k = len(df) // 5
        if k < 2:
            continue
        first, last = df[key].iloc[:k], df[key].iloc[-k:]
        change = last.mean() - first.mean()
        v1, v2 = first.var() / k, last.var() / k
        dof = (v1 + v2) ** 2 / ((v1 ** 2 + v2 ** 2) / (k - 1)) if v1 + v2 > 0 else 2 * k - 2  # Welch
        half = t_quantile_975(max(1, round(dof))) * (v1 + v2) ** 0.5
        rows.append({"method": method, "logged steps": len(df),
                     "first fifth (steps)": f"{int(df['step'].iloc[0])}-{int(df['step'].iloc[k - 1])}",
                     f"{key} first fifth": first.mean(),
                     "last fifth (steps)": f"{int(df['step'].iloc[-k])}-{int(df['step'].iloc[-1])}",
                     f"{key} last fifth": last.mean(), "change": change,
                     "change 95% CI": f"[{change - half:.3f}, {change + half:.3f}]"})
    return pd.DataFrame(rows)


def curve_reward(runs: RunSet, key: str = "eval_judge_reward") -> pd.DataFrame:
    """Per method whose learning-curve points carry ``key`` (the judge on the held-fixed curve samples):
    its value at step 0, at the first point at or after the end of the identity warm-up (the last step
    that logged ``loss_identity``; step 0 without one), and at the last point. The training reward's prompts change every step; these
    do not, so the change since the warm-up is the method's own objective at work."""
    curve = runs.events_of("curve")
    if curve.empty or key not in curve:
        return pd.DataFrame()
    train = runs.events_of("train")
    rows = []
    for method, df in curve.dropna(subset=[key]).sort_values("step").groupby("method", sort=False):
        warm = 0
        if not train.empty and "loss_identity" in train:
            w = train[(train["method"] == method) & train["loss_identity"].notna()]
            warm = int(w["step"].max()) if not w.empty else 0
        start = df[df["step"] >= warm].iloc[0]
        last = df.iloc[-1]
        rows.append({"method": method, "step 0": df[key].iloc[0], "after warm-up (step)": int(start["step"]),
                     "after warm-up": start[key], "last (step)": int(last["step"]), "last": last[key],
                     "change since warm-up": last[key] - start[key], "curve points": len(df)})
    return pd.DataFrame(rows)
