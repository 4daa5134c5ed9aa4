"""The shortcuts notebook 04 takes at scale give the same numbers as the direct computations
they replace, bit for bit (issue 11): P(alive) under bootstrap draws without the derivative
columns and from one table of point integrals for all blocks, the Pareto/NBD next-purchase wait
with its purchase factor once per distinct (x, T), and the Gamma-Gamma objective with its gamma
functions once per distinct repeat count. On lifetimes' CDNOW sample (calibration to 1997-09-30)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pytest

from helpers import clv

LIFETIMES_DATA = Path(next(iter(importlib.util.find_spec("lifetimes").submodule_search_locations))) / "datasets"
PERIOD_END = pd.Timestamp("1998-06-30 23:59:59.999999")
HOLDOUT_DAYS = 273


@pytest.fixture(scope="module")
def cdnow():
    raw = pd.read_csv(LIFETIMES_DATA / "CDNOW_sample.txt", sep=r"\s+", header=None,
                      names=["customer_id", "master_id", "date", "cds", "amount"], dtype={"customer_id": str})
    raw["order_ts"] = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d")
    raw["order_id"] = np.arange(len(raw)).astype(str)
    orders = ibis.memtable(raw[["order_id", "customer_id", "order_ts", "amount"]])
    summary = clv.customer_summary(orders, PERIOD_END, "week", holdout_days=HOLDOUT_DAYS)
    hist = summary.histogram()
    return summary, hist, clv.fit_purchases(hist, "pareto")


@pytest.fixture(scope="module")
def draws(cdnow):
    _, _, fit = cdnow
    out = fit.values * np.exp(np.random.default_rng(3).normal(0, 0.15, (12, 4)))
    out[4] = np.nan  # a failed draw
    out[7, 2] = -1.0
    return out


def test_power_pieces_without_derivatives_is_the_first_column(cdnow):
    _, h, fit = cdnow
    pairs = clv._pareto_pairs(h.x, h.t_x, h.T)
    seg, pz = pairs.seg, pairs.point_z
    k = fit.values[0] + pairs.point_x[seg]
    full = clv._power_pieces(fit.values, k, pz[seg], pz[seg + 1])
    only = clv._power_pieces(fit.values, k, pz[seg], pz[seg + 1], derivatives=False)
    assert seg.size == 920 and full.shape == (920, 5) and only.shape == (920, 1)
    assert np.array_equal(only[:, 0], full[:, 0])
    assert np.array_equal(clv._pareto_point_sums(fit.values, pairs, derivatives=False)[0],
                          clv._pareto_point_sums(fit.values, pairs)[0])


def test_alive_draws_table_is_the_per_draw_integrals(cdnow, draws):
    """log P(alive) from the table, in blocks of patterns, equals each draw's log I from
    _pareto_died (with the derivatives, as before) and the alive term, bit for bit."""
    _, h, _ = cdnow
    x, t_x, T = h.x, h.t_x, h.T
    pairs = clv._pareto_pairs(x, t_x, T)
    want = np.full((x.size, len(draws)), np.nan)
    with np.errstate(all="ignore"):
        for j, (r, alpha, s, beta) in enumerate(draws):
            if np.all(np.isfinite(draws[j])) and np.all(draws[j] > 0):
                log_i, _ = clv._pareto_died(draws[j], x, t_x, T, pairs)
                alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
                want[:, j] = alive - np.logaddexp(alive, np.log(s) + log_i)
    table = clv._ParetoAliveDraws(draws, x, t_x, T)
    assert table.sums.shape == (pairs.point_z.size, 10)  # two failed draws hold no column
    rows = np.random.default_rng(0).permutation(x.size)
    blocks = np.concatenate([table.log_alive(rows[i:i + 97]) for i in range(0, x.size, 97)])
    assert np.array_equal(blocks, want[rows], equal_nan=True)
    assert np.isnan(want[:, [4, 7]]).all() and np.isfinite(want[:, [0, 1, 2, 3, 5, 6]]).all()
    assert np.array_equal(clv._pareto_log_alive_draws(draws, x, t_x, T), want, equal_nan=True)
    assert float(np.exp(want[:, 0]) @ h.n) == pytest.approx(872.13, abs=0.01)  # expected alive customers, draw 0


def test_clv_intervals_do_not_depend_on_the_blocks(cdnow):
    """Every block takes its patterns' P(alive) from the one table: the per-customer intervals
    are the same numbers in blocks of 50 combinations as in one block."""
    summary, h, fit = cdnow
    data = clv.spend_data(summary)
    spend = clv.fit_spend(data)
    settings = clv.ClvSettings(horizon_months=12, margin=0.3, annual_discount_rate=0.1, cost_to_serve_per_year=1.0)
    boot = clv.bootstrap(fit, h, spend, data, 40, seed=1)
    one = clv.clv_draws(fit, spend, summary, settings, boot)
    small = clv.clv_draws(fit, spend, summary, settings, boot, chunk=50)
    assert np.array_equal(one["low"], small["low"]) and np.array_equal(one["high"], small["high"])
    assert np.allclose(one["total"], small["total"], rtol=1e-13)
    # the table is kept on the bootstrap for the next step on the same patterns (purchases_interval)
    table = boot.alive_table
    patterns = summary.frame.groupby("row")[["x", "t_x", "T"]].first().sort_index()
    assert table is not None and boot.pareto_alive(*(patterns[c] for c in ("x", "t_x", "T"))) is table
    assert boot.pareto_alive(h.x[:10], h.t_x[:10], h.T[:10]) is not table


def test_pareto_wait_with_the_factor_per_distinct_x_and_T(cdnow):
    """next_purchase_days takes P(purchase | alive) once per distinct (x, T); each pattern on its
    own gives the same days."""
    _, h, fit = cdnow
    horizon = 365.0
    days = clv.next_purchase_days(fit, h.x, h.t_x, h.T, horizon)
    grid = np.unique(np.concatenate([np.geomspace(1, horizon, 48), [horizon]]))
    own = clv._pareto_median_wait(fit, grid, h.x, h.t_x, h.T, clv._pareto_buy_if_alive(fit, grid, h.x, h.T))
    assert np.array_equal(days, np.where(own <= horizon, own, np.nan), equal_nan=True)
    assert len(clv._codes(h.x, h.T)[1]) < 0.6 * h.x.size
    assert np.isfinite(days).sum() == 407  # patterns more likely than not to buy within the year


def test_gamma_gamma_objective_per_distinct_count(cdnow):
    summary, _, _ = cdnow
    data = clv.spend_data(summary)
    n, m = data["n"].to_numpy(dtype=float), data["m"].to_numpy(dtype=float)
    values, code = np.unique(n, return_inverse=True)
    model = clv.GammaGamma(penalizer_coef=1e-3)
    for u in (np.log([6.25, 3.74, 15.45]), np.log([0.5, 200.0, 3.0]), np.array([0.1, 0.1, 0.1])):
        rowwise = model._objective(u, n, np.log(m), n * m, np.log(n))
        shared = model._objective(u, n, np.log(m), n * m, np.log(n), values, code.reshape(-1))
        assert rowwise[0] == shared[0] and np.array_equal(rowwise[1], shared[1])
    fit = clv.fit_spend(data)
    assert fit.params["p"] == pytest.approx(6.25, rel=0.01) and fit.params["q"] == pytest.approx(3.74, rel=0.01)


def test_loglik_in_blocks_of_patterns(cdnow, monkeypatch):
    """PurchaseFit.loglik_of evaluates Pareto/NBD's quadrature in blocks of patterns (bounded
    memory at any number of patterns): the same number as all patterns at once."""
    _, h, fit = cdnow
    whole = float(np.sum(h.n * clv._ll_pareto(fit.values, h.x, h.t_x, h.T)))
    monkeypatch.setattr(clv, "_CELLS", 16 * 100)  # blocks of 100 patterns
    assert fit.loglik_of(h) == whole == pytest.approx(-9594.98, abs=0.01)  # the published CDNOW Pareto/NBD fit


def test_pareto_alive_and_no_purchase_in_blocks(cdnow, monkeypatch):
    """ParetoNBD's P(alive) and P(no purchase) take the quadrature in blocks of patterns: the
    same numbers as all at once."""
    _, h, fit = cdnow
    alive, none = fit.p_alive(h.x, h.t_x, h.T), fit.p_no_purchase(39.0, h.x, h.t_x, h.T)
    monkeypatch.setattr(clv, "_PARETO_CELLS", 100)
    assert np.array_equal(fit.p_alive(h.x, h.t_x, h.T), alive)
    assert np.array_equal(fit.p_no_purchase(39.0, h.x, h.t_x, h.T), none)
    r, alpha, s, beta = fit.values
    k = r + h.x
    assert np.array_equal(clv._log_power_integral_blocks(alpha, k, beta, s + 1.0, h.t_x, h.T),
                          clv.log_power_integral(alpha, k, beta, s + 1.0, h.t_x, h.T))
    assert float(alive @ h.n) == pytest.approx(1051.88, abs=0.01)  # expected alive customers at the fit
