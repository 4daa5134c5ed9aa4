"""Notebook 04's words (helpers.text.clv): real sentences in English and Chinese for small,
hand-made results, with the edge cases (nobody twice, no test, a negative change, one order)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from helpers import clv, clv_checks, config
from helpers.text import Text
from helpers.text import clv as words
from helpers.text.formats import MINUS, Formats

EN, ZH = Formats(Text("en"), "USD"), Formats(Text("zh"), "CNY")
END = pd.Timestamp("2025-06-30")


def _summary(x, tx_days, T_days, amount=None) -> clv.Summary:
    frame = pd.DataFrame({"x": x, "tx_days": tx_days, "T_days": T_days})
    if amount is not None:
        frame["amount"] = amount
    return clv.summary_from_frame(frame, "week", end_day=clv.epoch_day(END))


def _history(summary: clv.Summary) -> clv.HistoryResult:
    return clv.HistoryResult(summary=summary, hist=summary.histogram(), table=pd.DataFrame())


def _choice(**overrides) -> dict:
    return {"model": "bgnbd", "label": "BG/NBD", "rmse": 0.812, "tied": ["BG/NBD"], "others": {"Pareto/NBD": 0.845},
            "other_totals": {}, "by": "holdout error", "total_tied": ["BG/NBD"], "baseline_rmse": 0.95,
            "beats_baseline": True, "lower_than_baseline": True, "improvement": 0.145, "total_error": -0.042,
            "loglik": -1234.5, **overrides}


def _hold(summary: clv.Summary, choice: dict | None) -> clv.HoldoutResult:
    return clv.HoldoutResult(unit=clv.time_unit("week"), holdout_days=91, cal_end=pd.Timestamp("2025-03-31"),
                             summary=summary, table=pd.DataFrame({"actual": [1234.0]}), choice=choice)


def test_history_in_both_languages_and_nobody_twice():
    h = _history(_summary([0, 0, 2, 4], [0, 0, 20, 50], [70, 60, 60, 90]))
    assert words.history(h, EN) == ["4 customers bought by 30 June 2025; 50.0 % of them bought only once, and the "
                                    "repeat buyers made 3.0 repeat purchases on average."]
    assert words.history(h, ZH) == ["截至2025年6月30日共有4位客户下过单，其中50.0%只购买过一次；复购客户平均复购3.0次。"]
    assert "4 distinct purchase histories" in words.history_detail(h, EN)[0]
    once = _history(_summary([0], [0], [10]))
    assert words.history(once, EN) == ["1 customer, who bought only once."]
    assert words.history(once, ZH) == ["共1位客户，只购买过一次。"]
    twice_none = _history(_summary([0, 0], [0, 0], [10, 20]))
    assert words.history(twice_none, EN) == ["2 customers, none of whom bought twice."]
    assert words.history(twice_none, ZH) == ["共2位客户，没有一位购买过两次。"]


def test_holdout_in_plain_words_and_the_model_choice_as_detail():
    hold = _hold(_summary([0, 0, 2, 4], [0, 0, 20, 50], [70, 60, 60, 90]), _choice())
    assert words.holdout(hold, EN) == [
        "To test the forecast, the model learned from the purchases up to 31 March 2025 and predicted the following "
        "13 weeks: the 4 customers who had bought by then made 1,234 repeat purchases in those test months.",
        "Its forecast of the total was within 4.2 % of what happened (under-forecast).",
        "Customer by customer it beats a naive forecast (each customer repeating their past rate) by 14.5 %."]
    assert words.holdout(hold, ZH) == [
        "为检验预测，模型只用2025年3月31日之前的购买学习，再预测之后的13周：当时已购买过的4位客户在检验期内实际复购1,234次。",
        "预测总数与实际相差在4.2%以内（预测偏低）。",
        "逐个客户看，预测比简单外推（每位客户按过去的购买频率继续购买）准确14.5%。"]
    detail = words.holdout_detail(hold, EN)
    assert detail[0] == ("The BG/NBD predicts each customer's purchases in the test months best (per-customer error "
                         "0.812; Pareto/NBD 0.845), clearly ahead of the others, so we keep it.")
    # over by 25 %, no better than the naive forecast
    worse = _hold(hold.summary, _choice(total_error=0.25, beats_baseline=False, lower_than_baseline=False))
    said = words.holdout(worse, EN)
    assert said[1] == "Its forecast of the total was off by 25.0 % (over-forecast)."
    assert said[2].startswith("- **Customer by customer the forecast is no better than a naive one**")
    assert words.holdout(worse, ZH)[1] == "预测总数与实际相差25.0%（预测偏高）。"


def test_holdout_not_possible_says_why():
    empty = _hold(_summary([], [], []), None)
    assert words.holdout(empty, EN) == ["No customer bought before 31 March 2025 (13 weeks before the period end): the "
                                        "history is too short to test the forecast on months held back."]
    assert words.holdout(empty, ZH) == ["2025年3月31日之前（期末前13周）没有客户购买：历史太短，无法留出最近几个月检验预测。"]
    no_repeat = _hold(_summary([0, 0], [0, 0], [10, 20]), None)
    assert words.holdout(no_repeat, EN)[0].startswith("No customer made a repeat purchase before 31 March 2025")


def test_extreme_orders_one_and_many():
    ex = {"orders": 1, "customers": 1, "revenue": 1e9, "threshold": 2500.0, "left_out": True, "outlier_z": 3.5}
    assert words.extreme(ex, EN) == (
        "1 order of 1 customer, USD 1.0B of revenue, is extreme (above USD 2,500, far above the usual order amounts "
        "by the audit's outlier rule, a robust z-score above 3.5): left out of the spend model (they still count as "
        "purchases), so one extreme amount cannot set what every customer is expected to spend.")
    assert words.extreme(ex, ZH).startswith("1位客户的1笔订单（销售额¥10.0亿）金额异常（高于¥2,500，")
    kept = words.extreme({**ex, "orders": 3, "customers": 2, "left_out": False}, EN)
    assert kept.startswith("- **Warning:** 3 orders of 2 customers, USD 1.0B of revenue, are extreme")
    assert words.extreme({**ex, "orders": 0}, EN) is None and words.extreme(None, EN) is None


def _spend(money=True, fit=True, pearson=0.05, refund_share=0.0):
    spend_fit = SimpleNamespace(population_mean=53.84, customers=1200, pearson=pearson, spearman=0.08,
                                values=np.array([6.25, 3.74, 15.44]), warning=None) if fit else None
    return SimpleNamespace(money=money, fit=spend_fit, skipped=None if fit else "too few repeat buyers",
                           excluded=None, correlation_material=abs(pearson) >= 0.3, warn_at=0.3,
                           refund_share=refund_share)


def test_spend_sentences_with_and_without_refunds_and_a_material_correlation():
    params = config.load_params(brand="cdnow")
    said = words.spend(_spend(), EN, params)
    assert said[0] == ("A new customer is expected to spend USD 53.84 per order; each customer's own average pulls "
                       "their estimate away from it the more purchases they have (1,200 repeat buyers).")
    assert said[1] == "The correlation of repeat purchases and average spend is +0.05 (rank correlation +0.08): small, as the model assumes."
    assert words.spend(_spend(), ZH, params)[0] == \
        "新客户的预期客单价为¥53.84；客户购买次数越多，其预期客单价越接近自己的平均值（共1,200位复购客户）。"
    material = words.spend(_spend(pearson=-0.41), EN, params)[1]
    assert material.startswith("- **Warning:** The correlation of repeat purchases and average spend is " + MINUS + "0.41")
    assert "is overstated" in material
    assert words.spend(_spend(fit=False), EN, params) == [
        "The spend model could not be fitted (the analyst view says why); the customer value cannot be computed in money."]
    assert words.spend_detail(_spend(fit=False), EN) == ["Spend model not fitted: too few repeat buyers"]
    assert words.spend_detail(_spend(), EN) == ["Spend model on 1,200 repeat buyers: p = 6.25, q = 3.74, gamma = 15.44."]


def _value(money=True, fitted=True, warning=None):
    pr = pd.DataFrame({"expected_purchases_30": [0.1, 0.5, 1.0, 2.0], "expected_purchases_90": [0.3, 1.0, 2.5, 5.0],
                       "expected_purchases_365": [1.0, 4.0, 8.0, 20.0], "p_alive": [0.2, 0.6, 0.9, 0.95],
                       "expected_spend": [40.0, 50.0, 60.0, 70.0], "clv": [-5.0, 100.0, 300.0, 1600.0],
                       "expected_next_purchase": pd.to_datetime([None, "2025-09-01", "2025-08-01", "2025-07-10"])})
    summary = _summary([0, 1, 3, 9], [0, 10, 40, 80], [100, 100, 100, 100], amount=[40.0, 110.0, 240.0, 700.0])
    return SimpleNamespace(predictions=pr, summary=summary, fitted=fitted, money=money,
                           value=pr["clv" if money else "expected_purchases_365"], calibrate_from=None,
                           settings=SimpleNamespace(horizon_months=24, annual_discount_rate=0.1, cost_to_serve_per_year=0.0),
                           fit=SimpleNamespace(name="BG/NBD", warning=warning) if fitted else None)


def test_value_sentences_and_table():
    said = words.values(_value(), EN)
    assert said[0] == ("The model expects 33 purchases in the next 12 months from today's 4 customers; 3 of them are "
                       "more likely still active than not.")
    assert said[1] == ("Customer value over 24 months (margin x expected purchases x expected spend, discounted at 10 % "
                       "a year): USD 1,995 in total, USD 499 per customer on average but USD 200 for the median customer.")
    assert said[-1] == "25.0 % of customers have a negative value: their expected margin does not cover the cost to serve them."
    assert words.values(_value(), ZH)[1] == \
        "未来24个月的客户价值（毛利率 × 预期购买次数 × 预期客单价，按年10%折现）：合计¥1,995，人均¥499，中位数客户为¥200。"
    table = words.value_table(_value(), ZH)
    assert table.index.name == "指标" and table.loc["未来24个月客户价值合计", "数值"] == "¥1,995"
    no_money = words.value_table(_value(money=False), EN)
    assert "Customer value over 24 months, total" not in no_money.index  # no money row, never a 0
    assert no_money.loc["Average chance a customer is still active", "Value"] == "66.3 %"


def test_no_model_and_findings_without_a_model():
    value = _value(fitted=False)
    value.summary = _summary([0, 0, 0], [0, 0, 0], [5, 6, 7])
    note = words.no_model(value, EN, 100)
    assert note.startswith("**No purchase model.** No customer bought twice in the data (3 customers to 30 June 2025")
    assert "a repeat-purchase model has nothing to learn from" in note and "at least 100 with purchases" in note
    assert words.no_model(value, ZH, 100).startswith("**没有购买模型。**数据中没有客户购买过两次（截至2025年6月30日共3位客户")
    assert words.no_model(_value(), EN, 100) == ""
    findings = words.findings(_hold(value.summary, None), value, pd.DataFrame(), EN, 100)
    assert findings[0].startswith("- **No customer value this run:** No customer bought twice") and "notebook 06" in findings[1]


def test_findings_with_a_model_and_lost_customers():
    value = _value()
    hold = _hold(value.summary, _choice(total_error=0.15))
    lost = pd.DataFrame({"p_alive": [0.1, 0.2], "past_revenue": [5000.0, 7000.0]})
    said = words.findings(hold, value, lost, EN, 100)
    assert said[0] == ("- **Model quality:** better than a naive forecast per customer but off on the total: use it to "
                       "rank, not to forecast (total forecast for the test months off by +15.0 %; per customer 14.5 % "
                       "more accurate than the naive forecast).")
    assert said[2] == ("- **Valuable customers probably lost:** 2 repeat buyers from the top 20 % by past revenue now "
                       "have less than a 30 % chance of still being active (median 15 %); they brought USD 12.0k in "
                       "the past. The list is in data/clv_lost_valuable.csv for a win-back campaign.")
    assert words.findings(hold, value, pd.DataFrame(), ZH, 100)[2] == \
        "- **可能已流失的高价值客户：**没有：按历史销售额排名前20%的复购客户，仍活跃的概率都在30%以上。"
    unknown = words.findings(hold, _value(warning="almost no dropout"), pd.DataFrame(), EN, 100)
    assert unknown[2].startswith("- **Valuable customers probably lost:** cannot be told")


def test_reliability_plain_reasons():
    hold = _hold(_summary([0, 1], [0, 7], [70, 70]), _choice(total_error=-0.184))
    checks = pd.DataFrame([{"check": "dropout", "level": "ok", "value": 0.1, "threshold": 1e-3, "text": "ok"},
                           {"check": "holdout_total", "level": "caution", "value": -0.184, "threshold": 0.1, "text": "x"},
                           {"check": "new_check", "level": "caution", "value": 1.0, "threshold": 0.5, "text": "Raw text."}])
    rel = clv_checks.Reliability(verdict="caution", checks=checks)
    said = words.reliability(rel, hold, EN)[0].split("\n")
    assert said[0].startswith("- **CLV reliability: caution**")
    assert said[1] == ("    - Tested on 13 weeks held back from the model, its total purchases were off by "
                       + MINUS + "18.4 %.")
    assert said[2] == "    - Raw text."
    assert words.reliability(rel, hold, ZH)[0].startswith("- **客户价值可靠性：谨慎使用**")
    none = clv_checks.Reliability(verdict=clv_checks.NOT_COMPUTED, checks=checks)
    assert "CLV reliability: not computed" in words.reliability(none, hold, EN)[0]


def test_sensitivity_lines_and_table_never_minus_zero():
    table = pd.DataFrame([
        {"varied": "margin", "value": 0.3, "params value": False, "total_clv": 50_000.0, "vs_params": -0.5},
        {"varied": "margin", "value": 0.6, "params value": True, "total_clv": 100_000.0, "vs_params": 0.0},
        {"varied": "horizon (months)", "value": 12.0, "params value": True, "total_clv": 100_000.0, "vs_params": -0.0001},
        {"varied": "horizon (months)", "value": 36.0, "params value": False, "total_clv": 210_000.0, "vs_params": 1.1}])
    said = words.sensitivity(table, EN)
    assert said[0] == ("Margin from 30 % to 60 %: total customer value USD 50.0k to USD 100.0k (" + MINUS + "50 % to "
                       "0 % of the figure at the brand's settings).")
    assert said[1] == ("Horizon from 12 months to 36 months: total customer value USD 100.0k to USD 210.0k (0 % to "
                       "+110 % of the figure at the brand's settings).")
    assert words.sensitivity(table, ZH)[0] == \
        "毛利率从30%到60%：客户价值合计¥5.0万至¥10.0万（相对品牌设定下的数值为" + MINUS + "50%至0%）。"
    shown = words.sensitivity_table(table, EN)
    assert list(shown.index[1]) == ["Margin", "60 % (brand's setting)"]
    assert shown.iloc[2]["vs the brand's setting"] == "0.0 %"


def test_group_labels():
    assert words.group_label("value: top 10 %", ZH) == "价值前10%"
    assert words.group_label("value: top 10–30 %", EN) == "value: top 10 % to 30 %"
    assert words.group_label("value: bottom 50 %", ZH) == "价值后50%"
    assert words.group_label("stage: returning", ZH) == "阶段：召回"
    assert words.group_label("all customers", ZH) == "全部客户"


@pytest.mark.parametrize("fmt", [EN, ZH])
def test_truncation_not_checked(fmt):
    t = clv_checks.Truncation(detected=False, periods=pd.DataFrame({"period": ["2025-05", "2025-06"]}), window_days=90,
                              kind="month", note="fewer than three months of data")
    expected = {"en": "Whether the data start in the middle of the customers' history could not be checked (fewer "
                      "than three periods of data); the models learn from every customer.",
                "zh": "无法检查数据是否从客户历史的中途开始（数据不足三个周期）；模型使用全部客户学习。"}
    assert words.truncation(t, fmt) == [expected[fmt.language]]


def test_value_against_acquisition_cost():
    table = pd.DataFrame({"customers": [3, 2], "mean_clv": [30.0, 5.0], "acquisition_cost": [10.0, 10.0],
                          "clv_to_cac": [3.0, 0.5]}, index=pd.Index(["app", "store"], name="channel"))
    assert words.cac(table, {"app": 10.0, "store": 10.0}, 12, EN) == [
        "app: average 12-month customer value USD 30.00 against an acquisition cost of USD 10.00: 3.00 times the cost.",
        "store: average 12-month customer value USD 5.00 against an acquisition cost of USD 10.00: 0.50 times the "
        "cost, below 1: acquiring these customers loses money over the horizon."]
    assert words.cac(table, {"app": 10.0}, 12, ZH)[0] == "app：未来12个月人均客户价值¥30.00，获客成本¥10.00，为成本的3.00倍。"
    assert words.cac(None, {}, 12, EN)[0].startswith("The brand's settings give no acquisition costs")
    assert "(ads, tv)" in words.cac(None, {"tv": 1.0, "ads": 2.0}, 12, EN)[0]
    shown = words.cac_table(table, ZH)
    assert list(shown.columns) == ["客户数", "人均客户价值", "获客成本", "价值 / 获客成本"]
    assert shown.loc["store", "价值 / 获客成本"] == "0.50"


def test_charts_take_their_words_from_the_catalogue():
    import matplotlib

    matplotlib.use("Agg")
    from helpers import clv_plots

    frame = pd.DataFrame({"x": [0, 0, 1, 3, 12]})
    fig = clv_plots.repeat_purchases(frame, ZH, "茶")
    ax = fig.axes[0]
    assert ax.get_title() == "茶：每位客户的复购次数" and ax.get_ylabel() == "客户占比"
    table = pd.DataFrame({"label": ["1", "2+"], "customers": [10, 4], "mean_spend": [50.0, 60.0], "low": [40.0, 45.0],
                          "high": [60.0, 75.0]})
    fig = clv_plots.spend_by_frequency(table, 52.0, EN)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "average spend per repeat purchase (USD)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1\n(10)", "2+\n(4)"]
    assert ax.get_legend().get_texts()[0].get_text() == "expected spend of a new customer (USD 52.00)"
    groups = pd.DataFrame({"customers": [5, 1, 4], "clv": [100.0, 80.0, 20.0], "low": [90.0, 70.0, 10.0],
                           "high": [110.0, 90.0, 30.0]}, index=["all customers", "value: top 10 %", "stage: churned"])
    ax = clv_plots.group_intervals(groups, ZH, 0.95, 12).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["价值前10%（1人）", "阶段：流失（4人）"]
    assert ax.get_title() == "未来12个月客户价值合计，按客户组"
    matplotlib.pyplot.close("all")
