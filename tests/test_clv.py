"""Notebook 04 helpers: engine summaries, the published CDNOW figures, weighted fits, the CLV sum,
time units, intervals, model choice, fit failures, and the demo brand's planted truth."""

from __future__ import annotations

import importlib.util
import itertools
import json
import textwrap
from pathlib import Path
from types import SimpleNamespace

import ibis
import numpy as np
import pandas as pd
import pytest

from helpers import clv, clv_checks, config, demo
from helpers.text import Text
from helpers.text import clv as clv_words
from helpers.text.formats import Formats

LIFETIMES_DATA = Path(next(iter(importlib.util.find_spec("lifetimes").submodule_search_locations))) / "datasets"
EN = Formats(Text("en"), "USD")  # the English words of notebook 04 (helpers.text.clv)
CAL_END = pd.Timestamp("1997-09-30")
PERIOD_END = pd.Timestamp("1998-06-30 23:59:59.999999")
HOLDOUT_DAYS = 273  # weeks 40-78


# ---------------------------------------------------------------- fixtures


def orders_table(rows: list[tuple], columns=("order_id", "customer_id", "order_ts", "amount", "is_outlier")):
    frame = pd.DataFrame(rows, columns=list(columns))
    frame["order_ts"] = pd.to_datetime(frame["order_ts"])
    return ibis.memtable(frame)


@pytest.fixture(scope="module")
def cdnow_orders():
    """The CDNOW 1/10 sample (2,357 customers), one row per purchase, as an engine table."""
    raw = pd.read_csv(LIFETIMES_DATA / "CDNOW_sample.txt", sep=r"\s+", header=None,
                      names=["customer_id", "master_id", "date", "cds", "amount"], dtype={"customer_id": str})
    raw["order_ts"] = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d")
    raw["order_id"] = np.arange(len(raw)).astype(str)
    return ibis.memtable(raw[["order_id", "customer_id", "order_ts", "amount"]])


@pytest.fixture(scope="module")
def cdnow_cal(cdnow_orders):
    return clv.customer_summary(cdnow_orders, PERIOD_END, "week", holdout_days=HOLDOUT_DAYS)


@pytest.fixture(scope="module")
def cdnow_hist(cdnow_cal):
    return cdnow_cal.histogram()


@pytest.fixture(scope="module")
def cdnow_fits(cdnow_hist):
    fits, failed = clv.fit_models(cdnow_hist, ["bgnbd", "mbgnbd", "pareto"])
    assert not failed
    return fits


# ---------------------------------------------------------------- summaries in the engine


def test_summary_by_hand():
    """x counts purchase days after the first, t_x and T run from the first purchase day,
    the mean repeat spend leaves out the first purchase (and flagged outliers when asked)."""
    t = orders_table([
        ("1", "a", "2024-01-01 09:00", 10.0, False),
        ("2", "a", "2024-01-01 18:00", 5.0, False),   # same day as the first: one occasion
        ("3", "a", "2024-01-15 10:00", 20.0, False),
        ("4", "a", "2024-01-29 10:00", 400.0, True),  # a flagged wholesale order
        ("5", "b", "2024-01-22 10:00", 7.0, False),
        ("6", "c", "2024-02-05 10:00", 9.0, False),   # after the calibration end: holdout only
        ("7", "a", "2024-02-10 10:00", 30.0, False),  # holdout purchase of a
    ])
    end = pd.Timestamp("2024-02-11 23:59:59")
    s = clv.customer_summary(t, end, "week", holdout_days=14)  # calibration ends 2024-01-28
    assert s.end == pd.Timestamp("2024-01-28")
    f = s.frame.set_index("customer_id")
    assert list(f.index) == ["a", "b"]  # c bought first in the holdout
    a = f.loc["a"]
    assert (a["x"], a["tx_days"], a["T_days"]) == (1, 14, 27)
    assert a["repeat_spend_n"] == 1 and a["repeat_spend_mean"] == 20.0 and a["amount"] == 35.0
    assert a["x_holdout"] == 2 and a["holdout_amount"] == 430.0  # the outlier day is a purchase too
    assert a["t_x"] == pytest.approx(2.0) and a["T"] == pytest.approx(27 / 7)
    assert (f.loc["b", "x"], f.loc["b", "T_days"], f.loc["b", "x_holdout"]) == (0, 6, 0)


# ---------------------------------------------------------------- extreme amounts and the spend model


def _flag_like_the_audit(frame: pd.DataFrame, z: float) -> pd.Series:
    """The audit's outlier rule (helpers.audit, cleaning.outlier_z): log amount more than z robust
    z-scores (median, 1.4826 x MAD) above the median."""
    log_amount = np.log(frame.loc[frame["amount"] > 0, "amount"])
    median = log_amount.median()
    mad = (log_amount - median).abs().median()
    return frame["amount"] > np.exp(median + z * (1.4826 * mad if mad > 0 else 1.0))


def _cdnow_value(orders: pd.DataFrame, **clv_params):
    """Notebook 04's steps (history, holdout, spend, value) on CDNOW sample orders with the audit's
    outlier flags, the brand's params (to 1998-06) with ``clv_params`` on top."""
    params = config.load_params(brand="cdnow")
    params = params.model_copy(update={"clv": params.clv.model_copy(update={"bootstrap": 0, **clv_params})})
    orders = orders.assign(is_outlier=_flag_like_the_audit(orders, params.cleaning.outlier_z))
    run = SimpleNamespace(orders=ibis.memtable(orders), period_end=PERIOD_END, params=params, currency="USD",
                          clean=SimpleNamespace(refunds=None, outlier_threshold=None), customers=lambda: None)
    hist = clv.history(run)
    hold = clv.holdout_validation(run)
    spend = clv.spend_model(run, hist)
    return clv.customer_values(run, hist, spend, hold), spend


def test_one_extreme_order_stays_out_of_the_clv():
    """One repeat order of 1e9 in the CDNOW sample: by default (clv.exclude_outliers) it is left
    out of the spend model, the CLV total stays within 1 % of the brand without it, and notebook
    04 says how many orders and how much revenue were left out and why. Kept (exclude_outliers:
    false) it multiplies the total — as it did before, when that was the default."""
    raw = pd.read_csv(LIFETIMES_DATA / "CDNOW_sample.txt", sep=r"\s+", header=None,
                      names=["customer_id", "master_id", "date", "cds", "amount"], dtype={"customer_id": str})
    raw["order_ts"] = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d")
    raw["order_id"] = np.arange(len(raw)).astype(str)
    base = raw[["order_id", "customer_id", "order_ts", "amount"]]
    repeat = base[base.duplicated("customer_id")].iloc[100]  # a repeat purchase of some customer
    extreme = base.copy()
    extreme.loc[repeat.name, "amount"] = 1e9

    clean, _ = _cdnow_value(base)
    value, spend = _cdnow_value(extreme)
    total, clean_total = value.predictions["clv"].sum(), clean.predictions["clv"].sum()
    assert abs(total / clean_total - 1) < 0.01, (total, clean_total)
    assert spend.excluded["orders"] == 1 and spend.excluded["revenue"] == pytest.approx(1e9)
    text = " ".join(clv_words.spend(spend, EN, value_params := config.load_params(brand="cdnow")))
    assert "1 order of 1 customer, USD 1.0B of revenue" in text and "left out of the spend model" in text
    assert f"a robust z-score above {EN.number(value_params.cleaning.outlier_z, 1)}" in text

    kept, kept_spend = _cdnow_value(extreme, exclude_outliers=False)
    assert kept.predictions["clv"].sum() > 10 * clean_total
    assert "kept in the spend model" in " ".join(clv_words.spend(kept_spend, EN, value_params))


def test_summary_same_day_and_outliers():
    t = orders_table([
        ("1", "a", "2024-01-01 09:00", 10.0, False),
        ("2", "a", "2024-01-01 18:00", 5.0, False),
        ("3", "a", "2024-01-15 10:00", 20.0, False),
        ("4", "a", "2024-01-29 10:00", 400.0, True),
        ("5", "b", "2024-01-22 10:00", 7.0, False),
    ])
    end = pd.Timestamp("2024-01-31 23:59:59")
    collapse = clv.customer_summary(t, end, "day").frame.set_index("customer_id")
    a = collapse.loc["a"]
    assert (a["x"], a["tx_days"], a["T_days"]) == (2, 28, 30)
    assert a["repeat_spend_n"] == 2 and a["repeat_spend_mean"] == pytest.approx((20 + 400) / 2)
    assert collapse.loc["b", "x"] == 0 and collapse.loc["b", "T_days"] == 9
    assert np.isnan(collapse.loc["b", "repeat_spend_mean"])
    no_outliers = clv.customer_summary(t, end, "day", exclude_outliers=True).frame.set_index("customer_id")
    assert no_outliers.loc["a", "x"] == 2  # still a purchase ...
    assert no_outliers.loc["a", "repeat_spend_n"] == 1 and no_outliers.loc["a", "repeat_spend_mean"] == 20.0
    separate = clv.customer_summary(t, end, "week", same_day="separate").frame.set_index("customer_id")
    a = separate.loc["a"]
    assert (a["x"], a["tx_days"]) == (3, 28)  # the second order of the first day is a repeat purchase
    assert a["repeat_spend_mean"] == pytest.approx((5 + 20 + 400) / 3)
    assert a["t_x"] == pytest.approx(4.0) and a["T"] == pytest.approx(30 / 7)


def test_holdout_split_counts_purchase_days():
    t = orders_table([
        ("1", "a", "2024-01-01 09:00", 10.0, False),
        ("2", "a", "2024-01-10 09:00", 10.0, False),
        ("3", "a", "2024-01-20 09:00", 10.0, False),  # holdout
        ("4", "a", "2024-01-20 19:00", 10.0, False),  # same day: one purchase
        ("5", "a", "2024-01-25 09:00", 10.0, False),  # holdout
        ("6", "b", "2024-01-18 09:00", 10.0, False),  # first purchase in the holdout: left out
    ])
    end = pd.Timestamp("2024-01-31 23:59:59")
    days, cal_end = clv.holdout_split_days(end, 2, "week")
    assert days == 14 and cal_end == pd.Timestamp("2024-01-17")
    s = clv.customer_summary(t, end, "week", holdout_days=days)
    f = s.frame.set_index("customer_id")
    assert list(f.index) == ["a"]
    assert (f.loc["a", "x"], f.loc["a", "tx_days"], f.loc["a", "T_days"], f.loc["a", "x_holdout"]) == (1, 9, 16, 2)
    assert s.holdout == 2.0 and s.end == cal_end


def test_engine_summary_matches_lifetimes_utility(cdnow_orders):
    """Our engine summary = lifetimes' summary_data_from_transaction_data (freq D) on CDNOW."""
    from lifetimes.utils import summary_data_from_transaction_data

    ours = clv.customer_summary(cdnow_orders, PERIOD_END, "day").frame.set_index("customer_id")
    tx = cdnow_orders.execute()
    theirs = summary_data_from_transaction_data(tx, "customer_id", "order_ts", monetary_value_col="amount",
                                                observation_period_end="1998-06-30", freq="D")
    theirs = theirs.loc[ours.index]
    assert (ours["x"] == theirs["frequency"]).all()
    assert np.allclose(ours["t_x"], theirs["recency"]) and np.allclose(ours["T"], theirs["T"])
    repeat = ours["x"] > 0
    assert np.allclose(ours.loc[repeat, "repeat_spend_mean"], theirs.loc[repeat, "monetary_value"])


def test_histogram_from_the_engine_equals_pandas(cdnow_orders, cdnow_hist):
    expr = clv.summarize(cdnow_orders, PERIOD_END, "week", holdout_days=HOLDOUT_DAYS)
    engine = clv.histogram(expr, "week").frame
    pd.testing.assert_frame_equal(engine[clv.KEYS + ["n"]].astype("int64"),
                                  cdnow_hist.frame[clv.KEYS + ["n"]].astype("int64"))


# ---------------------------------------------------------------- the published CDNOW figures


