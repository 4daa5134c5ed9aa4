"""Words of notebook 03 (repurchase drivers): findings, table headers and factor names.

Presentation layer: :mod:`helpers.drivers` computes the funnel, the second-purchase timing and
the factor effects; this module words them in the run's language (``fmt``: a
:class:`helpers.text.formats.Formats`, ``run.fmt`` in the notebook). Effects are changes of a
rate (the N-day second-purchase probability), so they are written in percentage points.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from helpers.config import Drivers
from helpers.drivers import (
    BINARY,
    CATEGORICAL,
    EVENT_KINDS,
    FAMILIES,
    DriverData,
    Effects,
    biggest_dropoff,
    binary_label,
    levers,
)
from helpers.text.formats import Formats

# ------------------------------------------------------------------ names of things

FAMILY_KEYS = {"customer": "family.customer", "product": "family.product", "service": "family.service",
               "marketing": "family.marketing", "channel": "family.channel"}
FACTOR_KEYS = {
    "first_order_refunded": "factor.first_order_refunded", "ticket_raised": "factor.ticket_raised",
    "unresolved_complaint": "factor.unresolved_complaint", "slow_response": "factor.slow_response",
    "low_satisfaction": "factor.low_satisfaction", "first_order_coupon": "factor.first_order_coupon",
    "second_coupon_issued": "factor.second_coupon_issued",
    "no_second_coupon_reminder": "factor.no_second_coupon_reminder",
    "online_first_order": "factor.online_first_order", "slow_delivery": "factor.slow_delivery",
}
VARIABLE_KEYS = {"acquisition_channel": "factor.var_acquisition_channel", "region": "factor.var_region",
                 "member_level": "factor.var_member_level", "first_category": "factor.var_first_category"}
# A binary factor defined by a threshold of the params: the analysis's label ends with it
# ("… (≥ 5 days)", see drivers.binary_label); the catalogue words the same number.
THRESHOLD_KEYS = {"slow_response": "drivers.threshold.slow_response",
                  "low_satisfaction": "drivers.threshold.low_satisfaction",
                  "slow_delivery": "drivers.threshold.slow_delivery"}
_THRESHOLD = re.compile(r"\((?:>|≤|≥) ([0-9.]+)(?: h| days)?\)$")
STEP_NAME_KEYS = {"1->2": "drivers.step.s1_2", "2->3": "drivers.step.s2_3", "3->4+": "drivers.step.s3_4"}
ORDER_KEYS = ("drivers.order.o1", "drivers.order.o2", "drivers.order.o3", "drivers.order.o4")
EVENT_KEYS = {"ticket": "drivers.event.ticket", "satisfaction": "drivers.event.satisfaction",
              "coupon_issued": "drivers.event.coupon_issued", "coupon_reminder": "drivers.event.coupon_reminder",
              "refund": "drivers.event.refund"}
EVENTS_KEYS = {"ticket": "drivers.events.ticket", "satisfaction": "drivers.events.satisfaction",
               "coupon_issued": "drivers.events.coupon_issued", "coupon_reminder": "drivers.events.coupon_reminder",
               "refund": "drivers.events.refund"}
# What a brand's data lacks (helpers.drivers.assemble's 'missing' items, behind "no data on ...").
MISSING_KEYS = {
    "acquisition channel": "drivers.missing.acquisition_channel", "region": "drivers.missing.region",
    "member level": "drivers.missing.member_level",
    "product category on the orders": "drivers.missing.category", "refunds or returns": "drivers.missing.refunds",
    "service tickets": "drivers.missing.tickets", "whether tickets were resolved": "drivers.missing.resolved",
    "ticket response hours": "drivers.missing.response_hours", "satisfaction scores": "drivers.missing.satisfaction",
    "coupon on the orders": "drivers.missing.coupon", "coupon reminder events": "drivers.missing.reminders",
    "coupon issue / reminder events": "drivers.missing.coupon_events",
    "order channel (online vs store)": "drivers.missing.channel", "delivery days": "drivers.missing.delivery",
}
NO_DATA_ON = "no data on "
# Why a measured factor is not estimated (helpers.drivers._estimable's reasons), in words.
SKIP_REASONS = (
    (re.compile(r"^only one level with at least ([\d,]+) customers$"), "drivers.skip.one_level", ("needs",)),
    (re.compile(r"^only ([\d,]+) customers with it \(needs ([\d,]+)\)$"), "drivers.skip.few_with", ("n", "needs")),
    (re.compile(r"^only ([\d,]+) customers without it \(needs ([\d,]+)\)$"), "drivers.skip.few_without",
     ("n", "needs")),
    (re.compile(r"^(\d+) small level\(s\) pooled as 'other' \(([\d,]+) customers\)$"), "drivers.skip.pooled_other",
     ("levels", "n")),
    (re.compile(r"^(\d+) small level\(s\) with ([\d,]+) customers pooled with the reference$"),
     "drivers.skip.pooled_reference", ("levels", "n")),
    (re.compile(r"^no variation left, or fully determined by the other factors$"), "drivers.skip.collinear", ()),
)
_BAND = re.compile(r"day (\d+)–(\d+)")
_LANDMARK = re.compile(r"landmark day ([0-9.]+)")


def _cap(text: str) -> str:
    """A clause made the start of a sentence (a no-op for Chinese)."""
    return text[:1].upper() + text[1:]


def _na(fmt: Formats) -> str:
    return fmt.t("fmt.not_available")


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and x != x)


def points(fmt: Formats, x) -> str:
    """The size of a change of a rate, without its sign: '3.2 pp' (the words say the direction)."""
    return _na(fmt) if _missing(x) else fmt.t("fmt.pp", value=fmt.number(abs(100 * float(x)), 1))


def days(fmt: Formats, x) -> str:
    return _na(fmt) if _missing(x) else fmt.days(round(float(x)))


def joined(fmt: Formats, items: list[str]) -> str:
    """'a, b and c' / 'a、b和c'."""
    if len(items) <= 1:
        return "".join(items)
    return fmt.t("drivers.and_list", head=fmt.t("fmt.list_sep").join(items[:-1]), last=items[-1])


def family_name(fmt: Formats, family: str) -> str:
    return fmt.t(FAMILY_KEYS[family]) if family in FAMILY_KEYS else family


def level_name(fmt: Formats, level) -> str:
    return fmt.t("drivers.level_other") if level == "other" else str(level)


def factor_name(fmt: Formats, key: str, label: str = "", reference: str | None = None) -> str:
    """A factor in the catalogue's words: 'slow_delivery' -> 'First order delivered slowly (≥ 5
    days)'; 'region=East' -> 'Region: East (compared with North)'. An unknown factor keeps the
    analysis's label."""
    if key in FACTOR_KEYS:
        name = fmt.t(FACTOR_KEYS[key])
        threshold = _THRESHOLD.search(label or "")
        if key in THRESHOLD_KEYS and threshold:
            return fmt.t(THRESHOLD_KEYS[key], label=name, value=threshold.group(1))
        return name
    variable, _, level = key.partition("=")
    if variable in VARIABLE_KEYS and level:
        if reference:
            return fmt.t("factor.level_vs", variable=fmt.t(VARIABLE_KEYS[variable]), level=level_name(fmt, level),
                         reference=level_name(fmt, reference))
        return fmt.t("factor.level", variable=fmt.t(VARIABLE_KEYS[variable]), level=level_name(fmt, level))
    if key in VARIABLE_KEYS:
        return fmt.t(VARIABLE_KEYS[key])
    return label or key


