"""Notebook 05's words: the findings, notes and tables of value tiers, the budget split and the
contact lists, in the run's language (catalogue ``tiers.*``, tier and action names from the
shared ``tier.*`` and ``action.*``).

Presentation layer: :mod:`helpers.tiers` computes (tiers, the split, the lists, and the facts
each finding rests on: :func:`helpers.tiers.split_facts`, :func:`helpers.tiers.action_facts` ...);
this module only words them through a :class:`helpers.text.formats.Formats` (``run.fmt``).
A change of a rate (a response, a lift) is in percentage points, ROI a per cent, money with its
currency, and nothing reads "−0".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers import budget, tiers
from helpers.config import Tiers
from helpers.text.formats import Formats, is_number

TIER_KEYS = {"high": "tier.high", "potential": "tier.potential", "general": "tier.general", "low": "tier.low"}
ACTION_KEYS = {"vip_service": "action.vip_service", "growth_offer": "action.growth_offer",
               "routine_offer": "action.routine_offer", "automated_winback": "action.automated_winback",
               "no_contact": "tiers.no_contact"}
# the workbook's default channels (params tiers.cost_per_contact); a brand's own channel keeps its name
CHANNEL_KEYS = {"sms": "tiers.channel.sms", "phone": "tiers.channel.phone", "app_push": "tiers.channel.app_push",
                "email": "tiers.channel.email"}
STAGE_KEYS = {"new": "tiers.stage.new", "active": "tiers.stage.active", "returning": "tiers.stage.returning",
              "dormant": "tiers.stage.dormant", "churned": "tiers.stage.churned"}
SOURCE_KEYS = {"measured": "tiers.source.measured", "assumed": "tiers.source.assumed"}
SPLIT_NAME_KEYS = {"optimized": "tiers.split_name.optimized", "rule_of_thumb": "tiers.split_name.rule_of_thumb"}
SUPPRESSION_KEYS = {"opted_out": "tiers.suppression.opted_out", "complaint": "tiers.suppression.complaint",
                    "recent_contact": "tiers.suppression.recent_contact", "not_in_crm": "tiers.suppression.not_in_crm",
                    "frequency_cap": "tiers.suppression.frequency_cap", "contactable": "tiers.suppression.contactable"}
ESTIMATE_KEYS = {"covariate-adjusted": "tiers.response.estimate.adjusted", "raw difference": "tiers.response.estimate.raw"}
BASIS_KEYS = {"tier": "tiers.response.basis.tier", "stage_mix": "tiers.response.basis.stage_mix",
              "overall": "tiers.response.basis.overall", "assumed": "tiers.source.assumed"}
FALLBACK_KEYS = {"unreadable": "tiers.response.fallback.unreadable", "no_channel": "tiers.response.fallback.no_channel",
                 "unused_channel": "tiers.response.fallback.unused_channel"}
# notebook 04's checks (metrics clv.reliability_checks) in the shared plain words
CHECK_KEYS = {"purchase_model": "reliability.check.purchase_model", "dropout": "reliability.check.dropout",
              "p_alive_vs_lifecycle": "reliability.check.p_alive_vs_lifecycle", "readiness": "reliability.check.readiness",
              "forecast_vs_past_year": "reliability.check.forecast_vs_past_year", "holdout": "reliability.check.holdout",
              "holdout_total": "reliability.check.holdout_total", "holdout_baseline": "reliability.check.holdout_baseline",
              "decile_calibration": "reliability.check.decile_calibration",
              "left_truncation": "reliability.check.left_truncation"}
SMALL = 0.5  # money below this is none (the optimiser leaves 2e-11 where it spends nothing)


# ---------------------------------------------------------------- names and small pieces


def tier_name(fmt: Formats, tier: str) -> str:
    return fmt.t(TIER_KEYS[tier]) if tier in TIER_KEYS else str(tier)


def action_name(fmt: Formats, action: str) -> str:
    return fmt.t(ACTION_KEYS[action]) if action in ACTION_KEYS else str(action)


def stage_name(fmt: Formats, stage: str) -> str:
    return fmt.t(STAGE_KEYS[stage]) if stage in STAGE_KEYS else str(stage)


def channel_name(fmt: Formats, channel: str) -> str:
    return fmt.t(CHANNEL_KEYS[channel]) if channel in CHANNEL_KEYS else str(channel)


def channel_names(fmt: Formats, channels) -> str:
    return fmt.t("fmt.list_sep").join(channel_name(fmt, ch) for ch in channels)


def cell_name(fmt: Formats, tier: str, channel: str) -> str:
    return fmt.t("tiers.cell", tier=tier_name(fmt, tier), channel=channel_name(fmt, channel))


def as_given(fmt: Formats, x: float) -> str:
    """A parameter value with as many decimals as it has, at most two: 2, 0.5, 0.25."""
    decimals = next((d for d in (0, 1) if float(round(x * 10 ** d, 9)).is_integer()), 2)
    return fmt.number(float(x), decimals)


def times(fmt: Formats, x: float) -> str:
    """A multiple: 1.5× / 1.5倍, 0.25×, 2×."""
    return fmt.t("tiers.times", value=as_given(fmt, x))


def joined(fmt: Formats, items: list[str]) -> str:
    """'a, b and c' / 'a、b和c'."""
    if len(items) <= 1:
        return "".join(items)
    return fmt.t("tiers.list_last", items=fmt.t("fmt.list_sep").join(items[:-1]), last=items[-1])


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def money_range(fmt: Formats, lo, hi) -> str:
    return fmt.range(fmt.money(lo), fmt.money(hi))


def roi_phrase(fmt: Formats, roi: float, spend: float) -> str:
    """', ROI 170 %' for a sentence; a ROI not read (a spend too small for a return per unit of
    money, :func:`helpers.budget.readable_roi`) is said to be so, never shown as a number."""
    if is_number(roi):
        return fmt.t("tiers.split.roi", roi=fmt.roi(roi))
    if spend > 0:
        return fmt.t("tiers.split.roi_not_read", spend=fmt.money(spend))
    return ""


# ---------------------------------------------------------------- top of the page


def reliability_sentence(clv_metrics: dict | None, fmt: Formats) -> str:
    """Notebook 04's verdict on the customer value the tiers rest on, when it is not 'validated'
    ('' otherwise): its first flagged check in plain words, and how many more there are."""
    m = clv_metrics or {}
    verdict = m.get("reliability")
    if verdict not in ("caution", "unreliable"):
        return ""
    checks = [c for c, level in (m.get("reliability_checks") or {}).items() if level != "ok"]
    known = [c for c in checks if c in CHECK_KEYS]
    english = list(m.get("reliability_reasons") or [])  # older runs: notebook 04's own sentences
    if known:
        reason, n = _check_words(known[0], m, fmt), len(checks)
    elif english:
        reason, n = english[0], len(english)
    else:
        reason, n = "", 0
    if verdict == "unreliable":
        lead = fmt.t("tiers.reliability.unreliable", reason=reason) if reason else \
            fmt.t("tiers.reliability.unreliable_no_reason")
    else:
        lead = fmt.t("tiers.reliability.caution", reason=reason) if reason else fmt.t("tiers.reliability.caution_no_reason")
    more = fmt.t("tiers.reliability.more.one" if n == 2 else "tiers.reliability.more.other", n=fmt.count(n - 1)) \
        if n > 1 else ""
    # not opening with bold: say() then shows it as its own bullet under the illustrative label
    return _sentences(fmt, lead, more, fmt.t("tiers.reliability.inherit"))


def _check_words(check: str, m: dict, fmt: Formats) -> str:
    values = {}
    if check == "holdout_total":
        holdout = m.get("holdout") or {}
        values["error"] = fmt.share(holdout.get("total_error"), 1, plus=True)
        length = holdout.get("holdout_length")
        values["period"] = fmt.weeks(length) if m.get("time_unit") == "week" else fmt.days(length)
    return fmt.t(CHECK_KEYS[check], **values)


def plan_period_sentence(next_label: str, start, end, fmt: Formats) -> str:
    return fmt.t("tiers.plan_period", period=fmt.period(next_label), start=fmt.date(start), end=fmt.date(end))


def no_model_note(clv_metrics: dict | None, fmt: Formats) -> str:
    """Said first on the page when notebook 04 fitted no purchase model ('' otherwise)."""
    if tiers.ranked(clv_metrics):
        return ""
    return fmt.t("tiers.no_model.note", reason=str(clv_metrics.get("skipped")))


def skipped_split(fmt: Formats) -> str:
    return fmt.t("tiers.no_model.skipped", what=fmt.t("tiers.no_model.split"))


def skipped_lists(fmt: Formats) -> str:
    return fmt.t("tiers.no_model.skipped", what=fmt.t("tiers.no_model.lists"))


# ---------------------------------------------------------------- section 1: tiers


def rule_sentence(frame: pd.DataFrame, cfg: Tiers, margin: float, fmt: Formats) -> str:
    """How the tiers were cut, with the predicted values the cuts fell on."""
    cuts = tiers.tier_cuts(frame)
    if cfg.method == "quantile":
        high_cut = fmt.t("tiers.rule.high_cut", value=fmt.money(cuts["high_min"])) if cuts["high_min"] is not None else ""
        low_cut = fmt.t("tiers.rule.low_cut", value=fmt.money(cuts["low_max"])) if cuts["low_max"] is not None else ""
        cut = fmt.t("tiers.rule.quantile", high_share=fmt.share(cfg.high_share, 0), high_cut=high_cut,
                    low_share=fmt.share(cfg.low_share, 0), low_cut=low_cut)
    else:
        cut = fmt.t("tiers.rule.absolute", high=fmt.money(cfg.high_threshold), low=fmt.money(cfg.low_threshold))
    text = fmt.t("tiers.rule.text", cut=cut, ratio=times(fmt, cfg.potential_ratio), typical=fmt.money(cuts["typical_order"]),
                 margin=fmt.share(margin, 0))
    missing = fmt.t("tiers.rule.missing.one" if cuts["missing"] == 1 else "tiers.rule.missing.other",
                    n=fmt.count(cuts["missing"])) if cuts["missing"] else ""
    return _sentences(fmt, text, missing)


def _sentences(fmt: Formats, *parts: str) -> str:
    """Sentences one after the other: a space between them in English, none in Chinese."""
    sep = "" if fmt.language == "zh" else " "
    return sep.join(p for p in parts if p)


def tier_findings(summary: pd.DataFrame, conc: dict, fmt: Formats) -> list[str]:
    high, pot, low = summary.loc["high"], summary.loc["potential"], summary.loc["low"]
    out = [fmt.t("tiers.findings.concentration", p10=fmt.share(0.10, 0), top10=fmt.share(conc["top_10_share"]),
                 p20=fmt.share(0.20, 0), top20=fmt.share(conc["top_20_share"])),
           fmt.t("tiers.findings.high", n=fmt.count(high.customers), share=fmt.share(high.customer_share),
                 clv_share=fmt.share(high.clv_share), clv=fmt.money(high.clv),
                 bound=money_range(fmt, high.clv_low, high.clv_high), revenue_share=fmt.share(high.revenue_share),
                 alive=fmt.share(high.p_alive, 0))]
    if pot.customers:
        stage = tiers.top_stage(summary, "potential")
        out.append(fmt.t("tiers.findings.potential", n=fmt.count(pot.customers), clv_share=fmt.share(pot.clv_share),
                         revenue_share=fmt.share(pot.revenue_share),
                         stage=stage_name(fmt, stage[0]) if stage else fmt.t("fmt.not_available"),
                         stage_share=fmt.share(stage[1]) if stage else fmt.t("fmt.not_available")))
    else:
        middle = summary.attrs.get("middle_band_max_upside", float("nan"))
        out.append(fmt.t("tiers.findings.no_potential_max", ratio=times(fmt, middle)) if is_number(middle)
                   else fmt.t("tiers.findings.no_potential"))
    out.append(fmt.t("tiers.findings.low", n=fmt.count(low.customers), clv_share=fmt.share(low.clv_share),
                     churned=fmt.share(low.get("stage: churned", 0.0))))
    return out


def confidence_sentence(conf: pd.DataFrame, fmt: Formats) -> str:
    """How many customers' value range reaches across a tier boundary ('' without customers)."""
    tot = conf.loc["total"]
    if not tot.customers:
        return ""
    parts = [fmt.t("tiers.confidence.part", tier=tier_name(fmt, t), uncertain=fmt.count(conf.loc[t, "uncertain"]),
                   customers=fmt.count(conf.loc[t, "customers"])) for t in tiers.TIERS if conf.loc[t, "customers"]]
    return fmt.t("tiers.confidence.text", n=fmt.count(tot.uncertain), share=fmt.share(tot.share),
                 high_cut=fmt.money(conf.attrs["high_cut"]), low_cut=fmt.money(conf.attrs["low_cut"]),
                 parts=fmt.t("fmt.detail_sep").join(parts))


