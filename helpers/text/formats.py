"""Numbers, money, shares, changes, intervals and dates, written per language.

The one place that decides how a figure reads on the stakeholder pages:

============  =====================  ======================
              en                     zh
============  =====================  ======================
count         23,570                 23,570 / 275.5万
money         USD 1.2M, USD 180.6k   ¥1.2万, ¥1.5亿, £794.8万
share         12.3 %                 12.3%
change, rate  +2.1 pp                +2.1个百分点
change, sum   +7.0 %                 +7.0%
ROI           513 %                  513%
interval      27.5 % to 30.8 % (95 % interval)   95%区间：27.5%至30.8%
month         June 2025              2025年6月
============  =====================  ======================

A rate's change is in percentage points (pp), a count's or a sum's in per cent of the earlier
value: the two are never mixed. A figure that rounds to zero carries no sign (never "−0").
Words and patterns come from the language's catalogue (``fmt.*``); the rules for digits,
magnitudes and currency symbols are here.
"""

from __future__ import annotations

import math
import numbers
import re
from datetime import date, datetime

import numpy as np

from helpers.text import Text

MINUS = "\u2212"  # a real minus sign: "−7.3 pp", never a hyphen
# Magnitude steps of each language: (from, divisor, suffix), largest first; below the last, digits.
MAGNITUDES = {"en": ((1e9, 1e9, "B"), (1e6, 1e6, "M"), (1e4, 1e3, "k")),
              "zh": ((1e8, 1e8, "亿"), (1e4, 1e4, "万"))}
# Below this a count is written in full (23,570); above it, with the language's magnitudes.
COUNT_SCALE_FROM = {"en": 1e7, "zh": 1e5}
# Currency codes a Chinese reader knows by symbol; others are written after the number.
ZH_SYMBOLS = {"CNY": "¥", "RMB": "¥", "¥": "¥", "￥": "¥", "元": "¥", "USD": "US$", "$": "US$",
              "GBP": "£", "£": "£", "EUR": "€", "€": "€", "HKD": "HK$", "JPY": "JP¥"}
