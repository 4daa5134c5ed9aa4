"""Report functions without a test before (issue 17): clv.weekly_tracking, spend_by_frequency,
cac_report, lost_valuable; drivers.unadjusted; the charts of tiers_plots. Each on a handful of
hand-made customers, with the expected figures worked out by hand in the comments."""

from __future__ import annotations

from types import SimpleNamespace

import ibis
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from helpers import clv, drivers, tiers_plots  # noqa: E402
from helpers.text import Text  # noqa: E402
from helpers.text.formats import Formats  # noqa: E402
from helpers.tiers import TIERS  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def orders_table(rows, columns=("order_id", "customer_id", "order_ts", "amount")):
    frame = pd.DataFrame(rows, columns=list(columns))
    frame["order_ts"] = pd.to_datetime(frame["order_ts"])
    return ibis.memtable(frame)


# ================================================================ clv.spend_by_frequency


def test_spend_by_frequency_groups_caps_and_intervals():
    data = pd.DataFrame({"n": [1, 1, 2, 3, 5, 7], "m": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]})
    out = clv.spend_by_frequency(data, cap=3).set_index("label")
    assert list(out.index) == ["1", "2", "3+"]
    assert "sd" not in out.columns
    assert out["customers"].tolist() == [2, 1, 3]
    # group 1: m = 10, 20 -> mean 15; sd (ddof 1) = sqrt((25 + 25) / 1) = sqrt(50); se = sqrt(50) / sqrt(2) = 5
    #          interval 15 -/+ 1.96 * 5 = 5.2 .. 24.8
    assert out.loc["1", "mean_spend"] == pytest.approx(15.0)
    assert out.loc["1", "low"] == pytest.approx(5.2)
    assert out.loc["1", "high"] == pytest.approx(24.8)
    # group 2: one customer, m = 30: mean 30, no sd -> no interval
    assert out.loc["2", "mean_spend"] == pytest.approx(30.0)
    assert np.isnan(out.loc["2", "low"]) and np.isnan(out.loc["2", "high"])
    # group 3+ (n = 3, 5, 7 capped at 3): m = 40, 50, 60 -> mean 50, sd 10, se = 10 / sqrt(3) = 5.7735
    #          interval 50 -/+ 1.96 * 5.7735 = 50 -/+ 11.3161 = 38.6839 .. 61.3161
    assert out.loc["3+", "group"] == 3
    assert out.loc["3+", "mean_spend"] == pytest.approx(50.0)
    assert out.loc["3+", "low"] == pytest.approx(50 - 1.96 * 10 / np.sqrt(3))
    assert out.loc["3+", "low"] == pytest.approx(38.6839, abs=1e-4)
    assert out.loc["3+", "high"] == pytest.approx(61.3161, abs=1e-4)


# ================================================================ clv.lost_valuable


def _lost_fixture():
    # c1..c10 with past revenue 10, 20, ..., 100
    customers = pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(1, 11)],
        "x":       [1, 1, 1, 1, 1, 4, 1, 2, 0, 3],
        "p_alive": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.29, 0.3, 0.05, 0.1],
    })
    past = pd.Series(np.arange(1, 11) * 10.0, index=customers.index)
    return customers, past


def test_lost_valuable_top_share_repeat_buyers_below_threshold():
    customers, past = _lost_fixture()
    out = clv.lost_valuable(customers, past, top_share=0.4, p_alive_below=0.3)
    # threshold = 60 % quantile of 10..100 (linear): position 0.6 * 9 = 5.4 -> 60 + 0.4 * 10 = 64
    # c6 (60, below 64) out although x = 4, p = 0; c7 (70, x 1, p 0.29) in; c8 (80, p = 0.3, not < 0.3) out;
    # c9 (90, x = 0: never repeated) out; c10 (100, x 3, p 0.1) in. Most valuable first.
    assert out["customer_id"].tolist() == ["c10", "c7"]
    assert out["past_revenue"].tolist() == [100.0, 70.0]


def test_lost_valuable_defaults_top_fifth():
    customers, past = _lost_fixture()
    out = clv.lost_valuable(customers, past)
    # threshold = 80 % quantile: position 0.8 * 9 = 7.2 -> 80 + 0.2 * 10 = 82: only c9 (x = 0) and c10 qualify
    assert out["customer_id"].tolist() == ["c10"]
    assert out["past_revenue"].tolist() == [100.0]


# ================================================================ clv.cac_report


