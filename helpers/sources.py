"""Sources: read each brand's files or SQL tables into the canonical tables, in the engine.

Every transaction-level step here is an Ibis expression: DuckDB runs it in-process by default,
another backend runs it when the params give an engine URL (DESIGN §3). Nothing here pulls
transactions into pandas.

For each source the params map canonical columns (order_id, customer_id, ...) to the source's
own columns (often Chinese: 会员ID, 实付金额) or to a SQL expression over them. Values are parsed
defensively: a value that cannot be parsed becomes NULL and the row is marked in ``_parse_error``
with the canonical column's name, so the audit can count and show it instead of a library
traceback. Money written as text ("¥1,234.50") is repaired and the row is marked in
``_repaired``.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd

from helpers import config
from helpers.config import (
    DATA_DIR,
    Params,
    ParamsError,
    SourceSpec,
    SqlExpr,
    atomic_write,
    atomic_write_text,
    canonical_columns,
    params_file,
    redact,
    resolve_path,
    resolve_secrets,
)

KINDS = ("orders", "customers", "interactions", "campaigns")
CACHE_DIR = DATA_DIR / "cache"

# Hidden bookkeeping columns carried next to the canonical ones (dropped from clean views).
META = {"_source": "string", "_parse_error": "string", "_bad_value": "string", "_repaired": "string", "_excluded": "string"}


class SourceError(ValueError):
    """A source cannot be read as the params describe; the message names file, column, row."""


# ---------------------------------------------------------------- connection


def connect(params: Params):
    """Open the Ibis backend the params name (DuckDB in-process by default).

    The URL may hold ${ENV_VAR} placeholders; they are resolved here, at the last moment, and
    never stored on an object that a notebook would print."""
    url = params.engine.url
    if url in ("duckdb://", "duckdb", ""):
        con = ibis.duckdb.connect()
        con.raw_sql("SET preserve_insertion_order = true")
        # A bounded memory budget, spilling to disk beyond it: a run of ten million orders must fit
        # beside the kernel's own frames on an analyst's machine (WORKBOOK_ENGINE_MEMORY overrides).
        memory = os.environ.get("WORKBOOK_ENGINE_MEMORY", "2GB")
        if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", memory.strip(), flags=re.IGNORECASE):
            raise SourceError(f"WORKBOOK_ENGINE_MEMORY={memory!r}: give a size such as 2GB or 1500MB")
        con.raw_sql(f"SET memory_limit = '{memory.strip()}'")
        spill = Path(tempfile.gettempdir()) / f"workbook-duckdb-{os.getpid()}"
        con.raw_sql(f"SET temp_directory = {_sql_str(str(spill))}")
        return con
    try:
        return ibis.connect(resolve_secrets(url, where=f"{params_file(params)}: engine.url"))
    except ParamsError:
        raise
    except Exception as exc:  # the backend's own error may echo the URL with its password
        raise SourceError(
            f"{params_file(params)}: engine.url: cannot connect ({type(exc).__name__}: "
            f"{redact(str(exc))})"
        ) from None


def is_duckdb(con) -> bool:
    return getattr(con, "name", "") == "duckdb"


# ---------------------------------------------------------------- reading raw sources


def detect_encoding(path: Path, where: str = "") -> str:
    """'utf-8-sig', 'utf-16', 'utf-8' or 'gb18030' (a superset of GBK), by decoding the whole file.

    The whole file is checked in chunks with an incremental decoder: Chinese text may first
    appear deep inside a file whose first megabytes are ASCII. A file that is UTF-8 except for
    a few bytes (a damaged byte, a Latin-1 'é' pasted in) is not silently read as GB18030
    mojibake: the error names the line, the byte and the fix. The answer is cached by the
    file's size and mtime: a large export is decoded once, not on every read or check."""
    cache = _cache_path(path, ".encoding")
    if cache.exists():
        return cache.read_text(encoding="utf-8").strip()
    found = _decode_whole(path, where)
    atomic_write_text(cache, found)
    return found


def _decode_whole(path: Path, where: str) -> str:
    with open(path, "rb") as fh:
        head = fh.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        offset = 0
        try:
            while chunk := fh.read(1 << 22):
                decoder.decode(chunk)
                offset += len(chunk)
            decoder.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError as exc:
            bad_at = offset + exc.start
    # Not UTF-8. GB18030 is the other encoding Chinese exports use; it must decode everything.
    # The engine reads UTF-8 only, so the decoded text is written as the file's UTF-8 copy on the
    # way (what utf8_copy would write, in the same pass: the file is decoded once, not twice).
    def transcode(tmp: Path) -> None:
        with open(path, encoding="gb18030", newline="") as src, open(tmp, "w", encoding="utf-8", newline="") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)

    try:
        atomic_write(_cache_path(path, ".utf8.csv"), transcode)
        return "gb18030"
    except UnicodeDecodeError:
        pass
    with open(path, "rb") as fh:
        before = fh.read(bad_at)
        context = fh.read(40)
    line = before.count(b"\n") + 1
    shown = (before[before.rfind(b"\n") + 1:][-40:] + context.split(b"\n")[0])
    raise SourceError(
        f"{where + ': ' if where else ''}{path.name}: line {line} (byte {bad_at:,}) is neither UTF-8 nor GB18030: "
        f"{shown!r}. If the whole file is in another encoding set `encoding:` on the source (utf-8, gbk, gb18030, "
        "utf-16, latin-1, cp1252); if one value is damaged, fix that line in the export.")


