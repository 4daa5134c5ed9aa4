"""Notebook 01 (data audit) in words: each finding's sentence, the verdict, and the headers of
the tables a stakeholder reads, in the run's language (catalogue ``audit.*``).

:mod:`helpers.audit` decides which checks fire, their severity and their figures
(:class:`helpers.audit.Finding`); this module only words them, with a
:class:`helpers.text.formats.Formats` (``run.fmt``) for every figure.
"""

from __future__ import annotations

import pandas as pd

from helpers.audit import Finding, finding_counts, share, sort_findings
from helpers.text import Text
from helpers.text.formats import Formats

# Sentences whose wording depends on a count: (one, other) (full keys, so a test finds them).
PLURAL_KEYS = {
    "parse_failures": ("audit.finding.parse_failures.one", "audit.finding.parse_failures.other"),
    "unreadable_rows": ("audit.finding.unreadable_rows.one", "audit.finding.unreadable_rows.other"),
    "money_as_text": ("audit.finding.money_as_text.one", "audit.finding.money_as_text.other"),
    "excluded": ("audit.finding.excluded.one", "audit.finding.excluded.other"),
    "duplicate_lines": ("audit.finding.duplicate_lines.one", "audit.finding.duplicate_lines.other"),
    "customer_duplicates": ("audit.finding.customer_duplicates.one", "audit.finding.customer_duplicates.other"),
    "outliers": ("audit.finding.outliers.one", "audit.finding.outliers.other"),
}
# The cleaning rules' removals (Finding.kind = the rule's check name).
RULE_FINDING_KEYS = {
    "unparseable_values": ("audit.finding.unparseable_values.one", "audit.finding.unparseable_values.other"),
    "implausible_dates": ("audit.finding.implausible_dates.one", "audit.finding.implausible_dates.other"),
    "after_period_end": ("audit.finding.after_period_end.one", "audit.finding.after_period_end.other"),
    "exact_duplicates": ("audit.finding.exact_duplicates.one", "audit.finding.exact_duplicates.other"),
    "conflicting_duplicates": ("audit.finding.conflicting_duplicates.one", "audit.finding.conflicting_duplicates.other"),
    "guest_orders": ("audit.finding.guest_orders.one", "audit.finding.guest_orders.other"),
    "cancelled_orders": ("audit.finding.cancelled_orders.one", "audit.finding.cancelled_orders.other"),
    "refunds": ("audit.finding.refunds.one", "audit.finding.refunds.other"),
    "zero_amount_orders": ("audit.finding.zero_amount_orders.one", "audit.finding.zero_amount_orders.other"),
}
GAP_KEYS = ("audit.finding.gap.one", "audit.finding.gap.other")
DAY_KEYS = ("audit.finding.day.one", "audit.finding.day.other")
MATCH_ROW_KEYS = ("audit.finding.match_rows.one", "audit.finding.match_rows.other")
MATCH_ID_KEYS = ("audit.finding.match_ids.one", "audit.finding.match_ids.other")
# The rules' names as a reader sees them (helpers.audit.RULE_ORDER, plus the CSV reader's skips).
RULE_KEYS = {
    "unreadable rows": "audit.rule.unreadable_rows", "unparseable values": "audit.rule.unparseable_values",
    "implausible dates": "audit.rule.implausible_dates", "after period end": "audit.rule.after_period_end",
    "exact duplicates": "audit.rule.exact_duplicates", "conflicting duplicates": "audit.rule.conflicting_duplicates",
    "guest orders": "audit.rule.guest_orders", "cancelled orders": "audit.rule.cancelled_orders",
    "refunds": "audit.rule.refunds", "zero-amount orders": "audit.rule.zero_amount_orders",
}
VALUE_TYPE_KEYS = {"timestamp": "audit.value_type.timestamp", "money": "audit.value_type.money",
                   "float": "audit.value_type.float", "bool": "audit.value_type.bool",
                   "string": "audit.value_type.string"}
MISSING_TABLE_KEYS = {"customers": "audit.finding.missing_table.customers",
                      "interactions": "audit.finding.missing_table.interactions",
                      "campaigns": "audit.finding.missing_table.campaigns"}
# helpers.audit.key_match's table labels (first word) and targets, as the summary page names them.
TABLE_KEYS = {"orders": "table.orders", "interactions": "table.interactions", "campaigns": "table.campaigns",
              "customers": "table.customers", "customers_with_orders": "table.customers_with_orders"}
