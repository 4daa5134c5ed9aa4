"""Notebook 05 helpers: tiers, the budget split (closed-form optimum, never worse than the rule),
suppressions and the frequency cap, the CRM exports, the measured-or-assumed response, and the
notebook itself with no campaign history and with a measured lift from an earlier period."""

from __future__ import annotations

import json
import math
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from helpers import budget, config, sources, tiers
from helpers.config import Tiers
from helpers.report import open_run
from tests.conftest import write_params

END = config.period_end("2024-06", "month")
NEXT_LABEL, NEXT_START, NEXT_END = tiers.next_period("2024-06", "month")


def make_customers(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """The columns notebooks 02 and 04 write, hand-built: CLV strictly decreasing with the id."""
    rng = np.random.default_rng(seed)
    orders = rng.integers(1, 8, n)
    return pd.DataFrame({
        "customer_id": [f"c{i:04d}" for i in range(n)],
        "stage": np.array(tiers.STAGES)[np.arange(n) % len(tiers.STAGES)],
        "orders": orders,
        "revenue": orders * rng.uniform(50, 150, n),
        "clv": np.linspace(1000, 1, n),
        "clv_low": np.linspace(700, 0.5, n),
        "clv_high": np.linspace(1400, 2, n),
        "p_alive": rng.uniform(0.1, 0.99, n),
        "expected_purchases_30": rng.uniform(0, 1, n),
    })


def empty_history() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": pd.Series(dtype=str), "in_crm": pd.Series(dtype=bool),
                         "opted_out": pd.Series(dtype=bool), "complaint": pd.Series(dtype=bool),
                         "last_contact_ts": pd.Series(dtype="datetime64[ns]")})


# ---------------------------------------------------------------- inputs and params


def test_missing_notebooks_are_named_not_a_key_error():
    with pytest.raises(tiers.MissingInputsError, match=r"02 and 04.*--only 02,04,05"):
        tiers.check_inputs(None, brand="demo")
    only_lifecycle = make_customers().drop(columns=["clv", "clv_low", "clv_high", "p_alive", "expected_purchases_30"])
    with pytest.raises(tiers.MissingInputsError, match=r"notebook 04 \(CLV: clv, .*--only 04,05") as err:
        tiers.check_inputs(only_lifecycle, brand="cdnow")
    assert "--brand cdnow" in str(err.value) and "02" not in str(err.value).split("--only")[1]
    full = make_customers()
    assert tiers.check_inputs(full) is full


@pytest.mark.parametrize("change, message", [
    ({"rule_of_thumb": {"high": 0.8, "potential": 0.1, "general": 0.04, "low": 0.01}}, "add up to 1"),
    ({"cost_per_contact": {"sms": 0.0, "phone": 3.0}}, "above 0"),
    ({"method": "absolute", "high_threshold": 100.0}, "needs high_threshold and low_threshold"),
    ({"playbook": [{"tier": "high", "stage": "*", "action": "vip_service", "channel": "pigeon"}]}, "has no cost"),
    ({"playbook": [{"tier": "vip", "stage": "*", "action": "no_contact"}]}, "is not one of"),
    ({"playbook": [{"tier": "low", "stage": "*", "action": "no_contact"}] * 2}, "more than one row"),
    ({"frequency_cap_days": 0}, "greater than or equal to 1"),
    ({"high_share": 0.6, "low_share": 0.5}, "must be below 1"),
    ({"channels": {"high": ["pigeon"]}}, r"channels.high: \['pigeon'\] have no cost"),
    ({"channels": {"vip": ["sms"]}}, "tier 'vip' is not one of"),
    ({"channels": {"high": []}}, "needs at least one channel"),
    ({"channel_response_factor": {"sms": -1.0}}, "channel_response_factor"),
    ({"retention_effect": 1.5}, "less than or equal to 1"),
])
def test_tiers_params_are_checked(change, message):
    with pytest.raises(ValidationError, match=message):
        Tiers(**change)


def test_bundled_params_have_a_valid_playbook():
    for brand in ("demo", "cdnow", "online_retail"):
        cfg = config.load_params(brand=brand).tiers
        pb = tiers.playbook_frame(cfg)
        assert len(pb) == len(tiers.TIERS) * len(tiers.STAGES)
        assert set(pb["action"]) <= set(tiers.ACTIONS)


def test_playbook_most_specific_row_wins():
    cfg = Tiers(playbook=[
        {"tier": "*", "stage": "*", "action": "routine_offer", "channel": "sms", "offer_value": 2},
        {"tier": "low", "stage": "*", "action": "no_contact"},
        {"tier": "low", "stage": "churned", "action": "automated_winback", "channel": "app_push"},
    ])
    pb = tiers.playbook_frame(cfg).set_index(["tier", "stage"])
    assert pb.loc[("high", "active"), "action"] == "routine_offer"
    assert pb.loc[("high", "active"), "offer_value"] == 2
    assert pb.loc[("low", "active"), "action"] == "no_contact"
    assert pb.loc[("low", "churned"), "action"] == "automated_winback"
    assert pb.loc[("low", "churned"), "channel_cost"] == cfg.cost_per_contact["app_push"]


# ---------------------------------------------------------------- tiers


def test_quantile_tiers_and_the_potential_rule():
    c = make_customers(100)
    c["orders"] = 1
    c["revenue"] = 100.0  # typical order = 100, past gross profit = 30 for everyone
    c.loc[20, "clv"], c.loc[21, "clv"] = 29.0, 31.0  # keep the CLV order, straddle the 1.0 ratio
    c["clv"] = np.where(c.index < 20, 1000 - c.index, c["clv"])
    c.loc[22:, "clv"] = np.linspace(25, 1, 78)
    out = tiers.assign_tiers(c, Tiers(high_share=0.1, low_share=0.4, potential_ratio=1.0), margin=0.3)
    assert (out["tier"] == "high").sum() == 10 and out.loc[:9, "tier"].eq("high").all()
    assert (out["tier"] == "low").sum() == 40 and out.loc[60:, "tier"].eq("low").all()
    assert out.loc[21, "tier"] == "potential" and out.loc[20, "tier"] == "general"  # 31/30 >= 1 > 29/30
    assert set(out.loc[10:59, "tier"]) <= {"potential", "general"}
    assert out.loc[[10, 19, 21], "tier"].eq("potential").all()


def test_potential_counts_a_refunded_customer_as_one_typical_order():
    c = make_customers(50)
    c["orders"], c["revenue"] = 1, 100.0
    c.loc[25, "revenue"] = 0.0  # all refunded: upside judged against one typical order, not infinite
    c.loc[25, "clv"] = 20.0
    out = tiers.assign_tiers(c, Tiers(potential_ratio=1.0), margin=0.3)
    assert out.loc[25, "upside"] == pytest.approx(20 / 30)
    assert out.loc[25, "tier"] != "potential"


def test_absolute_tiers_and_summary_shares():
    c = make_customers(200)
    cfg = Tiers(method="absolute", high_threshold=800, low_threshold=100, potential_ratio=1e9)
    out = tiers.assign_tiers(c, cfg, margin=0.3)
    assert out.loc[out["clv"] >= 800, "tier"].eq("high").all()
    assert out.loc[out["clv"] < 100, "tier"].eq("low").all()
    assert out.loc[(out["clv"] >= 100) & (out["clv"] < 800), "tier"].eq("general").all()
    s = tiers.tier_summary(out)
    assert s["customers"].sum() == 200
    assert s["clv_share"].sum() == pytest.approx(1) and s["revenue_share"].sum() == pytest.approx(1)
    stage_cols = [col for col in s.columns if col.startswith("stage: ")]
    assert s.loc[["high", "general", "low"], stage_cols].sum(axis=1).to_numpy() == pytest.approx(1)
    assert s.loc["high", "clv"] == pytest.approx(out.loc[out["clv"] >= 800, "clv"].sum())


def test_concentration():
    c = make_customers(100)
    c["clv"] = 0.0
    c.loc[0, "clv"] = 100.0
    conc = tiers.concentration(tiers.assign_tiers(c, Tiers(), 0.3))
    assert conc["top_1_share"] == pytest.approx(1) and conc["gini"] == pytest.approx(0.99)
    c["clv"] = 5.0
    conc = tiers.concentration(tiers.assign_tiers(c, Tiers(), 0.3))
    assert conc["top_10_share"] == pytest.approx(0.1) and conc["gini"] == pytest.approx(0, abs=1e-12)


