"""Params validation: every error names the file, the key path, what is wrong and what is allowed."""

from __future__ import annotations

import pytest

from helpers import config
from helpers.config import ParamsError
from tests.conftest import write_params

BASE = """
brand: tiny
sources:
  orders:
    - name: shop
      path: orders.csv
      columns: {{order_id: id, customer_id: cid, order_ts: ts, amount: amt}}
{extra}
"""


def _params(tmp_path, extra: str = ""):
    return write_params(tmp_path, BASE.format(extra=extra))


def test_valid_params_load_with_defaults(tmp_path):
    params = config.load_params(_params(tmp_path))
    assert params.brand == "tiny"
    assert params.period == "month"
    assert params.cleaning.duplicates == "drop"
    assert params.business.margin == pytest.approx(0.3)
    assert config.params_file(params) == (tmp_path / "tiny.yaml").resolve()


def test_unknown_top_level_key_is_refused_with_allowed_keys(tmp_path):
    path = _params(tmp_path, "margn: 0.4")
    with pytest.raises(ParamsError) as err:
        config.load_params(path)
    text = str(err.value)
    assert str(path) in text
    assert "margn: unknown key" in text
    assert "business" in text and "cleaning" in text  # the allowed keys are listed


def test_unknown_nested_key_names_the_path(tmp_path):
    path = _params(tmp_path, "business:\n  margins: 0.4")
    with pytest.raises(ParamsError, match=r"business\.margins: unknown key; allowed keys here: .*margin"):
        config.load_params(path)


def test_bad_type_names_key_and_value(tmp_path):
    path = _params(tmp_path, "business:\n  margin: lots")
    with pytest.raises(ParamsError) as err:
        config.load_params(path)
    assert "business.margin" in str(err.value) and "'lots'" in str(err.value)


def test_out_of_range_value(tmp_path):
    with pytest.raises(ParamsError, match=r"business\.margin: Input should be less than or equal to 1"):
        config.load_params(_params(tmp_path, "business:\n  margin: 1.5"))


def test_bad_choice_lists_allowed_values(tmp_path):
    with pytest.raises(ParamsError, match=r"period: Input should be 'month', 'quarter' or 'week'"):
        config.load_params(_params(tmp_path, "period: fortnight"))


def test_unknown_canonical_column(tmp_path):
    text = BASE.format(extra="").replace("amount: amt", "amount: amt, colour: c")
    path = write_params(tmp_path, text)
    with pytest.raises(ParamsError, match=r"orders\[0\] \(shop\): unknown canonical column\(s\) \['colour'\]"):
        config.load_params(path)


def test_required_column_not_mapped(tmp_path):
    path = write_params(tmp_path, BASE.format(extra="").replace(", order_ts: ts", ""))
    with pytest.raises(ParamsError, match=r"required canonical column\(s\) \['order_ts'\] not mapped"):
        config.load_params(path)


def test_amount_is_optional_but_all_or_none(tmp_path):
    """Orders without an amount (loyalty-card visits) are a valid brand without money; an amount
    mapped in one order source but not another would make revenue leave orders out: refused."""
    params = config.load_params(write_params(tmp_path, BASE.format(extra="").replace(", amount: amt", "")))
    assert params.has_amount is False and config.load_params(_params(tmp_path)).has_amount is True
    second = BASE.format(extra="").replace("{order_id: id, customer_id: cid, order_ts: ts, amount: amt}",
                                           "{order_id: id, customer_id: cid, order_ts: ts, amount: amt}\n"
                                           "    - name: pos\n      path: pos.csv\n"
                                           "      columns: {order_id: id, customer_id: cid, order_ts: ts}")
    with pytest.raises(ParamsError, match=r"amount is mapped in \['shop'\] but not in \['pos'\]"):
        config.load_params(write_params(tmp_path, second))


def test_unquoted_date_is_refused(tmp_path):
    path = write_params(tmp_path, BASE.format(extra="").replace("name: shop", "name: shop\n      description: 2011-11-30"))
    with pytest.raises(ParamsError, match="write dates as quoted strings"):
        config.load_params(path)


def test_missing_params_file_and_unknown_brand(tmp_path):
    with pytest.raises(ParamsError, match="params file not found"):
        config.load_params(tmp_path / "nope.yaml")
    with pytest.raises(ParamsError, match=r"no params file for brand 'nope'.*brands: .*demo"):
        config.load_params(brand="nope")


def test_secrets_resolve_only_at_use(tmp_path, monkeypatch):
    path = _params(tmp_path, "engine:\n  url: postgres://me:${SHOP_DB_PASSWORD}@localhost/shop")
    params = config.load_params(path)
    assert "${SHOP_DB_PASSWORD}" in params.engine.url  # stored as written
    monkeypatch.delenv("SHOP_DB_PASSWORD", raising=False)
    with pytest.raises(ParamsError, match="environment variable SHOP_DB_PASSWORD is not set"):
        config.resolve_secrets(params.engine.url)
    monkeypatch.setenv("SHOP_DB_PASSWORD", "s3cret-value")
    assert config.resolve_secrets(params.engine.url) == "postgres://me:s3cret-value@localhost/shop"
    assert "s3cret-value" not in params.model_dump_json()
    assert "s3cret-value" not in config.redact("failed: postgres://me:s3cret-value@localhost")


def test_bundled_params_are_valid():
    for path in config.all_params_files():
        params = config.load_params(path)
        assert params.brand == path.stem


@pytest.mark.parametrize(
    ("max_ts", "kind", "expected"),
    [
        ("2025-07-10 08:00", "month", "2025-06"),  # July has only ten days: incomplete
        ("1998-06-30 00:00", "month", "1998-06"),  # data to the last day: complete
        ("2011-12-09 12:50", "month", "2011-11"),
        ("2011-12-31 00:00", "quarter", "2011Q4"),
        ("2011-12-30 00:00", "quarter", "2011Q3"),
        ("2011-11-13 23:00", "week", "2011-W45"),  # a Sunday completes its ISO week
        ("2011-11-12 23:00", "week", "2011-W44"),
    ],
)
def test_latest_complete_period(max_ts, kind, expected):
    assert config.latest_complete_period(max_ts, kind) == expected


def test_periods_parse_expand_and_end():
    assert config.expand_periods("2011-01..2011-03", "month") == ["2011-01", "2011-02", "2011-03"]
    assert config.expand_periods("2011Q4", "quarter") == ["2011Q4"]
    assert str(config.period_end("2024-02", "month")) == "2024-02-29 23:59:59.999999"
    assert str(config.period_start("2011-W45", "week").date()) == "2011-11-07"
    with pytest.raises(ParamsError, match="runs backwards"):
        config.expand_periods("2011-06..2011-01", "month")


def test_periods_counted_back_from_latest():
    assert config.expand_periods("latest-1..latest", "month", latest="2025-01") == ["2024-12", "2025-01"]
    assert config.expand_periods("latest-2", "quarter", latest="2025Q1") == ["2024Q3"]
    assert config.expand_periods("2024-W52..latest", "week", latest="2025-W02") == ["2024-W52", "2025-W01", "2025-W02"]
    assert config.needs_latest("latest-3..2025-01") and config.needs_latest("latest")
    assert not config.needs_latest("2024-01..2025-01") and not config.needs_latest("latest-x")
    with pytest.raises(ParamsError, match="needs the data's latest complete period"):
        config.expand_periods("latest-1..latest", "month")
    with pytest.raises(ParamsError, match="not a month label"):
        config.expand_periods("latest-x", "month", latest="2025-01")
    with pytest.raises(ParamsError, match="not a month label"):
        config.to_period("Nov 2011", "month")