READINESS_KEYS = {"ready": "audit.readiness.ready", "usable with caution": "audit.readiness.caution",
                  "not ready": "audit.readiness.not_ready"}
SEVERITY_KEYS = {"info": "audit.severity.info", "warn": "audit.severity.warn", "fail": "audit.severity.fail"}
STATUS_KEYS = {"pass": "audit.status.pass", "warn": "audit.status.warn", "fail": "audit.status.fail"}
COUNT_KEYS = {"fail": ("audit.count.fail.one", "audit.count.fail.other"),
              "warn": ("audit.count.warn.one", "audit.count.warn.other"),
              "info": ("audit.count.info.one", "audit.count.info.other")}
NOTHING_KEYS = {"sources": "audit.nothing.sources", "gaps": "audit.nothing.gaps",
                "cleaning": "audit.nothing.cleaning", "islands": "audit.nothing.islands"}


def english(fmt: Formats) -> Formats:
    """The same currency in English: the sentences stored in metrics.json (read by tools, not
    people) and checked by the bad-input corpus are English whatever the run's language."""
    return fmt if fmt.language == "en" else Formats(Text("en"), fmt.currency)


def table_name(label: str, fmt: Formats) -> str:
    key = TABLE_KEYS.get(label)
    return fmt.t(key) if key else label


def rule_name(rule: str, fmt: Formats) -> str:
    key = RULE_KEYS.get(rule)
    return fmt.t(key) if key else rule


def finding(f: Finding, fmt: Formats) -> str:
    """One finding's sentence."""
    t, v = fmt.t, f.values
    if f.kind in RULE_FINDING_KEYS:
        money = t("audit.finding.money", amount=fmt.money(v["revenue"])) if v.get("revenue") is not None else ""
        return _plural(fmt, RULE_FINDING_KEYS[f.kind], f.rows, money=money)
    if f.kind == "parse_failures":
        return _plural(fmt, PLURAL_KEYS[f.kind], f.rows, file=v["file"], raw_column=v["raw_column"],
                       value_type=t(VALUE_TYPE_KEYS.get(v["value_type"], "audit.value_type.string")),
                       examples=v["examples"])
    if f.kind == "unreadable_rows":
        lines = t("fmt.detail_sep").join(t("audit.finding.unreadable_line", line=line, problem=problem)
                                         for line, problem in v["lines"])
        return _plural(fmt, PLURAL_KEYS[f.kind], f.rows, file=v["file"], lines=lines)
    if f.kind == "decimal_comma":
        if v["detected"]:
            return t("audit.finding.decimal_comma_detected", file=v["file"],
                     examples=t("fmt.list_sep").join(map(repr, v["examples"])))
        return t("audit.finding.decimal_comma_declared", file=v["file"])
    if f.kind == "ids_normalised":
        parts = []
        if v["as_float"]:
            parts.append(t("audit.finding.ids_as_float", n=fmt.count(v["as_float"])))
        if v["trimmed"]:
            parts.append(t("audit.finding.ids_trimmed", n=fmt.count(v["trimmed"])))
        return t("audit.finding.ids_normalised", file=v["file"], parts=t("fmt.detail_sep").join(parts))
    if f.kind in ("money_as_text", "excluded"):
        return _plural(fmt, PLURAL_KEYS[f.kind], f.rows, file=v["file"])
    if f.kind == "duplicate_lines":
        return _plural(fmt, PLURAL_KEYS[f.kind], f.rows, source=v["source"])
    if f.kind == "customer_duplicates":
        return _plural(fmt, PLURAL_KEYS[f.kind], f.rows)
    if f.kind == "gap":
        first, last = fmt.date(v["first_day"]), fmt.date(v["last_day"])
        span = first if v["days"] == 1 else fmt.range(first, last)
        return _plural(fmt, GAP_KEYS, v["days"], source=v["source"], span=span,
                       days=_plural(fmt, DAY_KEYS, v["days"]), expected=fmt.count(round(v["expected"])))
    if f.kind == "faulty_share":
        return t("audit.finding.faulty_share", share=fmt.share(v["share"]), faulty=fmt.count(v["faulty"]),
                 rows_in=fmt.count(v["rows_in"]), allowed=fmt.share(v["allowed"], 0),
                 rules=t("fmt.list_sep").join(rule_name(rule, fmt) for rule in v["rules"]))
    if f.kind == "refund_share":
        return t("audit.finding.refund_share", amount=fmt.money(v["amount"]), share=fmt.share(v["share"]))
    if f.kind == "no_amount":
        return t("audit.finding.no_amount")
    if f.kind == "outliers":
        return _plural(fmt, PLURAL_KEYS[f.kind], f.rows, threshold=fmt.money(v["threshold"]))
    if f.kind == "no_status":
        return t("audit.finding.no_status", file=v["file"])
    if f.kind == "missing_table":
        return t(MISSING_TABLE_KEYS[v["table"]])
    if f.kind == "match":
        return t("audit.finding.match_low" if v["low"] else "audit.finding.match",
                 table=table_name(v["table"], fmt), target=table_name(v["target"], fmt), rate=fmt.share(v["rate"]),
                 rows=_plural(fmt, MATCH_ROW_KEYS, f.rows),
                 ids=_plural(fmt, MATCH_ID_KEYS, v["unmatched_ids"]),
                 **({"required": fmt.share(v["required"], 0)} if v["low"] else {}))
    if f.kind == "readiness":
        return readiness(v, fmt)
    raise ValueError(f"no words for the audit finding kind {f.kind!r} ({f.check})")