def inline(fmt: Formats, name: str) -> str:
    """A factor's name inside an English sentence starts lower-case ('customers with *first order
    delivered slowly*'); an acronym or a Chinese name is left as it is."""
    if fmt.language == "en" and name[:1].isupper() and name[1:2].islower():
        return name[0].lower() + name[1:]
    return name


def row_name(fmt: Formats, row) -> str:
    """The name of a factor of an effects or unadjusted table row."""
    return factor_name(fmt, row.factor, row.label, row.reference if isinstance(row.reference, str) else None)


def step_name(fmt: Formats, key: str) -> str:
    return fmt.t(STEP_NAME_KEYS[key]) if key in STEP_NAME_KEYS else key


def order_names(fmt: Formats) -> list[str]:
    return [fmt.t(k) for k in ORDER_KEYS]


def missing_items(fmt: Formats, why: str) -> str:
    """'no data on order channel (online vs store), delivery days' -> the items, in words."""
    items = why.removeprefix(NO_DATA_ON).split(", ")
    return fmt.t("fmt.list_sep").join(fmt.t(MISSING_KEYS[i]) if i in MISSING_KEYS else i for i in items)


def missing_data(fmt: Formats, why: str) -> str:
    """'no data on order channel (online vs store), delivery days' in the catalogue's words."""
    if not why.startswith(NO_DATA_ON):
        return why
    return fmt.t("drivers.missing.no_data_on", items=missing_items(fmt, why))


