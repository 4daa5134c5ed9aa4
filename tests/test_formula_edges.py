"""The edges of the statistics formulas (issue 17, item 5): empty and one-customer arms, nobody
(or everybody) buying, outcomes or covariates that do not vary, missing and out-of-range inputs,
cells with nobody in them, failed bootstrap draws. Each expected value is computed here, by hand
or by statsmodels / scipy, not by the project's code. With tests/test_references.py these are the
proof subset of ``make mutants`` (README, "Mutation testing"); every test is fast (no engine, no
notebook).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from helpers import budget, clv, lifecycle
from helpers import campaigns as cp

Z = 1.959963984540054  # the 97.5 % normal quantile
NAN_RESULT = {"estimate": math.nan, "lo": math.nan, "hi": math.nan, "se": math.nan, "p": math.nan}


def _all_nan(d: dict) -> bool:
    return set(d) == set(NAN_RESULT) and all(math.isnan(v) for v in d.values())


def _welch(a, b):
    """statsmodels' Welch interval, standard error and p-value (unequal variances)."""
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    cm = CompareMeans(DescrStatsW(np.asarray(a, float)), DescrStatsW(np.asarray(b, float)))
    lo, hi = cm.tconfint_diff(alpha=0.05, usevar="unequal")
    return lo, hi, cm.std_meandiff_separatevar, cm.ttest_ind(usevar="unequal")[1]


# ---------------------------------------------------------------- proportions


