"""Reference values for the published formulas (issue 17): each formula of the statistics helpers
against an independent reference at the precision it is published.

* Gamma-Gamma expected spend: lifetimes' ``GammaGammaFitter.conditional_expected_average_profit``
  and the closed form p (gamma + x m) / (p x + q - 1) written out here, in both places the
  project writes it (:meth:`clv.SpendFit.expected` and the per-draw copy in :func:`clv.clv_draws`).
* BG/NBD, modified BG/NBD and Pareto/NBD: lifetimes' fitters (conditional expected purchases,
  P(alive)) against the project's vectorised closed forms; the modified BG/NBD fitted on the CDNOW
  sample by lifetimes and by the project's weighted fit.
* The CLV sum: by hand (lifetimes' expected purchases at the month edges, lifetimes' expected
  spend, (1 + rate)^(-m/12) discounting, the cost to serve weighted by lifetimes' P(alive)),
  against :func:`clv.discounted_clv`, :func:`clv.customer_predictions` and :func:`clv.clv_draws`.
* Wilson and Newcombe intervals, the pooled z-test, Welch, CUPED, the Katz risk-ratio interval:
  statsmodels on the same numbers.
* The budget objective (response curve, its derivative, expected profit): by hand.

Every test here is fast (no engine, no notebook) and is the proof subset of ``make mutants``
(README, "Mutation testing").
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import budget, clv, lifecycle
from helpers import campaigns as cp

LIFETIMES_DATA = Path(next(iter(importlib.util.find_spec("lifetimes").submodule_search_locations))) / "datasets"
PERIOD_END = pd.Timestamp("1997-09-30")

# Published CDNOW parameters (weeks): BG/NBD (Fader, Hardie & Lee 2005), Pareto/NBD (Fader & Hardie
# note 009), Gamma-Gamma (Fader, Hardie & Lee 2005b, lifetimes' documentation).
BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PARETO = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
# The modified BG/NBD as lifetimes fits it on the same CDNOW summary (see test_mbgnbd_fit_matches_lifetimes).
MBGNBD = {"r": 0.524843, "alpha": 6.183082, "a": 0.891360, "b": 1.614003}
PARAMS = {"bgnbd": BGNBD, "mbgnbd": MBGNBD, "pareto": PARETO}


# ---------------------------------------------------------------- fixtures (lifetimes' CDNOW files)


@pytest.fixture(scope="module")
def cdnow() -> clv.Summary:
    """lifetimes' CDNOW summary (2,357 customers, weeks; x, t_x, T and the mean repeat spend
    zbar) as a project Summary: times as whole days (the file rounds weeks to 2 decimals)."""
    d = pd.read_csv(LIFETIMES_DATA / "cdnow_customers_summary_with_transactions.csv")
    frame = pd.DataFrame({"customer_id": d["ID"].astype(str), "x": d["x"].astype(int),
                          "tx_days": (d["t_x"] * 7).round().astype(int), "T_days": (d["T"] * 7).round().astype(int),
                          "repeat_spend_n": d["x"].astype(int),
                          "repeat_spend_mean": d["zbar"].where(d["x"] > 0)})
    return clv.summary_from_frame(frame, "week")


def _lifetimes(model: str, params: dict):
    from lifetimes import BetaGeoFitter, ModifiedBetaGeoFitter, ParetoNBDFitter

    fitter = {"bgnbd": BetaGeoFitter, "mbgnbd": ModifiedBetaGeoFitter, "pareto": ParetoNBDFitter}[model]()
    fitter.params_ = pd.Series(params)[clv.PARAM_NAMES[model]].astype(float)
    return fitter


def _purchase_fit(model: str, params: dict) -> clv.PurchaseFit:
    """A project PurchaseFit at given parameters (its fitter: lifetimes' class, or the project's
    Pareto/NBD), as fit_purchases would return it."""
    fitter = clv.ParetoNBD() if model == "pareto" else clv._beta_geo_class(model)()
    fitter.params_ = pd.Series(params)[clv.PARAM_NAMES[model]].astype(float)
    return clv.PurchaseFit(model, clv.time_unit("week"), dict(params), float("nan"), 1, 1, 0.0, fitter)


@pytest.fixture(scope="module")
def gamma_gamma(cdnow):
    """lifetimes' Gamma-Gamma fitted on CDNOW's 946 repeat buyers, and a project SpendFit at the
    same parameters."""
    from lifetimes import GammaGammaFitter

    f = cdnow.frame[cdnow.frame["x"] > 0]
    ref = GammaGammaFitter().fit(f["repeat_spend_n"], f["repeat_spend_mean"])
    params = {k: float(v) for k, v in ref.params_.items()}
    return ref, clv.SpendFit(params=params, loglik=float("nan"), customers=len(f), penalizer=0.0, fitter=None)


# ---------------------------------------------------------------- Gamma-Gamma expected spend


def test_gamma_gamma_fit_and_expected_spend_match_lifetimes(cdnow, gamma_gamma):
    """p = 6.2488, q = 3.7446, gamma = 15.4477 (published rounded: 6.25, 3.74, 15.44); customer 1
    (2 repeat purchases averaging 22.35) expects 24.66 per order, customer 2 (1 at 11.77) 18.91, a
    customer without repeat purchases the population mean 35.17 (lifetimes' documentation)."""
    ref, spend = gamma_gamma
    f = cdnow.frame
    n, m = f["repeat_spend_n"].to_numpy(float), f["repeat_spend_mean"].to_numpy(float)
    p, q, v = spend.values
    assert (round(p, 2), round(q, 2), round(v, 2)) == (6.25, 3.74, 15.45)
    ours = spend.expected(n, m)
    theirs = ref.conditional_expected_average_profit(pd.Series(n), pd.Series(np.nan_to_num(m))).to_numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)
    by_hand = p * (v + n * np.nan_to_num(m)) / (p * n + q - 1)  # the closed form, not the weighted average
    np.testing.assert_allclose(ours, by_hand, rtol=1e-12, atol=0)
    assert [round(float(e), 2) for e in ours[:2]] == [24.66, 18.91]
    assert round(spend.population_mean, 2) == 35.17 == round(float(ours[f["x"].to_numpy() == 0][0]), 2)
    assert spend.population_mean == pytest.approx(p * v / (q - 1), rel=1e-15)
    # explicit parameters (the bootstrap draws) go through the same formula
    other = (2.0, 5.0, 30.0)
    np.testing.assert_allclose(spend.expected(n, m, params=other),
                               2.0 * (30.0 + n * np.nan_to_num(m)) / (2.0 * n + 5.0 - 1), rtol=1e-12, atol=0)
    # the project's own fit (several starts, analytic gradient) lands on lifetimes' optimum
    fit = clv.fit_spend(clv.spend_data(cdnow))
    np.testing.assert_allclose(fit.values, spend.values, rtol=1e-6)