def skip_reason(fmt: Formats, reason: str) -> str:
    for pattern, key, names in SKIP_REASONS:
        m = pattern.match(str(reason))
        if m:
            return fmt.t(key, **{name: fmt.count(int(v.replace(",", ""))) for name, v in zip(names, m.groups(),
                                                                                            strict=True)})
    return str(reason)


def label_name(fmt: Formats, label: str) -> str:
    """A factor named by the analysis's label only (a not-estimated factor): its catalogue name."""
    for var, (_, words) in CATEGORICAL.items():
        if label == words:
            return fmt.t(VARIABLE_KEYS[var])
    for name, (_, words, _, _) in BINARY.items():
        if label == words or label.startswith(words + " ("):
            return factor_name(fmt, name, label)
    return label


def interval_level(fmt: Formats, alpha: float, k: int) -> str:
    """'95 % simultaneous (99.4 % each, 8 factors)' (helpers.drivers.interval_level, in words)."""
    each = 1 - alpha / max(int(k), 1)
    return fmt.t("drivers.interval_level", level=fmt.share(1 - alpha, 0),
                 each=fmt.share(each, 1 if each < 0.9995 else 2), k=fmt.count(k))


def effect_interval(fmt: Formats, lo, hi) -> str:
    """An effect's interval in points, both ends signed: '−3.0 pp to +1.2 pp'."""
    if _missing(lo) or _missing(hi):
        return fmt.t("drivers.no_interval")
    return fmt.range(fmt.pp(lo), fmt.pp(hi))


def compared_from(fmt: Formats, design: str) -> str:
    """'first order' / 'landmark day 14' in words."""
    landmark = _LANDMARK.match(str(design))
    if landmark:
        return fmt.t("drivers.design.landmark", day=fmt.number(float(landmark.group(1))))
    return fmt.t("drivers.design.first_order")


def bands(fmt: Formats, text: str) -> str:
    """'day 0–30 | day 30–60' -> 'days 0–30, days 30–60' / '第0–30天、第30–60天'."""
    return fmt.t("fmt.list_sep").join(fmt.t("drivers.band", start=a, end=b) for a, b in _BAND.findall(text or ""))


# ------------------------------------------------------------------ section 1: the funnel