# ---------------------------------------------------------------- the budget split


def econ_frame(n, g, c, cap=None) -> pd.DataFrame:
    n, g, c = (np.asarray(a, dtype=float) for a in (n, g, c))
    cap = np.full(len(n), 1e12) if cap is None else np.asarray(cap, dtype=float)
    return pd.DataFrame({"contactable": n, "gross": g, "gross_lo": g / 2, "gross_hi": g * 1.5,
                         "cost_per_contact": c, "capacity": cap}, index=list(tiers.TIERS)[: len(n)])


def closed_form(n, g, c, k, budget):
    """Water-filling: spend where the marginal gross profit equals the budget's shadow price lambda,
    lambda >= 1 (an extra unit must at least pay for itself). Interior solution only."""
    n, g, c = (np.asarray(a, dtype=float) for a in (n, g, c))
    w = n * c / k
    a = np.log(g * k / (c * -math.expm1(-k)))
    log_lam = max(0.0, (np.sum(w * a) - budget) / np.sum(w))
    return w * (a - log_lam), math.exp(log_lam)


@pytest.mark.parametrize("k", [0.5, 1.0, 2.0])
def test_optimum_matches_the_closed_form_when_the_budget_binds(k):
    n, g, c, budget = [500, 300, 1200, 2000], [6.0, 2.0, 1.5, 0.8], [2.5, 0.9, 0.6, 0.1], 900.0
    expected, lam = closed_form(n, g, c, k, budget)
    assert lam > 1 and (expected > 0).all()  # the fixture really is interior and budget-bound
    got = tiers.optimize(econ_frame(n, g, c), budget, k)
    assert got.sum() == pytest.approx(budget, rel=1e-6)
    assert got.to_numpy() == pytest.approx(expected, rel=1e-4, abs=1e-3)
    # equal marginal returns at the optimum
    assert tiers.marginal_gross(got, n, g, c, k) == pytest.approx(np.full(4, lam), rel=1e-4)


def test_optimum_leaves_money_unspent_when_more_contacts_lose_money():
    n, g, c, k = [100, 100], [2.0, 0.3], [1.0, 1.0], 1.0
    expected, lam = closed_form(n[:1], g[:1], c[:1], k, 1e9)
    assert lam == 1
    got = tiers.optimize(econ_frame(n, g, c), 1e6, k)
    assert got.iloc[0] == pytest.approx(expected[0], rel=1e-4)
    assert got.iloc[1] == pytest.approx(0, abs=1e-6)  # first contact returns 0.3 * 1.58 < 1: never funded
    assert got.sum() < 1e6


def test_capacity_binds():
    n, g, c = [100, 100], [5.0, 5.0], [1.0, 1.0]
    got = tiers.optimize(econ_frame(n, g, c, cap=[50.0, 1e9]), 1e6, 1.0)
    assert got.iloc[0] == pytest.approx(50.0)


def test_rule_of_thumb_is_capped_by_capacity():
    e = econ_frame([10, 10, 10, 10], [1, 1, 1, 1], [1, 1, 1, 1], cap=[100, 1e9, 1e9, 1e9])
    nominal, spend = tiers.rule_of_thumb(e, 1000, {"high": 0.8, "potential": 0.15, "general": 0.04, "low": 0.01})
    assert nominal.tolist() == pytest.approx([800, 150, 40, 10])
    assert spend.tolist() == pytest.approx([100, 150, 40, 10])


def test_allocation_within_budget_and_caps_and_never_worse_than_the_rule():
    rng = np.random.default_rng(7)
    shares = {"high": 0.80, "potential": 0.15, "general": 0.04, "low": 0.01}
    for _ in range(60):
        n = rng.integers(0, 2000, 4)
        g = rng.uniform(0, 6, 4)
        c = rng.uniform(0.01, 5, 4)
        cap = n * c * rng.integers(1, 4, 4)
        e = econ_frame(n, g, c, cap)
        budget, k = float(rng.uniform(0, 20000)), float(rng.uniform(0.2, 4))
        _, rule = tiers.rule_of_thumb(e, budget, shares)
        best = tiers.optimize(e, budget, k, start=rule)
        assert best.sum() <= budget * (1 + 1e-9) + 1e-9
        assert (best >= 0).all() and (best.to_numpy() <= cap + 1e-6).all()
        assert tiers.expected_profit(best, e, k).sum() >= tiers.expected_profit(rule, e, k).sum() - 1e-6


def test_compare_splits_totals():
    e = econ_frame([500, 300, 1200, 2000], [3.0, 2.0, 1.5, 0.8], [2.5, 0.9, 0.6, 0.1])
    cmp = tiers.compare_splits(e, Tiers(budget=900))
    t = cmp.loc["total"]
    assert t.rule_spend == pytest.approx(900) and t.optimized_spend <= 900 + 1e-6
    assert t.optimized_profit >= t.rule_profit
    assert t.optimized_profit_lo <= t.optimized_profit <= t.optimized_profit_hi
    assert t.optimized_roi == pytest.approx(t.optimized_profit / t.optimized_spend)


# ---------------------------------------------------------------- suppressions, cap, exports


def history_fixture() -> pd.DataFrame:
    rows = [  # (id, in_crm, opted_out, complaint, last contact)
        ("c0000", True, True, False, None),
        ("c0001", True, False, True, None),
        ("c0002", True, False, False, "2024-06-25 10:00"),  # 5 days before the end: recent
        ("c0003", True, False, False, "2024-06-10 10:00"),  # 20 days before: cap pushes the first contact
    ]
    h = pd.DataFrame(rows, columns=["customer_id", "in_crm", "opted_out", "complaint", "last_contact_ts"])
    h["last_contact_ts"] = pd.to_datetime(h["last_contact_ts"])
    ids = pd.DataFrame({"customer_id": [f"c{i:04d}" for i in range(5, 200)], "in_crm": True, "opted_out": False,
                        "complaint": False, "last_contact_ts": pd.NaT})
    return pd.concat([h, ids], ignore_index=True)  # c0004 is missing from the CRM


def plan_fixture(cfg: Tiers, has_crm: bool = True) -> pd.DataFrame:
    frame = tiers.assign_tiers(make_customers(200), cfg, margin=0.3)
    return tiers.plan_contacts(frame, history_fixture(), cfg, period_end=END, next_end=NEXT_END, has_crm=has_crm)


CONTACT_ALL = [{"tier": "*", "stage": "*", "action": "routine_offer", "channel": "sms", "offer": "5 off", "offer_value": 5}]


def test_suppressions_and_the_frequency_cap():
    cfg = Tiers(playbook=CONTACT_ALL, frequency_cap_days=30, suppress_recent_days=14)
    plan = plan_fixture(cfg).set_index("customer_id")
    assert plan.loc["c0000", "suppressed"] == "opted_out"
    assert plan.loc["c0001", "suppressed"] == "complaint"
    assert plan.loc["c0002", "suppressed"] == "recent_contact"
    assert plan.loc["c0004", "suppressed"] == "not_in_crm"
    assert plan.loc["c0003", "suppressed"] == ""
    # contacted 2024-06-10: with a 30-day cap the next contact is 2024-07-10, one fits in July
    assert plan.loc["c0003", "not_before"] == pd.Timestamp("2024-07-10")
    assert plan.loc["c0003", "allowed"] == 1
    # never contacted: from 2024-07-01, days 1 and 31 -> two contacts 30 days apart
    assert plan.loc["c0005", "not_before"] == pd.Timestamp("2024-07-01") and plan.loc["c0005", "allowed"] == 2
    assert not plan.loc[["c0000", "c0001", "c0002", "c0004"], "eligible"].any()
    table = tiers.suppression_table(plan.reset_index())
    assert table.loc["opted_out", "customers"] == 1 and table.loc["contactable", "customers"] == 196
    # without a CRM table nobody is suppressed for missing from it
    assert plan_fixture(cfg, has_crm=False).set_index("customer_id").loc["c0004", "suppressed"] == ""


