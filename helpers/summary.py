"""The one-page summary of a run (``html/summary.html``): what a manager reads first.

Built from the run's ``metrics.json`` alone (and the ``metrics.json`` of the brand's runs for
the previous period and the same period a year earlier, when they exist), in the language of
the run (params ``report.language``, ``workbook run --language``): every word from
:mod:`helpers.text`, every figure formatted by :mod:`helpers.text.formats`, every figure
linked to the section of the notebook HTML it comes from. Presentation only: it reads figures
the notebooks computed and computes no statistic of its own (a difference between two periods'
figures, a sum of the plan's spend per tier, at most). Aggregates only: no customer id.

A partial run (``--only``, or a notebook that failed) still gets its page: each section whose
notebook did not run says so.

The headline figures (:data:`HEADLINES`) are also the trend charts of the outputs index
(:mod:`helpers.render`, which writes the page: ``render.render_summary``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from helpers import config
from helpers.text import Text, language_or_default
from helpers.text.formats import Formats, is_number

SUMMARY_FILE = "summary.html"
LATEST_LINK = "latest"
METRICS = "metrics.json"
NOTEBOOK_NUMBERS = ("01", "02", "03", "04", "05", "06")


def _keys(prefix: str, names) -> dict[str, str]:
    """Catalogue keys of values that are named as the catalogue names them: 'tier' + 'high' ->
    'tier.high' (a space in the value becomes '_')."""
    return {name: f"{prefix}.{name.replace(' ', '_')}" for name in names}


NOTEBOOK_KEYS = {n: f"notebook.n{n}" for n in NOTEBOOK_NUMBERS}
# Intervals of the lifecycle's rates (Wilson) and of the campaign lifts are 95 % (their
# modules' Z95); the CLV and the drivers store their level in metrics.json.
RATE_LEVEL = 0.95
CAMPAIGN_LEVEL = 0.95
YEAR_STEPS = {"month": 12, "quarter": 4, "week": 52}
TIERS = ("high", "potential", "general", "low")
TIER_KEYS = _keys("tier", TIERS)
ACTION_KEYS = _keys("action", ("vip_service", "growth_offer", "routine_offer", "automated_winback"))
STEP_KEYS = {"1->2": "summary.dropoff.step_1_2", "2->3": "summary.dropoff.step_2_3",
             "3->4+": "summary.dropoff.step_3_4"}
FAMILY_KEYS = _keys("family", ("customer", "product", "service", "marketing", "channel"))
# Driver factors (helpers.drivers BINARY / CATEGORICAL) in plain words.
FACTOR_KEYS = _keys("factor", (
    "first_order_refunded", "ticket_raised", "unresolved_complaint", "slow_response", "low_satisfaction",
    "first_order_coupon", "second_coupon_issued", "no_second_coupon_reminder", "online_first_order",
    "slow_delivery"))
VARIABLE_KEYS = {n: f"factor.var_{n}" for n in ("acquisition_channel", "region", "member_level", "first_category")}
LEVER_ACTION_KEYS = _keys("summary.levers", ("fix", "extend"))
# CLV reliability (metrics clv.reliability, clv.reliability_checks) in plain words.
VERDICT_KEYS = _keys("reliability", ("validated", "caution", "unreliable", "not computed"))
CHECK_KEYS = _keys("reliability.check", (
    "purchase_model", "dropout", "p_alive_vs_lifecycle", "readiness", "forecast_vs_past_year", "holdout",
    "holdout_total", "holdout_baseline", "decile_calibration", "left_truncation"))
AUDIT_STATUS_KEYS = _keys("quality", ("pass", "warn", "fail"))
# The audit's findings (metrics audit.findings[].check, by its first part) in plain words.
FINDING_KEYS = _keys("finding", (
    "parse_failures", "unreadable_rows", "gap", "unparseable_values", "implausible_dates", "exact_duplicates",
    "conflicting_duplicates", "guest_orders", "match", "faulty_share", "readiness")) | {
    "customers": "finding.customer_duplicates"}
TABLE_KEYS = _keys("table", ("orders", "interactions", "campaigns", "customers", "customers_with_orders"))
ASSUMPTION_KEYS = {"business.margin": "assumption.margin", "tiers.budget": "assumption.budget",
                   "tiers.cost_per_contact": "assumption.cost_per_contact"}
CAMPAIGN_STATUS_KEYS = {"too early to read": "campaign.too_early", "no control group": "campaign.no_control",
                        "closed before this run, never read": "campaign.never_read",
                        "stopped: unknown group label": "campaign.unknown_group"}
SEVERITY_ORDER = {"fail": 0, "warn": 1, "info": 2}


# ---------------------------------------------------------------- reading metrics


def get(metrics: Any, *path: str) -> Any:
    """metrics[path[0]][path[1]]..., None where a level is missing (or not a dict)."""
    value = metrics
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def num(metrics: Any, *path: str) -> float | None:
    value = get(metrics, *path)
    return float(value) if is_number(value) else None


def pair(value: Any) -> tuple[float, float] | None:
    """An interval [lo, hi] with both ends numbers, else None."""
    if isinstance(value, list | tuple) and len(value) == 2 and all(is_number(v) for v in value):
        return float(value[0]), float(value[1])
    return None


def second_purchase_days(metrics: dict) -> str | None:
    """The N of the headline 'second purchase within N days': the drivers' horizon when the
    lifecycle measured it, else the longest N measured."""
    rates = get(metrics, "repurchase", "second_purchase")
    if not isinstance(rates, dict) or not rates:
        return None
    horizon = get(metrics, "drivers", "horizon_days")
    if horizon is not None and str(horizon) in rates:
        return str(horizon)
    return max(rates, key=lambda k: int(k) if str(k).isdigit() else -1)


@dataclass(frozen=True)
class Headline:
    """A headline figure: how to read it from metrics.json, how it reads, where it comes from."""

    key: str
    label: str  # catalogue key of its name
    note: str  # catalogue key of what it counts
    kind: str  # count | money | rate
    notebook: str
    section: str
    value: Callable[[dict], float | None]
    interval: Callable[[dict], tuple[float, float] | None] = lambda m: None
    level: Callable[[dict], float | None] = lambda m: None


def _second(metrics: dict, which: str = "second_purchase") -> Any:
    days = second_purchase_days(metrics)
    return None if days is None else get(metrics, "repurchase", which, days)


HEADLINES: tuple[Headline, ...] = (
    Headline("customers", "headline.customers", "headline.customers_note", "count", "01", "3",
             lambda m: num(m, "audit", "customers_clean")),
    Headline("orders", "headline.orders", "headline.orders_note", "count", "01", "3",
             lambda m: num(m, "audit", "orders_clean")),
    Headline("revenue", "headline.revenue", "headline.revenue_note", "money", "02", "5",
             lambda m: num(m, "lifecycle", "revenue_bridge", "revenue_after")),
    Headline("repurchase", "headline.repurchase", "headline.repurchase_note", "rate", "02", "3",
             lambda m: num(m, "repurchase", "within_period"),
             lambda m: pair(get(m, "repurchase", "within_period_ci")), lambda m: RATE_LEVEL),
    Headline("retention", "headline.retention", "headline.retention_note", "rate", "02", "3",
             lambda m: num(m, "repurchase", "retention"),
             lambda m: pair(get(m, "repurchase", "retention_ci")), lambda m: RATE_LEVEL),
    Headline("second_purchase", "headline.second_purchase", "headline.second_purchase_note", "rate", "02", "3",
             lambda m: float(_second(m)) if is_number(_second(m)) else None,
             lambda m: pair(_second(m, "second_purchase_ci")), lambda m: RATE_LEVEL),
    Headline("active", "headline.active", "headline.active_note", "count", "02", "1",
             lambda m: num(m, "lifecycle", "stage_counts", "active")),
    Headline("at_risk", "headline.at_risk", "headline.at_risk_note", "count", "02", "1",
             lambda m: num(m, "lifecycle", "stage_counts", "dormant")),
    Headline("clv", "headline.clv", "headline.clv_note", "money", "04", "5",
             lambda m: num(m, "clv", "total"),
             lambda m: pair(get(m, "clv", "total_interval")), lambda m: num(m, "clv", "interval_level")),
)


def headline_text(headline: Headline, value: float | None, fmt: Formats) -> str:
    if value is None:
        return fmt.t("fmt.not_available")
    return {"count": fmt.count, "money": fmt.money, "rate": fmt.share}[headline.kind](value)


def change_text(headline: Headline, now: float | None, then: float | None, fmt: Formats) -> str | None:
    """A rate's change in pp, a count's as a signed count, a sum's in per cent (money in its
    unit when the earlier value was zero); None when either value is missing."""
    if now is None or then is None:
        return None
    if headline.kind == "rate":
        return fmt.pp(now - then)
    if headline.kind == "count":
        return fmt.count(now - then, plus=True)
    return fmt.relative(now, then) or fmt.money(now - then, plus=True)


# ---------------------------------------------------------------- earlier runs, run settings


@dataclass
class Earlier:
    """The brand's latest run of an earlier period: its metrics, or None (no earlier run)."""

    period: str
    metrics: dict | None