def purchase_tier_findings(summary: pd.DataFrame, cfg: Tiers, fmt: Formats) -> list[str]:
    """Tiers by expected purchases (the orders carry no amount): the rule, then the findings."""
    high, pot = summary.loc["high"], summary.loc["potential"]
    rule = fmt.t("tiers.purchase.rule", high_share=fmt.share(cfg.high_share, 0), low_share=fmt.share(cfg.low_share, 0),
                 ratio=times(fmt, cfg.potential_ratio))
    out = [_sentences(fmt, rule, fmt.t("tiers.purchase.absolute") if cfg.method == "absolute" else ""),
           fmt.t("tiers.purchase.high", n=fmt.count(high.customers), share=fmt.share(high.customer_share),
                 expected_share=fmt.share(high.expected_share), purchases=fmt.count(high.expected_purchases),
                 alive=fmt.share(high.p_alive, 0))]
    if pot.customers:
        out.append(fmt.t("tiers.purchase.potential", n=fmt.count(pot.customers), share=fmt.share(pot.expected_share)))
    return out


def stage_findings(summary: pd.DataFrame, fmt: Formats) -> list[str]:
    """The customers by lifecycle stage (no purchase model: no tiers)."""
    parts = [fmt.t("tiers.no_model.stage_part", n=fmt.count(r.customers), stage=stage_name(fmt, str(stage)),
                   share=fmt.share(r.customer_share)) for stage, r in summary.iterrows()]
    return [fmt.t("tiers.no_model.stages", total=fmt.count(summary["customers"].sum()),
                  parts=fmt.t("fmt.list_sep").join(parts))]


