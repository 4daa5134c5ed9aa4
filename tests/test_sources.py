"""The data layer: encodings, formats, column mapping, parsing — with clear errors."""

from __future__ import annotations

import pandas as pd
import pytest

from helpers import config, sources
from helpers.sources import SourceError
from tests.conftest import write_params

CN_HEADER = "订单号,会员ID,下单时间,实付金额\n"
CN_ROWS = 'S1,M1,2024-01-02 10:00:00,"¥1,234.50"\nS2,M2,2024-01-03 11:00:00,88.00\n'


def _cn_params(tmp_path, csv_path, extra_cols=""):
    return write_params(tmp_path, f"""
        brand: cn
        sources:
          orders:
            - name: pos
              path: {csv_path}
              columns:
                order_id: 订单号
                customer_id: 会员ID
                order_ts: 下单时间
                amount: 实付金额{extra_cols}
    """)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_chinese_headers_in_every_encoding(tmp_path, encoding):
    path = tmp_path / f"pos_{encoding}.csv"
    # quote the text amount that holds a comma, as a real export does (full-width ￥: GBK has no ¥)
    body = CN_HEADER + 'S1,M1,2024-01-02 10:00:00,"￥1,234.50"\nS2,M2,2024-01-03 11:00:00,88.00\n'
    path.write_bytes(body.encode(encoding))
    assert sources.detect_encoding(path) == {"gbk": "gb18030"}.get(encoding, encoding)
    params = config.load_params(_cn_params(tmp_path, path))
    frame = sources.load(params).table("orders").order_by("order_id").execute()
    assert list(frame["order_id"]) == ["S1", "S2"]
    assert list(frame["amount"]) == [1234.50, 88.00]
    assert list(frame["_repaired"]) == ["amount_as_text", None]
    assert frame["order_ts"].iloc[0] == pd.Timestamp("2024-01-02 10:00:00")


def test_gbk_detected_even_when_chinese_appears_late(tmp_path):
    path = tmp_path / "late.csv"
    ascii_rows = "".join(f"S{i},M{i},2024-01-02 10:00:00,1.00\n" for i in range(50_000))
    path.write_bytes(("order_id,customer_id,ts,amount\n" + ascii_rows + "S9,张三,2024-01-02 10:00:00,2.00\n").encode("gbk"))
    assert sources.detect_encoding(path) == "gb18030"


def test_missing_column_names_file_column_and_available(tmp_path):
    path = tmp_path / "pos.csv"
    path.write_text(CN_HEADER + CN_ROWS, encoding="utf-8")
    params = config.load_params(_cn_params(tmp_path, path, extra_cols="\n                store: 门店"))
    with pytest.raises(SourceError) as err:
        sources.load(params)
    text = str(err.value)
    assert "sources.orders[0].columns.store" in text
    assert "'门店' not found" in text and "pos.csv" in text
    assert "实付金额" in text  # lists the columns that are there


def test_missing_file_is_named(tmp_path):
    params = config.load_params(_cn_params(tmp_path, tmp_path / "absent.csv"))
    with pytest.raises(SourceError, match=r"source 'pos': file not found: .*absent\.csv"):
        sources.load(params)


def test_unparseable_values_are_marked_with_the_raw_text(tmp_path):
    path = tmp_path / "pos.csv"
    path.write_text(CN_HEADER + "S1,M1,2024-01-02 10:00:00,N/A\nS2,M2,yesterday,5\nS3,M3,2024-01-02 10:00:00,7\n", encoding="utf-8")
    params = config.load_params(_cn_params(tmp_path, path))
    frame = sources.load(params).table("orders").order_by("order_id").execute()
    assert list(frame["_parse_error"]) == ["amount", "order_ts", None]
    assert list(frame["_bad_value"]) == ["N/A", "yesterday", None]


def test_excel_and_sql_expressions_and_constants(tmp_path):
    path = tmp_path / "orders.xlsx"
    pd.DataFrame({"No": ["1", "2"], "Client": ["a", "b"], "When": ["2024-05-01", "2024-05-02"],
                  "Qty": [2, 3], "Price": [1.5, 2.0]}).to_excel(path, index=False)
    params = config.load_params(write_params(tmp_path, f"""
        brand: xl
        sources:
          orders:
            - name: sheet
              path: {path}
              columns:
                order_id: "No"
                customer_id: Client
                order_ts: When
                amount: {{sql: "CAST(Qty AS DOUBLE) * CAST(Price AS DOUBLE)"}}
              constants:
                channel: store
    """))
    frame = sources.load(params).table("orders").order_by("order_id").execute()
    assert list(frame["amount"]) == [3.0, 6.0]
    assert list(frame["channel"]) == ["store", "store"]


