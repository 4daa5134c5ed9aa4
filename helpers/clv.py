"""Customer lifetime value: purchase and spend models, holdout validation, the CLV sum, intervals.

DESIGN §3 and §4: transactions stay in the engine, lifetimes only fits and predicts.

* **Summaries in the engine.** :func:`summarize` is one Ibis expression over the clean orders:
  per customer the repeat purchase count ``x``, the time of the last purchase ``t_x`` and the
  age ``T`` (both from the first purchase), and the mean repeat spend. Orders on the same
  calendar day are one purchase occasion (as in the published CDNOW figures; params
  ``clv.same_day: separate`` counts each order); times are whole days converted to ONE explicit
  :class:`TimeUnit` (day or week) that every later step checks.
* **Compressed fits.** Customers with the same ``(x, t_x, T)`` have the same likelihood, so the
  purchase models are fitted on the histogram of unique patterns with their counts
  (lifetimes' ``weights=``): the same likelihood, far fewer rows.
* **Models.** BG/NBD and modified BG/NBD (MBG/NBD: a customer may also drop out right after
  the first purchase) from lifetimes, Gamma-Gamma for the spend per order from lifetimes, and
  Pareto/NBD (:class:`ParetoNBD`: lifetimes' likelihood written as a 1-D integral, because its
  hypergeometric form is ~50x slower on some real data, with an analytic gradient; tested
  against lifetimes). A fit that does not converge or lands on degenerate parameters is refitted
  with the fallback penalizer and says so (:attr:`PurchaseFit.warning`); if that fails too,
  :class:`ClvFitError` names the model and what went wrong. A fit whose dropout vanishes (the
  data cannot tell lost customers from slow ones) is kept and says that too.
* **Holdout first.** :func:`evaluate_holdout` compares each model's prediction of every
  customer's holdout purchases with what happened, and with a naive baseline (each customer
  repeats their calibration rate). :func:`choose_model` keeps the best per-customer error; among
  models tied on it, one whose holdout total is clearly worse is dropped before the calibration
  log-likelihood decides.
* **Left-truncated data** (:mod:`helpers.clv_checks`, also reachable as ``clv.checks``): when
  the data start mid-history, the fits see only the customers acquired after a burn-in
  (``calibrate_from`` of :func:`holdout_validation` and :func:`customer_values`); every
  customer is still predicted from their own history. The same module checks the fit (decile
  calibration, P(alive) against the lifecycle, the forecast against the past year) and gives the
  reliability verdict.
* **The CLV sum is ours** (lifetimes uses "months" of 30 time units whatever the unit):
  :func:`discounted_clv` sums, month by month, margin x expected purchases x expected spend,
  discounted at the annual rate, minus the cost to serve while the customer is active.
* **Intervals.** :func:`bootstrap` resamples the histogram counts (and the repeat buyers for
  the spend model) multinomially and moves the parameters by one Newton step from the fitted
  optimum (the one-step bootstrap: the per-pattern scores are computed once, so a draw costs a
  matrix product, not a refit, at any data size). Every draw gives every customer's CLV; the
  percentiles give intervals per customer, per group and on the total. Predictions and intervals
  are computed once per distinct pattern (x, t_x, T, and the spend history for the intervals),
  for all draws at once (:func:`pattern_predictions`: lifetimes' closed forms, broadcast over
  parameter arrays), in blocks that bound the memory, and joined back to the customers. The
  bootstrap knows nothing of the model being wrong: the intervals on totals are widened by the
  relative error of the holdout total (:func:`with_forecast_error`). Nor of the customers
  themselves: a total's truth is the sum of each customer's own expected value (their own rate,
  dropout, spend, alive or not), which their history pins down only so far; the sum of those
  variances (:func:`latent_variance`) widens the totals too (:func:`with_latent_variance`).
* **metrics.json** (:func:`metrics`: the ``clv`` section, stable names). Besides the chosen
  model's fit on all data (``params``, ``loglik``), the spend model (``gamma_gamma``) and the
  CLV total with its intervals, ``holdout`` holds the calibration window as the literature
  reports it: the calibration customers' actual purchases in the holdout (``actual``), every
  model's calibration fit whichever is chosen (``models.<model>.params``, ``.loglik``,
  ``.predicted``, ``.rmse``), the calibration customers (``customers``, ``repeat_customers``),
  Gamma-Gamma on the calibration repeat buyers (``gamma_gamma``, ``gamma_gamma_customers``) and a
  worked example (``example``, :func:`holdout_example`: x, t_x, T, holdout purchases and each
  model's ``expected`` holdout purchases of the first customer in id order). On the CDNOW 1/10
  sample these are the published figures (``tests/test_cdnow_path.py``).
"""

from __future__ import annotations

import contextlib
import functools
import io
import warnings
from dataclasses import dataclass, field
from typing import Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln, hyp2f1, logsumexp
from scipy.stats import norm

DAYS_PER_MONTH = 365.25 / 12
EPOCH = pd.Timestamp("1970-01-01")


class ClvFitError(RuntimeError):
    """A model could not be fitted to usable parameters, even with the fallback penalizer."""


class TimeUnitError(ValueError):
    """Quantities in different time units were combined."""


# ================================================================ time units


@dataclass(frozen=True)
class TimeUnit:
    """The one time unit of a CLV chain. Model rates are per unit; horizons given in days or
    months are converted here and nowhere else."""

    name: Literal["day", "week"]

    @property
    def days(self) -> float:
        return {"day": 1.0, "week": 7.0}[self.name]

    @property
    def plural(self) -> str:
        return self.name + "s"

    def from_days(self, days):
        return np.asarray(days, dtype=float) / self.days if np.ndim(days) else float(days) / self.days

    def from_months(self, months):
        return self.from_days(np.asarray(months, dtype=float) * DAYS_PER_MONTH) if np.ndim(months) \
            else float(months) * DAYS_PER_MONTH / self.days

    def to_days(self, units):
        return np.asarray(units, dtype=float) * self.days if np.ndim(units) else float(units) * self.days


def time_unit(name: str | TimeUnit) -> TimeUnit:
    if isinstance(name, TimeUnit):
        return name
    if name not in ("day", "week"):
        raise TimeUnitError(f"time unit must be 'day' or 'week', got {name!r}")
    return TimeUnit(name)  # type: ignore[arg-type]


def same_unit(*units: TimeUnit, what: str = "") -> TimeUnit:
    names = {u.name for u in units}
    if len(names) != 1:
        raise TimeUnitError(f"time units cannot be mixed{' in ' + what if what else ''}: got {sorted(names)}")
    return units[0]


def convert_purchase_params(params: dict, model: str, from_unit: str | TimeUnit, to_unit: str | TimeUnit) -> dict:
    """Express purchase-model parameters in another time unit. A rate per week is 7 rates per
    day: lambda ~ Gamma(r, alpha) per day becomes Gamma(r, alpha / 7) per week, so the scale
    parameters (alpha, and Pareto/NBD's beta) divide by the ratio of the units' lengths; the
    shape and dropout parameters (r, a, b, s) do not change."""
    ratio = time_unit(from_unit).days / time_unit(to_unit).days
    scaled = {"alpha", "beta"} if model == "pareto" else {"alpha"}
    return {k: (v * ratio if k in scaled else v) for k, v in params.items()}


def epoch_day(ts) -> int:
    """Calendar day number (days since 1970-01-01) of a timestamp's date."""
    return int((pd.Timestamp(ts).normalize() - EPOCH).days)


def from_epoch_day(day) -> pd.Timestamp:
    return EPOCH + pd.Timedelta(days=int(day))


# ================================================================ summaries (in the engine)


SameDay = Literal["collapse", "separate"]
# Money is summed as exact decimals in the engine (to a millionth of the currency unit): the same
# sums, to the bit, on every run whatever the order of the engine's parallel work.
EXACT = "decimal(38, 6)"


def purchases(orders: ir.Table, *, same_day: SameDay = "collapse", exclude_outliers: bool = False) -> ir.Table:
    """Purchase occasions: one row per customer and calendar day with orders (``collapse``:
    same-day orders are one purchase, as in the published CDNOW figures) or one row per order
    (``separate``). Columns: customer_id, _day (epoch day), _first (the customer's first
    purchase), amount, spend (the amount the spend model sees: without flagged outlier orders
    when ``exclude_outliers``, NULL when nothing is left). Amounts are exact decimals
    (:data:`EXACT`): a parallel engine adds floating-point numbers in whatever order its threads
    finish, which changed the last bits of sums from run to run and with them the spend model's
    inputs; decimal sums are the same on every run."""
    day = orders.order_ts.date().epoch_days().cast("int64")
    amount = orders.amount.cast(EXACT)
    if exclude_outliers and "is_outlier" in orders.columns:
        spend = ibis.ifelse(orders.is_outlier.fill_null(False), ibis.null(EXACT), amount)
    else:
        spend = amount
    t = orders.mutate(_day=day, _amount=amount, _spend=spend)
    if same_day == "collapse":
        p = t.group_by(["customer_id", "_day"]).aggregate(amount=t._amount.sum(), spend=t._spend.sum())
        return p.mutate(_first=p._day == p._day.min().over(group_by=p.customer_id))
    if same_day != "separate":
        raise ValueError(f"same_day must be 'collapse' or 'separate', got {same_day!r}")
    order = [t.order_ts, t.order_id] if "order_id" in t.columns else [t.order_ts]
    seq = ibis.row_number().over(group_by=t.customer_id, order_by=order)
    return t.select("customer_id", "_day", amount=t._amount, spend=t._spend, _first=seq == 0)


def summarize(orders: ir.Table, end: pd.Timestamp, unit: str | TimeUnit, *, holdout_days: int = 0,
              same_day: SameDay = "collapse", exclude_outliers: bool = False) -> ir.Table:
    """Per customer who bought by the calibration end: x, t_x, T and the mean repeat spend.

    ``end`` is the as-of instant; its calendar day is the last day observed. With
    ``holdout_days`` > 0 the calibration ends that many days earlier and the expression also
    counts each calibration customer's purchases in the holdout (``x_holdout``).
    Columns: customer_id, first_day (epoch day), x, tx_days, T_days, t_x, T (in ``unit``),
    repeat_spend_n (repeat purchases with spend), repeat_spend_mean, amount (all purchases to
    the calibration end), and x_holdout, holdout_amount with a holdout."""
    unit = time_unit(unit)
    last_day = epoch_day(end)
    cal_day = last_day - int(holdout_days)
    p = purchases(orders, same_day=same_day, exclude_outliers=exclude_outliers)
    p = p.filter(p._day <= last_day)
    first_day = p._day.min().over(group_by=p.customer_id)
    p = p.mutate(first_day=first_day)
    p = p.filter(p.first_day <= cal_day)
    in_cal = p._day <= cal_day
    repeat = in_cal & ~p._first
    s = p.group_by(["customer_id", "first_day"]).aggregate(
        n=in_cal.sum(),
        last_day=p._day.max(where=in_cal),
        repeat_spend_n=(repeat & p.spend.notnull()).sum(),
        repeat_spend_sum=p.spend.sum(where=repeat),
        amount=p.amount.sum(where=in_cal),
        x_holdout=(~in_cal).sum(),
        holdout_amount=p.amount.sum(where=~in_cal),
    )
    out = s.select(
        "customer_id", "first_day",
        x=(s.n - 1).cast("int64"),
        tx_days=(s.last_day - s.first_day).cast("int64"),
        T_days=(ibis.literal(cal_day) - s.first_day).cast("int64"),
        repeat_spend_n=s.repeat_spend_n.cast("int64"),
        repeat_spend_mean=ibis.ifelse(s.repeat_spend_n > 0,
                                      s.repeat_spend_sum.cast("float64") / s.repeat_spend_n.cast("float64"),
                                      ibis.null("float64")),
        amount=s.amount.cast("float64").fill_null(0.0),
        x_holdout=s.x_holdout.cast("int64"),
        holdout_amount=s.holdout_amount.cast("float64").fill_null(0.0),
    )
    out = out.mutate(t_x=out.tx_days.cast("float64") / unit.days, T=out.T_days.cast("float64") / unit.days)
    if not holdout_days:
        out = out.drop("x_holdout", "holdout_amount")
    return out


@dataclass
class Summary:
    """Customer-level summary (a pandas frame) with its time unit and calibration end."""

    frame: pd.DataFrame
    unit: TimeUnit
    end_day: int  # last calendar day of the calibration (epoch day)
    holdout_days: int = 0
    same_day: str = "collapse"

    @property
    def end(self) -> pd.Timestamp:
        return from_epoch_day(self.end_day)

    @property
    def holdout(self) -> float:
        """Holdout length in the time unit."""
        return self.unit.from_days(self.holdout_days)

    def histogram(self) -> Histogram:
        return histogram(self)


def customer_summary(orders: ir.Table, end: pd.Timestamp, unit: str | TimeUnit, *, holdout_days: int = 0,
                     same_day: SameDay = "collapse", exclude_outliers: bool = False) -> Summary:
    """Run :func:`summarize` in the engine and bring the customer-level result to pandas."""
    unit = time_unit(unit)
    expr = summarize(orders, end, unit, holdout_days=holdout_days, same_day=same_day, exclude_outliers=exclude_outliers)
    frame = expr.order_by("customer_id").execute()  # a fixed order: the bootstrap resamples rows
    frame["first_epoch_day"] = frame["first_day"].astype("int64")
    frame["first_day"] = EPOCH + pd.to_timedelta(frame["first_epoch_day"], unit="D")
    return Summary(frame=frame, unit=unit, end_day=epoch_day(end) - int(holdout_days), holdout_days=int(holdout_days),
                   same_day=same_day)


def summary_from_frame(frame: pd.DataFrame, unit: str | TimeUnit, end_day: int = 0) -> Summary:
    """A Summary from a frame that already has x, tx_days and T_days (tests, hand-made cases)."""
    unit = time_unit(unit)
    frame = frame.copy()
    frame["t_x"] = frame["tx_days"].astype(float) / unit.days
    frame["T"] = frame["T_days"].astype(float) / unit.days
    return Summary(frame=frame, unit=unit, end_day=end_day)


@dataclass
class Histogram:
    """Unique (x, t_x, T) patterns and how many customers have each (the fitting data)."""

    frame: pd.DataFrame  # x, tx_days, T_days, t_x, T, n
    unit: TimeUnit

    @property
    def customers(self) -> int:
        return int(self.frame["n"].sum())

    @property
    def x(self) -> np.ndarray:
        return self.frame["x"].to_numpy(dtype=float)

    @property
    def t_x(self) -> np.ndarray:
        return self.frame["t_x"].to_numpy(dtype=float)

    @property
    def T(self) -> np.ndarray:  # noqa: N802 (the literature's name)
        return self.frame["T"].to_numpy(dtype=float)

    @property
    def n(self) -> np.ndarray:
        return self.frame["n"].to_numpy(dtype=float)


KEYS = ["x", "tx_days", "T_days"]


def histogram(summary: Summary | ir.Table, unit: str | TimeUnit | None = None) -> Histogram:
    """The compressed RFM histogram. From a Summary (pandas, and its customers get a ``row``
    column pointing at their pattern) or straight from a :func:`summarize` expression (grouped
    in the engine: only the unique patterns come to pandas)."""
    if isinstance(summary, Summary):
        groups = summary.frame.groupby(KEYS, sort=True)
        hist = groups.size().rename("n").reset_index()
        unit = summary.unit
        hist["t_x"] = hist["tx_days"] / unit.days
        hist["T"] = hist["T_days"] / unit.days
        summary.frame["row"] = groups.ngroup().to_numpy()
        return Histogram(hist, unit)
    if unit is None:
        raise TimeUnitError("give the unit of the summary expression")
    unit = time_unit(unit)
    hist = summary.group_by(KEYS).aggregate(n=summary.count()).execute()
    hist = hist.sort_values(KEYS, ignore_index=True)
    hist["t_x"] = hist["tx_days"] / unit.days
    hist["T"] = hist["T_days"] / unit.days
    return Histogram(hist, unit)


def fitting_histogram(summary: Summary, first_from: int | None = None) -> Histogram:
    """The histogram the purchase models are fitted on: every customer of the summary, or (with
    ``first_from``, an epoch day) only those whose first purchase is on or after it — the
    customers acquired after a burn-in when the data are left-truncated
    (:mod:`helpers.clv_checks`). The summary's own ``row`` pointers stay those of all customers."""
    if first_from is None:
        return histogram(summary)
    if "row" not in summary.frame.columns:
        histogram(summary)
    keep = summary.frame["first_epoch_day"].to_numpy() >= int(first_from)
    sub = Summary(frame=summary.frame.loc[keep].drop(columns="row").reset_index(drop=True), unit=summary.unit,
                  end_day=summary.end_day, holdout_days=summary.holdout_days, same_day=summary.same_day)
    return histogram(sub)


def refund_rate(orders: ir.Table, refunds: ir.Table | None) -> float:
    """Refunds as a share of gross purchase amounts (refund amounts are negative)."""
    gross = float(np.nan_to_num(orders.amount.sum().execute() or 0.0))
    if refunds is None or gross <= 0:
        return 0.0
    back = float(np.nan_to_num(refunds.amount.sum().execute() or 0.0))
    return min(max(-back / gross, 0.0), 1.0)


# ================================================================ per-pattern log-likelihoods
# In original time units and natural parameters; the fitters' reported log-likelihoods are in
# lifetimes' internally rescaled time, so these are what we report (and bootstrap from).


def _ll_bgnbd(params, x, t_x, T):
    r, alpha, a, b = params
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(t_x + alpha)
    a4 = np.where(x > 0, a4, -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


def _ll_mbgnbd(params, x, t_x, T):
    r, alpha, a, b = params
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x + 1) - gammaln(b) - gammaln(a + b + x + 1)
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return a1 + a2 + a3 + np.logaddexp(a4, 0.0)


def _panels(nodes: int, breaks: tuple) -> tuple[np.ndarray, np.ndarray]:
    xi, w = np.polynomial.legendre.leggauss(nodes)
    pos = [a + (b - a) * (1 + xi) / 2 for a, b in zip(breaks[:-1], breaks[1:], strict=True)]
    wts = [(b - a) * w / 2 for a, b in zip(breaks[:-1], breaks[1:], strict=True)]
    return np.concatenate(pos), np.concatenate(wts)


# Gauss-Legendre on four panels, finer towards the lower end where the integrands below peak.
_QUAD_AT, _QUAD_W = _panels(16, (0.0, 1e-3, 3e-2, 0.3, 1.0))


def log_power_integral(A, p, B, q, lo, hi) -> np.ndarray:
    """log of the integral over y from lo to hi of (A + y)^-p (B + y)^-q, elementwise.

    With u = log(A + y) the integrand is exp((1 - p) u) (B - A + e^u)^-q: smooth, and for
    large p concentrated near the lower end, so the range is cut where it has fallen by e^-60
    and integrated by Gauss-Legendre on panels refined towards that end. Agrees with the
    hypergeometric form of the Pareto/NBD likelihood (lifetimes) to ~1e-11, at a fraction of
    its cost where scipy's hyp2f1 is slow (arguments near 1)."""
    A, p, B, q, lo, hi = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (A, p, B, q, lo, hi)))
    with np.errstate(all="ignore"):
        u0, u1 = np.log(A + lo), np.log(A + hi)
        decay = np.maximum(p - 1.0, 0.0)
        width = np.minimum(u1 - u0, np.where(decay > 0, 60.0 / np.maximum(decay, 1e-300), np.inf))
        u = u0[..., None] + width[..., None] * _QUAD_AT
        logf = (1.0 - p)[..., None] * u - q[..., None] * np.log(B[..., None] - A[..., None] + np.exp(u))
        out = np.log(width) + logsumexp(logf, b=_QUAD_W, axis=-1)
    return np.where(hi > lo, out, -np.inf)


