"""Value tiers, the retention budget split and CRM action lists (notebook 05).

Definitions (the notebook prints them next to the numbers):

* **Tiers** from predicted CLV (notebook 04, a profit figure over ``clv.horizon_months``).
  ``tiers.method: quantile`` puts the top ``high_share`` of customers in *high*, the bottom
  ``low_share`` in *low*; ``absolute`` uses ``high_threshold`` / ``low_threshold``. *Potential*
  is upside: a customer between the two bands whose predicted CLV is at least
  ``potential_ratio`` times the gross profit made so far (past revenue x business.margin).
  Everyone else in the middle band is *general*.
* **Response model.** Contacting a tier's customers lifts their chance to buy in the campaign
  window by ``rho`` (incremental repurchase probability at one contact per customer: measured
  by notebook 06 of an earlier period, else ``tiers.assumed_response``). An incremental
  purchase is worth the tier's order value x margin (the window only: later purchases of a
  retained customer are not counted). Spending ``x`` on a tier of ``n`` contactable customers
  at ``c`` per contact yields the gross incremental profit

      G(x) = n * rho * v * (1 - exp(-k x / (n c))) / (1 - exp(-k))

  which is ``n rho v`` at one contact per customer (``x = n c``) and saturates: spend below one
  contact per customer reaches the highest-priority customers first, spend above it buys
  further contacts up to the frequency cap, each worth less than the one before. ``k`` is
  ``tiers.saturation``. Expected incremental profit = G(x) - x; ROI = profit / spend.
* **Cost per contact** = channel cost + offer value x the chance the offer is redeemed
  (the customer's chance to buy in the window, from notebook 04's expected purchases, plus the
  lift): an offer is paid by everyone who uses it, including those who would have bought anyway.
* **Budget split.** The rule of thumb gives each tier its share of the budget, spent up to what
  the tier can absorb under the cap (the rest stays unspent). The data-driven split maximises
  the summed expected profit with SLSQP under: total spend <= budget, 0 <= spend <= the tier's
  capacity (contactable customers x contacts the cap allows x cost). The rule's split is a
  feasible point of that problem, so the optimum is never worse under the same assumptions.
* **Actions.** The playbook maps tier x stage to an action, channel and offer. Customers who
  opted out, have a ticket not marked resolved in the last ``complaint_days``, were contacted in
  the last ``suppress_recent_days`` before the period end, or are missing from the CRM table are
  suppressed. The frequency cap allows one contact per ``frequency_cap_days``: a customer's
  first contact is not before the last earlier contact + the cap, and the number of contacts
  in the next period is what fits in it. Each tier's money buys contacts in priority order
  (predicted CLV, highest first): first one contact each, then second contacts, and so on.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
from scipy.optimize import minimize

from helpers import config
from helpers.config import Params, Tiers
from helpers.report import fmt_int, fmt_pct
from helpers.report import fmt_money as _fmt_money

TIERS = ("high", "potential", "general", "low")
TIER_LABELS = {"high": "high value", "potential": "potential", "general": "general", "low": "low value"}
STAGES = ("new", "active", "returning", "dormant", "churned")
ACTIONS = ("vip_service", "growth_offer", "routine_offer", "automated_winback", "no_contact")
CONTACT_ACTIONS = ACTIONS[:-1]
ACTION_LABELS = {"vip_service": "VIP service", "growth_offer": "growth offer", "routine_offer": "routine offer",
                 "automated_winback": "automated win-back", "no_contact": "no contact"}
SUPPRESSIONS = {"opted_out": "opted out", "complaint": "open complaint", "recent_contact": "contacted recently",
                "not_in_crm": "not in the CRM customer table"}
NEEDED = {
    "02": ("lifecycle", ("stage", "revenue", "orders")),
    "04": ("CLV", ("clv", "clv_low", "clv_high", "p_alive", "expected_purchases_30")),
}
EXPORT_COLUMNS = ("customer_id", "action", "channel", "offer", "offer_value", "contacts", "not_before",
                  "priority", "reason", "budget", "tier", "stage")
OWN_COLUMNS = ("tier", "action")  # what this notebook adds to data/customers.parquet
RESPONSE_FILE = "data/campaign_response.json"
PLAN_FILE = "tiers_plan.parquet"


def fmt_money(x, currency: str = "", digits: int = 0) -> str:
    """Money in a sentence; a value that rounds to zero never shows as -0."""
    x = float(x)
    return _fmt_money(0.0 if round(x, digits) == 0 else x, currency, digits)


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
    potential = ~high & ~low & (upside >= cfg.potential_ratio)
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


def tier_rule_sentence(frame: pd.DataFrame, cfg: Tiers, margin: float, currency: str) -> str:
    """How the tiers were cut, with the CLV values the cuts fell on."""
    high = frame.loc[frame["tier"] == "high", "clv"]
    low = frame.loc[frame["tier"] == "low", "clv"]
    if cfg.method == "quantile":
        cut = (f"the top {fmt_pct(cfg.high_share, 0)} of customers by predicted CLV are high value"
               + (f" (CLV at least {fmt_money(high.min(), currency)})" if len(high) else "")
               + f", the bottom {fmt_pct(cfg.low_share, 0)} are low value"
               + (f" (CLV at most {fmt_money(low.max(), currency, 2)})" if len(low) else ""))
    else:
        cut = (f"customers with predicted CLV of at least {fmt_money(cfg.high_threshold, currency)} are high value, "
               f"those below {fmt_money(cfg.low_threshold, currency)} low value")
    missing = int(frame["clv"].isna().sum())
    return (f"Tier rule (params `tiers`): {cut}; in between, customers whose predicted CLV is at least "
            f"{cfg.potential_ratio:g}x the gross profit they have made so far (past revenue, at least one typical "
            f"order of {fmt_money(typical_order_value(frame), currency)}, x margin {fmt_pct(margin, 0)}) are potential, "
            "the rest general."
            + (f" {fmt_int(missing)} customers without a CLV prediction count as CLV 0." if missing else ""))


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


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _share(col: pd.Series) -> pd.Series:
    total = col.sum()
    return col / total if total else col * 0.0


def tier_table(summary: pd.DataFrame, currency: str):
    """The per-tier summary formatted for the report."""
    cols = {"customers": "customers", "customer_share": "share of customers", "clv": f"predicted CLV ({currency})",
            "clv_share": "share of CLV", "revenue": f"past revenue ({currency})", "revenue_share": "share of past revenue",
            "p_alive": "mean P(alive)"}
    table = summary.rename(columns=cols)
    table.index = [TIER_LABELS[t] for t in table.index]
    table.index.name = "tier"
    # Summing per-customer percentile bounds does not give the interval of a tier's total (it is
    # wider): label it as an outer bound.
    bound = f"outer bound of CLV ({currency})"
    table[bound] = [f"{a:,.0f} – {b:,.0f}" for a, b in zip(summary["clv_low"], summary["clv_high"], strict=True)]
    stage_cols = [c for c in table.columns if c.startswith("stage: ")]
    keep = [*cols.values(), bound, *stage_cols]
    fmt = {c: "{:.1%}" for c in ("share of customers", "share of CLV", "share of past revenue", *stage_cols)}
    fmt.update({"customers": "{:,.0f}", f"predicted CLV ({currency})": "{:,.0f}", f"past revenue ({currency})": "{:,.0f}",
                "mean P(alive)": "{:.2f}"})
    return table[keep].style.format(fmt, na_rep="–")


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


def tier_findings(summary: pd.DataFrame, conc: dict, currency: str) -> list[str]:
    s = summary
    high, pot = s.loc["high"], s.loc["potential"]
    out = [
        f"Value is concentrated: the top 10 % of customers hold {fmt_pct(conc['top_10_share'])} of predicted CLV "
        f"and the top 20 % hold {fmt_pct(conc['top_20_share'])} (Gini {conc['gini']:.2f}).",
        f"The high-value tier ({fmt_int(high.customers)} customers, {fmt_pct(high.customer_share)}) holds "
        f"{fmt_pct(high.clv_share)} of predicted CLV ({fmt_money(high.clv, currency)}; the sum of "
        f"per-customer bounds, an outer bound wider than the total's own interval, is "
        f"{fmt_money(high.clv_low, currency)} to {fmt_money(high.clv_high, currency)}) against "
        f"{fmt_pct(high.revenue_share)} of past revenue; its mean P(alive) is {high.p_alive:.2f}.",
    ]
    if pot.customers:
        out.append(f"{fmt_int(pot.customers)} customers are potential: {fmt_pct(pot.clv_share)} of predicted CLV from "
                   f"{fmt_pct(pot.revenue_share)} of past revenue, the group whose future is large compared with their "
                   f"past; their most common stage is {_top_stage(s, 'potential')}.")
    else:
        middle = s.attrs.get("middle_band_max_upside", float("nan"))
        out.append("No customer meets the potential rule (`tiers.potential_ratio`) in this period"
                   + (f": between the high and low bands, the largest predicted CLV is {middle:.2g}x the profit "
                      "made so far" if np.isfinite(middle) else "") + ".")
    low = s.loc["low"]
    out.append(f"The low-value tier ({fmt_int(low.customers)} customers) holds {fmt_pct(low.clv_share)} of predicted CLV; "
               f"{fmt_pct(low.get('stage: churned', 0.0))} of it is already churned.")
    return out


def _top_stage(summary: pd.DataFrame, tier: str) -> str:
    stage_cols = [c for c in summary.columns if c.startswith("stage: ")]
    if not stage_cols:
        return "unknown"
    row = summary.loc[tier, stage_cols]
    return f"{row.idxmax().removeprefix('stage: ')} ({fmt_pct(row.max())})"


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
        control = [c.lower() for c in params.campaigns.control_labels]
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


def history_sentence(have: dict, cfg: Tiers) -> str:
    """What the suppressions could use, in words."""
    parts = []
    parts.append("opt-outs from the CRM table" if have["opted_out"] else
                 "no opt-out flag (the data has none: nobody is suppressed for opting out)")
    if have["complaints"]:
        parts.append(f"tickets {'not marked resolved' if have['resolved'] else '(any: the data has no resolved flag)'} "
                     f"in the last {cfg.complaint_days} days")
    else:
        parts.append("no tickets (the data has none: nobody is suppressed for a complaint)")
    sources = [s for s, ok in (("campaign contacts outside the control groups", have["campaigns"]),
                               ("coupon reminders", have["reminders"])) if ok]
    parts.append(f"{' and '.join(sources)} in the last {cfg.suppress_recent_days} days, and the "
                 f"{cfg.frequency_cap_days}-day frequency cap from the last contact" if sources else
                 f"no contact history (the data has none: only the {cfg.frequency_cap_days}-day frequency cap "
                 "within the next period applies)")
    if have["crm"]:
        parts.append("customers missing from the CRM table (no contact details)")
    return "Suppressions use " + "; ".join(parts) + "."


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


def playbook_table(cfg: Tiers, currency: str) -> pd.DataFrame:
    """Tier x stage -> action, for the report."""
    pb = playbook_frame(cfg)
    cell = pb.apply(lambda r: ACTION_LABELS[r.action] if r.action == "no_contact" else
                    f"{ACTION_LABELS[r.action]} · {r.channel}" + (f" · {r.offer} ({r.offer_value:g} {currency})"
                                                                 if r.offer_value else (f" · {r.offer}" if r.offer else "")),
                    axis=1)
    table = pb.assign(cell=cell).pivot(index="tier", columns="stage", values="cell").reindex(index=list(TIERS),
                                                                                            columns=list(STAGES))
    table.index = [TIER_LABELS[t] for t in table.index]
    table.index.name = "tier"
    return table


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
    """Customers by the first suppression reason that applies: all customers, and those the
    playbook would contact. The cap row counts customers not suppressed whose next allowed
    contact falls after the next period."""
    wanted = plan["action_planned"] != "no_contact"
    free = plan["suppressed"].eq("")
    rows = [(SUPPRESSIONS[k], int(is_k.sum()), int((is_k & wanted).sum()))
            for k, is_k in ((k, plan["suppressed"].eq(k)) for k in SUPPRESSIONS)]
    capped = free & plan["allowed"].eq(0)
    rows.append(("no contact fits in the next period (frequency cap)", int(capped.sum()), int((capped & wanted).sum())))
    rows.append(("contactable", int((free & ~capped).sum()), int((free & ~capped & wanted).sum())))
    out = pd.DataFrame(rows, columns=["reason", "customers", "of whom the playbook would contact"]).set_index("reason")
    out["share of customers"] = out["customers"] / max(len(plan), 1)
    return out


# ---------------------------------------------------------------- measured or assumed response


@dataclass
class Response:
    """Incremental repurchase probability per tier at one contact per customer, with a range,
    and where it came from."""

    kind: str  # "measured" | "assumed"
    table: pd.DataFrame  # index tier: response, response_lo, response_hi, basis
    campaign_id: str = ""
    period: str = ""
    window_days: int = 30
    note: str = ""
    path: str = ""
    notes: list[str] = field(default_factory=list)

    def sentence(self) -> str:
        if self.kind == "measured":
            bases = sorted(set(self.table["basis"]))
            return (f"The response per tier is **measured**: the lift of campaign {self.campaign_id!r} as notebook 06 "
                    f"measured it in period {self.period} (repurchase within {self.window_days} days, treatment vs "
                    f"control; {'; '.join(bases)}). The range shown is the interval notebook 06 reported for it.")
        return ("The response per tier is **assumed**, not measured: no earlier period of this brand has a "
                "measured campaign lift (notebook 06 writes one), so the figures come from params "
                f"`tiers.assumed_response`. Assumptions carry no interval; the range shown is the assumption "
                f"{self.note}. Treat the split as a what-if until a campaign with a control group has been measured."
                + (f" ({' '.join(self.notes)})" if self.notes else ""))


def assumed_response(cfg: Tiers, window_days: int, notes: list[str] | None = None) -> Response:
    b = cfg.assumed_response_band
    rows = {t: {"response": cfg.assumed_response[t], "response_lo": cfg.assumed_response[t] * (1 - b),
                "response_hi": cfg.assumed_response[t] * (1 + b), "basis": "assumed (params)"} for t in TIERS}
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("tier")
    return Response("assumed", table, window_days=window_days, note=f"-/+ {fmt_pct(b, 0)} (`tiers.assumed_response_band`)",
                    notes=notes or [])


def load_response(previous: tuple[str, Path] | None, plan: pd.DataFrame, cfg: Tiers, window_days: int = 30) -> Response:
    """The latest measured lift (``run.previous_output(RESPONSE_FILE)``) mapped to tiers, else the
    params assumptions. Groups named like tiers map directly; groups by stage are weighted by each
    tier's stage mix among its contactable customers; anything else (e.g. recency segments) gives
    every tier the campaign's overall lift."""
    if previous is None:
        return assumed_response(cfg, window_days)
    period, path = previous
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        groups = {str(k): _lift(v) for k, v in (doc.get("response") or {}).items()}
        groups = {k: v for k, v in groups.items() if v is not None}
        overall = _lift(doc.get("overall")) if doc.get("overall") else None
        if overall is None and groups:
            overall = _pooled(list(groups.values()))
        if overall is None:
            raise ValueError("it holds no lift")
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        return assumed_response(cfg, window_days, [f"A campaign response file of period {period} was found but could "
                                                    f"not be read ({exc}), so assumptions are used."])
    by = str(doc.get("by", ""))
    rows = {}
    for tier in TIERS:
        if tier in groups:
            rows[tier] = {**groups[tier], "basis": "measured for this tier"}
        elif by == "stage" and set(groups) & set(STAGES):
            mix = plan.loc[(plan["tier"] == tier) & plan["eligible"], "stage"].value_counts(normalize=True)
            if mix.empty:
                mix = plan.loc[plan["tier"] == tier, "stage"].value_counts(normalize=True)
            parts = {k: sum(w * (groups.get(s) or overall)[k] for s, w in mix.items()) for k in
                     ("response", "response_lo", "response_hi")} if len(mix) else dict(overall)
            rows[tier] = {**parts, "basis": "measured by stage, weighted by the tier's stage mix"}
        else:
            what = f"by {by}" if by else "by group"
            rows[tier] = {**overall, "basis": f"overall lift (measured {what}, which does not map to tiers)"}
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("tier")
    return Response("measured", table, campaign_id=str(doc.get("campaign_id", "?")), period=str(doc.get("period", period)),
                    window_days=int(doc.get("window_days") or window_days), path=str(path))