def test_line_items_aggregate_to_orders_and_float_ids_lose_no_digits(tmp_path):
    path = tmp_path / "lines.parquet"
    pd.DataFrame({
        "Invoice": ["1", "1", "2", "C3"], "Cust": [17850.0, 17850.0, None, 17850.0],
        "At": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 10:05", "2024-01-02 00:00", "2024-01-03 00:00"]),
        "Qty": [2, 1, 1, -1], "Price": [10.0, 5.0, 3.0, 10.0], "Code": ["X", "POST", "Y", "X"],
    }).to_parquet(path)
    params = config.load_params(write_params(tmp_path, f"""
        brand: lines
        sources:
          orders:
            - name: inv
              path: {path}
              line_items: true
              columns:
                order_id: Invoice
                customer_id: Cust
                order_ts: At
                amount: {{sql: "Qty * Price"}}
                status: {{sql: "CASE WHEN Invoice LIKE 'C%' THEN 'refunded' ELSE 'completed' END"}}
              exclude:
                - name: postage
                  where: "Code = 'POST'"
                  reason: postage is not a purchase
    """))
    data = sources.load(params)
    src = data.sources["orders"][0]
    assert src.all_rows.count().execute() == 4
    assert src.rows.count().execute() == 3
    orders = data.table("orders").order_by("order_id").execute()
    assert list(orders["order_id"]) == ["1", "2", "C3"]
    assert list(orders["amount"]) == [20.0, 3.0, -10.0]
    assert orders["customer_id"].iloc[0] == "17850"
    assert orders["order_ts"].iloc[0] == pd.Timestamp("2024-01-01 10:00")
    assert list(orders["status"]) == ["completed", "completed", "refunded"]


def _whitespace_orders(tmp_path, text: str, columns: str) -> pd.DataFrame:
    """The orders of a one-source brand reading ``text`` as a whitespace-separated file."""
    path = tmp_path / "cd.txt"
    path.write_text(text, encoding="utf-8")
    params = config.load_params(write_params(tmp_path, f"""
        brand: cd
        sources:
          orders:
            - name: cd
              path: {path}
              format: whitespace
              timestamp_format: "%Y%m%d"
              columns: {{{columns}}}
    """))
    return sources.load(params).table("orders").order_by("order_id").execute()


def test_whitespace_file_with_synthesised_order_ids(tmp_path):
    frame = _whitespace_orders(tmp_path, " customer_id  date n dollar_value\n 00001 19970101  1   11.77\n"
                               " 00002 19970112  5   77.00\n\n",
                               "customer_id: customer_id, order_ts: date, amount: dollar_value")
    assert list(frame["customer_id"]) == ["00001", "00002"]
    assert list(frame["order_id"]) == ["cd-1", "cd-2"]
    assert frame["order_ts"].iloc[1] == pd.Timestamp("1997-01-12")


def test_whitespace_file_without_a_header_keeps_its_first_row(tmp_path):
    """lifetimes' CDNOW_sample.txt has no header line: its first purchase was read as column
    names and lost. A first line of numbers and dates is data; the columns are column0.."""
    frame = _whitespace_orders(tmp_path, "   4   1 19970101 2  29.33\n   4   1 19970118 2  29.73\n"
                               "  18   2 19970102 1  14.96\n",
                               "customer_id: column1, order_ts: column2, amount: column4")
    assert list(frame["customer_id"]) == ["1", "1", "2"]
    assert list(frame["amount"]) == [29.33, 29.73, 14.96]
    assert frame["order_ts"].iloc[0] == pd.Timestamp("1997-01-01")


def _table_params(tmp_path, table: str, engine: str = "", name: str = "tiny.yaml") -> config.Params:
    """A brand whose orders are a table on the engine (no files)."""
    return config.load_params(write_params(tmp_path, f"""
        brand: sql
        {engine}
        sources:
          orders:
            - name: wh
              format: table
              table: {table}
              columns: {{order_id: oid, customer_id: cid, order_ts: ts, amount: amt}}
    """, name=name))


def test_sql_table_source_on_the_engine(tmp_path):
    params = _table_params(tmp_path, "sales")
    con = sources.connect(params)
    con.raw_sql("CREATE TABLE sales AS SELECT 'o1' AS oid, 'c1' AS cid, TIMESTAMP '2024-01-01' AS ts, 9.5 AS amt")
    frame = sources.load(params, con).table("orders").execute()
    assert frame["amount"].tolist() == [9.5]
    missing = _table_params(tmp_path, "nope", name="missing.yaml")
    with pytest.raises(SourceError, match="table 'nope' not found"):
        sources.load(missing, sources.connect(missing))


def test_connection_errors_never_show_the_password(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_DB_PASSWORD", "hunter2-secret")
    params = _table_params(tmp_path, "sales", engine='engine: {url: "postgres://me:${SHOP_DB_PASSWORD}@127.0.0.1:1/shop"}')
    with pytest.raises((SourceError, config.ParamsError)) as err:
        sources.connect(params)
    assert "hunter2-secret" not in str(err.value)


def test_order_date_range(tiny_params):
    first, last = sources.order_date_range(config.load_params(tiny_params))
    assert first == pd.Timestamp("2024-01-05 10:00") and last == pd.Timestamp("2024-03-02 09:00")


def test_ragged_csv_names_the_line_and_the_fix(tmp_path):
    path = tmp_path / "pos.csv"
    path.write_text(CN_HEADER + "S1,M1,2024-01-02 10:00:00,¥1,234.50\nS2,M2,2024-01-03 11:00:00,88.00\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"pos.csv: 1 row\(s\) cannot be read as CSV — line 2: expected 4 fields, "
                                          r"found 5 .*'S1,M1,2024-01-02 10:00:00,¥1,234.50'.*on_bad_rows: skip"):
        sources.load(config.load_params(_cn_params(tmp_path, path)))