def test_recent_suppression_window_and_cap_leave_no_room():
    cfg = Tiers(playbook=CONTACT_ALL, frequency_cap_days=45, suppress_recent_days=0)
    plan = plan_fixture(cfg).set_index("customer_id")
    assert plan.loc["c0002", "suppressed"] == ""  # no recency suppression configured
    assert plan.loc["c0002", "not_before"] == pd.Timestamp("2024-08-09") and plan.loc["c0002", "allowed"] == 0
    assert not plan.loc["c0002", "eligible"]


@pytest.fixture
def funded_plan():
    cfg = Tiers(budget=150.0, playbook=[
        {"tier": "high", "stage": "*", "action": "vip_service", "channel": "phone", "offer_value": 0},
        {"tier": "potential", "stage": "*", "action": "growth_offer", "channel": "sms", "offer_value": 5},
        {"tier": "general", "stage": "*", "action": "routine_offer", "channel": "sms", "offer_value": 3},
        {"tier": "low", "stage": "*", "action": "no_contact"},
        {"tier": "low", "stage": "churned", "action": "automated_winback", "channel": "app_push", "offer_value": 1},
    ], frequency_cap_days=14)
    plan = plan_fixture(cfg)
    response = tiers.assumed_response(cfg, 30)
    plan, econ = tiers.tier_economics(plan, response, cfg, margin=0.3)
    cmp = tiers.compare_splits(econ, cfg)
    spend = cmp.loc[list(tiers.TIERS), "optimized_spend"]
    return cfg, tiers.assign_contacts(plan, spend), econ, cmp, spend, response


def test_contacts_follow_the_money_the_cap_and_the_priority(funded_plan):
    cfg, plan, econ, cmp, spend, _ = funded_plan
    assert (plan["contacts"] <= plan["allowed"]).all()
    assert plan.loc[~plan["eligible"], "contacts"].eq(0).all()
    by_tier = plan.groupby("tier", observed=False)["budget"].sum()
    for t in tiers.TIERS:
        assert by_tier[t] <= spend[t] + 0.01 * (plan["tier"] == t).sum()
    assert plan["budget"].sum() <= cfg.budget + 1e-6
    # priority follows predicted CLV within a tier: nobody is skipped for a lower-CLV customer
    for t in tiers.TIERS:
        e = plan[(plan["tier"] == t) & plan["eligible"]].sort_values("clv_rank")
        reached = e["contacts"].to_numpy() > 0
        assert not (np.diff(reached.astype(int)) > 0).any()
    assert econ.loc[("high", "phone"), "cost_per_contact"] == pytest.approx(cfg.cost_per_contact["phone"])


def test_exports_schema_no_duplicates_suppressions_and_counts(funded_plan, tmp_path):
    cfg, plan, econ, cmp, spend, response = funded_plan
    summary = tiers.write_exports(tmp_path / "exports", plan, "CNY")
    files = sorted(p.name for p in (tmp_path / "exports").glob("*.csv"))
    assert files == sorted([f"{a}.csv" for a in tiers.CONTACT_ACTIONS] + ["do_not_contact.csv"])
    parts = [pd.read_csv(tmp_path / "exports" / f"{a}.csv", dtype={"customer_id": str}) for a in tiers.CONTACT_ACTIONS]
    for part in parts:
        assert tuple(part.columns) == tiers.EXPORT_COLUMNS
    rows = pd.concat([p for p in parts if len(p)], ignore_index=True)
    assert len(rows) > 0 and not rows["customer_id"].duplicated().any()
    assert sorted(rows["priority"]) == list(range(1, len(rows) + 1))
    dnc = pd.read_csv(tmp_path / "exports" / "do_not_contact.csv")
    assert set(dnc["customer_id"]) == {"c0000", "c0001", "c0002", "c0004"}
    assert not set(rows["customer_id"]) & set(dnc["customer_id"])
    assert (pd.to_datetime(rows["not_before"]) >= NEXT_START).all()
    assert (rows["contacts"] >= 1).all() and (rows["contacts"] <= 3).all()  # 14-day cap in a 31-day month
    assert rows["budget"].sum() <= cfg.budget + 1e-6
    # the report's counts are the files' counts
    actions = tiers.action_summary(plan).groupby("action", observed=True)[["customers", "contacts", "budget"]].sum()
    s = summary.set_index("action")
    for a in tiers.CONTACT_ACTIONS:
        n = len(rows[rows["action"] == a])
        assert s.loc[a, "customers"] == n == (actions.loc[a, "customers"] if a in actions.index else 0)
        assert s.loc[a, "budget"] == pytest.approx(rows.loc[rows["action"] == a, "budget"].sum())
    summ = tiers.tier_summary(plan)
    m = tiers.metrics(summ, tiers.concentration(plan), cmp, econ, response, plan, summary, cfg, NEXT_LABEL)
    assert {"counts", "clv_share", "budget", "expected_profit"} <= set(m)
    assert set(m["budget"]) == {"rule_of_thumb", "optimized"} and set(m["expected_profit"]) == {"rule_of_thumb", "optimized"}
    assert sum(v["customers"] for v in m["actions"].values()) == len(rows)
    assert m["exports"]["exports/do_not_contact.csv"] == 4
    assert m["response_source"] == "assumed"
    # a second write replaces the files (nothing stale stays)
    (tmp_path / "exports" / "old_list.csv").write_text("x\n")
    tiers.write_exports(tmp_path / "exports", plan, "CNY")
    assert not (tmp_path / "exports" / "old_list.csv").exists()


def test_customer_columns_are_tier_and_action(funded_plan):
    plan = funded_plan[1]
    cols = tiers.customer_columns(plan)
    assert list(cols.columns) == ["customer_id", "tier", "action"]
    assert set(cols["action"]) <= set(tiers.ACTIONS)
    assert cols.loc[plan["suppressed"].ne("").to_numpy(), "action"].eq("no_contact").all()


# ---------------------------------------------------------------- measured or assumed response


def response_doc(by: str, groups: dict[str, float], channel: str | None = "sms") -> dict:
    def rec(pp):
        return {"n_treatment": 400, "n_control": 100, "repurchase_pp": pp, "repurchase_pp_ci": [pp - 0.02, pp + 0.02],
                "revenue_per_customer": 10.0, "revenue_per_customer_ci": [2.0, 18.0], "cost_per_customer": 1.5}
    doc = {"campaign_id": "spring", "arm": "treatment", "period": "2024-05", "by": by, "window_days": 21,
           "response": {k: rec(v) for k, v in groups.items()}, "overall": rec(0.025)}
    return doc | ({"channel": channel} if channel else {})


def test_no_history_means_assumptions():
    cfg = Tiers()
    r = tiers.load_response(None, plan_fixture(cfg), cfg, 30)
    assert r.kind == "assumed" and r.fallback == "" and r.band == cfg.assumed_response_band
    cells = r.table.index
    assert set(cells) == {(t, ch) for t, chans in tiers.tier_channels(cfg).items() for ch in chans}
    assert all(r.table.loc[c, "response"] == cfg.assumed_response[c[0]] for c in cells)
    assert (r.table["source"] == "assumed").all()
    assert r.table.loc[("high", "phone"), "response_lo"] == pytest.approx(cfg.assumed_response["high"] * 0.5)


