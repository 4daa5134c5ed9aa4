"""Words of notebook 02 (lifecycle, repurchase rates, cohorts, revenue bridge, purchase gaps, RFM).

The analysis (:mod:`helpers.lifecycle`, :mod:`helpers.rfm`) computes every figure and makes every
call (which flows are biggest, whether a trend is rising, whether a season may be at work, which
groups can be told apart); the functions here only word them, in the run's language, with every
figure written by :class:`helpers.text.formats.Formats` (``run.fmt`` in the notebook) and every
word from the catalogue (``lifecycle.*`` and ``rfm.*`` in ``helpers/text/<language>/lifecycle.yaml``).
"""

from __future__ import annotations

import re

import pandas as pd

from helpers import lifecycle
from helpers.lifecycle import NONE, STAGES, UNKNOWN, LifecycleAnalysis, Thresholds
from helpers.text.formats import Formats

STAGE_KEYS = {"new": "lifecycle.stage.new", "returning": "lifecycle.stage.returning",
              "active": "lifecycle.stage.active", "dormant": "lifecycle.stage.dormant",
              "churned": "lifecycle.stage.churned", NONE: "lifecycle.stage.none"}
KIND_KEYS = {"month": "lifecycle.kind.month", "quarter": "lifecycle.kind.quarter", "week": "lifecycle.kind.week"}
# "1 month" / "3 months" after the first purchase, per period kind
AGE_KEYS = {("month", True): "lifecycle.age.month_one", ("month", False): "lifecycle.age.month_other",
            ("quarter", True): "lifecycle.age.quarter_one", ("quarter", False): "lifecycle.age.quarter_other",
            ("week", True): "lifecycle.age.week_one", ("week", False): "lifecycle.age.week_other"}
HOW_KEYS = {"params": "lifecycle.definitions.how_word.params", "derived": "lifecycle.definitions.how_word.derived",
            "fallback": "lifecycle.definitions.how_word.fallback"}
RATE_KEYS = {"within_period": "lifecycle.rate.name.within_period", "retention": "lifecycle.rate.name.retention"}
UNDEFINED_KEYS = {"within_period": "lifecycle.rate.undefined.within_period",
                  "retention": "lifecycle.rate.undefined.retention"}
TREND_KEYS = {"rising": "lifecycle.rate.trend.rising", "falling": "lifecycle.rate.trend.falling",
              "no clear trend": "lifecycle.rate.trend.no_clear", "flat": "lifecycle.rate.trend.flat",
              "too few periods": "lifecycle.rate.trend.too_few"}
DIRECTION_KEYS = {"rising": "lifecycle.direction.rising", "falling": "lifecycle.direction.falling",
                  "no clear trend": "lifecycle.direction.no_clear"}
VERDICT_KEYS = {"higher": "lifecycle.seasonal.verdict.higher", "lower": "lifecycle.seasonal.verdict.lower",
                "unclear": "lifecycle.seasonal.verdict.unclear"}
SECOND_TREND_KEYS = {"rising": "lifecycle.second.trend.rising", "falling": "lifecycle.second.trend.falling",
                     "no clear trend": "lifecycle.second.trend.no_clear"}
SPLIT_KEYS = {"channel": "lifecycle.split.column.channel",
              "acquisition_channel": "lifecycle.split.column.acquisition_channel",
              "region": "lifecycle.split.column.region"}
METRIC_KEYS = {"within-period repurchase": "lifecycle.split.metric.within_period",
               "retention": "lifecycle.split.metric.retention"}
BRIDGE_PART_KEYS = {("new", "customers"): "lifecycle.bridge.part.new_customers",
                    ("new", "purchases per customer"): "lifecycle.bridge.part.new_purchases",
                    ("new", "order value"): "lifecycle.bridge.part.new_order_value",
                    ("repeat", "customers"): "lifecycle.bridge.part.repeat_customers",
                    ("repeat", "purchases per customer"): "lifecycle.bridge.part.repeat_purchases",
                    ("repeat", "order value"): "lifecycle.bridge.part.repeat_order_value"}
BRIDGE_KIND_KEYS = {"new": "lifecycle.bridge.kind.new", "repeat": "lifecycle.bridge.kind.repeat"}
BRIDGE_FACTOR_KEYS = {"customers": "lifecycle.bridge.factor.customers",
                      "purchases per customer": "lifecycle.bridge.factor.purchases",
                      "order value": "lifecycle.bridge.factor.order_value"}