def _log_power_integral_blocks(A, p, B, q, lo, hi) -> np.ndarray:
    """:func:`log_power_integral` in blocks along the first axis: its quadrature holds 64 numbers
    per element (~2.4 GB at once for 575,934 patterns); the same numbers."""
    args = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (A, p, B, q, lo, hi)))
    shape = args[0].shape
    if not shape:
        return log_power_integral(*args)
    out = np.empty(shape)
    step = max(1, _PARETO_CELLS // max(1, int(np.prod(shape[1:]))))
    for start in range(0, shape[0], step):
        out[start:start + step] = log_power_integral(*(a[start:start + step] for a in args))
    return out


def _pareto_terms(params, x, t_x, T):
    """(log C, log of the 'alive at T' term, log of the 'died in (t_x, T)' term) of the
    Pareto/NBD likelihood L = C [(alpha+T)^-(r+x) (beta+T)^-s + s * int_tx^T (alpha+y)^-(r+x)
    (beta+y)^-(s+1) dy] (Fader & Hardie, note 009)."""
    r, alpha, s, beta = params
    k = r + x
    log_c = gammaln(k) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -k * np.log(alpha + T) - s * np.log(beta + T)
    died = np.log(s) + _log_power_integral_blocks(alpha, k, beta, s + 1.0, t_x, T)
    return log_c, alive, died


def _ll_pareto(params, x, t_x, T):
    log_c, alive, died = _pareto_terms(np.asarray(params, dtype=float), x, t_x, T)
    return log_c + np.logaddexp(alive, died)


def _pareto_ll_and_grad(params, x, t_x, T, pairs: _ParetoPairs | None = None):
    """Per-pattern Pareto/NBD log-likelihood and its gradient in log-parameter space
    (d/d log theta = theta d/d theta), shape (patterns,) and (patterns, 4). The integral and its
    derivatives (integrals of the differentiated integrand) come from the integrals between the
    distinct (x, time) points (:func:`_pareto_died`; ``pairs`` from :func:`_pareto_pairs` on the
    same x, t_x and T, built here if not given)."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    if pairs is None:
        pairs = _pareto_pairs(x, t_x, T)
    log_i, di = _pareto_died(params, x, t_x, T, pairs)
    return _pareto_assemble(params, x, T, log_i, di, pairs)


def _pareto_ll_and_grad_direct(params, x, t_x, T):
    """:func:`_pareto_ll_and_grad` pattern by pattern: the integral and its derivatives by
    64-node quadrature in u = log(alpha + y) over each pattern's own (t_x, T), on the nodes of
    :func:`log_power_integral`. The reference for the pairwise evaluation (and what the fit used
    before it)."""
    r, alpha, s, beta = (float(v) for v in params)
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    k = r + x
    q = s + 1.0
    with np.errstate(all="ignore"):
        u0, u1 = np.log(alpha + t_x), np.log(alpha + T)
        decay = np.maximum(k - 1.0, 0.0)
        width = np.minimum(u1 - u0, np.where(decay > 0, 60.0 / np.maximum(decay, 1e-300), np.inf))
        u = u0[:, None] + width[:, None] * _QUAD_AT
        e_u = np.exp(u)  # alpha + y at the nodes
        b_y = beta - alpha + e_u  # beta + y at the nodes
        logf = (1.0 - k)[:, None] * u - q * np.log(b_y)
        m = logf.max(axis=1)
        f = np.exp(logf - m[:, None]) * _QUAD_W
        total = f.sum(axis=1)
        has = (T > t_x) & (total > 0)
        log_i = np.where(has, np.log(width) + m + np.log(total), -np.inf)

        def mean(h):  # (dI/dtheta) / I from the integrand weighted by h at the nodes
            return np.where(has, (f * h).sum(axis=1) / np.where(has, total, 1.0), 0.0)

        di = np.column_stack([mean(-u), mean(-(k[:, None]) / e_u), mean(-np.log(b_y)), mean(-q / b_y)])
    return _pareto_assemble(params, x, T, log_i, di)


def _pareto_assemble(params, x, T, log_i, di, pairs: _ParetoPairs | None = None):
    """log-likelihood and gradient (log-parameter space) per pattern from log I, I = the integral
    of (alpha+y)^-(r+x) (beta+y)^-(s+1) over (t_x, T), and di = (dI/dr, dI/dalpha, dI/ds,
    dI/dbeta) / I (zero where I = 0). Terms that depend on x only are computed once per distinct x
    when ``pairs`` is given (the same numbers)."""
    from scipy.special import digamma

    r, alpha, s, beta = (float(v) for v in params)
    k = r + x
    with np.errstate(all="ignore"):
        if pairs is None:
            gamma_k, digamma_k = gammaln(k), digamma(k)
        else:
            k_values = r + pairs.x_values
            gamma_k, digamma_k = gammaln(k_values)[pairs.x_code], digamma(k_values)[pairs.x_code]
        log_c = gamma_k - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        log_a, log_b = np.log(alpha + T), np.log(beta + T)
        alive = -k * log_a - s * log_b
        died = np.log(s) + log_i
        total = np.logaddexp(alive, died)
        ll = log_c + total
        w_alive = np.exp(alive - total)
        w_died = 1.0 - w_alive
        di_r, di_alpha, di_s, di_beta = di.T
        g_r = digamma_k - digamma(r) + np.log(alpha) + w_alive * -log_a + w_died * di_r
        g_alpha = r / alpha + w_alive * -k / (alpha + T) + w_died * di_alpha
        g_s = np.log(beta) + w_alive * -log_b + w_died * (1.0 / s + di_s)
        g_beta = s / beta + w_alive * -s / (beta + T) + w_died * di_beta
    grad = np.column_stack([g_r * r, g_alpha * alpha, g_s * s, g_beta * beta])
    return ll, grad


# ---------------------------------------------------------------- the integral between distinct points
# The fit evaluates the 'died' integral I(x, t_x, T) = int_tx^T f_x, f_x(y) = (alpha+y)^-(r+x)
# (beta+y)^-(s+1), for every distinct pattern at every step. It depends on the pattern only
# through (x, t_x) and (x, T), and a real histogram has far fewer distinct (x, time) points than
# patterns (10M orders: 575,934 patterns, 39,720 points), so the integrals are taken between
# consecutive points of each x (one short piece of quadrature each) and added up pattern by
# pattern with suffix sums. f_x decreases in y, so a suffix sum R beyond T is at most
# f_x(T) (t_max - T) while I >= f_x(T) (T - t_x): the subtraction I = R(t_x) - R(T) loses at most
# log10((t_max - T) / (T - t_x)) digits (< 3 with whole days over two years); patterns where it
# would lose more than 4 are integrated on their own.

_PIECE_AT, _PIECE_W = _panels(16, (0.0, 1.0))  # Gauss-Legendre on [0, 1]
_PIECE_VARIATION = 8.0  # most the log-integrand changes over one piece (16 nodes: ~1e-15 up to ~25)
_PIECE_BLOCK = 2 ** 16  # pieces (x 16 nodes) per block of work
_PAIR_AMPLIFICATION = 1e4  # R(T) / I above which a pattern's integral is taken directly


@dataclass(frozen=True)
class _ParetoPairs:
    """The distinct (x, time) points of a set of patterns, sorted by x then time, and each
    pattern's points."""

    x_values: np.ndarray  # distinct x
    x_code: np.ndarray  # each pattern's index into x_values
    point_x: np.ndarray  # x of each point
    point_z: np.ndarray  # time of each point
    seg: np.ndarray  # points i followed by a point i + 1 of the same x: the segments
    lo: np.ndarray  # each pattern's point (x, t_x)
    hi: np.ndarray  # each pattern's point (x, T)


def _pareto_pairs(x, t_x, T) -> _ParetoPairs:
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    n = x.size
    xx, zz = np.concatenate([x, x]), np.concatenate([t_x, T])
    order = np.lexsort((zz, xx))
    xs, zs = xx[order], zz[order]
    new = np.ones(2 * n, dtype=bool)
    new[1:] = (xs[1:] != xs[:-1]) | (zs[1:] != zs[:-1])
    point = np.empty(2 * n, dtype=np.intp)
    point[order] = np.cumsum(new) - 1
    px, pz = xs[new], zs[new]
    seg = np.flatnonzero((px[1:] == px[:-1]) & np.isfinite(pz[1:]) & np.isfinite(pz[:-1]))
    x_values, x_code = np.unique(x, return_inverse=True)
    return _ParetoPairs(x_values, x_code.reshape(-1), px, pz, seg, point[:n], point[n:])


def _log_power_ratio(k, q, alpha, beta, lo, hi):
    """log f(hi) - log f(lo) for f(y) = (alpha+y)^-k (beta+y)^-q, accurate for hi close to lo."""
    d = hi - lo
    return -k * np.log1p(d / (alpha + lo)) - q * np.log1p(d / (beta + lo))


def _power_pieces(params, k, lo, hi, derivatives: bool = True) -> np.ndarray:
    """Shape (n, 5): the integral from lo to hi of f(y) = (alpha+y)^-k (beta+y)^-(s+1) divided by
    f(lo), and the integrals of f d(log f)/dtheta / f(lo) for theta = r (-log(alpha+y); k = r +
    x), alpha (-k / (alpha+y)), s (-log(beta+y)) and beta (-(s+1) / (beta+y)). Elementwise over
    k, lo, hi (lo < hi). Without ``derivatives``: shape (n, 1), the integral only (the same
    numbers as the first column; P(alive) needs no gradient).

    In u = log(m + y), m = min(alpha, beta), the log-integrand is (1 - p_m) u - p_M log(|alpha -
    beta| + e^u) (p_m, p_M the exponents of the smaller and the larger base): concave, and
    analytic within pi of the real axis (u = log(alpha + y) would put a singularity close to the
    lower end when beta + lo << alpha + lo). The range is cut where the integrand has fallen
    e^-60 below its peak and split into equal pieces of at most 1 in u over which the
    log-integrand changes by at most _PIECE_VARIATION (its slope is monotone: the ends bound it);
    each piece gets 16-node Gauss-Legendre (~1e-14 relative against a 9,600-node long-double
    quadrature; the number of pieces stays small at any parameters)."""
    r, alpha, s, beta = (float(v) for v in params)
    q = s + 1.0
    k, lo, hi = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (k, lo, hi)))
    k, lo, hi = (v.reshape(-1) for v in (k, lo, hi))
    small_is_alpha = alpha <= beta
    m, big = (alpha, beta) if small_is_alpha else (beta, alpha)
    p_m, p_big = (k, np.full_like(k, q)) if small_is_alpha else (np.full_like(k, q), k)
    with np.errstate(all="ignore"):
        m_lo = m + lo
        rho = m_lo / (big + lo)  # (m + lo) / (M + lo) <= 1
        width = np.log1p((hi - lo) / m_lo)

        def log_ratio(t, at):  # the log-integrand at u(lo) + t minus that at u(lo), for rows `at`
            return (1.0 - p_m[at]) * t - p_big[at] * np.log1p(rho[at] * np.expm1(t))

        # cut the range where the integrand has fallen e^-60 below its peak (concave: one peak)
        every = np.arange(k.size)
        level = (1.0 - p_m) / p_big  # e^u / (|alpha-beta| + e^u) at the peak, if inside
        peak = np.where(1.0 - p_m - p_big * rho > 0, np.log(level * (1.0 - rho) / (rho * (1.0 - level))), 0.0)
        peak = np.clip(np.nan_to_num(peak), 0.0, width)
        floor = log_ratio(peak, every) - 60.0
        cut = np.flatnonzero(log_ratio(width, every) < floor)
        if cut.size:
            a, b = peak[cut], width[cut]
            for _ in range(30):  # bisection; b stays below the floor
                mid = (a + b) / 2
                below = log_ratio(mid, cut) < floor[cut]
                a, b = np.where(below, a, mid), np.where(below, mid, b)
            width[cut] = b
        top = rho * np.exp(width) / (1.0 + rho * np.expm1(width))  # e^u / (|alpha-beta| + e^u) at the end
        slope = np.maximum(np.abs(1.0 - p_m - p_big * rho), np.abs(1.0 - p_m - p_big * top))
        step = np.minimum(1.0, _PIECE_VARIATION / slope)
        count = np.maximum(np.ceil(width / step), 1.0)
        count = np.where(np.isfinite(count), count, 1.0).astype(np.intp)
        columns = 5 if derivatives else 1
        out = np.empty((k.size, columns))
        first = np.concatenate([[0], np.cumsum(count)])
        start = 0
        while start < k.size:  # blocks of segments with about _PIECE_BLOCK pieces
            stop = max(start + 1, int(np.searchsorted(first, first[start] + _PIECE_BLOCK, side="right")) - 1)
            stop = min(stop, k.size)
            cnt = count[start:stop]
            seg = np.repeat(np.arange(start, stop), cnt)
            piece = np.arange(seg.size) - (first[seg] - first[start])
            h = (width / count)[seg]
            t = h[:, None] * (piece[:, None] + _PIECE_AT)  # u - u(lo) at the nodes
            grow = rho[seg, None] * np.expm1(t)  # (M + y) / (M + lo) - 1
            log_grow = np.log1p(grow)
            f = np.empty((columns, seg.size, _PIECE_AT.size))  # the integrand and its weighted versions
            np.exp((1.0 - p_m[seg, None]) * t - p_big[seg, None] * log_grow, out=f[0])
            if derivatives:
                log_small = np.log(m_lo)[seg, None] + t  # log(m + y)
                log_large = np.log(big + lo)[seg, None] + log_grow  # log(M + y)
                inv_small = np.exp(-log_small)
                inv_large = 1.0 / ((big + lo)[seg, None] * (1.0 + grow))
                log_a, inv_a, log_b, inv_b = ((log_small, inv_small, log_large, inv_large) if small_is_alpha
                                              else (log_large, inv_large, log_small, inv_small))
                np.multiply(f[0], log_a, out=f[1])
                np.multiply(f[0], inv_a, out=f[2])
                np.multiply(f[0], log_b, out=f[3])
                np.multiply(f[0], inv_b, out=f[4])
            sums = (f @ _PIECE_W) * h  # (columns, pieces)
            if derivatives:
                sums *= np.array([1.0, -1.0, 1.0, -1.0, -q])[:, None]
                sums[2] *= -k[seg]
            out[start:stop] = np.add.reduceat(sums, first[start:stop] - first[start], axis=1).T
            start = stop
    return out * m_lo[:, None]  # dy = (m + y) du, (m + y) f(y) / f(lo) = (m + lo) x the exponential above


def _suffix_sums(A, B):
    """S_i = B_i + A_i S_(i+1) (S = 0 past the end; A_i = 0 ends a run) for all i, by doubling."""
    A, B = A.copy(), B.copy()
    shift = 1
    while shift < A.size and np.any(A[:-shift]):
        B[:-shift] += A[:-shift, None] * B[shift:]
        A[:-shift] = A[:-shift] * A[shift:]
        shift *= 2
    return B


def _pareto_point_sums(params, pairs: _ParetoPairs, derivatives: bool = True) -> np.ndarray:
    """S, shape (5, points) (without ``derivatives``: (1, points)): S_i the integral of f from
    point i to the last point of its x divided by f(point i), and likewise the derivatives'
    integrals (:func:`_power_pieces`), from the integrals between consecutive points."""
    r, alpha, s, beta = (float(v) for v in params)
    q = s + 1.0
    seg, pz = pairs.seg, pairs.point_z
    with np.errstate(all="ignore"):
        k_seg = r + pairs.point_x[seg]
        B = np.zeros((pz.size, 5 if derivatives else 1))
        A = np.zeros(pz.size)
        B[seg] = _power_pieces(params, k_seg, pz[seg], pz[seg + 1], derivatives)
        A[seg] = np.exp(_log_power_ratio(k_seg, q, alpha, beta, pz[seg], pz[seg + 1]))
        return _suffix_sums(A, B).T.copy()


def _pareto_died(params, x, t_x, T, pairs: _ParetoPairs):
    """log I and (dI/dr, dI/dalpha, dI/ds, dI/dbeta) / I per pattern (see :func:`_pareto_assemble`)
    from the integrals between consecutive distinct points: with S_i the integral from point i to
    the last point of its x divided by f(point i) (and likewise the derivatives), I / f(t_x) =
    S(t_x) - f(T) / f(t_x) S(T)."""
    r, alpha, s, beta = (float(v) for v in params)
    q = s + 1.0
    k = r + x
    S = _pareto_point_sums(params, pairs)
    with np.errstate(all="ignore"):
        ratio = np.exp(_log_power_ratio(k, q, alpha, beta, t_x, T))  # f(T) / f(t_x)
        far = ratio * S[0][pairs.hi]
        total = S[0][pairs.lo] - far  # I / f(t_x)
        has = T > t_x
        redo = np.flatnonzero(has & ~(total * _PAIR_AMPLIFICATION > far))  # also where total <= 0
        direct = _power_pieces(params, k[redo], t_x[redo], T[redo])
        total[redo] = direct[:, 0]
        has &= total > 0
        log_i = np.where(has, -k * np.log(alpha + t_x) - q * np.log(beta + t_x) + np.log(total), -np.inf)
        scale = np.where(has, 1.0 / total, 0.0)
        di = np.empty((x.size, 4))
        for j in range(4):
            part = S[j + 1][pairs.lo] - ratio * S[j + 1][pairs.hi]
            part[redo] = direct[:, j + 1]
            di[:, j] = np.where(has, part * scale, 0.0)
    return log_i, di


def _ll_gamma_gamma(params, x, m):
    p, q, v = params
    return (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v) + (p * x - 1) * np.log(m)
            + (p * x) * np.log(x) - (p * x + q) * np.log(x * m + v))


# ================================================================ purchase models


FLAT_GRADIENT = 1e-4  # largest gradient (mean log-likelihood per customer) accepted on a flat ridge


