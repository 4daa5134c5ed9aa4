"""Tests of the synthetic demo brand (helpers.demo).

Everything here is re-derived from the written files with plain pandas, so the generator's
bookkeeping in truth.json is checked against what an analyst would actually see.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import demo

SMALL = 1500  # fast checks of files, determinism and the cache
DATA_END = pd.Timestamp("2025-06-30 23:59:59")
ALL_FILES = (*demo.DATA_FILES, demo.TRUTH_CUSTOMERS_FILE, demo.TRUTH_FILE)
ONLINE_COLUMNS = ["order_id", "customer_id", "order_time", "amount", "channel", "category", "coupon_id",
                  "delivery_days", "status", "discount"]
POS_COLUMNS = ["订单号", "会员ID", "下单时间", "实付金额", "门店", "品类"]


# ---------------------------------------------------------------- fixtures


class Demo:
    """The written files of one generated folder, read the way an analyst would."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
        self.online = pd.read_parquet(folder / "online_orders.parquet")
        self.pos = pd.read_csv(folder / "pos_orders.csv", encoding="gbk", dtype=str, keep_default_na=False)
        self.customers = pd.read_csv(folder / "customers.csv", dtype={"customer_id": str})
        self.interactions = pd.read_csv(folder / "interactions.csv")
        self.campaign = pd.read_csv(folder / "campaign.csv")
        self.pos_time = pd.to_datetime(self.pos["下单时间"], format="%Y-%m-%d %H:%M:%S")
        self.pos_amount = pd.to_numeric(self.pos["实付金额"].str.replace(r"[￥¥,]", "", regex=True), errors="coerce")
        self.pos_customer = self.pos["会员ID"].replace("", np.nan)

    def clean_purchases(self) -> pd.DataFrame:
        """Real purchases of CRM customers up to the data end, faults removed the obvious way."""
        on = self.online
        on = on[(on["status"] == "completed") & (on["amount"] > 0) & (on["order_time"] <= DATA_END)]
        on = on.drop_duplicates("order_id")[["customer_id", "order_time", "amount"]]
        pos = pd.DataFrame({"customer_id": self.pos_customer, "order_time": self.pos_time, "amount": self.pos_amount})
        pos = pos[pos["order_time"] <= DATA_END]
        both = pd.concat([on, pos], ignore_index=True)
        both = both[both["customer_id"].isin(self.customers["customer_id"])]
        return both.sort_values(["customer_id", "order_time"], kind="stable", ignore_index=True)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Demo:
    folder = tmp_path_factory.mktemp("demo_small")
    demo.generate(folder, n_customers=SMALL)
    return Demo(folder)


@pytest.fixture(scope="module")
def default(tmp_path_factory) -> Demo:
    """The default size (what the notebooks see): enough customers for the statistical checks."""
    folder = tmp_path_factory.mktemp("demo_default")
    demo.generate(folder)
    return Demo(folder)


def _first_two(purchases: pd.DataFrame) -> pd.DataFrame:
    g = purchases.groupby("customer_id")["order_time"]
    first, second = g.nth(0), g.nth(1)
    out = pd.DataFrame({"first": purchases.loc[first.index, "order_time"].to_numpy()},
                       index=purchases.loc[first.index, "customer_id"].to_numpy())
    out["second"] = pd.Series(purchases.loc[second.index, "order_time"].to_numpy(),
                              index=purchases.loc[second.index, "customer_id"].to_numpy())
    out["gap_days"] = (out["second"] - out["first"]).dt.total_seconds() / 86400
    return out


# ---------------------------------------------------------------- determinism


def test_same_seed_gives_identical_bytes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    truth_a = demo.generate(a, n_customers=SMALL, seed=7)
    truth_b = demo.generate(b, n_customers=SMALL, seed=7)
    for name in ALL_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert truth_a == truth_b == json.loads((a / "truth.json").read_text(encoding="utf-8"))


def test_different_seed_gives_different_data(tmp_path, small):
    other = tmp_path / "other"
    demo.generate(other, n_customers=SMALL, seed=demo.DEFAULT_SEED + 1)
    for name in demo.DATA_FILES:
        assert (other / name).read_bytes() != (small.folder / name).read_bytes(), name


def test_too_small_a_size_is_refused(tmp_path):
    with pytest.raises(ValueError, match="n_customers"):
        demo.generate(tmp_path, n_customers=10)


# ---------------------------------------------------------------- files and formats


