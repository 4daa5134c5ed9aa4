"""Onboarding (issue 16): `workbook init` recovers the shipped mapping of every bundled brand from
its raw files, and `workbook check` reports a good and a broken params file correctly."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from helpers import config, demo, onboarding, runner, sources
from helpers.config import SqlExpr

SHIPPED = ("demo", "cdnow", "online_retail")


def _raw_files(brand: str) -> list[Path]:
    params = config.load_params(brand=brand)
    if brand == "demo":
        demo.ensure_demo_data()
    return [config.resolve_path(s.path, params) for k in ("orders", "customers", "interactions", "campaigns")
            for s in getattr(params.sources, k)]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, config.Params]:
    folder = tmp_path_factory.mktemp("init")
    out = {}
    for brand in SHIPPED:
        path, _checks, _ = onboarding.init(_raw_files(brand), f"{brand}_init", folder / f"{brand}.yaml")
        out[brand] = config.load_params(path)
    return out


def _mapping(spec) -> dict:
    return {k: (f"sql: {v.sql}" if isinstance(v, SqlExpr) else v) for k, v in spec.columns.items()}


def _codes(rule) -> set[str]:
    return set(re.findall(r"'((?:[^']|'')*)'", rule.where))


@pytest.mark.parametrize("brand", SHIPPED)
def test_init_recovers_the_shipped_mapping(generated, brand):
    shipped, guessed = config.load_params(brand=brand), generated[brand]
    for kind in ("orders", "customers", "interactions", "campaigns"):
        want = {str(config.resolve_path(s.path, shipped)): s for s in getattr(shipped.sources, kind)}
        got = {str(config.resolve_path(s.path, guessed)): s for s in getattr(guessed.sources, kind)}
        assert sorted(got) == sorted(want), kind  # every file read as the kind the shipped params give it
        for path, spec in want.items():
            mine = got[path]
            assert _mapping(mine) == _mapping(spec), path
            assert mine.constants == spec.constants, path
            assert mine.line_items == spec.line_items, path
            assert mine.timestamp_format == spec.timestamp_format, path
            assert mine.format == spec.format or spec.format == "auto", path
            assert [_codes(r) for r in mine.exclude] == [_codes(r) for r in spec.exclude], path
    assert guessed.period == shipped.period == "month"


def test_init_reads_the_shape_of_each_file(generated):
    # GBK with Chinese headers, the store constant; CDNOW's whitespace text and compact dates
    pos = next(s for s in generated["demo"].sources.orders if s.name == "pos_orders")
    assert pos.encoding == "gb18030" and pos.columns["customer_id"] == "会员ID"
    assert pos.constants == {"channel": "store"}
    cdnow = generated["cdnow"].sources.orders[0]
    assert (cdnow.format, cdnow.timestamp_format, "order_id" in cdnow.columns) == ("whitespace", "%Y%m%d", False)
    text = Path(config.params_file(generated["cdnow"])).read_text(encoding="utf-8")
    assert "# TODO no order id column found" in text
    assert "margin: 0.3  # TODO default" in text and 'currency: ""  # TODO default' in text
    assert "customer_id: \"customer_id\"  # high (header name); e.g. '00001', '00002'" in text \
        or re.search(r"customer_id: \"customer_id\"  # high \(header name\); e\.g\. '\d{5}', '\d{5}'", text)


@pytest.mark.parametrize(("fmt", "rows", "expected"), [
    ("day first", ["13/01/2024 10:00", "02/02/2024 11:30", "25/03/2024 09:15"], "%d/%m/%Y %H:%M"),
    ("month first", ["01/13/2024", "02/02/2024", "03/25/2024"], "%m/%d/%Y"),
])
def test_init_tells_day_first_from_month_first(tmp_path, fmt, rows, expected):
    body = "会员ID,订单号,下单时间,实付金额\n" + "".join(
        f"M{i % 7},S{i},{rows[i % 3]},{10 + i}.50\n" for i in range(60))
    (tmp_path / "orders.csv").write_text(body, encoding="utf-8")
    path, _, reports = onboarding.init([tmp_path / "orders.csv"], "dates", tmp_path / "p.yaml")
    spec = config.load_params(path).sources.orders[0]
    assert spec.timestamp_format == expected, fmt
    assert _mapping(spec) == {"customer_id": "会员ID", "order_id": "订单号", "order_ts": "下单时间", "amount": "实付金额"}
    assert reports[0].first_ts.year == 2024


def test_init_refuses_to_overwrite(tmp_path, capsys):
    (tmp_path / "o.csv").write_text("customer_id,order_time,amount\nc1,2024-01-01 10:00:00,1.50\n"
                                    "c1,2024-02-01 10:00:00,2.50\n", encoding="utf-8")
    target = tmp_path / "p.yaml"
    target.write_text("keep me", encoding="utf-8")
    assert runner.main(["init", str(tmp_path / "o.csv"), "--brand", "x", "--out", str(target)]) == 2
    assert "exists; init does not overwrite" in capsys.readouterr().err
    assert target.read_text(encoding="utf-8") == "keep me"
    assert runner.main(["init", str(tmp_path / "o.csv"), "--brand", "x", "--out", str(target), "--force"]) == 0
    assert config.load_params(target).sources.orders[0].columns == {
        "customer_id": "customer_id", "order_ts": "order_time", "amount": "amount"}


def test_check_good_params(capsys):
    assert runner.main(["check", "--brand", "demo"]) == 0
    out = capsys.readouterr().out
    assert "latest (month): 2025-06" in out
    assert "back-run: --period 2023-01..2025-06 (30 periods)" in out
    rates = dict(re.findall(r"^  (\w+ -> \w+): ([\d.]+)%", out, flags=re.M))
    assert set(rates) >= {"pos_orders -> customers", "online_orders -> customers", "spring_winback -> customers"}
    assert all(float(v) > 95 for v in rates.values())
    assert "spring_winback: control (control, 458), treatment (treatment, 1,872)" in out
    assert "ready to run" in out and "ERROR" not in out


def test_check_broken_params(tmp_path, capsys):
    (tmp_path / "orders.csv").write_text("order_id,customer_id,order_time,amount\n" + "".join(
        f"A{i},c{i % 5},0{1 + i % 9}/02/2024 10:00,{i}.25\n" for i in range(30)), encoding="utf-8")
    (tmp_path / "customers.csv").write_text("customer_id,signup\n" + "".join(f"c{i},2023-01-01\n" for i in range(5)),
                                            encoding="utf-8")
    (tmp_path / "campaign.csv").write_text("campaign_id,customer_id,group,contact_ts\n" + "".join(
        f"k1,c{i % 5},{['control', 'treatment', 'B'][i % 3]},2024-02-03 10:00:00\n" for i in range(9)),
        encoding="utf-8")
    params = tmp_path / "broken.yaml"
    params.write_text(f"""brand: broken
