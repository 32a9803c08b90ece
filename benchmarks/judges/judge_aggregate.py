"""Aggregation of judge rows: micro and macro means, both returned and labelled, and parse failures.

micro = mean over the samples whose metric parsed; macro = mean over categories of the per-category
means (categories with at least one parsed sample; the others are listed). Per-sample metrics such
as viescore_O are averaged as they are: O micro is the mean of per-sample sqrt(SC*PQ), never the
sqrt of mean SC times mean PQ. Samples that did not parse are left out and counted, never filled in.
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from .judge_rows import JudgeRow

LABELS = {
    "micro": "mean over parsed samples",
    "macro": "mean over categories of the per-category means (categories with >= 1 parsed sample)",
}
METRIC_PREFIXES = ("viescore_", "imgedit_", "pyes_")
PROVENANCE = ("protocol", "protocol_version", "template_id", "judge_id", "decoding")


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def micro_macro(values: Sequence[float | None], categories: Sequence[str]) -> dict[str, Any]:
    """Micro and macro means of one per-sample metric; None values are parse failures."""
    if len(values) != len(categories):
        raise ValueError(f"{len(values)} values for {len(categories)} categories")
    by_cat: dict[str, dict[str, Any]] = {}
    for v, c in zip(values, categories):
        e = by_cat.setdefault(str(c), {"values": [], "n_total": 0})
        e["n_total"] += 1
        if not _is_missing(v):
            e["values"].append(float(v))
    cat_means = {c: _mean(e["values"]) for c, e in by_cat.items()}
    parsed = [float(v) for v in values if not _is_missing(v)]
    n = len(values)
    return {
        "micro": _mean(parsed),
        "macro": _mean([m for m in cat_means.values() if m is not None]),
        "n_parsed": len(parsed),
        "n_total": n,
        "parse_failure_rate": (n - len(parsed)) / n if n else None,
        "by_category": {c: {"mean": cat_means[c], "n_parsed": len(e["values"]), "n_total": e["n_total"]}
                        for c, e in sorted(by_cat.items())},
        "categories_without_scores": sorted(c for c, m in cat_means.items() if m is None),
    }


def _records(rows: Sequence[JudgeRow | dict]) -> list[dict]:
    return [r.to_record() if isinstance(r, JudgeRow) else dict(r) for r in rows]


def aggregate_judgements(rows: Sequence[JudgeRow | dict], metrics: Sequence[str] | None = None,
                         allow_mixed: bool = False) -> dict[str, Any]:
    """Summary of judge rows (JudgeRow objects or their `to_record()` dicts, e.g. read from jsonl).

    Returns {"labels", "protocol", "protocol_version", "template_id", "judge_id", "decoding",
    "n_samples", "n_parse_ok", "parse_failure_rate", "retries", "metrics": {name: micro_macro(...)}}.
    Rows from different protocols, templates, judges or decoding settings are refused unless
    `allow_mixed` (then those keys hold lists): their numbers are on different scales.
    """
    recs = _records(rows)
    if not recs:
        return {"labels": LABELS, "n_samples": 0, "metrics": {}}
    out: dict[str, Any] = {"labels": LABELS}
    for key in PROVENANCE:
        seen = sorted({json.dumps(r.get(key), sort_keys=True) if not isinstance(r.get(key), str) else r[key]
                       for r in recs})
        if len(seen) > 1 and not allow_mixed:
            raise ValueError(f"judge rows mix several {key} values {seen}: aggregate them separately")
        out[key] = seen[0] if len(seen) == 1 else seen
    if metrics is None:
        metrics = sorted({k for r in recs for k in r if k.startswith(METRIC_PREFIXES)})
    missing = [m for m in metrics if not any(m in r for r in recs)]
    if missing:
        raise KeyError(f"metric(s) {missing} not in any judge row")
    cats = [r["category"] for r in recs]
    ok = [bool(r.get("parse_ok", False)) for r in recs]
    out.update({
        "n_samples": len(recs),
        "n_parse_ok": sum(ok),
        "parse_failure_rate": 1 - sum(ok) / len(recs),
        "retries": sum(int(r.get("retries", 0) or 0) for r in recs),
        "metrics": {m: micro_macro([r.get(m) for r in recs], cats) for m in metrics},
    })
    return out