def test_an_empty_arm_has_no_difference_and_one_customer_is_enough():
    """An arm without customers: every figure NaN, whichever arm it is. One customer per arm is
    already an interval: Newcombe = statsmodels, p = the pooled z-test (1 of 1 vs 0 of 1: pooled
    0.5, z = 1 / sqrt(0.5), p = 0.1573)."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    assert _all_nan(cp.diff_proportions(0, 0, 3, 10))
    assert _all_nan(cp.diff_proportions(3, 10, 0, 0))
    assert _all_nan(cp.diff_proportions(0, 0, 0, 0))
    for x1, n1, x0, n0 in [(1, 1, 0, 1), (1, 2, 1, 1)]:
        est = cp.diff_proportions(x1, n1, x0, n0)
        lo, hi = confint_proportions_2indep(x1, n1, x0, n0, method="newcomb", compare="diff")
        assert (est["estimate"], est["lo"], est["hi"]) == pytest.approx((x1 / n1 - x0 / n0, lo, hi), rel=1e-12)
        pooled = (x1 + x0) / (n1 + n0)
        z = abs(x1 / n1 - x0 / n0) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
        assert est["p"] == pytest.approx(2 * stats.norm.sf(z), rel=1e-12)
    assert round(cp.diff_proportions(1, 1, 0, 1)["p"], 4) == 0.1573


def test_nobody_or_everybody_bought_in_both_arms():
    """0 of 10 vs 0 of 12 (and 10 of 10 vs 12 of 12): no difference, the pooled z-test has no
    variance and the p-value is 1 (statsmodels' proportions_ztest gives NaN there); the interval
    is still Newcombe's."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    for x1, n1, x0, n0 in [(0, 10, 0, 12), (10, 10, 12, 12)]:
        est = cp.diff_proportions(x1, n1, x0, n0)
        lo, hi = confint_proportions_2indep(x1, n1, x0, n0, method="newcomb", compare="diff")
        assert est["estimate"] == 0.0 and est["p"] == 1.0
        assert (est["lo"], est["hi"]) == pytest.approx((lo, hi), rel=1e-12)


def test_katz_interval_needs_a_buyer_in_each_arm():
    """p1 / p0 - 1 has no log interval when an arm has no buyer (NaN); one buyer in each arm is
    enough (statsmodels' confint_proportions_2indep(method='log', compare='ratio') - 1)."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    for args in [(0, 50, 5, 50), (5, 50, 0, 50), (0, 50, 0, 50)]:
        assert all(math.isnan(v) for v in cp.relative_proportion(*args))
    for x1, n1, x0, n0 in [(1, 50, 1, 40), (1, 40, 3, 30), (4, 40, 1, 30)]:
        lo, hi = confint_proportions_2indep(x1, n1, x0, n0, method="log", compare="ratio")
        assert cp.relative_proportion(x1, n1, x0, n0) == pytest.approx(
            ((x1 / n1) / (x0 / n0) - 1, lo - 1, hi - 1), rel=1e-12)


def test_relative_lift_of_means_needs_positive_means():
    """m1 / m0 - 1 has no log interval unless both means are positive (a mean of 0 is NaN, not a
    division by zero); means below 1 (orders per customer) are as good as any (by hand: 0.4 and 0.3
    with standard errors 0.05 and 0.04: +33.3 %, 95 % interval -6.8 % to +90.8 %)."""
    for args in [(0.0, 0.1, 10.0, 0.5), (10.0, 0.5, 0.0, 0.1), (0.0, 0.1, 0.0, 0.1)]:
        assert all(math.isnan(v) for v in cp.ratio_interval(*args))
    s = math.sqrt((0.05 / 0.4) ** 2 + (0.04 / 0.3) ** 2)
    by_hand = (0.4 / 0.3 - 1, 0.4 / 0.3 * math.exp(-Z * s) - 1, 0.4 / 0.3 * math.exp(Z * s) - 1)
    assert [round(v, 3) for v in by_hand] == [0.333, -0.068, 0.908]
    assert cp.ratio_interval(0.4, 0.05, 0.3, 0.04) == pytest.approx(by_hand, rel=1e-13)
    assert cp.ratio_interval(0.3, 0.04, 0.4, 0.05) == pytest.approx(
        (0.3 / 0.4 - 1, 0.3 / 0.4 * math.exp(-Z * s) - 1, 0.3 / 0.4 * math.exp(Z * s) - 1), rel=1e-13)


def test_wilson_bounds_stay_in_zero_one():
    """The Wilson bounds of 0 of n and n of n: the formula's rounding noise (1.0000000000000002
    for 16 of 16, -1e-17 for 0 of 21) never leaves [0, 1]."""
    for n in range(1, 60):
        lo, hi = cp.wilson(n, n)
        assert hi <= 1.0 and lo > 0.0
        lo, hi = cp.wilson(0, n)
        assert lo >= 0.0 and hi < 1.0
    assert cp.wilson(16, 16)[1] == 1.0 and cp.wilson(0, 21)[0] == 0.0


def test_lifecycle_wilson_exact_edges_and_cells_without_trials():
    """Vectorised Wilson: 0 of n has lower bound exactly 0 and n of n upper bound exactly 1 (the
    formula gives -1e-17 for 0 of 21 and 1 + 2e-16 for 16 of 16); a cell without trials is NaN on
    both sides, silently (no RuntimeWarning from its 0 / 0 in a notebook); the other cells are
    statsmodels'."""
    from statsmodels.stats.proportion import proportion_confint

    k = np.array([0, 0, 16, 40, 0, 3, 5, 7])
    n = np.array([21, 3, 16, 40, 0, 0, 12, 7])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lo, hi = lifecycle.wilson(k, n)
    assert lo[:2].tolist() == [0.0, 0.0] and hi[2:4].tolist() == [1.0, 1.0] and hi[7] == 1.0
    assert np.isnan(lo[4:6]).all() and np.isnan(hi[4:6]).all()
    for i in (0, 1, 2, 3, 6, 7):
        assert (lo[i], hi[i]) == pytest.approx(proportion_confint(k[i], n[i], alpha=0.05, method="wilson"),
                                               rel=1e-12, abs=1e-15)
    assert 0.0 < lo[6] < 5 / 12 < hi[6] < 1.0


# ---------------------------------------------------------------- means and CUPED


def test_welch_needs_two_customers_per_arm():
    """Fewer than 2 customers in an arm: no variance, every figure NaN; 2 per arm is enough
    (statsmodels)."""
    assert _all_nan(cp.diff_means([5.0], [1.0, 2.0, 3.0]))
    assert _all_nan(cp.diff_means([1.0, 2.0, 3.0], [5.0]))
    assert _all_nan(cp.diff_means([], []))
    for a, b in [([3.0, 7.0], [1.0, 2.0]), ([3.0, 7.0, 4.0], [1.0, 2.0])]:
        est = cp.diff_means(a, b)
        assert (est["lo"], est["hi"], est["se"], est["p"]) == pytest.approx(_welch(a, b), rel=1e-9)
        assert est["estimate"] == pytest.approx(np.mean(a) - np.mean(b), rel=1e-14)


