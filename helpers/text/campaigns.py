"""Words of notebook 06 (campaign retrospective): the sentences of each section and the findings
paragraph, from the estimates of :mod:`helpers.campaigns`, in the run's language.

Every word comes from the catalogue (``campaigns.*`` in ``helpers/text/<language>/campaigns.yaml``),
every figure from :class:`helpers.text.formats.Formats`: a lift (a change of a rate) in percentage
points with its interval and level, ROI as a per cent, money with its currency. The calls the
sentences make (raised or lowered, paid or lost, which group is best) are computed by
:mod:`helpers.campaigns`; this module only words them.

Presentation layer: imports the analysis module, never the reverse.
"""

from __future__ import annotations

import math

import pandas as pd

from helpers import campaigns as cp
from helpers.text.formats import Formats

# Why a campaign's ROI is not read (cp.roi_note's values, kept in metrics.json) in words.
ROI_NOTES = {"contact cost unknown": "campaigns.roi_note.cost_unknown", "no cost recorded": "campaigns.roi_note.no_cost",
             "spend too small to read": "campaigns.roi_note.too_small"}
# The status of a campaign (cp.READ ...) in the overview table.
STATUSES = {cp.READ: "campaigns.status.read", cp.TOO_EARLY: "campaigns.status.too_early",
            cp.OBSERVATIONAL: "campaigns.status.no_control", cp.READ_EARLIER: "campaigns.status.read_earlier",
            cp.NOT_READ: "campaigns.status.never_read", cp.UNKNOWN_GROUP: "campaigns.status.unknown_group"}
# Data notes of the study (cp.Study.notes kinds).
NOTES = {"unreadable_contacts": "campaigns.note.unreadable_contacts", "later_contacts": "campaigns.note.later_contacts",
         "several_arms": "campaigns.note.several_arms"}
# How the designed split was read when it cannot be checked (cp.designed_shares).
SPLIT_NOTES = {"not_recorded": "campaigns.split.not_recorded", "one_arm": "campaigns.split.one_arm"}
# Where profit comes from (cp.profit_expression).
PROFIT_BASES = {"margin_column": "campaigns.economics.profit_margin_column",
                "cost_column": "campaigns.economics.profit_cost_column",
                "business_margin": "campaigns.economics.profit_business_margin"}
# The pre-contact characteristics of the balance table (cp.HISTORY columns; segments and the
# share without an earlier order are worded separately).
CHARACTERISTICS = {"pre_orders": "campaigns.characteristic.pre_orders",
                   "pre_revenue": "campaigns.characteristic.pre_revenue",
                   "orders_before": "campaigns.characteristic.orders_before",
                   "recency_days": "campaigns.characteristic.recency_days",
                   "no_earlier_order": "campaigns.characteristic.no_earlier_order"}
# The covariates of the adjusted lift (cp.adjustment_covariates names).
COVARIATES = {"pre-period orders": "campaigns.characteristic.pre_orders",
              "pre-period revenue": "campaigns.characteristic.pre_revenue",
              "orders before": "campaigns.characteristic.orders_before",
              "log days since last order": "campaigns.characteristic.recency_days",
              "no earlier order": "campaigns.characteristic.no_earlier_order"}
# Ways of splitting the customers before the contact (study.dimensions).
DIMENSIONS = {"tier": "campaigns.dimension.tier", "segment": "campaigns.dimension.segment",
              "stage": "campaigns.dimension.stage", "rfm": "campaigns.dimension.rfm"}
# Group labels the analysis gives (stage and RFM group at contact, tiers, a missing value).
GROUPS = {"no purchase yet": "campaigns.group.no_purchase", "new": "campaigns.group.new",
          "active": "campaigns.group.active", "dormant": "campaigns.group.dormant", "churned": "campaigns.group.churned",
          "recent repeat buyers": "campaigns.group.recent_repeat", "recent one-time buyers": "campaigns.group.recent_once",
          "lapsed repeat buyers": "campaigns.group.lapsed_repeat", "lapsed one-time buyers": "campaigns.group.lapsed_once",
          "not in that run": "campaigns.group.not_in_run", "not recorded": "campaigns.missing",
          "high": "tier.high", "potential": "tier.potential", "general": "tier.general", "low": "tier.low"}
# What a skipped section would have shown (section_skipped's ``what``).
SKIPPED = {"split": "campaigns.skipped.split", "balance": "campaigns.skipped.balance", "lift": "campaigns.skipped.lift",
           "economics": "campaigns.skipped.economics", "subgroups": "campaigns.skipped.subgroups",
           "response": "campaigns.skipped.response", "fatigue": "campaigns.skipped.fatigue",
           "observational": "campaigns.skipped.observational"}


# ---------------------------------------------------------------- figures in words


def _finite(x) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _f(x) -> float:
    """A plain float (numpy integers are not numbers to Formats)."""
    return float(x) if _finite(x) else math.nan


def label(fmt: Formats, x) -> str:
    """A recorded label for prose or a table ('not recorded' for a missing one, never 'None' or 'nan')."""
    if x is None or x is pd.NA or x is pd.NaT or (isinstance(x, float) and math.isnan(x)):
        return fmt.t("campaigns.missing")
    return str(x)


def group(fmt: Formats, x) -> str:
    """A group label of a subgroup split in the run's language (a segment name stays as recorded)."""
    key = GROUPS.get(str(x))
    return fmt.t(key) if key else label(fmt, x)


def dimension(fmt: Formats, name: str) -> str:
    return fmt.t(DIMENSIONS[name]) if name in DIMENSIONS else str(name)


def customers(fmt: Formats, n) -> str:
    n = _f(n)
    return fmt.t("campaigns.customers.one" if n == 1 else "campaigns.customers.other", count=fmt.count(n))


def pp(fmt: Formats, x) -> str:
    return fmt.pp(_f(x)) if _finite(x) else fmt.t("campaigns.not_estimated")


def pp_interval(fmt: Formats, lo, hi) -> str:
    if not (_finite(lo) and _finite(hi)):
        return fmt.t("campaigns.no_interval")
    return fmt.interval(fmt.pp(_f(lo)), fmt.pp(_f(hi)), cp.LEVEL)


def money(fmt: Formats, x, plus: bool = False) -> str:
    return fmt.money(_f(x), plus=plus)


def money_interval(fmt: Formats, lo, hi) -> str:
    if not (_finite(lo) and _finite(hi)):
        return fmt.t("campaigns.no_interval")
    return fmt.interval(fmt.money(_f(lo), plus=True), fmt.money(_f(hi), plus=True), cp.LEVEL)