ORDINAL_KEYS = {1: "lifecycle.ordinal.o1", 2: "lifecycle.ordinal.o2", 3: "lifecycle.ordinal.o3",
                4: "lifecycle.ordinal.o4", 5: "lifecycle.ordinal.o5", 6: "lifecycle.ordinal.o6"}
SEGMENT_KEYS = {"champions": "rfm.segment.champions", "loyal": "rfm.segment.loyal",
                "potential loyalists": "rfm.segment.potential_loyalists", "new": "rfm.segment.new",
                "promising": "rfm.segment.promising", "need attention": "rfm.segment.need_attention",
                "about to sleep": "rfm.segment.about_to_sleep", "at risk": "rfm.segment.at_risk",
                "can't lose": "rfm.segment.cant_lose", "hibernating": "rfm.segment.hibernating",
                "lost": "rfm.segment.lost", "lapsed loyal": "rfm.segment.lapsed_loyal",
                "lapsed": "rfm.segment.lapsed", "active, low value": "rfm.segment.active_low_value"}
SEGMENT_DEFINITION_KEYS = {
    "champions": "rfm.definition.champions", "loyal": "rfm.definition.loyal",
    "potential loyalists": "rfm.definition.potential_loyalists", "new": "rfm.definition.new",
    "promising": "rfm.definition.promising", "need attention": "rfm.definition.need_attention",
    "about to sleep": "rfm.definition.about_to_sleep", "at risk": "rfm.definition.at_risk",
    "can't lose": "rfm.definition.cant_lose", "hibernating": "rfm.definition.hibernating",
    "lost": "rfm.definition.lost", "lapsed loyal": "rfm.definition.lapsed_loyal",
    "lapsed": "rfm.definition.lapsed", "active, low value": "rfm.definition.active_low_value"}
_OTHER = re.compile(r"^other \((\d+) groups\)$")
_SECOND = re.compile(r"^(\d+)-day second purchase$")


# ---------------------------------------------------------------- names


def stage_name(fmt: Formats, stage: str) -> str:
    return fmt.t(STAGE_KEYS[stage])


def segment_name(fmt: Formats, segment: str) -> str:
    return fmt.t(SEGMENT_KEYS[segment]) if segment in SEGMENT_KEYS else segment


def segment_definition(fmt: Formats, segment: str) -> str:
    return fmt.t(SEGMENT_DEFINITION_KEYS[segment])


def kind_name(fmt: Formats, kind: str) -> str:
    return fmt.t(KIND_KEYS[kind]) if kind in KIND_KEYS else kind


def age(fmt: Formats, kind: str, n: int) -> str:
    """'1 month', '3 months' / '1个月', '3个月' (periods since the first purchase)."""
    key = AGE_KEYS.get((kind, n == 1))
    return fmt.t(key, n=fmt.number(n)) if key else f"{n} {kind}"


def rate_name(fmt: Formats, rate: str) -> str:
    return fmt.t(RATE_KEYS[rate])


def split_name(fmt: Formats, column: str) -> str:
    return fmt.t(SPLIT_KEYS[column]) if column in SPLIT_KEYS else column


def metric_name(fmt: Formats, metric: str) -> str:
    if metric in METRIC_KEYS:
        return fmt.t(METRIC_KEYS[metric])
    if m := _SECOND.match(metric):
        return fmt.t("lifecycle.split.metric.second_purchase", days=fmt.number(int(m.group(1))))
    return metric


def group_name(fmt: Formats, group: str) -> str:
    """A split group as shown: the data's own value, or the words for 'other' and 'unknown'."""
    if group == UNKNOWN:
        return fmt.t("lifecycle.split.unknown")
    if m := _OTHER.match(str(group)):
        return fmt.t("lifecycle.split.other", n=fmt.number(int(m.group(1))))
    return str(group)


def bridge_part(fmt: Formats, kind: str, factor: str) -> str:
    return fmt.t(BRIDGE_PART_KEYS[(kind, factor)])


def bridge_kind(fmt: Formats, kind: str) -> str:
    return fmt.t(BRIDGE_KIND_KEYS[kind])


def bridge_factor(fmt: Formats, factor: str) -> str:
    return fmt.t(BRIDGE_FACTOR_KEYS[factor])


