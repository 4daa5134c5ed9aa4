"""Words of notebook 04 (customer lifetime value): findings and table headers, per language.

The statistics (:mod:`helpers.clv`, :mod:`helpers.clv_checks`) return numbers; the functions
here word them with a :class:`helpers.text.formats.Formats` (``run.fmt``), every word from the
catalogue (``clv.*`` in ``helpers/text/<language>/clv.yaml``). Functions named ``*_detail``
word the technical side (model names, parameters, per-customer errors) for the analyst cells.

Presentation layer: imports the analysis modules, never the reverse; computes no statistic.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from helpers import clv, clv_checks
from helpers.text import common
from helpers.text.formats import Formats

UNIT_KEYS = {"day": "clv.unit.day", "week": "clv.unit.week"}
VERDICT_KEYS = {"validated": "clv.reliability.validated", "caution": "clv.reliability.caution",
                "unreliable": "clv.reliability.unreliable"}
# The shared plain reasons of the summary page (helpers/text/<language>.yaml), per check.
CHECK_KEYS = {"purchase_model": "reliability.check.purchase_model", "dropout": "reliability.check.dropout",
              "p_alive_vs_lifecycle": "reliability.check.p_alive_vs_lifecycle",
              "readiness": "reliability.check.readiness",
              "forecast_vs_past_year": "reliability.check.forecast_vs_past_year",
              "holdout": "reliability.check.holdout", "holdout_total": "reliability.check.holdout_total",
              "holdout_baseline": "reliability.check.holdout_baseline",
              "decile_calibration": "reliability.check.decile_calibration",
              "left_truncation": "reliability.check.left_truncation"}
STAGE_KEYS = {"new": "clv.stage.new", "returning": "clv.stage.returning", "active": "clv.stage.active",
              "dormant": "clv.stage.dormant", "churned": "clv.stage.churned", "unknown": "clv.stage.unknown"}
SENSITIVITY_KEYS = {"margin": "clv.sensitivity.margin", "annual discount rate": "clv.sensitivity.rate",
                    "horizon (months)": "clv.sensitivity.horizon"}


def _span(fmt: Formats, unit: clv.TimeUnit, n: float) -> str:
    """A length in the CLV's time unit: 13 weeks / 13周."""
    return fmt.weeks(n) if unit.name == "week" else fmt.days(n)


def _day(fmt: Formats, epoch_day) -> str:
    return fmt.date(clv.from_epoch_day(epoch_day))


def _ratio(fmt: Formats, x: float, decimals: int = 2) -> str:
    return fmt.number(x, decimals)


def _list(fmt: Formats, items) -> str:
    return fmt.t("fmt.list_sep").join(items)


# ================================================================ 1. history


def history(res: clv.HistoryResult, fmt: Formats) -> list[str]:
    f = res.summary.frame
    customers = fmt.count(len(f))
    if not (f["x"] > 0).any():
        return [fmt.t("clv.history.none_twice.one" if len(f) == 1 else "clv.history.none_twice.other",
                      customers=customers)]
    return [fmt.t("clv.history.bought", customers=customers, date=fmt.date(res.summary.end),
                  once=fmt.share((f["x"] == 0).mean()), repeats=fmt.number(f.loc[f["x"] > 0, "x"].mean(), 1))]


def history_detail(res: clv.HistoryResult, fmt: Formats) -> list[str]:
    return [fmt.t("clv.history.patterns", unit=fmt.t(UNIT_KEYS[res.summary.unit.name]),
                  patterns=fmt.count(len(res.hist.frame)))]