def earlier_runs(brand_dir: Path, period: str, kind: str) -> tuple[Earlier | None, Earlier | None]:
    """The previous period's and the same period a year earlier's latest runs (their
    ``latest/metrics.json``); None for a period label the kind cannot step back from."""
    try:
        current = config.to_period(period, kind)
    except Exception:
        return None, None
    out = []
    for steps in (1, YEAR_STEPS.get(kind, 12)):
        label = config.period_label(current - steps, kind)
        out.append(Earlier(label, read_json(brand_dir / label / LATEST_LINK / METRICS) or None))
    return out[0], out[1]


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def run_settings(manifest: dict) -> tuple[str, str]:
    """(language, currency) of a run: recorded in its manifest by the runner, or read from the
    params it ran with (runs made before the runner recorded them)."""
    language, currency = manifest.get("language"), manifest.get("currency")
    if language is None or currency is None:
        try:
            raw = yaml.safe_load(get(manifest, "params", "raw_yaml") or "") or {}
        except yaml.YAMLError:
            raw = {}
        language = language or get(raw, "report", "language")
        currency = currency if currency is not None else get(raw, "business", "currency")
    return language_or_default(language), str(currency or "").strip()


# ---------------------------------------------------------------- links to the notebook HTML

_HEADING_ID = re.compile(r'<h[1-6][^>]*\sid="([^"]+)"')