sources:
  orders:
    - name: shop
      path: {tmp_path / 'orders.csv'}
      columns: {{order_id: order_id, customer_id: customer_id, order_ts: order_time, amount: amount}}
  customers:
    - name: crm
      path: {tmp_path / 'customers.csv'}
      columns: {{customer_id: cust_id}}
  campaigns:
    - name: promo
      path: {tmp_path / 'campaign.csv'}
      columns: {{campaign_id: campaign_id, customer_id: customer_id, group: group, contact_ts: contact_ts}}
""", encoding="utf-8")
    assert runner.main(["check", "--params", str(params)]) == 1
    captured = capsys.readouterr()
    err, out = captured.err, captured.out
    # the unmapped customers column: file, column, the close match
    assert re.search(r"ERROR crm \(.*customers\.csv\), column 'cust_id': columns\.customer_id names a column the "
                     r"file does not have; did you mean 'customer_id'\?", err)
    # 02/02/2024-style dates without a timestamp_format: every row fails, row and value shown
    assert re.search(r"ERROR shop \(.*orders\.csv\), column 'order_time': 30 of the first 30 rows do not parse as "
                     r"order_ts \(set timestamp_format\); e\.g\. data row 1: '01/02/2024 10:00'", err)
    # a third group label: notebook 06 would stop that campaign
    assert "campaign 'k1': group label 'B' (3 rows) is neither a control nor a treatment label" in out
    assert "blocking problem(s)" in out


def test_init_by_values_decimal_comma_and_json(tmp_path):
    # headers it cannot read as names: the timestamp and the money column are found by their values
    (tmp_path / "orders.csv").write_text(
        "customer;invoice;when;paid\nK1;B1;13.01.2024 10:00;1.234,50\nK2;B2;14.01.2024 11:00;12,50\n"
        "K1;B3;15.02.2024 09:30;7,00\n", encoding="utf-8")
    (tmp_path / "events.json").write_text(
        '[{"customer_id": "K1", "ts": "2024-01-20 10:00:00", "kind": "ticket", "value": 3}, '
        '{"customer_id": "K2", "ts": "2024-01-21 10:00:00", "kind": "rating", "value": 5}]', encoding="utf-8")
    path, _, _ = onboarding.init([tmp_path / "orders.csv", tmp_path / "events.json"], "shop", tmp_path / "p.yaml")
    params = config.load_params(path)
    spec = params.sources.orders[0]
    assert (spec.decimal, spec.timestamp_format) == (",", "%d.%m.%Y %H:%M")
    assert _mapping(spec) == {"customer_id": "customer", "order_id": "invoice", "order_ts": "when", "amount": "paid"}
    text = path.read_text(encoding="utf-8")
    assert "order_ts: \"when\"  # low (values parse as timestamps)" in text
    assert "amount: \"paid\"  # low (numeric with two decimals)" in text
    events = params.sources.interactions[0]
    assert events.path.endswith("events.parquet") and (tmp_path / "events.parquet").exists()
    assert _mapping(events) == {"customer_id": "customer_id", "ts": "ts", "kind": "kind", "value": "value"}
    amounts = onboarding.check(path)
    assert not amounts.blocking and "        B1          K1 2024-01-13 10:00:00  1234.5" in "\n".join(amounts.lines)


def test_init_from_an_engine_table_keeps_the_password_out(tmp_path):
    import duckdb

    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as c:
        c.execute("CREATE TABLE sales AS SELECT 'M' || (i % 50) AS 会员ID, 'O' || i AS 订单号, "
                  "TIMESTAMP '2024-01-01' + to_days(i % 300) AS 下单时间, round(10 + i % 97 + 0.25, 2) AS 实付金额 "
                  "FROM range(2000) t(i)")
    path, _, reports = onboarding.init([], "wh", tmp_path / "wh.yaml", url=f"duckdb:///{db}", table="sales")
    spec = config.load_params(path).sources.orders[0]
    assert (spec.format, spec.table) == ("table", "sales")
    assert _mapping(spec) == {"customer_id": "会员ID", "order_id": "订单号", "order_ts": "下单时间", "amount": "实付金额"}
    assert reports[0].rows == 2000 and reports[0].first_ts.year == 2024
    text, checks = onboarding.render_params("wh", reports, "postgres://bob:s3cret@db.example/shop")
    assert "s3cret" not in text and 'url: "postgres://bob:${DB_PASSWORD}@db.example/shop"' in text


def test_check_names_a_broken_sql_column_and_exclude_rule(tmp_path):
    text = (config.PARAMS_DIR / "online_retail.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "or.yaml"
    broken.write_text(text.replace("Quantity * UnitPrice", "Quantity * Price").replace("StockCode IN", "StockKode IN"),
                      encoding="utf-8")
    result = onboarding.check(broken)
    assert result.blocking and len(result.problems) == 2
    amount, rule = map(str, result.problems)
    assert amount.startswith("ERROR invoice_lines (") and "online_retail.parquet), columns.amount: 'Quantity * Price' " \
        "does not run: Referenced column \"Price\" not found" in amount and "UnitPrice" in amount
    assert "exclude non_product_lines: \"StockKode IN (" in rule and "Referenced column \"StockKode\" not found" in rule


def test_check_says_what_it_sampled_and_reads_every_row_where_it_must(tmp_path):
    # 15,000 orders (one per customer c0..c14999, 40 minutes apart); the customers export starts
    # with 100 ids no order has, then lists c11999 down to c0: its first 10,000 rows hold none of
    # c0..c2099, and the orders' first 10,000 rows none of c10000..c11999
    start = pd.Timestamp("2024-01-01")
    (tmp_path / "orders.csv").write_text("order_id,customer_id,order_time\n" + "".join(
        f"O{i},c{i},{start + pd.Timedelta(minutes=40 * i)}\n" for i in range(15_000)), encoding="utf-8")
    (tmp_path / "customers.csv").write_text("customer_id\n" + "".join(f"x{i}\n" for i in range(100)) + "".join(
        f"c{i}\n" for i in range(11_999, -1, -1)), encoding="utf-8")
    (tmp_path / "campaign.csv").write_text("campaign_id,customer_id,group,contact_ts\n" + "".join(
        f"k1,c{i},{['control', 'treatment', 'B'][i % 3]},2024-06-01 10:00:00\n" for i in range(9)), encoding="utf-8")
    params = tmp_path / "sampled.yaml"
    params.write_text(f"""brand: sampled
