"""Notebook 01's sentences (helpers.text.audit) in English and Chinese, for hand-made findings."""

from __future__ import annotations

import datetime as dt

import pytest

from helpers.audit import Finding
from helpers.text import Text
from helpers.text import audit as words
from helpers.text.formats import Formats


@pytest.fixture
def en():
    return Formats(Text("en"), "CNY")


@pytest.fixture
def zh():
    return Formats(Text("zh"), "CNY")


def test_a_cleaning_rule_with_and_without_money(en, zh):
    dupes = Finding("exact_duplicates", "warn", 30, "exact_duplicates", {"revenue": 5400.0})
    assert words.finding(dupes, en) == "30 exact duplicate order rows removed (the same order loaded twice) (CNY 5,400)."
    assert words.finding(dupes, zh) == "删除30行完全重复的订单（同一订单被导入两次）（¥5,400）。"
    one = Finding("refunds", "info", 1, "refunds", {"revenue": None})  # no amount mapped: no figure
    assert words.finding(one, en) == "1 refund row separated from purchases."
    assert words.finding(one, zh) == "1行退款记录已与购买记录分开。"


def test_parse_failures_name_the_brand_column_and_what_it_holds(en, zh):
    f = Finding("parse_failures.pos.amount", "warn", 9, "parse_failures",
                {"file": "pos.csv", "raw_column": "实付金额", "column": "amount", "value_type": "money",
                 "examples": "'N/A', 'abc'"})
    assert words.finding(f, en) == ("pos.csv: 9 values of column 实付金额 (an amount of money) could not be parsed "
                                    "(e.g. 'N/A', 'abc'); those rows are dropped and counted below.")
    assert words.finding(f, zh) == ("pos.csv：实付金额列（金额）有9个值无法解析（例如'N/A', 'abc'），"
                                    "所在行已剔除，计入下方的清洗对账。")


def test_gaps_of_several_days_and_of_one(en, zh):
    three = Finding("gap.online.2024-03-12", "warn", 0, "gap",
                    {"source": "online", "first_day": dt.date(2024, 3, 12), "last_day": dt.date(2024, 3, 14),
                     "days": 3, "expected": 61.4})
    assert words.finding(three, en).startswith(
        "online: no orders on 12 March 2024 to 14 March 2024 (3 days) where about 61 were expected;")
    assert words.finding(three, zh).startswith("online：2024年3月12日至2024年3月14日（3天）没有订单，而按往常应有约61笔；")
    one = Finding("gap.online.2024-03-12", "warn", 0, "gap",
                  {"source": "online", "first_day": dt.date(2024, 3, 12), "last_day": dt.date(2024, 3, 12),
                   "days": 1, "expected": 40.0})
    assert "no orders on 12 March 2024 (1 day)" in words.finding(one, en)


def test_thresholds_in_plain_words_without_setting_names(en, zh):
    faulty = Finding("faulty_share", "fail", 3, "faulty_share",
                     {"faulty": 3, "rows_in": 9, "share": 1 / 3, "allowed": 0.2,
                      "rules": ("unreadable rows", "zero-amount orders"), "setting": "cleaning.max_faulty_share"})
    assert words.finding(faulty, en).startswith(
        "33.3 % of the order rows (3 of 9) were dropped as faulty (unreadable rows, zero-amount orders), above the "
        "20 % the brand's settings allow:")
    assert words.finding(faulty, zh).startswith("订单行中有33.3%（9行中的3行）因数据错误被剔除（无法读取的行、零金额订单），"
                                                "超过品牌配置允许的20%")
    low = Finding("match.orders.customers", "fail", 120, "match",
                  {"table": "orders", "target": "customers", "rate": 0.7, "unmatched_ids": 1, "low": True,
                   "required": 0.8})
    assert words.finding(low, en).startswith("Joining the orders to the customers table: 70.0 % of rows match; "
                                             "120 rows from 1 customer id have no match, below the 80 %")
    assert words.finding(low, zh).startswith("订单关联客户表：70.0%的行能匹配上；来自1个客户编号的120行未能匹配，低于品牌配置要求的80%")
    for f in (faulty, low):
        assert "cleaning." not in words.finding(f, en) and "readiness." not in words.finding(f, en)