def _cache_path(path: Path, suffix: str) -> Path:
    st = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    return CACHE_DIR / f"{path.stem}-{key}{suffix}"


def utf8_copy(path: Path, encoding: str) -> Path:
    """DuckDB reads UTF-8 only (its encodings extension needs a download); a GBK export is
    transcoded once, streaming, into a cached UTF-8 copy keyed by the file's size and mtime."""
    target = _cache_path(path, ".utf8.csv")
    if target.exists():
        return target

    def write(tmp: Path) -> None:
        with open(path, encoding=encoding, newline="") as src, open(
            tmp, "w", encoding="utf-8", newline=""
        ) as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)

    return atomic_write(target, write)


def excel_copy(path: Path, sheet: str | None) -> Path:
    """Excel sheets are bounded (~1M rows); read once with openpyxl and cache as Parquet so the
    engine, not pandas, does everything after."""
    target = _cache_path(path, f".{sheet or 'first'}.parquet")
    if target.exists():
        return target
    frame = pd.read_excel(path, sheet_name=sheet or 0, dtype=str)
    return atomic_write(target, lambda tmp: frame.to_parquet(tmp, index=False))


def _sql_str(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _file_format(spec: SourceSpec, path: Path) -> str:
    if spec.format != "auto":
        return spec.format
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix in (".gz",) else path.suffix.lower()
    return {
        ".csv": "csv",
        ".csv.gz": "csv",
        ".txt": "csv",
        ".tsv": "csv",
        ".parquet": "parquet",
        ".pq": "parquet",
        ".xlsx": "excel",
        ".xls": "excel",
    }.get(suffix, "csv")


def source_location(spec: SourceSpec, params: Params) -> str:
    if spec.path:
        return str(resolve_path(spec.path, params))
    return f"table {spec.table}" if spec.table else "SQL query"


def read_raw(con, spec: SourceSpec, params: Params) -> ir.Table:
    """The source exactly as stored (CSV columns as text, so parsing is ours and counted)."""
    where = f"{params_file(params)}: source {spec.name!r}"
    if spec.format == "table":
        try:
            return con.table(spec.table)
        except Exception as exc:
            raise SourceError(f"{where}: table {spec.table!r} not found ({type(exc).__name__}: {exc})") from None
    if spec.format == "query":
        try:
            return con.sql(spec.query)
        except Exception as exc:
            raise SourceError(f"{where}: query failed ({type(exc).__name__}: {exc})") from None

    path = resolve_path(spec.path, params)
    if not path.exists():
        raise SourceError(f"{where}: file not found: {path} (sources.*.path is relative to the project root)")
    if not is_duckdb(con):
        raise SourceError(f"{where}: file sources need the DuckDB engine; load {path.name} into the warehouse or use format 'table'")
    fmt = _file_format(spec, path)
    name = f"raw_{spec.name}"
    try:
        if fmt == "parquet":
            return con.read_parquet(path, table_name=name)
        if fmt == "excel":
            return con.read_parquet(excel_copy(path, spec.sheet), table_name=name)
        if fmt == "whitespace":
            return _read_whitespace(con, path, name)
        encoding = detect_encoding(path, where) if spec.encoding == "auto" else spec.encoding
        shown = path
        if encoding not in ("utf-8", "utf-8-sig"):
            path = utf8_copy(path, encoding)
        layout = sniff_csv(path, where, shown)
        check = check_csv(con, path, layout)
        if check.unreadable and spec.on_bad_rows == "fail":
            raise SourceError(f"{where}: {check.describe(shown.name)}. Fix the export, or set `on_bad_rows: skip` on "
                              "the source to leave these rows out (they are counted in the reconciliation).")
        _CSV_CHECKS[str(shown)] = check
        return con.sql(f"SELECT * FROM {csv_sql(path, layout)}")
    except SourceError:
        raise
    except Exception as exc:
        raise SourceError(f"{where}: cannot read {path} as {fmt} ({type(exc).__name__}: {exc})") from None


@dataclass
class CsvLayout:
    """How a CSV file is laid out: found from its first lines, then given to the engine
    explicitly (the engine's own sniffer gives up on a file with one damaged row)."""

    delimiter: str
    header: list[str]


def sniff_csv(path: Path, where: str, shown: Path | None = None) -> CsvLayout:
    """The delimiter (the one of , ; tab | that splits the first lines into the same number of
    fields, most of them) and the header line of a UTF-8 CSV file."""
    shown = shown or path
    with open(path, encoding="utf-8-sig", newline="") as fh:
        sample = fh.read(1 << 16)
    lines = [line for line in sample.splitlines() if line.strip()][:50]
    if not lines:
        size = path.stat().st_size
        raise SourceError(f"{where}: {shown.name} is empty ({size:,} bytes, no header line): the export wrote nothing; "
                          "export it again")
    if len(sample) == 1 << 16 and len(lines) > 1:
        lines = lines[:-1]  # the sample may end inside a line
    best = (",", 1, 0)  # delimiter, fields, lines agreeing
    for delimiter in (",", ";", "\t", "|"):
        counts = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
        fields = max(set(counts), key=counts.count)
        agreeing = counts.count(fields)
        if fields > 1 and (agreeing, fields) > (best[2], best[1]):
            best = (delimiter, fields, agreeing)
    header = next(csv.reader(lines[:1], delimiter=best[0]))
    names: list[str] = []
    for i, name in enumerate(header):  # blank or repeated names would break the engine's columns
        name = name.strip() or f"column{i}"
        names.append(name if name not in names else f"{name}_{i}")
    header = names
    return CsvLayout(delimiter=best[0], header=header)


def csv_sql(path: Path, layout: CsvLayout, rejects: str | None = None) -> str:
    """read_csv with the layout spelled out: every column as text (parsing is ours, counted),
    strict about quotes and field counts, and rows that break them left out (counted by
    :func:`check_csv` first)."""
    columns = "{" + ", ".join(f"{_sql_str(name)}: 'VARCHAR'" for name in layout.header) + "}"
    keep = f", store_rejects=true, rejects_table='{rejects}', rejects_scan='{rejects}_scan'" if rejects else ""
    return (f"read_csv({_sql_str(path)}, header=true, columns={columns}, delim={_sql_str(layout.delimiter)}, "
            f"quote='\"', escape='\"', auto_detect=false, strict_mode=true, ignore_errors=true{keep})")


@dataclass
class CsvCheck:
    """Rows of a CSV file the engine could not read, and examples (line, problem, text)."""

    rows_read: int
    unreadable: int
    examples: list[tuple[int, str, str]] = field(default_factory=list)
    truncated: bool = False  # the last line is cut short (no final newline, too few fields)

    def describe(self, file: str) -> str:
        shown = "; ".join(f"line {line}: {problem} ({text!r})" for line, problem, text in self.examples[:3])
        cut = " — the file looks cut short (its last line is incomplete)" if self.truncated else ""
        return f"{file}: {self.unreadable:,} row(s) cannot be read as CSV{cut} — {shown}"


_CSV_CHECKS: dict[str, CsvCheck] = {}


def check_csv(con, path: Path, layout: CsvLayout) -> CsvCheck:
    """One scan of the file for rows that break the layout (cached by the file's size and
    mtime: a file is checked once, not once per notebook)."""
    cache = _cache_path(path, ".csvcheck.json")
    if cache.exists():
        stored = json.loads(cache.read_text(encoding="utf-8"))
        if stored.get("layout") == [layout.delimiter, layout.header]:
            return CsvCheck(stored["rows_read"], stored["unreadable"], [tuple(e) for e in stored["examples"]],
                            stored["truncated"])
    table = f"rejects_{os.urandom(6).hex()}"
    duck = con.con  # the DuckDB connection itself: its rejects table is a temporary of this session
    rows_read = int(duck.execute(f"SELECT count(*) FROM {csv_sql(path, layout, table)}").fetchall()[0][0])
    found = duck.execute(f"SELECT line, any_value(error_type), any_value(left(csv_line, 120)), "
                        f"any_value(error_message) FROM {table} GROUP BY line ORDER BY line").fetchall()
    examples, unreadable = [], len(found)
    for line, kind, text, message in found:
        examples.append((int(line), _csv_problem(kind, message), text.split("\n")[0]))
        if kind == "UNQUOTED VALUE":  # an open quote swallows the rest of the file
            with open(path, "rb") as fh:
                lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 22), b""))
            unreadable = max(unreadable, lines - rows_read - 1)
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 1))
        ends_open = fh.read(1) not in (b"\n", b"")
    truncated = bool(found) and ends_open and "missing" in examples[-1][1]
    check = CsvCheck(rows_read, unreadable, examples[:20], truncated)
    atomic_write_text(cache, json.dumps({"layout": [layout.delimiter, layout.header], "rows_read": rows_read,
                                         "unreadable": unreadable, "examples": examples[:20], "truncated": truncated}))
    return check


