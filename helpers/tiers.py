"""Value tiers, the retention budget split and CRM action lists (notebook 05).

Definitions (the notebook prints them next to the numbers):

* **Tiers** from predicted CLV (notebook 04, a profit figure over ``clv.horizon_months``).
  ``tiers.method: quantile`` puts the top ``high_share`` of customers in *high*, the bottom
  ``low_share`` in *low*; ``absolute`` uses ``high_threshold`` / ``low_threshold``. *Potential*
  is upside: a customer between the two bands whose predicted CLV is at least
  ``potential_ratio`` times the gross profit made so far (past revenue x business.margin).
  Everyone else in the middle band is *general*.
* **What a contact is worth, the response curve and the split** over tier x channel cells:
  :mod:`helpers.budget` (an incremental purchase is worth the order's margin plus the at-risk
  future value it keeps; each cell has its channel's cost and response and a concave curve;
  the optimiser keeps every tier's contacts within the frequency cap).
* **Response.** Per cell, the incremental repurchase probability at one contact per customer:
  for the channel a campaign used, the lift notebook 06 measured in an earlier period (the
  covariate-adjusted estimate when reported, with its 95 % interval); every other channel keeps
  ``tiers.assumed_response`` x ``tiers.channel_response_factor``, labelled assumed.
* **Cost per contact** = channel cost + offer value x the chance the offer is redeemed
  (the customer's chance to buy in the window, from notebook 04's expected purchases, plus the
  lift): an offer is paid by everyone who uses it, including those who would have bought anyway.
* **Budget split.** The rule of thumb gives each tier its share of the budget, spent through the
  channels the playbook gives its customers, up to what they can absorb under the cap (the rest
  stays unspent). The data-driven split maximises the summed expected profit over the cells.
  The rule's split is a feasible point of that problem, so the optimum is never worse under the
  same assumptions. Both are shown with the profit at the low and high ends of the response.
* **Actions.** The playbook maps tier x stage to an action, channel and offer. Customers who
  opted out, have a ticket not marked resolved in the last ``complaint_days``, were contacted in
  the last ``suppress_recent_days`` before the period end, or are missing from the CRM table are
  suppressed. The frequency cap allows one contact per ``frequency_cap_days``: a customer's
  first contact is not before the last earlier contact + the cap, and the number of contacts
  in the next period is what fits in it. Each cell's money buys contacts through its channel in
  priority order (predicted CLV, highest first; the higher-response channel takes the top of the
  list): first one contact each, then second contacts, and so on; one channel per customer.
* **Illustrative.** A brand whose params leave the margin, budget or contact costs at the
  workbook's defaults (:func:`helpers.config.default_assumptions`) gets its page labelled
  illustrative and its lists named ``draft_<action>.csv``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import numpy as np
import pandas as pd

from helpers import budget, config
from helpers.budget import expected_profit, gross_profit, marginal_gross, optimize, rule_of_thumb  # noqa: F401 (the public API)
from helpers.config import Params, Tiers

TIERS = ("high", "potential", "general", "low")
# The tier in the CRM lists' reason column (a data file for the CRM operator, in English); the
# pages name tiers through the message catalogue (helpers.text.tiers).
TIER_LABELS = {"high": "high value", "potential": "potential", "general": "general", "low": "low value"}
STAGES = ("new", "active", "returning", "dormant", "churned")
ACTIONS = ("vip_service", "growth_offer", "routine_offer", "automated_winback", "no_contact")
CONTACT_ACTIONS = ACTIONS[:-1]
# Why a customer is not contacted, first that applies (plan "suppressed"; words: helpers.text.tiers).
SUPPRESSIONS = ("opted_out", "complaint", "recent_contact", "not_in_crm")
NEEDED = {
    "02": ("lifecycle", ("stage", "revenue", "orders")),
    "04": ("CLV", ("clv", "clv_low", "clv_high", "p_alive", "expected_purchases_30")),
}
EXPORT_COLUMNS = ("customer_id", "action", "channel", "offer", "offer_value", "contacts", "not_before",
                  "priority", "reason", "budget", "tier", "stage")
OWN_COLUMNS = ("tier", "action")  # what this notebook adds to data/customers.parquet
RESPONSE_FILE = "data/campaign_response.json"
PLAN_FILE = "tiers_plan.parquet"


class MissingInputsError(RuntimeError):
    """Notebook 05 needs the customer columns of notebooks 02 and 04 of the same run."""


# ---------------------------------------------------------------- inputs


def check_inputs(customers: pd.DataFrame | None, *, brand: str = "demo", where: str = "") -> pd.DataFrame:
    """The customer table with the columns of notebooks 02 and 04, or a MissingInputsError that
    names the notebooks to run first (never a KeyError)."""
    have = set() if customers is None else set(customers.columns)
    missing = {nb: [c for c in cols if c not in have] for nb, (_, cols) in NEEDED.items()}
    missing = {nb: cols for nb, cols in missing.items() if cols}
    if not missing:
        return customers
    names = " and ".join(f"{nb} ({NEEDED[nb][0]}: {', '.join(cols)})" for nb, cols in missing.items())
    table = f"the customer table{f' of {where}' if where else ''}"
    found = "does not exist yet" if customers is None else "lacks the columns of notebook " + names
    only = ",".join([*missing, "05"])
    raise MissingInputsError(
        f"Notebook 05 builds on notebooks {' and '.join(missing)}, and {table} {found}. "
        f"Run them first in the same run folder: `workbook run --brand {brand} --only {only}`, "
        f"or open {' and '.join(missing)} in JupyterLab with the same brand and period and run them "
        "before this notebook.")


def load_customers(run) -> pd.DataFrame:
    """run.customers() checked for the columns of notebooks 02 and 04, without the columns an
    earlier execution of this notebook wrote (so re-running it starts afresh)."""
    customers = check_inputs(run.customers(), brand=run.brand, where=f"this run ({run.run_dir.name})")
    return customers.drop(columns=[c for c in OWN_COLUMNS if c in customers.columns])


def next_period(label: str, kind: str) -> tuple[str, pd.Timestamp, pd.Timestamp]:
    """The period the plan is for: the one after the analysed period (label, start, end)."""
    nxt = config.period_label(config.to_period(label, kind) + 1, kind)
    return nxt, config.period_start(nxt, kind), config.period_end(nxt, kind)


# ---------------------------------------------------------------- tiers


def assign_tiers(customers: pd.DataFrame, cfg: Tiers, margin: float) -> pd.DataFrame:
    """The customers with ``tier`` (ordered categorical), ``upside`` (predicted CLV / past gross
    profit) and ``clv_rank`` (1 = highest predicted CLV). A missing CLV counts as 0.

    The customers' own columns are shared with ``customers``, not copied (a shallow copy with
    new columns: the caller's frame is left as it was)."""
    out = customers.copy(deep=False)
    clv = out["clv"].astype(float).fillna(0.0)
    past_profit = margin * np.maximum(out["revenue"].astype(float).fillna(0.0), typical_order_value(out))
    with np.errstate(divide="ignore", invalid="ignore"):
        upside = np.where(past_profit > 0, clv / past_profit, np.where(clv > 0, np.inf, 0.0))
    rank = pd.Series(clv_rank(clv.to_numpy(), out["customer_id"].astype(str)), index=out.index)
    n = len(out)
    if cfg.method == "quantile":
        n_high = int(round(cfg.high_share * n))
        n_low = int(round(cfg.low_share * n))
        high = rank <= n_high
        low = (rank > n - n_low) & ~high
    else:
        high = clv >= cfg.high_threshold
        low = clv < cfg.low_threshold
    return _with_tiers(out, high, low, upside, rank, cfg.potential_ratio)


def _with_tiers(out: pd.DataFrame, high, low, upside, rank, potential_ratio: float) -> pd.DataFrame:
    """The tier columns from the high/low masks (by CLV or by expected purchases): potential is
    neither, with an upside of at least ``potential_ratio``; the rest is general."""
    potential = ~high & ~low & (upside >= potential_ratio)
    code = np.select([high, low, potential], [TIERS.index("high"), TIERS.index("low"), TIERS.index("potential")],
                     TIERS.index("general"))
    out["tier"] = pd.Categorical.from_codes(code, categories=list(TIERS), ordered=True)
    out["upside"] = upside
    out["clv_rank"] = rank.astype(int)
    return out


def clv_rank(clv: np.ndarray, ids: pd.Series) -> np.ndarray:
    """1 = highest CLV, ties in CLV by customer id (ascending): two stable numpy sorts (ids, then
    CLV descending) instead of a two-key sort of a frame; the ids are not sorted at all when they
    already are (the customer table is kept in id order)."""
    n = len(clv)
    by_id = np.arange(n) if ids.is_monotonic_increasing else np.argsort(ids.to_numpy(), kind="stable")
    order = by_id[np.argsort(-clv[by_id], kind="stable")]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(1, n + 1)
    return rank