class _Data:
    def __init__(self, tables):
        self.tables = tables

    def has(self, name):
        return name in self.tables

    def table(self, name):
        return self.tables[name]


def _run(costs, tables=None, orders=None, months=12):
    params = SimpleNamespace(business=SimpleNamespace(acquisition_cost=costs), clv=SimpleNamespace(horizon_months=months))
    return SimpleNamespace(params=params, data=_Data(tables or {}), orders=orders)


PREDICTIONS = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "e"],
                            "clv": [20.0, 40.0, 30.0, 100.0, 500.0],
                            "clv_low": [10.0, 20.0, 25.0, 90.0, 400.0]})


def test_cac_report_from_customers_table():
    customers = ibis.memtable(pd.DataFrame({"customer_id": ["a", "b", "c", "d"],
                                            "acquisition_channel": ["ads", "ads", "email", "organic"]}))
    run = _run({"ads": 50.0, "email": 10.0}, tables={"customers": customers})
    table, lines = clv.cac_report(run, PREDICTIONS)
    # ads: a, b -> mean CLV (20 + 40) / 2 = 30, mean clv_low (10 + 20) / 2 = 15; 30 / 50 = 0.6 (< 1)
    # email: c -> 30; 30 / 10 = 3.0
    # organic (d) and unknown (e, not in the customers table) have no cost: left out
    assert list(table.index) == ["ads", "email"]
    assert table["customers"].tolist() == [2, 1]
    assert table["mean_clv"].tolist() == pytest.approx([30.0, 30.0])
    assert table["mean_clv_low"].tolist() == pytest.approx([15.0, 25.0])
    assert table["acquisition_cost"].tolist() == [50.0, 10.0]
    assert table["clv_to_cac"].tolist() == pytest.approx([0.6, 3.0])
    assert lines == [
        "ads: mean 12-month CLV 30.00 vs acquisition cost 50.00 = CLV/CAC 0.60 — below 1: acquiring these "
        "customers loses money over the horizon.",
        "email: mean 12-month CLV 30.00 vs acquisition cost 10.00 = CLV/CAC 3.00.",
    ]


def test_cac_report_falls_back_to_first_order_channel():
    orders = orders_table([
        ("o1", "a", "2024-01-01", 10.0, "email"),
        ("o2", "a", "2024-02-01", 10.0, "ads"),      # later order: not the acquisition channel
        ("o3", "b", "2024-01-05", 10.0, "ads"),
        ("o4", "b", "2024-01-03", 10.0, "email"),    # b's first order is this one
        ("o5", "c", "2024-01-02", 10.0, "ads"),
    ], columns=("order_id", "customer_id", "order_ts", "amount", "channel"))
    run = _run({"ads": 20.0, "email": 60.0}, orders=orders, months=6)
    preds = PREDICTIONS.iloc[:3]
    table, lines = clv.cac_report(run, preds)
    # email: a (20), b (40) -> mean 30; 30 / 60 = 0.5.  ads: c (30) -> 30 / 20 = 1.5
    assert table.loc["email", "customers"] == 2
    assert table.loc["email", "mean_clv"] == pytest.approx(30.0)
    assert table.loc["email", "clv_to_cac"] == pytest.approx(0.5)
    assert table.loc["ads", "customers"] == 1
    assert table.loc["ads", "clv_to_cac"] == pytest.approx(1.5)
    assert "ads: mean 6-month CLV 30.00 vs acquisition cost 20.00 = CLV/CAC 1.50." in lines


def test_cac_report_without_costs_or_channels_or_matching_channel():
    table, lines = clv.cac_report(_run({}), PREDICTIONS)
    assert table is None and "No acquisition costs" in lines[0]
    no_channel = orders_table([("o1", "a", "2024-01-01", 10.0)])
    table, lines = clv.cac_report(_run({"ads": 5.0}, orders=no_channel), PREDICTIONS)
    assert table is None and "no acquisition channel" in lines[0]
    customers = ibis.memtable(pd.DataFrame({"customer_id": ["a"], "acquisition_channel": ["organic"]}))
    table, lines = clv.cac_report(_run({"tv": 5.0, "ads": 1.0}, tables={"customers": customers}), PREDICTIONS)
    assert table is None and lines == ["None of the channels with an acquisition cost (ads, tv) appear in the data."]


# ================================================================ clv.weekly_tracking