# ---------------------------------------------------------------- purchase models


def test_mbgnbd_fit_matches_lifetimes(cdnow):
    """The modified BG/NBD fitted on the CDNOW histogram (weighted patterns) = lifetimes'
    ModifiedBetaGeoFitter on the 2,357 customers: r 0.5248, alpha 6.1831, a 0.8914, b 1.6140;
    customer 1 (x 2, t_x 30.43, T 38.86) expects 1.2627 purchases in the next 39 weeks, P(alive)
    0.7061."""
    from lifetimes import ModifiedBetaGeoFitter

    f = cdnow.frame
    x, t_x, T = (f[c].to_numpy(float) for c in ("x", "t_x", "T"))
    ref = ModifiedBetaGeoFitter().fit(x, t_x, T)
    fit = clv.fit_purchases(cdnow.histogram(), "mbgnbd")
    assert fit.warning is None and fit.penalizer == 0.0
    np.testing.assert_allclose(fit.values, ref.params_[clv.PARAM_NAMES["mbgnbd"]].to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(fit.values, [MBGNBD[k] for k in clv.PARAM_NAMES["mbgnbd"]], rtol=1e-5)
    np.testing.assert_allclose(fit.expected(39.0, x, t_x, T),
                               ref.conditional_expected_number_of_purchases_up_to_time(39.0, x, t_x, T), rtol=1e-6)
    np.testing.assert_allclose(fit.p_alive(x, t_x, T), ref.conditional_probability_alive(x, t_x, T), rtol=1e-6)
    assert round(float(fit.expected(39.0, 2, 30.43, 38.86)), 4) == 1.2627
    assert round(float(fit.p_alive(2, 30.43, 38.86)[0]), 4) == 0.7061


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd", "pareto"])
def test_closed_forms_match_lifetimes(model, cdnow):
    """E[purchases in (T, T + t]] and P(alive) of every CDNOW customer at the published
    parameters: the project's vectorised closed forms (the ones customer_predictions and the
    intervals use) = lifetimes' fitters."""
    f = cdnow.frame
    x, t_x, T = (f[c].to_numpy(float) for c in ("x", "t_x", "T"))
    params = PARAMS[model]
    values = tuple(params[k] for k in clv.PARAM_NAMES[model])
    ref = _lifetimes(model, params)
    for t in (1.0, 4.35, 39.0, 52.18, 104.0):
        np.testing.assert_allclose(clv.conditional_expected(model, values, t, x, t_x, T),
                                   ref.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T),
                                   rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(clv.conditional_p_alive(model, values, x, t_x, T),
                               ref.conditional_probability_alive(x, t_x, T), rtol=1e-9, atol=1e-14)
    if model == "bgnbd":  # the published figure (Fader, Hardie & Lee 2005): customer 1, 39 weeks
        assert round(float(clv.conditional_expected(model, values, 39.0, 2.0, 30.43, 38.86)), 3) == 1.226


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd", "pareto"])
def test_pattern_predictions_match_lifetimes(model, cdnow):
    """pattern_predictions (P(alive), E at given horizons, the monthly increments and their
    discounted sum) = lifetimes' conditional expectation at the month edges, differenced and
    discounted by hand."""
    f = cdnow.frame
    x, t_x, T = (f[c].to_numpy(float) for c in ("x", "t_x", "T"))
    params = PARAMS[model]
    values = np.array([params[k] for k in clv.PARAM_NAMES[model]])
    ref = _lifetimes(model, params)
    months = 6
    edges = np.arange(months + 1) * 365.25 / 12 / 7
    d = 1.08 ** (-np.arange(1, months + 1) / 12)
    out = clv.pattern_predictions(model, values, x, t_x, T, times=[30 / 7, 365 / 7], edges=edges, d=d)
    np.testing.assert_allclose(out["alive"][:, 0], ref.conditional_probability_alive(x, t_x, T), rtol=1e-9)
    for t, at in zip((30 / 7, 365 / 7), out["at"], strict=True):
        np.testing.assert_allclose(at[:, 0], ref.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T),
                                   rtol=1e-9, atol=1e-14)
    with np.errstate(divide="ignore"):  # lifetimes' Pareto/NBD takes log(0) at t = 0 (and gives 0)
        cumulative = np.array([ref.conditional_expected_number_of_purchases_up_to_time(e, x, t_x, T) for e in edges])
    step = np.diff(cumulative, axis=0)
    np.testing.assert_allclose(out["months"][:, 0], step.sum(axis=0), rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(out["disc"][:, 0], d @ step, rtol=1e-9, atol=1e-14)


# ---------------------------------------------------------------- the CLV sum


def _hand_clv(model: str, cdnow: clv.Summary, gamma_gamma, months: int, margin: float, rate: float, cost: float,
              refund: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CLV by hand from lifetimes' predictions: sum over months m of margin x (1 - refunds) x
    expected spend x (E(t_m) - E(t_m-1)) / (1 + rate)^(m/12), minus cost / 12 per month, discounted
    the same way, times P(alive). Months are 365.25 / 12 days. Returns (clv, expected spend,
    P(alive))."""
    ref_gg, _ = gamma_gamma
    f = cdnow.frame
    x, t_x, T = (f[c].to_numpy(float) for c in ("x", "t_x", "T"))
    ref = _lifetimes(model, PARAMS[model])
    value = np.zeros(len(f))
    discount_sum = 0.0
    prev = np.zeros(len(f))
    for m in range(1, months + 1):
        cur = ref.conditional_expected_number_of_purchases_up_to_time(m * 365.25 / 12 / 7, x, t_x, T)
        factor = 1.0 / (1.0 + rate) ** (m / 12.0)
        value += (cur - prev) * factor
        discount_sum += factor
        prev = cur
    spend = ref_gg.conditional_expected_average_profit(f["repeat_spend_n"], f["repeat_spend_mean"].fillna(0.0)).to_numpy()
    alive = np.asarray(ref.conditional_probability_alive(x, t_x, T), dtype=float)
    return margin * (1 - refund) * spend * value - cost / 12.0 * discount_sum * alive, spend, alive


def test_discounted_clv_by_hand():
    """One customer: 1, 0.5 and 0.25 expected purchases in the next three months, 100 per order,
    30 % margin, 2 % refunds, 10 % a year, 12 a year to serve, P(alive) 0.8: 48.4505; and two
    customers at once (no P(alive) given: the cost to serve counts in full)."""
    d = [1.1 ** (-1 / 12), 1.1 ** (-2 / 12), 1.1 ** (-3 / 12)]
    one = 0.3 * 100 * 0.98 * (1 * d[0] + 0.5 * d[1] + 0.25 * d[2]) - 12.0 / 12 * 0.8 * sum(d)
    assert round(one, 4) == 48.4505
    value = clv.discounted_clv([[1.0, 0.5, 0.25]], [100.0], margin=0.3, annual_discount_rate=0.10,
                               cost_to_serve_per_year=12.0, p_alive=[0.8], refund_share=0.02)
    assert float(value[0]) == pytest.approx(one, rel=1e-14)
    two = clv.discounted_clv([[1.0, 0.5, 0.25], [0.0, 2.0, 0.0]], [100.0, 40.0], margin=0.5, annual_discount_rate=0.2,
                             cost_to_serve_per_year=6.0)
    d = [1.2 ** (-1 / 12), 1.2 ** (-2 / 12), 1.2 ** (-3 / 12)]
    assert two.tolist() == pytest.approx([0.5 * 100 * (d[0] + 0.5 * d[1] + 0.25 * d[2]) - 0.5 * sum(d),
                                          0.5 * 40 * 2 * d[1] - 0.5 * sum(d)], rel=1e-14)
    assert clv.discount_factors(3, 0.1).tolist() == pytest.approx([1.1 ** (-1 / 12), 1.1 ** (-2 / 12), 1.1 ** (-3 / 12)],
                                                                  rel=1e-15)


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd", "pareto"])
def test_customer_clv_and_its_draws_by_hand(model, cdnow, gamma_gamma):
    """Every CDNOW customer's CLV over 12 months (margin 0.3, 2 % refunds, 10 % a year, 2 a year
    to serve) computed by hand from lifetimes' predictions = customer_predictions (expected spend,
    P(alive), expected purchases, CLV) and = clv_draws at the point estimate (its own copy of the
    spend formula and of the CLV sum). BG/NBD total: 17,650.66 over the 2,357 customers."""
    _, spend = gamma_gamma
    settings = clv.ClvSettings(horizon_months=12, margin=0.3, annual_discount_rate=0.1, cost_to_serve_per_year=2.0,
                               refund_share=0.02)
    hand, hand_spend, hand_alive = _hand_clv(model, cdnow, gamma_gamma, 12, 0.3, 0.1, 2.0, 0.02)
    fit = _purchase_fit(model, PARAMS[model])
    out = clv.customer_predictions(fit, spend, cdnow, settings, PERIOD_END)
    np.testing.assert_allclose(out["expected_spend"], hand_spend, rtol=1e-12)
    np.testing.assert_allclose(out["p_alive"], hand_alive, rtol=1e-9)
    f = cdnow.frame
    ref = _lifetimes(model, PARAMS[model])
    for days in (30, 90, 365):
        np.testing.assert_allclose(out[f"expected_purchases_{days}"],
                                   ref.conditional_expected_number_of_purchases_up_to_time(days / 7, f["x"], f["t_x"], f["T"]),
                                   rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(out["clv"], hand, rtol=1e-9, atol=1e-9)
    if model == "bgnbd":
        assert round(float(hand.sum()), 2) == 17650.66
    point = clv.Bootstrap(purchase=fit.values[None, :], spend=spend.values[None, :])
    draws = clv.clv_draws(fit, spend, cdnow, settings, point, {"repeat": (f["x"] > 0).to_numpy()})
    np.testing.assert_allclose(draws["low"], hand, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(draws["high"], hand, rtol=1e-9, atol=1e-9)
    assert draws["total"][0] == pytest.approx(hand.sum(), rel=1e-10)
    assert draws["groups"]["repeat"][0] == pytest.approx(hand[f["x"].to_numpy() > 0].sum(), rel=1e-10)


def test_clv_draws_spend_formula_under_other_parameters(cdnow, gamma_gamma):
    """Two bootstrap draws with different Gamma-Gamma parameters (and the same purchase
    parameters): each draw's CLV uses that draw's expected spend, p (gamma + x m) / (p x + q - 1)."""
    ref_gg, spend = gamma_gamma
    from lifetimes import GammaGammaFitter

    settings = clv.ClvSettings(horizon_months=6, margin=0.4, annual_discount_rate=0.05, cost_to_serve_per_year=0.0)
    fit = _purchase_fit("bgnbd", BGNBD)
    draws_gg = np.array([spend.values, [2.0, 5.0, 30.0]])
    boot = clv.Bootstrap(purchase=np.vstack([fit.values, fit.values]), spend=draws_gg)
    out = clv.clv_draws(fit, spend, cdnow, settings, boot)
    f = cdnow.frame
    base, _, _ = _hand_clv("bgnbd", cdnow, gamma_gamma, 6, 0.4, 0.05, 0.0, 0.0)
    for b, gg in enumerate(draws_gg):
        other = GammaGammaFitter()
        other.params_ = pd.Series(gg, index=["p", "q", "v"])
        s = other.conditional_expected_average_profit(f["repeat_spend_n"], f["repeat_spend_mean"].fillna(0.0)).to_numpy()
        s0 = ref_gg.conditional_expected_average_profit(f["repeat_spend_n"], f["repeat_spend_mean"].fillna(0.0)).to_numpy()
        assert out["total"][b] == pytest.approx(float((base / s0 * s).sum()), rel=1e-10)


# ---------------------------------------------------------------- campaigns: proportions


PROPORTIONS = [(0, 10), (1, 10), (5, 10), (10, 10), (3, 7), (56, 70), (48, 80), (0, 1), (1, 1), (17, 1000),
               (999, 1000), (250, 400)]


def test_wilson_matches_statsmodels():
    from statsmodels.stats.proportion import proportion_confint

    for x, n in PROPORTIONS:
        ref = proportion_confint(x, n, alpha=0.05, method="wilson")
        assert cp.wilson(x, n) == pytest.approx(ref, rel=1e-12, abs=1e-14), (x, n)
        lo, hi = lifecycle.wilson([x], [n])
        assert (float(lo[0]), float(hi[0])) == pytest.approx(ref, rel=1e-12, abs=1e-14), (x, n)
    # another level through z
    ref = proportion_confint(3, 7, alpha=0.10, method="wilson")
    assert cp.wilson(3, 7, z=1.6448536269514722) == pytest.approx(ref, rel=1e-12)
    assert all(math.isnan(v) for v in cp.wilson(0, 0))
    # Wilson (1927) for 0 of 10: upper bound 0.2775 (Newcombe 1998, table II)
    assert round(cp.wilson(0, 10)[1], 4) == 0.2775


@pytest.mark.parametrize("x1,n1,x0,n0", [(56, 70, 48, 80), (9, 10, 3, 10), (0, 30, 5, 25), (10, 10, 0, 20),
                                         (120, 1000, 95, 1000), (3, 400, 1, 120)])
def test_newcombe_and_the_pooled_z_test_match_statsmodels(x1, n1, x0, n0):
    """Newcombe's hybrid score interval (method 10) = statsmodels'
    confint_proportions_2indep(method='newcomb'); the p-value = the pooled two-proportion z-test
    (proportions_ztest); the se for weighting = the interval's half-width / 1.96. Newcombe's
    example (a), 56/70 - 48/80: 0.0524 to 0.3339."""
    from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

    est = cp.diff_proportions(x1, n1, x0, n0)
    lo, hi = confint_proportions_2indep(x1, n1, x0, n0, method="newcomb", compare="diff")
    assert est["estimate"] == pytest.approx(x1 / n1 - x0 / n0, rel=1e-14, abs=1e-15)
    assert (est["lo"], est["hi"]) == pytest.approx((lo, hi), rel=1e-12, abs=1e-14)
    assert est["se"] == pytest.approx((hi - lo) / (2 * 1.959963984540054), rel=1e-12)
    if 0 < x1 + x0 < n1 + n0:
        assert est["p"] == pytest.approx(proportions_ztest([x1, x0], [n1, n0])[1], rel=1e-10)
    if (x1, n1, x0, n0) == (56, 70, 48, 80):
        assert (round(est["lo"], 4), round(est["hi"], 4)) == (0.0524, 0.3339)


def test_relative_repurchase_lift_matches_the_katz_interval():
    """p1 / p0 - 1 with the Katz log interval = statsmodels' confint_proportions_2indep(method='log',
    compare='ratio') minus 1."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    for x1, n1, x0, n0 in [(60, 200, 30, 200), (7, 50, 12, 60), (300, 1000, 280, 990)]:
        lo, hi = confint_proportions_2indep(x1, n1, x0, n0, method="log", compare="ratio")
        rel = cp.relative_proportion(x1, n1, x0, n0)
        assert rel == pytest.approx(((x1 / n1) / (x0 / n0) - 1, lo - 1, hi - 1), rel=1e-12)