def test_files_have_the_documented_columns_and_formats(small):
    assert list(small.online.columns) == ONLINE_COLUMNS
    assert str(small.online["order_time"].dtype).startswith("datetime64")
    assert small.online["amount"].dtype == np.float64
    assert set(small.online["channel"]) == {"app", "mini_program"}
    assert set(small.online["status"]) == {"completed", "refunded"}
    days = small.online["delivery_days"].dropna()
    assert days.between(1, 9).all() and (days == days.round()).all()
    assert small.online["order_id"].str.fullmatch(r"W\d+|WR\d+").all()

    assert list(small.pos.columns) == POS_COLUMNS
    assert small.pos["订单号"].str.fullmatch(r"S\d+").all()
    assert small.pos["下单时间"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()
    raw = (small.folder / "pos_orders.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # really GBK, not UTF-8
    assert raw.decode("gb18030") == raw.decode("gbk")

    assert list(small.customers.columns) == ["customer_id", "signup_date", "acquisition_channel", "region",
                                             "member_level", "birth_year", "opted_out"]
    assert small.customers["customer_id"].str.fullmatch(r"M\d{7}").all()
    assert small.customers["customer_id"].is_unique
    assert small.customers["opted_out"].dtype == bool
    assert set(small.customers["acquisition_channel"]) == {"app", "mini_program", "store", "referral"}
    assert list(small.interactions.columns) == ["customer_id", "ts", "kind", "value", "resolved"]
    assert set(small.interactions["kind"]) == {"ticket", "satisfaction", "coupon_issued", "coupon_reminder"}
    assert list(small.campaign.columns) == ["campaign_id", "customer_id", "group", "contact_ts", "channel", "cost",
                                            "offer", "designed_share", "segment"]


def test_truth_is_plain_json_with_the_run_facts(small):
    def plain(x):
        if isinstance(x, dict):
            return all(isinstance(k, str) and plain(v) for k, v in x.items())
        if isinstance(x, list):
            return all(plain(v) for v in x)
        return x is None or isinstance(x, str | int | float | bool)

    t = small.truth
    assert plain(t)
    assert t["generator_version"] == demo.GENERATOR_VERSION
    assert (t["seed"], t["n_customers"]) == (demo.DEFAULT_SEED, SMALL)
    assert t["data_end"] == t["period_end"] == "2025-06-30"
    assert t["purchase_model"]["time_unit"] == "days"
    assert {"r", "alpha", "a", "b"} <= set(t["purchase_model"])
    assert {"p", "q", "gamma"} <= set(t["spend_model"])
    assert t == demo.load_truth(small.folder)


def test_total_rows_by_source(small):
    assert small.truth["total_rows_by_source"] == {
        "online_orders": len(small.online), "pos_orders": len(small.pos), "customers": len(small.customers),
        "interactions": len(small.interactions), "campaign": len(small.campaign),
    }
    assert len(small.customers) == SMALL


def test_timeline(small):
    acquired = pd.to_datetime(small.customers["signup_date"])
    assert acquired.min() >= pd.Timestamp("2022-12-28") and acquired.max() <= pd.Timestamp("2025-06-30")
    assert pd.to_datetime(small.interactions["ts"]).max() <= DATA_END
    for times in (small.online["order_time"], small.pos_time):
        assert times.min() >= pd.Timestamp("2023-01-01")
        assert times.max() <= pd.Timestamp("2025-07-10 23:59:59")
        assert times.dt.hour.between(8, 22).all()  # opening hours


# ---------------------------------------------------------------- planted faults, re-derived


def test_duplicates(small):
    on, f = small.online, small.truth["faults"]
    assert on.duplicated().sum() == f["exact_duplicate_rows"]
    distinct = on.drop_duplicates()
    per_id = distinct.groupby("order_id")["amount"].nunique()
    assert (per_id > 1).sum() == f["conflicting_duplicate_ids"]
    assert distinct["order_id"].value_counts().max() == 2
    assert small.pos["订单号"].is_unique


def test_refunds(small):
    on, f = small.online, small.truth["faults"]
    refunds = on[on["status"] == "refunded"]
    assert len(refunds) == f["refund_rows"]
    assert (refunds["amount"] < 0).all() and refunds["order_id"].str.startswith("WR").all()
    assert refunds["order_id"].is_unique and refunds["customer_id"].notna().all()
    assert (on.loc[on["status"] == "completed", "amount"] >= 0).all()
    bought = on[on["status"] == "completed"]
    for _, r in refunds.iterrows():  # each refunds part or all of an earlier order of the customer
        earlier = bought[(bought["customer_id"] == r["customer_id"]) & (bought["order_time"] < r["order_time"])]
        assert (earlier["amount"] >= -r["amount"] - 1e-9).any(), r["order_id"]


def test_zero_guest_and_late_rows(small):
    on, f = small.online, small.truth["faults"]
    assert (on["amount"] == 0).sum() == f["zero_amount_rows"]
    assert on.loc[on["amount"] == 0, "customer_id"].isin(small.customers["customer_id"]).all()
    guests = {"online_orders": int(on["customer_id"].isna().sum()), "pos_orders": int(small.pos_customer.isna().sum())}
    assert guests == f["guest_orders_by_source"]
    assert sum(guests.values()) == f["guest_orders"]
    late_online = on[on["order_time"] > DATA_END]
    late = {"online_orders": len(late_online), "pos_orders": int((small.pos_time > DATA_END).sum())}
    assert late == f["after_period_end_rows_by_source"]
    assert sum(late.values()) == f["after_period_end_rows"]
    assert late_online["order_time"].max() < pd.Timestamp("2025-07-11")
    assert late_online["customer_id"].isin(small.customers["customer_id"]).all()
    assert (late_online["amount"] > 0).all()


def test_unknown_customers(small):
    f = small.truth["faults"]
    known = set(small.customers["customer_id"])
    ids = pd.concat([small.online["customer_id"], small.pos_customer]).dropna()
    unknown = ids[~ids.isin(known)]
    assert unknown.nunique() == f["unknown_customer_ids"]
    assert len(unknown) == f["unknown_customer_orders"]
    assert unknown.str.fullmatch(r"M\d{7}").all()  # real-looking ids, deleted from the CRM export
    assert (~small.interactions["customer_id"].isin(known)).sum() == f["unknown_customer_interactions"]
    assert small.campaign["customer_id"].isin(known).all()


def test_pos_amounts_as_text(small):
    f = small.truth["faults"]
    text = small.pos["实付金额"]
    money = text.str.contains(r"[￥¥,]")
    assert money.sum() == f["money_as_text_rows"]
    assert text.isin(["N/A", "待定"]).sum() == f["unparseable_amount_rows"]
    plain = ~money & ~text.isin(["N/A", "待定"])
    assert text[plain].str.fullmatch(r"\d+\.\d\d").all()
    assert text[money].str.fullmatch(r"[￥¥]\d{1,3}(,\d{3})*\.\d\d").all()
    assert small.pos_amount[money].gt(0).all()  # valid after repair
    assert small.pos_amount[plain].gt(0).all()


def test_online_outage(small):
    f = small.truth["faults"]
    days = pd.to_datetime(f["outage_days"])
    assert len(days) == 3 and (np.diff(days.values).astype("timedelta64[D]").astype(int) == 1).all()
    assert not small.online["order_time"].dt.normalize().isin(days).any()
    assert set(small.pos_time.dt.normalize()) >= set(days)  # the stores kept selling


def test_customers_without_orders_lost_them_in_the_outage(small):
    seen = set(pd.concat([small.online["customer_id"], small.pos_customer]).dropna())
    missing = small.customers[~small.customers["customer_id"].isin(seen)]
    assert len(missing) == small.truth["faults"]["customers_without_orders"]
    outage = pd.to_datetime(small.truth["faults"]["outage_days"])
    assert pd.to_datetime(missing["signup_date"]).between(outage[0] - pd.Timedelta(days=3), outage[-1]).all()


def test_outliers(small):
    on = small.online
    ids = small.truth["faults"]["outlier_order_ids"]
    assert len(ids) >= 3
    rows = on[on["order_id"].isin(ids)]
    assert len(rows) == len(ids) and (rows["status"] == "completed").all()
    normal = on[(on["status"] == "completed") & (on["amount"] > 0) & ~on["order_id"].isin(ids)]
    per_customer = normal.groupby("customer_id")["amount"].median()
    for _, r in rows.iterrows():  # 40-80x the larger of the customer's and the brand's mean spend
        assert r["amount"] >= 40 * small.truth["spend_model"]["mean_order_value"], r["order_id"]
        assert r["amount"] > 10 * per_customer.get(r["customer_id"], 0), r["order_id"]
    assert rows["amount"].min() > normal["amount"].max()  # wholesale: above every ordinary order


def test_faults_are_disjoint_and_the_rest_is_clean(small):
    on, known = small.online, set(small.customers["customer_id"])
    faulty = (
        on.duplicated(keep="first")
        | (on["status"] == "refunded")
        | (on["amount"] == 0)
        | on["customer_id"].isna()
        | (on["order_time"] > DATA_END)
        | ~on["customer_id"].isin(known)
        | on["order_id"].isin(small.truth["faults"]["outlier_order_ids"])
    )
    distinct = on.drop_duplicates()
    conflict_ids = distinct.loc[distinct["order_id"].duplicated(), "order_id"]
    faulty |= on["order_id"].isin(conflict_ids) & on.duplicated("order_id", keep="first")
    f = small.truth["faults"]
    n_unknown_online = f["unknown_customer_orders_by_source"]["online_orders"]
    expected = (f["exact_duplicate_rows"] + f["conflicting_duplicate_ids"] + f["refund_rows"] + f["zero_amount_rows"]
                + f["guest_orders_by_source"]["online_orders"] + f["after_period_end_rows_by_source"]["online_orders"]
                + n_unknown_online + len(f["outlier_order_ids"]))
    assert faulty.sum() == expected  # no row carries two faults
    clean = on[~faulty]
    assert clean["order_id"].is_unique and (clean["amount"] > 0).all() and (clean["order_time"] <= DATA_END).all()

    pos_faulty = (small.pos_customer.isna() | (small.pos_time > DATA_END) | ~small.pos_customer.isin(known)
                  | small.pos["实付金额"].str.contains(r"[￥¥,]") | small.pos["实付金额"].isin(["N/A", "待定"]))
    pos_expected = (f["guest_orders_by_source"]["pos_orders"] + f["after_period_end_rows_by_source"]["pos_orders"]
                    + f["unknown_customer_orders_by_source"]["pos_orders"] + f["money_as_text_rows"]
                    + f["unparseable_amount_rows"])
    assert pos_faulty.sum() == pos_expected
    assert (small.pos_amount[~pos_faulty] > 0).all()


def test_fault_counts_scale_with_size(small, default):
    a, b = small.truth["faults"], default.truth["faults"]
    for key in ("exact_duplicate_rows", "refund_rows", "money_as_text_rows", "guest_orders"):
        assert a[key] >= 3 and b[key] > a[key], key


# ---------------------------------------------------------------- planted model, recovered roughly


def test_default_size_is_realistic(default):
    r = default.truth["realised"]
    assert 0.35 <= r["repeat_customer_share"] <= 0.45
    assert 3.0 <= r["mean_orders_per_customer"] <= 4.0
    rows = default.truth["total_rows_by_source"]
    assert 10_000 <= rows["online_orders"] + rows["pos_orders"] <= 15_000
    purchases = default.clean_purchases()
    repeaters = purchases.groupby("customer_id").size()
    share = (repeaters >= 2).sum() / len(default.customers)
    assert abs(share - r["repeat_customer_share"]) < 0.02


def test_second_purchase_share_matches_truth(default):
    pairs = _first_two(default.clean_purchases())
    for days in ("30", "60", "90"):
        seen = pairs[pairs["first"] <= DATA_END - pd.Timedelta(days=int(days))]
        observed = (seen["gap_days"] <= int(days)).mean()
        expected = default.truth["second_purchase"]["expected_share"][days]
        se = np.sqrt(expected * (1 - expected) / len(seen))
        assert abs(observed - expected) < 4 * se + 0.01, (days, observed, expected)


def test_driver_truth_signs_and_ranking(default):
    drivers = {k: v for k, v in default.truth["drivers"].items() if k != "definition"}
    assert set(drivers) == {"slow_delivery", "unresolved_complaint", "first_order_coupon", "no_second_coupon_reminder"}
    for days in ("30", "60", "90"):
        effects = {k: v["effect"][days] for k, v in drivers.items()}
        assert effects["first_order_coupon"] > 0
        assert max(effects["slow_delivery"], effects["unresolved_complaint"], effects["no_second_coupon_reminder"]) < 0
        assert max(effects, key=lambda k: abs(effects[k])) == "no_second_coupon_reminder"
        for name, d in drivers.items():
            assert np.sign(d["beta"]) == np.sign(d["effect"][days]), name


def test_driver_exposures_are_visible_in_the_data(default):
    purchases = default.clean_purchases()
    first_time = purchases.groupby("customer_id")["order_time"].first()
    on = default.online.drop_duplicates("order_id")
    first_online = on.merge(first_time.rename("first"), left_on="customer_id", right_index=True)
    first_online = first_online[first_online["order_time"] == first_online["first"]].set_index("customer_id")
    inter = default.interactions.assign(ts=pd.to_datetime(default.interactions["ts"]))
    inter = inter.merge(first_time.rename("first"), left_on="customer_id", right_index=True)
    soon = inter[(inter["ts"] > inter["first"]) & (inter["ts"] <= inter["first"] + pd.Timedelta(days=14))]
    n = len(default.customers)
    seen = {
        "slow_delivery": (first_online["delivery_days"] >= 5).sum() / n,
        "first_order_coupon": first_online["coupon_id"].notna().sum() / n,
        "unresolved_complaint": soon.loc[(soon["kind"] == "ticket") & (soon["resolved"] == False), "customer_id"].nunique() / n,  # noqa: E712
        "no_second_coupon_reminder": 1 - inter.loc[inter["kind"] == "coupon_reminder", "customer_id"].nunique() / n,
    }
    for name, share in seen.items():
        assert abs(share - default.truth["drivers"][name]["exposed_share"]) < 0.015, (name, share)


def test_coupon_events_follow_the_first_order(default):
    first = default.clean_purchases().groupby("customer_id")["order_time"].min()
    inter = default.interactions.assign(ts=pd.to_datetime(default.interactions["ts"]))
    issued = inter[inter["kind"] == "coupon_issued"].set_index("customer_id")["ts"]
    assert issued.index.is_unique
    assert first[first <= pd.Timestamp("2025-06-27")].index.isin(issued.index).all()  # everyone gets one
    seen = issued[issued.index.isin(first.index)]
    lag = (seen - first.reindex(seen.index)).dt.total_seconds() / 86400
    late_or_early = ~lag.between(0, 3)
    assert late_or_early.sum() <= default.truth["faults"]["outage_lost_online_orders"]  # first order lost
    reminders = inter[inter["kind"] == "coupon_reminder"].set_index("customer_id")["ts"]
    gap = (reminders - issued.reindex(reminders.index)).dt.total_seconds() / 86400
    assert gap.between(8, 12).all()


def test_randomised_reminder_effect_is_recoverable(default):
    pairs = _first_two(default.clean_purchases())
    pairs = pairs[pairs["first"] <= DATA_END - pd.Timedelta(days=90)]
    reminded = pairs.index.isin(default.interactions.loc[default.interactions["kind"] == "coupon_reminder", "customer_id"])
    back = (pairs["gap_days"] <= 90).to_numpy()
    diff = back[~reminded].mean() - back[reminded].mean()
    se = np.sqrt(back[~reminded].var() / (~reminded).sum() + back[reminded].var() / reminded.sum())
    truth = default.truth["drivers"]["no_second_coupon_reminder"]["effect"]["90"]
    assert diff < 0 and abs(diff - truth) < 3.5 * se


def test_spend_matches_gamma_gamma(default):
    amounts = default.clean_purchases()["amount"]
    mean_value = default.truth["spend_model"]["mean_order_value"]
    amounts = amounts[amounts < amounts.quantile(0.999)]  # the planted wholesale orders
    assert abs(amounts.mean() / mean_value - 1) < 0.1


def test_campaign(default):
    c, t = default.campaign, default.truth["campaign"]
    treated = (c["group"] == "treatment").to_numpy()
    assert {"treatment": int(treated.sum()), "control": int((~treated).sum())} == t["n"]
    share = treated.mean()
    assert abs(share - 0.8) < 4 * np.sqrt(0.8 * 0.2 / len(c))
    assert share != 0.8 or len(c) % 5 == 0  # Bernoulli, not an exact split
    assert (c.loc[treated, "designed_share"] == 0.8).all() and (c.loc[~treated, "designed_share"] == 0.2).all()
    assert (c.loc[treated, "cost"] > 0).all() and (c.loc[~treated, "cost"] == 0).all()
    assert c.loc[~treated, "offer"].isna().all() and c.loc[treated, "offer"].notna().all()
    contact = pd.to_datetime(c["contact_ts"])
    assert (contact.dt.date.astype(str) == demo.CAMPAIGN["contact_date"]).all() and contact.dt.hour.between(10, 13).all()
    for seg, n in t["n_by_segment"].items():
        assert ((c["segment"] == seg) & treated).sum() == n["treatment"]
        assert ((c["segment"] == seg) & ~treated).sum() == n["control"]

    customers = default.customers.set_index("customer_id")
    assert c["customer_id"].is_unique and not customers.loc[c["customer_id"], "opted_out"].any()
    purchases = default.clean_purchases()
    first = purchases.groupby("customer_id")["order_time"].min().reindex(c["customer_id"])
    late_first = (first.dropna() >= pd.Timestamp(demo.CAMPAIGN["first_purchase_before"])).sum()
    assert late_first <= default.truth["faults"]["outage_lost_online_orders"]  # a first order lost in the outage
    assert first.isna().sum() <= default.truth["faults"]["customers_without_orders"]  # orders lost in the outage
    contact_of = pd.Series(contact.to_numpy(), index=c["customer_id"])
    before = purchases[purchases["order_time"] < purchases["customer_id"].map(contact_of)]
    last = before.groupby("customer_id")["order_time"].max().dt.normalize().reindex(c["customer_id"])
    recency = (pd.Timestamp(demo.CAMPAIGN["contact_date"]) - last).dt.days
    seg = pd.cut(recency.to_numpy(), [-1, 60, 180, np.inf], labels=["recent", "lapsing", "lapsed"])
    misses = (np.asarray(seg, dtype=object) != c["segment"].to_numpy()).sum()
    assert misses <= default.truth["faults"]["outage_lost_online_orders"]  # only where the outage hid an order

    uplift = t["uplift"]
    assert all(uplift[s] > 0 for s in ("overall", "recent", "lapsing", "lapsed"))
    assert t["revenue_uplift_per_customer"]["overall"] > 0


# ---------------------------------------------------------------- per-customer truth

SETTINGS = {"horizon_months": 12, "margin": 0.35, "annual_discount_rate": 0.10, "cost_to_serve_per_year": 2.0,
            "refund_share": 0.004}


def test_expected_purchases_equal_the_simulation_run_forward():
    """The closed form the truth uses, against the generator's own purchase step run forward
    200,000 times per customer: both stages (waiting for the second purchase at lambda * exp(eta),
    then lambda), a campaign window that starts later, is under way or never comes, dropout
    after every purchase (down to p = 1e-8, the p -> 0 limit)."""
    rng = np.random.default_rng(0)
    lam = np.array([0.01, 0.05, 0.2, 0.03, 0.5, 0.02])
    p = np.array([0.3, 0.05, 0.5, 1e-8, 0.1, 0.9])
    eta = np.array([-0.9, 0.3, -1.5, 0.0, -0.5, 0.0])
    stage1 = np.array([1.0, 1, 0, 1, 1, 0])
    w0 = np.array([5.0, demo.FAR, 0.0, 10.0, -3.0, demo.FAR])
    mult = np.array([2.5, 1.0, 1.3, 1.8, 2.0, 1.0])
    offsets = [30.0, 90.0, 365.0]
    exact = demo._expected_purchases(0.0, offsets, lam=lam, p=p, eta=eta, stage1=stage1, stage2=1 - stage1,
                                     w0=w0, w1=w0 + 30.0, mult=mult)
    reps = 200_000
    for i in range(lam.size):
        t, alive, waiting = np.zeros(reps), np.ones(reps, dtype=bool), np.full(reps, stage1[i] == 1)
        counts = np.zeros((reps, len(offsets)))
        while alive.any():
            idx = np.flatnonzero(alive)
            rate = lam[i] * np.where(waiting[idx], np.exp(eta[i]), 1.0)
            t_next = demo._next_purchase(t[idx], rng.standard_exponential(idx.size), rate, mult[i], w0[i], w0[i] + 30)
            counts[idx] += t_next[:, None] <= np.array(offsets)[None, :]
            t[idx], waiting[idx] = t_next, False
            alive[idx[(rng.random(idx.size) < p[i]) | (t_next > offsets[-1])]] = False
        mean, se = counts.mean(axis=0), counts.std(axis=0) / np.sqrt(reps)
        assert np.all(np.abs(mean - exact[i]) < 4 * se + 1e-9), (i, mean, exact[i], se)
    with pytest.raises(ValueError, match="increase"):
        demo._expected_purchases(0.0, [90.0, 30.0], lam=lam, p=p, eta=eta, stage1=stage1, stage2=1 - stage1,
                                 w0=w0, w1=w0 + 30.0, mult=mult)


def test_customer_truth_at_the_data_end(default):
    """One row per customer acquired by the period end; the dead expect nothing; the alive share
    is the simulation's; expected spend is p / nu; the CLV is helpers.clv's sum (discounted_clv)
    over the truth's monthly purchases."""
    from helpers import clv

    truth = demo.customer_truth("2025-06-30", SETTINGS, out_dir=default.folder)
    hidden = pd.read_parquet(default.folder / demo.TRUTH_CUSTOMERS_FILE)
    assert len(truth) == len(hidden) and int(truth["in_crm"].sum()) == default.truth["n_customers"]
    assert truth["customer_id"].is_unique and set(truth["customer_id"]) == set(hidden["customer_id"])
    crm = truth[truth["in_crm"]]
    assert set(crm["customer_id"]) == set(default.customers["customer_id"])
    assert crm["alive"].mean() == pytest.approx(default.truth["realised"]["alive_at_data_end_share"], abs=1e-6)
    dead = truth[~truth["alive"]]
    assert (dead[["expected_purchases_30", "expected_purchases_365", "expected_purchases_horizon"]] == 0).all().all()
    assert (dead["clv"] == 0).all()  # no purchases, and no cost to serve either
    assert (truth["expected_purchases_30"] <= truth["expected_purchases_90"]).all()
    assert (truth["expected_purchases_90"] <= truth["expected_purchases_365"] + 1e-12).all()
    h = hidden.set_index("customer_id").loc[truth["customer_id"]]
    assert np.allclose(truth["expected_spend"], demo.SPEND["p"] / h["nu"].to_numpy())

    settings = clv.ClvSettings(**{k: SETTINGS[k] for k in ("horizon_months", "margin", "annual_discount_rate")},
                               cost_to_serve_per_year=SETTINGS["cost_to_serve_per_year"],
                               refund_share=SETTINGS["refund_share"])
    assert demo.DAYS_PER_MONTH == clv.DAYS_PER_MONTH
    same = demo.customer_truth(pd.Timestamp("2025-06-30 23:59:59.999999"), settings, out_dir=default.folder)
    pd.testing.assert_frame_equal(same, truth)
    months = [demo.customer_truth("2025-06-30", {**SETTINGS, "horizon_months": m, "cost_to_serve_per_year": 0,
                                                 "margin": 1.0, "annual_discount_rate": 0.0, "refund_share": 0.0},
                                  out_dir=default.folder)["clv"] / truth["expected_spend"] for m in range(1, 13)]
    by_month = np.diff(np.column_stack([np.zeros(len(truth)), *months]), axis=1)
    assert np.allclose(months[-1], truth["expected_purchases_horizon"])
    expected = clv.discounted_clv(by_month, truth["expected_spend"], margin=0.35, annual_discount_rate=0.10,
                                  cost_to_serve_per_year=2.0, p_alive=truth["p_alive"], refund_share=0.004)
    assert np.allclose(truth["clv"], expected)
    assert "discounted_clv" in default.truth["customers"]["definition"]


def test_customer_truth_before_the_data_end(default):
    """At the end of April 2025 the campaign window (from 8 April) is under way: treated customers
    who are alive expect more purchases in the next 30 days than the same customers would
    without the window; a customer acquired after the period end has no row; the data end is
    the last period end the simulation knows."""
    april = demo.customer_truth("2025-04-30", SETTINGS, out_dir=default.folder)
    hidden = pd.read_parquet(default.folder / demo.TRUTH_CUSTOMERS_FILE)
    assert len(april) == int((hidden["first_purchase_day"] < demo._day("2025-05-01")).sum()) < len(hidden)
    dropped = hidden["dropout_day"].to_numpy() <= demo._day("2025-05-01")
    assert april["alive"].to_numpy().sum() == int(((hidden["first_purchase_day"] < demo._day("2025-05-01"))
                                                    & ~dropped).sum())
    h = hidden.set_index("customer_id").loc[april["customer_id"]]
    treated_alive = (h["treated"] & april["alive"].to_numpy()).to_numpy()
    no_window = h.assign(window_multiplier=1.0)
    tau = demo._day("2025-05-01")
    waiting = ~(no_window["second_purchase_day"].to_numpy() < tau)
    alive = april["alive"].to_numpy()
    base = demo._expected_purchases(tau, [30.0], lam=no_window["lam"], p=no_window["p"], eta=no_window["eta"],
                                    stage1=alive & waiting, stage2=alive & ~waiting, w0=demo.FAR, w1=demo.FAR,
                                    mult=np.ones(len(h)))[:, 0]
    assert (april["expected_purchases_30"].to_numpy()[treated_alive] > base[treated_alive]).all()
    assert np.allclose(april["expected_purchases_30"].to_numpy()[~treated_alive], base[~treated_alive])
    with pytest.raises(ValueError, match="after the simulated data end"):
        demo.customer_truth("2025-07-31", SETTINGS, out_dir=default.folder)
    with pytest.raises(ValueError, match="margin"):
        demo.customer_truth("2025-06-30", {"horizon_months": 12}, out_dir=default.folder)


# ---------------------------------------------------------------- cache and concurrency


def _mtimes(folder: Path) -> dict:
    return {name: (folder / name).stat().st_mtime_ns for name in ALL_FILES}


def test_ensure_uses_the_cache_and_regenerates_on_change(tmp_path):
    folder = tmp_path / "demo"
    assert demo.ensure_demo_data(folder, n_customers=SMALL) == folder
    before = _mtimes(folder)
    time.sleep(0.01)
    demo.ensure_demo_data(folder, n_customers=SMALL)
    assert _mtimes(folder) == before

    demo.ensure_demo_data(folder, n_customers=SMALL + 100)
    assert demo.load_truth(folder)["n_customers"] == SMALL + 100
    demo.ensure_demo_data(folder, n_customers=SMALL + 100, seed=1)
    assert demo.load_truth(folder)["seed"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # no temporary folders left behind


def test_ensure_regenerates_an_incomplete_or_older_folder(tmp_path):
    folder = tmp_path / "demo"
    demo.ensure_demo_data(folder, n_customers=SMALL)
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    truth["generator_version"] = demo.GENERATOR_VERSION - 1
    (folder / "truth.json").write_text(json.dumps(truth), encoding="utf-8")
    demo.ensure_demo_data(folder, n_customers=SMALL)
    assert demo.load_truth(folder)["generator_version"] == demo.GENERATOR_VERSION

    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    truth["generator_fingerprint"] = "edited-since"
    (folder / "truth.json").write_text(json.dumps(truth), encoding="utf-8")
    demo.ensure_demo_data(folder, n_customers=SMALL)
    assert demo.load_truth(folder)["generator_fingerprint"] != "edited-since"

    (folder / "campaign.csv").unlink()
    demo.ensure_demo_data(folder, n_customers=SMALL)
    assert (folder / "campaign.csv").exists()


def test_ensure_refuses_to_replace_foreign_files(tmp_path):
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="notes.txt"):
        demo.ensure_demo_data(folder, n_customers=SMALL)
    assert (folder / "notes.txt").read_text() == "mine"


def test_ensure_default_folder_comes_from_config(tmp_path, monkeypatch):
    import helpers.config

    monkeypatch.setattr(helpers.config, "DATA_DIR", tmp_path)
    assert demo.ensure_demo_data(n_customers=SMALL) == tmp_path / "demo"
    assert demo.load_truth()["n_customers"] == SMALL


def test_load_truth_names_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="truth.json"):
        demo.load_truth(tmp_path)


def test_concurrent_callers_get_complete_data(tmp_path):
    folder = tmp_path / "demo"
    code = (
        "import sys; from pathlib import Path; from helpers import demo; "
        f"p = demo.ensure_demo_data(Path(sys.argv[1]), n_customers={SMALL}); "
        "print(sorted(x.name for x in p.iterdir()))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(demo.__file__).resolve().parent.parent)}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    for (out, err), p in zip(results, procs, strict=True):
        assert p.returncode == 0, err
        assert out.strip() == str(sorted(ALL_FILES))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]
    reference = tmp_path / "reference"
    demo.generate(reference, n_customers=SMALL)
    for name in ALL_FILES:
        assert (folder / name).read_bytes() == (reference / name).read_bytes()


# ---------------------------------------------------------------- scale


@pytest.mark.slow
def test_scale_smoke(tmp_path):
    start = time.perf_counter()
    truth = demo.generate(tmp_path, n_customers=300_000)
    elapsed = time.perf_counter() - start
    rows = truth["total_rows_by_source"]
    assert rows["online_orders"] + rows["pos_orders"] > 900_000
    assert elapsed < 60, f"{elapsed:.1f} s"
    on = pd.read_parquet(tmp_path / "online_orders.parquet", columns=["order_id", "amount", "status"])
    assert len(on) == rows["online_orders"]
    assert (on["status"] == "refunded").sum() == truth["faults"]["refund_rows"]
    assert re.fullmatch(r"W\d+", on["order_id"].iloc[0])


# ---------------------------------------------------------------- a brand of any size (workbook generate)


def test_write_brand_params_load_and_point_at_the_written_files(tmp_path, monkeypatch):
    import yaml

    from helpers import config

    monkeypatch.chdir(tmp_path)  # the params must not depend on the working folder
    path = demo.write_brand(Path("brand"), n_customers=500, seed=3)
    assert path == (tmp_path / "brand" / "params.yaml").resolve()
    params = config.load_params(path)
    assert params.brand == "synthetic_500" and params.demo is None
    specs = [s for kind in ("orders", "customers", "interactions", "campaigns") for s in getattr(params.sources, kind)]
    assert sorted(Path(s.path).name for s in specs) == sorted(demo.DATA_FILES)
    for spec in specs:
        assert Path(spec.path).is_absolute() and config.resolve_path(spec.path, params).is_file()
    assert demo.load_truth(path.parent)["n_customers"] == 500 and demo.load_truth(path.parent)["seed"] == 3

    # everything but the brand, its description and the paths is params/demo.yaml's
    template = yaml.safe_load((config.PARAMS_DIR / "demo.yaml").read_text(encoding="utf-8"))
    written = yaml.safe_load(path.read_text(encoding="utf-8"))
    for raw in (template, written):
        for key in ("brand", "display_name", "description", "demo"):
            raw.pop(key, None)
        for spec in (s for specs in raw["sources"].values() for s in specs):
            spec["path"] = Path(spec["path"]).name
    assert written == template

    # reuse keeps data of the same size and seed, a new brand name only rewrites the params
    before = {name: (path.parent / name).stat().st_mtime_ns for name in demo.DATA_FILES}
    again = demo.write_brand(path.parent, n_customers=500, seed=3, brand="other", reuse=True)
    assert config.load_params(again).brand == "other"
    assert {name: (path.parent / name).stat().st_mtime_ns for name in demo.DATA_FILES} == before


def test_write_brand_refuses_a_bad_brand_name_before_generating(tmp_path):
    from helpers.config import ParamsError

    with pytest.raises(ParamsError, match="brand"):
        demo.write_brand(tmp_path / "b", n_customers=500, brand="Not A Name")
    assert not (tmp_path / "b").exists()


@pytest.mark.slow
def test_workbook_generate_then_run_notebook_01(tmp_path, monkeypatch, capsys):
    from helpers import runner

    outputs = tmp_path / "outputs"
    monkeypatch.setenv("WORKBOOK_OUTPUTS", str(outputs))  # the conftest mechanism, a folder of our own
    assert runner.main(["generate", "--customers", "500", "--out", str(tmp_path / "synth")]) == 0
    printed = capsys.readouterr().out
    params_path = tmp_path / "synth" / "params.yaml"
    assert f"params: {params_path}" in printed and f"workbook run --params {params_path}" in printed

    assert runner.main(["run", "--params", str(params_path), "--only", "01"]) == 0
    manifest = json.loads((outputs / "synthetic_500" / "2025-06" / "latest" / "manifest.json").read_text())
    assert manifest["status"] == "success" and manifest["notebooks"]["01_data_audit"]["status"] == "ok"
    assert not (outputs / "demo").exists()
