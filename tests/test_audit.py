"""Audit and cleaning: hand-made fixtures with known counts, and the real bundled data."""

from __future__ import annotations

import pandas as pd
import pytest

from helpers import audit, config, sources
from tests.conftest import write_params

FEB_END = config.period_end("2024-02", "month")


@pytest.fixture
def tiny(tiny_params):
    return sources.load(config.load_params(tiny_params))


def test_reconciliation_counts_every_rule(tiny):
    clean = audit.clean_orders(tiny, FEB_END)
    removed = clean.steps.set_index("step")["rows_removed"].to_dict()
    assert removed["raw shop"] == 0
    assert clean.steps["rows_after"].iloc[0] == 9
    assert removed["unparseable values"] == 1
    assert removed["after period end"] == 1
    assert removed["exact duplicates"] == 1
    assert removed["conflicting duplicates"] == 0
    assert removed["guest orders"] == 1
    assert removed["refunds"] == 1
    assert removed["zero-amount orders"] == 1
    orders = clean.orders.order_by("order_id").execute()
    assert list(orders["order_id"]) == ["A1", "A2", "A3"]
    assert orders["amount"].sum() == pytest.approx(1350.50)
    assert clean.revenue_net == pytest.approx(1350.50 - 40.0)
    # the lines chain: each step starts where the previous ended
    rows = clean.steps["rows_after"].tolist()
    assert all(clean.steps["rows_before"].iloc[i] == rows[i - 1] for i in range(1, len(rows)) if clean.steps["action"].iloc[i] == "drop")


def test_clean_view_without_steps_is_the_same_rows(tiny):
    full = audit.clean_orders(tiny, FEB_END).orders.order_by("order_id").execute()
    lazy = audit.clean_orders(tiny, FEB_END, with_steps=False).orders.order_by("order_id").execute()
    assert full["order_id"].tolist() == lazy["order_id"].tolist()
    assert full["is_outlier"].tolist() == lazy["is_outlier"].tolist()


def test_as_of_a_month_earlier_sees_less(tiny):
    jan = audit.clean_orders(tiny, config.period_end("2024-01", "month"))
    assert set(jan.orders.execute()["order_id"]) == {"A1", "A3"}


