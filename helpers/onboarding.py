"""Onboarding: from a raw export to a params file (``workbook init``) and a quick check of a params
file against its data (``workbook check``), without running the notebooks.

``init`` reads each file through the same reader a run uses (:func:`helpers.sources.read_raw`:
encoding, delimiter and header, Excel and the whitespace-separated CDNOW text), looks at the first
rows in the engine and guesses which canonical table the file is (orders, customers, interactions,
campaigns) and which column is which canonical column: by header name (English and Chinese) and by
the values (timestamps parse, money is numeric, a customers table has one row per id). Every guess
is written into the params file with its confidence and two example values; what a file cannot tell
(margin, currency ...) is written as a ``# TODO`` with its default.

``check`` validates a params file and its sources in seconds on any size: the first rows of each
source are mapped (and shown), the date range and the match rates are aggregated in the engine;
nothing is pulled into pandas but the few rows shown and the aggregates. Every problem names the
source file, the column and an example row.
"""

from __future__ import annotations

import difflib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd

from helpers import config, sources
from helpers.config import CANONICAL, PROJECT_ROOT, Params, ParamsError, canonical_columns
from helpers.sources import SourceError

SAMPLE_ROWS = 20_000  # rows from the top of a file that init looks at
CHECK_ROWS = 10_000  # rows from the top of each source that check maps and parses
SHOW_ROWS = 5

# ---------------------------------------------------------------- header names

# Header names per canonical column (normalized: lower case, only letters, digits and CJK).
# An exact match is strong evidence; a header containing one of the longer names is weaker.
NAMES: dict[str, dict[str, list[str]]] = {
    "orders": {
        "order_id": ["order_id", "orderid", "order_no", "order_number", "invoice", "invoiceno", "invoice_no",
                     "invoice_id", "transaction_id", "txn_id", "receipt_no", "订单号", "订单编号", "订单id", "单号",
                     "小票号", "交易号"],
        "customer_id": ["customer_id", "customerid", "customer", "client_id", "member_id", "memberid", "user_id",
                        "userid", "buyer_id", "account_id", "会员id", "会员号", "会员编号", "会员卡号", "客户id",
                        "客户编号", "用户id", "顾客id", "买家id"],
        "order_ts": ["order_ts", "order_time", "order_date", "orderdate", "invoicedate", "invoice_date", "date",
                     "datetime", "timestamp", "purchase_date", "purchase_time", "created_at", "transaction_date",
                     "transaction_time", "下单时间", "订单时间", "交易时间", "购买时间", "支付时间", "下单日期",
                     "日期", "时间"],
        "amount": ["amount", "dollar_value", "revenue", "sales", "total", "order_amount", "order_total",
                   "net_amount", "paid_amount", "payment", "gmv", "sales_amount", "实付金额", "订单金额",
                   "支付金额", "实收金额", "销售额", "金额", "实付"],
        "quantity": ["quantity", "qty", "number_of", "units", "items", "数量", "件数", "购买数量"],
        "channel": ["channel", "platform", "sales_channel", "渠道", "平台", "销售渠道"],
        "store": ["store", "shop", "outlet", "branch", "store_name", "门店", "店铺", "门店名称"],
        "region": ["region", "country", "province", "state", "area", "地区", "区域", "省份", "国家"],
        "category": ["category", "product_category", "品类", "类目", "分类", "商品类别"],
        "status": ["status", "order_status", "状态", "订单状态"],
        "discount": ["discount", "discount_amount", "优惠金额", "折扣", "优惠"],
        "coupon_id": ["coupon_id", "coupon", "coupon_code", "优惠券", "优惠券id"],
        "cost": ["cost", "cogs", "成本"],
        "margin": ["margin", "gross_profit", "毛利"],
        "delivery_days": ["delivery_days", "shipping_days", "配送天数", "物流天数"],
    },
    "customers": {
        "customer_id": [],  # as in orders
        "signup_ts": ["signup_ts", "signup_date", "signup_time", "register_date", "registration_date",
                      "registered_at", "join_date", "created_at", "注册时间", "注册日期", "开卡时间", "入会时间"],
        "acquisition_channel": ["acquisition_channel", "signup_channel", "source", "utm_source", "来源渠道",
                                "获客渠道", "注册渠道", "来源"],
        "region": ["region", "province", "area", "country", "地区", "区域", "省份"],
        "city": ["city", "城市"],
        "member_level": ["member_level", "level", "tier", "vip_level", "membership", "会员等级", "等级"],
        "birth_year": ["birth_year", "year_of_birth", "出生年份"],
        "referred_by": ["referred_by", "referrer", "推荐人"],
        "opted_out": ["opted_out", "opt_out", "unsubscribed", "退订"],
    },
    "interactions": {
        "customer_id": [],
        "ts": ["ts", "time", "timestamp", "event_time", "event_ts", "created_at", "date", "时间", "事件时间"],
        "kind": ["kind", "type", "event", "event_type", "interaction_type", "类型", "事件", "事件类型"],
        "value": ["value", "score", "rating", "值", "评分", "分值"],
        "resolved": ["resolved", "is_resolved", "已解决", "是否解决"],
        "channel": ["channel", "渠道"],
        "detail": ["detail", "details", "note", "content", "内容", "备注"],
    },
    "campaigns": {
        "campaign_id": ["campaign_id", "campaign", "activity_id", "活动id", "活动编号", "活动"],
        "customer_id": [],
        "group": ["group", "arm", "variant", "test_group", "group_label", "组别", "分组", "实验组别"],
        "contact_ts": ["contact_ts", "contact_time", "contact_date", "sent_at", "send_time", "触达时间", "发送时间"],
        "channel": ["channel", "触达渠道", "渠道"],
        "cost": ["cost", "contact_cost", "成本", "费用"],
        "offer": ["offer", "权益", "优惠"],
        "designed_share": ["designed_share", "treatment_share", "设计比例"],
        "segment": ["segment", "人群", "分群"],
    },
}
for _kind in ("customers", "interactions", "campaigns"):
    NAMES[_kind]["customer_id"] = NAMES["orders"]["customer_id"]
# Columns that are no canonical column but build one: amount = quantity x unit price, and the
# product code that tells postage or fee lines from products.
UNIT_PRICE = ["unit_price", "unitprice", "price", "单价"]
PRODUCT_CODE = ["stockcode", "stock_code", "sku", "product_code", "item_code", "product_id", "商品编码", "货号"]
# Formats tried on timestamps written as text that are not ISO (DuckDB strptime).
TS_FORMATS = ["%Y%m%d", "%Y%m%d%H%M%S", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M:%S",
              "%m/%d/%Y %H:%M:%S", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%d-%m-%Y %H:%M",
              "%d-%m-%Y", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d", "%Y年%m月%d日 %H:%M:%S",
              "%Y年%m月%d日", "%Y.%m.%d"]


def normalize(name: str) -> str:
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


def name_score(header: str, names: list[str]) -> float:
    """1 for an exact header name, 0.7 when the header contains a longer name, else 0."""
    h = normalize(header)
    normal = [normalize(n) for n in names]
    if h in normal:
        return 1.0
    if any(len(n) >= 4 and n in h or (len(n) >= 2 and not n.isascii() and n in h) for n in normal):
        return 0.7
    return 0.0


# ---------------------------------------------------------------- one file, inspected


def run_sql(table: ir.Table, body: str) -> pd.DataFrame:
    """``body`` (SQL over ``s``, the table) run in the engine; DuckDB gets the text as it is (the
    SQL parser of other backends' path costs seconds on a long profile query)."""
    con = table.get_backend()
    if sources.is_duckdb(con):
        return con.con.execute(f"WITH s AS ({con.compile(table)}) {body}").df()
    return table.alias("s").sql(body, dialect="duckdb").execute()