def gap_step(fmt: Formats, step: int, last: int = lifecycle.GAP_STEPS) -> str:
    """'1st → 2nd' / '第1次 → 第2次'; the last step pools the later ones: '5th+ → next'."""
    if step < last:
        return fmt.t("lifecycle.gap.step", first=fmt.t(ORDINAL_KEYS[step]), second=fmt.t(ORDINAL_KEYS[step + 1]))
    return fmt.t("lifecycle.gap.step_last", first=fmt.t(ORDINAL_KEYS[step]))


def _listed(fmt: Formats, items) -> str:
    return fmt.t("fmt.list_sep").join(items)


def _details(fmt: Formats, items) -> str:
    return fmt.t("fmt.detail_sep").join(items)


def _and(fmt: Formats, items) -> str:
    return fmt.t("lifecycle.and").join(items)


def _sentence_case(fmt: Formats, text: str) -> str:
    """A sentence that opens with a (lower-case) name starts with a capital in English."""
    return text[:1].upper() + text[1:] if fmt.language == "en" else text


def _share(fmt: Formats, part, whole) -> str:
    return fmt.share(part / whole) if whole else fmt.t("fmt.not_available")


def _ci(fmt: Formats, lo, hi) -> str:
    return fmt.interval(fmt.share(lo), fmt.share(hi), 0.95)


# ---------------------------------------------------------------- definitions (section 1)


def definitions(th: Thresholds, kind: str, fmt: Formats) -> list[str]:
    """The stage rules with this run's thresholds, as markdown bullets."""
    t, n = fmt.t, fmt.count
    if th.source == "params":
        how = t("lifecycle.definitions.how_params")
    elif th.source == "derived":
        how = t("lifecycle.definitions.how_derived", gaps=n(th.gaps), active_share=fmt.share(th.active_quantile, 0),
                active=n(th.active_days), churn_share=fmt.share(th.churn_quantile, 0), churn=n(th.churn_days),
                median=fmt.number(th.median_gap) if th.median_gap is not None else t("fmt.not_available"))
    elif th.source == "fallback":
        how = t("lifecycle.definitions.how_fallback", active=n(lifecycle.FALLBACK_DAYS[0]),
                churn=n(lifecycle.FALLBACK_DAYS[1]), gaps=n(th.gaps))
    else:  # "active_days params, churn_days derived": each threshold set its own way
        active_how, churn_how = (next((t(key) for word, key in HOW_KEYS.items() if word in part), part)
                                 for part in th.source.split(",", 1))
        how = t("lifecycle.definitions.how_mixed", active_how=active_how, churn_how=churn_how)
    names = {s: stage_name(fmt, s) for s in STAGES}
    k = kind_name(fmt, kind)
    return [
        t("lifecycle.definitions.thresholds", active=n(th.active_days), churn=n(th.churn_days), how=how),
        t("lifecycle.definitions.new", name=names["new"], kind=k),
        t("lifecycle.definitions.returning", name=names["returning"], kind=k, dormant=names["dormant"],
          churned=names["churned"], active=n(th.active_days)),
        t("lifecycle.definitions.active", name=names["active"], kind=k, active=n(th.active_days),
          new=names["new"], returning=names["returning"]),
        t("lifecycle.definitions.dormant", name=names["dormant"], kind=k, from_days=n(th.active_days + 1),
          churn=n(th.churn_days)),
        t("lifecycle.definitions.churned", name=names["churned"], churn=n(th.churn_days)),
        t("lifecycle.definitions.purchase", kind=k),
    ]


def status_note(params, fmt: Formats) -> str:
    """What a purchase leaves in when the orders carry no status ('' when a status is mapped)."""
    if lifecycle.has_status(params):
        return ""
    refunds = fmt.t("lifecycle.status.refunds_negative" if params.has_amount else "lifecycle.status.refunds_none")
    return fmt.t("lifecycle.status.none", refunds=refunds)


# ---------------------------------------------------------------- stages and moves (sections 1, 2)


def stage_findings(a: LifecycleAnalysis, fmt: Formats) -> list[str]:
    r = lifecycle.stage_reading(a)
    total = r["total"]
    if not total:
        return [fmt.t("lifecycle.stages.none")]
    t = fmt.t
    parts = _listed(fmt, (t("lifecycle.stages.part", stage=stage_name(fmt, s), n=fmt.count(c), share=_share(fmt, c, total))
                          for s, c in r["counts"].items()))
    out = [t("lifecycle.stages.counts", period=fmt.period(r["period"]), total=fmt.count(total), parts=parts),
           t("lifecycle.stages.live", live=fmt.count(r["live"]), share=_share(fmt, r["live"], total),
             dormant=fmt.count(r["counts"]["dormant"]), from_days=fmt.count(a.thresholds.active_days + 1),
             to_days=fmt.count(a.thresholds.churn_days))]
    if r["changes"] is not None:
        moved = _listed(fmt, (t("lifecycle.stages.change", stage=stage_name(fmt, s), n=fmt.count(d, plus=True))
                              for s, d in r["changes"].items()))
        out.append(t("lifecycle.stages.since", period=fmt.period(r["previous"]), changes=moved))
    return out