def typical_order_value(customers: pd.DataFrame) -> float:
    """The median of the customers' average order values: the least a customer counts as having
    spent when their upside is judged (a customer whose orders were refunded or free has not
    shown that their future is large compared with their past)."""
    orders = customers["orders"].astype(float)
    aov = customers["revenue"].astype(float) / orders.where(orders > 0)
    aov = aov[np.isfinite(aov) & (aov > 0)]
    return float(aov.median()) if len(aov) else 0.0


def tier_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per tier: customers, predicted CLV (with the sum of the per-customer interval bounds),
    shares of CLV and past revenue, mean P(alive) and the stage mix."""
    g = frame.groupby("tier", observed=False)
    out = pd.DataFrame({
        "customers": g.size(),
        "clv": g["clv"].sum(),
        "clv_low": g["clv_low"].sum(),
        "clv_high": g["clv_high"].sum(),
        "revenue": g["revenue"].sum(),
        "p_alive": g["p_alive"].mean(),
        "mean_clv": g["clv"].mean(),
    }).reindex(list(TIERS))
    out["customers"] = out["customers"].fillna(0).astype(int)
    out["customer_share"] = out["customers"] / max(len(frame), 1)
    out["clv_share"] = _share(out["clv"])
    out["revenue_share"] = _share(out["revenue"])
    mix = pd.crosstab(frame["tier"], frame["stage"], normalize="index").reindex(index=list(TIERS)).fillna(0.0)
    stages = [s for s in STAGES if s in mix.columns] + [s for s in mix.columns if s not in STAGES]
    for s in stages:
        out[f"stage: {s}"] = mix[s]
    out.index.name = "tier"
    middle = frame.loc[frame["tier"].isin(["potential", "general"]), "upside"] if "upside" in frame else pd.Series(dtype=float)
    out.attrs["middle_band_max_upside"] = float(middle.max()) if len(middle) else float("nan")
    return out


def _share(col: pd.Series) -> pd.Series:
    total = col.sum()
    return col / total if total else col * 0.0


def concentration(frame: pd.DataFrame) -> dict:
    """How concentrated predicted value is: the share of CLV held by the top 1/10/20 % of
    customers and the Gini coefficient of CLV (0 = equal, 1 = one customer holds it all)."""
    clv = np.sort(np.clip(frame["clv"].astype(float).fillna(0).to_numpy(), 0, None))[::-1]
    n, total = len(clv), clv.sum()
    out = {"customers": n, "total_clv": float(total)}
    for q in (0.01, 0.10, 0.20):
        k = max(1, int(round(q * n))) if n else 0
        out[f"top_{int(q * 100)}_share"] = float(clv[:k].sum() / total) if total else float("nan")
    if n and total:
        asc = clv[::-1]
        out["gini"] = float((2 * np.arange(1, n + 1) - n - 1) @ asc / (n * total))
    else:
        out["gini"] = float("nan")
    return out


def tier_cuts(frame: pd.DataFrame) -> dict:
    """What the tier rule fell on: the lowest predicted CLV in the high tier and the highest in
    the low tier (None when the tier is empty), the customers without a CLV (counted as 0) and
    the typical order value the upside is judged against."""
    high = frame.loc[frame["tier"] == "high", "clv"]
    low = frame.loc[frame["tier"] == "low", "clv"]
    return {"high_min": float(high.min()) if len(high) else None, "low_max": float(low.max()) if len(low) else None,
            "missing": int(frame["clv"].isna().sum()), "typical_order": typical_order_value(frame)}


def top_stage(summary: pd.DataFrame, tier: str) -> tuple[str, float] | None:
    """The most common lifecycle stage of a tier and its share (None without a stage mix)."""
    stage_cols = [c for c in summary.columns if c.startswith("stage: ")]
    if not stage_cols:
        return None
    row = summary.loc[tier, stage_cols]
    return str(row.idxmax()).removeprefix("stage: "), float(row.max())


# ---------------------------------------------------------------- contact history and suppressions


def _mapped(params: Params, kind: str, column: str) -> bool:
    return any(column in s.columns or column in s.constants for s in getattr(params.sources, kind))


def contact_history(run) -> tuple[pd.DataFrame, dict]:
    """Per customer, from the engine (``run.as_of``: the tables as known at the period end):
    in_crm, opted_out, complaint (a ticket not marked resolved in the last ``complaint_days``),
    last_contact_ts (campaign contacts outside the control groups, and coupon reminders).
    Returns the frame (sorted by customer_id) and what the data had: {"crm", "opted_out",
    "complaints", "resolved", "campaigns", "reminders"}.

    The per-source aggregates are combined in the engine (one row per customer of any source,
    one query): pandas receives the customers, never the sources' rows, and no customer-level
    outer merge runs in pandas (four of them over millions of string ids took most of the time)."""
    params: Params = run.params
    cfg = params.tiers
    end = pd.Timestamp(run.period_end)
    have = {"crm": False, "opted_out": False, "complaints": False, "resolved": False, "campaigns": False,
            "reminders": False}
    parts: list = []  # per-customer aggregates of each source, combined below
    cust = run.as_of("customers")
    if cust is not None:
        have["crm"] = True
        have["opted_out"] = _mapped(params, "customers", "opted_out")
        known = cust.filter(cust.customer_id.notnull())
        aggs = {"in_crm": known.count() > 0}
        if have["opted_out"]:
            aggs["opted_out"] = known.opted_out.fill_null(False).any()
        parts.append(known.group_by("customer_id").aggregate(**aggs))
    inter = run.as_of("interactions")
    if inter is not None:
        kind = inter.kind.lower().strip()
        tickets = [k.lower() for k in params.drivers.interaction_kinds.ticket]
        reminders = [k.lower() for k in params.drivers.interaction_kinds.coupon_reminder]
        have["resolved"] = _mapped(params, "interactions", "resolved")
        since = end - pd.Timedelta(days=cfg.complaint_days)
        open_ticket = kind.isin(tickets) & (inter.ts > since) & (inter.ts <= end)
        if have["resolved"]:
            open_ticket = open_ticket & ~inter.resolved.fill_null(False)
        reminder = kind.isin(reminders) & (inter.ts <= end)
        # one pass for both: open tickets (complaint) and reminders (their latest time)
        i = inter.mutate(_open=open_ticket.fill_null(False), _reminder=reminder.fill_null(False))
        i = i.filter((i._open | i._reminder) & i.customer_id.notnull())
        parts.append(i.group_by("customer_id").aggregate(complaint=i._open.any(),
                                                         last_reminder_ts=i.ts.max(where=i._reminder)))
        have["complaints"] = bool(inter.filter(kind.isin(tickets)).count().execute())
    camp = run.as_of("campaigns")
    if camp is not None:
        control = [str(c).strip().lower() for c in params.campaigns.control_labels]
        contacted = camp.filter(~camp.group.lower().strip().isin(control).fill_null(False)
                                & (camp.contact_ts <= end) & camp.customer_id.notnull())
        parts.append(contacted.group_by("customer_id").aggregate(last_campaign_ts=contacted.contact_ts.max()))
        have["campaigns"] = True
    out = _combine_per_customer(parts) if parts else pd.DataFrame({"customer_id": pd.Series(dtype=str)})
    if inter is not None:
        have["reminders"] = bool(out["last_reminder_ts"].notna().any())
    for col in ("in_crm", "opted_out", "complaint"):
        out[col] = out[col].eq(True) if col in out else False
    stamps = [c for c in ("last_reminder_ts", "last_campaign_ts") if c in out]
    out["last_contact_ts"] = out[stamps].max(axis=1) if stamps else pd.NaT
    out["last_contact_ts"] = pd.to_datetime(out["last_contact_ts"])
    return out[["customer_id", "in_crm", "opted_out", "complaint", "last_contact_ts"]], have


def _combine_per_customer(parts: list) -> pd.DataFrame:
    """Full outer combination of per-customer aggregates (each one row per customer_id, with
    its own columns), in the engine: the parts stacked with their missing columns as NULL, then
    one row per customer (a boolean is true when any part says so, a time is the latest), sorted
    by customer_id. A column no part has is absent; a customer a part lacks has NULL there."""
    columns: dict = {}
    for p in parts:
        for name, dtype in p.schema().items():
            if name != "customer_id":
                columns.setdefault(name, dtype)
    stacked = ibis.union(*[p.select("customer_id", *[p[c] if c in p.columns else ibis.null().cast(t).name(c)
                                                      for c, t in columns.items()]) for p in parts], distinct=False)
    aggs = {c: (stacked[c].any().fill_null(False) if t.is_boolean() else stacked[c].max()) for c, t in columns.items()}
    # through Arrow: Ibis's own execute turns a column holding NULLs into Python objects row by row
    return stacked.group_by("customer_id").aggregate(**aggs).order_by("customer_id").to_pyarrow().to_pandas()


# ---------------------------------------------------------------- playbook and contact plan


def playbook_frame(cfg: Tiers) -> pd.DataFrame:
    """The playbook resolved to one row per tier x stage (the most specific row wins)."""
    rows = []
    for tier in TIERS:
        for stage in STAGES:
            match = None
            for spec in ((tier, stage), (tier, "*"), ("*", stage), ("*", "*")):
                match = next((r for r in cfg.playbook if (r["tier"], r["stage"]) == spec), None)
                if match:
                    break
            row = dict(match) if match else {"action": "no_contact"}
            action = row["action"]
            contact = action != "no_contact"
            rows.append({"tier": tier, "stage": stage, "action": action,
                         "channel": row.get("channel", "") if contact else "",
                         "offer": str(row.get("offer", "")) if contact else "",
                         "offer_value": float(row.get("offer_value", 0) or 0) if contact else 0.0,
                         "channel_cost": float(cfg.cost_per_contact[row["channel"]]) if contact else 0.0,
                         "rule": "playbook" if match else "no playbook row"})
    return pd.DataFrame(rows)


def plan_contacts(frame: pd.DataFrame, history: pd.DataFrame, cfg: Tiers, *, period_end: pd.Timestamp,
                  next_end: pd.Timestamp, has_crm: bool) -> pd.DataFrame:
    """Every customer with the playbook's action, channel and offer, the suppression reason (if
    any), the first allowed contact date and the number of contacts the frequency cap allows in
    the next period (``allowed``). ``eligible`` = a contact action, not suppressed, allowed >= 1."""
    pb = playbook_frame(cfg)
    clash = [c for c in pb.columns if c not in ("tier", "stage") and c in frame.columns]
    plan = frame.drop(columns=clash)
    plan.index = pd.RangeIndex(len(plan))
    plan["stage"] = plan["stage"].astype(str)
    # Each customer's playbook row by position (tier x stage, the order of playbook_frame): a
    # lookup, not a merge of millions of customers with a 20-row table on two string keys.
    tier_code = pd.Categorical(plan["tier"], categories=list(TIERS)).codes.astype(np.int64)
    stage_code = pd.Categorical(plan["stage"], categories=list(STAGES)).codes.astype(np.int64)
    row = np.where((tier_code >= 0) & (stage_code >= 0), tier_code * len(STAGES) + stage_code, -1)
    for col, empty in (("channel", ""), ("offer", ""), ("offer_value", 0.0), ("channel_cost", 0.0), ("action", "no_contact")):
        values = np.append(pb[col].fillna(empty).to_numpy(), np.array([empty], dtype=pb[col].dtype))  # [-1]: no row
        plan["action_planned" if col == "action" else col] = values[row]
    plan["tier"] = pd.Categorical(plan["tier"], categories=list(TIERS), ordered=True)
    hist = history.set_index("customer_id")
    at = _positions(plan["customer_id"], hist.index)  # each customer's history row, once for all columns

    def history_column(col: str) -> pd.Series:  # what ids.map(hist[col]) gives: NaN / NaT where absent
        return pd.Series(pd.api.extensions.take(hist[col].to_numpy(), at, allow_fill=True), index=plan.index)

    in_crm = history_column("in_crm").eq(True) if has_crm else pd.Series(True, index=plan.index)
    opted = history_column("opted_out").eq(True)
    complaint = history_column("complaint").eq(True)
    last = pd.to_datetime(history_column("last_contact_ts"))
    end = pd.Timestamp(period_end)
    recent = last.notna() & (last > end - pd.Timedelta(days=cfg.suppress_recent_days)) if cfg.suppress_recent_days else \
        pd.Series(False, index=plan.index)
    reasons = np.array(["opted_out", "complaint", "recent_contact", "not_in_crm", ""], dtype=object)
    plan["suppressed"] = reasons[np.select([opted, complaint, recent, ~in_crm], [0, 1, 2, 3], 4)]
    plan["last_contact_ts"] = last
    start = (end + pd.Timedelta(microseconds=1)).normalize()
    cap = pd.Timedelta(days=cfg.frequency_cap_days)
    not_before = (last.dt.normalize() + cap).where(last.notna(), start)
    plan["not_before"] = not_before.where(not_before > start, start)
    days = (pd.Timestamp(next_end).normalize() - plan["not_before"]).dt.days
    plan["allowed"] = np.where(days >= 0, 1 + days // cfg.frequency_cap_days, 0).astype(int)
    plan["eligible"] = (plan["action_planned"] != "no_contact") & (plan["suppressed"] == "") & (plan["allowed"] >= 1)
    return plan


def _positions(ids: pd.Series, keys: pd.Index) -> np.ndarray:
    """The position of each id in ``keys`` (-1 where absent), as ``Series.map`` looks it up.
    When both are in strictly increasing order (the customer table and the contact history are
    both kept in id order) one merge pass over the two sorted lists finds them; otherwise a
    hash lookup (which, like map, refuses keys that are not unique)."""
    left = pd.Index(ids)
    if (left.is_monotonic_increasing and left.is_unique and keys.is_monotonic_increasing and keys.is_unique
            and left.dtype == keys.dtype):
        _, lidx, ridx = left.join(keys, how="left", return_indexers=True)
        if lidx is None and ridx is not None:
            return ridx
        if lidx is None and ridx is None:  # the two lists are the same
            return np.arange(len(left))
    return keys.get_indexer(left)


def suppression_table(plan: pd.DataFrame) -> pd.DataFrame:
    """Customers by the first suppression reason that applies (index: SUPPRESSIONS, then
    ``frequency_cap`` and ``contactable``): all customers, and those the playbook would contact
    (``playbook_contacts``). The cap row counts customers not suppressed whose next allowed
    contact falls after the next period."""
    wanted = plan["action_planned"] != "no_contact"
    free = plan["suppressed"].eq("")
    rows = [(k, int(is_k.sum()), int((is_k & wanted).sum()))
            for k, is_k in ((k, plan["suppressed"].eq(k)) for k in SUPPRESSIONS)]
    capped = free & plan["allowed"].eq(0)
    rows.append(("frequency_cap", int(capped.sum()), int((capped & wanted).sum())))
    rows.append(("contactable", int((free & ~capped).sum()), int((free & ~capped & wanted).sum())))
    out = pd.DataFrame(rows, columns=["reason", "customers", "playbook_contacts"]).set_index("reason")
    out["customer_share"] = out["customers"] / max(len(plan), 1)
    return out


# ---------------------------------------------------------------- channels of each tier


def tier_channels(cfg: Tiers) -> dict[str, list[str]]:
    """The channels each tier may be contacted through: params ``tiers.channels``, else the
    channels its playbook rows give (a tier the playbook never contacts has none)."""
    pb = playbook_frame(cfg)
    out = {}
    for tier in TIERS:
        own = [c for c in dict.fromkeys(pb.loc[(pb["tier"] == tier) & (pb["action"] != "no_contact"), "channel"]) if c]
        out[tier] = list(cfg.channels.get(tier, own)) if own else []
    return out


def campaign_channels(run) -> dict:
    """The channel each campaign arm used, from the campaign table in the engine (arms whose
    contacts all went through one channel): {(campaign_id, arm): channel}. Empty when the
    brand's campaign table has no channel column."""
    camp = run.as_of("campaigns")
    if camp is None or not _mapped(run.params, "campaigns", "channel"):
        return {}
    g = camp.filter(camp.channel.notnull()).group_by(["campaign_id", "group"]).aggregate(
        channel=camp.channel.min(), channels=camp.channel.nunique()).to_pyarrow().to_pandas()
    return {(str(r.campaign_id), str(r.group)): str(r.channel) for r in g.itertuples() if r.channels == 1}