def no_model_conclusions(next_label: str, fmt: Formats) -> list[str]:
    return ["- " + fmt.t("tiers.no_model.conclusion", period=fmt.period(next_label))]


# ---------------------------------------------------------------- section 2: response and split


def response_sentence(response: tiers.Response, fmt: Formats) -> str:
    """Where the response comes from: measured (which campaign, period, estimate) or assumed,
    and why a response file was not used when one was found."""
    band = fmt.t("tiers.band", share=fmt.share(response.band, 0))
    fallback = fmt.t(FALLBACK_KEYS[response.fallback], **_fallback_values(response, fmt)) \
        if response.fallback in FALLBACK_KEYS else ""
    if response.kind != "measured":
        return _sentences(fmt, fmt.t("tiers.response.assumed", band=band), fallback)
    bases = [_basis(response, b, fmt) for b in response.measured_bases()]
    assumed = response.assumed_channels()
    rest = fmt.t("tiers.response.rest", channels=channel_names(fmt, assumed), band=band) if assumed else ""
    text = fmt.t("tiers.response.measured", channel=channel_name(fmt, response.channel), estimate=_estimate(response, fmt),
                 campaign=response.campaign_id, arm=response.arm, period=fmt.period(response.period),
                 window=fmt.days(response.window_days), bases=fmt.t("fmt.detail_sep").join(bases))
    return _sentences(fmt, text, rest, fallback)