def flow_name(fmt: Formats, from_stage: str, stage: str) -> str:
    source = fmt.t("lifecycle.flows.first_purchase") if from_stage == NONE else stage_name(fmt, from_stage)
    return fmt.t("lifecycle.flows.move", source=source, target=stage_name(fmt, stage))


def flow_findings(a: LifecycleAnalysis, fmt: Formats) -> list[str]:
    r = lifecycle.flow_reading(a)
    t = fmt.t
    if r is None:
        return [t("lifecycle.flows.none")]
    out = []
    if r["biggest"]:
        listed = _details(fmt, (t("lifecycle.flows.count", move=flow_name(fmt, s, e), n=fmt.count(n))
                                for s, e, n in r["biggest"]))
        out.append(t("lifecycle.flows.biggest", period=fmt.period(a.period), moves=listed))
    if r["live_before"]:
        out.append(t("lifecycle.flows.went_dormant", before=fmt.count(r["live_before"]), n=fmt.count(r["went_dormant"]),
                     share=_share(fmt, r["went_dormant"], r["live_before"])))
    if r["dormant_before"]:
        d = r["dormant_before"]
        out.append(t("lifecycle.flows.dormant", before=fmt.count(d), back=fmt.count(r["dormant_back"]),
                     back_share=_share(fmt, r["dormant_back"], d), lost=fmt.count(r["dormant_lost"]),
                     lost_share=_share(fmt, r["dormant_lost"], d)))
    if r["churned_before"]:
        c = r["churned_before"]
        out.append(t("lifecycle.flows.churned", back=fmt.count(r["churned_back"]), before=fmt.count(c),
                     share=fmt.share(r["churned_back"] / c, 2)))
    if len(r["won_back"]) > 1:
        listed = _listed(fmt, (t("lifecycle.flows.won_back_item", period=fmt.period(p), n=fmt.count(n))
                               for p, n in r["won_back"].items()))
        out.append(t("lifecycle.flows.won_back", periods=fmt.number(len(r["won_back"])), items=listed))
    return out


# ---------------------------------------------------------------- repurchase rates (section 3)


def _fitted(fmt: Formats, test: dict) -> dict:
    return {"first": fmt.share(test["first_fit"]), "last": fmt.share(test["last_fit"])}


def rate_findings(a: LifecycleAnalysis, fmt: Formats) -> list[str]:
    out = []
    for r in lifecycle.rate_readings(a):
        name = rate_name(fmt, r["rate"])
        if not r["defined"]:
            out.append(fmt.t(UNDEFINED_KEYS[r["rate"]], rate=name, period=fmt.period(r["period"])))
            continue
        test = r["trend"]
        sentence = fmt.t("lifecycle.rate.value", rate=name, period=fmt.period(r["period"]), value=fmt.share(r["value"]),
                         interval=_ci(fmt, r["lo"], r["hi"]), n=fmt.count(r["n"]), pooled=fmt.share(r["pooled"]),
                         periods=fmt.number(r["periods"]))
        out.append(sentence + fmt.t(TREND_KEYS[test["direction"]], **_fitted(fmt, test)))
        if r["season"] is not None:
            out.append(seasonal_sentence(name, r["season"], a.kind, fmt))
    return out