@dataclass
class Column:
    """What the first rows of one raw column look like."""

    name: str
    dtype: str
    non_null: int = 0
    distinct: int = 0
    examples: list[str] = field(default_factory=list)
    numeric: float = 0.0  # share of the non-empty values that read as numbers
    two_decimals: float = 0.0  # share of those with exactly two decimals
    integer: float = 0.0  # share of those that are whole numbers
    negative: float = 0.0
    timestamp: float = 0.0  # share that parse as timestamps (ISO, or with ts_format)
    ts_format: str | None = None  # the strptime format they need (None: ISO or a timestamp type)
    ts_note: str = ""
    boolean: float = 0.0

    @property
    def is_text(self) -> bool:
        return self.dtype.startswith("string")


@dataclass
class Guess:
    canon: str
    value: str | dict  # raw column or {"sql": ...}
    confidence: str  # high / medium / low
    how: str
    examples: list[str] = field(default_factory=list)


@dataclass
class FileReport:
    """Everything init found in one file or table."""

    label: str  # file path or engine table / query
    spec: dict  # the source as it will be written (path/format/encoding ...)
    rows: int
    columns: dict[str, Column]
    layout: list[str] = field(default_factory=list)  # encoding, delimiter, header ... (said in comments)
    kind: str = "orders"
    kind_how: str = ""
    guesses: dict[str, Guess] = field(default_factory=dict)
    constants: dict[str, tuple[str, str]] = field(default_factory=dict)  # canon -> (value, why)
    timestamp_format: str | None = None
    line_items: tuple[bool, str] = (False, "")
    exclude: list[dict] = field(default_factory=list)
    todo: list[str] = field(default_factory=list)
    first_ts: pd.Timestamp | None = None
    last_ts: pd.Timestamp | None = None

    @property
    def name(self) -> str:
        return str(self.spec["name"])


def _scratch_params(spec: dict, url: str | None = None, where: Path | None = None) -> Params:
    """A throwaway params object to read one source with sources.read_raw."""
    raw = {"brand": "onboarding", "sources": {"orders": [{**spec, "columns": {"customer_id": "x", "order_ts": "y"},
                                                          "on_bad_rows": "skip"}]}}
    if url:
        raw["engine"] = {"url": url}
    params = Params.model_validate(raw)
    params._source_path = where
    return params


def _source_name(text: str, taken: set[str]) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_") or "source"
    if not re.match(r"[A-Za-z_]", name):
        name = f"s_{name}"
    base, i = name, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


def _shown_path(path: Path) -> str:
    path = path.resolve()
    try:
        return str(path.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def _is_whitespace_text(path: Path, encoding: str) -> bool:
    """A .txt/.dat file whose lines split on runs of spaces into the same number of fields, and on
    none of , ; tab | (the CDNOW master file)."""
    with open(path, encoding=encoding, errors="replace") as fh:
        lines = [line for line in (fh.readline() for _ in range(50)) if line.strip()]
    if len(lines) < 2 or any(sep in lines[0] for sep in ",;\t|"):
        return False
    counts = {len(line.split()) for line in lines}
    return len(counts) == 1 and counts.pop() > 1


def _quiet(con):
    """No progress bar: init and check print their own lines."""
    if sources.is_duckdb(con):
        con.raw_sql("SET enable_progress_bar = false")
    return con


def open_file(path: Path, taken: set[str], con=None) -> tuple[ir.Table, dict, list[str], object]:
    """(raw table, the source's params entry, layout notes, connection) for one file."""
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path}: file not found")
    suffix = path.suffix.lower()
    spec: dict = {"name": _source_name(path.stem, taken), "path": _shown_path(path)}
    notes: list[str] = []
    if suffix in (".json", ".jsonl", ".ndjson"):
        # The workbook reads Parquet, not JSON: the engine converts it once, beside the file.
        target = path.with_suffix(".parquet")
        duck = ibis.duckdb.connect()
        duck.raw_sql(f"COPY (SELECT * FROM read_json_auto({sources._sql_str(str(path))})) TO "
                     f"{sources._sql_str(str(target))} (FORMAT parquet)")
        notes.append(f"JSON converted to Parquet: {_shown_path(target)} (the workbook reads Parquet, not JSON)")
        spec["path"] = _shown_path(target)
        path = target
    elif suffix in (".csv", ".tsv", ".txt", ".dat", ".gz") or suffix not in (".parquet", ".pq", ".xlsx", ".xls"):
        encoding = sources.detect_encoding(path)
        notes.append(f"encoding {encoding}")
        if encoding not in ("utf-8",):
            spec["encoding"] = {"gb18030": "gb18030"}.get(encoding, encoding)
        if suffix != ".gz" and _is_whitespace_text(path, encoding):
            spec["format"] = "whitespace"
            columns, has_header = sources.whitespace_header(path, encoding)
            notes.append("columns separated by runs of spaces (format: whitespace), " + (
                "header on line 1" if has_header else f"no header line: columns named column0..{columns[-1]}"))
        else:
            utf8 = path if encoding in ("utf-8", "utf-8-sig") else sources.utf8_copy(path, encoding)
            layout = sources.sniff_csv(utf8, str(path), path)
            shown = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}[layout.delimiter]
            notes.append(f"delimiter {shown}, header on line 1 ({len(layout.header)} columns)")
            if suffix not in (".csv", ".tsv", ".txt"):
                spec["format"] = "csv"
    elif suffix in (".xlsx", ".xls"):
        notes.append("Excel, first sheet")
    else:
        notes.append("Parquet")
    params = _scratch_params(spec, where=path)
    con = con if con is not None else _quiet(sources.connect(params))
    probe = params.sources.orders[0]
    raw = sources.read_raw(con, probe, params)
    check = sources._CSV_CHECKS.get(str(path))
    if check is not None and check.unreadable:
        notes.append(f"{check.describe(path.name)} — set on_bad_rows: skip or fix the export")
    return raw, spec, notes, con


def open_engine(url: str, table: str | None, query: str | None, taken: set[str]) -> tuple[ir.Table, dict, list[str], object]:
    spec: dict = ({"name": _source_name(table, taken), "format": "table", "table": table} if table
                  else {"name": _source_name("query", taken), "format": "query", "query": query})
    params = _scratch_params(spec, url=url)
    con = _quiet(sources.connect(params))
    raw = sources.read_raw(con, params.sources.orders[0], params)
    return raw, spec, [f"engine {config.redact(url)}"], con