def _basis(response: tiers.Response, basis: str, fmt: Formats) -> str:
    if basis == "overall":
        return fmt.t("tiers.response.basis.overall", by=response.by) if response.by else \
            fmt.t("tiers.response.basis.overall_by_group")
    return fmt.t(BASIS_KEYS[basis]) if basis in BASIS_KEYS else str(basis)


def _estimate(response: tiers.Response, fmt: Formats) -> str:
    return fmt.t(ESTIMATE_KEYS[response.estimate]) if response.estimate in ESTIMATE_KEYS else response.estimate


def _fallback_values(response: tiers.Response, fmt: Formats) -> dict:
    v = dict(response.fallback_values)
    if "period" in v:
        v["period"] = fmt.period(v["period"])
    if "channel" in v:
        v["channel"] = channel_name(fmt, v["channel"])
    return v


def loop_sentence(response: tiers.Response, closing: pd.DataFrame, next_label: str, fmt: Formats) -> str:
    """Where this plan's response comes from in the loop of campaigns and plans, and which
    campaign measured in this period feeds the next plan ('' when there is nothing to say)."""
    parts = []
    if response.kind == "measured":
        parts.append(fmt.t("tiers.loop.measured", campaign=response.campaign_id, period=fmt.period(response.period)))
    control = closing["has_control"].to_numpy(dtype=bool) if "has_control" in closing.columns else \
        np.ones(len(closing), dtype=bool)
    nxt = fmt.period(next_label)
    for group, keys in ((closing[control], ("tiers.loop.closing.one", "tiers.loop.closing.other")),
                        (closing[~control], ("tiers.loop.blind.one", "tiers.loop.blind.other"))):
        if len(group):
            names = joined(fmt, [fmt.t("tiers.loop.campaign", campaign=r.campaign_id, date=fmt.date(r.window_end))
                                 for r in group.itertuples()])
            parts.append(fmt.t(keys[0] if len(group) == 1 else keys[1], names=names, next=nxt))
    return _sentences(fmt, *parts)