def count(fmt: Formats, x, plus: bool = False) -> str:
    """A count estimated in fractions (extra buyers), rounded to a whole one."""
    return fmt.count(float(round(_f(x))) if _finite(x) else math.nan, plus=plus)


def count_interval(fmt: Formats, lo, hi) -> str:
    if not (_finite(lo) and _finite(hi)):
        return fmt.t("campaigns.no_interval")
    return fmt.interval(count(fmt, lo, True), count(fmt, hi, True), cp.LEVEL)


def roi(fmt: Formats, x) -> str:
    return fmt.roi(_f(x))


def roi_interval(fmt: Formats, lo, hi) -> str:
    if not (_finite(lo) and _finite(hi)):
        return fmt.t("campaigns.no_interval")
    return fmt.interval(fmt.roi(_f(lo)), fmt.roi(_f(hi)), cp.LEVEL)


def p_value(fmt: Formats, p) -> str:
    """'p = 0.042'; 'p < 0.001' below that (a smaller p says nothing more to a reader)."""
    if not _finite(p):
        return fmt.t("campaigns.not_estimated")
    if p < 0.001:
        return fmt.t("campaigns.p_below", limit=fmt.number(0.001, 3))
    return fmt.t("campaigns.p", p=fmt.number(_f(p), 3))


def arm_label(fmt: Formats, campaign_id, arm) -> str:
    return fmt.t("campaigns.arm_label", campaign=campaign_id, arm=arm)


def roi_note(fmt: Formats, note) -> str:
    return fmt.t(ROI_NOTES[note]) if note in ROI_NOTES else fmt.t("campaigns.roi_note.cost_unknown")


def _join(fmt: Formats, items) -> str:
    return fmt.t("fmt.list_sep").join(items)


def _characteristic(fmt: Formats, column: str) -> str:
    if column.startswith("segment="):
        return fmt.t("campaigns.characteristic.segment_share", segment=column.split("=", 1)[1])
    return fmt.t(CHARACTERISTICS[column]) if column in CHARACTERISTICS else column


def covariates(fmt: Formats, names) -> str:
    """The covariates of the adjusted lift in words (the segment's indicators named once)."""
    if not (isinstance(names, str) and names):
        return fmt.t("campaigns.lift.no_covariates")
    words = []
    for name in names.split(", "):
        words.append(fmt.t("campaigns.characteristic.segment") if name.startswith("segment=")
                     else fmt.t(COVARIATES[name]) if name in COVARIATES else name)
    return _join(fmt, dict.fromkeys(words))


def cost_basis(fmt: Formats, basis: dict) -> str:
    """Where a campaign's contact cost comes from (cp.cost_basis), with what would provide a
    missing one."""
    kind = basis.get("kind")
    if kind == "recorded":
        return fmt.t("campaigns.cost.recorded")
    if kind == "per contact":
        rates = _join(fmt, (fmt.t("campaigns.cost.rate", channel=c, cost=fmt.money(float(v)))
                            for c, v in basis["rates"].items()))
        return fmt.t("campaigns.cost.per_contact", rates=rates)
    missing = basis.get("missing") or []
    why = []
    if None in missing:
        why.append(fmt.t("campaigns.cost.no_channel_some") if basis.get("several_channels")
                   else fmt.t("campaigns.cost.no_channel"))
    named = [c for c in missing if c is not None]
    if named:
        why.append(fmt.t("campaigns.cost.no_rate", channels=_join(fmt, (f"'{c}'" for c in named))))
    if not why:
        return fmt.t("campaigns.cost.none")
    return fmt.t("campaigns.cost.unknown", why=fmt.t("fmt.detail_sep").join(why))


def section_skipped(study: cp.Study, fmt: Formats, what: str) -> str:
    """The sentence for a section with nothing to show (``what``: a SKIPPED name)."""
    thing = fmt.t(SKIPPED[what])
    if not study.has_table:
        return fmt.t("campaigns.skipped.no_table", what=thing)
    if what == "observational" and study.readable():
        return fmt.t("campaigns.skipped.all_controlled")
    if what == "observational":  # nothing read at all (too early, stopped): nothing was measured above
        return fmt.t("campaigns.skipped.no_observational")
    return fmt.t("campaigns.skipped.none_read", what=thing)


def notes(study: cp.Study, fmt: Formats) -> list[str]:
    out = []
    for kind, v in study.notes:
        if kind == "unreadable_contacts":
            out.append(fmt.t(NOTES[kind], rows=fmt.count(_f(v["rows"])), of=fmt.count(_f(v["of"]))))
        elif kind == "later_contacts":
            out.append(fmt.t(NOTES[kind], rows=fmt.count(_f(v["rows"]))))
        else:
            out.append(fmt.t(NOTES[kind], campaign=v["campaign"], customers=customers(fmt, v["customers"])))
    return out


# ---------------------------------------------------------------- section 1: which campaigns, split, balance


def overview_table(study: cp.Study, fmt: Formats) -> pd.DataFrame | None:
    """One row per campaign visible to the run (None when there is none: nothing to show)."""
    o = study.overview
    if o.empty:
        return None
    t = fmt.t
    contact = [fmt.date(a) if a.date() == b.date() else fmt.range(fmt.date(a), fmt.date(b))
               for a, b in zip(o["first_contact"], o["last_contact"], strict=True)]
    return pd.DataFrame({
        t("campaigns.col.campaign"): o["campaign_id"],
        t("campaigns.col.status"): [t(STATUSES[s]) if s in STATUSES else s for s in o["status"]],
        t("campaigns.col.contact"): contact,
        t("campaigns.col.window_closes"): [fmt.date(d) for d in o["window_end"]],
        t("campaigns.col.customers"): [fmt.count(_f(n)) for n in o["customers"]],
        t("campaigns.col.groups"): [fmt.count(_f(n)) for n in o["arms"]],
        t("campaigns.col.channel"): [label(fmt, x) for x in o["channel"]],
        t("campaigns.col.offer"): [label(fmt, x) for x in o["offer"]],
    }).set_index(t("campaigns.col.campaign"))