def test_measured_by_tier_by_stage_and_by_segment(tmp_path):
    cfg = Tiers(playbook=CONTACT_ALL)
    plan = plan_fixture(cfg)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(response_doc("tier", {"high": 0.05, "low": 0.01})))
    r = tiers.load_response(("2024-05", path), plan, cfg)
    assert r.kind == "measured" and r.window_days == 21 and r.campaign_id == "spring" and r.measured_bases() == ["overall", "tier"]
    assert r.table.loc[("high", "sms"), "response"] == 0.05 and r.table.loc[("low", "sms"), "response"] == 0.01
    assert r.table.loc[("general", "sms"), "response"] == 0.025  # not measured for this tier: the overall lift
    assert r.table.loc[("high", "sms"), "response_lo"] == pytest.approx(0.03)
    assert r.estimate == "raw difference" and (r.table["source"] == "measured").all()

    path.write_text(json.dumps(response_doc("stage", {s: 0.01 * (i + 1) for i, s in enumerate(tiers.STAGES)})))
    r = tiers.load_response(("2024-05", path), plan, cfg)
    mix = plan.loc[(plan["tier"] == "high") & plan["eligible"], "stage"].value_counts(normalize=True)
    expected = sum(w * 0.01 * (tiers.STAGES.index(s) + 1) for s, w in mix.items())
    assert r.table.loc[("high", "sms"), "response"] == pytest.approx(expected)

    path.write_text(json.dumps(response_doc("segment", {"recent": 0.05, "lapsed": 0.01})))
    r = tiers.load_response(("2024-05", path), plan, cfg)
    assert (r.table["response"] == 0.025).all() and r.measured_bases() == ["overall"] and r.by == "segment"

    path.write_text("{not json")
    r = tiers.load_response(("2024-05", path), plan, cfg)
    assert r.kind == "assumed" and r.fallback == "unreadable" and r.fallback_values["period"] == "2024-05"


# ---------------------------------------------------------------- contact history in the engine


def history_params(tmp_path, brand: str):
    """Params of a small brand whose orders, CRM opt-outs, interactions and campaign contacts
    are the CSV files the test wrote into ``tmp_path``."""
    return write_params(tmp_path, f"""
        brand: {brand}
        sources:
          orders:
            - name: o
              path: {tmp_path / 'orders.csv'}
              columns: {{order_id: order_id, customer_id: customer_id, order_ts: ts, amount: amount}}
          customers:
            - name: crm
              path: {tmp_path / 'customers.csv'}
              columns: {{customer_id: customer_id, opted_out: opt}}
          interactions:
            - name: i
              path: {tmp_path / 'interactions.csv'}
              columns: {{customer_id: customer_id, ts: ts, kind: kind, resolved: resolved}}
          campaigns:
            - name: c
              path: {tmp_path / 'campaign.csv'}
              columns: {{campaign_id: campaign_id, customer_id: customer_id, group: arm, contact_ts: contact_ts}}
    """)


def run_for(params_path: Path, period: str, folder: Path):
    brand = config.load_params(params_path).brand
    return open_run(brand=brand, period=period, run_dir=str(folder), params_path=str(params_path))


def test_contact_history_from_the_engine(tmp_path):
    (tmp_path / "orders.csv").write_text(
        "order_id,customer_id,ts,amount\n" + "".join(f"o{i},k{i},2024-01-0{i + 1} 10:00:00,50\n" for i in range(6)))
    (tmp_path / "customers.csv").write_text(
        "customer_id,opt\nk0,true\nk1,false\nk2,false\nk3,false\nk4,\n")
    (tmp_path / "interactions.csv").write_text(textwrap.dedent("""\
        customer_id,ts,kind,resolved
        k1,2024-06-01 09:00:00,complaint,false
        k2,2024-06-01 09:00:00,ticket,true
        k3,2024-01-01 09:00:00,ticket,false
        k3,2024-06-20 09:00:00,reminder,
        k4,2024-07-02 09:00:00,ticket,false
        """))
    (tmp_path / "campaign.csv").write_text(textwrap.dedent("""\
        campaign_id,customer_id,arm,contact_ts
        x,k2,treatment,2024-06-05 10:00:00
        x,k4,Control,2024-06-28 10:00:00
        x,k5,treatment,2024-07-03 10:00:00
        """))
    params_path = history_params(tmp_path, "hist")
    run = run_for(params_path, "2024-06", tmp_path / "run")
    hist, have = tiers.contact_history(run)
    h = hist.set_index("customer_id")
    assert have == {"crm": True, "opted_out": True, "complaints": True, "resolved": True, "campaigns": True,
                    "reminders": True}
    # the campaign's last contact by the period end is 2024-06-28: a 1-day window closes in June, 30 days in July
    closing = tiers.campaigns_closing(run, 1)
    assert closing["campaign_id"].tolist() == ["x"] and closing["window_end"][0] == pd.Timestamp("2024-06-29 10:00")
    assert tiers.campaigns_closing(run, 30).empty
    assert closing["has_control"].tolist() == [True]  # 'Control' is a control label (case and spaces ignored)
    assert tiers.campaign_channels(run) == {}  # the campaign table maps no channel
    assert h.loc["k0", "opted_out"] and not h.loc["k1", "opted_out"] and not h.loc["k4", "opted_out"]
    assert h.loc["k1", "complaint"]  # unresolved, inside the 90 days
    assert not h.loc["k2", "complaint"]  # resolved
    assert not h.loc["k3", "complaint"]  # too old
    assert "k4" not in h.index or not h.loc["k4", "complaint"]  # after the period end
    assert h.loc["k2", "last_contact_ts"] == pd.Timestamp("2024-06-05 10:00")  # treatment contact
    assert h.loc["k3", "last_contact_ts"] == pd.Timestamp("2024-06-20 09:00")  # coupon reminder
    assert pd.isna(h.loc["k4", "last_contact_ts"])  # control customers were not contacted
    assert "k5" not in h.index  # contacted after the period end
    assert set(h.index[h["in_crm"]]) == {"k0", "k1", "k2", "k3", "k4"}


def test_orders_only_brand_has_no_history(tiny_params, tmp_path):
    hist, have = tiers.contact_history(run_for(tiny_params, "2024-06", tmp_path / "run"))
    assert hist.empty and not any(have.values())


@pytest.mark.slow
def test_demo_contact_history_recovers_the_planted_campaign_and_opt_outs(tmp_path):
    params = config.load_params(brand="demo")
    data = sources.load(params)
    truth = json.loads((config.DATA_DIR / "demo" / "truth.json").read_text())
    crm = pd.read_csv(config.DATA_DIR / "demo" / "customers.csv")
    june = config.period_end("2025-06", "month")
    hist, have = tiers.contact_history(open_run(brand="demo", period="2025-06", run_dir=str(tmp_path / "june")))
    assert all(have.values())
    assert hist["opted_out"].sum() == crm["opted_out"].sum()
    # buyers deleted from the CRM export have no contact details: all of them are found
    from helpers import audit

    buyers = set(audit.clean_orders(data, june, with_steps=False).orders.select("customer_id").distinct()
                 .execute()["customer_id"])
    assert len(buyers - set(hist.loc[hist["in_crm"], "customer_id"])) == truth["faults"]["unknown_customer_ids"]
    camp = pd.read_csv(config.DATA_DIR / "demo" / "campaign.csv", parse_dates=["contact_ts"])
    treated = set(camp.loc[camp["group"] == "treatment", "customer_id"])
    assert len(treated) == truth["campaign"]["n"]["treatment"]
    contacted = hist.set_index("customer_id")["last_contact_ts"]
    assert contacted.reindex(sorted(treated)).notna().all()
    # an April plan: every treated customer was contacted within 30 days of the period end
    april = config.period_end("2025-04", "month")
    hist, _ = tiers.contact_history(open_run(brand="demo", period="2025-04", run_dir=str(tmp_path / "april")))
    recent = hist[hist["last_contact_ts"] > april - pd.Timedelta(days=30)]
    assert treated <= set(recent["customer_id"])
    # control customers were not contacted: none has a last contact on the campaign day
    control = set(camp.loc[camp["group"] == "control", "customer_id"])
    last = hist.set_index("customer_id")["last_contact_ts"].reindex(sorted(control)).dropna()
    assert not (last.dt.normalize() == pd.Timestamp(truth["campaign"]["contact_date"])).any()


# ---------------------------------------------------------------- the notebook


def demo_customer_table(folder: Path) -> None:
    """A customer table with the columns of notebooks 02 and 04 for the demo's clean customers,
    built here from the orders (not by those notebooks: this tests notebook 05 alone)."""
    run = open_run(brand="demo", run_dir=str(folder))
    o = run.orders
    per = o.group_by("customer_id").aggregate(orders=o.count(), revenue=o.amount.sum(),
                                              last=o.order_ts.max(), first=o.order_ts.min()).execute()
    recency = (run.period_end - per["last"]).dt.days
    tenure = (run.period_end - per["first"]).dt.days
    per["stage"] = np.select([tenure <= 30, recency <= 60, recency <= 180], ["new", "active", "dormant"], "churned")
    per["p_alive"] = np.exp(-recency / 200)
    per["expected_purchases_30"] = per["p_alive"] * per["orders"] / np.maximum(tenure, 30) * 30
    per["clv"] = per["expected_purchases_30"] * 12 * per["revenue"] / per["orders"] * 0.35
    per["clv_low"], per["clv_high"] = per["clv"] * 0.7, per["clv"] * 1.4
    run.update_customers(per.drop(columns=["last", "first"]))