def split_findings(cmp: pd.DataFrame, econ: pd.DataFrame, sens: pd.DataFrame, cfg: Tiers, fmt: Formats,
                   response: tiers.Response | str = "assumed", cells: pd.DataFrame | None = None) -> list[str]:
    kind = response if isinstance(response, str) else response.kind
    facts = tiers.split_facts(cmp, econ, sens, cfg, cells)
    tot = cmp.loc["total"]
    shares = " / ".join(fmt.share(cfg.rule_of_thumb[t], 0) for t in tiers.TIERS)
    unspent = fmt.t("tiers.split.rule_unspent", unspent=fmt.money(facts["rule_unspent"])) \
        if facts["rule_unspent"] > SMALL else ""
    out = [fmt.t("tiers.split.rule", shares=shares, budget=fmt.money(cfg.budget), spend=fmt.money(tot.rule_spend),
                 unspent=unspent, profit=fmt.money(tot.rule_profit),
                 range=money_range(fmt, tot.rule_profit_lo, tot.rule_profit_hi),
                 roi=roi_phrase(fmt, tot.rule_roi, tot.rule_spend)),
           fmt.t("tiers.split.optimized", spend=fmt.money(tot.optimized_spend), profit=fmt.money(tot.optimized_profit),
                 range=money_range(fmt, tot.optimized_profit_lo, tot.optimized_profit_hi),
                 roi=roi_phrase(fmt, tot.optimized_roi, tot.optimized_spend),
                 gain=fmt.money(tot.optimized_profit - tot.rule_profit))]
    if facts["funded"]:
        parts = [fmt.t("tiers.split.where_part", cell=cell_name(fmt, t, ch), money=fmt.money(money),
                       source=fmt.t(SOURCE_KEYS.get(source, "tiers.source.assumed")))
                 for t, ch, money, source in facts["funded"]]
        out.append(fmt.t("tiers.split.where", parts=fmt.t("fmt.detail_sep").join(parts)))
    if h := facts["high"]:
        out.append(fmt.t("tiers.split.high_value", value=fmt.money(h["value"]), order=fmt.money(h["order_profit"]),
                         kept=fmt.money(h["value"] - h["order_profit"]), at_risk=fmt.money(h["at_risk"]),
                         effect=fmt.number(cfg.retention_effect, 2), spend=fmt.money(h["spend"]),
                         share=fmt.share(h["share"])))
    if facts["optimized_unspent"] > SMALL:
        out.append(fmt.t("tiers.split.unspent", money=fmt.money(facts["optimized_unspent"])))
    if facts["losing"]:
        out.append(fmt.t("tiers.split.losing", cells=joined(fmt, [cell_name(fmt, t, ch) for t, ch in facts["losing"]])))
    if facts["beaten"]:
        cells_text = capitalised(joined(fmt, [cell_name(fmt, t, ch) for t, ch in facts["beaten"]]))
        out.append(fmt.t("tiers.split.beaten.one" if len(facts["beaten"]) == 1 else "tiers.split.beaten.other",
                         cells=cells_text))
    s = facts["sensitivity"]
    out.append(fmt.t("tiers.split.sensitivity_measured" if kind == "measured" else "tiers.split.sensitivity_assumed",
                     lo=times(fmt, s["lo"]), hi=times(fmt, s["hi"]), lo_optimized=fmt.money(s["lo_optimized"]),
                     lo_rule=fmt.money(s["lo_rule"]), hi_optimized=fmt.money(s["hi_optimized"]),
                     hi_rule=fmt.money(s["hi_rule"])))
    if r := facts["retention_none"]:
        out.append(fmt.t("tiers.split.retention_none", effect=fmt.number(r["effect"], 0), profit=fmt.money(r["profit"]),
                         spend=fmt.money(r["high_spend"])))
    return out


# ---------------------------------------------------------------- section 3: contact lists


def history_sentence(have: dict, cfg: Tiers, fmt: Formats) -> str:
    """What the suppressions could use, in words."""
    parts = [fmt.t("tiers.history.opted_out" if have["opted_out"] else "tiers.history.no_opt_out")]
    if have["complaints"]:
        days = fmt.days(cfg.complaint_days)
        parts.append(fmt.t("tiers.history.tickets_unresolved", days=days) if have["resolved"] else
                     fmt.t("tiers.history.tickets_any", days=days))
    else:
        parts.append(fmt.t("tiers.history.no_tickets"))
    sources = [fmt.t(key) for key, ok in (("tiers.history.source_campaigns", have["campaigns"]),
                                          ("tiers.history.source_reminders", have["reminders"])) if ok]
    cap = fmt.days(cfg.frequency_cap_days)
    parts.append(fmt.t("tiers.history.contacts", sources=joined(fmt, sources), recent=fmt.days(cfg.suppress_recent_days),
                       cap=cap) if sources else fmt.t("tiers.history.no_contacts", cap=cap))
    if have["crm"]:
        parts.append(fmt.t("tiers.history.not_in_crm"))
    return fmt.t("tiers.history.text", parts=fmt.t("fmt.detail_sep").join(parts))