def test_money_in_the_language_of_the_run(en, zh):
    refunds = Finding("refund_share", "info", 0, "refund_share", {"amount": 150_000.0, "share": 0.031})
    assert words.finding(refunds, en) == ("Refunds amount to CNY 150.0k, 3.1 % of raw revenue; "
                                          "revenue is reported net of them.")
    assert words.finding(refunds, zh) == "退款共计¥15.0万，占原始金额的3.1%；金额均按扣除退款后的净额报告。"
    outliers = Finding("outliers", "info", 2, "outliers", {"threshold": 12_345.0})
    assert words.finding(outliers, zh) == "2笔订单金额高于¥1.2万，属于批发规模的异常大单：仅标记，不剔除。"


def test_readiness_with_its_reasons_and_without(en, zh):
    short = {"verdict": "not ready", "customers": 2, "repeat_customers": 1, "repeat_share": 0.5, "history_days": 1,
             "reasons": ["few_repeat", "short_history"], "min_repeat_customers": 200, "min_history_days": 180}
    assert words.readiness(short, en) == (
        "Readiness for lifecycle and customer-value models: not ready. 2 customers, 1 (50.0 %) bought on two or "
        "more days, 1 day of history (only 1 customer bought on two or more days, 200 needed; only 1 day of "
        "history, 180 days needed).")
    assert words.readiness(short, zh) == (
        "生命周期与客户价值模型的数据准备度：未就绪。共2位客户，其中1位（50.0%）在两天或以上有购买，历史数据1天"
        "（只有1位客户在两天或以上有购买，至少需要200位；历史数据只有1天，至少需要180天）。")
    ready = {**short, "verdict": "ready", "customers": 0, "repeat_customers": 0, "repeat_share": 0.0,
             "history_days": 540, "reasons": []}
    assert words.readiness(ready, en).endswith("540 days of history (enough repeat customers and history).")


def test_verdict_with_money_without_and_nothing_found(en, zh):
    found = [Finding("faulty_share", "fail", 3, "no_amount"), Finding("gap.x.2024-01-01", "warn", 0, "no_amount"),
             Finding("refunds", "info", 1, "no_amount"), Finding("outliers", "info", 1, "no_amount")]
    summary = {"rows_raw": 12_000, "revenue_raw": 1_234_567.0, "orders_clean": 10_500, "customers_clean": 3_200,
               "revenue_clean": 1_100_000.0}
    assert words.verdict("fail", summary, found, en) == (
        "**FAIL**: fix the failures before trusting the later notebooks. 1 failure, 1 warning, 2 notes. From 12,000 "
        "raw rows (CNY 1.2M) the clean data keeps 10,500 orders by 3,200 customers, CNY 1.1M net of refunds "
        "(89.1 % of raw revenue).")
    assert words.verdict("fail", summary, found, zh) == (
        "**不通过**：请先修复不通过项，再采信后续笔记本的结果。1项不通过、1项警告、2项提示。原始数据共12,000行"
        "（¥123.5万），清洗后保留3,200位客户的10,500笔订单，扣除退款后金额为¥110.0万（占原始金额的89.1%）。")
    no_money = {**summary, "revenue_raw": None, "revenue_clean": None}
    assert words.verdict("pass", no_money, [], en) == (
        "**PASS**: the data can be used as it is. 0 failures, 0 warnings, 0 notes. From 12,000 raw rows the clean "
        "data keeps 10,500 orders by 3,200 customers (no amount: no revenue figure).")
    assert words.findings([], zh, nothing="gaps") == ["未发现可疑的断档：每个数据源在应有订单的日子都有数据。"]
    assert words.findings([], en) == []