def funnel_findings(steps: pd.DataFrame, by_cohort: pd.DataFrame, horizon: int, fmt: Formats) -> list[str]:
    worst = biggest_dropoff(steps)
    if worst is None:
        return [fmt.t("drivers.funnel.none")]
    n = fmt.days(horizon)
    step = step_name(fmt, worst["key"])
    if worst["conversion_n"] != worst["conversion_n"]:
        return [fmt.t("drivers.funnel.worst_early", step=step, reached=fmt.count(worst["reached"]),
                      share=fmt.share(worst["conversion"]), days=n)]
    out = [fmt.t("drivers.funnel.worst", step=step, reached=fmt.count(worst["reached"]),
                 share=fmt.share(worst["conversion_n"]), level=fmt.share(0.95, 0),
                 range=fmt.range(fmt.share(worst["conversion_n_low"]), fmt.share(worst["conversion_n_high"])),
                 lost=fmt.share(worst["lost_n"]), days=n)]
    others = steps[(steps["key"] != worst["key"]) & steps["conversion_n"].notna()]
    if len(others):
        out.append(fmt.t("drivers.funnel.later", steps=fmt.t("fmt.detail_sep").join(
            fmt.t("drivers.funnel.later_step", step=step_name(fmt, r.key), share=fmt.share(r.conversion_n), days=n)
            for r in others.itertuples())))
    first = steps.iloc[0]
    if first["median_days"] == first["median_days"]:
        out.append(fmt.t("drivers.funnel.median", days=days(fmt, first["median_days"]),
                         later=fmt.t("fmt.list_sep").join(
                             fmt.t("drivers.funnel.median_step", step=step_name(fmt, r.key),
                                   days=days(fmt, r.median_days)) for r in steps.iloc[1:].itertuples())))
    c = by_cohort[(by_cohort["key"] == worst["key"]) & by_cohort["conversion_n"].notna()]
    if len(c) >= 2:
        lo, hi = c.loc[c["conversion_n"].idxmin()], c.loc[c["conversion_n"].idxmax()]
        recent = by_cohort[(by_cohort["key"] == worst["key"]) & by_cohort["conversion_n"].isna()]
        out.append(fmt.t("drivers.funnel.cohorts", n=fmt.count(len(c)), step=step, days=n,
                         low=fmt.share(lo["conversion_n"]), low_cohort=fmt.period(lo["cohort"]),
                         high=fmt.share(hi["conversion_n"]), high_cohort=fmt.period(hi["cohort"]))
                   + (fmt.t("drivers.funnel.cohorts_recent.one" if len(recent) == 1 else "drivers.funnel.cohorts_recent.other",
                            n=fmt.count(len(recent)), days=n) if len(recent)
                      else fmt.t("drivers.funnel.cohorts_end")))
    return out


def funnel_table(steps: pd.DataFrame, horizon: int, fmt: Formats) -> pd.DataFrame:
    """The funnel as a stakeholder table (aggregates only)."""
    t = fmt.t
    return pd.DataFrame({
        t("drivers.table.step"): [step_name(fmt, k) for k in steps["key"]],
        t("drivers.table.at_step"): [fmt.count(n) for n in steps["reached"]],
        t("drivers.table.converted"): [fmt.count(n) for n in steps["converted"]],
        t("drivers.table.share_so_far"): steps["conversion"].map(fmt.share),
        t("drivers.table.within_days", days=fmt.days(horizon)): [
            _na(fmt) if c != c else t("drivers.table.share_with_range", share=fmt.share(c),
                                      range=fmt.range(fmt.share(lo), fmt.share(hi)))
            for c, lo, hi in zip(steps["conversion_n"], steps["conversion_n_low"], steps["conversion_n_high"],
                                 strict=True)],
        t("drivers.table.median_days"): [days(fmt, d) for d in steps["median_days"]],
    }).set_index(t("drivers.table.step"))


# ------------------------------------------------------------------ section 2: timing


def censoring_findings(summary: dict, horizon: int, fmt: Formats) -> list[str]:
    n = fmt.days(horizon)
    if summary["within_n"] != summary["within_n"]:
        return [fmt.t("drivers.censoring.none", days=n, ever=fmt.share(summary["ever"]),
                      customers=fmt.count(summary["customers"]))]
    out = [fmt.t("drivers.censoring.share", days=n, share=fmt.share(summary["within_n"]), level=fmt.share(0.95, 0),
                 range=fmt.range(fmt.share(summary["ci"][0]), fmt.share(summary["ci"][1])))]
    if summary["followed_less_than_n"]:
        out.append(fmt.t("drivers.censoring.naive", days=n, customers=fmt.count(summary["customers"]),
                         naive=fmt.share(summary["naive_share"]), recent=fmt.count(summary["followed_less_than_n"]),
                         gap=points(fmt, summary["within_n"] - summary["naive_share"])))
    else:
        out.append(fmt.t("drivers.censoring.all_followed", days=n, naive=fmt.share(summary["naive_share"])))
    return out