def _csv_problem(kind: str, message: str) -> str:
    numbers = re.findall(r"\d+", message or "")
    if kind == "MISSING COLUMNS" and len(numbers) >= 2:
        return f"expected {numbers[0]} fields, found {numbers[1]} (fields missing)"
    if kind == "TOO MANY COLUMNS" and len(numbers) >= 2:
        return f"expected {numbers[0]} fields, found {numbers[1]} (a delimiter inside an unquoted value?)"
    if kind == "UNQUOTED VALUE":
        return "a quote opens and never closes; the rest of the file is swallowed"
    return f"{kind.lower()}: {message}"


# A first line made only of such tokens (numbers, dates, times) is data, not a header.
_DATA_TOKEN = re.compile(r"[-+]?[\d.,:/-]+")


def whitespace_header(path: Path, encoding: str = "utf-8") -> tuple[list[str], bool]:
    """(column names, whether line 1 is a header) of a whitespace-separated file. The first line
    is the header (e.g. CDNOW_master.txt) unless every token of it is a number or a date: then the
    file has none (lifetimes' CDNOW_sample.txt) and its columns are named column0, column1, ... as
    DuckDB names a header-less CSV's, so its first row is read as data instead of lost as names."""
    with open(path, encoding=encoding, errors="replace") as fh:
        first = fh.readline().split()
    if not first:
        raise SourceError(f"{path}: empty header line in a whitespace-separated file")
    if all(_DATA_TOKEN.fullmatch(token) for token in first):
        return [f"column{i}" for i in range(len(first))], False
    return first, True