def _plural(fmt: Formats, keys: tuple[str, str], n, **values) -> str:
    """The message of ``keys`` (one, other) for the count n, which it shows as ``{n}``."""
    return fmt.t(keys[0] if n == 1 else keys[1], n=fmt.count(n), **values)


def readiness(ready: dict, fmt: Formats) -> str:
    """Is there enough history to model (helpers.audit.readiness's verdict, reasons, figures)?"""
    t = fmt.t
    reasons = []
    if "few_repeat" in ready["reasons"]:
        keys = ("audit.readiness.few_repeat.one", "audit.readiness.few_repeat.other")
        reasons.append(t(keys[0] if ready["repeat_customers"] == 1 else keys[1],
                         repeat=fmt.count(ready["repeat_customers"]), need=fmt.count(ready["min_repeat_customers"])))
    if "short_history" in ready["reasons"]:
        reasons.append(t("audit.readiness.short_history", history=_plural(fmt, DAY_KEYS, ready["history_days"]),
                         need=_plural(fmt, DAY_KEYS, ready["min_history_days"])))
    return t("audit.finding.readiness", verdict=t(READINESS_KEYS[ready["verdict"]]),
             customers=fmt.count(ready["customers"]), repeat=fmt.count(ready["repeat_customers"]),
             repeat_share=fmt.share(ready["repeat_share"]), history=_plural(fmt, DAY_KEYS, ready["history_days"]),
             reasons=t("fmt.detail_sep").join(reasons) or t("audit.readiness.enough"))


def findings(section: list[Finding], fmt: Formats, nothing: str | None = None) -> list[str]:
    """A section's sentences; ``nothing`` ('sources', 'gaps', 'cleaning', 'islands'): the sentence
    said when the section found nothing."""
    if section:
        return [finding(f, fmt) for f in section]
    return [fmt.t(NOTHING_KEYS[nothing])] if nothing else []


def messages(found: list[Finding], fmt: Formats) -> list[str]:
    """Every finding's sentence in English, in the order found (metrics.json audit.findings)."""
    en = english(fmt)
    return [finding(f, en) for f in found]


def findings_frame(found: list[Finding], fmt: Formats) -> pd.DataFrame:
    """check, severity, rows, message: most severe first (the bad-input corpus reads it)."""
    return pd.DataFrame([{**f.as_dict(), "message": finding(f, fmt)} for f in sort_findings(found)],
                        columns=["check", "severity", "rows", "message"])


def findings_table(found: list[Finding], fmt: Formats) -> pd.DataFrame:
    """The verdict's table for a stakeholder: severity and finding in words, most severe first."""
    t = fmt.t
    rows = [{t("audit.findings.severity"): t(SEVERITY_KEYS[f.severity]),
             t("audit.findings.rows"): fmt.count(f.rows) if f.rows else "",
             t("audit.findings.message"): finding(f, fmt)} for f in sort_findings(found)]
    return pd.DataFrame(rows, columns=[t("audit.findings.severity"), t("audit.findings.rows"),
                                       t("audit.findings.message")])