def unadjusted_findings(raw: pd.DataFrame, horizon: int, fmt: Formats, k: int = 3) -> list[str]:
    n = fmt.days(horizon)
    if raw.empty:
        return [fmt.t("drivers.unadjusted.none")]
    top = raw.dropna(subset=["gap"]).head(k)
    if top.empty:
        return [fmt.t("drivers.unadjusted.too_early", days=n)]
    gaps = fmt.t("fmt.detail_sep").join(
        fmt.t("drivers.unadjusted.gap", factor=row_name(fmt, r), with_=fmt.share(r.with_), without=fmt.share(r.without),
              gap=fmt.pp(r.gap)) for r in top.rename(columns={"with": "with_"}).itertuples())
    return [fmt.t("drivers.unadjusted.gaps", days=n, gaps=gaps), fmt.t("drivers.unadjusted.mix")]


# ------------------------------------------------------------------ section 3: what is measured


def measurement_table(data: DriverData, cfg: Drivers, fmt: Formats) -> pd.DataFrame:
    """Per family: what the brand's data lets us measure, what it does not, and factors measured
    but not estimable (too few customers, no variation)."""
    t = fmt.t
    rows = []
    for fam in FAMILIES:
        labels = [factor_name(fmt, v, "" if v in CATEGORICAL else binary_label(v, cfg)) for v in data.measured[fam]]
        skipped = data.skipped[data.skipped["family"] == fam]
        why = data.not_measured.get(fam, "")
        rows.append({
            t("drivers.table.family"): family_name(fmt, fam),
            t("drivers.table.measured"): t("fmt.list_sep").join(labels) if labels else t("drivers.not_measured"),
            t("drivers.table.missing"): missing_items(fmt, why) if why else _na(fmt),
            t("drivers.table.notes"): t("fmt.detail_sep").join(
                t("drivers.skip.note", factor=label_name(fmt, r.factor), reason=skip_reason(fmt, r.reason))
                for r in skipped.itertuples()) or _na(fmt),
        })
    return pd.DataFrame(rows).set_index(t("drivers.table.family"))


def timing_findings(data: DriverData, fmt: Formats) -> list[str]:
    """How the model avoids immortal-time bias, in numbers."""
    if data.window <= 0:
        return [fmt.t("drivers.timing.at_first_order")]
    f = data.frame
    kinds = [fmt.t(EVENTS_KEYS[k]) for k in EVENT_KINDS if k in set(data.dependence["event"])]
    listed = joined(fmt, kinds) if kinds else fmt.t("drivers.timing.later_events")
    window = fmt.days(data.window)
    day = fmt.number(data.window)
    left_out = int((~f["eligible"]).sum())
    out = [fmt.t("drivers.timing.window.one" if left_out == 1 else "drivers.timing.window.other", events=_cap(listed),
                 window=window, left_out=fmt.count(left_out))]
    for r in data.dependence.itertuples():
        head = fmt.t("drivers.timing.head", event=_cap(fmt.t(EVENT_KEYS[r.event])) if r.event in EVENT_KEYS else r.event,
                     buyers=fmt.count(r.early_repeat_buyers), observed=fmt.count(r.observed_after),
                     expected=fmt.number(r.expected_after))
        if r.expected_after < 5:
            out.append(fmt.t("drivers.timing.too_few", head=head))
        elif r.dependent and r.observed_after < r.expected_after:
            out.append(fmt.t("drivers.timing.stops", head=head, day=day))
        elif r.dependent:
            out.append(fmt.t("drivers.timing.follows", head=head, day=day))
        else:
            out.append(fmt.t("drivers.timing.independent", head=head))
    return out


# ------------------------------------------------------------------ section 4: effects