MONTH_KEYS = tuple(f"fmt.month_name.m{m:02d}" for m in range(1, 13))
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def is_number(x) -> bool:
    """A finite real number, Python's or NumPy's (a count read from a frame is numpy.int64); not
    a bool, not NaN or infinite."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool | np.bool_) and math.isfinite(x)


class Formats:
    """Formatting for one language and one currency (params business.currency; '' = unspecified)."""

    def __init__(self, text: Text, currency: str = ""):
        self.t = text
        self.language = text.language
        self.currency = (currency or "").strip()

    # ------------------------------------------------------------ plain numbers

    def _digits(self, magnitude: float, decimals: int) -> str:
        return f"{magnitude:,.{decimals}f}"

    def _signed(self, x: float, body: str, plus: bool) -> str:
        """The sign of x before ``body`` (already rounded digits): none when they are all zero."""
        if not any(ch in "123456789" for ch in body):
            return body
        if x < 0:
            return MINUS + body
        return ("+" + body) if plus else body

    def number(self, x, decimals: int = 0, plus: bool = False) -> str:
        if not is_number(x):
            return self.t("fmt.not_available")
        return self._signed(x, self._digits(abs(x), decimals), plus)

    def _scaled(self, magnitude: float, small_decimals: int) -> str:
        """A positive magnitude with the language's steps (12.3k, 1.2万), one decimal; below the
        smallest step in full with ``small_decimals``."""
        if magnitude < 0.005:  # 2e-11 left by an optimiser is nothing spent
            return "0"
        steps = MAGNITUDES[self.language]
        for i, (start, div, suffix) in enumerate(steps):
            if magnitude >= start:
                value = round(magnitude / div, 1)
                if i > 0 and value >= steps[i - 1][1] / div:  # 9,999.96万 -> 1亿, not 10000万
                    value, suffix = round(magnitude / steps[i - 1][1], 1), steps[i - 1][2]
                return f"{value:,.1f}{suffix}"
        return self._digits(magnitude, small_decimals)

    def count(self, n, plus: bool = False) -> str:
        """Customers, orders: 23,570 (zh from 100,000: 275.5万)."""
        if not is_number(n):
            return self.t("fmt.not_available")
        a = abs(n)
        body = self._scaled(a, 0) if a >= COUNT_SCALE_FROM[self.language] else self._digits(a, 0)
        return self._signed(n, body, plus)

    # ------------------------------------------------------------ money

    def money(self, x, plus: bool = False) -> str:
        """USD 1.2M / ¥1.2万; digits alone when the currency is unspecified (the page says so)."""
        if not is_number(x):
            return self.t("fmt.not_available")
        a = abs(x)
        body = self._scaled(a, 0 if a >= 100 else 2)
        code = self.currency
        if not code:
            unit = body
        elif self.language == "zh":
            symbol = ZH_SYMBOLS.get(code.upper(), ZH_SYMBOLS.get(code))
            unit = f"{symbol}{body}" if symbol else f"{body} {code}"
        else:
            unit = f"{code} {body}" if code.isalpha() else f"{code}{body}"
        return self._signed(x, unit, plus)

    def currency_label(self) -> str:
        return self.currency or self.t("fmt.unspecified_currency")

    # ------------------------------------------------------------ shares and changes

    def share(self, p, decimals: int = 1, plus: bool = False) -> str:
        """A share 0..1 as a per cent: 12.3 % / 12.3%."""
        if not is_number(p):
            return self.t("fmt.not_available")
        return self.t("fmt.percent", value=self.number(100 * p, decimals, plus))

    def pp(self, diff, decimals: int = 1) -> str:
        """A difference of two rates (0..1), in percentage points: +2.1 pp / +2.1个百分点."""
        if not is_number(diff):
            return self.t("fmt.not_available")
        return self.t("fmt.pp", value=self.number(100 * diff, decimals, plus=True))

    def relative(self, now, then, decimals: int = 1) -> str | None:
        """The change of a count or a sum in per cent of the earlier value (+7.0 %); None when
        the earlier value is zero or missing."""
        if not (is_number(now) and is_number(then)) or then == 0:
            return None
        return self.share(now / then - 1, decimals, plus=True)

    def roi(self, r) -> str:
        """A return on spend (profit / spend) as a per cent: 513 %."""
        return self.share(r, 0, plus=False)

    def interval(self, lo: str, hi: str, level) -> str:
        """'27.5 % to 30.8 % (95 % interval)': bounds already formatted, the level a share."""
        return self.t("fmt.interval", lo=lo, hi=hi, level=self.share(level, 0))

    def range(self, lo: str, hi: str) -> str:
        return self.t("fmt.range", lo=lo, hi=hi)

    def days(self, n) -> str:
        return self.t("fmt.days", n=self.number(n))

    def weeks(self, n) -> str:
        return self.t("fmt.weeks", n=self.number(n))

    # ------------------------------------------------------------ dates and periods

    def period(self, label: str | None) -> str:
        """A period label as words: 2025-06 -> June 2025 / 2025年6月; 2025Q2; 2025-W05."""
        if not label:
            return self.t("fmt.not_available")
        text = str(label)
        if m := _MONTH.match(text):
            year, month = int(m.group(1)), int(m.group(2))
            if 1 <= month <= 12:
                return self.t("fmt.month", year=year, month=month, month_name=self.t(MONTH_KEYS[month - 1]))
        if m := _QUARTER.match(text):
            return self.t("fmt.quarter", year=int(m.group(1)), quarter=int(m.group(2)))
        if m := _WEEK.match(text):
            return self.t("fmt.week", year=int(m.group(1)), week=int(m.group(2)))
        return text

    def date(self, value) -> str:
        """A day: 8 May 2025 / 2025年5月8日 (a datetime or an ISO text; the time is left out)."""
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip().replace(" ", "T"))
            except ValueError:
                return value
        if not isinstance(value, date):
            return self.t("fmt.not_available")
        return self.t("fmt.date", year=value.year, month=value.month, day=value.day,
                      month_name=self.t(MONTH_KEYS[value.month - 1]))