def truncation(t: clv_checks.Truncation, fmt: Formats) -> list[str]:
    if t.note:
        why = (fmt.t("clv.truncation.why_short") if len(t.periods) < 3 else
               fmt.t("clv.truncation.why_cohort", customers=fmt.count(clv_checks.MIN_COHORT), days=fmt.count(t.window_days)))
        return [fmt.t("clv.truncation.not_checked", why=why)]
    first = t.periods.iloc[0]
    ratio = (fmt.t("clv.truncation.closed") if not np.isfinite(t.bunching)
             else fmt.t("clv.truncation.ratio", ratio=fmt.number(t.bunching, 1)))
    facts = fmt.t("clv.truncation.facts", customers=fmt.count(t.first_customers), period=fmt.period(str(first["period"])),
                  median=fmt.count(t.later_median), ratio=ratio, days=fmt.count(t.window_days),
                  early=_ratio(fmt, first["early_mean"]), reference=_ratio(fmt, t.reference),
                  early_ratio=_ratio(fmt, t.early_ratio), z=fmt.number(t.early_z, 1))
    if not t.detected:
        return [fmt.t("clv.truncation.not_detected", facts=facts)]
    return [fmt.t("clv.truncation.detected", facts=facts),
            fmt.t("clv.truncation.burn_in", periods=fmt.t("clv.truncation.periods.one" if t.burn_in_periods == 1 else "clv.truncation.periods.other",
                                 n=fmt.count(t.burn_in_periods)),
                  last_day=fmt.date(t.burn_in_end - pd.Timedelta(days=1)), first_day=fmt.date(t.burn_in_end),
                  after=fmt.count(t.customers_after), before=fmt.count(t.customers_before))]


# ================================================================ 2. the test on months held back


def test_span(res: clv.HoldoutResult, fmt: Formats) -> str:
    """How long the test period was: 13 weeks / 13周."""
    return _span(fmt, res.unit, res.holdout)


def holdout(res: clv.HoldoutResult, fmt: Formats) -> list[str]:
    """The forecast's test in plain words: what happened in the months held back, how close the
    total came, and whether it beats a naive forecast customer by customer."""
    if res.choice is None:
        date = fmt.date(res.cal_end)
        if res.summary is None or len(res.summary.frame) == 0:
            return [fmt.t("clv.test.too_short", date=date, span=_span(fmt, res.unit, res.holdout))]
        if res.summary.frame["x"].sum() == 0:
            return [fmt.t("clv.test.no_repeat", date=date)]
        return [fmt.t("clv.test.no_fit", date=date)]
    c, t = res.choice, res.table
    n = len(res.summary.frame)
    lines = [fmt.t("clv.test.setup", date=fmt.date(res.cal_end), span=_span(fmt, res.unit, res.holdout),
                   customers=fmt.count(n), actual=fmt.count(t["actual"].iloc[0]))]
    if res.calibrate_from is not None:
        lines.append(fmt.t("clv.test.burn_in", fitted=fmt.count(res.fit_customers), date=_day(fmt, res.calibrate_from),
                           customers=fmt.count(n)))
    error = c["total_error"]
    direction = fmt.t("clv.test.under" if error < 0 else "clv.test.over")
    lines.append(fmt.t("clv.test.total_close" if abs(error) < 0.1 else "clv.test.total_off",
                       error=fmt.share(abs(error)), direction=direction))
    if c["beats_baseline"]:
        lines.append(fmt.t("clv.test.beats", improvement=fmt.share(c["improvement"])))
    elif c["lower_than_baseline"]:
        lines.append(fmt.t("clv.test.not_clearly"))
    else:
        lines.append(fmt.t("clv.test.not_better"))
    return lines


def holdout_detail(res: clv.HoldoutResult, fmt: Formats) -> list[str]:
    """Which model was kept and why, with the per-customer errors (analyst detail)."""
    if res.choice is None:
        return [*(fmt.t("clv.choice.left_out", model=clv.MODEL_NAMES.get(m, m), why=why) for m, why in res.failed.items())]
    c = res.choice

    def error(v):
        return fmt.number(v, 3)

    def pairs(values: dict, show) -> str:
        return _list(fmt, [fmt.t("clv.choice.model_value", model=k, value=show(v)) for k, v in values.items()])

    others = pairs(c["others"], error)
    if len(c["tied"]) > 1:
        totals = fmt.t("clv.choice.totals", totals=pairs({c["label"]: c["total_error"], **c["other_totals"]},
                                                         lambda v: fmt.share(v, plus=True)))
        dropped = [m for m in c["tied"] if m not in c["total_tied"]]
        if "holdout total among" in c["by"]:
            why = fmt.t("clv.choice.by_total", totals=totals)
        else:
            why = fmt.t("clv.choice.by_fit", models=_list(fmt, c["total_tied"]), loglik=fmt.number(c["loglik"], 1),
                        totals=totals,
                        dropped=fmt.t("clv.choice.dropped", models=_list(fmt, dropped)) if dropped else "")
        lines = [fmt.t("clv.choice.tied", models=_list(fmt, c["tied"]), model=c["label"], error=error(c["rmse"]),
                       others=others, why=why)]
    else:
        lines = [fmt.t("clv.choice.clear", model=c["label"], error=error(c["rmse"]),
                       others=fmt.t("clv.choice.others", others=others) if others else "")]
    lines.append(fmt.t("clv.choice.baseline", error=error(c["baseline_rmse"])))
    lines += [fmt.t("clv.choice.left_out", model=clv.MODEL_NAMES.get(m, m), why=why) for m, why in res.failed.items()]
    lines += [fmt.t("clv.choice.note", note=fit.warning) for fit in res.fits.values() if fit.warning]
    return lines