class _LinearFit:
    """A stand-in purchase model: E[repeat purchases in (0, t]] = rate * t (t in weeks)."""

    def __init__(self, rate, unit="week"):
        self.rate, self.unit, self.checked = rate, clv.time_unit(unit), []

    def check(self, unit, what=""):
        self.checked.append(what)
        clv.same_unit(self.unit, unit, what=what)

    def expected_new(self, t):
        return self.rate * np.asarray(t, dtype=float)


def _tracking_orders():
    return orders_table([
        ("a1", "A", "2024-01-01 09:00", 10.0),   # A's first purchase (day 0 of the tracking)
        ("a2", "A", "2024-01-03 09:00", 10.0),   # repeat, week 1
        ("a3", "A", "2024-01-03 18:00", 10.0),   # same day: collapsed into a2's purchase
        ("a4", "A", "2024-01-10 09:00", 10.0),   # repeat, week 2
        ("a5", "A", "2024-01-20 09:00", 10.0),   # repeat, week 3 (holdout)
        ("e1", "E", "2024-01-01 12:00", 10.0),   # E: first purchase only, same first day as A
        ("b1", "B", "2024-01-05 09:00", 10.0),
        ("b2", "B", "2024-01-16 09:00", 10.0),   # repeat, week 3 (holdout)
        ("d1", "D", "2024-01-08 09:00", 10.0),
        ("d2", "D", "2024-02-02 09:00", 10.0),   # after the period end: not counted
        ("c1", "C", "2024-01-20 09:00", 10.0),   # C arrives in the holdout: not a calibration customer
        ("c2", "C", "2024-01-25 09:00", 10.0),   # so its repeat is not counted either
    ])


def test_weekly_tracking_actual_and_expected_by_week():
    orders = _tracking_orders()
    period_end = pd.Timestamp("2024-01-28 23:59:59")
    summary = clv.customer_summary(orders, period_end, "week", holdout_days=14)  # calibration ends 2024-01-14
    assert sorted(summary.frame["customer_id"]) == ["A", "B", "D", "E"]
    fit = _LinearFit(rate=0.7)  # 0.7 per week = 0.1 per day
    out = clv.weekly_tracking(orders, summary, {"toy": fit}, period_end)
    # start 2024-01-01, last day 2024-01-28: 28 days = 4 weeks, ending Jan 7, 14, 21, 28
    assert out["week"].tolist() == [1, 2, 3, 4]
    assert out["week_end"].tolist() == list(pd.to_datetime(["2024-01-07", "2024-01-14", "2024-01-21", "2024-01-28"]))
    # repeats by week index (day - start) // 7: A Jan 3 -> 0, A Jan 10 -> 1, A Jan 20 -> 2, B Jan 16 -> 2
    # per week 1, 1, 2, 0 -> cumulative 1, 2, 4, 4
    assert out["actual"].tolist() == [1.0, 2.0, 4.0, 4.0]
    # expected = sum over customers of 0.1 * days since their first purchase at the week's end:
    #   Jan 7:  A 6 + E 6 + B 2 + D 0 (bought Jan 8; never negative) = 14 -> 1.4
    #   Jan 14: 13 + 13 + 9 + 6 = 41 -> 4.1
    #   Jan 21: 20 + 20 + 16 + 13 = 69 -> 6.9
    #   Jan 28: 27 + 27 + 23 + 20 = 97 -> 9.7
    assert out["toy"].tolist() == pytest.approx([1.4, 4.1, 6.9, 9.7])
    assert out["holdout"].tolist() == [False, False, True, True]
    assert fit.checked == ["tracking"]


def test_weekly_tracking_refuses_a_fit_in_another_unit():
    orders = _tracking_orders()
    period_end = pd.Timestamp("2024-01-28")
    summary = clv.customer_summary(orders, period_end, "week", holdout_days=14)
    with pytest.raises(clv.TimeUnitError):
        clv.weekly_tracking(orders, summary, {"toy": _LinearFit(0.1, unit="day")}, period_end)


# ================================================================ drivers.unadjusted


def _driver_data(horizon=30):
    rows = [  # id, duration (days to the 2nd purchase or to censoring), event, touch, region, eligible
        ("t1", 10, True, True, "north", True),
        ("t2", 20, True, True, "south", True),
        ("t3", 15, False, True, "north", True),
        ("t4", 40, True, True, "east", True),
        ("t5", 60, False, True, "south", True),
        ("u1", 5, True, False, "north", True),
        ("u2", 35, False, False, "east", True),
        ("u3", 50, False, False, "south", True),
        ("u4", 70, False, False, "north", True),
        ("x1", 1, True, True, "north", False),   # not eligible: left out of every curve
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "duration", "event", "touch", "region", "eligible"])
    factors = [
        drivers.Factor(name="touch", label="was touched", family="service", variable="touch"),
        drivers.Factor(name="region: north", label="region north", family="who", variable="region",
                       level="north", reference="south"),
    ]
    return drivers.DriverData(frame=frame, factors=factors, skipped=pd.DataFrame(), not_measured={}, measured={},
                              window=0.0, horizon=horizon)