def _read_whitespace(con, path: Path, name: str) -> ir.Table:
    """Whitespace-separated text (:func:`whitespace_header`), split in SQL."""
    header, has_header = whitespace_header(path)
    fields = ", ".join(f'fields[{i + 1}] AS "{col}"' for i, col in enumerate(header))
    return con.sql(
        f"SELECT {fields} FROM (SELECT regexp_split_to_array(trim(line), '\\s+') AS fields "
        f"FROM read_csv({_sql_str(path)}, columns={{'line': 'VARCHAR'}}, header={str(has_header).lower()}, "
        f"delim='\\x01', quote='', escape='') WHERE trim(line) <> '')"
    )


# ---------------------------------------------------------------- mapping to canonical columns

# Currency signs, codes and spaces (also the no-break spaces and apostrophes some locales group
# thousands with) around or inside a number written as text: removed before parsing.
_MONEY_JUNK = "[¥￥$€£\\s\u00a0\u202f']|RMB|CNY|EUR|USD|GBP|元"
# A number's separators, by what they prove: grouped thousands are always three digits.
_DOT_DECIMAL = r"[+-]?(\d{1,3}(,\d{3})+\.\d+|\d*\.(\d{1,2}|\d{4,})|(\d{4,}|0)\.\d+|\d{1,3}(,\d{3}){2,})"
_COMMA_DECIMAL = r"[+-]?(\d{1,3}(\.\d{3})+,\d+|\d*,(\d{1,2}|\d{4,})|(\d{4,}|0),\d+|\d{1,3}(\.\d{3}){2,})"
_AMBIGUOUS = r"[+-]?[1-9]\d{0,2}[.,]\d{3}"  # 1,234 or 1.234: a thousand, or one and a bit
_GROUPED = {".": r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?", ",": r"[+-]?\d{1,3}(\.\d{3})+(,\d+)?"}
_PLAIN = {".": r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", ",": r"[+-]?(\d+,?\d*|,\d+)"}


def _quote(col: str) -> str:
    return '"' + col.replace('"', '""') + '"'


def _raw_expr(spec: SourceSpec, canon: str, raw_schema) -> tuple[str, str | None]:
    """SQL text for a mapped column and the raw column's type (None for expressions)."""
    value = spec.columns[canon]
    if isinstance(value, SqlExpr):
        return f"({value.sql})", None
    return _quote(value), str(raw_schema[value])


def _number_sql(text: str, decimal: str) -> str:
    """A number written as text, read strictly with the given decimal separator: the other
    separator is accepted only where it groups thousands (1,234.50 / 1.234,50), so 12,50 is never
    read as 1250. Anything else, and NaN or infinity, is NULL (a parse failure, counted)."""
    s = f"regexp_replace({text}, {_sql_str(_MONEY_JUNK)}, '', 'g')"
    if decimal == ".":
        grouped, plain = f"replace({s}, ',', '')", s
    else:
        grouped, plain = f"replace(replace({s}, '.', ''), ',', '.')", f"replace({s}, ',', '.')"
    value = (f"CASE WHEN regexp_full_match({s}, '{_GROUPED[decimal]}') THEN TRY_CAST({grouped} AS DOUBLE) "
             f"WHEN regexp_full_match({s}, '{_PLAIN[decimal]}') THEN TRY_CAST({plain} AS DOUBLE) END")
    return f"(CASE WHEN isfinite({value}) THEN {value} END)"


def _lean_text(expr: str) -> str:
    """``NULLIF(trim(CAST(expr AS VARCHAR)), '')``, the same value, without the trim where it can
    change nothing: an ASCII text with no space at either end (trim removes spaces and the Unicode
    spaces, all outside ASCII). Nearly every value is such a text, and the trim is the costly part
    of reading it (the bench brand's 2.4M POS timestamps: 0.50 s of CPU with it, 0.18 s without)."""
    raw = f"CAST({expr} AS VARCHAR)"
    return (f"(CASE WHEN prefix({raw}, ' ') OR suffix({raw}, ' ') OR strlen({raw}) <> length({raw}) "
            f"THEN NULLIF(trim({raw}), '') ELSE NULLIF({raw}, '') END)")


def _parse_sql(expr: str, raw_type: str | None, target: str, ts_format: str | None, decimal: str = ".",
               canon: str = "") -> tuple[str, list[tuple[str, str]]]:
    """(parsed value SQL, [(repair label, SQL true when the value needed that repair)])."""
    is_text = raw_type is None or raw_type.startswith("string")
    text = f"NULLIF(trim(CAST({expr} AS VARCHAR)), '')"
    if target == "string":
        if raw_type and raw_type.startswith("float"):
            # 17850.0 -> '17850': ids stored as floats (NaN for missing) must not gain a '.0'
            return f"CAST(TRY_CAST({expr} AS BIGINT) AS VARCHAR)", []
        if canon.endswith("_id") and is_text:
            # one id, one spelling in every source: ' 123 ' and '123.0' (a spreadsheet's float) are 123.
            # Only an id that can change is rewritten (empty, a '.', a space at either end, or any
            # non-ASCII character, which covers the Unicode spaces trim removes): the others, nearly
            # all, are kept as they are without the trim and the regular expression (5x faster).
            raw = f"CAST({expr} AS VARCHAR)"
            spelled = (f"{raw} = '' OR contains({raw}, '.') OR prefix({raw}, ' ') OR suffix({raw}, ' ') "
                       f"OR strlen({raw}) <> length({raw})")
            return (f"(CASE WHEN {spelled} THEN regexp_replace({text}, '^([+-]?[0-9]+)\\.0+$', '\\1') ELSE {raw} END)",
                    [(f"{canon}_trimmed", f"(CAST({expr} AS VARCHAR) <> trim(CAST({expr} AS VARCHAR)))"),
                     (f"{canon}_as_float", f"regexp_full_match({text}, '[+-]?[0-9]+\\.0+')")])
        return _lean_text(expr), []
    if target == "timestamp":
        if raw_type and (raw_type.startswith("timestamp") or raw_type.startswith("date")):
            return f"CAST({expr} AS TIMESTAMP)", []
        if ts_format:
            return f"TRY_STRPTIME({_lean_text(expr)}, {_sql_str(ts_format)})", []
        return f"TRY_CAST({_lean_text(expr)} AS TIMESTAMP)", []
    if target in ("money", "float"):
        if not is_text:
            parsed = f"(CASE WHEN isfinite(CAST({expr} AS DOUBLE)) THEN CAST({expr} AS DOUBLE) END)"
        else:
            parsed = _number_sql(text, decimal)
        if target == "money":  # beyond 10^15 is no sale (a corrupted cell): a parse failure, counted
            parsed = f"(CASE WHEN abs({parsed}) < 1e15 THEN {parsed} END)"
        if target == "float" or not is_text:
            return parsed, []
        plain = f"TRY_CAST({text} AS DOUBLE)"
        return parsed, [(f"{canon or 'amount'}_as_text", f"({plain} IS NULL AND {parsed} IS NOT NULL)")]
    if target == "bool":
        if raw_type and raw_type.startswith("boolean"):
            return expr, []
        lowered = f"lower({text})"
        return (
            f"CASE WHEN {lowered} IN ('true','t','1','yes','y','是') THEN TRUE "
            f"WHEN {lowered} IN ('false','f','0','no','n','否') THEN FALSE END",
            [],
        )
    raise ValueError(target)


@dataclass
class NumberFormat:
    """The decimal separator a source's numbers are read with, and the evidence for it."""

    decimal: str
    how: str  # 'params', 'detected' or 'default' (no number shows its separator)
    dot_values: int = 0
    comma_values: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"decimal": self.decimal, "how": self.how, "dot_values": self.dot_values,
                "comma_values": self.comma_values, "examples": self.examples}


DETECT_ROWS = 200_000  # rows sampled from the top of a source to detect its decimal separator


def detect_decimal(raw: ir.Table, spec: SourceSpec, kind: str, params: Params, index: int = 0) -> NumberFormat:
    """Which decimal separator the source's numbers written as text use, from the values.

    A value proves its separator when it cannot be read the other way (12,50; 1.234,50;
    1,234.50; 0.5). Values of both kinds in one source stop the run with examples of each: the
    params must say (``decimal``). No proof at all keeps '.', unless values such as 1,234 could be
    a thousand or one-and-a-bit: that also stops, since guessing would be silently wrong 1000-fold."""
    if spec.decimal != "auto":
        return NumberFormat(spec.decimal, "params")
    _check_columns(raw, spec, kind, params, index)
    schema = raw.schema()
    targets = canonical_columns(kind)
    exprs = []
    for canon, target in targets.items():
        if target in ("money", "float") and canon in spec.columns:
            expr, raw_type = _raw_expr(spec, canon, schema)
            if raw_type is None or raw_type.startswith("string"):
                exprs.append((canon, expr))
    if not exprs:
        return NumberFormat(".", "default")
    alias = f"det_{spec.name}"
    # One pass over the sample: each distinct (column, text) once with its count, cleaned once,
    # then matched against the three patterns (a money column repeats its values many times).
    texts = ", ".join(f"NULLIF(trim(CAST({expr} AS VARCHAR)), '')" for _, expr in exprs)
    names = ", ".join(_sql_str(canon) for canon, _ in exprs)
    hits = " UNION ALL ".join(
        f"SELECT '{label}' AS kind, col, v, n FROM cleaned WHERE regexp_full_match(v, '{pattern}')"
        for label, pattern in (("dot", _DOT_DECIMAL), ("comma", _COMMA_DECIMAL), ("ambiguous", _AMBIGUOUS)))
    query = (f"WITH sample AS (SELECT * FROM {alias} LIMIT {DETECT_ROWS}), "
             f"vals AS (SELECT unnest([{names}]) AS col, unnest([{texts}]) AS text FROM sample), "
             "counted AS MATERIALIZED (SELECT col, text, count(*) AS n FROM vals WHERE text IS NOT NULL GROUP BY col, text), "
             f"cleaned AS MATERIALIZED (SELECT col, regexp_replace(text, {_sql_str(_MONEY_JUNK)}, '', 'g') AS v, n "
             "FROM counted), "
             f"hits AS ({hits}) "
             "SELECT kind, CAST(sum(n) AS BIGINT) AS n, list(DISTINCT col) AS cols, "
             "list_slice(list_sort(list(DISTINCT v)), 1, 3) AS examples FROM hits GROUP BY kind")
    try:
        backend = raw.get_backend()
        if is_duckdb(backend):  # the text as it is: no round trip through the SQL parser of other backends
            found = backend.con.execute(f"WITH {_quote(alias)} AS ({backend.compile(raw)}) SELECT * FROM ({query})").df()
        else:
            found = raw.alias(alias).sql(query, dialect="duckdb").execute()
    except Exception as exc:
        raise SourceError(f"{params_file(params)}: sources.{kind}[{index}] ({spec.name}): cannot read its numbers "
                          f"to detect the decimal separator ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
                          "set decimal: '.' or ',' on the source") from None
    counts = {row.kind: int(row.n) for row in found.itertuples()}
    examples = {row.kind: [str(v) for v in row.examples] for row in found.itertuples()}
    dot, comma, ambiguous = counts.get("dot", 0), counts.get("comma", 0), counts.get("ambiguous", 0)
    where = (f"{params_file(params)}: sources.{kind}[{index}] ({spec.name}, "
             f"{source_location(spec, params)})")
    if dot and comma:
        raise SourceError(
            f"{where}: numbers are written with both decimal separators — {dot:,} value(s) such as "
            f"{', '.join(map(repr, examples['dot']))} read only with a decimal point, {comma:,} such as "
            f"{', '.join(map(repr, examples['comma']))} only with a decimal comma. Set decimal: '.' or ',' on the "
            "source; values written the other way are then counted as unparseable.")
    if not dot and not comma and ambiguous:
        raise SourceError(
            f"{where}: cannot tell the decimal separator — {ambiguous:,} value(s) such as "
            f"{', '.join(map(repr, examples['ambiguous']))} read as thousands with one separator and as "
            "fractions with the other, and no value settles it. Set decimal: '.' (1,234 = one thousand two "
            "hundred and thirty-four) or ',' (1,234 = 1.234) on the source.")
    decimal = "," if comma else "."
    return NumberFormat(decimal, "detected" if (dot or comma) else "default", dot, comma, examples)


def _check_columns(raw: ir.Table, spec: SourceSpec, kind: str, params: Params, index: int) -> None:
    available = list(raw.columns)
    for canon, value in spec.columns.items():
        if isinstance(value, str) and value not in available:
            hint = ""
            if len(available) == 1 and any(sep in available[0] for sep in ",;\t|"):
                hint = (" — the file was read as a single column: rows probably have more fields than the "
                        "header (an unquoted comma inside a value, e.g. 1,234.50)")
            raise SourceError(
                f"{params_file(params)}: sources.{kind}[{index}].columns.{canon}: column {value!r} "
                f"not found in {source_location(spec, params)}; its columns are: {available}{hint}"
            )


def map_source(raw: ir.Table, spec: SourceSpec, kind: str, params: Params, index: int = 0,
               number_format: NumberFormat | None = None) -> ir.Table:
    """Canonical columns (all of the kind's, NULL where unmapped) plus the META columns, for
    every row of the source as read (rows matched by an exclude rule are marked, not removed).
    Numbers written as text are read with ``number_format`` (detected when not given)."""
    _check_columns(raw, spec, kind, params, index)
    decimal = (number_format or detect_decimal(raw, spec, kind, params, index)).decimal
    alias = f"src_{spec.name}"
    query = mapping_sql(spec, kind, raw.schema(), decimal)
    try:
        mapped = raw.alias(alias).sql(query, dialect="duckdb")
    except Exception as exc:
        raise SourceError(
            f"{params_file(params)}: sources.{kind}[{index}] ({spec.name}): the column mapping "
            f"does not run on {source_location(spec, params)}: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0]}"
        ) from None
    # Rows an exclude rule matches stay, marked in _excluded: the audit counts them, and
    # LoadedSource.rows drops them. A line-item source stays at line grain here.
    return mapped


def mapping_sql(spec: SourceSpec, kind: str, schema, decimal: str, columns: list[str] | None = None) -> str:
    """The SELECT over ``src_<name>`` (the raw source) that :func:`map_source` runs: every
    canonical column of the kind, parsed, and the META columns. With ``columns``, only those
    canonical columns and ``_excluded``, parsed the same way (a scan that needs two columns of a
    wide file parses two)."""
    alias = f"src_{spec.name}"
    wanted = canonical_columns(kind)
    if columns is not None:
        wanted = {c: t for c, t in wanted.items() if c in columns}
    selects: list[str] = []
    checks: list[tuple[str, str, str]] = []  # (canonical column, SQL true when parse failed, raw text)
    repairs: list[tuple[str, str]] = []  # (label, SQL true when the value needed that repair)
    sql_types = {"string": "VARCHAR", "timestamp": "TIMESTAMP", "money": "DOUBLE", "float": "DOUBLE", "bool": "BOOLEAN"}
    for canon, target in wanted.items():
        if canon in spec.columns:
            expr, raw_type = _raw_expr(spec, canon, schema)
            parsed, needed = _parse_sql(expr, raw_type, target, spec.timestamp_format, decimal, canon)
            selects.append(f"{parsed} AS {_quote(canon)}")
            if target != "string":
                failed = f"(NULLIF(trim(CAST({expr} AS VARCHAR)), '') IS NOT NULL AND {parsed} IS NULL)"
                checks.append((canon, failed, f"CAST({expr} AS VARCHAR)"))
            repairs += needed
        elif canon in spec.constants:
            literal = spec.constants[canon]
            lit = _sql_str(literal) if isinstance(literal, str) else str(literal).upper() if isinstance(literal, bool) else repr(literal)
            selects.append(f"CAST({lit} AS {sql_types[target]}) AS {_quote(canon)}")
        elif kind == "orders" and canon == "order_id":
            selects.append(
                f"{_sql_str(spec.name)} || '-' || CAST(row_number() OVER () AS VARCHAR) AS order_id"
            )
        else:
            selects.append(f"CAST(NULL AS {sql_types[target]}) AS {_quote(canon)}")
    parse_error = (
        "CASE " + " ".join(f"WHEN {cond} THEN '{canon}'" for canon, cond, _ in checks) + " END"
        if checks
        else "CAST(NULL AS VARCHAR)"
    )
    bad_value = (
        "CASE " + " ".join(f"WHEN {cond} THEN {text}" for _, cond, text in checks) + " END"
        if checks
        else "CAST(NULL AS VARCHAR)"
    )
    # every repair a row needed, comma-separated (NULL: none), so the audit counts each kind
    repaired = (f"NULLIF(concat_ws(',', {', '.join(f'CASE WHEN {cond} THEN {_sql_str(label)} END' for label, cond in repairs)}), '')"
                if repairs else "CAST(NULL AS VARCHAR)")
    excluded = (
        "CASE " + " ".join(f"WHEN COALESCE(({r.where}), FALSE) THEN {_sql_str(r.name)}" for r in spec.exclude) + " END"
        if spec.exclude
        else "CAST(NULL AS VARCHAR)"
    )
    if columns is not None:
        return f"SELECT {', '.join(selects)}, {excluded} AS _excluded FROM {alias}"
    return (
        f"SELECT {', '.join(selects)}, {_sql_str(spec.name)} AS _source, "
        f"{parse_error} AS _parse_error, {bad_value} AS _bad_value, {repaired} AS _repaired, "
        f"{excluded} AS _excluded FROM {alias}"
    )


def lines_to_orders(lines: ir.Table) -> ir.Table:
    """Invoice lines -> one row per order: amounts and quantities summed, the first timestamp,
    and the order's status/customer taken from its lines (they agree within an order)."""
    agg = {
        "customer_id": lines.customer_id.max(),
        "order_ts": lines.order_ts.min(),
        "amount": lines.amount.sum(),
        "quantity": lines.quantity.sum(),
        "discount": lines.discount.sum(),
        "cost": lines.cost.sum(),
        "margin": lines.margin.sum(),
        "delivery_days": lines.delivery_days.max(),
        "_parse_error": lines._parse_error.max(),
        "_bad_value": lines._bad_value.max(),
        "_repaired": lines._repaired.max(),
    }
    for col in ("channel", "store", "region", "coupon_id", "status", "category", "_source", "_excluded"):
        agg[col] = lines[col].max()
    grouped = lines.group_by("order_id").aggregate(**agg)
    return grouped.select(*lines.columns)


@dataclass
class LoadedSource:
    kind: str
    spec: SourceSpec
    all_rows: ir.Table  # canonical rows as read, exclude rules only marked (lines if line items)
    location: str
    read: object = field(default=None, repr=False)  # () -> the raw table, when it is needed
    _raw: ir.Table | None = field(default=None, repr=False)

    raw_columns: dict[str, str] | None = field(default=None, repr=False)  # name -> type, as read
    number_format: NumberFormat | None = None  # how numbers written as text were read
    unreadable: dict | None = None  # CSV rows skipped (on_bad_rows: skip): {"rows": n, "examples": [...]}

    @property
    def raw_schema(self) -> dict[str, str]:
        """The raw columns and their types (kept in the store: no need to open the file again)."""
        if self.raw_columns is None:
            self.raw_columns = {name: str(dtype) for name, dtype in self.raw.schema().items()}
        return self.raw_columns

    @property
    def raw(self) -> ir.Table:
        """The source exactly as stored (read on first use: a run that found the mapped rows in
        its store never opens the raw file again, unless the audit asks about its raw shape)."""
        if self._raw is None:
            self._raw = self.read()
        return self._raw

    @property
    def rows(self) -> ir.Table:
        """Canonical rows without those the source's exclude rules remove."""
        if not self.spec.exclude:
            return self.all_rows
        return self.all_rows.filter(self.all_rows._excluded.isnull())

    @property
    def table(self) -> ir.Table:
        """Canonical table at its natural grain (orders for orders, even if stored as lines)."""
        if self.kind == "orders" and self.spec.line_items:
            return lines_to_orders(self.rows)
        return self.rows

    def excluded(self) -> dict[str, ir.Table]:
        """Canonical rows removed by each of the source's exclude rules (for the reconciliation)."""
        return {rule.name: self.all_rows.filter(self.all_rows._excluded == rule.name) for rule in self.spec.exclude}


@dataclass
class Dataset:
    """All of a brand's sources, mapped; nothing is computed until asked."""

    params: Params
    con: object
    sources: dict[str, list[LoadedSource]] = field(default_factory=dict)

    def has(self, kind: str) -> bool:
        return bool(self.sources.get(kind))

    def table(self, kind: str) -> ir.Table | None:
        """The union of a kind's sources at order grain, canonical + META columns."""
        parts = [s.table for s in self.sources.get(kind, [])]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)