def action_findings(plan: pd.DataFrame, exports: pd.DataFrame, cfg: Tiers, fmt: Formats, next_label: str) -> list[str]:
    facts = tiers.action_facts(plan, exports)
    period = fmt.period(next_label)
    out = [fmt.t("tiers.actions.lists", period=period, customers=fmt.count(facts["customers"]),
                 contacts=fmt.count(facts["contacts"]), budget=fmt.money(facts["budget"]),
                 split=fmt.t(SPLIT_NAME_KEYS[cfg.export_split]), cap=fmt.days(cfg.frequency_cap_days))]
    for action in tiers.CONTACT_ACTIONS:
        row = exports[exports["action"] == action]
        if len(row) and row["customers"].iloc[0]:
            r = row.iloc[0]
            out.append(fmt.t("tiers.actions.action", action=action_name(fmt, action), customers=fmt.count(r.customers),
                             contacts=fmt.count(r.contacts), budget=fmt.money(r.budget), file=r.file))
    if facts["suppressed"]:
        parts = [fmt.t("tiers.actions.suppressed_part", n=fmt.count(n), reason=fmt.t(SUPPRESSION_KEYS[k]))
                 for k, n in facts["suppressed"].items()]
        out.append(fmt.t("tiers.actions.suppressed", parts=fmt.t("fmt.list_sep").join(parts),
                         n=fmt.count(facts["suppressed_wanted"]), share=fmt.share(facts["suppressed_wanted_share"]),
                         file=exports["file"].iloc[-1]))
    if facts["draft"]:
        out.append(fmt.t("tiers.actions.drafts", pattern=f"exports/{tiers.DRAFT_PREFIX}*.csv"))
    if facts["unfunded"]:
        out.append(fmt.t("tiers.actions.unfunded", n=fmt.count(facts["unfunded"]), period=period))
    return out


# ---------------------------------------------------------------- section 4: conclusions


def conclusions(summary: pd.DataFrame, conc: dict, cmp: pd.DataFrame, response: tiers.Response, plan: pd.DataFrame,
                cfg: Tiers, fmt: Formats, next_label: str, illustrative: str = "") -> list[str]:
    """The notebook's findings in four or five sentences."""
    tot, high = cmp.loc["total"], summary.loc["high"]
    out = [illustrative] if illustrative else []
    out.append("- " + fmt.t("tiers.conclusions.concentration", share=fmt.share(high.customer_share),
                            clv_share=fmt.share(high.clv_share), p20=fmt.share(0.20, 0),
                            top20=fmt.share(conc["top_20_share"])))
    move = tiers.largest_move(cmp)
    change = fmt.t("tiers.conclusions.agree") if move is None else fmt.t(
        "tiers.conclusions.largest", tier=tier_name(fmt, move[0]), before=fmt.money(move[1]), after=fmt.money(move[2]))
    rule = fmt.t("fmt.percent", value=" / ".join(fmt.number(100 * cfg.rule_of_thumb[t], 0) for t in tiers.TIERS))
    high_share = cmp.loc["high", "optimized_spend"] / cfg.budget if cfg.budget else 0.0
    out.append("- " + fmt.t("tiers.conclusions.split", kind=fmt.t(
        "tiers.conclusions.kind_measured" if response.kind == "measured" else "tiers.conclusions.kind_assumed"),
        profit=fmt.money(tot.optimized_profit), range=money_range(fmt, tot.optimized_profit_lo, tot.optimized_profit_hi),
        rule_profit=fmt.money(tot.rule_profit), rule_range=money_range(fmt, tot.rule_profit_lo, tot.rule_profit_hi),
        rule=rule, change=change, high=fmt.money(cmp.loc["high", "optimized_spend"]), high_share=fmt.share(high_share)))
    reached = tiers.reached_by_action(plan)
    parts = [fmt.t("tiers.conclusions.action_part", action=action_name(fmt, a), customers=fmt.count(r["customers"]),
                   money=fmt.money(r["budget"])) for a, r in reached.items()]
    out.append("- " + fmt.t("tiers.conclusions.actions", period=fmt.period(next_label),
                            parts=fmt.t("fmt.detail_sep").join(parts) if parts else fmt.t("tiers.conclusions.nobody"),
                            spent=fmt.money(sum(r["budget"] for r in reached.values())), budget=fmt.money(cfg.budget),
                            suppressed=fmt.count((plan["suppressed"] != "").sum())))
    if response.kind == "assumed":
        out.append("- " + fmt.t("tiers.conclusions.caveat"))
    else:
        assumed = response.assumed_channels()
        out.append("- " + _sentences(fmt, fmt.t(
            "tiers.conclusions.source", channel=channel_name(fmt, response.channel), campaign=response.campaign_id, arm=response.arm,
            period=fmt.period(response.period), estimate=_estimate(response, fmt)),
            fmt.t("tiers.conclusions.source_assumed", channels=capitalised(joined(
                fmt, [channel_name(fmt, ch) for ch in assumed]))) if assumed else ""))
    return out


# ---------------------------------------------------------------- tables (stakeholder cells)


def _tier_index(fmt: Formats, index) -> pd.Index:
    return pd.Index([tier_name(fmt, t) for t in index], name=fmt.t("tiers.col.tier"))


def _stage_columns(fmt: Formats, summary: pd.DataFrame) -> dict[str, str]:
    return {c: fmt.t("tiers.col.stage_of", stage=stage_name(fmt, c.removeprefix("stage: ")))
            for c in summary.columns if c.startswith("stage: ")}