def overview(study: cp.Study, fmt: Formats) -> list[str]:
    """One sentence per campaign the run can see: read, too early, without control, stopped, older."""
    if not study.has_table:
        return [fmt.t("campaigns.overview.no_table")]
    if study.overview.empty:
        return [fmt.t("campaigns.overview.no_contacts", date=fmt.date(study.period_end)), *notes(study, fmt)]
    out = []
    cfg = study.cfg
    for row in study.overview.itertuples():
        who = customers(fmt, row.customers)
        if row.status == cp.READ:
            out.append(fmt.t("campaigns.overview.read", campaign=row.campaign_id, customers=who,
                             first=fmt.date(row.first_contact), window=fmt.days(cfg.window_days),
                             end=fmt.date(row.window_end)))
        elif row.status == cp.TOO_EARLY:
            out.append(fmt.t("campaigns.overview.too_early", campaign=row.campaign_id, customers=who,
                             first=fmt.date(row.first_contact), end=fmt.date(row.window_end),
                             left=fmt.days((row.window_end - study.period_end).days + 1)))
        elif row.status == cp.OBSERVATIONAL:
            out.append(fmt.t("campaigns.overview.no_control", campaign=row.campaign_id, customers=who))
        elif row.status == cp.UNKNOWN_GROUP:
            out.append(unknown_label(study, fmt, row))
        elif row.status == cp.NOT_READ:
            out.append(fmt.t("campaigns.overview.never_read", campaign=row.campaign_id, end=fmt.date(row.window_end),
                             periods=fmt.count(cfg.read_periods - 1), window_period=fmt.period(row.window_period),
                             command=f"workbook run --brand {study.params.brand} --period {row.window_period}"))
        else:
            out.append(fmt.t("campaigns.overview.read_earlier", campaign=row.campaign_id,
                             end=fmt.date(row.window_end), periods=fmt.count(cfg.read_periods - 1),
                             read_by=fmt.period(row.read_by)))
        if row.status in (cp.READ, cp.TOO_EARLY) and row.inferred_label:
            out.append(fmt.t("campaigns.overview.inferred_label", campaign=row.campaign_id, label=row.inferred_label,
                             control=row.control))
    return out + notes(study, fmt)


def unknown_label(study: cp.Study, fmt: Formats, row) -> str:
    """Why a campaign with a group label that is neither a control nor a treatment label is not
    analysed, with the label, its customers and what to set."""
    cfg = study.cfg
    labels = _join(fmt, (fmt.t("campaigns.unknown_label.label", label=name, customers=customers(fmt, n))
                         for name, n in row.unknown_labels))
    return fmt.t("campaigns.unknown_label.sentence", campaign=row.campaign_id, labels=labels,
                 control_labels=_join(fmt, cfg.control_labels), treatment_labels=_join(fmt, cfg.treatment_labels))


def split(study: cp.Study, fmt: Formats) -> list[str]:
    """Did each campaign get the split it was designed with?"""
    out = []
    alpha = fmt.number(study.cfg.srm_alpha, 3)
    for row in study.overview.itertuples():
        if row.status in (cp.READ_EARLIER, cp.NOT_READ, cp.UNKNOWN_GROUP):
            continue
        a = study.arms[study.arms["campaign_id"] == row.campaign_id]
        if pd.isna(row.srm_ok):
            if row.arms > 1:
                why = fmt.t(SPLIT_NOTES.get(row.split_note, "campaigns.split.not_recorded"))
                out.append(fmt.t("campaigns.split.unchecked", campaign=row.campaign_id, why=why))
            continue
        shares = _join(fmt, (fmt.t("campaigns.split.share", arm=r.arm, observed=fmt.share(_f(r.observed_share)),
                                   designed=fmt.share(_f(r.designed_share))) for r in a.itertuples()))
        key = "campaigns.split.as_designed" if row.srm_ok else "campaigns.split.mismatch"
        out.append(fmt.t(key, campaign=row.campaign_id, shares=shares, p=p_value(fmt, row.srm_p), alpha=alpha))
    return out or [section_skipped(study, fmt, "split")]


def balance(study: cp.Study, fmt: Formats, bal: pd.DataFrame, lifts: pd.DataFrame) -> list[str]:
    """What the balance table says, and what it does to the raw lift."""
    if bal.empty:
        return [section_skipped(study, fmt, "balance")]
    out = []
    limit = fmt.number(cp.SMD_FLAG, 1)
    for (cid, arm), g in bal.groupby(["campaign_id", "arm"], sort=False):
        off = g[g["imbalanced"]]
        who = arm_label(fmt, cid, arm)
        if off.empty:
            out.append(fmt.t("campaigns.balance.alike", arm=who, n=fmt.count(len(g)), limit=limit))
            continue
        items = fmt.t("fmt.detail_sep").join(
            fmt.t("campaigns.balance.item", name=_characteristic(fmt, r.column),
                  treatment=balance_value(fmt, r.column, r.treatment), control=balance_value(fmt, r.column, r.control),
                  smd=fmt.number(_f(r.smd), 2, plus=True), p=p_value(fmt, r.p))
            for r in off.itertuples())
        line = fmt.t("campaigns.balance.differ", arm=who, n=fmt.count(len(off)), total=fmt.count(len(g)),
                     limit=limit, items=items)
        row = lifts[(lifts["campaign_id"] == cid) & (lifts["arm"] == arm)] if not lifts.empty else lifts
        if len(row) and bool(row["srm_ok"].iloc[0]) and _finite(row["repurchase_adj"].iloc[0]):
            raw, adj = float(row["repurchase_pp"].iloc[0]), float(row["repurchase_adj"].iloc[0])
            line += " " + fmt.t("campaigns.balance.adjusted", raw=pp(fmt, raw), adjusted=pp(fmt, adj),
                                change=pp(fmt, adj - raw))
        out.append(line)
    return out


def balance_value(fmt: Formats, column: str, x) -> str:
    """A balance figure: a share, money (pre-period revenue) or a mean count."""
    if column.startswith(("segment=", "no_earlier")):
        return fmt.share(_f(x))
    if column == "pre_revenue":
        return fmt.money(_f(x))
    return fmt.number(_f(x), 2)


# ---------------------------------------------------------------- section 2: the lift