def load(params: Params, con=None, store=None, kinds: tuple[str, ...] = KINDS) -> Dataset:
    """Open every source of the brand and map it to the canonical tables.

    Without a ``store`` everything stays lazy (expressions over the raw files). With one (the
    run's :class:`helpers.engine.TableStore`) each source is read, parsed and mapped once into
    the store, and every later query — in this notebook or a later one — reads the stored rows."""
    con = con if con is not None else connect(params)
    data = Dataset(params=params, con=con)
    if params.demo is not None:
        from helpers import demo

        demo.ensure_demo_data(**{k: v for k, v in params.demo.items() if k in ("n_customers", "seed")})
    for kind in kinds:
        loaded = []
        for i, spec in enumerate(getattr(params.sources, kind)):
            def read(spec=spec):
                return read_raw(con, spec, params)

            source = LoadedSource(kind, spec, None, source_location(spec, params), read=read)
            if store is None or _columnar_file(spec, params):
                source._raw = read()
                source.number_format = detect_decimal(source._raw, spec, kind, params, i)
                source.all_rows = map_source(source._raw, spec, kind, params, i, source.number_format)
                source.unreadable = _unreadable(spec, params)
            else:
                key = f"source_{kind}_{_file_safe(spec.name)}"
                source.all_rows = store.get(key)
                if source.all_rows is None:
                    source._raw = read()
                    source.number_format = detect_decimal(source._raw, spec, kind, params, i)
                    source.all_rows = store.put(key, map_source(source._raw, spec, kind, params, i,
                                                                source.number_format))
                    store.set_meta(f"raw_schema/{key}", source.raw_schema)
                    store.set_meta(f"number_format/{key}", source.number_format.as_dict())
                    store.set_meta(f"unreadable/{key}", _unreadable(spec, params))
                source.unreadable = store.meta(f"unreadable/{key}")
                source.raw_columns = store.meta(f"raw_schema/{key}") or source.raw_columns
                stored = store.meta(f"number_format/{key}")
                if stored and source.number_format is None:
                    source.number_format = NumberFormat(**stored)
            loaded.append(source)
        data.sources[kind] = loaded
    return data


