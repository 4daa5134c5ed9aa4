"""Charts of notebook 03 (repurchase drivers): titled, axes labelled with units, aggregates only."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, PercentFormatter

from helpers.drivers import (
    CATEGORICAL,
    FAMILIES,
    KM,
    STEP_LABELS,
    Effects,
    kaplan_meier,
    level_values,
)
from helpers.lifecycle_plots import whiskers
from helpers.plots import thousands

FAMILY_COLORS = {"customer": "#7f7f7f", "product": "#8c564b", "service": "#d62728", "marketing": "#1f77b4",
                 "channel": "#2ca02c"}


def funnel(steps: pd.DataFrame, horizon: int, title: str):
    """Left: customers reaching their 1st..4th+ order. Right: each step's conversion, as observed so
    far and as the censored N-day estimate with its interval."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [1.1, 1]})
    reached = [int(steps["reached"].iloc[0])] + steps["converted"].astype(int).tolist()
    labels = ["1st order", "2nd order", "3rd order", "4th+ order"]
    ax.bar(labels, reached, color="steelblue")
    for i, v in enumerate(reached):
        ax.text(i, v, f"{v:,}", ha="center", va="bottom", fontsize=9)
    ax.set_ylabel("customers (so far)")
    ax.yaxis.set_major_formatter(FuncFormatter(thousands))
    ax.set_ylim(0, 1.1 * max(reached))
    ax.set_title("Customers reaching each order")

    y = np.arange(len(steps))
    bx.barh(y + 0.2, 100 * steps["conversion"], height=0.38, color="lightgray", label="made the next order so far")
    share = 100 * steps["conversion_n"]
    err = whiskers(share, 100 * steps["conversion_n_low"], 100 * steps["conversion_n_high"])
    bx.barh(y - 0.2, share, height=0.38, color="steelblue", xerr=err, capsize=3,
            label=f"within {horizon} days (censored, 95 % interval)")
    for yi, v, top in zip(y - 0.2, share, 100 * steps["conversion_n_high"], strict=True):
        if v == v:
            bx.text((top if top == top else v) + 1.5, yi, f"{v:.1f} %", va="center", fontsize=9)
    for yi, v in zip(y + 0.2, 100 * steps["conversion"], strict=True):
        if v == v:
            bx.text(v + 1.5, yi, f"{v:.1f} %", va="center", fontsize=8, color="dimgray")
    bx.set_yticks(y, steps["step"])
    bx.invert_yaxis()
    bx.set_xlim(0, 100)
    bx.set_xlabel("customers who made the next order (% of those at the step)")
    bx.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    bx.set_title("Conversion of each step")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def cohort_heatmap(by_cohort: pd.DataFrame, horizon: int, title: str):
    """Censored N-day conversion of each step by acquisition cohort; blank = too few customers followed N days yet."""
    pivot = by_cohort.pivot(index="cohort", columns="step", values="conversion_n")
    pivot = pivot[[s for s in STEP_LABELS.values() if s in pivot.columns]]
    fig, ax = plt.subplots(figsize=(7.5, max(2.5, 0.32 * len(pivot) + 1.4)))
    data = 100 * pivot.to_numpy(float)
    im = ax.imshow(np.ma.masked_invalid(data), aspect="auto", cmap="Blues", vmin=0, vmax=100)
    for (i, j), v in np.ndenumerate(data):
        ax.text(j, i, "too few yet" if v != v else f"{v:.0f} %", ha="center", va="center", fontsize=8,
                color="gray" if v != v else ("white" if v > 60 else "black"))
    ax.set_xticks(range(pivot.shape[1]), pivot.columns)
    ax.set_yticks(range(pivot.shape[0]), pivot.index)
    ax.set_xlabel("step of the repurchase path")
    ax.set_ylabel("acquisition cohort (first order)")
    ax.grid(False)
    fig.colorbar(im, ax=ax, label=f"made the next order within {horizon} days (%)")
    ax.set_title(title)
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


