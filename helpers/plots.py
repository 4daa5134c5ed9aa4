"""Charts: titled, axes labelled with units, readable without the code.

Chinese labels (regions, categories, column names) need a CJK font: the README names the Debian
package (fonts-wqy-microhei); matplotlib falls back to it per glyph when it is installed, and
``set_theme("zh")`` (a brand reporting in Chinese) puts it first.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import matplotlib
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib import font_manager
from matplotlib.ticker import FuncFormatter

from helpers.text import audit as audit_words
from helpers.text.formats import Formats

CJK_FONTS = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans CJK JP", "SimHei"]
FONT_FALLBACK = ["DejaVu Sans", *CJK_FONTS]
CJK_FIRST = [*CJK_FONTS, "DejaVu Sans"]  # zh: every label in the CJK font, Latin included
CJK_FILES = ("wqy-microhei", "wqy-zenhei", "notosanscjk", "simhei")  # their files, lower case


def set_theme(language: str = "en") -> None:
    """The charts' look. ``language`` "zh" puts the CJK font first, so Chinese titles and labels
    (and the Latin text beside them) come in one font; otherwise Latin text uses DejaVu Sans and
    matplotlib falls back to the CJK font per glyph."""
    register_cjk_fonts()
    sns.set_theme(style="whitegrid", context="notebook")
    matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["font.sans-serif"] = CJK_FIRST if language == "zh" else FONT_FALLBACK
    matplotlib.rcParams["axes.unicode_minus"] = False
    matplotlib.rcParams["figure.dpi"] = 100
    matplotlib.rcParams["savefig.bbox"] = "tight"
    # A missing CJK font must not fill the report with one warning per glyph.
    warnings.filterwarnings("ignore", message="Glyph .* missing from font")


@functools.cache
def register_cjk_fonts() -> list[str]:
    """Make an installed CJK font known to matplotlib when its font cache was built before the
    font was installed (it then draws Chinese as boxes until the cache is rebuilt). Returns the
    font files added."""
    known = {f.name for f in font_manager.fontManager.ttflist}
    if known & set(CJK_FONTS):
        return []
    added = []
    for path in font_manager.findSystemFonts():
        if any(name in Path(path).name.lower() for name in CJK_FILES):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
            added.append(path)
    return added


def thousands(x, _pos=None) -> str:
    """Axis numbers: 1,250 below ten thousand, 12k and 1.2M above."""
    if abs(x) >= 1e6:
        return f"{x / 1e6:.1f}M"
    if abs(x) >= 1e4:
        return f"{x / 1e3:.0f}k"
    return f"{x:,.0f}"


def count_axis(fmt: Formats) -> FuncFormatter:
    """Axis numbers written as the language writes counts (12,000 / 275.5万)."""
    return FuncFormatter(lambda x, _pos=None: fmt.count(x))


def percent_axis(fmt: Formats) -> FuncFormatter:
    """An axis already in per cent (0..100), written as the language writes a share (40 % / 40%)."""
    return FuncFormatter(lambda x, _pos=None: fmt.share(x / 100, 0))


def monthly_volume(monthly: pd.DataFrame, gaps: pd.DataFrame, fmt: Formats, brand: str):
    """Orders and revenue per month and source; months containing a flagged gap are marked."""
    t = fmt.t
    panels = [("orders", t("audit.chart.orders_axis")),
              ("revenue", t("audit.chart.revenue_axis", currency=fmt.currency_label()))]
    if monthly.empty or monthly["revenue"].isna().all():  # no amount mapped: orders only, no 0 revenue line
        panels = panels[:1]
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 3.25 * len(panels) + 0.5 * (len(panels) == 1)),
                             sharex=True, squeeze=False)
    axes = axes[:, 0]
    for ax, (column, label) in zip(axes, panels, strict=True):
        pivot = monthly.pivot_table(index="month", columns="source", values=column, aggfunc="sum").fillna(0)
        for source in pivot.columns:  # matplotlib dates (not pandas' period axis): month ticks in the language
            ax.plot(pivot.index, pivot[source], marker="o", linewidth=1.5, markersize=3, label=source)
        ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=8))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos=None: fmt.period(f"{mdates.num2date(x):%Y-%m}")))
        ax.set_ylabel(label)
        ax.yaxis.set_major_formatter(count_axis(fmt))
        ax.legend(title=t("audit.chart.source_legend"), fontsize=8, loc="best")
    # A gap of a few days is invisible on a monthly axis: draw a line and label it.
    for i, gap in enumerate(gaps.itertuples()):
        start = pd.Timestamp(gap.first_day)
        for ax in axes:
            ax.axvline(start, color="crimson", linewidth=1.2, linestyle="--",
                       label=t("audit.chart.gap_legend") if i == 0 else None)
        first = fmt.date(gap.first_day)
        span = first if gap.days == 1 else fmt.range(first, fmt.date(gap.last_day))
        axes[0].annotate(t("audit.chart.gap_label", source=gap.source, span=span), xy=(start, 1),
                         xycoords=("data", "axes fraction"), xytext=(3, -4 - 11 * (i % 4)),
                         textcoords="offset points", fontsize=8, color="crimson", va="top")
    if len(gaps):
        axes[0].legend(title=t("audit.chart.source_legend"), fontsize=8, loc="best")
    axes[0].set_title(t("audit.chart.volume_title", brand=brand))
    axes[-1].set_xlabel(t("audit.chart.month_axis"))
    fig.tight_layout()
    return fig


def reconciliation(steps: pd.DataFrame, fmt: Formats):
    """Rows and revenue removed by each cleaning rule (horizontal bars); None when no rule
    removed anything (an empty chart tells a stakeholder nothing)."""
    removed = steps[(steps["action"] == "drop") & (steps["rows_removed"] > 0)]
    if removed.empty:
        return None
    t = fmt.t
    money = not removed["revenue_change"].isna().all()  # no amount mapped: rows only
    labels = [audit_words.step_name(step, fmt) for step in removed["step"]]
    fig, axes = plt.subplots(1, 1 + money, figsize=(11 if money else 6, max(2.5, 0.45 * len(removed) + 1.2)),
                             sharey=True, squeeze=False)
    axes = axes[0]
    axes[0].barh(labels, removed["rows_removed"], color="steelblue")
    axes[0].invert_yaxis()
    axes[0].set_xlabel(t("audit.chart.rows_removed_axis"))
    if money:
        axes[1].barh(labels, -removed["revenue_change"], color="indianred")
        axes[1].set_xlabel(t("audit.chart.revenue_removed_axis", currency=fmt.currency_label()))
    for ax in axes:
        ax.xaxis.set_major_formatter(count_axis(fmt))
    fig.suptitle(t("audit.chart.reconciliation_title"))
    fig.tight_layout()
    return fig


def match_rates(matches: pd.DataFrame, fmt: Formats):
    """Share of rows of each table whose customer id is found in the target table."""
    t = fmt.t
    labels = [t("audit.chart.match_label", table=audit_words.table_name(source.split(" ")[0], fmt),
                target=audit_words.table_name(target.replace(" ", "_"), fmt))
              for source, target in zip(matches["from"], matches["to"], strict=True)]
    fig, ax = plt.subplots(figsize=(9, max(2.2, 0.5 * len(matches) + 1)))
    colors = ["seagreen" if r >= 0.98 else "orange" if r >= 0.8 else "crimson" for r in matches["match_rate"]]
    ax.barh(labels, 100 * matches["match_rate"], color=colors)
    for y, rate in enumerate(matches["match_rate"]):
        inside = rate > 0.15
        ax.text(100 * rate - 1 if inside else 100 * rate + 1, y, fmt.share(rate), va="center",
                ha="right" if inside else "left", fontsize=9, color="white" if inside else "black")
    ax.set_xlim(0, 105)
    ax.invert_yaxis()
    ax.set_xlabel(t("audit.chart.match_axis"))
    ax.set_title(t("audit.chart.match_title"))
    fig.tight_layout()
    return fig