class ParetoNBD:
    """Pareto/NBD (Schmittlein, Morrison & Colombo 1987) with the interface of lifetimes'
    fitters (params_, fit, the conditional expectation, P(alive), the expected purchases of a new
    customer). lifetimes' own ParetoNBDFitter is not used: its likelihood goes through scipy's
    hyp2f1, which takes ~0.1 s per evaluation on some real data (arguments near 1: UCI Online
    Retail), its objective divides by weights.mean() (a weighted fit optimises a differently
    scaled function and penalizer), and it starts from a random point. Here the same likelihood
    is written with a one-dimensional integral (:func:`log_power_integral`, tested against
    lifetimes' to 1e-9); while fitting, the integral of each pattern is a sum of integrals over
    the gaps between the distinct (x, time) points of all patterns (:func:`_pareto_pairs`), so
    its cost follows the ~40k distinct points, not the ~600k patterns of a 10M-order brand. The
    objective is the mean log-likelihood per customer with lifetimes'
    L2 penalizer on its internally scaled parameters, and BFGS with the analytic gradient
    starts from a fixed point in log-parameter space."""

    converged_ = True
    note_ = None

    def __init__(self, penalizer_coef: float = 0.0):
        self.penalizer_coef = penalizer_coef

    def _objective(self, u, x, t_x, T, w, pairs: _ParetoPairs | None = None):
        """Mean negative log-likelihood per customer + L2 penalty, and its gradient (in u = log
        of the scaled parameters). ``pairs``: :func:`_pareto_pairs` of x, t_x, T (built once per
        fit)."""
        params = np.exp(u)
        if not np.all(np.isfinite(params)):
            return np.inf, np.zeros_like(u)
        ll, grad = _pareto_ll_and_grad(params, x, t_x, T, pairs)
        value = -(w @ ll) / w.sum() + self.penalizer_coef * float(np.sum(params ** 2))
        gradient = -(w @ grad) / w.sum() + 2.0 * self.penalizer_coef * params ** 2
        if not (np.isfinite(value) and np.all(np.isfinite(gradient))):
            return np.inf, np.zeros_like(u)
        return float(value), gradient

    def fit(self, frequency, recency, T, weights=None, initial_params=None, tol: float = 1e-10, maxiter: int = 500):
        """BFGS from ``initial_params`` (scaled, natural; default all 1). The likelihood's
        integral is evaluated between the distinct (x, time) points of the patterns
        (:func:`_pareto_died`), found once here."""
        x = np.asarray(frequency, dtype=float)
        t_x = np.asarray(recency, dtype=float)
        T = np.asarray(T, dtype=float)
        w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
        self._scale = 1.0 / T.max()
        t_x, T = t_x * self._scale, T * self._scale
        args = (x, t_x, T, w, _pareto_pairs(x, t_x, T))  # the distinct (x, time) points, once
        u0 = np.zeros(4) if initial_params is None else np.log(np.asarray(initial_params, dtype=float))

        def off_the_edge(u):
            # Stop a run heading for the edge of the space (it would not be used anyway).
            r, alpha, s, beta = np.exp(u)
            if not (1e-6 < r < 1e6 and 1e-8 < alpha < 1e8 and 1e-6 < s < 1e6 and 1e-8 < beta < 1e8):
                self.note_ = ("the dropout parameters head for the edge of the space (s -> 0: almost nobody drops out)"
                              if s <= 1e-6 else "the parameters head for the edge of the space")
                raise StopIteration

        with np.errstate(all="ignore"):
            out = minimize(self._objective, u0, args=args, jac=True, method="BFGS", callback=off_the_edge,
                           options={"gtol": tol, "maxiter": maxiter})
        grad = float(np.max(np.abs(out.jac))) if np.all(np.isfinite(out.jac)) else np.inf
        self.converged_ = bool(np.isfinite(out.fun) and (out.success or grad < FLAT_GRADIENT)) and self.note_ is None
        if self.converged_ and not out.success:
            self.note_ = (f"the optimizer stopped on a flat ridge of the likelihood (largest gradient {grad:.1g}), "
                          "where the predictions no longer change")
        elif not self.converged_ and self.note_ is None:
            self.note_ = f"the optimizer stopped before converging ({out.message}; largest gradient {grad:.2g})"
        params = np.exp(out.x)
        params[[1, 3]] /= self._scale
        self.params_ = pd.Series(params, index=["r", "alpha", "s", "beta"])
        return self

    def _unpack(self):
        return (float(v) for v in self.params_[["r", "alpha", "s", "beta"]])

    def conditional_expected_number_of_purchases_up_to_time(self, t, frequency, recency, T):
        """E[purchases in (T, T + t] | x, t_x, T] (Fader & Hardie, note 009, eq. 41)."""
        r, alpha, s, beta = self._unpack()
        x, t_x, T = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        log_c, alive, died = _pareto_terms((r, alpha, s, beta), x, t_x, T)
        log_p_alive = alive - np.logaddexp(alive, died)
        t = np.asarray(t, dtype=float)
        with np.errstate(all="ignore"):
            tail = (1.0 - ((beta + T) / (beta + T + t)) ** (s - 1.0)) / (s - 1.0)
            return np.exp(log_p_alive + np.log(r + x) - np.log(alpha + T) + np.log(beta + T)) * tail

    def expected_number_of_purchases_up_to_time(self, t):
        r, alpha, s, beta = self._unpack()
        t = np.asarray(t, dtype=float)
        return r * beta / (alpha * (s - 1.0)) * (1.0 - (beta / (beta + t)) ** (s - 1.0))

    def conditional_probability_alive(self, frequency, recency, T):
        _, alive, died = _pareto_terms(tuple(self._unpack()), *(np.asarray(v, dtype=float) for v in (frequency, recency, T)))
        return np.exp(alive - np.logaddexp(alive, died))

    def conditional_probability_of_no_purchase(self, t, frequency, recency, T):
        """P(no purchase in (T, T + t] | history): 1 - P(alive) x P(the next event within t is a
        purchase | alive), the latter integrated over the posterior of (lambda, mu)."""
        r, alpha, s, beta = self._unpack()
        x, t_x, T = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        alive = self.conditional_probability_alive(x, t_x, T)
        k = r + x
        log_buy = (np.log(k) + k * np.log(alpha + T) + s * np.log(beta + T)
                   + _log_power_integral_blocks(alpha + T, k + 1.0, beta + T, s, 0.0, float(t)))
        return 1.0 - alive * np.exp(np.minimum(log_buy, 0.0))


@functools.cache
def _beta_geo_class(model: str):
    """lifetimes' BG/NBD or MBG/NBD fitter that accepts a fit which stopped on a flat ridge of the
    likelihood (BFGS 'precision loss' with a gradient below FLAT_GRADIENT: typically the dropout
    parameters drifting towards a -> 0, b -> infinity when the data show almost no dropout) and
    keeps a singular Hessian from failing the fit. Everything else is lifetimes' own."""
    from autograd import hessian, value_and_grad
    from lifetimes import BetaGeoFitter, ModifiedBetaGeoFitter
    from lifetimes.utils import ConvergenceError

    base = BetaGeoFitter if model == "bgnbd" else ModifiedBetaGeoFitter

    class Fitter(base):
        converged_ = True
        note_ = None

        def _fit(self, minimizing_function_args, initial_params, params_size, disp, tol=1e-7, bounds=None, **kwargs):
            x0 = 0.1 * np.ones(params_size) if initial_params is None else initial_params
            out = minimize(value_and_grad(self._negative_log_likelihood), jac=True, method=None, tol=tol, x0=x0,
                           args=minimizing_function_args, options={"disp": disp, **kwargs}, bounds=bounds)
            grad = float(np.max(np.abs(out.jac))) if np.size(out.jac) else np.inf
            if not out.success:
                if not (np.all(np.isfinite(out.x)) and np.isfinite(out.fun) and grad < FLAT_GRADIENT):
                    raise ConvergenceError(f"the optimizer stopped: {out.message} (largest gradient {grad:.2g})")
                self.note_ = (f"the optimizer stopped on a flat ridge of the likelihood (largest gradient {grad:.1g}), "
                              "where the predictions no longer change")
            hess = hessian(self._negative_log_likelihood)(out.x, *minimizing_function_args)
            return out.x, out.fun, hess

        def _compute_variance_matrix(self):
            try:
                return super()._compute_variance_matrix()
            except np.linalg.LinAlgError:
                k = len(self.params_)
                return pd.DataFrame(np.full((k, k), np.nan), index=self.params_.index, columns=self.params_.index)

    Fitter.__name__ = base.__name__
    return Fitter


MODEL_NAMES = {"bgnbd": "BG/NBD", "mbgnbd": "modified BG/NBD", "pareto": "Pareto/NBD"}
PARAM_NAMES = {"bgnbd": ["r", "alpha", "a", "b"], "mbgnbd": ["r", "alpha", "a", "b"],
               "pareto": ["r", "alpha", "s", "beta"]}
_LL = {"bgnbd": _ll_bgnbd, "mbgnbd": _ll_mbgnbd, "pareto": _ll_pareto}
SCALED = {"bgnbd": ("alpha",), "mbgnbd": ("alpha",), "pareto": ("alpha", "beta")}


def _fitter_class(model: str):
    if model in ("bgnbd", "mbgnbd"):
        return _beta_geo_class(model)
    if model == "pareto":
        return ParetoNBD
    raise ValueError(f"unknown purchase model {model!r}; choose from {sorted(MODEL_NAMES)}")


@contextlib.contextmanager
def _quiet():
    """lifetimes prints the optimizer's output on failure and numpy warns on edge values; our
    own checks and messages replace both."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


@dataclass
class PurchaseFit:
    """A fitted purchase model in one time unit, with lifetimes' fitter for predictions."""

    model: str
    unit: TimeUnit
    params: dict[str, float]
    loglik: float
    customers: int
    patterns: int
    penalizer: float
    fitter: object = field(repr=False)
    warning: str | None = None
    scale: float = 1.0  # lifetimes' internal time scale (1 / max T) used by its penalizer

    @property
    def name(self) -> str:
        return MODEL_NAMES[self.model]

    @property
    def values(self) -> np.ndarray:
        return np.array([self.params[k] for k in PARAM_NAMES[self.model]], dtype=float)

    def with_params(self, values) -> PurchaseFit:
        """A copy predicting with other parameter values (bootstrap draws)."""
        import copy

        fitter = copy.copy(self.fitter)
        fitter.params_ = pd.Series(np.asarray(values, dtype=float), index=PARAM_NAMES[self.model])
        return PurchaseFit(self.model, self.unit, dict(zip(PARAM_NAMES[self.model], map(float, values), strict=True)),
                           float("nan"), self.customers, self.patterns, self.penalizer, fitter, self.warning, self.scale)

    def in_unit(self, unit: str | TimeUnit) -> dict[str, float]:
        return convert_purchase_params(self.params, self.model, self.unit, unit)

    def check(self, unit: TimeUnit, what: str = "") -> None:
        same_unit(self.unit, unit, what=what or f"{self.name} (fitted in {self.unit.plural})")

    # -- predictions (t, x, t_x, T in the fit's unit) -------------------------------------
    def expected(self, t, x, t_x, T) -> np.ndarray:
        """E[purchases in (T, T + t] | x, t_x, T]; t may be a column (k, 1) for k horizons."""
        with _quiet():
            out = self.fitter.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T)
        return np.nan_to_num(np.asarray(out))  # NaN (0 x inf at the parameters' edges) -> 0

    def expected_new(self, t) -> np.ndarray:
        """E[repeat purchases in (0, t]] for a customer who just made a first purchase."""
        with _quiet():
            return np.asarray(self.fitter.expected_number_of_purchases_up_to_time(t), dtype=float)

    def p_alive(self, x, t_x, T) -> np.ndarray:
        with _quiet():
            out = self.fitter.conditional_probability_alive(x, t_x, T)
        return np.clip(np.nan_to_num(np.asarray(out) * np.ones(np.shape(x))), 0, 1)  # NaN -> 0

    def p_no_purchase(self, t: float, x, t_x, T) -> np.ndarray:
        """P(no purchase in (T, T + t] | history)."""
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        if t <= 0:
            return np.ones_like(x)
        if self.model == "pareto":
            with _quiet():
                p0 = self.fitter.conditional_probability_of_no_purchase(float(t), x, t_x, T)
            return np.clip(np.nan_to_num(np.asarray(p0, dtype=float), nan=1.0), 0, 1)
        # BG/NBD and MBG/NBD: dropout happens only at a purchase, so a customer alive now buys
        # next after a Lomax wait (lambda | alive ~ Gamma(r + x, alpha + T)).
        r, alpha = self.params["r"], self.params["alpha"]
        alive = self.p_alive(x, t_x, T)
        survive = ((alpha + T) / (alpha + T + t)) ** (r + x)
        return 1.0 - alive * (1.0 - survive)

    def loglik_of(self, hist: Histogram) -> float:
        # in blocks of patterns: Pareto/NBD's quadrature holds patterns x 64 nodes per array
        # (~3 GB at once on 575,934 patterns); the same per-pattern numbers, the same sum
        return float(np.sum(hist.n * _rowwise(_LL[self.model], self.values, (hist.x, hist.t_x, hist.T))))


def _degenerate(model: str, params: dict[str, float]) -> str | None:
    """What makes a fit unusable: non-finite values, a purchase rate at the edge of the space,
    both dropout parameters collapsing to zero (point masses: a penalizer's artefact), or the
    singular points of the expectation formulas. Dropout vanishing (a -> 0 with b large, or
    s / beta -> 0) is not degenerate: it is the data saying 'almost nobody drops out', reported by
    :func:`_boundary_note`."""
    vals = np.array(list(params.values()), dtype=float)
    if not np.all(np.isfinite(vals)) or np.any(vals <= 0):
        return "non-finite or non-positive parameters"
    show = ", ".join(f"{k}={v:.3g}" for k, v in params.items())
    if not (1e-6 < params["r"] < 1e6 and 1e-8 < params["alpha"] < 1e8):
        return f"the purchase-rate parameters are at the edge of the space ({show})"
    if model in ("bgnbd", "mbgnbd"):
        if params["a"] < 1e-6 and params["b"] < 1e-6:
            return f"both dropout parameters collapsed towards zero ({show})"
        if abs(params["a"] - 1.0) < 1e-6:
            return "a = 1 (expected purchases undefined)"
        if params["a"] > 1e8 or params["b"] > 1e10:
            return f"the dropout parameters are at the edge of the space ({show})"
    if model == "pareto":
        if params["s"] < 1e-6 and params["beta"] < 1e-6:
            return f"both dropout parameters collapsed towards zero ({show})"
        if abs(params["s"] - 1.0) < 1e-6:
            return "s = 1 (expected purchases undefined)"
        if params["s"] > 1e8 or params["beta"] > 1e12:
            return f"the dropout parameters are at the edge of the space ({show})"
    return None


def _boundary_note(model: str, params: dict[str, float], hist: Histogram) -> str | None:
    """A sentence when the fit says almost nobody drops out."""
    if model in ("bgnbd", "mbgnbd"):
        mean_p = params["a"] / (params["a"] + params["b"])
        if mean_p < 1e-3:
            return (f"{MODEL_NAMES[model]} finds almost no dropout (mean dropout probability per purchase "
                    f"{mean_p:.1e}): over this history the data cannot tell lost customers from slow ones, so the model "
                    "reduces to one without churn — P(alive) is close to 1 for everyone and CLV assumes every "
                    "customer keeps buying at their own rate. With a short history that is optimistic")
    else:
        horizon = float(hist.T.max())
        lost = 1 - (params["beta"] / (params["beta"] + horizon)) ** params["s"]
        if lost < 1e-3:
            return (f"Pareto/NBD finds almost no dropout (share expected to drop out over the observed "
                    f"{horizon:.0f} {hist.unit.plural}: {lost:.1e}); P(alive) is close to 1 for everyone and CLV "
                    "assumes every customer keeps buying at their own rate. With a short history that is optimistic")
    return None


def _fit_once(model: str, hist: Histogram, penalizer: float, initial: np.ndarray | None):
    cls = _fitter_class(model)
    fitter = cls(penalizer_coef=penalizer)
    kwargs = {}
    if initial is not None:
        scaled = np.array(initial, dtype=float).copy()
        scale = 1.0 / hist.T.max()
        for i, name in enumerate(PARAM_NAMES[model]):
            if name in SCALED[model]:
                scaled[i] *= scale
        kwargs["initial_params"] = scaled if model == "pareto" else np.log(scaled)
    with _quiet():
        fitter.fit(hist.frame["x"].to_numpy(), hist.t_x, hist.T, weights=hist.n, **kwargs)
    if not getattr(fitter, "converged_", True):
        raise ArithmeticError(getattr(fitter, "note_", None) or "the optimizer stopped before converging")
    return fitter


def fit_purchases(hist: Histogram, model: str, *, penalizer: float = 0.0, fallback_penalizer: float = 1e-3,
                  initial: np.ndarray | None = None) -> PurchaseFit:
    """Fit one purchase model on the compressed histogram (lifetimes, ``weights=`` counts).

    A fit that fails to converge or lands on degenerate parameters is refitted with
    ``fallback_penalizer`` (an L2 penalty that keeps the parameters finite) and carries a
    ``warning`` saying so; if that fails too, :class:`ClvFitError` explains what happened."""
    if hist.customers == 0:
        raise ClvFitError(f"{MODEL_NAMES.get(model, model)}: no customers to fit")
    if hist.frame["x"].sum() == 0:
        raise ClvFitError(f"{MODEL_NAMES.get(model, model)}: no customer made a repeat purchase, so purchase "
                          "rates and dropout cannot be told apart")
    attempts = [(penalizer, None)]
    if fallback_penalizer and fallback_penalizer > penalizer:
        attempts.append((fallback_penalizer, None))
    problems = []
    for pen, _ in attempts:
        try:
            fitter = _fit_once(model, hist, pen, initial)
            params = {k: float(v) for k, v in fitter.params_.items()}
            problem = _degenerate(model, params)
            if problem:
                raise ArithmeticError(problem)
        except Exception as exc:  # lifetimes' ConvergenceError, linear-algebra and our own checks
            problems.append(f"penalizer {pen:g}: {_reason(exc)}")
            continue
        notes = []
        if problems:
            notes.append(f"{MODEL_NAMES[model]} did not fit cleanly without a penalty ({problems[0]}); refitted with "
                         f"the fallback penalizer {pen:g} (params clv.fallback_penalizer), which shrinks the "
                         "parameters slightly towards zero")
        if getattr(fitter, "note_", None):
            notes.append(f"{MODEL_NAMES[model]}: {fitter.note_}")
        boundary = _boundary_note(model, params, hist)
        if boundary:
            notes.append(boundary)
        warning = ". ".join(notes) or None
        fit = PurchaseFit(model=model, unit=hist.unit, params=params, loglik=float("nan"), customers=hist.customers,
                          patterns=len(hist.frame), penalizer=pen, fitter=fitter, warning=warning,
                          scale=1.0 / float(hist.T.max()))
        fit.loglik = fit.loglik_of(hist)
        return fit
    advice = ("The data show almost no dropout over this history; the BG/NBD-type models describe that limit."
              if any("almost nobody drops out" in p for p in problems)
              else "Try a larger clv.fallback_penalizer, a longer history or another model.")
    raise ClvFitError(f"{MODEL_NAMES[model]} could not be fitted on {hist.customers:,} customers: "
                      + "; ".join(problems) + ". " + advice)


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def fit_models(hist: Histogram, models: list[str], *, penalizer: float = 0.0,
               fallback_penalizer: float = 1e-3) -> tuple[dict[str, PurchaseFit], dict[str, str]]:
    """Fit several purchase models; returns the fits and, per model that failed, why."""
    fits, failed = {}, {}
    for model in models:
        try:
            fits[model] = fit_purchases(hist, model, penalizer=penalizer, fallback_penalizer=fallback_penalizer)
        except ClvFitError as exc:
            failed[model] = str(exc)
    return fits, failed


# ================================================================ spend model


@dataclass
class SpendFit:
    """Gamma-Gamma on repeat buyers' mean spend per repeat purchase."""

    params: dict[str, float]  # p, q, v (v is the literature's gamma)
    loglik: float
    customers: int
    penalizer: float
    fitter: object = field(repr=False)
    pearson: float = float("nan")
    spearman: float = float("nan")
    warning: str | None = None
    flat: bool = False  # the starts reach the same likelihood at different parameters

    @property
    def values(self) -> np.ndarray:
        return np.array([self.params["p"], self.params["q"], self.params["v"]], dtype=float)

    @property
    def population_mean(self) -> float:
        p, q, v = self.values
        return p * v / (q - 1)

    def expected(self, n, mean_spend, params=None) -> np.ndarray:
        """E[spend per order | n repeat purchases with mean spend m] (the population mean for
        n = 0): a weighted average of the customer's own mean and the population mean."""
        p, q, v = self.values if params is None else params
        n = np.asarray(n)
        m = np.nan_to_num(np.asarray(mean_spend))  # no repeat purchase: NaN -> 0 (its weight is 0)
        weight = p * n / (p * n + q - 1)
        return (1 - weight) * (p * v / (q - 1)) + weight * m


def spend_data(summary: Summary) -> pd.DataFrame:
    """Repeat buyers with a positive mean repeat spend: the Gamma-Gamma fitting data."""
    f = summary.frame
    keep = (f["repeat_spend_n"] > 0) & (f["repeat_spend_mean"] > 0)
    return f.loc[keep, ["repeat_spend_n", "repeat_spend_mean"]].rename(
        columns={"repeat_spend_n": "n", "repeat_spend_mean": "m"}).reset_index(drop=True)