def campaigns_closing(run, window_days: int) -> pd.DataFrame:
    """Campaigns whose outcome window (last contact + ``window_days``) closes inside this run's
    period: notebook 06 of this run measures them — those with a control group (params
    campaigns.control_labels) — and the next period's plan reads that response. Columns
    campaign_id, window_end, has_control (one aggregate row per campaign from the engine)."""
    camp = run.as_of("campaigns")
    if camp is None:
        return pd.DataFrame({"campaign_id": pd.Series(dtype=str), "window_end": pd.Series(dtype="datetime64[ns]"),
                             "has_control": pd.Series(dtype=bool)})
    labels = [label.strip().lower() for label in run.params.campaigns.control_labels]
    control = camp["group"].cast("string").strip().lower().isin(labels).fill_null(False)
    last = camp.group_by("campaign_id").aggregate(last=camp.contact_ts.max(),
                                                  has_control=control.any()).to_pyarrow().to_pandas()
    last["window_end"] = pd.to_datetime(last["last"]) + pd.Timedelta(days=window_days)
    last["has_control"] = last["has_control"].fillna(False).astype(bool)
    inside = (last["window_end"] > pd.Timestamp(run.period_start)) & (last["window_end"] <= pd.Timestamp(run.period_end))
    return (last.loc[inside, ["campaign_id", "window_end", "has_control"]].sort_values("window_end")
            .reset_index(drop=True))


