"""Charts of notebook 03 (repurchase drivers): titled, axes labelled with units, aggregates only.

Every word comes from the run's catalogue (``fmt``: ``run.fmt``; keys ``drivers.chart.*``, factor
and family names as :mod:`helpers.text.drivers` writes them)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from helpers import plots
from helpers.drivers import (
    CATEGORICAL,
    KM,
    STEP_KEYS,
    Effects,
    kaplan_meier,
    level_values,
)
from helpers.lifecycle_plots import whiskers
from helpers.text import drivers as words
from helpers.text.formats import Formats

FAMILY_COLORS = {"customer": "#7f7f7f", "product": "#8c564b", "service": "#d62728", "marketing": "#1f77b4",
                 "channel": "#2ca02c"}


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 2] + "…"


def funnel(steps: pd.DataFrame, horizon: int, fmt: Formats, brand: str):
    """Left: customers reaching their 1st..4th+ order. Right: each step's conversion, as observed so
    far and as the censored N-day estimate with its interval."""
    t = fmt.t
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [1.1, 1]})
    reached = [int(steps["reached"].iloc[0])] + steps["converted"].astype(int).tolist()
    ax.bar(words.order_names(fmt), reached, color="steelblue")
    for i, v in enumerate(reached):
        ax.text(i, v, fmt.count(v), ha="center", va="bottom", fontsize=9)
    ax.set_ylabel(t("drivers.chart.customers_so_far"))
    ax.yaxis.set_major_formatter(plots.count_axis(fmt))
    ax.set_ylim(0, 1.1 * max(max(reached), 1))
    ax.set_title(t("drivers.chart.reaching_title"))

    y = np.arange(len(steps))
    bx.barh(y + 0.2, 100 * steps["conversion"], height=0.38, color="lightgray", label=t("drivers.chart.so_far"))
    share = 100 * steps["conversion_n"]
    err = whiskers(share, 100 * steps["conversion_n_low"], 100 * steps["conversion_n_high"])
    bx.barh(y - 0.2, share, height=0.38, color="steelblue", xerr=err, capsize=3,
            label=t("drivers.chart.within", days=fmt.days(horizon), level=fmt.share(0.95, 0)))
    for yi, v, top in zip(y - 0.2, share, 100 * steps["conversion_n_high"], strict=True):
        if v == v:
            bx.text((top if top == top else v) + 1.5, yi, fmt.share(v / 100), va="center", fontsize=9)
    for yi, v in zip(y + 0.2, 100 * steps["conversion"], strict=True):
        if v == v:
            bx.text(v + 1.5, yi, fmt.share(v / 100), va="center", fontsize=8, color="dimgray")
    bx.set_yticks(y, [words.step_name(fmt, k) for k in steps["key"]])
    bx.invert_yaxis()
    bx.set_xlim(0, 100)
    bx.xaxis.set_major_formatter(plots.percent_axis(fmt))
    bx.set_xlabel(t("drivers.chart.next_order_axis"))
    bx.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    bx.set_title(t("drivers.chart.conversion_title"))
    fig.suptitle(t("drivers.chart.funnel_title", brand=brand))
    fig.tight_layout()
    return fig


def cohort_heatmap(by_cohort: pd.DataFrame, horizon: int, fmt: Formats):
    """Censored N-day conversion of each step by acquisition cohort; blank = too few customers followed N days yet."""
    t = fmt.t
    pivot = by_cohort.pivot(index="cohort", columns="key", values="conversion_n")
    pivot = pivot[[k for k in STEP_KEYS.values() if k in pivot.columns]]
    fig, ax = plt.subplots(figsize=(7.5, max(2.5, 0.32 * len(pivot) + 1.4)))
    data = 100 * pivot.to_numpy(float)
    im = ax.imshow(np.ma.masked_invalid(data), aspect="auto", cmap="Blues", vmin=0, vmax=100)
    for (i, j), v in np.ndenumerate(data):
        ax.text(j, i, t("drivers.chart.too_few") if v != v else fmt.share(v / 100, 0), ha="center", va="center",
                fontsize=8, color="gray" if v != v else ("white" if v > 60 else "black"))
    ax.set_xticks(range(pivot.shape[1]), [words.step_name(fmt, k) for k in pivot.columns])
    ax.set_yticks(range(pivot.shape[0]), [fmt.period(c) for c in pivot.index])
    ax.set_xlabel(t("drivers.chart.step_axis"))
    ax.set_ylabel(t("drivers.chart.cohort_axis"))
    ax.grid(False)
    bar = fig.colorbar(im, ax=ax, label=t("drivers.chart.cohort_scale", days=fmt.days(horizon)))
    bar.ax.yaxis.set_major_formatter(plots.percent_axis(fmt))
    ax.set_title(t("drivers.chart.cohort_title"))
    fig.tight_layout()
    return fig


def _curve(ax, km: KM, upto: float, label: str, color=None, band: bool = False):
    times = np.concatenate([[0.0], km.times[km.times <= upto]])
    surv = np.concatenate([[1.0], km.survival[km.times <= upto]])
    end = min(upto, km.max_time)
    times, surv = np.append(times, end), np.append(surv, surv[-1])
    line, = ax.step(times, 100 * (1 - surv), where="post", label=label, color=color)
    if band:
        lo, hi = km.ci_arrays()
        keep = km.times <= upto
        grid = np.concatenate([[0.0], km.times[keep], [end]])
        lo = np.concatenate([[1.0], lo[keep], [lo[keep][-1] if keep.any() else 1.0]])
        hi = np.concatenate([[1.0], hi[keep], [hi[keep][-1] if keep.any() else 1.0]])
        ax.fill_between(grid, 100 * (1 - hi), 100 * (1 - lo), step="post", alpha=0.2, color=line.get_color())
    return line


def second_purchase_curve(summary: dict, horizon: int, fmt: Formats):
    """Cumulative share of customers who bought a second time, by days since the first order
    (Kaplan–Meier with its interval), and the naive share at N for comparison."""
    t = fmt.t
    km: KM = summary["km"]
    upto = min(km.max_time, 3 * horizon)
    fig, ax = plt.subplots(figsize=(9, 4.2))
    _curve(ax, km, upto, t("drivers.chart.censored", level=fmt.share(0.95, 0)), band=True)
    ax.axvline(horizon, color="gray", linestyle=":", linewidth=1)
    ax.scatter([horizon], [100 * summary["naive_share"]], color="crimson", zorder=5,
               label=t("drivers.chart.naive", days=fmt.days(horizon)))
    ax.set_xlabel(t("drivers.chart.days_axis"))
    ax.set_ylabel(t("drivers.chart.second_axis"))
    ax.yaxis.set_major_formatter(plots.percent_axis(fmt))
    ax.set_xlim(0, upto)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(t("drivers.chart.second_title"))
    fig.tight_layout()
    return fig


def curves_by_factor(frame: pd.DataFrame, raw: pd.DataFrame, horizon: int, fmt: Formats, max_panels: int = 9):
    """Kaplan–Meier second-purchase curves by factor (unadjusted) for the factors with the
    largest raw gaps: with vs without, or each level of a categorical factor."""
    t = fmt.t
    variables = list(dict.fromkeys(raw["variable"]))[:max_panels]
    if not variables:
        return None
    cols = min(3, len(variables))
    rows = int(np.ceil(len(variables) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.1 * rows), sharey=True, squeeze=False)
    upto = float(horizon)
    for ax, var in zip(axes.flat, variables, strict=False):
        sub = raw[raw["variable"] == var]
        row = sub.iloc[0]
        if var in CATEGORICAL:
            levels = [row["reference"], *sub["level"]]
            name = words.factor_name(fmt, var)
            values = level_values(frame[var].astype("string"), levels, row["reference"])
            for lev in levels[:6]:
                mask = (values == lev).fillna(False).to_numpy(bool)
                if mask.sum():
                    _curve(ax, kaplan_meier(frame["duration"][mask], frame["event"][mask]), upto,
                           t("drivers.chart.level", level=words.level_name(fmt, lev), n=fmt.count(int(mask.sum()))))
        else:
            name = words.factor_name(fmt, row["factor"], row["label"])
            x = frame[var].to_numpy(bool)
            _curve(ax, kaplan_meier(frame["duration"][x], frame["event"][x]), upto,
                   t("drivers.chart.with", n=fmt.count(int(x.sum()))), color="crimson")
            _curve(ax, kaplan_meier(frame["duration"][~x], frame["event"][~x]), upto,
                   t("drivers.chart.without", n=fmt.count(int((~x).sum()))), color="steelblue")
        ax.set_title(_short(name, 40), fontsize=10, color=FAMILY_COLORS.get(row["family"], "black"))
        ax.set_xlim(0, upto)
        ax.yaxis.set_major_formatter(plots.percent_axis(fmt))
        ax.legend(fontsize=7, loc="upper left")
        ax.set_xlabel(t("drivers.chart.days_axis"))
    for ax in axes[:, 0]:
        ax.set_ylabel(t("drivers.chart.again_axis"))
    for ax in list(axes.flat)[len(variables):]:
        ax.set_visible(False)
    fig.suptitle(t("drivers.chart.by_factor_title", days=fmt.days(horizon)))
    fig.tight_layout()
    return fig


def effects_forest(effects: Effects, fmt: Formats):
    """Each factor's effect on the N-day second-purchase probability with its simultaneous
    interval (the one of the table and the findings), coloured by family; filled = clear: the
    interval excludes zero."""
    t = fmt.t
    table = effects.table.iloc[::-1]
    fig, ax = plt.subplots(figsize=(10, max(3, 0.34 * len(table) + 1.5)))
    y = np.arange(len(table))
    for yi, r in zip(y, table.itertuples(), strict=True):
        color = FAMILY_COLORS.get(r.family, "black")
        ax.plot([100 * r.ci_low, 100 * r.ci_high], [yi, yi], color=color, linewidth=2)
        ax.scatter([100 * r.effect], [yi], s=45, color=color if r.significant else "white", edgecolor=color, zorder=3)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, [_short(words.row_name(fmt, r), 48) for r in table.itertuples()], fontsize=8)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos=None: fmt.number(x, 0, plus=True)))  # unit: the axis label
    ax.set_xlabel(t("drivers.chart.effect_axis", days=fmt.days(effects.horizon),
                    level=words.interval_level(fmt, effects.alpha, len(table))))
    handles = [plt.Line2D([], [], color=c, marker="o", linestyle="-", label=words.family_name(fmt, f))
               for f, c in FAMILY_COLORS.items() if f in set(table["family"])]
    handles.append(plt.Line2D([], [], color="black", marker="o", markerfacecolor="white", linestyle="",
                              label=t("drivers.chart.hollow")))
    ax.legend(handles=handles, fontsize=8, loc="lower left", bbox_to_anchor=(1.01, 0))
    ax.set_title(t("drivers.chart.effects_title", days=fmt.days(effects.horizon)))
    fig.tight_layout()
    return fig
