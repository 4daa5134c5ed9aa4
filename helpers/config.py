"""Brand parameters: one YAML file per brand, validated on load.

Everything a run needs to know about a brand lives in ``params/<brand>.yaml``: where its data
is, how its columns map to the canonical tables (DESIGN §2), its period granularity and its
business assumptions. The file is validated strictly: unknown keys are refused (papermill only
warns about unknown parameters, and a typo in a margin should not pass silently) and every error
names the file, the key path, what is wrong and what is allowed.

``${ENV_VAR}`` placeholders are kept as written in the validated params and only substituted by
:func:`resolve_secrets` at the moment a connection is opened, so a secret never reaches a
notebook, an HTML file or a manifest.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PARAMS_DIR = PROJECT_ROOT / "params"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
DATA_DIR = PROJECT_ROOT / "data"


def atomic_write(target: Path, write) -> Path:
    """Write a file through ``write(tmp_path)`` and move it into place in one step, so a reader
    (a notebook, a browser, a killed run's successor) never sees a half-written file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def atomic_write_text(target: Path, text: str) -> Path:
    return atomic_write(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def outputs_dir() -> Path:
    """Root of all run outputs; WORKBOOK_OUTPUTS overrides it (tests use a temporary folder)."""
    return Path(os.environ.get("WORKBOOK_OUTPUTS", PROJECT_ROOT / "outputs")).resolve()


class ParamsError(ValueError):
    """A params file is wrong; the message says where and how to fix it."""


# Canonical tables and their columns (DESIGN §2). The first group of each is required.
CANONICAL: dict[str, dict[str, dict[str, str]]] = {
    "orders": {
        "required": {
            "order_id": "string",
            "customer_id": "string",
            "order_ts": "timestamp",
        },
        "optional": {
            # optional: a brand whose orders carry no money (loyalty-card visits) runs everything
            # that needs none; Params.has_amount says which, and the money sections are skipped
            "amount": "money",
            "channel": "string",
            "store": "string",
            "region": "string",
            "discount": "money",
            "coupon_id": "string",
            "status": "string",
            "category": "string",
            "quantity": "float",
            "cost": "money",
            "margin": "money",
            "delivery_days": "float",
        },
    },
    "customers": {
        "required": {"customer_id": "string"},
        "optional": {
            "signup_ts": "timestamp",
            "acquisition_channel": "string",
            "region": "string",
            "city": "string",
            "member_level": "string",
            "birth_year": "float",
            "referred_by": "string",
            "opted_out": "bool",
        },
    },
    "interactions": {
        "required": {"customer_id": "string", "ts": "timestamp", "kind": "string"},
        "optional": {"value": "float", "resolved": "bool", "channel": "string", "detail": "string"},
    },
    "campaigns": {
        "required": {
            "campaign_id": "string",
            "customer_id": "string",
            "group": "string",
            "contact_ts": "timestamp",
        },
        "optional": {
            "channel": "string",
            "cost": "money",
            "offer": "string",
            "designed_share": "float",
            "segment": "string",
        },
    },
}


def canonical_columns(kind: str) -> dict[str, str]:
    spec = CANONICAL[kind]
    return {**spec["required"], **spec["optional"]}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SqlExpr(_Strict):
    """A column computed in the engine, written in DuckDB SQL over the source's own columns
    (transpiled by Ibis for other backends), e.g. ``Quantity * UnitPrice``."""

    sql: str


class ExcludeRule(_Strict):
    """Rows of a source that are not customer transactions (manual adjustments, postage ...).
    They are removed before anything else and counted in the reconciliation."""

    name: str
    where: str = Field(description="DuckDB SQL condition over the source's own columns")
    reason: str


ColumnSource = str | SqlExpr


class SourceSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    path: str | None = None
    format: Literal["auto", "csv", "parquet", "excel", "whitespace", "table", "query"] = "auto"
    encoding: Literal["auto", "utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16", "latin-1", "cp1252"] = "auto"
    sheet: str | None = None
    table: str | None = None
    query: str | None = None
    columns: dict[str, ColumnSource]
    constants: dict[str, str | int | float | bool] = Field(default_factory=dict)
    timestamp_format: str | None = None
    line_items: bool = False
    exclude: list[ExcludeRule] = Field(default_factory=list)
    description: str = ""
    decimal: Literal["auto", ".", ","] = Field(
        default="auto",
        description="decimal separator of numbers written as text: 'auto' detects it from the values (12.50 vs "
                    "12,50) and stops when they disagree; '.' or ',' fixes it (the other then only groups thousands)")
    on_bad_rows: Literal["fail", "skip"] = Field(
        default="fail",
        description="a CSV row that cannot be read (wrong number of fields, an unterminated quote): 'fail' stops "
                    "with the line; 'skip' leaves it out and counts it in the reconciliation")

    @model_validator(mode="after")
    def _where_from(self) -> SourceSpec:
        fmt = self.format
        if fmt in ("table",) and not self.table:
            raise ValueError("format 'table' needs 'table: <name>'")
        if fmt == "query" and not self.query:
            raise ValueError("format 'query' needs 'query: <SQL>'")
        if fmt not in ("table", "query") and not self.path:
            raise ValueError("a file source needs 'path:' (or format 'table'/'query' for SQL)")
        return self


class Sources(_Strict):
    orders: list[SourceSpec] = Field(min_length=1)
    customers: list[SourceSpec] = Field(default_factory=list)
    interactions: list[SourceSpec] = Field(default_factory=list)
    campaigns: list[SourceSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _columns_known(self) -> Sources:
        for kind in ("orders", "customers", "interactions", "campaigns"):
            allowed = canonical_columns(kind)
            required = CANONICAL[kind]["required"]
            for i, src in enumerate(getattr(self, kind)):
                given = set(src.columns) | set(src.constants)
                unknown = sorted(given - set(allowed))
                if unknown:
                    raise ValueError(
                        f"{kind}[{i}] ({src.name}): unknown canonical column(s) {unknown}; "
                        f"allowed: {sorted(allowed)}"
                    )
                missing = [
                    c for c in required if c not in given and not (kind == "orders" and c == "order_id")
                ]
                if missing:
                    raise ValueError(
                        f"{kind}[{i}] ({src.name}): required canonical column(s) {missing} not mapped"
                    )
        with_amount = [s.name for s in self.orders if "amount" in s.columns or "amount" in s.constants]
        if with_amount and len(with_amount) < len(self.orders):
            without = [s.name for s in self.orders if s.name not in with_amount]
            raise ValueError(
                f"orders: amount is mapped in {with_amount} but not in {without}; map it in every order source "
                "(revenue and CLV would leave the other sources' orders out) or in none (the money sections "
                "are then skipped)")
        names = [s.name for k in ("orders", "customers", "interactions", "campaigns") for s in getattr(self, k)]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; repeated: {dupes}")
        return self


class Engine(_Strict):
    url: str = Field(
        default="duckdb://",
        description="Ibis connection URL: duckdb:// (in-process), postgres://user:${PGPASSWORD}@host/db, ...",
    )


class Cleaning(_Strict):
    duplicates: Literal["drop", "keep"] = "drop"
    conflicting_duplicates: Literal["keep_first", "drop_all"] = "keep_first"
    refunds: Literal["net", "ignore"] = "net"
    zero_amount: Literal["drop", "keep"] = "drop"
    cancelled: Literal["drop", "keep"] = "drop"
    outliers: Literal["flag", "drop"] = "flag"
    outlier_z: float = Field(default=5.0, gt=0, description="robust z-score of log(amount) above which an order is an outlier")
    earliest_order_date: date = Field(
        default=date(1990, 1, 1),
        description="orders dated before this are placeholders (1970-01-01, 1900-01-01, Excel's 1899-12-30), "
                    "dropped as implausible dates; orders dated after the run date are dropped the same way")
    max_faulty_share: float = Field(
        default=0.2, gt=0, le=1,
        description="the audit fails when more than this share of order rows is dropped as faulty (unparseable, "
                    "implausible dates, duplicates, zero amounts)")


class Readiness(_Strict):
    min_repeat_customers: int = Field(default=200, ge=1)
    min_history_days: int = Field(default=180, ge=1)
    min_customer_match: float = Field(
        default=0.8, ge=0, le=1,
        description="the audit fails when a smaller share of order (or interaction, campaign) rows matches the "
                    "customers table on the customer id")


class Business(_Strict):
    currency: str = Field(default="", description="the unit money is shown in (CNY, EUR, ¥ ...); never guessed: "
                                                  "unset, money is labelled 'unspecified currency'")
    margin: float = Field(default=0.3, gt=0, le=1, description="gross margin as a share of revenue")
    annual_discount_rate: float = Field(default=0.10, ge=0, lt=1)
    cost_to_serve_per_customer_year: float = Field(default=0.0, ge=0)
    acquisition_cost: dict[str, float] = Field(default_factory=dict)

    @property
    def unit(self) -> str:
        """The label money carries in tables, charts and sentences."""
        return self.currency.strip() or "unspecified currency"


# ---------------------------------------------------------------- per-notebook sections
# Each numbered notebook reads its own section. Every field has a default that suits a typical
# consumer brand, so a brand's params only name what differs.


class Lifecycle(_Strict):
    """Notebook 02. Stage thresholds in days since the last purchase; when not given they are
    derived from the brand's own inter-purchase gaps at the quantiles below (90 days means
    different things for coffee and for furniture)."""

    active_days: int | None = Field(default=None, ge=1, description="last purchase at most this many days ago = active")
    churn_days: int | None = Field(default=None, ge=1, description="no purchase for more than this many days = churned")
    active_quantile: float = Field(default=0.80, gt=0, lt=1)
    churn_quantile: float = Field(default=0.95, gt=0, lt=1)
    transition_periods: int = Field(default=6, ge=1, description="period ends shown in the transition flows")
    trend_periods: int = Field(default=12, ge=2, description="periods in the repurchase-rate trends")
    second_purchase_days: list[int] = Field(default_factory=lambda: [30, 60, 90])
    rfm_bins: int = Field(default=5, ge=3, le=10)
    split_by: list[str] = Field(default_factory=lambda: ["channel", "acquisition_channel", "region"],
                                description="columns to split repurchase rates by, where the data has them")
    cohort_periods: int = Field(default=24, ge=2, description="most recent first-purchase cohorts shown in the cohort charts")
    min_group_size: int = Field(default=30, ge=5, description="a split group needs this many customers for its rate to be read")
    min_gaps: int = Field(default=30, ge=5, description="repeat gaps needed to derive the thresholds from the data")

    @model_validator(mode="after")
    def _thresholds(self) -> Lifecycle:
        if self.active_days is not None and self.churn_days is not None and self.churn_days <= self.active_days:
            raise ValueError(f"churn_days ({self.churn_days}) must be above active_days ({self.active_days})")
        if self.churn_quantile <= self.active_quantile:
            raise ValueError(f"churn_quantile ({self.churn_quantile}) must be above active_quantile ({self.active_quantile})")
        if not self.second_purchase_days or any(n < 1 for n in self.second_purchase_days) \
                or len(set(self.second_purchase_days)) != len(self.second_purchase_days):
            raise ValueError("second_purchase_days must be distinct whole numbers of days, at least 1")
        return self


class InteractionKinds(_Strict):
    """How the brand's interactions.kind values map to the events the drivers notebook knows."""

    ticket: list[str] = Field(default_factory=lambda: ["ticket", "complaint"])
    satisfaction: list[str] = Field(default_factory=lambda: ["satisfaction", "rating"])
    coupon_issued: list[str] = Field(default_factory=lambda: ["coupon_issued"])
    coupon_reminder: list[str] = Field(default_factory=lambda: ["coupon_reminder", "reminder"])


class Drivers(_Strict):
    """Notebook 03."""

    horizon_days: int = Field(default=90, ge=7, description="N in 'second purchase within N days'")
    slow_delivery_days: float = Field(default=5, gt=0, description="first order delivered in this many days or more = slow")
    ticket_window_days: int = Field(default=14, ge=1, description="tickets (and their satisfaction scores) this many days after the first order count")
    coupon_window_days: int = Field(default=14, ge=1, description="second-order coupon issue and reminder events this many days after the first order count")
    refund_window_days: int = Field(default=30, ge=1, description="a refund this many days after the first order = first order returned")
    slow_response_hours: float = Field(default=24, gt=0, description="a first-order ticket answered after more than this many hours = slow response")
    low_satisfaction_score: float = Field(default=2, description="a satisfaction score at or below this = dissatisfied")
    store_channels: list[str] = Field(default_factory=lambda: ["store", "pos", "offline", "门店", "线下"],
                                      description="order channel values that mean a physical store (all others = online)")
    cohort: Literal["auto", "month", "quarter", "year"] = Field(default="auto", description="acquisition cohort grain of the funnel")
    max_levels: int = Field(default=8, ge=2, description="a categorical factor keeps at most this many levels (the rest pooled as 'other')")
    min_group_size: int = Field(default=30, ge=5, description="a factor level needs this many customers to be estimated")
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    bootstrap: int = Field(default=200, ge=20, description="bootstrap resamples of customers for the effect intervals")
    seed: int = 0
    interaction_kinds: InteractionKinds = Field(default_factory=InteractionKinds)


class Clv(_Strict):
    """Notebook 04. One time unit through the whole chain; holdout and horizons in that unit or
    in months as named."""

    time_unit: Literal["day", "week"] = "week"
    holdout: int = Field(default=26, ge=1, description="holdout length in time units")
    horizon_months: int = Field(default=12, ge=1, le=120)
    models: list[Literal["bgnbd", "mbgnbd", "pareto"]] = Field(default_factory=lambda: ["bgnbd", "mbgnbd", "pareto"])
    penalizer: float = Field(default=0.0, ge=0)
    fallback_penalizer: float = Field(default=0.001, gt=0, description="used, with a warning, when a fit does not converge")
    bootstrap: int = Field(default=200, ge=0, description="parameter bootstrap draws for intervals (0 = none)")
    seed: int = 0
    exclude_outliers: bool = Field(
        default=True,
        description="leave the orders the audit flags as extreme out of the spend model (they still count as purchases): "
                    "amount above exp(median + cleaning.outlier_z x 1.4826 x MAD) of the log amounts, i.e. a robust "
                    "z-score of log(amount) above cleaning.outlier_z. false keeps them")
    same_day: Literal["collapse", "separate"] = Field(
        default="collapse",
        description="a customer's orders on one calendar day: one purchase occasion (collapse, as in the published "
                    "CDNOW figures) or separate purchases")
    interval: float = Field(default=0.95, gt=0.5, lt=1, description="coverage of the bootstrap intervals")
    spend_correlation_warn: float = Field(
        default=0.3, gt=0, lt=1,
        description="warn when |correlation| of repeat purchases and mean spend reaches this (Gamma-Gamma assumes none)")


class Tiers(_Strict):
    """Notebook 05. Tiers, budget and the playbook.

    Tiers come from predicted CLV (notebook 04). *Potential* is upside: a customer outside the
    high and low bands whose predicted CLV (a profit figure) is at least ``potential_ratio``
    times the gross profit they have made so far (past revenue x business.margin). The budget
    model: a tier's expected incremental gross profit is contactable customers x response x
    value, the response saturating in spend per customer as 1 - exp(-saturation x spend / cost
    per contact), scaled so that one contact per customer gives the measured (notebook 06 of an
    earlier period) or assumed response. The playbook maps tier x stage to an action; ``*``
    matches any tier or stage, and the most specific row wins."""

    method: Literal["quantile", "absolute"] = "quantile"
    high_share: float = Field(default=0.10, gt=0, lt=1, description="top share of customers by predicted CLV = high value")
    low_share: float = Field(default=0.40, gt=0, lt=1, description="bottom share by predicted CLV = low value")
    high_threshold: float | None = Field(default=None, description="absolute CLV threshold (method: absolute)")
    low_threshold: float | None = Field(default=None, description="absolute CLV threshold (method: absolute)")
    potential_ratio: float = Field(default=1.0, gt=0, description="predicted CLV / past gross profit (revenue, at least "
                                   "one typical order, x business.margin) at or above this = potential (customers between "
                                   "the low and high bands)")
    budget: float = Field(default=50_000.0, ge=0, description="retention budget for the next period, contacts and offers")
    cost_per_contact: dict[str, float] = Field(default_factory=lambda: {"sms": 0.05, "app_push": 0.01, "email": 0.01, "phone": 3.0},
                                               description="cost of one contact by channel (never 0: a contact is never free)")
    rule_of_thumb: dict[str, float] = Field(default_factory=lambda: {"high": 0.80, "potential": 0.15, "general": 0.04, "low": 0.01})
    assumed_response: dict[str, float] = Field(
        default_factory=lambda: {"high": 0.04, "potential": 0.06, "general": 0.03, "low": 0.01},
        description="incremental repurchase probability per contacted customer when no campaign was measured")
    assumed_response_band: float = Field(default=0.5, gt=0, lt=1, description="assumptions carry no interval: the profit "
                                         "range shown uses the assumed response times (1 -/+ this)")
    saturation: float = Field(default=1.0, gt=0, description="k in 1 - exp(-k x spend per customer / cost per contact)")
    channels: dict[str, list[str]] = Field(
        default_factory=dict, description="channels each tier may be contacted through (the budget is optimised over "
        "tier x channel); a tier not named here uses the channels its playbook rows give")
    channel_response_factor: dict[str, float] = Field(
        default_factory=dict, description="assumed response of a channel never measured = the tier's assumed_response x "
        "this factor (1 for a channel not named); a channel a campaign measured uses its measured lift instead")
    retention_effect: float = Field(
        default=1.0, ge=0, le=1, description="share of a customer's at-risk future value ((1 - P(alive)) x the CLV if "
        "alive) that an incremental purchase keeps; 0 counts only the purchase itself")
    playbook: list[dict[str, str | float | int]] = Field(
        default_factory=lambda: [
            {"tier": "high", "stage": "*", "action": "vip_service", "channel": "phone", "offer": "priority service and early access", "offer_value": 0},
            {"tier": "high", "stage": "churned", "action": "automated_winback", "channel": "sms", "offer": "come-back coupon", "offer_value": 15},
            {"tier": "potential", "stage": "*", "action": "growth_offer", "channel": "sms", "offer": "next-order coupon", "offer_value": 10},
            {"tier": "general", "stage": "*", "action": "routine_offer", "channel": "sms", "offer": "routine coupon", "offer_value": 5},
            {"tier": "general", "stage": "churned", "action": "automated_winback", "channel": "app_push", "offer": "come-back coupon", "offer_value": 5},
            {"tier": "low", "stage": "*", "action": "no_contact"},
            {"tier": "low", "stage": "dormant", "action": "automated_winback", "channel": "app_push", "offer": "come-back coupon", "offer_value": 3},
            {"tier": "low", "stage": "churned", "action": "automated_winback", "channel": "app_push", "offer": "come-back coupon", "offer_value": 3},
        ],
        description="rows of tier, stage, action, channel, offer, offer_value; tier/stage '*' = any")
    export_split: Literal["optimized", "rule_of_thumb"] = Field(default="optimized", description="the split the CRM lists follow")
    frequency_cap_days: int = Field(default=14, ge=1, description="at most one contact per customer in this many days")
    suppress_recent_days: int = Field(default=14, ge=0, description="customers contacted this many days before the period end are left out")
    complaint_days: int = Field(default=90, ge=1, description="customers with a ticket not marked resolved in this many days are left out")

    @model_validator(mode="after")
    def _consistent(self) -> Tiers:
        tiers = ("high", "potential", "general", "low")
        stages = ("new", "active", "returning", "dormant", "churned")
        actions = ("vip_service", "growth_offer", "routine_offer", "automated_winback", "no_contact")
        if self.method == "absolute":
            if self.high_threshold is None or self.low_threshold is None:
                raise ValueError("method 'absolute' needs high_threshold and low_threshold")
            if self.low_threshold >= self.high_threshold:
                raise ValueError("low_threshold must be below high_threshold")
        elif self.high_share + self.low_share >= 1:
            raise ValueError("high_share + low_share must be below 1 (the rest is potential and general)")
        for name in ("rule_of_thumb", "assumed_response"):
            given = getattr(self, name)
            if set(given) != set(tiers):
                raise ValueError(f"{name} needs exactly the tiers {list(tiers)} (got {sorted(given)})")
            if any(not 0 <= v <= 1 for v in given.values()):
                raise ValueError(f"{name}: every value must be between 0 and 1")
        if abs(sum(self.rule_of_thumb.values()) - 1) > 1e-3:
            raise ValueError(f"rule_of_thumb shares must add up to 1 (they add up to {sum(self.rule_of_thumb.values()):g})")
        bad = sorted(k for k, v in self.cost_per_contact.items() if not v > 0)
        if bad:
            raise ValueError(f"cost_per_contact must be above 0 for every channel (not for {bad})")
        if not self.playbook:
            raise ValueError("playbook needs at least one row")
        keys = {"tier", "stage", "action", "channel", "offer", "offer_value"}
        for i, row in enumerate(self.playbook):
            where = f"playbook[{i}]"
            if set(row) - keys:
                raise ValueError(f"{where}: unknown key(s) {sorted(set(row) - keys)}; allowed: {sorted(keys)}")
            missing = [k for k in ("tier", "stage", "action") if k not in row]
            if missing:
                raise ValueError(f"{where}: missing {missing}")
            if row["tier"] not in (*tiers, "*"):
                raise ValueError(f"{where}: tier {row['tier']!r} is not one of {[*tiers, '*']}")
            if row["stage"] not in (*stages, "*"):
                raise ValueError(f"{where}: stage {row['stage']!r} is not one of {[*stages, '*']}")
            if row["action"] not in actions:
                raise ValueError(f"{where}: action {row['action']!r} is not one of {list(actions)}")
            if row["action"] != "no_contact" and row.get("channel") not in self.cost_per_contact:
                raise ValueError(f"{where}: channel {row.get('channel')!r} has no cost in cost_per_contact "
                                 f"({sorted(self.cost_per_contact)})")
            value = row.get("offer_value", 0)
            if isinstance(value, str) or value < 0:
                raise ValueError(f"{where}: offer_value must be a number at or above 0")
        cells = [(r["tier"], r["stage"]) for r in self.playbook]
        dupes = sorted({c for c in cells if cells.count(c) > 1})
        if dupes:
            raise ValueError(f"playbook: more than one row for tier x stage {dupes}")
        for tier, chans in self.channels.items():
            if tier not in tiers:
                raise ValueError(f"channels: tier {tier!r} is not one of {list(tiers)}")
            unknown = [c for c in chans if c not in self.cost_per_contact]
            if not chans:
                raise ValueError(f"channels.{tier}: needs at least one channel")
            if unknown:
                raise ValueError(f"channels.{tier}: {unknown} have no cost in cost_per_contact ({sorted(self.cost_per_contact)})")
        bad = sorted(k for k, v in self.channel_response_factor.items() if k not in self.cost_per_contact or not v >= 0)
        if bad:
            raise ValueError(f"channel_response_factor: {bad} must be channels of cost_per_contact with a factor at or above 0")
        return self


class Campaigns(_Strict):
    """Notebook 06."""

    window_days: int = Field(default=30, ge=1, description="outcomes counted this many days after contact")
    pre_period_days: int = Field(default=90, ge=1, description="pre-period for CUPED")
    control_labels: list[str] = Field(
        default_factory=lambda: ["control", "control group", "ctrl", "holdout", "hold-out", "hold out", "对照组", "对照",
                                 "控制组"],
        description="group labels of a control group (compared case-insensitively after trimming); setting it replaces "
        "the defaults")
    treatment_labels: list[str] = Field(
        default_factory=lambda: ["treatment", "treated", "test", "contacted", "exposed", "实验组", "实验", "处理组",
                                 "测试组"],
        description="group labels of treatment arms (compared like control_labels; setting it replaces the defaults). "
        "A campaign with a control group and one other label reads that label as its treatment; a label that is "
        "neither a control nor a treatment label otherwise stops that campaign (name the arms of a multi-arm "
        "campaign here)")
    srm_alpha: float = Field(default=0.001, gt=0, lt=1)
    fatigue_lookback_days: int = Field(default=90, ge=1)
    read_periods: int = Field(default=3, ge=1, description="a campaign is read by the runs of the period its outcome "
                              "window closes in and of the next read_periods - 1 periods")
    exclude_outlier_revenue: bool = Field(default=True, description="flagged wholesale-size orders count as purchases "
                                          "but their amount is left out of revenue and profit outcomes")
    min_group_size: int = Field(default=20, ge=2, description="a subgroup needs this many customers in each arm "
                                "for its lift to be estimated")


class Report(_Strict):
    """The run's summary page (html/summary.html) and the outputs index: their language. Every
    word on them comes from the message catalogue of that language (helpers/text/<language>.yaml);
    ``workbook run --language`` overrides it for one command."""

    language: Literal["en", "zh"] = Field(default="en", description="language of the summary page and the "
                                          "index: en (English) or zh (Chinese)")


PeriodKind = Literal["month", "quarter", "week"]


class Params(_Strict):
    brand: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    display_name: str = ""
    description: str = ""
    attribution: str = ""
    period: PeriodKind = "month"
    engine: Engine = Field(default_factory=Engine)
    sources: Sources
    cleaning: Cleaning = Field(default_factory=Cleaning)
    readiness: Readiness = Field(default_factory=Readiness)
    business: Business = Field(default_factory=Business)
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)
    drivers: Drivers = Field(default_factory=Drivers)
    clv: Clv = Field(default_factory=Clv)
    tiers: Tiers = Field(default_factory=Tiers)
    campaigns: Campaigns = Field(default_factory=Campaigns)
    report: Report = Field(default_factory=Report)
    demo: dict[str, Annotated[int | float | str, Field()]] | None = Field(
        default=None, description="settings for the bundled synthetic generator (demo brand only)"
    )

    _source_path: Path | None = PrivateAttr(default=None)

    @field_validator("display_name")
    @classmethod
    def _display(cls, v: str) -> str:
        return v.strip()

    @property
    def title(self) -> str:
        return self.display_name or self.brand

    @property
    def has_amount(self) -> bool:
        """True when the orders carry money (amount mapped in the order sources); without it
        revenue, spend and CLV in money are skipped and purchases are counted only."""
        return any("amount" in s.columns or "amount" in s.constants for s in self.sources.orders)


# ---------------------------------------------------------------- business assumptions

# The figures a money answer rests on, by params section and field: when a brand's params file
# does not set one, the workbook's generic default is used and the answer is only illustrative.
# Their names and the table of all assumptions are words: helpers.text.common.
BUSINESS_ASSUMPTIONS = (("business", "margin"), ("tiers", "budget"), ("tiers", "cost_per_contact"))


def default_assumptions(params: Params) -> list[str]:
    """The business assumptions (BUSINESS_ASSUMPTIONS) the brand's params leave at the
    workbook's defaults, as ``section.field`` names: set explicitly in the params file (even to
    the default's value) counts as the brand's own figure."""
    out = []
    for section, name in BUSINESS_ASSUMPTIONS:
        given = section in params.model_fields_set and name in getattr(params, section).model_fields_set
        if not given:
            out.append(f"{section}.{name}")
    return out


# ---------------------------------------------------------------- loading and errors

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str] | None:
    """The keys a model accepts at a location of the raw params (for 'unknown key' errors)."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = _model_in(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return None


def _model_in(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _format_errors(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid params ({exc.error_count()} problem(s))"]
    for err in exc.errors():
        loc = err["loc"]
        where = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
        kind = err["type"]
        if kind == "extra_forbidden":
            allowed = _allowed_keys(Params, loc)
            hint = f"; allowed keys here: {', '.join(allowed)}" if allowed else ""
            lines.append(f"  - {where}: unknown key{hint}")
        elif kind == "missing":
            lines.append(f"  - {where}: required key is missing")
        elif kind == "literal_error":
            lines.append(f"  - {where}: {err['msg']} (got {err.get('input')!r})")
        else:
            got = err.get("input")
            shown = f" (got {got!r})" if not isinstance(got, dict | list) else ""
            lines.append(f"  - {where or '(top level)'}: {err['msg']}{shown}")
    return "\n".join(lines)


def params_path_for(brand: str) -> Path:
    path = PARAMS_DIR / f"{brand}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))) or "none"
        raise ParamsError(f"no params file for brand {brand!r}: {path} does not exist (brands: {known})")
    return path


def load_params(path: str | Path | None = None, *, brand: str | None = None) -> Params:
    """Read and validate a params file (by path, or by brand name from params/)."""
    if path in (None, ""):
        if not brand:
            raise ParamsError("give a brand name or a params file path")
        path = params_path_for(brand)
    path = Path(path).resolve()
    if not path.exists():
        raise ParamsError(f"{path}: params file not found")
    text = path.read_text(encoding="utf-8")
    _SECRET_NAMES.update(_PLACEHOLDER.findall(text))  # masked wherever this process writes
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of keys at the top level, got {type(raw).__name__}")
    _check_dates_quoted(path, raw)
    try:
        params = Params.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(_format_errors(path, exc)) from None
    if brand and params.brand != brand:
        raise ParamsError(f"{path}: brand is {params.brand!r} but the file was asked for as {brand!r}")
    params._source_path = path
    return params


def _check_dates_quoted(path: Path, raw: Any, where: str = "") -> None:
    """YAML turns 2011-11-30 into a date object; params want quoted strings (DESIGN §8)."""
    import datetime as dt

    if isinstance(raw, dict):
        for k, v in raw.items():
            _check_dates_quoted(path, v, f"{where}.{k}" if where else str(k))
    elif isinstance(raw, list):
        for i, v in enumerate(raw):
            _check_dates_quoted(path, v, f"{where}[{i}]")
    elif isinstance(raw, dt.date):
        raise ParamsError(f"{path}: {where}: write dates as quoted strings, e.g. '{raw.isoformat()}'")


def params_file(params: Params) -> Path | None:
    return params._source_path


def params_fingerprint(params: Params) -> str:
    """Stable hash of the validated params as written (placeholders unresolved)."""
    text = params.model_dump_json()
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def resolve_secrets(value: str, *, where: str = "") -> str:
    """Substitute ${ENV_VAR} placeholders from the environment, at the moment of use. Secrets
    are read from the environment only; every name resolved here is masked by :func:`redact`."""

    def sub(m: re.Match) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise ParamsError(
                f"{where or 'params'}: environment variable {name} is not set "
                f"(the params refer to it as ${{{name}}}; set it before the run)"
            )
        _SECRET_NAMES.add(name)
        return os.environ[name]

    return _PLACEHOLDER.sub(sub, value)


# Environment variables whose values redact() masks: every name a params placeholder refers to
# (remembered by load_params and resolve_secrets in this process), and by habit any variable
# named like a credential. Shorter values are left alone: they would mask ordinary words.
_SECRET_NAMES: set[str] = set()
_SECRET_NAME_HINTS = ("PASS", "SECRET", "TOKEN", "KEY")
MIN_SECRET_LENGTH = 4
MASK = "***"
# scheme://user:password@host: the password runs to the last '@' before the host's path
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s/?#@:\"'<>]*:)(?P<password>[^\s/?#\"'<>]+)(?=@)")
# Base64 outputs of a notebook: never text, and a masked substring would corrupt the image
_BINARY_MIME = re.compile(r"^(image/(?!svg)|application/pdf$)")


def secret_values() -> list[tuple[str, str]]:
    """(name, value) of the environment variables :func:`redact` masks, longest value first
    (a URL held in one variable may contain another variable's password)."""
    names = _SECRET_NAMES | {n for n in os.environ if any(h in n for h in _SECRET_NAME_HINTS)}
    found = [(n, os.environ[n]) for n in names if len(os.environ.get(n, "")) >= MIN_SECRET_LENGTH]
    return sorted(found, key=lambda item: (-len(item[1]), item[0]))


@functools.lru_cache(maxsize=256)
def secret_forms(value: str) -> tuple[str, ...]:
    """A value as it may be written: as is, percent-encoded in a URL, escaped in HTML or JSON."""
    import html
    import json
    from urllib.parse import quote

    forms = [value, quote(value, safe=""), html.escape(value), json.dumps(value)[1:-1],
             json.dumps(value, ensure_ascii=False)[1:-1]]
    return tuple(dict.fromkeys(forms))


def redact(text: str) -> str:
    """Mask secrets in text that leaves the process (terminal, manifest, notebooks, HTML, logs):
    the value of every environment variable a ``${NAME}`` placeholder refers to becomes
    ``${NAME}``, and the password of every ``scheme://user:password@host`` URL becomes ``***``
    (a placeholder written as the password is kept: it is no secret)."""
    for name, value in secret_values():
        for form in secret_forms(value):
            if form in text:
                text = text.replace(form, "${" + name + "}")
    if "://" in text:
        text = _URL_PASSWORD.sub(_mask_password, text)
    return text


def _mask_password(m: re.Match) -> str:
    password = m.group("password")
    if password == MASK or _PLACEHOLDER.fullmatch(password):
        return m.group(0)
    return m.group("head") + MASK


def redact_data(data: Any) -> Any:
    """:func:`redact` applied to every string of a JSON-like structure (a manifest, a notebook),
    leaving base64 images as they are."""
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        return type(data)((k, v if isinstance(k, str) and _BINARY_MIME.match(k) else redact_data(v))
                          for k, v in data.items())
    if isinstance(data, list):
        return [redact_data(v) for v in data]
    return data


def resolve_path(path_text: str, params: Params | None = None) -> Path:
    """A source path: ``pkg:<package>/<file>`` for files shipped inside an installed package,
    absolute, or relative to the project root (then to the params file's folder)."""
    if path_text.startswith("pkg:"):
        import importlib.util

        package, _, rest = path_text[4:].partition("/")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ParamsError(f"{path_text}: package {package!r} is not installed")
        return Path(list(spec.submodule_search_locations)[0]) / rest
    p = Path(resolve_secrets(path_text))
    if p.is_absolute():
        return p
    candidate = PROJECT_ROOT / p
    pf = params_file(params) if params is not None else None
    if not candidate.exists() and pf is not None and (pf.parent / p).exists():
        return pf.parent / p
    return candidate


def all_params_files() -> list[Path]:
    return sorted(PARAMS_DIR.glob("*.yaml"))


# ---------------------------------------------------------------- periods
# A period is named by a label: 2011-11 (month), 2011Q4 (quarter), 2011-W45 (ISO week).
# Every run is "as of" its period's end: it sees only data up to that instant.

import pandas as pd  # noqa: E402  (periods are tiny scalars; pandas gives calendar arithmetic)

_PANDAS_FREQ = {"month": "M", "quarter": "Q", "week": "W-SUN"}


def to_period(label: str, kind: PeriodKind) -> pd.Period:
    text = str(label).strip()
    try:
        if kind == "month" and re.fullmatch(r"\d{4}-\d{2}", text):
            return pd.Period(text, freq="M")
        if kind == "quarter" and re.fullmatch(r"\d{4}Q[1-4]", text):
            return pd.Period(text, freq="Q")
        if kind == "week" and (m := re.fullmatch(r"(\d{4})-W(\d{2})", text)):
            monday = pd.Timestamp.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
            return monday.to_period("W-SUN")
    except ValueError:
        pass
    examples = {"month": "2011-11", "quarter": "2011Q4", "week": "2011-W45"}
    raise ParamsError(f"period {label!r} is not a {kind} label; write it like {examples[kind]!r}")


def period_label(period: pd.Period, kind: PeriodKind) -> str:
    if kind == "month":
        return period.strftime("%Y-%m")
    if kind == "quarter":
        return f"{period.year}Q{period.quarter}"
    iso = period.start_time.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def period_end(label: str, kind: PeriodKind) -> pd.Timestamp:
    """The last instant of the period (inclusive bound for 'as of')."""
    return to_period(label, kind).end_time.floor("us")


def period_start(label: str, kind: PeriodKind) -> pd.Timestamp:
    return to_period(label, kind).start_time


def run_date() -> pd.Timestamp:
    """Today, the date a run is made: no order can be dated after it. ``WORKBOOK_TODAY``
    (YYYY-MM-DD) pins it, so a back-run or a test reproduces exactly."""
    pinned = os.environ.get("WORKBOOK_TODAY", "").strip()
    if pinned:
        try:
            return pd.Timestamp(pinned).normalize()
        except ValueError:
            raise ParamsError(f"WORKBOOK_TODAY={pinned!r}: write a date as YYYY-MM-DD") from None
    return pd.Timestamp.now().normalize()


def latest_complete_period(max_ts: pd.Timestamp, kind: PeriodKind) -> str:
    """The last period the data covers to its final day. Data that stops part-way through a
    period (late-arriving or future-dated rows) does not make that period complete."""
    max_ts = pd.Timestamp(max_ts)
    current = max_ts.to_period(_PANDAS_FREQ[kind])
    if max_ts.normalize() >= current.end_time.normalize():
        return period_label(current, kind)
    return period_label(current - 1, kind)


def choose_latest_period(volume: pd.Series, last_ts: pd.Timestamp, kind: PeriodKind, today: pd.Timestamp,
                         normal_share: float = 0.5, lookback: int = 12) -> tuple[str, str]:
    """'latest': the last complete period, before today's, whose order volume is normal.

    ``volume`` counts orders per period start (plausible dates only). A period with fewer than
    ``normal_share`` of the median volume of the ``lookback`` periods before it (an export cut
    part-way, a feed that stopped) is not a period to report on: step back to the last normal one
    and say why in the returned note ('' when nothing was skipped)."""
    freq = _PANDAS_FREQ[kind]
    candidate = min(to_period(latest_complete_period(last_ts, kind), kind),
                    pd.Timestamp(today).to_period(freq) - 1)
    counts = {pd.Timestamp(start).to_period(freq): int(n) for start, n in volume.items()}
    first = min(counts) if counts else candidate
    skipped = []
    p = candidate
    while p > first:
        before = [counts.get(p - k, 0) for k in range(1, lookback + 1) if p - k >= first]
        before = [n for n in before if n > 0]
        n_here = counts.get(p, 0)
        if len(before) < 3 or n_here >= normal_share * float(pd.Series(before).median()):
            break
        skipped.append(f"{period_label(p, kind)} ({n_here:,} orders against a median of "
                       f"{pd.Series(before).median():,.0f} in the periods before)")
        p = p - 1
    if p <= first and skipped:  # nothing normal to step back to: keep the last complete period
        return period_label(candidate, kind), ""
    note = ""
    if skipped:
        note = (f"latest = {period_label(p, kind)}: the data's last complete period(s) look cut short — "
                f"{'; '.join(skipped)}")
    return period_label(p, kind), note


LATEST_TOKEN = re.compile(r"latest(?:-(\d+))?")


def needs_latest(spec: str) -> bool:
    """Whether a period spec names 'latest' or 'latest-K' anywhere (the data must be read)."""
    return any(LATEST_TOKEN.fullmatch(part.strip()) for part in spec.split(".."))


def expand_periods(spec: str, kind: PeriodKind, latest: str | None = None) -> list[str]:
    """'2011-01..2011-06' -> every period label from the first to the last, inclusive. Either end
    may be 'latest' or 'latest-K' (K periods before the latest complete one, given as ``latest``):
    'latest-1..latest' is the last two complete periods."""

    def one(text: str) -> pd.Period:
        token = LATEST_TOKEN.fullmatch(text.strip())
        if token is None:
            return to_period(text, kind)
        if latest is None:
            raise ParamsError(f"period {spec!r}: 'latest' needs the data's latest complete period")
        return to_period(latest, kind) - int(token.group(1) or 0)

    if ".." not in spec:
        return [period_label(one(spec), kind)]
    first, last = spec.split("..", 1)
    p0, p1 = one(first), one(last)
    if p1 < p0:
        raise ParamsError(f"period range {spec!r} runs backwards")
    return [period_label(p, kind) for p in pd.period_range(p0, p1, freq=p0.freq)]