def test_tables_and_stored_messages(en, zh):
    found = [Finding("refunds", "info", 1, "refunds", {"revenue": None}),
             Finding("exact_duplicates", "warn", 30, "exact_duplicates", {"revenue": None})]
    table = words.findings_table(found, zh)
    assert list(table.columns) == ["级别", "行数", "发现"]
    assert table["级别"].tolist() == ["警告", "提示"]  # most severe first
    assert words.messages(found, zh) == ["1 refund row separated from purchases.",  # English, in the order found
                                         "30 exact duplicate order rows removed (the same order loaded twice)."]
    frame = words.findings_frame(found, en)
    assert frame["check"].tolist() == ["exact_duplicates", "refunds"]


def test_unknown_finding_kind_is_an_error(en):
    with pytest.raises(ValueError, match="no words"):
        words.finding(Finding("x", "info", 0, "nonsense"), en)


def test_reconciliation_and_profile_tables_in_words(tiny_params, zh, en):
    from helpers import audit, config, sources

    data = sources.load(config.load_params(tiny_params))
    end = config.period_end("2024-02", "month")
    clean = audit.clean_orders(data, end)
    table = words.reconciliation_table(clean, data, end, zh).data
    assert table.index.name == "步骤" and list(table.columns) == ["操作", "剔除行数", "剩余行数", "金额变化", "剩余金额", "原因"]
    assert table.loc["shop原始数据", "原因"] == "从orders.csv读取的记录"
    assert table.loc["晚于本期截止日", "原因"] == "日期晚于2024年2月29日：每次运行只使用截至本期末的数据"
    assert table.loc["完全重复", "剔除行数"] == "1" and table.loc["完全重复", "操作"] == "剔除"
    assert table.loc["扣除退款", "金额变化"] == "\u2212¥40.00"  # a real minus sign, money in the run's currency
    english = words.reconciliation_table(clean, data, end, en).data
    assert english.loc["conflicting duplicates", "why"] == "same order id with different content: the earliest version kept"
    assert english.loc["conflicting duplicates", "rows removed"] == ""  # nothing removed: blank, not 0
    profile = words.profile_table(audit.profile_sources(data), zh)
    assert profile.columns.names == ["表", "数据源"] and profile.columns[0] == ("订单", "shop")
    assert profile.loc["每行代表"].iloc[0] == "一行记录" and profile.loc["无法解析的值"].iloc[0] == "1"
    assert profile.loc["最早日期"].iloc[0].startswith("2024年")


def test_step_names(zh, en):
    assert words.step_name("raw invoice_lines", en) == "raw invoice_lines"
    assert words.step_name("invoice_lines: postage", zh) == "invoice_lines：postage"  # the brand's own rule name
    assert words.step_name("invoice_lines: lines to orders", zh) == "invoice_lines：明细汇总为订单"
    assert words.step_name("shop: unreadable rows", zh) == "shop：无法读取的行"
    assert words.step_name("zero-amount orders", zh) == "零金额订单"


def test_a_brand_without_amounts_says_so_and_shows_no_money(tmp_path, en, zh):
    from helpers import audit, config, sources
    from helpers.text.common import no_amount_reason
    from tests.badinputs.base import new_brand, write_all, write_frame

    brand = new_brand(tmp_path)
    write_frame(brand.orders.drop(columns=["amount"]), tmp_path / "orders.csv")
    del brand.params["sources"]["orders"][0]["columns"]["amount"]
    data = sources.load(config.load_params(write_all(brand)))
    end = config.period_end("2024-12", "month")
    clean = audit.clean_orders(data, end)
    said = words.findings(audit.cleaning_findings(clean), en)
    assert any(no_amount_reason(en) in s for s in said)  # the words every notebook uses for such a brand
    assert not any("EUR" in s or "nan" in s for s in said)
    table = words.reconciliation_table(clean, data, end, zh).data
    assert list(table.columns) == ["操作", "剔除行数", "剩余行数", "原因"]  # no revenue columns, not zeros
    assert words.findings(audit.cleaning_findings(clean), zh)[-1].startswith("该品牌的订单没有金额")