def run_notebook(run_dir: Path) -> str:
    import papermill

    out = run_dir / "05_tiers.ipynb"
    papermill.execute_notebook(str(config.NOTEBOOKS_DIR / "05_tiers.ipynb"), str(out), cwd=str(config.PROJECT_ROOT),
                               parameters={"brand": "demo", "period": "2025-06", "run_dir": str(run_dir),
                                           "language": "en"},
                               progress_bar=False, kernel_name="python3")
    return out.read_text(encoding="utf-8")


@pytest.mark.slow
def test_notebook_without_campaign_history_says_it_used_assumptions(tmp_path):
    run_dir = tmp_path / "run"
    demo_customer_table(run_dir)
    text = run_notebook(run_dir)
    assert "is **assumed**, not measured" in text
    metrics = json.loads((run_dir / "metrics.json").read_text())["tiers"]
    assert metrics["response_source"] == "assumed"
    for key in ("counts", "clv_share", "budget", "expected_profit"):
        assert key in metrics
    parts = [pd.read_csv(p) for p in (run_dir / "exports").glob("*.csv") if p.stem != "do_not_contact"]
    rows = pd.concat([p for p in parts if len(p)])
    assert not rows["customer_id"].duplicated().any()
    assert sum(v["customers"] for v in metrics["actions"].values()) == len(rows)
    assert rows["budget"].sum() <= metrics["total_budget"] + 1e-6
    customers = pd.read_parquet(run_dir / "data" / "customers.parquet")
    assert {"tier", "action", "clv", "stage"} <= set(customers.columns)
    assert (customers["action"] != "no_contact").sum() == len(rows)
    assert not re.search(r"\bM\d{7}\b", _outputs(text)), "the report shows a customer id"

    # a measured lift from an earlier period's run is used and said so
    earlier = config.outputs_dir() / "demo" / "2025-05" / "latest" / "data"
    earlier.mkdir(parents=True, exist_ok=True)
    # as notebook 06 writes it: no channel in the file, the channel is the demo campaign table's
    doc = response_doc("tier", {"high": 0.06, "general": 0.02}, channel=None) | {"campaign_id": "spring_winback"}
    (earlier / "campaign_response.json").write_text(json.dumps(doc))
    try:
        demo_customer_table(tmp_path / "run2")
        text = run_notebook(tmp_path / "run2")
        assert "is **measured**" in text and "spring_winback" in text
        m = json.loads((tmp_path / "run2" / "metrics.json").read_text())["tiers"]
        assert m["response_source"] == "measured" and m["response_channel"] == "sms"
        assert m["response"]["high"]["sms"] == 0.06 and m["response_basis"]["high"] == {"phone": "assumed", "sms": "measured"}
        assert m["budget"]["optimized"]["high"] >= 0.01 * m["total_budget"]  # the high-value tier is funded
        assert m["illustrative"] is False and not any("draft_" in f for f in m["exports"])
    finally:
        import shutil

        shutil.rmtree(config.outputs_dir() / "demo" / "2025-05", ignore_errors=True)


def _outputs(notebook_text: str) -> str:
    """Everything the executed notebook shows (outputs only, not the code)."""
    nb = json.loads(notebook_text)
    return json.dumps([c.get("outputs", []) for c in nb["cells"] if c["cell_type"] == "code"])


def test_a_second_execution_starts_afresh():
    """Re-running notebook 05 in the same run folder finds its own columns from the first time."""
    from types import SimpleNamespace

    earlier = make_customers(60).assign(tier="high", action="vip_service", channel="old")
    run = SimpleNamespace(customers=lambda: earlier, brand="demo", run_dir=Path("/tmp/run"))
    customers = tiers.load_customers(run)
    assert "tier" not in customers.columns and "action" not in customers.columns
    cfg = Tiers(playbook=CONTACT_ALL)
    plan = tiers.plan_contacts(tiers.assign_tiers(customers, cfg, 0.3), empty_history(), cfg, period_end=END,
                               next_end=NEXT_END, has_crm=False)
    assert plan["channel"].eq("sms").all() and plan["eligible"].all()


# ---------------------------------------------------------------- the fast paths equal the plain pandas ones
# Notebook 05 runs on millions of customers: ranks come from numpy sorts, the playbook and the
# contact history are looked up by position, contacts are bought on positions in priority order.
# Each must give exactly what the plain (slow) pandas formulation gives.


def _rank_by_sort(clv: pd.Series, ids: pd.Series) -> np.ndarray:
    order = pd.DataFrame({"clv": clv, "id": ids.astype(str)}).sort_values(
        ["clv", "id"], ascending=[False, True], kind="mergesort")
    return pd.Series(np.arange(1, len(clv) + 1), index=order.index).reindex(clv.index).to_numpy()


@pytest.mark.parametrize("sorted_ids", [True, False])
def test_clv_rank_equals_the_two_key_sort(sorted_ids):
    rng = np.random.default_rng(3)
    n = 3000
    clv = pd.Series(np.round(rng.gamma(0.5, 40, n), 0))  # many ties, many zeros
    clv[rng.choice(n, 50, replace=False)] = -0.0
    clv[rng.choice(n, 50, replace=False)] = np.inf
    ids = pd.Series([f"c{i:05d}" for i in range(n)])
    if not sorted_ids:
        ids = ids.sample(frac=1, random_state=1).reset_index(drop=True)
    assert (tiers.clv_rank(clv.to_numpy(), ids) == _rank_by_sort(clv, ids)).all()
    c = make_customers(n).assign(customer_id=ids, clv=clv.where(rng.random(n) > 0.05))  # some missing
    out = tiers.assign_tiers(c, Tiers(), margin=0.3)
    assert (out["clv_rank"].to_numpy() == _rank_by_sort(c["clv"].fillna(0.0), ids)).all()
    assert c.columns.tolist() == make_customers(1).columns.tolist()  # the input is left as it was


def _plan_by_merge(frame: pd.DataFrame, history: pd.DataFrame, cfg: Tiers) -> pd.DataFrame:
    """plan_contacts' playbook and history columns by a merge and Series.map."""
    pb = tiers.playbook_frame(cfg)
    plan = frame.drop(columns=[c for c in pb.columns if c not in ("tier", "stage") and c in frame.columns])
    plan["stage"] = plan["stage"].astype(str)
    plan = plan.merge(pb.drop(columns="rule"), on=["tier", "stage"], how="left")
    plan["action_planned"] = plan.pop("action").fillna("no_contact")
    for col, empty in (("channel", ""), ("offer", ""), ("offer_value", 0.0), ("channel_cost", 0.0)):
        plan[col] = plan[col].fillna(empty)
    hist = history.set_index("customer_id")
    for col in ("in_crm", "opted_out", "complaint"):
        plan[f"hist_{col}"] = plan["customer_id"].map(hist[col]).eq(True)
    plan["last_contact_ts"] = pd.to_datetime(plan["customer_id"].map(hist["last_contact_ts"]))
    return plan


@pytest.mark.parametrize("frame_order, history_order", [("sorted", "sorted"), ("sorted", "shuffled"),
                                                         ("reversed", "sorted")])