sources:
  orders:
    - {{name: shop, path: {tmp_path / 'orders.csv'}, columns: {{order_id: order_id, customer_id: customer_id, order_ts: order_time}}}}
  customers:
    - {{name: crm, path: {tmp_path / 'customers.csv'}, columns: {{customer_id: customer_id}}}}
  campaigns:
    - name: promo
      path: {tmp_path / 'campaign.csv'}
      columns: {{campaign_id: campaign_id, customer_id: customer_id, group: group, contact_ts: contact_ts}}
      exclude: [{{name: pilot_arm, where: "\\"group\\" = 'B'", reason: 'a pilot arm, not part of the test'}}]
""", encoding="utf-8")
    result = onboarding.check(params)
    out = "\n".join(result.lines)
    assert not result.problems, result.problems
    # the date range reads every order, not the first 10,000
    assert "orders: 15,000 orders dated 2024-01-01 .. 2025-02-20" in out
    # the match rates are sampled: each says how many ids, from how many rows; the lookups read the whole tables
    assert ("customer_id match rates (the distinct ids in each source's first 10,000 rows, a sample of a larger "
            "source, looked up in every row of the customers table and the orders):") in out
    assert "  shop -> customers: 100.0% (10,000 of 10,000 distinct ids in its first 10,000 rows)" in out
    assert "  crm -> orders: 99.0% (9,900 of 10,000 distinct ids in its first 10,000 rows)" in out
    # a source smaller than the sample is read whole (rows left out by an exclude rule do not count)
    assert "  promo -> customers: 100.0% (6 of 6 distinct ids in all its 9 rows)" in out
    # every campaign row is counted, as notebook 06 reads them: the excluded pilot arm is no unknown label
    assert "campaigns: promo: k1: control (control, 3), treatment (treatment, 3)" in out


@pytest.mark.parametrize("brand", ["online_retail", "cdnow"])
def test_check_counts_the_orders_as_a_run_does(brand):
    # check scans the order timestamps itself (one column, grouped by day); a run groups the mapped
    # orders (sources.data_range): Online Retail's invoice lines summed to orders with the non-product
    # lines left out, CDNOW's whitespace text with its %Y%m%d dates
    params = config.load_params(brand=brand)
    found = sources.data_range(params)
    latest, _note = sources.latest_period(params, found)
    out = "\n".join(onboarding.check(config.PARAMS_DIR / f"{brand}.yaml").lines)
    assert (f"orders: {int(found.volume.sum()):,} orders dated {found.first:%Y-%m-%d} .. {found.last:%Y-%m-%d}\n"
            f"  latest (month): {latest}") in out
    if brand == "online_retail":
        assert "orders: 25,299 orders dated 2010-12-01 .. 2011-12-09\n  latest (month): 2011-11" in out


def test_check_decodes_a_gbk_export_once(tmp_path, monkeypatch):
    rows = "".join(f"S{i},M{i % 7},2024-0{1 + i % 9}-1{i % 10} 10:00:00,{10 + i}.50,上海店\n" for i in range(300))
    export = tmp_path / "pos.csv"
    export.write_bytes(("订单号,会员ID,下单时间,实付金额,门店\n" + rows).encode("gbk"))
    params = tmp_path / "gbk.yaml"
    params.write_text(f"""brand: gbk
