"""Notebook 03's words (helpers.text.drivers): real sentences in both languages for small
hand-made results, including the edge cases (nothing to read, one factor, a missing value, a
negative change, a change that rounds to zero)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import drivers
from helpers.config import Drivers
from helpers.drivers import DriverData, Effects, Factor
from helpers.text import Text
from helpers.text import drivers as words
from helpers.text.formats import MINUS, Formats

EN, ZH = Formats(Text("en"), "CNY"), Formats(Text("zh"), "CNY")

FACTORS = [
    Factor("no_second_coupon_reminder", "no reminder for the second-order coupon", "marketing",
           "no_second_coupon_reminder"),
    Factor("online_first_order", "first order online (vs in store)", "channel", "online_first_order"),
    Factor("slow_delivery", "first order delivered slowly (≥ 5 days)", "channel", "slow_delivery"),
    Factor("region=East", "region: East (vs North)", "customer", "region", "East", "North"),
]


def steps_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "step": ["1st → 2nd", "2nd → 3rd", "3rd → 4th+"], "key": ["1->2", "2->3", "3->4+"], "from_order": [1, 2, 3],
        "reached": [2000, 600, 300], "converted": [600, 300, 180], "conversion": [0.3, 0.5, 0.6],
        "conversion_n": [0.28, 0.45, np.nan], "conversion_n_low": [0.26, 0.41, np.nan],
        "conversion_n_high": [0.30, 0.49, np.nan], "lost_n": [0.72, 0.55, np.nan],
        "median_days": [41.0, 30.0, np.nan], "km_median_days": [np.nan] * 3})


def cohorts_frame() -> pd.DataFrame:
    return pd.DataFrame({"cohort": ["2025-01", "2025-02", "2025-03"], "key": ["1->2"] * 3,
                         "conversion_n": [0.25, 0.31, np.nan]})


def effects_row(factor: str, **values) -> dict:
    fac = {f.name: f for f in FACTORS}[factor]
    row = dict(factor=factor, label=fac.label, family=fac.family, reference=fac.reference, lever=fac.lever,
               banded=False, hazard_ratio="0.70", bands="", ph_p_adjusted=0.5, design="first order",
               travels_with="", at_stake=0.0, at_stake_low=0.0)
    row.update(values)
    row["n"] = int(1000 * row["share"])
    return row


def effects(*rows: dict) -> Effects:
    table = pd.DataFrame(rows)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return Effects(table=table, fits={}, n_model=1000, events=250, horizon=90, window=14.0, dropped=pd.DataFrame(),
                   boot_draws=pd.DataFrame(), alpha=0.05, n_boot=200)


REMINDER = effects_row("no_second_coupon_reminder", effect=-0.08, ci_low=-0.12, ci_high=-0.04, share=0.4, p_if_1=0.20,
                       p_if_0=0.28, action="fix", significant=True, evidence=0.04, at_stake=0.032,
                       at_stake_low=0.016)
SLOW = effects_row("slow_delivery", effect=-0.05, ci_low=-0.11, ci_high=0.01, share=0.1, p_if_1=0.2, p_if_0=0.25,
                   action="fix", significant=False, evidence=0.0, travels_with="first order online (vs in store)")
ONLINE = effects_row("online_first_order", effect=0.04, ci_low=-0.02, ci_high=0.10, share=0.6, p_if_1=0.27,
                     p_if_0=0.23, action="extend", significant=False, evidence=0.0)
EAST = effects_row("region=East", effect=0.0001, ci_low=-0.03, ci_high=0.03, share=0.3, p_if_1=0.25, p_if_0=0.25,
                   action=None, significant=False, evidence=0.0)


def driver_data(frame: pd.DataFrame | None = None, not_measured: dict | None = None, factors=FACTORS,
                dependence: pd.DataFrame | None = None, window: float = 14.0) -> DriverData:
    if frame is None:
        frame = pd.DataFrame({"eligible": [True] * 4, "event": [True, False, True, False],
                              "duration": [10.0, 120.0, 30.0, 100.0], "follow_1": [200.0] * 4})
    return DriverData(frame=frame, factors=factors, skipped=pd.DataFrame(columns=["factor", "family", "reason"]),
                      not_measured={"service": "no data on service tickets, satisfaction scores"}
                      if not_measured is None else not_measured,
                      measured={}, window=window, horizon=90,
                      dependence=pd.DataFrame(columns=["event"]) if dependence is None else dependence)


# ------------------------------------------------------------------ funnel and timing


def test_funnel_findings_name_the_biggest_drop_off_in_both_languages():
    en = words.funnel_findings(steps_frame(), cohorts_frame(), 90, EN)
    assert en == [
        "**The biggest drop-off is 1st → 2nd:** of the 2,000 customers who reached it, 28.0 % (95 % interval: "
        "26.0 % to 30.0 %) make the next order within 90 days — 72.0 % do not.",
        "The later steps keep more customers: 2nd → 3rd 45.0 % within 90 days.",
        "Those who do buy a second time take a median of 41 days to do it; later orders follow faster "
        "(2nd → 3rd: 30 days, 3rd → 4th+: —).",  # the last step's median is missing
        "Across 2 acquisition cohorts the 1st → 2nd conversion within 90 days ranges from 25.0 % (January 2025) "
        "to 31.0 % (February 2025); 1 recent cohort has not been followed for 90 days yet."]
    zh = words.funnel_findings(steps_frame(), cohorts_frame(), 90, ZH)
    assert zh[0] == ("**流失最多的环节是首单 → 第2单**：到达该环节的2,000位客户中，28.0%（95%区间：26.0%至30.0%）"
                     "会在90天内下下一单，72.0%不会。")
    assert zh[3] == ("在2个获客批次中，首单 → 第2单环节90天内的转化率从25.0%（2025年1月）到31.0%（2025年2月）不等；"
                     "另有1个近期批次尚未被观察满90天。")


def test_funnel_with_nothing_followed_or_no_customer():
    early = steps_frame().assign(conversion_n=np.nan, conversion_n_low=np.nan, conversion_n_high=np.nan, lost_n=np.nan)
    assert words.funnel_findings(early, cohorts_frame(), 90, EN)[0].startswith(
        "**The biggest drop-off so far is 1st → 2nd:** of the 2,000 customers who reached it, 30.0 % have made")
    assert words.funnel_findings(early, cohorts_frame(), 90, ZH)[0].startswith("**目前流失最多的环节是首单 → 第2单**：")
    empty = steps_frame().assign(reached=0)
    assert words.funnel_findings(empty, cohorts_frame(), 90, ZH) == ["本期没有客户下单，无法分析复购路径。"]


def test_funnel_table_headers_and_cells_follow_the_language():
    zh = words.funnel_table(steps_frame(), 90, ZH)
    assert zh.index.name == "环节" and zh.index[0] == "首单 → 第2单"
    assert zh.loc["首单 → 第2单", "90天内（考虑观察时长的估计，95%区间）"] == "28.0%（26.0%至30.0%）"
    assert zh.loc["第3单 → 第4单及以后", "到下一单的中位天数（已下单者）"] == "—"
    en = words.funnel_table(steps_frame(), 90, EN)
    assert en.loc["1st → 2nd", "customers at the step"] == "2,000"
    assert en.loc["2nd → 3rd", "median days to the next order (those who made it)"] == "30 days"


SUMMARY = {"customers": 3000, "within_n": 0.284, "ci": [0.266, 0.302], "naive_share": 0.201,
           "followed_less_than_n": 700, "ever": 0.33}


def test_censoring_findings_say_how_much_the_naive_share_understates():
    assert words.censoring_findings(SUMMARY, 90, EN) == [
        "**Within 90 days of their first order, 28.4 % (95 % interval: 26.6 % to 30.2 %) of customers buy a second "
        "time** (customers who have not had 90 days yet count as still waiting, not as lost).",
        "The naive share — second purchases within 90 days over all 3,000 customers — says 20.1 %: it counts the 700 "
        "customers whose first order is less than 90 days old as lost, and so understates the rate by 8.3 pp."]
    assert words.censoring_findings(SUMMARY, 90, ZH)[1] == (
        "简单口径——90天内二次购买的客户占全部3,000位客户的比例——为20.1%：它把首单不满90天的700位客户算作流失，"
        "因此把复购率低估了8.3个百分点。")
    every = words.censoring_findings({**SUMMARY, "followed_less_than_n": 0}, 90, EN)[1]
    assert every.startswith("Every customer has been followed for at least 90 days")
    none = words.censoring_findings({**SUMMARY, "within_n": np.nan}, 90, ZH)
    assert none == ["目前还没有客户在首单后被观察满90天，因此无法估计90天内的二次购买率；到目前为止，3,000位客户中有33.0%已完成第二次购买。"]


def test_unadjusted_findings_write_negative_gaps_with_a_minus_in_points():
    raw = pd.DataFrame({"factor": ["slow_delivery", "region=East"],
                        "label": ["first order delivered slowly (≥ 5 days)", "region: East (vs North)"],
                        "family": ["channel", "customer"], "variable": ["slow_delivery", "region"],
                        "level": [None, "East"], "reference": [None, "North"], "n": [300, 500],
                        "with": [0.18, 0.30], "without": [0.31, 0.29], "gap": [-0.13, 0.01]})
    en = words.unadjusted_findings(raw, 90, EN)
    assert en[0] == ("Before any adjustment, the largest gaps in the second-purchase share within 90 days: First order "
                     f"delivered slowly (≥ 5 days) 18.0 % against 31.0 % ({MINUS}13.0 pp); Region: East (compared with "
                     "North) 30.0 % against 29.0 % (+1.0 pp).")
    zh = words.unadjusted_findings(raw, 90, ZH)
    assert zh[0] == ("未做任何调整时，90天内二次购买率差距最大的因素：首单配送慢（不少于5天）：18.0%对比31.0%"
                     f"（{MINUS}13.0个百分点）；地区：East（相对于North）：30.0%对比29.0%（+1.0个百分点）。")
    assert words.unadjusted_findings(raw.iloc[:0], 90, ZH) == ["本品牌没有可测量的因素，因此没有按因素拆分的曲线。"]
    assert words.unadjusted_findings(raw.assign(gap=np.nan), 90, EN) == [
        "Nobody has been followed for 90 days yet, so the factors cannot be compared at 90 days."]


def test_timing_findings_explain_the_window_and_the_landmark():
    frame = pd.DataFrame({"eligible": [True, True, False], "event": [True, False, False],
                          "duration": [5.0, 100.0, 3.0], "follow_1": [200.0, 200.0, 3.0]})
    dependence = pd.DataFrame({"event": ["coupon_reminder", "ticket"], "early_repeat_buyers": [120, 120],
                               "observed_after": [0, 2], "expected_after": [31.4, 2.2], "dependent": [True, False]})
    data = driver_data(frame, dependence=dependence)
    en = words.timing_findings(data, EN)
    assert en[0] == ("Service tickets and coupon reminders happen after the first order, so each is read over a fixed "
                     "window after it (the longest is 14 days) and only customers followed for the whole window enter "
                     "the model: the 1 customer whose first order is more recent is left out, so nobody counts as "
                     "unexposed just because the event was not due yet.")
    assert en[1] == ("A coupon reminder: of the 120 customers who bought again inside the window, 0 had one after their "
                     "repeat purchase (31 expected if the repeat purchase made no difference). A repeat purchase stops "
                     "it, so comparing customers from the first order would flatter those without it; its effect is "
                     "estimated among customers still waiting at day 14.")
    assert en[2].endswith("— too few to check; it is treated as independent of the repeat purchase.")
    zh = words.timing_findings(data, ZH)
    assert zh[0].startswith("客服工单和优惠券提醒发生在首单之后")
    assert zh[1].startswith("优惠券提醒：在窗口内再次购买的120位客户中，有0位在复购之后发生了该事件（如果复购与之无关，预计为31位）。")
    assert words.timing_findings(driver_data(window=0.0), ZH) == ["这里测量的所有因素在首单时即已确定，不需要等待后续事件。"]


# ------------------------------------------------------------------ effects


def test_effects_findings_name_the_lever_and_what_cannot_be_told():
    eff = effects(REMINDER, SLOW, EAST)
    en = words.effects_findings(eff, driver_data(), EN)
    assert en[0] == (
        "**The lever that matters most: Never reminded of the second-order coupon.** Customers with *never reminded "
        "of the second-order coupon* are 8.0 pp less likely to buy again within 90 days (20.0 % against 28.0 %; "
        f"95 % simultaneous (98.3 % each, 3 factors) interval {MINUS}12.0 pp to {MINUS}4.0 pp). It concerns 40 % of "
        "customers, so fixing it for them could raise the second-purchase rate within 90 days of all customers by "
        "about 3.2 pp (at least 1.6 pp at the end of the interval nearest zero) — if the link is causal.")
    assert en[1] == (
        "For 1 factor the brand could act on we cannot tell whether it raises or lowers the chance: *first order "
        f"delivered slowly (≥ 5 days)* ({MINUS}11.0 pp to +1.0 pp) — its interval includes zero, so it is not ranked "
        "as a lever, however large its point estimate (intervals 95 % simultaneous (98.3 % each, 3 factors): they "
        "hold for all 3 factors at once).")
    assert en[2:] == [
        "Who the customer is: no customer attribute changes the chance clearly.",
        "For no factor does the test reject a constant effect on the daily chance of buying again, so each has one "
        "ratio throughout.",
        "Not measured for this brand (no data), so not ruled out: service response (no data on service tickets, "
        "satisfaction scores)."]
    zh = words.effects_findings(eff, driver_data(), ZH)
    assert zh[0] == (
        "**最重要的抓手：从未收到二次购买优惠券的提醒**。有“从未收到二次购买优惠券的提醒”的客户，90天内再次购买的概率低"
        f"8.0个百分点（20.0%对比28.0%；95%联合（单个98.3%，共3个因素）区间：{MINUS}12.0个百分点至{MINUS}4.0个百分点）。"
        "该情况涉及40%的客户，为他们解决这一问题，可使全部客户90天内的二次购买率提高约3.2个百分点"
        "（按区间中最接近零的一端计，至少1.6个百分点）——前提是两者确有因果关系。")
    assert zh[-1] == "本品牌未测量（没有数据），因此不能排除：服务响应（缺少客服工单、满意度评分数据）。"


def test_effects_findings_with_no_clear_lever_two_unclear_factors_and_a_landmark():
    eff = effects(SLOW, {**ONLINE, "design": "landmark day 14"})
    en = words.effects_findings(eff, driver_data(not_measured={}), EN)
    assert en[0] == ("No factor the brand can act on shows an effect we can tell apart from chance once we allow for "
                     "the 2 factors tested.")
    assert en[1].startswith("For 2 factors the brand could act on we cannot tell whether they raise or lower the "
                            f"chance: *first order delivered slowly (≥ 5 days)* ({MINUS}11.0 pp to +1.0 pp); *first "
                            f"order online (not in a store)* ({MINUS}2.0 pp to +10.0 pp) — each interval includes zero")
    zh = words.effects_findings(eff, driver_data(not_measured={}), ZH)
    assert zh[0] == "考虑到共检验了2个因素，品牌可以采取行动的因素中，没有一个的影响能与随机波动区分开。"
    assert zh[1].startswith("对于品牌可以采取行动的2个因素，我们无法判断它们提高还是降低了复购概率")
    assert words.effects_table(eff, ZH)["比较对象"].tolist() == ["全部客户（自首单起）", "第14天仍未复购的客户"]


def test_a_clear_lever_that_travels_with_another_and_a_fading_ratio():
    slow = {**SLOW, "ci_high": -0.01, "significant": True, "evidence": 0.01, "at_stake": 0.005, "at_stake_low": 0.001,
            "banded": True, "hazard_ratio": "0.50 → 0.90", "bands": "day 0–30 | day 30–60 | day 60–90",
            "ph_p_adjusted": 0.0123}
    text = " ".join(words.effects_findings(effects(slow), driver_data(not_measured={}), EN))
    assert ("It almost only occurs together with *first order online (not in a store)*; both are in the one model"
            in text)
    assert ("(a test rejects a constant ratio, adjusted p 0.012): it is strongest in the first days, then fades "
            "(ratio 0.50 → 0.90 over days 0–30, days 30–60, days 60–90)" in text)
    assert "the most eager customers buy first" in text
    zh = " ".join(words.effects_findings(effects(slow), driver_data(not_measured={}), ZH))
    assert "该因素几乎只与“首单在线上（而非门店）”同时出现" in zh and "对应第0–30天、第30–60天、第60–90天" in zh


def test_effects_not_estimated_say_why():
    nobody = driver_data(pd.DataFrame({"eligible": [True, True], "event": [False, False],
                                       "duration": [200.0, 200.0], "follow_1": [200.0, 200.0]}))
    assert words.effects_findings(None, nobody, EN)[0].startswith("No customer of the model bought a second time")
    early = driver_data(pd.DataFrame({"eligible": [True], "event": [False], "duration": [10.0], "follow_1": [10.0]}))
    assert words.effects_findings(None, early, ZH) == [
        "现在估计影响还为时过早：只有0位客户在首单后被观察满90天（模型至少需要几十位）。请运行更晚的周期，或在品牌设置中缩短观察期（90天）。"]
    none = driver_data(factors=[], not_measured={"service": "no data on service tickets",
                                                 "channel": "no data on order channel (online vs store), delivery days"})
    assert words.effects_findings(None, none, EN) == [
        "No factor can be estimated for this brand (not measured: service response, channel convenience). Only the "
        "funnel and the timing above can be read."]


def test_effects_table_writes_points_and_no_minus_zero():
    eff = effects(REMINDER, EAST)
    en = words.effects_table(eff, EN)
    assert list(en.columns) == ["family", "factor", "customers with it", "second purchase within 90 days: with / without",
                                "effect", "95 % simultaneous (97.5 % each, 2 factors) interval",
                                "clear (interval excludes zero)", "customers compared"]
    assert en.loc[1].tolist() == ["marketing touches", "Never reminded of the second-order coupon", "400 (40 %)",
                                  "20.0 % / 28.0 %", f"{MINUS}8.0 pp", f"{MINUS}12.0 pp to {MINUS}4.0 pp", "yes",
                                  "all customers, from the first order"]
    assert en.loc[2, "effect"] == "0.0 pp"  # +0.01 points rounds to zero: no sign
    zh = words.effects_table(eff, ZH)
    assert zh.loc[2].tolist()[:5] == ["客户属性", "地区：East（相对于North）", "300（30%）", "25.0% / 25.0%", "0.0个百分点"]


# ------------------------------------------------------------------ names and records


@pytest.mark.parametrize("name", list(drivers.BINARY))
def test_every_binary_factor_has_a_name_with_its_threshold(name):
    cfg = Drivers()
    label = drivers.binary_label(name, cfg)
    for fmt in (EN, ZH):
        named = words.factor_name(fmt, name, label)
        assert named == fmt.t(words.FACTOR_KEYS[name]) or name in words.THRESHOLD_KEYS
    if name == "slow_delivery":
        assert words.factor_name(ZH, name, label) == f"首单配送慢（不少于{cfg.slow_delivery_days:g}天）"
        assert words.factor_name(EN, name, label) == f"First order delivered slowly (≥ {cfg.slow_delivery_days:g} days)"


def test_missing_data_and_skipped_factors_in_words():
    # the bad-input corpus looks for "no data on order channel" in notebook 03 (tests/badinputs/cases.py)
    assert words.missing_data(EN, "no data on order channel (online vs store), delivery days") == \
        "no data on order channel (online vs store), delivery days"
    assert words.missing_data(ZH, "no data on order channel (online vs store), delivery days") == \
        "缺少下单渠道（线上或门店）、配送天数数据"
    assert words.skip_reason(ZH, "only 12 customers with it (needs 30)") == "具有该因素的客户只有12位（至少需要30位）"
    assert words.skip_reason(EN, "3 small level(s) pooled as 'other' (1,234 customers)") == \
        "3 small level(s) pooled as 'other' (1,234 customers)"
    assert words.label_name(ZH, "region") == "地区"


def test_recorded_sentence():
    section = {"funnel": {"1->2": {}, "2->3": {}, "3->4+": {}},
               "effects": {"a": {"significant": True}, "b": {"significant": False}}, "not_measured": {}}
    assert words.recorded_sentence(section, EN) == (
        "Recorded in metrics.json: the conversion of 3 funnel steps, 2 factor effects (1 clear after allowing for all "
        "factors), every driver family measured.")
    assert words.recorded_sentence({**section, "not_measured": {"service": "x", "channel": "y"}}, ZH) == (
        "已记录在 metrics.json 中：3个复购路径环节的转化率、2个因素的影响（考虑全部因素后有1个明确）、未测量：服务响应、渠道便利。")


# ------------------------------------------------------------------ charts


def test_charts_speak_the_run_language():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers import drivers_plots, plots

    plots.set_theme("zh")  # the CJK font, as open_run sets it for a Chinese run
    fig = drivers_plots.funnel(steps_frame(), 90, ZH, "示例茶")
    left, right = fig.axes
    assert fig._suptitle.get_text() == "示例茶：复购路径"
    assert [x.get_text() for x in left.get_xticklabels()] == ["首单", "第2单", "第3单", "第4单及以后"]
    assert [y.get_text() for y in right.get_yticklabels()] == ["首单 → 第2单", "第2单 → 第3单", "第3单 → 第4单及以后"]
    assert [x.get_text() for x in right.get_legend().get_texts()] == ["截至目前已下下一单", "90天内（考虑仍在等待的客户，95%区间）"]
    assert "28.0%" in [x.get_text() for x in right.texts]
    plt.close(fig)
    fig = drivers_plots.cohort_heatmap(cohorts_frame().assign(step="x"), 90, EN)
    ax = fig.axes[0]
    assert [y.get_text() for y in ax.get_yticklabels()] == ["January 2025", "February 2025", "March 2025"]
    assert "too few yet" in [x.get_text() for x in ax.texts]
    plt.close(fig)
    fig = drivers_plots.effects_forest(effects(REMINDER, SLOW, EAST), EN)
    ax = fig.axes[0]
    assert [y.get_text() for y in ax.get_yticklabels()] == [
        "Region: East (compared with North)", "First order delivered slowly (≥ 5 days)",
        "Never reminded of the second-order coupon"]
    assert ax.get_xlabel() == ("change in the chance of a second purchase within 90 days (percentage points; bars: "
                               "95 % simultaneous (98.3 % each, 3 factors) interval)")
    assert [x.get_text() for x in ax.get_legend().get_texts()] == [
        "who the customer is", "marketing touches", "channel convenience", "hollow: interval includes zero (not clear)"]
    plt.close(fig)