# ---------------------------------------------------------------- campaigns: means, CUPED


def _welch_reference(a, b):
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    cm = CompareMeans(DescrStatsW(a), DescrStatsW(b))
    lo, hi = cm.tconfint_diff(alpha=0.05, usevar="unequal")
    _, p, _ = cm.ttest_ind(usevar="unequal")
    return lo, hi, cm.std_meandiff_separatevar, p


def test_welch_matches_statsmodels():
    rng = np.random.default_rng(11)
    for n1, n0 in ((400, 300), (12, 9), (3, 40)):
        a, b = rng.gamma(2.0, 20.0, n1), rng.gamma(1.5, 25.0, n0)
        est = cp.diff_means(a, b)
        lo, hi, se, p = _welch_reference(a, b)
        assert est["estimate"] == pytest.approx(a.mean() - b.mean(), rel=1e-12)
        assert (est["lo"], est["hi"], est["se"], est["p"]) == pytest.approx((lo, hi, se, p), rel=1e-9)


def test_cuped_matches_statsmodels_ols_and_welch():
    """CUPED with theta pooled over both arms: theta = the OLS slope of the outcome on the
    pre-period covariate (statsmodels), the adjusted outcomes' Welch interval (statsmodels), the
    variance removed = the pooled regression's R^2, the width ratio = the ratio of the standard
    errors."""
    from statsmodels.regression.linear_model import OLS

    rng = np.random.default_rng(5)
    n = 500
    x = rng.gamma(2.0, 50.0, n)
    treated = rng.random(n) < 0.4
    y = 0.6 * x + rng.normal(0, 30, n) + 5.0 * treated
    x[treated] += 4.0  # a chance imbalance the adjustment removes
    res = cp.cuped(y[treated], y[~treated], x[treated], x[~treated])
    ols = OLS(y, np.column_stack([np.ones(n), x])).fit()
    theta = float(ols.params[1])
    assert res["theta"] == pytest.approx(theta, rel=1e-10)
    adj = y - theta * (x - x.mean())
    lo, hi, se, p = _welch_reference(adj[treated], adj[~treated])
    assert res["estimate"] == pytest.approx(y[treated].mean() - y[~treated].mean()
                                            - theta * (x[treated].mean() - x[~treated].mean()), rel=1e-10)
    assert (res["lo"], res["hi"], res["se"], res["p"]) == pytest.approx((lo, hi, se, p), rel=1e-9)
    assert res["variance_reduction"] == pytest.approx(float(ols.rsquared), rel=1e-10)
    raw_lo, raw_hi, raw_se, _ = _welch_reference(y[treated], y[~treated])
    assert (res["raw"]["lo"], res["raw"]["hi"]) == pytest.approx((raw_lo, raw_hi), rel=1e-9)
    assert res["width_ratio"] == pytest.approx(se / raw_se, rel=1e-9)
    # a covariate that does not vary: no adjustment
    flat = cp.cuped(y[treated], y[~treated], np.ones(treated.sum()), np.ones((~treated).sum()))
    assert flat["theta"] == 0.0 and flat["width_ratio"] == 1.0 and flat["estimate"] == pytest.approx(
        y[treated].mean() - y[~treated].mean(), rel=1e-12)