def test_cdnow_sample_and_holdout(cdnow_cal, cdnow_hist):
    f = cdnow_cal.frame
    assert len(f) == 2357 and cdnow_cal.end == CAL_END and cdnow_cal.holdout == 39.0
    assert f["x_holdout"].sum() == 1882
    assert cdnow_hist.customers == 2357 and len(cdnow_hist.frame) < len(f)
    one = f.loc[f["customer_id"] == "00004"].iloc[0]  # the first customer of Fader & Hardie's summary
    assert (one["x"], round(one["t_x"], 2), round(one["T"], 2)) == (2, 30.43, 38.86)


def test_cdnow_bgnbd_reference(cdnow_fits):
    fit = cdnow_fits["bgnbd"]
    assert {k: round(v, 3) for k, v in fit.params.items()} == {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    assert round(fit.loglik, 1) == -9582.4
    assert round(float(fit.expected(39, 2, 30.43, 38.86)), 3) == 1.226


def test_cdnow_pareto_reference(cdnow_fits):
    fit = cdnow_fits["pareto"]
    assert {k: round(v, 3) for k, v in fit.params.items()} == {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    assert round(fit.loglik, 1) == -9595.0


def test_cdnow_gamma_gamma_reference(cdnow_cal):
    data = clv.spend_data(cdnow_cal)
    fit = clv.fit_spend(data)
    assert fit.customers == 946
    assert (round(fit.params["p"], 2), round(fit.params["q"], 2), round(fit.params["v"], 2)) == (6.25, 3.74, 15.44)


# ---------------------------------------------------------------- deterministic, global fits


def _homogeneous_spend(seed: int, heterogeneity: float | None, customers: int = 800) -> pd.DataFrame:
    """Repeat buyers whose spend per order is Gamma(4, nu): nu the same for everyone
    (``heterogeneity`` None: the Gamma-Gamma likelihood rises towards q -> infinity, a flat ridge)
    or Gamma-distributed with shape ``heterogeneity`` (large: little heterogeneity, an optimum far
    out at q ~ 100-150). Mean spends rounded to cents, as money is."""
    rng = np.random.default_rng(seed)
    n = 1 + rng.poisson(1.5, customers)
    nu = np.full(customers, 4 / 50.0) if heterogeneity is None else rng.gamma(heterogeneity, 4 / 50.0 / heterogeneity,
                                                                              customers)
    m = np.round([rng.gamma(4.0, 1 / nu[i], n[i]).mean() for i in range(customers)], 2)
    return pd.DataFrame({"n": n, "m": m})


def _jitter(data: pd.DataFrame, k: int) -> pd.DataFrame:
    """The same spend, each mean moved by about one unit in the last place: what a parallel
    engine's sum in another order gives."""
    out = data.copy()
    out["m"] = out["m"] * (1 + 2e-16 * np.random.default_rng(k).standard_normal(len(out)))
    return out


def test_spend_fit_is_global_and_the_same_on_every_run():
    """Little spend heterogeneity puts the Gamma-Gamma optimum far out (q ~ 150). lifetimes'
    single start stopped there on 'precision loss' on about half of the runs whose inputs differ
    in the last bit only, and the fallback penalizer then gave p=11.8, q=3.2, gamma=11.2
    (log-likelihood -3,613 against -3,407): another shrinkage, CLV per customer -63 % to +291 %.
    Now: the same parameters on every run (any numpy global RNG state, inputs jittered by an
    ulp), no penalty, and no start of a wide grid finds a better likelihood."""
    data = _homogeneous_spend(0, 200.0)
    fits = []
    for k in range(6):
        np.random.seed(1000 + k)  # a fresh global state each time: nothing may depend on it
        fits.append(clv.fit_spend(_jitter(data, k) if k else data))
    ref = fits[0]
    assert ref.penalizer == 0.0 and ref.warning is None
    assert ref.params["q"] == pytest.approx(150.88, rel=1e-3) and ref.params["p"] == pytest.approx(3.936, rel=1e-3)
    for fit in fits[1:]:
        assert np.allclose(fit.values, ref.values, rtol=1e-5), (fit.values, ref.values)
        assert fit.penalizer == 0.0
    np.random.seed(99)
    assert clv.fit_spend(data).values.tolist() == ref.values.tolist()  # same inputs: the same bits
    n, m = data["n"].to_numpy(float), data["m"].to_numpy(float)
    best = ref.loglik
    assert best == pytest.approx(float(np.sum(clv._ll_gamma_gamma(ref.values, n, m))))
    from scipy.optimize import minimize

    with np.errstate(all="ignore"):
        for start in itertools.product([-1.0, 2.0], [0.0, 5.0], [0.0, 4.0, 8.0]):
            out = minimize(lambda u: -np.sum(clv._ll_gamma_gamma(np.exp(u), n, m)) if np.all(np.abs(u) < 20) else np.inf,
                           np.array(start),
                           method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-9, "fatol": 1e-9})
            assert -out.fun <= best + 1e-6, (start, np.exp(out.x), -out.fun, best)


def test_flat_spend_likelihood_is_said_and_predictions_stay_put():
    """Everyone with the same spend rate: the likelihood keeps rising towards q -> infinity (no
    heterogeneity), so the starts end at different q with the same likelihood. The fit says the
    likelihood is flat, and whichever point it reports, every customer's expected spend is the
    same on every run (it no longer depends on q out there)."""
    data = _homogeneous_spend(3, None)
    fits = []
    for k in range(4):
        np.random.seed(k)
        fits.append(clv.fit_spend(_jitter(data, k) if k else data))
    ref = fits[0]
    assert ref.penalizer == 0.0 and ref.flat
    assert "flat" in ref.warning and "Gamma-Gamma" in ref.warning
    n, m = data["n"].to_numpy(float), data["m"].to_numpy(float)
    expected = ref.expected(n, m)
    for fit in fits[1:]:
        assert fit.flat and fit.loglik == pytest.approx(ref.loglik, abs=1e-3)
        assert np.allclose(fit.expected(n, m), expected, rtol=1e-6)
    assert np.allclose(expected, ref.population_mean, rtol=5e-3)  # no heterogeneity: the population mean


def test_engine_sums_are_the_same_on_every_run():
    """DuckDB adds floating-point amounts in whatever order its threads finish: the same orders
    gave different last bits of ~50 of 300 customers' mean spend from one run to the next (and so
    different Gamma-Gamma inputs). The sums are now exact (decimal), so every run gives the same
    bits."""
    rng = np.random.default_rng(0)
    rows = 400_000
    frame = pd.DataFrame({"order_id": np.arange(rows).astype(str), "customer_id": rng.integers(0, 300, rows).astype(str),
                          "order_ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, rows), unit="D"),
                          "amount": rng.gamma(2.0, 30.0, rows)})
    t = ibis.memtable(frame)
    end = pd.Timestamp("2024-12-31 23:59:59")
    first = clv.customer_summary(t, end, "week").frame
    for _ in range(3):
        again = clv.customer_summary(t, end, "week").frame
        for col in ("repeat_spend_mean", "amount"):
            assert np.array_equal(first[col].to_numpy(), again[col].to_numpy(), equal_nan=True), col
    by_hand = frame[frame["customer_id"] == "7"]
    assert first.set_index("customer_id").loc["7", "amount"] == pytest.approx(by_hand["amount"].sum(), abs=1e-6 * len(by_hand))  # to the millionth


def test_weighted_fit_equals_unweighted(cdnow_cal, cdnow_hist, cdnow_fits):
    per_customer = cdnow_cal.frame.assign(n=1)[["x", "tx_days", "T_days", "t_x", "T", "n"]].reset_index(drop=True)
    unweighted = clv.Histogram(per_customer, cdnow_cal.unit)
    for model, fit in cdnow_fits.items():
        other = clv.fit_purchases(unweighted, model)
        for k, v in fit.params.items():
            assert v == pytest.approx(other.params[k], rel=1e-6), (model, k)
        assert fit.loglik == pytest.approx(other.loglik, rel=1e-9)


def test_pareto_matches_lifetimes(cdnow_hist, cdnow_fits):
    """Our Pareto/NBD (integral form, fast) = lifetimes' (hypergeometric form)."""
    from lifetimes import ParetoNBDFitter

    h = cdnow_hist
    for params in ([0.553, 10.58, 0.606, 11.67], [2.0, 1.5, 0.2, 25.0], [0.05, 30.0, 3.0, 2.0], [0.8, 0.4, 1.6, 60.0]):
        ours = clv._ll_pareto(np.array(params), h.x, h.t_x, h.T)
        theirs = ParetoNBDFitter._conditional_log_likelihood(np.array(params), h.x, h.t_x, h.T)
        assert np.max(np.abs(ours - theirs)) < 1e-8
    fit = cdnow_fits["pareto"]
    ref = ParetoNBDFitter()
    ref.params_ = fit.fitter.params_.copy()
    assert np.allclose(fit.expected(39, h.x, h.t_x, h.T),
                       ref.conditional_expected_number_of_purchases_up_to_time(39, h.x, h.t_x, h.T), rtol=1e-9)
    assert np.allclose(fit.p_alive(h.x, h.t_x, h.T), ref.conditional_probability_alive(h.x, h.t_x, h.T), rtol=1e-9)
    sel = slice(0, 300)
    assert np.allclose(fit.p_no_purchase(20.0, h.x[sel], h.t_x[sel], h.T[sel]),
                       ref.conditional_probability_of_n_purchases_up_to_time(0, 20.0, h.x[sel], h.t_x[sel], h.T[sel]),
                       atol=1e-9)


def test_own_loglik_matches_lifetimes_objective(cdnow_hist, cdnow_fits):
    """The reported log-likelihood is lifetimes' objective back in original time units."""
    fit = cdnow_fits["bgnbd"]
    h = cdnow_hist
    scale = fit.scale
    scaled = np.log([fit.params["r"], fit.params["alpha"] * scale, fit.params["a"], fit.params["b"]])
    mean_nll = type(fit.fitter)._negative_log_likelihood(scaled, h.frame["x"].to_numpy(), h.t_x * scale, h.T * scale,
                                                         h.n, 0.0)
    jacobian = np.sum(h.n * h.x) * np.log(scale)  # each purchase time is a density in the scaled unit
    assert -mean_nll * h.n.sum() + jacobian == pytest.approx(fit.loglik, rel=1e-10)


# ---------------------------------------------------------------- Pareto/NBD: the integral between distinct points

PARETO_PARAMS = [  # natural parameters, times in weeks
    (0.553, 10.58, 0.606, 11.67),  # CDNOW
    (0.5, 10.0, 0.05, 12.0),  # small s
    (0.5, 10.0, 20.0, 12.0),  # large s
    (0.02, 5.0, 0.6, 10.0),  # small r
    (20.0, 30.0, 0.6, 10.0),  # large r
    (0.8, 0.05, 1.6, 500.0),  # alpha << beta
    (0.8, 500.0, 1.6, 0.05),  # alpha >> beta
    (0.02, 1.0, 0.03, 1.0),  # r + s tiny: the integrand decays slowly
]


def _pareto_patterns():
    """CDNOW's summary (lifetimes' file, weeks) and a grid: x = 0 (t_x = 0), t_x = T, t_x a day,
    a second and 1e-9 T below T, t_x near 0, T = 0, large x; distinct (x, t_x, T)."""
    cdnow = pd.read_csv(LIFETIMES_DATA / "cdnow_customers_summary.csv")
    rows = [cdnow[["frequency", "recency", "T"]].to_numpy(float)]
    rng = np.random.default_rng(5)
    for x in (0.0, 1.0, 2.0, 7.0, 30.0, 100.0):
        for T in (0.0, 0.5, 3.0, 38.86, 78.0, *rng.uniform(0.0, 78.0, 6)):
            ts = [0.0] if x == 0 else [T, T * (1 - 1e-9), T - 1 / 7 / 86400, T - 1 / 7, T / 2, 1e-6, *rng.uniform(0, T, 3)]
            rows.append(np.array([(x, t, T) for t in ts if 0 <= t <= T]))
    x, t_x, T = np.unique(np.concatenate(rows), axis=0).T
    return x, t_x, T


def _assert_close_ll(ll, grad, ref_ll, ref_grad, rtol):
    np.testing.assert_array_less(np.abs(ll - ref_ll), rtol * np.maximum(1.0, np.abs(ref_ll)))
    np.testing.assert_array_less(np.abs(grad - ref_grad), rtol * np.maximum(1.0, np.abs(ref_grad)))


def test_pareto_pairs_equal_the_pattern_quadrature():
    """The likelihood and gradient from the integrals between distinct (x, time) points = the
    per-pattern quadrature (the one the fit used before) on CDNOW and the grid; where the latter
    is itself inaccurate (beta << alpha: a near-singularity at its lower end), = the same
    quadrature on 40 times as many nodes, refined towards that end."""
    x, t_x, T = _pareto_patterns()
    pairs = clv._pareto_pairs(x, t_x, T)
    assert np.array_equal(pairs.point_x[pairs.lo], x) and np.array_equal(pairs.point_z[pairs.lo], t_x)
    assert np.array_equal(pairs.point_x[pairs.hi], x) and np.array_equal(pairs.point_z[pairs.hi], T)
    assert pairs.point_z.size < 2 * x.size
    fine = clv._panels(16, (0.0, *np.geomspace(1e-9, 0.125, 30), *np.linspace(0.25, 1.0, 7)))
    for params in PARETO_PARAMS:
        ll, grad = clv._pareto_ll_and_grad(params, x, t_x, T, pairs)
        assert np.all(np.isfinite(ll)) and np.all(np.isfinite(grad))
        if params[1] < 100 * params[3]:
            _assert_close_ll(ll, grad, *clv._pareto_ll_and_grad_direct(params, x, t_x, T), 1e-9)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(clv, "_QUAD_AT", fine[0])
            mp.setattr(clv, "_QUAD_W", fine[1])
            _assert_close_ll(ll, grad, *clv._pareto_ll_and_grad_direct(params, x, t_x, T), 1e-9)
    # no died term where t_x = T, as pattern by pattern
    same = t_x == T
    log_i, di = clv._pareto_died(PARETO_PARAMS[0], x, t_x, T, pairs)
    assert np.all(np.isneginf(log_i[same])) and np.all(di[same] == 0) and np.all(np.isfinite(log_i[~same]))
    # t_x a second or less below T: the integral = Simpson's rule there (the difference of the sums
    # beyond t_x and beyond T would lose up to 9 digits; these patterns are integrated on their own)
    r, alpha, s, beta = PARETO_PARAMS[0]
    close = (T > t_x) & (T - t_x < 1e-5)
    lo, hi, k = t_x[close], T[close], r + x[close]

    def log_f(y):
        return -k * np.log(alpha + y) - (s + 1) * np.log(beta + y)

    simpson = np.log((hi - lo) / 6) + np.logaddexp(np.logaddexp(log_f(lo), log_f(hi)), np.log(4) + log_f((lo + hi) / 2))
    assert close.sum() > 50
    np.testing.assert_allclose(log_i[close], simpson, rtol=0, atol=1e-11)


def test_pareto_pairs_match_lifetimes_and_finite_differences():
    """The same likelihood as lifetimes' hypergeometric form (where that is well-conditioned), and
    the analytic gradient = central differences of the pairwise likelihood, pattern by pattern."""
    from lifetimes import ParetoNBDFitter

    x, t_x, T = _pareto_patterns()
    pairs = clv._pareto_pairs(x, t_x, T)
    for params in PARETO_PARAMS:
        ll, grad = clv._pareto_ll_and_grad(params, x, t_x, T, pairs)
        if params[1] > params[3] / 100:  # (for alpha << beta lifetimes gives nan)
            theirs = ParetoNBDFitter._conditional_log_likelihood(np.array(params), x, t_x, T)
            np.testing.assert_array_less(np.abs(ll - theirs), 1e-9 * np.maximum(1.0, np.abs(ll)))
        step = 1e-5
        for j in range(4):
            up, down = np.log(params), np.log(params)
            up[j] += step
            down[j] -= step
            diff = (clv._pareto_ll_and_grad(np.exp(up), x, t_x, T, pairs)[0]
                    - clv._pareto_ll_and_grad(np.exp(down), x, t_x, T, pairs)[0]) / (2 * step)
            np.testing.assert_array_less(np.abs(grad[:, j] - diff), 1e-6 * np.maximum(1.0, np.abs(diff)))


def test_pareto_fit_equals_the_pattern_quadrature_fit(cdnow_hist, cdnow_fits, monkeypatch):
    """The fit on the pairwise likelihood lands where the per-pattern one does."""
    h = cdnow_hist
    fit = cdnow_fits["pareto"]
    monkeypatch.setattr(clv, "_pareto_ll_and_grad", lambda params, x, t_x, T, pairs=None:
                        clv._pareto_ll_and_grad_direct(params, x, t_x, T))
    direct = clv.ParetoNBD(0.0).fit(h.frame["x"].to_numpy(), h.t_x, h.T, weights=h.n)
    for k, v in fit.params.items():
        assert v == pytest.approx(direct.params_[k], rel=1e-6), k
    assert fit.loglik == pytest.approx(float(np.sum(h.n * clv._ll_pareto(direct.params_.to_numpy(), h.x, h.t_x, h.T))),
                                       rel=1e-9)


# ---------------------------------------------------------------- holdout comparison


def test_holdout_evaluation_on_cdnow(cdnow_cal, cdnow_fits):
    pred = clv.holdout_predictions(cdnow_fits, cdnow_cal)
    table = clv.evaluate_holdout(pred, cdnow_fits).set_index("model")
    assert table.loc["baseline", "actual"] == 1882
    assert table.loc["bgnbd", "predicted"] == pytest.approx(pred["bgnbd"].sum())
    for model in cdnow_fits:  # every model beats the naive baseline on CDNOW, clearly
        assert table.loc[model, "rmse"] < 0.8 * table.loc["baseline", "rmse"]
    choice = clv.choose_model(table.reset_index(), pred)
    assert choice["beats_baseline"] and choice["model"] in cdnow_fits
    by_x = clv.holdout_by_frequency(pred, cdnow_fits)
    assert by_x["customers"].sum() == 2357 and list(by_x["label"])[-1] == "7+"


def test_choice_ties_and_baseline():
    rng = np.random.default_rng(1)
    actual = rng.poisson(1.0, 4000).astype(float)
    pred = pd.DataFrame({"x": 0, "actual": actual, "baseline": actual + rng.normal(0, 2.0, 4000),
                         "m1": actual + rng.normal(0, 1.0, 4000), "m2": actual + rng.normal(0, 1.0, 4000)})

    class Fake:
        def __init__(self, ll):
            self.loglik, self.params, self.warning = ll, {"r": 1.0}, None

    fits = {"m1": Fake(-100.0), "m2": Fake(-90.0)}
    clv.MODEL_NAMES.update({"m1": "model one", "m2": "model two"})
    try:
        # both totals exact: tied on the holdout, the better calibration fit wins
        for m in ("m1", "m2"):
            pred[m] -= pred[m].mean() - actual.mean()
        table = clv.evaluate_holdout(pred, fits)
        choice = clv.choose_model(table, pred)
        assert set(choice["tied"]) == {"model one", "model two"}
        assert choice["model"] == "m2" and "log-likelihood" in choice["by"]
        assert choice["beats_baseline"]
        # tied per customer, but m2's total is 10 % high: the closer total wins over the likelihood
        pred["m2"] += 0.1 * actual.mean()
        table = clv.evaluate_holdout(pred, fits)
        choice = clv.choose_model(table, pred)
        assert set(choice["tied"]) == {"model one", "model two"}
        assert table.set_index("model").loc["m2", "total_error"] == pytest.approx(0.1)
        assert choice["model"] == "m1" and "holdout total" in choice["by"]
        # a baseline as good as the models: nobody beats it
        pred["baseline"] = actual + rng.normal(0, 1.0, 4000)
        choice = clv.choose_model(clv.evaluate_holdout(pred, fits), pred)
        assert not choice["beats_baseline"]
        res = clv.HoldoutResult(unit=clv.time_unit("week"), holdout_days=14, cal_end=pd.Timestamp("2024-01-01"),
                                summary=clv.summary_from_frame(pd.DataFrame({"x": [0], "tx_days": [0], "T_days": [1]}),
                                                               "week"),
                                fits=fits, table=clv.evaluate_holdout(pred, fits), choice=choice)
        text = " ".join(clv_words.holdout(res, EN))
        assert "than a naive one" in text and "beats" not in text
    finally:
        del clv.MODEL_NAMES["m1"], clv.MODEL_NAMES["m2"]


# ---------------------------------------------------------------- the CLV sum and time units


def test_clv_sum_by_hand():
    """One customer: 1, 0.5 and 0.25 expected purchases in the next three months, 100 per order,
    30 % margin, 2 % refunds, 10 % a year, 12 a year to serve, P(alive) 0.8."""
    value = clv.discounted_clv([[1.0, 0.5, 0.25]], [100.0], margin=0.3, annual_discount_rate=0.10,
                               cost_to_serve_per_year=12.0, p_alive=[0.8], refund_share=0.02)
    d = [1.1 ** (-1 / 12), 1.1 ** (-2 / 12), 1.1 ** (-3 / 12)]
    by_hand = 0.3 * 100 * 0.98 * (1 * d[0] + 0.5 * d[1] + 0.25 * d[2]) - 1.0 * 0.8 * sum(d)
    assert round(float(value[0]), 2) == round(by_hand, 2) == 48.45
    assert np.allclose(clv.discount_factors(12, 0.10)[-1], 1 / 1.1)


def test_time_units_cannot_be_mixed(cdnow_orders, cdnow_fits):
    weekly = clv.customer_summary(cdnow_orders, CAL_END, "week")
    daily = clv.customer_summary(cdnow_orders, CAL_END, "day")
    bg_week = cdnow_fits["bgnbd"]
    f = weekly.frame
    with pytest.raises(clv.TimeUnitError):
        clv.monthly_purchases(bg_week, daily.frame["x"], daily.frame["t_x"], daily.frame["T"], 12, daily.unit)
    with pytest.raises(clv.TimeUnitError):
        bg_day = clv.fit_purchases(daily.histogram(), "bgnbd")
        clv.holdout_predictions({"bgnbd": bg_day}, clv.Summary(weekly.frame.assign(x_holdout=0), weekly.unit, 0, 7))
    # a month is 365.25 / 12 days whatever the unit: 12 monthly steps add up to 52.18 weeks
    months = clv.monthly_purchases(bg_week, f["x"], f["t_x"], f["T"], 12, weekly.unit)
    assert clv.time_unit("week").from_months(12) == pytest.approx(365.25 / 7)
    assert np.allclose(months.sum(axis=1), bg_week.expected(365.25 / 7, f["x"], f["t_x"], f["T"]))
    # the same customers in days, fitted in days, give the same monthly purchases
    bg_day = clv.fit_purchases(daily.histogram(), "bgnbd")
    assert bg_day.params["alpha"] / 7 == pytest.approx(bg_day.in_unit("week")["alpha"])
    for k in ("r", "a", "b"):
        assert bg_day.params[k] == pytest.approx(bg_week.params[k], rel=1e-4)
    assert bg_day.in_unit("week")["alpha"] == pytest.approx(bg_week.params["alpha"], rel=1e-4)
    d = daily.frame
    months_day = clv.monthly_purchases(bg_day, d["x"], d["t_x"], d["T"], 12, daily.unit)
    assert np.allclose(months_day, months, rtol=1e-3, atol=1e-6)


def test_demo_truth_in_weeks():
    truth = {"r": 0.45, "alpha": 15.0, "a": 0.6, "b": 1.0}
    weekly = clv.convert_purchase_params(truth, "bgnbd", "day", "week")
    assert weekly == {"r": 0.45, "alpha": 15.0 / 7, "a": 0.6, "b": 1.0}
    assert clv.convert_purchase_params({"r": 1, "alpha": 14.0, "s": 2, "beta": 7.0}, "pareto", "day", "week") == \
        {"r": 1, "alpha": 2.0, "s": 2, "beta": 1.0}
    # the same population in either unit expects the same purchases over the same span
    from lifetimes import BetaGeoFitter
    day, week = BetaGeoFitter(), BetaGeoFitter()
    day.params_, week.params_ = pd.Series(truth), pd.Series(weekly)
    assert day.expected_number_of_purchases_up_to_time(91.0) == pytest.approx(week.expected_number_of_purchases_up_to_time(13.0))


# ---------------------------------------------------------------- per-customer predictions


def test_next_purchase_date_is_the_median(cdnow_cal, cdnow_fits):
    f = cdnow_cal.frame.iloc[:400]
    x, t_x, T = (f[c].to_numpy(dtype=float) for c in ("x", "t_x", "T"))
    for fit in cdnow_fits.values():
        days = clv.next_purchase_days(fit, x, t_x, T, horizon_days=365.0)
        has = np.isfinite(days)
        assert has.any() and (~has).any()
        at = np.array([fit.p_no_purchase(fit.unit.from_days(d), x[i:i + 1], t_x[i:i + 1], T[i:i + 1])[0]
                       for i, d in zip(np.flatnonzero(has)[:25], days[has][:25], strict=True)])
        assert np.allclose(at, 0.5, atol=0.01 if fit.model == "pareto" else 1e-9)
        never = fit.p_no_purchase(fit.unit.from_days(365.0), x[~has], t_x[~has], T[~has])
        assert (never > 0.5 - 1e-9).all()


def test_customer_predictions(cdnow_orders):
    s = clv.customer_summary(cdnow_orders, PERIOD_END, "week")
    h = s.histogram()
    fit = clv.fit_purchases(h, "bgnbd")
    spend = clv.fit_spend(clv.spend_data(s))
    settings = clv.ClvSettings(horizon_months=12, margin=0.3, annual_discount_rate=0.1, cost_to_serve_per_year=1.0)
    out = clv.customer_predictions(fit, spend, s, settings, PERIOD_END)
    assert len(out) == 2357 and out["customer_id"].is_unique
    assert (out["expected_purchases_30"] <= out["expected_purchases_90"]).all()
    assert (out["expected_purchases_90"] <= out["expected_purchases_365"]).all()
    assert out["p_alive"].between(0, 1).all()
    one = s.frame.index[s.frame["customer_id"] == "00004"][0]
    f = s.frame.loc[one]
    months = clv.monthly_purchases(fit, [f["x"]], [f["t_x"]], [f["T"]], 12, s.unit)
    spend_one = spend.expected([f["repeat_spend_n"]], [f["repeat_spend_mean"]])
    p_alive = fit.p_alive([f["x"]], [f["t_x"]], [f["T"]])
    by_hand = clv.discounted_clv(months, spend_one, margin=0.3, annual_discount_rate=0.1, cost_to_serve_per_year=1.0,
                                 p_alive=p_alive)
    assert out.loc[one, "clv"] == pytest.approx(by_hand[0])
    assert out["expected_next_purchase"].dropna().min() > PERIOD_END


# ---------------------------------------------------------------- intervals


def test_one_step_bootstrap_matches_refits(cdnow_hist, cdnow_fits):
    """One Newton step from the fit gives the same bootstrap distribution as refitting every
    resample: per draw for the well-determined purchase rate, and the same spread for all four
    parameters (the dropout parameters are weakly determined on 2,357 customers, so single
    draws differ more there, but not their distribution)."""
    fit = cdnow_fits["bgnbd"]
    h = cdnow_hist
    B = 40
    draws = np.log(clv.one_step_draws(clv._LL["bgnbd"], fit.values, (h.x, h.t_x, h.T), h.n, B,
                                      np.random.default_rng(3)))
    resampled = np.random.default_rng(3).multinomial(int(h.n.sum()), h.n / h.n.sum(), size=B)  # the same resamples
    refits = []
    for w in resampled:
        keep = w > 0
        sub = clv.Histogram(h.frame.loc[keep].assign(n=w[keep]).reset_index(drop=True), h.unit)
        refits.append(clv.fit_purchases(sub, "bgnbd", initial=fit.values).values)
    refits = np.log(np.array(refits))
    spread = refits.std(axis=0)
    assert np.all(np.abs(draws - refits).max(axis=0)[:2] < 0.3 * spread[:2])  # r, alpha: draw by draw
    assert np.allclose(draws.std(axis=0), spread, rtol=0.15)  # all four: the same spread


def test_pareto_bootstrap_scores_are_the_quadrature_scores(cdnow_hist, cdnow_fits):
    """The bootstrap's Pareto/NBD scores and Hessian come from the analytic gradient over the
    distinct (x, time) points; they equal central differences of the row-wise quadrature
    likelihood (to its finite-difference error)."""
    fit, h = cdnow_fits["pareto"], cdnow_hist
    args = (h.x, h.t_x, h.T)
    analytic = clv._score_function(clv._ll_pareto, args)
    quadrature = lambda v, h=1e-4: clv._scores(clv._ll_pareto, v, args, h=h)  # noqa: E731
    a, b = analytic(fit.values), quadrature(fit.values)
    assert np.abs(a - b).max() < 1e-6 * np.abs(b).max()
    ha = clv._mean_hessian(analytic, fit.values, h.n, np.zeros(4))
    hb = clv._mean_hessian(quadrature, fit.values, h.n, np.zeros(4))
    assert np.allclose(ha, hb, rtol=1e-5, atol=1e-7 * np.abs(hb).max())


def test_pareto_alive_under_draws_is_the_quadrature(cdnow_hist, cdnow_fits):
    """P(alive) of every pattern under many draws, from the integrals between the distinct
    (x, time) points, equals the per-pattern quadrature; a failed draw stays NaN."""
    h = cdnow_hist
    draws = cdnow_fits["pareto"].values * np.exp(np.random.default_rng(0).normal(0, 0.1, (6, 4)))
    draws[2] = np.nan
    fast = clv._pareto_log_alive_draws(draws, h.x, h.t_x, h.T)
    with np.errstate(all="ignore"):
        slow = clv._pareto_log_alive(tuple(draws[:, j][None, :] for j in range(4)), h.x[:, None], h.t_x[:, None], h.T[:, None])
    assert np.array_equal(np.isnan(fast), np.isnan(slow))
    assert np.nanmax(np.abs(fast - slow)) < 1e-9


def test_intervals_cover_the_point_estimates(cdnow_orders):
    s = clv.customer_summary(cdnow_orders, PERIOD_END, "week")
    h = s.histogram()
    fit = clv.fit_purchases(h, "mbgnbd")
    data = clv.spend_data(s)
    spend = clv.fit_spend(data)
    settings = clv.ClvSettings(horizon_months=6, margin=0.3, annual_discount_rate=0.1, cost_to_serve_per_year=0.0)
    pred = clv.customer_predictions(fit, spend, s, settings, PERIOD_END)
    boot = clv.bootstrap(fit, h, spend, data, 100, seed=0)
    groups = clv.value_groups(pred["clv"])
    draws = clv.clv_draws(fit, spend, s, settings, boot, {g: (groups == g).to_numpy() for g in groups.cat.categories})
    lo, hi = clv.interval(draws["total"])
    assert lo < pred["clv"].sum() < hi
    assert (draws["low"] <= pred["clv"] + 1e-9).mean() > 0.95 and (draws["high"] >= pred["clv"] - 1e-9).mean() > 0.95
    assert np.allclose(sum(draws["groups"].values()), draws["total"])
    table = clv.params_interval(boot, fit, spend).set_index("parameter")
    assert ((table["low"] < table["estimate"]) & (table["estimate"] < table["high"])).all()
    assert set(table.index) == {"r", "alpha", "a", "b", "p", "q", "gamma"}


# ---------------------------------------------------------------- per pattern, vectorised over draws
# The references below are the loop versions these replaced (one draw, one pattern at a time,
# lifetimes' fitters through PurchaseFit): the vectorised code must give the same numbers.


def _reference_clv_draws(fit, spend, summary, settings, boot, groups=None, chunk=200_000):
    """clv_draws as it was: a loop over the draws, np.quantile over every customer's draws."""
    f = summary.frame
    hist = f.groupby("row")[["x", "t_x", "T"]].first().sort_index()
    x, t_x, T = (hist[c].to_numpy(dtype=float) for c in ("x", "t_x", "T"))
    d = clv.discount_factors(settings.horizon_months, settings.annual_discount_rate)
    edges = summary.unit.from_months(np.arange(0, settings.horizon_months + 1))[:, None]
    B = boot.draws
    disc = np.empty((len(hist), B))
    alive = np.empty((len(hist), B))
    for b in range(B):
        draw = fit.with_params(boot.purchase[b])
        cumulative = draw.expected(edges, x, t_x, T)
        disc[:, b] = np.maximum(np.diff(cumulative, axis=0), 0.0).T @ d
        alive[:, b] = draw.p_alive(x, t_x, T)
    n = f["repeat_spend_n"].to_numpy(dtype=float)
    m = f["repeat_spend_mean"].to_numpy(dtype=float)
    rows = f["row"].to_numpy()
    lo_q, hi_q = (1 - boot.level) / 2, 1 - (1 - boot.level) / 2
    low, high = np.empty(len(f)), np.empty(len(f))
    total = np.zeros(B)
    group_totals = {name: np.zeros(B) for name in (groups or {})}
    cost_month = settings.cost_to_serve_per_year / 12.0 * d.sum()
    p, q, v = (boot.spend[:, i][None, :] for i in range(3))
    keep = settings.margin * (1 - settings.refund_share)
    for start in range(0, len(f), chunk):
        sl = slice(start, start + chunk)
        nn, mm = n[sl][:, None], np.nan_to_num(m[sl])[:, None]
        weight = p * nn / (p * nn + q - 1)
        spend_b = (1 - weight) * (p * v / (q - 1)) + weight * mm
        values = keep * spend_b * disc[rows[sl]] - cost_month * alive[rows[sl]]
        low[sl], high[sl] = np.quantile(values, [lo_q, hi_q], axis=1)
        total += values.sum(axis=0)
        for name, mask in (groups or {}).items():
            group_totals[name] += values[np.asarray(mask)[sl]].sum(axis=0)
    return {"low": low, "high": high, "total": total, "groups": group_totals}


def _reference_next_purchase_days(fit, x, t_x, T, horizon_days):
    """next_purchase_days as it was: Pareto/NBD interpolated pattern by pattern."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    grid_days = np.unique(np.concatenate([np.geomspace(1, max(horizon_days, 2), 48), [horizon_days]]))
    bought = np.stack([1.0 - fit.p_no_purchase(fit.unit.from_days(g), x, t_x, T) for g in grid_days])
    days = np.full(x.size, np.nan)
    reach = bought >= 0.5
    idx = np.argmax(reach, axis=0)
    for i in np.flatnonzero(reach.any(axis=0)):
        k = idx[i]
        if k == 0:
            days[i] = grid_days[0]
            continue
        lo, hi = bought[k - 1, i], bought[k, i]
        w = (0.5 - lo) / (hi - lo) if hi > lo else 1.0
        days[i] = grid_days[k - 1] + w * (grid_days[k] - grid_days[k - 1])
    return np.where(days <= horizon_days, days, np.nan)


@pytest.fixture(scope="module")
def cdnow_draws(cdnow_cal, cdnow_hist, cdnow_fits):
    """Bootstrap draws of every model on the CDNOW calibration window, and the spend model."""
    data = clv.spend_data(cdnow_cal)
    spend = clv.fit_spend(data)
    boots = {model: clv.bootstrap(fit, cdnow_hist, spend, data, 40, seed=5) for model, fit in cdnow_fits.items()}
    return spend, data, boots


def _lifetimes_fitter(model: str, values):
    from lifetimes import BetaGeoFitter, ModifiedBetaGeoFitter, ParetoNBDFitter

    cls = {"bgnbd": BetaGeoFitter, "mbgnbd": ModifiedBetaGeoFitter, "pareto": ParetoNBDFitter}[model]
    fitter = cls()
    fitter.params_ = pd.Series(values, index=clv.PARAM_NAMES[model])
    return fitter


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd", "pareto"])
def test_vectorised_closed_forms_match_lifetimes(model, cdnow_hist, cdnow_fits, cdnow_draws):
    """The closed forms broadcast over parameter draws = lifetimes' conditional expectation and
    P(alive), draw by draw, on every CDNOW pattern."""
    h = cdnow_hist
    draws = cdnow_draws[2][model].purchase[:6]
    params = tuple(draws[:, j][None, :] for j in range(4))  # (1, draws) against (patterns, 1)
    x, t_x, T = h.x[:, None], h.t_x[:, None], h.T[:, None]
    for t in (1.0, 13.0, 39.0, 52.18):
        ours = clv.conditional_expected(model, params, t, x, t_x, T)
        assert ours.shape == (len(h.frame), len(draws))
        for b, values in enumerate(draws):
            theirs = _lifetimes_fitter(model, values).conditional_expected_number_of_purchases_up_to_time(
                t, h.x, h.t_x, h.T)
            np.testing.assert_allclose(ours[:, b], theirs, rtol=1e-8, atol=1e-12)
    alive = clv.conditional_p_alive(model, params, x, t_x, T)
    for b, values in enumerate(draws):
        theirs = _lifetimes_fitter(model, values).conditional_probability_alive(h.x, h.t_x, h.T)
        np.testing.assert_allclose(alive[:, b], theirs, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd", "pareto"])
def test_pattern_predictions_equal_purchase_fit(model, cdnow_hist, cdnow_fits, cdnow_draws, monkeypatch):
    """One draw at a time, pattern_predictions gives what PurchaseFit (lifetimes' fitters) gives:
    P(alive), E[purchases], the monthly purchases and their discounted sum; in blocks too."""
    monkeypatch.setattr(clv, "_PARETO_CELLS", 500)  # many blocks of the Pareto/NBD integral
    h = cdnow_hist
    fit = cdnow_fits[model]
    draws = np.vstack([fit.values, cdnow_draws[2][model].purchase[:3]])
    edges = h.unit.from_months(np.arange(0, 13))
    d = clv.discount_factors(12, 0.1)
    out = clv.pattern_predictions(model, draws, h.x, h.t_x, h.T, times=[4.3, 39.0], edges=edges, d=d)
    for b, values in enumerate(draws):
        one = fit.with_params(values)
        np.testing.assert_allclose(out["alive"][:, b], one.p_alive(h.x, h.t_x, h.T), rtol=1e-13, atol=0)
        for t, at in zip((4.3, 39.0), out["at"], strict=True):
            np.testing.assert_allclose(at[:, b], one.expected(t, h.x, h.t_x, h.T), rtol=1e-13, atol=0)
        months = clv.monthly_purchases(one, h.x, h.t_x, h.T, 12, h.unit)
        np.testing.assert_allclose(out["months"][:, b], months.sum(axis=1), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(out["disc"][:, b], months @ d, rtol=1e-12, atol=1e-15)


def test_row_quantiles_equal_numpy():
    """The two-order-statistics quantiles are np.quantile's numbers exactly (ties, infinities,
    NaN rows, any number of draws)."""
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 7, 40, 200, 201):
        values = np.round(rng.normal(size=(300, n)), 1)  # many ties
        values[3, 0] = np.nan
        values[5, -1] = np.inf
        values[6, :] = -np.inf if n > 1 else values[6, :]
        for qs in ([0.025, 0.975], [0.0, 1.0], [0.5], [0.1, 0.9, 0.333]):
            with np.errstate(invalid="ignore"):  # inf - inf in the rows with infinities
                expected = np.quantile(values, qs, axis=1)
            np.testing.assert_array_equal(clv._row_quantiles(values.copy(), qs), expected)


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd", "pareto"])
def test_clv_draws_equal_the_loop_over_draws(model, cdnow_cal, cdnow_fits, cdnow_draws):
    """The vectorised clv_draws (per distinct (x, t_x, T, repeat_spend_n, repeat_spend_mean),
    all draws at once, blocks of any size) = the loop over draws with np.quantile over every
    customer; the same inputs give the same outputs."""
    spend, _, boots = cdnow_draws
    fit, boot = cdnow_fits[model], cdnow_draws[2][model]
    settings = clv.ClvSettings(horizon_months=12, margin=0.3, annual_discount_rate=0.1, cost_to_serve_per_year=2.0,
                               refund_share=0.02)
    pred = clv.customer_predictions(fit, spend, cdnow_cal, settings, PERIOD_END)
    value = clv.value_groups(pred["clv"])
    groups = {str(g): (value == g).to_numpy() for g in value.cat.categories}
    groups["repeat buyers"] = (cdnow_cal.frame["x"] > 0).to_numpy()  # overlapping groups
    groups["nobody"] = np.zeros(len(pred), dtype=bool)
    ref = _reference_clv_draws(fit, spend, cdnow_cal, settings, boot, groups)
    scale = np.abs(ref["high"]).max()
    for chunk in (None, 7, 250):
        new = clv.clv_draws(fit, spend, cdnow_cal, settings, boot, groups, chunk=chunk)
        np.testing.assert_allclose(new["low"], ref["low"], rtol=1e-9, atol=1e-12 * scale)
        np.testing.assert_allclose(new["high"], ref["high"], rtol=1e-9, atol=1e-12 * scale)
        np.testing.assert_allclose(new["total"], ref["total"], rtol=1e-9)
        assert set(new["groups"]) == set(groups)
        for name, draws in ref["groups"].items():
            np.testing.assert_allclose(new["groups"][name], draws, rtol=1e-9, atol=1e-12 * np.abs(ref["total"]).max())
    again = clv.clv_draws(fit, spend, cdnow_cal, settings, boot, groups)
    for key in ("low", "high", "total"):
        np.testing.assert_array_equal(again[key], clv.clv_draws(fit, spend, cdnow_cal, settings, boot, groups)[key])
    # the point estimate is the same computation with one draw
    point = clv.Bootstrap(purchase=fit.values[None, :], spend=spend.values[None, :])
    one = clv.clv_draws(fit, spend, cdnow_cal, settings, point)
    np.testing.assert_allclose(one["low"], pred["clv"], rtol=1e-12, atol=1e-12 * scale)
    assert one["total"][0] == pytest.approx(pred["clv"].sum(), rel=1e-12)


def test_customer_predictions_equal_the_purchase_fit_path(cdnow_cal, cdnow_fits, cdnow_draws):
    """customer_predictions through pattern_predictions = the per-pattern calls of PurchaseFit
    (lifetimes' fitters) it replaced."""
    spend = cdnow_draws[0]
    settings = clv.ClvSettings(horizon_months=12, margin=0.3, annual_discount_rate=0.1, cost_to_serve_per_year=2.0)
    f = cdnow_cal.frame
    for fit in cdnow_fits.values():
        out = clv.customer_predictions(fit, spend, cdnow_cal, settings, PERIOD_END)
        x, t_x, T = (f[c].to_numpy(dtype=float) for c in ("x", "t_x", "T"))
        np.testing.assert_allclose(out["p_alive"], fit.p_alive(x, t_x, T), rtol=1e-13, atol=0)
        for days in (30, 90, 365):
            np.testing.assert_allclose(out[f"expected_purchases_{days}"], fit.expected(days / 7, x, t_x, T),
                                       rtol=1e-13, atol=0)
        months = clv.monthly_purchases(fit, x, t_x, T, 12, cdnow_cal.unit)
        np.testing.assert_allclose(out["expected_purchases_horizon"], months.sum(axis=1), rtol=1e-12, atol=1e-15)
        by_hand = clv.discounted_clv(months, spend.expected(f["repeat_spend_n"], f["repeat_spend_mean"]), margin=0.3,
                                     annual_discount_rate=0.1, cost_to_serve_per_year=2.0, p_alive=fit.p_alive(x, t_x, T))
        np.testing.assert_allclose(out["clv"], by_hand, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd", "pareto"])
def test_next_purchase_days_equal_the_loop(model, cdnow_hist, cdnow_fits, monkeypatch):
    """Pareto/NBD's grid interpolation for all patterns at once (in blocks) = pattern by pattern."""
    monkeypatch.setattr(clv, "_PARETO_CELLS", 3000)  # several blocks
    h = cdnow_hist
    fit = cdnow_fits[model]
    for horizon in (365.0, 30.0):
        new = clv.next_purchase_days(fit, h.x, h.t_x, h.T, horizon)
        if model == "pareto":
            np.testing.assert_array_equal(new, _reference_next_purchase_days(fit, h.x, h.t_x, h.T, horizon))
        assert np.isfinite(new).any() and np.isnan(new).any()


def test_holdout_predictions_per_pattern(cdnow_cal, cdnow_fits):
    """Holdout predictions computed once per pattern = per customer."""
    pred = clv.holdout_predictions(cdnow_fits, cdnow_cal)
    f = cdnow_cal.frame
    for name, fit in cdnow_fits.items():
        np.testing.assert_allclose(pred[name], fit.expected(39.0, f["x"], f["t_x"], f["T"]), rtol=1e-13, atol=0)


def test_bootstrap_in_blocks_is_the_same_stream(cdnow_hist, cdnow_fits, cdnow_draws, cdnow_cal, monkeypatch):
    """Resampling the draws in blocks (bounded memory) draws the same resamples as one call:
    the same seed gives the same parameter draws."""
    spend, data, boots = cdnow_draws
    fit = cdnow_fits["pareto"]
    monkeypatch.setattr(clv, "_CELLS", 2048)  # one draw per block, likelihood rows in blocks of 128
    small = clv.bootstrap(fit, cdnow_hist, spend, data, 40, seed=5)
    np.testing.assert_allclose(small.purchase, boots["pareto"].purchase, rtol=1e-12)
    np.testing.assert_allclose(small.spend, boots["pareto"].spend, rtol=1e-12)


def test_concentration_and_groups():
    values = pd.Series([100.0, 50, 25, 10, 5, 5, 3, 1, 1, 0])
    c = clv.concentration(values)
    assert c["top_10"] == pytest.approx(100 / 200) and c["top_20"] == pytest.approx(150 / 200)
    assert 0 < c["gini"] < 1
    groups = clv.value_groups(values)
    assert groups.iloc[0] == "top 10 %" and groups.iloc[-1] == "bottom 50 %"
    assert groups.value_counts()["bottom 50 %"] == 5


# ---------------------------------------------------------------- fit failures


def test_no_repeat_purchases_is_a_clear_error():
    h = clv.Histogram(pd.DataFrame({"x": [0, 0], "tx_days": [0, 0], "T_days": [10, 20], "t_x": [0.0, 0.0],
                                    "T": [10.0, 20.0], "n": [5, 7]}), clv.time_unit("day"))
    with pytest.raises(clv.ClvFitError, match="no customer made a repeat purchase"):
        clv.fit_purchases(h, "bgnbd")


def _cdnow_first_orders() -> pd.DataFrame:
    """The CDNOW sample cut to each customer's first order: nobody bought twice."""
    raw = pd.read_csv(LIFETIMES_DATA / "CDNOW_sample.txt", sep=r"\s+", header=None,
                      names=["customer_id", "master_id", "date", "cds", "amount"], dtype={"customer_id": str})
    raw["order_ts"] = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d")
    raw["order_id"] = np.arange(len(raw)).astype(str)
    return raw.sort_values("order_ts").drop_duplicates("customer_id")[["order_id", "customer_id", "order_ts", "amount"]]


def test_no_repeat_buyer_gives_no_model_said_in_words_and_null_figures():
    """Nobody bought twice: notebook 04's steps run to the end without a purchase model (no
    ClvFitError): every prediction is null (never 0), the notes say why and what the brand
    needs, the reliability verdict is 'not computed', the metrics carry nulls and the reason."""
    first = _cdnow_first_orders()
    params = config.load_params(brand="cdnow")
    params = params.model_copy(update={"clv": params.clv.model_copy(update={"bootstrap": 20})})
    run = SimpleNamespace(orders=ibis.memtable(first), period_end=PERIOD_END, params=params, currency="USD",
                          clean=SimpleNamespace(refunds=None, outlier_threshold=None), customers=lambda: None)
    hist = clv.history(run)
    hold = clv.holdout_validation(run)
    spend = clv.spend_model(run, hist)
    value = clv.customer_values(run, hist, spend, hold)
    assert not value.fitted and value.fit is None
    assert "No customer bought twice" in value.skipped and "nothing to learn from" in value.skipped
    assert f"at least {params.readiness.min_repeat_customers:,}" in value.skipped
    assert clv_words.no_model(value, EN, params.readiness.min_repeat_customers).startswith("**No purchase model.**")
    value = clv.add_intervals(run, value, hold)
    assert value.draws is None and clv_words.intervals(value, EN) == [
        "No ranges on the customer value: no purchase model could be fitted (section 4 says why)."]
    columns = clv.customer_columns(value)
    assert len(columns) == first["customer_id"].nunique() == 2357
    assert columns.drop(columns="customer_id").isna().all().all()  # unknown, never 0
    assert clv.at_risk(value).empty
    rel = clv_checks.reliability(value, hold, None, None, None, None)
    assert rel.verdict == "not computed" and rel.reasons == [value.skipped]
    assert "not computed" in clv_words.reliability(rel, hold, EN)[0]
    metrics = {**clv.metrics(hold, value), **clv_checks.metrics(rel, None, None, None)}
    assert metrics["model"] is None and metrics["skipped"] == value.skipped and metrics["repeat_customers"] == 0
    assert all(metrics[k] is None for k in ("total", "expected_purchases_365", "p_alive_mean", "top10_share"))
    json.dumps(metrics)  # writable as is
    said = " ".join(clv_words.findings(hold, value, clv.at_risk(value), EN, params.readiness.min_repeat_customers))
    assert "No customer value this run" in said and "notebook 06" in said


def test_too_few_repeat_buyers_to_fit_says_how_many(monkeypatch):
    """Some repeat buyers, but no model fits: the reason counts them and carries each model's failure."""
    first = _cdnow_first_orders()
    orders = pd.concat([first, first.iloc[:3].assign(order_ts=lambda f: f["order_ts"] + pd.Timedelta(days=30),
                                                     order_id=lambda f: f["order_id"] + "r")])
    params = config.load_params(brand="cdnow")
    run = SimpleNamespace(orders=ibis.memtable(orders), period_end=PERIOD_END, params=params, currency="USD",
                          clean=SimpleNamespace(refunds=None, outlier_threshold=None), customers=lambda: None)

    def never_fits(hist, model, **kwargs):
        raise clv.ClvFitError(f"{clv.MODEL_NAMES[model]} did not converge")

    monkeypatch.setattr(clv, "fit_purchases", never_fits)
    hist = clv.history(run)
    value = clv.customer_values(run, hist, clv.spend_model(run, hist), clv.holdout_validation(run))
    assert not value.fitted
    assert value.skipped.startswith("Only 3 of 2,357 customers bought on two or more days")
    assert "Pareto/NBD did not converge" in value.skipped


def test_fallback_penalizer_is_used_and_said(cdnow_hist, monkeypatch):
    real = clv._fit_once

    def fails_without_penalty(model, hist, penalizer, initial):
        if penalizer == 0:
            from lifetimes.utils import ConvergenceError
            raise ConvergenceError("The model did not converge.")
        return real(model, hist, penalizer, initial)

    monkeypatch.setattr(clv, "_fit_once", fails_without_penalty)
    fit = clv.fit_purchases(cdnow_hist, "bgnbd", penalizer=0.0, fallback_penalizer=0.001)
    assert fit.penalizer == 0.001
    assert "fallback penalizer 0.001" in fit.warning and "did not converge" in fit.warning

    def always_fails(model, hist, penalizer, initial):
        raise ArithmeticError("non-finite parameters")

    monkeypatch.setattr(clv, "_fit_once", always_fails)
    with pytest.raises(clv.ClvFitError, match=r"BG/NBD could not be fitted on 2,357 customers.*penalizer 0\.001"):
        clv.fit_purchases(cdnow_hist, "bgnbd", fallback_penalizer=0.001)
    fits, failed = clv.fit_models(cdnow_hist, ["bgnbd", "mbgnbd"])
    assert not fits and set(failed) == {"bgnbd", "mbgnbd"}


def test_no_dropout_is_reported_not_hidden():
    """Purchases with no churn at all (a pure NBD): the BG-type fit stops on the a -> 0 ridge and
    says so; Pareto/NBD is refused with a reason; predictions stay finite."""
    rng = np.random.default_rng(7)
    n = 3000
    T = rng.uniform(20, 52, n)
    lam = rng.gamma(0.8, 1 / 8.0, n)
    x = rng.poisson(lam * T)
    t_x = np.where(x > 0, T * rng.beta(np.maximum(x, 1), 1), 0.0)
    frame = pd.DataFrame({"x": x, "tx_days": np.round(t_x * 7).astype(int), "T_days": np.round(T * 7).astype(int)})
    s = clv.summary_from_frame(frame, "week")
    h = s.histogram()
    fit = clv.fit_purchases(h, "bgnbd")
    assert "almost no dropout" in fit.warning
    assert fit.p_alive(h.x, h.t_x, h.T).min() > 0.99
    assert np.all(np.isfinite(fit.expected(26.0, h.x, h.t_x, h.T)))
    assert fit.params["r"] == pytest.approx(0.8, rel=0.15) and fit.params["alpha"] == pytest.approx(8.0, rel=0.2)
    with pytest.raises(clv.ClvFitError, match="almost no dropout"):
        clv.fit_purchases(h, "pareto")


def test_unit_names_are_checked():
    with pytest.raises(clv.TimeUnitError):
        clv.time_unit("month")
    assert config.Clv().time_unit == "week" and config.Clv().same_day == "collapse"


# ---------------------------------------------------------------- the demo brand's planted truth


def _demo_params(folder: Path, data_dir: Path, clv_section: str = "") -> Path:
    """The demo brand's params pointing at ``data_dir`` (no generation on load)."""
    text = (config.PARAMS_DIR / "demo.yaml").read_text(encoding="utf-8")
    text = text.replace("data/demo/", f"{data_dir.as_posix()}/").split("\ndemo:")[0] + "\n"
    if clv_section:
        text += textwrap.dedent(clv_section)
    path = folder / "demo_params.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _open(params_path: Path, run_dir: Path):
    from helpers.report import open_run

    return open_run(brand="demo", period="latest", run_dir=str(run_dir), params_path=str(params_path))


def _inside(table: pd.DataFrame, truth: dict) -> pd.Series:
    t = table.set_index("parameter")
    return pd.Series({k: bool(t.loc[k, "low"] <= v <= t.loc[k, "high"]) for k, v in truth.items()})


@pytest.mark.slow
def test_planted_truth_recovered_within_intervals(tmp_path, monkeypatch):
    """A 20,000-customer demo whose purchases follow the planted modified BG/NBD exactly (the
    driver effects on the first repeat interval and the campaign switched off): counting each
    order as a purchase and leaving the flagged wholesale orders out of spend, every planted
    parameter lies inside the reported 95 % interval."""
    monkeypatch.setattr(demo, "DRIVER_BETAS", {k: 0.0 for k in demo.DRIVER_BETAS})
    monkeypatch.setattr(demo, "SEGMENT_MULTIPLIER", np.ones(3))
    data = tmp_path / "demo"
    truth = demo.generate(data, n_customers=20_000, seed=7)
    run = _open(_demo_params(tmp_path, data, "clv:\n  same_day: separate\n  exclude_outliers: true\n  bootstrap: 400\n"),
                tmp_path / "run")
    hist = clv.history(run)
    spend = clv.spend_model(run, hist)
    fit = clv.fit_purchases(hist.hist, "mbgnbd")
    boot = clv.bootstrap(fit, hist.hist, spend.fit, spend.data, 400, seed=1)
    table = clv.params_interval(boot, fit, spend.fit)
    planted = clv.convert_purchase_params({k: truth["purchase_model"][k] for k in ("r", "alpha", "a", "b")},
                                          "mbgnbd", "day", "week")
    planted.update({"p": truth["spend_model"]["p"], "q": truth["spend_model"]["q"], "gamma": truth["spend_model"]["gamma"]})
    inside = _inside(table, planted)
    assert inside.all(), table.assign(truth=table["parameter"].map(planted)).to_string()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The demo brand as shipped (data/demo, generated on first use) with the notebook's steps."""
    demo.ensure_demo_data()
    from helpers.report import open_run

    folder = tmp_path_factory.mktemp("clv_demo")
    run = open_run(brand="demo", period="latest", run_dir=str(folder))
    hist = clv.history(run)
    hold = clv.holdout_validation(run)
    spend = clv.spend_model(run, hist)
    value = clv.add_intervals(run, clv.customer_values(run, hist, spend, hold))
    return {"run": run, "hist": hist, "hold": hold, "spend": spend, "value": value, "truth": demo.load_truth()}


@pytest.mark.slow
def test_demo_holdout_total_within_5_percent(demo_run):
    hold = demo_run["hold"]
    table = hold.table.set_index("model")
    chosen = hold.choice["model"]
    assert abs(table.loc[chosen, "predicted"] / table.loc[chosen, "actual"] - 1) < 0.05
    assert hold.choice["beats_baseline"]


@pytest.mark.slow
def test_demo_truth_within_reported_intervals(demo_run):
    """On the demo brand as shipped: the spend parameters and the dropout parameters (a, b) of the
    modified BG/NBD — the planted model: dropout is possible right after the first purchase — lie
    inside the reported intervals. The purchase-rate shape r does not and is not asserted: the
    planted driver effects scale only the first repeat interval, which adds heterogeneity that a
    single gamma-distributed rate absorbs by a lower r (about 0.30 against 0.45); the day-collapse
    of same-day orders pushes it the other way. The test above shows the estimator recovers all
    of them when the data follow the model."""
    run, hist, spend = demo_run["run"], demo_run["hist"], demo_run["spend"]
    truth = demo_run["truth"]
    fit = clv.fit_purchases(hist.hist, "mbgnbd")
    boot = clv.bootstrap(fit, hist.hist, spend.fit, spend.data, run.params.clv.bootstrap, seed=run.params.clv.seed)
    table = clv.params_interval(boot, fit, spend.fit)
    planted = {"a": truth["purchase_model"]["a"], "b": truth["purchase_model"]["b"], **{
        k: truth["spend_model"][k] for k in ("p", "q", "gamma")}}
    inside = _inside(table, planted)
    assert inside.all(), table.to_string()
    r = table.set_index("parameter").loc["r"]
    assert r["high"] < truth["purchase_model"]["r"]  # documented above: r is biased low by the driver effects


@pytest.fixture(scope="module")
def demo_vs_truth(demo_run):
    """Notebook 04's predictions and intervals on the demo as shipped (the holdout's forecast
    error included, as the notebook does), joined to the generator's per-customer truth at the
    same period end, on the same CLV conventions; and the same predictions from the planted
    parameters (modified BG/NBD in the fit's unit, Gamma-Gamma p, q, gamma): what a model that
    knew the truth's population would achieve from the same histories."""
    import dataclasses

    run, hist, spend, hold, t = (demo_run[k] for k in ("run", "hist", "spend", "hold", "truth"))
    value = clv.add_intervals(run, clv.customer_values(run, hist, spend, hold), hold)
    truth = demo.customer_truth(run.period_end, value.settings).set_index("customer_id")
    assert value.predictions["customer_id"].isin(truth.index).all()
    truth = truth.loc[value.predictions["customer_id"]]
    planted = clv.convert_purchase_params({k: t["purchase_model"][k] for k in ("r", "alpha", "a", "b")},
                                          "mbgnbd", "day", value.summary.unit)
    fit = clv.fit_purchases(hist.hist, "mbgnbd").with_params([planted[k] for k in ("r", "alpha", "a", "b")])
    gg = dataclasses.replace(value.spend.fit, params={"p": t["spend_model"]["p"], "q": t["spend_model"]["q"],
                                                      "v": t["spend_model"]["gamma"]})
    bench = clv.customer_predictions(fit, gg, value.summary, value.settings, run.period_end)
    return {"value": value, "truth": truth, "planted": bench, "hold": hold}


def test_demo_totals_against_the_truth(demo_vs_truth):
    """The default demo at 2025-06 (figures at generator version 3): total CLV 180,621 against a
    true 193,611 (-6.7 %), inside the reported 95 % interval 163,272 to 200,019 (the bootstrap alone,
    173,037 to 192,144, missed it); expected purchases in the next 365 days 3,596 against 3,869 (-7.1 %,
    of which about 4 points are the same-day orders the workbook counts as one purchase), inside
    its interval 3,301 to 3,932. Over 30 generated demos the intervals cover in 29 and 30 of 30
    (tests/proof, make proof)."""
    value, truth = demo_vs_truth["value"], demo_vs_truth["truth"]
    pr = value.predictions
    metrics = clv.metrics(demo_vs_truth["hold"], value)
    low, high = metrics["total_interval"]
    assert low <= truth["clv"].sum() <= high, (low, truth["clv"].sum(), high)
    p_low, p_high = metrics["total_interval_parameters"]
    assert not p_low <= truth["clv"].sum() <= p_high  # on this draw the bootstrap alone misses: why the latent part
    assert abs(pr["clv"].sum() / truth["clv"].sum() - 1) < 0.1
    n_low, n_high = metrics["expected_purchases_365_interval"]
    assert n_low <= truth["expected_purchases_365"].sum() <= n_high
    assert abs(pr["expected_purchases_365"].sum() / truth["expected_purchases_365"].sum() - 1) < 0.1
    assert metrics["total_latent_sd"] > 0


def test_demo_ranking_against_the_truth(demo_vs_truth):
    """Per customer, the workbook ranks as well as the planted model does from the same
    histories: Spearman of predicted and true CLV 0.494 (planted 0.495; most true CLVs are 0, so
    no model gets far above 0.5), top-tenth overlap 70.5 % (planted 70.2 %), and P(alive) tells the
    alive from the dropped out as well (AUC). Thresholds: within 0.03 / 5 points / 0.02 of the
    planted model. The workbook's P(alive) is biased up (1,321 expected alive against 1,109: the
    fitted r and b absorb the driver effects on the first repeat); the planted model's is not
    (1,077), which checks the truth itself."""
    from scipy.stats import rankdata, spearmanr

    value, truth, planted = demo_vs_truth["value"], demo_vs_truth["truth"], demo_vs_truth["planted"]
    k = len(truth) // 10
    top = set(truth.nlargest(k, "clv").index)

    def scores(pr):
        alive = truth["alive"].to_numpy()
        ranks = rankdata(pr["p_alive"].to_numpy())
        auc = (ranks[alive].sum() - alive.sum() * (alive.sum() + 1) / 2) / (alive.sum() * (~alive).sum())
        return {"spearman": spearmanr(pr["clv"], truth["clv"]).statistic,
                "top": len(set(pr.nlargest(k, "clv")["customer_id"]) & top) / k, "auc": auc}

    ours, best = scores(value.predictions), scores(planted)
    assert ours["spearman"] >= best["spearman"] - 0.03, (ours, best)
    assert ours["top"] >= best["top"] - 0.05, (ours, best)
    assert ours["auc"] >= best["auc"] - 0.02, (ours, best)
    assert ours["spearman"] > 0.42 and ours["top"] > 0.6
    assert abs(planted["p_alive"].sum() / truth["p_alive"].sum() - 1) < 0.1
    assert 1.0 < value.predictions["p_alive"].sum() / truth["p_alive"].sum() < 1.3


@pytest.mark.slow
def test_demo_outputs_contract(demo_run, tmp_path):
    run, hold, value = demo_run["run"], demo_run["hold"], demo_run["value"]
    run.update_customers(clv.customer_columns(value))
    customers = run.customers()
    for col in clv.CUSTOMER_COLUMNS:
        assert col in customers.columns
    assert customers["customer_id"].is_unique
    assert (customers["clv_low"] <= customers["clv"] + 1e-9).all() and (customers["clv"] <= customers["clv_high"] + 1e-9).all()
    metrics = run.write_metrics("clv", clv.metrics(hold, value))["clv"]
    for key in ("model", "params", "loglik", "holdout", "gamma_gamma", "total", "total_interval"):
        assert key in metrics
    assert set(metrics["holdout"]) >= {"actual", "predicted", "baseline_error", "model_error"}
    assert set(metrics["gamma_gamma"]) == {"p", "q", "v"}
    lo, hi = metrics["total_interval"]
    assert lo < metrics["total"] < hi
    json.dumps(metrics)
    sentences = clv_words.findings(hold, value, clv.at_risk(value), EN, run.params.readiness.min_repeat_customers)
    assert any("Model quality" in s for s in sentences)


def test_clv_to_cac_by_channel():
    pred = pd.DataFrame({"customer_id": list("abcd"), "clv": [30.0, 10.0, 5.0, 100.0],
                         "clv_low": [20.0, 5.0, 2.0, 80.0], "clv_high": [40.0, 15.0, 8.0, 120.0]})
    channel = pd.Series(["app", "app", "store", None])
    table = clv.cac_table(pred, {"app": 10.0, "store": 10.0, "tv": 50.0}, channel)
    assert list(table.index) == ["app", "store"]  # no cost for 'unknown', no customers for 'tv'
    assert table.loc["app", "mean_clv"] == 20.0 and table.loc["app", "clv_to_cac"] == 2.0
    assert table.loc["store", "clv_to_cac"] == 0.5 and table.loc["app", "mean_clv_low"] == 12.5


# ---------------------------------------------------------------- checks: left truncation, deciles, verdict


def _simulate_bgnbd(n, r, alpha, a, b, acquire_days, seed, cap=120):
    """Purchase times (days) of BG/NBD customers acquired uniformly over ``acquire_days``: a
    first purchase, then exponential gaps at a gamma-distributed rate, dropping out after each
    repeat purchase with a beta-distributed probability. Shape (n, cap + 1), inf after dropout."""
    rng = np.random.default_rng(seed)
    t0 = rng.uniform(0, acquire_days, n)
    lam = rng.gamma(r, 1 / alpha, n)
    k = rng.geometric(rng.beta(a, b, n))  # repeat purchases made; drops out right after the k-th
    times = t0[:, None] + np.cumsum(rng.exponential(1.0, (n, cap)) / lam[:, None], axis=1)
    times = np.where(np.arange(cap)[None, :] < k[:, None], times, np.inf)
    return np.concatenate([t0[:, None], times], axis=1)


def _observed(times, start, end, origin="2019-01-01"):
    """The orders a brand's data hold when they cover days [start, end) only."""
    cust, j = np.nonzero((times >= start) & (times < end))
    day = np.floor(times[cust, j]).astype(int)
    frame = pd.DataFrame({"customer_id": cust.astype(str),
                          "order_ts": pd.Timestamp(origin) + pd.to_timedelta(day, unit="D"), "amount": 10.0})
    frame["order_id"] = np.arange(len(frame)).astype(str)
    return ibis.memtable(frame)


def test_left_truncation_detected_and_burn_in_recovers_dropout():
    """A brand acquiring customers for three years (BG/NBD, planted dropout a = 0.8, b = 2.5 per
    day) whose data hold only the last year: the first month's 'new' customers are mostly old
    ones. The check finds it; the fit on customers acquired after the burn-in is closer to the
    planted dropout than the naive fit on everyone. With the whole history, nothing is found."""
    planted = {"r": 0.5, "alpha": 10.0, "a": 0.8, "b": 2.5}
    times = _simulate_bgnbd(9000, **planted, acquire_days=1096, seed=3)
    end = pd.Timestamp("2021-12-31 23:59:59")
    orders = _observed(times, 731, 1096)  # 2021-01-01 to 2021-12-31
    s = clv.customer_summary(orders, end, "week")
    t = clv_checks.detect_truncation(s.frame["first_day"], clv_checks.early_repeats(orders, s, 90), s.end, "month", 90)
    assert t.detected and t.bunching > clv_checks.BUNCHING and t.early_ratio > clv_checks.EARLY_RATIO
    assert t.burn_in_end == pd.Timestamp("2021-02-01") and t.calibrate_from == clv.epoch_day("2021-02-01")
    assert t.customers_before + t.customers_after == len(s.frame)
    assert t.customers_before == int((s.frame["first_day"] < t.burn_in_end).sum())
    text = " ".join(clv_words.truncation(t, EN))
    assert "The data start in the middle of the customers' history" in text
    assert f"{t.customers_after:,} customers acquired from 1 February 2021" in text

    truth = planted["a"] / (planted["a"] + planted["b"])
    naive = clv.fit_purchases(s.histogram(), "bgnbd")
    burn_hist = clv.fitting_histogram(s, t.calibrate_from)
    assert burn_hist.customers == t.customers_after
    burn = clv.fit_purchases(burn_hist, "bgnbd")
    dropout = {name: f.params["a"] / (f.params["a"] + f.params["b"]) for name, f in (("naive", naive), ("burn", burn))}
    assert abs(dropout["burn"] - truth) < 0.5 * abs(dropout["naive"] - truth), dropout
    assert abs(burn.params["a"] - planted["a"]) < abs(naive.params["a"] - planted["a"])

    full = _observed(times, 0, 1096)
    s2 = clv.customer_summary(full, end, "week")
    t2 = clv_checks.detect_truncation(s2.frame["first_day"], clv_checks.early_repeats(full, s2, 90), s2.end, "month", 90)
    assert not t2.detected and t2.calibrate_from is None and abs(t2.early_ratio - 1) < 0.2


def test_closed_cohort_is_not_truncation():
    """Every customer acquired in the first three months (like CDNOW): the first month's count is
    far above the later months' (zero), but its customers come back no sooner than the next
    months' — nothing to fix."""
    rng = np.random.default_rng(5)
    n = 3000
    first = pd.Series(pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 90, n), unit="D"))
    early = pd.Series(rng.poisson(0.6, n).astype(float))
    t = clv_checks.detect_truncation(first, early, pd.Timestamp("2021-06-30"), "month", 90)
    assert t.bunching == np.inf and not t.detected and abs(t.early_ratio - 1) < 0.15
    assert "behave like the later ones" in " ".join(clv_words.truncation(t, EN))


def test_decile_calibration_by_hand():
    """20 customers: each tenth holds two, ranked by the predicted purchases (and by P(alive))."""
    predicted = np.arange(1, 21, dtype=float) / 10
    actual = np.array([0, 1, 0, 0, 2, 0, 1, 1, 0, 3, 0, 0, 4, 1, 0, 2, 5, 0, 1, 1], dtype=float)
    p_alive = predicted[::-1] / 2  # the reverse order: tenth 1 by P(alive) is customers 19, 20
    scores = pd.DataFrame({"predicted": predicted, "actual": actual, "p_alive": p_alive,
                           "p_return": np.linspace(0.05, 0.95, 20), "after_burn_in": True})
    cal = clv_checks.decile_calibration(scores)
    by_pred, by_alive = cal["purchases"], cal["p_alive"]
    assert list(by_pred.index) == list(range(1, 11)) and (by_pred["customers"] == 2).all()
    for k in range(1, 11):
        rows = [2 * k - 2, 2 * k - 1]
        assert by_pred.loc[k, "predicted"] == pytest.approx(predicted[rows].mean())
        assert by_pred.loc[k, "actual"] == pytest.approx(actual[rows].mean())
        assert by_pred.loc[k, "returned"] == pytest.approx((actual[rows] > 0).mean())
        back = [19 - (2 * k - 2), 19 - (2 * k - 1)]
        assert by_alive.loc[k, "p_alive"] == pytest.approx(p_alive[back].mean())
        assert by_alive.loc[k, "p_return"] == pytest.approx(scores["p_return"].to_numpy()[back].mean())
        assert by_alive.loc[k, "returned"] == pytest.approx((actual[back] > 0).mean())
    gaps = (by_alive["p_return"] - by_alive["returned"]).abs()
    assert cal["max_return_gap"] == pytest.approx(gaps.max()) and cal["max_return_gap_tenth"] == int(gaps.idxmax())
    assert cal["top_tenth_ratio"] == pytest.approx(actual[18:].mean() / predicted[18:].mean())
    assert clv_checks.segment_table(scores) is None
    shown = clv_checks.decile_table(cal, "purchases")
    assert len(shown) == 10 and shown["actual share"].iloc[0] == "50.0 %"


def test_interval_holds_the_holdout_error(cdnow_cal, cdnow_fits):
    """The bootstrap interval 98-103 on a total of 100 with a holdout total off by 19 %: each side
    combined with 19 in quadrature; no holdout, no change. On the CDNOW sample the model kept on
    a tie is not the one with the clearly worst holdout total, and the interval on a total is at
    least as wide as that model's holdout error."""
    lo, hi = clv.with_forecast_error(100.0, 98.0, 103.0, -0.19)
    assert lo == pytest.approx(100 - np.hypot(2, 19)) and hi == pytest.approx(100 + np.hypot(3, 19))
    assert clv.with_forecast_error(100.0, 98.0, 103.0, None) == (98.0, 103.0)
    pred = clv.holdout_predictions(cdnow_fits, cdnow_cal)
    table = clv.evaluate_holdout(pred, cdnow_fits)
    choice = clv.choose_model(table, pred)
    errors = table[table["model"].isin(cdnow_fits)].set_index("model")["total_error"].abs()
    tolerance = clv.total_tolerance(pred, errors.idxmin())
    assert errors[choice["model"]] <= errors.min() + tolerance
    lo, hi = clv.with_forecast_error(1000.0, 990.0, 1010.0, choice["total_error"])
    assert (hi - lo) / 2 >= abs(choice["total_error"]) * 1000.0


@pytest.fixture(scope="module")
def cdnow_value(cdnow_orders):
    """CDNOW to 1998-06 with the modified BG/NBD: customer predictions as notebook 04 makes them."""
    s = clv.customer_summary(cdnow_orders, PERIOD_END, "week")
    h = s.histogram()
    fit = clv.fit_purchases(h, "mbgnbd")
    data = clv.spend_data(s)
    spend = clv.SpendResult(fit=clv.fit_spend(data), data=data, by_frequency=pd.DataFrame(), refund_share=0.02,
                            warn_at=0.3)
    settings = clv.ClvSettings(horizon_months=12, margin=0.3, annual_discount_rate=0.1, cost_to_serve_per_year=1.0,
                               refund_share=0.02)
    pred = clv.customer_predictions(fit, spend.fit, s, settings, PERIOD_END)
    return clv.ClvResult(fit=fit, summary=s, hist=h, spend=spend, settings=settings, predictions=pred)


def test_sensitivity_grid(cdnow_value):
    res = cdnow_value
    table = clv_checks.sensitivity(res, margins=[0.15, 0.3], rates=[0.0, 0.1], horizons=[6, 12])
    base = res.predictions["clv"].sum()
    assert np.allclose(table.loc[table["params value"], "total_clv"], base)
    assert set(table["varied"]) == {"margin", "annual discount rate", "horizon (months)"}
    row = table.set_index(["varied", "value"])["total_clv"]
    cost = res.settings.cost_to_serve_per_year / 12 * clv.discount_factors(12, 0.1).sum() * res.predictions["p_alive"].sum()
    assert row[("margin", 0.15)] == pytest.approx((base + cost) / 2 - cost)  # the margin scales the value, not the cost
    assert row[("annual discount rate", 0.0)] > base > row[("horizon (months)", 6.0)]
    assert clv_checks.total_clv(res, 0.3, 0.1, 12) == pytest.approx(base)
    assert len(clv_words.sensitivity(table, EN)) == 3


def test_reliability_flags_a_fit_without_dropout(cdnow_value):
    """No dropout, a mean P(alive) far above the lifecycle's survivors, a forecast above the past
    year: unreliable, with the figures in the reasons. The CDNOW fit with the same checks passes
    them (the holdout is left out here)."""
    rng = np.random.default_rng(7)
    n = 2000
    T = rng.uniform(20, 52, n)
    x = rng.poisson(rng.gamma(0.8, 1 / 8.0, n) * T)
    t_x = np.where(x > 0, T * rng.beta(np.maximum(x, 1), 1), 0.0)
    s = clv.summary_from_frame(pd.DataFrame({"x": x, "tx_days": np.round(t_x * 7).astype(int),
                                             "T_days": np.round(T * 7).astype(int)}), "week")
    h = s.histogram()
    fit = clv.fit_purchases(h, "bgnbd")
    pred = pd.DataFrame({"p_alive": fit.p_alive(h.x, h.t_x, h.T)[s.frame["row"]],
                         "expected_purchases_365": fit.expected(52.18, h.x, h.t_x, h.T)[s.frame["row"]]})
    res = clv.ClvResult(fit=fit, summary=s, hist=h, spend=None, settings=None, predictions=pred)
    churned = np.zeros(n, dtype=bool)
    churned[np.flatnonzero(x > 0)[: int(0.3 * (x > 0).sum())]] = True  # 30 % of the repeat buyers
    hold = clv.HoldoutResult(unit=s.unit, holdout_days=0, cal_end=pd.Timestamp("2024-01-01"), skipped="no holdout")
    forecast = pred["expected_purchases_365"].sum()
    rel = clv_checks.reliability(res, hold, None, {"share": 0.3, "churned": churned, "source": "the test"},
                                 {"past_year": 0.8 * forecast, "year_before": None, "growth": None}, None)
    assert rel.verdict == "unreliable"
    levels = dict(zip(rel.checks["check"], rel.checks["level"], strict=True))
    assert levels["dropout"] == levels["p_alive_vs_lifecycle"] == levels["forecast_vs_past_year"] == "unreliable"
    assert levels["holdout"] == "caution"
    text = " ".join(rel.reasons)
    assert f"{forecast:,.0f}" in text and f"{0.8 * forecast:,.0f}" in text and "30.0 % churned" in text
    assert f"the {(x > 0).sum():,} repeat buyers" in text  # BG/NBD: one-time buyers are alive by construction
    assert "finds no dropout" in text
    out = clv_checks.metrics(rel, None, None, None)
    assert out["reliability"] == "unreliable" and out["reliability_reasons"] == rel.reasons
    json.dumps(out)
    assert "unreliable" in clv_words.reliability(rel, hold, EN)[0]

    # CDNOW: dropout identified; 69 % churned by the lifecycle vs the model's lost share
    cd = cdnow_value
    lost = 1 - cd.predictions["p_alive"].mean()
    churned = np.zeros(len(cd.predictions), dtype=bool)
    churned[: int(round(lost / 0.9 * len(churned)))] = True  # a lifecycle share the model's agrees with
    rel = clv_checks.reliability(cd, hold, None, {"share": churned.mean(), "churned": churned, "source": "the test"},
                                 {"past_year": 2 * cd.predictions["expected_purchases_365"].sum(), "year_before": None,
                                  "growth": None}, None)
    levels = dict(zip(rel.checks["check"], rel.checks["level"], strict=True))
    assert levels["dropout"] == levels["p_alive_vs_lifecycle"] == levels["forecast_vs_past_year"] == "ok"
    assert rel.verdict == "caution"  # only for want of a holdout



def test_online_retail_is_not_degenerate_or_says_why():
    """UCI Online Retail to 2011-11 (data from 2010-12: left-truncated, one year of history): the
    CLV path is either not degenerate (mean P(alive) at most 0.9 and a 12-month forecast within
    the past year's purchases) or the verdict is 'unreliable' with the figures that make it so.
    The orders are read as the params say (invoice lines summed, cancellations and the named
    non-product lines left out) straight in the engine, without the audit's full pass."""
    params = config.load_params(brand="online_retail")
    (source,) = params.sources.orders
    con = ibis.duckdb.connect()
    path = (config.PROJECT_ROOT / source.path).as_posix()
    orders = con.sql(f"""
        SELECT CAST(InvoiceNo AS VARCHAR) AS order_id, CAST(CAST(CustomerID AS BIGINT) AS VARCHAR) AS customer_id,
               MIN(InvoiceDate) AS order_ts, SUM(Quantity * UnitPrice) AS amount
        FROM read_parquet('{path}')
        WHERE CustomerID IS NOT NULL AND CAST(InvoiceNo AS VARCHAR) NOT LIKE 'C%' AND NOT ({source.exclude[0].where})
        GROUP BY 1, 2 HAVING SUM(Quantity * UnitPrice) > 0""")
    end = config.period_end("2011-11", "month")
    s = clv.customer_summary(orders, end, "week")
    trunc = clv_checks.detect_truncation(s.frame["first_day"], clv_checks.early_repeats(orders, s, 90), s.end, "month")
    assert trunc.detected and trunc.burn_in_end is not None  # the first month's customers are mostly old ones

    days, _ = clv.holdout_split_days(end, 26, "week")
    cal = clv.customer_summary(orders, end, "week", holdout_days=days)
    fits, _ = clv.fit_models(clv.fitting_histogram(cal, trunc.calibrate_from), ["bgnbd", "mbgnbd"])
    hold = clv.HoldoutResult(unit=cal.unit, holdout_days=days, cal_end=cal.end, summary=cal, fits=fits,
                             calibrate_from=trunc.calibrate_from)
    hold.pred = clv.holdout_predictions(fits, cal)
    hold.table = clv.evaluate_holdout(hold.pred, fits)
    hold.choice = clv.choose_model(hold.table, hold.pred)
    hist = s.histogram()
    fit_hist = clv.fitting_histogram(s, trunc.calibrate_from)
    fit = clv.fit_purchases(fit_hist, hold.choice["model"])
    spend = clv.fit_spend(clv.spend_data(s))
    settings = clv.ClvSettings(horizon_months=12, margin=0.25, annual_discount_rate=0.1, cost_to_serve_per_year=0.0)
    pred = clv.customer_predictions(fit, spend, s, settings, end)
    res = clv.ClvResult(fit=fit, summary=s, hist=hist, spend=None, settings=settings, predictions=pred,
                        fit_hist=fit_hist, calibrate_from=trunc.calibrate_from)

    run = SimpleNamespace(period_end=end, orders=orders, params=params, customers=lambda: None)  # what the checks read
    churn = clv_checks.lifecycle_churn(run, pred["customer_id"])
    past = clv_checks.past_purchases(run)
    rel = clv_checks.reliability(res, hold, trunc, churn, past,
                                 clv_checks.decile_calibration(clv_checks.holdout_scores(hold)))
    p_alive, forecast = pred["p_alive"].mean(), pred["expected_purchases_365"].sum()
    if p_alive <= 0.9 and forecast <= past["past_year"]:
        return  # not degenerate
    assert rel.verdict == "unreliable"
    levels = dict(zip(rel.checks["check"], rel.checks["level"], strict=True))
    text = " ".join(rel.reasons)
    if p_alive > 0.9:
        assert levels["p_alive_vs_lifecycle"] == "unreliable" and f"{p_alive:.2f}" in text
    if forecast > past["past_year"]:
        assert levels["forecast_vs_past_year"] == "unreliable"
        assert f"{forecast:,.0f}" in text and f"{past['past_year']:,.0f}" in text
    assert rel.figures["dropout"] >= clv_checks.DROPOUT_FLOOR or levels["dropout"] == "unreliable"
    assert "left_truncation" in levels


def test_reliability_says_not_ready_and_a_short_past_year():
    """The audit's 'not ready' verdict makes the CLV unreliable, in words with the figures and the
    params; a past year the data cover only in part is not a yardstick for the forecast."""
    raw = _cdnow_first_orders()
    value, _ = _cdnow_value(pd.concat([raw, raw.iloc[:400].assign(order_ts=lambda f: f["order_ts"] + pd.Timedelta(days=40),
                                                                  order_id=lambda f: f["order_id"] + "r")]))
    assert value.fitted
    hold = SimpleNamespace(choice=None, skipped="too short")
    ready = {"verdict": "not ready", "repeat_customers": 18, "history_days": 50, "min_repeat_customers": 50,
             "min_history_days": 180}
    rel = clv_checks.reliability(value, hold, None, None, {"past_year": 87.0, "growth": None, "days": 50}, None, ready)
    assert rel.verdict == "unreliable"
    text = " ".join(rel.reasons)
    assert "not ready for CLV models: 18 customers bought on two or more days" in text and "50 days of history" in text
    assert "only 50 days of the past 12 months" in text and "cannot be checked against a past year" in text
    ok = clv_checks.reliability(value, hold, None, None, None, None, {**ready, "verdict": "ready"})
    assert "readiness" not in set(ok.checks["check"])