# ---------------------------------------------------------------- measured or assumed response


@dataclass
class Response:
    """Incremental repurchase probability per tier x channel at one contact per customer, with
    a range, and where it came from. A channel is measured only when a campaign used it; every
    other channel keeps its assumed response (``source`` says which). Numbers and codes only:
    :mod:`helpers.text.tiers` words them."""

    kind: str  # "measured" (at least one cell uses a measured lift) | "assumed"
    table: pd.DataFrame  # index (tier, channel): response, response_lo, response_hi, basis, source
    campaign_id: str = ""
    arm: str = ""
    period: str = ""
    channel: str = ""  # the channel the measured campaign used
    estimate: str = ""  # "covariate-adjusted" | "raw difference"
    window_days: int = 30
    band: float = 0.5  # the assumed response's range: -/+ this share (tiers.assumed_response_band)
    by: str = ""  # what the measured lift was grouped by (tier, stage, segment, ...)
    path: str = ""
    # why a response file was not used ("" = it was, or there was none): unreadable | no_channel |
    # unused_channel, with the values its sentence names (period, campaign, channel, error)
    fallback: str = ""
    fallback_values: dict = field(default_factory=dict)

    def assumed_channels(self) -> list[str]:
        t = self.table
        return sorted(set(t.index.get_level_values("channel")[t["source"] == "assumed"]))

    def measured_bases(self) -> list[str]:
        """The basis codes of the measured cells (BASES), in a fixed order."""
        return sorted(set(self.table.loc[self.table["source"] == "measured", "basis"]))


# How a cell's response was obtained (Response.table basis).
BASES = ("assumed", "tier", "stage_mix", "overall")


def assumed_response(cfg: Tiers, window_days: int, fallback: str = "", **fallback_values) -> Response:
    """Every tier x channel cell at its assumed response (tier's assumption x channel factor)."""
    b = cfg.assumed_response_band
    rows = {}
    for tier, chans in tier_channels(cfg).items():
        for ch in chans:
            r = cfg.assumed_response[tier] * cfg.channel_response_factor.get(ch, 1.0)
            rows[(tier, ch)] = {"response": r, "response_lo": r * (1 - b), "response_hi": r * (1 + b),
                                "basis": "assumed", "source": "assumed"}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table = table.reindex(columns=["response", "response_lo", "response_hi", "basis", "source"])
    table.index = pd.MultiIndex.from_tuples(list(rows), names=["tier", "channel"])
    return Response("assumed", table, window_days=window_days, band=b, fallback=fallback,
                    fallback_values=fallback_values)


def load_response(previous: tuple[str, Path] | None, plan: pd.DataFrame, cfg: Tiers, window_days: int = 30,
                  channels: dict | None = None) -> Response:
    """The latest measured lift (``run.previous_output(RESPONSE_FILE)``) for the channel its
    campaign used, mapped to tiers; every other cell keeps its assumed response. The lift is
    the covariate-adjusted one (``repurchase_pp_adjusted``) when notebook 06 reported it (in the
    response file or that run's metrics.json), else the raw difference. The channel is the
    file's ``channel``, else the arm's channel in ``channels`` (:func:`campaign_channels`).
    Groups named like tiers map directly; groups by stage are weighted by each tier's stage mix
    among its contactable customers; anything else gives every tier the campaign's overall lift."""
    base = assumed_response(cfg, window_days)
    if previous is None:
        return base
    period, path = previous
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        campaign, arm = str(doc.get("campaign_id", "?")), str(doc.get("arm", ""))
        adjusted = _metrics_lift(Path(path), campaign, arm)
        groups = {str(k): _lift(v) for k, v in (doc.get("response") or {}).items()}
        groups = {k: v for k, v in groups.items() if v is not None}
        overall = _lift({**(doc.get("overall") or {}), **adjusted}) if doc.get("overall") or adjusted else None
        if overall is None and groups:
            overall = _pooled(list(groups.values()))
        if overall is None:
            raise ValueError("it holds no lift")
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        return assumed_response(cfg, window_days, "unreadable", period=period, error=str(exc))
    measured_in = str(doc.get("period", period))
    channel = str(doc.get("channel") or (channels or {}).get((campaign, arm)) or "")
    if not channel:
        return assumed_response(cfg, window_days, "no_channel", campaign=campaign, period=measured_in)
    used = [t for t in TIERS if (t, channel) in base.table.index]
    if not used:  # no tier of this plan uses it (tiers.channels / the playbook)
        return assumed_response(cfg, window_days, "unused_channel", campaign=campaign, period=measured_in,
                                channel=channel)
    by = str(doc.get("by", ""))
    table = base.table.copy()
    for tier in used:
        if tier in groups:
            row = {**groups[tier], "basis": "tier"}
        elif by == "stage" and set(groups) & set(STAGES):
            mix = plan.loc[(plan["tier"] == tier) & plan["eligible"], "stage"].value_counts(normalize=True)
            if mix.empty:
                mix = plan.loc[plan["tier"] == tier, "stage"].value_counts(normalize=True)
            parts = {k: sum(w * (groups.get(s) or overall)[k] for s, w in mix.items()) for k in
                     ("response", "response_lo", "response_hi")} if len(mix) else dict(overall)
            row = {**parts, "basis": "stage_mix"}
        else:  # grouped by something that does not map to tiers: the overall lift
            row = {**overall, "basis": "overall"}
        for k in ("response", "response_lo", "response_hi", "basis"):
            table.loc[(tier, channel), k] = row[k]
        table.loc[(tier, channel), "source"] = "measured"
    estimate = "covariate-adjusted" if overall.get("adjusted") else "raw difference"
    return Response("measured", table, campaign_id=campaign, arm=arm, period=str(doc.get("period", period)),
                    channel=channel, estimate=estimate, window_days=int(doc.get("window_days") or window_days),
                    band=base.band, by=by, path=str(path))


def _metrics_lift(path: Path, campaign: str, arm: str) -> dict:
    """The covariate-adjusted lift notebook 06 wrote to the same run's metrics.json
    (campaigns.<campaign>.lift.<arm>.repurchase_pp_adjusted[_ci]), or {}."""
    try:
        doc = json.loads((path.parent.parent / "metrics.json").read_text(encoding="utf-8"))
        lift = doc["campaigns"][campaign]["lift"][arm]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {k: lift[k] for k in ("repurchase_pp_adjusted", "repurchase_pp_adjusted_ci") if lift.get(k) is not None}


def _lift(rec) -> dict | None:
    """A lift record as response, range and size; the covariate-adjusted estimate when present."""
    if not isinstance(rec, dict):
        return None
    adjusted = rec.get("repurchase_pp_adjusted") is not None
    key = "repurchase_pp_adjusted" if adjusted else "repurchase_pp"
    if rec.get(key) is None:
        return None
    pp = float(rec[key])
    ci = rec.get(f"{key}_ci") or [pp, pp]
    lo, hi = (float(ci[0]) if ci[0] is not None else pp), (float(ci[1]) if ci[1] is not None else pp)
    if not all(math.isfinite(v) for v in (pp, lo, hi)):
        return None
    return {"response": pp, "response_lo": min(lo, pp), "response_hi": max(hi, pp),
            "n_treatment": int(rec.get("n_treatment") or 0), "adjusted": adjusted}


def _pooled(recs: list[dict]) -> dict:
    w = np.array([max(r["n_treatment"], 1) for r in recs], dtype=float)
    w /= w.sum()
    return {k: float(sum(wi * r[k] for wi, r in zip(w, recs, strict=True))) for k in ("response", "response_lo", "response_hi")} | {
        "n_treatment": int(sum(r["n_treatment"] for r in recs)), "adjusted": all(r.get("adjusted") for r in recs)}


# ---------------------------------------------------------------- cell economics


def purchase_chance(frame: pd.DataFrame, window_days: int) -> pd.Series:
    """P(at least one purchase in the window) without contact, from notebook 04's expected
    purchases in 30 days (Poisson approximation, scaled to the window)."""
    expected = frame["expected_purchases_30"].astype(float).fillna(0).clip(lower=0) * window_days / 30
    return 1 - np.exp(-expected)


def cost_column(channel: str) -> str:
    return f"cost:{channel}"