def profile(raw: ir.Table, rows: int = SAMPLE_ROWS) -> dict[str, Column]:
    """Shapes of every column over the first rows, computed in the engine: one query for all
    columns, one more for the date formats of text columns that look like dates."""
    schema = raw.schema()
    sample = raw.limit(rows)
    parts = []
    texts = {}
    for i, name in enumerate(schema):
        q = sources._quote(name)
        text = texts[name] = f"NULLIF(trim(CAST({q} AS VARCHAR)), '')"
        num = (f"TRY_CAST(regexp_replace(replace({text}, ',', ''), '[¥￥$€£\\s]|RMB|CNY|USD|EUR|GBP|元', '', 'g') "
               "AS DOUBLE)")
        lower = f"lower({text})"
        parts += [f"count({text}) AS c{i}_n", f"count(DISTINCT {text}) AS c{i}_d",
                  f"list_slice(list(DISTINCT {text}) FILTER (WHERE {text} IS NOT NULL), 1, 2) AS c{i}_ex",
                  f"count({num}) AS c{i}_num",
                  f"count(*) FILTER (WHERE regexp_full_match({text}, '-?[0-9]*[.,][0-9]{{2}}')) AS c{i}_dec2",
                  f"count(*) FILTER (WHERE {num} = round({num})) AS c{i}_whole",
                  f"count(*) FILTER (WHERE {num} < 0) AS c{i}_neg",
                  f"count(*) FILTER (WHERE {lower} IN ('true','false','t','f','yes','no','是','否')) AS c{i}_bools",
                  f"count(TRY_CAST({text} AS TIMESTAMP)) AS c{i}_ts0",
                  f"count(*) FILTER (WHERE regexp_full_match({text}, '[0-9][0-9/.:\\- 年月日T]{{5,}}')) AS c{i}_datey"]
    got = run_sql(sample, f"SELECT {', '.join(parts)} FROM s").iloc[0]
    cols: dict[str, Column] = {}
    datey = []
    for i, (name, dtype) in enumerate(schema.items()):
        n = int(got[f"c{i}_n"])
        ex = got[f"c{i}_ex"]
        col = Column(name=name, dtype=str(dtype), non_null=n, distinct=int(got[f"c{i}_d"]),
                     examples=[str(v) for v in (ex if ex is not None else [])][:2])
        if n:
            col.numeric = int(got[f"c{i}_num"]) / n
            col.two_decimals = int(got[f"c{i}_dec2"]) / n
            col.integer = int(got[f"c{i}_whole"]) / n
            col.negative = int(got[f"c{i}_neg"]) / n
            col.boolean = int(got[f"c{i}_bools"]) / n
            col.timestamp = int(got[f"c{i}_ts0"]) / n
            if str(dtype).startswith(("timestamp", "date")):
                col.timestamp = 1.0
            elif str(dtype).startswith("string") and col.timestamp < 0.9 and int(got[f"c{i}_datey"]) >= 0.9 * n:
                datey.append((i, name))
        cols[name] = col
    if datey:
        parts = [f"count(TRY_STRPTIME({texts[name]}, {sources._sql_str(f)})) AS c{i}_f{j}"
                 for i, name in datey for j, f in enumerate(TS_FORMATS)]
        got = run_sql(sample, f"SELECT {', '.join(parts)} FROM s").iloc[0]
        for i, name in datey:
            col = cols[name]
            hits = [int(col.timestamp * col.non_null)] + [int(got[f"c{i}_f{j}"]) for j in range(len(TS_FORMATS))]
            col.timestamp, col.ts_format, col.ts_note = _timestamp_shape(name, hits, col.non_null, sample)
    return cols


def _timestamp_shape(name: str, hits: list[int], n: int, sample: ir.Table) -> tuple[float, str | None, str]:
    """Share of values that parse, the format they need, and why (day-first vs month-first)."""
    if hits[0] >= 0.9 * n:
        return hits[0] / n, None, ""
    best = max(range(1, len(hits)), key=lambda i: hits[i])
    share = hits[best] / n
    if share < 0.9:
        return max(hits) / n, None, ""
    fmt = TS_FORMATS[best - 1]
    # A day-first and a month-first format that both read every value: no value above 12 tells.
    twin = fmt.replace("%d", "%@").replace("%m", "%d").replace("%@", "%m")
    if twin != fmt and twin in TS_FORMATS and hits[TS_FORMATS.index(twin) + 1] == hits[best]:
        return share, fmt, (f"CHECK: no value has a day above 12, so {fmt!r} (day first) and {twin!r} (month "
                            "first) both read every value")
    parsed = f"TRY_STRPTIME(trim(CAST({sources._quote(name)} AS VARCHAR)), {sources._sql_str(fmt)})"
    years = run_sql(sample, f"SELECT min(year({parsed})) AS lo, max(year({parsed})) AS hi FROM s").iloc[0]
    if not (1950 <= int(years["lo"]) and int(years["hi"]) <= 2100):
        return 0.0, None, ""  # numbers that happen to read as dates (ids)
    other = [TS_FORMATS[i - 1] for i in range(1, len(hits)) if hits[i] and i != best]
    why = f"values such as these are not ISO dates; {fmt!r} reads {share:.0%}"
    if twin in other or twin != fmt:
        why += f" (not {twin!r}: some values have a day above 12)" if twin in TS_FORMATS else ""
    return share, fmt, why


# ---------------------------------------------------------------- guessing the mapping

_SHAPE_OK = {
    "timestamp": lambda c: c.timestamp >= 0.9,
    "money": lambda c: c.numeric >= 0.9,
    "float": lambda c: c.numeric >= 0.9,
    "bool": lambda c: c.boolean >= 0.9 or c.dtype.startswith("boolean"),
    "string": lambda c: True,
}


def _candidates(kind: str, cols: dict[str, Column]) -> list[tuple[float, str, str, str]]:
    """(score, canonical, raw column, how) for every plausible pair."""
    found = []
    types = canonical_columns(kind)
    for canon, names in NAMES[kind].items():
        for col in cols.values():
            score = name_score(col.name, names + [canon])
            if not score:
                continue
            if col.non_null and not _SHAPE_OK[types[canon]](col):
                continue  # named like it, but the values are not (an id column called 'date' ...)
            found.append((score, canon, col.name, "header name"))
    return found


def assign(kind: str, cols: dict[str, Column]) -> dict[str, Guess]:
    """Greedy: the best-scoring pairs first, each raw column and canonical column used once."""
    guesses: dict[str, Guess] = {}
    used: set[str] = set()
    for score, canon, name, how in sorted(_candidates(kind, cols), key=lambda t: (-t[0], t[1], t[2])):
        if canon in guesses or name in used:
            continue
        confidence = "high" if score >= 1 else "medium"
        guesses[canon] = Guess(canon, name, confidence, f"{how}{'' if score >= 1 else ' (partial)'}",
                               cols[name].examples)
        used.add(name)
    types = canonical_columns(kind)
    free = [c for c in cols.values() if c.name not in used and c.non_null]
    # By values alone: the one timestamp column, the one money-looking column.
    for canon in [c for c, t in types.items() if t == "timestamp" and c in CANONICAL[kind]["required"]]:
        if canon not in guesses:
            stamps = [c for c in free if c.timestamp >= 0.9]
            if len(stamps) == 1:
                guesses[canon] = Guess(canon, stamps[0].name, "low", "values parse as timestamps", stamps[0].examples)
                used.add(stamps[0].name)
    if kind == "orders" and "amount" not in guesses:
        money = [c for c in free if c.name not in used and c.numeric >= 0.95 and c.two_decimals >= 0.5
                 and not any(name_score(c.name, UNIT_PRICE + PRODUCT_CODE) for _ in [0])]
        if len(money) == 1:
            guesses["amount"] = Guess("amount", money[0].name, "low", "numeric with two decimals", money[0].examples)
    return guesses