def _lift(rec) -> dict | None:
    if not isinstance(rec, dict) or rec.get("repurchase_pp") is None:
        return None
    pp = float(rec["repurchase_pp"])
    ci = rec.get("repurchase_pp_ci") or [pp, pp]
    lo, hi = (float(ci[0]) if ci[0] is not None else pp), (float(ci[1]) if ci[1] is not None else pp)
    if not all(math.isfinite(v) for v in (pp, lo, hi)):
        return None
    return {"response": pp, "response_lo": min(lo, pp), "response_hi": max(hi, pp),
            "n_treatment": int(rec.get("n_treatment") or 0)}


def _pooled(recs: list[dict]) -> dict:
    w = np.array([max(r["n_treatment"], 1) for r in recs], dtype=float)
    w /= w.sum()
    return {k: float(sum(wi * r[k] for wi, r in zip(w, recs, strict=True))) for k in ("response", "response_lo", "response_hi")} | {
        "n_treatment": int(sum(r["n_treatment"] for r in recs))}


# ---------------------------------------------------------------- tier economics


def purchase_chance(frame: pd.DataFrame, window_days: int) -> pd.Series:
    """P(at least one purchase in the window) without contact, from notebook 04's expected
    purchases in 30 days (Poisson approximation, scaled to the window)."""
    expected = frame["expected_purchases_30"].astype(float).fillna(0).clip(lower=0) * window_days / 30
    return 1 - np.exp(-expected)