def test_unadjusted_kaplan_meier_shares_and_gaps():
    out = drivers.unadjusted(_driver_data()).set_index("factor")
    # touch = True (t1..t5), sorted: 10 event, 15 censored, 20 event, 40 event, 60 censored
    #   S(10) = 4/5 = 0.8; at 20 three at risk: S = 0.8 * 2/3 = 0.5333; S(30) = 0.5333 -> with = 1 - 8/15 = 7/15
    #   (the naive share 2/5 = 0.4 would count t3, censored at 15, as not having bought)
    # touch = False (u1..u4): 5 event, 35, 50, 70 censored: S(5) = 3/4 -> without = 0.25
    # gap = 7/15 - 1/4 = 13/60 = 0.21667
    assert out.loc["touch", "n"] == 5
    assert out.loc["touch", "with"] == pytest.approx(7 / 15)
    assert out.loc["touch", "without"] == pytest.approx(0.25)
    assert out.loc["touch", "gap"] == pytest.approx(13 / 60)
    # region north (t1, t3, u1, u4): 5 event, 10 event, 15 and 70 censored: S = 3/4 * 2/3 = 0.5 -> with 0.5
    # reference: south plus east (not a kept level, so it falls back to the reference): t2 20 event,
    #   u2 35, t4 40 event, u3 50, t5 60: S(30) = 4/5 -> without = 0.2 (south alone would give 1/3)
    # gap = 0.3
    assert out.loc["region: north", "n"] == 4
    assert out.loc["region: north", "with"] == pytest.approx(0.5)
    assert out.loc["region: north", "without"] == pytest.approx(0.2)
    assert out.loc["region: north", "gap"] == pytest.approx(0.3)
    assert out.loc["region: north", "reference"] == "south"
    # largest gap first: 0.3 before 0.2167
    assert list(out.index) == ["region: north", "touch"]


def test_unadjusted_beyond_follow_up_is_nan():
    # nobody untouched is followed for 80 days (longest 70): 'without' is unknown, not 0
    out = drivers.unadjusted(_driver_data(horizon=80)).set_index("factor")
    assert np.isnan(out.loc["touch", "without"])
    assert np.isnan(out.loc["touch", "gap"])
    # north is followed to 70 too -> NaN; the reference to 60 -> NaN
    assert np.isnan(out.loc["region: north", "with"])


# ================================================================ tiers_plots


EUR = Formats(Text("en"), "EUR")


def _texts(ax):
    return ax.get_title(), ax.get_xlabel(), ax.get_ylabel()


def test_tiers_charts_speak_chinese():
    plan = pd.DataFrame({"action_planned": ["vip_service", "automated_winback"], "contacts": [1, 1],
                         "suppressed": ["", ""], "budget": [30.0, 12000.0]})
    fig = tiers_plots.actions(plan, Formats(Text("zh"), "CNY"), "2025-07")
    who, cost = fig.axes
    assert fig._suptitle.get_text() == "2025年7月触达名单：各动作的客户数与预算"
    assert [t.get_text() for t in who.get_yticklabels()] == ["VIP服务", "自动召回"]
    assert cost.get_xlabel() == "预算（CNY）" and [t.get_text() for t in cost.texts] == [" ¥30.00", " ¥1.2万"]