def classify(cols: dict[str, Column]) -> tuple[str, dict[str, Guess], str]:
    """The canonical table a file is, its mapping and why."""
    scored = []
    cust = assign("customers", cols).get("customer_id")
    unique_ids = bool(cust) and cols[cust.value].distinct == cols[cust.value].non_null > 0
    for kind in ("orders", "customers", "interactions", "campaigns"):
        guesses = assign(kind, cols)
        required = [c for c in CANONICAL[kind]["required"] if not (kind == "orders" and c == "order_id")]
        if any(c not in guesses for c in required):
            continue
        score = sum({"high": 1.0, "medium": 0.7, "low": 0.4}[g.confidence] for c, g in guesses.items() if c != "customer_id")
        why = f"{len(guesses)} columns recognized"
        if kind == "customers":
            score += 2 if unique_ids else -3
            why += ", one row per customer id" if unique_ids else ""
        elif unique_ids:
            score -= 1
        defining = {"interactions": "kind", "campaigns": "group", "orders": "amount"}.get(kind)
        if defining in guesses and guesses[defining].confidence != "low":
            score += 1.5  # the column that makes the table what it is, named as such
        scored.append((score, kind, guesses, why))
    if not scored:
        return "", {}, "no canonical table fits: customer_id and a timestamp were not both recognized"
    score, kind, guesses, why = max(scored, key=lambda t: t[0])
    runner_up = sorted(scored, key=lambda t: -t[0])[1:2]
    confidence = "high" if not runner_up or score - runner_up[0][0] >= 2 else "medium"
    return kind, guesses, f"{confidence}: {why}" + (f" (next: {runner_up[0][1]})" if runner_up else "")


def _line_items_and_amount(report: FileReport, raw: ir.Table) -> None:
    """Invoice lines: an order id repeated over its lines, amount = quantity x unit price; a
    cancellation prefix on order ids; product codes that are postage or fees, not products."""
    cols, g = report.columns, report.guesses
    price = next((c for c in cols.values() if name_score(c.name, UNIT_PRICE) and c.numeric >= 0.9
                  and c.name not in _used(g)), None)
    oid = g.get("order_id")
    if oid is not None:
        c = cols[oid.value]
        if c.non_null and c.non_null / max(c.distinct, 1) >= 1.5:
            report.line_items = (True, f"{c.non_null / c.distinct:.1f} rows per {oid.value} in the first "
                                       f"{c.non_null:,} rows: one row per invoice line, summed to orders")
    qty = g.get("quantity")
    if "amount" not in g and price is not None and qty is not None:
        expr = f"{qty.value} * {price.name}" if re.fullmatch(r"[A-Za-z_]\w*", qty.value + price.name) \
            else f"{sources._quote(qty.value)} * {sources._quote(price.name)}"
        g["amount"] = Guess("amount", {"sql": expr}, "medium", f"no amount column: {qty.value} x {price.name}",
                            [])
        if not report.line_items[0]:
            report.line_items = (True, f"amount = {qty.value} x {price.name}: rows are invoice lines")
    if oid is not None and cols[oid.value].is_text and "status" not in g:
        q = sources._quote(oid.value)
        found = run_sql(raw,
            f"SELECT regexp_extract({q}, '^([A-Za-z]+)[0-9]', 1) AS prefix, count(*) AS n, "
            f"count(*) FILTER (WHERE {sources._quote(qty.value) if qty else 'NULL'} < 0) AS negative "
            f"FROM s WHERE regexp_matches({q}, '^[A-Za-z]+[0-9]') GROUP BY 1 ORDER BY n DESC")
        total = raw.count().execute()
        for row in found.itertuples():
            if qty is not None and row.n >= 10 and row.negative == row.n and row.n < 0.2 * total:
                column = oid.value if re.fullmatch(r"[A-Za-z_]\w*", oid.value) else q
                expr = f"CASE WHEN {column} LIKE '{row.prefix}%' THEN 'refunded' ELSE 'completed' END"
                g["status"] = Guess("status", {"sql": expr}, "medium",
                                    f"{row.n:,} {oid.value} values start with {row.prefix!r} and all their "
                                    f"{qty.value} are negative: cancellations, read as refunds", [])
                break
    code = next((c for c in cols.values() if name_score(c.name, PRODUCT_CODE) and c.name not in _used(g)), None)
    if code is not None and code.is_text:
        q = sources._quote(code.name)
        found = run_sql(raw,
            f"SELECT {q} AS code, count(*) AS n FROM s WHERE NOT regexp_matches({q}, '^[0-9]') "
            f"AND (NOT regexp_matches({q}, '[0-9]') OR length({q}) <= 2) GROUP BY 1 ORDER BY n DESC, code")
        digits = run_sql(raw, f"SELECT avg(CAST(regexp_matches({q}, '^[0-9]') AS INT)) AS share FROM s").iloc[0]["share"]
        if len(found):
            # a letter-only code sharing its first four letters with coded products (DCGSSGIRL next
            # to DCGS0003) names a product family, not a fee
            families = run_sql(raw, f"SELECT DISTINCT left({q}, 4) AS p FROM s WHERE NOT regexp_matches({q}, '^[0-9]') "
                                    f"AND regexp_matches({q}, '[0-9]') AND length({q}) > 2")["p"]
            found = found[~found["code"].map(lambda c: len(c) >= 5 and c[:4] in set(families))]
        if len(found) and digits is not None and float(digits) >= 0.9:
            listed = ", ".join(sources._sql_str(v) for v in found["code"])
            column = code.name if re.fullmatch(r"[A-Za-z_]\w*", code.name) else q
            report.exclude.append({
                "name": "non_product_lines", "where": f"{column} IN ({listed})",
                "reason": (f"{code.name} values that are no product code ({len(found)} codes, {int(found['n'].sum()):,} "
                           f"rows; products start with a digit): postage, fees, manual adjustments — CHECK the list")})


def _used(guesses: dict[str, Guess]) -> set[str]:
    return {g.value for g in guesses.values() if isinstance(g.value, str)}


def _date_range(raw: ir.Table, column: Column, fmt: str | None) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    q = sources._quote(column.name)
    if column.dtype.startswith(("timestamp", "date")):
        parsed = f"CAST({q} AS TIMESTAMP)"
    elif fmt:
        parsed = f"TRY_STRPTIME(trim(CAST({q} AS VARCHAR)), {sources._sql_str(fmt)})"
    else:
        parsed = f"TRY_CAST(trim(CAST({q} AS VARCHAR)) AS TIMESTAMP)"
    got = run_sql(raw, f"SELECT min({parsed}) AS lo, max({parsed}) AS hi, count(*) AS n FROM s "
                       f"WHERE {parsed} >= TIMESTAMP '1990-01-01'").iloc[0]
    lo, hi = got["lo"], got["hi"]
    return (pd.Timestamp(lo) if pd.notna(lo) else None, pd.Timestamp(hi) if pd.notna(hi) else None)


def _number_format(report: FileReport, raw: ir.Table) -> None:
    """The decimal separator of numbers written as text, decided as a run decides it
    (sources.detect_decimal over the guessed money and number columns); thousands separators
    are the other sign."""
    columns = {c: (g.value if isinstance(g.value, str) else {"sql": g.value["sql"]}) for c, g in report.guesses.items()}
    try:
        spec = config.SourceSpec.model_validate({"name": report.name, "path": "x", "columns": columns})
        found = sources.detect_decimal(raw, spec, report.kind, _scratch_params({"name": "probe", "path": "x"}))
    except SourceError as exc:
        report.todo.append("decimal separator: " + str(exc).split("): ", 1)[-1])
        return
    if found.how == "detected":
        other = "," if found.decimal == "." else "."
        report.layout.append(f"decimal {found.decimal!r} ({found.dot_values + found.comma_values:,} values show it, "
                             f"e.g. {', '.join(next(iter(found.examples.values()), []))}); thousands {other!r}")
        if found.decimal == ",":
            report.spec["decimal"] = ","