def tier_economics(plan: pd.DataFrame, response: Response, cfg: Tiers, margin: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per customer: what an incremental purchase is worth (:func:`helpers.budget.contact_value`:
    order_profit, at_risk, purchase_value, alive) and the cost of a contact through each channel
    (``cost:<channel>``: channel + offer x P(redeemed), P(redeemed) = the chance to buy in the
    window + the cell's lift; ``cost_per_contact`` for the playbook's channel). Per tier x
    channel cell: contactable customers, the tier's contact slots under the cap
    (``max_contacts``), mean cost per contact (weighted by the contacts the cap allows), capacity,
    the value of an incremental purchase
    (P(alive)-weighted mean: :func:`helpers.budget.weighted_value`),
    response and range, gross profit per customer at one contact (``gross``, ``gross_lo``,
    ``gross_hi``), and the rule of thumb's share and capacity (the customers the playbook gives
    the channel). The plan comes back as a shallow copy with the new columns."""
    plan = plan.copy(deep=False)
    value = budget.contact_value(plan, margin, cfg.retention_effect)
    for col in value.columns:
        plan[col] = value[col]
    chance = purchase_chance(plan, response.window_days).to_numpy()
    tier = plan["tier"].astype(str)
    contact = (plan["action_planned"] != "no_contact").to_numpy()
    offer = plan["offer_value"].astype(float).to_numpy()
    table = response.table
    chans = sorted(set(table.index.get_level_values("channel")) | set(plan["channel"].loc[contact].unique()) - {""})
    for ch in chans:
        rho = tier.map(table["response"].xs(ch, level="channel")) if ch in table.index.get_level_values("channel") else \
            pd.Series(np.nan, index=plan.index)
        redeem = np.clip(chance + np.clip(rho.astype(float).fillna(0.0).to_numpy(), 0, None), None, 1)
        cost = cfg.cost_per_contact[ch] + offer * redeem
        plan[cost_column(ch)] = np.where(contact, np.ceil(cost * 100 - 1e-9) / 100, 0.0)
    own = np.zeros(len(plan))
    for ch in chans:
        own = np.where(plan["channel"].to_numpy() == ch, plan[cost_column(ch)].to_numpy(), own)
    plan["cost_per_contact"] = own
    used = plan[["tier", "eligible", "allowed", "channel", "order_profit", "at_risk", "alive",
                 *[cost_column(c) for c in chans]]]  # rows of these only
    rows = {}
    for t, t_chans in tier_channels(cfg).items():
        tt = used[used["tier"] == t]
        e = tt[tt["eligible"]]
        slots = e["allowed"].astype(float)
        for ch in t_chans:
            r = table.loc[(t, ch)]
            cost = e[cost_column(ch)]
            mine = e["channel"] == ch
            worth = budget.weighted_value(e, cfg.retention_effect)
            v = worth["value"]
            # mean cost per contact weighted by the contacts the cap allows: capacity / cost = the slots
            mean_cost = float((slots * cost).sum() / slots.sum()) if slots.sum() > 0 else \
                (float(cost.mean()) if len(e) else 0.0)
            rows[(t, ch)] = {
                "customers": len(tt), "contactable": len(e), "max_contacts": int(slots.sum()),
                "cost_per_contact": mean_cost,
                "capacity": float((slots * cost).sum()),
                "order_profit": worth["order_profit"], "at_risk": worth["at_risk"],
                "value": v,
                "response": float(r["response"]), "response_lo": float(r["response_lo"]),
                "response_hi": float(r["response_hi"]),
                "gross": float(r["response"]) * v, "gross_lo": float(r["response_lo"]) * v,
                "gross_hi": float(r["response_hi"]) * v,
                "basis": r["basis"], "source": r["source"],
                "rule_share": float(slots[mine].sum()), "rule_capacity": float(slots[mine].sum()) * mean_cost,
            }
    econ = pd.DataFrame.from_dict(rows, orient="index")
    econ.index = pd.MultiIndex.from_tuples(list(rows), names=["tier", "channel"]) if rows else \
        pd.MultiIndex.from_tuples([], names=["tier", "channel"])
    return plan, econ


# ---------------------------------------------------------------- the split (the model is in helpers.budget)


def cell_splits(econ: pd.DataFrame, cfg: Tiers) -> pd.DataFrame:
    """Rule of thumb vs data-driven split per tier x channel cell."""
    return budget.cell_splits(econ, cfg.budget, cfg.saturation, cfg.rule_of_thumb)


def compare_splits(econ: pd.DataFrame, cfg: Tiers, cells: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rule of thumb vs data-driven split per tier and in total: budget, spend, expected
    incremental profit (with the range at the response's bounds), the best cell's marginal
    return and ROI (sums over each tier's channels)."""
    return budget.by_tier(cell_splits(econ, cfg) if cells is None else cells, list(TIERS), cfg.budget)


def sensitivity(econ: pd.DataFrame, cfg: Tiers, multipliers=(0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4),
                saturations=(0.25, 0.5, 1, 2, 4), retention=(0.0, 0.25, 0.5, 1.0)) -> pd.DataFrame:
    """How the answer moves with the assumptions: the response of every cell scaled by a
    multiplier, the saturation k changed, or the retention effect changed (the share of the
    at-risk future value an incremental purchase keeps); the data-driven split is re-optimised
    each time. Long frame: parameter, value, split, tier, spend, profit (summed over channels)."""
    econ = budget.cells(econ)
    tier = np.asarray(econ.index.get_level_values(0))
    rows = []
    for param, values in (("response", multipliers), ("saturation", saturations), ("retention", retention)):
        for v in values:
            e = econ.copy()
            k = cfg.saturation
            if param == "response":
                e["gross"] = e["gross"] * v
            elif param == "saturation":
                k = float(v)
            elif "order_profit" in e:
                e["gross"] = e["response"] * (e["order_profit"] + float(v) * e["at_risk"])
            _, rule = budget.rule_of_thumb(e, cfg.budget, cfg.rule_of_thumb)
            best = budget.optimize(e, cfg.budget, k, start=rule)
            for split, spend in (("rule of thumb", rule), ("data-driven", best)):
                profit = budget.expected_profit(spend, e, k)
                per = pd.DataFrame({"spend": np.asarray(spend, float), "profit": profit}).groupby(tier).sum()
                for t in TIERS:
                    s, p = (per.loc[t, "spend"], per.loc[t, "profit"]) if t in per.index else (0.0, 0.0)
                    rows.append({"parameter": param, "value": float(v), "split": split, "tier": t,
                                 "spend": float(s), "profit": float(p)})
    return pd.DataFrame(rows)


def split_facts(cmp: pd.DataFrame, econ: pd.DataFrame, sens: pd.DataFrame, cfg: Tiers,
                cells: pd.DataFrame | None = None) -> dict:
    """What the budget-split findings say, as numbers: the rule's unspent money, the funded
    cells, the high tier's value of a purchase, the data-driven split's unspent money, the cells
    left unfunded because even a first contact loses money (``losing``) or because the money
    returns more elsewhere (``beaten``), the sensitivity's extremes and the split with no
    retention effect. Money under 0.5 counts as none."""
    econ = budget.cells(econ)
    cells = budget.cell_splits(econ, cfg.budget, cfg.saturation, cfg.rule_of_thumb) if cells is None else cells
    tot = cmp.loc["total"]
    funded = cells[cells["optimized_spend"] >= 0.5]
    out = {"rule_unspent": float(cfg.budget - tot.rule_spend), "optimized_unspent": float(cfg.budget - tot.optimized_spend),
           "funded": [(t, ch, float(money), str(econ.loc[(t, ch), "source"]))
                      for (t, ch), money in funded["optimized_spend"].items()],
           "high": None, "retention_none": None}
    high = econ.xs("high", level="tier") if "high" in econ.index.get_level_values(0) else econ.iloc[:0]
    if len(high) and "order_profit" in high:
        h = high.iloc[0]
        out["high"] = {"value": float(h.value), "order_profit": float(h.order_profit), "at_risk": float(h.at_risk),
                       "spend": float(cmp.loc["high", "optimized_spend"]),
                       "share": float(cmp.loc["high", "optimized_spend"] / cfg.budget) if cfg.budget else 0.0}
    skipped = [(t, ch) for (t, ch) in econ.index if econ.loc[(t, ch), "contactable"] > 0
               and cells.loc[(t, ch), "optimized_spend"] < 0.5]
    first = pd.Series(budget.marginal_gross(np.zeros(len(econ)), *budget.arrays(econ)[:3], cfg.saturation), index=econ.index)
    out["losing"] = [(t, ch) for t, ch in skipped if first[(t, ch)] < 1]
    out["beaten"] = [(t, ch) for t, ch in skipped if first[(t, ch)] >= 1]
    resp = sens[(sens["parameter"] == "response")].groupby(["value", "split"])["profit"].sum().unstack()
    lo, hi = resp.index.min(), resp.index.max()
    out["sensitivity"] = {"lo": float(lo), "hi": float(hi), "lo_optimized": float(resp.loc[lo, "data-driven"]),
                          "lo_rule": float(resp.loc[lo, "rule of thumb"]), "hi_optimized": float(resp.loc[hi, "data-driven"]),
                          "hi_rule": float(resp.loc[hi, "rule of thumb"])}
    ret = sens[(sens["parameter"] == "retention") & (sens["split"] == "data-driven")]
    if len(ret):
        none = ret[ret["value"] == ret["value"].min()]
        out["retention_none"] = {"effect": float(ret["value"].min()), "profit": float(none["profit"].sum()),
                                 "high_spend": float(none.loc[none["tier"] == "high", "spend"].sum())}
    return out