def calibration(cal: dict, segments: pd.DataFrame | None, fmt: Formats) -> list[str]:
    p, a = cal["purchases"], cal["p_alive"]
    lines = [fmt.t("clv.calibration.purchases", predicted=_ratio(fmt, p["predicted"].iloc[-1]),
                   actual=_ratio(fmt, p["actual"].iloc[-1]), ratio=_ratio(fmt, cal["top_tenth_ratio"]),
                   bottom_predicted=_ratio(fmt, p["predicted"].iloc[0]), bottom_actual=_ratio(fmt, p["actual"].iloc[0])),
             fmt.t("clv.calibration.alive", top_alive=fmt.share(a["p_alive"].iloc[-1], 0),
                   top_expected=fmt.share(a["p_return"].iloc[-1], 0), top_did=fmt.share(a["returned"].iloc[-1], 0),
                   bottom_alive=fmt.share(a["p_alive"].iloc[0], 0), bottom_expected=fmt.share(a["p_return"].iloc[0], 0),
                   bottom_did=fmt.share(a["returned"].iloc[0], 0), gap=fmt.pp(cal["max_return_gap"]).lstrip("+"),
                   tenth=cal["max_return_gap_tenth"])]
    if segments is not None:
        names = {"acquired after the burn-in": "clv.calibration.after", "first seen within the burn-in": "clv.calibration.within"}
        groups = [fmt.t("clv.calibration.group", group=fmt.t(names[g]), customers=fmt.count(r.customers),
                        predicted=fmt.count(r.predicted), actual=fmt.count(r.actual),
                        error=fmt.share(r.total_error, plus=True)) for g, r in segments.iterrows()]
        lines.append(fmt.t("clv.calibration.groups", groups=fmt.t("fmt.detail_sep").join(groups)))
    return lines


# ================================================================ 3. spend


def extreme(excluded: dict | None, fmt: Formats) -> str | None:
    """What happened to the extreme orders in the spend model (None when there are none)."""
    if not excluded or not excluded["orders"]:
        return None
    above = fmt.t("clv.spend.extreme_above", amount=fmt.money(excluded["threshold"])) if excluded.get("threshold") else ""
    rule = fmt.t("clv.spend.extreme_rule", above=above, z=fmt.number(excluded["outlier_z"], 1))
    n, buyers = excluded["orders"], excluded["customers"]
    customers = fmt.t("clv.spend.customers.one" if buyers == 1 else "clv.spend.customers.other", n=fmt.count(buyers))
    head = fmt.t("clv.spend.extreme_head.one" if n == 1 else "clv.spend.extreme_head.other", n=fmt.count(n),
                 customers=customers, revenue=fmt.money(excluded["revenue"]), rule=rule)
    return fmt.t("clv.spend.extreme_left_out" if excluded["left_out"] else "clv.spend.extreme_kept", head=head)


def spend(res: clv.SpendResult, fmt: Formats, params) -> list[str]:
    if not res.money:
        return [common.no_amount_note(fmt, params, "04")]
    said_extreme = extreme(res.excluded, fmt)
    if res.fit is None:
        return [fmt.t("clv.spend.no_fit"), *([said_extreme] if said_extreme else [])]
    f = res.fit
    lines = [fmt.t("clv.spend.average", spend=fmt.money(f.population_mean), customers=fmt.count(f.customers))]
    correlation = fmt.t("clv.spend.correlation", pearson=fmt.number(f.pearson, 2, plus=True),
                        spearman=fmt.number(f.spearman, 2, plus=True))
    if res.correlation_material:
        lines.append(fmt.t("clv.spend.material", correlation=correlation, threshold=fmt.number(res.warn_at, 2),
                           direction=fmt.t("clv.spend.understated" if f.pearson > 0 else "clv.spend.overstated")))
    else:
        lines.append(fmt.t("clv.spend.small", correlation=correlation))
    margin = fmt.share(params.business.margin, 0)
    if params.cleaning.refunds != "net":
        lines.append(fmt.t("clv.spend.profit_ignored", margin=margin))
    elif res.refund_share > 0:
        lines.append(fmt.t("clv.spend.profit_net", margin=margin, refunds=fmt.share(res.refund_share, 2)))
    else:
        lines.append(fmt.t("clv.spend.profit_no_refunds", margin=margin))
    if said_extreme:
        lines.append(said_extreme)
    return lines


