"""Charts of notebook 02 (lifecycle, repurchase rates, cohorts, RFM): titled, axes labelled with
units, aggregates only. Every word comes from the catalogue in the run's language (``fmt``: the
run's :class:`helpers.text.formats.Formats`; keys ``lifecycle.chart.*``), stage, segment, split and
bridge names through :mod:`helpers.text.lifecycle`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path
from matplotlib.ticker import PercentFormatter

from helpers import plots
from helpers.lifecycle import NONE, STAGES
from helpers.text import lifecycle as words
from helpers.text.formats import Formats

STAGE_COLORS = {"new": "#4c9be8", "returning": "#8e6bd6", "active": "#2a9d5c", "dormant": "#f0a430",
                "churned": "#b5b5b5", NONE: "#dddddd"}
RATE_COLORS = {"within_period": "#2a9d5c", "retention": "#4c72b0"}
RATE_LEGEND_KEYS = {"within_period": "lifecycle.chart.rates.within_period", "retention": "lifecycle.chart.rates.retention"}


def _empty(ax, fmt: Formats, key: str) -> None:
    ax.text(0.5, 0.5, fmt.t(key), ha="center", va="center", transform=ax.transAxes)


def whiskers(estimate, lo, hi) -> np.ndarray:
    """Error-bar lengths (2 x n) from an estimate and its interval: never negative (an interval
    that misses its estimate by rounding, or a missing one, draws no whisker on that side)."""
    est, lo, hi = (np.asarray(v, dtype=float) for v in (estimate, lo, hi))
    return np.nan_to_num(np.clip(np.vstack([est - lo, hi - est]), 0, None))


def gap_distribution(hist: pd.DataFrame, th, fmt: Formats, brand: str):
    """Share of repeat gaps by length in days, with the two thresholds marked."""
    t = fmt.t
    fig, ax = plt.subplots(figsize=(10, 3.8))
    if hist.empty:
        _empty(ax, fmt, "lifecycle.chart.no_repeat")
    else:
        limit = max(th.churn_days * 1.5, 30)
        h = hist[hist["gap"] <= limit]
        share = 100 * h["n"] / hist["n"].sum()
        width = max(1, int(np.ceil(limit / 120)))
        binned = pd.DataFrame({"bin": (h["gap"] - 1) // width * width + 1, "share": share}).groupby("bin")["share"].sum()
        ax.bar(binned.index, binned.to_numpy(), width=width, align="edge", color="#7a9cc6")
        beyond = 100 * hist.loc[hist["gap"] > limit, "n"].sum() / hist["n"].sum()
        ax.text(0.99, 0.95, t("lifecycle.chart.gaps.beyond", share=fmt.share(beyond / 100), days=fmt.number(limit)),
                transform=ax.transAxes, ha="right", va="top", fontsize=8)
    for days, label, color in ((th.active_days, t("lifecycle.chart.gaps.active", days=fmt.number(th.active_days)),
                                STAGE_COLORS["active"]),
                               (th.churn_days, t("lifecycle.chart.gaps.churned", days=fmt.number(th.churn_days)),
                                "#555555")):
        ax.axvline(days + 0.5, color=color, linestyle="--", linewidth=1.5)
        ax.annotate(label, xy=(days + 0.5, 0.8), xycoords=("data", "axes fraction"), xytext=(4, 0),
                    textcoords="offset points", fontsize=9, color=color)
    ax.set_xlabel(t("lifecycle.chart.gaps.x"))
    ax.set_ylabel(t("lifecycle.chart.gaps.y"))
    ax.set_title(t("lifecycle.chart.gaps.title", brand=brand))
    fig.tight_layout()
    return fig


def stage_history(counts: pd.DataFrame, fmt: Formats):
    """Customers per stage at each period end (stacked bars)."""
    fig, ax = plt.subplots(figsize=(10, 4))
    bottom = np.zeros(len(counts))
    x = np.arange(len(counts))
    for stage in STAGES:
        values = counts[stage].to_numpy()
        ax.bar(x, values, bottom=bottom, color=STAGE_COLORS[stage], label=words.stage_name(fmt, stage), width=0.7)
        for xi, v, b in zip(x, values, bottom, strict=True):
            if v and v / max(1, counts.sum(axis=1).max()) > 0.04:
                ax.text(xi, b + v / 2, fmt.count(v), ha="center", va="center", fontsize=8)
        bottom += values
    ax.set_xticks(x, counts.index)
    ax.set_xlabel(fmt.t("lifecycle.chart.period_end"))
    ax.set_ylabel(fmt.t("lifecycle.chart.customers"))
    ax.yaxis.set_major_formatter(plots.count_axis(fmt))
    handles, labels = ax.get_legend_handles_labels()  # listed top to bottom, as stacked
    ax.legend(handles[::-1], labels[::-1], title=fmt.t("lifecycle.chart.stage"), bbox_to_anchor=(1.01, 1),
              loc="upper left", fontsize=9)
    ax.set_title(fmt.t("lifecycle.chart.stages.title"))
    fig.tight_layout()
    return fig


def transition_heatmap(matrix: pd.DataFrame, fmt: Formats, period: str):
    """Previous stage x stage: customers, with the share of each row."""
    title = fmt.t("lifecycle.chart.transitions.title", period=fmt.period(period))
    m = matrix.loc[matrix.sum(axis=1) > 0]
    if m.empty:
        fig, ax = plt.subplots(figsize=(8.5, 2))
        _empty(ax, fmt, "lifecycle.chart.no_earlier_end")
        ax.set_axis_off()
        ax.set_title(title)
        return fig
    rows = m.sum(axis=1).replace(0, np.nan)
    share = m.div(rows, axis=0)
    fig, ax = plt.subplots(figsize=(8.5, 0.6 * len(m) + 1.8))
    ax.imshow(share.fillna(0).to_numpy(), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            n = int(m.iat[i, j])
            if n:
                dark = share.iat[i, j] > 0.55
                ax.text(j, i, f"{fmt.count(n)}\n{fmt.share(share.iat[i, j], 0)}", ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
    ax.set_yticks(range(len(m)), [words.stage_name(fmt, s) for s in m.index])
    ax.set_xticks(range(m.shape[1]), [words.stage_name(fmt, s) for s in m.columns])
    ax.set_xlabel(fmt.t("lifecycle.chart.transitions.x"))
    ax.set_ylabel(fmt.t("lifecycle.chart.transitions.y"))
    ax.grid(False)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def _ribbon(ax, x0, y0a, y0b, x1, y1a, y1b, color, alpha=0.45):
    """A band from [y0a, y0b] at x0 to [y1a, y1b] at x1 with smooth (cubic) edges."""
    xm = (x0 + x1) / 2
    verts = [(x0, y0a), (xm, y0a), (xm, y1a), (x1, y1a), (x1, y1b), (xm, y1b), (xm, y0b), (x0, y0b), (x0, y0a)]
    codes = [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4, Path.LINETO, Path.CURVE4, Path.CURVE4, Path.CURVE4,
             Path.CLOSEPOLY]
    ax.add_patch(PathPatch(Path(verts, codes), facecolor=color, edgecolor="none", alpha=alpha))


def flows(counts: pd.DataFrame, transitions: pd.DataFrame, fmt: Formats):
    """Alluvial chart: stage blocks at each period end, ribbons for the customers moving between
    stages from one end to the next (coloured by the stage they come from). New customers enter
    from outside (no ribbon)."""
    labels = list(counts.index)
    total = counts.sum(axis=1).max() or 1
    gap = 0.03 * total
    width = 0.12
    fig, ax = plt.subplots(figsize=(11, 5.5))
    tops: dict[tuple[int, str], float] = {}
    for i, label in enumerate(labels):  # blocks, stacked top-down in STAGES order
        y = total + gap * (len(STAGES) - 1)
        for stage in STAGES:
            n = counts.at[label, stage]
            tops[(i, stage)] = y
            if n:
                ax.add_patch(Rectangle((i - width / 2, y - n), width, n, facecolor=STAGE_COLORS[stage],
                                       edgecolor="white"))
                if n / total > 0.035:
                    ax.text(i, y - n / 2, fmt.count(n), ha="center", va="center", fontsize=7, rotation=90)
            y -= n + gap
    for i in range(len(labels) - 1):
        part = transitions[(transitions["period"] == labels[i + 1]) & (transitions["from_stage"] != NONE)]
        out_y = {s: tops[(i, s)] for s in STAGES}
        in_y = {s: tops[(i + 1, s)] for s in STAGES}
        # customers entering from outside (first purchases) take the top of their block
        new_in = transitions[(transitions["period"] == labels[i + 1]) & (transitions["from_stage"] == NONE)]
        for r in new_in.itertuples():
            in_y[r.stage] -= r.n
        for a in STAGES:
            for b in STAGES:
                n = part.loc[(part["from_stage"] == a) & (part["stage"] == b), "n"].sum()
                if not n:
                    continue
                _ribbon(ax, i + width / 2, out_y[a], out_y[a] - n, i + 1 - width / 2, in_y[b], in_y[b] - n,
                        STAGE_COLORS[a], alpha=0.25 if a == b else 0.55)
                out_y[a] -= n
                in_y[b] -= n
    ax.set_xlim(-0.4, len(labels) - 0.6)
    ax.set_ylim(-gap, total + gap * len(STAGES))
    ax.set_xticks(range(len(labels)), labels)
    ax.set_xlabel(fmt.t("lifecycle.chart.period_end"))
    ax.set_ylabel(fmt.t("lifecycle.chart.flows.y"))
    ax.set_yticks([])
    ax.grid(False)
    handles = [Rectangle((0, 0), 1, 1, color=STAGE_COLORS[s]) for s in STAGES]
    ax.legend(handles, [words.stage_name(fmt, s) for s in STAGES], title=fmt.t("lifecycle.chart.stage"),
              bbox_to_anchor=(1.01, 1), loc="upper left", fontsize=9)
    ax.set_title(fmt.t("lifecycle.chart.flows.title"))
    fig.tight_layout()
    return fig


def rate_trend(trend: pd.DataFrame, fmt: Formats):
    """Within-period repurchase and period-over-period retention per period, with 95 % intervals."""
    t = fmt.t
    fig, ax = plt.subplots(figsize=(10, 4))
    x = np.arange(len(trend))
    for col, key in RATE_LEGEND_KEYS.items():
        y = 100 * trend[col].astype(float)
        ax.plot(x, y, marker="o", color=RATE_COLORS[col], label=t(key))
        ax.fill_between(x, 100 * trend[f"{col}_lo"].astype(float), 100 * trend[f"{col}_hi"].astype(float),
                        color=RATE_COLORS[col], alpha=0.15, linewidth=0)
    ax.set_xticks(x, trend["period"], rotation=45, ha="right")
    ax.set_xlabel(t("lifecycle.chart.period"))
    ax.set_ylabel(t("lifecycle.chart.share_of_customers"))
    highest = np.nanmax(100 * trend[["within_period_hi", "retention_hi"]].astype(float).to_numpy(), initial=0)
    ax.set_ylim(bottom=0, top=max(5.0, 1.35 * float(highest)))  # headroom for the legend above the lines
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.legend(fontsize=8, loc="upper left", ncol=2)
    ax.set_title(t("lifecycle.chart.rates.title", periods=fmt.number(len(trend))) + "\n" + t("lifecycle.chart.shaded"))
    fig.tight_layout()
    return fig


def second_purchase_trend(cohorts: pd.DataFrame, horizons: list[int], n_cohorts: int, fmt: Formats):
    """N-day second-purchase rate per first-purchase cohort (mature cohorts only), 95 % intervals."""
    c = cohorts[cohorts["customers"] > 0].tail(n_cohorts)
    fig, ax = plt.subplots(figsize=(10, 4))
    x = np.arange(len(c))
    colors = plt.cm.viridis(np.linspace(0.15, 0.8, len(horizons)))
    for n, color in zip(horizons, colors, strict=True):
        y = 100 * c[f"rate_{n}"].astype(float)
        ax.plot(x, y, marker="o", markersize=3, color=color, label=fmt.t("lifecycle.chart.second.within", days=fmt.number(n)))
        ax.fill_between(x, 100 * c[f"rate_{n}_lo"].astype(float), 100 * c[f"rate_{n}_hi"].astype(float),
                        color=color, alpha=0.12, linewidth=0)
    step = max(1, len(c) // 12)
    ax.set_xticks(x[::step], c["cohort"].iloc[::step], rotation=45, ha="right")
    ax.set_xlabel(fmt.t("lifecycle.chart.second.x"))
    ax.set_ylabel(fmt.t("lifecycle.chart.second.y"))
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.legend(fontsize=9, loc="upper left")
    ax.set_title(fmt.t("lifecycle.chart.second.title") + "\n" + fmt.t("lifecycle.chart.shaded"))
    fig.tight_layout()
    return fig


def split_rates(splits: pd.DataFrame, fmt: Formats):
    """Each rate by each split column: pooled over the window (bars, 95 % whiskers) and this
    period (dots). Groups below the minimum size are pale."""
    keys = list(dict.fromkeys(zip(splits["split"], splits["metric"], strict=True)))
    n_split = splits["split"].nunique()
    metrics = list(dict.fromkeys(splits["metric"]))
    max_groups = int(splits.groupby(["split", "metric"]).size().max())
    fig, axes = plt.subplots(n_split, len(metrics), figsize=(4.4 * len(metrics), 0.26 * max_groups * n_split + 1.3 * n_split + 0.6),
                             squeeze=False, sharex="col")
    splits_order = list(dict.fromkeys(splits["split"]))
    for split, metric in keys:
        ax = axes[splits_order.index(split), metrics.index(metric)]
        part = splits[(splits["split"] == split) & (splits["metric"] == metric)].iloc[::-1]
        y = np.arange(len(part))
        rate = 100 * part["rate_window"].astype(float)
        err = whiskers(rate, 100 * part["rate_window_lo"].astype(float), 100 * part["rate_window_hi"].astype(float))
        colors = ["#4c72b0" if ok else "#c9d3e6" for ok in part["enough"]]
        ax.barh(y, rate, color=colors, xerr=err, error_kw={"ecolor": "#333333", "capsize": 2, "linewidth": 0.8})
        if part["rate_period"].notna().any():
            ax.plot(100 * part["rate_period"].astype(float), y, "o", color="#d1495b", markersize=4,
                    label=fmt.t("lifecycle.chart.split.this_period"))
        sizes = part["customers"] if "customers" in part else part["n_window"]
        ax.set_yticks(y, [f"{words.group_name(fmt, g)} ({fmt.count(n)})" for g, n in zip(part["group"], sizes, strict=True)],
                      fontsize=8)
        ax.set_title(fmt.t("lifecycle.chart.split.panel", metric=words.metric_name(fmt, metric),
                           split=words.split_name(fmt, split)), fontsize=9)
        ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    for ax in axes[-1]:
        ax.set_xlabel(fmt.t("lifecycle.chart.split.x"))
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper right", fontsize=8)
    fig.suptitle(fmt.t("lifecycle.chart.split.title"))
    fig.tight_layout()
    return fig


def cohort_heatmap(matrix: pd.DataFrame, kind: str, fmt: Formats):
    """Cohort (rows) x periods since the first purchase (columns): share who bought."""
    title = fmt.t("lifecycle.chart.cohorts.title")
    m = matrix[matrix["j"] >= 1]
    fig, ax = plt.subplots(figsize=(11, 0.32 * matrix["cohort"].nunique() + 1.8))
    if m.empty:
        _empty(ax, fmt, "lifecycle.chart.cohorts.none")
        ax.set_title(title)
        return fig
    grid = m.pivot_table(index="cohort", columns="j", values="retention")
    sizes = matrix.drop_duplicates("cohort").set_index("cohort")["size"]
    vmax = float(np.nanquantile(grid.to_numpy(), 0.98)) or 0.01
    im = ax.imshow(100 * grid.to_numpy(), cmap="YlGnBu", vmin=0, vmax=100 * vmax, aspect="auto")
    if grid.shape[1] <= 24 and grid.shape[0] <= 30:
        for i in range(grid.shape[0]):
            for j in range(grid.shape[1]):
                v = grid.iat[i, j]
                if not np.isnan(v):
                    ax.text(j, i, f"{100 * v:.0f}", ha="center", va="center", fontsize=6.5,
                            color="white" if v > 0.6 * vmax else "black")
    ax.set_yticks(range(grid.shape[0]), [f"{c} ({fmt.count(sizes[c])})" for c in grid.index], fontsize=7)
    step = max(1, grid.shape[1] // 24)
    ax.set_xticks(range(0, grid.shape[1], step), grid.columns[::step])
    ax.set_xlabel(fmt.t("lifecycle.chart.cohorts.x", kind=words.kind_name(fmt, kind)))
    ax.set_ylabel(fmt.t("lifecycle.chart.cohorts.y"))
    ax.grid(False)
    fig.colorbar(im, ax=ax, label=fmt.t("lifecycle.chart.cohorts.colour"), fraction=0.03)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def ltv_curves(matrix: pd.DataFrame, kind: str, fmt: Formats):
    """Cumulative net revenue per customer by cohort, against periods since the first purchase."""
    fig, ax = plt.subplots(figsize=(10, 4.2))
    cohorts = list(dict.fromkeys(matrix["cohort"]))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(cohorts)))
    if not cohorts:
        _empty(ax, fmt, "lifecycle.chart.ltv.none")
    for cohort, color in zip(cohorts, colors, strict=True):
        part = matrix[matrix["cohort"] == cohort]
        ax.plot(part["j"], part["cumulative_revenue_per_customer"], color=color, linewidth=1.3, alpha=0.9)
    if cohorts:
        for idx in sorted({0, len(cohorts) // 2, len(cohorts) - 1}):
            part = matrix[matrix["cohort"] == cohorts[idx]]
            ax.annotate(cohorts[idx], xy=(part["j"].iloc[-1], part["cumulative_revenue_per_customer"].iloc[-1]),
                        xytext=(3, 0), textcoords="offset points", fontsize=8, color=colors[idx])
    ax.set_xlabel(fmt.t("lifecycle.chart.ltv.x", kind=words.kind_name(fmt, kind)))
    ax.set_ylabel(fmt.t("lifecycle.chart.ltv.y", currency=fmt.currency_label()))
    ax.yaxis.set_major_formatter(plots.count_axis(fmt))
    ax.set_title(fmt.t("lifecycle.chart.ltv.title") + "\n" + fmt.t("lifecycle.chart.ltv.note"))
    fig.tight_layout()
    return fig


def rfm_segments(table: pd.DataFrame, fmt: Formats):
    """Share of customers and share of revenue per RFM segment, with the average order value."""
    title = fmt.t("lifecycle.chart.rfm.title")
    t = table.iloc[::-1]
    y = np.arange(len(t))
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(t) + 1.5))
    if t.empty:
        _empty(ax, fmt, "rfm.findings.none")
        ax.set_title(title, loc="left")
        return fig
    money = bool(t["revenue_share"].notna().any())  # no amount: customers only
    ax.barh(y + 0.2 * money, 100 * t["customer_share"], height=0.38, color="#9bb7d4",
            label=fmt.t("lifecycle.chart.rfm.customers"))
    if money:
        ax.barh(y - 0.2, 100 * t["revenue_share"], height=0.38, color="#2a6f97", label=fmt.t("lifecycle.chart.rfm.revenue"))
    right = 100 * max(t["customer_share"].max(), t["revenue_share"].max() if money else 0)
    for yi, (c, aov) in enumerate(zip(t["customers"], t["average_order_value"], strict=True)):
        text = (fmt.t("lifecycle.chart.rfm.label_money", n=fmt.count(c), money=fmt.money(aov)) if pd.notna(aov)
                else fmt.t("lifecycle.chart.rfm.label", n=fmt.count(c)))
        ax.text(right * 1.02, yi, text, va="center", fontsize=8)
    ax.set_yticks(y, [words.segment_name(fmt, s) for s in t.index])
    ax.set_xlim(0, right * 1.55)
    ax.set_xlabel(fmt.t("lifecycle.chart.rfm.x"))
    ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.legend(fontsize=8, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, frameon=False)
    ax.set_title(title, loc="left")
    fig.tight_layout()
    return fig


BRIDGE_COLORS = {"new": "#4c9be8", "repeat": "#2a9d5c"}


def revenue_bridge(bridge: dict, fmt: Formats):
    """Waterfall from the earlier period's order revenue to this period's: one bar per customer
    kind and factor (customers, purchases per customer, order value), up green / down red."""
    title = fmt.t("lifecycle.chart.bridge.title")
    fig, ax = plt.subplots(figsize=(11, 4.4))
    if bridge is None:
        _empty(ax, fmt, "lifecycle.chart.bridge.none")
        ax.set_axis_off()
        ax.set_title(title)
        return fig
    parts = bridge["parts"]
    labels = ([bridge["before"]]
              + [fmt.t("lifecycle.chart.bridge.bar", kind=words.bridge_kind(fmt, r.kind),
                       factor=words.bridge_factor(fmt, r.factor)) for r in parts.itertuples()]
              + [bridge["after"]])
    level = bridge["revenue_before"]
    ax.bar(0, level, color="#9a9a9a")
    for i, r in enumerate(parts.itertuples(), start=1):
        bottom = level if r.change >= 0 else level + r.change
        ax.bar(i, abs(r.change), bottom=bottom, color="#2a9d5c" if r.change >= 0 else "#d1495b",
               edgecolor=BRIDGE_COLORS[r.kind], linewidth=2)
        ax.text(i, max(level, level + r.change), fmt.count(r.change, plus=True), ha="center", va="bottom", fontsize=8)
        level += r.change
    ax.bar(len(labels) - 1, bridge["revenue_after"], color="#555555")
    for x, v in ((0, bridge["revenue_before"]), (len(labels) - 1, bridge["revenue_after"])):
        ax.text(x, v, fmt.count(v), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel(fmt.t("lifecycle.chart.bridge.x"))
    ax.set_ylabel(fmt.t("lifecycle.chart.bridge.y", currency=fmt.currency_label()))
    ax.yaxis.set_major_formatter(plots.count_axis(fmt))
    low = min(bridge["revenue_before"], bridge["revenue_after"], level)
    ax.set_ylim(bottom=max(0, low - 0.25 * abs(bridge["change"]) - 0.05 * low) if low > 0 else None)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def purchase_gaps(steps: pd.DataFrame, categories: pd.DataFrame, fmt: Formats):
    """Median days to the next purchase (dot) with the middle half (bar: 25 % to 75 %), by purchase
    number and, where the orders carry one, by category (same customer, same category)."""
    t = fmt.t
    steps = steps.assign(label=[words.gap_step(fmt, int(j)) for j in steps["step"]]) if len(steps) else steps
    panels = [(t("lifecycle.chart.gaps_by.steps"), steps, "label")]
    if len(categories):
        panels.append((t("lifecycle.chart.gaps_by.categories"), categories.sort_values("median"), "category"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 0.42 * max(len(p[1]) for p in panels) + 1.8),
                             squeeze=False)
    for ax, (name, frame, key) in zip(axes[0], panels, strict=True):
        if frame.empty:
            _empty(ax, fmt, "lifecycle.chart.no_repeat")
            ax.set_title(name, fontsize=10)
            continue
        f = frame.iloc[::-1]
        y = np.arange(len(f))
        ax.barh(y, f["q75"] - f["q25"], left=f["q25"], height=0.5, color="#9bb7d4", label=t("lifecycle.chart.gaps_by.middle"))
        ax.plot(f["median"], y, "o", color="#2a6f97", label=t("lifecycle.chart.gaps_by.median"))
        ax.set_yticks(y, [f"{k} ({fmt.count(n)})" for k, n in zip(f[key], f["gaps"], strict=True)], fontsize=8)
        ax.set_xlabel(t("lifecycle.chart.gaps_by.x"))
        ax.set_xlim(left=0)
        ax.set_title(name, fontsize=10)
    axes[0][0].set_ylabel(t("lifecycle.chart.gaps_by.y"))
    if axes[0][0].get_legend_handles_labels()[0]:
        axes[0][0].legend(fontsize=8, loc="lower right")
    fig.suptitle(t("lifecycle.chart.gaps_by.title"))
    fig.tight_layout()
    return fig