def test_welch_when_an_arm_does_not_vary():
    """No variance in either arm: the interval is the point, p = 0 for a difference, 1 for
    none. One arm constant: se from the other arm alone, and the degrees of freedom the smaller
    arm's n - 1 (Welch-Satterthwaite would give the varying arm's n - 1 and a narrower interval):
    3 x 5.0 vs 1..6 has se = sqrt(3.5 / 6), df 2, t 4.3027, interval 1.5 +- 3.2862."""
    assert cp.diff_means([2.0, 2.0, 2.0], [1.0, 1.0]) == {"estimate": 1.0, "lo": 1.0, "hi": 1.0, "se": 0.0, "p": 0.0}
    assert cp.diff_means([1.0, 1.0], [1.0, 1.0, 1.0]) == {"estimate": 0.0, "lo": 0.0, "hi": 0.0, "se": 0.0, "p": 1.0}
    flat, varied = [5.0, 5.0, 5.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    se = math.sqrt(3.5 / 6)  # var(1..6, ddof=1) = 3.5
    q = stats.t.ppf(0.975, 2)
    assert round(q, 4) == 4.3027 and round(q * se, 4) == 3.2862
    for a, b, d in [(flat, varied, 1.5), (varied, flat, -1.5)]:
        est = cp.diff_means(a, b)
        assert est == pytest.approx({"estimate": d, "lo": d - q * se, "hi": d + q * se, "se": se,
                                     "p": 2 * stats.t.sf(abs(d) / se, 2)}, rel=1e-12)


def test_welch_on_small_variances():
    """Purchase indicators (0/1, variance below 1 per customer): the Satterthwaite degrees of
    freedom, as statsmodels."""
    rng = np.random.default_rng(3)
    a, b = (rng.random(40) < 0.3).astype(float), (rng.random(25) < 0.2).astype(float)
    est = cp.diff_means(a, b)
    assert (est["lo"], est["hi"], est["se"], est["p"]) == pytest.approx(_welch(a, b), rel=1e-9)


def test_cuped_leaves_outcomes_without_variance_unadjusted():
    """Nothing to adjust: an arm of one customer (NaN), outcomes that do not vary (se 0, even when
    the covariate varies) or a covariate that does not vary: the raw difference, theta 0, no
    variance removed, the same width."""
    x1, x0 = np.array([1.0, 4.0, 2.0]), np.array([3.0, 0.0, 5.0, 1.0])
    cases = [([2.0], [1.0, 1.5], [1.0], [2.0, 3.0]),
             ([2.0, 2.0, 2.0], [1.0, 1.0, 1.0, 1.0], x1, x0),
             ([2.0, 3.0, 7.0], [1.0, 2.0, 1.0, 4.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0])]
    for y1, y0, c1, c0 in cases:
        raw = cp.diff_means(y1, y0)
        res = cp.cuped(y1, y0, c1, c0)
        assert res["raw"] == raw or _all_nan(res["raw"])
        assert {k: res[k] for k in ("theta", "variance_reduction", "width_ratio")} == {
            "theta": 0.0, "variance_reduction": 0.0, "width_ratio": 1.0}
        assert {k: res[k] for k in NAN_RESULT} == raw or _all_nan({k: res[k] for k in NAN_RESULT})
    assert cp.cuped([2.0, 2.0, 2.0], [1.0, 1.0, 1.0, 1.0], x1, x0)["estimate"] == 1.0


def test_cuped_with_a_purchase_indicator_as_covariate():
    """A 0/1 pre-period covariate (variance below 1): theta = the OLS slope, the adjusted Welch
    interval (statsmodels) and the variance removed = R^2."""
    from statsmodels.regression.linear_model import OLS

    rng = np.random.default_rng(8)
    n = 120
    x = (rng.random(n) < 0.4).astype(float)
    treated = rng.random(n) < 0.5
    y = 0.3 * x + rng.normal(0, 0.2, n) + 0.05 * treated
    res = cp.cuped(y[treated], y[~treated], x[treated], x[~treated])
    ols = OLS(y, np.column_stack([np.ones(n), x])).fit()
    theta = float(ols.params[1])
    assert res["theta"] == pytest.approx(theta, rel=1e-10)
    adj = y - theta * (x - x.mean())
    lo, hi, se, p = _welch(adj[treated], adj[~treated])
    assert (res["lo"], res["hi"], res["se"], res["p"]) == pytest.approx((lo, hi, se, p), rel=1e-9)
    assert res["variance_reduction"] == pytest.approx(float(ols.rsquared), rel=1e-10)
    assert res["width_ratio"] == pytest.approx(se / _welch(y[treated], y[~treated])[2], rel=1e-9)


# ---------------------------------------------------------------- the budget


def test_contact_value_with_missing_and_out_of_range_inputs():
    """Per customer, by hand (margin 0.3, retention effect 1): the average order is revenue /
    orders where there are orders, else 0; a missing number counts 0, an infinite or negative
    revenue no order value; CLV below 0 counts 0; P(alive) is clipped to [0, 1] and CLV /
    P(alive) counts from P(alive) = 1e-9 up. The rows keep the frame's index, and no 0 / 0 prints
    a RuntimeWarning into the notebook."""
    frame = pd.DataFrame({
        "orders": [0, np.nan, 2, 2, 1, 2, 3, 1, 1, 1, 1, 4],
        "revenue": [50.0, 50.0, np.nan, -30.0, np.inf, 1.0, 90.0, 10.0, 10.0, 10.0, 10.0, 40.0],
        "clv": [10.0, 10.0, 10.0, 10.0, 10.0, 10.0, -20.0, 0.5, np.nan, 30.0, 30.0, 0.003],
        "p_alive": [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, np.nan, 1.2, 1e-9]},
        index=[f"c{i}" for i in range(12)])
    frame.loc["c12"] = [2, 20.0, 30.0, -0.2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v = budget.contact_value(frame, margin=0.3, retention_effect=1.0)
    aov = [0, 0, 0, 0, 0, 0.5, 30, 10, 10, 10, 10, 10, 10]
    clv_ = [10, 10, 10, 10, 10, 10, 0, 0.5, 0, 30, 30, 0.003, 30]
    alive = [0.5] * 9 + [0.0, 1.0, 1e-9, 0.0]
    if_alive = [c / a if a >= 1e-9 else 0.0 for c, a in zip(clv_, alive, strict=True)]
    at_risk = [(1 - a) * w for a, w in zip(alive, if_alive, strict=True)]
    assert v.index.tolist() == frame.index.tolist()
    assert v.columns.tolist() == ["order_profit", "value_if_alive", "at_risk", "purchase_value", "alive"]
    assert v["order_profit"].tolist() == pytest.approx([0.3 * a for a in aov], rel=1e-15, abs=0)
    assert v["alive"].tolist() == alive
    assert v["value_if_alive"].tolist() == pytest.approx(if_alive, rel=1e-12, abs=0)
    assert v["at_risk"].tolist() == pytest.approx(at_risk, rel=1e-12, abs=0)
    assert v.loc["c11", "at_risk"] == pytest.approx(0.003 * 1e9, rel=1e-6)  # counted at the floor
    assert v["purchase_value"].tolist() == pytest.approx([0.3 * a + r for a, r in zip(aov, at_risk, strict=True)],
                                                         rel=1e-12, abs=0)


def test_weighted_value_when_nobody_or_few_are_alive():
    """Weighted by P(alive); when nobody is alive, the plain mean; weights that sum below 1 are
    weights all the same."""
    values = pd.DataFrame({"order_profit": [10.0, 30.0, 50.0], "at_risk": [4.0, 0.0, 8.0], "alive": [0.0, 0.0, 0.0]})
    assert budget.weighted_value(values, 0.5) == pytest.approx({"order_profit": 30.0, "at_risk": 4.0, "value": 32.0})
    few = values.assign(alive=[0.2, 0.0, 0.1])
    op, ar = (0.2 * 10 + 0.1 * 50) / 0.3, (0.2 * 4 + 0.1 * 8) / 0.3
    assert budget.weighted_value(few, 0.5) == pytest.approx({"order_profit": op, "at_risk": ar, "value": op + 0.5 * ar},
                                                            rel=1e-12)
    assert budget.weighted_value(values.iloc[:0], 0.5) == {"order_profit": 0.0, "at_risk": 0.0, "value": 0.0}


def test_response_curve_in_cells_of_one_or_no_customers():
    """A cell of 1 customer is a cell (by hand); a cell with nobody in it buys nothing, even with
    no money spent on it (x = 0, n = 0: 0 / 0 inside the curve)."""
    x, n, g, c, k = [0.0, 0.0, 3.0, 2.0], [0, 0, 1, 1], [6.0, 6.0, 6.0, 6.0], [2.5, 0.0, 2.5, 0.0], 1.5
    one = 1 * 6.0 * (1 - math.exp(-1.5 * 3.0 / (1 * 2.5))) / (1 - math.exp(-1.5))
    assert budget.gross_profit(x, n, g, c, k).tolist() == pytest.approx([0.0, 0.0, one, 0.0], rel=1e-13, abs=0)
    marginal = 6.0 * 1.5 / 2.5 * math.exp(-1.5 * 3.0 / 2.5) / (1 - math.exp(-1.5))
    assert budget.marginal_gross(x, n, g, c, k).tolist() == pytest.approx([0.0, 0.0, marginal, 0.0], rel=1e-13, abs=0)


# ---------------------------------------------------------------- purchase models


BGNBD = (0.243, 4.414, 0.793, 2.426)  # CDNOW, weeks (Fader, Hardie & Lee 2005)
MBGNBD = (0.524843, 6.183082, 0.891360, 1.614003)
X, TX, T = np.array([0.0, 1, 2, 5, 7]), np.array([0.0, 10, 30.43, 35, 36]), np.array([100.0, 38, 38.86, 38, 37])


def test_failed_draws_give_probabilities_and_no_warnings():
    """Bootstrap draws outside the parameter space: P(alive) is still a probability (the
    modified BG/NBD's 1 / (1 + a / (b + x) ((alpha + T) / (alpha + t_x))^(r + x)) with a < 0,
    clipped to [0, 1] by hand), a draw of NaN predicts 0, the good draw is untouched, and none of
    it prints a RuntimeWarning into a notebook."""
    r, alpha, a, b = MBGNBD
    bad = (r, alpha, -0.5, b)
    raw = 1 / (1 + bad[2] / (b + X) * ((alpha + T) / (alpha + TX)) ** (r + X))
    assert (raw < 0).any() and (raw > 2).any()  # the fixture exercises both clips
    draws = np.array([MBGNBD, bad, (np.nan,) * 4])
    edges, d = np.arange(4) * 365.25 / 12 / 7, 1.1 ** (-np.arange(1, 4) / 12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = clv.pattern_predictions("mbgnbd", draws, X, TX, T, times=[4.0], edges=edges, d=d)
        good = clv.pattern_predictions("mbgnbd", draws[0], X, TX, T, times=[4.0], edges=edges, d=d)
        # BG/NBD with alpha < 0: the log of a negative ratio, 0 / 0: NaN, quietly
        bg = clv.pattern_predictions("bgnbd", [(0.243, -40.0, 0.793, 2.426)], X, TX, T, times=[4.0], edges=edges, d=d)
        e = clv.conditional_expected("bgnbd", (0.243, -40.0, 0.793, 2.426), 4.0, X, TX, T)
        e2 = clv.conditional_expected("mbgnbd", (0.5, -40.0, 0.9, 1.6), 4.0, X, TX, T)
        p = clv.conditional_p_alive("bgnbd", (0.243, 4.414, -0.5, 2.426), X, TX, T)
    np.testing.assert_allclose(out["alive"][:, 1], np.clip(raw, 0, 1), rtol=1e-14)
    for key in ("alive", "months", "disc"):
        np.testing.assert_array_equal(out[key][:, 0], good[key][:, 0])
        np.testing.assert_array_equal(out[key][:, 2], np.zeros(X.size))
    np.testing.assert_array_equal(out["at"][0][:, 2], np.zeros(X.size))
    assert np.isfinite(bg["months"]).all() and np.isfinite(bg["alive"]).all()
    assert np.isnan(e[1:]).all() and np.isnan(e2[1:]).all() and np.isnan(p[1:]).all() and p[0] == 1.0


def test_purchase_fit_p_alive_stays_a_probability():
    """PurchaseFit.p_alive on lifetimes' modified BG/NBD at a draw with a < 0: lifetimes' value
    clipped to [0, 1]."""
    from lifetimes import ModifiedBetaGeoFitter

    params = dict(zip(clv.PARAM_NAMES["mbgnbd"], (0.524843, 6.183082, -0.5, 1.614003), strict=True))
    ref = ModifiedBetaGeoFitter()
    ref.params_ = pd.Series(params)
    fitter = clv._beta_geo_class("mbgnbd")()
    fitter.params_ = pd.Series(params)
    fit = clv.PurchaseFit("mbgnbd", clv.time_unit("week"), params, float("nan"), 1, 1, 0.0, fitter)
    with np.errstate(all="ignore"):
        theirs = np.asarray(ref.conditional_probability_alive(X, TX, T), dtype=float)
    assert (theirs < 0).any() and (theirs > 2).any()
    np.testing.assert_allclose(fit.p_alive(X, TX, T), np.clip(theirs, 0, 1), rtol=1e-12)


def test_bgnbd_expectation_where_the_hypergeometric_term_overflows():
    """Customers with 200 and 300 purchases and a long horizon: 2F1 overflows and the expectation
    comes from its equivalent (Euler) form, as in lifetimes: finite, and lifetimes' values. Only
    those customers take that form: the others keep the direct one, equal to lifetimes' to the
    last bit (the Euler form differs from it by ~1e-13)."""
    from lifetimes import BetaGeoFitter

    ref = BetaGeoFitter()
    ref.params_ = pd.Series(dict(zip(clv.PARAM_NAMES["bgnbd"], BGNBD, strict=True)))
    x, t_x, T, t = np.array([2.0, 200, 300, 0, 5]), np.array([30.43, 19, 39, 0, 20]), np.array([38.86, 20, 40, 30, 30]), 1000.0
    from scipy.special import hyp2f1

    r, alpha, a, b = BGNBD
    assert np.isinf(hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))).tolist() == [False, True, True, False, False]
    ours = clv.conditional_expected("bgnbd", BGNBD, t, x, t_x, T)
    assert np.isfinite(ours).all()
    theirs = ref.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)
    np.testing.assert_array_equal(ours[[0, 3, 4]], theirs[[0, 3, 4]])