class Links:
    """Where each figure comes from: the stakeholder HTML of notebook NN in this run and the id
    of its numbered section heading (nbconvert's ids, read from the rendered page, so a renamed
    heading still links by its number)."""

    def __init__(self, run_dir: Path, manifest: dict):
        self.status: dict[str, str] = {}
        self.files: dict[str, str] = {}
        self.ids: dict[str, list[str]] = {}
        for name, entry in (manifest.get("notebooks") or {}).items():
            number = name[:2]
            if number not in NOTEBOOK_NUMBERS or not isinstance(entry, dict):
                continue
            self.status[number] = entry.get("status") or "pending"
            page = get(entry, "html", "stakeholder")
            if page and (run_dir / page).is_file():
                self.files[number] = Path(page).name
                self.ids[number] = _HEADING_ID.findall((run_dir / page).read_text(encoding="utf-8", errors="replace"))

    def ran(self, number: str) -> bool:
        return self.status.get(number) == "ok"

    def href(self, number: str, section: str | None = None) -> str | None:
        """``NN_name.html#<id of the heading numbered section>`` (the page's top without one)."""
        page = self.files.get(number)
        if page is None:
            return None
        if section:
            for anchor in self.ids.get(number, []):
                if anchor.startswith(f"{section}.-") or anchor == f"{section}.":
                    return f"{page}#{anchor}"
        return page


# ---------------------------------------------------------------- the page