def lift(study: cp.Study, fmt: Formats, lifts: pd.DataFrame) -> list[str]:
    if lifts.empty:
        return [section_skipped(study, fmt, "lift")]
    out = []
    for r in lifts.itertuples():
        who = arm_label(fmt, r.campaign_id, r.arm)
        if not r.srm_ok:
            out.append(fmt.t("campaigns.lift.withheld", arm=who))
            continue
        head = fmt.t("campaigns.lift.head", arm=who, rate_treatment=fmt.share(_f(r.rate_treatment)),
                     window=fmt.days(study.cfg.window_days), rate_control=fmt.share(_f(r.rate_control)),
                     raw=pp(fmt, r.repurchase_pp), raw_interval=pp_interval(fmt, r.repurchase_lo, r.repurchase_hi),
                     covariates=covariates(fmt, r.adjust_covariates), adjusted=pp(fmt, r.repurchase_adj),
                     interval=pp_interval(fmt, r.repurchase_adj_lo, r.repurchase_adj_hi))
        verdict = cp.direction(r.repurchase_adj_lo, r.repurchase_adj_hi)
        raw_verdict = cp.direction(r.repurchase_lo, r.repurchase_hi)
        if verdict == "raised":
            rel = cp.relative_lift(r.rate_treatment, r.repurchase_adj)
            tail = (fmt.t("campaigns.lift.raised_relative", share=fmt.share(rel, 0)) if _finite(rel)
                    else fmt.t("campaigns.lift.raised"))
        elif verdict == "lowered":
            tail = fmt.t("campaigns.lift.lowered")
        elif raw_verdict == "raised":
            tail = fmt.t("campaigns.lift.cannot_tell_raw_raised")
        elif raw_verdict == "lowered":
            tail = fmt.t("campaigns.lift.cannot_tell_raw_lowered")
        else:
            tail = fmt.t("campaigns.lift.cannot_tell")
        out.append(head + tail)
        if not study.params.has_amount:  # no amount: revenue unknown, no sentence about it
            continue
        out.append(fmt.t("campaigns.lift.revenue", raw=money(fmt, r.revenue_pc, True),
                         raw_interval=money_interval(fmt, r.revenue_lo, r.revenue_hi),
                         days=fmt.days(study.cfg.pre_period_days), cuped=money(fmt, r.revenue_cuped, True),
                         cuped_interval=money_interval(fmt, r.revenue_cuped_lo, r.revenue_cuped_hi),
                         explained=fmt.share(_f(r.cuped_variance_reduction)), adjusted=money(fmt, r.revenue_adj, True),
                         interval=money_interval(fmt, r.revenue_adj_lo, r.revenue_adj_hi)))
    return out


# ---------------------------------------------------------------- section 3: what it earned and cost


def costs_counted(study: cp.Study, fmt: Formats) -> str:
    return fmt.t("campaigns.economics.costs_with_offer" if study.has_discount else "campaigns.economics.costs_contact_only")


def economics(study: cp.Study, fmt: Formats, econ: pd.DataFrame) -> list[str]:
    if econ.empty:
        return [section_skipped(study, fmt, "economics")]
    basis = fmt.t(PROFIT_BASES.get(study.profit_basis, "campaigns.economics.profit_business_margin"),
                  margin=fmt.share(study.params.business.margin, 0))
    out = [fmt.t("campaigns.economics.basis", basis=basis, costs=costs_counted(study, fmt),
                 outliers=fmt.t("campaigns.economics.outliers") if study.cfg.exclude_outlier_revenue else "")]
    for r in econ.itertuples():
        line = fmt.t("campaigns.economics.head", arm=arm_label(fmt, r.campaign_id, r.arm),
                     buyers=count(fmt, r.incremental_buyers),
                     buyers_interval=count_interval(fmt, r.incremental_buyers_lo, r.incremental_buyers_hi),
                     orders=count(fmt, r.incremental_orders),
                     orders_interval=count_interval(fmt, r.incremental_orders_lo, r.incremental_orders_hi),
                     revenue=money(fmt, r.incremental_revenue), profit=money(fmt, r.incremental_profit),
                     profit_interval=money_interval(fmt, r.incremental_profit_lo, r.incremental_profit_hi))
        if _finite(r.offer_cost):
            line += fmt.t("campaigns.economics.offer", redeemed=money(fmt, r.discount_redeemed),
                          offer=money(fmt, r.offer_cost))
        basis = study.cost_basis.get(r.campaign_id, {})
        per_contact = (" " + fmt.t("campaigns.economics.cost_source", source=cost_basis(fmt, basis))
                       if basis.get("kind") == "per contact" else "")
        net = dict(net=money(fmt, r.net_profit, True), net_interval=money_interval(fmt, r.net_profit_lo, r.net_profit_hi))
        if r.roi_note == "contact cost unknown":
            line += fmt.t("campaigns.economics.cost_unknown", source=cost_basis(fmt, basis))
            if not _finite(r.offer_cost):
                line += fmt.t("campaigns.economics.cost_unknown_no_offer")
            line += fmt.t("campaigns.stop")
        elif r.roi_note == "spend too small to read":
            line += fmt.t("campaigns.economics.too_small", costs=money(fmt, r.total_cost), source=per_contact,
                          share=fmt.share(cp.ROI_MIN_COST_SHARE, 0), **net)
        elif _finite(r.roi):
            call, scale = cp.roi_call(study, r)
            if call == "paid":
                verdict = fmt.t("campaigns.economics.paid")
            elif call == "lost":
                verdict = fmt.t("campaigns.economics.lost")
            elif _finite(scale):
                verdict = fmt.t("campaigns.economics.cannot_tell_scale", scale=fmt.number(scale, 1))
            else:
                verdict = fmt.t("campaigns.economics.cannot_tell")
            costs = (fmt.t("campaigns.economics.contact_cost", cost=money(fmt, r.cost)) if _finite(r.cost) and r.cost > 0
                     else fmt.t("campaigns.economics.no_contact_cost"))
            costs += per_contact
            if _finite(r.offer_cost):
                costs += fmt.t("campaigns.economics.and_offer", offer=money(fmt, max(r.offer_cost, 0.0)))
            line += fmt.t("campaigns.economics.roi", costs=costs, roi=roi(fmt, r.roi),
                          roi_interval=roi_interval(fmt, r.roi_lo, r.roi_hi), verdict=verdict, **net)
        else:
            line += fmt.t("campaigns.economics.no_cost")
        out.append(line)
    return out


# ---------------------------------------------------------------- section 4: for whom


def dimensions(study: cp.Study, fmt: Formats) -> list[str]:
    """Which pre-contact groups the lift is split by, and why tiers may be missing."""
    if not study.readable():
        return [section_skipped(study, fmt, "subgroups")]
    described = []
    for name in study.dimensions:
        if name == "tier":
            text = fmt.t("campaigns.dimension.tier_from", period=fmt.period(study.sources.get("tier")))
        elif name == "stage" and study.thresholds:
            text = fmt.t("campaigns.dimension.stage_from", active=fmt.days(study.thresholds[0]),
                         churned=fmt.days(study.thresholds[1]))
        elif name == "rfm" and "rfm" in study.sources:
            text = fmt.t("campaigns.dimension.rfm_from_run", period=fmt.period(study.sources["rfm"]))
        elif name == "rfm":
            text = fmt.t("campaigns.dimension.rfm_from_contacts")
        else:
            text = fmt.t("campaigns.dimension.segment_from")
        described.append(fmt.t("campaigns.dimension.item", name=dimension(fmt, name), description=text))
    out = [fmt.t("campaigns.dimension.fixed", items=fmt.t("fmt.detail_sep").join(described))]
    if "tier" not in study.dimensions:
        first = study.overview.loc[study.overview["campaign_id"].isin(study.readable()), "first_contact"].min()
        out.append(fmt.t("campaigns.dimension.no_tiers", date=fmt.date(first)))
    return out