def tier_table(summary: pd.DataFrame, fmt: Formats) -> pd.DataFrame:
    """Per tier: customers, predicted value (with the outer bound summed from each customer's
    range: wider than the total's own interval), shares, the chance still active, stage mix."""
    s = summary
    out = pd.DataFrame({
        fmt.t("tiers.col.customers"): [fmt.count(v) for v in s["customers"]],
        fmt.t("tiers.col.customer_share"): [fmt.share(v) for v in s["customer_share"]],
        fmt.t("tiers.col.clv"): [fmt.money(v) for v in s["clv"]],
        fmt.t("tiers.col.clv_bound"): [money_range(fmt, lo, hi) for lo, hi in zip(s["clv_low"], s["clv_high"], strict=True)],
        fmt.t("tiers.col.clv_share"): [fmt.share(v) for v in s["clv_share"]],
        fmt.t("tiers.col.revenue"): [fmt.money(v) for v in s["revenue"]],
        fmt.t("tiers.col.revenue_share"): [fmt.share(v) for v in s["revenue_share"]],
        fmt.t("tiers.col.alive"): [fmt.share(v, 0) for v in s["p_alive"]],
        **{name: [fmt.share(v) for v in s[c]] for c, name in _stage_columns(fmt, s).items()},
    }, index=_tier_index(fmt, s.index))
    return out


def purchase_tier_table(summary: pd.DataFrame, fmt: Formats) -> pd.DataFrame:
    s = summary
    return pd.DataFrame({
        fmt.t("tiers.col.customers"): [fmt.count(v) for v in s["customers"]],
        fmt.t("tiers.col.customer_share"): [fmt.share(v) for v in s["customer_share"]],
        fmt.t("tiers.col.expected_purchases"): [fmt.number(v, 1) for v in s["expected_purchases"]],
        fmt.t("tiers.col.expected_share"): [fmt.share(v) for v in s["expected_share"]],
        fmt.t("tiers.col.past_purchase_days"): [fmt.count(v) for v in s["past_purchase_days"]],
        fmt.t("tiers.col.alive"): [fmt.share(v, 0) for v in s["p_alive"]],
        **{name: [fmt.share(v) for v in s[c]] for c, name in _stage_columns(fmt, s).items()},
    }, index=_tier_index(fmt, s.index))


def stage_table(summary: pd.DataFrame, fmt: Formats, has_amount: bool) -> pd.DataFrame:
    s = summary
    cols = {fmt.t("tiers.col.customers"): [fmt.count(v) for v in s["customers"]],
            fmt.t("tiers.col.customer_share"): [fmt.share(v) for v in s["customer_share"]],
            fmt.t("tiers.col.past_orders"): [fmt.count(v) for v in s["past_orders"]]}
    if has_amount:
        cols[fmt.t("tiers.col.revenue")] = [fmt.money(v) for v in s["past_revenue"]]
        cols[fmt.t("tiers.col.revenue_share")] = [fmt.share(v) for v in s["revenue_share"]]
    return pd.DataFrame(cols, index=pd.Index([stage_name(fmt, str(x)) for x in s.index], name=fmt.t("tiers.col.stage")))


def split_table(cells: pd.DataFrame, econ: pd.DataFrame, fmt: Formats) -> pd.DataFrame:
    """The two splits side by side per tier x channel, with a total row. The response is an
    extra chance to buy: percentage points."""
    e = budget.cells(econ)
    rows = cells.reindex(e.index)
    dash = fmt.t("fmt.not_available")

    def profit(frame: pd.DataFrame, name: str) -> list[str]:
        return [fmt.t("tiers.col.value_range", value=fmt.money(m), range=money_range(fmt, lo, hi)) for m, lo, hi in
                zip(frame[f"{name}_profit"], frame[f"{name}_profit_lo"], frame[f"{name}_profit_hi"], strict=True)]

    table = pd.DataFrame({
        fmt.t("tiers.col.response_from"): [fmt.t(SOURCE_KEYS.get(v, "tiers.source.assumed")) for v in e["source"]],
        fmt.t("tiers.col.contactable"): [fmt.count(v) for v in e["contactable"]],
        fmt.t("tiers.col.cost"): [fmt.money(v) for v in e["cost_per_contact"]],
        fmt.t("tiers.col.value"): [fmt.money(v) for v in e["value"]],
        fmt.t("tiers.col.response"): [fmt.pp(v) for v in e["response"]],
        fmt.t("tiers.col.response_range"): [fmt.range(fmt.pp(lo), fmt.pp(hi))
                                            for lo, hi in zip(e["response_lo"], e["response_hi"], strict=True)],
        fmt.t("tiers.col.rule_spend"): [fmt.money(v) for v in rows["rule_spend"]],
        fmt.t("tiers.col.rule_profit"): profit(rows, "rule"),
        fmt.t("tiers.col.optimized_spend"): [fmt.money(v) for v in rows["optimized_spend"]],
        fmt.t("tiers.col.optimized_profit"): profit(rows, "optimized"),
    })
    table.index = pd.MultiIndex.from_tuples([(tier_name(fmt, t), channel_name(fmt, ch)) for t, ch in e.index],
                                            names=[fmt.t("tiers.col.tier"), fmt.t("tiers.col.channel")])
    tot = rows.sum(numeric_only=True).to_frame().T
    total = dict.fromkeys(table.columns, dash) | {
        fmt.t("tiers.col.rule_spend"): fmt.money(tot["rule_spend"].iloc[0]),
        fmt.t("tiers.col.rule_profit"): profit(tot, "rule")[0],
        fmt.t("tiers.col.optimized_spend"): fmt.money(tot["optimized_spend"].iloc[0]),
        fmt.t("tiers.col.optimized_profit"): profit(tot, "optimized")[0]}
    table.loc[(fmt.t("tiers.col.total"), ""), :] = pd.Series(total)
    return table


