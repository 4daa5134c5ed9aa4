"""Words every notebook shares (helpers.text.common), in English and Chinese, on hand-made params."""

from __future__ import annotations

from helpers import config
from helpers.text import Text, common
from helpers.text.formats import Formats
from tests.conftest import write_params

ORDERS = """
    brand: shop
    display_name: Shop
    sources:
      orders:
        - name: shop
          path: orders.csv
          columns: {order_id: id, customer_id: member, order_ts: ts%s}
"""


def _params(tmp_path, extra: str = "", amount: bool = True):
    body = ORDERS % (", amount: paid" if amount else "") + extra
    return config.load_params(write_params(tmp_path, body))


def _fmt(language: str, params) -> Formats:
    return Formats(Text(language), params.business.currency)


def test_illustrative_names_the_defaults_in_both_languages(tmp_path):
    params = _params(tmp_path, "    business: {currency: EUR, margin: 0.4}\n")
    assert common.illustrative(_fmt("en", params), params).startswith(
        "**Illustrative.** The params of Shop do not set the budget, contact costs: the workbook's generic defaults")
    assert common.illustrative(_fmt("zh", params), params).startswith("**示意。** Shop 的参数文件未设定预算、触达成本：")
    assert common.illustrative(_fmt("en", params), params, ("business.margin",)) == ""  # set by the brand


def test_no_amount_note_only_without_money(tmp_path):
    with_money = _params(tmp_path)
    assert common.no_amount_note(_fmt("en", with_money), with_money, "04") == ""
    counts_only = _params(tmp_path, amount=False)
    en, zh = _fmt("en", counts_only), _fmt("zh", counts_only)
    assert common.no_amount_note(en, counts_only, "05") == (
        "**No money figures.** This brand's orders carry no amount (no amount column mapped in its params): tiers by "
        "predicted lifetime value, the budget split (section 2) and the contact lists with their budget (section 3) "
        "are skipped; tiers rank customers by expected purchases in the next 365 days (notebook 04).")
    assert common.no_amount_note(zh, counts_only, "05") == (
        "**无金额数据。** 该品牌的订单没有金额（参数中未映射金额列）：已跳过按预测终身价值划分的价值层级、预算分配（第2节）"
        "以及附预算的触达名单（第3节）；价值层级改按未来365天的预期购买次数（笔记本04）为客户排序。")
    assert common.no_amount_note(en, counts_only, "03").startswith(
        "**No money figures.** This brand's orders carry no amount (no amount column mapped in its params): no section")
    for notebook in ("02", "03", "04", "05", "06"):  # every page names the reason in the same words
        assert common.no_amount_reason(en) in common.no_amount_note(en, counts_only, notebook)
        assert common.no_amount_reason(zh) in common.no_amount_note(zh, counts_only, notebook)


def test_assumptions_table_plain_and_with_keys(tmp_path):
    params = _params(tmp_path, """
    business: {currency: EUR, margin: 0.42}
    tiers: {budget: 1200, cost_per_contact: {sms: 0.07, app_push: 0.01, email: 0.01, phone: 2.5}}
    """)
    en = common.assumptions_table(_fmt("en", params), params).set_index("assumption")
    assert en.loc["currency"].tolist() == ["EUR", "the brand's params"]
    assert en.loc["gross margin"].tolist() == ["42 % of revenue", "the brand's params"]
    assert en.loc["retention budget per period"].tolist() == ["EUR 1,200", "the brand's params"]
    assert en.loc["cost per contact, by channel", "value"] == "sms EUR 0.07, app_push EUR 0.01, email EUR 0.01, phone EUR 2.50"
    assert en.loc["annual discount rate (lifetime value)"].tolist() == [
        "10 %", "workbook default: set it in the brand's params"]
    assert en.loc["assumed response where none was measured", "value"].startswith("High value 4.0 %, Potential 6.0 %")
    keyed = common.assumptions_table(_fmt("en", params), params, keys=True).set_index("assumption")
    assert keyed.loc["annual discount rate (lifetime value)", "source"] == \
        "workbook default — set business.annual_discount_rate"
    assert keyed.loc["gross margin", "source"] == "params (business.margin)"
    zh = common.assumptions_table(_fmt("zh", params), params).set_index("假设")
    assert zh.loc["毛利率"].tolist() == ["收入的42%", "品牌参数"]
    assert zh.loc["每期挽留预算", "取值"] == "€1,200"


def test_run_header_in_both_languages():
    import pandas as pd

    start, end = pd.Timestamp("2025-06-01"), pd.Timestamp("2025-06-30 23:59:59")
    en = Formats(Text("en"), "CNY")
    assert common.run_header(en, "Demo Tea", "2025-06", start, end, run_id="20261204T1") == \
        "Demo Tea · June 2025 (1 June 2025 to 30 June 2025) · run 20261204T1"
    assert common.run_header(Formats(Text("zh"), "CNY"), "Demo Tea", "2025Q2", pd.Timestamp("2025-04-01"), end,
                             folder="outputs/demo/2025Q2/interactive") == \
        "Demo Tea · 2025年第2季度（2025年4月1日至2025年6月30日）· 交互式临时目录：outputs/demo/2025Q2/interactive"


def test_formats_take_numpy_numbers_from_frames():
    import numpy as np

    f = Formats(Text("en"), "USD")
    assert f.count(np.int64(23570)) == "23,570" and f.share(np.float64(0.123)) == "12.3 %"
    assert f.money(np.float32(53.84)) == "USD 53.84" and f.number(np.int32(-7), plus=True) == "\u22127"
    assert f.count(np.bool_(True)) == f.count(True) == "—" and f.share(np.float64("nan")) == "—"