def test_plan_contacts_lookups_equal_a_merge_and_map(frame_order, history_order):
    cfg = Tiers(playbook=[
        {"tier": "high", "stage": "*", "action": "vip_service", "channel": "phone", "offer_value": 0},
        {"tier": "general", "stage": "churned", "action": "automated_winback", "channel": "app_push", "offer_value": 5},
        {"tier": "potential", "stage": "active", "action": "growth_offer", "channel": "sms", "offer": "x2", "offer_value": 3},
    ])
    frame = tiers.assign_tiers(make_customers(300, seed=4), cfg, margin=0.3)
    frame.loc[[5, 6], "stage"] = ["prospect", None]  # stages the playbook has no row for
    frame = frame.drop(index=[10, 11, 299])  # index not 0..n-1, some customers left out
    if frame_order == "reversed":
        frame = frame.iloc[::-1]  # not in id order
    history = history_fixture().iloc[:150]  # customers beyond it are missing from the CRM
    history = pd.concat([history, pd.DataFrame({"customer_id": ["zz_only_in_history"], "in_crm": [True],
                                                "opted_out": [True], "complaint": [False],
                                                "last_contact_ts": [pd.NaT]})], ignore_index=True)
    if history_order == "shuffled":
        history = history.sample(frac=1, random_state=2)
    plan = tiers.plan_contacts(frame, history, cfg, period_end=END, next_end=NEXT_END, has_crm=True)
    ref = _plan_by_merge(frame, history, cfg)
    assert plan.index.equals(pd.RangeIndex(len(frame)))
    for col in ("customer_id", "stage", "channel", "offer", "offer_value", "channel_cost", "action_planned",
                "last_contact_ts"):
        pd.testing.assert_series_equal(plan[col], ref[col], check_exact=True)
    expected = np.select([ref["hist_opted_out"], ref["hist_complaint"],
                          ref["last_contact_ts"] > END - pd.Timedelta(days=cfg.suppress_recent_days),
                          ~ref["hist_in_crm"]], ["opted_out", "complaint", "recent_contact", "not_in_crm"], "")
    assert plan["suppressed"].tolist() == expected.tolist()
    merged = [c for c in ref.columns if not c.startswith("hist_") and c != "last_contact_ts"]
    assert list(plan.columns) == [*merged, "suppressed", "last_contact_ts", "not_before", "allowed", "eligible"]


def _contacts_by_sort(plan: pd.DataFrame, spend: pd.Series) -> pd.DataFrame:
    """assign_contacts' contacts and priority by sorting the plan and assigning by label."""
    plan = plan.copy()
    plan["contacts"] = 0
    ordered = plan.sort_values(["tier", "clv_rank"], kind="mergesort")
    for tier in tiers.TIERS:
        idx = ordered.index[(ordered["tier"] == tier).to_numpy() & ordered["eligible"].to_numpy(bool)]
        if not len(idx):
            continue
        left = float(spend.get(tier, 0.0)) + 1e-9
        cost, allowed = plan.loc[idx, "cost_per_contact"].to_numpy(float), plan.loc[idx, "allowed"].to_numpy(int)
        contacts = np.zeros(len(idx), dtype=int)
        for r in range(1, int(allowed.max()) + 1):
            can = np.flatnonzero(allowed >= r)
            take = can[: int(np.sum(np.cumsum(cost[can]) <= left))]
            contacts[take] += 1
            left -= cost[take].sum()
            if len(take) < len(can):
                break
        plan.loc[idx, "contacts"] = contacts
    chosen = plan[plan["contacts"] > 0].sort_values(["tier", "clv_rank"], kind="mergesort")
    plan["priority"] = pd.Series(np.arange(1, len(chosen) + 1), index=chosen.index).reindex(plan.index).astype("Int64")
    return plan


@pytest.mark.parametrize("budget", [40.0, 150.0, 5000.0])
def test_assign_contacts_equals_sorting_the_plan(budget):
    cfg = Tiers(budget=budget, frequency_cap_days=7, playbook=CONTACT_ALL)
    plan, econ = tiers.tier_economics(plan_fixture(cfg), tiers.assumed_response(cfg, 30), cfg, margin=0.3)
    plan = plan.sample(frac=1, random_state=5)  # rows in no particular order, labels kept
    spend = tiers.compare_splits(econ, cfg).loc[list(tiers.TIERS), "optimized_spend"]
    out = tiers.assign_contacts(plan, spend)
    ref = _contacts_by_sort(plan, spend)
    pd.testing.assert_series_equal(out["contacts"], ref["contacts"], check_exact=True)
    pd.testing.assert_series_equal(out["priority"], ref["priority"], check_exact=True)
    assert out["contacts"].sum() > 0 and "contacts" not in plan.columns  # the caller's plan is left as it was


def test_contact_history_is_one_row_per_customer_of_any_source(tmp_path):
    """The per-source aggregates are combined in the engine: every customer of any source, in id
    order, with the flags of each source (a customer only in the campaign or the reminders is
    not in the CRM)."""
    (tmp_path / "orders.csv").write_text("order_id,customer_id,ts,amount\no1,k1,2024-01-02 10:00:00,50\n")
    (tmp_path / "customers.csv").write_text("customer_id,opt\nk3,true\nk1,false\nk2,\n")
    (tmp_path / "interactions.csv").write_text(textwrap.dedent("""\
        customer_id,ts,kind,resolved
        k2,2024-06-01 09:00:00,ticket,false
        k9,2024-06-11 09:00:00,reminder,
        k9,2024-06-02 09:00:00,reminder,
        k2,2024-06-20 09:00:00,reminder,
        """))
    (tmp_path / "campaign.csv").write_text(textwrap.dedent("""\
        campaign_id,customer_id,arm,contact_ts
        x,k8,treatment,2024-06-05 10:00:00
        x,k2,treatment,2024-06-25 10:00:00
        x,k1,control,2024-06-05 10:00:00
        """))
    params_path = history_params(tmp_path, "hist2")
    hist, have = tiers.contact_history(run_for(params_path, "2024-06", tmp_path / "run"))
    expected = pd.DataFrame({
        "customer_id": ["k1", "k2", "k3", "k8", "k9"],
        "in_crm": [True, True, True, False, False],
        "opted_out": [False, False, True, False, False],
        "complaint": [False, True, False, False, False],
        "last_contact_ts": pd.to_datetime([None, "2024-06-25 10:00", None, "2024-06-05 10:00",
                                           "2024-06-11 09:00"]).as_unit("us"),
    })
    pd.testing.assert_frame_equal(hist, expected, check_exact=True)
    assert have == {"crm": True, "opted_out": True, "complaints": True, "resolved": True, "campaigns": True,
                    "reminders": True}


# ---------------------------------------------------------------- tier x channel: value, cells, the optimum


def cell_frame(rows: dict, slots: dict | None = None) -> pd.DataFrame:
    """Cells {(tier, channel): (n, g, c)}; capacity from the tier's contact slots (huge when not given)."""
    idx = pd.MultiIndex.from_tuples(list(rows), names=["tier", "channel"])
    n, g, c = (np.array([v[i] for v in rows.values()], dtype=float) for i in range(3))
    m = np.array([(slots or {}).get(t, 1e9) for t, _ in rows], dtype=float)
    return pd.DataFrame({"contactable": n, "gross": g, "gross_lo": g / 2, "gross_hi": g * 1.5, "cost_per_contact": c,
                         "max_contacts": m, "capacity": m * c}, index=idx)


def test_cell_optimum_matches_the_closed_form_over_tier_and_channel():
    """Four cells (two tiers x two channels), the slots not binding, the budget binding: the
    water-filling solution of the summed concave curves."""
    rows = {("high", "phone"): (300, 9.0, 3.0), ("high", "sms"): (300, 4.0, 0.4),
            ("general", "sms"): (1500, 1.2, 0.3), ("general", "app_push"): (1500, 0.5, 0.05)}
    n, g, c = (np.array([v[i] for v in rows.values()]) for i in range(3))
    k, budget = 1.0, 600.0
    expected, lam = closed_form(n, g, c, k, budget)
    assert lam > 1 and (expected > 0).all()
    got = tiers.optimize(cell_frame(rows), budget, k)
    assert got.to_numpy() == pytest.approx(expected, rel=1e-4, abs=1e-3)
    assert tiers.marginal_gross(got, n, g, c, k) == pytest.approx(np.full(4, lam), rel=1e-4)


