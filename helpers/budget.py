"""The retention budget of notebook 05 over tier x channel cells: what a contact is worth, the
response curve with diminishing returns, and the optimiser. Numbers and frames only; the
notebook's sentences are in :mod:`helpers.tiers`.

* **What an incremental purchase is worth** (per customer). A contact raises the customer's
  chance to buy in the campaign window by the cell's *response* (incremental repurchase
  probability at one contact; measured by notebook 06 of an earlier period for the channel the
  campaign used, else assumed). A purchase it brings is worth

      margin x the customer's average order value                       (the purchase itself)
      + retention_effect x (1 - P(alive)) x CLV / P(alive)              (the future value kept)

  CLV (notebook 04) is P(alive) x the value of the customer if alive, so CLV / P(alive) is that
  value and (1 - P(alive)) x it the part at risk. The contact that brings a purchase keeps the
  at-risk part (``tiers.retention_effect`` = 1), or only the purchase counts (0). A customer
  surely alive has nothing at risk; an at-risk high-value customer has the most.
* **Who responds.** A response is an average over a cell's customers. A customer who has
  dropped out does not respond (what "dropped out" means in the purchase models, and the demo's
  planted truth), so each customer's share of it is proportional to P(alive): the tier's value
  of an incremental purchase is the P(alive)-weighted mean of the above,
  sum(P(alive) x order profit + retention_effect x (1 - P(alive)) x CLV) / sum(P(alive)). A
  long-gone frequent buyer (P(alive) near 0, a large value if alive) adds almost nothing: no
  money is spent on reviving customers the model says are gone.
* **Cells.** A cell is a tier x a channel the tier may be contacted through (``tiers.channels``,
  else the channels of the tier's playbook rows). Every cell of a tier reaches the same
  contactable customers; its cost per contact is the channel's cost plus the playbook offer's
  value x the chance the offer is redeemed.
* **Response curve.** Spending ``x`` on a cell of ``n`` contactable customers at ``c`` per
  contact, with ``g`` = response x the tier's mean value of an incremental purchase:

      G(x) = n * g * (1 - exp(-k x / (n c))) / (1 - exp(-k))

  ``n g`` at one contact per customer, each further contact worth less (``k`` =
  ``tiers.saturation``). Expected incremental profit = G(x) - x.
* **Constraints.** Total spend <= budget; each cell within its capacity (the tier's contact
  slots under the frequency cap x cost); the contacts of all cells of a tier within the tier's
  slots (a customer is contacted at most as often as the cap allows, whatever the channel).
  The problem is concave with linear constraints: SLSQP finds its optimum; it starts from the
  rule of thumb and never returns anything worse.
* **Rule of thumb** over cells: each tier's share of the budget goes to the channels its
  playbook gives its customers, in proportion to their contact slots, each channel up to the
  slots of the customers the playbook gives it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.optimize import minimize

ALIVE_FLOOR = 1e-9  # below this P(alive), CLV / P(alive) is 0 / 0: no at-risk value is counted


# ---------------------------------------------------------------- the value of a contact


def contact_value(frame: pd.DataFrame, margin: float, retention_effect: float) -> pd.DataFrame:
    """Per customer: ``order_profit`` (margin x average order value), ``value_if_alive`` (CLV /
    P(alive)), ``at_risk`` ((1 - P(alive)) x value_if_alive), ``purchase_value``
    (order_profit + retention_effect x at_risk: what one incremental purchase is worth) and
    ``alive`` (P(alive), the customer's weight in the response)."""
    known = frame[["orders", "revenue", "clv", "p_alive"]].astype(float).fillna(0)  # missing: 0
    orders, revenue = known["orders"].to_numpy(), known["revenue"].to_numpy()
    aov = np.where(orders > 0, revenue / np.where(orders > 0, orders, 1), 0.0)
    aov = np.clip(np.nan_to_num(aov, posinf=0.0), 0, None)  # an infinite revenue counts nothing
    clv = np.clip(known["clv"].to_numpy(), 0, None)
    alive = np.clip(known["p_alive"].to_numpy(), 0, 1)
    if_alive = np.where(alive >= ALIVE_FLOOR, clv / np.maximum(alive, ALIVE_FLOOR), 0.0)
    at_risk = (1 - alive) * if_alive
    order_profit = float(margin) * aov
    return pd.DataFrame({"order_profit": order_profit, "value_if_alive": if_alive, "at_risk": at_risk,
                         "purchase_value": order_profit + float(retention_effect) * at_risk, "alive": alive},
                        index=frame.index)


def weighted_value(values: pd.DataFrame, retention_effect: float) -> dict:
    """The value of an incremental purchase in a group of customers (rows of
    :func:`contact_value`), each weighted by P(alive) (their share of the response; the plain
    mean when nobody is alive): order_profit, at_risk and value = order_profit +
    retention_effect x at_risk."""
    w = values["alive"].to_numpy()
    if not len(w):
        return {"order_profit": 0.0, "at_risk": 0.0, "value": 0.0}
    w = w if w.sum() > 0 else np.ones(len(w))
    op = float(np.average(values["order_profit"], weights=w))
    ar = float(np.average(values["at_risk"], weights=w))
    return {"order_profit": op, "at_risk": ar, "value": op + float(retention_effect) * ar}


# ---------------------------------------------------------------- the response curve


def gross_profit(x, n, g, c, k: float) -> np.ndarray:
    """Expected incremental gross profit of spending x on cells with n contactable customers,
    gross profit g per customer at one contact, cost c per contact and saturation k."""
    x, n, g, c = (np.asarray(a) for a in (x, n, g, c))
    ok = (n > 0) & (c > 0)
    safe_n, safe_c = np.where(ok, n, 1.0), np.where(ok, c, 1.0)
    out = safe_n * g * -np.expm1(-k * x / (safe_n * safe_c)) / -math.expm1(-k)
    return np.where(ok, out, 0.0)


def marginal_gross(x, n, g, c, k: float) -> np.ndarray:
    """d gross_profit / d x: the gross profit one more unit of money buys."""
    x, n, g, c = (np.asarray(a) for a in (x, n, g, c))
    ok = (n > 0) & (c > 0)
    safe_n, safe_c = np.where(ok, n, 1.0), np.where(ok, c, 1.0)
    out = g * k / safe_c * np.exp(-k * x / (safe_n * safe_c)) / -math.expm1(-k)
    return np.where(ok, out, 0.0)


def cells(econ: pd.DataFrame) -> pd.DataFrame:
    """``econ`` indexed by (tier, channel): a frame indexed by tier alone is one cell per tier
    (channel '')."""
    if isinstance(econ.index, pd.MultiIndex):
        return econ
    out = econ.copy()
    out.index = pd.MultiIndex.from_arrays([econ.index, [""] * len(econ)], names=["tier", "channel"])
    return out


def arrays(econ: pd.DataFrame, gross: str = "gross"):
    return (econ["contactable"].to_numpy(float), econ[gross].to_numpy(float),
            econ["cost_per_contact"].to_numpy(float), econ["capacity"].to_numpy(float))


def expected_profit(spend, econ: pd.DataFrame, k: float, gross: str = "gross") -> np.ndarray:
    """Expected incremental profit per cell (gross profit - spend)."""
    n, g, c, _ = arrays(econ, gross)
    spend = np.asarray(spend)
    return gross_profit(spend, n, g, c, k) - spend


def _slot_groups(econ: pd.DataFrame) -> list[tuple[np.ndarray, float]]:
    """(cell positions, contact slots) of every tier with more than one cell: the cells share
    the tier's slots under the frequency cap."""
    if "max_contacts" not in econ or not isinstance(econ.index, pd.MultiIndex):
        return []
    tier = econ.index.get_level_values(0)
    out = []
    for t in pd.unique(tier):
        pos = np.flatnonzero(tier == t)
        slots = float(econ["max_contacts"].iloc[pos[0]])
        if len(pos) > 1 and slots > 0:
            out.append((pos, slots))
    return out


def _feasible(x: np.ndarray, upper: np.ndarray, budget: float, c: np.ndarray, groups) -> np.ndarray:
    """x pulled inside the bounds, each tier's slots and the budget (by scaling down)."""
    x = np.clip(x, 0, upper)
    for pos, slots in groups:
        used = float(np.sum(x[pos] / np.where(c[pos] > 0, c[pos], np.inf)))
        if used > slots:
            x[pos] *= slots / used
    if x.sum() > budget:
        x = x * (budget / x.sum())
    return x


def optimize(econ: pd.DataFrame, budget: float, k: float, start: pd.Series | None = None) -> pd.Series:
    """Spend per cell maximising the summed expected incremental profit (SLSQP), subject to
    total <= budget, 0 <= spend <= capacity and, for a tier with several cells (``max_contacts``
    given), its cells' contacts within the tier's slots. Starts from ``start`` (the rule of
    thumb) and from a spread start, and never returns anything worse than ``start``."""
    n, g, c, cap = arrays(econ)
    upper = np.minimum(cap, budget)
    if budget <= 0 or not (upper > 0).any():
        return pd.Series(0.0, index=econ.index)
    scale = float(budget)
    groups = _slot_groups(econ)
    x0 = np.zeros(len(n)) if start is None else start.reindex(econ.index).fillna(0.0).to_numpy(float)
    x0 = _feasible(x0, upper, budget, c, groups)

    def profit(x):
        return float((gross_profit(x, n, g, c, k) - x).sum())

    def negative(y):
        return -profit(y * scale) / scale

    def gradient(y):
        return -(marginal_gross(y * scale, n, g, c, k) - 1.0)

    constraints = [{"type": "ineq", "fun": lambda y: budget / scale - y.sum(), "jac": lambda y: -np.ones_like(y)}]
    for pos, slots in groups:
        w = np.zeros(len(n))
        w[pos] = scale / (c[pos] * slots)  # contacts bought per unit of y, as a share of the slots
        constraints.append({"type": "ineq", "fun": lambda y, w=w: 1.0 - w @ y, "jac": lambda y, w=w: -w})
    best = x0
    spread = _feasible(upper * min(1.0, budget / max(upper.sum(), 1e-300)) * 0.5, upper, budget, c, groups)
    for first in (x0, spread):
        res = minimize(negative, first / scale, jac=gradient, method="SLSQP",
                       bounds=[(0.0, u / scale) for u in upper], constraints=constraints,
                       options={"ftol": 1e-14, "maxiter": 1000})
        x = _feasible(res.x * scale, upper, budget, c, groups)
        if profit(x) > profit(best):
            best = x
    return pd.Series(best, index=econ.index)


# ---------------------------------------------------------------- the two splits


def rule_of_thumb(econ: pd.DataFrame, budget: float, shares: dict[str, float]) -> tuple[pd.Series, pd.Series]:
    """(money the rule gives each cell, what it can spend). Each tier's share goes to its cells
    in proportion to ``rule_share`` (the playbook's channels; equal shares when absent), each
    cell spending up to ``rule_capacity`` (else its capacity)."""
    tier = econ.index.get_level_values(0) if isinstance(econ.index, pd.MultiIndex) else econ.index
    within = econ["rule_share"].astype(float) if "rule_share" in econ else pd.Series(1.0, index=econ.index)
    total = within.groupby(np.asarray(tier)).transform("sum").to_numpy()
    count = pd.Series(1.0, index=econ.index).groupby(np.asarray(tier)).transform("sum").to_numpy()
    weight = np.where(total > 0, within.to_numpy() / np.where(total > 0, total, 1.0), 1.0 / count)
    nominal = pd.Series([budget * shares.get(t, 0.0) for t in tier], index=econ.index, dtype=float) * weight
    limit = econ["rule_capacity"] if "rule_capacity" in econ else econ["capacity"]
    return nominal, np.minimum(nominal, limit)


def cell_splits(econ: pd.DataFrame, budget: float, k: float, shares: dict[str, float]) -> pd.DataFrame:
    """Rule of thumb vs data-driven split per cell: budget, spend, expected incremental profit
    (with the profit at the low and high ends of the response) and the marginal profit of the
    last unit of money (gross - 1)."""
    econ = cells(econ)
    nominal, rule = rule_of_thumb(econ, budget, shares)
    best = optimize(econ, budget, k, start=rule)
    out = pd.DataFrame(index=econ.index)
    out["rule_budget"] = nominal
    for name, spend in (("rule", rule), ("optimized", best)):
        out[f"{name}_spend"] = spend
        out[f"{name}_profit"] = expected_profit(spend, econ, k)
        out[f"{name}_profit_lo"] = expected_profit(spend, econ, k, "gross_lo")
        out[f"{name}_profit_hi"] = expected_profit(spend, econ, k, "gross_hi")
        out[f"{name}_marginal"] = marginal_gross(spend, *arrays(econ)[:3], k) - 1
    out["optimized_budget"] = out["optimized_spend"]
    return out


ROI_MIN_SPEND_SHARE = 0.01  # a ROI is read only on a spend of at least this share of the budget (and 1 unit of money)


def readable_roi(profit, spend, budget: float) -> np.ndarray:
    """profit / spend where the spend is large enough for the ratio to mean something: at least
    ROI_MIN_SPEND_SHARE of the budget and one unit of money; NaN otherwise. On a spend near
    zero the ratio is noise (0.29 lost on 0.30 spent prints as a ROI of -97 %)."""
    profit, spend = np.asarray(profit, dtype=float), np.asarray(spend, dtype=float)
    floor = max(1.0, ROI_MIN_SPEND_SHARE * float(budget))
    ok = spend >= floor
    return np.where(ok, profit / np.where(ok, spend, 1.0), np.nan)


def by_tier(cell_split: pd.DataFrame, tiers: list[str], budget: float = 0.0) -> pd.DataFrame:
    """The cell splits summed per tier (marginal: the best cell's), with a total row and ROI
    (NaN where the spend is too small to read one: :func:`readable_roi`)."""
    tier = cell_split.index.get_level_values(0)
    sums = [c for c in cell_split.columns if not c.endswith("_marginal")]
    out = cell_split[sums].groupby(np.asarray(tier)).sum().reindex(tiers).fillna(0.0)
    for name in ("rule", "optimized"):
        out[f"{name}_marginal"] = cell_split[f"{name}_marginal"].groupby(np.asarray(tier)).max().reindex(tiers)
    out.index.name = "tier"
    total = out.sum(numeric_only=True)
    total[["rule_marginal", "optimized_marginal"]] = np.nan
    out.loc["total"] = total
    for name in ("rule", "optimized"):
        out[f"{name}_roi"] = readable_roi(out[f"{name}_profit"], out[f"{name}_spend"], budget)
    return out