def spend_detail(res: clv.SpendResult, fmt: Formats) -> list[str]:
    if res.fit is None:  # the fitting module's reason, technical (model name, counts)
        return [fmt.t("clv.spend.no_fit_why", why=res.skipped)] if res.money and res.skipped else []
    p, q, gamma = res.fit.values
    lines = [fmt.t("clv.spend.parameters", customers=fmt.count(res.fit.customers), p=fmt.number(p, 2),
                   q=fmt.number(q, 2), gamma=fmt.number(gamma, 2))]
    if res.fit.warning:
        lines.append(fmt.t("clv.choice.note", note=res.fit.warning))
    return lines


# ================================================================ 4. value


def no_model(res: clv.ClvResult, fmt: Formats, min_repeat: int) -> str:
    """Why no purchase model could be fitted and what the brand needs ('' when one was)."""
    if res.fitted:
        return ""
    return fmt.t("clv.no_model.note", reason=no_model_reason(res, fmt, min_repeat))


def no_model_reason(res: clv.ClvResult, fmt: Formats, min_repeat: int) -> str:
    f = res.summary.frame
    repeat = int((f["x"] > 0).sum())
    values = {"customers": fmt.count(len(f)), "date": fmt.date(res.summary.end), "needed": fmt.count(min_repeat),
              "skipped": fmt.t("clv.no_model.skipped")}
    if repeat == 0:
        return fmt.t("clv.no_model.nobody_twice", **values)
    return fmt.t("clv.no_model.too_few", repeat=fmt.count(repeat), **values)


def values(res: clv.ClvResult, fmt: Formats) -> list[str]:
    pr, s = res.predictions, res.settings
    c = clv.concentration(res.value)
    shares = {"top10": fmt.share(c["top_10"], 0), "top1": fmt.share(c["top_1"], 0), "top20": fmt.share(c["top_20"], 0),
              "gini": fmt.number(c["gini"], 2)}
    lines = [fmt.t("clv.value.purchases", purchases=fmt.count(pr["expected_purchases_365"].sum()),
                   customers=fmt.count(len(pr)), alive=fmt.count((pr["p_alive"] >= 0.5).sum()))]
    if not res.money:
        lines.append(fmt.t("clv.value.concentrated_purchases", **shares))
    else:
        cost = fmt.t("clv.value.cost", cost=fmt.money(s.cost_to_serve_per_year)) if s.cost_to_serve_per_year else ""
        lines += [fmt.t("clv.value.clv", months=fmt.count(s.horizon_months), rate=fmt.share(s.annual_discount_rate, 0),
                        cost=cost, total=fmt.money(pr["clv"].sum()), mean=fmt.money(pr["clv"].mean()),
                        median=fmt.money(pr["clv"].median())),
                  fmt.t("clv.value.concentrated", **shares)]
    if c["negative_share"] > 0:
        lines.append(fmt.t("clv.value.negative", share=fmt.share(c["negative_share"])))
    if res.calibrate_from is not None:
        lines.append(fmt.t("clv.value.burn_in", fitted=fmt.count(res.fitted_on.customers), date=_day(fmt, res.calibrate_from),
                           earlier=fmt.count(len(pr) - res.fitted_on.customers)))
    return lines


def values_detail(res: clv.ClvResult, fmt: Formats) -> list[str]:
    lines = [fmt.t("clv.value.model", model=res.fit.name)]
    if res.fit.warning:
        lines.append(fmt.t("clv.choice.note", note=res.fit.warning))
    return lines