class GammaGamma:
    """The Gamma-Gamma spend model (Fader, Hardie & Lee 2005) fitted from several deterministic
    starts. lifetimes' GammaGammaFitter starts from one point and treats BFGS's 'precision loss'
    as a failure even at the optimum; where the spend varies little between customers the
    optimum lies far out (q ~ 100 or more, or q -> infinity) and, on inputs differing in the last
    bit only, its one start either stopped there or failed, and the fallback penalizer then gave
    another optimum (CLV per customer -63 % to +291 %). Here: the same objective as lifetimes
    (mean negative log-likelihood per repeat buyer + the L2 penalizer on p, q, gamma), its analytic
    gradient, BFGS in log-parameters from each of :data:`SPEND_STARTS` (scaled by the mean spend),
    the best likelihood kept. The starts whose likelihood is within :data:`FLAT_LOGLIK` of the best
    but whose parameters differ by more than :data:`FLAT_PARAMS` mark a flat likelihood
    (``flat_``): the data do not pin the parameters down."""

    def __init__(self, penalizer_coef: float = 0.0):
        self.penalizer_coef = penalizer_coef

    def _objective(self, u, n, log_m, s, logn, n_values=None, n_code=None):
        """Mean negative log-likelihood (+ penalty) and its gradient in log-parameters. With the
        distinct repeat counts ``n_values`` (``n = n_values[n_code]``) the gamma functions of p n
        are taken once per distinct count (the same numbers: the buyers share a few counts)."""
        with np.errstate(all="ignore"):
            p, q, v = np.exp(u)
            pn = p * n
            log_sv = np.log(s + v)
            if n_code is None:
                gl_pnq, gl_pn, psi, psi_pn = gammaln(pn + q), gammaln(pn), digamma(pn + q), digamma(pn)
            else:
                pv = p * n_values
                gl_pnq, gl_pn, psi, psi_pn = (f[n_code] for f in (gammaln(pv + q), gammaln(pv), digamma(pv + q),
                                                                    digamma(pv)))
            ll = (gl_pnq - gl_pn - gammaln(q) + q * np.log(v) + (pn - 1) * log_m + pn * logn
                  - (pn + q) * log_sv)
            g_p = n * (psi - psi_pn + log_m + logn - log_sv)
            g_q = psi - digamma(q) + np.log(v) - log_sv
            g_v = q / v - (pn + q) / (s + v)
            k = n.size
            value = -ll.sum() / k + self.penalizer_coef * (p * p + q * q + v * v)
            grad = -np.array([g_p.sum() * p, g_q.sum() * q, g_v.sum() * v]) / k \
                + 2.0 * self.penalizer_coef * np.array([p * p, q * q, v * v])
        if not (np.isfinite(value) and np.all(np.isfinite(grad))):
            return np.inf, np.zeros(3)
        return float(value), grad

    def _polish(self, u, free, args, steps: int = 6, h: float = 1e-5):
        """Newton steps on the analytic gradient over the ``free`` coordinates. Where q is large the
        likelihood is nearly flat along q and gamma together and the optimizer stops wherever the
        objective's rounding hides further gains (parameters agreeing to ~1e-6 only between inputs
        that differ in the last bit); the gradient keeps its precision there, so its root is found
        to ~1e-10."""
        fun, jac = self._objective(u, *args)
        idx = np.flatnonzero(free)
        for _ in range(steps if idx.size else 0):
            hess = np.empty((idx.size, idx.size))
            for a, j in enumerate(idx):
                e = np.zeros_like(u)
                e[j] = h
                hess[:, a] = (self._objective(u + e, *args)[1][idx] - self._objective(u - e, *args)[1][idx]) / (2 * h)
            try:
                step = np.linalg.solve((hess + hess.T) / 2, jac[idx])
            except np.linalg.LinAlgError:
                break
            trial = u.copy()
            trial[idx] -= step
            f2, j2 = self._objective(trial, *args)
            if not (np.isfinite(f2) and np.max(np.abs(j2[idx])) < np.max(np.abs(jac[idx])) and f2 <= fun + 1e-12):
                break
            u, fun, jac = trial, f2, j2
        return u, float(fun), jac

    def fit(self, frequency, monetary_value):
        n = np.asarray(frequency, dtype=float)
        m = np.asarray(monetary_value, dtype=float)
        n_values, n_code = np.unique(n, return_inverse=True)
        args = (n, np.log(m), n * m, np.log(n), n_values, n_code.reshape(-1))
        scale = float(np.mean(m))
        runs = []
        for start in SPEND_STARTS:
            p0, q0, mean0 = start
            u0 = np.log([p0, q0, mean0 * scale * (q0 - 1) / p0])  # population mean p gamma / (q - 1) = mean0 x mean
            bounds = [(np.log(1e-6), np.log(1e6)), (np.log(1e-6), np.log(SPEND_Q_MAX)),
                      (np.log(1e-12 * scale), np.log(1e12 * scale))]
            out = minimize(self._objective, u0, args=args, jac=True, method="L-BFGS-B", bounds=bounds,
                           options={"gtol": 1e-12, "ftol": 0.0, "maxiter": 2000})
            at_bound = np.isclose(out.x, [b[0] for b in bounds]) | np.isclose(out.x, [b[1] for b in bounds])
            u, fun, jac = self._polish(out.x, ~at_bound, args)
            grad = float(np.max(np.abs(np.where(at_bound, 0.0, jac)))) if np.all(np.isfinite(jac)) else np.inf
            ok = bool(np.isfinite(fun) and np.all(np.isfinite(u)) and (out.success or grad < FLAT_GRADIENT))
            runs.append({"start": start, "params": np.exp(u), "objective": fun, "ok": ok,
                         "gradient": grad, "message": str(out.message)})
        self.runs_ = runs
        good = [r for r in runs if r["ok"]]
        if not good:
            best = min(runs, key=lambda r: r["objective"] if np.isfinite(r["objective"]) else np.inf)
            raise ArithmeticError(f"no start converged (best: {best['message']}; largest gradient {best['gradient']:.2g})")
        best = min(good, key=lambda r: r["objective"])  # first among equals: the order of SPEND_STARTS
        k = n.size
        near = [r for r in good if (r["objective"] - best["objective"]) * k <= FLAT_LOGLIK]
        spread = max(float(np.max(np.abs(np.log(r["params"] / best["params"])))) for r in near)
        self.edge_ = bool(best["params"][1] >= SPEND_Q_MAX * (1 - 1e-6))
        self.flat_ = spread > FLAT_PARAMS or self.edge_
        self.near_ = near
        self.params_ = pd.Series(best["params"], index=["p", "q", "v"])
        return self


# Starts of the Gamma-Gamma fit: (p, q, the population mean spend as a multiple of the mean of
# the customers' mean spends); gamma follows from the mean. Deterministic, from a near-homogeneous
# population (q large) to a very heterogeneous one (q near 1), and lifetimes' own start first
# (p = q = gamma = e^0.1 is close to (1.1, 1.1, ...) only for a mean spend near 10).
SPEND_STARTS = ((1.1, 2.0, 1.0), (4.0, 4.0, 1.0), (1.0, 30.0, 1.0), (10.0, 300.0, 1.0), (0.5, 1.5, 1.0))
# q beyond which the spend rates no longer differ between customers for any purpose (each one's
# expected spend is the population mean to ~1e-5): the likelihood rising towards q -> infinity
# (no heterogeneity) stops here, at the same point on every run, and is reported as flat.
SPEND_Q_MAX = 1e4
FLAT_LOGLIK = 1e-3  # starts whose log-likelihood is within this of the best ...
FLAT_PARAMS = 0.01  # ... but whose parameters differ by more than this (log ratio): a flat likelihood


def fit_spend(data: pd.DataFrame, *, penalizer: float = 0.0, fallback_penalizer: float = 1e-3) -> SpendFit:
    """Fit Gamma-Gamma on (n, m) of repeat buyers (:class:`GammaGamma`: several deterministic
    starts, the best likelihood kept, a warning when the likelihood is flat); the
    frequency-spend correlation is reported because the model assumes there is none. The
    fallback penalizer is used, and said, only when no start converges without it."""
    if len(data) < 10:
        raise ClvFitError(f"Gamma-Gamma needs repeat buyers with a positive spend; only {len(data)} found")
    n = data["n"].to_numpy(dtype=float)
    m = data["m"].to_numpy(dtype=float)
    pearson = float(np.corrcoef(n, m)[0, 1]) if np.std(n) > 0 and np.std(m) > 0 else float("nan")
    spearman = float(pd.Series(n).corr(pd.Series(m), method="spearman")) if np.std(n) > 0 else float("nan")
    problems = []
    for pen in dict.fromkeys([penalizer, fallback_penalizer]):
        try:
            with _quiet():
                fitter = GammaGamma(penalizer_coef=pen).fit(n, m)
            params = {k: float(v) for k, v in fitter.params_.items()}
            if not all(np.isfinite(list(params.values()))):
                raise ArithmeticError("non-finite parameters")
            if params["q"] <= 1.0:
                raise ArithmeticError(f"q = {params['q']:.3g} <= 1: the spend distribution has no finite mean")
        except Exception as exc:
            problems.append(f"penalizer {pen:g}: {_reason(exc)}")
            continue
        notes = []
        if problems:
            notes.append(f"Gamma-Gamma did not fit cleanly without a penalty ({problems[0]}); refitted with the "
                         f"fallback penalizer {pen:g}")
        if fitter.edge_:
            notes.append(f"Gamma-Gamma: the likelihood is flat towards no spend heterogeneity (it keeps rising as q grows; "
                         f"stopped at q = {SPEND_Q_MAX:,.0f}): the data show no difference between customers' spend "
                         "rates beyond chance, so every customer's expected spend is the population mean "
                         f"({params['p'] * params['v'] / (params['q'] - 1):,.2f}), whatever their own average")
        elif fitter.flat_:
            qs = sorted(float(r["params"][1]) for r in fitter.near_)
            notes.append(f"Gamma-Gamma: the likelihood is flat — starts ending at q = {qs[0]:,.3g} and q = {qs[-1]:,.3g} "
                         f"reach the same log-likelihood (within {FLAT_LOGLIK:g}), so the data do not pin down how much "
                         "customers differ in spend, nor how far each customer's expected spend is pulled towards the "
                         "population mean")
        ll = float(np.sum(_ll_gamma_gamma(list(params.values()), n, m)))
        return SpendFit(params=params, loglik=ll, customers=len(data), penalizer=pen, fitter=fitter,
                        pearson=pearson, spearman=spearman, warning=". ".join(notes) or None, flat=bool(fitter.flat_))
    raise ClvFitError("Gamma-Gamma could not be fitted: " + "; ".join(problems))


def spend_by_frequency(data: pd.DataFrame, cap: int = 6) -> pd.DataFrame:
    """Mean repeat spend per order by number of repeat purchases (with a 95 % interval)."""
    d = data.assign(group=np.minimum(data["n"], cap))
    g = d.groupby("group")["m"]
    out = pd.DataFrame({"customers": g.size(), "mean_spend": g.mean(), "sd": g.std()}).reset_index()
    se = out["sd"] / np.sqrt(out["customers"])
    out["low"], out["high"] = out["mean_spend"] - 1.96 * se, out["mean_spend"] + 1.96 * se
    out["label"] = out["group"].astype(int).astype(str)
    out.loc[out["group"] == cap, "label"] = f"{cap}+"
    return out.drop(columns="sd")


# ================================================================ holdout validation


def holdout_split_days(period_end: pd.Timestamp, holdout: int, unit: str | TimeUnit) -> tuple[int, pd.Timestamp]:
    """Holdout length in days and the last calendar day of the calibration."""
    days = int(round(time_unit(unit).to_days(holdout)))
    return days, from_epoch_day(epoch_day(period_end) - days)


def baseline_prediction(summary: Summary) -> np.ndarray:
    """Naive baseline: each customer repeats their calibration rate (x / T) over the holdout."""
    f = summary.frame
    T = f["T"].to_numpy(dtype=float)
    rate = np.divide(f["x"].to_numpy(dtype=float), T, out=np.zeros(len(f)), where=T > 0)
    return rate * summary.holdout


def holdout_predictions(fits: dict[str, PurchaseFit], summary: Summary) -> pd.DataFrame:
    """Actual and predicted holdout purchases per customer (columns: actual, baseline, <model>...)."""
    f = summary.frame
    out = pd.DataFrame({"x": f["x"].to_numpy(), "actual": f["x_holdout"].to_numpy(dtype=float),
                        "baseline": baseline_prediction(summary)})
    x, t_x, T = (f[c].to_numpy(dtype=float) for c in ("x", "t_x", "T"))
    pattern, first = _codes(x, t_x, T)  # predicted once per distinct (x, t_x, T)
    for name, fit in fits.items():
        fit.check(summary.unit, "holdout predictions")
        at = pattern_predictions(fit.model, fit.values, x[first], t_x[first], T[first], times=[summary.holdout])["at"]
        out[name] = at[0][pattern, 0]
    return out


def evaluate_holdout(pred: pd.DataFrame, fits: dict[str, PurchaseFit]) -> pd.DataFrame:
    """Per model and for the baseline: predicted total, error of the total, per-customer RMSE
    and MAE. The models are ranked by RMSE (the conditional expectation a model gives is the
    prediction that minimises squared error, so that is the fair score)."""
    actual = pred["actual"].to_numpy()
    rows = []
    for name in [*fits, "baseline"]:
        p = pred[name].to_numpy()
        err = p - actual
        rows.append({
            "model": name, "label": MODEL_NAMES.get(name, "naive baseline"),
            "params": ", ".join(f"{k}={v:.3f}" for k, v in fits[name].params.items()) if name in fits else "x / T per customer",
            "loglik": fits[name].loglik if name in fits else np.nan,
            "actual": float(actual.sum()), "predicted": float(p.sum()),
            "total_error": float(p.sum() / actual.sum() - 1) if actual.sum() > 0 else np.nan,
            "rmse": float(np.sqrt(np.mean(err ** 2))), "mae": float(np.mean(np.abs(err))),
        })
    table = pd.DataFrame(rows)
    base = table.loc[table["model"] == "baseline", "rmse"].iloc[0]
    table["vs_baseline"] = table["rmse"] / base - 1
    return table


def choose_model(table: pd.DataFrame, pred: pd.DataFrame | None = None, z: float = 1.96,
                 material: float = 0.01) -> dict:
    """The model with the lowest holdout RMSE — unless the holdout cannot tell the best models
    apart. With the per-customer predictions, each model's squared errors are compared with the
    best model's customer by customer (a paired z-test on the difference of mean squared
    errors); the models within ``z`` standard errors of the best are tied. A difference of less
    than ``material`` (1 %) of the RMSE counts as a tie too, however many customers make it
    significant. Among tied models, those whose holdout *total* is clearly further from what
    happened than the closest one's are dropped (the CLV is a sum over customers, so it inherits
    the error of the total; "clearly": beyond :func:`total_tolerance`, the holdout total's own
    noise), and the calibration log-likelihood decides among the rest (they have the same number
    of parameters). So a tie never keeps a model whose holdout total is clearly the worst.
    Says whether the chosen model beats the naive baseline, by the same test."""
    models = table[table["model"] != "baseline"].sort_values("rmse", kind="stable").reset_index(drop=True)
    base = table[table["model"] == "baseline"].iloc[0]
    best = models.iloc[0]

    def z_score(a: str, b: str) -> float:
        """How many standard errors a's mean squared error is above b's (positive: a worse)."""
        if pred is None:
            return float("inf")
        diff = (pred[a] - pred["actual"]) ** 2 - (pred[b] - pred["actual"]) ** 2
        se = diff.std(ddof=1) / np.sqrt(len(diff))
        return float(diff.mean() / se) if se > 0 else (0.0 if diff.mean() == 0 else float("inf"))

    rmse = dict(zip(models["model"], models["rmse"], strict=True))
    tied = [m for m in models["model"] if m == best["model"] or z_score(m, best["model"]) < z
            or rmse[m] < best["rmse"] * (1 + material)]
    candidates = models[models["model"].isin(tied)].assign(_abs_total=lambda t: t["total_error"].abs().fillna(np.inf))
    closest = candidates.sort_values("_abs_total", kind="stable").iloc[0]
    candidates = candidates[candidates["_abs_total"] <= closest["_abs_total"] + total_tolerance(pred, closest["model"], z,
                                                                                               material)]
    chosen = candidates.sort_values("loglik", ascending=False, kind="stable").iloc[0]
    others = models[models["model"] != chosen["model"]]
    lower = bool(chosen["rmse"] < base["rmse"])
    beats = lower and (z_score("baseline", chosen["model"]) >= z if pred is not None else True)
    return {
        "model": chosen["model"], "label": chosen["label"], "rmse": float(chosen["rmse"]),
        "best_rmse_model": best["label"], "tied": [MODEL_NAMES[m] for m in tied],
        "by": "holdout error" if len(tied) == 1 else (
            "holdout total among models tied on per-customer holdout error" if len(candidates) == 1 else
            "calibration log-likelihood among models tied on per-customer holdout error and on the holdout total"),
        "total_tied": [MODEL_NAMES.get(m, m) for m in candidates["model"]],
        "baseline_rmse": float(base["rmse"]), "beats_baseline": bool(beats), "lower_than_baseline": lower,
        "improvement": float(1 - chosen["rmse"] / base["rmse"]),
        "others": {r["label"]: float(r["rmse"]) for _, r in others.iterrows()},
        "other_totals": {r["label"]: float(r["total_error"]) for _, r in others.iterrows() if r["model"] in tied},
        "total_error": float(chosen["total_error"]), "loglik": float(chosen["loglik"]),
        "any_beats_baseline": bool((models["rmse"] < base["rmse"]).any()),
    }


def total_tolerance(pred: pd.DataFrame | None, model: str, z: float = 1.96, material: float = 0.01) -> float:
    """How far apart two models' relative errors of the holdout total may be and still count as
    tied: ``z`` standard errors of the total's relative error (the per-customer errors' standard
    deviation x sqrt(customers) / the actual total: the noise of the holdout itself), and at
    least ``material``."""
    if pred is None or pred["actual"].sum() <= 0:
        return material
    err = pred[model] - pred["actual"]
    se = float(err.std(ddof=1) * np.sqrt(len(err)) / pred["actual"].sum())
    return max(material, z * se) if np.isfinite(se) else material


def holdout_by_frequency(pred: pd.DataFrame, fits: dict[str, PurchaseFit], cap: int = 7) -> pd.DataFrame:
    """Mean actual vs predicted holdout purchases by calibration repeat purchases (0 .. cap+)."""
    d = pred.assign(group=np.minimum(pred["x"], cap))
    cols = ["actual", *fits, "baseline"]
    out = d.groupby("group")[cols].mean()
    out.insert(0, "customers", d.groupby("group").size())
    out = out.reset_index()
    out["label"] = out["group"].astype(int).astype(str)
    out.loc[out["group"] == cap, "label"] = f"{cap}+"
    return out