# ---------------------------------------------------------------- the budget objective


def test_response_curve_and_expected_profit_by_hand():
    """G(x) = n g (1 - exp(-k x / (n c))) / (1 - exp(-k)), its derivative, and expected profit
    G(x) - x, by hand: 500 customers, 6.0 of gross profit each at one contact, 2.5 a contact,
    saturation 1, 300 spent: G = 1,012.65 (profit 712.65), marginal 2.9866 per unit."""
    n, g, c, k, x = 500.0, 6.0, 2.5, 1.0, 300.0
    G = n * g * (1 - math.exp(-k * x / (n * c))) / (1 - math.exp(-k))
    assert round(G, 2) == 1012.65
    assert float(budget.gross_profit(x, n, g, c, k)) == pytest.approx(G, rel=1e-13)
    dG = g * k / c * math.exp(-k * x / (n * c)) / (1 - math.exp(-k))
    assert round(dG, 4) == 2.9866
    assert float(budget.marginal_gross(x, n, g, c, k)) == pytest.approx(dG, rel=1e-13)
    h = 1e-3  # the derivative really is G's
    assert float(budget.marginal_gross(x, n, g, c, k)) == pytest.approx(
        float((budget.gross_profit(x + h, n, g, c, k) - budget.gross_profit(x - h, n, g, c, k)) / (2 * h)), rel=1e-8)
    # one contact per customer (x = n c) buys n g; cells with nobody or no cost give nothing
    xs, ns, gs, cs, ks = [1250.0, 10.0, 10.0, 0.0, 80.0], [500, 0, 10, 10, 40], [6.0, 1.0, 1.0, 1.0, 0.5], \
        [2.5, 1.0, 0.0, 1.0, 0.4], 2.0
    by_hand = [ni * gi * (1 - math.exp(-ks * xi / (ni * ci))) / (1 - math.exp(-ks)) if ni > 0 and ci > 0 else 0.0
               for xi, ni, gi, ci in zip(xs, ns, gs, cs, strict=True)]
    assert budget.gross_profit(xs, ns, gs, cs, ks).tolist() == pytest.approx(by_hand, rel=1e-13, abs=0)
    assert by_hand[0] == pytest.approx(500 * 6.0, rel=1e-13)
    marg = [gi * ks / ci * math.exp(-ks * xi / (ni * ci)) / (1 - math.exp(-ks)) if ni > 0 and ci > 0 else 0.0
            for xi, ni, gi, ci in zip(xs, ns, gs, cs, strict=True)]
    assert budget.marginal_gross(xs, ns, gs, cs, ks).tolist() == pytest.approx(marg, rel=1e-13, abs=0)
    econ = pd.DataFrame({"contactable": ns, "gross": gs, "cost_per_contact": cs, "capacity": 1e9,
                         "gross_lo": [g_ / 2 for g_ in gs]})
    assert budget.expected_profit(xs, econ, ks).tolist() == pytest.approx(
        [b - xi for b, xi in zip(by_hand, xs, strict=True)], rel=1e-13, abs=1e-12)
    lo = [ni * gi / 2 * (1 - math.exp(-ks * xi / (ni * ci))) / (1 - math.exp(-ks)) - xi if ni > 0 and ci > 0 else -xi
          for xi, ni, gi, ci in zip(xs, ns, gs, cs, strict=True)]
    assert budget.expected_profit(xs, econ, ks, "gross_lo").tolist() == pytest.approx(lo, rel=1e-13, abs=1e-12)