def test_several_discount_schedules_and_the_month_edges():
    """With one parameter draw, d may hold K discount schedules (months x K): each column = the
    discounted sum under that schedule alone. Several draws with several schedules, or edges
    that do not start at 0, are errors."""
    edges = np.arange(7) * 365.25 / 12 / 7
    rates = (0.0, 0.1, 0.5)
    d = np.column_stack([(1 + r) ** (-np.arange(1, 7) / 12) for r in rates])
    d[3:, 0] = 0.0  # a 3-month horizon
    out = clv.pattern_predictions("bgnbd", BGNBD, X, TX, T, edges=edges, d=d)
    assert out["disc"].shape == (X.size, 3)
    for j in range(3):
        one = clv.pattern_predictions("bgnbd", BGNBD, X, TX, T, edges=edges, d=d[:, j])
        np.testing.assert_allclose(out["disc"][:, j], one["disc"][:, 0], rtol=1e-14)
        np.testing.assert_allclose(out["months"][:, 0], one["months"][:, 0], rtol=1e-14)
    with pytest.raises(ValueError, match="^several discount schedules need a single parameter draw$"):
        clv.pattern_predictions("bgnbd", [BGNBD, BGNBD], X, TX, T, edges=edges, d=d)
    with pytest.raises(ValueError, match="^several discount schedules need a single parameter draw$"):
        clv.pattern_predictions("bgnbd", [BGNBD, BGNBD], X, TX, T, edges=edges, d=d[:, :2])
    with pytest.raises(ValueError, match="^the month edges start at 0$"):
        clv.pattern_predictions("bgnbd", BGNBD, X, TX, T, edges=edges[1:], d=d[1:, 1])


def test_discounted_clv_without_a_cost_to_serve():
    """No cost to serve given: the discounted value alone (by hand)."""
    d = [1.1 ** (-1 / 12), 1.1 ** (-2 / 12)]
    value = clv.discounted_clv([[1.0, 0.5]], [80.0], margin=0.25, annual_discount_rate=0.1, p_alive=[0.4])
    assert value.tolist() == pytest.approx([0.25 * 80 * (d[0] + 0.5 * d[1])], rel=1e-14)