def seasonal_sentence(rate: str, reading: dict, kind: str, fmt: Formats) -> str:
    """A :func:`helpers.lifecycle.seasonal_reading` in words: the year-earlier comparison, or the
    warning that a trend or the last period may be a season."""
    t, k = fmt.t, kind_name(fmt, kind)
    if reading["kind"] == "year_over_year":
        why = (t("lifecycle.seasonal.why_seasonal", kind=k, p=f"{reading['seasonality_p']:.2g}")
               if reading["seasonal"] else t("lifecycle.seasonal.why_untested"))
        return t("lifecycle.seasonal.year_over_year", rate=rate, then=fmt.period(reading["then_label"]), kind=k,
                 then_value=fmt.share(reading["then"]), now_value=fmt.share(reading["now"]),
                 difference=fmt.pp(reading["difference"]),
                 interval=fmt.interval(fmt.pp(reading["difference_lo"]), fmt.pp(reading["difference_hi"]), 0.95),
                 n_then=fmt.count(reading["n_then"]), n_now=fmt.count(reading["n_now"]),
                 verdict=t(VERDICT_KEYS[reading["verdict"]]), why=why)
    what = []
    if reading["stands_out"]:
        key = "lifecycle.seasonal.above" if reading["last_z"] > 0 else "lifecycle.seasonal.below"
        what.append(t(key, period=fmt.period(reading["period"]), z=fmt.number(abs(reading["last_z"]), 1)))
    if reading["direction"] == "rising":
        what.append(t("lifecycle.seasonal.window_rising"))
    elif reading["direction"] == "falling":
        what.append(t("lifecycle.seasonal.window_falling"))
    return t("lifecycle.seasonal.possibly", rate=rate, what=_and(fmt, what), then=fmt.period(reading["then"]), kind=k)


def second_purchase_findings(a: LifecycleAnalysis, fmt: Formats) -> list[str]:
    """One sentence per horizon N (in the order of the params), then what the longest says."""
    t = fmt.t
    out = []
    for r in a.second_purchase.itertuples():
        days = fmt.number(r.days)
        if not r.customers:
            out.append(t("lifecycle.second.too_young", days=days))
            continue
        span = (fmt.period(r.first_cohort) if r.cohorts == 1
                else fmt.range(fmt.period(r.first_cohort), fmt.period(r.last_cohort)))
        out.append(t("lifecycle.second.value", days=days, rate=fmt.share(r.rate), interval=_ci(fmt, r.rate_lo, r.rate_hi),
                     n=fmt.count(r.customers), span=span, rate_all=fmt.share(r.rate_all), n_all=fmt.count(r.customers_all)))
    reading = lifecycle.second_purchase_reading(a)
    if reading["days"] is None:
        return out
    days = fmt.number(reading["days"])
    out.append(t("lifecycle.second.not_back", share=fmt.share(reading["not_back"], 0), days=days))
    test = reading["trend"]
    if test is not None and test["direction"] in SECOND_TREND_KEYS:
        out.append(t(SECOND_TREND_KEYS[test["direction"]], days=days, **_fitted(fmt, test)))
    if reading["first_period"] is not None:
        out.append(t("lifecycle.second.data_start", period=fmt.period(reading["first_period"])))
    return out


def _count_words(fmt: Formats, row: dict) -> str:
    """'1,234 customers' or, when customers count in several periods of the window,
    '1,234 customers, 2,345 customer-periods'."""
    customers, n = int(row["customers"]), int(row["n_window"])
    if customers == n:
        return fmt.t("lifecycle.split.customers", customers=fmt.count(customers))
    return fmt.t("lifecycle.split.customer_periods", customers=fmt.count(customers), n=fmt.count(n))


def split_findings(a: LifecycleAnalysis, fmt: Formats) -> list[str]:
    t = fmt.t
    if a.splits.empty:
        return [t("lifecycle.split.none", columns=_listed(fmt, (split_name(fmt, c) for c in a.settings.split_by)))]
    out = []
    for r in lifecycle.split_comparisons(a):
        metric, split = metric_name(fmt, r["metric"]), split_name(fmt, r["split"])
        c = r["comparison"]
        if c is None:
            out.append(_sentence_case(fmt, t("lifecycle.split.too_few", metric=metric, split=split)))
            continue
        hi, lo = r["highest"], r["lowest"]
        out.append(_sentence_case(fmt, t(
            "lifecycle.split.compare", metric=metric, split=split, high=group_name(fmt, hi["group"]),
            high_rate=fmt.share(hi["rate_window"]), high_count=_count_words(fmt, hi), low=group_name(fmt, lo["group"]),
            low_rate=fmt.share(lo["rate_window"]), low_count=_count_words(fmt, lo), difference=fmt.pp(c["difference"]),
            interval=fmt.interval(fmt.pp(c["difference_lo"]), fmt.pp(c["difference_hi"]), 0.95),
            pairs=fmt.number(c["pairs"]), groups=fmt.number(c["groups"]),
            verdict=t("lifecycle.split.separated" if c["separated"] else "lifecycle.split.not_separated"))))
    missing = lifecycle.missing_splits(a)
    if missing:
        out.append(t("lifecycle.split.missing", columns=_listed(fmt, (split_name(fmt, c) for c in missing))))
    return out