def largest_move(cmp: pd.DataFrame) -> tuple[str, float, float] | None:
    """The tier whose spend moves most from the rule of thumb to the data-driven split, with both
    spends (None when no tier moves by 0.5 or more: the splits agree)."""
    moves = cmp.loc[list(TIERS), "optimized_spend"] - cmp.loc[list(TIERS), "rule_spend"]
    big = moves.abs().idxmax()
    if abs(moves[big]) < 0.5:
        return None
    return str(big), float(cmp.loc[big, "rule_spend"]), float(cmp.loc[big, "optimized_spend"])


def reached_by_action(plan: pd.DataFrame) -> dict[str, dict]:
    """Per contact action with anyone on its list: customers reached and their budget."""
    reached = _rows(plan, plan["contacts"] > 0, ["action", "budget"])
    return {a: {"customers": int((reached["action"] == a).sum()),
                "budget": float(reached.loc[reached["action"] == a, "budget"].sum())}
            for a in CONTACT_ACTIONS if (reached["action"] == a).any()}


# ---------------------------------------------------------------- confidence in the tiers


def tier_confidence(frame: pd.DataFrame, cfg: Tiers, margin: float) -> pd.DataFrame:
    """Per tier: customers whose CLV interval of notebook 04 (``clv_low`` to ``clv_high``: the
    parameter uncertainty of the fitted models, by bootstrap) reaches across a tier boundary, so
    that their tier could be higher or lower. The boundaries: the CLV halfway between the
    lowest high-value customer and the best customer below them (``absolute``: the
    threshold), the same at the low-value cut, and the potential ratio (the interval of CLV /
    past gross profit). Columns customers, could_be_higher, could_be_lower, uncertain, share."""
    clv = frame["clv"].astype(float).fillna(0.0)
    lo = frame["clv_low"].astype(float).fillna(clv)
    hi = frame["clv_high"].astype(float).fillna(clv)
    tier = frame["tier"].astype(str)
    if cfg.method == "quantile":
        high_cut = _midpoint(clv[tier == "high"].min(), clv[tier != "high"].max())
        low_cut = _midpoint(clv[tier != "low"].min(), clv[tier == "low"].max())
    else:
        high_cut, low_cut = cfg.high_threshold, cfg.low_threshold
    past = margin * np.maximum(frame["revenue"].astype(float).fillna(0.0), typical_order_value(frame))
    with np.errstate(divide="ignore", invalid="ignore"):
        up_lo = np.where(past > 0, lo / past, np.inf)
        up_hi = np.where(past > 0, hi / past, np.inf)
    middle = tier.isin(["potential", "general"])
    higher = ((tier != "high") & (hi >= high_cut)) | ((tier == "low") & (hi >= low_cut)) | \
        ((tier == "general") & (up_hi >= cfg.potential_ratio))
    lower = ((tier == "high") & (lo < high_cut)) | (middle & (lo < low_cut)) | \
        ((tier == "potential") & (up_lo < cfg.potential_ratio))
    higher, lower = pd.Series(np.asarray(higher), index=frame.index), pd.Series(np.asarray(lower), index=frame.index)
    g = pd.DataFrame({"tier": tier, "higher": higher, "lower": lower, "either": higher | lower}).groupby("tier")
    out = pd.DataFrame({"customers": g.size(), "could_be_higher": g["higher"].sum(), "could_be_lower": g["lower"].sum(),
                        "uncertain": g["either"].sum()}).reindex(list(TIERS)).fillna(0).astype(int)
    out.loc["total"] = out.sum()
    out["share"] = out["uncertain"] / out["customers"].where(out["customers"] > 0)
    out.attrs.update(high_cut=float(high_cut), low_cut=float(low_cut))
    return out


def _midpoint(a, b) -> float:
    vals = [float(v) for v in (a, b) if pd.notna(v)]
    return float(np.mean(vals)) if vals else float("nan")


# ---------------------------------------------------------------- customers in the lists


def assign_contacts(plan: pd.DataFrame, spend: pd.Series, econ: pd.DataFrame | None = None,
                    by_playbook: bool = False) -> pd.DataFrame:
    """Turn the money into contacts. ``spend`` per tier x channel cell (index (tier, channel)):
    :func:`assign_cells`; per tier: :func:`assign_tier_money` (each customer by the playbook's
    channel)."""
    if isinstance(spend.index, pd.MultiIndex):
        return assign_cells(plan, spend, econ, by_playbook=by_playbook)
    return assign_tier_money(plan, spend)


def assign_cells(plan: pd.DataFrame, spend: pd.Series, econ: pd.DataFrame | None = None,
                 by_playbook: bool = False) -> pd.DataFrame:
    """Each cell's money buys contacts through its channel, in priority order (predicted CLV,
    highest first), one channel per customer. Within a tier the cells take turns: the cell of
    the highest response first (``econ``; else the order of ``spend``) gives first contacts to
    the customers at the top of the list while its money lasts, the next cell to the next
    customers, and so on; then each cell buys second contacts for its own customers, up to
    what the cap allows. ``by_playbook``: a cell reaches only the customers whose playbook
    channel is its channel (the rule of thumb). Sets channel, cost_per_contact (the chosen
    channel's; the playbook's for customers not contacted), contacts, budget, action and
    priority; the plan comes back as a shallow copy (the caller's plan is left as it was)."""
    plan = plan.copy(deep=False)
    order = _priority_order(plan)
    eligible = plan["eligible"].to_numpy(bool)
    allowed_all = plan["allowed"].to_numpy(int)
    playbook = plan["channel"].to_numpy(object)
    channel_all = playbook.copy()
    cost_all = plan["cost_per_contact"].to_numpy(float).copy()
    contacts_all = np.zeros(len(plan), dtype=np.int64)
    for tier in TIERS:
        cells = [(ch, float(money)) for (t, ch), money in spend.items() if t == tier and money > 0]
        if econ is not None:
            rank = {ch: (-float(econ.loc[(tier, ch), "response"]), -float(econ.loc[(tier, ch), "cost_per_contact"]))
                    for ch, _ in cells if (tier, ch) in econ.index}
            cells.sort(key=lambda cm: rank.get(cm[0], (0.0, 0.0)))
        pos = order[((plan["tier"] == tier).to_numpy() & eligible)[order]]  # this tier's eligible, by priority
        if not cells or not len(pos):
            continue
        allowed = allowed_all[pos]
        costs = [plan[cost_column(ch)].to_numpy(float)[pos] for ch, _ in cells]
        left = [money + 1e-9 for _, money in cells]
        count = np.zeros(len(pos), dtype=np.int64)
        cell = np.full(len(pos), -1)
        active = [True] * len(cells)
        for r in range(1, int(allowed.max()) + 1):
            for j, (ch, _) in enumerate(cells):
                if not active[j]:
                    continue
                if r == 1:
                    free = (cell == -1) & (allowed >= 1)
                    can = np.flatnonzero(free & (playbook[pos] == ch) if by_playbook else free)
                else:
                    can = np.flatnonzero((cell == j) & (count == r - 1) & (allowed >= r))
                if not len(can):  # no customer left for this cell (in round 1: earlier cells took them all)
                    active[j] = False
                    continue
                cum = np.cumsum(costs[j][can])
                take = can[: int(np.sum(cum <= left[j]))]  # costs are >= 0: the affordable ones are a prefix
                count[take] += 1
                cell[take] = j
                left[j] -= costs[j][take].sum()
                if len(take) < len(can):
                    active[j] = False
            if not any(active):
                break
        contacts_all[pos] = count
        for j, (ch, _) in enumerate(cells):
            mine = pos[cell == j]
            channel_all[mine] = ch
            cost_all[mine] = costs[j][cell == j]
    plan["channel"] = channel_all
    plan["cost_per_contact"] = cost_all
    return _finish_contacts(plan, order, contacts_all)


def assign_tier_money(plan: pd.DataFrame, spend: pd.Series) -> pd.DataFrame:
    """Turn each tier's money into contacts, in priority order (predicted CLV, highest first):
    a first contact for each customer while the money lasts, then second contacts, and so on up
    to what the cap allows. Adds contacts, budget (contacts x cost per contact), action (the
    playbook's if contacted, else no_contact) and priority (1 = contact first). Works on
    positions in one priority order of the customers (the plan itself is not sorted); the plan
    comes back as a shallow copy with these columns (the caller's plan is left as it was)."""
    plan = plan.copy(deep=False)
    order = _priority_order(plan)
    eligible = plan["eligible"].to_numpy(bool)
    cost_all = plan["cost_per_contact"].to_numpy(float)
    allowed_all = plan["allowed"].to_numpy(int)
    contacts_all = np.zeros(len(plan), dtype=np.int64)
    for tier in TIERS:
        pos = order[((plan["tier"] == tier).to_numpy() & eligible)[order]]  # this tier's eligible, by priority
        if not len(pos):
            continue
        left = float(spend.get(tier, 0.0)) + 1e-9
        cost = cost_all[pos]
        allowed = allowed_all[pos]
        contacts = np.zeros(len(pos), dtype=int)
        for r in range(1, int(allowed.max()) + 1):
            can = np.flatnonzero(allowed >= r)
            if not len(can):
                break
            cum = np.cumsum(cost[can])
            take = can[: int(np.sum(cum <= left))]  # costs are >= 0: the affordable ones are a prefix
            contacts[take] += 1
            left -= cost[take].sum()
            if len(take) < len(can):
                break
        contacts_all[pos] = contacts
    return _finish_contacts(plan, order, contacts_all)