def subgroups(study: cp.Study, fmt: Formats, sub: pd.DataFrame, campaign_id: str, arm: str) -> list[str]:
    who = arm_label(fmt, campaign_id, arm)
    if sub.empty or "repurchase_adj" not in sub.columns or sub["repurchase_adj"].isna().all():
        return [fmt.t("campaigns.subgroup.none", arm=who, n=fmt.count(study.cfg.min_group_size))]
    c = cp.subgroup_counts(sub)
    out = [fmt.t("campaigns.subgroup.counts", arm=who, estimated=fmt.count(c["estimated"]), splits=fmt.count(c["splits"]),
                 by_chance=fmt.number(c["by_chance"], 1), significant=fmt.count(c["significant"]),
                 after_holm=fmt.count(c["after_holm"]))]
    for s in cp.split_findings(sub):
        if s["differ"]:
            out.append(fmt.t("campaigns.subgroup.differ", by=dimension(fmt, s["dimension"]), p=p_value(fmt, s["p"]),
                             p_holm=p_value(fmt, s["p_holm"]), splits=fmt.count(s["splits"]),
                             best=group(fmt, s["best"]), best_lift=pp(fmt, s["best_lift"]),
                             worst=group(fmt, s["worst"]), worst_lift=pp(fmt, s["worst_lift"])))
        else:
            out.append(fmt.t("campaigns.subgroup.within_chance", by=dimension(fmt, s["dimension"]),
                             lowest=pp(fmt, s["lowest"]), highest=pp(fmt, s["highest"]), groups=fmt.count(s["groups"]),
                             p=p_value(fmt, s["p"]), p_holm=p_value(fmt, s["p_holm"])))
    small = sub[sub["repurchase_adj"].isna()]
    if len(small):
        out.append(fmt.t("campaigns.subgroup.small", n=fmt.count(len(small)), min=fmt.count(study.cfg.min_group_size),
                         groups=_join(fmt, (f"{dimension(fmt, r.dimension)} {group(fmt, r.group)}"
                                            for r in small.itertuples()))))
    return out


def response(study: cp.Study, fmt: Formats, payload: dict | None) -> str:
    """Which measured response goes to notebook 05 next period."""
    if not study.has_table:
        return section_skipped(study, fmt, "response")
    if payload is None:
        return fmt.t("campaigns.response.none")
    groups = _join(fmt, (fmt.t("campaigns.response.group", group=group(fmt, g), lift=pp(fmt, v["repurchase_pp"]))
                         if v["repurchase_pp"] is not None else fmt.t("campaigns.response.too_few", group=group(fmt, g))
                         for g, v in payload["response"].items()))
    return fmt.t("campaigns.response.written", arm=arm_label(fmt, payload["campaign_id"], payload["arm"]),
                 by=dimension(fmt, payload["by"]), groups=groups, file=f"data/{cp.RESPONSE_FILE}")


# ---------------------------------------------------------------- section 5: contact fatigue


def fatigue(study: cp.Study, fmt: Formats, campaign_id: str, table: pd.DataFrame) -> list[str]:
    lookback = fmt.days(study.cfg.fatigue_lookback_days)
    trend = cp.fatigue_trend(study, campaign_id, table)
    if trend["status"] == "no_history":
        return [fmt.t("campaigns.fatigue.no_history", campaign=campaign_id, lookback=lookback)]
    if trend["status"] == "too_few":
        return [fmt.t("campaigns.fatigue.too_few", campaign=campaign_id)]
    first, last = trend["first"], trend["last"]
    key = "campaigns.fatigue.falls" if trend["falls"] else "campaigns.fatigue.rises"
    verdict = fmt.t("campaigns.fatigue.differs" if trend["differs"] else "campaigns.fatigue.within_chance")
    return [fmt.t(key, campaign=campaign_id, first=pp(fmt, first["lift"]), first_contacts=first["contacts_before"],
                  last=pp(fmt, last["lift"]), last_contacts=last["contacts_before"], lookback=lookback,
                  p=p_value(fmt, trend["p"]), verdict=verdict)]


# ---------------------------------------------------------------- section 6: without a control group


def observational(study: cp.Study, fmt: Formats, campaign_id: str, obs: dict) -> list[str]:
    caution = fmt.t("campaigns.observational.label")
    if not obs.get("n_matched"):
        return [fmt.t("campaigns.observational.unmatched", label=caution, campaign=campaign_id)]
    return [fmt.t("campaigns.observational.why", label=caution, campaign=campaign_id),
            fmt.t("campaigns.observational.figures", matched=fmt.count(_f(obs["n_matched"])),
                  unmatched=fmt.count(_f(obs["n_unmatched"])), window=fmt.days(study.cfg.window_days),
                  treated_pre=fmt.share(_f(obs["treated_pre"])), treated_post=fmt.share(_f(obs["treated_post"])),
                  matched_pre=fmt.share(_f(obs["matched_pre"])), matched_post=fmt.share(_f(obs["matched_post"])),
                  difference=pp(fmt, obs["difference"]),
                  interval=pp_interval(fmt, obs["difference_lo"], obs["difference_hi"]))]


# ---------------------------------------------------------------- section 7: what to do next period


def findings(study: cp.Study, fmt: Formats, lifts: pd.DataFrame, econ: pd.DataFrame,
             subs: dict[tuple[str, str], pd.DataFrame], fatigue_tables: dict[str, pd.DataFrame]) -> str:
    """One paragraph a marketing manager can act on, written from the numbers."""
    return fmt.t("campaigns.findings.title") + " " + _findings(study, fmt, lifts, econ, subs, fatigue_tables)