# ---------------------------------------------------------------- cohorts, revenue, gaps (sections 4-6)


def cohort_findings(a: LifecycleAnalysis, fmt: Formats) -> list[str]:
    r = lifecycle.cohort_reading(a)
    t = fmt.t
    if r is None:
        return [t("lifecycle.cohort.none")]
    out = [t("lifecycle.cohort.shown", cohorts=fmt.number(r["cohorts"]),
             span=fmt.range(fmt.period(r["first"]), fmt.period(r["last"])), customers=fmt.count(r["customers"]))]
    s = r["by_age"]
    if len(s):
        parts = _details(fmt, (
            t("lifecycle.cohort.age_money", age=age(fmt, a.kind, int(x.j)), share=fmt.share(x.retention),
              money=fmt.money(x.cumulative_revenue_per_customer)) if r["money"]
            else t("lifecycle.cohort.age", age=age(fmt, a.kind, int(x.j)), share=fmt.share(x.retention))
            for x in s.itertuples()))
        out.append(t("lifecycle.cohort.ages", parts=parts))
    test = r["trend"]
    if test is not None and test["direction"] in DIRECTION_KEYS:
        out.append(t("lifecycle.cohort.trend", age=age(fmt, a.kind, 1), direction=t(DIRECTION_KEYS[test["direction"]]),
                     **_fitted(fmt, test)))
    return out


def _factor_value(fmt: Formats, factor: str, value: float) -> str:
    if factor == "customers":
        return fmt.count(value)
    if factor == "purchases per customer":
        return fmt.number(value, 2)
    return fmt.money(value)


def bridge_findings(bridge: dict | None, kind: str, fmt: Formats) -> list[str]:
    t = fmt.t
    if bridge is None:
        return [t("lifecycle.bridge.none", kind=kind_name(fmt, kind))]
    r0, r1, d = bridge["revenue_before"], bridge["revenue_after"], bridge["change"]
    relative = fmt.relative(r1, r0)
    out = [t("lifecycle.bridge.total", before=fmt.money(r0), before_period=fmt.period(bridge["before"]),
             after=fmt.money(r1), after_period=fmt.period(bridge["after"]), change=fmt.money(d, plus=True),
             relative=t("lifecycle.bridge.relative", value=relative) if relative else "",
             new=fmt.money(bridge["by_kind"]["new"], plus=True), repeat=fmt.money(bridge["by_kind"]["repeat"], plus=True))]
    p = bridge["parts"]
    if d and len(p):
        ranked = lifecycle.bridge_ranked_parts(bridge)
        listed = _details(fmt, (
            t("lifecycle.bridge.part_values", part=bridge_part(fmt, x.kind, x.factor), change=fmt.money(x.change, plus=True),
              before=_factor_value(fmt, x.factor, x.before), after=_factor_value(fmt, x.factor, x.after))
            if x.before == x.before and x.after == x.after
            else t("lifecycle.bridge.part_change", part=bridge_part(fmt, x.kind, x.factor),
                   change=fmt.money(x.change, plus=True))
            for x in ranked.itertuples()))
        top = p.loc[p["change"].abs().idxmax()]
        out.append(t("lifecycle.bridge.parts", parts=listed, largest=bridge_part(fmt, top["kind"], top["factor"])))
    return out


def gap_findings(steps: pd.DataFrame, categories: pd.DataFrame, fmt: Formats) -> list[str]:
    t, n = fmt.t, fmt.number
    if steps.empty:
        return [t("lifecycle.gap.none")]
    parts = _details(fmt, (t("lifecycle.gap.item", step=gap_step(fmt, int(r.step)), median=n(r.median), q25=n(r.q25),
                             q75=n(r.q75), gaps=fmt.count(r.gaps)) for r in steps.itertuples()))
    out = [t("lifecycle.gap.steps", parts=parts)]
    if lifecycle.later_gaps_all_shorter(steps):
        later = steps["median"].iloc[1:]
        out.append(t("lifecycle.gap.first_slowest", median=n(steps["median"].iloc[0]), step=gap_step(fmt, 1),
                     lo=n(later.min()), hi=n(later.max())))
    out.append(t("lifecycle.gap.completed_only"))
    if len(categories):
        c = categories.sort_values("median")
        out.append(t("lifecycle.gap.categories", parts=_details(fmt, (
            t("lifecycle.gap.category", category=r.category, median=n(r.median), q25=n(r.q25), q75=n(r.q75),
              gaps=fmt.count(r.gaps)) for r in c.itertuples()))))
    return out


