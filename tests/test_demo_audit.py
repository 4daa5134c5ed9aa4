"""On the demo brand the audit finds every planted fault with exactly the planted count."""

from __future__ import annotations

import pandas as pd
import pytest

from helpers import audit, config, demo, sources


@pytest.fixture(scope="module")
def demo_audit():
    params = config.load_params(brand="demo")
    data = sources.load(params)  # generates data/demo on first use
    truth = demo.load_truth()
    period_end = config.period_end(truth["latest_complete_month"], "month")
    clean = audit.clean_orders(data, period_end)
    return {"data": data, "truth": truth, "faults": truth["faults"], "clean": clean,
            "profile": audit.profile_sources(data).set_index("source"), "period_end": period_end}


def test_latest_complete_period_ignores_late_rows(demo_audit):
    _, last = sources.order_date_range(demo_audit["data"].params)
    assert last > pd.Timestamp(demo_audit["truth"]["data_end"])  # late rows exist...
    assert config.latest_complete_period(last, "month") == "2025-06"  # ...but July is incomplete


def test_every_cleaning_count_matches_the_planted_faults(demo_audit):
    faults, removed = demo_audit["faults"], demo_audit["clean"].counts
    assert removed["unparseable values"] == faults["unparseable_amount_rows"]
    assert removed["after period end"] == faults["after_period_end_rows"]
    assert removed["exact duplicates"] == faults["exact_duplicate_rows"]
    assert removed["conflicting duplicates"] == faults["conflicting_duplicate_ids"]
    assert removed["conflicting_duplicate_ids"] == faults["conflicting_duplicate_ids"]
    assert removed["guest orders"] == faults["guest_orders"]
    assert removed["refunds"] == faults["refund_rows"]
    assert removed["zero-amount orders"] == faults["zero_amount_rows"]


def test_source_profiles_match(demo_audit):
    profile, faults = demo_audit["profile"], demo_audit["faults"]
    assert profile.loc["pos_orders", "repaired_money_text"] == faults["money_as_text_rows"]
    assert profile.loc["pos_orders", "parse_failures"] == faults["unparseable_amount_rows"]
    for source, n in faults["guest_orders_by_source"].items():
        assert profile.loc[source, "missing_customer_id"] == n
    for source, n in demo_audit["truth"]["total_rows_by_source"].items():
        if source in profile.index:
            assert profile.loc[source, "raw_rows"] == n
    failures = audit.parse_failures(demo_audit["data"])
    assert failures["rows"].sum() == faults["unparseable_amount_rows"]
    assert set(failures["raw column"]) == {"实付金额"}


def test_data_islands_match(demo_audit):
    matches = audit.key_match(demo_audit["data"], demo_audit["clean"].orders).set_index(["from", "to"])
    faults = demo_audit["faults"]
    orders = matches.loc[("orders (clean)", "customers")]
    assert orders["unmatched_ids"] == faults["unknown_customer_ids"]
    assert orders["rows"] - orders["matched_rows"] == faults["unknown_customer_orders"]
    interactions = matches.loc[("interactions", "customers")]
    assert interactions["rows"] - interactions["matched_rows"] == faults["unknown_customer_interactions"]
    assert matches.loc[("campaigns", "customers"), "match_rate"] == 1.0


def test_the_outage_and_nothing_else_is_flagged(demo_audit):
    gaps = audit.find_gaps(audit.daily_volume(demo_audit["data"], demo_audit["period_end"]))
    days = demo_audit["faults"]["outage_days"]
    assert len(gaps) == 1
    gap = gaps.iloc[0]
    assert gap["source"] == "online_orders"
    assert (str(gap["first_day"]), str(gap["last_day"])) == (days[0], days[-1])


def test_planted_outliers_are_flagged(demo_audit):
    flagged = demo_audit["clean"].orders.filter(lambda t: t.is_outlier).order_id.execute()
    assert sorted(flagged) == sorted(demo_audit["faults"]["outlier_order_ids"])