def _findings(study: cp.Study, fmt: Formats, lifts: pd.DataFrame, econ: pd.DataFrame,
              subs: dict[tuple[str, str], pd.DataFrame], fatigue_tables: dict[str, pd.DataFrame]) -> str:
    t = fmt.t
    if not study.has_table:
        return t("campaigns.findings.no_table")
    parts = []
    for row in study.overview.itertuples():
        if row.status == cp.UNKNOWN_GROUP:
            parts.append(t("campaigns.findings.unknown_label", campaign=row.campaign_id,
                           labels=_join(fmt, (f"'{name}'" for name, _ in row.unknown_labels))))
    never = study.ids(cp.NOT_READ)
    if never:
        parts.append(t("campaigns.findings.never_read.one" if len(never) == 1 else "campaigns.findings.never_read.other",
                       campaigns=_join(fmt, never)))
    for cid in study.ids(cp.TOO_EARLY):
        end = study.overview.set_index("campaign_id").loc[cid, "window_end"]
        parts.append(t("campaigns.findings.running", campaign=cid, date=fmt.date(end)))
    for cid in study.ids(cp.READ):
        if not study.srm_ok(cid):
            parts.append(t("campaigns.findings.mismatch", campaign=cid))
    for cid in study.ids(cp.OBSERVATIONAL):
        parts.append(t("campaigns.findings.no_control", campaign=cid))
    if lifts.empty or not lifts["srm_ok"].any():
        return " ".join(parts) or t("campaigns.findings.none")
    ok = lifts[lifts["srm_ok"]].merge(econ, on=["campaign_id", "arm"], how="left", suffixes=("", "_e"))
    for r in ok.itertuples():
        many = (lifts["campaign_id"] == r.campaign_id).sum() > 1
        what = t("campaigns.findings.arm", campaign=r.campaign_id, arm=r.arm) if many else str(r.campaign_id)
        s = t("campaigns.findings.lift", what=what, lift=pp(fmt, r.repurchase_adj),
              interval=pp_interval(fmt, r.repurchase_adj_lo, r.repurchase_adj_hi), raw=pp(fmt, r.repurchase_pp))
        if not study.params.has_amount:  # no amount: no profit, net or ROI figure
            parts.append(s + t("campaigns.findings.no_amount"))
            continue
        s += t("campaigns.findings.profit", profit=money(fmt, r.incremental_profit))
        spent = money(fmt, r.total_cost) if _finite(r.total_cost) else ""
        what_cost = t("campaigns.findings.on_contacts_offer" if _finite(r.offer_cost) else "campaigns.findings.on_contacts",
                      spent=spent)
        if _finite(r.roi):
            s += t("campaigns.findings.roi", on=what_cost, net=money(fmt, r.net_profit, True), roi=roi(fmt, r.roi),
                   interval=roi_interval(fmt, r.roi_lo, r.roi_hi))
        elif _finite(r.net_profit) and _finite(r.total_cost) and r.total_cost > 0:
            s += t("campaigns.findings.net_only", on=what_cost, net=money(fmt, r.net_profit, True),
                   interval=money_interval(fmt, r.net_profit_lo, r.net_profit_hi))
        s += t("campaigns.stop") + " "
        call, need = cp.pay_call(r)
        if call == "cost_unknown":
            s += t("campaigns.findings.cost_unknown", source=cost_basis(fmt, study.cost_basis.get(r.campaign_id, {})))
            if r.repurchase_adj_lo > 0:
                s += t("campaigns.findings.brings_back_anyway")
        elif call == "pays":
            s += t("campaigns.findings.pays")
        elif call == "loses":
            s += t("campaigns.findings.loses")
        elif call == "brings_back":
            s += t("campaigns.findings.brings_back")
        else:
            s += t("campaigns.findings.cannot_tell",
                   customers=customers(fmt, float(round(need))) if _finite(need) else t("campaigns.not_estimated"))
        sub = subs.get((r.campaign_id, r.arm))
        if sub is not None and "repurchase_adj" in sub.columns:
            s += targeting(fmt, sub)
        s += t("campaigns.stop")
        ft = fatigue_tables.get(r.campaign_id)
        if ft is not None:
            trend = cp.fatigue_trend(study, r.campaign_id, ft)
            if trend["status"] == "read" and trend["responded_less"]:
                last = trend["last"]["contacts_before"]
                times = t("campaigns.times.one" if last == "1" else "campaigns.times.other", count=last)
                s += " " + t("campaigns.findings.fatigue", times=times, lookback=fmt.days(study.cfg.fatigue_lookback_days),
                             last=pp(fmt, trend["last"]["lift"]), first=pp(fmt, trend["first"]["lift"]))
        parts.append(s)
    return " ".join(parts)


def targeting(fmt: Formats, sub: pd.DataFrame) -> str:
    """Where to aim the campaign next time (cp.targeting), as the clauses that end a finding."""
    aim = cp.targeting(sub)
    if aim is None:
        return ""
    t = fmt.t
    if len(aim["sure"]):
        out = t("campaigns.targeting.pays_in", groups=_join(fmt, (
            t("campaigns.targeting.group", group=group(fmt, g.group), by=dimension(fmt, g.dimension),
              lift=pp(fmt, g.repurchase_adj), net=money(fmt, g.net, True)) for g in aim["sure"].itertuples())))
    elif aim["differ"]:
        out = t("campaigns.targeting.differ", splits=_join(fmt, (dimension(fmt, d) for d in aim["differ"])))
    else:
        out = t("campaigns.targeting.none")
    if len(aim["loses"]):
        out += t("campaigns.targeting.loses", groups=_join(fmt, (
            t("campaigns.targeting.group_only", group=group(fmt, g.group), by=dimension(fmt, g.dimension))
            for g in aim["loses"].itertuples())))
    return out


# ---------------------------------------------------------------- tables the stakeholder page shows
# Headers and category words from the catalogue, figures through Formats. ``money`` False (the
# orders carry no amount): the revenue, profit and return columns are left out, never shown as 0.
# The estimates with their technical detail (test statistics, CUPED, relative lifts) are in the
# analyst view's cells, not here.

SPLIT_CHECKS = {True: "campaigns.table.as_designed", False: "campaigns.table.mismatch"}
ROLES = {"control": "campaigns.table.role_control", "treatment": "campaigns.table.role_treatment"}
# Rows of an observational comparison's balance (cp.observational), in its order.
MATCHED_ROWS = ("campaigns.table.days_since_purchase", "campaigns.table.orders_before", "campaigns.table.spend_before")


def _pair(fmt: Formats, a, b) -> str:
    return f"{fmt.count(_f(a))} / {fmt.count(_f(b))}"


def _blank(x: str) -> str:
    """'' for a figure that is not there (the table cell stays empty rather than showing a dash)."""
    return "" if x == "—" else x