# ---------------------------------------------------------------- RFM segments (section 7)


def segment_findings(table: pd.DataFrame, fmt: Formats) -> list[str]:
    from helpers import rfm

    r = rfm.segment_reading(table)
    t = fmt.t
    if r is None:
        return [t("rfm.findings.none")]
    risk = _and(fmt, (segment_name(fmt, s) for s in r["risk"]))
    if not r["money"]:
        out = [t("rfm.findings.no_money", segment=segment_name(fmt, r["biggest"]), n=fmt.count(r["biggest_customers"]),
                 share=fmt.share(r["biggest_share"]))]
        if r["risk"]:
            out.append(t("rfm.findings.risk_no_money", segments=risk, n=fmt.count(r["risk_customers"])))
        return [_sentence_case(fmt, s) for s in out]
    out = [t("rfm.findings.top", segments=_listed(fmt, (segment_name(fmt, s) for s in r["top"])),
             customer_share=fmt.share(r["top_customer_share"]), revenue_share=fmt.share(r["top_revenue_share"])),
           t("rfm.findings.best", segment=segment_name(fmt, r["best"]), n=fmt.count(r["best_customers"]),
             share=fmt.share(r["best_revenue_share"]), money=fmt.money(r["best_order_value"]))]
    if r["risk"]:
        out.append(t("rfm.findings.risk", segments=risk, n=fmt.count(r["risk_customers"]),
                     share=fmt.share(r["risk_revenue_share"])))
    out.append(t("rfm.findings.biggest", segment=segment_name(fmt, r["biggest"]), customer_share=fmt.share(r["biggest_share"]),
                 revenue_share=fmt.share(r["biggest_revenue_share"])))
    return [_sentence_case(fmt, s) for s in out]


# ---------------------------------------------------------------- the headline of each section (section 8)


def summary_findings(a: LifecycleAnalysis, segments: pd.DataFrame, fmt: Formats) -> list[str]:
    out = stage_findings(a, fmt)[:1]
    out += flow_findings(a, fmt)[:1]
    out += rate_findings(a, fmt)
    if a.has_amount:
        out += bridge_findings(a.revenue_bridge(), a.kind, fmt)[:1]
    if (a.second_purchase["customers"] > 0).any():
        # the longest horizon's sentence (one sentence per horizon comes first)
        out.append(second_purchase_findings(a, fmt)[len(a.second_purchase) - 1])
    out += segment_findings(segments, fmt)[:1]
    return out


# ---------------------------------------------------------------- tables shown to stakeholders
# Headers and row names from the catalogue, figures written by fmt (text, as the page shows them).

FLOW_KEYS = {"first_purchase": "lifecycle.table.flows.first_purchase", "went_dormant": "lifecycle.table.flows.went_dormant",
             "dormant_churned": "lifecycle.table.flows.dormant_churned",
             "dormant_returning": "lifecycle.table.flows.dormant_returning",
             "churned_returning": "lifecycle.table.flows.churned_returning"}


def _counts_frame(fmt: Formats, frame: pd.DataFrame) -> pd.DataFrame:
    return frame.apply(lambda col: col.map(fmt.count))


def stage_table(a: LifecycleAnalysis, fmt: Formats) -> pd.DataFrame:
    """Customers per stage at each period end shown, with the share at the run's period end."""
    counts = a.stage_counts.T
    total = counts[a.period].sum()
    table = _counts_frame(fmt, counts)
    table[fmt.t("lifecycle.table.share_at", period=fmt.period(a.period))] = [
        _share(fmt, n, total) for n in counts[a.period]]
    table.index = pd.Index([stage_name(fmt, s) for s in counts.index], name=fmt.t("lifecycle.table.stage"))
    table.columns.name = fmt.t("lifecycle.table.period_end")
    return table


def flow_table(a: LifecycleAnalysis, fmt: Formats) -> pd.DataFrame:
    """The moves that matter, per period end: customers entering, going quiet, coming back."""
    counts = lifecycle.flow_counts(a)
    table = _counts_frame(fmt, counts)
    table.index = pd.Index([fmt.t(FLOW_KEYS[f], **{s: stage_name(fmt, s) for s in STAGES}) for f in counts.index],
                           name=fmt.t("lifecycle.table.move"))
    table.columns.name = fmt.t("lifecycle.table.period_end")
    return table


