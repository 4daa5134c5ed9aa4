"""The words of notebook 02 (helpers.text.lifecycle): real sentences in English and Chinese for
hand-made results, edge cases included (nothing to compare, zero change, no money)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd
import pytest

from helpers import lifecycle
from helpers.lifecycle import Thresholds
from helpers.text import Text
from helpers.text import lifecycle as words
from helpers.text.formats import MINUS, Formats

EN, ZH = Formats(Text("en"), "CNY"), Formats(Text("zh"), "CNY")
DERIVED = Thresholds(active_days=45, churn_days=120, source="derived", active_quantile=0.8, churn_quantile=0.95,
                     gaps=12345, median_gap=21.0)


def test_thresholds_and_stage_rules():
    assert words.definitions(DERIVED, "month", EN)[0] == (
        "- **Thresholds:** active ≤ 45 days since the last purchase, churned > 120 days; derived from this brand's "
        "12,345 gaps between consecutive purchase days: 80 % of repeat purchases came within 45 days and 95 % "
        "within 120 days (median gap 21 days).")
    assert words.definitions(DERIVED, "month", ZH)[0] == (
        "- **阈值：** 距上次购买不超过45天为活跃，超过120天为流失；根据本品牌12,345个相邻购买日间隔推算：80%的复购"
        "发生在45天内，95%发生在120天内（间隔中位数21天）。")
    assert words.definitions(DERIVED, "quarter", EN)[4] == "- **dormant** — last purchase 46 to 120 days before the quarter end."
    assert words.definitions(DERIVED, "quarter", ZH)[4] == "- **沉睡** —— 最近一次购买距季度末46至120天。"
    mixed = Thresholds(59, 60, "active_days fallback, churn_days params", 0.8, 0.95, 1, None)
    assert "the active line fixed, for lack of repeat gaps, the churn line set in the brand's params" in \
        words.definitions(mixed, "month", EN)[0]
    assert "活跃阈值因复购间隔不足而取固定值，流失阈值由品牌参数设定" in words.definitions(mixed, "month", ZH)[0]


def test_status_note_only_without_a_status_column():
    no_status = SimpleNamespace(sources=SimpleNamespace(orders=[SimpleNamespace(columns={}, constants={})]),
                                has_amount=False)
    assert words.status_note(no_status, EN).startswith("- **No order status.**")
    assert "refunds cannot be recognised" in words.status_note(no_status, EN)
    assert "无法识别退款" in words.status_note(no_status, ZH)
    mapped = SimpleNamespace(sources=SimpleNamespace(orders=[SimpleNamespace(columns={"status": "s"}, constants={})]),
                             has_amount=True)
    assert words.status_note(mapped, EN) == "" == words.status_note(mapped, ZH)


def test_stage_sentences_with_signed_changes():
    counts = pd.DataFrame({"new": [30, 40], "returning": [5, 3], "active": [100, 90], "dormant": [60, 60],
                           "churned": [200, 230]}, index=["2024-05", "2024-06"])
    a = SimpleNamespace(stage_counts=counts, period="2024-06", thresholds=DERIVED)
    assert words.stage_findings(a, EN) == [
        "At the end of June 2024, 423 customers: new 40 (9.5 %), returning 3 (0.7 %), active 90 (21.3 %), "
        "dormant 60 (14.2 %), churned 230 (54.4 %).",
        "133 customers (31.4 %) are new, returning or active; 60 are dormant — silent for 46 to 120 days, not yet churned.",
        f"Since the end of May 2024: new +10, returning {MINUS}2, active {MINUS}10, dormant 0, churned +30."]
    assert words.stage_findings(a, ZH)[2] == f"与2024年5月末相比：新客+10、回流{MINUS}2、活跃{MINUS}10、沉睡0、流失+30。"
    one_end = SimpleNamespace(stage_counts=counts.iloc[1:], period="2024-06", thresholds=DERIVED)
    assert len(words.stage_findings(one_end, ZH)) == 2  # no earlier end: no change sentence
    empty = SimpleNamespace(stage_counts=counts.iloc[1:] * 0, period="2024-06", thresholds=DERIVED)
    assert words.stage_findings(empty, EN) == ["No customer has a clean order up to this period end."]
    assert words.stage_findings(empty, ZH) == ["截至本期末没有客户有有效订单。"]


def test_revenue_bridge_sentences():
    before = pd.DataFrame({"kind": ["new", "repeat"], "customers": [10, 20], "orders": [12, 30], "revenue": [600.0, 1800.0]})
    after = pd.DataFrame({"kind": ["new", "repeat"], "customers": [15, 20], "orders": [15, 40], "revenue": [600.0, 2400.0]})
    b = {**lifecycle.revenue_bridge(before, after), "before": "2024-05", "after": "2024-06"}
    en, zh = words.bridge_findings(b, "month", EN), words.bridge_findings(b, "month", ZH)
    assert en[0] == ("Order revenue (before refunds) went from CNY 2,400 in May 2024 to CNY 3,000 in June 2024: "
                     "+CNY 600 (+25.0 %); new customers CNY 0, repeat customers +CNY 600.")
    assert zh[0] == "订单收入（退款前）由2024年5月的¥2,400变为2024年6月的¥3,000：+¥600（+25.0%）；其中新客¥0，老客+¥600。"
    assert en[1].startswith("The change splits into repeat customers' purchases per customer +CNY 600 (1.50 → 2.00); "
                            "number of new customers +CNY 243 (10 → 15)")
    assert en[1].endswith("The largest part is repeat customers' purchases per customer.")
    assert zh[1].startswith("变化可分解为：老客人均购买次数 +¥600（1.50 → 2.00）；新客数 +¥243（10 → 15）")
    assert words.bridge_findings(None, "month", EN) == ["There is no earlier month in the data to compare revenue with."]
    assert words.bridge_findings(None, "quarter", ZH) == ["数据中没有更早的季度可供比较收入。"]
    flat = {**lifecycle.revenue_bridge(before, before), "before": "2024-05", "after": "2024-06"}
    assert len(words.bridge_findings(flat, "month", EN)) == 1  # no change: nothing to split
    assert "+0.0 %" not in words.bridge_findings(flat, "month", EN)[0] and "CNY 0 (0.0 %)" in words.bridge_findings(flat, "month", EN)[0]


def test_year_earlier_and_possibly_seasonal_sentences():
    yoy = {"kind": "year_over_year", "seasonal": True, "seasonality_p": 0.0004, "then_label": "2023-11", "now": 0.31,
           "then": 0.28, "n_now": 2000, "n_then": 1900, "difference": 0.03, "difference_lo": 0.001,
           "difference_hi": 0.059, "verdict": "higher"}
    assert words.seasonal_sentence(words.rate_name(EN, "retention"), yoy, "month", EN) == (
        "Period-over-period retention against November 2023, the same month a year earlier: 28.0 % → 31.0 % "
        "(+3.0 pp, +0.1 pp to +5.9 pp (95 % interval); 1,900 and 2,000 customers): higher than a year earlier; the "
        "rate swings with the month of the year (seasonality test p 0.0004), so this, not the trend from one month "
        "to the next, is the fair comparison.")
    assert words.seasonal_sentence(words.rate_name(ZH, "retention"), yoy, "month", ZH) == (
        "环比留存率与去年同月（2023年11月）相比：28.0% → 31.0%（+3.0个百分点，95%区间：+0.1个百分点至+5.9个百分点；"
        "分别为1,900位和2,000位客户）：高于去年同期；该比率随一年中的月份波动（季节性检验p值0.0004），因此与去年同期"
        "比较才公平，而不是看逐月的趋势。")
    unclear = {**yoy, "seasonal": False, "seasonality_p": math.nan, "difference_lo": -0.01, "verdict": "unclear"}
    assert "we cannot tell it from a year earlier; the history is too short to test for a season" in \
        words.seasonal_sentence("Retention", unclear, "month", EN)
    below = {"kind": "possibly_seasonal", "period": "2022-11", "then": "2021-11", "stands_out": True, "last_z": -3.14,
             "direction": None}
    assert words.seasonal_sentence("Retention", below, "month", EN).startswith(
        "Retention: November 2022 sits 3.1 standard errors below the trend line, but the data do not reach back to "
        "November 2021, the same month a year earlier")
    both = {**below, "last_z": 2.5, "direction": "rising"}
    assert words.seasonal_sentence("期内复购率", both, "month", ZH).startswith(
        "期内复购率：2022年11月高出趋势线2.5个标准误，且窗口内呈上升，但数据未覆盖去年同月（2021年11月）")


def test_rates_not_defined_without_buyers():
    trend = pd.DataFrame({"period": ["2024-06"], "within_period": [math.nan], "retention": [math.nan],
                          "buyers": [0], "base": [0]})
    a = SimpleNamespace(trend=trend, period="2024-06", kind="month")
    assert words.rate_findings(a, EN) == [
        "Within-period repurchase: not defined for June 2024 (no buyers).",
        "Period-over-period retention: not defined for June 2024 (no buyers in the previous period)."]
    assert words.rate_findings(a, ZH) == ["期内复购率：2024年6月无法计算（没有购买客户）。",
                                          "环比留存率：2024年6月无法计算（上一期没有购买客户）。"]


def test_nothing_to_split_and_no_earlier_end():
    a = SimpleNamespace(splits=pd.DataFrame(), settings=SimpleNamespace(split_by=["channel", "region"]))
    assert words.split_findings(a, EN) == ["The data has none of the split columns channel, region: rates are not split."]
    assert words.split_findings(a, ZH) == ["数据中没有任何拆分列（渠道、地区）：各比率未做拆分。"]
    none = SimpleNamespace(transitions=pd.DataFrame(columns=["period", "from_stage", "stage", "n"]), period="2024-06")
    assert words.flow_findings(none, EN) == ["There is no earlier period end in the data to measure moves from."]
    assert words.flow_findings(none, ZH) == ["数据中没有更早的期末，无法衡量阶段流转。"]
    assert words.group_name(ZH, "other (3 groups)") == "其他（3组）" and words.group_name(EN, "(unknown)") == "(unknown)"
    assert words.metric_name(ZH, "90-day second purchase") == "90天内二次购买率"


def test_purchase_gap_sentences():
    steps = pd.DataFrame({"step": [1, 2, 5], "gaps": [1200, 400, 90], "customers": [1200, 400, 50],
                          "q25": [20.0, 10.0, 8.0], "median": [45.0, 25.0, 18.0], "q75": [90.0, 40.0, 30.0]})
    cats = pd.DataFrame({"category": ["green tea", "cake"], "gaps": [300, 40], "customers": [200, 30],
                         "q25": [15.0, 30], "median": [28.0, 60], "q75": [40.0, 90]})
    en, zh = words.gap_findings(steps, cats, EN), words.gap_findings(steps, cats, ZH)
    assert en[0] == ("Among customers who bought again, the time to the next purchase — 1st → 2nd: median 45 days "
                     "(half within 20–90; 1,200 gaps); 2nd → 3rd: median 25 days (half within 10–40; 400 gaps); "
                     "5th+ → next: median 18 days (half within 8–30; 90 gaps).")
    assert zh[0].startswith("在再次购买的客户中，距下一次购买的时间——第1次 → 第2次：中位数45天（半数在20–90天之间；1,200个间隔）")
    assert en[1].startswith("Every later gap is shorter than the first (median 45 days for the 1st → 2nd against 18–25 after)")
    assert en[-1] == ("Replenishment cycle by category (same customer, same category): green tea median 28 days "
                      "(15–40, 300 gaps); cake median 60 days (30–90, 40 gaps).")
    slower = steps.assign(median=[45.0, 50.0, 18.0])
    assert len(words.gap_findings(slower, cats.iloc[:0], EN)) == 2  # not every later gap is shorter; no category
    assert words.gap_findings(steps.iloc[:0], cats.iloc[:0], ZH) == ["没有客户在两个不同的日子购买过：无法衡量购买间隔。"]


SEGMENTS = pd.DataFrame({"customers": [100, 300, 600], "customer_share": [0.1, 0.3, 0.6],
                         "revenue": [50000.0, 30000.0, 20000.0], "revenue_share": [0.5, 0.3, 0.2],
                         "average_order_value": [250.0, 120.0, 80.0]}, index=["champions", "at risk", "lost"])


def test_segment_sentences_with_and_without_money():
    assert words.segment_findings(SEGMENTS, EN) == [
        "Champions — 10.0 % of customers — carry 50.0 % of revenue.",
        "The largest revenue segment is champions: 100 customers, 50.0 % of revenue, average order CNY 250.",
        "At risk hold 300 customers who once brought 30.0 % of revenue and have not bought for a long time: "
        "the win-back pool.",
        "The largest segment by headcount is lost (60.0 % of customers, 20.0 % of revenue)."]
    assert words.segment_findings(SEGMENTS, ZH)[:2] == [
        "重要价值客户——占客户的10.0%——贡献了50.0%的收入。",
        "收入最高的分群是重要价值客户：100位客户，占收入的50.0%，客单价¥250。"]
    no_money = SEGMENTS.assign(revenue=math.nan, revenue_share=math.nan, average_order_value=math.nan)
    en = words.segment_findings(no_money, EN)
    assert en[0].endswith("The largest segment is lost (600 customers, 60.0 %).") and "revenue share" in en[0]
    assert not any("CNY" in s for s in en)
    assert words.segment_findings(no_money.drop(index="at risk"), ZH) == [
        "分群只依据最近购买时间和购买频次（订单没有金额，因此没有消费评分和收入占比）。人数最多的分群是已流失客户"
        "（600位客户，60.0%）。"]
    assert words.segment_findings(SEGMENTS.iloc[:0], EN) == ["No customer to segment."]


@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_stage_segment_and_part_has_a_name(language):
    from helpers import rfm

    f = Formats(Text(language), "CNY")
    names = [words.stage_name(f, s) for s in (*lifecycle.STAGES, lifecycle.NONE)]
    names += [words.segment_name(f, s) for s in rfm.SEGMENT_ORDER]
    names += [words.segment_definition(f, s) for s in rfm.SEGMENT_ORDER]
    names += [words.bridge_part(f, k, x) for k in lifecycle.BRIDGE_KINDS for x in lifecycle.BRIDGE_FACTORS]
    names += [words.gap_step(f, j) for j in range(1, lifecycle.GAP_STEPS + 1)]
    assert all(names) and len(set(names[:6])) == 6


def test_stakeholder_tables_have_named_headers_and_formatted_figures():
    counts = pd.DataFrame({"new": [30, 40], "returning": [5, 3], "active": [100, 90], "dormant": [60, 60],
                           "churned": [2000, 2300]}, index=["2024-05", "2024-06"])
    a = SimpleNamespace(stage_counts=counts, period="2024-06")
    en, zh = words.stage_table(a, EN), words.stage_table(a, ZH)
    assert list(en.index) == ["new", "returning", "active", "dormant", "churned"] and en.index.name == "stage"
    assert list(zh.index) == ["新客", "回流", "活跃", "沉睡", "流失"] and zh.index.name == "阶段"
    assert en.at["churned", "2024-06"] == "2,300" and en.at["churned", "share at the end of June 2024"] == "92.3 %"
    assert zh.at["流失", "2024年6月末占比"] == "92.3%"
    steps = pd.DataFrame({"step": [1, 5], "gaps": [1200, 90], "customers": [1200, 50], "q25": [20.0, 8.0],
                          "median": [45.0, 18.0], "q75": [90.0, 30.0]})
    assert list(words.gap_table(steps, ZH).index) == ["第1次 → 第2次", "第5次及以后 → 下一次"]
    assert words.gap_table(steps, EN).loc["1st → 2nd", "median (days)"] == "45"
    seg = words.segment_table(SEGMENTS.assign(purchase_days=[5.5, 2.0, 1.0], recency_days=[10.0, 200.0, 400.0]), ZH)
    assert list(seg.index) == ["重要价值客户", "流失风险客户", "已流失客户"]
    assert seg.at["重要价值客户", "收入（净额）"] == "¥5.0万" and seg.at["已流失客户", "客户占比"] == "60.0%"
    no_money = SEGMENTS.assign(revenue=math.nan, revenue_share=math.nan, average_order_value=math.nan,
                               purchase_days=1.0, recency_days=3.0)
    assert set(words.segment_table(no_money, EN)["revenue (net)"]) == {"—"}
