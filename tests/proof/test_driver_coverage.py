"""Notebook 03's driver-effect intervals against the planted 90-day effects, 30 demos (the
notebook's settings: 200 resamples). The notebook decides with the simultaneous intervals
(percentile bootstrap, each at 1 - 0.05 / k, so all k hold together at 95 %): each planted
factor's covers its truth in >= 27 of 30 and all four at once in >= 27 of 30. Measured (seeds
1-30): 29, 29, 30, 29; all four 27.

Each factor's own 95 % interval (metrics.json ``ci_marginal``) also covers its truth in >= 27 of
30. It is the delta-method interval from the model's information (drivers.per_factor_interval);
measured with the drivers-only harness (demo_seeds.over_seeds(root, ("drivers",), seeds=...)),
slow delivery / unresolved complaint / first-order coupon / no reminder:

* seeds 1-30: 29, 29, 30, 29 (the percentile bootstrap it replaces: 24, 28, 29, 27);
* fresh seeds 31-90: 59, 59, 56, 58 of 60 (percentile: 56, 59, 56, 53); over 1-90 349 of 360
  (97 %; percentile 332, 92 %).

Why the percentile bootstrap fell short (issue 17): not bias, estimand or interval shape (issue
15's checks: unbiased at 300,000 customers, truth recomputed over the model's own customers,
basic / normal / BC intervals 80, 79, 82 of 90 for slow delivery), not the time bands chosen
once from the data (re-chosen per resample: 81, 87, 85, 82 of 90), not the constant hazard ratio
where the Schoenfeld test keeps one (bands for every factor: 81, 87, 85, 81, at five times the
cost). Its spread moves the wrong way with the error: a demo in which slow delivery's exposed
customers bought again less gives a too-harmful estimate and a bootstrap SD that is smaller
(correlation of error and bootstrap SD over 90 seeds +0.46), so the interval is narrowest where
the estimate is furthest off; the information-based standard error moves the other way (-0.73;
reminder -0.85) and the error's spread over the 90 seeds is 1.01, 0.81, 0.97, 0.90 of it (of the
bootstrap SD: 1.11, 0.81, 1.00, 1.11). The simultaneous intervals stay percentile bootstrap."""

from __future__ import annotations

import pytest
from conftest import MIN_COVERED

pytestmark = pytest.mark.proof
PLANTED = ("slow_delivery", "unresolved_complaint", "first_order_coupon", "no_second_coupon_reminder")


def _covers(x: dict, low: str, high: str) -> bool:
    return bool(x[low] <= x["truth"] <= x[high])


def test_simultaneous_intervals_cover_each_planted_effect(seeds):
    covered = {name: sum(_covers(s["drivers"][name], "sim_low", "sim_high") for s in seeds) for name in PLANTED}
    assert len(seeds) >= 30 and all(n >= MIN_COVERED for n in covered.values()), covered


def test_simultaneous_intervals_cover_all_four_at_once(seeds):
    every = sum(all(_covers(s["drivers"][name], "sim_low", "sim_high") for name in PLANTED) for s in seeds)
    assert every >= MIN_COVERED, f"{every}/{len(seeds)}"


def test_each_factor_keeps_its_sign_on_most_seeds(seeds):
    for name in PLANTED:
        same = sum((s["drivers"][name]["effect"] > 0) == (s["drivers"][name]["truth"] > 0) for s in seeds)
        assert same >= 27, (name, same)


def test_per_factor_intervals_cover_each_planted_effect(seeds):
    covered = {name: sum(_covers(s["drivers"][name], "low", "high") for s in seeds) for name in PLANTED}
    assert len(seeds) >= 30 and all(n >= MIN_COVERED for n in covered.values()), covered