def _rate_ci(fmt: Formats, rate, lo, hi) -> str:
    if pd.isna(rate):
        return fmt.t("fmt.not_available")
    return fmt.t("lifecycle.table.rate_ci", rate=fmt.share(rate), lo=fmt.share(lo), hi=fmt.share(hi))


def rate_table(a: LifecycleAnalysis, fmt: Formats) -> pd.DataFrame:
    """The trend of both period rates, with counts and 95 % intervals."""
    t, tr = fmt.t, a.trend
    return pd.DataFrame({
        t("lifecycle.table.rates.buyers"): [fmt.count(n) for n in tr["buyers"]],
        t("lifecycle.table.rates.within_period"): [_rate_ci(fmt, *x) for x in zip(
            tr["within_period"], tr["within_period_lo"], tr["within_period_hi"], strict=True)],
        t("lifecycle.table.rates.base"): [fmt.count(n) for n in tr["base"]],
        t("lifecycle.table.rates.retention"): [_rate_ci(fmt, *x) for x in zip(
            tr["retention"], tr["retention_lo"], tr["retention_hi"], strict=True)],
    }, index=pd.Index(tr["period"], name=t("lifecycle.table.period")))


def second_purchase_table(a: LifecycleAnalysis, fmt: Formats) -> pd.DataFrame:
    t, na = fmt.t, fmt.t("fmt.not_available")
    rows = []
    for r in a.second_purchase.itertuples():
        span = na if not r.cohorts else (fmt.period(r.first_cohort) if r.cohorts == 1
                                         else fmt.range(fmt.period(r.first_cohort), fmt.period(r.last_cohort)))
        rows.append({t("lifecycle.table.second.within"): fmt.days(r.days), t("lifecycle.table.second.cohorts"): span,
                     t("lifecycle.table.second.customers"): fmt.count(r.customers),
                     t("lifecycle.table.second.came_back"): fmt.count(r.second),
                     t("lifecycle.table.second.rate"): na if not r.customers else _rate_ci(fmt, r.rate, r.rate_lo, r.rate_hi),
                     t("lifecycle.table.second.all_history"): na if not r.customers_all else t(
                         "lifecycle.table.second.all_history_value", rate=fmt.share(r.rate_all), n=fmt.count(r.customers_all))})
    return pd.DataFrame(rows).set_index(t("lifecycle.table.second.within"))


def gap_table(steps: pd.DataFrame, fmt: Formats) -> pd.DataFrame:
    t = fmt.t
    return pd.DataFrame({
        t("lifecycle.table.gaps.gaps"): [fmt.count(n) for n in steps["gaps"]],
        t("lifecycle.table.gaps.customers"): [fmt.count(n) for n in steps["customers"]],
        t("lifecycle.table.gaps.q25"): [fmt.number(x) for x in steps["q25"]],
        t("lifecycle.table.gaps.median"): [fmt.number(x) for x in steps["median"]],
        t("lifecycle.table.gaps.q75"): [fmt.number(x) for x in steps["q75"]],
    }, index=pd.Index([gap_step(fmt, int(j)) for j in steps["step"]], name=t("lifecycle.table.gaps.step")))


def segment_table(table: pd.DataFrame, fmt: Formats) -> pd.DataFrame:
    """:func:`helpers.rfm.segment_table` as the page shows it: named segments, formatted figures
    (revenue columns '—' when the orders carry no amounts), and what each segment means."""
    t = fmt.t
    return pd.DataFrame({
        t("rfm.table.customers"): [fmt.count(n) for n in table["customers"]],
        t("rfm.table.customer_share"): [fmt.share(x) for x in table["customer_share"]],
        t("rfm.table.revenue"): [fmt.money(x) for x in table["revenue"]],
        t("rfm.table.revenue_share"): [fmt.share(x) for x in table["revenue_share"]],
        t("rfm.table.average_order_value"): [fmt.money(x) for x in table["average_order_value"]],
        t("rfm.table.purchase_days"): [fmt.number(x, 2) for x in table["purchase_days"]],
        t("rfm.table.recency_days"): [fmt.number(x) for x in table["recency_days"]],
        t("rfm.table.definition"): [segment_definition(fmt, s) for s in table.index],
    }, index=pd.Index([segment_name(fmt, s) for s in table.index], name=t("rfm.table.segment")))
