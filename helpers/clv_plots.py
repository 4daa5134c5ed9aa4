"""Charts of notebook 04 (CLV): titled, axes labelled with units, aggregates only."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, PercentFormatter

from helpers.clv import MODEL_NAMES
from helpers.plots import thousands

COLORS = {"bgnbd": "tab:blue", "mbgnbd": "tab:green", "pareto": "tab:purple", "baseline": "tab:gray",
          "actual": "black"}


def repeat_purchases(summary_frame: pd.DataFrame, title: str, cap: int = 10):
    """Share of customers by number of repeat purchases (0 = bought once)."""
    x = np.minimum(summary_frame["x"].to_numpy(), cap)
    counts = pd.Series(x).value_counts().reindex(range(cap + 1), fill_value=0)
    labels = [str(i) for i in range(cap)] + [f"{cap}+"]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    share = counts / counts.sum()
    ax.bar(labels, 100 * share, color="steelblue")
    for i, s in enumerate(share):
        if s > 0:
            ax.text(i, 100 * s, f"{100 * s:.0f} %" if s >= 0.01 else "<1 %", ha="center", va="bottom", fontsize=8)
    ax.set_xlabel("repeat purchases (x) to the period end; 0 = bought once")
    ax.set_ylabel("customers (%)")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def holdout_by_frequency(table: pd.DataFrame, chosen: str, holdout_label: str, title: str):
    """Mean holdout purchases per customer by calibration repeat purchases: actual vs models."""
    fig, ax = plt.subplots(figsize=(10, 4.2))
    pos = np.arange(len(table))
    ax.bar(pos, table["actual"], color="lightgray", edgecolor="gray", label="actual")
    for model in [c for c in table.columns if c in MODEL_NAMES]:
        ax.plot(pos, table[model], marker="o", color=COLORS[model], linewidth=2.4 if model == chosen else 1.0,
                alpha=1.0 if model == chosen else 0.7,
                label=MODEL_NAMES[model] + (" (chosen)" if model == chosen else ""))
    ax.plot(pos, table["baseline"], linestyle="--", marker="x", color=COLORS["baseline"],
            label="naive baseline (calibration rate)")
    ax.set_xticks(pos, [f"{lab}\n(n={n:,})" for lab, n in zip(table["label"], table["customers"], strict=True)],
                  fontsize=8)
    ax.set_xlabel("repeat purchases in the calibration window (customers in each group)")
    ax.set_ylabel(f"purchases per customer\nin the holdout ({holdout_label})")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def tracking(frame: pd.DataFrame, chosen: str, cal_end: pd.Timestamp, title: str):
    """Cumulative repeat purchases of the calibration customers, week by week: actual vs models."""
    fig, ax = plt.subplots(figsize=(10, 4.2))
    ax.plot(frame["week_end"], frame["actual"], color=COLORS["actual"], linewidth=2.2, label="actual")
    for model in [c for c in frame.columns if c in MODEL_NAMES]:
        ax.plot(frame["week_end"], frame[model], color=COLORS[model], linewidth=2.0 if model == chosen else 1.0,
                linestyle="-" if model == chosen else ":",
                label=MODEL_NAMES[model] + (" (chosen)" if model == chosen else ""))
    ax.axvline(cal_end, color="crimson", linestyle="--", linewidth=1.2)
    ax.annotate("calibration | holdout", xy=(cal_end, 0.04), xycoords=("data", "axes fraction"), xytext=(4, 0),
                textcoords="offset points", fontsize=8, color="crimson")
    ax.yaxis.set_major_formatter(FuncFormatter(thousands))
    ax.set_xlabel("week ending")
    ax.set_ylabel("cumulative repeat purchases")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def spend_by_frequency(table: pd.DataFrame, population_mean: float, currency: str, title: str):
    """Mean repeat spend per purchase by number of repeat purchases, with 95 % intervals."""
    fig, ax = plt.subplots(figsize=(9, 3.8))
    pos = np.arange(len(table))
    err = np.vstack([table["mean_spend"] - table["low"], table["high"] - table["mean_spend"]])
    ax.bar(pos, table["mean_spend"], color="steelblue", yerr=np.nan_to_num(err), capsize=3, ecolor="gray")
    ax.axhline(population_mean, color="darkorange", linestyle="--", label="Gamma-Gamma population mean")
    ax.set_xticks(pos, [f"{lab}\n(n={n:,})" for lab, n in zip(table["label"], table["customers"], strict=True)],
                  fontsize=8)
    ax.set_xlabel("repeat purchases (customers in each group)")
    ax.set_ylabel(f"mean spend per repeat purchase ({currency})")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def value_overview(curve: pd.DataFrame, p_alive: pd.Series, repeat: pd.Series, currency: str, title: str,
                   measure: str | None = None):
    """Left: how concentrated the CLV is (Lorenz curve; ``measure`` names another value, e.g. the
    expected purchases of a brand without money). Right: P(alive), one-time vs repeat buyers."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax = axes[0]
    ax.plot(100 * curve["customers"], 100 * curve["value"], color="darkgreen", linewidth=2)
    ax.plot([0, 100], [0, 100], color="gray", linestyle=":", label="value spread evenly")
    for share in (0.1, 0.2):
        k = np.searchsorted(curve["customers"].to_numpy(), share)
        k = min(k, len(curve) - 1)
        v = curve["value"].iloc[k]
        ax.scatter([100 * share], [100 * v], color="darkgreen", zorder=3)
        ax.annotate(f"top {100 * share:.0f} %: {100 * v:.0f} %", (100 * share, 100 * v), xytext=(6, -12),
                    textcoords="offset points", fontsize=8)
    ax.set_xlabel("customers, most valuable first (%)")
    ax.set_ylabel(measure or f"share of total positive CLV ({currency}, %)")
    ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_title("How concentrated is the value?")
    ax.legend(fontsize=8, loc="lower right")
    ax = axes[1]
    bins = np.linspace(0, 1, 21)
    ax.hist([p_alive[~repeat], p_alive[repeat]], bins=bins, stacked=True, color=["lightsteelblue", "steelblue"],
            label=["bought once", "repeat buyers"])
    ax.set_xlabel("P(alive) at the period end")
    ax.set_ylabel("customers")
    ax.yaxis.set_major_formatter(FuncFormatter(thousands))
    ax.set_title("Who is still a customer?")
    ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def group_intervals(table: pd.DataFrame, currency: str, level: float, title: str):
    """Total CLV per group with its bootstrap interval (horizontal bars with whiskers)."""
    t = table.drop(index="all customers", errors="ignore")
    value_col = "clv"
    fig, ax = plt.subplots(figsize=(10, max(2.6, 0.45 * len(t) + 1.2)))
    pos = np.arange(len(t))
    err = np.vstack([t[value_col] - t["low"], t["high"] - t[value_col]])
    colors = ["darkgreen" if g.startswith("value") else "slategray" for g in t.index]
    ax.barh(pos, t[value_col], color=colors, xerr=np.nan_to_num(np.clip(err, 0, None)), capsize=3, ecolor="black")
    ax.set_yticks(pos, [f"{g} ({n:,})" for g, n in zip(t.index, t["customers"], strict=True)], fontsize=9)
    ax.invert_yaxis()
    ax.axvline(0, color="gray", linewidth=0.8)
    ax.xaxis.set_major_formatter(FuncFormatter(thousands))
    ax.set_xlabel(f"total CLV ({currency}); whiskers: {100 * level:.0f} % bootstrap interval")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def acquisitions(periods: pd.DataFrame, kind: str, window_days: int, title: str):
    """Customers by the period of their first observed purchase (bars; the burn-in shaded) and
    their mean repeat purchases within ``window_days`` of it (line, right axis)."""
    fig, ax = plt.subplots(figsize=(10, 4))
    pos = np.arange(len(periods))
    burn = periods["burn_in"].to_numpy(dtype=bool)
    ax.bar(pos, periods["customers"], color=np.where(burn, "indianred", "steelblue"))
    ax.set_xticks(pos, [str(p) for p in periods["period"]], rotation=90 if len(periods) > 14 else 0, fontsize=8)
    ax.set_xlabel(f"{kind} of the first observed purchase" + (" (red: burn-in, left out of the calibration)"
                                                               if burn.any() else ""))
    ax.set_ylabel("customers (first observed purchase)")
    ax.yaxis.set_major_formatter(FuncFormatter(thousands))
    right = ax.twinx()
    right.plot(pos, periods["early_mean"], color="black", marker="o", linewidth=1.5,
               label=f"repeat purchases within {window_days} days of the first (mean)")
    right.set_ylabel(f"repeat purchases within {window_days} days\nof the first (mean per customer)")
    right.set_ylim(bottom=0)
    right.legend(fontsize=8, loc="upper right")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def decile_calibration(by_purchases: pd.DataFrame, by_alive: pd.DataFrame, holdout_label: str, title: str):
    """Holdout calibration by tenths of customers. Left: predicted vs actual holdout purchases per
    customer, by tenth of predicted purchases. Right: mean P(alive), the predicted chance of
    buying at all in the holdout, and the share who did, by tenth of P(alive)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    ax = axes[0]
    pos = np.asarray(by_purchases.index)
    ax.bar(pos - 0.2, by_purchases["predicted"], width=0.4, color="steelblue", label="predicted")
    ax.bar(pos + 0.2, by_purchases["actual"], width=0.4, color="lightgray", edgecolor="gray", label="actual")
    ax.set_xticks(pos)
    ax.set_xlabel("tenth of customers by predicted holdout purchases (1 = fewest)")
    ax.set_ylabel(f"purchases per customer in the holdout\n({holdout_label})")
    ax.set_title("Predicted vs actual purchases")
    ax.legend(fontsize=8, loc="upper left")
    ax = axes[1]
    pos = np.asarray(by_alive.index)
    ax.plot(pos, 100 * by_alive["p_alive"], color="darkgreen", marker="s", label="mean P(alive) at the calibration end")
    ax.plot(pos, 100 * by_alive["p_return"], color="steelblue", marker="o", label="predicted: buys in the holdout")
    ax.plot(pos, 100 * by_alive["returned"], color="black", marker="x", linestyle="--", label="actual: bought in the holdout")
    ax.set_xticks(pos)
    ax.set_ylim(0, 105)
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_xlabel("tenth of customers by P(alive) (1 = lowest)")
    ax.set_ylabel("customers (%)")
    ax.set_title("P(alive) against who came back")
    ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
