"""The 95 % Student-t interval over seeds against a hand computation."""

import math

import pytest

from reports.stats import t_interval, t_quantile_975


def test_interval_matches_hand_computation():
    # mean 0.4, sample sd 0.2, t(0.975, 2) = 4.302653 (t table): half = 4.302653 * 0.2 / sqrt(3)
    ci = t_interval([0.2, 0.4, 0.6])
    half = 4.302653 * 0.2 / math.sqrt(3)
    assert ci["mean"] == pytest.approx(0.4) and ci["half_width"] == pytest.approx(half, rel=1e-6)
    assert (ci["ci_low"], ci["ci_high"]) == pytest.approx((0.4 - half, 0.4 + half), rel=1e-6)


def test_one_seed_has_no_interval_and_nan_is_ignored():
    ci = t_interval([0.5, float("nan")])
    assert ci["n"] == 1 and ci["mean"] == 0.5 and math.isnan(ci["ci_low"]) and math.isnan(ci["half_width"])


@pytest.mark.parametrize("df, t", [(1, 12.706205), (4, 2.776445), (35, 2.030108), (500, 1.964720)])
def test_t_quantiles(df, t):
    assert t_quantile_975(df) == pytest.approx(t, abs=1e-3)