def split_table(fmt: Formats, split: pd.DataFrame) -> pd.DataFrame:
    """Customers per group against the designed split (cp.split_table), with the check's verdict."""
    if split.empty:
        return split
    t = fmt.t
    s = split.reset_index()
    ok = [None if v == "not checked" else v == "as designed" for v in s["split check"]]
    return pd.DataFrame({
        t("campaigns.col.campaign"): s["campaign"], t("campaigns.col.group"): s["arm"],
        t("campaigns.col.role"): [t(ROLES[r]) if r in ROLES else str(r) for r in s["role"]],
        t("campaigns.col.customers"): [fmt.count(_f(n)) for n in s["customers"]],
        t("campaigns.col.observed_share"): [fmt.share(_f(x)) for x in s["observed share"]],
        t("campaigns.col.designed_share"): [_blank(fmt.share(_f(x))) for x in s["designed share"]],
        t("campaigns.col.split_check"): [t(SPLIT_CHECKS[v]) if v is not None else t("campaigns.table.not_checked")
                                         for v in ok],
    }).set_index([t("campaigns.col.campaign"), t("campaigns.col.group")])


def balance_table(fmt: Formats, bal: pd.DataFrame, money: bool = True) -> pd.DataFrame:
    """Were the groups alike before the contact (cp.balance_table), in plain words."""
    if bal.empty:
        return bal
    t = fmt.t
    b = bal if money else bal[bal["column"] != "pre_revenue"]
    return pd.DataFrame({
        t("campaigns.col.campaign"): b["campaign_id"], t("campaigns.col.group"): b["arm"],
        t("campaigns.col.before_contact"): [_characteristic(fmt, c) for c in b["column"]],
        t("campaigns.col.contacted"): [balance_value(fmt, c, x) for c, x in zip(b["column"], b["treatment"], strict=True)],
        t("campaigns.col.control"): [balance_value(fmt, c, x) for c, x in zip(b["column"], b["control"], strict=True)],
        t("campaigns.col.difference_sd"): [fmt.number(_f(x), 2, plus=True) for x in b["smd"]],
        t("campaigns.col.balance"): [t("campaigns.table.differs", limit=fmt.number(cp.SMD_FLAG, 1)) if x
                                     else t("campaigns.table.balanced") for x in b["imbalanced"]],
    }).set_index([t("campaigns.col.campaign"), t("campaigns.col.group"), t("campaigns.col.before_contact")])


def arms_table(fmt: Formats, arms: pd.DataFrame, window_days: int, money: bool = True) -> pd.DataFrame:
    """Outcomes per group in the window (cp.arm_outcomes)."""
    if arms.empty:
        return arms
    t = fmt.t
    cols = {
        t("campaigns.col.campaign"): arms["campaign_id"], t("campaigns.col.group"): arms["arm"],
        t("campaigns.col.customers"): [fmt.count(_f(n)) for n in arms["n"]],
        t("campaigns.col.bought_within", window=fmt.days(window_days)): [fmt.share(_f(x)) for x in arms["repurchase_rate"]],
        t("campaigns.col.interval", level=fmt.share(cp.LEVEL, 0)): [
            _blank(fmt.range(fmt.share(_f(lo)), fmt.share(_f(hi))) if _finite(lo) and _finite(hi) else "—")
            for lo, hi in zip(arms["repurchase_lo"], arms["repurchase_hi"], strict=True)],
        t("campaigns.col.orders_per_customer"): [fmt.number(_f(x), 3) for x in arms["orders_per_customer"]],
    }
    if money:
        cols.update({
            t("campaigns.col.revenue_per_customer"): [fmt.money(_f(x)) for x in arms["revenue_per_customer"]],
            t("campaigns.col.profit_per_customer"): [fmt.money(_f(x)) for x in arms["profit_per_customer"]],
            t("campaigns.col.pre_revenue_per_customer"): [fmt.money(_f(x)) for x in arms["pre_revenue_per_customer"]],
        })
    # an unknown contact cost stays empty, never 0
    cols[t("campaigns.col.cost_per_customer")] = [_blank(fmt.money(_f(x))) for x in arms["cost_per_customer"]]
    return pd.DataFrame(cols).set_index([t("campaigns.col.campaign"), t("campaigns.col.group")])


def lift_table(fmt: Formats, lifts: pd.DataFrame, money: bool = True) -> pd.DataFrame:
    """The lift of each group over the control group (cp.lift_table); withheld where the split
    check failed."""
    if lifts.empty:
        return lifts
    t = fmt.t
    withheld = ~lifts["srm_ok"].astype(bool)
    level = fmt.share(cp.LEVEL, 0)

    def col(values):
        return [t("campaigns.table.withheld") if w else v for w, v in zip(withheld, values, strict=True)]

    def ranges(lo, hi, word):
        return col([_blank(fmt.range(word(_f(a)), word(_f(b)))) if _finite(a) and _finite(b) else ""
                    for a, b in zip(lifts[lo], lifts[hi], strict=True)])

    def signed_money(x):
        return fmt.money(x, plus=True)

    cols = {
        t("campaigns.col.campaign"): lifts["campaign_id"], t("campaigns.col.group"): lifts["arm"],
        t("campaigns.col.treated_control"): [_pair(fmt, a, b) for a, b in zip(lifts["n_treatment"], lifts["n_control"], strict=True)],
        t("campaigns.col.lift_adjusted"): col([pp(fmt, x) for x in lifts["repurchase_adj"]]),
        t("campaigns.col.interval", level=level): ranges("repurchase_adj_lo", "repurchase_adj_hi", fmt.pp),
        t("campaigns.col.raw_difference"): col([pp(fmt, x) for x in lifts["repurchase_pp"]]),
        t("campaigns.col.raw_interval", level=level): ranges("repurchase_lo", "repurchase_hi", fmt.pp),
    }
    if money:
        cols[t("campaigns.col.revenue_lift_adjusted")] = col([fmt.money(_f(x), plus=True) for x in lifts["revenue_adj"]])
        cols[t("campaigns.col.revenue_interval", level=level)] = ranges("revenue_adj_lo", "revenue_adj_hi", signed_money)
    return pd.DataFrame(cols).set_index([t("campaigns.col.campaign"), t("campaigns.col.group")])