sources:
  orders:
    - name: pos
      path: {export}
      columns: {{order_id: 订单号, customer_id: 会员ID, order_ts: 下单时间, amount: 实付金额, store: 门店}}
""", encoding="utf-8")
    monkeypatch.setattr(sources, "CACHE_DIR", tmp_path / "cache")
    opened = []
    real_open = open

    def spy(file, *args, **kwargs):
        if Path(file) == export and kwargs.get("encoding") == "gb18030":
            opened.append(file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(sources, "open", spy, raising=False)
    result = onboarding.check(params)
    assert not result.problems, result.problems
    assert len(opened) == 1  # found to be GB18030 and transcoded to UTF-8 in the same pass
    copies = list((tmp_path / "cache").glob("pos-*.utf8.csv"))
    assert len(copies) == 1 and copies[0].read_bytes() == export.read_bytes().decode("gb18030").encode("utf-8")
    out = "\n".join(result.lines)
    assert "        S0          M0 2024-01-10 10:00:00    10.5   上海店" in out  # the Chinese text read right
    assert "orders: 300 orders dated 2024-01-10 .. 2024-09-19" in out


def test_the_lean_text_and_id_spelling_read_every_value_as_the_plain_trim_does():
    # sources._lean_text skips the trim (and an id its regular expression) where they change
    # nothing; every value must read as with the plain expressions
    import duckdb

    values = [None, "", " ", "  ", "x", " x", "x ", " 12 ", "12.0", " 12.00 ", "+7.0", "-3.0", "1.5", "a.b", ".0",
              "\u00a0M1", "M1\u3000", "\u3000", "会员1", "\tM1", "M1\n", "\u2009x\u2009", "１２", "12 .0", "2024-01-02 ",
              " 2024-01-02 10:00:00", "2024-01-02\u00a0", "M0000001"]
    con = duckdb.connect()
    con.execute("CREATE TABLE v (x VARCHAR)")
    con.executemany("INSERT INTO v VALUES (?)", [[v] for v in values])
    plain = "NULLIF(trim(CAST(x AS VARCHAR)), '')"
    pairs = {
        "text": (sources._lean_text("x"), plain),
        "id": (sources._parse_sql("x", "string", "string", None, canon="customer_id")[0],
               f"regexp_replace({plain}, '^([+-]?[0-9]+)\\.0+$', '\\1')"),
        "timestamp": (sources._parse_sql("x", "string", "timestamp", None)[0], f"TRY_CAST({plain} AS TIMESTAMP)"),
    }
    for what, (lean, reference) in pairs.items():
        differ = con.execute(f"SELECT x FROM v WHERE ({lean}) IS DISTINCT FROM ({reference})").fetchall()
        assert differ == [], what
    assert con.execute(f"SELECT {pairs['id'][0]} FROM v WHERE x = ' 12.00 '").fetchone() == ("12",)


def test_check_names_a_value_past_the_sample_that_the_mapping_cannot_take(tmp_path):
    # the first 10,000 rows map; row 10,050 does not cast: the scan of every row says so, naming
    # the source, instead of the check stopping with a traceback
    (tmp_path / "orders.csv").write_text("order_id,cust,order_time\n" + "".join(
        f"O{i},{i % 97 if i < 10_049 else 'abc'},2024-03-0{1 + i % 9} 10:00:00\n" for i in range(10_050)),
        encoding="utf-8")
    params = tmp_path / "deep.yaml"
    params.write_text(f"""brand: deep
