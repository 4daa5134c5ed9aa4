"""Words of notebook 06 (helpers.text.campaigns): the sentences for hand-made estimates, in
English and in Chinese, with their edge cases (one customer, a missing label, an interval across
zero, a negative ROI bound, a change that rounds to zero, no campaigns table)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd
import pytest

from helpers import campaigns as cp
from helpers import config
from helpers.text import Text
from helpers.text import campaigns as words
from helpers.text.formats import Formats

EN, ZH = Formats(Text("en"), "CNY"), Formats(Text("zh"), "CNY")
END = pd.Timestamp("2024-06-30 23:59:59")


@pytest.fixture
def params(tmp_path) -> config.Params:
    (tmp_path / "orders.csv").write_text("order_id,customer_id,order_time,amount\nA1,c1,2024-01-05 10:00:00,100\n")
    path = tmp_path / "tiny.yaml"
    path.write_text(f"""brand: tiny
sources:
  orders:
    - name: shop
      path: {tmp_path / "orders.csv"}
      columns: {{order_id: order_id, customer_id: customer_id, order_ts: order_time, amount: amount}}
business:
  currency: CNY
  margin: 0.35
""", encoding="utf-8")
    return config.load_params(path)


def study(params, **changes) -> cp.Study:
    return cp.Study(**{"params": params, "period": "2024-06", "period_end": END, "has_table": True, **changes})


def lift_row(**changes) -> pd.DataFrame:
    row = {"campaign_id": "c1", "arm": "sms", "srm_ok": True, "rate_treatment": 0.087, "rate_control": 0.059,
           "repurchase_pp": 0.028, "repurchase_lo": 0.0004, "repurchase_hi": 0.051,
           "adjust_covariates": "pre-period orders, segment=b, segment=c",
           "repurchase_adj": 0.035, "repurchase_adj_lo": 0.014, "repurchase_adj_hi": 0.055,
           "revenue_pc": 10.34, "revenue_lo": 2.59, "revenue_hi": 18.09, "revenue_cuped": 12.79, "revenue_cuped_lo": 4.94,
           "revenue_cuped_hi": 20.65, "cuped_variance_reduction": 0.273, "revenue_adj": 12.7, "revenue_adj_lo": 5.12,
           "revenue_adj_hi": 20.27}
    return pd.DataFrame([{**row, **changes}])


def overview_row(**changes) -> dict:
    row = {"campaign_id": "c1", "status": cp.READ, "first_contact": pd.Timestamp("2024-05-10 10:00"),
           "last_contact": pd.Timestamp("2024-05-10 14:00"), "window_end": pd.Timestamp("2024-06-09 14:00"),
           "customers": 2330, "arms": 2, "control": "control", "channel": "sms", "offer": None, "srm_p": 0.679,
           "srm_ok": True, "split_note": "as_recorded", "in_several_arms": 0, "unknown_labels": [],
           "inferred_label": None, "read_by": None, "window_period": "2024-06"}
    return {**row, **changes}


def test_a_lift_in_both_languages(params):
    s = study(params)
    en, revenue = words.lift(s, EN, lift_row())
    assert en == ("c1 / sms: 8.7 % of contacted customers bought within 30 days against 5.9 % of the control group, a raw "
                  "difference of +2.8 pp, 0.0 pp to +5.1 pp (95 % interval). Adjusted for what the customers were before "
                  "the contact (orders in the pre-period, segment), the lift is **+3.5 pp**, +1.4 pp to +5.5 pp (95 % "
                  "interval): the campaign raised repurchase, 67 % more buyers than without it.")
    assert revenue.startswith("Revenue per customer in the window: +CNY 10.34 raw, +CNY 2.59 to +CNY 18.09 (95 % interval);")
    zh, revenue = words.lift(s, ZH, lift_row())
    assert zh == ("c1 / sms：被触达客户中有8.7%在30天内再次购买，对照组为5.9%，原始差异为+2.8个百分点（95%区间：0.0个百分点至"
                  "+5.1个百分点）。按客户触达前的情况（触达前一段时间的订单数、客户分群）调整后，提升为**+3.5个百分点**"
                  "（95%区间：+1.4个百分点至+5.5个百分点）：活动提高了复购率，复购客户比没有活动时多67%。")
    assert "按上述全部触达前特征调整后为**+¥12.70**（95%区间：+¥5.12至+¥20.27）" in revenue


def test_a_lift_we_cannot_tell_and_a_withheld_one(params):
    s = study(params)
    # the adjusted interval includes zero, the raw one lies below it: the raw verdict is named and explained
    row = lift_row(repurchase_pp=-0.03, repurchase_lo=-0.05, repurchase_hi=-0.01, repurchase_adj=-0.0004,
                   repurchase_adj_lo=-0.02, repurchase_adj_hi=0.02, adjust_covariates="")
    en = words.lift(s, EN, row)[0]
    assert "(no characteristic could be used), the lift is **0.0 pp**, \u22122.0 pp to +2.0 pp (95 % interval)" in en
    assert en.endswith("**we cannot tell** whether it changed repurchase — although the raw difference alone would "
                       "have said it lowered it: that came from groups that differed before the contact (section 1).")
    zh = words.lift(s, ZH, row)[0]
    assert "提升为**0.0个百分点**（95%区间：\u22122.0个百分点至+2.0个百分点）" in zh and "“降低了复购率”" in zh
    withheld = lift_row(srm_ok=False)
    assert words.lift(s, EN, withheld) == ["c1 / sms: figures withheld (the split check failed)."]
    assert words.lift(s, ZH, withheld) == ["c1 / sms：数字不予报告（分组检查未通过）。"]


def test_overview_read_too_early_one_customer_and_a_missing_label(params):
    s = study(params, overview=pd.DataFrame([
        overview_row(),
        overview_row(campaign_id="c2", status=cp.TOO_EARLY, customers=1, first_contact=pd.Timestamp("2024-06-25"),
                     window_end=pd.Timestamp("2024-07-25 10:00"))]))
    en = words.overview(s, EN)
    assert en == ["**c1** contacted 2,330 customers from 10 May 2024; its outcome window of 30 days closed on 9 June 2024, "
                  "so it is read here.",
                  "**c2** (first contact 25 June 2024, 1 customer) is too early to read: its window closes on 25 July "
                  "2024, 25 days after the period end. Reading outcomes before then would mix finished and unfinished "
                  "windows; it will be read by the run of the period the window closes in."]
    zh = words.overview(s, ZH)
    assert zh[0] == "**c1** 自2024年5月10日起触达了2,330位客户；其30天的效果观察期已于2024年6月9日结束，因此在本期评估。"
    assert zh[1].startswith("**c2**（首次触达2024年6月25日，1位客户）为时过早，暂不评估：其观察期于2024年7月25日结束，比本期结束日晚25天。")
    table = words.overview_table(s, ZH)
    assert list(table.columns) == ["状态", "触达日期", "效果观察期结束", "客户数", "分组数", "渠道", "权益"]
    assert table.loc["c1", "权益"] == "未记录" and table.loc["c2", "状态"] == "为时过早，暂不评估"
    assert words.overview_table(s, EN).loc["c1", "Offer"] == "not recorded"


def test_a_broken_split_and_the_p_value_below_a_thousandth(params):
    arms = pd.DataFrame({"campaign_id": ["c1", "c1"], "arm": ["control", "sms"], "observed_share": [0.12, 0.88],
                         "designed_share": [0.2, 0.8]})
    s = study(params, overview=pd.DataFrame([overview_row(srm_p=1e-12, srm_ok=False)]), arms=arms)
    en = words.split(s, EN)[0]
    assert en.startswith("**c1: the split does not match the design** — control 12.0 % (designed 20.0 %), sms 88.0 % "
                         "(designed 80.0 %); p < 0.001, below 0.001.")
    assert words.split(s, ZH)[0].startswith("**c1：分组比例与设计不符**——control 12.0%（设计为20.0%）、sms 88.0%（设计为80.0%）；"
                                            "p < 0.001，低于0.001。")
    assert words.findings(s, EN, lift_row(srm_ok=False), pd.DataFrame(), {}, {}) == (
        "**What to do next period.** Do not act on c1: its control and treatment groups are not the split that was "
        "designed. Find out why (targeting, logging) before the next campaign.")


def test_economics_roi_as_a_per_cent_with_a_negative_bound(params, monkeypatch):
    s = study(params, profit_basis="business_margin", has_discount=False,
              cost_basis={"c1": {"kind": "per contact", "rates": {"sms": 0.05}}})
    monkeypatch.setattr(cp, "roi_call", lambda study, r: ("cannot_tell", 2.43))
    econ = pd.DataFrame([{"campaign_id": "c1", "arm": "sms", "incremental_buyers": 64.6, "incremental_buyers_lo": 26.8,
                          "incremental_buyers_hi": 102.7, "incremental_orders": 103.2, "incremental_orders_lo": 20.9,
                          "incremental_orders_hi": 185.6, "incremental_revenue": 23770.0, "incremental_profit": 8976.0,
                          "incremental_profit_lo": 3844.0, "incremental_profit_hi": 14108.0, "cost": 93.6,
                          "offer_cost": math.nan, "discount_redeemed": math.nan, "total_cost": 93.6, "net_profit": 85.3,
                          "net_profit_lo": -7.5, "net_profit_hi": 178.6, "roi": 0.911, "roi_lo": -0.08, "roi_hi": 1.908,
                          "roi_note": ""}])
    basis, line = words.economics(s, EN, econ)
    assert basis.startswith("Profit is revenue at the business margin of 35 % (the orders carry no cost or margin);")
    assert line == ("c1 / sms: about 65 extra buyers, +27 to +103 (95 % interval); 103 extra orders, +21 to +186 (95 % "
                    "interval); CNY 23.8k extra revenue; and CNY 8,976 extra profit before the offer's discount, +CNY 3,844 "
                    "to +CNY 14.1k (95 % interval). Against a contact cost of CNY 93.60 (no cost is recorded in the "
                    "campaign file, so it is the brand's cost per contact of its channel: sms CNY 0.05 per contact), the "
                    "net profit is +CNY 85.30, \u2212CNY 7.50 to +CNY 179 (95 % interval); return on spend 91 %, \u22128 % "
                    "to 191 % (95 % interval): **we cannot tell whether it paid for itself**; settling it would take "
                    "about 2.4 times as many customers with the same split (or pooling several campaigns like it).")
    zh = words.economics(s, ZH, econ)[1]
    assert "投入回报率91%（95%区间：\u22128%至191%）——**无法判断活动是否收回了成本**；要得出结论，需要按同样的分组比例覆盖约2.4倍的客户" in zh
    assert "约65位增量购买客户（95%区间：+27至+103）" in zh and "增量销售额¥2.4万" in zh


def test_contact_cost_words_name_what_is_missing():
    assert words.cost_basis(EN, {"kind": "unknown", "missing": [None, "wechat"], "several_channels": True}) == (
        "the campaign file has no cost, and no channel is recorded for some of its contacts; the brand sets no cost "
        "per contact for its channel 'wechat'")
    assert words.cost_basis(ZH, {"kind": "unknown", "missing": [None], "several_channels": False}) == (
        "活动文件中没有成本，且其触达没有记录渠道")
    assert words.cost_basis(ZH, {"kind": "recorded"}) == "活动文件中的成本"


def test_skipped_sections_and_the_brand_without_campaigns(params):
    none = study(params, has_table=False)
    assert words.overview(none, EN)[0].startswith(
        "This brand's data has no campaigns table, so there is no campaign to review: every section below is skipped.")
    assert words.overview(none, ZH)[0].startswith("该品牌的数据中没有活动数据表，因此没有可复盘的活动")
    assert words.section_skipped(none, EN, "fatigue") == (
        "Skipped: this brand has no campaigns table, so there is no contact fatigue to measure.")
    assert words.section_skipped(none, ZH, "fatigue") == "已跳过：该品牌没有活动数据表，因此没有可衡量的触达疲劳。"
    assert words.findings(none, ZH, pd.DataFrame(), pd.DataFrame(), {}, {}).startswith("**下期怎么做。** 该品牌没有活动数据。")
    nothing = SimpleNamespace(has_table=True, readable=lambda: [])
    assert words.section_skipped(nothing, EN, "observational") == (
        "Skipped: no campaign without a control group is read this period, so there is no observational comparison.")
    assert words.response(study(params), ZH, None).startswith("本期没有写出实测响应率")


def test_figures_never_read_minus_zero_and_labels_never_none():
    assert words.pp(EN, -0.0004) == "0.0 pp" and words.pp(ZH, 0.024) == "+2.4个百分点"
    assert words.pp(EN, math.nan) == "not estimated" and words.pp_interval(ZH, math.nan, 0.1) == "无区间"
    assert words.roi(EN, -0.004) == "0 %" and words.roi(ZH, 1.04) == "104%"
    assert words.label(EN, None) == "not recorded" and words.label(ZH, math.nan) == "未记录"
    assert words.group(ZH, "dormant") == "沉睡" and words.group(EN, "low") == "Low value" and words.group(ZH, "vip") == "vip"
    assert words.customers(EN, 1) == "1 customer" and words.customers(EN, 0) == "0 customers"
    assert words.p_value(EN, 0.0004) == "p < 0.001" and words.p_value(ZH, 0.0421) == "p = 0.042"


def test_stakeholder_tables_in_both_languages():
    lifts = pd.concat([lift_row(n_treatment=1872, n_control=458),
                       lift_row(arm="email", srm_ok=False, n_treatment=900, n_control=458)], ignore_index=True)
    en = words.lift_table(EN, lifts)
    assert list(en.columns) == ["Contacted / control", "Repurchase lift (adjusted)", "95 % interval", "Raw difference",
                                "Raw difference, 95 % interval", "Revenue lift per customer (adjusted)",
                                "Revenue lift, 95 % interval"]
    assert en.loc[("c1", "sms")].tolist()[:3] == ["1,872 / 458", "+3.5 pp", "+1.4 pp to +5.5 pp"]
    assert en.loc[("c1", "email"), "Repurchase lift (adjusted)"] == "withheld (split check failed)"
    zh = words.lift_table(ZH, lifts, money=False)  # no amounts: no revenue column, never a 0
    assert list(zh.columns) == ["被触达 / 对照组", "复购率提升（调整后）", "95%区间", "原始差异", "原始差异的95%区间"]
    assert zh.loc[("c1", "sms"), "95%区间"] == "+1.4个百分点至+5.5个百分点"
    sub = pd.DataFrame([{"dimension": "stage", "group": "dormant", "n_treatment": 289, "n_control": 71, "rate_control": 0.04,
                         "repurchase_pp": 0.07, "repurchase_adj": 0.07, "repurchase_adj_lo": -0.001, "repurchase_adj_hi": 0.14,
                         "p_holm": 0.3, "revenue_adj": 5.0, "profit_after_offer_adj": 1.5, "cost_pc": 1.5},
                        {"dimension": "stage", "group": "new", "n_treatment": 12, "n_control": 3}])
    zh = words.subgroup_table(ZH, sub)
    assert zh.index.tolist() == [("生命周期阶段", "沉睡"), ("生命周期阶段", "新客户")]
    assert zh.loc[("生命周期阶段", "新客户"), "复购率提升（调整后）"] == "客户太少"
    assert zh.loc[("生命周期阶段", "沉睡"), "每次触达的净利润"] == "¥0"  # 1.5 - 1.5: no sign, no minus zero
    matched = pd.DataFrame({"treated": [120.0, 2.5, 310.0], "matched": [118.0, 2.4, 300.0],
                            "all non-contacted": [200.0, 1.1, 150.0]},
                           index=["days since last purchase", "orders before", "spend before (CNY)"])
    assert words.matched_table(ZH, matched).loc["此前的消费金额", "匹配的相似客户"] == "¥300"
    assert words.matched_table(EN, matched).loc["Orders before", "Contacted"] == "2.5"