def value_table(res: clv.ClvResult, fmt: Formats) -> pd.DataFrame:
    """The key figures of section 4, headed and labelled in the run's language."""
    t, pr, f = fmt.t, res.predictions, res.summary.frame
    rows = [(t("clv.table.customers"), fmt.count(len(pr))),
            *[(t("clv.table.purchases", days=d), fmt.count(pr[f"expected_purchases_{d}"].sum())) for d in (30, 90, 365)]]
    if res.money:
        rows.append((t("clv.table.revenue"), fmt.money((pr["expected_purchases_365"] * pr["expected_spend"]).sum())))
    rows += [(t("clv.table.alive"), fmt.share(pr["p_alive"].mean())),
             (t("clv.table.next_purchase"), fmt.count(pr["expected_next_purchase"].notna().sum()))]
    if res.money:  # purchases only: no money row at all (never a 0 shown as a figure)
        rows += [(t("clv.table.spend"), fmt.money(pr["expected_spend"].mean())),
                 (t("clv.total", months=res.settings.horizon_months), fmt.money(pr["clv"].sum())),
                 (t("clv.table.per_customer"), f"{fmt.money(pr['clv'].mean())} / {fmt.money(pr['clv'].median())}"),
                 (t("clv.table.past_revenue"), fmt.money(f["amount"].sum()))]
    return pd.DataFrame(rows, columns=[t("clv.table.figure"), t("clv.table.value")]).set_index(t("clv.table.figure"))


def cac(table: pd.DataFrame | None, costs: dict, months: int, fmt: Formats) -> list[str]:
    """The customer value set against the cost of acquiring a customer, per channel
    (``clv.cac_report``'s table), or why it is not."""
    if not costs:
        return [fmt.t("clv.cac.no_costs")]
    if table is None or table.empty:
        return [fmt.t("clv.cac.no_channel", channels=_list(fmt, sorted(costs)))]
    lines = []
    for channel, r in table.iterrows():
        key = "clv.cac.below_one" if r.clv_to_cac < 1 else "clv.cac.line"
        lines.append(fmt.t(key, channel=channel, months=fmt.count(months), value=fmt.money(r.mean_clv),
                           cost=fmt.money(r.acquisition_cost), ratio=fmt.number(r.clv_to_cac, 2)))
    return lines


def cac_table(table: pd.DataFrame, fmt: Formats) -> pd.DataFrame:
    """The value-to-acquisition-cost table with plain headers."""
    t = fmt.t
    return pd.DataFrame({
        t("clv.cac.channel"): table.index,
        t("clv.table.customers"): [fmt.count(n) for n in table["customers"]],
        t("clv.cac.mean_value"): table["mean_clv"].map(fmt.money).to_numpy(),
        t("clv.cac.cost"): table["acquisition_cost"].map(fmt.money).to_numpy(),
        t("clv.cac.ratio"): table["clv_to_cac"].map(lambda v: fmt.number(v, 2)).to_numpy(),
    }).set_index(t("clv.cac.channel"))


# ================================================================ 5. how sure


def group_label(group: str, fmt: Formats) -> str:
    """'all customers', 'value: top 10 %', 'stage: active' (the interval table's index) in words."""
    if group == "all customers":
        return fmt.t("clv.group.all")
    kind, _, name = group.partition(": ")
    if kind == "stage":
        return fmt.t("clv.group.stage", stage=fmt.t(STAGE_KEYS[name]) if name in STAGE_KEYS else name)
    shares = [fmt.t("fmt.percent", value=n) for n in re.findall(r"\d+", name)]
    if name.startswith("bottom"):
        return fmt.t("clv.group.bottom", share=shares[0])
    if len(shares) == 2:
        return fmt.t("clv.group.band", lo=shares[0], hi=shares[1])
    return fmt.t("clv.group.top", share=shares[0])


def interval_table(table: pd.DataFrame, fmt: Formats, level: float):
    """The interval table (clv.interval_table) with headers and group names in the run's language."""
    t = fmt.t
    shown = pd.DataFrame({
        t("clv.table.group"): [group_label(g, fmt) for g in table.index],
        t("clv.table.customers"): [fmt.count(n) for n in table["customers"]],
        t("clv.table.interval_value"): table["clv"].map(fmt.money),
        t("clv.table.low", level=fmt.share(level, 0)): table["low"].map(fmt.money),
        t("clv.table.high"): table["high"].map(fmt.money),
        t("clv.table.share"): table["share"].map(fmt.share)})
    return shown.set_index(t("clv.table.group"))