def test_value_concentration_draws_cumulative_shares_and_stage_mix():
    frame = pd.DataFrame({"clv_rank": [3, 1, 4, 2], "clv": [15.0, 50.0, 5.0, 30.0],
                          "revenue": [30.0, 10.0, 40.0, 20.0], "tier": ["general", "high", "low", "potential"]})
    summary = pd.DataFrame({"customers": [1, 1, 1, 1], "stage: new": [0.25, 0.5, 1.0, 0.0],
                            "stage: active": [0.75, 0.5, 0.0, 1.0]}, index=list(TIERS))
    fig = tiers_plots.value_concentration(frame, summary, EUR, "Tea", "2025-06")
    left, right = fig.axes[0], fig.axes[1]
    assert fig._suptitle.get_text() == "Tea: predicted value by tier, June 2025"
    assert _texts(left) == ("How concentrated is value?", "customers, ranked by predicted value (cumulative share)",
                            "cumulative share of the total")
    lines = left.get_lines()
    assert len(lines) == 4  # predicted CLV, past revenue, equal shares, the high tier's marker
    # ranked by clv_rank: clv 50, 30, 15, 5 (total 100) -> cumulative 0, 50, 80, 95, 100 %
    # revenue in that order 10, 20, 30, 40 (total 100) -> 0, 10, 30, 60, 100 %; x = 0, 25, 50, 75, 100 %
    assert lines[0].get_label() == "predicted value"
    assert list(lines[0].get_xdata()) == pytest.approx([0, 25, 50, 75, 100])
    assert list(lines[0].get_ydata()) == pytest.approx([0, 50, 80, 95, 100])
    assert list(lines[1].get_ydata()) == pytest.approx([0, 10, 30, 60, 100])
    assert list(lines[3].get_xdata()) == pytest.approx([25, 25])  # 1 of 4 customers is high value
    assert _texts(right) == ("Lifecycle stage mix of each tier", "customers of the tier by lifecycle stage", "")
    # the legends sit below the axes, clear of the lines and bars
    for ax in (left, right):
        assert ax.get_legend().get_bbox_to_anchor().y0 < ax.get_window_extent().y0
    bars = right.patches
    assert len(bars) == 8  # 2 stages x 4 tiers
    assert [b.get_width() for b in bars] == pytest.approx([25, 50, 100, 0, 75, 50, 0, 100])
    assert [b.get_x() for b in bars[4:]] == pytest.approx([25, 50, 100, 0])  # stacked after 'new'


def _splits():
    return pd.DataFrame({
        "rule_budget": [400.0, 300.0, 200.0, 100.0], "rule_spend": [350.0, 300.0, 150.0, 50.0],
        "optimized_spend": [500.0, 250.0, 200.0, 50.0],
        "rule_profit": [100.0, 50.0, 10.0, -5.0], "rule_profit_lo": [80.0, 40.0, 0.0, -10.0],
        "rule_profit_hi": [120.0, 60.0, 20.0, 0.0],
        "optimized_profit": [150.0, 40.0, 15.0, 0.0], "optimized_profit_lo": [100.0, 30.0, 5.0, -2.0],
        "optimized_profit_hi": [200.0, 50.0, 25.0, 2.0],
    }, index=list(TIERS))


def test_budget_split_bars_per_tier():
    fig = tiers_plots.budget_split(_splits(), EUR, 1000.0)
    spend, profit = fig.axes[0], fig.axes[1]
    assert fig._suptitle.get_text() == "Rule of thumb vs data-driven split of a EUR 1,000 budget"
    assert _texts(spend) == ("Where the budget goes", "", "spend (EUR)")
    assert [t.get_text() for t in spend.get_xticklabels()] == ["High value", "Potential", "General", "Low value"]
    assert len(spend.patches) == 12  # rule budget, rule spend, data-driven x 4 tiers
    assert [b.get_height() for b in spend.patches[8:]] == [500.0, 250.0, 200.0, 50.0]
    assert _texts(profit) == ("Expected incremental profit (bars: range of the response)", "",
                              "expected incremental profit (EUR)")
    assert len(profit.patches) == 8
    assert [b.get_height() for b in profit.patches] == [100.0, 50.0, 10.0, -5.0, 150.0, 40.0, 15.0, 0.0]


def test_budget_split_stacks_channels():
    idx = pd.MultiIndex.from_product([list(TIERS), ["email", "sms"]], names=["tier", "channel"])
    cells = pd.DataFrame({"optimized_spend": [300.0, 200.0, 250.0, 0.0, 100.0, 100.0, 50.0, 0.0]}, index=idx)
    fig = tiers_plots.budget_split(_splits(), EUR, 1000.0, cells=cells)
    spend = fig.axes[0]
    assert len(spend.patches) == 16  # 8 rule bars + 2 channels x 4 tiers
    sms = spend.patches[12:]
    # sms bars sit on the email ones: bottoms 300, 250, 100, 50; heights 200, 0, 100, 0
    assert [b.get_y() for b in sms] == [300.0, 250.0, 100.0, 50.0]
    assert [b.get_height() for b in sms] == [200.0, 0.0, 100.0, 0.0]
    assert [t.get_text() for t in spend.get_legend().get_texts()][-2:] == ["data-driven: email", "data-driven: SMS"]