def effects_table(effects: Effects, fmt: Formats) -> pd.DataFrame:
    """The ranked effects for stakeholders: what each factor changes, how sure, compared how."""
    t, tab = fmt.t, effects.table
    level = interval_level(fmt, effects.alpha, len(tab))
    return pd.DataFrame({
        t("drivers.table.rank"): tab["rank"],
        t("drivers.table.family"): [family_name(fmt, f) for f in tab["family"]],
        t("drivers.table.factor"): [row_name(fmt, r) for r in tab.itertuples()],
        t("drivers.table.customers_with"): [t("drivers.table.count_share", n=fmt.count(n), share=fmt.share(s, 0))
                                            for n, s in zip(tab["n"], tab["share"], strict=True)],
        t("drivers.table.with_without", days=fmt.days(effects.horizon)): [
            t("drivers.table.pair", a=fmt.share(a), b=fmt.share(b)) for a, b in zip(tab["p_if_1"], tab["p_if_0"],
                                                                                     strict=True)],
        t("drivers.table.effect"): [fmt.pp(e) for e in tab["effect"]],
        t("drivers.table.interval", level=level): [effect_interval(fmt, lo, hi)
                                                   for lo, hi in zip(tab["ci_low"], tab["ci_high"], strict=True)],
        t("drivers.table.clear"): [t("drivers.yes") if s else t("drivers.no") for s in tab["significant"]],
        t("drivers.table.compared_from"): [compared_from(fmt, d) for d in tab["design"]],
    }).set_index(t("drivers.table.rank"))


def effects_detail(effects: Effects) -> pd.DataFrame:
    """The model's detail per factor for analysts (hazard ratios, evidence, tests)."""
    tab = effects.table
    return pd.DataFrame({
        "rank": tab["rank"], "factor": tab["factor"],
        "evidence (interval's end nearest zero, pp)": (100 * tab["evidence"]).round(2),
        "hazard ratio": tab["hazard_ratio"], "time bands": tab["bands"].replace("", "—"),
        "proportional hazards holds": tab["ph_holds"], "PH test p (Holm)": tab["ph_p_adjusted"],
        "Wald p (Holm)": tab["p_adjusted"], "unadjusted gap (pp)": (100 * tab["raw_gap"]).round(1),
        "interval (per factor, pp)": [f"{100 * lo:+.1f} to {100 * hi:+.1f}" for lo, hi in
                                      zip(tab["ci_low_marginal"], tab["ci_high_marginal"], strict=True)],
        "travels with": tab["travels_with"], "design": tab["design"],
    }).set_index("rank")