def _unreadable(spec: SourceSpec, params: Params) -> dict | None:
    """The CSV rows read_raw left out of this source (on_bad_rows: skip), or None."""
    check = _CSV_CHECKS.get(str(resolve_path(spec.path, params))) if spec.path else None
    if check is None or not check.unreadable:
        return None
    return {"rows": check.unreadable, "examples": [list(e) for e in check.examples[:3]],
            "truncated": check.truncated}


def _columnar_file(spec: SourceSpec, params: Params) -> bool:
    """A Parquet file is read column by column at the speed of the store's own copy: mapping it
    again per query costs nothing a copy would save (its clean orders are stored all the same)."""
    return bool(spec.path) and _file_format(spec, resolve_path(spec.path, params)) == "parquet"


def _file_safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def plausible_date(ts: ir.TimestampValue, params: Params) -> ir.BooleanValue:
    """True for a timestamp that can be a real order's: not before ``cleaning.earliest_order_date``
    (placeholders such as 1970-01-01) and not after the run date (typos such as 2031). NULL
    timestamps are not plausible."""
    earliest = pd.Timestamp(params.cleaning.earliest_order_date)
    tomorrow = config.run_date() + pd.Timedelta(days=1)
    return ((ts >= earliest) & (ts < tomorrow)).fill_null(False)