def weekly_tracking(orders: ir.Table, summary: Summary, fits: dict[str, PurchaseFit], period_end: pd.Timestamp) -> pd.DataFrame:
    """Cumulative repeat purchases of the calibration customers, week by week over calibration
    and holdout: actual (counted in the engine) and expected by each model (calibration fits)."""
    f = summary.frame
    start = int(f["first_epoch_day"].min())
    last = epoch_day(period_end)
    weeks = int(np.ceil((last - start + 1) / 7))
    p = purchases(orders, same_day=summary.same_day)  # type: ignore[arg-type]
    p = p.mutate(first_day=p._day.min().over(group_by=p.customer_id))
    d = p.filter((p.first_day <= summary.end_day) & ~p._first & (p._day <= last))
    weekly = d.group_by(week=((d._day - start) // 7).cast("int64")).aggregate(purchases=d.count()).execute()
    actual = np.zeros(weeks)
    np.add.at(actual, weekly["week"].to_numpy(dtype=int), weekly["purchases"].to_numpy(dtype=float))
    out = pd.DataFrame({"week": np.arange(1, weeks + 1)})
    out["week_end"] = EPOCH + pd.to_timedelta(np.minimum(start + 7 * out["week"].to_numpy() - 1, last), unit="D")
    out["actual"] = np.cumsum(actual)
    cohort = f.groupby("first_epoch_day").size()
    first_days = cohort.index.to_numpy(dtype=float)
    counts = cohort.to_numpy(dtype=float)
    ends = np.minimum(start + 7 * out["week"].to_numpy() - 1, last).astype(float)
    exposure_days = np.maximum(ends[:, None] - first_days[None, :], 0.0)
    for name, fit in fits.items():
        fit.check(summary.unit, "tracking")
        expected = fit.expected_new(summary.unit.from_days(exposure_days))
        out[name] = (np.nan_to_num(expected) * counts[None, :]).sum(axis=1)
    out["holdout"] = out["week_end"] > summary.end
    return out


# ================================================================ per pattern, many parameter draws
# lifetimes' fitters predict with one parameter vector at a time. The closed forms below take
# parameter arrays that broadcast against the patterns (draws along the last axis), so the
# bootstrap's draws are one array operation, not a loop. They are lifetimes' formulas (and
# ParetoNBD's) with the same operations in the same order: one draw gives the same numbers.

_CELLS = 2 ** 20  # (pattern x draw) cells per block of work: ~8 MB an array
_PARETO_CELLS = 2 ** 15  # Pareto/NBD's integral has a quadrature axis: cells x 64 nodes per array


def _codes(*columns) -> tuple[np.ndarray, np.ndarray]:
    """Each row's code of its distinct combination of the columns, and the first row of each
    combination (code order)."""
    frame = pd.DataFrame({f"c{i}": np.asarray(c) for i, c in enumerate(columns)})
    codes = frame.groupby(list(frame.columns), sort=False, dropna=False).ngroup().to_numpy()
    first = np.unique(codes, return_index=True)[1]
    return codes, first


def _bg_numerator(model: str, params, t, x, T):
    """The numerator of the BG/NBD and MBG/NBD conditional expectation (lifetimes'
    conditional_expected_number_of_purchases_up_to_time): the part that depends on t, x and T
    but not on t_x."""
    r, alpha, a, b = params
    if model == "bgnbd":
        _a, _b, _c, _z = np.broadcast_arrays(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        ln_hyp = np.log(hyp2f1(_a, _b, _c, _z))
        if np.any(np.isinf(ln_hyp)):  # lifetimes' equivalent form, where the first overflows
            ln_hyp = np.array(ln_hyp)  # writable, also for one customer
            bad = np.isinf(ln_hyp)
            a_, b_, c_, z_ = _a[bad], _b[bad], _c[bad], _z[bad]
            ln_hyp[bad] = np.log(hyp2f1(c_ - a_, c_ - b_, c_, z_)) + (c_ - a_ - b_) * np.log(1 - z_)
        first_term = (a + b + x - 1) / (a - 1)
        second_term = 1 - np.exp(ln_hyp + (r + x) * np.log((alpha + T) / (alpha + t + T)))
    elif model == "mbgnbd":
        hyp_term = hyp2f1(r + x, b + x + 1, a + b + x, t / (alpha + T + t))
        first_term = (a + b + x) / (a - 1)
        second_term = 1 - hyp_term * ((alpha + T) / (alpha + t + T)) ** (r + x)
    else:
        raise ValueError(f"not a BG-type model: {model!r}")
    return first_term * second_term


def _bg_denominator(model: str, params, x, t_x, T):
    """The denominator of the same expectation (1 / P(alive) for MBG/NBD)."""
    r, alpha, a, b = params
    if model == "bgnbd":
        return 1 + (x > 0) * (a / (b + x - 1)) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    if model == "mbgnbd":
        return 1 + (a / (b + x)) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    raise ValueError(f"not a BG-type model: {model!r}")


def _pareto_tail(params, t, T):
    """The t-dependent factor of the Pareto/NBD conditional expectation (Fader & Hardie, note
    009, eq. 41)."""
    r, alpha, s, beta = params
    return (1.0 - ((beta + T) / (beta + T + t)) ** (s - 1.0)) / (s - 1.0)


def _pareto_log_alive(params, x, t_x, T, cells: int | None = None):
    """log P(alive) of Pareto/NBD (as :meth:`ParetoNBD.conditional_probability_alive`), in
    blocks along the first axis so that the integral's quadrature arrays stay ~``cells`` x 64."""
    args = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (*params, x, t_x, T)))
    shape = args[0].shape
    if not shape:
        return _pareto_log_alive_block(*args)
    out = np.empty(shape)
    step = max(1, (cells or _PARETO_CELLS) // max(1, int(np.prod(shape[1:]))))
    for start in range(0, shape[0], step):  # blocks of patterns, not one at a time
        sl = slice(start, start + step)
        out[sl] = _pareto_log_alive_block(*(a[sl] for a in args))
    return out


class _ParetoAliveDraws:
    """log P(alive) of Pareto/NBD for the patterns of a histogram under parameter draws, taken
    block of patterns by block. Each draw's 'died' integrals between the histogram's distinct (x,
    time) points are summed once, without the derivatives the fit needs (:func:`_pareto_point_sums`:
    points x draws numbers, ~60 MB at 10M orders and 200 draws); a block then combines two of
    them per pattern and draw as :func:`_pareto_died` does (the same arithmetic, all draws at
    once). Before, every block of patterns found its own points' integrals under every draw."""

    def __init__(self, draws: np.ndarray, x, t_x, T):
        self.draws = np.atleast_2d(np.asarray(draws, dtype=float))
        self.x, self.t_x, self.T = (np.asarray(v, dtype=float).ravel() for v in (x, t_x, T))
        self.pairs = _pareto_pairs(self.x, self.t_x, self.T)
        # a failed draw (non-finite or non-positive parameters) stays NaN, as the quadrature gives
        self.valid = np.flatnonzero(np.isfinite(self.draws).all(axis=1) & (self.draws > 0).all(axis=1))
        self.sums = np.empty((self.pairs.point_z.size, self.valid.size))
        for j, d in enumerate(self.valid):
            self.sums[:, j] = _pareto_point_sums(self.draws[d], self.pairs, derivatives=False)[0]

    def log_alive(self, rows=None) -> np.ndarray:
        """Shape (len(rows), draws): the patterns ``rows`` (indices into the histogram; all without)."""
        rows = np.arange(self.x.size) if rows is None else np.asarray(rows)
        x, t_x, T = (v[rows][:, None] for v in (self.x, self.t_x, self.T))
        out = np.full((rows.size, self.draws.shape[0]), np.nan)
        r, alpha, s, beta = (self.draws[self.valid, i][None, :] for i in range(4))
        q = s + 1.0
        with np.errstate(all="ignore"):
            k = r + x
            ratio = np.exp(_log_power_ratio(k, q, alpha, beta, t_x, T))  # f(T) / f(t_x)
            far = ratio * self.sums[self.pairs.hi[rows]]
            total = self.sums[self.pairs.lo[rows]] - far  # I / f(t_x)
            has = np.broadcast_to(T > t_x, total.shape)
            redo = has & ~(total * _PAIR_AMPLIFICATION > far)  # also where total <= 0
            for j in np.flatnonzero(redo.any(axis=0)):  # (rarely any: see _PAIR_AMPLIFICATION)
                at = np.flatnonzero(redo[:, j])
                total[at, j] = _power_pieces(self.draws[self.valid[j]], k[at, j], t_x[at, 0], T[at, 0],
                                             derivatives=False)[:, 0]
            has = has & (total > 0)
            log_i = np.where(has, -k * np.log(alpha + t_x) - q * np.log(beta + t_x) + np.log(total), -np.inf)
            alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
            out[:, self.valid] = alive - np.logaddexp(alive, np.log(s) + log_i)
        return out


def _pareto_log_alive_draws(draws: np.ndarray, x, t_x, T) -> np.ndarray:
    """log P(alive) of every pattern under every parameter draw, shape (patterns, draws): each
    draw's 'died' integral from the integrals between the distinct (x, time) points, found once
    for all draws (:class:`_ParetoAliveDraws`); the per-pattern quadrature of
    :func:`_pareto_log_alive` would cost patterns x draws x 64 nodes (minutes at a million
    patterns and 200 draws)."""
    table = _ParetoAliveDraws(draws, x, t_x, T)
    out = np.empty((table.x.size, table.draws.shape[0]))
    block = max(1, _CELLS // max(1, table.draws.shape[0]))
    for start in range(0, table.x.size, block):  # blocks of patterns: the temporaries stay small
        out[start:start + block] = table.log_alive(np.arange(start, min(start + block, table.x.size)))
    return out


def _pareto_log_alive_block(r, alpha, s, beta, x, t_x, T):
    k = r + x
    alive = -k * np.log(alpha + T) - s * np.log(beta + T)
    died = np.log(s) + log_power_integral(alpha, k, beta, s + 1.0, t_x, T)
    return alive - np.logaddexp(alive, died)


def conditional_expected(model: str, params, t, x, t_x, T) -> np.ndarray:
    """E[purchases in (T, T + t] | x, t_x, T] for parameter arrays: ``params`` is a sequence of
    the model's parameters (PARAM_NAMES order), each a scalar or an array that broadcasts with
    t, x, t_x and T. The formulas of lifetimes' fitters (and of :class:`ParetoNBD`)."""
    with np.errstate(all="ignore"):
        if model == "pareto":
            r, alpha, s, beta = params
            log_p_alive = _pareto_log_alive(params, x, t_x, T)
            return np.exp(log_p_alive + np.log(r + x) - np.log(alpha + T) + np.log(beta + T)) * _pareto_tail(params, t, T)
        return _bg_numerator(model, params, t, x, T) / _bg_denominator(model, params, x, t_x, T)


def conditional_p_alive(model: str, params, x, t_x, T) -> np.ndarray:
    """P(alive | x, t_x, T) for parameter arrays (see :func:`conditional_expected`)."""
    with np.errstate(all="ignore"):
        if model == "pareto":
            return np.exp(_pareto_log_alive(params, x, t_x, T))
        if model == "mbgnbd":
            return 1.0 / _bg_denominator(model, params, x, t_x, T)
        r, alpha, a, b = params
        log_div = (r + x) * np.log((alpha + T) / (alpha + t_x)) + np.log(a / (b + np.maximum(x, 1) - 1))
        return np.where(x == 0, 1.0, expit(-log_div))


def pattern_predictions(model: str, draws, x, t_x, T, *, times=(), edges=None, d=None, log_alive=None) -> dict:
    """Predictions of every (x, t_x, T) pattern under every parameter draw (``draws``: shape
    (draws, k), or (k,) for one), each an array (patterns, draws) with NaN set to 0 as
    :class:`PurchaseFit` does: ``alive`` P(alive); ``at`` E[purchases in (T, T + t]] for each t of
    ``times``; with the month ``edges`` (starting at 0) and discount factors ``d``: ``disc`` the
    discounted expected purchases, sum over months m of d_m max(E(edge_m) - E(edge_m-1), 0), and
    ``months`` the same undiscounted. The t-dependent factor of E (lifetimes' numerator for the
    BG-type models, the tail for Pareto/NBD) depends on (x, T) only, not on t_x, so it is
    computed once per distinct (x, T); the month increments are taken on it (the rest of E is a
    positive factor of each pattern). With one draw, ``d`` may be (months, K): K discount
    schedules at once (a schedule that is 0 after month H is the horizon H), and ``disc`` is
    (patterns, K). Pareto/NBD: ``log_alive`` the patterns' log P(alive) under the draws if known
    (:meth:`_ParetoAliveDraws.log_alive` of a histogram holding them)."""
    draws = np.atleast_2d(draws)
    params = tuple(draws[:, j][None, :] for j in range(draws.shape[1]))
    x, t_x, T = (np.ravel(v)[:, None] for v in (x, t_x, T))
    pair, first = _codes(x[:, 0], T[:, 0])
    xp, Tp = x[first], T[first]

    def factor(t):  # (distinct (x, T), draws)
        if model == "pareto":
            return _pareto_tail(params, t, Tp)
        return _bg_numerator(model, params, t, xp, Tp)

    out: dict = {}
    with np.errstate(all="ignore"):
        if model == "pareto":
            r, alpha, s, beta = params
            log_p_alive = _pareto_log_alive_draws(draws, x, t_x, T) if log_alive is None else log_alive
            scale = np.exp(log_p_alive + np.log(r + x) - np.log(alpha + T) + np.log(beta + T))
            alive = np.exp(log_p_alive)
            combine = np.multiply
        else:
            scale = _bg_denominator(model, params, x, t_x, T)
            alive = conditional_p_alive(model, params, x, t_x, T)  # 1 / scale for MBG/NBD
            combine = np.divide
        # np.nan_to_num: NaN (a failed draw, 0 x inf at the parameters' edges) -> 0
        out["alive"] = np.clip(np.nan_to_num(np.broadcast_to(alive, scale.shape)), 0, 1)
        out["at"] = [np.nan_to_num(combine(factor(float(t))[pair], scale)) for t in times]
        if edges is not None:
            edges = np.ravel(edges)
            d = np.asarray(d)
            if edges[0] != 0:
                raise ValueError("the month edges start at 0")
            if d.ndim == 2 and draws.shape[0] != 1:
                raise ValueError("several discount schedules need a single parameter draw")
            disc = np.zeros((len(first), draws.shape[0] if d.ndim == 1 else d.shape[1]))
            months = np.zeros((len(first), draws.shape[0]))
            prev = 0.0  # E(0) = 0
            for m, edge in enumerate(edges[1:]):  # the months of the horizon
                cur = np.nan_to_num(factor(edge))
                step = np.maximum(cur - prev, 0.0)
                disc += d[m] * step
                months += step
                prev = cur
            out["disc"] = np.nan_to_num(combine(disc[pair], scale))
            out["months"] = np.nan_to_num(combine(months[pair], scale))
    return out


def _row_quantiles(values: np.ndarray, qs) -> np.ndarray:
    """np.quantile(values, qs, axis=1) with numpy's default 'linear' method, shape (len(qs),
    rows). Each quantile needs two neighbouring order statistics: one partition of every row
    at the upper one, whose lower neighbour is the largest element before it. The same order
    statistics and numpy's interpolation formula give the same numbers, ~5x faster than
    np.quantile's partition at several positions. Reorders the rows of ``values`` in place."""
    rows, n = values.shape
    vi = (n - 1) * np.asarray(qs, dtype=float)
    prev = np.floor(vi)
    nxt = prev + 1
    top = vi >= n - 1  # numpy takes the largest element there
    prev[top] = -1
    nxt[top] = -1
    gamma = vi - prev
    has_nan = np.isnan(values).any(axis=1)
    out = np.empty((vi.size, rows))
    for i in range(vi.size):  # the (two) quantiles
        at = int(nxt[i]) % n
        values.partition(at, axis=1)
        b = values[:, at].copy()
        a = b if prev[i] == nxt[i] else values[:, :at].max(axis=1)
        with np.errstate(invalid="ignore"):  # inf - inf where a row holds infinities, as in numpy
            diff = b - a  # numpy's _lerp
            out[i] = b - diff * (1 - gamma[i]) if gamma[i] >= 0.5 else a + diff * gamma[i]
    out[:, has_nan] = np.nan
    return out


# ================================================================ the CLV sum


def discount_factors(months: int, annual_rate: float) -> np.ndarray:
    """(1 + annual rate)^(-m / 12) for m = 1 .. months (each month's flow at its end)."""
    m = np.arange(1, int(months) + 1)
    return (1.0 + float(annual_rate)) ** (-m / 12.0)


def monthly_purchases(fit: PurchaseFit, x, t_x, T, months: int, unit: TimeUnit) -> np.ndarray:
    """Expected purchases in each of the next ``months`` calendar-average months (365.25 / 12
    days), shape (customers, months). ``unit`` is the unit of t_x and T and must be the fit's."""
    fit.check(unit, "the monthly CLV horizon")
    edges = unit.from_months(np.arange(0, int(months) + 1))[:, None]
    cumulative = fit.expected(edges, np.asarray(x, dtype=float), np.asarray(t_x, dtype=float), np.asarray(T, dtype=float))
    cumulative = np.broadcast_to(cumulative, (edges.shape[0], np.size(x)))
    return np.maximum(np.diff(cumulative, axis=0), 0.0).T


def discounted_clv(purchases_by_month, spend_per_order, *, margin: float, annual_discount_rate: float,
                   cost_to_serve_per_year: float = 0.0, p_alive=None, refund_share: float = 0.0) -> np.ndarray:
    """CLV = sum over months m of margin x E[purchases in m] x E[spend per order] x (1 - refund
    share) / (1 + rate)^(m/12), minus the cost to serve (per year / 12 each month, discounted
    the same way) for as long as the customer is active (weighted by P(alive))."""
    e = np.atleast_2d(purchases_by_month)
    d = discount_factors(e.shape[1], annual_discount_rate)
    spend = np.asarray(spend_per_order) * (1.0 - float(refund_share))
    value = float(margin) * spend * (e @ d)
    alive = np.ones(e.shape[0]) if p_alive is None else np.asarray(p_alive)
    cost = float(cost_to_serve_per_year) / 12.0 * d.sum() * alive
    return value - cost


# ================================================================ per customer, all data


@dataclass
class ClvSettings:
    horizon_months: int
    margin: float
    annual_discount_rate: float
    cost_to_serve_per_year: float
    refund_share: float = 0.0


def settings_from(params, refund_share: float = 0.0) -> ClvSettings:
    b = params.business
    return ClvSettings(horizon_months=params.clv.horizon_months, margin=b.margin,
                       annual_discount_rate=b.annual_discount_rate,
                       cost_to_serve_per_year=b.cost_to_serve_per_customer_year, refund_share=refund_share)


def next_purchase_days(fit: PurchaseFit, x, t_x, T, horizon_days: float) -> np.ndarray:
    """Days from the period end until the customer is more likely than not to have bought
    again (P(at least one purchase) reaches 50 %); NaN if that does not happen within the
    horizon. BG/NBD-type models have a closed form; Pareto/NBD is solved on a grid, for blocks
    of patterns at a time (the grid x patterns x quadrature nodes arrays stay bounded)."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    unit = fit.unit
    if fit.model in ("bgnbd", "mbgnbd"):
        r, alpha = fit.params["r"], fit.params["alpha"]
        alive = fit.p_alive(x, t_x, T)
        with np.errstate(all="ignore"):
            target = 1.0 - 0.5 / alive
            wait = (alpha + T) * (np.power(target, -1.0 / (r + x)) - 1.0)
        days = np.where(alive > 0.5, unit.to_days(wait), np.nan)
    else:
        grid_days = np.unique(np.concatenate([np.geomspace(1, max(horizon_days, 2), 48), [horizon_days]]))
        flat = [v.ravel() for v in np.broadcast_arrays(x, t_x, T)]
        # P(a purchase in t | alive) depends on (x, T), not t_x: once per distinct (x, T), far
        # fewer than the patterns (grid x distinct (x, T) numbers)
        pair, first = _codes(flat[0], flat[2])
        buy = np.empty((grid_days.size, first.size))
        step = max(1, _PARETO_CELLS // grid_days.size)
        for start in range(0, first.size, step):  # blocks of distinct (x, T)
            at = first[start:start + step]
            buy[:, start:start + step] = _pareto_buy_if_alive(fit, grid_days, flat[0][at], flat[2][at])
        days = np.full(flat[0].size, np.nan)
        for start in range(0, days.size, step):  # blocks of patterns
            sl = slice(start, start + step)
            days[sl] = _pareto_median_wait(fit, grid_days, *(v[sl] for v in flat), buy[:, pair[sl]])
    return np.where(days <= horizon_days, days, np.nan)


def _pareto_buy_if_alive(fit: PurchaseFit, grid_days: np.ndarray, x, T) -> np.ndarray:
    """Pareto/NBD: P(at least one purchase within each grid day | alive, x, T), shape (grid,
    patterns): the factor of :meth:`ParetoNBD.conditional_probability_of_no_purchase` after
    P(alive)."""
    r, alpha, s, beta = fit.values
    t = fit.unit.from_days(grid_days)[:, None]
    with np.errstate(all="ignore"):
        k = r + x
        log_buy = (np.log(k) + k * np.log(alpha + T) + s * np.log(beta + T)
                   + log_power_integral(alpha + T, k + 1.0, beta + T, s, 0.0, t))
        return np.exp(np.minimum(log_buy, 0.0))


def _pareto_median_wait(fit: PurchaseFit, grid_days: np.ndarray, x, t_x, T, buy: np.ndarray) -> np.ndarray:
    """Pareto/NBD: the first grid day where P(at least one purchase) reaches 50 %, linearly
    interpolated between grid points, for every pattern at once. P(no purchase in t) is
    :meth:`ParetoNBD.conditional_probability_of_no_purchase` on the grid (grid x patterns),
    with P(alive) computed once per pattern (``buy``: :func:`_pareto_buy_if_alive` of the
    patterns)."""
    r, alpha, s, beta = fit.values
    with np.errstate(all="ignore"):
        alive = np.exp(_pareto_log_alive((r, alpha, s, beta), x, t_x, T))
        p0 = 1.0 - alive * buy
    bought = 1.0 - np.clip(np.nan_to_num(p0, nan=1.0), 0, 1)  # as PurchaseFit.p_no_purchase
    days = np.full(x.size, np.nan)
    reach = bought >= 0.5
    cols = np.flatnonzero(reach.any(axis=0))
    k = np.argmax(reach, axis=0)[cols]
    below = np.maximum(k - 1, 0)
    lo, hi = bought[below, cols], bought[k, cols]
    with np.errstate(all="ignore"):
        w = np.where(hi > lo, (0.5 - lo) / (hi - lo), 1.0)
    between = grid_days[below] + w * (grid_days[k] - grid_days[below])
    days[cols] = np.where(k == 0, grid_days[0], between)
    return days


def customer_predictions(fit: PurchaseFit, spend: SpendFit | None, summary: Summary, settings: ClvSettings,
                         period_end: pd.Timestamp) -> pd.DataFrame:
    """Per customer: P(alive), expected purchases in the next 30/90/365 days, expected next
    purchase date, expected spend per order, CLV over the horizon. Scores are computed once per
    unique (x, t_x, T) pattern (:func:`pattern_predictions`, the code the intervals use) and
    joined back to the customers."""
    fit.check(summary.unit, "customer predictions")
    if "row" not in summary.frame.columns:
        histogram(summary)
    hist = summary.frame.groupby("row")[["x", "t_x", "T"]].first().sort_index()
    x, t_x, T = (hist[c].to_numpy() for c in ("x", "t_x", "T"))
    unit = summary.unit
    d = discount_factors(settings.horizon_months, settings.annual_discount_rate)
    edges = unit.from_months(np.arange(int(settings.horizon_months) + 1))
    horizons = (30, 90, 365)
    pred = pattern_predictions(fit.model, fit.values, x, t_x, T, times=[unit.from_days(h) for h in horizons],
                               edges=edges, d=d)
    per_pattern = pd.DataFrame(index=hist.index)
    per_pattern["p_alive"] = pred["alive"][:, 0]
    for i, h in enumerate(horizons):
        per_pattern[f"expected_purchases_{h}"] = pred["at"][i][:, 0]
    per_pattern["_discounted_purchases"] = pred["disc"][:, 0]
    per_pattern["expected_purchases_horizon"] = pred["months"][:, 0]
    horizon_days = settings.horizon_months * DAYS_PER_MONTH
    per_pattern["_next_days"] = next_purchase_days(fit, x, t_x, T, horizon_days)

    f = summary.frame
    out = f[["customer_id"]].copy()
    pp = per_pattern.reindex(f["row"].to_numpy())
    for col in per_pattern.columns:
        out[col] = pp[col].to_numpy()
    out["expected_spend"] = spend.expected(f["repeat_spend_n"], f["repeat_spend_mean"]) if spend is not None else np.nan
    out["clv"] = (settings.margin * (1 - settings.refund_share) * out["expected_spend"] * out["_discounted_purchases"]
                  - settings.cost_to_serve_per_year / 12.0 * d.sum() * out["p_alive"])
    end = pd.Timestamp(period_end).normalize()
    out["expected_next_purchase"] = end + pd.to_timedelta(np.ceil(out["_next_days"]), unit="D")
    return out.drop(columns=["_discounted_purchases", "_next_days"])


# ================================================================ intervals: one-step bootstrap


def _rowwise(loglik, params: np.ndarray, args: tuple, rows: int | None = None) -> np.ndarray:
    """A per-row log-likelihood evaluated in blocks of rows (Pareto/NBD's has a quadrature axis:
    one block at a time keeps its arrays small at any number of patterns)."""
    n = np.size(args[0])
    rows = rows or _CELLS // 16
    if n <= rows:
        return loglik(params, *args)
    return np.concatenate([loglik(params, *(a[start:start + rows] for a in args)) for start in range(0, n, rows)])


def _scores(loglik, values: np.ndarray, args: tuple, h: float = 1e-4) -> np.ndarray:
    """Per-row gradient of the log-likelihood in log-parameter space (central differences)."""
    u = np.log(values)
    cols = []
    for j in range(u.size):
        up, down = u.copy(), u.copy()
        up[j] += h
        down[j] -= h
        cols.append((_rowwise(loglik, np.exp(up), args) - _rowwise(loglik, np.exp(down), args)) / (2 * h))
    return np.column_stack(cols)


def _score_function(loglik, args: tuple):
    """values -> per-row gradient of ``loglik`` in log-parameter space: the Pareto/NBD's
    analytic one (its integrals between the distinct (x, time) points, found once here: the
    row-wise quadrature costs minutes at millions of patterns), else central differences with
    step ``h``."""
    if loglik is _ll_pareto:
        pairs = _pareto_pairs(*args)
        return lambda values, h=None: _pareto_ll_and_grad(values, *args, pairs)[1]
    return lambda values, h=1e-4: _scores(loglik, values, args, h=h)


def _mean_hessian(score, values: np.ndarray, weights: np.ndarray, penalty: np.ndarray,
                  h: float = 1e-3) -> np.ndarray:
    """Hessian of the fitted objective (mean negative log-likelihood + lifetimes' L2 penalty on
    its scaled parameters) in log-parameter space; ``score`` from :func:`_score_function`."""
    u = np.log(values)
    total = weights.sum()

    def grad(uu):
        return -(weights @ score(np.exp(uu), h=1e-5)) / total

    k = u.size
    hess = np.zeros((k, k))
    for j in range(k):
        up, down = u.copy(), u.copy()
        up[j] += h
        down[j] -= h
        hess[:, j] = (grad(up) - grad(down)) / (2 * h)
    hess = (hess + hess.T) / 2
    # d2/du2 of c * sum(exp(2 u_j) s_j^2) = 4 c theta_scaled_j^2 (diagonal)
    return hess + np.diag(4.0 * penalty)


def one_step_draws(loglik, values: np.ndarray, args: tuple, weights: np.ndarray, draws: int,
                   rng: np.random.Generator, penalty: np.ndarray | None = None) -> np.ndarray:
    """Bootstrap parameter draws: resample the rows' weights multinomially and take one Newton
    step from the fitted optimum (the scores are computed once). Returns natural parameters,
    shape (draws, k)."""
    weights = np.asarray(weights, dtype=float)
    with np.errstate(all="ignore"):
        score = _score_function(loglik, args)
        scores = score(values)
        hess = _mean_hessian(score, values, weights, np.zeros(values.size) if penalty is None else penalty)
    scores = np.nan_to_num(scores)
    total = int(round(weights.sum()))
    pvals = weights / weights.sum()
    grad = np.empty((draws, values.size))
    block = max(1, _CELLS // max(weights.size, 1))
    for start in range(0, draws, block):  # blocks of draws: the resampled counts are draws x rows
        size = min(block, draws - start)  # (the generator's stream is the same as in one call)
        resampled = rng.multinomial(total, pvals, size=size).astype(float)
        # gradient of the resampled objective at the optimum (the full-sample one is ~0)
        grad[start:start + size] = -((resampled - weights) @ scores) / total
    # A pseudo-inverse: directions in which the likelihood is flat (a ridge, e.g. the dropout
    # parameters when almost nobody drops out) do not move the predictions and are not stepped along.
    step = (np.linalg.pinv(hess, rcond=1e-9, hermitian=True) @ grad.T).T
    return np.exp(np.log(values)[None, :] - step)


@dataclass
class Bootstrap:
    purchase: np.ndarray  # (draws, k) purchase-model parameters
    spend: np.ndarray  # (draws, 3) Gamma-Gamma p, q, v
    level: float = 0.95
    # Pareto/NBD: P(alive)'s table under the purchase draws, kept for the next step on the same
    # patterns (clv_draws, then purchases_interval)
    alive_table: _ParetoAliveDraws | None = field(default=None, repr=False, compare=False)

    @property
    def draws(self) -> int:
        return self.purchase.shape[0]

    def pareto_alive(self, x, t_x, T) -> _ParetoAliveDraws:
        """:class:`_ParetoAliveDraws` of these patterns under the purchase draws (built once)."""
        x, t_x, T = (np.asarray(v, dtype=float).ravel() for v in (x, t_x, T))
        table = self.alive_table
        if not (table is not None and all(np.array_equal(a, b, equal_nan=True) for a, b in (
                (table.draws, self.purchase), (table.x, x), (table.t_x, t_x), (table.T, T)))):
            table = self.alive_table = _ParetoAliveDraws(self.purchase, x, t_x, T)
        return table


def bootstrap(fit: PurchaseFit, hist: Histogram, spend: SpendFit, spend_rows: pd.DataFrame, draws: int,
              seed: int = 0, level: float = 0.95) -> Bootstrap:
    """Parameter draws for both models. The histogram counts are resampled for the purchase
    model and the repeat buyers for the spend model, independently (the Gamma-Gamma model
    assumes spend independent of the purchase process)."""
    same_unit(fit.unit, hist.unit, what="the bootstrap")
    rng = np.random.default_rng(seed)
    scaled = np.array([fit.params[k] * (fit.scale if k in SCALED[fit.model] else 1.0) for k in PARAM_NAMES[fit.model]])
    purchase = one_step_draws(_LL[fit.model], fit.values, (hist.x, hist.t_x, hist.T), hist.n, draws, rng,
                              penalty=fit.penalizer * scaled ** 2)
    n = spend_rows["n"].to_numpy(dtype=float)
    m = spend_rows["m"].to_numpy(dtype=float)
    spend_draws = one_step_draws(_ll_gamma_gamma, spend.values, (n, m), np.ones(n.size), draws, rng,
                                 penalty=spend.penalizer * spend.values ** 2)
    return Bootstrap(purchase=purchase, spend=spend_draws, level=level)


def params_interval(boot: Bootstrap, fit: PurchaseFit, spend: SpendFit) -> pd.DataFrame:
    """Point estimates and percentile intervals of every parameter (Gamma-Gamma's v is the
    literature's gamma)."""
    lo, hi = (1 - boot.level) / 2, 1 - (1 - boot.level) / 2
    rows = []
    blocks = [(fit.name, PARAM_NAMES[fit.model], fit.values, boot.purchase),
              ("Gamma-Gamma", ["p", "q", "v"], spend.values, boot.spend)]
    for label, names, points, draws in blocks:
        for i, name in enumerate(names):
            good = draws[:, i][np.isfinite(draws[:, i])]
            rows.append({"model": label, "parameter": "gamma" if name == "v" else name, "estimate": float(points[i]),
                         "low": float(np.quantile(good, lo)), "high": float(np.quantile(good, hi))})
    return pd.DataFrame(rows)


def clv_draws(fit: PurchaseFit, spend: SpendFit, summary: Summary, settings: ClvSettings, boot: Bootstrap,
              groups: dict[str, np.ndarray] | None = None, chunk: int | None = None) -> dict:
    """CLV under every bootstrap draw: per-customer percentile intervals, and the draws of the
    total and of each group's total (groups: name -> boolean mask over customers).

    A customer's CLV under a draw depends only on their (x, t_x, T) pattern and their spend
    history (repeat_spend_n, repeat_spend_mean), so everything is computed once per distinct
    combination and joined back: the totals weight each combination by its number of customers
    (in each group), the intervals are its own. The combinations are taken in blocks of
    ``chunk`` (default: ~1M cells of combinations x draws), all draws at once
    (:func:`pattern_predictions`), so the memory stays bounded at any number of customers."""
    fit.check(summary.unit, "the CLV intervals")
    f = summary.frame
    if "row" not in f.columns:
        histogram(summary)
        f = summary.frame
    B = boot.draws
    d = discount_factors(settings.horizon_months, settings.annual_discount_rate)
    edges = summary.unit.from_months(np.arange(int(settings.horizon_months) + 1))
    lo_q, hi_q = (1 - boot.level) / 2, 1 - (1 - boot.level) / 2
    cost_month = settings.cost_to_serve_per_year / 12.0 * d.sum()
    keep = settings.margin * (1 - settings.refund_share)
    p, q, v = (boot.spend[:, i][None, :] for i in range(3))

    # distinct customers: (x, t_x, T) pattern and spend history (a NaN mean counts as 0, as below)
    n = f["repeat_spend_n"].to_numpy()
    m = np.nan_to_num(f["repeat_spend_mean"].to_numpy())
    rows = f["row"].to_numpy()
    code, first = _codes(rows, n, m)
    x, t_x, T = (f[c].to_numpy()[first] for c in ("x", "t_x", "T"))
    # ordered by (x, T, pattern): a block's patterns and its distinct (x, T) are runs
    order = np.lexsort((rows[first], T, x))
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    code = rank[code]
    x, t_x, T, n, m, pattern = x[order], t_x[order], T[order], n[first][order], m[first][order], rows[first][order]
    # customers per combination: all, and in each group
    names = list(groups or {})
    masks = [np.ones(code.size, dtype=bool), *(np.asarray(groups[name], dtype=bool) for name in names)]
    weights = np.zeros((len(masks), order.size))
    for i, mask in enumerate(masks):
        weights[i] = np.bincount(code[mask], minlength=order.size)

    alive_draws, pattern_rows = None, None
    if fit.model == "pareto":  # P(alive)'s integrals between the patterns' points: once, not per block
        pattern_rows, row_first = np.unique(rows, return_index=True)
        alive_draws = boot.pareto_alive(*(f[c].to_numpy()[row_first] for c in ("x", "t_x", "T")))

    sums = np.zeros((weights.shape[0], B))
    low, high = np.empty(order.size), np.empty(order.size)
    block = int(chunk) if chunk else max(1, _CELLS // max(B, 1))
    for start in range(0, order.size, block):  # blocks of combinations, all draws at once
        sl = slice(start, start + block)
        new = np.r_[True, pattern[sl][1:] != pattern[sl][:-1]]
        which = np.cumsum(new) - 1
        at = np.flatnonzero(new) + start
        log_alive = (None if alive_draws is None
                     else alive_draws.log_alive(np.searchsorted(pattern_rows, pattern[at])))
        pred = pattern_predictions(fit.model, boot.purchase, x[at], t_x[at], T[at], edges=edges, d=d,
                                   log_alive=log_alive)
        nn, mm = n[sl][:, None], m[sl][:, None]
        weight = p * nn / (p * nn + q - 1)
        spend_b = (1 - weight) * (p * v / (q - 1)) + weight * mm
        values = keep * spend_b * pred["disc"][which] - cost_month * pred["alive"][which]
        sums += weights[:, sl] @ values
        low[sl], high[sl] = _row_quantiles(values, [lo_q, hi_q])
    return {"low": low[code], "high": high[code], "total": sums[0],
            "groups": {name: sums[i] for i, name in enumerate(names, start=1)}, "level": boot.level}


def interval(draws: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    lo, hi = np.quantile(draws, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def with_forecast_error(value: float, low: float, high: float, relative_error: float | None) -> tuple[float, float]:
    """An interval on a total that holds the forecast error as well as the parameter
    uncertainty. The bootstrap interval (low, high) says how well the data pin the parameters
    down; it says nothing about the model being wrong, which the holdout measures: the chosen
    model's total was off by ``relative_error`` (a share). Each side's half-width is combined
    with ``relative_error x value`` in quadrature (independent sources of error): the interval is
    at least as wide as the error the holdout saw. It is a lower bound for horizons longer than
    the holdout, over which forecast errors usually grow."""
    if relative_error is None or not np.isfinite(relative_error):
        return low, high
    band = abs(float(relative_error)) * abs(float(value))
    return (float(value - np.hypot(value - low, band)), float(value + np.hypot(high - value, band)))


def with_latent_variance(value: float, low: float, high: float, variance: float | None, level: float = 0.95
                         ) -> tuple[float, float]:
    """An interval on a total that also holds the customers' own uncertainty: each side's
    half-width combined in quadrature with z x the standard deviation of the sum of the
    customers' true values around their expectations (``variance``, the sum of
    :func:`latent_variance` over the customers of the total; z of the two-sided ``level``)."""
    if variance is None or not np.isfinite(variance) or variance <= 0:
        return low, high
    band = float(norm.ppf(0.5 + level / 2)) * float(np.sqrt(variance))
    return (float(value - np.hypot(value - low, band)), float(value + np.hypot(high - value, band)))


def total_interval(res: ClvResult, draws: np.ndarray, value: float, mask=None) -> tuple[float, float]:
    """The interval shown and written for a total (of the customers in ``mask``; all without
    one): the bootstrap percentiles (the parameters' uncertainty), widened by the customers'
    own uncertainty given their histories (:func:`with_latent_variance`; without it the
    interval covered the generator's true total in 17 of 30 demos) and by the holdout's
    forecast error (:func:`with_forecast_error`)."""
    lo, hi = interval(draws, res.boot.level)
    if res.latent_var is not None:
        var = res.latent_var if mask is None else res.latent_var[np.asarray(mask, dtype=bool)]
        lo, hi = with_latent_variance(value, lo, hi, float(np.sum(var)), res.boot.level)
    return with_forecast_error(value, lo, hi, res.forecast_error)


def _latent_purchase_moments(fit: PurchaseFit, x, T, edges, d, samples: int, seed: int):
    """E and E[square] of sum_m d_m (E(t_m) - E(t_m-1)) over the latent rate and dropout of an
    alive customer with history (x, T): per distinct (x, T), by Monte Carlo (``samples`` draws
    each, seeded), joined back to the rows (see :func:`latent_variance`)."""
    pair, first = _codes(x, T)
    xp, Tp = x[first][:, None], T[first][:, None]
    rng = np.random.default_rng(seed)
    ed, ed2 = np.empty(first.size), np.empty(first.size)
    block = max(1, _CELLS // (samples * edges.size))
    r, alpha = fit.values[0], fit.values[1]
    for start in range(0, first.size, block):  # blocks of distinct (x, T)
        sl = slice(start, start + block)
        k = xp[sl].shape[0]
        lam = rng.gamma(r + xp[sl], 1.0 / (alpha + Tp[sl]), (k, samples))[..., None]
        if fit.model == "pareto":
            s, beta = fit.values[2], fit.values[3]
            mu = rng.gamma(s, 1.0 / (beta + Tp[sl]), (k, samples))[..., None]
            cum = lam / mu * -np.expm1(-mu * edges)
        else:
            a, b = fit.values[2], fit.values[3]
            drop = rng.beta(a, b + xp[sl] + (1.0 if fit.model == "mbgnbd" else 0.0), (k, samples))[..., None]
            cum = -np.expm1(-lam * drop * edges) / drop
        disc = np.diff(cum, axis=2) @ d
        ed[sl], ed2[sl] = disc.mean(axis=1), (disc**2).mean(axis=1)
    return ed[pair], ed2[pair]


def latent_variance(fit: PurchaseFit, spend: SpendFit | None, summary: Summary, settings: ClvSettings,
                    samples: int = 400, seed: int = 0, days: float | None = None) -> np.ndarray:
    """Each customer's variance of their own CLV given their history, at the fitted parameters:
    how far the customer's true value (their own purchase rate, dropout, spend per order and
    whether they are still alive) can lie from the expectation the model gives. The bootstrap
    measures how well the data pin the parameters down; this is the rest, and on a total it
    does not average away: Var(total) = Var over draws of the expected total + sum over
    customers of this variance (:func:`total_interval`). With ``days``: the variance of the
    customer's true expected purchases in the next ``days`` days instead (no spend, no discount).

    Given the history (x, t_x, T), a customer is alive with probability P(alive); if alive, the
    rate is Gamma(r + x, alpha + T) and the dropout Beta(a, b + x) (MBG/NBD: b + x + 1;
    Pareto/NBD: the dropout rate Gamma(s, beta + T)), and the discounted purchases over the
    horizon given them are sum_m d_m (E(t_m) - E(t_m-1)) with E(t) = (1 - exp(-lambda p t)) / p
    (Pareto/NBD: lambda / mu (1 - exp(-mu t))). Their first two moments depend on (x, T) only and
    are taken by Monte Carlo (``samples`` draws per distinct (x, T), seeded). The spend per order
    is Gamma-Gamma's posterior p / nu, nu ~ Gamma(q + p n, v + n m): E = p (v + n m) / (Q - 1),
    E[square] = p^2 (v + n m)^2 / ((Q - 1)(Q - 2)), Q = q + p n, independent of purchases. CLV =
    A (k S D - c) with A alive, k = margin x (1 - refund share), c the discounted cost to serve;
    its variance is P(alive) E[(kSD - c)^2] - (P(alive) E[kSD - c])^2."""
    fit.check(summary.unit, "the CLV's latent variance")
    f = summary.frame
    x, t_x, T = (f[c].to_numpy(dtype=float) for c in ("x", "t_x", "T"))
    pattern, first = _codes(x, t_x, T)  # P(alive) once per (x, t_x, T) pattern (Pareto/NBD's is a quadrature)
    alive = np.clip(np.nan_to_num(conditional_p_alive(fit.model, fit.values, x[first], t_x[first], T[first])), 0, 1)[pattern]
    if days is not None:
        ed, ed2 = _latent_purchase_moments(fit, x, T, np.array([0.0, summary.unit.from_days(days)]),
                                           np.ones(1), samples, seed)
        return np.maximum(alive * ed2 - (alive * ed) ** 2, 0.0)
    n = f["repeat_spend_n"].to_numpy(dtype=float)
    m = np.nan_to_num(f["repeat_spend_mean"].to_numpy(dtype=float))
    d = discount_factors(settings.horizon_months, settings.annual_discount_rate)
    edges = summary.unit.from_months(np.arange(int(settings.horizon_months) + 1))
    keep = settings.margin * (1 - settings.refund_share)
    cost = settings.cost_to_serve_per_year / 12.0 * d.sum()
    pg, qg, vg = spend.values
    big_q, rate = qg + pg * n, vg + n * m
    s1 = pg * rate / (big_q - 1)
    s2 = pg**2 * rate**2 / ((big_q - 1) * np.maximum(big_q - 2, 1e-9))  # q + p n <= 2: no finite variance
    ed, ed2 = _latent_purchase_moments(fit, x, T, edges, d, samples, seed)
    mean_alive = keep * s1 * ed - cost
    square_alive = keep**2 * s2 * ed2 - 2 * keep * cost * s1 * ed + cost**2
    return np.maximum(alive * square_alive - (alive * mean_alive) ** 2, 0.0)


def purchases_interval(res: ClvResult, days: int = 365) -> tuple[float, float] | None:
    """The interval on the total expected purchases in the next ``days`` days, built as the CLV
    total's (:func:`total_interval`): the bootstrap draws' totals (each pattern's expectation
    under every parameter draw, weighted by its customers), widened by the customers' own
    uncertainty (:func:`latent_variance` with ``days``) and the holdout's forecast error. None
    without bootstrap draws. ``days``: 30, 90 or 365 (the predictions' columns)."""
    if res.boot is None or not res.fitted:
        return None
    f = res.summary.frame
    if "row" not in f.columns:
        histogram(res.summary)
        f = res.summary.frame
    hist = f.groupby("row")[["x", "t_x", "T"]].first().sort_index()
    weights = np.bincount(f["row"].to_numpy(), minlength=len(hist))[hist.index.to_numpy()]
    x, t_x, T = (hist[c].to_numpy(dtype=float) for c in ("x", "t_x", "T"))
    draws = np.zeros(res.boot.draws)
    alive_draws = res.boot.pareto_alive(x, t_x, T) if res.fit.model == "pareto" else None
    block = max(1, _CELLS // max(res.boot.draws, 1))
    for start in range(0, x.size, block):  # blocks of patterns, all draws at once: bounded memory
        sl = slice(start, start + block)
        pred = pattern_predictions(res.fit.model, res.boot.purchase, x[sl], t_x[sl], T[sl],
                                   times=[res.summary.unit.from_days(days)],
                                   log_alive=None if alive_draws is None else alive_draws.log_alive(np.arange(x.size)[sl]))
        draws += weights[sl] @ pred["at"][0]
    value = float(res.predictions[f"expected_purchases_{days}"].sum())
    lo, hi = interval(draws[np.isfinite(draws)], res.boot.level)
    var = latent_variance(res.fit, None, res.summary, res.settings, seed=res.boot_seed, days=days)
    lo, hi = with_latent_variance(value, lo, hi, float(var.sum()), res.boot.level)
    return with_forecast_error(value, lo, hi, res.forecast_error)


# ================================================================ reading the results


def value_groups(clv: pd.Series, shares=(0.1, 0.2, 0.2, 0.5)) -> pd.Series:
    """Customers ranked by CLV into groups: top 10 %, next 20 %, next 20 %, bottom 50 %."""
    edges = np.cumsum(shares)
    labels, lower = [], 0.0
    for i, upper in enumerate(edges):
        if i == 0:
            labels.append(f"top {upper * 100:.0f} %")
        elif i == len(edges) - 1:
            labels.append(f"bottom {(1 - lower) * 100:.0f} %")
        else:
            labels.append(f"top {lower * 100:.0f}–{upper * 100:.0f} %")
        lower = upper
    ranks = clv.rank(ascending=False, method="first").to_numpy() / max(len(clv), 1)
    idx = np.minimum(np.searchsorted(edges, ranks - 1e-12, side="left"), len(labels) - 1)
    return pd.Series(pd.Categorical(np.array(labels, dtype=object)[idx], categories=labels), index=clv.index)


def concentration(clv: pd.Series) -> dict:
    """How concentrated the value is: the shares of the total positive CLV held by the top 1 /
    10 / 20 % of customers, the Gini coefficient, and the Lorenz curve (share of customers,
    most valuable first, vs their share of the value)."""
    v = np.clip(clv.to_numpy(dtype=float), 0, None)
    n, total = v.size, v.sum()
    desc = np.sort(v)[::-1]
    cum = np.cumsum(desc) / total if total > 0 else np.zeros(n)

    def top(share: float) -> float:
        return float(cum[max(int(np.ceil(share * n)), 1) - 1]) if n else float("nan")

    asc = desc[::-1]
    gini = float(2 * np.sum(np.arange(1, n + 1) * asc) / (n * total) - (n + 1) / n) if n and total > 0 else float("nan")
    curve = pd.DataFrame({"customers": np.arange(1, n + 1) / n, "value": cum})
    if n > 2000:
        curve = curve.iloc[np.unique(np.linspace(0, n - 1, 2000).astype(int))]
    return {"top_1": top(0.01), "top_10": top(0.10), "top_20": top(0.20), "gini": gini, "curve": curve,
            "negative_share": float((clv < 0).mean()) if n else float("nan")}


def lost_valuable(customers: pd.DataFrame, past_value: pd.Series, *, top_share: float = 0.2,
                  p_alive_below: float = 0.3) -> pd.DataFrame:
    """Customers who used to be valuable (top ``top_share`` by past revenue, repeat buyers) and
    are now most likely lost (P(alive) below the threshold), most valuable first."""
    threshold = past_value.quantile(1 - top_share)
    mask = (past_value >= threshold) & (customers["x"] > 0) & (customers["p_alive"] < p_alive_below)
    out = customers.loc[mask].assign(past_revenue=past_value[mask])
    return out.sort_values("past_revenue", ascending=False)


def cac_table(clv: pd.DataFrame, acquisition_cost: dict[str, float], channel: pd.Series) -> pd.DataFrame:
    """Mean CLV per acquisition channel beside its acquisition cost (CLV / CAC); channels
    without a cost in the params are left out."""
    d = clv.assign(channel=channel.fillna("unknown").astype(str).to_numpy())
    g = d.groupby("channel")
    out = pd.DataFrame({"customers": g.size(), "mean_clv": g["clv"].mean()})
    for col in ("clv_low", "clv_high"):
        if col in d.columns:
            out[f"mean_{col}"] = g[col].mean()
    out["acquisition_cost"] = [acquisition_cost.get(c, np.nan) for c in out.index]
    out["clv_to_cac"] = out["mean_clv"] / out["acquisition_cost"]
    return out[out["acquisition_cost"].notna()]


def cac_report(run, predictions: pd.DataFrame) -> tuple[pd.DataFrame | None, list[str]]:
    """CLV / CAC per acquisition channel when the params give acquisition costs."""
    costs = run.params.business.acquisition_cost
    if not costs:
        return None, ["No acquisition costs in the params (business.acquisition_cost), so CLV is not set against "
                      "the cost of acquiring a customer."]
    channel = acquisition_channels(run, predictions["customer_id"])
    if channel is None:
        return None, ["The params give acquisition costs, but the data has no acquisition channel (customers."
                      "acquisition_channel) nor an order channel to attribute customers to."]
    table = cac_table(predictions, costs, channel)
    if table.empty:
        return None, [f"None of the channels with an acquisition cost ({', '.join(sorted(costs))}) appear in the data."]
    months = run.params.clv.horizon_months
    lines = [f"{ch}: mean {months}-month CLV {r.mean_clv:,.2f} vs acquisition cost {r.acquisition_cost:,.2f} = CLV/CAC "
             f"{r.clv_to_cac:.2f}" + (" — below 1: acquiring these customers loses money over the horizon"
                                      if r.clv_to_cac < 1 else "") + "."
             for ch, r in table.iterrows()]
    return table, lines


# ================================================================ notebook steps
# Each step takes the run context and returns a result with everything its section shows; the
# words are written from the numbers by helpers.text.clv.


def _fmt_int(n) -> str:
    return f"{int(round(float(n))):,}"


def _pct(x, digits: int = 1) -> str:
    return f"{100 * float(x):.{digits}f} %"


def _money(x, currency: str = "", digits: int = 0) -> str:
    return f"{float(x):,.{digits}f} {currency}".strip()


def unit_of(run) -> TimeUnit:
    return time_unit(run.params.clv.time_unit)


@dataclass
class HistoryResult:
    summary: Summary
    hist: Histogram
    table: pd.DataFrame


def history(run) -> HistoryResult:
    """Step 1: every customer's summary to the period end, in the engine, and its histogram."""
    p = run.params.clv
    summary = customer_summary(run.orders, run.period_end, unit_of(run), same_day=p.same_day,
                               exclude_outliers=p.exclude_outliers)
    hist = summary.histogram()
    f = summary.frame
    table = pd.DataFrame([
        ("customers", _fmt_int(len(f))),
        ("repeat buyers (x > 0)", f"{_fmt_int((f['x'] > 0).sum())} ({_pct((f['x'] > 0).mean())})"),
        ("purchases per customer, mean", f"{(f['x'] + 1).mean():.2f}"),
        ("repeat purchases x, mean / max", f"{f['x'].mean():.2f} / {_fmt_int(f['x'].max())}"),
        (f"age T in {summary.unit.plural}, median / max", f"{f['T'].median():.1f} / {f['T'].max():.1f}"),
        (f"recency t_x of repeat buyers in {summary.unit.plural}, median",
         f"{f.loc[f['x'] > 0, 't_x'].median():.1f}" if (f["x"] > 0).any() else "–"),
        ("mean repeat spend per purchase, median", _money(f["repeat_spend_mean"].median(), run.currency, 2)
         if f["repeat_spend_mean"].notna().any() else "–"),
        ("unique (x, t_x, T) patterns fitted", f"{_fmt_int(len(hist.frame))} ({_pct(len(hist.frame) / max(len(f), 1))} of the customers)"),
        ("same-day orders", "one purchase" if p.same_day == "collapse" else "separate purchases"),
    ], columns=["figure", "value"]).set_index("figure")
    return HistoryResult(summary=summary, hist=hist, table=table)


@dataclass
class HoldoutResult:
    unit: TimeUnit
    holdout_days: int
    cal_end: pd.Timestamp
    summary: Summary | None = None
    hist: Histogram | None = None
    fits: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)
    pred: pd.DataFrame | None = None
    table: pd.DataFrame | None = None
    choice: dict | None = None
    by_frequency: pd.DataFrame | None = None
    tracking: pd.DataFrame | None = None
    skipped: str | None = None
    calibrate_from: int | None = None  # epoch day: the fits saw only customers acquired from it (burn-in)
    fit_customers: int = 0  # customers the fits were calibrated on
    # Gamma-Gamma on the repeat buyers of the calibration window (the customers the purchase fits
    # saw): the spend model on the same window as the purchase models, as published for CDNOW.
    # None without amounts or when it cannot be fitted. Reported in metrics.json only.
    spend: SpendFit | None = None

    @property
    def holdout(self) -> float:
        return self.unit.from_days(self.holdout_days)


def holdout_validation(run, calibrate_from: int | None = None) -> HoldoutResult:
    """Step 2: fit every model on the calibration window, predict the holdout, compare. With
    ``calibrate_from`` (an epoch day: the end of a burn-in, see :mod:`helpers.clv_checks`) the
    models are fitted only on customers acquired from that day, and predict every calibration
    customer — the earlier ones too, since they get predictions from the same fit later."""
    p = run.params.clv
    unit = unit_of(run)
    days, cal_end = holdout_split_days(run.period_end, p.holdout, unit)
    res = HoldoutResult(unit=unit, holdout_days=days, cal_end=cal_end, calibrate_from=calibrate_from)
    summary = customer_summary(run.orders, run.period_end, unit, holdout_days=days, same_day=p.same_day,
                               exclude_outliers=p.exclude_outliers)
    res.summary = summary
    if len(summary.frame) == 0:
        res.skipped = (f"No customer bought before the calibration end {cal_end:%Y-%m-%d} ({p.holdout} {unit.plural} "
                       "before the period end): the history is too short for a holdout check. Shorten clv.holdout.")
        return res
    if summary.frame["x"].sum() == 0:
        res.skipped = (f"No customer made a repeat purchase before {cal_end:%Y-%m-%d}: the models cannot be "
                       "checked on a holdout.")
        return res
    res.hist = summary.histogram()
    fit_hist = res.hist
    if calibrate_from is not None:
        fit_hist = fitting_histogram(summary, calibrate_from)
        if fit_hist.customers == 0 or fit_hist.frame["x"].sum() == 0:
            res.calibrate_from, fit_hist = None, res.hist  # too few acquired after the burn-in: say so below
    res.fit_customers = fit_hist.customers
    res.fits, res.failed = fit_models(fit_hist, list(p.models), penalizer=p.penalizer,
                                      fallback_penalizer=p.fallback_penalizer)
    if not res.fits:
        res.skipped = "No model could be fitted on the calibration window: " + " ".join(res.failed.values())
        return res
    res.pred = holdout_predictions(res.fits, summary)
    res.table = evaluate_holdout(res.pred, res.fits)
    res.choice = choose_model(res.table, res.pred)
    if run.params.has_amount:
        f = summary.frame
        fitted = f if res.calibrate_from is None else f[f["first_epoch_day"] >= res.calibrate_from]
        with contextlib.suppress(ClvFitError):
            res.spend = fit_spend(spend_data(Summary(frame=fitted, unit=unit, end_day=summary.end_day)),
                                  penalizer=p.penalizer, fallback_penalizer=p.fallback_penalizer)
    res.by_frequency = holdout_by_frequency(res.pred, res.fits)
    res.tracking = weekly_tracking(run.orders, summary, res.fits, run.period_end)
    return res


def holdout_table(res: HoldoutResult) -> pd.DataFrame:
    """The model comparison, formatted for reading."""
    t = res.table
    out = pd.DataFrame({
        "model": t["label"], "parameters": t["params"],
        "calibration log-likelihood": t["loglik"].map(lambda v: "" if pd.isna(v) else f"{v:,.1f}"),
        "holdout purchases: predicted": t["predicted"].map(lambda v: f"{v:,.0f}"),
        "actual": t["actual"].map(lambda v: f"{v:,.0f}"),
        "error of the total": t["total_error"].map(lambda v: f"{100 * v:+.1f} %"),
        "RMSE per customer": t["rmse"].map(lambda v: f"{v:.3f}"),
        "MAE per customer": t["mae"].map(lambda v: f"{v:.3f}"),
        "RMSE vs baseline": t["vs_baseline"].map(lambda v: f"{100 * v:+.1f} %"),
    })
    return out.set_index("model")


@dataclass
class SpendResult:
    fit: SpendFit | None
    data: pd.DataFrame
    by_frequency: pd.DataFrame
    refund_share: float
    warn_at: float
    skipped: str | None = None
    # orders the audit flagged as extreme (is_outlier) to the period end: orders, customers, revenue,
    # the audit's threshold, and whether the spend model left them out (clv.exclude_outliers)
    excluded: dict | None = None
    money: bool = True  # False: the orders carry no amount (none mapped); no spend model, no CLV in money

    @property
    def correlation_material(self) -> bool:
        return self.fit is not None and max(abs(self.fit.pearson), abs(self.fit.spearman)) >= self.warn_at


def spend_model(run, hist_res: HistoryResult) -> SpendResult:
    """Step 3: Gamma-Gamma on the repeat buyers (all data to the period end)."""
    p = run.params.clv
    if not run.params.has_amount:  # nothing to fit: CLV is not computed in money, tiers use expected purchases
        return SpendResult(fit=None, data=pd.DataFrame(), by_frequency=pd.DataFrame(), refund_share=0.0,
                           warn_at=p.spend_correlation_warn, skipped="the orders carry no amount", money=False)
    data = spend_data(hist_res.summary)
    share = refund_rate(run.orders, run.clean.refunds) if run.params.cleaning.refunds == "net" else 0.0
    res = SpendResult(fit=None, data=data, by_frequency=spend_by_frequency(data) if len(data) else pd.DataFrame(),
                      refund_share=share, warn_at=p.spend_correlation_warn, excluded=extreme_orders(run))
    try:
        res.fit = fit_spend(data, penalizer=p.penalizer, fallback_penalizer=p.fallback_penalizer)
    except ClvFitError as exc:
        res.skipped = str(exc)
    return res


def extreme_orders(run) -> dict | None:
    """The orders the audit flagged as extreme (``is_outlier``: robust z-score of log amount above
    ``cleaning.outlier_z``) to the period end: how many, of how many customers, their revenue, the
    audit's amount threshold, and whether the spend model leaves them out (``clv.exclude_outliers``).
    None when the orders carry no flags."""
    o = run.orders
    if "is_outlier" not in o.columns:
        return None
    day = o.order_ts.date().epoch_days().cast("int64")
    o = o.filter((day <= epoch_day(run.period_end)) & o.is_outlier.fill_null(False))
    row = o.aggregate(orders=o.count(), customers=o.customer_id.nunique(),
                      revenue=o.amount.cast(EXACT).sum().cast("float64")).execute().iloc[0]
    clean = getattr(run, "clean", None)
    threshold = getattr(clean, "outlier_threshold", None) if clean is not None else None
    return {"orders": int(row["orders"]), "customers": int(row["customers"]),
            "revenue": 0.0 if pd.isna(row["revenue"]) else float(row["revenue"]),
            "threshold": None if threshold is None else float(threshold),
            "left_out": bool(run.params.clv.exclude_outliers), "outlier_z": float(run.params.cleaning.outlier_z)}


@dataclass
class ClvResult:
    fit: PurchaseFit | None  # None: no purchase model could be fitted (``skipped`` says why)
    summary: Summary
    hist: Histogram
    spend: SpendResult
    settings: ClvSettings
    predictions: pd.DataFrame
    boot: Bootstrap | None = None
    draws: dict | None = None
    groups: pd.Series | None = None
    stage: pd.Series | None = None
    params_table: pd.DataFrame | None = None
    bootstrap_note: str = ""
    fit_hist: Histogram | None = None  # what the fit saw: all customers, or those acquired after a burn-in
    calibrate_from: int | None = None  # epoch day of the burn-in's end (None: no burn-in)
    forecast_error: float | None = None  # |relative error of the holdout total|: widens the intervals on totals
    latent_var: np.ndarray | None = None  # per customer: Var(true CLV | history) (latent_variance): widens totals
    boot_seed: int = 0  # the seed of the bootstrap and of the latent variance's Monte Carlo
    skipped: str | None = None  # why no purchase model was fitted (fit is None): P(alive), purchases, CLV null

    @property
    def fitted(self) -> bool:
        """False when no purchase model could be fitted: every prediction is unknown (null, never 0)."""
        return self.fit is not None

    @property
    def fitted_on(self) -> Histogram:
        return self.fit_hist if self.fit_hist is not None else self.hist

    @property
    def money(self) -> bool:
        """False when the orders carry no amount: every money figure is unknown, never 0."""
        return self.spend.money

    @property
    def value(self) -> pd.Series:
        """What ranks customers: the CLV, or without money the expected purchases (365 days)."""
        return self.predictions["clv" if self.money else "expected_purchases_365"]


def no_model_reason(summary: Summary, problems: list[str], min_repeat: int) -> str:
    """Why no purchase model could be fitted, and what the brand needs, in words: either nobody
    bought on two different days (a repeat-purchase model has nothing to learn from), or too few
    did for any model to fit (``problems``: each model's failure)."""
    f = summary.frame
    repeat = int((f["x"] > 0).sum())
    skipped = ("P(alive), expected purchases and CLV are skipped (null in metrics.json and data/customers.parquet, "
               "never 0)")
    if repeat == 0:
        return (f"No customer bought twice in the data ({_fmt_int(len(f))} customers to {summary.end:%Y-%m-%d}, each "
                "with purchases on one day only): a repeat-purchase model has nothing to learn from, so it cannot tell "
                f"how often customers buy or when they stop; {skipped}. What the brand needs: customers who came back "
                f"— at least {_fmt_int(min_repeat)} with purchases on two or more days (params "
                "readiness.min_repeat_customers). If the brand does have returning customers, check the export: one "
                "row per customer (first orders only, or rows deduplicated on the customer id) removes every repeat "
                "purchase.")
    return (f"Only {_fmt_int(repeat)} of {_fmt_int(len(f))} customers bought on two or more days by "
            f"{summary.end:%Y-%m-%d}, and no purchase model could be fitted on them ({' '.join(problems)}); {skipped}. "
            f"What the brand needs: more repeat buyers — at least {_fmt_int(min_repeat)} (params "
            "readiness.min_repeat_customers), from a longer history or more customers.")


def no_model_predictions(summary: Summary) -> pd.DataFrame:
    """The per-customer prediction columns, all unknown: no purchase model was fitted."""
    out = summary.frame[["customer_id"]].copy()
    for col in ("p_alive", "expected_purchases_30", "expected_purchases_90", "expected_purchases_365",
                "expected_purchases_horizon", "expected_spend", "clv"):
        out[col] = np.nan
    out["expected_next_purchase"] = pd.NaT
    return out


def customer_values(run, hist_res: HistoryResult, spend: SpendResult, hold: HoldoutResult,
                    calibrate_from: int | None = None) -> ClvResult:
    """Step 4: refit the chosen model on all data to the period end; per-customer predictions.
    If the chosen model cannot be refitted, the next one (by holdout error) is used, and said.
    With ``calibrate_from`` (the end of a burn-in, an epoch day) the refit sees only customers
    acquired from that day; every customer is still predicted from their own history.

    When no model can be fitted at all (nobody bought twice, or too few did), the result has
    ``fit`` None, every prediction null and ``skipped`` saying why (:func:`no_model_reason`):
    the notebook says so and the later notebooks skip what needs the predictions."""
    p = run.params.clv
    fit_hist = hist_res.hist if calibrate_from is None else fitting_histogram(hist_res.summary, calibrate_from)
    if fit_hist.customers == 0 or fit_hist.frame["x"].sum() == 0:
        fit_hist, calibrate_from = hist_res.hist, None
    ranked = [] if hold.table is None else \
        list(hold.table[hold.table["model"] != "baseline"].sort_values("rmse")["model"])
    first = hold.choice["model"] if hold.choice else p.models[0]
    candidates = list(dict.fromkeys([first, *ranked, *p.models]))
    problems = []
    for model in candidates:
        try:
            fit = fit_purchases(fit_hist, model, penalizer=p.penalizer, fallback_penalizer=p.fallback_penalizer)
            break
        except ClvFitError as exc:
            problems.append(str(exc))
    else:
        settings = settings_from(run.params, spend.refund_share)
        return ClvResult(fit=None, summary=hist_res.summary, hist=hist_res.hist, spend=spend, settings=settings,
                         predictions=no_model_predictions(hist_res.summary), fit_hist=fit_hist,
                         skipped=no_model_reason(hist_res.summary, problems, run.params.readiness.min_repeat_customers))
    if problems:
        note = " ".join(problems) + f" The {fit.name} is used instead."
        fit.warning = f"{fit.warning}. {note}" if fit.warning else note
    settings = settings_from(run.params, spend.refund_share)
    preds = customer_predictions(fit, spend.fit, hist_res.summary, settings, run.period_end)
    return ClvResult(fit=fit, summary=hist_res.summary, hist=hist_res.hist, spend=spend, settings=settings,
                     predictions=preds, fit_hist=fit_hist, calibrate_from=calibrate_from)


def add_intervals(run, res: ClvResult, hold: HoldoutResult | None = None) -> ClvResult:
    """Step 5: bootstrap the parameters, recompute every customer's CLV under each draw. With
    the holdout result, the intervals on totals also carry the forecast error the holdout
    measured (:func:`total_interval`)."""
    p = run.params.clv
    if not res.fitted:
        res.bootstrap_note = "No CLV intervals: no purchase model could be fitted (section 4 says why)."
        return res
    if hold is not None and hold.choice is not None and np.isfinite(hold.choice["total_error"]):
        res.forecast_error = abs(float(hold.choice["total_error"]))
    res.groups = value_groups(res.predictions["clv"])
    current = run.customers()
    if current is not None and "stage" in current.columns:
        stage = res.predictions[["customer_id"]].merge(current[["customer_id", "stage"]], on="customer_id", how="left")
        res.stage = stage["stage"].fillna("unknown").astype(str)
    if not res.money:
        res.bootstrap_note = "No CLV intervals: the orders carry no amount, so there is no CLV in money."
        return res
    if res.spend.fit is None:
        res.bootstrap_note = "No CLV intervals: the spend model could not be fitted."
        return res
    if p.bootstrap <= 0:
        res.bootstrap_note = ("No intervals: clv.bootstrap is 0. Set it to 200 or more for intervals on every "
                              "customer's CLV and on the totals.")
        return res
    groups = {f"value: {g}": (res.groups == g).to_numpy() for g in res.groups.cat.categories}
    if res.stage is not None:
        groups.update({f"stage: {s}": (res.stage == s).to_numpy() for s in sorted(res.stage.unique())})
    res.boot = bootstrap(res.fit, res.fitted_on, res.spend.fit, res.spend.data, p.bootstrap, seed=p.seed,
                         level=p.interval)
    res.draws = clv_draws(res.fit, res.spend.fit, res.summary, res.settings, res.boot, groups)
    res.boot_seed = p.seed
    res.latent_var = latent_variance(res.fit, res.spend.fit, res.summary, res.settings, seed=p.seed)
    res.predictions["clv_low"] = res.draws["low"]
    res.predictions["clv_high"] = res.draws["high"]
    res.params_table = params_interval(res.boot, res.fit, res.spend.fit)
    bad = ~np.isfinite(res.boot.purchase).all(axis=1) | ~np.isfinite(res.boot.spend).all(axis=1)
    res.bootstrap_note = (f"{p.bootstrap} bootstrap draws (seed {p.seed}); {_pct(p.interval, 0)} percentile intervals."
                          + (f" {int(bad.sum())} draws gave non-finite parameters and were ignored." if bad.any() else ""))
    return res


def interval_table(res: ClvResult, currency: str) -> pd.DataFrame:
    """Total CLV and per group, with the bootstrap interval and the share of the total."""
    pr = res.predictions
    total = pr["clv"].sum()
    lo, hi = total_interval(res, res.draws["total"], total) if res.draws else (np.nan, np.nan)
    rows = [{"group": "all customers", "customers": len(pr), "clv": total, "low": lo, "high": hi, "share": 1.0}]
    sets = [("value", res.groups)] + ([("stage", res.stage)] if res.stage is not None else [])
    for kind, labels in sets:
        cats = labels.cat.categories if hasattr(labels, "cat") else sorted(labels.unique())
        for g in cats:
            mask = (labels == g).to_numpy()
            key = f"{kind}: {g}"
            value = pr.loc[mask, "clv"].sum()
            lo, hi = total_interval(res, res.draws["groups"][key], value, mask) if res.draws else (np.nan, np.nan)
            rows.append({"group": key, "customers": int(mask.sum()), "clv": value, "low": lo, "high": hi,
                         "share": value / total if total else np.nan})
    return pd.DataFrame(rows).set_index("group")


def _latent_band(res: ClvResult, total: float) -> float:
    """The half-width the customers' own uncertainty alone would give the total."""
    lo, _ = with_latent_variance(total, total, total, float(np.sum(res.latent_var)), res.boot.level)
    return total - lo


def at_risk(res: ClvResult) -> pd.DataFrame:
    """Former top customers (top 20 % by past revenue, repeat buyers) now most likely lost."""
    f = res.summary.frame
    if not res.fitted:  # no P(alive): nobody can be called lost (an empty list, never a guess)
        return pd.DataFrame(columns=["customer_id", "past_revenue", "p_alive", "clv", "expected_spend"])
    d = res.predictions.assign(x=f["x"].to_numpy())
    if not res.money:  # without money: top 20 % by past purchases; past revenue unknown
        out = lost_valuable(d, (f["x"] + 1).astype(float), top_share=0.2, p_alive_below=0.3)
        return out.assign(past_purchases=out["past_revenue"], past_revenue=np.nan)
    return lost_valuable(d, f["amount"], top_share=0.2, p_alive_below=0.3)


CUSTOMER_COLUMNS = ["customer_id", "p_alive", "expected_purchases_30", "expected_purchases_90",
                    "expected_purchases_365", "expected_spend", "clv", "clv_low", "clv_high", "expected_next_purchase"]


def customer_columns(res: ClvResult) -> pd.DataFrame:
    out = res.predictions.copy()
    for col in ("clv_low", "clv_high"):
        if col not in out.columns:
            out[col] = np.nan
    return out[CUSTOMER_COLUMNS]


def acquisition_channels(run, customer_ids: pd.Series) -> pd.Series | None:
    """Each customer's acquisition channel (customers table) or, failing that, the channel of
    their first order; None when the data has neither."""
    customers = run.data.table("customers") if run.data.has("customers") else None
    if customers is not None and "acquisition_channel" in customers.columns:
        c = customers.select("customer_id", "acquisition_channel").distinct(on="customer_id").execute()
        m = pd.DataFrame({"customer_id": customer_ids}).merge(c, on="customer_id", how="left")
        return m["acquisition_channel"]
    o = run.orders
    if "channel" not in o.columns:
        return None
    first = o.mutate(_k=ibis.row_number().over(group_by=o.customer_id, order_by=o.order_ts)).filter(lambda t: t._k == 0)
    c = first.select("customer_id", acquisition_channel=first.channel).execute()
    if c["acquisition_channel"].isna().all():
        return None
    return pd.DataFrame({"customer_id": customer_ids}).merge(c, on="customer_id", how="left")["acquisition_channel"]


def holdout_example(hold: HoldoutResult) -> dict:
    """A worked example to check the calibration fits by hand: the first calibration customer in
    customer-id order (the id is not written), their x, t_x and T (in the time unit), their
    purchases in the holdout, and each model's expected purchases in the holdout given that
    history. On the CDNOW sample it is Fader & Hardie's example customer: x = 2, t_x = 30.43,
    T = 38.86 weeks, BG/NBD E[Y(39)] = 1.226."""
    f = hold.summary.frame
    row = f.sort_values("customer_id", kind="stable").iloc[0] if "customer_id" in f.columns else f.iloc[0]
    x, t_x, T = int(row["x"]), float(row["t_x"]), float(row["T"])
    return {"x": x, "t_x": t_x, "T": T, "holdout_length": float(hold.holdout),
            "holdout_purchases": int(row["x_holdout"]) if "x_holdout" in f.columns else None,
            "expected": {m: float(np.ravel(fit.expected(hold.holdout, x, t_x, T))[0]) for m, fit in hold.fits.items()}}


def metrics(hold: HoldoutResult, res: ClvResult) -> dict:
    """The clv section of metrics.json (stable names). Without a purchase model every figure is
    null (never 0) and ``skipped`` says why."""
    pr = res.predictions
    if not res.fitted:
        return {"model": None, "model_label": None, "time_unit": res.summary.unit.name, "skipped": res.skipped,
                "customers": int(len(pr)), "repeat_customers": int((res.summary.frame["x"] > 0).sum()),
                "patterns": int(len(res.hist.frame)), "has_amount": res.money, "total": None,
                "total_interval": [None, None], "expected_purchases_365": None, "p_alive_mean": None,
                "top10_share": None, "top10_purchase_share": None, "fit_customers": 0,
                "gamma_gamma": None, "gamma_gamma_customers": 0, "spend_extreme_orders": res.spend.excluded,
                "horizon_months": int(res.settings.horizon_months), "bootstrap_draws": 0,
                "holdout": {"actual": None, "predicted": None, "baseline_error": None, "model_error": None,
                            "skipped": hold.skipped}}
    total_low, total_high = total_interval(res, res.draws["total"], float(pr["clv"].sum())) if res.draws else (None, None)
    param_low, param_high = interval(res.draws["total"], res.boot.level) if res.draws else (None, None)
    out = {
        "model": res.fit.model, "model_label": res.fit.name, "time_unit": res.fit.unit.name,
        "params": {k: float(v) for k, v in res.fit.params.items()}, "loglik": float(res.fit.loglik),
        "penalizer": res.fit.penalizer, "fit_warning": res.fit.warning,
        "customers": int(len(pr)), "patterns": int(len(res.hist.frame)), "skipped": None,
        "gamma_gamma": {k: float(v) for k, v in res.spend.fit.params.items()} if res.spend.fit else None,
        "gamma_gamma_customers": int(res.spend.fit.customers) if res.spend.fit else 0,
        "spend_frequency_correlation": float(res.spend.fit.pearson) if res.spend.fit else None,
        "gamma_gamma_flat": bool(res.spend.fit.flat) if res.spend.fit else None,
        "spend_extreme_orders": res.spend.excluded,
        "refund_share": float(res.settings.refund_share) if res.money else None,
        "horizon_months": int(res.settings.horizon_months),
        # no spend model (no amount, or no fit): the CLV is unknown, null — never a total of 0
        "total": float(pr["clv"].sum()) if res.spend.fit is not None else None,
        "has_amount": res.money,
        "total_interval": [total_low, total_high],
        "total_interval_parameters": [param_low, param_high],
        "total_interval_forecast_error": res.forecast_error,
        "total_latent_sd": float(np.sqrt(np.sum(res.latent_var))) if res.latent_var is not None else None,
        "fit_customers": int(res.fitted_on.customers),
        "calibrated_from": None if res.calibrate_from is None else f"{from_epoch_day(res.calibrate_from):%Y-%m-%d}",
        "interval_level": float(res.boot.level) if res.boot else None,
        "bootstrap_draws": int(res.boot.draws) if res.boot else 0,
        "expected_purchases_365": float(pr["expected_purchases_365"].sum()),
        "expected_purchases_365_interval": list(purchases_interval(res, 365) or (None, None)),
        "p_alive_mean": float(pr["p_alive"].mean()),
        "top10_share": concentration(pr["clv"])["top_10"] if res.spend.fit is not None else None,
        "top10_purchase_share": concentration(pr["expected_purchases_365"])["top_10"],
    }
    if res.params_table is not None:
        out["params_interval"] = {f"{r.model}: {r.parameter}": [float(r.low), float(r.high)]
                                  for r in res.params_table.itertuples()}
    if hold.choice is not None:
        t = hold.table.set_index("model")
        chosen = hold.choice["model"]
        out["holdout"] = {
            "actual": float(t.loc[chosen, "actual"]), "predicted": float(t.loc[chosen, "predicted"]),
            "baseline_error": float(t.loc["baseline", "rmse"]), "model_error": float(t.loc[chosen, "rmse"]),
            "error_metric": "RMSE of holdout purchases per customer",
            "baseline_predicted": float(t.loc["baseline", "predicted"]),
            "total_error": float(t.loc[chosen, "total_error"]), "beats_baseline": bool(hold.choice["beats_baseline"]),
            "calibration_end": f"{hold.cal_end:%Y-%m-%d}", "holdout_length": float(hold.holdout),
            "chosen_by": hold.choice["by"],
            "models": {m: {"rmse": float(t.loc[m, "rmse"]), "predicted": float(t.loc[m, "predicted"]),
                           "loglik": float(t.loc[m, "loglik"]),
                           "params": {k: float(v) for k, v in hold.fits[m].params.items()}} for m in hold.fits},
            "customers": int(len(hold.summary.frame)),
            "repeat_customers": int((hold.summary.frame["x"] > 0).sum()),
            "gamma_gamma": {k: float(v) for k, v in hold.spend.params.items()} if hold.spend else None,
            "gamma_gamma_customers": int(hold.spend.customers) if hold.spend else 0,
            "example": holdout_example(hold),
        }
    else:
        out["holdout"] = {"actual": None, "predicted": None, "baseline_error": None, "model_error": None,
                          "skipped": hold.skipped}
    return out


# The checks of notebook 04 — left truncation, holdout calibration by decile, the reliability
# verdict, the sensitivity table — live in helpers.clv_checks, which builds on this module. They
# are reachable as ``clv.checks`` so the notebook imports one module (imported last: it reads
# this module's names).
from helpers import clv_checks as checks  # noqa: E402, F401
