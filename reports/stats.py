"""Mean and 95 % Student-t interval over seeds (scipy when installed, else a t table)."""

from __future__ import annotations

import math
from collections.abc import Iterable

# Two-sided 95 % quantiles t_{0.975, df}; beyond 30 interpolated linearly in 1/df (error < 1e-3).
_T975 = {1: 12.706205, 2: 4.302653, 3: 3.182446, 4: 2.776445, 5: 2.570582, 6: 2.446912, 7: 2.364624,
         8: 2.306004, 9: 2.262157, 10: 2.228139, 11: 2.200985, 12: 2.178813, 13: 2.160369, 14: 2.144787,
         15: 2.131450, 16: 2.119905, 17: 2.109816, 18: 2.100922, 19: 2.093024, 20: 2.085963, 21: 2.079614,
         22: 2.073873, 23: 2.068658, 24: 2.063899, 25: 2.059539, 26: 2.055529, 27: 2.051831, 28: 2.048407,
         29: 2.045230, 30: 2.042272, 40: 2.021075, 60: 2.000298, 120: 1.979930}
_Z975 = 1.959964


def t_quantile_975(df: int) -> float:
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    try:
        from scipy.stats import t

        return float(t.ppf(0.975, df))
    except ImportError:
        pass
    if df in _T975:
        return _T975[df]
    knots = sorted(_T975.items()) + [(math.inf, _Z975)]
    for (d0, t0), (d1, t1) in zip(knots, knots[1:]):
        if d0 < df < d1:
            x, x0, x1 = 1 / df, 1 / d0, (0.0 if d1 == math.inf else 1 / d1)
            return t1 + (t0 - t1) * (x - x1) / (x0 - x1)
    return _Z975


def t_interval(values: Iterable[float]) -> dict:
    """``{"mean", "ci_low", "ci_high", "half_width", "n"}``; the interval is NaN with fewer than two
    values (one seed says nothing about seed-to-seed spread)."""
    xs = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(xs)
    if n == 0:
        return {"mean": math.nan, "ci_low": math.nan, "ci_high": math.nan, "half_width": math.nan, "n": 0}
    mean = sum(xs) / n
    if n < 2:
        return {"mean": mean, "ci_low": math.nan, "ci_high": math.nan, "half_width": math.nan, "n": 1}
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t_quantile_975(n - 1) * sd / math.sqrt(n)
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "half_width": half, "n": n}