def bootstrap_note(res: clv.ClvResult, fmt: Formats, draws: int, seed: int) -> str:
    """Why there are no ranges, or how many resamples made them."""
    if not res.fitted:
        return fmt.t("clv.intervals.none_no_model")
    if not res.money:
        return fmt.t("clv.intervals.none_no_amount")
    if res.spend.fit is None:
        return fmt.t("clv.intervals.none_no_spend")
    if res.boot is None:
        return fmt.t("clv.intervals.none_no_draws")
    bad = int((~np.isfinite(res.boot.purchase).all(axis=1) | ~np.isfinite(res.boot.spend).all(axis=1)).sum())
    values = {"draws": fmt.count(draws), "seed": seed, "level": fmt.share(res.boot.level, 0)}
    return fmt.t("clv.intervals.bad_draws", bad=fmt.count(bad), **values) if bad else fmt.t("clv.intervals.draws", **values)


def intervals(res: clv.ClvResult, fmt: Formats) -> list[str]:
    if res.draws is None:
        return [bootstrap_note(res, fmt, 0, res.boot_seed)]
    total = res.predictions["clv"].sum()
    plo, phi = clv.interval(res.draws["total"], res.boot.level)
    lo, hi = clv.total_interval(res, res.draws["total"], total)
    top = res.groups.cat.categories[0]
    top_mask = (res.groups == top).to_numpy()
    top_value = res.predictions.loc[top_mask, "clv"].sum()
    tlo, thi = clv.total_interval(res, res.draws["groups"][f"value: {top}"], top_value, top_mask)
    width = (hi - lo) / total if total else np.nan
    pwidth = (phi - plo) / total if total else np.nan
    lines = [fmt.t("clv.intervals.total", total=fmt.money(total),
                   interval=fmt.interval(fmt.money(lo), fmt.money(hi), res.boot.level), half=fmt.share(width / 2, 0),
                   share=fmt.t("fmt.percent", value=re.findall(r"\d+", top)[0]), group_range=fmt.range(fmt.money(tlo), fmt.money(thi)))]
    latent = (fmt.t("clv.intervals.latent", half=fmt.share(clv._latent_band(res, total) / total, 1))
              if res.latent_var is not None and total else "")
    if res.forecast_error is not None:
        lines.append(fmt.t("clv.intervals.with_test", sources=fmt.t("clv.intervals.three" if latent else "clv.intervals.two"),
                           half=fmt.share(pwidth / 2, 1), latent=f"{latent} " if latent else "",
                           error=fmt.share(res.forecast_error), months=fmt.count(res.settings.horizon_months)))
    else:
        lines.append(fmt.t("clv.intervals.without_test", half=fmt.share(pwidth / 2, 1),
                           latent=fmt.t("clv.intervals.latent_and", latent=latent) if latent else ""))
    lines += [fmt.t("clv.intervals.per_customer"), bootstrap_note(res, fmt, res.boot.draws, res.boot_seed)]
    if res.fit.warning and "almost no dropout" in res.fit.warning:
        lines.append(fmt.t("clv.intervals.no_dropout"))
    return lines


def sensitivity(table: pd.DataFrame, fmt: Formats) -> list[str]:
    out = []
    for name, g in table.groupby("varied", sort=False):
        lo, hi = g.loc[g["total_clv"].idxmin()], g.loc[g["total_clv"].idxmax()]
        setting = _setting(name, fmt)
        out.append(fmt.t("clv.sensitivity.line", what=fmt.t(SENSITIVITY_KEYS[name]),
                         lo=setting(g["value"].min()), hi=setting(g["value"].max()),
                         low=fmt.money(lo["total_clv"]), high=fmt.money(hi["total_clv"]),
                         low_change=fmt.share(lo["vs_params"], 0, plus=True),
                         high_change=fmt.share(hi["vs_params"], 0, plus=True)))
    return out


def _setting(name: str, fmt: Formats):
    """How a varied assumption's value reads: 12 months, 60 %, 7.5 %."""
    if name.startswith("horizon"):
        return lambda v: fmt.t("clv.sensitivity.months", n=fmt.count(int(v)))
    return lambda v: fmt.share(v, 0 if float(v * 100).is_integer() else 1)