def verdict(status: str, summary: dict, found: list[Finding], fmt: Formats) -> str:
    """The audit's verdict, its finding counts and what the cleaning kept."""
    t = fmt.t
    counts = finding_counts(found)
    count_words = t("fmt.list_sep").join(_plural(fmt, COUNT_KEYS[s], counts[s]) for s in ("fail", "warn", "info"))
    common = {"status": t(STATUS_KEYS[status]), "counts": count_words, "rows_raw": fmt.count(summary["rows_raw"]),
              "orders": fmt.count(summary["orders_clean"]), "customers": fmt.count(summary["customers_clean"])}
    if summary["revenue_clean"] is None:
        return t("audit.verdict.no_money", **common)
    return t("audit.verdict.money", **common, revenue_raw=fmt.money(summary["revenue_raw"]),
             revenue_clean=fmt.money(summary["revenue_clean"]),
             kept=fmt.share(share(summary["revenue_clean"], summary["revenue_raw"])))


# ---------------------------------------------------------------- tables a stakeholder reads

PROFILE_ROWS = {  # profile column -> its row label (helpers.audit.profile_sources)
    "file": "audit.profile.file", "grain": "audit.profile.grain", "raw_rows": "audit.profile.raw_rows",
    "raw_columns": "audit.profile.raw_columns", "orders": "audit.profile.orders",
    "customers": "audit.profile.customers", "missing_customer_id": "audit.profile.missing_customer_id",
    "first": "audit.profile.first", "last": "audit.profile.last", "parse_failures": "audit.profile.parse_failures",
    "repaired_money_text": "audit.profile.repaired_money_text", "ids_normalised": "audit.profile.ids_normalised",
    "excluded_rows": "audit.profile.excluded_rows", "refund_status_rows": "audit.profile.refund_status_rows",
    "negative_amount_rows": "audit.profile.negative_amount_rows", "zero_amount_rows": "audit.profile.zero_amount_rows",
}
KIND_KEYS = {"orders": "audit.profile.kind.orders", "customers": "audit.profile.kind.customers",
             "interactions": "audit.profile.kind.interactions", "campaigns": "audit.profile.kind.campaigns"}
STEP_KEYS = {"all order sources": "audit.step.union", "outliers": "audit.step.outliers",
             "net of refunds": "audit.step.net_of_refunds"}
ACTION_KEYS = {"start": "audit.action.start", "drop": "audit.action.drop", "aggregate": "audit.action.aggregate",
               "union": "audit.action.union", "flag": "audit.action.flag", "subtract": "audit.action.subtract"}
# Why each fixed rule removes rows (helpers.audit.clean_orders); values filled in reconciliation_table.
WHY_KEYS = {"unparseable values": "audit.why.unparseable_values", "implausible dates": "audit.why.implausible_dates",
            "after period end": "audit.why.after_period_end", "exact duplicates": "audit.why.exact_duplicates",
            "guest orders": "audit.why.guest_orders", "cancelled orders": "audit.why.cancelled_orders",
            "zero-amount orders": "audit.why.zero_amount_orders", "all order sources": "audit.why.union",
            "net of refunds": "audit.why.net_of_refunds"}
CONFLICT_WHY_KEYS = {"keep_first": "audit.why.conflicting_keep_first", "drop_all": "audit.why.conflicting_drop_all"}
REFUND_WHY_KEYS = {"net": "audit.why.refunds_net", "ignore": "audit.why.refunds_ignore"}
RECONCILIATION_COLUMNS = {"action": "audit.reconciliation.action", "rows_removed": "audit.reconciliation.rows_removed",
                          "rows_after": "audit.reconciliation.rows_after",
                          "revenue_change": "audit.reconciliation.revenue_change",
                          "revenue_after": "audit.reconciliation.revenue_after", "why": "audit.reconciliation.why"}
UNREADABLE_SUFFIX, LINES_SUFFIX, RAW_PREFIX = ": unreadable rows", ": lines to orders", "raw "