sources:
  orders:
    - name: shop
      path: {tmp_path / 'orders.csv'}
      columns: {{order_id: order_id, customer_id: {{sql: "CAST(CAST(cust AS INTEGER) AS VARCHAR)"}}, order_ts: order_time}}
""", encoding="utf-8")
    result = onboarding.check(params)
    assert [str(p).split(": ", 2)[:2] for p in result.problems] == [
        [f"ERROR shop ({tmp_path / 'orders.csv'})", "the mapping does not run on all its rows"]]
    assert "'abc'" in str(result.problems[0])
    assert "first 5 rows mapped" in "\n".join(result.lines) and "orders dated" not in "\n".join(result.lines)


def test_init_reads_a_whitespace_file_without_a_header_line():
    """lifetimes' CDNOW_sample.txt has no header: init says so and keeps its first purchase as a row."""
    import importlib.util

    lifetimes = Path(next(iter(importlib.util.find_spec("lifetimes").submodule_search_locations)))
    table, spec, notes, _ = onboarding.open_file(lifetimes / "datasets" / "CDNOW_sample.txt", set())
    assert spec["format"] == "whitespace"
    assert any("no header line: columns named column0..column4" in n for n in notes), notes
    assert table.count().execute() == 6_919  # every purchase of the published 1/10 sample