def playbook_table(cfg: Tiers, fmt: Formats) -> pd.DataFrame:
    """Tier x lifecycle stage -> action · channel · offer."""
    pb = tiers.playbook_frame(cfg)

    def cell(r) -> str:
        action = action_name(fmt, r.action)
        if r.action == "no_contact":
            return action
        if r.offer_value:
            return fmt.t("tiers.col.playbook_offer_value", action=action, channel=channel_name(fmt, r.channel),
                         offer=r.offer, value=fmt.money(r.offer_value))
        if r.offer:
            return fmt.t("tiers.col.playbook_offer", action=action, channel=channel_name(fmt, r.channel), offer=r.offer)
        return fmt.t("tiers.col.playbook_cell", action=action, channel=channel_name(fmt, r.channel))

    table = pb.assign(cell=pb.apply(cell, axis=1)).pivot(index="tier", columns="stage", values="cell").reindex(
        index=list(tiers.TIERS), columns=list(tiers.STAGES))
    table.index = _tier_index(fmt, table.index)
    table.columns = pd.Index([stage_name(fmt, s) for s in table.columns], name=fmt.t("tiers.col.stage"))
    return table


def suppression_table(plan: pd.DataFrame, fmt: Formats) -> pd.DataFrame:
    s = tiers.suppression_table(plan)
    return pd.DataFrame({
        fmt.t("tiers.col.customers"): [fmt.count(v) for v in s["customers"]],
        fmt.t("tiers.col.playbook_contacts"): [fmt.count(v) for v in s["playbook_contacts"]],
        fmt.t("tiers.col.customer_share"): [fmt.share(v) for v in s["customer_share"]],
    }, index=pd.Index([fmt.t(SUPPRESSION_KEYS[k]) for k in s.index], name=fmt.t("tiers.col.reason")))


def action_table(plan: pd.DataFrame, fmt: Formats) -> pd.DataFrame:
    """Per action: channel(s), tiers, the customers the playbook wanted, suppressed, reached,
    contacts, budget and budget per customer reached."""
    wanted = plan.loc[plan["action_planned"] != "no_contact",
                      ["action_planned", "channel", "tier", "suppressed", "contacts", "budget"]]
    rows = []
    for action in tiers.CONTACT_ACTIONS:
        w = wanted[wanted["action_planned"] == action]
        c = w[w["contacts"] > 0]
        if not len(w):
            continue
        spent = float(c["budget"].sum())
        rows.append({fmt.t("tiers.col.action"): action_name(fmt, action),
                     fmt.t("tiers.col.channel"): channel_names(fmt, sorted(set(w["channel"]))),
                     fmt.t("tiers.col.tiers"): fmt.t("fmt.list_sep").join(
                         tier_name(fmt, t) for t in tiers.TIERS if (w["tier"] == t).any()),
                     fmt.t("tiers.col.playbook_customers"): fmt.count(len(w)),
                     fmt.t("tiers.col.suppressed"): fmt.count(int((w["suppressed"] != "").sum())),
                     fmt.t("tiers.col.reached"): fmt.count(len(c)),
                     fmt.t("tiers.col.contacts"): fmt.count(int(c["contacts"].sum())),
                     fmt.t("tiers.col.budget"): fmt.money(spent),
                     fmt.t("tiers.col.per_customer"): fmt.money(spent / len(c)) if len(c) else fmt.t("fmt.not_available")})
    if not rows:
        return pd.DataFrame(columns=[fmt.t("tiers.col.action")]).set_index(fmt.t("tiers.col.action"))
    return pd.DataFrame(rows).set_index(fmt.t("tiers.col.action"))