def test_sensitivity_lines_and_stack():
    rows = []
    for parameter, values in (("response", (0.5, 1.0, 2.0)), ("saturation", (1.0, 3.0))):
        for v in values:
            for split in ("rule of thumb", "data-driven"):
                for i, tier in enumerate(TIERS):
                    # profit per tier = v * (i + 1) (rule) or v * 2 * (i + 1) (data-driven): totals v * 10, v * 20
                    rows.append({"parameter": parameter, "value": v, "split": split, "tier": tier,
                                 "profit": v * (i + 1) * (1 if split == "rule of thumb" else 2),
                                 "spend": 100.0 * v + i})
    sens = pd.DataFrame(rows)
    fig = tiers_plots.sensitivity(sens, EUR, "measured")
    resp, stack, sat = fig.axes
    assert fig._suptitle.get_text() == "Sensitivity of the budget split to its assumptions"
    assert _texts(resp) == ("Profit if the response is smaller or larger", "response as a multiple of the measured one",
                            "expected incremental profit (EUR)")
    assert _texts(sat) == ("Profit if extra contacts saturate faster or slower",
                           "saturation (higher = a second contact adds less)", "expected incremental profit (EUR)")
    assert _texts(stack) == ("Data-driven split as the response moves", "response as a multiple of the measured one",
                             "data-driven spend (EUR)")
    # response: two split lines, the zero line, the marker at 1
    assert len(resp.get_lines()) == 4
    rule, data = resp.get_lines()[:2]
    assert list(rule.get_ydata()) == pytest.approx([5.0, 10.0, 20.0])  # 10 x (0.5, 1, 2)
    assert list(data.get_ydata()) == pytest.approx([10.0, 20.0, 40.0])
    assert len(sat.get_lines()) == 3
    assert list(sat.get_lines()[1].get_ydata()) == pytest.approx([20.0, 60.0])
    assert len(stack.collections) == 4  # one band per tier


def test_sensitivity_labels_only_the_doublings_of_its_log_axis():
    # 0.5, 0.75 and 1 sit close on a log axis: the ticks between doublings stay unlabelled
    assert [tiers_plots.multiple_label(EUR, v) for v in (0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4)] == \
        ["0.25×", "0.5×", "", "1×", "", "2×", "", "4×"]


def test_sensitivity_assumed_response_label():
    rows = [{"parameter": p, "value": v, "split": "data-driven", "tier": t, "profit": 1.0, "spend": 1.0}
            for p in ("response", "saturation") for v in (0.5, 1.0) for t in TIERS]
    fig = tiers_plots.sensitivity(pd.DataFrame(rows), Formats(Text("en"), "USD"), "assumed")
    assert fig.axes[0].get_xlabel() == "response as a multiple of the assumed one"
    assert len(fig.axes[0].get_lines()) == 3  # only the data-driven split, zero line, marker at 1


def test_actions_counts_and_budget_per_action():
    plan = pd.DataFrame({
        "action_planned": ["vip_service", "vip_service", "vip_service", "automated_winback", "automated_winback",
                           "no_contact"],
        "contacts":       [2, 0, 0, 1, 0, 0],
        "suppressed":     ["", "", "opted_out", "", "", ""],
        "budget":         [30.0, 0.0, 0.0, 2.5, 0.0, 999.0],
    })
    fig = tiers_plots.actions(plan, EUR, "2025-07")
    who, cost = fig.axes
    assert fig._suptitle.get_text() == "Contact lists for July 2025: customers and budget per action"
    assert _texts(who) == ("Who is reached", "customers the playbook assigns to the action", "")
    assert _texts(cost) == ("At what cost", "budget (EUR)", "")
    # actions present, in playbook order: VIP service, automated win-back (no_contact is not drawn)
    assert [t.get_text() for t in who.get_yticklabels()] == ["VIP service", "Automated win-back"]
    # per action: on the list (contacts > 0), not funded (no contacts, not suppressed), suppressed
    #   VIP: 1, 1, 1; win-back: 1, 1, 0
    assert len(who.patches) == 6
    assert [b.get_width() for b in who.patches] == [1, 1, 1, 1, 1, 0]
    assert [b.get_x() for b in who.patches[4:]] == [2, 2]  # suppressed stacked after the other two
    # budget: VIP 30 + 0 + 0 = 30; win-back 2.5 (no_contact's 999 left out)
    assert [b.get_width() for b in cost.patches] == [30.0, 2.5]
