"""Notebook 05's words (helpers.text.tiers) in English and Chinese, on hand-made inputs: the exact
sentences, and the ways of writing a number the issue names (a response in percentage points,
ROI as a per cent, a ROI on a near-zero spend not read, money with its currency, no "−0")."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from helpers import tiers
from helpers.config import Tiers
from helpers.text import Text
from helpers.text import tiers as words
from helpers.text.formats import MINUS, Formats
from tests.test_tiers import CONTACT_ALL, NEXT_LABEL, plan_fixture

EN, ZH = Formats(Text("en"), "CNY"), Formats(Text("zh"), "CNY")


def ten_customers() -> pd.DataFrame:
    """Ten customers, CLV 1000 down to 20 and one without a prediction; half active, half churned."""
    return pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(10)], "stage": ["active"] * 5 + ["churned"] * 5,
        "orders": [1] * 10, "revenue": [100.0] * 10,
        "clv": [1000.0, 500, 400, 300, 200, 150, 100, 50, 20, np.nan],
        "clv_low": [800.0, 400, 300, 200, 100, 100, 50, 20, 10, np.nan],
        "clv_high": [1200.0, 600, 500, 400, 300, 200, 150, 80, 30, np.nan],
        "p_alive": [0.9] * 10, "expected_purchases_30": [0.5] * 10})


# ---------------------------------------------------------------- top of the page


def test_reliability_sentence_names_the_first_flagged_check():
    m = {"reliability": "unreliable", "reliability_checks": {"readiness": "ok", "dropout": "fail", "holdout_total": "warn"},
         "holdout": {"total_error": 0.123, "holdout_length": 90}}
    assert words.reliability_sentence(m, EN) == (
        "The customer value behind this page is **unreliable** (notebook 04's checks): The data cannot tell customers "
        "who left from customers who buy slowly: every customer is treated as still active. Notebook 04 gives 1 more "
        "reason. The tiers, the value of a contact and the budget split inherit its error.")
    assert words.reliability_sentence(m, ZH) == (
        "本页所依据的客户价值**不可靠**（04号报告的检验结果）：" + Text("zh")("reliability.check.dropout")
        + "04号报告另列出1条原因。分层、单次触达的价值和预算分配都会继承这一误差。")
    # an earlier run without check codes: notebook 04's own first sentence; a single reason: no "more"
    caution = words.reliability_sentence({"reliability": "caution", "reliability_reasons": ["The forecast is high."]}, EN)
    assert caution == ("Read the tiers with **caution**: notebook 04's checks flag the customer value behind them: The "
                       "forecast is high. The tiers, the value of a contact and the budget split inherit its error.")
    assert words.reliability_sentence({"reliability": "validated"}, EN) == ""
    assert words.reliability_sentence(None, ZH) == ""


def test_no_model_note_and_skipped_sections():
    assert words.no_model_note({"skipped": ""}, EN) == ""  # '' = a model was fitted
    note = words.no_model_note({"skipped": "nobody bought twice"}, EN)
    assert note.startswith("**No tiers, no budget split, no contact lists.**")  # tests/badinputs checks this fragment
    assert note.endswith("Notebook 04's reason: nobody bought twice")
    assert words.no_model_note({"skipped": "x"}, ZH).startswith("**不做分层，不分配预算，不生成触达名单。**")
    assert words.skipped_split(EN) == ("Skipped: the budget split — notebook 04 fitted no purchase model (see the top "
                                       "of this page).")
    assert words.skipped_lists(ZH) == "已跳过：触达名单——04号报告未能拟合购买模型（见本页开头）。"
    assert words.plan_period_sentence("2024-07", pd.Timestamp("2024-07-01"), pd.Timestamp("2024-07-31 23:59"), ZH) == \
        "计划针对下一周期：2024年7月（2024年7月1日至2024年7月31日）。"


# ---------------------------------------------------------------- section 1


def test_rule_and_tier_findings_in_both_languages():
    cfg = Tiers(high_share=0.2, low_share=0.3)
    frame = tiers.assign_tiers(ten_customers(), cfg, 0.3)
    summary, conc = tiers.tier_summary(frame), tiers.concentration(frame)
    assert words.rule_sentence(frame, cfg, 0.3, EN) == (
        "Tier rule: the top 20 % of customers by predicted value are high value (predicted value at least CNY 500), the "
        "bottom 30 % are low value (at most CNY 50.00); in between, customers whose predicted value is at least 1× the "
        "gross profit they have made so far (past revenue, counted as at least one typical order of CNY 100, times the "
        "margin of 30 %) are potential, the rest general. 1 customer without a value prediction counts as 0.")
    assert words.rule_sentence(frame, cfg, 0.3, ZH) == (
        "分层规则：按预测价值排名前20%的客户为高价值客户（预测价值不低于¥500），排名后30%的为低价值客户（不高于¥50.00）；"
        "介于两者之间的客户中，预测价值达到其迄今所贡献毛利（历史收入，至少按一笔典型订单¥100计，乘以毛利率30%）1倍及以上的为"
        "潜力客户，其余为一般客户。另有1位客户没有价值预测，按0计。")
    en = words.tier_findings(summary, conc, EN)
    assert en[0] == ("Value is concentrated: the top 10 % of customers hold 36.8 % of predicted value and the top 20 % "
                     "hold 55.1 %.")
    assert en[2] == ("5 customers are potential: 42.3 % of predicted value from 50.0 % of past revenue, the group whose "
                     "future is large compared with their past; their most common stage is active (60.0 %).")
    assert en[3] == "The low-value tier (3 customers) holds 2.6 % of predicted value; 100.0 % of its customers have already churned."
    zh = words.tier_findings(summary, conc, ZH)
    assert zh[1] == ("高价值层（2位客户，占20.0%）贡献了预测价值的55.1%（¥1,500；把每位客户的区间上下限相加得到的外沿范围为"
                     "¥1,200至¥1,800，比总额本身的区间更宽），而其历史收入占比为20.0%；该层客户仍处于活跃状态的平均概率为90%。")
    assert zh[2].endswith("他们最常见的生命周期阶段是“活跃”（60.0%）。")
    # nobody potential: the largest upside in the middle band, as a multiple
    nobody = summary.assign(customers=summary["customers"].where(summary.index != "potential", 0))
    nobody.attrs["middle_band_max_upside"] = 0.25
    assert words.tier_findings(nobody, conc, EN)[2] == ("No customer meets the potential rule in this period: between "
                                                        "the high and low bands, the largest predicted value is 0.25× the "
                                                        "profit made so far.")
    nobody.attrs["middle_band_max_upside"] = float("nan")
    assert words.tier_findings(nobody, conc, ZH)[2] == "本期没有客户符合潜力层规则。"


def test_tier_table_headers_and_names_come_from_the_catalogue():
    frame = tiers.assign_tiers(ten_customers(), Tiers(high_share=0.2, low_share=0.3), 0.3)
    en = words.tier_table(tiers.tier_summary(frame), EN)
    assert list(en.index) == ["High value", "Potential", "General", "Low value"] and en.index.name == "Tier"
    assert en.loc["High value", "Predicted value"] == "CNY 1,500"
    assert en.loc["High value", "Outer bound of predicted value"] == "CNY 1,200 to CNY 1,800"
    assert en.loc["Low value", "Stage: churned"] == "100.0 %"
    assert en.loc["General", "Chance still active (average)"] == "—"  # an empty tier has no mean
    zh = words.tier_table(tiers.tier_summary(frame), ZH)
    assert list(zh.index) == ["高价值", "潜力", "一般", "低价值"]
    assert zh.loc["高价值", "预测价值外沿范围"] == "¥1,200至¥1,800" and zh.loc["低价值", "阶段：流失"] == "100.0%"
    assert not any("P(alive)" in c or "CLV" in c for c in [*en.columns, *zh.columns])


def test_confidence_sentence_counts_per_tier_and_says_nothing_without_customers():
    conf = pd.DataFrame({"customers": [10, 0, 50, 40, 100], "could_be_higher": [0, 0, 2, 1, 3],
                         "could_be_lower": [1, 0, 1, 0, 2], "uncertain": [1, 0, 3, 1, 5]}, index=[*tiers.TIERS, "total"])
    conf["share"] = conf["uncertain"] / conf["customers"]
    conf.attrs.update(high_cut=1234.5, low_cut=0.004)
    assert words.confidence_sentence(conf, EN) == (
        "Confidence in the tiers: 5 customers (5.0 %) have a value range (notebook 04's, from the uncertainty of the "
        "forecast) that reaches across a tier boundary (high-value cut CNY 1,234, low-value cut CNY 0, or the potential "
        "ratio): High value 1 of 10; General 3 of 50; Low value 1 of 40. Their tier could be one step higher or lower; "
        "the rest are placed with confidence.")
    assert "高价值10人中1人；一般50人中3人；低价值40人中1人" in words.confidence_sentence(conf, ZH)
    empty = conf * 0
    empty.attrs.update(conf.attrs)
    assert words.confidence_sentence(empty, EN) == ""


def test_purchase_tiers_and_stage_findings():
    summary = pd.DataFrame({"customers": [2, 3, 0, 5], "customer_share": [0.2, 0.3, 0.0, 0.5],
                            "expected_purchases": [12.4, 3.0, 0.0, 0.6], "expected_share": [0.775, 0.1875, 0.0, 0.0375],
                            "p_alive": [0.85, 0.6, np.nan, 0.1]}, index=list(tiers.TIERS))
    en = words.purchase_tier_findings(summary, Tiers(method="absolute", high_threshold=100.0, low_threshold=10.0), EN)
    assert en[0].endswith("the rest general. Fixed value thresholds are amounts of money and are not applied.")
    assert en[1] == ("The high-value tier (2 customers, 20.0 %) is expected to make 77.5 % of the next 365 days' "
                     "purchases (12); on average, the chance its customers are still active is 85 %.")
    assert en[2] == "3 customers are potential: 18.8 % of expected purchases."
    assert words.purchase_tier_findings(summary, Tiers(), ZH)[2] == "3位客户属于潜力层：占预期购买次数的18.8%。"
    stages = tiers.stage_summary(ten_customers())
    assert words.stage_findings(stages, EN) == [
        "The 10 customers by lifecycle stage at the period end: 5 active (50.0 %), 5 churned (50.0 %). These are "
        "observed figures (days since the last purchase), not predictions."]
    assert words.stage_findings(stages, ZH) == [
        "期末共10位客户，按生命周期阶段划分：活跃5位（50.0%）、流失5位（50.0%）。这些是观察到的数字（距上次购买的天数），不是预测。"]
    assert list(words.stage_table(stages, ZH, has_amount=False).columns) == ["客户数", "客户占比", "历史订单数"]
    assert words.no_model_conclusions("2024-07", EN)[0].startswith("- **No contact plan for July 2024:**")


# ---------------------------------------------------------------- section 2


def measured_response(cfg: Tiers) -> tiers.Response:
    r = tiers.assumed_response(cfg, 30)
    table = r.table.copy()
    table.loc[("high", "sms"), ["response", "response_lo", "response_hi", "basis", "source"]] = \
        [0.04, 0.01, 0.07, "tier", "measured"]
    return tiers.Response("measured", table, campaign_id="spring", arm="treatment", period="2024-05", channel="sms",
                          estimate="covariate-adjusted", window_days=21, band=r.band)


def test_response_sentences_measured_assumed_and_why_a_file_was_not_used():
    cfg = Tiers(playbook=[{"tier": "*", "stage": "*", "action": "routine_offer", "channel": "sms", "offer_value": 0},
                          {"tier": "high", "stage": "*", "action": "vip_service", "channel": "phone", "offer_value": 0}])
    r = measured_response(cfg)
    assert words.response_sentence(r, EN) == (
        "The response of **SMS** contacts is **measured**: the effect of campaign spring (group treatment) as notebook "
        "06 measured it in May 2024, adjusted for differences between the groups (repurchase within 21 days, contacted "
        "vs control group; measured for this tier). Its range is the 95 % interval notebook 06 reported. Channels no "
        "campaign has measured (phone, SMS) keep the **assumed** response (range ±50 %); an effect is never carried to a "
        "channel it was not measured on.")
    assert words.response_sentence(r, ZH).startswith(
        "**短信**渠道触达的响应是**实测**的：06号报告在2024年5月测得活动spring（组别treatment）经组间差异调整的效果"
        "（21天内复购，触达组对比对照组；按本分层实测）。")
    unread = tiers.assumed_response(cfg, 30, "unreadable", period="2024-05", error="bad JSON")
    assert words.response_sentence(unread, EN).endswith(
        "A campaign response file of May 2024 was found but could not be read (bad JSON), so assumptions are used.")
    other = tiers.assumed_response(cfg, 30, "unused_channel", campaign="spring", period="2024-05", channel="email")
    assert words.response_sentence(other, ZH).endswith("2024年5月的活动spring测量的是邮件渠道，而本计划的任何分层都不使用该渠道：因此使用假设值。")
    assert words.response_sentence(tiers.assumed_response(cfg, 30), EN).startswith("The response is **assumed**, not measured")


def test_loop_sentence_promises_a_measurement_only_with_a_control_group():
    closing = pd.DataFrame({"campaign_id": ["x", "y"], "window_end": pd.to_datetime(["2024-06-29 10:00", "2024-06-30 00:00"]),
                            "has_control": [True, False]})
    assumed = tiers.assumed_response(Tiers(), 30)
    assert words.loop_sentence(assumed, closing, "2024-07", EN) == (
        "Campaign x (window closed 29 June 2024) is measured by notebook 06 of this run (after this notebook); the run of "
        "July 2024 plans with that response for the channel the campaign used. Campaign y (window closed 30 June 2024) "
        "has no control group: notebook 06 cannot measure its effect, so no measured response comes from it and the plan "
        "for July 2024 keeps the assumed response unless another campaign is measured.")
    both = closing.assign(has_control=True)
    assert words.loop_sentence(assumed, both, "2024-07", EN).startswith(
        "Campaigns x (window closed 29 June 2024) and y (window closed 30 June 2024) are measured")
    assert words.loop_sentence(assumed, both, "2024-07", ZH).startswith(
        "活动x（观察窗口于2024年6月29日结束）和y（观察窗口于2024年6月30日结束）将由本次运行的06号报告")
    assert words.loop_sentence(assumed, closing.iloc[:0], "2024-07", EN) == ""
    assert words.loop_sentence(measured_response(Tiers()), closing.iloc[:0], "2024-07", ZH) == \
        "闭环：本计划使用06号报告在2024年5月为活动spring测得的响应。"


def test_roi_is_a_per_cent_never_minus_zero_and_not_read_on_a_near_zero_spend():
    assert words.roi_phrase(EN, 1.7, 100.0) == ", ROI 170 %"
    assert words.roi_phrase(ZH, 1.7, 100.0) == "，投资回报率170%"
    assert words.roi_phrase(EN, -0.004, 100.0) == ", ROI 0 %"  # never −0 %
    assert words.roi_phrase(EN, float("nan"), 0.3) == ", ROI not read: CNY 0.30 is too small a spend for a return per unit of money"
    assert words.roi_phrase(EN, float("nan"), 0.0) == ""


def test_split_findings_on_a_near_zero_budget_read_no_roi_and_show_no_minus_zero():
    cfg = Tiers(budget=0.3, playbook=CONTACT_ALL)
    response = tiers.assumed_response(cfg, 30)
    plan, econ = tiers.tier_economics(plan_fixture(cfg), response, cfg, margin=0.3)
    cells = tiers.cell_splits(econ, cfg)
    splits = tiers.compare_splits(econ, cfg, cells)
    sens = tiers.sensitivity(econ, cfg)
    for fmt, not_read, roi in ((EN, "ROI not read", r"ROI [-+−]?\d"), (ZH, "投资回报率不作解读", r"投资回报率[-+−]?\d")):
        text = " ".join(words.split_findings(splits, econ, sens, cfg, fmt, response, cells))
        assert not_read in text and not re.search(roi, text)
        assert f"{MINUS}0 " not in text and f"{MINUS}¥0 " not in text and "-0" not in text


def test_split_findings_and_the_split_table_write_the_response_in_points():
    cfg = Tiers(budget=150.0, playbook=CONTACT_ALL)
    response = tiers.assumed_response(cfg, 30)
    plan, econ = tiers.tier_economics(plan_fixture(cfg), response, cfg, margin=0.3)
    cells = tiers.cell_splits(econ, cfg)
    splits = tiers.compare_splits(econ, cfg, cells)
    sens = tiers.sensitivity(econ, cfg)
    en = words.split_findings(splits, econ, sens, cfg, EN, response, cells)
    assert en[0].startswith("The rule of thumb (80 % / 15 % / 4 % / 1 %) of a CNY 150 budget")
    assert re.search(r"ROI [\d,]+ %\.$", en[0])  # a per cent, not a ratio
    assert any(s.startswith("Where the money goes: High value by SMS CNY ") for s in en)
    assert en[-2].startswith("Sensitivity: with every response at 0.25× the assumption, the data-driven split expects")
    zh = words.split_findings(splits, econ, sens, cfg, ZH, response, cells)
    assert zh[-2].startswith("敏感性：若所有响应都是假设值的0.25倍，数据驱动分配预计带来¥")
    table = words.split_table(cells, econ, EN)
    assert table.loc[("High value", "SMS"), "Extra chance to buy per contact"] == "+4.0 pp"  # a rate's change: points
    assert table.loc[("High value", "SMS"), "Range of that chance"] == "+2.0 pp to +6.0 pp"
    assert table.loc[("Total", ""), "Response"] == "—"
    zh_table = words.split_table(cells, econ, ZH)
    assert zh_table.loc[("高价值", "短信"), "每次触达提升的购买概率"] == "+4.0个百分点"
    assert not any("-0" in v or f"{MINUS}0 " in v or v.startswith(f"{MINUS}¥0") for v in zh_table.to_numpy().ravel())


# ---------------------------------------------------------------- section 3 and the conclusions


@pytest.fixture
def funded(tmp_path):
    cfg = Tiers(budget=150.0, playbook=CONTACT_ALL)
    response = tiers.assumed_response(cfg, 30)
    plan, econ = tiers.tier_economics(plan_fixture(cfg), response, cfg, margin=0.3)
    cells = tiers.cell_splits(econ, cfg)
    plan = tiers.assign_contacts(plan, cells["optimized_spend"], econ)
    exports = tiers.write_exports(tmp_path / "exports", plan, "CNY", draft=True)
    return cfg, response, plan, econ, cells, exports


def test_history_sentence_says_what_the_suppressions_could_use():
    have = {"crm": True, "opted_out": True, "complaints": True, "resolved": False, "campaigns": True, "reminders": True}
    assert words.history_sentence(have, Tiers(), EN) == (
        "Suppressions use opt-outs from the CRM table; service tickets (any: the data has no resolved flag) in the last "
        "90 days; campaign contacts outside the control groups and coupon reminders in the last 14 days, and the "
        "frequency cap of one contact per 14 days counted from the last contact; customers missing from the CRM table "
        "(no contact details).")
    nothing = dict.fromkeys(have, False)
    assert words.history_sentence(nothing, Tiers(), ZH) == (
        "屏蔽规则依据：没有退订标记（数据中没有该字段：没有人因退订被屏蔽）；没有服务工单（数据中没有：没有人因投诉被屏蔽）；"
        "没有触达历史（数据中没有：只在下一周期内执行每14天最多触达一次的频次上限）。")


def test_action_findings_and_tables(funded):
    cfg, _, plan, _, _, exports = funded
    en = words.action_findings(plan, exports, cfg, EN, NEXT_LABEL)
    facts = tiers.action_facts(plan, exports)
    assert en[0] == (f"The lists for July 2024 reach {facts['customers']} customers with {facts['contacts']} contacts for "
                     f"{EN.money(facts['budget'])} (the data-driven split; at most one contact per customer every 14 days).")
    assert en[1].startswith("Routine offer: ") and en[1].endswith("(`exports/draft_routine_offer.csv`).")
    assert en[2].startswith("Suppressed before any money was assigned (first reason that applies): 1 opted out, 1 open "
                            "complaint, 1 contacted recently, 1 not in the CRM customer table; 4 of them (2.0 % of the")
    assert "**drafts** (`exports/draft_*.csv`)" in en[3]
    zh = words.action_findings(plan, exports, cfg, ZH, NEXT_LABEL)
    assert zh[2].startswith("在分配资金之前被屏蔽（按首个适用原因计）：已退订1位、投诉未解决1位、近期已触达1位、不在CRM客户表中1位")
    sup = words.suppression_table(plan, ZH)
    assert sup.loc["已退订", "客户数"] == "1" and sup.loc["可触达", "客户占比"] == "98.0%"
    actions = words.action_table(plan, EN)
    assert list(actions.index) == ["Routine offer"] and actions.loc["Routine offer", "Suppressed"] == "4"
    assert words.playbook_table(cfg, ZH).loc["高价值", "新客"] == "常规优惠 · 短信 · 5 off（¥5.00）"


def test_conclusions_in_both_languages(funded):
    cfg, response, plan, econ, cells, _ = funded
    splits = tiers.compare_splits(econ, cfg, cells)
    summary, conc = tiers.tier_summary(plan), tiers.concentration(plan)
    en = words.conclusions(summary, conc, splits, response, plan, cfg, EN, NEXT_LABEL, illustrative="**Illustrative.**")
    assert en[0] == "**Illustrative.**"
    assert en[1].startswith("- **Concentration.** 10.0 % of customers (the high-value tier) hold")
    assert "for the 80 / 15 / 4 / 1 % rule; the largest change is the Potential tier (" in en[2]
    assert en[3].startswith("- **Actions for July 2024.** Routine offer 69 customers / CNY ")
    assert en[4].startswith("- **Caveat.** The response is an assumption")
    zh = words.conclusions(summary, conc, splits, measured_response(cfg), plan, cfg, ZH, NEXT_LABEL)
    assert zh[0].startswith("- **集中度。** 10.0%的客户（高价值层）占预测价值的")
    assert zh[-1].startswith("- **响应的来源。** 短信渠道触达：活动spring（组别treatment），由06号报告在2024年5月测得（经组间差异调整）；")