def inspect(raw: ir.Table, spec: dict, label: str, notes: list[str]) -> FileReport:
    cols = profile(raw)
    rows = int(run_sql(raw, "SELECT count(*) AS n FROM s").iloc[0]["n"])
    report = FileReport(label=label, spec=spec, rows=rows, columns=cols, layout=notes)
    kind, guesses, why = classify(cols)
    if not kind:
        report.kind, report.kind_how = "", why
        return report
    report.kind, report.kind_how, report.guesses = kind, why, guesses
    if kind == "orders":
        _line_items_and_amount(report, raw)
        if "order_id" not in guesses:
            report.todo.append("no order id column found: each row is read as one order (numbered in file order); "
                               "map order_id if the export has one")
        if "store" in guesses and "channel" not in guesses:
            report.constants["channel"] = ("store", f"the file has a store column ({guesses['store'].value}) and no "
                                                    "channel: its orders are read as store orders")
        if "amount" not in guesses:
            report.todo.append("no amount column found: revenue and CLV in money are skipped; map amount if the "
                               "export has one")
    _number_format(report, raw)
    formats = {cols[g.value].ts_format for c, g in guesses.items()
               if isinstance(g.value, str) and canonical_columns(kind)[c] == "timestamp"} - {None}
    if formats:
        report.timestamp_format = sorted(formats)[0]
        if len(formats) > 1:
            report.todo.append(f"timestamps written in several formats {sorted(formats)}: one timestamp_format per source")
    ts_canon = {"orders": "order_ts", "customers": "signup_ts", "interactions": "ts", "campaigns": "contact_ts"}[kind]
    if ts_canon in guesses and isinstance(guesses[ts_canon].value, str):
        report.first_ts, report.last_ts = _date_range(raw, cols[guesses[ts_canon].value], report.timestamp_format)
    return report


# ---------------------------------------------------------------- writing the params file


def suggest_period(first: pd.Timestamp, last: pd.Timestamp, orders: int) -> tuple[str, str]:
    days = (last - first).days
    months = days / 30.44
    span = f"{days / 365.25:.1f} years" if days >= 365 else f"{months:.1f} months"
    if months < 6:
        if orders / max(days / 7, 1) < 30:
            return "month", f"{span} of data but only {orders:,} order rows: too few a week, month"
        return "week", f"{span} of data, {orders:,} order rows: under 6 months, week"
    if days > 6 * 365.25:
        return "quarter", f"{span} of data, {orders:,} order rows: over 6 years, quarter"
    return "month", f"{span} of data, {orders:,} order rows: month (week under 6 months of data, quarter over 6 years)"


