"""Words every notebook shares: the label above money figures that rest on the workbook's
default assumptions, the note of a brand whose orders carry no money, and the table of the
business assumptions a run rests on.

Presentation layer: it words what :mod:`helpers.report` and the params decide.
"""

from __future__ import annotations

import pandas as pd

from helpers.config import Params, default_assumptions
from helpers.text.formats import Formats

# Catalogue key of each business assumption's name, by (params section, field): the
# 'section.field' names default_assumptions returns.
ASSUMPTION_NAME_KEYS = {("business", "margin"): "assumption.margin", ("tiers", "budget"): "assumption.budget",
                        ("tiers", "cost_per_contact"): "assumption.cost_per_contact"}

# The assumptions table's rows, in the order a reader checks them: (section, field, name key).
ASSUMPTION_ROWS = (
    ("business", "currency", "common.assumptions.currency"),
    ("business", "margin", "common.assumptions.margin"),
    ("business", "annual_discount_rate", "common.assumptions.discount_rate"),
    ("business", "cost_to_serve_per_customer_year", "common.assumptions.cost_to_serve"),
    ("tiers", "budget", "common.assumptions.budget"),
    ("tiers", "cost_per_contact", "common.assumptions.cost_per_contact"),
    ("tiers", "assumed_response", "common.assumptions.assumed_response"),
)


def run_header(fmt: Formats, brand: str, period: str, start, end, run_id: str | None = None,
               folder: str | None = None) -> str:
    """'Demo tea · June 2025 (1 June 2025 to 30 June 2025) · run 20261204T...': the line a notebook
    opens with (``folder`` for an interactive session's scratch folder)."""
    where = (fmt.t("common.run.interactive", folder=folder) if folder is not None
             else fmt.t("common.run.run", run_id=run_id))
    return fmt.t("common.run.header", brand=brand, period=fmt.period(period), start=fmt.date(start),
                 end=fmt.date(end), where=where)


def _tier_name(fmt: Formats, tier: str) -> str:
    key = f"tier.{tier}"  # the summary's tier names (helpers.summary TIER_KEYS)
    return fmt.t(key) if fmt.t.has(key) else tier


def illustrative(fmt: Formats, params: Params, fields: tuple[str, ...] | None = None) -> str:
    """The label a page puts above its money figures when they rest on defaults ('' if none);
    ``fields`` (``section.field`` names) limits it to the assumptions that page uses."""
    missing = [m for m in default_assumptions(params) if fields is None or m in fields]
    if not missing:
        return ""
    names = fmt.t("fmt.list_sep").join(fmt.t(ASSUMPTION_NAME_KEYS[tuple(m.split("."))]) for m in missing)
    return fmt.t("common.illustrative", brand=params.title, names=names)


# What each notebook skips without money and what it shows instead (catalogue keys); notebook 03
# needs no money at all and says so.
NO_AMOUNT_KEYS = {
    "02": ("common.no_amount_sections.n02.skipped", "common.no_amount_sections.n02.instead"),
    "04": ("common.no_amount_sections.n04.skipped", "common.no_amount_sections.n04.instead"),
    "05": ("common.no_amount_sections.n05.skipped", "common.no_amount_sections.n05.instead"),
    "06": ("common.no_amount_sections.n06.skipped", "common.no_amount_sections.n06.instead"),
}


def no_amount_reason(fmt: Formats) -> str:
    """Why a brand has no money figures, in the words every page uses (the audit's finding too)."""
    return fmt.t("common.no_amount_reason")


def no_amount_note(fmt: Formats, params: Params, notebook: str) -> str:
    """The note notebook ``notebook`` ('02' ... '06') puts first when the brand's orders carry no
    amount ('' when they do): which of its money sections it skips and what it shows instead.
    Every notebook says it in these words, so a reader (and a test) finds it on every page."""
    if params.has_amount:
        return ""
    if notebook == "03":
        return fmt.t("common.no_amount_nothing_skipped", reason=no_amount_reason(fmt))
    skipped, instead = NO_AMOUNT_KEYS[notebook]
    return fmt.t("common.no_amount", reason=no_amount_reason(fmt), skipped=fmt.t(skipped), instead=fmt.t(instead))


def _value(fmt: Formats, section: str, name: str, value) -> str:
    if name == "currency":
        return fmt.currency_label()
    if name == "margin":
        return fmt.t("common.assumptions.margin_value", share=fmt.share(value, 0))
    if name == "annual_discount_rate":
        return fmt.share(value, 0)
    if name in ("cost_to_serve_per_customer_year", "budget"):
        return fmt.money(value)
    if name == "cost_per_contact":  # channel names are the brand's own labels (params), not words
        return fmt.t("fmt.list_sep").join(f"{channel} {fmt.money(cost)}" for channel, cost in value.items())
    if name == "assumed_response":  # by value tier
        return fmt.t("fmt.list_sep").join(f"{_tier_name(fmt, tier)} {fmt.share(rate)}" for tier, rate in value.items())
    raise KeyError(f"{section}.{name}: no way to show it")


def assumptions_table(fmt: Formats, params: Params, keys: bool = False) -> pd.DataFrame:
    """The business assumptions of this run and where each comes from: the brand's params, or
    the workbook's generic default (then the money figures that use it are illustrative).
    ``keys``: name the params key of each (the analyst's view); without, plain words."""
    rows = []
    for section, name, label in ASSUMPTION_ROWS:
        given = section in params.model_fields_set and name in getattr(params, section).model_fields_set
        if keys:
            source = fmt.t("common.assumptions.from_params_key" if given else "common.assumptions.default_key",
                           key=f"{section}.{name}")
        else:
            source = fmt.t("common.assumptions.from_params" if given else "common.assumptions.default")
        rows.append((fmt.t(label), _value(fmt, section, name, getattr(getattr(params, section), name)), source))
    columns = [fmt.t("common.assumptions.header.assumption"), fmt.t("common.assumptions.header.value"),
               fmt.t("common.assumptions.header.source")]
    return pd.DataFrame(rows, columns=columns)


def styled_assumptions(fmt: Formats, params: Params, keys: bool = False):
    """The assumptions table for a page: left-aligned, nothing cut short."""
    return (assumptions_table(fmt, params, keys).style.hide(axis="index")
            .set_properties(**{"text-align": "left"}))