def _finish_contacts(plan: pd.DataFrame, order: np.ndarray, contacts_all: np.ndarray) -> pd.DataFrame:
    plan["contacts"] = contacts_all
    plan["budget"] = (plan["contacts"] * plan["cost_per_contact"]).round(2)
    plan["action"] = np.where(plan["contacts"] > 0, plan["action_planned"], "no_contact")
    reached = contacts_all > 0
    priority = np.zeros(len(plan), dtype=np.int64)
    priority[order[reached[order]]] = np.arange(1, int(reached.sum()) + 1)
    plan["priority"] = pd.arrays.IntegerArray(priority, ~reached)
    return plan


def _priority_order(plan: pd.DataFrame) -> np.ndarray:
    """Row positions sorted by tier (its categories' order; a missing tier last), then clv_rank:
    the order of ``plan.sort_values(["tier", "clv_rank"], kind="mergesort")`` without sorting
    the (wide) frame itself."""
    tier = plan["tier"]
    if isinstance(tier.dtype, pd.CategoricalDtype):
        codes, n_codes = tier.cat.codes.to_numpy(np.int64), len(tier.cat.categories)
    else:
        codes, uniques = pd.factorize(tier, sort=True)
        codes, n_codes = codes.astype(np.int64), len(uniques)
    codes = np.where(codes < 0, n_codes, codes)
    return np.lexsort((plan["clv_rank"].to_numpy(), codes))


def reasons(plan: pd.DataFrame, currency: str) -> pd.Series:
    """One line per customer saying why they are on the list (for the CRM operator)."""
    clv = plan["clv"].astype(float).fillna(0)
    label = plan["tier"].astype(str).map(TIER_LABELS)
    text = label + " tier, stage " + plan["stage"].astype(str) + ": predicted CLV " + clv.map(lambda v: f"{v:,.0f}") + f" {currency}"
    pot = plan["tier"].astype(str) == "potential"
    up = plan["upside"].map(lambda u: "∞" if not np.isfinite(u) else f"{u:.1f}")
    text = text.where(~pot, text + ", " + up + "x the profit made so far")
    return text + ", P(alive) " + plan["p_alive"].astype(float).map(lambda p: f"{p:.2f}")


def export_frame(plan: pd.DataFrame, currency: str) -> pd.DataFrame:
    """The rows of the CRM lists: one per contacted customer, columns EXPORT_COLUMNS."""
    needed = [*[c for c in EXPORT_COLUMNS if c != "reason"], "clv", "upside", "p_alive"]
    chosen = _rows(plan, plan["contacts"] > 0, needed).sort_values("priority").copy()
    chosen["reason"] = reasons(chosen, currency)
    chosen["not_before"] = chosen["not_before"].dt.strftime("%Y-%m-%d")
    chosen["tier"] = chosen["tier"].astype(str)
    chosen["priority"] = chosen["priority"].astype(int)
    return chosen[list(EXPORT_COLUMNS)].reset_index(drop=True)


DRAFT_PREFIX = "draft_"