def _q(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def _example_text(examples: list[str]) -> str:
    return ", ".join(repr(e)[:40] for e in examples[:2]) or "no values in the first rows"


TODO_BUSINESS = [
    ("business", "currency", "", "the unit money is shown in (CNY, EUR ...): never guessed; unset, money says "
                                 "'unspecified currency'"),
    ("business", "margin", 0.3, "gross margin as a share of revenue: CLV and every profit figure scale with it"),
    ("business", "annual_discount_rate", 0.10, "discounts future profit in the CLV"),
    ("business", "cost_to_serve_per_customer_year", 0.0, "yearly cost of keeping a customer, taken off the CLV"),
    ("readiness", "min_repeat_customers", 200, "repeat buyers the CLV model needs before it is trusted"),
    ("readiness", "min_history_days", 180, "days of order history needed"),
    ("tiers", "budget", 50000.0, "monthly retention budget (contacts and offers) the plan splits"),
]


def render_params(brand: str, reports: list[FileReport], url: str | None = None) -> tuple[str, list[str]]:
    """The params text and the list of things to check."""
    checks: list[str] = []
    order_reports = [r for r in reports if r.kind == "orders"]
    firsts = [r.first_ts for r in order_reports if r.first_ts is not None]
    lasts = [r.last_ts for r in order_reports if r.last_ts is not None]
    if firsts and lasts:
        period, period_why = suggest_period(min(firsts), max(lasts), sum(r.rows for r in order_reports))
        period_why += f"; orders from {min(firsts):%Y-%m-%d} to {max(lasts):%Y-%m-%d}"
    else:
        period, period_why = "month", "no order dates found: month by default"
    lines = [
        f"# Params for {brand}, written by `workbook init` from {len(reports)} source(s). Every guess is",
        "# commented with its confidence and two example values; CHECK and TODO mark what to confirm.",
        f"# Next: workbook check --brand {brand}   (or --params <this file>), then workbook run.",
        f"brand: {brand}",
        f"display_name: {_q(brand)}",
        f"period: {period}  # suggested: {period_why}",
    ]
    if url:
        # a password typed into --url is not written down: the params name an environment variable
        safe = config._URL_PASSWORD.sub(lambda m: m.group(0) if m.group("password").startswith("${")
                                        else m.group("head") + "${DB_PASSWORD}", url)
        lines.append("engine:")
        lines.append(f"  url: {_q(safe)}" + ("  # TODO set DB_PASSWORD in the environment before a run"
                                             if safe != url else ""))
        if safe != url:
            checks.append("engine.url: the password is read from the environment variable DB_PASSWORD")
    lines.append("sources:")
    for kind in ("orders", "customers", "interactions", "campaigns"):
        mine = [r for r in reports if r.kind == kind]
        if not mine:
            continue
        lines.append(f"  {kind}:")
        for r in mine:
            lines.append(f"    - name: {r.name}")
            lines.append(f"      # {r.label}: {r.rows:,} rows; {'; '.join(r.layout)}")
            lines.append(f"      # read as {kind} ({r.kind_how})")
            for key in ("path", "format", "encoding", "decimal", "table", "query"):
                if key in r.spec:
                    lines.append(f"      {key}: {_q(r.spec[key])}")
            if r.line_items[0]:
                lines.append(f"      line_items: true  # {r.line_items[1]}")
            if r.timestamp_format:
                col = next(c for c in r.columns.values() if c.ts_format == r.timestamp_format)
                lines.append(f"      timestamp_format: {_q(r.timestamp_format)}  # {col.ts_note} "
                             f"(e.g. {_example_text(col.examples)})")
                if col.ts_note.startswith("CHECK"):
                    checks.append(f"{r.name}: {col.ts_note}")
            lines.append("      columns:")
            order = list(canonical_columns(kind))
            for canon in sorted(r.guesses, key=order.index):
                g = r.guesses[canon]
                value = g.value if isinstance(g.value, str) else {"sql": g.value["sql"]}
                shown = _q(value) if isinstance(value, str) else "{sql: " + _q(value["sql"]) + "}"
                ex = f"; e.g. {_example_text(g.examples)}" if g.examples else ""
                lines.append(f"        {canon}: {shown}  # {g.confidence} ({g.how}){ex}")
                if g.confidence != "high":
                    checks.append(f"{r.name}.{canon} = {shown}: {g.confidence} confidence ({g.how})")
            missing = [c for c in canonical_columns(kind) if c not in r.guesses and c not in r.constants]
            if missing:
                lines.append(f"        # not found (map them if the file has them): {', '.join(missing)}")
            left = [c for c in r.columns if c not in _used(r.guesses)]
            if left:
                lines.append(f"        # file columns not used: {', '.join(left)}")
            if r.constants:
                lines.append("      constants:")
                for canon, (value, why) in r.constants.items():
                    lines.append(f"        {canon}: {_q(value)}  # medium: {why}")
                    checks.append(f"{r.name}: constant {canon} = {value!r} ({why})")
            if r.exclude:
                lines.append("      exclude:")
                for rule in r.exclude:
                    lines.append(f"        - name: {rule['name']}")
                    lines.append(f"          where: {_q(rule['where'])}")
                    lines.append(f"          reason: {_q(rule['reason'])}")
                    checks.append(f"{r.name}: exclude rule {rule['name']}: {rule['where']}")
            for todo in r.todo:
                lines.append(f"      # TODO {todo}")
                checks.append(f"{r.name}: TODO {todo}")
    unread = [r for r in reports if not r.kind]
    for r in unread:
        lines.append(f"# TODO {r.label}: not mapped — {r.kind_how}")
        checks.append(f"{r.label}: not mapped — {r.kind_how}")
    section = None
    for sec, key, default, why in TODO_BUSINESS:
        if sec != section:
            lines.append(f"{sec}:")
            section = sec
        lines.append(f"  {key}: {_q(default)}  # TODO default: {why}")
    checks.append("business: currency, margin, discount rate, cost to serve, budget are defaults (TODO lines)")
    return "\n".join(lines) + "\n", checks


def init(files: list[str | Path], brand: str, out: Path | None = None, force: bool = False,
         url: str | None = None, table: str | None = None, query: str | None = None) -> tuple[Path, list[str], list[FileReport]]:
    """Inspect the files (or the engine table / query), write the params file; returns its path,
    what to check, and the reports."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", brand or ""):
        raise ParamsError(f"--brand {brand!r}: use lower-case letters, digits, '_' and '-'")
    target = Path(out) if out else config.PARAMS_DIR / f"{brand}.yaml"
    if target.exists() and not force:
        raise ParamsError(f"{target} exists; init does not overwrite a params file (give --force, or --out "
                          "another path)")
    if not files and not (url and (table or query)):
        raise ParamsError("give the files to inspect, or --url with --table or --query")
    taken: set[str] = set()
    reports = []
    con = None
    for f in files:
        raw, spec, notes, con = open_file(Path(f), taken, con)
        reports.append(inspect(raw, spec, _shown_path(Path(f)), notes))
    if url and (table or query):
        raw, spec, notes, _ = open_engine(url, table, query, taken)
        reports.append(inspect(raw, spec, table or "query", notes))
    if not any(r.kind == "orders" for r in reports):
        raise ParamsError("none of the sources reads as orders (a customer id and an order timestamp); "
                          + "; ".join(f"{r.label}: {r.kind or r.kind_how}" for r in reports))
    text, checks = render_params(brand, reports, url)
    tmp = target.with_name(f".{target.name}.check")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(text, encoding="utf-8")
    try:
        config.load_params(tmp)  # what init writes must load
    finally:
        tmp.unlink(missing_ok=True)
    config.atomic_write_text(target, text)
    return target, checks, reports


# ---------------------------------------------------------------- check


@dataclass
class Problem:
    where: str  # file, column
    message: str
    blocking: bool = True

    def __str__(self) -> str:
        return f"{'ERROR' if self.blocking else 'WARNING'} {self.where}: {self.message}"


@dataclass
class CheckResult:
    problems: list[Problem] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def blocking(self) -> bool:
        return any(p.blocking for p in self.problems)


def _missing_columns(raw: ir.Table, spec, kind: str, where: str) -> list[Problem]:
    available = list(raw.columns)
    found = []
    for canon, value in spec.columns.items():
        if isinstance(value, str) and value not in available:
            close = difflib.get_close_matches(value, available, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            found.append(Problem(f"{where}, column {value!r}", f"columns.{canon} names a column the file does not "
                                 f"have{hint} (its columns: {', '.join(available)})"))
    return found


def _sql_problems(raw: ir.Table, spec, where: str) -> list[Problem]:
    """Each SQL column and exclude rule tried on one row, so a typo is named where it is."""
    tried = [(f"columns.{c}", v.sql) for c, v in spec.columns.items() if isinstance(v, config.SqlExpr)]
    tried += [(f"exclude {r.name}", r.where) for r in spec.exclude]
    found = []
    for what, sql in tried:
        try:
            run_sql(raw.limit(1), f"SELECT ({sql}) AS v FROM s")
        except Exception as exc:
            message = str(exc).splitlines()[0].replace("Binder Error: ", "")
            found.append(Problem(f"{where}, {what}", f"{sql!r} does not run: {message} (its columns: "
                                                     f"{', '.join(raw.columns)})"))
    return found


@dataclass
class _Source:
    """A source whose mapping runs: what the scans of check need."""

    kind: str
    spec: object
    raw: ir.Table
    where: str
    decimal: str
    head: str = ""  # temporary table: its first CHECK_ROWS rows, mapped and numbered (_row)
    head_rows: int = 0  # rows in it (fewer than CHECK_ROWS: the whole source)
    raw_sql: str | None = None

    @property
    def sample(self) -> str:
        """How much of the source the head holds, for the output."""
        if self.head_rows < CHECK_ROWS:
            return f"all its {self.head_rows:,} rows"
        return f"its first {self.head_rows:,} rows"


def check(params_path: Path) -> CheckResult:
    """Validate a params file against its data. Sampled: the first CHECK_ROWS rows of each source
    (mapped, shown, parse failures counted) and the customer ids whose match rates are given. Read
    in full, one scan per file, only the columns each answer needs: the order timestamps (date
    range, orders per period, ``latest``), the order and customer ids the sampled ids are looked
    up in, and the campaigns' group labels."""
    started = time.perf_counter()
    result = CheckResult()
    out, problems = result.lines, result.problems
    try:
        params = config.load_params(params_path)
    except ParamsError as exc:
        problems.append(Problem(str(params_path), str(exc).split(": ", 1)[-1]))
        result.seconds = time.perf_counter() - started
        return result
    out.append(f"{params.brand}: {params_path}")
    con = _quiet(sources.connect(params))
    mapped: dict[str, list[_Source]] = {}
    for kind in sources.KINDS:
        for index, spec in enumerate(getattr(params.sources, kind)):
            where = f"{spec.name} ({sources.source_location(spec, params)})"
            try:
                raw = sources.read_raw(con, spec, params)
            except (SourceError, ParamsError) as exc:
                problems.append(Problem(where, str(exc).split(f"source {spec.name!r}: ", 1)[-1]))
                continue
            missing = _missing_columns(raw, spec, kind, where) + _sql_problems(raw, spec, where)
            if missing:
                problems += missing
                continue
            try:
                number_format = sources.detect_decimal(raw, spec, kind, params, index)
                sources.map_source(raw, spec, kind, params, index, number_format)  # the mapping compiles
            except SourceError as exc:
                problems.append(Problem(where, str(exc).split("): ", 1)[-1]))
                continue
            source = _Source(kind, spec, raw, where, number_format.decimal)
            try:
                _sample(con, source, params, result)
            except Exception as exc:  # the mapping compiles but does not run on these rows
                problems.append(Problem(where, f"the mapping does not run on its first rows: {type(exc).__name__}: "
                                               f"{str(exc).splitlines()[0]}"))
                continue
            mapped.setdefault(kind, []).append(source)
    heads = [s for entries in mapped.values() for s in entries]
    if heads:
        sampled = " UNION ".join(f"SELECT customer_id FROM {s.head} WHERE customer_id IS NOT NULL AND _excluded IS NULL"
                                 for s in heads)
        _query(con, f"CREATE OR REPLACE TEMP TABLE check_ids AS SELECT DISTINCT customer_id FROM ({sampled})")
    orders = _orders_table(con, params, mapped, result) if heads else None
    _dates(params, orders, result)
    _matches(con, params, mapped, result, orders is not None)
    _groups(con, params, mapped, result)
    result.seconds = time.perf_counter() - started
    return result


def _query(con, sql: str) -> pd.DataFrame:
    if sources.is_duckdb(con):
        return con.con.execute(sql).df()
    return con.sql(sql).execute()


def _windowed(spec) -> bool:
    """A SQL column or exclude rule with a window function (its value depends on other rows)."""
    texts = [v.sql for v in spec.columns.values() if isinstance(v, config.SqlExpr)] + [r.where for r in spec.exclude]
    return any(re.search(r"\bover\s*\(", t, flags=re.IGNORECASE) for t in texts)


def _over(con, source: _Source, body: str, limit: int | None = None, into: str | None = None) -> pd.DataFrame | None:
    """``body`` (SQL over the alias ``src_<name>``: the raw source, its first ``limit`` rows if
    given) run in the engine; with ``into``, kept as that temporary table instead."""
    alias = f"src_{source.spec.name}"
    con_is_duck = sources.is_duckdb(con)
    if con_is_duck:
        if source.raw_sql is None:
            source.raw_sql = con.compile(source.raw)
        raw = f"SELECT * FROM ({source.raw_sql}) LIMIT {limit}" if limit else source.raw_sql
        sql = f"WITH {sources._quote(alias)} AS ({raw}) {body}"
        if into:
            con.con.execute(f"CREATE OR REPLACE TEMP TABLE {into} AS {sql}")
            return None
        return con.con.execute(sql).df()
    expr = (source.raw.limit(limit) if limit else source.raw).alias(alias).sql(body, dialect="duckdb")
    if into:
        con.create_table(into.strip('"'), expr, temp=True, overwrite=True)
        return None
    return expr.execute()


def _scan(con, source: _Source, body: str, result: CheckResult) -> pd.DataFrame | None:
    """A scan of every row of the source (``_over``); a value deep in the file that the mapping
    cannot take (the first rows could) is a problem of that source, not a crash of the check."""
    try:
        return _over(con, source, body)
    except Exception as exc:
        result.problems.append(Problem(source.where, f"the mapping does not run on all its rows: "
                                                     f"{type(exc).__name__}: {str(exc).splitlines()[0]}"))
        return None


def _rows(source: _Source, columns: list[str], params: Params) -> str:
    """SQL of the source's rows as a run counts them — exclude rules applied, a line-item source
    summed to orders — with only ``columns`` parsed (the other columns are not read)."""
    spec, kind = source.spec, source.kind
    lines = kind == "orders" and spec.line_items
    wanted = [*columns, "order_id"] if lines and "order_id" not in columns else columns
    rows = sources.mapping_sql(spec, kind, source.raw.schema(), source.decimal, wanted)
    if spec.exclude:
        rows = f"SELECT * FROM ({rows}) WHERE _excluded IS NULL"
    if lines:  # sources.lines_to_orders: the first timestamp, the customer of the order's lines
        agg = {"customer_id": "max(customer_id)", "order_ts": "min(order_ts)"}
        rows = (f"SELECT {', '.join(f'{agg[c]} AS {c}' for c in columns)} FROM ({rows}) GROUP BY order_id")
    return rows


def _sample(con, source: _Source, params: Params, result: CheckResult) -> None:
    """Map the first rows (kept as a temporary table): show five, count what does not parse
    (with an example row)."""
    spec, kind, where = source.spec, source.kind, source.where
    source.head = sources._quote(f"check_head_{spec.name}")
    mapping = sources.mapping_sql(spec, kind, source.raw.schema(), source.decimal)
    # Mapped row by row, the first rows of the raw source give the first rows mapped: only those
    # are read. A window function in the mapping sees the whole source, so it is mapped first.
    if _windowed(spec):
        _over(con, source, f"SELECT *, row_number() OVER () AS _row FROM ({mapping} LIMIT {CHECK_ROWS})",
              into=source.head)
    else:
        _over(con, source, f"SELECT *, row_number() OVER () AS _row FROM ({mapping})", limit=CHECK_ROWS,
              into=source.head)
    head = source.head
    shown = [c for c in canonical_columns(kind) if c in spec.columns or c in spec.constants]
    first = _query(con, f"SELECT {', '.join(sources._quote(c) for c in shown)} FROM {head} ORDER BY _row LIMIT {SHOW_ROWS}")
    result.lines.append(f"\n{kind}: {where} — first {len(first)} rows mapped:")
    result.lines += ["  " + line for line in first.to_string(index=False, max_colwidth=24).splitlines()]
    required = [c for c in CANONICAL[kind]["required"] if c in spec.columns]
    counts = _query(con, "SELECT count(*) AS n" + "".join(f", count({sources._quote(c)}) AS {sources._quote(c)}"
                                                         for c in required) + f" FROM {head}").iloc[0]
    n = source.head_rows = int(counts["n"])
    failed = _query(con, f"SELECT _parse_error AS col, count(*) AS n, min(_row) AS row, arg_min(_bad_value, _row) AS "
                         f"value FROM {head} WHERE _parse_error IS NOT NULL GROUP BY 1 ORDER BY 1")
    types = canonical_columns(kind)
    for r in failed.itertuples():
        raw_col = spec.columns.get(r.col)
        raw_name = raw_col if isinstance(raw_col, str) else f"sql {raw_col.sql}" if raw_col is not None else r.col
        share = r.n / max(n, 1)
        hint = ""
        if types[r.col] == "timestamp":
            hint = (f" (timestamp_format is {spec.timestamp_format!r})" if spec.timestamp_format
                    else " (set timestamp_format)")
        result.problems.append(Problem(
            f"{where}, column {raw_name!r}",
            f"{r.n:,} of the first {n:,} rows do not parse as {r.col}{hint}; e.g. data row {int(r.row)}: {r.value!r}",
            blocking=share > params.cleaning.max_faulty_share or (r.col in CANONICAL[kind]["required"] and share > 0.5)))
    for c in required:
        if n and int(counts[c]) == 0 and c not in set(failed["col"]):
            result.problems.append(Problem(f"{where}, column {spec.columns[c]!r}",
                                           f"{c} is empty in all of the first {n:,} rows"))


def _id_table(con, name: str, ids: set) -> None:
    """The few customer ids found (at most the sampled ones), as a temporary table."""
    frame = pd.DataFrame({"customer_id": sorted(ids)}, dtype="string")
    if sources.is_duckdb(con):
        con.con.register(f"{name}_frame", frame)
        con.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT CAST(customer_id AS VARCHAR) AS customer_id "
                        f"FROM {name}_frame")
        con.con.unregister(f"{name}_frame")
    else:
        con.create_table(name, ibis.memtable(frame), temp=True, overwrite=True)