def test_relative_lift_of_means_by_the_delta_method():
    """m1 / m0 - 1 with the delta-method interval on the log ratio, by hand: means 12 and 10 with
    standard errors 0.6 and 0.5: +20 %, 95 % interval +4.5 % to +37.8 %."""
    s = math.sqrt((0.6 / 12) ** 2 + (0.5 / 10) ** 2)
    z = 1.959963984540054
    by_hand = (12 / 10 - 1, 1.2 * math.exp(-z * s) - 1, 1.2 * math.exp(z * s) - 1)
    assert [round(v, 3) for v in by_hand] == [0.2, 0.045, 0.378]
    assert cp.ratio_interval(12.0, 0.6, 10.0, 0.5) == pytest.approx(by_hand, rel=1e-13)
    assert all(math.isnan(v) for v in cp.ratio_interval(12.0, 0.6, 0.0, 0.5))
    assert all(math.isnan(v) for v in cp.ratio_interval(-1.0, 0.6, 10.0, 0.5))


# ---------------------------------------------------------------- customer predictions: the rest of the table


def _day_summary(cdnow: clv.Summary) -> clv.Summary:
    return clv.summary_from_frame(cdnow.frame.drop(columns=["t_x", "T", "row"], errors="ignore").head(5), "day")


def test_customer_predictions_horizon_next_purchase_and_no_spend(cdnow, gamma_gamma):
    """BG/NBD at the published CDNOW parameters, 12 months: the expected purchases over the
    horizon = lifetimes' E(365.25 days); the expected next purchase = the period end + the first
    whole day by which P(at least one purchase) = P(alive) (1 - ((alpha + T) / (alpha + T + t))^(r
    + x)) reaches 50 % (lifetimes' P(alive), solved by bisection here), none when it does not
    within the horizon. Without a spend model: no expected spend and no CLV, the rest the same.
    A summary in another time unit is refused, saying for what."""
    _, spend = gamma_gamma
    settings = clv.ClvSettings(horizon_months=12, margin=0.3, annual_discount_rate=0.1, cost_to_serve_per_year=2.0)
    fit = _purchase_fit("bgnbd", BGNBD)
    out = clv.customer_predictions(fit, spend, cdnow, settings, PERIOD_END)
    assert out.columns.tolist() == ["customer_id", "p_alive", "expected_purchases_30", "expected_purchases_90",
                                    "expected_purchases_365", "expected_purchases_horizon", "expected_spend", "clv",
                                    "expected_next_purchase"]
    f = cdnow.frame
    x, t_x, T = (f[c].to_numpy(float) for c in ("x", "t_x", "T"))
    ref = _lifetimes("bgnbd", BGNBD)
    horizon = 365.25 / 7  # weeks
    np.testing.assert_allclose(out["expected_purchases_horizon"],
                               ref.conditional_expected_number_of_purchases_up_to_time(horizon, x, t_x, T), rtol=1e-9)
    r, alpha = BGNBD["r"], BGNBD["alpha"]
    alive = np.asarray(ref.conditional_probability_alive(x, t_x, T), dtype=float)

    def bought(t):
        return alive * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x))

    reach = bought(horizon) >= 0.5
    lo, hi = np.zeros(x.size), np.full(x.size, horizon)
    for _ in range(80):  # bisection: the first t with P(bought) = 0.5
        mid = (lo + hi) / 2
        below = bought(mid) < 0.5
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    days = np.ceil(hi * 7)
    assert 0 < reach.sum() < x.size  # some customers buy within the horizon, most do not
    got = (out["expected_next_purchase"] - PERIOD_END).dt.days.to_numpy()
    np.testing.assert_array_equal(got[reach], days[reach])
    assert out["expected_next_purchase"][~reach].isna().all()
    none = clv.customer_predictions(fit, None, cdnow, settings, PERIOD_END)
    assert none["expected_spend"].isna().all() and none["clv"].isna().all()
    same = [c for c in out.columns if c not in ("expected_spend", "clv")]
    pd.testing.assert_frame_equal(none[same], out[same])
    with pytest.raises(clv.TimeUnitError, match=r"^time units cannot be mixed in customer predictions: got \['day', 'week'\]$"):
        clv.customer_predictions(fit, spend, _day_summary(cdnow), settings, PERIOD_END)