def second_purchase_curve(summary: dict, horizon: int, title: str):
    """Cumulative share of customers who bought a second time, by days since the first order
    (Kaplan–Meier with its interval), and the naive share at N for comparison."""
    km: KM = summary["km"]
    upto = min(km.max_time, 3 * horizon)
    fig, ax = plt.subplots(figsize=(9, 4.2))
    _curve(ax, km, upto, "censored estimate (Kaplan–Meier, 95 % interval)", band=True)
    ax.axvline(horizon, color="gray", linestyle=":", linewidth=1)
    ax.scatter([horizon], [100 * summary["naive_share"]], color="crimson", zorder=5,
               label=f"naive share within {horizon} days (recent customers counted as lost)")
    ax.set_xlabel("days since the first order")
    ax.set_ylabel("bought a second time (% of customers)")
    ax.yaxis.set_major_formatter(PercentFormatter())
    ax.set_xlim(0, upto)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def curves_by_factor(frame: pd.DataFrame, raw: pd.DataFrame, horizon: int, title: str, max_panels: int = 9):
    """Kaplan–Meier second-purchase curves by factor (unadjusted) for the factors with the
    largest raw gaps: with vs without, or each level of a categorical factor."""
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
            name = CATEGORICAL[var][1]
            values = level_values(frame[var].astype("string"), levels, row["reference"])
            for lev in levels[:6]:
                mask = (values == lev).fillna(False).to_numpy(bool)
                if mask.sum():
                    _curve(ax, kaplan_meier(frame["duration"][mask], frame["event"][mask]), upto, f"{lev} ({mask.sum():,})")
        else:
            name = row["label"]
            x = frame[var].to_numpy(bool)
            _curve(ax, kaplan_meier(frame["duration"][x], frame["event"][x]), upto, f"with ({x.sum():,})", color="crimson")
            _curve(ax, kaplan_meier(frame["duration"][~x], frame["event"][~x]), upto, f"without ({(~x).sum():,})", color="steelblue")
        ax.set_title(name if len(name) <= 40 else name[:38] + "…", fontsize=10,
                     color=FAMILY_COLORS.get(row["family"], "black"))
        ax.set_xlim(0, upto)
        ax.yaxis.set_major_formatter(PercentFormatter())
        ax.legend(fontsize=7, loc="upper left")
        ax.set_xlabel("days since the first order")
    for ax in axes[:, 0]:
        ax.set_ylabel("bought again (%)")
    for ax in list(axes.flat)[len(variables):]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def effects_forest(effects: Effects, title: str):
    """Each factor's effect on the N-day second-purchase probability with its simultaneous
    interval (the one of the table and the findings), coloured by family; filled = clear: the
    interval excludes zero."""
    t = effects.table.iloc[::-1]
    fig, ax = plt.subplots(figsize=(10, max(3, 0.34 * len(t) + 1.5)))
    y = np.arange(len(t))
    for yi, r in zip(y, t.itertuples(), strict=True):
        color = FAMILY_COLORS.get(r.family, "black")
        ax.plot([100 * r.ci_low, 100 * r.ci_high], [yi, yi], color=color, linewidth=2)
        ax.scatter([100 * r.effect], [yi], s=45, color=color if r.significant else "white", edgecolor=color, zorder=3)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, [lab if len(lab) <= 48 else lab[:46] + "…" for lab in t["label"]], fontsize=8)
    ax.set_xlabel(f"change in the chance of a second purchase within {effects.horizon} days (percentage points; "
                  f"bars: {effects.interval_label} interval)")
    handles = [plt.Line2D([], [], color=c, marker="o", linestyle="-", label=FAMILIES[f])
               for f, c in FAMILY_COLORS.items() if f in set(t["family"])]
    handles.append(plt.Line2D([], [], color="black", marker="o", markerfacecolor="white", linestyle="",
                              label="hollow: interval includes zero (not clear)"))
    ax.legend(handles=handles, fontsize=8, loc="lower left", bbox_to_anchor=(1.01, 0))
    ax.set_title(title)
    fig.tight_layout()
    return fig
