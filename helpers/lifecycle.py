"""Lifecycle stages, transitions, repurchase rates and cohorts (notebook 02).

Every transaction-level step is an Ibis expression run in the engine (DuckDB by default); what
comes to pandas is one row per customer or per period, cohort or group.

Definitions (printed in the notebook by :func:`definitions`):

- **purchase day**: a calendar day on which the customer placed at least one clean order. Two
  orders on one day are one purchase occasion (a split basket, as in the CLV models). Refunds are
  never purchases; they only reduce revenue.
- **recency** at a period end: days from the customer's last purchase day to the period's last day
  (0 = bought on the last day).
- **stage** at a period end, for every customer with a purchase up to it, first rule that holds:
  *new* (first purchase within the period), *returning* (bought within the period and was dormant
  or churned at the previous period end, i.e. the previous recency was above ``active_days``),
  *active* (recency at most ``active_days``), *dormant* (recency above ``active_days`` and at most
  ``churn_days``), *churned* (recency above ``churn_days``). A customer's stage at any period end
  uses only orders up to that end; previous_stage is the stage at the previous period end
  (``none`` = no purchase yet).
- **thresholds**: unless the params give them, ``active_days`` and ``churn_days`` are the
  ``active_quantile`` and ``churn_quantile`` of the brand's own gaps between consecutive purchase
  days (all customers, up to the period end). One set of thresholds is used for every period end
  of a run, so moves between stages are not artefacts of moving thresholds.
- **within-period repurchase**: share of the period's buyers who bought on two or more days in it.
- **period-over-period retention**: share of the previous period's buyers who bought again in
  this period.
- **N-day second purchase**: share of new customers with a second purchase day at most N days
  after their first, counted only over cohorts (first-purchase periods) whose every customer has
  had N days by the period end.
- **cohort retention**: share of a first-purchase cohort who bought in the j-th period after it;
  **cumulative revenue per customer** (LTV curve): the cohort's net revenue up to period j divided
  by its number of customers.
- **split comparisons**: a rate pooled over the trend window counts a customer once per period
  bought in, so its interval is cluster-robust (each customer one cluster); the highest group is
  compared with the lowest with a Holm correction over all pairs of groups.
- **year-on-year**: the period's rate against the same period a year earlier, where the data cover
  it and the rate swings with the time of year (or the history is too short to test that).
- **revenue bridge**: order revenue (before refunds) = customers x purchases per customer x order
  value, for new and repeat customers; its change from the previous period split by a log
  (Divisia) decomposition whose parts add up exactly.
- **time between purchases**: days from each purchase day to the customer's next, by purchase
  number; the replenishment cycle is the same within one category (completed gaps only).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from functools import cached_property

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from helpers import config
from helpers.audit import money_sum

STAGES = ("new", "returning", "active", "dormant", "churned")  # display order
UNKNOWN = "(unknown)"  # split value of customers the customer table does not describe
NONE = "none"  # previous stage of a customer without a purchase by the previous period end
EPOCH = pd.Timestamp("1970-01-01")
TRUNCATE = {"month": "M", "quarter": "Q", "week": "W"}
PANDAS_FREQ = {"month": "M", "quarter": "Q", "week": "W-SUN"}
FALLBACK_DAYS = (90, 365)  # used, and said so, when too few repeat gaps exist to derive thresholds
Z95 = 1.959963984540054


# ---------------------------------------------------------------- small utilities


def epoch_day(ts) -> int:
    return int((pd.Timestamp(ts).normalize() - EPOCH).days)


def from_epoch_day(day) -> pd.Timestamp:
    return EPOCH + pd.Timedelta(days=int(day))


def wilson(successes, trials, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for binomial proportions (NaN where there are no trials)."""
    k, n = np.asarray(successes), np.asarray(trials)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    lo, hi = centre - half, centre + half
    # exact bounds at the edges: for 0 of n the lower bound is 0 and for n of n the upper bound
    # is 1 (the formula leaves rounding noise like 1e-17, an interval that excludes its estimate);
    # in between, 0 < lo <= p <= hi < 1 (for 0 < k < n the formula's bounds are inside (0, 1))
    lo = np.where(k <= 0, 0.0, np.minimum(lo, p))
    hi = np.where(k >= n, 1.0, np.maximum(hi, p))
    return np.where(n > 0, lo, np.nan), np.where(n > 0, hi, np.nan)


def rate_frame(frame: pd.DataFrame, successes: str, trials: str, prefix: str) -> pd.DataFrame:
    """Add ``prefix`` (rate), ``prefix_lo`` and ``prefix_hi`` (95 % Wilson) columns."""
    k, n = frame[successes].astype(float), frame[trials].astype(float)
    frame[prefix] = np.where(n > 0, k / n.where(n > 0, 1), np.nan)
    frame[f"{prefix}_lo"], frame[f"{prefix}_hi"] = wilson(k, n)
    return frame


def trend_test(successes, trials) -> dict:
    """Is a rate rising or falling over the periods? A binomial GLM of the rate on the period
    index with a quasi-binomial scale (Pearson chi2 / df), so period-to-period swings larger than
    binomial noise (seasonality) widen the interval instead of faking a trend."""
    import statsmodels.api as sm

    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    idx = np.arange(len(k), dtype=float)
    keep = n > 0
    out = {"periods": int(keep.sum()), "direction": "too few periods", "first_fit": math.nan,
           "last_fit": math.nan, "slope": math.nan, "slope_lo": math.nan, "slope_hi": math.nan, "last_z": math.nan}
    if keep.sum() < 4:
        return out
    k, n, idx = k[keep], n[keep], idx[keep]
    if np.all(k == 0) or np.all(k == n):
        out["direction"] = "flat"
        return out
    exog = sm.add_constant(idx)
    model = sm.GLM(k / n, exog, family=sm.families.Binomial(), var_weights=n)
    scale = max(1.0, float(model.fit(scale="X2").scale))  # never narrower than binomial noise
    fit = model.fit(scale=scale)
    lo, hi = fit.conf_int()[1]
    fitted = fit.predict(sm.add_constant(np.array([idx[0], idx[-1]]), has_constant="add"))
    direction = "rising" if lo > 0 else "falling" if hi < 0 else "no clear trend"
    # how far the last period sits from the fitted line, in (quasi-binomial) standard errors: a
    # seasonal peak at the window's end shows here before it shows in the slope
    mu = float(fitted[1])
    last_z = (k[-1] / n[-1] - mu) / math.sqrt(max(mu * (1 - mu), 1e-12) / n[-1] * scale)
    out.update(direction=direction, first_fit=float(fitted[0]), last_fit=mu,
               slope=float(fit.params[1]), slope_lo=float(lo), slope_hi=float(hi), last_z=float(last_z))
    return out


PERIODS_PER_YEAR = {"month": 12, "quarter": 4, "week": 52}


def seasonality_test(successes, trials, kind: str) -> float:
    """p-value of the period of the year in a rate's history (quasi-binomial GLM: a linear trend
    plus one level per month / quarter / week of the year, against the trend alone, F test on the
    deviance with the Pearson scale). NaN when fewer than two full years of periods with buyers
    exist: then seasonality cannot be tested (nor ruled out)."""
    import statsmodels.api as sm
    from scipy.stats import f as f_dist

    per_year = PERIODS_PER_YEAR.get(kind)
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    idx = np.arange(len(k))
    keep = n > 0
    if per_year is None or keep.sum() < 2 * per_year + 1:
        return math.nan
    k, n, idx = k[keep], n[keep], idx[keep]
    if np.all(k == 0) or np.all(k == n):
        return math.nan
    season = pd.get_dummies(idx % per_year, drop_first=True, dtype=float).to_numpy()
    small = sm.add_constant(idx.astype(float))
    big = np.column_stack([small, season])
    f0 = sm.GLM(k / n, small, family=sm.families.Binomial(), var_weights=n).fit()
    f1 = sm.GLM(k / n, big, family=sm.families.Binomial(), var_weights=n).fit()
    df_num, df_den = big.shape[1] - small.shape[1], f1.df_resid
    if df_den <= 0:
        return math.nan
    scale = max(1.0, f1.pearson_chi2 / df_den)
    stat = (f0.deviance - f1.deviance) / df_num / scale
    return float(f_dist.sf(stat, df_num, df_den))


