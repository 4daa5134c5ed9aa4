"""RFM: recency, frequency and monetary scores and the usual named segments.

Input is the customer table (one row per customer: recency_days, purchase_days, revenue, orders),
so everything here is customer-level pandas.

Scores. Each of R, F and M is a quantile score from 1 (worst) to ``bins`` (best): a customer's
score is 1 + floor(bins x the share of customers with a strictly worse value). Tied customers
always share a score: when 60 % of customers bought once, they all get F = 1 and the next score
used is the one a customer who beats 60 % of customers earns (F = 4 with five bins), instead of
splitting identical customers at random as rank-based quintiles do. R is scored on recency
(fewer days is better), F on purchase days, M on revenue net of refunds.

Without money (a brand whose orders carry no amount: revenue is unknown, NaN) M is not scored
(m_score is missing) and FM is the F score alone; the segment tables show no revenue.

Segments. Named on a 5 x 5 grid of R and FM = round((F + M) / 2), the scores taken on a five-level
scale whatever ``bins`` is (see :data:`SEGMENTS` for the cells).

Names never contradict the lifecycle stage. R is a rank among this brand's customers, so where most
customers are long gone an R of 4 can lie past the churn line, and where most buy often an R of 2
can still be active. When the customer table carries the lifecycle ``stage``, a name that claims a
recent purchase (champions, loyal, new, ...) is not given to a churned customer — they are *lapsed
loyal* (FM 4-5) or *lapsed* —, a dormant customer (silent past the active window) is not called a
very recent buyer (champions, new, potential loyalists, promising) but gets the name of the grid's
middle recency row (loyal, need attention, about to sleep), and a name that claims a long absence
(at risk, can't lose, hibernating, lost) is not given to a new, returning or active customer — they
are *loyal* (FM 4-5), *need attention* (FM 3) or *active, low value* (see :data:`STAGE_NAMES`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# name -> (R scores, FM scores, description); the cells cover the 5 x 5 grid exactly once
SEGMENTS: dict[str, tuple[tuple[int, ...], tuple[int, ...], str]] = {
    "champions": ((5,), (4, 5), "bought very recently, often and for a lot"),
    "loyal": ((3, 4), (4, 5), "buy often and spend well, a little less recently"),
    "potential loyalists": ((4, 5), (2, 3), "recent, with middling frequency and spend"),
    "new": ((5,), (1,), "bought very recently, once or for little"),
    "promising": ((4,), (1,), "recent, once or for little"),
    "need attention": ((3,), (3,), "middling on every count"),
    "about to sleep": ((3,), (1, 2), "fading, and were never frequent or big"),
    "at risk": ((1, 2), (3, 4), "were good customers, have not bought for long"),
    "can't lose": ((1, 2), (5,), "were the best customers, have not bought for long"),
    "hibernating": ((2,), (1, 2), "long gone, low frequency and spend"),
    "lost": ((1,), (1, 2), "longest gone, low frequency and spend"),
}
# names given instead of a grid name that would contradict the lifecycle stage
STAGE_NAMES: dict[str, str] = {
    "lapsed loyal": "were frequent or big spenders, now past the churn line",
    "lapsed": "past the churn line, middling or low frequency and spend",
    "active, low value": "bought within the active window, but rarely and for little",
}
RECENT_NAMES = frozenset({"champions", "loyal", "potential loyalists", "new", "promising", "need attention",
                          "about to sleep"})  # say the customer bought recently or is only fading
VERY_RECENT_NAMES = frozenset({"champions", "new", "potential loyalists", "promising"})  # R 4-5 only
GONE_NAMES = frozenset({"at risk", "can't lose", "hibernating", "lost"})  # say the customer has been gone long
LIVE_STAGES = frozenset({"new", "returning", "active"})
SEGMENT_ORDER = [*SEGMENTS, *STAGE_NAMES]


def quantile_score(values: pd.Series, bins: int, higher_is_better: bool = True) -> pd.Series:
    """1 + floor(bins x share of customers with a strictly worse value); ties share a score."""
    v = values.astype(float) if higher_is_better else -values.astype(float)
    n = len(v)
    if n == 0:
        return pd.Series([], dtype="int64", index=values.index)
    worse = v.rank(method="min") - 1
    return (1 + np.floor(bins * worse / n)).clip(1, bins).astype("int64")


def segment_of(r5: pd.Series, fm5: pd.Series) -> pd.Series:
    out = pd.Series(pd.NA, index=r5.index, dtype="object")
    for name, (rs, fms) in ((k, v[:2]) for k, v in SEGMENTS.items()):
        out[r5.isin(rs) & fm5.isin(fms)] = name
    return out


def reconcile_with_stage(segment: pd.Series, stage: pd.Series, fm5: pd.Series) -> pd.Series:
    """Grid names that contradict the lifecycle stage renamed (module docstring): a churned
    customer is never champions / loyal / new ..., a dormant one never champions / new /
    potential loyalists / promising, a new, returning or active one never at risk / lost ...;
    every other name is kept."""
    out = segment.copy()
    churned_recent = (stage == "churned") & segment.isin(RECENT_NAMES)
    out[churned_recent & (fm5 >= 4)] = "lapsed loyal"
    out[churned_recent & (fm5 < 4)] = "lapsed"
    dormant_recent = (stage == "dormant") & segment.isin(VERY_RECENT_NAMES)
    out[dormant_recent & (fm5 >= 4)] = "loyal"
    out[dormant_recent & (fm5 == 3)] = "need attention"
    out[dormant_recent & (fm5 <= 2)] = "about to sleep"
    live_gone = stage.isin(LIVE_STAGES) & segment.isin(GONE_NAMES)
    out[live_gone & (fm5 >= 4)] = "loyal"
    out[live_gone & (fm5 == 3)] = "need attention"
    out[live_gone & (fm5 <= 2)] = "active, low value"
    return out


def has_money(customers: pd.DataFrame) -> bool:
    """False when no customer has a revenue figure (the brand's orders carry no amount)."""
    return "revenue" in customers.columns and bool(customers["revenue"].notna().any())


def score_customers(customers: pd.DataFrame, bins: int = 5) -> pd.DataFrame:
    """Add r_score, f_score, m_score (1..bins) and rfm_segment to the customer table (named so
    as not to contradict the ``stage`` column where the table has one)."""
    out = customers.copy()
    rec, freq, mon = out["recency_days"], out["purchase_days"], out["revenue"]
    out["r_score"] = quantile_score(rec, bins, higher_is_better=False)
    out["f_score"] = quantile_score(freq, bins)
    r5 = quantile_score(rec, 5, higher_is_better=False)
    if has_money(out):
        out["m_score"] = quantile_score(mon, bins)
        fm5 = np.floor((quantile_score(freq, 5) + quantile_score(mon, 5)) / 2 + 0.5).astype("int64")
    else:  # no amount: M unknown, never a made-up score; segments on R and F
        out["m_score"] = pd.Series(pd.NA, index=out.index, dtype="Int64")
        fm5 = quantile_score(freq, 5)
    out["rfm_segment"] = segment_of(r5, fm5)
    if "stage" in out.columns:
        out["rfm_segment"] = reconcile_with_stage(out["rfm_segment"], out["stage"], fm5)
    return out


def score_cuts(customers: pd.DataFrame) -> pd.DataFrame:
    """The value range behind each score (rows: score; columns R, F, M as 'lo–hi')."""
    rows = {}
    scores = [("R: days since last purchase", "r_score", "recency_days"), ("F: purchase days", "f_score", "purchase_days")]
    if has_money(customers):
        scores.append(("M: revenue, net", "m_score", "revenue"))
    for label, score, value in scores:
        g = customers.groupby(score)[value].agg(["min", "max", "count"])
        fmt = "{:,.0f}"
        rows[label] = {s: (fmt.format(r["min"]) if r["min"] == r["max"] else f"{fmt.format(r['min'])}–{fmt.format(r['max'])}")
                       + f" ({int(r['count']):,})" for s, r in g.iterrows()}
    table = pd.DataFrame(rows)
    table.index.name = "score"
    return table.sort_index(ascending=False).fillna("—")


def segment_table(customers: pd.DataFrame) -> pd.DataFrame:
    """Per segment: customers, share of customers, revenue, share of revenue, average order
    value (revenue / orders), mean purchase days and median recency. (What each segment means, in
    words, is the catalogue's rfm.definition.*: helpers.text.lifecycle.segment_table.)"""
    c = customers
    total_rev = c["revenue"].sum()
    g = c.groupby("rfm_segment").agg(customers=("customer_id", "size"), revenue=("revenue", "sum"),
                                     orders=("orders", "sum"), purchase_days=("purchase_days", "mean"),
                                     recency_days=("recency_days", "median"))
    if not has_money(c):  # no amount: revenue unknown, not 0
        g["revenue"] = np.nan
    g = g.reindex(SEGMENT_ORDER).dropna(how="all")
    g["customers"] = g["customers"].fillna(0).astype("int64")
    g["customer_share"] = g["customers"] / max(1, len(c))
    g["revenue_share"] = g["revenue"] / total_rev if total_rev else np.nan
    g["average_order_value"] = g["revenue"] / g["orders"].where(g["orders"] > 0)
    g.index.name = "segment"
    return g[["customers", "customer_share", "revenue", "revenue_share", "average_order_value",
              "purchase_days", "recency_days"]]


WIN_BACK = ("at risk", "can't lose")  # bought often (or for a lot) and have not bought for long


def segment_reading(table: pd.DataFrame) -> dict | None:
    """The numbers behind the segment findings: the segments that together carry half the revenue
    (largest first), the largest by revenue and by headcount, and the win-back pool; None when no
    customer was segmented. Without money (revenue unknown) the revenue figures are None."""
    if table.empty:
        return None
    biggest = table["customers"].idxmax()
    risk = [s for s in WIN_BACK if s in table.index]
    out = {"money": not table["revenue"].isna().all(), "biggest": biggest,
           "biggest_customers": int(table.at[biggest, "customers"]),
           "biggest_share": float(table.at[biggest, "customer_share"]),
           "risk": risk, "risk_customers": int(table.loc[risk, "customers"].sum()) if risk else 0}
    if not out["money"]:
        return out
    t = table.sort_values("revenue_share", ascending=False)
    n_top = int((t["revenue_share"].cumsum() < 0.5).sum()) + 1
    top = t.iloc[:n_top]
    best = t.iloc[0]
    out.update(top=list(top.index), top_customer_share=float(top["customer_share"].sum()),
               top_revenue_share=float(top["revenue_share"].sum()), best=t.index[0],
               best_customers=int(best["customers"]), best_revenue_share=float(best["revenue_share"]),
               best_order_value=float(best["average_order_value"]),
               risk_revenue_share=float(t.loc[risk, "revenue_share"].sum()) if risk else 0.0,
               biggest_revenue_share=float(table.at[biggest, "revenue_share"]))
    return out
