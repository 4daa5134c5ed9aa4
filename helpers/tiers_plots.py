"""Charts of notebook 05 (tiers, budget split, actions): aggregates only, titled, axes in units.

Every word comes from the catalogue (``tiers.chart.*``, tier and action names from ``tier.*`` and
``action.*``) in the run's language: the functions take ``fmt`` (``run.fmt``). Legends sit
outside the axes (below them), clear of the bars and lines."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from helpers import plots
from helpers.text.formats import Formats
from helpers.text.tiers import (
    action_name,
    as_given,
    channel_name,
    stage_name,
    tier_name,
    times,
)
from helpers.tiers import CONTACT_ACTIONS, STAGES, TIERS

TIER_COLORS = {"high": "#1b5e20", "potential": "#f9a825", "general": "#1565c0", "low": "#9e9e9e"}
STAGE_COLORS = {"new": "#80cbc4", "active": "#2e7d32", "returning": "#9ccc65", "dormant": "#ffb74d", "churned": "#e57373"}
SPLIT_COLORS = {"rule of thumb": "#8d6e63", "data-driven": "#00838f"}  # helpers.tiers.sensitivity's split names
SPLIT_KEYS = {"rule of thumb": "tiers.chart.rule", "data-driven": "tiers.chart.optimized"}


def money_axis(fmt: Formats):
    """Tick labels of a money axis: digits with the language's magnitudes (12k, 1.2万); the
    currency is in the axis label."""
    plain = Formats(fmt.t)
    return FuncFormatter(lambda v, _: plain.money(v))


def share_axis(fmt: Formats):
    """Tick labels of an axis in per cent (0..100): 20 % / 20%."""
    return FuncFormatter(lambda v, _: fmt.share(v / 100, 0))


def multiple_label(fmt: Formats, v: float) -> str:
    """A tick of a log axis of multiples: 0.25×, 0.5×, 1×, 2×, 4× labelled, the ticks between them
    (0.75, 1.5, 3) left blank so that the labels do not run into each other."""
    return times(fmt, v) if v > 0 and float(np.log2(v)).is_integer() else ""


def legend_below(ax, fmt: Formats, ncol: int, offset: float = -0.16, **kw):
    """The legend under the axes (outside them): it never covers a bar or a line."""
    ax.legend(fontsize=8, ncol=ncol, loc="upper center", bbox_to_anchor=(0.5, offset), frameon=False, **kw)


def value_concentration(frame: pd.DataFrame, summary: pd.DataFrame, fmt: Formats, brand: str, period: str):
    """Left: cumulative share of predicted CLV (and of past revenue) against the share of
    customers ranked by predicted CLV. Right: the stage mix of each tier."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1.1, 1]})
    ax = axes[0]
    ranked = frame.sort_values("clv_rank")
    n = len(ranked)
    x = np.arange(1, n + 1) / max(n, 1) * 100
    for col, label, color in (("clv", fmt.t("tiers.chart.predicted_value"), "#1b5e20"),
                              ("revenue", fmt.t("tiers.chart.past_revenue"), "#8d6e63")):
        values = ranked[col].astype(float).fillna(0).clip(lower=0).to_numpy()
        total = values.sum()
        ax.plot(np.r_[0, x], np.r_[0, np.cumsum(values) / total * 100 if total else np.zeros(n)], label=label,
                color=color, linewidth=2)
    ax.plot([0, 100], [0, 100], color="grey", linestyle=":", linewidth=1, label=fmt.t("tiers.chart.equal_shares"))
    high_share = (frame["tier"] == "high").mean() * 100
    ax.axvline(high_share, color=TIER_COLORS["high"], linestyle="--", linewidth=1)
    ax.annotate(fmt.t("tiers.chart.high_tier_top", share=fmt.share(high_share / 100, 0)), xy=(high_share, 5), xytext=(4, 0), textcoords="offset points",
                fontsize=8, color=TIER_COLORS["high"])
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 101)
    ax.xaxis.set_major_formatter(share_axis(fmt))
    ax.yaxis.set_major_formatter(share_axis(fmt))
    ax.set_xlabel(fmt.t("tiers.chart.customers_ranked"))
    ax.set_ylabel(fmt.t("tiers.chart.cumulative_share"))
    ax.set_title(fmt.t("tiers.chart.concentration"), fontsize=11)
    legend_below(ax, fmt, ncol=3)

    ax = axes[1]
    stage_cols = [f"stage: {s}" for s in STAGES if f"stage: {s}" in summary.columns]
    left = np.zeros(len(TIERS))
    labels = [fmt.t("tiers.chart.tier_customers", tier=tier_name(fmt, t), n=fmt.count(summary.loc[t, "customers"]))
              for t in TIERS]
    for col in stage_cols:
        stage = col.removeprefix("stage: ")
        values = summary.loc[list(TIERS), col].to_numpy(float) * 100
        ax.barh(labels, values, left=left, color=STAGE_COLORS.get(stage, "grey"), label=stage_name(fmt, stage))
        for y, (lft, v) in enumerate(zip(left, values, strict=True)):
            if v >= 8:
                ax.text(lft + v / 2, y, f"{v:.0f}", ha="center", va="center", fontsize=8, color="black")
        left += values
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.xaxis.set_major_formatter(share_axis(fmt))
    ax.set_xlabel(fmt.t("tiers.chart.stage_mix_axis"))
    ax.set_title(fmt.t("tiers.chart.stage_mix"), fontsize=11)
    legend_below(ax, fmt, ncol=len(stage_cols))
    fig.suptitle(fmt.t("tiers.chart.concentration_title", brand=brand, period=fmt.period(period)))
    fig.tight_layout()
    return fig