def write_exports(folder: Path, plan: pd.DataFrame, currency: str, draft: bool = False) -> pd.DataFrame:
    """exports/<action>.csv for every contact action (header only when nobody is on it) and
    exports/do_not_contact.csv (suppressed customers and why); ``draft`` (a plan on default
    business assumptions, :func:`helpers.config.default_assumptions`) names them
    ``draft_<action>.csv`` so nobody imports them as a plan. Earlier CSVs in the folder are
    removed first, so the folder always matches this plan. Returns one row per file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.csv"):
        old.unlink()
    prefix = DRAFT_PREFIX if draft else ""
    rows = export_frame(plan, currency)
    summary = []
    for action in CONTACT_ACTIONS:
        part = rows[rows["action"] == action]
        path = folder / f"{prefix}{action}.csv"
        part.to_csv(path, index=False, encoding="utf-8")
        summary.append({"file": f"exports/{path.name}", "action": action, "customers": len(part),
                        "contacts": int(part["contacts"].sum()), "budget": float(part["budget"].sum())})
    dnc = plan.loc[plan["suppressed"] != "", ["customer_id", "suppressed", "tier"]].rename(columns={"suppressed": "reason"})
    dnc = dnc.assign(tier=dnc["tier"].astype(str)).sort_values("customer_id")
    dnc.to_csv(folder / f"{prefix}do_not_contact.csv", index=False, encoding="utf-8")
    summary.append({"file": f"exports/{prefix}do_not_contact.csv", "action": "do_not_contact", "customers": len(dnc),
                    "contacts": 0, "budget": 0.0})
    return pd.DataFrame(summary)


def action_summary(plan: pd.DataFrame) -> pd.DataFrame:
    """Customers, contacts and budget per action and tier (aggregates for the report)."""
    chosen = plan[plan["contacts"] > 0]
    g = chosen.groupby(["action", "tier"], observed=True)
    out = pd.DataFrame({"customers": g.size(), "contacts": g["contacts"].sum(), "budget": g["budget"].sum()})
    out = out.reset_index()
    out["action"] = pd.Categorical(out["action"], categories=list(ACTIONS), ordered=True)
    return out.sort_values(["action", "tier"]).reset_index(drop=True)


def _rows(plan: pd.DataFrame, mask: pd.Series, columns: list[str]) -> pd.DataFrame:
    """The rows of ``mask`` with only the columns a summary reads: a plan holds every customer
    with every column of the customer table, and selecting rows copies each column taken."""
    return plan.loc[mask, columns]


def action_facts(plan: pd.DataFrame, exports: pd.DataFrame) -> dict:
    """What the contact-list findings say, as numbers: customers, contacts and budget reached;
    per suppression reason the customers (all of them) and how many the playbook would have
    contacted; the contactable customers left without a contact; whether the lists are drafts."""
    wanted = _rows(plan, plan["action_planned"] != "no_contact", ["suppressed", "contacts"])
    reached = _rows(plan, plan["contacts"] > 0, ["contacts", "budget"])
    every = plan["suppressed"].value_counts()
    would = int((wanted["suppressed"] != "").sum())
    return {"customers": len(reached), "contacts": int(reached["contacts"].sum()), "budget": float(reached["budget"].sum()),
            "suppressed": {k: int(every.get(k, 0)) for k in SUPPRESSIONS if every.get(k, 0)},
            "suppressed_total": int((plan["suppressed"] != "").sum()),
            "suppressed_wanted": would, "suppressed_wanted_share": would / max(len(wanted), 1),
            "unfunded": int(((wanted["suppressed"] == "") & (wanted["contacts"] == 0)).sum()),
            "draft": bool(exports["file"].str.startswith(f"exports/{DRAFT_PREFIX}").any())}


# ---------------------------------------------------------------- metrics


def metrics(summary: pd.DataFrame, conc: dict, cmp: pd.DataFrame, econ: pd.DataFrame, response: Response,
            plan: pd.DataFrame, exports: pd.DataFrame, cfg: Tiers, next_label: str, cells: pd.DataFrame | None = None,
            confidence: pd.DataFrame | None = None, defaults: list[str] | None = None) -> dict:
    tiers = list(TIERS)
    econ = budget.cells(econ)
    cells = budget.cell_splits(econ, cfg.budget, cfg.saturation, cfg.rule_of_thumb) if cells is None else cells
    reached = _rows(plan, plan["contacts"] > 0, ["action", "contacts", "budget"])

    def per_cell(frame: pd.DataFrame, col: str) -> dict:
        return {t: {ch: float(frame.loc[(t, ch), col]) for (tt, ch) in frame.index if tt == t} for t in tiers}

    out = {
        "counts": {t: int(summary.loc[t, "customers"]) for t in tiers},
        "clv_share": {t: float(summary.loc[t, "clv_share"]) for t in tiers},
        "revenue_share": {t: float(summary.loc[t, "revenue_share"]) for t in tiers},
        "top_10_clv_share": conc["top_10_share"],
        "gini": conc["gini"],
        "budget": {"rule_of_thumb": {t: float(cmp.loc[t, "rule_budget"]) for t in tiers},
                   "optimized": {t: float(cmp.loc[t, "optimized_spend"]) for t in tiers}},
        "spend": {"rule_of_thumb": {t: float(cmp.loc[t, "rule_spend"]) for t in tiers},
                  "optimized": {t: float(cmp.loc[t, "optimized_spend"]) for t in tiers}},
        "spend_by_channel": {"rule_of_thumb": per_cell(cells, "rule_spend"), "optimized": per_cell(cells, "optimized_spend")},
        "expected_profit": {"rule_of_thumb": float(cmp.loc["total", "rule_profit"]),
                            "optimized": float(cmp.loc["total", "optimized_profit"])},
        "expected_profit_range": {"rule_of_thumb": [float(cmp.loc["total", "rule_profit_lo"]), float(cmp.loc["total", "rule_profit_hi"])],
                                  "optimized": [float(cmp.loc["total", "optimized_profit_lo"]), float(cmp.loc["total", "optimized_profit_hi"])]},
        "roi": {"rule_of_thumb": _finite_or_none(cmp.loc["total", "rule_roi"]),
                "optimized": _finite_or_none(cmp.loc["total", "optimized_roi"])},
        "total_budget": cfg.budget,
        "response_source": response.kind,
        "response": per_cell(econ, "response"),
        "response_range": {t: {ch: [float(econ.loc[(t, ch), "response_lo"]), float(econ.loc[(t, ch), "response_hi"])]
                               for (tt, ch) in econ.index if tt == t} for t in tiers},
        "response_basis": {t: {ch: str(econ.loc[(t, ch), "source"]) for (tt, ch) in econ.index if tt == t} for t in tiers},
        "response_campaign": response.campaign_id or None,
        "response_arm": response.arm or None,
        "response_channel": response.channel or None,
        "response_estimate": response.estimate or None,
        "response_period": response.period or None,
        "value_per_incremental_purchase": {t: float(econ.xs(t, level="tier")["value"].iloc[0])
                                           if t in econ.index.get_level_values(0) and "value" in econ else None for t in tiers},
        "retention_effect": cfg.retention_effect,
        "plan_period": next_label,
        "export_split": cfg.export_split,
        "actions": {a: {"customers": int((reached["action"] == a).sum()), "contacts": int(reached.loc[reached["action"] == a, "contacts"].sum()),
                        "budget": round(float(reached.loc[reached["action"] == a, "budget"].sum()), 2)} for a in CONTACT_ACTIONS},
        "suppressed": {k: int((plan["suppressed"] == k).sum()) for k in SUPPRESSIONS},
        "exports": {r.file: int(r.customers) for r in exports.itertuples()},
        "frequency_cap_days": cfg.frequency_cap_days,
        "illustrative": bool(defaults),
        "default_assumptions": list(defaults or []),
    }
    if confidence is not None:
        out["tier_uncertain"] = {t: int(confidence.loc[t, "uncertain"]) for t in tiers}
        out["tier_uncertain_share"] = float(confidence.loc["total", "share"]) if confidence.loc["total", "customers"] else None
    return out


def _finite_or_none(x):
    x = float(x)
    return x if math.isfinite(x) else None


def customer_columns(plan: pd.DataFrame) -> pd.DataFrame:
    """What notebook 05 adds to data/customers.parquet: tier and action."""
    return pd.DataFrame({"customer_id": plan["customer_id"], "tier": plan["tier"].astype(str), "action": plan["action"]})


def plan_columns(plan: pd.DataFrame) -> pd.DataFrame:
    """The customer-level plan for analysts (data/tiers_plan.parquet)."""
    cols = ["customer_id", "tier", "stage", "clv", "upside", "action_planned", "suppressed", "last_contact_ts",
            "not_before", "allowed", "channel", "cost_per_contact", "contacts", "budget", "action", "priority"]
    cols += [c for c in ("purchase_value",) if c in plan]
    out = plan[cols].copy(deep=False)  # plan[cols] is a copy already: a second one would copy it all again
    out["tier"] = out["tier"].astype(str)
    out["upside"] = out["upside"].replace(np.inf, np.nan)
    return out


# ---------------------------------------------------------------- brands without money
# A brand whose orders carry no amount has no CLV in money: customers are ranked by the purchases
# notebook 04 expects in the next 365 days instead, and the budget split and the contact lists
# (which value a contact in money) are skipped, said by helpers.text.common.no_amount_note.


def purchase_tiers(customers: pd.DataFrame, cfg: Tiers) -> pd.DataFrame:
    """Tiers by expected purchases in the next 365 days (no money): the top ``high_share`` of
    customers are high, the bottom ``low_share`` low (ties by customer id, as for CLV); in between,
    a customer expecting at least ``potential_ratio`` x the purchase days they have made so far is
    potential, the rest general. ``method: absolute`` thresholds are CLV amounts: not applied."""
    out = customers.copy(deep=False)
    expected = out["expected_purchases_365"].astype(float).fillna(0.0)
    past = out["purchase_days"].astype(float).clip(lower=1)
    upside = expected / past
    rank = pd.Series(clv_rank(expected.to_numpy(), out["customer_id"].astype(str)), index=out.index)
    n = len(out)
    high = rank <= int(round(cfg.high_share * n))
    low = (rank > n - int(round(cfg.low_share * n))) & ~high
    return _with_tiers(out, high, low, upside, rank, cfg.potential_ratio)


def purchase_tier_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per tier: customers, expected purchases (next 365 days) and their share, past purchase
    days, mean P(alive), the stage mix."""
    g = frame.groupby("tier", observed=False)
    out = pd.DataFrame({"customers": g.size(), "expected_purchases": g["expected_purchases_365"].sum(),
                        "past_purchase_days": g["purchase_days"].sum(), "p_alive": g["p_alive"].mean()}
                       ).reindex(list(TIERS))
    out["customers"] = out["customers"].fillna(0).astype(int)
    out["customer_share"] = out["customers"] / max(len(frame), 1)
    out["expected_share"] = _share(out["expected_purchases"])
    mix = pd.crosstab(frame["tier"], frame["stage"], normalize="index").reindex(index=list(TIERS)).fillna(0.0)
    for s in [s for s in STAGES if s in mix.columns]:
        out[f"stage: {s}"] = mix[s]
    out.index.name = "tier"
    return out


def purchase_tier_metrics(summary: pd.DataFrame, cfg: Tiers, plan_period: str) -> dict:
    """The tiers section of metrics.json without money: no budget, CLV or revenue figure (null)."""
    return {"has_amount": False, "ranked_by": "expected_purchases_365", "plan_period": plan_period,
            "counts": {t: int(summary.at[t, "customers"]) for t in TIERS},
            "expected_purchase_share": {t: float(summary.at[t, "expected_share"]) for t in TIERS},
            "expected_purchases": {t: float(summary.at[t, "expected_purchases"]) for t in TIERS},
            "clv_share": None, "revenue_share": None, "budget": None, "expected_profit": None, "roi": None}


# ---------------------------------------------------------------- brands without a purchase model
# When notebook 04 could fit no purchase model (nobody bought twice, or too few did), there is no
# CLV and no expected purchases to rank customers by: tiers, the budget split and the contact
# lists are skipped rather than ranked on an invented value, said by no_model_note, and the page
# shows the customers by lifecycle stage (notebook 02, days since the last purchase: no model).


def ranked(clv_metrics: dict | None) -> bool:
    """False when notebook 04 said it fitted no purchase model (``clv.skipped`` in metrics.json)."""
    return not (clv_metrics or {}).get("skipped")


def stage_summary(customers: pd.DataFrame) -> pd.DataFrame:
    """Per lifecycle stage (notebook 02): customers, their share, past orders and past revenue
    (null without an amount) with its share. Observed figures only: nothing is predicted."""
    g = customers.groupby(customers["stage"].astype(str))
    out = pd.DataFrame({"customers": g.size(), "past_orders": g["orders"].sum(),
                        "past_revenue": g["revenue"].sum(min_count=1)})
    order = [s for s in STAGES if s in out.index] + sorted(s for s in out.index if s not in STAGES)
    out = out.reindex(order)
    out["customer_share"] = out["customers"] / max(len(customers), 1)
    out["revenue_share"] = _share(out["past_revenue"]) if out["past_revenue"].notna().any() else np.nan
    out.index.name = "stage"
    return out


def no_model_metrics(summary: pd.DataFrame, clv_metrics: dict | None, has_amount: bool, plan_period: str) -> dict:
    """The tiers section of metrics.json without a purchase model: no tier, budget or profit (null)."""
    return {"has_amount": has_amount, "ranked_by": None, "skipped": "notebook 04 fitted no purchase model: "
            + str((clv_metrics or {}).get("skipped")), "plan_period": plan_period,
            "stages": {str(s): int(n) for s, n in summary["customers"].items()},
            "counts": None, "clv_share": None, "revenue_share": None, "budget": None, "expected_profit": None,
            "roi": None}

