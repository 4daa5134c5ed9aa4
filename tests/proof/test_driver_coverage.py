"""Notebook 03's driver-effect intervals against the planted 90-day effects, 30 demos (the
notebook's settings: 200 resamples). The notebook decides with the simultaneous intervals
(each at 1 - 0.05 / k, so all k hold together at 95 %): each planted factor's covers its truth
in >= 27 of 30 and all four at once in >= 27 of 30. Measured (seeds 1-30): 29, 29, 30, 29;
all four 27.

The per-factor 95 % intervals (metrics.json ``ci_marginal``, for reference) do not reach that for
slow delivery: 24 of 30 (the estimate is 0.5 standard errors further from zero than the truth
on average, and the bootstrap's spread is 1.17 times too narrow; the randomised reminder's is
1.35 times too narrow with 27 of 30). Not the campaign (the window's multiplier set to 1: still
24 of 30, bias -0.0117) nor the spread of purchase rates (r = 45, alpha = 1,500, the same mean
rate nearly alike for everyone: 26 of 30, bias -0.0117); the four ticket factors that travel with
slow delivery (ticket_raised, unresolved_complaint, slow_response, low_satisfaction) are the next
suspect. Marked xfail, strict: it fails loudly once fixed."""

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


@pytest.mark.xfail(strict=True, reason="per-factor 95 % intervals: slow_delivery covers 24 of 30 (module docstring)")
def test_per_factor_intervals_cover_each_planted_effect(seeds):
    covered = {name: sum(_covers(s["drivers"][name], "low", "high") for s in seeds) for name in PLANTED}
    assert all(n >= MIN_COVERED for n in covered.values()), covered