def sensitivity_table(table: pd.DataFrame, fmt: Formats) -> pd.DataFrame:
    t = fmt.t
    settings = [(_setting(r.varied, fmt)(r.value), r) for r in table.itertuples()]
    return pd.DataFrame({
        t("clv.table.varied"): [t(SENSITIVITY_KEYS[r.varied]) for _, r in settings],
        t("clv.table.setting"): [t("clv.table.current", value=v) if r[3] else v for v, r in settings],
        t("clv.table.sensitivity_total"): table["total_clv"].map(fmt.money).to_numpy(),
        t("clv.table.sensitivity_change"): table["vs_params"].map(lambda v: fmt.share(v, 1, plus=True)).to_numpy(),
    }).set_index([t("clv.table.varied"), t("clv.table.setting")])


# ================================================================ 6. what to take from it


def reliability(rel: clv_checks.Reliability, hold: clv.HoldoutResult, fmt: Formats) -> list[str]:
    """The verdict and its reasons in plain words, as the summary page says them (the shared
    ``reliability.*`` messages); the checks table (analyst) keeps each check's figures."""
    if rel.verdict == clv_checks.NOT_COMPUTED:
        return [fmt.t("clv.reliability.not_computed")]
    error = hold.choice["total_error"] if hold.choice is not None else None
    reasons = []
    for r in rel.checks.itertuples():
        if r.level == "ok":
            continue
        if r.check == "holdout_total":
            reasons.append(fmt.t("reliability.check.holdout_total", period=_span(fmt, hold.unit, hold.holdout),
                                 error=fmt.share(error, 1, plus=True)))
        else:
            reasons.append(fmt.t(CHECK_KEYS[r.check]) if r.check in CHECK_KEYS else r.text)
    if rel.verdict == "validated" and error is not None:
        reasons.append(fmt.t("reliability.validated_detail", error=fmt.share(error, 1, plus=True)))
    return ["\n".join([f"- {fmt.t(VERDICT_KEYS[rel.verdict])}", *(f"    - {r}" for r in reasons)])]


def findings(hold: clv.HoldoutResult, res: clv.ClvResult, lost: pd.DataFrame, fmt: Formats, min_repeat: int) -> list[str]:
    if not res.fitted:
        return [fmt.t("clv.findings.no_clv", reason=no_model_reason(res, fmt, min_repeat)), fmt.t("clv.findings.meanwhile")]
    lines = []
    if hold.choice is None:
        lines.append(fmt.t("clv.findings.quality_unchecked"))
    else:
        c = hold.choice
        if c["beats_baseline"]:
            verdict = "clv.findings.good" if abs(c["total_error"]) < 0.1 else "clv.findings.off_total"
        else:
            verdict = "clv.findings.indicative" if c["lower_than_baseline"] else "clv.findings.no_better"
        baseline = (fmt.t("clv.findings.beats", improvement=fmt.share(c["improvement"])) if c["beats_baseline"]
                    else fmt.t("clv.findings.not_beats"))
        lines.append(fmt.t("clv.findings.quality", verdict=fmt.t(verdict), error=fmt.share(c["total_error"], plus=True),
                           baseline=baseline))
    conc = clv.concentration(res.value)
    if res.money:
        lines.append(fmt.t("clv.findings.value", share=fmt.share(conc["top_10"], 0),
                           months=fmt.count(res.settings.horizon_months)))
    else:
        lines.append(fmt.t("clv.findings.purchases", share=fmt.share(conc["top_10"], 0)))
    if len(lost) and not res.money:
        lines.append(fmt.t("clv.findings.lost_frequent", customers=fmt.count(len(lost)),
                           median=fmt.share(lost["p_alive"].median(), 0), purchases=fmt.count(lost["past_purchases"].sum())))
    elif len(lost):
        lines.append(fmt.t("clv.findings.lost_valuable", customers=fmt.count(len(lost)),
                           median=fmt.share(lost["p_alive"].median(), 0), revenue=fmt.money(lost["past_revenue"].sum())))
    elif res.fit.warning and "almost no dropout" in res.fit.warning:
        lines.append(fmt.t("clv.findings.lost_unknown"))
    else:
        lines.append(fmt.t("clv.findings.lost_none"))
    return lines