class Builder:
    """The view of one run's summary: plain dicts and strings for the template."""

    def __init__(self, metrics: dict, manifest: dict, links: Links, text: Text, fmt: Formats,
                 previous: Earlier | None, year_ago: Earlier | None):
        self.m, self.manifest, self.links, self.t, self.f = metrics, manifest, links, text, fmt
        self.previous, self.year_ago = previous, year_ago

    # ---------------------------------------------------- helpers

    def source(self, number: str, section: str | None) -> dict:
        label = self.t("summary.source", notebook=self.t(NOTEBOOK_KEYS[number]), section=section) if section \
            else self.t(NOTEBOOK_KEYS[number])
        return {"label": label, "href": self.links.href(number, section)}

    def missing(self, number: str) -> str | None:
        """Why a section has nothing to show when its notebook did not run in this run."""
        status = self.links.status.get(number)
        name = self.t(NOTEBOOK_KEYS[number])
        if status is None:
            return self.t("summary.not_selected", notebook=name)
        if status == "failed":
            return self.t("summary.failed", notebook=name)
        if status != "ok":
            return self.t("summary.skipped", notebook=name)
        return None

    def interval(self, pair_: tuple[float, float] | None, level: float | None, kind: str) -> str | None:
        if pair_ is None or level is None:
            return None
        write = {"count": self.f.count, "money": self.f.money, "rate": self.f.share, "pp": self.f.pp,
                 "roi": self.f.roi}[kind]
        return self.f.interval(write(pair_[0]), write(pair_[1]), level)

    def fact(self, label: str, value: str, href: str | None = None, detail: str | None = None) -> dict:
        return {"label": label, "value": value, "href": href, "detail": detail}

    # ---------------------------------------------------- headline cards

    def headlines(self) -> list[dict]:
        cards = []
        for h in HEADLINES:
            missing = None if self.links.ran(h.notebook) else self.missing(h.notebook)
            value = h.value(self.m)
            note_values = {}
            if h.key == "second_purchase":
                note_values["days"] = second_purchase_days(self.m) or "N"
            if h.key == "clv":
                note_values["months"] = self.f.number(num(self.m, "clv", "horizon_months") or 12)
            if h.key == "at_risk":
                note_values["low"] = self.f.number(num(self.m, "lifecycle", "thresholds", "active_days"))
                note_values["high"] = self.f.number(num(self.m, "lifecycle", "thresholds", "churn_days"))
            detail = self.interval(h.interval(self.m), h.level(self.m), h.kind)
            if h.key == "active" and value is not None:
                detail = self.t("headline.active_detail",
                                new=self.f.count(num(self.m, "lifecycle", "stage_counts", "new")),
                                returning=self.f.count(num(self.m, "lifecycle", "stage_counts", "returning")))
            if h.key == "revenue" and value is None and get(self.m, "audit", "has_amount") is False:
                detail = self.t("summary.no_amount")
            if h.key == "clv" and value is None and self.links.ran("04"):
                purchases = num(self.m, "clv", "expected_purchases_365")
                detail = (self.t("headline.clv_purchases", purchases=self.f.count(purchases))
                          if purchases is not None else self.t("summary.no_model"))
            cards.append({
                "id": h.key,
                "label": self.t(h.label, **note_values),
                "note": self.t(h.note, **note_values),
                "value": headline_text(h, value, self.f) if value is not None or not missing else "",
                "missing": missing if value is None else None,
                "detail": detail,
                "href": self.links.href(h.notebook, h.section),
                "source": self.source(h.notebook, h.section)["label"],
                "changes": [self.change(h, value, e) for e in (self.previous, self.year_ago) if e is not None],
            })
        return cards

    def change(self, h: Headline, value: float | None, earlier: Earlier) -> dict:
        label = self.t("summary.change.vs", period=self.f.period(earlier.period))
        if earlier.metrics is None:
            return {"label": label, "text": self.t("summary.change.no_run"), "direction": "none"}
        then = h.value(earlier.metrics)
        if h.key == "second_purchase" and second_purchase_days(earlier.metrics) != second_purchase_days(self.m):
            then = None  # a different N is not the same figure
        text = change_text(h, value, then, self.f)
        if text is None:
            return {"label": label, "text": self.t("summary.change.no_figure"), "direction": "none"}
        direction = "flat" if text[:1] not in "+\u2212" else ("up" if text[:1] == "+" else "down")
        return {"label": label, "text": text, "direction": direction}

    # ---------------------------------------------------- sections

    def section(self, sid: str, title_key: str, number: str, section: str | None) -> dict:
        return {"id": sid, "title": self.t(title_key), "source": self.source(number, section),
                "missing": self.missing(number), "facts": [], "notes": [], "table": None, "lists": None,
                "warning": None, "caveat": None, "verdict": None, "levers": None, "campaigns": None, "status": None}

    def dropoff(self) -> dict:
        sec = self.section("dropoff", "summary.dropoff.title", "03", "1")
        if sec["missing"]:
            return sec
        funnel = get(self.m, "drivers", "funnel") or {}
        days = self.f.number(num(self.m, "drivers", "horizon_days"))
        level = 1 - (num(self.m, "drivers", "model", "alpha") or 0.05)
        biggest = get(self.m, "drivers", "biggest_dropoff")
        href = self.links.href("03", "1")
        for step, key in STEP_KEYS.items():
            entry = funnel.get(step) if isinstance(funnel, dict) else None
            rate = num(entry, "conversion_within_n")
            if rate is None:
                continue
            label = self.t(key)
            if step == biggest:
                label = self.t("summary.dropoff.biggest", step=label)
            detail = self.t("summary.dropoff.detail", reached=self.f.count(num(entry, "reached")),
                            interval=self.interval(pair(get(entry, "ci")), level, "rate") or "")
            sec["facts"].append(self.fact(label, self.t("summary.dropoff.value", share=self.f.share(rate), days=days),
                                          href, detail))
            if step == biggest:
                sec["facts"].insert(0, sec["facts"].pop())
        if not sec["facts"]:
            sec["notes"].append(self.t("summary.not_available"))
        sec["levers"] = self.levers(level, days)
        return sec

    def levers(self, level: float, days: str) -> dict:
        effects = get(self.m, "drivers", "effects") or {}
        keys = [k for k in (get(self.m, "drivers", "top_levers") or []) if isinstance(effects.get(k), dict)]
        href = self.links.href("03", "4")
        items = []
        for k in keys:
            e = effects[k]
            effect = num(e, "effect")
            action = LEVER_ACTION_KEYS.get(str(e.get("action")))
            items.append(self.fact(
                self.factor_label(k, e),
                self.t("summary.levers.value", change=self.f.pp(effect), days=days) if effect is not None
                else self.t("fmt.not_available"),
                href,
                self.t("fmt.detail_sep").join(x for x in (self.interval(pair(get(e, "ci")), level, "pp"),
                                      self.t(action) if action else None) if x)))
        not_measured = get(self.m, "drivers", "not_measured")
        families = [self.t(FAMILY_KEYS[f]) for f in (not_measured or {}) if f in FAMILY_KEYS]
        return {"title": self.t("summary.levers.title", days=days), "facts": items,
                "none": None if items else self.t("summary.levers.none"),
                "not_measured": self.t("summary.levers.not_measured", families=self.t("fmt.list_sep").join(families))
                if families else None,
                "source": self.source("03", "4")}

    def factor_label(self, key: str, effect: dict) -> str:
        if key in FACTOR_KEYS:
            return self.t(FACTOR_KEYS[key])
        variable, _, level = key.partition("=")
        label = str(effect.get("label") or key)
        reference = re.search(r"\(vs (.*)\)$", label)
        if variable in VARIABLE_KEYS and level:
            if reference:
                return self.t("factor.level_vs", variable=self.t(VARIABLE_KEYS[variable]), level=level,
                              reference=reference.group(1))
            return self.t("factor.level", variable=self.t(VARIABLE_KEYS[variable]), level=level)
        return label  # a factor this catalogue does not know yet: its name as the analysis wrote it

    def value(self) -> dict:
        sec = self.section("value", "summary.value.title", "04", "6")
        if sec["missing"]:
            return sec
        facts = sec["facts"]
        verdict = get(self.m, "clv", "reliability")
        sec["verdict"] = self.reliability()
        purchases = num(self.m, "clv", "expected_purchases_365")
        if purchases is not None:
            facts.append(self.fact(self.t("summary.value.purchases"), self.f.count(purchases), self.links.href("04", "4"),
                                   self.interval(pair(get(self.m, "clv", "expected_purchases_365_interval")),
                                                 num(self.m, "clv", "interval_level"), "count")))
        alive = num(self.m, "clv", "p_alive_mean")
        if alive is not None:
            facts.append(self.fact(self.t("summary.value.alive"), self.f.share(alive), self.links.href("04", "4")))
        top = num(self.m, "clv", "top10_share")
        key = "summary.value.top10"
        if top is None:
            top, key = num(self.m, "clv", "top10_purchase_share"), "summary.value.top10_purchases"
        if top is not None:
            facts.append(self.fact(self.t(key), self.f.share(top), self.links.href("04", "4")))
        if self.links.ran("05"):
            high = num(self.m, "tiers", "counts", "high")
            share = num(self.m, "tiers", "clv_share", "high")
            if high is not None:
                facts.append(self.fact(
                    self.t("summary.value.high_tier"), self.f.count(high), self.links.href("05", "1"),
                    self.t("summary.value.high_tier_detail", share=self.f.share(share)) if share is not None else None))
            uncertain = num(self.m, "tiers", "tier_uncertain_share")
            if uncertain is not None:
                facts.append(self.fact(self.t("summary.value.uncertain"), self.f.share(uncertain),
                                       self.links.href("05", "1")))
        if verdict == "not computed":
            sec["notes"].append(self.t("summary.no_model"))
        return sec

    def reliability(self) -> dict | None:
        verdict = get(self.m, "clv", "reliability")
        if verdict not in VERDICT_KEYS:
            return None
        checks = get(self.m, "clv", "reliability_checks") or {}
        reasons = []
        for check, level in checks.items():
            if level == "ok" or check not in CHECK_KEYS:
                continue
            values = {}
            if check == "holdout_total":
                values["error"] = self.f.share(num(self.m, "clv", "holdout", "total_error"), 1, plus=True)
                values["period"] = self.f.weeks(num(self.m, "clv", "holdout", "holdout_length")) \
                    if get(self.m, "clv", "time_unit") == "week" else \
                    self.f.days(num(self.m, "clv", "holdout", "holdout_length"))
            reasons.append(self.t(CHECK_KEYS[check], **values))
        unknown = [c for c, level in checks.items() if level != "ok" and c not in CHECK_KEYS]
        if unknown:
            reasons.append(self.t("reliability.check.other", n=self.f.count(len(unknown))))
        if verdict == "validated":
            error = num(self.m, "clv", "holdout", "total_error")
            if error is not None:
                reasons.append(self.t("reliability.validated_detail", error=self.f.share(error, 1, plus=True)))
        return {"verdict": verdict, "label": self.t(VERDICT_KEYS[verdict]), "reasons": reasons,
                "href": self.links.href("04", "6")}

    def plan(self) -> dict:
        sec = self.section("plan", "summary.plan.title", "05", "2")
        if sec["missing"]:
            return sec
        plan_period = get(self.m, "tiers", "plan_period")
        sec["title"] = self.t("summary.plan.title_for", period=self.f.period(plan_period)) if plan_period \
            else sec["title"]
        counts = get(self.m, "tiers", "counts")
        if not isinstance(counts, dict):
            sec["notes"].append(self.t("summary.plan.no_tiers"))
            return sec
        split = get(self.m, "tiers", "export_split") or "optimized"
        spend = get(self.m, "tiers", "spend", split)
        has_money = isinstance(spend, dict)
        if get(self.m, "tiers", "illustrative"):
            names = [self.t(ASSUMPTION_KEYS[a]) for a in get(self.m, "tiers", "default_assumptions") or []
                     if a in ASSUMPTION_KEYS]
            sec["warning"] = self.t("summary.plan.illustrative", assumptions=self.t("fmt.list_sep").join(names))
        href = self.links.href("05", "2")
        if has_money:
            total = sum(v for v in spend.values() if is_number(v))
            sec["facts"].append(self.fact(self.t("summary.plan.budget"), self.f.money(num(self.m, "tiers", "total_budget")),
                                          href, self.t("summary.plan.spent", spent=self.f.money(total))))
            profit = num(self.m, "tiers", "expected_profit", split)
            span = pair(get(self.m, "tiers", "expected_profit_range", split))
            sec["facts"].append(self.fact(
                self.t("summary.plan.return"), self.f.money(profit, plus=False), href,
                self.t("summary.plan.return_range", range=self.f.range(self.f.money(span[0]), self.f.money(span[1])))
                if span else None))
            roi = num(self.m, "tiers", "roi", split)
            sec["facts"].append(self.fact(self.t("summary.plan.roi"),
                                          self.f.roi(roi) if roi is not None else self.t("summary.plan.roi_none"), href))
            if split == "optimized":
                rule = num(self.m, "tiers", "expected_profit", "rule_of_thumb")
                rule_span = pair(get(self.m, "tiers", "expected_profit_range", "rule_of_thumb"))
                if rule is not None:
                    sec["facts"].append(self.fact(
                        self.t("summary.plan.rule"), self.f.money(rule), href,
                        self.t("summary.plan.return_range",
                               range=self.f.range(self.f.money(rule_span[0]), self.f.money(rule_span[1])))
                        if rule_span else None))
            source = get(self.m, "tiers", "response_source")
            if source == "measured":
                sec["notes"].append(self.t("summary.plan.measured",
                                           campaign=get(self.m, "tiers", "response_campaign") or "",
                                           period=self.f.period(get(self.m, "tiers", "response_period"))))
            elif source:
                sec["notes"].append(self.t("summary.plan.assumed"))
        else:
            sec["notes"].append(self.t("summary.plan.no_money"))
        share_key = "clv_share" if isinstance(get(self.m, "tiers", "clv_share"), dict) else "expected_purchase_share"
        rows = []
        for tier in TIERS:
            rows.append({"tier": self.t(TIER_KEYS[tier]),
                         "customers": self.f.count(num(counts, tier)),
                         "share": self.f.share(num(self.m, "tiers", share_key, tier)),
                         "spend": self.f.money(num(spend, tier)) if has_money else None})
        sec["table"] = {"head": [self.t("summary.plan.col_tier"), self.t("summary.plan.col_customers"),
                                 self.t("summary.plan.col_share" if share_key == "clv_share" else "summary.plan.col_share_purchases")]
                        + ([self.t("summary.plan.col_spend")] if has_money else []),
                        "rows": rows, "source": self.source("05", "1")}
        actions = get(self.m, "tiers", "actions")
        if isinstance(actions, dict):
            lists = []
            for action, key in ACTION_KEYS.items():
                entry = actions.get(action)
                if not isinstance(entry, dict):
                    continue
                lists.append({"action": self.t(key), "customers": self.f.count(num(entry, "customers")),
                              "contacts": self.f.count(num(entry, "contacts")),
                              "budget": self.f.money(num(entry, "budget")) if has_money else None})
            cap = num(self.m, "tiers", "frequency_cap_days")
            sec["lists"] = {"title": self.t("summary.plan.lists"), "rows": lists, "source": self.source("05", "3"),
                            "head": [self.t("summary.plan.col_action"), self.t("summary.plan.col_customers"),
                                     self.t("summary.plan.col_contacts")]
                            + ([self.t("summary.plan.col_budget")] if has_money else []),
                            "note": self.t("summary.plan.cap", days=self.f.number(cap)) if cap else None}
        return sec

    def campaigns(self) -> dict:
        sec = self.section("campaign", "summary.campaign.title", "06", "2")
        if sec["missing"]:
            return sec
        found = get(self.m, "campaigns")
        if not isinstance(found, dict) or not found:
            sec["notes"].append(self.t("campaign.none"))
            return sec
        sec["campaigns"] = [self.campaign(cid, entry) for cid, entry in found.items() if isinstance(entry, dict)]
        return sec

    def campaign(self, cid: str, entry: dict) -> dict:
        status = entry.get("status")
        out = {"name": cid, "customers": self.t("campaign.customers", n=self.f.count(num(entry, "customers"))),
               "facts": [], "verdict": None, "window": None,
               "tone": "neutral", "href": self.links.href("06", "2")}
        if entry.get("first_contact") and entry.get("window_end"):  # known for a campaign not read yet too
            out["window"] = self.t("campaign.window", first=self.f.date(entry.get("first_contact")),
                                   end=self.f.date(entry.get("window_end")))
        if status != "read":
            out["verdict"] = self.t(CAMPAIGN_STATUS_KEYS.get(status, "campaign.other"))
            return out
        lifts = entry.get("lift") or {}
        for arm, lift in lifts.items():
            if not isinstance(lift, dict):
                continue
            def named(label: str, arm: str = str(arm)) -> str:
                return label if len(lifts) == 1 else self.t("campaign.arm", arm=arm, label=label)
            lift_pp = num(lift, "repurchase_pp_adjusted")
            ci = pair(get(lift, "repurchase_pp_adjusted_ci"))
            if lift.get("causal") is False:
                out["verdict"], out["tone"] = self.t("campaign.not_causal"), "warn"
            elif ci is not None and ci[0] > 0:
                out["verdict"], out["tone"] = self.t("campaign.worked"), "good"
            elif ci is not None and ci[1] < 0:
                out["verdict"], out["tone"] = self.t("campaign.harmed"), "bad"
            elif ci is not None:
                out["verdict"] = self.t("campaign.cannot_tell")
            out["facts"].append(self.fact(named(self.t("campaign.lift")), self.f.pp(lift_pp), self.links.href("06", "2"),
                                          self.interval(ci, CAMPAIGN_LEVEL, "pp")))
            net = num(lift, "net_profit")
            if net is not None:
                out["facts"].append(self.fact(named(self.t("campaign.net_profit")), self.f.money(net),
                                              self.links.href("06", "3"),
                                              self.interval(pair(get(lift, "net_profit_ci")), CAMPAIGN_LEVEL, "money")))
            roi = num(lift, "roi")
            if roi is not None:
                out["facts"].append(self.fact(named(self.t("campaign.roi")), self.f.roi(roi), self.links.href("06", "3"),
                                              self.interval(pair(get(lift, "roi_ci")), CAMPAIGN_LEVEL, "roi")))
        return out

    def quality(self) -> dict:
        sec = self.section("quality", "summary.quality.title", "01", "6")
        if sec["missing"]:
            return sec
        status = get(self.m, "audit", "status")
        findings = [f for f in get(self.m, "audit", "findings") or [] if isinstance(f, dict)]
        warn = sum(f.get("severity") == "warn" for f in findings)
        fail = sum(f.get("severity") == "fail" for f in findings)
        sec["status"] = {"status": status, "label": self.t(AUDIT_STATUS_KEYS.get(status, "quality.unknown")),
                         "counts": self.t("quality.counts", warn=self.f.count(warn), fail=self.f.count(fail)),
                         "href": self.links.href("01", "6")}
        serious = sorted((f for f in findings if f.get("severity") in ("warn", "fail")),
                         key=lambda f: (SEVERITY_ORDER.get(f.get("severity"), 3), -(num(f, "rows") or 0)))
        sec["facts"].append(self.fact(self.t("quality.status_label"), sec["status"]["label"], sec["status"]["href"],
                                      sec["status"]["counts"]))
        if serious:
            sec["caveat"] = self.finding(serious[0])
        else:
            sec["caveat"] = self.t("quality.no_caveat")
        removed = num(self.m, "audit", "rows_raw")
        if removed is not None:
            sec["facts"].append(self.fact(self.t("quality.rows_raw"), self.f.count(removed), self.links.href("01", "3"),
                                          self.t("quality.rows_clean",
                                                 orders=self.f.count(num(self.m, "audit", "orders_clean")))))
        return sec

    def finding(self, finding: dict) -> str:
        """One audit finding in plain words, from its check name and row count (the analysis's
        own sentence is English and may quote raw values: it stays in notebook 01)."""
        check = str(finding.get("check") or "")
        family, _, rest = check.partition(".")
        rows = self.f.count(num(finding, "rows"))
        key = FINDING_KEYS.get(family)
        if key is None:
            return self.t("finding.other")
        if family == "gap":
            source, _, day = rest.partition(".")
            return self.t(key, source=source, date=self.f.date(day))
        if family == "match":
            table, _, target = rest.partition(".")
            return self.t(key, rows=rows, table=self.t(TABLE_KEYS[table]) if table in TABLE_KEYS else table,
                          target=self.t(TABLE_KEYS[target]) if target in TABLE_KEYS else target)
        if family in ("parse_failures", "unreadable_rows"):
            return self.t(key, rows=rows, source=rest.partition(".")[0])
        return self.t(key, rows=rows)

    # ---------------------------------------------------- the whole page

    def page(self, title: str, period: str, run_id: str) -> dict:
        partial = [self.t(NOTEBOOK_KEYS[n]) for n in NOTEBOOK_NUMBERS if not self.links.ran(n)]
        reports = [{"label": self.t(NOTEBOOK_KEYS[n]), "href": self.links.files[n]}
                   for n in NOTEBOOK_NUMBERS if n in self.links.files]
        sections = [self.quality(), self.dropoff(), self.value(), self.plan(), self.campaigns()]
        by_id = {s["id"]: s for s in sections}
        return {
            "lang": self.t.language,
            "html_lang": self.t("page.html_lang"),
            "title": self.t("summary.page_title", brand=title, period=self.f.period(period)),
            "heading": title,
            "period": self.f.period(period),
            "intro": self.t("summary.intro", run=run_id, currency=self.f.currency_label()),
            "partial": self.t("summary.partial", notebooks=self.t("fmt.list_sep").join(partial)) if partial else None,
            "reports_label": self.t("summary.reports"),
            "reports": reports,
            "trust": {"quality": by_id["quality"].get("status"), "reliability": by_id["value"].get("verdict"),
                      "quality_label": self.t("summary.quality.title"), "reliability_label": self.t("summary.trust.clv"),
                      "title": self.t("summary.trust.title")},
            "headline_title": self.t("summary.headline.title"),
            "headlines": self.headlines(),
            "sections": sections,
            "footer": self.t("summary.footer", generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
            "labels": {"caveat": self.t("summary.label.caveat"), "source": self.t("summary.label.source")},
        }


def build(run_dir: Path, manifest: dict, metrics: dict, language: str | None = None,
          brand_dir: Path | None = None) -> dict:
    """The summary's view of one run folder (staging or final)."""
    recorded_language, currency = run_settings(manifest)
    text = Text(language_or_default(language or recorded_language))
    fmt = Formats(text, currency)
    period = str(manifest.get("period") or "")
    previous = year_ago = None
    if brand_dir is not None and period:
        previous, year_ago = earlier_runs(brand_dir, period, manifest.get("period_kind") or "month")
    builder = Builder(metrics, manifest, Links(run_dir, manifest), text, fmt, previous, year_ago)
    title = manifest.get("display_name") or manifest.get("brand") or ""
    return builder.page(title, period, str(manifest.get("run_id") or run_dir.name))
