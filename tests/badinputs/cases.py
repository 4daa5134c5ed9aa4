"""The bad-input corpus: each case copies the clean base brand and breaks ONE thing.

Each case states the outcome an analyst should get, one of:
- ``error``: a clear message naming the file (or params key), the column or line, an example
  value and the fix — never a deep traceback as the only message;
- ``repair``: a documented repair, counted in the reconciliation or the audit's findings, and
  figures equal to the clean brand's (never a figure that silently differs);
- ``flagged``: the run goes on, but the audit says what is wrong (a warn/fail finding).

``python -m tests.badinputs.cases OUT`` writes every case's files and params into OUT/<case>/,
to try one by hand: ``workbook run --params OUT/<case>/brand.yaml``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tests.badinputs.base import Brand, new_brand, write_all, write_frame


@dataclass(frozen=True)
class Case:
    name: str
    what: str  # the one broken thing, as a user would describe it
    outcome: str  # error | repair | flagged
    mutate: Callable[[Brand], None]
    period: str = "latest"
    expect: tuple[str, ...] = ()  # fragments the message (error) or the findings must contain
    same_figures: bool = False  # repair: revenue, orders and customers equal the clean brand's
    env: tuple[tuple[str, str], ...] = ()
    # where the broken thing shows: 'audit' cases are checked in-process by tests/test_badinputs.py
    # (notebook 01's calls); 'notebooks' cases only in a full run (python -m tests.badinputs.run_all)
    stage: str = "audit"
    said_in_notebooks: tuple[str, ...] = ()  # fragments a full run's executed notebooks must contain


def _orders_as_text(b: Brand, column: str, fmt: Callable, **csv) -> None:
    frame = b.orders.copy()
    frame[column] = frame[column].map(fmt)
    write_frame(frame, b.folder / "orders.csv", **csv)


def _euro(value: float) -> str:  # 1.234,50
    return f"{value:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")


def _break_file(b: Brand, text: Callable[[str], str | bytes]) -> None:
    write_frame(b.orders, b.folder / "orders.csv")
    path = b.folder / "orders.csv"
    new = text(path.read_text(encoding="utf-8"))
    if isinstance(new, bytes):
        path.write_bytes(new)
    else:
        path.write_text(new, encoding="utf-8")


def _set(section: str, key: str, value) -> Callable[[Brand], None]:
    def mutate(b: Brand) -> None:
        b.params.setdefault(section, {})[key] = value
    return mutate


def _orders_param(key: str, value) -> Callable[[Brand], None]:
    def mutate(b: Brand) -> None:
        b.params["sources"]["orders"][0][key] = value
    return mutate


def _both(*steps: Callable[[Brand], None]) -> Callable[[Brand], None]:
    def mutate(b: Brand) -> None:
        for step in steps:
            step(b)
    return mutate


def _future_date(b: Brand) -> None:
    b.orders.loc[[10, 500], "order_time"] = pd.Timestamp("2031-04-03 10:00")


def _placeholder_dates(b: Brand) -> None:
    b.orders.loc[[7], "order_time"] = pd.Timestamp("1970-01-01")
    b.orders.loc[[8], "order_time"] = pd.Timestamp("1900-01-01")


def _id_spelling(fmt: Callable[[int], str], table: str = "orders") -> Callable[[Brand], None]:
    def mutate(b: Brand) -> None:
        frame = getattr(b, table).copy()
        frame["customer_id"] = frame["customer_id"].map(fmt)
        write_frame(frame, b.folder / f"{'campaign' if table == 'campaign' else table}.csv")
    return mutate


def _unparseable_share(share: float) -> Callable[[Brand], None]:
    def mutate(b: Brand) -> None:
        frame = b.orders.copy()
        frame["amount"] = frame["amount"].astype(str)
        frame.loc[frame.index[: int(share * len(frame))], "amount"] = "n/a"
        write_frame(frame, b.folder / "orders.csv")
    return mutate


def _partial_crm(b: Brand) -> None:
    write_frame(b.customers[b.customers["customer_id"] % 10 < 7], b.folder / "customers.csv")


def _last_month_cut(b: Brand) -> None:
    # the export was cut on 2024-12-31 but the feed stalled on the 3rd: December holds a trickle
    dec = b.orders["order_time"] >= pd.Timestamp("2024-12-03")
    keep = ~dec | (b.orders.index % 20 == 0) | (b.orders.index == b.orders.index[-1])
    b.orders = b.orders[keep].reset_index(drop=True)


def _nan_and_inf(b: Brand) -> None:
    frame = b.orders.assign(amount=b.orders["amount"].map("{:.2f}".format))
    frame.loc[[3, 4], "amount"] = ["nan", "inf"]
    write_frame(frame, b.folder / "orders.csv")


def _raw_orders(edit: Callable[[bytes], bytes], **params) -> Callable[[Brand], None]:
    """Write orders.csv as the base brand would, then damage its bytes; set source params."""
    def mutate(b: Brand) -> None:
        path = b.folder / "orders.csv"
        write_frame(b.orders, path)
        path.write_bytes(edit(path.read_bytes()))
        b.params["sources"]["orders"][0].update(params)
    return mutate


def _latin1_names(b: Brand) -> None:
    b.customers["region"] = b.customers["region"].map({"north": "Nordrhein", "south": "Bayern",
                                                       "east": "Sachsen", "west": "Köln-Düren"})
    write_frame(b.customers, b.folder / "customers.csv", encoding="latin-1")
    b.params["sources"]["customers"][0]["encoding"] = "latin-1"


def _no_amount(b: Brand) -> None:
    write_frame(b.orders.drop(columns=["amount"]), b.folder / "orders.csv")
    del b.params["sources"]["orders"][0]["columns"]["amount"]


CASES: tuple[Case, ...] = (
    # ---- dates and periods
    Case("future_dated_orders", "two orders dated 2031 (a typo in the year)", "repair", _future_date,
         expect=("2 orders with an implausible date",)),
    Case("placeholder_dates", "orders dated 1970-01-01 and 1900-01-01 (placeholders)", "repair", _placeholder_dates,
         expect=("2 orders with an implausible date",)),
    Case("period_after_data", "--period long after the data end", "error", lambda b: None, period="2027-05",
         expect=("period 2027-05 starts after the last order", "2024-12-31", "brand.yaml")),
    Case("period_before_data", "--period before the first order", "error", lambda b: None, period="2019-01",
         expect=("period 2019-01 ends before the first order", "2023-01-03")),
    Case("period_not_a_label", "--period written 2024/05", "error", lambda b: None, period="2024/05",
         expect=("'2024/05' is not a month label", "2011-11")),
    Case("last_period_cut_short", "the last month of the export holds a trickle of orders", "repair",
         _last_month_cut, expect=("latest = 2024-11",)),
    # ---- numbers written as text
    Case("decimal_comma", "amounts written 12,50 in a semicolon CSV", "repair",
         lambda b: _orders_as_text(b, "amount", lambda v: f"{v:.2f}".replace(".", ","), sep=";"),
         expect=("decimal comma",), same_figures=True),
    Case("decimal_comma_thousands_point", "amounts written 1.234,50", "repair",
         lambda b: _orders_as_text(b, "amount", _euro, sep=";"), expect=("decimal comma",), same_figures=True),
    Case("thousands_comma", "amounts written 1,234.50 with a currency sign", "repair",
         lambda b: _orders_as_text(b, "amount", lambda v: f"€{v:,.2f}"), expect=("repaired to numbers",),
         same_figures=True),
    Case("mixed_decimal_separators", "half the amounts 12.50, half 12,50", "error",
         lambda b: _orders_as_text(b, "amount", lambda v: f"{v:.2f}" if int(v * 100) % 2 else f"{v:.2f}".replace(".", ",")),
         expect=("both decimal separators", "orders.csv", "decimal: '.' or ','")),
    Case("ambiguous_thousands", "every amount written like 1,234 (a thousand, or 1.234?)", "error",
         lambda b: _orders_as_text(b, "amount", lambda v: f"{int(v * 40):,}"),
         expect=("cannot tell the decimal separator", "orders.csv", "'1,")),
    Case("declared_decimal_comma", "amounts 12,50 with decimal: ',' in the params", "repair",
         _both(lambda b: _orders_as_text(b, "amount", lambda v: f"{v:.2f}".replace(".", ","), sep=";"),
               _orders_param("decimal", ",")), same_figures=True),
    Case("nan_and_inf_amounts", "amounts written nan and inf", "flagged", _nan_and_inf,
         expect=("could not be parsed", "'inf'", "'nan'")),
    # ---- ids
    Case("ids_as_floats", "customer ids written 123.0 in the orders, 123 in the CRM", "repair",
         _id_spelling(lambda v: f"{v}.0"), expect=("written as a spreadsheet float (123.0) were read as 123",),
         same_figures=True),
    Case("ids_with_spaces", "customer ids padded with spaces in the orders", "repair",
         _id_spelling(lambda v: f" {v} "), expect=("had spaces around them trimmed",), same_figures=True),
    Case("campaign_ids_as_floats", "customer ids written 123.0 in the campaign export", "repair",
         _id_spelling(lambda v: f"{v}.0", "campaign"), expect=("read as 123",), same_figures=True),
    # ---- broken files
    Case("truncated_file", "the export stopped mid-row (last line cut)", "error", _raw_orders(lambda d: d[:-25]),
         expect=("orders.csv", "line 1246", "cut short", "on_bad_rows: skip")),
    Case("truncated_file_skipped", "a cut last line, with on_bad_rows: skip", "flagged",
         _raw_orders(lambda d: d[:-25], on_bad_rows="skip"),
         expect=("1 row could not be read as CSV and was skipped", "line 1246")),
    Case("extra_field", "one row with an extra unquoted field", "error",
         _raw_orders(lambda d: d.replace(b"\nSO00100,", b"\nSO00100,x,", 1)),
         expect=("line 101", "expected 6 fields, found 7")),
    Case("unterminated_quote_skipped", "an open quote swallows the rest of the file; skip asked", "flagged",
         _raw_orders(lambda d: d.replace(b"\nSO00100,", b'\nSO00100,"', 1), on_bad_rows="skip"),
         expect=("a quote opens and never closes", "above the 20 % the brand's settings allow")),
    Case("empty_file", "orders.csv has 0 bytes", "error", _raw_orders(lambda d: b""),
         expect=("orders.csv is empty (0 bytes",)),
    Case("header_only", "orders.csv has a header and no rows", "error",
         _raw_orders(lambda d: d.split(b"\n")[0] + b"\n"), expect=("hold no rows", "orders.csv")),
    Case("bad_byte", "one byte 0xff in a UTF-8 file", "error", _raw_orders(lambda d: d[:5000] + b"\xff" + d[5000:]),
         expect=("orders.csv: line 97", "neither UTF-8 nor GB18030", "encoding:")),
    Case("utf16_file", "orders saved as UTF-16 (Excel's 'Unicode text')", "repair",
         _raw_orders(lambda d: d.decode().encode("utf-16")), same_figures=True),
    Case("latin1_file", "the CRM export in Latin-1, declared in the params", "repair", _latin1_names,
         same_figures=True),
    Case("blank_lines", "blank lines inside the orders", "repair",
         _raw_orders(lambda d: d.replace(b"\nSO00100,", b"\n\n\nSO00100,", 1)), same_figures=True),
    Case("semicolon_csv", "orders delimited by semicolons", "repair",
         lambda b: write_frame(b.orders, b.folder / "orders.csv", sep=";"), same_figures=True),
    Case("tab_separated", "orders delimited by tabs", "repair",
         lambda b: write_frame(b.orders, b.folder / "orders.csv", sep="\t"), same_figures=True),
    Case("crlf_line_ends", "Windows line ends", "repair",
         _raw_orders(lambda d: d.replace(b"\n", b"\r\n")), same_figures=True),
    Case("missing_mapped_column", "the params map a column the file does not have", "error",
         _orders_param("columns", {"order_id": "order_id", "customer_id": "member_id", "order_ts": "order_time",
                                   "amount": "amount"}),
         expect=("columns.customer_id", "'member_id' not found", "orders.csv")),
    # ---- thresholds
    Case("many_unparseable_rows", "30 % of the amounts are 'n/a'", "flagged", _unparseable_share(0.3),
         expect=("above the 20 % the brand's settings allow",)),
    Case("partial_crm_export", "the CRM export holds 70 % of the customers", "flagged", _partial_crm,
         expect=("below the 80 % the brand's settings require",)),
    # ---- optional columns
    Case("no_amount_column", "orders without any amount column (loyalty-card visits)", "repair", _no_amount,
         expect=("This brand's orders carry no amount",)),
    Case("partial_crm_threshold_lowered", "a partial CRM export, with the match threshold lowered", "flagged",
         _both(_partial_crm, _set("readiness", "min_customer_match", 0.6)), expect=("% of rows match",)),
)


def _one_time_buyers(b: Brand) -> None:
    b.orders = b.orders.drop_duplicates("customer_id").reset_index(drop=True)


def _campaign(**changes) -> Callable[[Brand], None]:
    def mutate(b: Brand) -> None:
        frame = b.campaign.copy()
        for column, value in changes.items():
            if value is None:
                frame = frame.drop(columns=[column])
                b.params["sources"]["campaigns"][0]["columns"].pop(column, None)
            else:
                frame[column] = value(frame) if callable(value) else value
        write_frame(frame, b.folder / "campaign.csv")
    return mutate


def _drop_order_column(column: str) -> Callable[[Brand], None]:
    def mutate(b: Brand) -> None:
        b.orders = b.orders.drop(columns=[column])
        del b.params["sources"]["orders"][0]["columns"][column]
    return mutate


def _no_source(kind: str) -> Callable[[Brand], None]:
    def mutate(b: Brand) -> None:
        del b.params["sources"][kind]
    return mutate


def _short_history(b: Brand) -> None:
    # a brand that started selling seven weeks before the period end: 50 days of orders
    b.orders = b.orders[b.orders["order_time"] >= pd.Timestamp("2024-11-12")].reset_index(drop=True)
    b.campaign["contact_ts"] = "2024-11-25 10:00:00"


CASES += (
    Case("no_status_in_audit", "no status column: the audit says what cannot be cleaned", "repair",
         _drop_order_column("status"), expect=("no status column is mapped",), same_figures=True),
)


NOTEBOOK_CASES: tuple[Case, ...] = (
    Case("no_repeat_buyers", "no customer ever bought twice", "flagged", _one_time_buyers, stage="notebooks",
         said_in_notebooks=("bought on two or more days", "a repeat-purchase model has nothing to learn from",
                            "CLV reliability: not computed", "No tiers, no budget split, no contact lists")),
    Case("campaign_without_cost", "the campaign export has no cost column", "repair", _campaign(cost=None),
         stage="notebooks", said_in_notebooks=("cost",)),
    Case("campaign_ctrl_label", "the control group is labelled CTRL", "repair",
         _campaign(group=lambda f: f["group"].map({"control": "CTRL", "treatment": "treatment"})),
         stage="notebooks"),
    Case("campaign_unknown_label", "a group label nobody mapped (Kontrolle)", "flagged",
         _campaign(group=lambda f: f["group"].map({"control": "Kontrolle", "treatment": "treatment"})),
         stage="notebooks", said_in_notebooks=("Kontrolle",)),
    Case("campaign_ids_numeric", "campaign ids 1, 2, 10 (sorted as text before)", "repair",
         _campaign(campaign_id=lambda f: [(1, 2, 10)[i % 3] for i in range(len(f))]), stage="notebooks"),
    # ---- ordinary shapes of a brand's data: an optional column or source missing, a short history
    Case("no_status_column", "the orders carry no status column (every row a completed order)", "repair",
         _drop_order_column("status"), stage="notebooks", said_in_notebooks=("No order status",)),
    Case("no_channel_column", "the orders carry no channel column", "repair", _drop_order_column("channel"),
         stage="notebooks", said_in_notebooks=("Not split by channel", "no data on order channel")),
    Case("no_customers_source", "no CRM export at all (no customers source in the params)", "repair",
         _no_source("customers"), stage="notebooks",
         said_in_notebooks=("no customers table: the sections that need it are skipped",)),
    Case("no_campaigns_source", "no campaign export at all (no campaigns source in the params)", "repair",
         _no_source("campaigns"), stage="notebooks",
         said_in_notebooks=("has no campaigns table, so there is no campaign to review",)),
    Case("campaign_window_open", "a campaign contacted 10 days before the period end (its 30-day window is open)",
         "flagged", _campaign(contact_ts="2024-12-21 10:00:00"), stage="notebooks",
         said_in_notebooks=("is too early to read", "no campaign without a control group is read this period")),
    Case("short_history", "50 days of orders (readiness: not ready)", "flagged", _short_history, stage="notebooks",
         said_in_notebooks=("Readiness for lifecycle and customer-value models: not ready", "finds the data not ready for CLV models",
                            "too short to test the forecast", "cannot be checked against a past year")),
    Case("campaign_without_control", "a campaign with a treatment group only (no control)", "flagged",
         _campaign(group="treatment"), stage="notebooks",
         said_in_notebooks=("Observational, not a causal lift", "notebook 06 cannot measure its effect")),
)


def by_name(name: str) -> Case:
    return next(case for case in CASES + NOTEBOOK_CASES if case.name == name)


def build(case: Case, folder: Path) -> Brand:
    brand = new_brand(folder)
    case.mutate(brand)
    write_all(brand)
    return brand


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "badinputs")
    for case in CASES + NOTEBOOK_CASES:
        build(case, out / case.name)
        print(f"{out / case.name}: {case.what} ({case.outcome})")
