"""Business assumptions are never applied silently: each is listed with where it comes from,
and a currency the params do not give is 'unspecified', not guessed."""

from __future__ import annotations

from helpers import config
from helpers.text import Text, common
from helpers.text.formats import Formats
from tests.conftest import write_params

MINIMAL = """
    brand: minimal
    sources:
      orders:
        - name: shop
          path: orders.csv
          columns: {order_id: id, customer_id: member, order_ts: ts, amount: paid}
"""


def test_no_currency_is_unspecified_not_cny(tmp_path):
    params = config.load_params(write_params(tmp_path, MINIMAL))
    assert params.business.currency == ""
    assert params.business.unit == "unspecified currency"
    table = common.assumptions_table(Formats(Text("en"), params.business.currency), params, keys=True)
    table = table.set_index("assumption")
    assert table.loc["currency", "value"] == "unspecified currency"
    # every assumption is a default here, and the analyst's table says which key sets it
    assert table["source"].str.startswith("workbook default — set ").all()
    assert table.loc["retention budget per period", "value"] == "50.0k"  # no currency: digits alone
    assert table.loc["retention budget per period", "source"] == "workbook default — set tiers.budget"
    assert table.loc["gross margin", "value"] == "30 % of revenue"


def test_assumptions_given_in_params_are_credited_to_them(tmp_path):
    body = MINIMAL + """
    business: {currency: EUR, margin: 0.42}
    tiers: {budget: 1200, cost_per_contact: {sms: 0.07, app_push: 0.01, email: 0.01, phone: 2.5}}
    """
    params = config.load_params(write_params(tmp_path, body))
    table = common.assumptions_table(Formats(Text("en"), params.business.currency), params, keys=True)
    table = table.set_index("assumption")
    assert params.business.unit == "EUR"
    assert table.loc["currency"].tolist() == ["EUR", "params (business.currency)"]
    assert table.loc["gross margin"].tolist() == ["42 % of revenue", "params (business.margin)"]
    assert table.loc["retention budget per period"].tolist() == ["EUR 1,200", "params (tiers.budget)"]
    assert table.loc["cost per contact, by channel"].tolist() == [
        "sms EUR 0.07, app_push EUR 0.01, email EUR 0.01, phone EUR 2.50", "params (tiers.cost_per_contact)"]
    assert table.loc["annual discount rate (lifetime value)", "source"] == \
        "workbook default — set business.annual_discount_rate"