def test_cell_optimum_under_the_tiers_contact_slots_equals_a_grid_search():
    """One tier, two channels sharing 150 contact slots, money plentiful: the slots bind, and the
    optimum found by brute force along the binding constraint is what the optimiser finds."""
    rows = {("high", "phone"): (100, 12.0, 3.0), ("high", "sms"): (100, 5.0, 0.2)}
    e = cell_frame(rows, slots={"high": 150})
    k, budget = 1.0, 1e5
    got = tiers.optimize(e, budget, k)
    n, g, c = (e[col].to_numpy() for col in ("contactable", "gross", "cost_per_contact"))

    def profit(x):
        return float((tiers.gross_profit(x, n, g, c, k) - x).sum())

    # without the slots the optimum would buy more than 150 contacts
    free = tiers.optimize(cell_frame(rows), budget, k)
    assert (free / c).sum() > 150 * 1.05
    phone = np.linspace(0, 150, 150_001)  # contacts by phone; the rest of the slots by SMS
    best = max((profit(np.array([p * c[0], (150 - p) * c[1]])), p) for p in phone[::10])
    fine = phone[(phone >= best[1] - 0.01) & (phone <= best[1] + 0.01)]
    value, p = max((profit(np.array([q * c[0], (150 - q) * c[1]])), q) for q in fine)
    assert (got / c).sum() == pytest.approx(150, rel=1e-6)
    assert got.iloc[0] / c[0] == pytest.approx(p, abs=0.02)
    assert profit(got.to_numpy()) >= value - 1e-6


def test_rule_of_thumb_over_cells_follows_the_playbook_channels():
    e = cell_frame({("high", "phone"): (10, 1, 3.0), ("high", "sms"): (10, 1, 0.1), ("low", "sms"): (5, 1, 0.1)})
    e["rule_share"] = [30.0, 10.0, 0.0]  # slots of the customers the playbook gives each channel
    e["rule_capacity"] = [90.0, 1.0, 0.0]
    nominal, spend = tiers.rule_of_thumb(e, 100.0, {"high": 0.8, "potential": 0.1, "general": 0.05, "low": 0.05})
    assert nominal.tolist() == pytest.approx([60.0, 20.0, 5.0])  # low has no playbook channel: equal shares
    assert spend.tolist() == pytest.approx([60.0, 1.0, 0.0])


def test_contact_value_keeps_the_at_risk_future_value():
    c = pd.DataFrame({"orders": [2, 2, 1, 4], "revenue": [200.0, 200.0, 50.0, 400.0], "clv": [300.0, 300.0, 10.0, 0.0],
                      "p_alive": [1.0, 0.5, 0.2, 0.0]})
    v = budget.contact_value(c, margin=0.3, retention_effect=1.0)
    assert v["order_profit"].tolist() == pytest.approx([30.0, 30.0, 15.0, 30.0])
    assert v["at_risk"].tolist() == pytest.approx([0.0, 300.0, 40.0, 0.0])  # (1 - P(alive)) x CLV / P(alive)
    assert v["purchase_value"].tolist() == pytest.approx([30.0, 330.0, 55.0, 30.0])
    assert budget.contact_value(c, 0.3, 0.0)["purchase_value"].tolist() == pytest.approx([30.0, 30.0, 15.0, 30.0])
    # the response comes from the alive: weights P(alive); (1 - P(alive)) x CLV summed over P(alive)
    w = budget.weighted_value(v, 1.0)
    assert w["at_risk"] == pytest.approx((0 + 150 + 8 + 0) / 1.7)
    assert w["value"] == pytest.approx((30 + 0.5 * 30 + 0.2 * 15) / 1.7 + w["at_risk"])


def channel_cfg(**kw) -> Tiers:
    return Tiers(channels={"high": ["phone", "sms"], "potential": ["sms"], "general": ["sms", "app_push"], "low": ["app_push"]},
                 channel_response_factor={"phone": 2.0, "app_push": 0.5}, **kw)


def test_an_untested_channel_keeps_its_assumed_response(tmp_path):
    cfg = channel_cfg()
    plan = plan_fixture(cfg)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(response_doc("tier", {"high": 0.05, "general": 0.02})))
    r = tiers.load_response(("2024-05", path), plan, cfg)
    t = r.table
    assert r.kind == "measured" and r.channel == "sms"
    assert t.loc[("high", "sms"), "response"] == 0.05 and t.loc[("high", "sms"), "source"] == "measured"
    assert t.loc[("high", "phone"), "response"] == pytest.approx(cfg.assumed_response["high"] * 2.0)
    assert t.loc[("general", "app_push"), "response"] == pytest.approx(cfg.assumed_response["general"] * 0.5)
    assert (t.loc[[("high", "phone"), ("general", "app_push"), ("low", "app_push")], "source"] == "assumed").all()
    assert r.assumed_channels() == ["app_push", "phone"]
    plan, econ = tiers.tier_economics(plan, r, cfg, margin=0.3)
    assert econ.loc[("high", "phone"), "source"] == "assumed" and econ.loc[("high", "sms"), "source"] == "measured"
    cells = tiers.cell_splits(econ, cfg)
    funded = tiers.assign_contacts(plan, cells["optimized_spend"], econ)
    m = tiers.metrics(tiers.tier_summary(funded), tiers.concentration(funded), tiers.compare_splits(econ, cfg, cells), econ,
                      r, funded, pd.DataFrame({"file": [], "customers": []}), cfg, NEXT_LABEL, cells=cells)
    assert m["response_basis"]["high"] == {"phone": "assumed", "sms": "measured"}
    assert m["response"]["high"]["sms"] == 0.05 and m["response_channel"] == "sms"

    # the channel from the campaign table when the file does not name it; unknown -> assumed
    path.write_text(json.dumps(response_doc("tier", {"high": 0.05}, channel=None)))
    r = tiers.load_response(("2024-05", path), plan, cfg, channels={("spring", "treatment"): "sms"})
    assert r.table.loc[("high", "sms"), "source"] == "measured"
    r = tiers.load_response(("2024-05", path), plan, cfg)
    assert r.kind == "assumed" and r.fallback == "no_channel" and r.fallback_values["campaign"] == "spring"
    # measured on a channel the plan does not use: assumptions, said so
    path.write_text(json.dumps(response_doc("tier", {"high": 0.05}, channel="email")))
    r = tiers.load_response(("2024-05", path), plan, cfg)
    assert r.kind == "assumed" and r.fallback == "unused_channel" and r.fallback_values["channel"] == "email"


def test_the_covariate_adjusted_lift_is_preferred(tmp_path):
    cfg = channel_cfg()
    plan = plan_fixture(cfg)
    run = tmp_path / "run"
    (run / "data").mkdir(parents=True)
    path = run / "data" / "campaign_response.json"
    doc = response_doc("segment", {"recent": 0.05})
    path.write_text(json.dumps(doc))
    (run / "metrics.json").write_text(json.dumps({"campaigns": {"spring": {"lift": {"treatment": {
        "repurchase_pp": 0.025, "repurchase_pp_adjusted": 0.031, "repurchase_pp_adjusted_ci": [0.011, 0.051]}}}}}))
    r = tiers.load_response(("2024-05", path), plan, cfg)
    assert r.estimate == "covariate-adjusted"
    assert r.table.loc[("high", "sms"), ["response", "response_lo", "response_hi"]].tolist() == pytest.approx([0.031, 0.011, 0.051])
    (run / "metrics.json").unlink()  # the raw difference when notebook 06 reported no adjusted lift
    r = tiers.load_response(("2024-05", path), plan, cfg)
    assert r.estimate == "raw difference" and r.table.loc[("high", "sms"), "response"] == 0.025
    doc["overall"] |= {"repurchase_pp_adjusted": 0.02, "repurchase_pp_adjusted_ci": [0.0, 0.04]}  # in the file itself
    path.write_text(json.dumps(doc))
    assert tiers.load_response(("2024-05", path), plan, cfg).table.loc[("general", "sms"), "response"] == 0.02


