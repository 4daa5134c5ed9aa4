"""Charts of notebook 06 (campaign retrospective): titled, axes with units, intervals drawn.

Every title, axis label, legend and tick word comes from the catalogue (``campaigns.chart.*``)
in the run's language, every figure from :class:`helpers.text.formats.Formats` (``run.fmt``).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from helpers.campaigns import LEVEL
from helpers.text import campaigns as words
from helpers.text.formats import Formats

TREAT, CONTROL, CUPED, GREY = "#2b6cb0", "#a0aec0", "#dd6b20", "#718096"


def show(fig) -> None:
    """Display a chart where it is made (inside a loop) and close it, so it is not shown twice."""
    from IPython.display import display

    display(fig)
    plt.close(fig)


def _label(campaign_id: str, arm: str, many: bool) -> str:
    return f"{campaign_id} · {arm}" if many else str(campaign_id)


def _money_axis(fmt: Formats) -> FuncFormatter:
    return FuncFormatter(lambda x, _pos=None: fmt.money(x))


def _level(fmt: Formats) -> str:
    return fmt.share(LEVEL, 0)


def split_chart(split: pd.DataFrame, fmt: Formats):
    """Observed share of customers per group (bars) and the designed share (black tick)."""
    t = fmt.t
    s = split.reset_index()
    labels = s["campaign"] + " · " + s["arm"]
    fig, ax = plt.subplots(figsize=(9, max(2.2, 0.45 * len(s) + 1.2)))
    colors = [CONTROL if r == "control" else TREAT for r in s["role"]]
    bad = s["split check"] == "MISMATCH"
    colors = ["crimson" if b else c for b, c in zip(bad, colors, strict=True)]
    y = np.arange(len(s))
    ax.barh(y, 100 * s["observed share"], color=colors, label=t("campaigns.chart.observed_share"))
    design = 100 * s["designed share"].astype(float)
    ax.scatter(design, y, marker="|", s=400, color="black", zorder=3, label=t("campaigns.chart.designed_share"))
    for yi, obs, n in zip(y, s["observed share"], s["customers"], strict=True):
        ax.text(100 * obs + 1, yi, f"{fmt.share(float(obs))} ({fmt.count(float(n))})", va="center", fontsize=8)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 135)
    ax.set_xticks(range(0, 101, 20))
    ax.set_xlabel(t("campaigns.chart.split_axis"))
    ax.set_title(t("campaigns.chart.split_title"))
    ax.legend(loc="center right", fontsize=8)
    fig.tight_layout()
    return fig


def lift_chart(lifts: pd.DataFrame, fmt: Formats, window_days: int):
    """Left: repurchase lift (percentage points), adjusted for the pre-contact characteristics and
    raw. Right: revenue per customer, raw, adjusted for pre-period revenue only, and adjusted."""
    t = fmt.t
    d = lifts[lifts["srm_ok"]].reset_index(drop=True)
    many = len(d) > 1 or d["campaign_id"].nunique() > 1
    labels = [_label(c, a, many) for c, a in zip(d["campaign_id"], d["arm"], strict=True)]
    y = np.arange(len(d))
    fig, axes = plt.subplots(1, 2, figsize=(11, max(3.0, 0.7 * len(d) + 2.2)), sharey=True)
    ax = axes[0]
    for col, lo, hi, color, name, dy in (("repurchase_adj", "repurchase_adj_lo", "repurchase_adj_hi", TREAT,
                                          t("campaigns.chart.adjusted"), -0.12),
                                         ("repurchase_pp", "repurchase_lo", "repurchase_hi", GREY,
                                          t("campaigns.chart.raw"), 0.12)):
        v, a, b = (100 * d[k].to_numpy(dtype=float) for k in (col, lo, hi))
        ax.errorbar(v, y + dy, xerr=np.vstack([v - a, b - v]), fmt="o", color=color, capsize=4, label=name)
    ax.legend(fontsize=8, loc="lower right")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(t("campaigns.chart.lift_axis", window=fmt.days(window_days)))
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax = axes[1]
    for col, lo, hi, color, name, dy in (("revenue_adj", "revenue_adj_lo", "revenue_adj_hi", TREAT,
                                          t("campaigns.chart.adjusted"), -0.2),
                                         ("revenue_cuped", "revenue_cuped_lo", "revenue_cuped_hi", CUPED,
                                          t("campaigns.chart.cuped"), 0.0),
                                         ("revenue_pc", "revenue_lo", "revenue_hi", GREY, t("campaigns.chart.raw_means"), 0.2)):
        v, a, b = (d[k].to_numpy(dtype=float) for k in (col, lo, hi))
        ax.errorbar(v, y + dy, xerr=np.vstack([v - a, b - v]), fmt="o", color=color, capsize=4, label=name)
    ax.axvline(0, color="black", linewidth=0.8)
    for a in axes:  # room below the last row for the legend
        a.set_ylim(len(d) + 0.3, -0.5)
    ax.xaxis.set_major_formatter(_money_axis(fmt))
    ax.set_xlabel(t("campaigns.chart.revenue_axis"))
    ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(t("campaigns.chart.lift_title", level=_level(fmt)))
    fig.tight_layout()
    return fig


def economics_chart(econ: pd.DataFrame, fmt: Formats):
    """Incremental profit (with its interval) beside the contact and offer costs, per group; the
    tick under each names its return on spend, or why it is not read."""
    t = fmt.t
    d = econ.reset_index(drop=True)
    many = len(d) > 1
    labels = [_label(c, a, many) for c, a in zip(d["campaign_id"], d["arm"], strict=True)]
    x = np.arange(len(d))
    fig, ax = plt.subplots(figsize=(max(6, 2.2 * len(d) + 3), 4.4))
    w = 0.36
    prof = d["incremental_profit"].to_numpy(dtype=float)
    err = np.vstack([prof - d["incremental_profit_lo"].to_numpy(dtype=float),
                     d["incremental_profit_hi"].to_numpy(dtype=float) - prof])
    ax.bar(x - w / 2, prof, w, color=TREAT, label=t("campaigns.chart.profit"), yerr=err, capsize=5)
    contact = d["cost"].fillna(0).to_numpy(dtype=float)
    ax.bar(x + w / 2, contact, w, color=GREY, label=t("campaigns.chart.contact_cost"))
    for xi, c in zip(x, d["cost"], strict=True):  # an unknown cost is not a zero bar
        if not np.isfinite(c):
            ax.text(xi + w / 2, 0, t("campaigns.chart.cost_unknown"), ha="center", va="bottom", fontsize=8, color=GREY)
    if "offer_cost" in d.columns and d["offer_cost"].notna().any():
        ax.bar(x + w / 2, d["offer_cost"].fillna(0).clip(lower=0).to_numpy(dtype=float), w, bottom=contact,
               color=CUPED, label=t("campaigns.chart.offer_cost"))
    notes = d["roi_note"] if "roi_note" in d.columns else pd.Series("contact cost unknown", index=d.index)
    ticks = [t("campaigns.chart.roi_tick", label=lab, roi=words.roi(fmt, roi), interval=words.roi_interval(fmt, lo, hi))
             if np.isfinite(roi) else t("campaigns.chart.roi_not_read", label=lab, why=words.roi_note(fmt, note))
             for lab, roi, lo, hi, note in zip(labels, d["roi"], d["roi_lo"], d["roi_hi"], notes, strict=True)]
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, ticks)
    ax.set_ylabel(t("campaigns.chart.money_axis"))
    ax.yaxis.set_major_formatter(_money_axis(fmt))
    ax.set_title(t("campaigns.chart.economics_title", level=_level(fmt)))
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never over them
    ax.margins(y=0.25)
    fig.tight_layout()
    return fig


def subgroup_chart(sub: pd.DataFrame, overall: float, window_days: int, fmt: Formats, campaign_id: str, arm: str):
    """Forest plot: adjusted repurchase lift per pre-contact group, one panel per way of splitting."""
    t = fmt.t
    title = t("campaigns.chart.subgroup_title", campaign=campaign_id, arm=arm)
    d = sub.dropna(subset=["repurchase_adj"]) if "repurchase_adj" in sub.columns else sub.iloc[0:0]
    dims = list(dict.fromkeys(d["dimension"]))
    if not dims:
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.text(0.5, 0.5, t("campaigns.chart.no_group"), ha="center", va="center")
        ax.axis("off")
        ax.set_title(title)
        return fig
    heights = [max(1, (d["dimension"] == k).sum()) for k in dims]
    fig, axes = plt.subplots(len(dims), 1, figsize=(9, 0.45 * sum(heights) + 1.1 * len(dims) + 0.8), sharex=True,
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, dim in zip(axes[:, 0], dims, strict=True):
        g = d[d["dimension"] == dim].reset_index(drop=True)
        y = np.arange(len(g))
        est = 100 * g["repurchase_adj"].to_numpy(dtype=float)
        colors = [TREAT if p < 0.05 else GREY for p in g["p_holm"]]
        for yi, e, lo, hi, c in zip(y, est, 100 * g["repurchase_adj_lo"], 100 * g["repurchase_adj_hi"], colors, strict=True):
            ax.errorbar(e, yi, xerr=[[e - lo], [hi - e]], fmt="o", color=c, capsize=4)
        ax.set_yticks(y, [t("campaigns.chart.group_tick", group=words.group(fmt, grp), treated=fmt.count(float(nt)),
                            control=fmt.count(float(nc)))
                          for grp, nt, nc in zip(g["group"], g["n_treatment"], g["n_control"], strict=True)])
        ax.invert_yaxis()
        ax.axvline(0, color="black", linewidth=0.8)
        ax.axvline(100 * overall, color=CUPED, linestyle="--", linewidth=1, label=t("campaigns.chart.overall"))
        ax.set_title(t("campaigns.chart.by", dimension=words.dimension(fmt, dim)), fontsize=10, loc="left")
    axes[0, 0].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes[-1, 0].set_xlabel(t("campaigns.chart.subgroup_axis", window=fmt.days(window_days)))
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def fatigue_chart(table: pd.DataFrame, lookback_days: int, window_days: int, fmt: Formats, campaign_id: str):
    """Repurchase per group and the lift, by the number of contacts in the look-back before."""
    t = fmt.t
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    x = np.arange(len(table))
    w = 0.38
    axes[0].bar(x - w / 2, 100 * table["rate_treatment"], w, color=TREAT, label=t("campaigns.chart.contacted"))
    axes[0].bar(x + w / 2, 100 * table["rate_control"], w, color=CONTROL, label=t("campaigns.chart.control"))
    axes[0].set_xticks(x, table["contacts_before"])
    axes[0].set_xlabel(t("campaigns.chart.earlier_contacts", lookback=fmt.days(lookback_days)))
    axes[0].set_ylabel(t("campaigns.chart.bought_axis", window=fmt.days(window_days)))
    axes[0].legend(fontsize=8)
    if "lift" in table.columns:
        est = 100 * table["lift"].to_numpy(dtype=float)
        axes[1].errorbar(x, est, yerr=np.vstack([est - 100 * table["lift_lo"].to_numpy(dtype=float),
                                                 100 * table["lift_hi"].to_numpy(dtype=float) - est]),
                         fmt="o", color=TREAT, capsize=4)
    axes[1].axhline(0, color="black", linewidth=0.8)
    axes[1].set_xticks(x, table["contacts_before"])
    axes[1].set_xlabel(t("campaigns.chart.earlier_contacts", lookback=fmt.days(lookback_days)))
    axes[1].set_ylabel(t("campaigns.chart.fatigue_lift_axis"))
    fig.suptitle(t("campaigns.chart.fatigue_title", campaign=campaign_id))
    fig.tight_layout()
    return fig


def observational_chart(obs: dict, window_days: int, fmt: Formats, campaign_id: str):
    """Contacted customers before and after the contact, against matched non-contacted look-alikes."""
    t = fmt.t
    fig, ax = plt.subplots(figsize=(7, 3.8))
    x = np.arange(2)
    w = 0.36
    ax.bar(x - w / 2, [100 * obs["treated_pre"], 100 * obs["treated_post"]], w, color=TREAT,
           label=t("campaigns.chart.contacted"))
    ax.bar(x + w / 2, [100 * obs["matched_pre"], 100 * obs["matched_post"]], w, color=CONTROL,
           label=t("campaigns.chart.matched"))
    ax.set_xticks(x, [t("campaigns.chart.before_contact", window=fmt.days(window_days)),
                      t("campaigns.chart.after_contact", window=fmt.days(window_days))])
    ax.set_ylabel(t("campaigns.chart.observational_axis"))
    ax.set_title(t("campaigns.chart.observational_title", campaign=campaign_id))
    ax.margins(y=0.25)
    ax.legend(fontsize=8, loc="upper center", ncol=2)
    fig.tight_layout()
    return fig