CHANNEL_SHADES = ("#00838f", "#4fb3bf", "#005662", "#80deea", "#26a69a")


def budget_split(cmp: pd.DataFrame, fmt: Formats, budget: float, cells: pd.DataFrame | None = None):
    """Spend and expected incremental profit per tier under the two splits (the profit bars
    carry the range at the response's bounds); with ``cells`` (per tier x channel) the
    data-driven spend is stacked by channel."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    tiers = list(TIERS)
    x = np.arange(len(tiers))
    w = 0.38
    ax = axes[0]
    ax.bar(x - w / 2, cmp.loc[tiers, "rule_budget"], w, facecolor="none", edgecolor=SPLIT_COLORS["rule of thumb"],
           linestyle="--", label=fmt.t("tiers.chart.rule_budget"))
    ax.bar(x - w / 2, cmp.loc[tiers, "rule_spend"], w, color=SPLIT_COLORS["rule of thumb"],
           label=fmt.t("tiers.chart.rule_spendable"))
    if cells is None or not len(cells):
        ax.bar(x + w / 2, cmp.loc[tiers, "optimized_spend"], w, color=SPLIT_COLORS["data-driven"],
               label=fmt.t("tiers.chart.optimized"))
    else:
        by = cells["optimized_spend"].unstack("channel").reindex(tiers).fillna(0.0)
        bottom = np.zeros(len(tiers))
        for i, ch in enumerate(by.columns):
            ax.bar(x + w / 2, by[ch].to_numpy(float), w, bottom=bottom, color=CHANNEL_SHADES[i % len(CHANNEL_SHADES)],
                   label=fmt.t("tiers.chart.optimized_channel", channel=channel_name(fmt, ch)) if ch else fmt.t("tiers.chart.optimized"))
            bottom += by[ch].to_numpy(float)
    ax.set_xticks(x, [tier_name(fmt, t) for t in tiers])
    ax.set_ylabel(fmt.t("tiers.chart.spend_axis", currency=fmt.currency_label()))
    ax.yaxis.set_major_formatter(money_axis(fmt))
    ax.set_title(fmt.t("tiers.chart.where_budget_goes"), fontsize=11)
    legend_below(ax, fmt, ncol=2, offset=-0.1)
    ax = axes[1]
    for offset, name, split in ((-w / 2, "rule", "rule of thumb"), (w / 2, "optimized", "data-driven")):
        mid = cmp.loc[tiers, f"{name}_profit"].to_numpy(float)
        lo = cmp.loc[tiers, f"{name}_profit_lo"].to_numpy(float)
        hi = cmp.loc[tiers, f"{name}_profit_hi"].to_numpy(float)
        err = np.vstack([np.clip(mid - lo, 0, None), np.clip(hi - mid, 0, None)])
        ax.bar(x + offset, mid, w, yerr=err, capsize=3, color=SPLIT_COLORS[split], label=fmt.t(SPLIT_KEYS[split]),
               error_kw={"elinewidth": 1, "ecolor": "black"})
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, [tier_name(fmt, t) for t in tiers])
    ax.set_ylabel(fmt.t("tiers.chart.profit_axis", currency=fmt.currency_label()))
    ax.yaxis.set_major_formatter(money_axis(fmt))
    ax.set_title(fmt.t("tiers.chart.profit_title"), fontsize=11)
    legend_below(ax, fmt, ncol=2, offset=-0.1)
    fig.suptitle(fmt.t("tiers.chart.split_title", budget=fmt.money(budget)))
    fig.tight_layout()
    return fig


def sensitivity(sens: pd.DataFrame, fmt: Formats, response_kind: str):
    """Total expected profit of both splits as the response and the saturation move, and the
    data-driven split's spend per tier as the response moves."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.3))
    resp = sens[sens["parameter"] == "response"]
    sat = sens[sens["parameter"] == "saturation"]
    multiple = fmt.t("tiers.chart.response_multiple_measured" if response_kind == "measured"
                     else "tiers.chart.response_multiple_assumed")
    for ax, part, xlabel in ((axes[0], resp, multiple), (axes[2], sat, fmt.t("tiers.chart.saturation_axis"))):
        total = part.groupby(["value", "split"])["profit"].sum().unstack()
        for split in ("rule of thumb", "data-driven"):
            if split in total:
                ax.plot(total.index, total[split], marker="o", color=SPLIT_COLORS[split], label=fmt.t(SPLIT_KEYS[split]))
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xticks(total.index, [multiple_label(fmt, v) if ax is axes[0] else as_given(fmt, v)
                                    for v in total.index])
        ax.minorticks_off()
        ax.set_xlabel(xlabel)
        ax.set_ylabel(fmt.t("tiers.chart.profit_axis", currency=fmt.currency_label()))
        ax.yaxis.set_major_formatter(money_axis(fmt))
        legend_below(ax, fmt, ncol=2, offset=-0.2)
    axes[0].axvline(1, color="grey", linestyle=":", linewidth=1)
    axes[0].set_title(fmt.t("tiers.chart.profit_response"), fontsize=11)
    axes[2].set_title(fmt.t("tiers.chart.profit_saturation"), fontsize=11)
    ax = axes[1]
    spend = resp[resp["split"] == "data-driven"].pivot(index="value", columns="tier", values="spend")[list(TIERS)]
    ax.stackplot(spend.index, *(spend[t] for t in TIERS), labels=[tier_name(fmt, t) for t in TIERS],
                 colors=[TIER_COLORS[t] for t in TIERS], alpha=0.85)
    ax.set_xscale("log")
    ax.set_xticks(spend.index, [multiple_label(fmt, v) for v in spend.index])
    ax.minorticks_off()
    ax.axvline(1, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel(multiple)
    ax.set_ylabel(fmt.t("tiers.chart.optimized_spend_axis", currency=fmt.currency_label()))
    ax.yaxis.set_major_formatter(money_axis(fmt))
    ax.set_title(fmt.t("tiers.chart.split_moves"), fontsize=11)
    legend_below(ax, fmt, ncol=4, offset=-0.2)
    fig.suptitle(fmt.t("tiers.chart.sensitivity_title"))
    fig.tight_layout()
    return fig


def actions(plan: pd.DataFrame, fmt: Formats, period: str):
    """Customers per action (reached, left out by the money, suppressed) and budget per action."""
    wanted = plan[plan["action_planned"] != "no_contact"]
    acts = [a for a in CONTACT_ACTIONS if (wanted["action_planned"] == a).any()]
    fig, axes = plt.subplots(1, 2, figsize=(12, max(2.6, 0.6 * len(acts) + 1.6)), sharey=True)
    labels = [action_name(fmt, a) for a in acts]
    reached = [int(((wanted["action_planned"] == a) & (wanted["contacts"] > 0)).sum()) for a in acts]
    unfunded = [int(((wanted["action_planned"] == a) & (wanted["contacts"] == 0) & (wanted["suppressed"] == "")).sum()) for a in acts]
    suppressed = [int(((wanted["action_planned"] == a) & (wanted["suppressed"] != "")).sum()) for a in acts]
    ax = axes[0]
    left = np.zeros(len(acts))
    for values, label, color in ((reached, fmt.t("tiers.chart.on_list"), "#00838f"),
                                 (unfunded, fmt.t("tiers.chart.not_funded"), "#cfd8dc"),
                                 (suppressed, fmt.t("tiers.chart.suppressed"), "#e57373")):
        ax.barh(labels, values, left=left, color=color, label=label)
        left += np.array(values, dtype=float)
    ax.invert_yaxis()
    ax.set_xlabel(fmt.t("tiers.chart.playbook_customers"))
    ax.xaxis.set_major_formatter(plots.count_axis(fmt))
    legend_below(ax, fmt, ncol=3, offset=-0.22)
    ax.set_title(fmt.t("tiers.chart.who_reached"), fontsize=11)
    ax = axes[1]
    budget = [float(wanted.loc[wanted["action_planned"] == a, "budget"].sum()) for a in acts]
    ax.barh(labels, budget, color="#00838f")
    for y, b in enumerate(budget):
        ax.text(b, y, " " + fmt.money(b), va="center", fontsize=8)
    ax.set_xlabel(fmt.t("tiers.chart.budget_axis", currency=fmt.currency_label()))
    ax.xaxis.set_major_formatter(money_axis(fmt))
    ax.set_title(fmt.t("tiers.chart.at_what_cost"), fontsize=11)
    fig.suptitle(fmt.t("tiers.chart.actions_title", period=fmt.period(period)))
    fig.tight_layout()
    return fig