def profile_table(profile: pd.DataFrame, fmt: Formats) -> pd.DataFrame:
    """The sources side by side (one column each), one row per measure, counts and dates written
    for the language; blank where a measure does not apply."""
    t = fmt.t
    table = profile.assign(ids_normalised=profile["ids_trimmed"] + profile["ids_as_float"])
    columns = pd.MultiIndex.from_arrays(
        [[t(KIND_KEYS[k]) if k in KIND_KEYS else k for k in table["table"]], list(table["source"])],
        names=[t("audit.profile.table"), t("audit.profile.source")])
    rows = {}
    for column, key in PROFILE_ROWS.items():
        cells = []
        for rec in table.to_dict("records"):
            value = rec[column]
            if column == "grain":
                value = t("audit.profile.grain_lines" if value == "invoice lines" else "audit.profile.grain_rows")
            elif column in ("first", "last"):
                value = fmt.date(pd.Timestamp(value).to_pydatetime()) if pd.notna(value) else ""
            elif column != "file":
                value = "" if value is None or pd.isna(value) else fmt.count(value)
            cells.append(value)
        rows[t(key)] = cells
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def step_name(step: str, fmt: Formats) -> str:
    """A reconciliation step as a reader names it (the rules in the language; a brand's own
    exclude rules as the brand named them)."""
    t = fmt.t
    if step in RULE_KEYS:
        return t(RULE_KEYS[step])
    if step in STEP_KEYS:
        return t(STEP_KEYS[step])
    if step.startswith(RAW_PREFIX):
        return t("audit.step.raw", source=step.removeprefix(RAW_PREFIX))
    if step.endswith(UNREADABLE_SUFFIX):
        return t("audit.step.unreadable", source=step.removesuffix(UNREADABLE_SUFFIX))
    if step.endswith(LINES_SUFFIX):
        return t("audit.step.lines_to_orders", source=step.removesuffix(LINES_SUFFIX))
    source, _, rule = step.partition(": ")
    return t("audit.step.excluded", source=source, rule=rule) if rule else step


def _why(step: dict, data, period_end, clean, fmt: Formats) -> str:
    """Why a step removes (or keeps) rows, from the params it applied."""
    from helpers import config

    t, name, rules = fmt.t, step["step"], data.params.cleaning
    sources = {src.spec.name: src for src in data.sources.get("orders", [])}
    if name in ("implausible dates", "after period end"):
        return t(WHY_KEYS[name], earliest=fmt.date(rules.earliest_order_date), today=fmt.date(config.run_date()),
                 period_end=fmt.date(period_end))
    if name in WHY_KEYS:
        return t(WHY_KEYS[name])
    if name == "conflicting duplicates":
        return t(CONFLICT_WHY_KEYS.get(rules.conflicting_duplicates, "audit.why.conflicting_drop_all"))
    if name == "refunds":
        return t(REFUND_WHY_KEYS.get(rules.refunds, "audit.why.refunds_ignore"))
    if name == "outliers":
        threshold = fmt.money(clean.outlier_threshold)
        if step["action"] == "flag":
            return t("audit.why.outliers_flagged", n=fmt.count(clean.counts.get("outliers_flagged", 0)),
                     threshold=threshold)
        return t("audit.why.outliers_dropped", threshold=threshold)
    if name.startswith(RAW_PREFIX) and name.removeprefix(RAW_PREFIX) in sources:
        src = sources[name.removeprefix(RAW_PREFIX)]
        file, skipped = src.location.rsplit("/", 1)[-1], int((src.unreadable or {}).get("rows", 0))
        if skipped:
            key = "audit.why.raw_unreadable_lines" if src.spec.line_items else "audit.why.raw_unreadable_rows"
            return t(key, file=file, n=fmt.count(skipped))
        return t("audit.why.raw_lines" if src.spec.line_items else "audit.why.raw_rows", file=file)
    if name.endswith(UNREADABLE_SUFFIX):
        return t("audit.why.unreadable")
    if name.endswith(LINES_SUFFIX):
        return t("audit.why.lines_to_orders")
    return step["why"]  # a brand's exclude rule: its reason, as the brand wrote it


def reconciliation_table(clean, data, period_end, fmt: Formats):
    """The reconciliation a stakeholder reads: each step in words, counts and money for the
    language, reasons left-aligned (the exact figures are in the run's audit_reconciliation.csv)."""
    t = fmt.t
    rows = []
    for step in clean.steps.to_dict("records"):
        row = {"step": step_name(step["step"], fmt), "action": t(ACTION_KEYS.get(step["action"], "audit.action.drop")),
               "rows_removed": fmt.count(step["rows_removed"]) if step["rows_removed"] else "",
               "rows_after": fmt.count(step["rows_after"])}
        if clean.has_amount:
            change = step["revenue_change"]
            moved = step["action"] not in ("start", "union") and abs(change) >= 0.005  # a start has no change
            row["revenue_change"] = fmt.money(change, plus=True) if moved else ""
            row["revenue_after"] = fmt.money(step["revenue_after"])
        row["why"] = _why(step, data, period_end, clean, fmt)
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("step")
    frame.index.name = t("audit.reconciliation.step")
    frame = frame.rename(columns={k: t(v) for k, v in RECONCILIATION_COLUMNS.items()})
    return frame.style.set_properties(subset=[t("audit.reconciliation.why")], **{"text-align": "left"})