def year_over_year(successes, trials, labels, kind: str) -> dict | None:
    """The last period's rate against the same period a year earlier (Newcombe interval of the
    difference, the two periods' buyers taken as independent samples); None when the data do not
    cover the period a year earlier (or it had no buyers). ``then_label`` names that period either
    way through :func:`year_earlier_label`."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    per_year = PERIODS_PER_YEAR.get(kind)
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    if per_year is None or len(k) <= per_year or n[-1] <= 0 or n[-1 - per_year] <= 0:
        return None
    k1, n1, k0, n0 = k[-1], n[-1], k[-1 - per_year], n[-1 - per_year]
    lo, hi = confint_proportions_2indep(k1, n1, k0, n0, method="newcomb", compare="diff")
    return {"then_label": list(labels)[-1 - per_year], "now": k1 / n1, "then": k0 / n0, "n_now": int(n1),
            "n_then": int(n0), "difference": k1 / n1 - k0 / n0, "difference_lo": float(lo), "difference_hi": float(hi)}


def year_earlier_label(period: str, kind: str) -> str:
    per = config.to_period(period, kind)
    return config.period_label(per - PERIODS_PER_YEAR.get(kind, 0), kind)


def cluster_effective_n(k, n, clusters, kk, kn, nn) -> tuple[np.ndarray, np.ndarray]:
    """Effective sample size of a rate pooled over customer-periods where a customer can count in
    several periods: the ratio estimator p = sum k_i / sum n_i over customers i has the
    cluster-robust variance m / (m - 1) x sum (k_i - p n_i)^2 / (sum n_i)^2 (m customers); the
    design effect is that over the binomial p (1 - p) / sum n_i, never below 1 (the interval is
    never narrower than one counting every customer-period as independent). Returns
    (n / design effect, design effect); a Wilson interval on the effective n is then the
    cluster-robust interval. Sums of squares come from the engine (:meth:`_cluster_sums`)."""
    k, n, m, kk, kn, nn = (np.asarray(v, dtype=float) for v in (k, n, clusters, kk, kn, nn))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        resid = kk - 2 * p * kn + p**2 * nn
        var_cluster = m / (m - 1) * resid / n**2
        var_binomial = p * (1 - p) / n
        deff = np.where((m > 1) & (m < n) & (var_binomial > 0), var_cluster / var_binomial, 1.0)
    deff = np.where(np.isfinite(deff), np.maximum(deff, 1.0), 1.0)
    return np.where(n > 0, n / deff, 0.0), deff


def compare_extremes(rates, n_effective, groups) -> dict:
    """The highest against the lowest of several group rates, corrected for having picked the
    pair after looking: every pair of the G groups is tested (two-proportion z on the effective
    sample sizes), the p-values are Holm-adjusted over the G (G - 1) / 2 pairs, and the interval of
    the highest-minus-lowest difference is Bonferroni-widened to the same family (level
    1 - 0.05 / pairs)."""
    from scipy.stats import norm
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(rates, dtype=float)
    n = np.asarray(n_effective, dtype=float)
    g = len(p)
    hi, lo = int(np.nanargmax(p)), int(np.nanargmin(p))
    var = p * (1 - p) / n
    pairs = [(i, j) for i in range(g) for j in range(i + 1, g)]
    pvals = []
    for i, j in pairs:
        se = math.sqrt(var[i] + var[j]) if var[i] + var[j] > 0 else math.nan
        z = (p[i] - p[j]) / se if se == se and se > 0 else (0.0 if p[i] == p[j] else math.inf)
        pvals.append(2 * float(norm.sf(abs(z))))
    adjusted = multipletests(pvals, method="holm")[1] if pairs else np.array([])
    idx = pairs.index((min(hi, lo), max(hi, lo))) if hi != lo else None
    m = len(pairs)
    zc = float(norm.isf(0.025 / max(m, 1)))
    se = math.sqrt(var[hi] + var[lo])
    diff = float(p[hi] - p[lo])
    p_adj = float(adjusted[idx]) if idx is not None else 1.0
    return {"groups": g, "pairs": m, "highest": groups[hi], "lowest": groups[lo], "difference": diff,
            "difference_lo": diff - zc * se, "difference_hi": diff + zc * se,
            "p_value": float(pvals[idx]) if idx is not None else 1.0, "p_adjusted": p_adj,
            "separated": bool(p_adj < 0.05 and diff - zc * se > 0)}


def materialize(expr: ir.Table) -> ir.Table:
    """Compute an expression once into a temporary table of its own backend (dropped with the
    connection) and return that table: later queries read it instead of recomputing the clean
    view. (Ibis's own .cache() drops its tables from a finalizer that fails at interpreter exit.)"""
    global _TEMP_COUNTER
    _TEMP_COUNTER += 1
    con = expr.get_backend()
    name = f"_lifecycle_{os.getpid()}_{_TEMP_COUNTER}"
    return con.create_table(name, obj=expr, temp=True)


_TEMP_COUNTER = 0


def _has_values(column) -> bool:
    agg = column.notnull().sum().execute()
    return bool(agg) and int(agg) > 0


# ---------------------------------------------------------------- calendar


def calendar(first_ts, period: str, kind: str) -> pd.DataFrame:
    """Every period from the one holding ``first_ts`` to the run's period, indexed k = 0, 1, ...
    with its first and last day as epoch days (the engine joins on them)."""
    last = config.to_period(period, kind)
    if first_ts is None or pd.isna(first_ts):
        first = last
    else:
        first = min(pd.Timestamp(first_ts).to_period(PANDAS_FREQ[kind]), last)
    rows = []
    for k, p in enumerate(pd.period_range(first, last, freq=last.freq)):
        rows.append({"k": k, "label": config.period_label(p, kind), "start": p.start_time,
                     "end": p.end_time.floor("us"), "start_day": epoch_day(p.start_time),
                     "end_day": epoch_day(p.end_time)})
    return pd.DataFrame(rows)


def with_period(table: ir.Table, ts: str, kind: str, cal: pd.DataFrame, name: str = "k") -> ir.Table:
    """Attach the calendar index of the period holding ``ts`` (rows outside the calendar drop)."""
    start = table[ts].truncate(TRUNCATE[kind]).date().epoch_days().cast("int64")
    periods = ibis.memtable(cal[["k", "start_day"]].rename(columns={"k": name, "start_day": "_pstart"}))
    marked = table.mutate(_pstart=start)
    return marked.join(periods, "_pstart").drop("_pstart")


# ---------------------------------------------------------------- engine building blocks


def purchase_days(orders: ir.Table) -> ir.Table:
    """One row per customer and purchase day: customer_id, day (epoch day), orders, amount."""
    t = orders.mutate(day=orders.order_ts.date().epoch_days().cast("int64"))
    return t.group_by(["customer_id", "day"]).aggregate(orders=t.count(), amount=money_sum(t.amount))


def gap_histogram(days: ir.Table) -> pd.DataFrame:
    """Gaps (days) between consecutive purchase days of the same customer: gap -> count."""
    w = ibis.window(group_by="customer_id", order_by="day")
    gaps = days.mutate(gap=(days.day - days.day.lag().over(w)).cast("int64"))
    gaps = gaps.filter(gaps.gap.notnull())
    hist = gaps.group_by("gap").aggregate(n=gaps.count()).order_by("gap").execute()
    return hist.astype({"gap": "int64", "n": "int64"})


def histogram_quantile(hist: pd.DataFrame, q: float) -> int:
    """The smallest gap g with at least a share q of all gaps at or below g."""
    cum = hist["n"].cumsum() / hist["n"].sum()
    return int(hist["gap"].iloc[int(np.searchsorted(cum.to_numpy(), q - 1e-12))])


@dataclass(frozen=True)
class Thresholds:
    active_days: int
    churn_days: int
    source: str  # how each was set: "params", "derived" or "fallback"
    active_quantile: float
    churn_quantile: float
    gaps: int  # repeat gaps the derivation saw
    median_gap: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def choose_thresholds(hist: pd.DataFrame, settings: config.Lifecycle) -> Thresholds:
    """Thresholds from the params where given, else from the gap distribution's quantiles."""
    n = int(hist["n"].sum()) if len(hist) else 0
    median = float(histogram_quantile(hist, 0.5)) if n else None
    enough = n >= settings.min_gaps
    derived_active = histogram_quantile(hist, settings.active_quantile) if enough else FALLBACK_DAYS[0]
    derived_churn = histogram_quantile(hist, settings.churn_quantile) if enough else FALLBACK_DAYS[1]
    how = "derived" if enough else "fallback"
    active = settings.active_days if settings.active_days is not None else max(1, derived_active)
    if settings.churn_days is not None:
        churn = settings.churn_days
        if settings.active_days is None and active >= churn:
            active = churn - 1
    else:
        churn = max(derived_churn, active + 1)
    given = (settings.active_days is not None, settings.churn_days is not None)
    source = {(True, True): "params", (False, False): how}.get(
        given, f"active_days {'params' if given[0] else how}, churn_days {'params' if given[1] else how}")
    return Thresholds(active_days=int(active), churn_days=int(churn), source=source,
                      active_quantile=settings.active_quantile, churn_quantile=settings.churn_quantile,
                      gaps=n, median_gap=median)


def stage_panel(days: ir.Table, ends: pd.DataFrame, th: Thresholds) -> ir.Table:
    """Stage of every customer at each period end in ``ends`` (k, start_day, end_day), using only
    purchase days up to that end. One row per customer and period end."""
    periods = ibis.memtable(ends[["k", "start_day", "end_day"]].astype("int64"))
    x = days.cross_join(periods)
    x = x.filter(x.day <= x.end_day)
    agg = x.group_by(["customer_id", "k"]).aggregate(
        start_day=x.start_day.max(), end_day=x.end_day.max(),
        first_day=x.day.min(), last_day=x.day.max(),
        prev_last_day=x.day.max(where=x.day < x.start_day),
        days_in_period=(x.day >= x.start_day).cast("int64").sum(),
    )
    recency = agg.end_day - agg.last_day
    prev_recency = (agg.start_day - 1) - agg.prev_last_day
    stage = ibis.cases(
        (agg.first_day >= agg.start_day, "new"),
        ((agg.days_in_period > 0) & (prev_recency > th.active_days), "returning"),
        (recency <= th.active_days, "active"),
        (recency <= th.churn_days, "dormant"),
        else_="churned",
    )
    return agg.mutate(recency_days=recency, prev_recency_days=prev_recency, stage=stage)


def transition_table(panel: ir.Table) -> ir.Table:
    """Counts of (k, previous stage, stage): the stage at k-1 joined to the stage at k. Customers
    who had not bought by the end of k-1 come from ``none``. The panel's first k is left out
    (its previous stage was not computed)."""
    prev = panel.select(customer_id=panel.customer_id, k_next=panel.k + 1, from_stage=panel.stage)
    first_k = panel.k.min().as_scalar()
    cur = panel.filter(panel.k > first_k)
    joined = cur.left_join(prev, [cur.customer_id == prev.customer_id, cur.k == prev.k_next])
    joined = joined.mutate(from_stage=joined.from_stage.fill_null(NONE))
    return joined.group_by(["k", "from_stage", "stage"]).aggregate(n=joined.count())


def activity(orders: ir.Table, kind: str, cal: pd.DataFrame, attrs: tuple[str, ...] = ()) -> ir.Table:
    """One row per customer and period with a purchase: purchase days, orders, amount and, for
    order-level split columns, the value on the customer's first order of that period."""
    t = with_period(orders, "order_ts", kind, cal)
    t = t.mutate(day=t.order_ts.date().epoch_days().cast("int64"))
    aggs = {"n_days": t.day.nunique(), "n_orders": t.count(), "amount": money_sum(t.amount)}
    for col in attrs:
        aggs[col] = t[col].argmin(t.order_ts)
    return t.group_by(["customer_id", "k"]).aggregate(**aggs)


def first_purchases(orders: ir.Table, days: ir.Table, kind: str, cal: pd.DataFrame,
                    attrs: tuple[str, ...] = ()) -> ir.Table:
    """Per customer: first and second purchase day, first and second order time (the second
    order may fall on the first day), cohort k, and order-level split columns of the first order."""
    wd = ibis.window(group_by="customer_id", order_by="day")
    d = days.mutate(rn=ibis.row_number().over(wd))
    by_day = d.group_by("customer_id").aggregate(first_day=d.day.min(), second_day=d.day.min(where=d.rn == 1))
    wo = ibis.window(group_by="customer_id", order_by=[orders.order_ts, orders.order_id])
    o = orders.mutate(rn=ibis.row_number().over(wo), ts_s=orders.order_ts.epoch_seconds().cast("int64"))
    aggs = {"first_ts": o.order_ts.min(), "first_s": o.ts_s.min(), "second_s": o.ts_s.min(where=o.rn == 1)}
    for col in attrs:
        aggs[col] = o[col].argmin(o.order_ts)
    by_order = o.group_by("customer_id").aggregate(**aggs)
    joined = by_day.join(by_order, "customer_id")
    return with_period(joined, "first_ts", kind, cal, name="cohort_k")


def second_purchase_counts(first: ir.Table, horizons: list[int], end_day: int, end_s: int,
                           by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Per cohort (and split value): customers, and for each N the customers old enough
    (``eligible_N``: first purchase at least N days before the period end) and those of them
    with a second purchase day within N days (``second_N``); ``eligible_any_N`` / ``second_any_N``
    count a second order at any time within N x 24 hours, the same day included."""
    aggs = {"customers": first.count()}
    for n in horizons:
        ok = first.first_day + n <= end_day
        ok_any = first.first_s + n * 86400 <= end_s
        aggs[f"eligible_{n}"] = ok.cast("int64").sum()
        aggs[f"second_{n}"] = (ok & (first.second_day - first.first_day <= n).fill_null(False)).cast("int64").sum()
        aggs[f"eligible_any_{n}"] = ok_any.cast("int64").sum()
        aggs[f"second_any_{n}"] = (ok_any & (first.second_s - first.first_s <= n * 86400).fill_null(False)).cast("int64").sum()
    frame = first.group_by(["cohort_k", *by]).aggregate(**aggs).execute()
    return frame.sort_values(["cohort_k", *by]).reset_index(drop=True)


def customer_summary(orders: ir.Table, refunds: ir.Table | None, end_day: int,
                     extra: ir.Table | None = None) -> pd.DataFrame:
    """One row per customer with a clean order: first/last order time, orders, purchase days,
    revenue net of refunds (to the period end), recency and tenure in days; plus the columns of
    ``extra`` (one row per customer, joined in the engine), ordered by customer id."""
    t = orders.mutate(day=orders.order_ts.date().epoch_days().cast("int64"))
    per = t.group_by("customer_id").aggregate(
        first_order_ts=t.order_ts.min(), last_order_ts=t.order_ts.max(), orders=t.count(),
        purchase_days=t.day.nunique(), gross=money_sum(t.amount), first_day=t.day.min(), last_day=t.day.max())
    if refunds is not None:
        r = refunds.group_by("customer_id").aggregate(refunded=(-refunds.amount.abs()).sum())
        per = per.left_join(r, "customer_id").drop("customer_id_right")
        per = per.mutate(revenue=per.gross + per.refunded.fill_null(0.0))
    else:
        per = per.mutate(revenue=per.gross)
    if extra is not None:
        per = per.left_join(extra, "customer_id").drop("customer_id_right")
    # ordered in the engine (byte order of UTF-8 = code point order, as pandas sorts strings)
    frame = per.order_by("customer_id").execute()
    frame["recency_days"] = (end_day - frame["last_day"]).astype("int64")
    frame["tenure_days"] = (end_day - frame["first_day"]).astype("int64")
    frame["orders"] = frame["orders"].astype("int64")
    frame["purchase_days"] = frame["purchase_days"].astype("int64")
    cols = ["customer_id", "first_order_ts", "last_order_ts", "orders", "purchase_days", "revenue",
            "recency_days", "tenure_days", *([c for c in extra.columns if c != "customer_id"] if extra is not None else [])]
    return frame[cols].reset_index(drop=True)


# ---------------------------------------------------------------- revenue bridge and purchase gaps

BRIDGE_KINDS = ("new", "repeat")
BRIDGE_FACTORS = ("customers", "purchases per customer", "order value")
GAP_STEPS = 5  # purchase gaps shown one by one up to the 5th -> 6th; later ones pooled in the last


def _log_mean(a: float, b: float) -> float:
    """Logarithmic mean (a - b) / (ln a - ln b), = a when a = b: the weight that makes the log
    decomposition add up exactly."""
    if a <= 0 or b <= 0:
        return 0.0
    return a if math.isclose(a, b, rel_tol=1e-12) else (a - b) / (math.log(a) - math.log(b))


def revenue_bridge(before: pd.DataFrame, after: pd.DataFrame) -> dict:
    """Decompose the change of order revenue between two periods into customers x purchases per
    customer x order value, separately for new and repeat customers (``before`` / ``after``: one
    row per kind with customers, orders, revenue).

    For each kind R = C x (O / C) x (R / O), and the change R1 - R0 is split by the logarithmic
    mean Divisia index: each factor's part is L(R1, R0) x ln(X1 / X0), L the logarithmic mean.
    The three parts add up to the change exactly (the logs of the factors sum to the log of R),
    and the kinds add up to the total. A kind absent in one period (no new customers, say) has
    no ratio to take: its whole change is put on its customers. Returns the components (kind,
    factor, change) with the totals."""
    b = before.set_index("kind").reindex(list(BRIDGE_KINDS)).fillna(0)
    a = after.set_index("kind").reindex(list(BRIDGE_KINDS)).fillna(0)
    rows = []
    for kind in BRIDGE_KINDS:
        c0, o0, r0 = float(b.at[kind, "customers"]), float(b.at[kind, "orders"]), float(b.at[kind, "revenue"])
        c1, o1, r1 = float(a.at[kind, "customers"]), float(a.at[kind, "orders"]), float(a.at[kind, "revenue"])
        if min(c0, o0, r0, c1, o1, r1) <= 0:
            parts = [r1 - r0, 0.0, 0.0]
        else:
            w = _log_mean(r1, r0)
            parts = [w * math.log(c1 / c0), w * math.log((o1 / c1) / (o0 / c0)), w * math.log((r1 / o1) / (r0 / o0))]
        for factor, value, x0, x1 in zip(BRIDGE_FACTORS, parts,
                                         (c0, o0 / c0 if c0 else math.nan, r0 / o0 if o0 else math.nan),
                                         (c1, o1 / c1 if c1 else math.nan, r1 / o1 if o1 else math.nan), strict=True):
            rows.append({"kind": kind, "factor": factor, "change": value, "before": x0, "after": x1})
    parts = pd.DataFrame(rows)
    r_before, r_after = float(b["revenue"].sum()), float(a["revenue"].sum())
    return {"revenue_before": r_before, "revenue_after": r_after, "change": r_after - r_before,
            "by_kind": {k: float(a.at[k, "revenue"] - b.at[k, "revenue"]) for k in BRIDGE_KINDS}, "parts": parts}


def gap_quantiles(days: ir.Table, max_step: int = GAP_STEPS) -> pd.DataFrame:
    """Per purchase number j (gap from the j-th purchase day to the next; j = max_step pools the
    later ones): gaps, customers, and the quartiles of the days, computed in the engine."""
    w = ibis.window(group_by="customer_id", order_by="day")
    t = days.mutate(j=ibis.row_number().over(w) + 1, gap=(days.day.lead().over(w) - days.day).cast("int64"))
    t = t.filter(t.gap.notnull())
    t = t.mutate(step=ibis.least(t.j, max_step).cast("int64"))
    out = t.group_by("step").aggregate(gaps=t.count(), customers=t.customer_id.nunique(),
                                       q25=t.gap.quantile(0.25), median=t.gap.quantile(0.5),
                                       q75=t.gap.quantile(0.75)).order_by("step").execute()
    out["label"] = [_step_label(int(j), max_step) for j in out["step"]]
    return out[["step", "label", "gaps", "customers", "q25", "median", "q75"]]


def _step_label(j: int, last: int) -> str:
    def nth(i: int) -> str:
        return f"{i}{'st' if i % 10 == 1 and i != 11 else 'nd' if i % 10 == 2 and i != 12 else 'rd' if i % 10 == 3 and i != 13 else 'th'}"

    return f"{nth(j)} → {nth(j + 1)}" if j < last else f"{nth(j)}+ → next"


def category_gap_quantiles(orders: ir.Table, top: int = 8) -> pd.DataFrame:
    """Days between consecutive purchase days of the same customer in the same category, with
    quartiles, for the ``top`` categories with the most such gaps (engine)."""
    t = orders.filter(orders.category.notnull())
    t = t.mutate(day=t.order_ts.date().epoch_days().cast("int64"), category=t.category.cast("string"))
    d = t.select("customer_id", "category", "day").distinct()
    w = ibis.window(group_by=["customer_id", "category"], order_by="day")
    g = d.mutate(gap=(d.day.lead().over(w) - d.day).cast("int64"))
    g = g.filter(g.gap.notnull())
    out = g.group_by("category").aggregate(gaps=g.count(), customers=g.customer_id.nunique(),
                                           q25=g.gap.quantile(0.25), median=g.gap.quantile(0.5),
                                           q75=g.gap.quantile(0.75))
    return out.order_by([ibis.desc("gaps"), "category"]).limit(top).execute()


# ---------------------------------------------------------------- the analysis of one run


class LifecycleAnalysis:
    """Everything notebook 02 computes for one brand and period; each figure is computed once,
    when first asked for."""

    def __init__(self, orders: ir.Table, refunds: ir.Table | None, period: str, kind: str,
                 settings: config.Lifecycle, customers: ir.Table | None = None, has_amount: bool = True):
        self.period, self.kind, self.settings = period, kind, settings
        self.has_amount = has_amount  # False: no amount mapped; revenue figures are unknown (None), never 0
        cols = ["order_id", "customer_id", "order_ts", "amount"]
        split_cols = [c for c in settings.split_by if c in orders.columns and c not in cols]
        extra = ["category"] if "category" in orders.columns and "category" not in split_cols else []
        self.orders = materialize(orders.select(*cols, *split_cols, *extra))
        self.has_category = "category" in orders.columns
        self.refunds = (materialize(refunds.select("customer_id", "order_ts", "amount"))
                        if refunds is not None else None)
        self.customers_table = customers
        self.days = materialize(purchase_days(self.orders))
        first_ts = self.orders.order_ts.min().execute()
        self.calendar = calendar(first_ts, period, kind)
        self.k_run = int(self.calendar["k"].iloc[-1])
        self.end_day = int(self.calendar["end_day"].iloc[-1])
        self.period_end = pd.Timestamp(self.calendar["end"].iloc[-1])
        self.end_s = int((self.period_end.floor("s") - EPOCH).total_seconds())
        self._split_cols = split_cols

    # ------------------------------------------------------------ thresholds and stages
    @cached_property
    def gaps(self) -> pd.DataFrame:
        return gap_histogram(self.days)

    @cached_property
    def thresholds(self) -> Thresholds:
        return choose_thresholds(self.gaps, self.settings)

    def ends(self, n: int) -> pd.DataFrame:
        """The last n period ends of the calendar (fewer if the data is shorter)."""
        return self.calendar.iloc[max(0, len(self.calendar) - n):]

    @cached_property
    def panel(self) -> ir.Table:
        """Stages at the last transition_periods + 1 period ends (the first only as a 'from')."""
        return materialize(stage_panel(self.days, self.ends(self.settings.transition_periods + 1), self.thresholds))

    @cached_property
    def stage_counts(self) -> pd.DataFrame:
        """Customers per stage (columns) at each period end (rows, labelled)."""
        counts = self.panel.group_by(["k", "stage"]).aggregate(n=ibis._.count()).execute()
        ends = self.ends(self.settings.transition_periods + 1)
        table = counts.pivot_table(index="k", columns="stage", values="n", aggfunc="sum").reindex(
            index=ends["k"], columns=list(STAGES)).fillna(0).astype("int64")
        table.index = ends["label"].to_numpy()
        table.index.name = "period end"
        table.columns.name = "stage"
        return table

    @cached_property
    def transitions(self) -> pd.DataFrame:
        """Long table: period (label of the later end), from_stage, stage, n."""
        frame = transition_table(self.panel).execute()
        labels = self.calendar.set_index("k")["label"]
        frame["period"] = frame["k"].map(labels)
        return frame.sort_values(["k", "from_stage", "stage"]).reset_index(drop=True)

    def transition_matrix(self, period: str | None = None) -> pd.DataFrame:
        """Previous stage (rows, with 'none') x stage (columns) at one period end (default: the run's)."""
        period = period or self.period
        part = self.transitions[self.transitions["period"] == period]
        matrix = part.pivot_table(index="from_stage", columns="stage", values="n", aggfunc="sum")
        return matrix.reindex(index=[NONE, *STAGES], columns=list(STAGES)).fillna(0).astype("int64")

    # ------------------------------------------------------------ the customer table
    @cached_property
    def customer_frame(self) -> pd.DataFrame:
        """The customer-table columns of the contract (one row per customer with a clean order)."""
        from helpers import rfm

        now = self.panel.filter(self.panel.k == self.k_run).select("customer_id", "stage")
        prev = self.panel.filter(self.panel.k == self.k_run - 1).select(
            "customer_id", previous_stage="stage")
        stages = now.left_join(prev, "customer_id").drop("customer_id_right")
        frame = customer_summary(self.orders, self.refunds, self.end_day, extra=stages)
        frame["previous_stage"] = frame["previous_stage"].fillna(NONE)
        scored = rfm.score_customers(frame, self.settings.rfm_bins)
        return scored

    # ------------------------------------------------------------ repurchase rates
    def _split_sources(self) -> dict[str, str]:
        """Which split columns the data has: 'customers' (the customer table) or 'orders'."""
        out = {}
        cust = self.customers_table
        for col in self.settings.split_by:
            if cust is not None and col in cust.columns and _has_values(cust[col]):
                out[col] = "customers"
            elif col in self._split_cols and _has_values(self.orders[col]):
                out[col] = "orders"
        return out

    @cached_property
    def splits_available(self) -> dict[str, str]:
        return self._split_sources()

    def _customer_attrs(self, cols: list[str]) -> ir.Table:
        cust = self.customers_table
        return cust.group_by("customer_id").aggregate(**{c: cust[c].cast("string").min() for c in cols})

    @cached_property
    def _activity(self) -> ir.Table:
        order_attrs = tuple(c for c, src in self.splits_available.items() if src == "orders")
        act = activity(self.orders, self.kind, self.calendar, order_attrs)
        cust_attrs = [c for c, src in self.splits_available.items() if src == "customers"]
        if cust_attrs:
            act = act.left_join(self._customer_attrs(cust_attrs), "customer_id").drop("customer_id_right")
        return materialize(act)

    def _rates(self, ks: list[int], by: str | None = None) -> pd.DataFrame:
        act = self._activity
        keys = ["k"] + ([by] if by else [])
        cur = act.filter(act.k.isin(ks))
        within = cur.group_by(keys).aggregate(buyers=cur.count(), repeat_buyers=(cur.n_days >= 2).cast("int64").sum())
        prev = act.filter(act.k.isin([k - 1 for k in ks]))
        base_cols = {"customer_id": prev.customer_id, "k": prev.k + 1}
        if by:
            base_cols[by] = prev[by]
        base = prev.select(**base_cols)
        nxt = act.select(customer_id=act.customer_id, k_next=act.k)
        joined = base.left_join(nxt, [base.customer_id == nxt.customer_id, base.k == nxt.k_next])
        ret = joined.group_by(keys).aggregate(base=joined.count(), retained=joined.k_next.notnull().cast("int64").sum())
        w, r = within.execute(), ret.execute()
        if by:
            for f in (w, r):
                f[by] = f[by].fillna(UNKNOWN).astype(str)
        out = w.merge(r, on=keys, how="outer")
        for col in ("buyers", "repeat_buyers", "base", "retained"):
            out[col] = out[col].fillna(0).astype("int64")
        return out

    def _cluster_sums(self, ks: list[int], by: str) -> dict[str, pd.DataFrame]:
        """Per split value, for the two window rates: customers (clusters) and the sums over
        customers of k_i^2, k_i n_i and n_i^2, where n_i is customer i's customer-periods in the
        group and k_i its successes. A customer counted in several periods of the window is one
        cluster: these sums give the cluster-robust variance (:func:`cluster_effective_n`)."""
        act = self._activity
        cur = act.filter(act.k.isin(ks))
        within = cur.select("customer_id", by, _s=(cur.n_days >= 2).cast("int64"))
        prev = act.filter(act.k.isin([k - 1 for k in ks]))
        base = prev.select(customer_id=prev.customer_id, k=prev.k + 1, grp=prev[by])
        nxt = act.select(customer_id=act.customer_id, k_next=act.k)
        joined = base.left_join(nxt, [base.customer_id == nxt.customer_id, base.k == nxt.k_next])
        ret = joined.select(customer_id=joined.customer_id, _s=joined.k_next.notnull().cast("int64"), **{by: joined.grp})
        out = {}
        for metric, t in (("within-period repurchase", within), ("retention", ret)):
            per = t.group_by(["customer_id", by]).aggregate(_n=t.count(), _k=t._s.sum())
            g = per.group_by(by).aggregate(customers=per.count(), kk=(per._k * per._k).sum(),
                                           kn=(per._k * per._n).sum(), nn=(per._n * per._n).sum()).execute()
            g[by] = g[by].fillna(UNKNOWN).astype(str)
            out[metric] = g.groupby(by)[["customers", "kk", "kn", "nn"]].sum()
        return out

    @cached_property
    def trend(self) -> pd.DataFrame:
        """Within-period repurchase and retention over the last trend_periods periods, with 95 %
        Wilson intervals; periods without orders show as empty (not zero)."""
        ends = self.ends(self.settings.trend_periods)
        frame = ends[["k", "label"]].merge(self._rates(ends["k"].tolist()), on="k", how="left")
        for col in ("buyers", "repeat_buyers", "base", "retained"):
            frame[col] = frame[col].fillna(0).astype("int64")
        frame = rate_frame(frame, "repeat_buyers", "buyers", "within_period")
        frame = rate_frame(frame, "retained", "base", "retention")
        return frame.rename(columns={"label": "period"})

    @cached_property
    def history(self) -> pd.DataFrame:
        """Both period rates for every period of the calendar (the trend shows the last
        trend_periods): what the year-on-year comparison and the seasonality test read."""
        frame = self.calendar[["k", "label"]].merge(self._rates(self.calendar["k"].tolist()), on="k", how="left")
        for col in ("buyers", "repeat_buyers", "base", "retained"):
            frame[col] = frame[col].fillna(0).astype("int64")
        return frame.rename(columns={"label": "period"})

    def seasonal(self, k_col: str, n_col: str) -> dict:
        """Year-on-year comparison and seasonality test of one rate over the whole history."""
        h = self.history
        return {"year_over_year": year_over_year(h[k_col], h[n_col], h["period"], self.kind),
                "seasonality_p": seasonality_test(h[k_col], h[n_col], self.kind),
                "year_earlier": year_earlier_label(self.period, self.kind) if self.kind in PERIODS_PER_YEAR else None}

    @cached_property
    def _first(self) -> ir.Table:
        order_attrs = tuple(c for c, src in self.splits_available.items() if src == "orders")
        first = first_purchases(self.orders, self.days, self.kind, self.calendar, order_attrs)
        cust_attrs = [c for c, src in self.splits_available.items() if src == "customers"]
        if cust_attrs:
            first = first.left_join(self._customer_attrs(cust_attrs), "customer_id").drop("customer_id_right")
        return materialize(first)

    @cached_property
    def second_purchase_cohorts(self) -> pd.DataFrame:
        """Per first-purchase cohort: customers and, for each N, the N-day second-purchase counts
        (see :func:`second_purchase_counts`), with 'mature_N' = every customer has had N days."""
        horizons = self.settings.second_purchase_days
        frame = second_purchase_counts(self._first, horizons, self.end_day, self.end_s)
        frame = self.calendar[["k", "label", "end_day"]].rename(columns={"k": "cohort_k"}).merge(
            frame, on="cohort_k", how="left").fillna(0)
        for col in frame.columns:
            if col not in ("label",):
                frame[col] = frame[col].astype("int64")
        for n in horizons:
            frame[f"mature_{n}"] = frame["end_day"] + n <= self.end_day
            frame = rate_frame(frame, f"second_{n}", f"eligible_{n}", f"rate_{n}")
            frame.loc[~frame[f"mature_{n}"], [f"rate_{n}", f"rate_{n}_lo", f"rate_{n}_hi"]] = np.nan
        return frame.rename(columns={"label": "cohort"})

    def headline_cohorts(self, n: int) -> pd.DataFrame:
        """The most recent trend_periods cohorts that have customers and are mature for N days."""
        c = self.second_purchase_cohorts
        ok = c[c[f"mature_{n}"] & (c["customers"] > 0)]
        return ok.tail(self.settings.trend_periods)

    @cached_property
    def second_purchase(self) -> pd.DataFrame:
        """Headline N-day second-purchase rates: pooled over the last trend_periods mature cohorts
        (one row per N), with the all-history pooled rate next to it."""
        rows = []
        c = self.second_purchase_cohorts
        for n in self.settings.second_purchase_days:
            h = self.headline_cohorts(n)
            k, m = int(h[f"second_{n}"].sum()), int(h[f"eligible_{n}"].sum())
            k_all, m_all = int(c[f"second_{n}"].sum()), int(c[f"eligible_{n}"].sum())
            rows.append({"days": n, "customers": m, "second": k,
                         "first_cohort": h["cohort"].iloc[0] if len(h) else None,
                         "last_cohort": h["cohort"].iloc[-1] if len(h) else None, "cohorts": len(h),
                         "customers_all": m_all, "second_all": k_all,
                         "second_any_all": int(c[f"second_any_{n}"].sum()),
                         "eligible_any_all": int(c[f"eligible_any_{n}"].sum())})
        frame = pd.DataFrame(rows)
        frame = rate_frame(frame, "second", "customers", "rate")
        frame = rate_frame(frame, "second_all", "customers_all", "rate_all")
        return frame

    @cached_property
    def splits(self) -> pd.DataFrame:
        """Each rate by each split column available: this period, and pooled over the trend window
        (customer-periods) for within-period and retention; the headline cohorts for the second
        purchase. Small groups are lumped into 'other' (at most 8 groups per column)."""
        frames = []
        ks = self.ends(self.settings.trend_periods)["k"].tolist()
        for col, source in self.splits_available.items():
            r = self._rates(ks, by=col)
            clusters = self._cluster_sums(ks, col)
            for metric, k_col, n_col in (("within-period repurchase", "repeat_buyers", "buyers"),
                                         ("retention", "retained", "base")):
                now = r[r["k"] == self.k_run].groupby(col)[[k_col, n_col]].sum()
                pooled = r.groupby(col)[[k_col, n_col]].sum()
                part = pooled.rename(columns={k_col: "k_window", n_col: "n_window"}).join(
                    now.rename(columns={k_col: "k_period", n_col: "n_period"}), how="left").join(
                    clusters[metric], how="left").fillna(0)
                frames.append(_lump(part.reset_index().rename(columns={col: "group"}), "n_window")
                              .assign(split=col, source=source, metric=metric))
            n_max = max(self.settings.second_purchase_days)
            sp = second_purchase_counts(self._first, [n_max], self.end_day, self.end_s, by=(col,))
            head = set(self.headline_cohorts(n_max)["cohort_k"])
            sp = sp[sp["cohort_k"].isin(head)]
            sp[col] = sp[col].fillna(UNKNOWN).astype(str)
            part = sp.groupby(col)[[f"second_{n_max}", f"eligible_{n_max}"]].sum().rename(
                columns={f"second_{n_max}": "k_window", f"eligible_{n_max}": "n_window"})
            part["k_period"], part["n_period"] = np.nan, np.nan
            # one first purchase per customer: every customer is their own cluster of one
            part["customers"], part["kk"] = part["n_window"], part["k_window"]
            part["kn"], part["nn"] = part["k_window"], part["n_window"]
            frames.append(_lump(part.reset_index().rename(columns={col: "group"}), "n_window")
                          .assign(split=col, source=source, metric=f"{n_max}-day second purchase"))
        columns = ["split", "source", "metric", "group", "k_window", "n_window", "customers", "design_effect",
                   "n_effective", "rate_window", "rate_window_lo", "rate_window_hi", "k_period", "n_period",
                   "rate_period", "rate_period_lo", "rate_period_hi", "enough"]
        if not frames:
            return pd.DataFrame(columns=columns)
        out = pd.concat(frames, ignore_index=True)
        out = rate_frame(out, "k_window", "n_window", "rate_window")
        out["n_effective"], out["design_effect"] = cluster_effective_n(
            out["k_window"], out["n_window"], out["customers"], out["kk"], out["kn"], out["nn"])
        out["rate_window_lo"], out["rate_window_hi"] = wilson(out["rate_window"].fillna(0) * out["n_effective"],
                                                              out["n_effective"])
        out = rate_frame(out, "k_period", "n_period", "rate_period")
        out["enough"] = out["customers"] >= self.settings.min_group_size
        return out[columns]

    # ------------------------------------------------------------ revenue bridge and purchase gaps
    def revenue_cells(self, ks: list[int]) -> pd.DataFrame:
        """Per period k in ``ks`` and customer kind (new: first purchase in that period; repeat:
        bought before): customers, orders and order revenue (before refunds). Computed in the
        engine from the per-customer activity and the first-purchase cohorts."""
        act = self._activity
        act = act.filter(act.k.isin([int(k) for k in ks]))
        cohort = self._first.select("customer_id", "cohort_k")
        j = act.join(cohort, "customer_id")
        j = j.mutate(kind=ibis.ifelse(j.cohort_k == j.k, "new", "repeat"))
        cells = j.group_by(["k", "kind"]).aggregate(customers=j.count(), orders=j.n_orders.sum(),
                                                    revenue=money_sum(j.amount)).execute()
        full = pd.MultiIndex.from_product([[int(k) for k in ks], list(BRIDGE_KINDS)], names=["k", "kind"])
        cells = cells.set_index(["k", "kind"]).reindex(full).fillna(0).reset_index()
        cells[["customers", "orders"]] = cells[["customers", "orders"]].astype("int64")
        cells["revenue"] = cells["revenue"].astype(float)
        return cells

    def revenue_bridge(self, against: str = "previous") -> dict | None:
        """Order revenue of the run's period against the previous period (``against='previous'``)
        or the same period a year earlier (``'year'``), decomposed by :func:`revenue_bridge`.
        None when the calendar does not reach the earlier period, or without money (no amount
        mapped: the bridge is not drawn at all, never a bridge of zeros)."""
        back = 1 if against == "previous" else PERIODS_PER_YEAR.get(self.kind, 0)
        k0 = self.k_run - back
        if not self.has_amount or back <= 0 or k0 < int(self.calendar["k"].iloc[0]):
            return None
        cells = self.revenue_cells([k0, self.k_run])
        labels = self.calendar.set_index("k")["label"]
        out = revenue_bridge(cells[cells["k"] == k0], cells[cells["k"] == self.k_run])
        out.update(before=labels[k0], after=labels[self.k_run], cells=cells.assign(period=cells["k"].map(labels)))
        return out

    @cached_property
    def purchase_gaps(self) -> pd.DataFrame:
        """Days from each purchase day to the customer's next one, by purchase number (1st → 2nd,
        2nd → 3rd, ..., the last step pooling the later ones): gaps, customers, quartiles. Only
        completed gaps (a customer who has not come back yet has none)."""
        return gap_quantiles(self.days, max_step=GAP_STEPS)

    @cached_property
    def category_gaps(self) -> pd.DataFrame:
        """The replenishment cycle per category: days between consecutive purchase days of the
        same customer in the same category (quartiles), for the categories with the most gaps.
        Empty when the orders carry no category."""
        if not self.has_category or not _has_values(self.orders.category):
            return pd.DataFrame(columns=["category", "gaps", "customers", "q25", "median", "q75"])
        return category_gap_quantiles(self.orders)

    # ------------------------------------------------------------ cohorts
    @cached_property
    def cohort_matrix(self) -> pd.DataFrame:
        """Long table per cohort and periods since (j >= 0): cohort size, customers who bought in
        period j, net revenue in period j (orders minus refunds dated in it), and the cumulative
        revenue per customer. Only the last cohort_periods cohorts with customers."""
        act = self._activity.select("customer_id", "k", bought=ibis.literal(1), amount="amount")
        if self.refunds is not None:
            ref = with_period(self.refunds, "order_ts", self.kind, self.calendar)
            ref = ref.group_by(["customer_id", "k"]).aggregate(amount=(-ref.amount.abs()).sum())
            ref = ref.select("customer_id", "k", bought=ibis.literal(0), amount="amount")
            act = ibis.union(act, ref, distinct=False)
        per = act.group_by(["customer_id", "k"]).aggregate(bought=act.bought.max(), amount=money_sum(act.amount))
        cohort = self._first.select("customer_id", "cohort_k")
        joined = per.join(cohort, "customer_id")
        cells = joined.group_by(["cohort_k", "k"]).aggregate(active=joined.bought.sum(), revenue=money_sum(joined.amount)).execute()
        sizes = cohort.group_by("cohort_k").aggregate(size=cohort.count()).execute()
        sizes = sizes[sizes["size"] > 0].sort_values("cohort_k").tail(self.settings.cohort_periods)
        rows = []
        labels = self.calendar.set_index("k")["label"]
        for c in sizes.itertuples():
            js = np.arange(0, self.k_run - c.cohort_k + 1)
            part = cells[cells["cohort_k"] == c.cohort_k]
            part = part.assign(j=part["k"] - c.cohort_k)
            part = part[part["j"] >= 0].set_index("j").reindex(js).fillna(0)
            rows.append(pd.DataFrame({
                "cohort": labels[c.cohort_k], "cohort_k": c.cohort_k, "j": js, "size": int(c.size),
                "active": part["active"].astype("int64").to_numpy(), "revenue": part["revenue"].to_numpy()}))
        if not rows:
            return pd.DataFrame(columns=["cohort", "cohort_k", "j", "size", "active", "revenue", "retention",
                                         "revenue_per_customer", "cumulative_revenue_per_customer"])
        out = pd.concat(rows, ignore_index=True)
        out["retention"] = out["active"] / out["size"]
        out["revenue_per_customer"] = out["revenue"] / out["size"]
        out["cumulative_revenue_per_customer"] = out.groupby("cohort")["revenue_per_customer"].cumsum()
        if not self.has_amount:  # revenue unknown, not 0
            out[["revenue", "revenue_per_customer", "cumulative_revenue_per_customer"]] = np.nan
        return out

    def cohort_summary(self, ages=(1, 3, 6, 12)) -> pd.DataFrame:
        """Per age j: customer-weighted retention and cumulative revenue per customer over the
        cohorts shown that have reached that age."""
        m = self.cohort_matrix
        rows = []
        for j in ages:
            part = m[m["j"] == j]
            if part.empty:
                continue
            size = part["size"].sum()
            cum = (part["cumulative_revenue_per_customer"] * part["size"]).sum(min_count=1) / size
            rows.append({"j": j, "cohorts": len(part), "customers": int(size), "active": int(part["active"].sum()),
                         "retention": part["active"].sum() / size, "cumulative_revenue_per_customer": cum})
        frame = pd.DataFrame(rows, columns=["j", "cohorts", "customers", "active", "retention",
                                            "cumulative_revenue_per_customer"])
        if len(frame):
            frame = rate_frame(frame, "active", "customers", "retention")
        return frame

    # ------------------------------------------------------------ metrics
    def lifecycle_metrics(self) -> dict:
        counts = self.stage_counts.loc[self.period] if self.period in self.stage_counts.index else pd.Series(0, index=STAGES)
        prev_label = self.stage_counts.index[-2] if len(self.stage_counts) > 1 else None
        prev_counts = self.stage_counts.loc[prev_label] if prev_label else None
        matrix = self.transition_matrix()
        flows = {f"{a}->{b}": int(matrix.at[a, b]) for a in matrix.index for b in matrix.columns if matrix.at[a, b]}
        bridge = self.revenue_bridge()
        gaps = self.purchase_gaps
        return {
            "revenue_bridge": None if bridge is None else {
                "before": bridge["before"], "after": bridge["after"], "revenue_before": bridge["revenue_before"],
                "revenue_after": bridge["revenue_after"], "change": bridge["change"], "by_kind": bridge["by_kind"],
                "parts": {f"{r.kind}.{r.factor}": float(r.change) for r in bridge["parts"].itertuples()}},
            "purchase_gap_days": {r.label: {"gaps": int(r.gaps), "q25": _num(r.q25), "median": _num(r.median),
                                            "q75": _num(r.q75)} for r in gaps.itertuples()},
            "replenishment_days_by_category": {str(r.category): _num(r.median) for r in self.category_gaps.itertuples()},
            "period": self.period,
            "customers": int(counts.sum()),
            "stage_counts": {s: int(counts.get(s, 0)) for s in STAGES},
            "previous_period": prev_label,
            "previous_stage_counts": {s: int(prev_counts.get(s, 0)) for s in STAGES} if prev_counts is not None else None,
            "thresholds": self.thresholds.as_dict(),
            "transitions": flows,
            "biggest_flows": [{"from": r["from_stage"], "to": r["stage"], "customers": int(r["n"])}
                              for _, r in biggest_flows(self.transitions, self.period).iterrows()],
        }

    def repurchase_metrics(self) -> dict:
        t = self.trend.set_index("period")
        now = t.loc[self.period]
        sp = self.second_purchase.set_index("days")
        summary = self.cohort_summary()

        def ci(lo, hi):
            return [None if pd.isna(lo) else float(lo), None if pd.isna(hi) else float(hi)]

        return {
            "period": self.period,
            "within_period": _num(now["within_period"]),
            "within_period_ci": ci(now["within_period_lo"], now["within_period_hi"]),
            "within_period_buyers": int(now["buyers"]),
            "retention": _num(now["retention"]),
            "retention_ci": ci(now["retention_lo"], now["retention_hi"]),
            "retention_base": int(now["base"]),
            "second_purchase": {str(n): _num(sp.at[n, "rate"]) for n in sp.index},
            "second_purchase_ci": {str(n): ci(sp.at[n, "rate_lo"], sp.at[n, "rate_hi"]) for n in sp.index},
            "second_purchase_customers": {str(n): int(sp.at[n, "customers"]) for n in sp.index},
            "second_purchase_cohorts": {str(n): [sp.at[n, "first_cohort"], sp.at[n, "last_cohort"]] for n in sp.index},
            "second_purchase_all_history": {str(n): _num(sp.at[n, "rate_all"]) for n in sp.index},
            "year_over_year": {name: _yoy(self.seasonal(k_col, n_col)) for name, k_col, n_col in (
                ("within_period", "repeat_buyers", "buyers"), ("retention", "retained", "base"))},
            "trend": [{"period": r.period, "within_period": _num(r.within_period), "retention": _num(r.retention),
                       "buyers": int(r.buyers)} for r in self.trend.itertuples()],
            "cohort": {
                "cohorts": int(self.cohort_matrix["cohort"].nunique()) if len(self.cohort_matrix) else 0,
                "retention_by_age": {str(int(r.j)): _num(r.retention) for r in summary.itertuples()},
                "cumulative_revenue_per_customer_by_age": {str(int(r.j)): _num(r.cumulative_revenue_per_customer)
                                                           for r in summary.itertuples()},
            },
        }


def _yoy(season: dict) -> dict | None:
    y = season["year_over_year"]
    if y is None:
        return {"then": season["year_earlier"], "covered": False, "seasonality_p": _num(season["seasonality_p"])}
    return {"then": y["then_label"], "covered": True, "rate_then": _num(y["then"]), "rate_now": _num(y["now"]),
            "difference": _num(y["difference"]), "ci": [_num(y["difference_lo"]), _num(y["difference_hi"])],
            "seasonality_p": _num(season["seasonality_p"])}


def _num(x):
    return None if x is None or pd.isna(x) else float(x)


def _lump(frame: pd.DataFrame, size: str, keep: int = 8) -> pd.DataFrame:
    """Keep the keep-1 largest groups and sum the rest into 'other' (when there are more)."""
    frame = frame.sort_values(size, ascending=False)
    if len(frame) <= keep:
        return frame.reset_index(drop=True)
    top, rest = frame.iloc[: keep - 1], frame.iloc[keep - 1:]
    other = rest.drop(columns="group").sum(numeric_only=True).to_frame().T.assign(group=f"other ({len(rest)} groups)")
    return pd.concat([top, other], ignore_index=True)


def analyse(run) -> LifecycleAnalysis:
    """The lifecycle analysis of a run (report.Run): its clean orders, refunds and customers."""
    refunds = run.clean.refunds if run.params.cleaning.refunds == "net" else None
    return LifecycleAnalysis(run.orders, refunds, run.period, run.params.period, run.params.lifecycle,
                             customers=run.data.table("customers"), has_amount=run.params.has_amount)


# ---------------------------------------------------------------- readings: the numbers behind each finding
# (worded by helpers.text.lifecycle; the tests and choices are made here, the words there)


def has_status(params: config.Params) -> bool:
    """True when an orders source maps a status column (or sets one as a constant)."""
    return any("status" in s.columns or "status" in s.constants for s in params.sources.orders)


def stage_reading(a: LifecycleAnalysis) -> dict:
    """Customers per stage at the run's period end and their change since the previous end."""
    counts = a.stage_counts
    now = counts.loc[a.period]
    prev_label = counts.index[-2] if len(counts) > 1 else None
    return {"period": a.period, "total": int(now.sum()), "counts": {s: int(now[s]) for s in STAGES},
            "live": int(now["new"] + now["returning"] + now["active"]),
            "previous": prev_label,
            "changes": ({s: int(now[s] - counts.loc[prev_label, s]) for s in STAGES} if prev_label is not None else None)}


def flow_reading(a: LifecycleAnalysis) -> dict | None:
    """The moves into the run's period end: the biggest, and how the live, dormant and churned
    customers of the previous end fared; None without an earlier period end."""
    if a.transitions.empty or a.period not in set(a.transitions["period"]):
        return None
    m = a.transition_matrix()
    live = ["active", "new", "returning"]
    t = a.transitions
    won = t[t["from_stage"].isin(["dormant", "churned"]) & (t["stage"] == "returning")].groupby("period")["n"].sum()
    return {"biggest": [(r.from_stage, r.stage, int(r.n)) for r in biggest_flows(t, a.period).itertuples()],
            "live_before": int(m.loc[live].sum().sum()), "went_dormant": int(m.loc[live, "dormant"].sum()),
            "dormant_before": int(m.loc["dormant"].sum()), "dormant_back": int(m.at["dormant", "returning"]),
            "dormant_lost": int(m.at["dormant", "churned"]),
            "churned_before": int(m.loc["churned"].sum()), "churned_back": int(m.at["churned", "returning"]),
            "won_back": {str(p): int(v) for p, v in won.items()}}


RATE_COLUMNS = {"within_period": ("repeat_buyers", "buyers"), "retention": ("retained", "base")}


def rate_readings(a: LifecycleAnalysis) -> list[dict]:
    """Per period rate (within-period repurchase, retention): this period's value with its
    interval, the pooled rate over the window, its trend test and the year-earlier reading."""
    t = a.trend
    now = t.iloc[-1]
    out = []
    for col, (k_col, n_col) in RATE_COLUMNS.items():
        if pd.isna(now[col]):
            out.append({"rate": col, "defined": False, "period": a.period})
            continue
        test = trend_test(t[k_col], t[n_col])
        out.append({"rate": col, "defined": True, "period": a.period, "value": float(now[col]),
                    "lo": float(now[f"{col}_lo"]), "hi": float(now[f"{col}_hi"]), "n": int(now[n_col]),
                    "pooled": float(t[k_col].sum() / t[n_col].sum()), "periods": len(t), "trend": test,
                    "season": seasonal_reading(a.period, test, a.seasonal(k_col, n_col))})
    return out


def seasonal_reading(period: str, test: dict, season: dict) -> dict | None:
    """The same period a year earlier, where the data cover it and a season may be at work (the
    rate's period-of-year pattern is significant, or the history is too short to test it):
    {'kind': 'year_over_year', ...}; where they do not cover it, a warning when the trend or the
    last period may be a season: {'kind': 'possibly_seasonal', ...}; else None."""
    yoy, p_season, then = season["year_over_year"], season["seasonality_p"], season["year_earlier"]
    if then is None:
        return None
    seasonal = p_season == p_season and p_season < 0.05
    untested = p_season != p_season
    if not (seasonal or untested):
        return None
    if yoy is not None:
        lo, hi = yoy["difference_lo"], yoy["difference_hi"]
        return {"kind": "year_over_year", "seasonal": seasonal, "seasonality_p": p_season, **yoy,
                "verdict": "higher" if lo > 0 else "lower" if hi < 0 else "unclear"}
    last_z = test.get("last_z", math.nan)
    stands_out = last_z == last_z and abs(last_z) > 2
    trending = test["direction"] in ("rising", "falling")
    if not (stands_out or trending):
        return None
    return {"kind": "possibly_seasonal", "period": period, "then": then, "stands_out": stands_out,
            "last_z": last_z, "direction": test["direction"] if trending else None}


def second_purchase_reading(a: LifecycleAnalysis) -> dict:
    """The longest horizon with old-enough customers, the trend of its rate across the headline
    cohorts, and whether those cohorts include the data's first period (whose 'new' customers may
    be older customers seen for the first time)."""
    valid = a.second_purchase[a.second_purchase["customers"] > 0]
    if not len(valid):
        return {"days": None, "not_back": None, "trend": None, "first_period": None}
    last = valid.iloc[-1]
    n = int(last["days"])
    cohorts = a.headline_cohorts(n)
    test = trend_test(cohorts[f"second_{n}"], cohorts[f"eligible_{n}"]) if len(cohorts) >= 4 else None
    first_k = a.calendar["k"].iloc[0]
    return {"days": n, "not_back": float(1 - last["rate"]), "trend": test,
            "first_period": a.calendar["label"].iloc[0] if first_k in set(cohorts["cohort_k"]) else None}


def split_comparisons(a: LifecycleAnalysis) -> list[dict]:
    """Per split column and rate: the highest and the lowest group of those large enough to
    compare (rows of :attr:`LifecycleAnalysis.splits`) and :func:`compare_extremes` between them;
    'comparison' None when fewer than two groups are large enough."""
    out = []
    for (split, metric), part in a.splits.groupby(["split", "metric"], sort=False):
        ok = part[part["enough"] & part["rate_window"].notna() & (part["group"] != UNKNOWN)
                  & ~part["group"].str.startswith("other (")].reset_index(drop=True)
        if len(ok) < 2:
            out.append({"split": split, "metric": metric, "comparison": None})
            continue
        c = compare_extremes(ok["rate_window"], ok["n_effective"], ok["group"].tolist())
        out.append({"split": split, "metric": metric, "comparison": c,
                    "highest": ok.loc[ok["rate_window"].idxmax()].to_dict(),
                    "lowest": ok.loc[ok["rate_window"].idxmin()].to_dict()})
    return out


def missing_splits(a: LifecycleAnalysis) -> list[str]:
    """Split columns the params ask for that the data does not have."""
    return [c for c in a.settings.split_by if c not in a.splits_available]


def cohort_reading(a: LifecycleAnalysis) -> dict | None:
    """Cohorts shown, the average retention (and revenue per customer) by age, and the trend of
    the one-period-later retention across cohorts; None without a cohort."""
    m = a.cohort_matrix
    if m.empty:
        return None
    s = a.cohort_summary()
    j1 = m[m["j"] == 1]
    test = trend_test(j1["active"], j1["size"]) if len(j1) >= 4 else None
    return {"cohorts": int(m["cohort"].nunique()), "first": m["cohort"].iloc[0], "last": m["cohort"].iloc[-1],
            "customers": int(m.drop_duplicates("cohort")["size"].sum()), "by_age": s,
            "money": bool(a.has_amount and len(s) and s["cumulative_revenue_per_customer"].notna().all()),
            "trend": test}


def bridge_ranked_parts(bridge: dict) -> pd.DataFrame:
    """The bridge's parts, largest change first, without those below 0.5 % of the total change."""
    p, d = bridge["parts"], bridge["change"]
    ranked = p.reindex(p["change"].abs().sort_values(ascending=False).index)
    return ranked[ranked["change"].abs() >= 0.005 * max(abs(d), 1.0)]


def later_gaps_all_shorter(steps: pd.DataFrame) -> bool:
    """True when every later purchase gap's median is below the first (1st -> 2nd) gap's."""
    if len(steps) < 2:
        return False
    return bool((steps["median"].iloc[1:] < steps["median"].iloc[0]).all())


def biggest_flows(transitions: pd.DataFrame, period: str, n: int = 3) -> pd.DataFrame:
    part = transitions[(transitions["period"] == period) & (transitions["from_stage"] != transitions["stage"])]
    return part.sort_values("n", ascending=False).head(n)[["from_stage", "stage", "n"]]


# ---------------------------------------------------------------- table figures


# the moves that matter, by name: customers entering, going quiet, coming back
FLOWS = {"first_purchase": [(NONE, "new")],
         "went_dormant": [(s, "dormant") for s in ("active", "new", "returning")],
         "dormant_churned": [("dormant", "churned")],
         "dormant_returning": [("dormant", "returning")],
         "churned_returning": [("churned", "returning")]}


def flow_counts(a: LifecycleAnalysis) -> pd.DataFrame:
    """Customers making each move of :data:`FLOWS` (rows) into each period end (columns)."""
    t = a.transitions
    rows = {}
    for name, pairs in FLOWS.items():
        mask = pd.Series(False, index=t.index)
        for a_, b_ in pairs:
            mask |= (t["from_stage"] == a_) & (t["stage"] == b_)
        rows[name] = t[mask].groupby("period")["n"].sum()
    periods = list(dict.fromkeys(t["period"]))
    return pd.DataFrame(rows).reindex(periods).fillna(0).astype("int64").T
