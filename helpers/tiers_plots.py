"""Charts of notebook 05 (tiers, budget split, actions): aggregates only, titled, axes in units."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, PercentFormatter

from helpers.plots import thousands
from helpers.tiers import ACTION_LABELS, CONTACT_ACTIONS, STAGES, TIER_LABELS, TIERS

TIER_COLORS = {"high": "#1b5e20", "potential": "#f9a825", "general": "#1565c0", "low": "#9e9e9e"}
STAGE_COLORS = {"new": "#80cbc4", "active": "#2e7d32", "returning": "#9ccc65", "dormant": "#ffb74d", "churned": "#e57373"}
SPLIT_COLORS = {"rule of thumb": "#8d6e63", "data-driven": "#00838f"}


def value_concentration(frame: pd.DataFrame, summary: pd.DataFrame, currency: str, title: str):
    """Left: cumulative share of predicted CLV (and of past revenue) against the share of
    customers ranked by predicted CLV. Right: the stage mix of each tier."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1.1, 1]})
    ax = axes[0]
    ranked = frame.sort_values("clv_rank")
    n = len(ranked)
    x = np.arange(1, n + 1) / max(n, 1) * 100
    for col, label, color in (("clv", "predicted CLV", "#1b5e20"), ("revenue", "past revenue", "#8d6e63")):
        values = ranked[col].astype(float).fillna(0).clip(lower=0).to_numpy()
        total = values.sum()
        ax.plot(np.r_[0, x], np.r_[0, np.cumsum(values) / total * 100 if total else np.zeros(n)], label=label,
                color=color, linewidth=2)
    ax.plot([0, 100], [0, 100], color="grey", linestyle=":", linewidth=1, label="equal shares")
    high_share = (frame["tier"] == "high").mean() * 100
    ax.axvline(high_share, color=TIER_COLORS["high"], linestyle="--", linewidth=1)
    ax.annotate(f"high-value tier: top {high_share:.0f} %", xy=(high_share, 5), xytext=(4, 0), textcoords="offset points",
                fontsize=8, color=TIER_COLORS["high"])
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 101)
    ax.xaxis.set_major_formatter(PercentFormatter())
    ax.yaxis.set_major_formatter(PercentFormatter())
    ax.set_xlabel("customers, ranked by predicted CLV (cumulative %)")
    ax.set_ylabel("cumulative share (%)")
    ax.set_title("How concentrated is value?", fontsize=11)
    ax.legend(fontsize=8, loc="lower right")

    ax = axes[1]
    stage_cols = [f"stage: {s}" for s in STAGES if f"stage: {s}" in summary.columns]
    left = np.zeros(len(TIERS))
    labels = [f"{TIER_LABELS[t]}\n({int(summary.loc[t, 'customers']):,} customers)" for t in TIERS]
    for col in stage_cols:
        stage = col.removeprefix("stage: ")
        values = summary.loc[list(TIERS), col].to_numpy(float) * 100
        ax.barh(labels, values, left=left, color=STAGE_COLORS.get(stage, "grey"), label=stage)
        for y, (lft, v) in enumerate(zip(left, values, strict=True)):
            if v >= 8:
                ax.text(lft + v / 2, y, f"{v:.0f}", ha="center", va="center", fontsize=8, color="black")
        left += values
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.xaxis.set_major_formatter(PercentFormatter())
    ax.set_xlabel("customers of the tier by lifecycle stage (%)")
    ax.set_title("Lifecycle stage mix of each tier", fontsize=11)
    ax.legend(fontsize=8, ncol=len(stage_cols), loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


CHANNEL_SHADES = ("#00838f", "#4fb3bf", "#005662", "#80deea", "#26a69a")


def budget_split(cmp: pd.DataFrame, currency: str, title: str, cells: pd.DataFrame | None = None):
    """Spend and expected incremental profit per tier under the two splits (the profit bars
    carry the range at the response's bounds); with ``cells`` (per tier x channel) the
    data-driven spend is stacked by channel."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    tiers = list(TIERS)
    x = np.arange(len(tiers))
    w = 0.38
    ax = axes[0]
    ax.bar(x - w / 2, cmp.loc[tiers, "rule_budget"], w, facecolor="none", edgecolor=SPLIT_COLORS["rule of thumb"],
           linestyle="--", label="rule of thumb: its share of the budget")
    ax.bar(x - w / 2, cmp.loc[tiers, "rule_spend"], w, color=SPLIT_COLORS["rule of thumb"], label="rule of thumb: spendable")
    if cells is None or not len(cells):
        ax.bar(x + w / 2, cmp.loc[tiers, "optimized_spend"], w, color=SPLIT_COLORS["data-driven"], label="data-driven")
    else:
        by = cells["optimized_spend"].unstack("channel").reindex(tiers).fillna(0.0)
        bottom = np.zeros(len(tiers))
        for i, ch in enumerate(by.columns):
            ax.bar(x + w / 2, by[ch].to_numpy(float), w, bottom=bottom, color=CHANNEL_SHADES[i % len(CHANNEL_SHADES)],
                   label=f"data-driven: {ch}" if ch else "data-driven")
            bottom += by[ch].to_numpy(float)
    ax.set_xticks(x, [TIER_LABELS[t] for t in tiers])
    ax.set_ylabel(f"spend ({currency})")
    ax.yaxis.set_major_formatter(FuncFormatter(thousands))
    ax.set_title("Where the budget goes", fontsize=11)
    ax.legend(fontsize=8)
    ax = axes[1]
    for offset, name, label in ((-w / 2, "rule", "rule of thumb"), (w / 2, "optimized", "data-driven")):
        mid = cmp.loc[tiers, f"{name}_profit"].to_numpy(float)
        lo = cmp.loc[tiers, f"{name}_profit_lo"].to_numpy(float)
        hi = cmp.loc[tiers, f"{name}_profit_hi"].to_numpy(float)
        err = np.vstack([np.clip(mid - lo, 0, None), np.clip(hi - mid, 0, None)])
        ax.bar(x + offset, mid, w, yerr=err, capsize=3, color=SPLIT_COLORS[label], label=label,
               error_kw={"elinewidth": 1, "ecolor": "black"})
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, [TIER_LABELS[t] for t in tiers])
    ax.set_ylabel(f"expected incremental profit ({currency})")
    ax.yaxis.set_major_formatter(FuncFormatter(thousands))
    ax.set_title("Expected incremental profit (bars: range of the response)", fontsize=11)
    ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def sensitivity(sens: pd.DataFrame, currency: str, title: str, response_kind: str):
    """Total expected profit of both splits as the response and the saturation move, and the
    data-driven split's spend per tier as the response moves."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.3))
    resp = sens[sens["parameter"] == "response"]
    sat = sens[sens["parameter"] == "saturation"]
    what = "measured" if response_kind == "measured" else "assumed"
    for ax, part, xlabel in ((axes[0], resp, f"response as a multiple of the {what} one"),
                             (axes[2], sat, "saturation k (higher = a 2nd contact adds less)")):
        total = part.groupby(["value", "split"])["profit"].sum().unstack()
        for split in ("rule of thumb", "data-driven"):
            if split in total:
                ax.plot(total.index, total[split], marker="o", color=SPLIT_COLORS[split], label=split)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xticks(total.index, [f"{v:g}" for v in total.index])
        ax.minorticks_off()
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"expected incremental profit ({currency})")
        ax.yaxis.set_major_formatter(FuncFormatter(thousands))
        ax.legend(fontsize=8)
    axes[0].axvline(1, color="grey", linestyle=":", linewidth=1)
    axes[0].set_title("Profit if the response is smaller or larger", fontsize=11)
    axes[2].set_title("Profit if extra contacts saturate faster or slower", fontsize=11)
    ax = axes[1]
    spend = resp[resp["split"] == "data-driven"].pivot(index="value", columns="tier", values="spend")[list(TIERS)]
    ax.stackplot(spend.index, *(spend[t] for t in TIERS), labels=[TIER_LABELS[t] for t in TIERS],
                 colors=[TIER_COLORS[t] for t in TIERS], alpha=0.85)
    ax.set_xscale("log")
    ax.set_xticks(spend.index, [f"{v:g}" for v in spend.index])
    ax.minorticks_off()
    ax.axvline(1, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel(f"response as a multiple of the {what} one")
    ax.set_ylabel(f"data-driven spend ({currency})")
    ax.yaxis.set_major_formatter(FuncFormatter(thousands))
    ax.set_title("Data-driven split as the response moves", fontsize=11)
    ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def actions(plan: pd.DataFrame, currency: str, title: str):
    """Customers per action (reached, left out by the money, suppressed) and budget per action."""
    wanted = plan[plan["action_planned"] != "no_contact"]
    acts = [a for a in CONTACT_ACTIONS if (wanted["action_planned"] == a).any()]
    fig, axes = plt.subplots(1, 2, figsize=(12, max(2.6, 0.6 * len(acts) + 1.6)), sharey=True)
    labels = [ACTION_LABELS[a] for a in acts]
    reached = [int(((wanted["action_planned"] == a) & (wanted["contacts"] > 0)).sum()) for a in acts]
    unfunded = [int(((wanted["action_planned"] == a) & (wanted["contacts"] == 0) & (wanted["suppressed"] == "")).sum()) for a in acts]
    suppressed = [int(((wanted["action_planned"] == a) & (wanted["suppressed"] != "")).sum()) for a in acts]
    ax = axes[0]
    left = np.zeros(len(acts))
    for values, label, color in ((reached, "on the list", "#00838f"), (unfunded, "not funded", "#cfd8dc"),
                                 (suppressed, "suppressed", "#e57373")):
        ax.barh(labels, values, left=left, color=color, label=label)
        left += np.array(values, dtype=float)
    ax.invert_yaxis()
    ax.set_xlabel("customers the playbook assigns to the action")
    ax.xaxis.set_major_formatter(FuncFormatter(thousands))
    ax.legend(fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.22), frameon=False)
    ax.set_title("Who is reached", fontsize=11)
    ax = axes[1]
    budget = [float(wanted.loc[wanted["action_planned"] == a, "budget"].sum()) for a in acts]
    ax.barh(labels, budget, color="#00838f")
    for y, b in enumerate(budget):
        ax.text(b, y, f" {b:,.0f}", va="center", fontsize=8)
    ax.set_xlabel(f"budget ({currency})")
    ax.xaxis.set_major_formatter(FuncFormatter(thousands))
    ax.set_title("At what cost", fontsize=11)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