def economics_table(fmt: Formats, econ: pd.DataFrame) -> pd.DataFrame:
    """What each group earned and cost (cp.economics): extra buyers, orders, revenue and profit,
    the costs, the net profit and the return on spend (a per cent), with their intervals."""
    if econ.empty:
        return econ
    t = fmt.t
    e = econ

    def ranges(name, word):
        return [_blank(fmt.range(word(lo), word(hi))) if _finite(lo) and _finite(hi) else ""
                for lo, hi in zip(e[f"{name}_lo"], e[f"{name}_hi"], strict=True)]

    def signed_count(x):
        return count(fmt, x, True)

    def signed_money(x):
        return fmt.money(_f(x), plus=True)

    level = fmt.share(cp.LEVEL, 0)
    return pd.DataFrame({
        t("campaigns.col.campaign"): e["campaign_id"], t("campaigns.col.group"): e["arm"],
        t("campaigns.col.contacted_customers"): [fmt.count(_f(n)) for n in e["n_treatment"]],
        t("campaigns.col.extra_buyers"): [count(fmt, x) for x in e["incremental_buyers"]],
        t("campaigns.col.extra_buyers_interval", level=level): ranges("incremental_buyers", signed_count),
        t("campaigns.col.extra_orders"): [count(fmt, x) for x in e["incremental_orders"]],
        t("campaigns.col.extra_revenue"): [fmt.money(_f(x)) for x in e["incremental_revenue"]],
        t("campaigns.col.extra_profit"): [fmt.money(_f(x)) for x in e["incremental_profit"]],
        t("campaigns.col.extra_profit_interval", level=level): ranges("incremental_profit", signed_money),
        t("campaigns.col.contact_cost"): [fmt.money(_f(x)) if _finite(x) else t("campaigns.table.unknown") for x in e["cost"]],
        t("campaigns.col.offer_cost"): [fmt.money(_f(x)) if _finite(x) else t("campaigns.missing") for x in e["offer_cost"]],
        t("campaigns.col.net_profit"): [fmt.money(_f(x), plus=True) if _finite(x) else t("campaigns.roi_note.cost_unknown")
                                        for x in e["net_profit"]],
        t("campaigns.col.net_profit_interval", level=level): ranges("net_profit", signed_money),
        t("campaigns.col.roi"): [roi(fmt, x) if _finite(x) else t("campaigns.table.not_read", why=roi_note(fmt, note))
                                 for x, note in zip(e["roi"], e["roi_note"], strict=True)],
        t("campaigns.col.roi_interval", level=level): ranges("roi", fmt.roi),
    }).set_index([t("campaigns.col.campaign"), t("campaigns.col.group")])


def subgroup_table(fmt: Formats, sub: pd.DataFrame, money: bool = True) -> pd.DataFrame:
    """The lift within each group fixed before the contact (cp.subgroup_tables)."""
    if sub.empty:
        return sub
    t = fmt.t
    g = sub.reindex(columns=[*sub.columns, *[c for c in ("repurchase_pp", "rate_control", "repurchase_adj",
                                                          "repurchase_adj_lo", "repurchase_adj_hi", "revenue_adj",
                                                          "profit_after_offer_adj", "cost_pc")
                                             if c not in sub.columns]])
    small = g["repurchase_adj"].isna()
    level = fmt.share(cp.LEVEL, 0)
    cols = {
        t("campaigns.col.by"): [dimension(fmt, d) for d in g["dimension"]],
        t("campaigns.col.subgroup"): [group(fmt, x) for x in g["group"]],
        t("campaigns.col.treated_control"): [_pair(fmt, a, b) for a, b in zip(g["n_treatment"], g["n_control"], strict=True)],
        t("campaigns.col.control_bought"): [_blank(fmt.share(_f(x))) for x in g["rate_control"]],
        t("campaigns.col.lift_adjusted"): [t("campaigns.table.too_few") if s_ else pp(fmt, x)
                                           for s_, x in zip(small, g["repurchase_adj"], strict=True)],
        t("campaigns.col.interval", level=level): [
            fmt.range(fmt.pp(_f(lo)), fmt.pp(_f(hi))) if _finite(lo) and _finite(hi) else ""
            for lo, hi in zip(g["repurchase_adj_lo"], g["repurchase_adj_hi"], strict=True)],
        t("campaigns.col.clear"): ["" if s_ else t("campaigns.table.yes" if p < 0.05 else "campaigns.table.no")
                                   for s_, p in zip(small, g["p_holm"], strict=True)],
    }
    if money:
        cols[t("campaigns.col.revenue_lift_adjusted")] = [_blank(fmt.money(_f(x), plus=True)) for x in g["revenue_adj"]]
        cols[t("campaigns.col.net_per_contact")] = [fmt.money(_f(x - c), plus=True) if _finite(x) and _finite(c) else ""
                                                    for x, c in zip(g["profit_after_offer_adj"], g["cost_pc"], strict=True)]
    return pd.DataFrame(cols).set_index([t("campaigns.col.by"), t("campaigns.col.subgroup")])


def fatigue_table(fmt: Formats, table: pd.DataFrame, window_days: int) -> pd.DataFrame:
    """Repurchase and lift by the number of earlier contacts (cp.fatigue)."""
    t = fmt.t
    f = table.reindex(columns=[*table.columns, *[c for c in ("lift", "lift_lo", "lift_hi") if c not in table.columns]])
    return pd.DataFrame({
        t("campaigns.col.earlier_contacts"): f["contacts_before"],
        t("campaigns.col.contacted_control"): [_pair(fmt, a, b) for a, b in zip(f["n_treatment"], f["n_control"], strict=True)],
        t("campaigns.col.contacted_bought", window=fmt.days(window_days)): [_blank(fmt.share(_f(x))) for x in f["rate_treatment"]],
        t("campaigns.col.control_bought"): [_blank(fmt.share(_f(x))) for x in f["rate_control"]],
        t("campaigns.col.lift"): [pp(fmt, x) if _finite(x) else "" for x in f["lift"]],
        t("campaigns.col.interval", level=fmt.share(cp.LEVEL, 0)): [
            fmt.range(fmt.pp(_f(lo)), fmt.pp(_f(hi))) if _finite(lo) and _finite(hi) else ""
            for lo, hi in zip(f["lift_lo"], f["lift_hi"], strict=True)],
    }).set_index(t("campaigns.col.earlier_contacts"))


def matched_table(fmt: Formats, balance: pd.DataFrame) -> pd.DataFrame:
    """Contacted customers, their matched look-alikes and every non-contacted customer before the
    contact (cp.observational's balance: days since the last purchase, orders, spend)."""
    t = fmt.t
    rows = [t(key) for key in MATCHED_ROWS]
    out = pd.DataFrame({
        t("campaigns.col.contacted"): balance["treated"].to_numpy(dtype=float),
        t("campaigns.col.matched"): balance["matched"].to_numpy(dtype=float),
        t("campaigns.col.not_contacted"): balance["all non-contacted"].to_numpy(dtype=float),
    }, index=rows[:len(balance)])
    return out.apply(lambda column: [fmt.money(x) if name == rows[2] else fmt.number(x, 1)
                                     for name, x in zip(out.index, column, strict=True)])