def _ts_sql(ts: pd.Timestamp) -> str:
    return f"TIMESTAMP '{pd.Timestamp(ts):%Y-%m-%d %H:%M:%S.%f}'"


def _orders_table(con, params: Params, mapped: dict, result: CheckResult) -> pd.DataFrame | None:
    """One scan of every order source, reading only its timestamp and customer id columns
    (exclude rules applied, invoice lines summed to orders): orders, first and last timestamp per
    period and plausibility (all orders: exact), and which of the sampled customer ids
    (``check_ids``) have an order — kept as the small table ``check_in_orders``."""
    unit = {"month": "MONTH", "quarter": "QUARTER", "week": "WEEK"}[params.period]
    # sources.plausible_date: not before cleaning.earliest_order_date, not after the run date
    earliest = _ts_sql(pd.Timestamp(params.cleaning.earliest_order_date))
    tomorrow = _ts_sql(config.run_date() + pd.Timedelta(days=1))
    frames, hits = [], set()
    for source in mapped.get("orders", []):
        rows = _rows(source, ["customer_id", "order_ts"], params)
        # grouped by day first (a date is a cheap key), then the few days by period
        days = (f"SELECT CAST(o.order_ts AS DATE) AS day, "
                f"COALESCE(o.order_ts >= {earliest} AND o.order_ts < {tomorrow}, FALSE) AS ok, count(*) AS n, "
                "min(o.order_ts) AS first, max(o.order_ts) AS last, "
                # a mark join: its hash table is always the few sampled ids, never the big file
                "list(DISTINCT o.customer_id) FILTER (WHERE o.customer_id IN (SELECT customer_id FROM check_ids)) "
                f"AS hits FROM ({rows}) o GROUP BY 1, 2")
        grouped = _scan(con, source, (
            f"SELECT CAST(date_trunc('{unit}', day) AS TIMESTAMP) AS start, ok, CAST(sum(n) AS BIGINT) AS n, "
            f"min(first) AS first, max(last) AS last, list_distinct(flatten(list(hits))) AS hits FROM ({days}) "
            "GROUP BY 1, 2"), result)
        if grouped is None:
            continue
        hits.update(i for h in grouped["hits"] if h is not None for i in h)
        frames.append(grouped.drop(columns="hits"))
    if not frames:
        return None
    _id_table(con, "check_in_orders", hits)
    return pd.concat(frames, ignore_index=True)


