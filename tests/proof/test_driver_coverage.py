"""Notebook 03's driver-effect intervals against the planted 90-day effects, 30 demos (the
notebook's settings: 200 resamples). The notebook decides with the simultaneous intervals
(each at 1 - 0.05 / k, so all k hold together at 95 %): each planted factor's covers its truth
in >= 27 of 30 and all four at once in >= 27 of 30. Measured (seeds 1-30): 29, 29, 30, 29;
all four 27.

The per-factor 95 % intervals (metrics.json ``ci_marginal``, for reference) do not reach that for
slow delivery on these seeds: 24 of 30 (others 28, 29, 27). Traced (issue 15, measured with the
drivers-only harness, demo_seeds.over_seeds(root, ("drivers",), seeds=...)): it is the seed set,
not a bias of the estimator or a mismatch of estimand.

* Fresh seeds 31-90, same code: slow delivery 56/60, unresolved complaint 59/60, coupon 56/60,
  reminder 53/60; slow delivery's mean error -0.0005 (-0.06 bootstrap SE), against -0.0108
  (-0.54 SE) on seeds 1-30. Over seeds 1-90: 80, 87, 85, 80 of 90 (pooled 332/360, 92 %).
* Estimand: truth.json's effect (mean over CRM customers, uncensored) recomputed from
  truth_customers.parquet over the model's own customers (eligible, followed 30 days) differs by
  1e-4 on average; refitting on the true uncensored second-purchase times (no censoring, no data
  faults) leaves slow delivery's error on seeds 1-30 at -0.0100: the data, the censoring and the
  population averaged over are not it.
* Model: at 300,000 simulated customers of the generator's model (gamma rates, beta dropout, the
  four betas, the ticket link) the workbook's Cox + g-computation is off by -0.0006 for slow
  delivery (non-proportional hazards from frailty and dropout barely move the 90-day effect);
  lifelines CoxPHFitter(robust=True) on seed 3 gives the same log hazard ratio (-0.438 against
  -0.436) and standard error (robust 0.102 against 0.104).
* Interval kind: basic, normal and bias-corrected percentile intervals from the same draws cover
  slow delivery 80, 79, 82 of 90 (percentile 80): none is clearly better; the bootstrap's own bias
  (mean of draws minus estimate) is +0.0001.
* What remains is small-sample and generic: the spread of the error over 90 seeds is 1.12 times
  the bootstrap's for slow delivery (1.00 coupon, 1.11 reminder, 0.83 complaint), and a
  simulation of the generator's model at the demo's size with _fit_block (120 samples, 200
  resamples) covers 111, 111, 115, 113 of 120 (92-96 %).

Marked xfail, strict: it fails loudly once it passes on seeds 1-30."""

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