def test_clv_draws_intervals_totals_groups_and_blocks(cdnow, gamma_gamma):
    """Five parameter draws (purchase and spend): each customer's interval = numpy's 10 % and 90 %
    quantiles (level 0.8) of their five CLVs, each CLV from customer_predictions at that draw;
    each draw's total and group totals = the sums of those CLVs. A group given as 0/1 flags is
    the same group as its boolean mask; a group that leaves out the last customers counts them
    as 0. Blocks of 97 combinations give the same numbers as one block."""
    _, spend = gamma_gamma
    settings = clv.ClvSettings(horizon_months=6, margin=0.3, annual_discount_rate=0.1, cost_to_serve_per_year=2.0,
                               refund_share=0.02)
    fit = _purchase_fit("bgnbd", BGNBD)
    shift = np.array([[1.0, 1.0, 1.0, 1.0], [0.9, 1.1, 1.05, 0.95], [1.1, 0.9, 0.95, 1.05], [1.05, 1.05, 0.9, 1.1],
                      [0.95, 0.95, 1.1, 0.9]])
    boot = clv.Bootstrap(purchase=fit.values * shift, spend=spend.values * shift[:, [0, 2, 1]], level=0.8)
    values = np.column_stack([
        clv.customer_predictions(fit.with_params(boot.purchase[b]),
                                 clv.SpendFit(params=dict(zip("pqv", boot.spend[b], strict=True)), loglik=float("nan"),
                                              customers=1, penalizer=0.0, fitter=None),
                                 cdnow, settings, PERIOD_END)["clv"].to_numpy()
        for b in range(5)])
    assert (values.std(axis=1) > 0).mean() > 0.99  # the draws do move the CLVs
    f = cdnow.frame
    repeat = (f["x"] > 0).to_numpy()
    groups = {"repeat": repeat, "one-timers": ~repeat, "flag": repeat.astype(int)}
    out = clv.clv_draws(fit, spend, cdnow, settings, boot, groups)
    low, high = np.quantile(values, [0.1, 0.9], axis=1)
    np.testing.assert_allclose(out["low"], low, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(out["high"], high, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(out["total"], values.sum(axis=0), rtol=1e-10)
    np.testing.assert_allclose(out["groups"]["repeat"], values[repeat].sum(axis=0), rtol=1e-10)
    np.testing.assert_allclose(out["groups"]["one-timers"], values[~repeat].sum(axis=0), rtol=1e-10)
    np.testing.assert_array_equal(out["groups"]["flag"], out["groups"]["repeat"])
    assert out["level"] == 0.8 and list(out["groups"]) == ["repeat", "one-timers", "flag"]
    blocks = clv.clv_draws(fit, spend, cdnow, settings, boot, groups, chunk=97)
    for key in ("low", "high", "total"):
        np.testing.assert_allclose(blocks[key], out[key], rtol=1e-12, atol=1e-12)
    for name in groups:
        np.testing.assert_allclose(blocks["groups"][name], out["groups"][name], rtol=1e-12)
    with pytest.raises(clv.TimeUnitError, match=r"^time units cannot be mixed in the CLV intervals: got \['day', 'week'\]$"):
        clv.clv_draws(fit, spend, _day_summary(cdnow), settings, boot)


def test_clv_draws_tells_apart_customers_with_the_same_pattern_and_mean_spend(gamma_gamma):
    """Two customers with the same purchase pattern and the same mean spend per repeat purchase,
    one from 2 repeat purchases with an amount and one from 1: the Gamma-Gamma expected spend
    p (gamma + n m) / (p n + q - 1) differs, and so does the CLV (no cost to serve: CLV in the
    ratio of the expected spends). clv_draws at the point estimate = customer_predictions."""
    _, spend = gamma_gamma
    frame = pd.DataFrame({"customer_id": list("abcdef"), "x": [2, 2, 0, 1, 3, 2],
                          "tx_days": [70, 70, 0, 35, 100, 70], "T_days": [200, 200, 200, 150, 210, 200],
                          "repeat_spend_n": [2, 1, 0, 1, 3, 2],
                          "repeat_spend_mean": [20.0, 20.0, np.nan, 35.0, 15.0, 25.0]})
    summary = clv.summary_from_frame(frame, "week")
    settings = clv.ClvSettings(horizon_months=12, margin=0.3, annual_discount_rate=0.1, cost_to_serve_per_year=0.0)
    fit = _purchase_fit("bgnbd", BGNBD)
    pred = clv.customer_predictions(fit, spend, summary, settings, PERIOD_END)
    point = clv.Bootstrap(purchase=fit.values[None, :], spend=spend.values[None, :])
    draws = clv.clv_draws(fit, spend, summary, settings, point)
    np.testing.assert_allclose(draws["low"], pred["clv"], rtol=1e-12)
    np.testing.assert_allclose(draws["high"], pred["clv"], rtol=1e-12)
    p, q, v = spend.values
    s_a, s_b = p * (v + 2 * 20.0) / (p * 2 + q - 1), p * (v + 1 * 20.0) / (p * 1 + q - 1)
    assert draws["low"][0] / draws["low"][1] == pytest.approx(s_a / s_b, rel=1e-12)
    assert draws["low"][0] != pytest.approx(draws["low"][1], rel=1e-3)