def _dates(params: Params, grouped: pd.DataFrame | None, result: CheckResult) -> None:
    """Date range and the periods 'latest' and a back-run use (sources.latest_period decides, as
    for a run), from the per-period aggregate of the orders."""
    if grouped is None:
        return
    good = grouped[grouped["ok"]].groupby("start").agg(n=("n", "sum"), first=("first", "min"), last=("last", "max"))
    implausible = int(grouped.loc[~grouped["ok"] & grouped["start"].notna(), "n"].sum())
    if good.empty:
        result.problems.append(Problem("orders", "no order has a parseable, plausible order_ts"))
        return
    found = sources.DataRange(first=pd.Timestamp(good["first"].min()), last=pd.Timestamp(good["last"].max()),
                              volume=good["n"].set_axis(pd.to_datetime(good.index)).sort_index(),
                              implausible=implausible)
    latest, note = sources.latest_period(params, found)
    first_period = config.period_label(found.first.to_period(config._PANDAS_FREQ[params.period]), params.period)
    span = config.expand_periods(f"{first_period}..{latest}", params.period) if first_period <= latest else []
    result.lines.append(f"\norders: {int(good['n'].sum()):,} orders dated {found.first:%Y-%m-%d} .. {found.last:%Y-%m-%d}"
                        + (f" ({implausible:,} with implausible dates left out)" if implausible else ""))
    result.lines.append(f"  latest ({params.period}): {latest}" + (f" — {note}" if note else ""))
    if span:
        result.lines.append(f"  back-run: --period {span[0]}..{span[-1]} ({len(span)} periods)")
    if implausible:
        result.problems.append(Problem("orders, order_ts", f"{implausible:,} rows dated before "
                                       f"{params.cleaning.earliest_order_date} or after today: dropped as implausible",
                                       blocking=False))


def _matches(con, params: Params, mapped: dict, result: CheckResult, orders_read: bool = True) -> None:
    """Share of the distinct customer ids in the first rows of each source (a sample, said with
    its size) that the customers table and the orders hold, looked up in every row of those: each
    is scanned once in the engine, reading its id column only, for the sampled ids; the rates are
    then counted on the small tables."""
    if not any(mapped.values()):
        return
    targets = ["orders"] if orders_read else []  # check_in_orders: found by _orders_table's scan
    if mapped.get("customers"):
        found = set()
        for source in mapped["customers"]:
            rows = _rows(source, ["customer_id"], params)
            got = _scan(con, source, f"SELECT DISTINCT customer_id FROM ({rows}) "
                                     "WHERE customer_id IN (SELECT customer_id FROM check_ids)", result)
            found.update(got["customer_id"] if got is not None else [])
        _id_table(con, "check_in_customers", found)
        targets.insert(0, "customers")
    if not targets:
        return
    header = len(result.lines)
    for kind, entries in mapped.items():
        for source in entries:
            spec, where = source.spec, source.where
            wanted = [t for t in targets if t != kind]
            if not wanted:
                continue
            ids = (f"(SELECT DISTINCT customer_id FROM {source.head} WHERE customer_id IS NOT NULL "
                   "AND _excluded IS NULL)")
            got = _query(con, f"SELECT (SELECT count(*) FROM {ids}) AS n" + "".join(
                f", (SELECT count(*) FROM {ids} i SEMI JOIN check_in_{t} USING (customer_id)) AS {t}, "
                f"(SELECT min(customer_id) FROM {ids} i ANTI JOIN check_in_{t} USING (customer_id)) AS {t}_missing"
                for t in wanted)).iloc[0]
            n = int(got["n"])
            for t in wanted:
                if not n:
                    continue
                hit = int(got[t])
                rate = hit / n
                if header == len(result.lines):
                    result.lines.append(f"\ncustomer_id match rates (the distinct ids in each source's first "
                                        f"{CHECK_ROWS:,} rows, a sample of a larger source, looked up in every row of "
                                        "the customers table and the orders):")
                result.lines.append(f"  {spec.name} -> {t}: {rate:.1%} ({hit:,} of {n:,} distinct ids in "
                                    f"{source.sample})")
                if t == "customers" and rate < params.readiness.min_customer_match:
                    result.problems.append(Problem(
                        f"{where}, column {spec.columns.get('customer_id')!r}",
                        f"only {rate:.1%} of its customer ids are in the customers table "
                        f"(readiness.min_customer_match {params.readiness.min_customer_match:.0%}; sampled: "
                        f"{n:,} distinct ids in {source.sample}); e.g. "
                        f"{got[f'{t}_missing']!r} is not — same id spelling in both exports?"))


def _groups(con, params: Params, mapped: dict, result: CheckResult) -> None:
    """Campaign group labels that are neither control nor treatment labels (every row counted,
    exclude rules applied, one scan of the two columns). The rule
    is notebook 06's (helpers.campaigns._role and resolve_roles: trimmed, case-insensitive; a
    campaign with a control and exactly one other, unknown label reads it as its treatment),
    restated here so a check does not import the statistics stack."""
    cfg = params.campaigns
    control = {str(v).strip().lower() for v in cfg.control_labels}
    treatment = {str(v).strip().lower() for v in cfg.treatment_labels}
    for source in mapped.get("campaigns", []):
        spec, where = source.spec, source.where
        rows = _rows(source, ["campaign_id", "group"], params)
        arms = _scan(con, source, f'SELECT campaign_id, "group", count(*) AS n FROM ({rows}) GROUP BY 1, 2', result)
        if arms is None:
            continue
        arms = arms.sort_values(["campaign_id", "group"], na_position="first").reset_index(drop=True)
        arms["n"] = arms["n"].astype(int)
        g = arms["group"].fillna("").str.strip().str.lower()
        arms["role"] = ["control" if v in control else "treatment" if v in treatment else "unknown" for v in g]
        for _c, a in arms.groupby("campaign_id", sort=False):
            others = a[a["role"] != "control"]
            if (a["role"] == "control").any() and len(others) == 1 and (others["role"] == "unknown").all():
                arms.loc[others.index, "role"] = "treatment"
        result.lines.append(f"\ncampaigns: {spec.name}: " + "; ".join(
            f"{c}: " + ", ".join(f"{r.group} ({r.role}, {r.n:,})" for r in a.itertuples())
            for c, a in arms.groupby("campaign_id", sort=False)))
        for r in arms[arms["role"] == "unknown"].itertuples():
            result.problems.append(Problem(
                f"{where}, column {spec.columns.get('group')!r}",
                f"campaign {r.campaign_id!r}: group label {r.group!r} ({r.n:,} rows) is neither a control nor a "
                "treatment label: notebook 06 stops that campaign; add it to campaigns.control_labels or "
                "treatment_labels", blocking=False))