def effects_findings(effects: Effects | None, data: DriverData, fmt: Formats) -> list[str]:
    """Which levers matter most, in plain words, from the numbers."""
    t = fmt.t
    h = data.horizon
    n = fmt.days(h)
    if effects is None and data.factors and data.followed_n and not (
            data.eligible["event"] & (data.eligible["duration"] <= h)).any():
        return [t("drivers.effects.nobody_bought", days=n)]
    if effects is None and data.factors:
        return [t("drivers.effects.too_early", n=fmt.count(data.followed_n), days=n)]
    if effects is None:
        return [t("drivers.effects.no_factor",
                  families=t("fmt.list_sep").join(family_name(fmt, f) for f in data.not_measured))]
    tab = effects.table
    k = len(tab)
    level = interval_level(fmt, effects.alpha, k)
    by_label = {f.label: f for f in data.factors}
    out = []

    def describe(r) -> str:
        among = ("" if r.design == "first order"
                 else t("drivers.effects.among", day=fmt.number(data.window)))
        key = "drivers.effects.describe_less" if r.effect < 0 else "drivers.effects.describe_more"
        return t(key, factor=inline(fmt, row_name(fmt, r)), change=points(fmt, r.effect), days=n, with_=fmt.share(r.p_if_1),
                 without=fmt.share(r.p_if_0), among=among,
                 interval=t("drivers.effects.interval", level=level,
                            range=effect_interval(fmt, r.ci_low, r.ci_high)))

    def reach(r) -> str:
        values = {"days": n, "at_stake": points(fmt, r.at_stake), "at_least": points(fmt, r.at_stake_low)}
        if r.action == "fix":
            return t("drivers.effects.reach_fix", share=fmt.share(r.share, 0), **values)
        if r.action == "extend":
            return t("drivers.effects.reach_extend", share=fmt.share(1 - r.share, 0), **values)
        return t("drivers.effects.reach_reduce", share=fmt.share(r.share, 0), **values)

    def together(r) -> str:
        if not r.travels_with:
            return ""
        names = [factor_name(fmt, by_label[x].name, x, by_label[x].reference) if x in by_label else x
                 for x in r.travels_with.split("; ")]
        return t("drivers.effects.together", others=joined(fmt, [inline(fmt, x) for x in names]))

    clear = levers(effects)
    if len(clear):
        top = clear.iloc[0]
        out.append(t("drivers.effects.top", factor=row_name(fmt, top), describe=_cap(describe(top)),
                     reach=_cap(reach(top)), together=together(top)))
        for r in clear.iloc[1:].itertuples():
            out.append(t("drivers.effects.also", describe=describe(r), reach=reach(r), together=together(r)))
        if len(clear) > 1:
            out.append(t("drivers.effects.ranked"))
    else:
        out.append(t("drivers.effects.no_lever", k=fmt.count(k)))
    markers = tab[tab["lever"] & tab["action"].isna() & tab["significant"]]
    for r in markers.itertuples():
        out.append(t("drivers.effects.marker", describe=describe(r)))
    unclear = tab[tab["action"].notna() & (tab["evidence"] == 0)]
    if len(unclear):
        listed = t("fmt.detail_sep").join(
            t("drivers.effects.unclear_item", factor=inline(fmt, row_name(fmt, r)),
              range=effect_interval(fmt, r.ci_low, r.ci_high))
            for r in unclear.itertuples())
        key = "drivers.effects.unclear.one" if len(unclear) == 1 else "drivers.effects.unclear.other"
        out.append(t(key, n=fmt.count(len(unclear)), listed=listed, k=fmt.count(k), level=level))
    segments = tab[~tab["lever"] & (tab["family"] != "customer") & tab["significant"]]
    for r in segments.itertuples():
        out.append(t("drivers.effects.aim", describe=describe(r)))
    who = tab[(tab["family"] == "customer") & tab["significant"]]
    if (tab["family"] == "customer").any():
        out.append(t("drivers.effects.who", listed=t("fmt.detail_sep").join(describe(r) for r in who.itertuples()))
                   if len(who) else t("drivers.effects.who_none"))
    for r in tab[tab["banded"]].itertuples():
        hrs = [float(v) for v in r.hazard_ratio.split(" → ")]
        logs = np.abs(np.log(hrs))
        fades = logs[0] > logs[-1]
        sentence = t("drivers.effects.banded", factor=row_name(fmt, r), p=f"{r.ph_p_adjusted:.2g}",
                     shape=t("drivers.effects.fades" if fades else "drivers.effects.grows"),
                     ratios=r.hazard_ratio, bands=bands(fmt, r.bands), days=n)
        if fades:
            sentence += t("drivers.effects.frailty")
        out.append(sentence)
    if len(tab) and not tab["banded"].any():
        out.append(t("drivers.effects.steady"))
    if data.not_measured:
        out.append(t("drivers.effects.not_measured", items=t("fmt.detail_sep").join(
            t("drivers.effects.not_measured_item", family=family_name(fmt, f), why=missing_data(fmt, why))
            for f, why in data.not_measured.items())))
    return out


# ------------------------------------------------------------------ section 5: what is recorded


def recorded_sentence(section: dict, fmt: Formats) -> str:
    missing = section["not_measured"]
    families = (fmt.t("drivers.recorded.all_measured") if not missing
                else fmt.t("drivers.recorded.not_measured",
                           families=fmt.t("fmt.list_sep").join(family_name(fmt, f) for f in missing)))
    clear = sum(bool(e["significant"]) for e in section["effects"].values())
    return fmt.t("drivers.recorded.sentence", steps=fmt.count(len(section["funnel"])),
                 effects=fmt.count(len(section["effects"])), clear=fmt.count(clear), families=families)