def test_conflicting_duplicates_keep_first_or_drop_all(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("id,c,ts,amt\nX,c1,2024-01-02,10\nX,c1,2024-01-01,12\nY,c2,2024-01-03,5\n", encoding="utf-8")
    body = f"""
        brand: dup
        sources:
          orders:
            - name: o
              path: {path}
              columns: {{order_id: id, customer_id: c, order_ts: ts, amount: amt}}
        cleaning:
          conflicting_duplicates: {{policy}}
    """
    keep = sources.load(config.load_params(write_params(tmp_path, body.replace("{policy}", "keep_first"), "k.yaml")))
    result = audit.clean_orders(keep, FEB_END)
    frame = result.orders.order_by("order_id").execute()
    assert frame["amount"].tolist() == [12.0, 5.0]  # the earliest version of X
    assert result.counts["conflicting_duplicate_ids"] == 1
    drop = sources.load(config.load_params(write_params(tmp_path, body.replace("{policy}", "drop_all"), "d.yaml")))
    assert audit.clean_orders(drop, FEB_END).orders.execute()["order_id"].tolist() == ["Y"]


def test_outliers_are_flagged_not_dropped(tmp_path):
    rows = [f"o{i},c{i % 40},2024-01-{1 + i % 28:02d},{50 + (i * 7) % 40}" for i in range(300)]
    rows.append("big,c1,2024-01-10,90000")
    path = tmp_path / "o.csv"
    path.write_text("id,c,ts,amt\n" + "\n".join(rows) + "\n", encoding="utf-8")
    data = sources.load(config.load_params(write_params(tmp_path, f"""
        brand: out
        sources:
          orders:
            - name: o
              path: {path}
              columns: {{order_id: id, customer_id: c, order_ts: ts, amount: amt}}
    """)))
    clean = audit.clean_orders(data, FEB_END)
    frame = clean.orders.execute()
    assert len(frame) == 301
    assert frame.loc[frame["is_outlier"], "order_id"].tolist() == ["big"]
    assert clean.counts["outliers_flagged"] == 1


def test_gap_detection_respects_weekly_closures():
    days = pd.date_range("2024-01-01", "2024-03-31", freq="D")
    orders = [0 if d.dayofweek == 5 else 40 for d in days]  # closed every Saturday
    daily = pd.DataFrame({"day": days, "orders": orders, "revenue": orders, "source": "shop"})
    assert audit.find_gaps(daily).empty
    outage = daily.copy()
    outage.loc[outage["day"].between("2024-02-13", "2024-02-15"), "orders"] = 0
    gaps = audit.find_gaps(outage)
    assert len(gaps) == 1
    assert str(gaps["first_day"].iloc[0]) == "2024-02-13" and gaps["days"].iloc[0] == 3
    # a quiet shop (one order every few days) is not flagged for a few empty days
    quiet = daily.assign(orders=[1 if i % 4 == 0 else 0 for i in range(len(days))])
    assert audit.find_gaps(quiet).empty


def test_readiness_verdicts(tiny):
    clean = audit.clean_orders(tiny, FEB_END)
    ready = audit.readiness(clean.orders, FEB_END, tiny.params)
    assert ready["customers"] == 2 and ready["repeat_customers"] == 1
    assert ready["verdict"] == "not ready"
    assert ready["reasons"] == ["few_repeat", "short_history"]
    assert audit.readiness_findings(ready)[0].severity == "fail"


def test_findings_and_status(tiny):
    clean = audit.clean_orders(tiny, FEB_END)
    findings = audit.cleaning_findings(clean)
    by_check = {f.check: f for f in findings}
    assert by_check["exact_duplicates"].rows == 1 and by_check["exact_duplicates"].severity == "warn"
    assert by_check["guest_orders"].severity == "warn"  # 1 of 7 orders: above 5 %
    # 3 of the 9 rows are broken (unparseable A8, duplicate A2, zero-amount A5): above the 20 % allowed
    faulty = by_check["faulty_share"]
    assert faulty.severity == "fail" and faulty.rows == 3
    assert (faulty.values["faulty"], faulty.values["rows_in"], faulty.values["allowed"]) == (3, 9, 0.2)
    assert audit.overall_status(findings) == "fail"
    lenient = audit.CleanResult(**{**clean.__dict__, "max_faulty_share": 0.5})
    assert audit.overall_status(audit.cleaning_findings(lenient)) == "warn"
    assert audit.overall_status([]) == "pass"
    failures = audit.parse_failures(tiny)
    assert failures[["column", "raw column", "rows", "examples"]].values.tolist() == [["amount", "amount", 1, "'N/A'"]]
    found = audit.source_findings(audit.profile_sources(tiny), failures, {}, 0)[0]
    assert found.values == {"file": "orders.csv", "raw_column": "amount", "column": "amount", "value_type": "money",
                            "examples": "'N/A'"}
    assert [f.severity for f in audit.sort_findings(findings)][0] == "fail"
    assert audit.finding_counts(findings) == {s: sum(f.severity == s for f in findings) for s in ("fail", "warn", "info")}


# ---------------------------------------------------------------- the real bundled data


@pytest.mark.slow
def test_online_retail_known_figures():
    data = sources.load(config.load_params(brand="online_retail"))
    profile = audit.profile_sources(data).iloc[0]
    assert profile["raw_rows"] == 541_909
    assert profile["orders"] == 25_900
    assert profile["customers"] == 4_372
    assert profile["refund_status_rows"] == 9_288  # cancellation lines (invoice number starts with C)
    assert profile["missing_customer_id"] == 135_080
    assert profile["revenue"] == pytest.approx(9_747_747.93, abs=0.01)
    clean = audit.clean_orders(data, config.period_end("2011-11", "month"))
    assert clean.steps["rows_after"].iloc[0] == 541_909
    assert clean.steps["revenue_after"].iloc[0] == pytest.approx(9_747_747.93, abs=0.01)
    assert audit.line_duplicates(data) == {"invoice_lines": 5_268}


@pytest.mark.slow
def test_cdnow_known_figures():
    data = sources.load(config.load_params(brand="cdnow"))
    profile = audit.profile_sources(data).iloc[0]
    assert profile["raw_rows"] == 69_659
    assert profile["customers"] == 23_570
    assert profile["first"] == pd.Timestamp("1997-01-01") and profile["last"] == pd.Timestamp("1998-06-30")
    assert sources.order_date_range(data.params)[1] == pd.Timestamp("1998-06-30")


def test_run_customer_table_merges_columns(tmp_path, tiny_params):
    from helpers.report import open_run

    run = open_run(params_path=str(tiny_params), brand="tiny", period="2024-02", run_dir=str(tmp_path / "run"))
    assert run.customers() is None
    run.update_customers(pd.DataFrame({"customer_id": ["c1", "c2"], "stage": ["active", "new"]}))
    run.update_customers(pd.DataFrame({"customer_id": ["c1", "c3"], "clv": [10.0, 2.0]}))
    run.update_customers(pd.DataFrame({"customer_id": ["c2"], "stage": ["dormant"]}))  # replaces the column
    frame = run.customers().set_index("customer_id").sort_index()
    assert frame.loc["c1", "clv"] == 10.0 and frame.loc["c3", "clv"] == 2.0
    assert frame.loc["c2", "stage"] == "dormant" and pd.isna(frame.loc["c1", "stage"])
    with pytest.raises(ValueError, match="duplicated"):
        run.update_customers(pd.DataFrame({"customer_id": ["c1", "c1"], "x": [1, 2]}))
    assert "February 2024 (1 February 2024 to 29 February 2024) · run run" in run.describe()


def test_previous_output_finds_the_latest_earlier_period(tmp_path, tiny_params, monkeypatch):
    from helpers.report import open_run

    monkeypatch.setenv("WORKBOOK_OUTPUTS", str(tmp_path / "out"))
    for period, run_id in (("2023-12", "r1"), ("2024-01", "r2"), ("2024-02", "r3")):
        target = tmp_path / "out" / "tiny" / period / run_id / "data"
        target.mkdir(parents=True)
        (target / "response.json").write_text(period)
        (tmp_path / "out" / "tiny" / period / "latest").symlink_to(run_id)
    run = open_run(params_path=str(tiny_params), brand="tiny", period="2024-02", run_dir=str(tmp_path / "run"))
    label, path = run.previous_output("data/response.json")
    assert label == "2024-01" and path.read_text() == "2024-01"
    assert run.previous_output("data/none.json") is None


def test_as_of_tables_leave_out_later_rows(tmp_path):
    path = tmp_path / "i.csv"
    path.write_text("cid,ts,kind\nc1,2024-01-05,ticket\nc1,2024-03-05,ticket\nc2,,ticket\n", encoding="utf-8")
    orders = tmp_path / "o.csv"
    orders.write_text("id,c,ts,amt\nA,c1,2024-01-01,5\n", encoding="utf-8")
    params = write_params(tmp_path, f"""
        brand: asof
        sources:
          orders:
            - name: o
              path: {orders}
              columns: {{order_id: id, customer_id: c, order_ts: ts, amount: amt}}
          interactions:
            - name: i
              path: {path}
              columns: {{customer_id: cid, ts: ts, kind: kind}}
    """)
    from helpers.report import open_run

    run = open_run(params_path=str(params), brand="asof", period="2024-02", run_dir=str(tmp_path / "run"))
    assert run.as_of("interactions").count().execute() == 1  # the March row and the undated row are out
    assert run.as_of("campaigns") is None


# ---------------------------------------------------------------- one pass, stored once


def sequential_reference(rows: pd.DataFrame, end: pd.Timestamp) -> tuple[dict[str, int], list[str]]:
    """The cleaning rules applied one after another in pandas, the way the reconciliation reads:
    an independent reference for the engine's one-pass flags."""
    t, removed = rows.copy(), {}

    def drop(rule, mask):
        nonlocal t
        removed[rule] = int(mask.sum())
        t = t[~mask]

    drop("unparseable values", t["bad"])
    drop("after period end", ~(t["ts"] <= end))
    drop("exact duplicates", t.duplicated(["id", "c", "ts", "amt", "status"]))
    t = t.sort_values(["ts", "amt"], kind="stable")
    drop("conflicting duplicates", t.duplicated("id"))  # keep_first: the earliest version stays
    drop("guest orders", t["c"].isna())
    drop("cancelled orders", t["status"].eq("cancelled"))
    drop("refunds", t["status"].eq("refunded") | (t["amt"] < 0))
    drop("zero-amount orders", ~(t["amt"].notna() & (t["amt"] != 0)))  # an empty amount is no sale either
    return removed, sorted(t["id"] + "/" + t["ts"].dt.strftime("%d"))


def test_one_pass_flags_match_rules_applied_in_turn(tmp_path):
    """Rules interact: a copy dated after the period end is not a duplicate; an unparseable
    version does not make an order conflicting; a duplicate of a refund is removed as a duplicate."""
    lines = [
        "id,c,ts,amt,status",
        "A,c1,2024-01-02,10,completed", "A,c1,2024-01-02,10,completed",      # exact duplicate
        "B,c1,2024-01-03,10,completed", "B,c1,2024-03-03,10,completed",      # second copy is after the end
        "C,c2,2024-01-04,10,completed", "C,c2,2024-01-05,oops,completed",    # other version unparseable
        "D,c2,2024-01-06,10,completed", "D,c2,2024-01-05,12,completed",      # conflict: earliest kept
        "D,c2,2024-01-05,12,completed",                                      # ... and its exact copy
        "E,,2024-01-07,10,completed", "F,c3,2024-01-08,10,cancelled",
        "G,c3,2024-01-09,-5,refunded", "G,c3,2024-01-09,-5,refunded",        # duplicated refund
        "H,c3,2024-01-10,0,completed", "I,c3,2024-01-11,,completed",         # zero and empty amounts
        "J,c4,,10,completed",                                                # no order time
    ]
    path = tmp_path / "o.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    params = write_params(tmp_path, f"""
        brand: flags
        sources:
          orders:
            - name: o
              path: {path}
              columns: {{order_id: id, customer_id: c, order_ts: ts, amount: amt, status: status}}
    """)
    end = config.period_end("2024-02", "month")
    clean = audit.clean_orders(sources.load(config.load_params(params)), end)
    frame = pd.read_csv(path, dtype=str)
    frame["bad"] = frame["amt"].notna() & pd.to_numeric(frame["amt"], errors="coerce").isna()
    frame["amt"] = pd.to_numeric(frame["amt"], errors="coerce")
    frame["ts"] = pd.to_datetime(frame["ts"])
    expected, kept = sequential_reference(frame, end)
    removed = clean.steps.set_index("step")["rows_removed"]
    assert {rule: int(removed[rule]) for rule in expected} == expected
    got = clean.orders.execute()
    assert sorted(got["order_id"] + "/" + got["order_ts"].dt.strftime("%d")) == kept
    assert clean.counts["conflicting_duplicate_ids"] == 1  # D (C's other version was unparseable)
    assert clean.refunds.execute()["order_id"].tolist() == ["G"]


def test_later_notebooks_read_the_stored_tables_not_the_sources(tmp_path, tiny_params, monkeypatch):
    from helpers.report import open_run

    first = open_run(params_path=str(tiny_params), brand="tiny", period="2024-02", run_dir=str(tmp_path / "run"))
    steps = first.clean.steps
    assert (tmp_path / "run" / "engine" / "orders_clean.parquet").exists()

    def no_raw(*args, **kwargs):
        raise AssertionError("a later notebook opened a raw source")

    monkeypatch.setattr(sources, "read_raw", no_raw)
    later = open_run(params_path=str(tiny_params), brand="tiny", period="2024-02", run_dir=str(tmp_path / "run"))
    assert sorted(later.orders.execute()["order_id"]) == ["A1", "A2", "A3"]
    assert later.clean.refunds.count().execute() == 1
    pd.testing.assert_frame_equal(later.clean.steps, steps, check_dtype=False)
    assert later.clean.counts == first.clean.counts


def test_a_store_made_from_other_data_is_rebuilt(tmp_path, tiny_params, tiny_orders_csv):
    from helpers.report import open_run

    run_dir = str(tmp_path / "run")
    assert open_run(params_path=str(tiny_params), brand="tiny", period="2024-02", run_dir=run_dir).orders.count().execute() == 3
    with open(tiny_orders_csv, "a", encoding="utf-8") as fh:
        fh.write("A9,c9,2024-02-10 09:00:00,20.00,completed\n")
    again = open_run(params_path=str(tiny_params), brand="tiny", period="2024-02", run_dir=run_dir)
    assert again.orders.count().execute() == 4, "the stale store was served"
    other_month = open_run(params_path=str(tiny_params), brand="tiny", period="2024-01", run_dir=run_dir)
    assert other_month.orders.count().execute() == 2
