"""RFM scores (ties share a score) and the named segments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import rfm


def test_quantile_score_splits_distinct_values_into_equal_bins():
    s = rfm.quantile_score(pd.Series(range(100)), 5)
    assert s.value_counts().sort_index().tolist() == [20] * 5
    assert s.iloc[0] == 1 and s.iloc[-1] == 5
    low_is_good = rfm.quantile_score(pd.Series(range(100)), 5, higher_is_better=False)
    assert low_is_good.iloc[0] == 5 and low_is_good.iloc[-1] == 1


def test_ties_share_a_score():
    # 60 % bought once, 25 % twice, 15 % three times
    f = pd.Series([1] * 60 + [2] * 25 + [3] * 15)
    s = rfm.quantile_score(f, 5)
    assert set(s[f == 1]) == {1}
    assert set(s[f == 2]) == {4}  # beats 60 % of customers: 1 + floor(5 x 0.60)
    assert set(s[f == 3]) == {5}  # beats 85 %
    assert rfm.quantile_score(pd.Series([7.0] * 10), 5).eq(1).all()
    assert rfm.quantile_score(pd.Series([], dtype=float), 5).empty


def test_segment_grid_covers_every_cell_once():
    cells = {}
    for name, (rs, fms, _) in rfm.SEGMENTS.items():
        for r in rs:
            for fm in fms:
                assert (r, fm) not in cells, f"{(r, fm)} in {name} and {cells.get((r, fm))}"
                cells[(r, fm)] = name
    assert set(cells) == {(r, fm) for r in range(1, 6) for fm in range(1, 6)}
    for name in ("champions", "loyal", "potential loyalists", "new", "at risk", "can't lose", "hibernating", "lost"):
        assert name in rfm.SEGMENTS


def customers(n: int = 200, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = rng.geometric(0.5, n)
    orders = days + rng.binomial(1, 0.2, n)
    return pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "recency_days": rng.integers(0, 500, n),
                         "purchase_days": days, "orders": orders, "revenue": np.round(rng.gamma(2, 50, n) * days, 2)})


def test_score_customers_and_named_segments():
    c = rfm.score_customers(customers(), bins=5)
    for col in ("r_score", "f_score", "m_score"):
        assert c[col].between(1, 5).all()
    assert c["rfm_segment"].notna().all()
    best = c.loc[c["recency_days"].idxmin()]
    assert best["r_score"] == 5
    # the most recent, most frequent, biggest spender is a champion
    top = c.assign(key=c["r_score"] * 100 + c["f_score"] * 10 + c["m_score"]).sort_values("key").iloc[-1]
    assert top["rfm_segment"] == "champions"
    worst = c.assign(key=c["r_score"] * 100 + c["f_score"] + c["m_score"]).sort_values("key").iloc[0]
    assert worst["rfm_segment"] == "lost"


def test_other_bin_counts_keep_segments_on_the_five_level_grid():
    c5 = rfm.score_customers(customers(), bins=5)
    c10 = rfm.score_customers(customers(), bins=10)
    assert c10["r_score"].max() == 10
    assert (c5["rfm_segment"] == c10["rfm_segment"]).all()  # segments do not depend on the score scale


def test_segment_table_adds_up():
    c = rfm.score_customers(customers(), bins=5)
    t = rfm.segment_table(c)
    assert t["customers"].sum() == len(c)
    assert t["customer_share"].sum() == pytest.approx(1.0)
    assert t["revenue_share"].sum() == pytest.approx(1.0)
    seg = t.index[0]
    part = c[c["rfm_segment"] == seg]
    assert t.at[seg, "average_order_value"] == pytest.approx(part["revenue"].sum() / part["orders"].sum())
    reading = rfm.segment_reading(t)
    assert reading["top_revenue_share"] >= 0.5 and reading["best"] == t["revenue_share"].idxmax()
    cuts = rfm.score_cuts(c)
    assert list(cuts.index) == [5, 4, 3, 2, 1]


def test_segment_names_never_contradict_the_lifecycle_stage():
    """Most customers long gone: an R score of 4-5 can lie past the churn line. A churned customer
    is never named champions / loyal / new ...: frequent or big spenders become 'lapsed loyal',
    the rest 'lapsed'; a dormant one is not a very recent buyer. Conversely a new, returning or
    active customer is never 'at risk' or 'lost'. Customers whose stage agrees with the grid name keep it."""
    c = customers(n=300, seed=4)
    churn_days = int(c["recency_days"].quantile(0.2))  # 80 % of customers are past the churn line
    c["stage"] = np.where(c["recency_days"] > churn_days, "churned", "active")
    grid = rfm.score_customers(c.drop(columns="stage"))
    named = rfm.score_customers(c)
    contradict = (named["stage"] == "churned") & named["rfm_segment"].isin(rfm.RECENT_NAMES)
    assert not contradict.any()
    assert not (named["stage"].isin(rfm.LIVE_STAGES) & named["rfm_segment"].isin(rfm.GONE_NAMES)).any()
    was_loyal = (named["stage"] == "churned") & grid["rfm_segment"].isin(["loyal", "champions"])
    assert was_loyal.any() and (named.loc[was_loyal, "rfm_segment"] == "lapsed loyal").all()
    agree = ~((named["stage"] == "churned") & grid["rfm_segment"].isin(rfm.RECENT_NAMES)) & ~(
        named["stage"].isin(rfm.LIVE_STAGES) & grid["rfm_segment"].isin(rfm.GONE_NAMES))
    assert (named.loc[agree, "rfm_segment"] == grid.loc[agree, "rfm_segment"]).all()
    hand = pd.Series(["loyal", "new", "lost", "can't lose", "at risk", "hibernating", "champions", "potential loyalists",
                      "new", "loyal", "champions"])
    stage = pd.Series(["churned", "churned", "active", "new", "returning", "dormant", "dormant", "dormant", "dormant",
                       "dormant", "active"])
    fm5 = pd.Series([5, 2, 1, 5, 3, 1, 5, 3, 1, 4, 5])
    assert rfm.reconcile_with_stage(hand, stage, fm5).tolist() == [
        "lapsed loyal", "lapsed", "active, low value", "loyal", "need attention", "hibernating", "loyal",
        "need attention", "about to sleep", "loyal", "champions"]
    t = rfm.segment_table(named)
    assert "lapsed loyal" in t.index and t.index.isin(rfm.SEGMENT_ORDER).all()  # every name has its catalogue words