def tier_economics(plan: pd.DataFrame, response: Response, cfg: Tiers, margin: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-customer cost per contact (channel + offer x P(redeemed)) added to the plan, and per
    tier: contactable customers, contacts the cap allows, mean cost per contact, capacity
    (the most the tier can absorb), order value, response and the incremental gross profit per
    contactable customer at one contact (``gross``, with ``gross_lo``/``gross_hi``). The plan
    comes back as a shallow copy with the new column (the caller's plan is left as it was)."""
    plan = plan.copy(deep=False)
    rho = plan["tier"].astype(str).map(response.table["response"]).astype(float).fillna(0.0)
    redeem = (purchase_chance(plan, response.window_days) + rho.clip(lower=0)).clip(upper=1)
    cost = plan["channel_cost"].astype(float) + plan["offer_value"].astype(float) * redeem
    plan["cost_per_contact"] = np.where(plan["action_planned"] != "no_contact", np.ceil(cost * 100 - 1e-9) / 100, 0.0)
    rows = {}
    used = plan[["tier", "eligible", "orders", "revenue", "allowed", "cost_per_contact"]]  # rows of these only
    for tier in TIERS:
        t = used[used["tier"] == tier]
        e = t[t["eligible"]]
        base = e if len(e) and e["orders"].sum() > 0 else t
        orders = base["orders"].astype(float).sum()
        value = max(float(base["revenue"].astype(float).sum() / orders), 0.0) if orders > 0 else 0.0
        r = response.table.loc[tier]
        rows[tier] = {
            "customers": len(t),
            "contactable": len(e),
            "max_contacts": int(e["allowed"].sum()),
            "cost_per_contact": float(e["cost_per_contact"].mean()) if len(e) else 0.0,
            "capacity": float((e["allowed"] * e["cost_per_contact"]).sum()),
            "order_value": value,
            "response": float(r["response"]),
            "response_lo": float(r["response_lo"]),
            "response_hi": float(r["response_hi"]),
            "gross": float(r["response"]) * value * margin,
            "gross_lo": float(r["response_lo"]) * value * margin,
            "gross_hi": float(r["response_hi"]) * value * margin,
            "basis": r["basis"],
        }
    econ = pd.DataFrame.from_dict(rows, orient="index").rename_axis("tier")
    return plan, econ


# ---------------------------------------------------------------- the response curve and the split


def gross_profit(x, n, g, c, k: float) -> np.ndarray:
    """Expected incremental gross profit of spending x on tiers with n contactable customers,
    gross profit g per customer at one contact, cost c per contact and saturation k."""
    x, n, g, c = (np.asarray(a, dtype=float) for a in (x, n, g, c))
    ok = (n > 0) & (c > 0)
    safe_n, safe_c = np.where(ok, n, 1.0), np.where(ok, c, 1.0)
    out = safe_n * g * -np.expm1(-k * x / (safe_n * safe_c)) / -math.expm1(-k)
    return np.where(ok, out, 0.0)


def marginal_gross(x, n, g, c, k: float) -> np.ndarray:
    """d gross_profit / d x: the gross profit one more unit of money buys."""
    x, n, g, c = (np.asarray(a, dtype=float) for a in (x, n, g, c))
    ok = (n > 0) & (c > 0)
    safe_n, safe_c = np.where(ok, n, 1.0), np.where(ok, c, 1.0)
    out = g * k / safe_c * np.exp(-k * x / (safe_n * safe_c)) / -math.expm1(-k)
    return np.where(ok, out, 0.0)


def _arrays(econ: pd.DataFrame, gross: str = "gross"):
    return (econ["contactable"].to_numpy(float), econ[gross].to_numpy(float),
            econ["cost_per_contact"].to_numpy(float), econ["capacity"].to_numpy(float))


def expected_profit(spend, econ: pd.DataFrame, k: float, gross: str = "gross") -> np.ndarray:
    """Expected incremental profit per tier (gross profit - spend)."""
    n, g, c, _ = _arrays(econ, gross)
    spend = np.asarray(spend, dtype=float)
    return gross_profit(spend, n, g, c, k) - spend


def rule_of_thumb(econ: pd.DataFrame, budget: float, shares: dict[str, float]) -> tuple[pd.Series, pd.Series]:
    """(money the rule gives each tier, what it can spend: the share capped at the tier's capacity)."""
    nominal = pd.Series({t: budget * shares.get(t, 0.0) for t in econ.index}, dtype=float)
    spend = np.minimum(nominal, econ["capacity"])
    return nominal, spend


def optimize(econ: pd.DataFrame, budget: float, k: float, start: pd.Series | None = None) -> pd.Series:
    """Spend per tier maximising the summed expected incremental profit (SLSQP), subject to
    total <= budget and 0 <= spend <= capacity. Starts from ``start`` (the rule of thumb) and
    never returns anything worse than it."""
    n, g, c, cap = _arrays(econ)
    upper = np.minimum(cap, budget)
    if budget <= 0 or not (upper > 0).any():
        return pd.Series(0.0, index=econ.index)
    scale = float(budget)
    x0 = np.clip(np.zeros(len(n)) if start is None else start.reindex(econ.index).to_numpy(float), 0, upper)
    if x0.sum() > budget:
        x0 *= budget / x0.sum()

    def negative(y):
        x = y * scale
        return -float((gross_profit(x, n, g, c, k) - x).sum()) / scale

    def gradient(y):
        return -(marginal_gross(y * scale, n, g, c, k) - 1.0)

    res = minimize(negative, x0 / scale, jac=gradient, method="SLSQP",
                   bounds=[(0.0, u / scale) for u in upper],
                   constraints=[{"type": "ineq", "fun": lambda y: budget / scale - y.sum(),
                                 "jac": lambda y: -np.ones_like(y)}],
                   options={"ftol": 1e-14, "maxiter": 1000})
    x = np.clip(res.x * scale, 0, upper)
    if x.sum() > budget:
        x *= budget / x.sum()
    best = x if -negative(x / scale) >= -negative(x0 / scale) else x0
    return pd.Series(best, index=econ.index)


def compare_splits(econ: pd.DataFrame, cfg: Tiers) -> pd.DataFrame:
    """Rule of thumb vs data-driven split per tier and in total: budget, spend, contacts bought,
    expected incremental profit (with the range at the response's bounds) and ROI."""
    k, budget = cfg.saturation, cfg.budget
    nominal, rule = rule_of_thumb(econ, budget, cfg.rule_of_thumb)
    best = optimize(econ, budget, k, start=rule)
    out = pd.DataFrame(index=econ.index)
    out["rule_budget"] = nominal
    for name, spend in (("rule", rule), ("optimized", best)):
        out[f"{name}_spend"] = spend
        out[f"{name}_profit"] = expected_profit(spend, econ, k)
        out[f"{name}_profit_lo"] = expected_profit(spend, econ, k, "gross_lo")
        out[f"{name}_profit_hi"] = expected_profit(spend, econ, k, "gross_hi")
        out[f"{name}_marginal"] = marginal_gross(spend, *_arrays(econ)[:3], k) - 1
    out["optimized_budget"] = out["optimized_spend"]
    total = out.sum(numeric_only=True)
    total[["rule_marginal", "optimized_marginal"]] = np.nan
    out.loc["total"] = total
    for name in ("rule", "optimized"):
        spend = out[f"{name}_spend"]
        out[f"{name}_roi"] = np.where(spend > 0, out[f"{name}_profit"] / spend.where(spend > 0, 1), np.nan)
    return out


def split_table(cmp: pd.DataFrame, econ: pd.DataFrame, currency: str):
    """The two splits side by side, for the report."""
    rows = cmp.copy()
    e = econ.reindex(rows.index)
    table = pd.DataFrame({
        "contactable customers": e["contactable"],
        f"cost per contact ({currency})": e["cost_per_contact"],
        "response (lift per contact)": e["response"],
        "response range": [f"{lo:+.1%} to {hi:+.1%}" if pd.notna(lo) else "" for lo, hi in
                           zip(e["response_lo"], e["response_hi"], strict=True)],
        f"rule of thumb: budget ({currency})": rows["rule_budget"],
        f"rule of thumb: spend ({currency})": rows["rule_spend"],
        f"rule of thumb: profit ({currency})": rows["rule_profit"],
        "rule of thumb: ROI": rows["rule_roi"],
        f"data-driven: spend ({currency})": rows["optimized_spend"],
        f"data-driven: profit ({currency})": rows["optimized_profit"],
        f"data-driven: profit range ({currency})": [f"{lo:,.0f} to {hi:,.0f}" for lo, hi in
                                                    zip(rows["optimized_profit_lo"], rows["optimized_profit_hi"], strict=True)],
        "data-driven: ROI": rows["optimized_roi"],
    })
    table.index = [TIER_LABELS.get(t, t) for t in table.index]
    table.index.name = "tier"
    money = [c for c in table.columns if f"({currency})" in c and "range" not in c]
    fmt = {c: "{:,.0f}" for c in money}
    fmt[f"cost per contact ({currency})"] = "{:,.2f}"
    fmt.update({"contactable customers": "{:,.0f}", "response (lift per contact)": "{:+.1%}",
                "rule of thumb: ROI": "{:+.0%}", "data-driven: ROI": "{:+.0%}"})
    return table.style.format(fmt, na_rep="–")


def sensitivity(econ: pd.DataFrame, cfg: Tiers, multipliers=(0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4),
                saturations=(0.25, 0.5, 1, 2, 4)) -> pd.DataFrame:
    """How the answer moves with the assumptions: the response of every tier scaled by a
    multiplier, or the saturation k changed; the data-driven split is re-optimised each time.
    Long frame: parameter, value, split, tier, spend, profit."""
    rows = []
    for param, values in (("response", multipliers), ("saturation", saturations)):
        for v in values:
            e = econ.copy()
            k = cfg.saturation
            if param == "response":
                e["gross"] = e["gross"] * v
            else:
                k = float(v)
            _, rule = rule_of_thumb(e, cfg.budget, cfg.rule_of_thumb)
            best = optimize(e, cfg.budget, k, start=rule)
            for split, spend in (("rule of thumb", rule), ("data-driven", best)):
                profit = expected_profit(spend, e, k)
                for tier, s, p in zip(e.index, spend, profit, strict=True):
                    rows.append({"parameter": param, "value": float(v), "split": split, "tier": tier,
                                 "spend": float(s), "profit": float(p)})
    return pd.DataFrame(rows)


def split_findings(cmp: pd.DataFrame, econ: pd.DataFrame, sens: pd.DataFrame, cfg: Tiers, currency: str,
                   response_kind: str = "assumed") -> list[str]:
    tot = cmp.loc["total"]
    budget = cfg.budget
    out = []
    rule_unspent = budget - tot.rule_spend
    out.append(
        f"The rule of thumb ({' / '.join(fmt_pct(cfg.rule_of_thumb[t], 0) for t in TIERS)}) of a "
        f"{fmt_money(budget, currency)} budget can spend {fmt_money(tot.rule_spend, currency)}"
        + (f" ({fmt_money(rule_unspent, currency)} does not fit under the frequency cap in the tiers it is given to)"
           if rule_unspent > 0.5 else "")
        + f" and is expected to return {fmt_money(tot.rule_profit, currency)} of incremental profit"
        + (f" (ROI {fmt_pct(tot.rule_roi, 0)})." if tot.rule_spend > 0 else "."))
    out.append(
        f"The data-driven split spends {fmt_money(tot.optimized_spend, currency)} for an expected "
        f"{fmt_money(tot.optimized_profit, currency)} (range {fmt_money(tot.optimized_profit_lo, currency)} to "
        f"{fmt_money(tot.optimized_profit_hi, currency)} at the response's bounds)"
        + (f", ROI {fmt_pct(tot.optimized_roi, 0)}" if tot.optimized_spend > 0 else "")
        + f": {fmt_money(tot.optimized_profit - tot.rule_profit, currency)} more than the rule under the same assumptions.")
    if budget - tot.optimized_spend > 0.5:
        capped = [TIER_LABELS[t] for t in TIERS if econ.loc[t, "capacity"] - cmp.loc[t, "optimized_spend"] < 0.01
                  and econ.loc[t, "capacity"] > 0]
        out.append(f"It leaves {fmt_money(budget - tot.optimized_spend, currency)} unspent: beyond that, another contact "
                   "is expected to return less than it costs"
                   + (f", or the frequency cap is reached ({', '.join(capped)})" if capped else "") + ".")
    moves = cmp.loc[list(TIERS), "optimized_spend"] - cmp.loc[list(TIERS), "rule_spend"]
    if moves.abs().max() > 0.5:
        m = cmp.loc[list(TIERS), "rule_marginal"] + 1
        returns = ", ".join(f"{TIER_LABELS[t]} {m[t]:.2f}" for t in TIERS if econ.loc[t, "contactable"] > 0)
        up = [f"{TIER_LABELS[t]} ({fmt_money(cmp.loc[t, 'rule_spend'], currency)} → "
              f"{fmt_money(cmp.loc[t, 'optimized_spend'], currency)})" for t in TIERS if moves[t] > 0.5]
        down = [f"{TIER_LABELS[t]} ({fmt_money(cmp.loc[t, 'rule_spend'], currency)} → "
                f"{fmt_money(cmp.loc[t, 'optimized_spend'], currency)})" for t in TIERS if moves[t] < -0.5]
        out.append(
            f"Why they differ: at the rule's split, the last {currency} spent in each tier brings back this much gross "
            f"profit: {returns} {currency}. Below 1.00 that {currency} loses money. The data-driven split moves spend "
            + (f"away from {_and(down)}" if down else "")
            + (" and " if down and up else "")
            + (f"towards {_and(up)}" if up else "")
            + f", until the last {currency} in every funded tier returns the same, and no tier is funded past "
            f"the point where it returns less than 1.00 (or past its frequency cap).")
    skipped = [t for t in TIERS if econ.loc[t, "contactable"] > 0 and cmp.loc[t, "optimized_spend"] < 0.5]
    first = marginal_gross(np.zeros(len(econ)), *_arrays(econ)[:3], cfg.saturation)
    first = pd.Series(first, index=econ.index)
    losing = [TIER_LABELS[t] for t in skipped if first[t] < 1]
    beaten = [TIER_LABELS[t] for t in skipped if first[t] >= 1]
    if losing:
        out.append(f"Under these assumptions even the first contact costs more than it returns in the {_and(losing)} "
                   f"tier{'s' if len(losing) > 1 else ''}: the data-driven split gives {'them' if len(losing) > 1 else 'it'} nothing.")
    if beaten:
        out.append(f"The {_and(beaten)} tier{'s' if len(beaten) > 1 else ''} would pay for {'their' if len(beaten) > 1 else 'its'} "
                   "first contacts, but the same money returns more in the funded tiers, so the data-driven split gives "
                   f"{'them' if len(beaten) > 1 else 'it'} nothing at this budget.")
    resp = sens[(sens["parameter"] == "response")].groupby(["value", "split"])["profit"].sum().unstack()
    lo_v, hi_v = resp.index.min(), resp.index.max()
    out.append(
        f"Sensitivity: with every response at {lo_v:g}x the "
        f"{'measured one' if response_kind == 'measured' else 'assumption'} the data-driven split expects "
        f"{fmt_money(resp.loc[lo_v, 'data-driven'], currency)} and the rule {fmt_money(resp.loc[lo_v, 'rule of thumb'], currency)}; "
        f"at {hi_v:g}x, {fmt_money(resp.loc[hi_v, 'data-driven'], currency)} and "
        f"{fmt_money(resp.loc[hi_v, 'rule of thumb'], currency)}.")
    return out


# ---------------------------------------------------------------- customers in the lists


def assign_contacts(plan: pd.DataFrame, spend: pd.Series) -> pd.DataFrame:
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


def write_exports(folder: Path, plan: pd.DataFrame, currency: str) -> pd.DataFrame:
    """exports/<action>.csv for every contact action (header only when nobody is on it) and
    exports/do_not_contact.csv (suppressed customers and why). Earlier CSVs in the folder are
    removed first, so the folder always matches this plan. Returns one row per file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.csv"):
        old.unlink()
    rows = export_frame(plan, currency)
    summary = []
    for action in CONTACT_ACTIONS:
        part = rows[rows["action"] == action]
        path = folder / f"{action}.csv"
        part.to_csv(path, index=False, encoding="utf-8")
        summary.append({"file": f"exports/{path.name}", "action": action, "customers": len(part),
                        "contacts": int(part["contacts"].sum()), "budget": float(part["budget"].sum())})
    dnc = plan.loc[plan["suppressed"] != "", ["customer_id", "suppressed", "tier"]].rename(columns={"suppressed": "reason"})
    dnc = dnc.assign(tier=dnc["tier"].astype(str)).sort_values("customer_id")
    dnc.to_csv(folder / "do_not_contact.csv", index=False, encoding="utf-8")
    summary.append({"file": "exports/do_not_contact.csv", "action": "do_not_contact", "customers": len(dnc),
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


def action_table(plan: pd.DataFrame, currency: str):
    """Per action: customers, contacts, budget, cost per customer, channel(s), and the customers
    the playbook wanted but the money or a suppression left out."""
    wanted = _rows(plan, plan["action_planned"] != "no_contact",
                   ["action_planned", "channel", "tier", "suppressed", "contacts", "budget"])
    rows = []
    for action in CONTACT_ACTIONS:
        w = wanted[wanted["action_planned"] == action]
        c = w[w["contacts"] > 0]
        if not len(w):
            continue
        rows.append({"action": ACTION_LABELS[action], "channel": ", ".join(sorted(set(w["channel"]))),
                     "tiers": ", ".join(TIER_LABELS[t] for t in TIERS if (w["tier"] == t).any()),
                     "playbook customers": len(w), "suppressed": int((w["suppressed"] != "").sum()),
                     "reached": len(c), "contacts": int(c["contacts"].sum()),
                     f"budget ({currency})": float(c["budget"].sum()),
                     f"per customer reached ({currency})": float(c["budget"].sum() / len(c)) if len(c) else np.nan})
    table = pd.DataFrame(rows).set_index("action")
    fmt = {c: "{:,.0f}" for c in ("playbook customers", "suppressed", "reached", "contacts")}
    fmt[f"budget ({currency})"] = "{:,.0f}"
    fmt[f"per customer reached ({currency})"] = "{:,.2f}"
    return table.style.format(fmt, na_rep="–")


def action_findings(plan: pd.DataFrame, exports: pd.DataFrame, cfg: Tiers, currency: str, next_label: str) -> list[str]:
    wanted = _rows(plan, plan["action_planned"] != "no_contact", ["suppressed", "contacts"])
    reached = _rows(plan, plan["contacts"] > 0, ["contacts", "budget"])
    sup = wanted["suppressed"].value_counts()
    out = [f"The lists for {next_label} reach {fmt_int(len(reached))} customers with {fmt_int(reached['contacts'].sum())} "
           f"contacts for {fmt_money(reached['budget'].sum(), currency)} (the {cfg.export_split.replace('_', ' ')} split; "
           f"at most one contact per customer every {cfg.frequency_cap_days} days)."]
    for action in CONTACT_ACTIONS:
        row = exports[exports["action"] == action]
        if len(row) and row["customers"].iloc[0]:
            r = row.iloc[0]
            out.append(f"{ACTION_LABELS[action][0].upper() + ACTION_LABELS[action][1:]}: {fmt_int(r.customers)} customers, {fmt_int(r.contacts)} contacts, "
                       f"{fmt_money(r.budget, currency)} (`{r.file}`).")
    every = plan["suppressed"].value_counts()
    parts = [f"{fmt_int(every[k])} {SUPPRESSIONS[k]}" for k in SUPPRESSIONS if every.get(k, 0)]
    if parts:
        out.append(f"Suppressed before any money was assigned (first reason that applies): {', '.join(parts)}; "
                   f"{fmt_int(sup.drop('', errors='ignore').sum())} of them "
                   f"({fmt_pct(sup.drop('', errors='ignore').sum() / max(len(wanted), 1))} of the customers the playbook "
                   "would contact) would otherwise be on a list. All are in `exports/do_not_contact.csv`.")
    unfunded = wanted[(wanted["suppressed"] == "") & (wanted["contacts"] == 0)]
    if len(unfunded):
        out.append(f"{fmt_int(len(unfunded))} contactable customers get no contact in {next_label}: their tier's money "
                   "went to customers of higher predicted CLV first, or the split gives their tier none.")
    return out


# ---------------------------------------------------------------- metrics


def metrics(summary: pd.DataFrame, conc: dict, cmp: pd.DataFrame, econ: pd.DataFrame, response: Response,
            plan: pd.DataFrame, exports: pd.DataFrame, cfg: Tiers, next_label: str) -> dict:
    tiers = list(TIERS)
    reached = _rows(plan, plan["contacts"] > 0, ["action", "contacts", "budget"])
    return {
        "counts": {t: int(summary.loc[t, "customers"]) for t in tiers},
        "clv_share": {t: float(summary.loc[t, "clv_share"]) for t in tiers},
        "revenue_share": {t: float(summary.loc[t, "revenue_share"]) for t in tiers},
        "top_10_clv_share": conc["top_10_share"],
        "gini": conc["gini"],
        "budget": {"rule_of_thumb": {t: float(cmp.loc[t, "rule_budget"]) for t in tiers},
                   "optimized": {t: float(cmp.loc[t, "optimized_spend"]) for t in tiers}},
        "spend": {"rule_of_thumb": {t: float(cmp.loc[t, "rule_spend"]) for t in tiers},
                  "optimized": {t: float(cmp.loc[t, "optimized_spend"]) for t in tiers}},
        "expected_profit": {"rule_of_thumb": float(cmp.loc["total", "rule_profit"]),
                            "optimized": float(cmp.loc["total", "optimized_profit"])},
        "expected_profit_range": {"rule_of_thumb": [float(cmp.loc["total", "rule_profit_lo"]), float(cmp.loc["total", "rule_profit_hi"])],
                                  "optimized": [float(cmp.loc["total", "optimized_profit_lo"]), float(cmp.loc["total", "optimized_profit_hi"])]},
        "roi": {"rule_of_thumb": cmp.loc["total", "rule_roi"], "optimized": cmp.loc["total", "optimized_roi"]},
        "total_budget": cfg.budget,
        "response_source": response.kind,
        "response": {t: float(econ.loc[t, "response"]) for t in tiers},
        "response_campaign": response.campaign_id or None,
        "response_period": response.period or None,
        "plan_period": next_label,
        "export_split": cfg.export_split,
        "actions": {a: {"customers": int((reached["action"] == a).sum()), "contacts": int(reached.loc[reached["action"] == a, "contacts"].sum()),
                        "budget": round(float(reached.loc[reached["action"] == a, "budget"].sum()), 2)} for a in CONTACT_ACTIONS},
        "suppressed": {k: int((plan["suppressed"] == k).sum()) for k in SUPPRESSIONS},
        "exports": {r.file: int(r.customers) for r in exports.itertuples()},
        "frequency_cap_days": cfg.frequency_cap_days,
    }


def customer_columns(plan: pd.DataFrame) -> pd.DataFrame:
    """What notebook 05 adds to data/customers.parquet: tier and action."""
    return pd.DataFrame({"customer_id": plan["customer_id"], "tier": plan["tier"].astype(str), "action": plan["action"]})


def plan_columns(plan: pd.DataFrame) -> pd.DataFrame:
    """The customer-level plan for analysts (data/tiers_plan.parquet)."""
    cols = ["customer_id", "tier", "stage", "clv", "upside", "action_planned", "suppressed", "last_contact_ts",
            "not_before", "allowed", "cost_per_contact", "contacts", "budget", "action", "priority"]
    out = plan[cols].copy(deep=False)  # plan[cols] is a copy already: a second one would copy it all again
    out["tier"] = out["tier"].astype(str)
    out["upside"] = out["upside"].replace(np.inf, np.nan)
    return out


def conclusions(summary: pd.DataFrame, conc: dict, cmp: pd.DataFrame, econ: pd.DataFrame, response: Response,
                plan: pd.DataFrame, cfg: Tiers, currency: str, next_label: str) -> list[str]:
    """The notebook's findings in four sentences, from the numbers."""
    tot = cmp.loc["total"]
    high = summary.loc["high"]
    out = [f"- **Concentration.** {fmt_pct(high.customer_share)} of customers (the high-value tier) hold "
           f"{fmt_pct(high.clv_share)} of predicted CLV; the top 20 % hold {fmt_pct(conc['top_20_share'])}."]
    moves = (cmp.loc[list(TIERS), "optimized_spend"] - cmp.loc[list(TIERS), "rule_spend"])
    big = moves.abs().idxmax()
    rule = " / ".join(f"{100 * cfg.rule_of_thumb[t]:g}" for t in TIERS)
    head = (f"- **Split.** With the {'measured' if response.kind == 'measured' else 'assumed'} response, the data-driven "
            f"split expects {fmt_money(tot.optimized_profit, currency)} of incremental profit against "
            f"{fmt_money(tot.rule_profit, currency)} for the {rule} % rule")
    if abs(moves[big]) < 0.5:
        out.append(head + "; the two splits agree.")
    else:
        out.append(head + f"; the largest change is the {TIER_LABELS[big]} tier ({fmt_money(cmp.loc[big, 'rule_spend'], currency)} → "
                   f"{fmt_money(cmp.loc[big, 'optimized_spend'], currency)}), because there the last {currency} returns "
                   f"{cmp.loc[big, 'rule_marginal'] + 1:.2f} {currency} of gross profit under the rule.")
    reached = _rows(plan, plan["contacts"] > 0, ["action", "budget"])
    parts = [f"{ACTION_LABELS[a]} {fmt_int((reached['action'] == a).sum())} customers / "
             f"{fmt_money(reached.loc[reached['action'] == a, 'budget'].sum(), currency)}"
             for a in CONTACT_ACTIONS if (reached["action"] == a).any()]
    out.append(f"- **Actions for {next_label}.** " + ("; ".join(parts) if parts else "nobody is contacted")
               + f" (total {fmt_money(reached['budget'].sum(), currency)} of {fmt_money(cfg.budget, currency)}); "
               f"{fmt_int((plan['suppressed'] != '').sum())} customers are suppressed.")
    if response.kind == "assumed":
        out.append("- **Caveat.** The response is an assumption, not a measurement: run a campaign with a control group "
                   "(notebook 06) to replace it; the sensitivity chart shows how far the answer depends on it.")
    else:
        out.append(f"- **Caveat.** The response comes from one campaign ({response.campaign_id}, {response.period}); "
                   "its interval is carried into the profit ranges above.")
    return out
