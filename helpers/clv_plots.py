"""Charts of notebook 04 (CLV): titled, axes labelled with units, aggregates only.

Every word comes from the catalogue (``clv.chart.*``) in the run's language, every figure is
written by :class:`helpers.text.formats.Formats` (``run.fmt``). The charts comparing the purchase
models (holdout by frequency, weekly tracking, calibration by tenths) are analyst detail: they
name the models (their names are not translated).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from helpers import plots
from helpers.clv import MODEL_NAMES
from helpers.text import clv as clv_words
from helpers.text.formats import Formats

COLORS = {"bgnbd": "tab:blue", "mbgnbd": "tab:green", "pareto": "tab:purple", "baseline": "tab:gray",
          "actual": "black"}


def _group_ticks(table: pd.DataFrame, fmt: Formats) -> list[str]:
    """'3\n(1,234 customers)': a frequency group and how many customers it holds."""
    return [fmt.t("clv.chart.group_tick", group=lab, customers=fmt.count(int(n)))
            for lab, n in zip(table["label"], table["customers"], strict=True)]


def _model_label(model: str, chosen: str, fmt: Formats) -> str:
    name = MODEL_NAMES[model]
    return fmt.t("clv.chart.chosen", model=name) if model == chosen else name


def repeat_purchases(summary_frame: pd.DataFrame, fmt: Formats, brand: str, cap: int = 10):
    """Share of customers by number of repeat purchases (0 = bought once)."""
    t = fmt.t
    x = np.minimum(summary_frame["x"].to_numpy(), cap)
    counts = pd.Series(x).value_counts().reindex(range(cap + 1), fill_value=0)
    labels = [str(i) for i in range(cap)] + [f"{cap}+"]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    share = counts / counts.sum()
    ax.bar(labels, 100 * share, color="steelblue")
    for i, s in enumerate(share):
        if s > 0:
            text = fmt.share(s, 0) if s >= 0.01 else t("clv.chart.below_one", share=fmt.share(0.01, 0))
            ax.text(i, 100 * s, text, ha="center", va="bottom", fontsize=8)
    ax.yaxis.set_major_formatter(plots.percent_axis(fmt))
    ax.set_xlabel(t("clv.chart.repeat_axis"))
    ax.set_ylabel(t("clv.chart.customers_share_axis"))
    ax.set_title(t("clv.chart.repeat_title", brand=brand))
    fig.tight_layout()
    return fig


def holdout_by_frequency(table: pd.DataFrame, chosen: str, span: str, fmt: Formats):
    """Mean test-period purchases per customer by earlier repeat purchases: actual vs models."""
    t = fmt.t
    fig, ax = plt.subplots(figsize=(10, 4.2))
    pos = np.arange(len(table))
    ax.bar(pos, table["actual"], color="lightgray", edgecolor="gray", label=t("clv.chart.actual"))
    for model in [c for c in table.columns if c in MODEL_NAMES]:
        ax.plot(pos, table[model], marker="o", color=COLORS[model], linewidth=2.4 if model == chosen else 1.0,
                alpha=1.0 if model == chosen else 0.7, label=_model_label(model, chosen, fmt))
    ax.plot(pos, table["baseline"], linestyle="--", marker="x", color=COLORS["baseline"], label=t("clv.chart.naive"))
    ax.set_xticks(pos, _group_ticks(table, fmt), fontsize=8)
    ax.set_xlabel(t("clv.chart.earlier_repeat_axis"))
    ax.set_ylabel(t("clv.chart.test_purchases_axis", span=span))
    ax.set_title(t("clv.chart.by_frequency_title"))
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def tracking(frame: pd.DataFrame, chosen: str, cal_end: pd.Timestamp, fmt: Formats):
    """Cumulative repeat purchases of the customers known at the test's start, week by week:
    actual vs models."""
    t = fmt.t
    fig, ax = plt.subplots(figsize=(10, 4.2))
    ax.plot(frame["week_end"], frame["actual"], color=COLORS["actual"], linewidth=2.2, label=t("clv.chart.actual"))
    for model in [c for c in frame.columns if c in MODEL_NAMES]:
        ax.plot(frame["week_end"], frame[model], color=COLORS[model], linewidth=2.0 if model == chosen else 1.0,
                linestyle="-" if model == chosen else ":", label=_model_label(model, chosen, fmt))
    ax.axvline(cal_end, color="crimson", linestyle="--", linewidth=1.2)
    ax.annotate(t("clv.chart.split"), xy=(cal_end, 0.04), xycoords=("data", "axes fraction"), xytext=(4, 0),
                textcoords="offset points", fontsize=8, color="crimson")
    ax.yaxis.set_major_formatter(plots.count_axis(fmt))
    ax.set_xlabel(t("clv.chart.week_axis"))
    ax.set_ylabel(t("clv.chart.cumulative_axis"))
    ax.set_title(t("clv.chart.tracking_title"))
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def spend_by_frequency(table: pd.DataFrame, population_mean: float, fmt: Formats):
    """Mean repeat spend per purchase by number of repeat purchases, with 95 % intervals."""
    t = fmt.t
    fig, ax = plt.subplots(figsize=(9, 3.8))
    pos = np.arange(len(table))
    err = np.vstack([table["mean_spend"] - table["low"], table["high"] - table["mean_spend"]])
    ax.bar(pos, table["mean_spend"], color="steelblue", yerr=np.nan_to_num(err), capsize=3, ecolor="gray")
    ax.axhline(population_mean, color="darkorange", linestyle="--",
               label=t("clv.chart.new_customer_spend", spend=fmt.money(population_mean)))
    ax.set_xticks(pos, _group_ticks(table, fmt), fontsize=8)
    top = np.nanmax(np.r_[table["high"].to_numpy(dtype=float), table["mean_spend"].to_numpy(dtype=float), population_mean])
    ax.set_ylim(0, 1.3 * top)  # room for the legend above the bars
    ax.set_xlabel(t("clv.chart.repeat_groups_axis"))
    ax.set_ylabel(t("clv.chart.spend_axis", currency=fmt.currency_label()))
    ax.set_title(t("clv.chart.spend_title"))
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def value_overview(curve: pd.DataFrame, p_alive: pd.Series, repeat: pd.Series, fmt: Formats, brand: str,
                   date, money: bool = True):
    """Left: how concentrated the value is (Lorenz curve: the customer value, or without money
    the expected purchases). Right: the chance each customer is still active, one-time vs
    repeat buyers."""
    t = fmt.t
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax = axes[0]
    ax.plot(100 * curve["customers"], 100 * curve["value"], color="darkgreen", linewidth=2)
    ax.plot([0, 100], [0, 100], color="gray", linestyle=":", label=t("clv.chart.even"))
    for share in (0.1, 0.2):
        k = np.searchsorted(curve["customers"].to_numpy(), share)
        k = min(k, len(curve) - 1)
        v = curve["value"].iloc[k]
        ax.scatter([100 * share], [100 * v], color="darkgreen", zorder=3)
        ax.annotate(t("clv.chart.top_share", share=fmt.share(share, 0), value=fmt.share(v, 0)), (100 * share, 100 * v),
                    xytext=(6, -12), textcoords="offset points", fontsize=8)
    ax.set_xlabel(t("clv.chart.ranked_axis"))
    ax.set_ylabel(t("clv.chart.value_share_axis") if money else t("clv.chart.purchase_share_axis"))
    ax.xaxis.set_major_formatter(plots.percent_axis(fmt))
    ax.yaxis.set_major_formatter(plots.percent_axis(fmt))
    ax.set_title(t("clv.chart.concentration_title"))
    ax.legend(fontsize=8, loc="lower right")
    ax = axes[1]
    bins = np.linspace(0, 1, 21)
    ax.hist([p_alive[~repeat], p_alive[repeat]], bins=bins, stacked=True, color=["lightsteelblue", "steelblue"],
            label=[t("clv.chart.once"), t("clv.chart.repeat_buyers")])
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos=None: fmt.share(x, 0)))
    ax.set_xlabel(t("clv.chart.alive_axis"))
    ax.set_ylabel(t("clv.chart.customers_axis"))
    ax.yaxis.set_major_formatter(plots.count_axis(fmt))
    ax.set_title(t("clv.chart.alive_title"))
    ax.legend(fontsize=8, loc="upper center")
    fig.suptitle(t("clv.chart.overview_title", brand=brand, date=fmt.date(date)))
    fig.tight_layout()
    return fig


def group_intervals(table: pd.DataFrame, fmt: Formats, level: float, months: int):
    """Total customer value per group with its range (horizontal bars with whiskers)."""
    t = fmt.t
    tab = table.drop(index="all customers", errors="ignore")
    fig, ax = plt.subplots(figsize=(10, max(2.6, 0.45 * len(tab) + 1.2)))
    pos = np.arange(len(tab))
    err = np.vstack([tab["clv"] - tab["low"], tab["high"] - tab["clv"]])
    colors = ["darkgreen" if g.startswith("value") else "slategray" for g in tab.index]
    ax.barh(pos, tab["clv"], color=colors, xerr=np.nan_to_num(np.clip(err, 0, None)), capsize=3, ecolor="black")
    ax.set_yticks(pos, [t("clv.chart.group_bar", group=clv_words.group_label(g, fmt), customers=fmt.count(int(n)))
                        for g, n in zip(tab.index, tab["customers"], strict=True)], fontsize=9)
    ax.invert_yaxis()
    ax.axvline(0, color="gray", linewidth=0.8)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos=None: fmt.money(x)))
    ax.set_xlabel(t("clv.chart.group_value_axis", level=fmt.share(level, 0)))
    ax.set_title(t("clv.chart.groups_title", months=fmt.count(months)))
    fig.tight_layout()
    return fig


def acquisitions(periods: pd.DataFrame, window_days: int, fmt: Formats, brand: str):
    """Customers by the period of their first purchase (bars; the warm-up shaded) and their
    mean repeat purchases within ``window_days`` of it (line, right axis)."""
    t = fmt.t
    fig, ax = plt.subplots(figsize=(10, 4))
    pos = np.arange(len(periods))
    burn = periods["burn_in"].to_numpy(dtype=bool)
    ax.bar(pos, periods["customers"], color=np.where(burn, "indianred", "steelblue"))
    ax.set_xticks(pos, [fmt.period(str(p)) for p in periods["period"]], rotation=90 if len(periods) > 14 else 0,
                  fontsize=8)
    ax.set_xlabel(t("clv.chart.first_period_warm_up_axis") if burn.any() else t("clv.chart.first_period_axis"))
    ax.set_ylabel(t("clv.chart.new_customers_axis"))
    ax.set_ylim(0, 1.3 * max(int(periods["customers"].max()) if len(periods) else 0, 1))  # room for the legend
    ax.yaxis.set_major_formatter(plots.count_axis(fmt))
    right = ax.twinx()
    right.plot(pos, periods["early_mean"], color="black", marker="o", linewidth=1.5,
               label=t("clv.chart.early_legend", days=fmt.count(window_days)))
    right.set_ylabel(t("clv.chart.early_axis", days=fmt.count(window_days)))
    right.set_ylim(bottom=0, top=1.3 * max(float(np.nanmax(periods["early_mean"].to_numpy(dtype=float), initial=0)), 0.1))
    right.legend(fontsize=8, loc="upper right")
    right.grid(False)
    ax.set_title(t("clv.chart.acquisitions_title", brand=brand))
    fig.tight_layout()
    return fig


def decile_calibration(by_purchases: pd.DataFrame, by_alive: pd.DataFrame, span: str, fmt: Formats, model: str):
    """Test-period calibration by tenths of customers. Left: forecast vs actual purchases per
    customer, by tenth of forecast purchases. Right: the mean chance of being active, the
    forecast chance of buying at all in the test period, and the share who did, by tenth of that
    chance."""
    t = fmt.t
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    ax = axes[0]
    pos = np.asarray(by_purchases.index)
    ax.bar(pos - 0.2, by_purchases["predicted"], width=0.4, color="steelblue", label=t("clv.chart.forecast"))
    ax.bar(pos + 0.2, by_purchases["actual"], width=0.4, color="lightgray", edgecolor="gray", label=t("clv.chart.actual"))
    ax.set_xticks(pos)
    ax.set_xlabel(t("clv.chart.tenth_purchases_axis"))
    ax.set_ylabel(t("clv.chart.test_purchases_axis", span=span))
    ax.set_title(t("clv.chart.forecast_vs_actual_title"))
    ax.legend(fontsize=8, loc="upper left")
    ax = axes[1]
    pos = np.asarray(by_alive.index)
    ax.plot(pos, 100 * by_alive["p_alive"], color="darkgreen", marker="s", label=t("clv.chart.mean_alive"))
    ax.plot(pos, 100 * by_alive["p_return"], color="steelblue", marker="o", label=t("clv.chart.forecast_buys"))
    ax.plot(pos, 100 * by_alive["returned"], color="black", marker="x", linestyle="--", label=t("clv.chart.actual_bought"))
    ax.set_xticks(pos)
    ax.set_ylim(0, 105)
    ax.yaxis.set_major_formatter(plots.percent_axis(fmt))
    ax.set_xlabel(t("clv.chart.tenth_alive_axis"))
    ax.set_ylabel(t("clv.chart.customers_share_axis"))
    ax.set_title(t("clv.chart.alive_vs_returned_title"))
    ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(t("clv.chart.calibration_title", model=model))
    fig.tight_layout()
    return fig