@dataclass
class DataRange:
    """What 'latest' and a period check need: plausible order dates and orders per period."""

    first: pd.Timestamp
    last: pd.Timestamp
    volume: pd.Series  # orders per period start, plausible dates only
    implausible: int  # order rows dated before the earliest plausible date or after the run date


def data_range(params: Params) -> DataRange:
    """One grouped pass over the order sources: orders per period, plausible dates only."""
    data = load(params, kinds=("orders",))  # the other tables are not opened (or sniffed) for this
    orders = data.table("orders")
    ok = plausible_date(orders.order_ts, params)
    unit = {"month": "M", "quarter": "Q", "week": "W"}[params.period]
    per_period = (orders.filter(ok).group_by(start=orders.order_ts.truncate(unit))
                  .aggregate(n=ibis._.count(), first=ibis._.order_ts.min(), last=ibis._.order_ts.max())
                  .execute())
    implausible = int(orders.filter(~ok & orders.order_ts.notnull()).count().execute())
    if per_period.empty:
        empty = [s.location.rsplit("/", 1)[-1] for s in data.sources["orders"] if s.table.count().execute() == 0]
        if empty:
            raise SourceError(f"{params_file(params)}: the order source(s) {', '.join(empty)} hold no rows (a header "
                              "line only?): the export wrote nothing; export it again")
        hint = f" ({implausible:,} order rows have implausible dates)" if implausible else ""
        raise SourceError(f"{params_file(params)}: no order has a parseable, plausible order_ts{hint}")
    volume = per_period.set_index(pd.to_datetime(per_period["start"]))["n"].sort_index()
    return DataRange(first=pd.Timestamp(per_period["first"].min()), last=pd.Timestamp(per_period["last"].max()),
                     volume=volume, implausible=implausible)


def order_date_range(params: Params) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last plausible order timestamp over all order sources."""
    found = data_range(params)
    return found.first, found.last


def latest_period(params: Params, found: DataRange | None = None) -> tuple[str, str]:
    """The period 'latest' means for this brand, and a note when a cut-short period was skipped."""
    found = found or data_range(params)
    return config.choose_latest_period(found.volume, found.last, params.period, config.run_date())


def check_period(params: Params, label: str, found: DataRange | None = None) -> None:
    """Refuse a period the data do not reach: before the first order or after the last one."""
    found = found or data_range(params)
    start, end = config.period_start(label, params.period), config.period_end(label, params.period)
    span = f"the orders run from {found.first:%Y-%m-%d} to {found.last:%Y-%m-%d}"
    if end < found.first:
        raise SourceError(f"{params_file(params)}: period {label} ends before the first order: {span}; "
                          "choose a period in that range or 'latest'")
    if start > found.last:
        raise SourceError(f"{params_file(params)}: period {label} starts after the last order: {span}; "
                          "choose a period in that range or 'latest'")