def test_the_high_tier_is_funded_when_its_at_risk_value_says_so():
    """Same response everywhere; the high tier's customers are valuable and at risk: the
    data-driven split funds it (the 30-day-window valuation alone would not), and its lists
    use both channels, one channel per customer, the higher-response channel for the top."""
    cfg = channel_cfg(budget=300.0, playbook=[
        {"tier": "high", "stage": "*", "action": "vip_service", "channel": "phone", "offer_value": 0},
        {"tier": "*", "stage": "*", "action": "routine_offer", "channel": "sms", "offer_value": 2},
        {"tier": "low", "stage": "*", "action": "automated_winback", "channel": "app_push", "offer_value": 1}])
    c = make_customers(200)
    c["p_alive"] = np.where(np.arange(200) < 20, 0.4, 0.95)  # the top 10 % are at risk
    plan = tiers.plan_contacts(tiers.assign_tiers(c, cfg, 0.3), empty_history(), cfg, period_end=END,
                               next_end=NEXT_END, has_crm=False)
    r = tiers.assumed_response(cfg, 30)
    shares = {}
    for effect in (0.0, 1.0):
        cfg_e = cfg.model_copy(update={"retention_effect": effect})
        p, econ = tiers.tier_economics(plan, r, cfg_e, margin=0.3)
        cells = tiers.cell_splits(econ, cfg_e)
        cmp = tiers.compare_splits(econ, cfg_e, cells)
        shares[effect] = cmp.loc["high", "optimized_spend"] / cfg.budget
        assert cmp.loc["total", "optimized_profit"] >= cmp.loc["total", "rule_profit"] - 1e-6
        assert cmp.loc["total", "optimized_profit_lo"] <= cmp.loc["total", "optimized_profit"] <= cmp.loc["total", "optimized_profit_hi"]
        # the rule of thumb's cells stay within each tier's contact slots
        slots = (cells["rule_spend"] / econ["cost_per_contact"]).groupby(level="tier").sum()
        assert (slots <= econ.groupby(level="tier")["max_contacts"].first() + 1e-6).all()
    assert shares[1.0] >= 0.01 and shares[1.0] > shares[0.0]
    out = tiers.assign_contacts(p, cells["optimized_spend"], econ)
    high = out[(out["tier"] == "high") & (out["contacts"] > 0)].sort_values("clv_rank")
    assert set(high["channel"]) <= {"phone", "sms"}
    phone = high["channel"].eq("phone").to_numpy()
    if phone.any() and (~phone).any():
        assert not (np.diff(phone.astype(int)) > 0).any()  # phone (the higher response) to the top customers
    spent = out.groupby(["tier", "channel"], observed=True)["budget"].sum()
    for (t, ch), money in cells["optimized_spend"].items():
        assert spent.get((t, ch), 0.0) <= money + 1e-6
    assert (out["contacts"] <= out["allowed"]).all() and out["budget"].sum() <= cfg.budget + 1e-6


def test_one_cell_per_tier_buys_what_tier_money_buys():
    cfg = Tiers(budget=150.0, frequency_cap_days=7, playbook=CONTACT_ALL)
    plan, econ = tiers.tier_economics(plan_fixture(cfg), tiers.assumed_response(cfg, 30), cfg, margin=0.3)
    cells = tiers.cell_splits(econ, cfg)
    by_cell = tiers.assign_contacts(plan, cells["optimized_spend"], econ)
    by_tier = tiers.assign_contacts(plan, cells["optimized_spend"].droplevel("channel"))
    pd.testing.assert_series_equal(by_cell["contacts"], by_tier["contacts"], check_exact=True)
    pd.testing.assert_series_equal(by_cell["priority"], by_tier["priority"], check_exact=True)


def test_tier_confidence_counts_intervals_across_a_boundary():
    c = make_customers(100)
    c["clv"] = np.linspace(1000, 10, 100)
    c["clv_low"], c["clv_high"] = c["clv"] - 5, c["clv"] + 5
    c.loc[9, "clv_low"] = 850.0  # the last high customer's interval reaches below the cut (high: top 10)
    c.loc[10, "clv_high"] = 1000.0  # the first general's reaches above it
    c["revenue"], c["orders"] = 1e6, 1  # nobody is potential
    frame = tiers.assign_tiers(c, Tiers(high_share=0.1, low_share=0.4), 0.3)
    conf = tiers.tier_confidence(frame, Tiers(high_share=0.1, low_share=0.4), 0.3)
    assert conf.loc["high", "could_be_lower"] == 1 and conf.loc["general", "could_be_higher"] >= 1
    assert conf.attrs["high_cut"] == pytest.approx((c.loc[9, "clv"] + c.loc[10, "clv"]) / 2)
    assert conf.loc["total", "uncertain"] == conf.loc[list(tiers.TIERS), "uncertain"].sum()


def test_default_business_assumptions_make_the_plan_illustrative_and_the_lists_drafts(funded_plan, tmp_path):
    assert config.default_assumptions(config.load_params(brand="demo")) == []
    assert config.default_assumptions(config.load_params(brand="cdnow")) == ["tiers.budget", "tiers.cost_per_contact"]
    from helpers.text import Text, common
    from helpers.text.formats import Formats

    cdnow, demo = config.load_params(brand="cdnow"), config.load_params(brand="demo")
    assert common.illustrative(Formats(Text("en"), "USD"), cdnow).startswith(
        "**Illustrative.** The params of CDNOW (real data, 1997-1998) do not set the budget, contact costs:")
    assert common.illustrative(Formats(Text("zh"), "CNY"), demo) == ""
    plan = funded_plan[1]
    summary = tiers.write_exports(tmp_path / "exports", plan, "CNY", draft=True)
    names = sorted(p.name for p in (tmp_path / "exports").glob("*.csv"))
    assert names == sorted(f"draft_{a}.csv" for a in [*tiers.CONTACT_ACTIONS, "do_not_contact"])
    assert summary["file"].str.startswith("exports/draft_").all()
    assert tiers.action_facts(plan, summary)["draft"]


def test_a_roi_on_an_almost_zero_spend_is_not_read():
    """A ratio over a spend near zero is noise: with 0.30 spendable (the high tier's capacity),
    the rule of thumb's ROI is not a number but 'not read', in the frame, the sentence and the
    metrics; a spend of 1 % of the budget (9 of 900) is read, and equals profit / spend."""
    n, g, c = [500, 300, 1200, 2000], [3.0, 2.0, 1.5, 0.8], [2.5, 0.9, 0.6, 0.1]
    cmp = tiers.compare_splits(econ_frame(n, g, c, cap=[0.3, 0.0, 0.0, 0.0]), Tiers(budget=900))
    t = cmp.loc["total"]
    # profit on 0.30 spent in the high tier: 500 x 3 x (1 - exp(-0.3 / (500 x 2.5))) / (1 - exp(-1)) - 0.3
    hand = 1500 * -math.expm1(-0.3 / 1250) / -math.expm1(-1) - 0.3
    assert t.rule_spend == pytest.approx(0.3) and t.rule_profit == pytest.approx(hand)
    assert math.isnan(t.rule_roi) and math.isnan(cmp.loc["high", "rule_roi"])
    read = tiers.compare_splits(econ_frame(n, g, c, cap=[9.0, 0.0, 0.0, 0.0]), Tiers(budget=900)).loc["total"]
    assert read.rule_spend == pytest.approx(9.0) and read.rule_roi == pytest.approx(read.rule_profit / 9.0)
    assert budget.readable_roi([1.0, 1.0], [0.99, 9.0], 900).tolist()[1] == pytest.approx(1 / 9)
    assert math.isnan(budget.readable_roi([1.0], [0.99], 50)[0])  # under one unit of money

    cfg = Tiers(budget=0.3, playbook=CONTACT_ALL)
    plan, econ = tiers.tier_economics(plan_fixture(cfg), tiers.assumed_response(cfg, 30), cfg, margin=0.3)
    cells = tiers.cell_splits(econ, cfg)
    splits = tiers.compare_splits(econ, cfg, cells)
    assert math.isnan(splits.loc["total", "rule_roi"]) and math.isnan(splits.loc["total", "optimized_roi"])
    m = tiers.metrics(tiers.tier_summary(plan), tiers.concentration(plan), splits, econ, tiers.assumed_response(cfg, 30),
                      tiers.assign_contacts(plan, cells["optimized_spend"], econ), pd.DataFrame({"file": [], "customers": []}),
                      cfg, NEXT_LABEL, cells=cells)
    assert m["roi"] == {"rule_of_thumb": None, "optimized": None}

