"""Checks on the CLV of notebook 04: left-truncated data, holdout calibration by decile, sanity
checks on the fit, a reliability verdict, and the CLV's sensitivity to the business assumptions.

* **Left truncation.** When the data start in the middle of a brand's history, the customers
  whose *first observed* purchase falls in the first period(s) are mostly existing customers,
  not new ones: their first purchases bunch at the data start and they come back much sooner
  than customers acquired later. A model fitted on them treats established, selected survivors
  as new customers, and confuses their long-standing activity with the absence of dropout.
  :func:`detect_truncation` compares the first period's acquisitions with the later periods'
  typical count, and the first cohort's repeat purchases in a fixed window after the first
  purchase (``window_days``; only customers observed for the whole window count) with the later
  cohorts'. Both must be far above (:data:`BUNCHING`, :data:`EARLY_RATIO`, :data:`EARLY_Z`); the
  burn-in is the leading run of periods whose early repeat rate stays clearly above the later
  cohorts' (:data:`BURN_IN_RATIO`, :data:`BURN_IN_Z`), at most a third of the history. The
  purchase models are then calibrated on the customers acquired after the burn-in
  (``clv.holdout_validation(run, calibrate_from=...)``, ``clv.customer_values(...,
  calibrate_from=...)``). Customers first seen within the burn-in still get predictions from
  that fit, conditioned on their observed history (their age counts from their first observed
  purchase; the more they bought, the less the population's parameters weigh): an approximation,
  said in the notebook, and checked on the holdout separately for both groups.
* **Decile calibration** (:func:`decile_calibration`): holdout customers ranked into tenths by
  the predicted holdout purchases and by P(alive) at the calibration end; per tenth the mean
  predicted and actual purchases, and the predicted chance of buying at all in the holdout
  against the share who did.
* **Sanity checks and the verdict** (:func:`reliability`): a dropout the data cannot identify, a
  mean P(alive) that contradicts the lifecycle's churned share (notebook 02's stage, or the same
  rule computed here), a 12-month forecast above the past year's purchases without year-on-year
  growth to support it, the holdout (beats the baseline? total within 10 %?), the decile
  calibration, and left truncation. Each check has a level (ok / caution / unreliable) and a
  sentence written from its numbers; the verdict is the worst level: *validated*, *caution* or
  *unreliable*.
* **Sensitivity** (:func:`sensitivity`): the total CLV at a grid of margins, discount rates and
  horizons, the others at the params' values.

Analysis here returns numbers and frames; :mod:`helpers.text.clv` words them. Transactions stay in
the engine; pandas sees customers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from helpers import clv

PANDAS_FREQ = {"month": "M", "quarter": "Q", "week": "W-SUN"}
WINDOW_DAYS = 90  # early repeat purchases are counted this many days after the first purchase
BUNCHING = 2.0  # first period's acquisitions / later periods' median at or above this: bunched
EARLY_RATIO = 1.5  # first cohort's early repeat rate / later cohorts' at or above this ...
EARLY_Z = 3.0  # ... and this many standard errors above: established customers, not new ones
BURN_IN_RATIO = 1.25  # a following period stays in the burn-in while its cohort is this much above ...
BURN_IN_Z = 2.0  # ... by this many standard errors
MIN_COHORT = 30  # a later cohort needs this many customers observed for the whole window
DROPOUT_FLOOR = 1e-3  # mean dropout probability per purchase (or share lost over the history) below: none
LOST_RATIO = (0.5, 0.75)  # model's lost share / lifecycle's churned share below: unreliable, caution
MIN_CHURNED = 0.05  # the lifecycle check needs at least this churned share to say anything
TOTAL_ERROR = (0.10, 0.30)  # |holdout total error| at or above: caution, unreliable
RETURN_GAP = 0.10  # largest |predicted - actual| share returning across P(alive) tenths above: caution
LEVELS = ("ok", "caution", "unreliable")
VERDICT = {"ok": "validated", "caution": "caution", "unreliable": "unreliable"}
NOT_COMPUTED = "not computed"  # the verdict when no purchase model could be fitted


def _pct(x, digits: int = 1) -> str:
    return f"{100 * float(x):.{digits}f} %"


def _int(n) -> str:
    return f"{int(round(float(n))):,}"


# ================================================================ left truncation


@dataclass
class Truncation:
    detected: bool
    periods: pd.DataFrame  # period, start, customers, eligible, early_mean, early_var, ratio, z, burn_in
    window_days: int
    kind: str
    first_customers: int = 0
    later_median: float = float("nan")
    bunching: float = float("nan")
    early_ratio: float = float("nan")
    early_z: float = float("nan")
    reference: float = float("nan")
    burn_in_periods: int = 0
    burn_in_end: pd.Timestamp | None = None  # first day after the burn-in
    customers_before: int = 0  # first seen within the burn-in
    customers_after: int = 0  # acquired after it
    note: str | None = None  # why the check could not judge

    @property
    def calibrate_from(self) -> int | None:
        """Epoch day from which customers calibrate the models (None: all of them)."""
        return clv.epoch_day(self.burn_in_end) if self.detected and self.burn_in_end is not None else None


def early_repeats(orders, summary: clv.Summary, window_days: int) -> pd.Series:
    """Each customer's repeat purchase occasions within ``window_days`` after their first
    purchase (counted in the engine, one number per customer), aligned with the summary rows."""
    p = clv.purchases(orders, same_day=summary.same_day)  # type: ignore[arg-type]
    p = p.filter(p._day <= summary.end_day)
    p = p.mutate(first_day=p._day.min().over(group_by=p.customer_id))
    early = p.filter(~p._first & (p._day <= p.first_day + int(window_days)))
    counts = early.group_by("customer_id").aggregate(k=early.count()).execute()
    k = summary.frame[["customer_id"]].merge(counts, on="customer_id", how="left")["k"]
    return k.fillna(0).astype(float).set_axis(summary.frame.index)


def detect_truncation(first_day: pd.Series, early: pd.Series, end: pd.Timestamp, kind: str,
                      window_days: int = WINDOW_DAYS) -> Truncation:
    """Left truncation from customers' first purchase dates (``first_day``, timestamps) and
    their repeat purchases within ``window_days`` of it (``early``); ``end`` is the last day
    observed, ``kind`` the brand's period (month, quarter, week). See the module's docstring."""
    freq = PANDAS_FREQ[kind]
    end = pd.Timestamp(end).normalize()
    first = pd.to_datetime(first_day).dt.normalize()
    period = first.dt.to_period(freq)
    span = pd.period_range(period.min(), end.to_period(freq), freq=freq) if len(first) else pd.PeriodIndex([], freq=freq)
    eligible = (first + pd.Timedelta(days=int(window_days))) <= end
    d = pd.DataFrame({"period": period, "k": early.to_numpy(dtype=float), "eligible": eligible.to_numpy()})
    g = d.groupby("period", observed=True)
    e = d[d["eligible"]].groupby("period", observed=True)["k"]
    table = pd.DataFrame({"customers": g.size(), "eligible": e.size(), "early_mean": e.mean(),
                          "early_var": e.var(ddof=1)}).reindex(span)
    table["customers"] = table["customers"].fillna(0).astype(int)
    table["eligible"] = table["eligible"].fillna(0).astype(int)
    table.index.name = "period"
    table = table.reset_index()
    table["start"] = table["period"].map(lambda p: p.start_time.normalize())
    table["ratio"], table["z"], table["burn_in"] = np.nan, np.nan, False
    res = Truncation(detected=False, periods=table, window_days=int(window_days), kind=kind)
    if len(table) < 3:
        res.note = f"fewer than three {kind}s of data"
        return res
    res.first_customers = int(table["customers"].iloc[0])
    res.later_median = float(table["customers"].iloc[1:].median())
    res.bunching = res.first_customers / res.later_median if res.later_median > 0 else float("inf")
    later = table.iloc[1:]
    ref_rows = later[later["eligible"] >= MIN_COHORT]
    if ref_rows.empty:
        res.note = (f"no later cohort has {MIN_COHORT} customers observed for {window_days} days after their first "
                    "purchase")
        return res
    res.reference = float(ref_rows["early_mean"].median())
    pooled = d[d["eligible"] & d["period"].isin(ref_rows["period"])]["k"]
    ref_var, ref_n = float(pooled.var(ddof=1)), len(pooled)
    with np.errstate(all="ignore"):
        table["ratio"] = table["early_mean"] / res.reference
        se = np.sqrt(table["early_var"] / table["eligible"] + ref_var / ref_n)
        table["z"] = (table["early_mean"] - res.reference) / se
    res.early_ratio, res.early_z = float(table["ratio"].iloc[0]), float(table["z"].iloc[0])
    res.detected = bool(res.bunching >= BUNCHING and res.early_ratio >= EARLY_RATIO and res.early_z >= EARLY_Z
                        and table["eligible"].iloc[0] >= MIN_COHORT)
    if not res.detected:
        return res
    cap = max(1, len(table) // 3)
    n = 1
    while n < cap and table["ratio"].iloc[n] >= BURN_IN_RATIO and table["z"].iloc[n] >= BURN_IN_Z:
        n += 1
    table.loc[: n - 1, "burn_in"] = True
    res.burn_in_periods = n
    res.burn_in_end = table["start"].iloc[n]
    res.customers_before = int(table["customers"].iloc[:n].sum())
    res.customers_after = int(table["customers"].iloc[n:].sum())
    return res


def truncation(run, hist_res: clv.HistoryResult, window_days: int | None = None) -> Truncation:
    """:func:`detect_truncation` on the run's customers (summary to the period end); the window
    shrinks to a quarter of the history when the history is shorter than four windows."""
    f = hist_res.summary.frame
    if window_days is None:
        history_days = int(f["T_days"].max()) if len(f) else 0
        window_days = WINDOW_DAYS if history_days >= 4 * WINDOW_DAYS else max(14, history_days // 4)
    early = early_repeats(run.orders, hist_res.summary, window_days)
    return detect_truncation(f["first_day"], early, hist_res.summary.end, run.params.period, window_days)


# ================================================================ holdout calibration by decile


def _tenths(values: np.ndarray) -> np.ndarray:
    """1..10: customers ranked by value (ties in row order) into ten groups of equal size."""
    n = values.size
    order = np.argsort(values, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return (rank * 10 // max(n, 1)) + 1


def holdout_scores(hold: clv.HoldoutResult) -> pd.DataFrame:
    """Per calibration customer, for the chosen model: predicted and actual holdout purchases,
    P(alive) at the calibration end, the predicted chance of at least one holdout purchase, and
    whether the customer was acquired after the burn-in. Computed once per distinct pattern."""
    fit = hold.fits[hold.choice["model"]]
    f = hold.summary.frame
    x, t_x, T = (f[c].to_numpy(dtype=float) for c in ("x", "t_x", "T"))
    pattern, first = clv._codes(x, t_x, T)
    alive = fit.p_alive(x[first], t_x[first], T[first])[pattern]
    none = fit.p_no_purchase(hold.holdout, x[first], t_x[first], T[first])[pattern]
    new = np.ones(len(f), dtype=bool) if hold.calibrate_from is None else \
        f["first_epoch_day"].to_numpy() >= hold.calibrate_from
    return pd.DataFrame({"predicted": hold.pred[hold.choice["model"]].to_numpy(dtype=float),
                         "actual": hold.pred["actual"].to_numpy(dtype=float), "p_alive": alive,
                         "p_return": 1.0 - none, "after_burn_in": new})


def decile_calibration(scores: pd.DataFrame) -> dict:
    """Two tables of ten rows: customers ranked by predicted holdout purchases (mean predicted vs
    actual purchases, predicted vs actual share buying at all) and by P(alive) (mean P(alive),
    predicted vs actual share buying at all in the holdout); and the summary figures the
    reliability check reads."""
    out = {}
    for key, col in (("purchases", "predicted"), ("p_alive", "p_alive")):
        d = scores.assign(tenth=_tenths(scores[col].to_numpy(dtype=float)), returned=scores["actual"] > 0)
        g = d.groupby("tenth")
        t = pd.DataFrame({"customers": g.size(), "low": g[col].min(), "high": g[col].max(),
                          "predicted": g["predicted"].mean(), "actual": g["actual"].mean(),
                          "p_alive": g["p_alive"].mean(), "p_return": g["p_return"].mean(),
                          "returned": g["returned"].mean()})
        out[key] = t
    by_alive = out["p_alive"]
    gap = (by_alive["p_return"] - by_alive["returned"]).abs()
    top = out["purchases"].iloc[-1]
    out["max_return_gap"] = float(gap.max())
    out["max_return_gap_tenth"] = int(gap.idxmax())
    out["top_tenth_ratio"] = float(top["actual"] / top["predicted"]) if top["predicted"] > 0 else float("nan")
    return out


def decile_table(cal: dict, key: str) -> pd.DataFrame:
    """A calibration table formatted for reading."""
    t = cal[key]
    what = "predicted holdout purchases" if key == "purchases" else "P(alive) at the calibration end"
    return pd.DataFrame({
        f"tenth by {what}": t.index, "customers": t["customers"].map("{:,}".format),
        "range": [f"{lo:.2f}–{hi:.2f}" for lo, hi in zip(t["low"], t["high"], strict=True)],
        "purchases per customer: predicted": t["predicted"].round(2), "actual": t["actual"].round(2),
        "mean P(alive)": t["p_alive"].round(2),
        "bought in the holdout: predicted": t["p_return"].map(_pct), "actual share": t["returned"].map(_pct),
    }).set_index(f"tenth by {what}")


def segment_table(scores: pd.DataFrame) -> pd.DataFrame | None:
    """Holdout totals for customers acquired after the burn-in and those first seen within it
    (None without a burn-in)."""
    if scores["after_burn_in"].all():
        return None
    rows = []
    for label, mask in (("acquired after the burn-in", scores["after_burn_in"]),
                        ("first seen within the burn-in", ~scores["after_burn_in"])):
        s = scores[mask]
        rows.append({"customers": len(s), "predicted": s["predicted"].sum(), "actual": s["actual"].sum(),
                     "total_error": s["predicted"].sum() / s["actual"].sum() - 1 if s["actual"].sum() > 0 else np.nan,
                     "group": label})
    return pd.DataFrame(rows).set_index("group")


# ================================================================ figures the sanity checks compare with


def lifecycle_churn(run, customer_ids: pd.Series) -> dict | None:
    """The share of the CLV's customers the lifecycle counts as churned at the period end: the
    stage notebook 02 wrote to the run's customer table, or, when it did not run, the same rule
    (no purchase day for more than the churn threshold, from the brand's own gaps unless the
    params set it) computed here in the engine."""
    from helpers import lifecycle

    ids = pd.DataFrame({"customer_id": customer_ids.to_numpy()})
    current = run.customers()
    if current is not None and "stage" in current.columns:
        stage = ids.merge(current[["customer_id", "stage"]], on="customer_id", how="left")["stage"]
        if stage.notna().any():
            churned = (stage == "churned").to_numpy()
            return {"share": float(churned.mean()), "churned": churned, "source": "the lifecycle stage of notebook 02"}
    days = lifecycle.purchase_days(run.orders)
    end_day = clv.epoch_day(run.period_end)
    days = days.filter(days.day <= end_day)
    th = lifecycle.choose_thresholds(lifecycle.gap_histogram(days), run.params.lifecycle)
    last = days.group_by("customer_id").aggregate(last=days.day.max()).execute()
    rec = ids.merge(last, on="customer_id", how="left")["last"]
    churned = ((end_day - rec) > th.churn_days).to_numpy()
    return {"share": float(churned.mean()), "churned": churned,
            "source": f"no purchase for more than {th.churn_days} days (the lifecycle's churn rule)"}


def past_purchases(run) -> dict:
    """Purchase occasions (the CLV's own counting of same-day orders) of all customers in the
    365 days to the period end and, when the data cover them, the 365 days before."""
    p = run.params.clv
    d = clv.purchases(run.orders, same_day=p.same_day)
    end = clv.epoch_day(run.period_end)
    d = d.filter(d._day <= end)
    agg = d.aggregate(first=d._day.min(), last_year=(d._day > end - 365).sum(),
                      year_before=((d._day > end - 730) & (d._day <= end - 365)).sum()).execute().iloc[0]
    covered = int(agg["first"]) <= end - 729
    return {"past_year": float(agg["last_year"]), "year_before": float(agg["year_before"]) if covered else None,
            "growth": float(agg["last_year"] / agg["year_before"]) if covered and agg["year_before"] > 0 else None,
            "days": int(end - agg["first"]) + 1 if pd.notna(agg["first"]) else 0}  # days of the past year in the data


def audit_readiness(run) -> dict | None:
    """Notebook 01's readiness verdict for lifecycle and CLV models (metrics.json, audit), with
    the figures and thresholds behind it; None when the audit has not run."""
    audit = (run.read_metrics() or {}).get("audit") or {}
    if not audit.get("readiness"):
        return None
    need = run.params.readiness
    return {"verdict": audit["readiness"], "repeat_customers": audit.get("repeat_customers"),
            "history_days": audit.get("history_days"), "min_repeat_customers": need.min_repeat_customers,
            "min_history_days": need.min_history_days}


# ================================================================ the reliability verdict


@dataclass
class Reliability:
    verdict: str  # validated / caution / unreliable, or 'not computed' (no purchase model: no CLV to judge)
    checks: pd.DataFrame  # check, level, value, threshold, text
    reasons: list[str] = field(default_factory=list)
    figures: dict = field(default_factory=dict)


def dropout_share(fit: clv.PurchaseFit, hist: clv.Histogram) -> tuple[float, str]:
    """How much dropout the fit allows: the mean dropout probability per purchase (BG-type
    models, a / (a + b)) or the share expected to drop out over the observed history (Pareto/NBD)."""
    if fit.model in ("bgnbd", "mbgnbd"):
        return fit.params["a"] / (fit.params["a"] + fit.params["b"]), "mean dropout probability per purchase"
    horizon = float(hist.T.max())
    lost = 1 - (fit.params["beta"] / (fit.params["beta"] + horizon)) ** fit.params["s"]
    return float(lost), f"share expected to drop out over {horizon:.0f} {hist.unit.plural}"


def reliability(res: clv.ClvResult, hold: clv.HoldoutResult, trunc: Truncation | None, churn: dict | None,
                past: dict | None, cal: dict | None, readiness: dict | None = None) -> Reliability:
    """The sanity checks on the fit used for the CLV and the verdict (the worst level). Without a
    purchase model there is nothing to check: the verdict is 'not computed', its reason why."""
    if not res.fitted:
        checks = pd.DataFrame([{"check": "purchase_model", "level": "not computed", "value": float("nan"),
                                "threshold": float("nan"), "text": res.skipped}])
        return Reliability(verdict=NOT_COMPUTED, checks=checks, reasons=[res.skipped],
                           figures={"p_alive_mean": None, "forecast_365": None, "dropout": None,
                                    "past_year_purchases": past["past_year"] if past else None,
                                    "lifecycle_churned_share": churn["share"] if churn else None})
    rows = []

    def add(check, level, value, threshold, text):
        rows.append({"check": check, "level": level, "value": value, "threshold": threshold, "text": text})

    fit, pr = res.fit, res.predictions
    params = ", ".join(f"{k} = {v:.3g}" for k, v in fit.params.items())
    dropout, what = dropout_share(fit, res.fitted_on)
    if dropout < DROPOUT_FLOOR:
        add("dropout", "unreliable", dropout, DROPOUT_FLOOR,
            f"The {fit.name} finds no dropout ({what} {dropout:.1e}; {params}): the data cannot tell lost customers from "
            "slow ones, so every customer counts as alive and keeps buying for the whole horizon.")
    else:
        add("dropout", "ok", dropout, DROPOUT_FLOOR, f"The {fit.name} identifies dropout ({what} {dropout:.3g}).")

    mean_alive = float(pr["p_alive"].mean())
    if churn is not None:
        # BG/NBD lets customers drop out only after a repeat purchase: every one-time buyer has
        # P(alive) = 1 by construction, so its P(alive) is compared among the repeat buyers.
        among = np.ones(len(pr), dtype=bool)
        who, note = "all customers", ""
        if fit.model == "bgnbd":
            among = res.summary.frame["x"].to_numpy() > 0
            who = f"the {_int(among.sum())} repeat buyers"
            note = (" (BG/NBD counts every one-time buyer as alive by construction — dropout happens only after a "
                    "repeat purchase — so its P(alive) is compared among repeat buyers only; for one-time buyers "
                    "read the lifecycle stage)")
        churned = np.asarray(churn["churned"], dtype=bool)[among]
        share = float(churned.mean()) if churned.size else 0.0
        alive = pr["p_alive"].to_numpy(dtype=float)[among]
        if share >= MIN_CHURNED and alive.size:
            lost = 1 - float(alive.mean())
            ratio = lost / share
            alive_churned = float(alive[churned].mean()) if churned.any() else float("nan")
            level = "unreliable" if ratio < LOST_RATIO[0] else "caution" if ratio < LOST_RATIO[1] else "ok"
            add("p_alive_vs_lifecycle", level, ratio, LOST_RATIO[0] if level == "unreliable" else LOST_RATIO[1],
                f"Mean P(alive) of {who} is {1 - lost:.2f}, so the model counts {_pct(lost)} of them as gone, against "
                f"{_pct(share)} churned by {churn['source']} ({ratio:.2f}x); those the lifecycle calls churned have "
                f"mean P(alive) {alive_churned:.2f}{note}." + (" The two disagree." if level != "ok" else ""))
        else:
            add("p_alive_vs_lifecycle", "ok", float("nan"), MIN_CHURNED,
                f"Mean P(alive) of {who} is {alive.mean() if alive.size else float('nan'):.2f}; the lifecycle counts only "
                f"{_pct(share)} of them as churned, too few to check it against{note}.")

    if readiness is not None and readiness["verdict"] == "not ready":
        add("readiness", "unreliable", float("nan"), float("nan"),
            f"The audit (notebook 01) finds the data not ready for CLV models: {_int(readiness['repeat_customers'])} "
            f"customers bought on two or more days (params readiness.min_repeat_customers: "
            f"{_int(readiness['min_repeat_customers'])}) over {_int(readiness['history_days'])} days of history "
            f"(readiness.min_history_days: {_int(readiness['min_history_days'])}); the model has too little to learn "
            "from, so its figures show how the method works, not what this brand's customers will do.")

    forecast = float(pr["expected_purchases_365"].sum())
    if past is not None and past.get("days", 365) < 365:
        add("forecast_vs_past_year", "caution", float("nan"), float("nan"),
            f"The data hold only {_int(past['days'])} days of the past 12 months ({past['past_year']:,.0f} purchases), "
            f"so the next 12 months' forecast of {forecast:,.0f} repeat purchases cannot be checked against a past year.")
    elif past is not None and past["past_year"] > 0:
        growth = past["growth"]
        ceiling = past["past_year"] * max(1.0, growth or 1.0)
        grow_text = (f"year-on-year growth {100 * (growth - 1):+.1f} %" if growth is not None
                     else "less than two years of data: no year-on-year growth to support more")
        if forecast > ceiling:
            add("forecast_vs_past_year", "unreliable", forecast / past["past_year"], ceiling / past["past_year"],
                f"The next 12 months' forecast of {forecast:,.0f} repeat purchases by today's customers exceeds all "
                f"{past['past_year']:,.0f} purchases (new customers' first ones included) of the past 12 months "
                f"({grow_text}).")
        else:
            add("forecast_vs_past_year", "ok", forecast / past["past_year"], ceiling / past["past_year"],
                f"The next 12 months' forecast of {forecast:,.0f} repeat purchases is {_pct(forecast / past['past_year'], 0)} "
                f"of the past 12 months' {past['past_year']:,.0f} purchases ({grow_text}).")

    if hold.choice is None:
        add("holdout", "caution", float("nan"), float("nan"),
            f"The model could not be checked on a holdout ({hold.skipped}).")
    else:
        c = hold.choice
        err = abs(c["total_error"])
        level = "unreliable" if err >= TOTAL_ERROR[1] else "caution" if err >= TOTAL_ERROR[0] else "ok"
        add("holdout_total", level, c["total_error"], TOTAL_ERROR[0] if level != "unreliable" else TOTAL_ERROR[1],
            f"On the holdout the {c['label']}'s total was off by {100 * c['total_error']:+.1f} % "
            f"({'within' if level == 'ok' else 'beyond'} ±{100 * TOTAL_ERROR[0]:.0f} %).")
        add("holdout_baseline", "ok" if c["beats_baseline"] else "caution", c["improvement"], 0.0,
            f"Per customer it {'beats' if c['beats_baseline'] else 'does not clearly beat'} the naive baseline "
            f"(RMSE {c['rmse']:.3f} vs {c['baseline_rmse']:.3f}).")
    if cal is not None:
        gap = cal["max_return_gap"]
        add("decile_calibration", "caution" if gap > RETURN_GAP else "ok", gap, RETURN_GAP,
            f"Across tenths of P(alive) the predicted share buying in the holdout is within {100 * gap:.1f} points of "
            f"the actual share ({'more' if gap > RETURN_GAP else 'no more'} than {100 * RETURN_GAP:.0f})."
            if gap <= RETURN_GAP else
            f"Across tenths of P(alive) the predicted share buying in the holdout misses the actual share by up to "
            f"{100 * gap:.1f} points (tenth {cal['max_return_gap_tenth']}; more than {100 * RETURN_GAP:.0f}).")
    if trunc is not None and trunc.detected:
        add("left_truncation", "caution", trunc.early_ratio, EARLY_RATIO,
            f"The data start mid-history: the models were calibrated on the {_int(trunc.customers_after)} customers "
            f"acquired from {trunc.burn_in_end:%Y-%m-%d}; the {_int(trunc.customers_before)} first seen before are "
            "predicted from that fit with their age understated.")

    checks = pd.DataFrame(rows, columns=["check", "level", "value", "threshold", "text"])
    worst = max(checks["level"], key=LEVELS.index) if len(checks) else "caution"
    flagged = checks[checks["level"] != "ok"]
    reasons = list((flagged if len(flagged) else checks)["text"])
    figures = {"p_alive_mean": mean_alive, "forecast_365": forecast, "dropout": dropout,
               "past_year_purchases": past["past_year"] if past else None,
               "lifecycle_churned_share": churn["share"] if churn else None}
    return Reliability(verdict=VERDICT[worst], checks=checks, reasons=reasons, figures=figures)


def checks_table(rel: Reliability) -> pd.DataFrame:
    return rel.checks[["check", "level", "text"]].set_index("check")


# ================================================================ sensitivity


def _discounted(res: clv.ClvResult, schedules: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (x, t_x, T) pattern: discounted expected purchases under each monthly discount
    schedule (columns of ``schedules``, months x K; 0 after a shorter horizon), shape
    (patterns, K), and P(alive); with each customer's pattern row. One pass over the patterns
    for every schedule: the month increments are shared."""
    f = res.summary.frame
    pat = f.groupby("row")[["x", "t_x", "T"]].first().sort_index()
    edges = res.summary.unit.from_months(np.arange(0, schedules.shape[0] + 1))
    pred = clv.pattern_predictions(res.fit.model, res.fit.values, *(pat[c].to_numpy(dtype=float) for c in ("x", "t_x", "T")),
                                   edges=edges, d=schedules)
    return pred["disc"], pred["alive"][:, 0], f["row"].to_numpy()


def _schedule(rate: float, months: int, longest: int) -> np.ndarray:
    d = np.zeros(longest)
    d[: int(months)] = clv.discount_factors(months, rate)
    return d


def _totals(res: clv.ClvResult, schedules: np.ndarray):
    """margin -> total CLV under each schedule (K,), summed as ``predictions['clv'].sum()``:
    customers without an expected spend are left out."""
    s = res.settings
    disc, alive, rows = _discounted(res, schedules)
    spend = res.predictions["expected_spend"].to_numpy(dtype=float)
    known = np.isfinite(spend)
    n = len(disc)
    spend_by_pattern = np.bincount(rows[known], weights=spend[known], minlength=n)
    known_by_pattern = np.bincount(rows[known], minlength=n)
    spend_disc = spend_by_pattern @ disc  # (K,): sum over customers of spend x discounted purchases
    cost = s.cost_to_serve_per_year / 12.0 * schedules.sum(axis=0) * float(known_by_pattern @ alive)
    return lambda margin: margin * (1 - s.refund_share) * spend_disc - cost


def total_clv(res: clv.ClvResult, margin: float, rate: float, months: int) -> float:
    """Total CLV with another margin, annual discount rate or horizon (as customer_predictions)."""
    return float(_totals(res, _schedule(rate, months, int(months))[:, None])(margin)[0])


def sensitivity(res: clv.ClvResult, margins=None, rates=None, horizons=None) -> pd.DataFrame:
    """Total CLV (as customer_predictions) at a grid of margins, discount rates and horizons, one
    varied at a time (the others at the params' values). Default grids: the margin x 0.5 .. 1.5,
    rates 0-20 %, and 6 to 36 months; the params' own values are always in. The total is linear
    in the margin, so only the rate x horizon schedules need the model."""
    s = res.settings
    margins = margins if margins is not None else [m for m in np.round(s.margin * np.array([0.5, 0.75, 1, 1.25, 1.5]), 4)
                                                   if 0 < m <= 1]
    rates = rates if rates is not None else [0.0, 0.05, 0.10, 0.15, 0.20]
    horizons = horizons if horizons is not None else [6, 12, 24, 36]
    grids = (("margin", margins, s.margin), ("annual discount rate", rates, s.annual_discount_rate),
             ("horizon (months)", horizons, s.horizon_months))
    cases = [(name, v) for name, grid, current in grids for v in sorted(set(map(float, grid)) | {float(current)})]
    schedule_of = {"margin": lambda v: (s.annual_discount_rate, s.horizon_months),
                   "annual discount rate": lambda v: (v, s.horizon_months),
                   "horizon (months)": lambda v: (s.annual_discount_rate, int(v))}
    keys = sorted({schedule_of[name](v) for name, v in cases})
    longest = max(m for _, m in keys)
    schedules = np.column_stack([_schedule(r, m, longest) for r, m in keys])
    totals = _totals(res, schedules)

    def total(margin: float, key) -> float:
        return float(totals(margin)[keys.index(key)])

    base = total(s.margin, (s.annual_discount_rate, s.horizon_months))
    rows = []
    for name, v in cases:
        current = dict((g[0], g[2]) for g in grids)[name]
        value = total(v if name == "margin" else s.margin, schedule_of[name](v))
        rows.append({"varied": name, "value": v, "params value": v == current, "total_clv": value,
                     "vs_params": value / base - 1 if base else np.nan})
    return pd.DataFrame(rows)


# ================================================================ metrics


def metrics(rel: Reliability, trunc: Truncation | None, cal: dict | None, sens: pd.DataFrame | None) -> dict:
    """Keys added to the clv section of metrics.json."""
    out = {"reliability": rel.verdict, "reliability_reasons": list(rel.reasons),
           "reliability_checks": {r.check: r.level for r in rel.checks.itertuples()},
           "past_year_purchases": rel.figures["past_year_purchases"],
           "lifecycle_churned_share": rel.figures["lifecycle_churned_share"],
           "dropout": rel.figures["dropout"]}
    if trunc is not None:
        out["left_truncation"] = {
            "detected": bool(trunc.detected), "first_period_customers": int(trunc.first_customers),
            "later_median_customers": float(trunc.later_median),
            "bunching": float(trunc.bunching) if np.isfinite(trunc.bunching) else None,
            "early_repeat_ratio": float(trunc.early_ratio), "window_days": int(trunc.window_days),
            "burn_in_periods": int(trunc.burn_in_periods),
            "burn_in_end": None if trunc.burn_in_end is None else f"{trunc.burn_in_end:%Y-%m-%d}",
            "customers_before": int(trunc.customers_before), "customers_after": int(trunc.customers_after)}
    if cal is not None:
        out["holdout_deciles"] = {
            "max_return_gap": cal["max_return_gap"], "top_tenth_actual_to_predicted": cal["top_tenth_ratio"],
            "by_predicted": {int(k): [float(r.predicted), float(r.actual)] for k, r in cal["purchases"].iterrows()},
            "by_p_alive": {int(k): [float(r.p_alive), float(r.p_return), float(r.returned)]
                           for k, r in cal["p_alive"].iterrows()}}
    if sens is not None:
        out["sensitivity"] = [{"varied": r.varied, "value": float(r.value), "total": float(r.total_clv)}
                              for r in sens.itertuples()]
    return out
