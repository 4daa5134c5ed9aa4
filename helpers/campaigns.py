"""Notebook 06: campaign retrospective — did a campaign make customers buy again, by how much,
for whom, at what cost, and what do we do next period.

Which campaigns a run reads
    A campaign is visible to a run when its first contact is on or before the period end. Its
    outcome window runs from each customer's contact to ``window_days`` later; the campaign's
    window closes ``window_days`` after its last contact. A run **reads** a campaign when the
    window has closed by the period end and closed at most ``read_periods - 1`` periods before
    the run's period (so a monthly run reads the campaigns that finished this month and the two
    before). A campaign whose window is still open is listed as *too early to read* with what is
    known (customers per arm, the split check); outcomes are not read before the window closes,
    because peeking at a running test inflates false positives. Older campaigns were read by
    earlier runs and are listed only.

What is estimated (per campaign, per arm against the control group)
    * the split check (sample-ratio mismatch, chi-square against the designed shares); a failed
      check withholds every causal figure of that campaign;
    * balance before the contact: standardised mean differences (|SMD| > 0.1 flagged) and test
      p-values of pre-period orders and revenue, orders before, recency and segment shares;
    * repurchase = at least one purchase in the window (Newcombe interval for the difference of
      two proportions), orders, revenue and profit per customer (Welch intervals), relative lift;
    * the same lifts adjusted for those pre-contact characteristics (Lin's interacted regression,
      HC2 robust errors): the figures the sentences, the totals, the ROI and notebook 05 use, with
      the raw difference beside them;
    * CUPED: revenue (profit, orders) adjusted by the same outcome in the pre-period before the
      contact, theta pooled over both arms; the point estimate keeps its expectation, the interval
      narrows by the share of variance the pre-period explains;
    * incremental buyers, orders, revenue and profit in total (adjusted per-customer lift x
      customers contacted), the contact cost and the offer's cost (the extra discount treated
      customers redeemed, when the orders record discounts), and ROI = (incremental profit -
      costs) / costs with its interval (costs taken as known: the net profit interval rescaled);
    * lift per pre-contact subgroup (tier at contact, the campaign file's segment, lifecycle
      stage and RFM group at contact) with Holm-adjusted p-values across all subgroups and a
      heterogeneity (interaction) test per split, Holm-adjusted across splits; a group is called
      best or worst only when its split passes;
    * lift against the number of earlier contacts in the look-back (contact fatigue);
    * without a control group: an observational pre/post comparison with a nearest-neighbour
      matched group, never called a lift.

Subgroups are always defined **before** the contact. Tiers, stages and RFM segments that notebooks
02 and 05 assign at this period's end are after the campaign: a treated customer who bought
because of it has moved up, so splitting by them credits the campaign's effect to the groups it
moved people into. Tiers at contact therefore come from the customer table of the latest earlier
run whose period ended before the first contact; when there is none, the tier split is skipped
and said so.

Units: repurchase lifts (``repurchase_pp``, ``repurchase_pp_adjusted``; columns
``repurchase_pp`` and ``repurchase_adj``) are in probability units (0.024 = 2.4 percentage
points), money in the brand's currency per customer.

Transaction-level work is Ibis (orders joined to contacts in the engine); pandas sees one row per
contacted customer.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import cKDTree

from helpers import config
from helpers.audit import money_sum
from helpers.config import Campaigns, Params

LEVEL = 0.95  # the level of every interval the notebook reports
Z95 = float(stats.norm.ppf(0.5 + LEVEL / 2))
RESPONSE_FILE = "campaign_response.json"
OUTCOMES_FILE = "campaign_outcomes.parquet"

READ, TOO_EARLY, OBSERVATIONAL, READ_EARLIER = "read", "too early to read", "no control group", "read by an earlier run"
NOT_READ = "closed before this run, never read"  # no earlier run of the brand read it
UNKNOWN_GROUP = "stopped: unknown group label"  # a label that is neither a control nor a treatment label
ROI_MIN_COST_SHARE = 0.01  # ROI is read only when the costs are at least this share of the net profit interval's width

# Subgroup dimensions, all fixed before the contact; the label says where each comes from.
DIMENSIONS = {
    "tier": "value tier at contact (notebook 05, run of {source})",
    "segment": "segment recorded in the campaign file",
    "stage": "lifecycle stage at contact",
    "rfm": "RFM group at contact",
}
FATIGUE_BUCKETS = ("0", "1", "2", "3+")


# ================================================================ estimators


def wilson(x: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion."""
    if n <= 0:
        return (math.nan, math.nan)
    p = x / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def diff_proportions(x1: float, n1: float, x0: float, n0: float) -> dict:
    """p1 - p0 with Newcombe's hybrid score interval (method 10): good coverage even when a
    group has few or no buyers, where the plain Wald interval fails. The p-value (for the
    multiple-comparison adjustment) is the pooled two-proportion z-test."""
    if n1 <= 0 or n0 <= 0:
        return {"estimate": math.nan, "lo": math.nan, "hi": math.nan, "se": math.nan, "p": math.nan}
    p1, p0 = x1 / n1, x0 / n0
    l1, u1 = wilson(x1, n1)
    l0, u0 = wilson(x0, n0)
    d = p1 - p0
    lo = d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    hi = d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    # se for weighting (heterogeneity) from the interval itself: the Wald se collapses when a
    # group has no buyers; the p-value is the pooled two-proportion z-test (exact under H0)
    se = (hi - lo) / (2 * Z95)
    pooled = (x1 + x0) / (n1 + n0)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    p = float(2 * stats.norm.sf(abs(d) / se0)) if se0 > 0 else 1.0
    return {"estimate": d, "lo": lo, "hi": hi, "se": se, "p": p}


def diff_means(y1, y0) -> dict:
    """mean(y1) - mean(y0) with a Welch interval (t with Satterthwaite degrees of freedom)."""
    y1, y0 = np.asarray(y1, dtype=float), np.asarray(y0, dtype=float)
    n1, n0 = y1.size, y0.size
    if n1 < 2 or n0 < 2:
        return {"estimate": math.nan, "lo": math.nan, "hi": math.nan, "se": math.nan, "p": math.nan}
    v1, v0 = y1.var(ddof=1) / n1, y0.var(ddof=1) / n0
    d = float(y1.mean() - y0.mean())
    se = math.sqrt(v1 + v0)
    if se == 0:
        return {"estimate": d, "lo": d, "hi": d, "se": 0.0, "p": 1.0 if d == 0 else 0.0}
    df = (v1 + v0) ** 2 / (v1 ** 2 / (n1 - 1) + v0 ** 2 / (n0 - 1)) if (v1 > 0 and v0 > 0) else min(n1, n0) - 1
    q = float(stats.t.ppf(0.975, df))
    return {"estimate": d, "lo": d - q * se, "hi": d + q * se, "se": se, "p": float(2 * stats.t.sf(abs(d) / se, df))}


def cuped(y1, y0, x1, x0) -> dict:
    """CUPED (Deng et al. 2013): y - theta (x - mean x), theta = cov(y, x) / var(x) pooled over
    both groups. Returns the adjusted difference with its interval, theta, the share of the
    outcome's variance removed and the ratio of the adjusted to the raw interval width."""
    y1, y0, x1, x0 = (np.asarray(a, dtype=float) for a in (y1, y0, x1, x0))
    raw = diff_means(y1, y0)
    unadjusted = {**raw, "theta": 0.0, "variance_reduction": 0.0, "width_ratio": 1.0, "raw": raw}
    if not (np.isfinite(raw["se"]) and raw["se"] > 0):  # an arm of fewer than 2, or outcomes that do not vary
        return unadjusted
    y, x = np.concatenate([y1, y0]), np.concatenate([x1, x0])
    vx = x.var(ddof=1)
    if not vx > 0:  # a covariate that does not vary: nothing to adjust by
        return unadjusted
    theta = float(np.cov(y, x)[0, 1] / vx)  # np.cov divides by n - 1, as var(ddof=1)
    mx = x.mean()
    a1, a0 = y1 - theta * (x1 - mx), y0 - theta * (x0 - mx)
    adj = diff_means(a1, a0)
    # y varies here (raw se > 0): the share of its variance the adjustment removes
    reduction = 1 - np.concatenate([a1, a0]).var(ddof=1) / y.var(ddof=1)
    return {**adj, "theta": theta, "variance_reduction": float(reduction),
            "width_ratio": adj["se"] / raw["se"], "raw": raw}


def ratio_interval(m1: float, se1: float, m0: float, se0: float) -> tuple[float, float, float]:
    """Relative lift m1/m0 - 1 with a delta-method interval on the log ratio (NaN when a mean is
    not positive)."""
    if not (m1 > 0 and m0 > 0):
        return (math.nan, math.nan, math.nan)
    s = math.sqrt((se1 / m1) ** 2 + (se0 / m0) ** 2)
    r = m1 / m0
    return (r - 1, r * math.exp(-Z95 * s) - 1, r * math.exp(Z95 * s) - 1)


def relative_proportion(x1, n1, x0, n0) -> tuple[float, float, float]:
    """Relative lift in repurchase, p1/p0 - 1, with the Katz log interval of the risk ratio."""
    if x1 <= 0 or x0 <= 0:
        return (math.nan, math.nan, math.nan)
    r = (x1 / n1) / (x0 / n0)
    s = math.sqrt(1 / x1 - 1 / n1 + 1 / x0 - 1 / n0)
    return (r - 1, r * math.exp(-Z95 * s) - 1, r * math.exp(Z95 * s) - 1)


def srm_test(observed: dict[str, int], shares: dict[str, float]) -> dict:
    """Chi-square test of the customers per arm against the designed split."""
    arms = list(observed)
    obs = np.array([observed[a] for a in arms], dtype=float)
    s = np.array([shares[a] for a in arms], dtype=float)
    expected = obs.sum() * s / s.sum()
    chi2, p = stats.chisquare(obs, expected)
    return {"chi2": float(chi2), "p": float(p), "expected": dict(zip(arms, expected.tolist(), strict=True))}


def designed_shares(arms: pd.DataFrame) -> tuple[dict[str, float] | None, str]:
    """The designed split of one campaign from its arms' ``designed_share`` (per-row share of the
    row's own arm, or the treatment share written on every row of a two-arm campaign), and how it
    was read: 'as_recorded', 'treatment_share' (the control has the rest), 'rescaled' (the shares
    did not sum to 1) or 'not_recorded' (None: the split cannot be checked)."""
    values = arms.set_index("arm")["designed_share"]
    if values.isna().any():
        return None, "not_recorded"
    total = float(values.sum())
    if abs(total - 1) < 0.02:
        return values.to_dict(), "as_recorded"
    if len(values) == 2 and values.nunique() == 1 and (arms["role"] == "control").sum() == 1:
        share = float(values.iloc[0])
        return ({a: (1 - share if r == "control" else share) for a, r in zip(arms["arm"], arms["role"], strict=True)},
                "treatment_share")
    return (values / total).to_dict(), "rescaled"


def holm(pvalues) -> np.ndarray:
    """Holm step-down adjusted p-values (NaN kept)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.size, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if not ok.size:
        return out
    order = ok[np.argsort(p[ok])]
    m = order.size
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[idx]))
        out[idx] = running
    return out


def heterogeneity(estimates, ses) -> tuple[float, float, int]:
    """Cochran's Q: do the subgroup lifts differ by more than their noise? (Q, p, groups)."""
    d, s = np.asarray(estimates, dtype=float), np.asarray(ses, dtype=float)
    ok = np.isfinite(d) & np.isfinite(s) & (s > 0)
    d, w = d[ok], 1 / s[ok] ** 2
    if d.size < 2:
        return (math.nan, math.nan, int(d.size))
    mean = (w * d).sum() / w.sum()
    q = float((w * (d - mean) ** 2).sum())
    return (q, float(stats.chi2.sf(q, d.size - 1)), int(d.size))


def control_size_needed(p1: float, p0: float, ratio: float, delta: float, power: float = 0.8) -> float:
    """Control customers needed (treatment = ratio x control) to detect ``delta`` in repurchase
    at 5 % two-sided with the given power."""
    if not delta or not np.isfinite(delta) or ratio <= 0:
        return math.nan
    z = Z95 + float(stats.norm.ppf(power))
    return z * z * (p1 * (1 - p1) / ratio + p0 * (1 - p0)) / delta ** 2


# Pre-contact covariates of the regression adjustment and the balance table (label, column).
HISTORY = (("orders in the pre-period", "pre_orders"), ("revenue in the pre-period", "pre_revenue"),
           ("orders before the contact", "orders_before"), ("days since the last order", "recency_days"))
SMD_FLAG = 0.1  # |standardised mean difference| above this: the arms differ on it (Austin 2009)


def adjustment_covariates(df: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """The pre-contact covariates of a frame of contacted customers, as a float matrix (columns
    that do not vary dropped): pre-period orders and revenue, orders before the contact, log days
    since the last order (the mean where there is none, with an indicator), and the campaign
    file's segment as indicators (first level left out). Everything is fixed before the contact."""
    parts: list[tuple[str, np.ndarray]] = []
    for name, c in (("pre-period orders", "pre_orders"), ("pre-period revenue", "pre_revenue"),
                    ("orders before", "orders_before")):
        if c in df.columns:
            parts.append((name, df[c].to_numpy(dtype=float)))
    if "recency_days" in df.columns:
        r = np.log1p(df["recency_days"].to_numpy(dtype=float).clip(min=0))
        none = ~np.isfinite(r)
        parts.append(("log days since last order", np.where(none, np.nanmean(r) if (~none).any() else 0.0, r)))
        parts.append(("no earlier order", none))
    if "segment" in df.columns and df["segment"].notna().any():
        seg = df["segment"].fillna("not recorded")
        try:
            codes, levels = pd.factorize(seg, sort=True)
        except TypeError:  # mixed types: compare as text
            codes, levels = pd.factorize(seg.astype(str), sort=True)
        parts += [(f"segment={level}", codes == j) for j, level in enumerate(levels) if j]
    keep = [(name, v) for name, v in parts if v.size and np.isfinite(v).all() and v.min() != v.max()]
    X = np.empty((len(df), len(keep)))
    for j, (_, v) in enumerate(keep):
        X[:, j] = v
    return X, [name for name, _ in keep]


def _independent_columns(gram: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Indices of the columns of a centred design, taken in order, that are not (almost) linear
    combinations of those before them, from its cross-product matrix ``gram``: a column is kept
    when the smallest eigenvalue of the kept columns' correlation matrix stays above ``tol``."""
    d = np.diag(gram)
    if not d.size:
        return np.arange(0)
    scale = np.sqrt(np.where(d > 0, d, 1.0))
    corr = gram / np.outer(scale, scale)
    chosen: list[int] = []
    for j in range(d.size):
        if d[j] > 0 and np.linalg.eigvalsh(corr[np.ix_([*chosen, j], [*chosen, j])])[0] > tol:
            chosen.append(j)
    return np.array(chosen, dtype=int)


def _ols_hc2(X: np.ndarray, Y: np.ndarray, weights_row: int = 0, chunk: int = 1 << 18) -> tuple[np.ndarray, np.ndarray]:
    """OLS of each column of Y on X: (coefficient ``weights_row`` per outcome, its HC2 variance).
    Only that coefficient's variance is formed: a'(sum x x' e^2 / (1 - h)) a with a the row of
    (X'X)^-1; rows are taken in chunks, so millions of customers need no n x n or n x p x p."""
    A = np.linalg.inv(X.T @ X)
    B = A @ (X.T @ Y)
    a = A[weights_row]
    var = np.zeros(Y.shape[1])
    for s in range(0, X.shape[0], chunk):
        x = X[s:s + chunk]
        h = ((x @ A) * x).sum(axis=1)
        e = Y[s:s + chunk] - x @ B
        w = x @ a
        var += ((w * w / np.clip(1 - h, 1e-12, None))[:, None] * e * e).sum(axis=0)
    return B[weights_row], var


def _arm_intercept_hc2(x: np.ndarray, y: np.ndarray, chunk: int = 1 << 18) -> tuple[np.ndarray, np.ndarray]:
    """``_ols_hc2`` of y on [1, x] for the intercept, without forming [1, x]: the cross-products
    of the intercept column are x's column sums, and each row's leverage and weight are built
    from x's row (an outcome frame of millions of customers is not copied)."""
    n = x.shape[0]
    s = x.sum(axis=0)
    zz = np.empty((x.shape[1] + 1, x.shape[1] + 1))
    zz[0, 0], zz[0, 1:], zz[1:, 0], zz[1:, 1:] = n, s, s, x.T @ x
    A = np.linalg.inv(zz)
    B = A @ np.vstack([y.sum(axis=0), x.T @ y])
    var = np.zeros(y.shape[1])
    for lo in range(0, n, chunk):
        xc, yc = x[lo:lo + chunk], y[lo:lo + chunk]
        w = A[0, 0] + xc @ A[1:, 0]  # the row's weight in the intercept: z (X'X)^-1 e_0
        h = A[0, 0] + 2 * (xc @ A[1:, 0]) + ((xc @ A[1:, 1:]) * xc).sum(axis=1)
        e = yc - B[0] - xc @ B[1:]
        var += ((w * w / np.clip(1 - h, 1e-12, None))[:, None] * e * e).sum(axis=0)
    return B[0], var


def regression_adjusted(Y, treated, X) -> dict:
    """Covariate-adjusted difference in means of each outcome (columns of Y) between treated and
    control, from pre-contact covariates X, with HC2 robust standard errors and normal 95 %
    intervals.

    Lin's (2013) interacted estimator — the outcome on the arm, the covariates centred at their
    mean over both arms, and their interaction — when each arm has at least 10 customers per
    parameter; it is what two separate regressions (one per arm, both evaluated at the pooled
    covariate mean) give, and its HC2 variance is the sum of theirs, which is how it is computed.
    With fewer customers, common slopes (ANCOVA: outcome on arm + centred covariates, HC2); with
    fewer still, the plain difference (whose HC2 variance is the Welch one). Under randomisation
    any of them is consistent; adjusting removes the part of a chance imbalance in the
    covariates that predicts the outcome, and narrows the interval by what they explain.
    Covariates that are linear combinations of others are left out (``columns``: those used)."""
    Y = np.asarray(Y, dtype=float)
    Y = Y[:, None] if Y.ndim == 1 else Y
    t = np.asarray(treated, dtype=bool)
    X = np.asarray(X, dtype=float).reshape(len(t), -1)
    n1, n0 = int(t.sum()), int((~t).sum())
    nan = np.full(Y.shape[1], np.nan)
    if n1 < 2 or n0 < 2:
        return {"estimate": nan, "se": nan, "lo": nan, "hi": nan, "p": nan, "method": "none", "k": 0,
                "columns": np.arange(0)}
    if t[n1:].any():  # the treated first, so that each arm is a slice (no copy of its rows)
        order = np.argsort(~t, kind="stable")
        Y, X, t = Y[order], X[order], t[order]
    Xc = X - X.mean(axis=0)
    columns = _independent_columns(Xc.T @ Xc)
    if columns.size < Xc.shape[1]:
        Xc = Xc[:, columns]
    k = Xc.shape[1]
    arms = ((slice(0, n1), 1.0), (slice(n1, None), -1.0))

    def full_rank(rows: slice) -> bool:
        x = Xc[rows]
        s = x.sum(axis=0)
        return _independent_columns(x.T @ x - np.outer(s, s) / x.shape[0]).size == k

    method = "unadjusted"
    if k and min(n1, n0) >= 10 * (k + 1) and all(full_rank(rows) for rows, _ in arms):
        est, var = np.zeros(Y.shape[1]), np.zeros(Y.shape[1])
        for rows, sign in arms:
            b, v = _arm_intercept_hc2(Xc[rows], Y[rows])
            est += sign * b
            var += v
        method = "Lin (interacted), HC2"
    else:
        use = Xc if k and n1 + n0 >= 10 * (k + 2) else Xc[:, :0]
        if use.shape[1]:
            method = "ANCOVA (common slopes), HC2"
        D = np.column_stack([np.ones(t.size), t.astype(float), use])
        est, var = _ols_hc2(D, Y, weights_row=1)
    se = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(se > 0, 2 * stats.norm.sf(np.abs(est) / se), np.where(est == 0, 1.0, 0.0))
    return {"estimate": est, "se": se, "lo": est - Z95 * se, "hi": est + Z95 * se, "p": p, "method": method, "k": k,
            "columns": columns}


def smd(x1, x0) -> float:
    """Standardised mean difference (mean1 - mean0) / sqrt((var1 + var0) / 2); NaN ignored."""
    x1, x0 = np.asarray(x1, dtype=float), np.asarray(x0, dtype=float)
    x1, x0 = x1[np.isfinite(x1)], x0[np.isfinite(x0)]
    if x1.size < 2 or x0.size < 2:
        return math.nan
    pooled = math.sqrt((x1.var(ddof=1) + x0.var(ddof=1)) / 2)
    d = float(x1.mean() - x0.mean())
    return d / pooled if pooled > 0 else (0.0 if d == 0 else math.copysign(math.inf, d))


# ================================================================ the study: data in, frames out


@dataclass
class Study:
    """Every campaign a run can see, and one customer-level frame per campaign it reads."""

    params: Params
    period: str
    period_end: pd.Timestamp
    has_table: bool
    overview: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per campaign
    arms: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per campaign x arm
    outcomes: dict[str, pd.DataFrame] = field(default_factory=dict)  # customer level, per campaign read
    pools: dict[str, pd.DataFrame] = field(default_factory=dict)  # observational comparison pools
    dimensions: dict[str, str] = field(default_factory=dict)  # subgroup column -> description
    notes: list[tuple[str, dict]] = field(default_factory=list)  # data issues worth a sentence: (kind, figures)
    sources: dict[str, str] = field(default_factory=dict)  # subgroup column -> period of the earlier run it comes from
    profit_basis: str = ""  # 'margin_column', 'cost_column' or 'business_margin' (profit_expression)
    profit_at_business_margin: bool = False  # no margin or cost column: profit rests on params business.margin
    has_discount: bool = False  # the orders record discounts: the offer's cost can be counted
    thresholds: tuple[int, int] | None = None  # (active_days, churn_days) for stage at contact
    cost_basis: dict[str, dict] = field(default_factory=dict)  # campaign -> where its contact cost comes from

    @property
    def cfg(self) -> Campaigns:
        return self.params.campaigns

    @property
    def currency(self) -> str:
        return self.params.business.unit

    def ids(self, status: str) -> list[str]:
        if self.overview.empty:
            return []
        return self.overview.loc[self.overview["status"] == status, "campaign_id"].tolist()

    def srm_ok(self, campaign_id: str) -> bool:
        row = self.overview.set_index("campaign_id").loc[campaign_id]
        return bool(row["srm_ok"]) if pd.notna(row["srm_ok"]) else True

    def readable(self) -> list[str]:
        """Campaigns read with a control group whose split check did not fail."""
        return [c for c in self.ids(READ) if self.srm_ok(c)]


def normal_labels(labels: list[str]) -> list[str]:
    """Group labels as they are compared: trimmed, lower case."""
    return [str(s).strip().lower() for s in labels]


def _role(group, cfg: Campaigns):
    """'control', 'treatment' or 'unknown' from the group label (trimmed, case-insensitive);
    :func:`resolve_roles` decides what an unknown label of a campaign is."""
    g = group.strip().lower()
    return ibis.cases((g.isin(normal_labels(cfg.control_labels)), "control"),
                      (g.isin(normal_labels(cfg.treatment_labels)), "treatment"), else_="unknown")


def resolve_roles(arms: pd.DataFrame) -> pd.DataFrame:
    """Per campaign, the role of each arm ('control' / 'treatment' / 'unknown' from the labels):
    a campaign with a control arm and exactly one other arm, whose label is unknown, reads that
    arm as its treatment (a campaign has something to compare its control with); every other
    unknown label stays 'unknown' and stops its campaign. Adds ``label_inferred`` (True where an
    unknown label became the treatment)."""
    arms = arms.copy()
    arms["label_inferred"] = False
    for _, a in arms.groupby("campaign_id", sort=False):
        others = a[a["role"] != "control"]
        if (a["role"] == "control").any() and len(others) == 1 and (others["role"] == "unknown").all():
            arms.loc[others.index, ["role", "label_inferred"]] = ["treatment", True]
    return arms


def natural_order(ids) -> list:
    """Campaign ids in natural order: numbers by value (2 before 10), text parts as text."""
    import re

    def key(x):
        parts = re.split(r"(\d+)", str(x))
        return [(0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in parts if p != ""]

    return sorted(dict.fromkeys(ids), key=key)


def _sort_ids(frame: pd.DataFrame, *more: str) -> pd.DataFrame:
    """``frame`` sorted by campaign id in natural order, then by ``more``."""
    if frame.empty:
        return frame
    rank = {c: i for i, c in enumerate(natural_order(frame["campaign_id"]))}
    return (frame.assign(_order=frame["campaign_id"].map(rank)).sort_values(["_order", *more], kind="stable")
            .drop(columns="_order").reset_index(drop=True))


def valid_contacts(data, period_end: pd.Timestamp, cfg: Campaigns) -> tuple[ir.Table, dict]:
    """Contact rows that parsed, with customer, campaign and time, up to the period end; plus
    counts of those left out."""
    t = data.table("campaigns")
    ok = t._parse_error.isnull() & t.customer_id.notnull() & t.campaign_id.notnull() & t.contact_ts.notnull() \
        & t.group.notnull()
    counts = t.aggregate(rows=t.count(), bad=(~ok).sum(), later=(ok & (t.contact_ts > period_end)).sum()).execute()
    v = t.filter(ok & (t.contact_ts <= period_end))
    v = v.mutate(role=_role(v.group, cfg))
    return v, {k: int(counts[k].iloc[0] or 0) for k in ("rows", "bad", "later")}


def dedup_contacts(rows: ir.Table) -> ir.Table:
    """One row per campaign and customer: the first contact, total cost; customers recorded in
    more than one arm of the same campaign are marked (``n_arms`` > 1)."""
    return rows.group_by(["campaign_id", "customer_id"]).aggregate(
        contact_ts=rows.contact_ts.min(), arm=rows.group.min(), role=rows.role.min(), n_arms=rows.group.nunique(),
        contacts=rows.count(), cost=rows.cost.sum(), cost_known=rows.cost.count(),
        designed_share=rows.designed_share.mean().round(9), channel=rows.channel.min(), offer=rows.offer.min(),
        segment=rows.segment.min(),
    )


def _period_index(label_period: pd.Period, ts: pd.Timestamp) -> int:
    return (label_period - pd.Timestamp(ts).to_period(label_period.freq)).n


def earlier_reads(params: Params, period: str) -> dict[str, str]:
    """{campaign id: period} of the campaigns an earlier period's latest run of this brand read
    (its metrics.json lists them as read, or read without a control group); the latest such
    period per campaign."""
    brand_dir = config.outputs_dir() / params.brand
    if not brand_dir.exists():
        return {}
    current = config.to_period(period, params.period)
    found: dict[str, tuple] = {}
    for period_dir in brand_dir.iterdir():
        try:
            p = config.to_period(period_dir.name, params.period)
        except config.ParamsError:
            continue
        path = period_dir / "latest" / "metrics.json"
        if p >= current or not path.exists():
            continue
        try:
            entries = json.loads(path.read_text(encoding="utf-8")).get("campaigns") or {}
        except (OSError, ValueError):
            continue
        for cid, entry in entries.items():
            if isinstance(entry, dict) and entry.get("status") in (READ, OBSERVATIONAL):
                if cid not in found or p > found[cid][0]:
                    found[cid] = (p, period_dir.name)
    return {cid: label for cid, (_, label) in found.items()}


def campaign_overview(contacts: ir.Table, params: Params, period: str, period_end: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per campaign, one row per campaign x arm) with status and the split check."""
    cfg = params.campaigns
    clean = contacts.filter(contacts.n_arms == 1)
    arms = clean.group_by(["campaign_id", "arm", "role"]).aggregate(
        n=clean.count(), first_contact=clean.contact_ts.min(), last_contact=clean.contact_ts.max(),
        # rounded: a mean of millions of equal shares must not depend on the engine's summation order
        designed_share=clean.designed_share.mean().round(9), cost=clean.cost.sum(), cost_known=clean.cost_known.sum(),
        channel=clean.channel.min(), offer=clean.offer.min(),
    ).execute()
    several = contacts.filter(contacts.n_arms > 1)
    conflicts = several.group_by("campaign_id").aggregate(in_several_arms=several.count()).execute()
    if arms.empty:
        return pd.DataFrame(), arms
    arms = _sort_ids(resolve_roles(arms), "role", "arm")
    here = config.to_period(period, params.period)
    earlier = earlier_reads(params, period)
    rows = []
    for cid, a in arms.groupby("campaign_id", sort=False):
        first, last = a["first_contact"].min(), a["last_contact"].max()
        window_end = last + pd.Timedelta(days=cfg.window_days)
        has_control = bool((a["role"] == "control").any())
        unknown = a[a["role"] == "unknown"]
        if len(unknown):
            status = UNKNOWN_GROUP
        elif window_end > period_end:
            status = TOO_EARLY
        elif _period_index(here, window_end) >= cfg.read_periods:
            status = READ_EARLIER if str(cid) in earlier else NOT_READ
        else:
            status = READ if has_control else OBSERVATIONAL
        shares, share_note = designed_shares(a) if has_control or len(a) > 1 else (None, "one_arm")
        srm = srm_test(dict(zip(a["arm"], a["n"], strict=True)), shares) if shares and len(a) > 1 else None
        treated = a[a["role"] == "treatment"]
        rows.append({
            "campaign_id": cid, "status": status, "first_contact": first, "last_contact": last,
            "window_end": window_end, "customers": int(a["n"].sum()), "arms": len(a),
            "control": a.loc[a["role"] == "control", "arm"].iloc[0] if has_control else None,
            "channel": ", ".join(sorted(set(treated["channel"].dropna()))) or None,
            "offer": ", ".join(sorted(set(treated["offer"].dropna()))) or None,
            "srm_p": srm["p"] if srm else math.nan,
            "srm_ok": (srm["p"] >= cfg.srm_alpha) if srm else math.nan,
            "split_note": share_note,
            "in_several_arms": int(conflicts.set_index("campaign_id")["in_several_arms"].get(cid, 0)),
            "unknown_labels": [(str(x.arm), int(x.n)) for x in unknown.itertuples()],
            "inferred_label": (str(a.loc[a["label_inferred"], "arm"].iloc[0]) if a["label_inferred"].any() else None),
            "read_by": earlier.get(str(cid)),
            "window_period": config.period_label(pd.Timestamp(window_end).to_period(here.freq), params.period),
        })
        if srm:
            arms.loc[a.index, "expected_n"] = [srm["expected"][x] for x in a["arm"]]
        if shares:
            arms.loc[a.index, "designed_share"] = [shares[x] for x in a["arm"]]
    arms["observed_share"] = arms["n"] / arms.groupby("campaign_id")["n"].transform("sum")
    return pd.DataFrame(rows), arms


def profit_expression(orders: ir.Table, params: Params) -> tuple[ir.Value, str, float, bool]:
    """Profit of an order: the margin column, else amount - cost, else amount x business margin
    (the basis: 'margin_column', 'cost_column', 'business_margin'); with the share of an order's discount that this profit already carries (a margin or a cost
    column: profit of the amount paid, all of it; the business margin: only that share, since
    the goods cost the same with or without a discount) and whether any order records a discount."""
    rate = params.business.margin
    counts = orders.aggregate(m=orders.margin.count(), c=orders.cost.count(),
                              d=orders.discount.count(where=orders.discount != 0)).execute()
    discounts = bool(int(counts["d"].iloc[0] or 0))
    if int(counts["m"].iloc[0]):
        return orders.margin.fill_null(orders.amount * rate), "margin_column", 1.0, discounts
    if int(counts["c"].iloc[0]):
        return (orders.amount - orders.cost).fill_null(orders.amount * rate), "cost_column", 1.0, discounts
    return orders.amount * rate, "business_margin", rate, discounts


def _window_aggregates(keys: ir.Table, orders: ir.Table, refunds: ir.Table, profit, cfg: Campaigns,
                       margin_rate: float, by: tuple[str, ...] = ("campaign_id", "customer_id")) -> tuple[ir.Table, ir.Table]:
    """Per (campaign, customer) order and refund aggregates around each contact, in the engine,
    keyed by ``by`` (columns of ``keys`` that identify a contact)."""
    o = orders.select(oid=orders.customer_id, ts=orders.order_ts, amount=orders.amount, profit=profit,
                      discount=orders.discount.fill_null(0.0), outlier=orders.is_outlier.fill_null(False))
    j = keys.join(o, keys.customer_id == o.oid)
    end = j.contact_ts + ibis.interval(days=cfg.window_days)
    pre = j.contact_ts - ibis.interval(days=cfg.pre_period_days)
    in_w = (j.ts >= j.contact_ts) & (j.ts < end)
    in_pre = (j.ts >= pre) & (j.ts < j.contact_ts)
    before = j.ts < j.contact_ts
    money = ~j.outlier if cfg.exclude_outlier_revenue else ibis.literal(True)
    agg = j.group_by(list(by)).aggregate(
        orders=j.ts.count(where=in_w), outlier_orders=j.ts.count(where=in_w & j.outlier),
        revenue=money_sum(j.amount, where=in_w & money), profit=money_sum(j.profit, where=in_w & money),
        discount=money_sum(j.discount, where=in_w & money), pre_orders=j.ts.count(where=in_pre), pre_revenue=money_sum(j.amount, where=in_pre & money),
        pre_profit=money_sum(j.profit, where=in_pre & money),
        orders_before=j.ts.count(where=before), revenue_before=money_sum(j.amount, where=before & money),
        first_before=j.ts.min(where=before), last_before=j.ts.max(where=before),
    )
    r = refunds.select(rid=refunds.customer_id, ts=refunds.order_ts, amount=refunds.amount)
    jr = keys.join(r, keys.customer_id == r.rid)
    in_w = (jr.ts >= jr.contact_ts) & (jr.ts < jr.contact_ts + ibis.interval(days=cfg.window_days))
    in_pre = (jr.ts >= jr.contact_ts - ibis.interval(days=cfg.pre_period_days)) & (jr.ts < jr.contact_ts)
    ragg = jr.group_by(list(by)).aggregate(
        refund=money_sum(jr.amount, where=in_w), pre_refund=money_sum(jr.amount, where=in_pre))
    return agg, ragg


def _merge_outcomes(base: pd.DataFrame, agg: pd.DataFrame, ragg: pd.DataFrame, margin_rate: float,
                    on: tuple[str, ...] = ("campaign_id", "customer_id")) -> pd.DataFrame:
    df = _left_join(_left_join(base, agg, on), ragg, on)
    for col in ("orders", "outlier_orders", "pre_orders", "orders_before"):
        df[col] = df[col].fillna(0).astype(int)
    for col in ("revenue", "profit", "discount", "pre_revenue", "pre_profit", "revenue_before", "refund", "pre_refund"):
        df[col] = df[col].fillna(0.0).astype(float)
    # refunds are negative amounts: net revenue, and the profit they take back at the business margin
    df["revenue"] += df["refund"]
    df["profit"] += df["refund"] * margin_rate
    df["pre_revenue"] += df["pre_refund"]
    df["pre_profit"] += df["pre_refund"] * margin_rate
    df["purchased"] = (df["orders"] > 0).astype(int)
    df["recency_days"] = (df["contact_ts"] - pd.to_datetime(df["last_before"])).dt.total_seconds() / 86400
    return df.drop(columns=["refund", "pre_refund"])


def _left_join(df: pd.DataFrame, other: pd.DataFrame, on: tuple[str, ...]) -> pd.DataFrame:
    """``df.merge(other, on=on, how="left")`` where ``other`` has one row per key. On the integer
    ``_row`` the rows are lined up by an index lookup (the same values, NaN / NaT where ``df``'s
    key has no row, and the same dtypes as the merge gives) instead of a merge, which copies and
    rehashes the whole of ``df``."""
    if on != ("_row",) or not other["_row"].is_unique:
        return df.merge(other, on=list(on), how="left")
    aligned = other.set_index("_row").reindex(df["_row"].to_numpy())
    out = df.copy(deep=False)
    for col in aligned.columns:
        out[col] = aligned[col].to_numpy()
    return out


def stage_thresholds(orders: ir.Table, before: pd.Timestamp, params: Params) -> tuple[int, int]:
    """(active_days, churn_days) for the stage at contact: the lifecycle params when set, else
    the brand's inter-purchase gaps before the contact at the lifecycle quantiles."""
    lc = params.lifecycle
    if lc.active_days and lc.churn_days:
        return lc.active_days, lc.churn_days
    o = orders.filter(orders.order_ts < before).select("customer_id", "order_ts")
    w = ibis.window(group_by=o.customer_id, order_by=o.order_ts)
    gaps = o.mutate(gap=(o.order_ts.epoch_seconds() - o.order_ts.lag().over(w).epoch_seconds()) / 86400.0)
    gaps = gaps.filter(gaps.gap.notnull())
    q = gaps.aggregate(a=gaps.gap.quantile(lc.active_quantile), c=gaps.gap.quantile(lc.churn_quantile)).execute()
    qa, qc = q["a"].iloc[0], q["c"].iloc[0]
    a = lc.active_days or (int(math.ceil(qa)) if pd.notna(qa) else 90)
    c = lc.churn_days or (int(math.ceil(qc)) if pd.notna(qc) else 365)
    a = max(1, int(a))
    return a, max(a + 1, int(c))


def stage_at_contact(df: pd.DataFrame, active_days: int, churn_days: int) -> pd.Series:
    r, n = df["recency_days"], df["orders_before"]
    stage = np.select(
        [n == 0, (r <= active_days) & (n == 1), r <= active_days, r <= churn_days],
        ["no purchase yet", "new", "active", "dormant"], "churned")
    return pd.Series(stage, index=df.index)


def rfm_at_contact(df: pd.DataFrame) -> pd.Series:
    """Four RFM groups at contact: recency split at the campaign's median, frequency at repeat
    buyer (2+ orders) vs one-time buyer."""
    r_med = df["recency_days"].median()
    recent = df["recency_days"] <= r_med
    repeat = df["orders_before"] >= 2
    group = np.select([recent & repeat, recent & ~repeat, ~recent & repeat],
                      ["recent repeat buyers", "recent one-time buyers", "lapsed repeat buyers"],
                      "lapsed one-time buyers")
    return pd.Series(np.where(df["orders_before"] == 0, "no purchase yet", group), index=df.index)


def earlier_customer_table(params: Params, before: pd.Timestamp) -> tuple[str, pd.DataFrame] | None:
    """data/customers.parquet of the latest successful run of this brand whose period ended
    before ``before`` (attributes as they were when the campaign was planned)."""
    brand_dir = config.outputs_dir() / params.brand
    if not brand_dir.exists():
        return None
    found = []
    for period_dir in brand_dir.iterdir():
        try:
            end = config.period_end(period_dir.name, params.period)
        except config.ParamsError:
            continue
        path = period_dir / "latest" / "data" / "customers.parquet"
        if end < before and path.exists():
            found.append((end, period_dir.name, path))
    if not found:
        return None
    _, label, path = max(found)
    frame = pd.read_parquet(path)
    keep = [c for c in ("customer_id", "tier", "stage", "rfm_segment") if c in frame.columns]
    return label, frame[keep]


def contact_history(rows: ir.Table, keys: ir.Table, lookback_days: int,
                    by: tuple[str, ...] = ("campaign_id", "customer_id")) -> ir.Table:
    """Per (campaign, customer): contacts made (rows of any campaign not labelled control) in the
    ``lookback_days`` before this contact (keyed by ``by``, columns of ``keys``)."""
    h = rows.filter(rows.role != "control").select(hid=rows.customer_id, hts=rows.contact_ts)
    j = keys.join(h, (keys.customer_id == h.hid) & (h.hts < keys.contact_ts)
                  & (h.hts >= keys.contact_ts - ibis.interval(days=lookback_days)))
    return j.group_by(list(by)).aggregate(contacts_prior=j.count())


def comparison_pool(orders: ir.Table, ref: pd.Timestamp, exclude: ir.Table, cfg: Campaigns) -> pd.DataFrame:
    """Customers with purchases before ``ref`` who are not in ``exclude`` (ids): their history
    at ``ref`` and their purchases in the windows just before and after it."""
    ref = pd.Timestamp(ref)
    w = pd.Timedelta(days=cfg.window_days)
    o = orders.filter(orders.order_ts < ref + w)
    o = o.anti_join(exclude, o.customer_id == exclude.customer_id)
    before = o.order_ts < ref
    pre = (o.order_ts >= ref - w) & before
    post = o.order_ts >= ref
    money = ~o.is_outlier.fill_null(False) if cfg.exclude_outlier_revenue else ibis.literal(True)
    agg = o.group_by("customer_id").aggregate(
        orders_before=o.order_ts.count(where=before), revenue_before=money_sum(o.amount, where=before & money),
        last_before=o.order_ts.max(where=before),
        pre_orders=o.order_ts.count(where=pre), pre_revenue=money_sum(o.amount, where=pre & money),
        orders=o.order_ts.count(where=post), revenue=money_sum(o.amount, where=post & money),
    )
    df = _execute(agg)
    df = df[df["orders_before"] > 0].copy()
    df["recency_days"] = (ref - pd.to_datetime(df["last_before"])).dt.total_seconds() / 86400
    for col in ("revenue_before", "pre_revenue", "revenue"):
        df[col] = df[col].fillna(0.0)
    df["purchased"] = (df["orders"] > 0).astype(int)
    df["pre_purchased"] = (df["pre_orders"] > 0).astype(int)
    return df.reset_index(drop=True)


def build_study(data, orders: ir.Table, refunds: ir.Table, params: Params, period: str,
                period_end: pd.Timestamp) -> Study:
    """Everything notebook 06 needs, from the clean orders and the campaigns table."""
    study = Study(params=params, period=period, period_end=pd.Timestamp(period_end), has_table=data.has("campaigns"))
    if not study.has_table:
        return study
    cfg = params.campaigns
    rows, counts = valid_contacts(data, period_end, cfg)
    if counts["bad"]:
        study.notes.append(("unreadable_contacts", {"rows": counts["bad"], "of": counts["rows"]}))
    if counts["later"]:
        study.notes.append(("later_contacts", {"rows": counts["later"]}))
    rows = _temp(data.con, rows.select("campaign_id", "customer_id", "group", "role", "contact_ts", "cost",
                                       "designed_share", "channel", "offer", "segment"))
    # One row per campaign and customer, stored with its row number (_row): the engine's
    # aggregates per contact come back keyed by it, and pandas lines them up with the contacts on
    # that integer instead of joining millions of rows on two string columns.
    contacts = _stored(data.con, dedup_contacts(rows).mutate(_row=ibis.row_number()))
    on = ("_row",) if contacts is not None else ("campaign_id", "customer_id")
    contacts = contacts if contacts is not None else dedup_contacts(rows)  # a backend without temporary tables
    study.overview, study.arms = campaign_overview(contacts, params, period, period_end)
    if study.overview.empty:
        return study
    for row in study.overview.itertuples():
        if row.in_several_arms:
            study.notes.append(("several_arms", {"campaign": row.campaign_id, "customers": row.in_several_arms}))
    read = study.ids(READ) + study.ids(OBSERVATIONAL)
    if not read:
        return study
    orders, refunds = _materialize(data.con, orders, refunds)
    profit, study.profit_basis, discount_in_profit, study.has_discount = profit_expression(orders, params)
    study.profit_at_business_margin = discount_in_profit != 1.0
    margin = params.business.margin
    keys = contacts.filter(contacts.campaign_id.isin(read) & (contacts.n_arms == 1))
    keys = keys.select("campaign_id", "customer_id", "contact_ts", "arm", "role", "cost", "cost_known", "segment",
                       "channel", "offer", "contacts", *(c for c in on if c == "_row"))
    at = keys.select(*dict.fromkeys([*on, "customer_id", "contact_ts"]))
    agg, ragg = _window_aggregates(at, orders, refunds, profit, cfg, margin, by=on)
    history = _execute(contact_history(rows, at, cfg.fatigue_lookback_days, by=on))
    base = _execute(keys)
    if on == ("_row",) and not base["_row"].is_monotonic_increasing:  # the stored order is _row's own
        base = base.sort_values("_row", kind="stable", ignore_index=True)
    base["contact_ts"] = pd.to_datetime(base["contact_ts"])
    df = _merge_outcomes(base, _execute(agg), _execute(ragg), margin, on=on)
    df = _left_join(df, history, on)
    df["contacts_prior"] = df["contacts_prior"].fillna(0).astype(int)
    df = df.drop(columns=[c for c in ("_row",) if c in df.columns])
    for r in study.arms[study.arms["label_inferred"]].itertuples():  # the one label beside a control
        df.loc[(df["campaign_id"] == r.campaign_id) & (df["arm"] == r.arm), "role"] = "treatment"
    df["cost"] = _costs(df, params)
    study.cost_basis = cost_basis(df, params)
    # what an order earns once its discount is paid for: a profit at the business margin is a
    # share of the amount paid, but the goods cost what they cost at the full price
    df["profit_after_offer"] = df["profit"] - (1.0 - discount_in_profit) * df["discount"]
    df["profit_before_offer"] = df["profit_after_offer"] + df["discount"]

    first_contact = study.overview.loc[study.overview["campaign_id"].isin(read), "first_contact"].min()
    study.thresholds = stage_thresholds(orders, first_contact, params)
    earlier = earlier_customer_table(params, first_contact)
    dims: dict[str, str] = {}
    if earlier is not None:
        label, attrs = earlier
        df = df.merge(attrs.rename(columns={"stage": "stage_earlier", "rfm_segment": "rfm_earlier"}),
                      on="customer_id", how="left")
        if "tier" in attrs.columns:
            df["tier"] = df["tier"].fillna("not in that run")
            dims["tier"] = DIMENSIONS["tier"].format(source=label)
            study.sources["tier"] = label
    if df["segment"].notna().any():
        df["segment"] = df["segment"].fillna("not recorded")
        dims["segment"] = DIMENSIONS["segment"]
    df["stage"] = stage_at_contact(df, *study.thresholds)
    dims["stage"] = (f"{DIMENSIONS['stage']} (active: last purchase at most {study.thresholds[0]} days before; "
                     f"churned: more than {study.thresholds[1]} days)")
    if "rfm_earlier" in df.columns and df["rfm_earlier"].notna().any():
        df["rfm"] = df["rfm_earlier"].fillna("not in that run")
        dims["rfm"] = f"RFM segment at contact (notebook 02, run of {earlier[0]})"
        study.sources["rfm"] = earlier[0]
    else:
        df["rfm"] = rfm_at_contact(df)
        dims["rfm"] = DIMENSIONS["rfm"] + " (recency split at the campaign's median, repeat vs one-time buyers)"
    study.dimensions = dims
    for cid in read:
        mine = (df["campaign_id"] == cid).to_numpy()
        part = df if mine.all() else df[mine]  # one campaign read: its rows are all of them, no copy
        part = part.copy(deep=False)
        part.index = pd.RangeIndex(len(part))
        study.outcomes[cid] = part
    for cid in study.ids(OBSERVATIONAL):
        everyone = contacts.filter(contacts.campaign_id == cid).select("customer_id")
        ref = study.outcomes[cid]["contact_ts"].median()
        study.pools[cid] = comparison_pool(orders, ref, everyone.distinct(), cfg)
    return study


_TEMP_IDS = itertools.count()


def _temp(con, expr: ir.Table) -> ir.Table:
    """``expr`` as a temporary table in the engine, so a view over files (parsing, cleaning) is
    evaluated once instead of once per query; the expression itself where the backend cannot."""
    stored = _stored(con, expr)
    return expr if stored is None else stored


def _stored(con, expr: ir.Table) -> ir.Table | None:
    """``expr`` as a temporary table in the engine, or None where the backend cannot make one."""
    try:
        return con.create_table(f"_nb06_{next(_TEMP_IDS)}", expr, temp=True)
    except Exception:  # a backend without temporary tables
        return None


def _execute(expr: ir.Table) -> pd.DataFrame:
    """``expr.execute()``: the same frame, faster. Ibis's DuckDB backend turns every result
    column that holds a NULL into Python objects one value at a time (about 16 s for the window
    aggregates of 2.2 million contacts). Here the same query result (the relation ``execute``
    reads) is converted by Arrow column by column into what those Python values give: NaN in
    numbers, None in text and flags, NaT in timestamps, which then are in ns (pandas' unit for
    Python datetimes, as ``execute`` returns them); Ibis's own conversion to the expression's
    schema follows, as in ``execute``. Any other column type, and any other backend, keeps
    Ibis's own path."""
    backend = expr.get_backend()
    try:
        import pyarrow.types as pat
        from ibis.backends.duckdb.converter import DuckDBPandasData

        relation = backend._to_duckdb_relation  # what execute() runs
    except (ImportError, AttributeError):
        return expr.execute()
    table = relation(expr).to_arrow_table()
    columns = {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        kind = col.type
        if pat.is_nested(kind) or pat.is_dictionary(kind):
            columns[name] = col.to_pylist()
        elif not col.null_count:
            columns[name] = col.to_pandas()
        elif pat.is_timestamp(kind) and kind.tz is None and col.null_count < len(col):
            columns[name] = col.to_pandas().astype("datetime64[ns]")
        elif pat.is_integer(kind) or pat.is_floating(kind) or pat.is_boolean(kind) or pat.is_string(kind) \
                or pat.is_large_string(kind):
            columns[name] = col.to_pandas()  # float64 with NaN / object with None, as from the Python values
        else:
            columns[name] = col.to_pylist()
    df = DuckDBPandasData.convert_table(pd.DataFrame(columns), expr.as_table().schema())
    return expr.__pandas_result__(df)


def _materialize(con, orders: ir.Table, refunds: ir.Table) -> tuple[ir.Table, ir.Table]:
    """The clean orders and refunds (the columns used here) as temporary tables."""
    cols = ["customer_id", "order_ts", "amount", "cost", "margin", "discount", "is_outlier"]
    return _temp(con, orders.select(*cols)), _temp(con, refunds.select("customer_id", "order_ts", "amount"))


def _costs(df: pd.DataFrame, params: Params) -> pd.Series:
    """Contact cost per customer: the campaign file's cost; where a campaign records none, the
    tiers' cost per contact for its channel (control customers are not contacted: 0)."""
    cost = df["cost"].astype(float)
    per_contact = params.tiers.cost_per_contact
    fallback = df["channel"].map(lambda c: per_contact.get(str(c), math.nan) if c is not None else math.nan)
    fallback = fallback.astype(float) * df["contacts"]
    known = df.groupby("campaign_id")["cost_known"].transform("sum") > 0
    out = np.where(known, cost.fillna(0.0), fallback)
    return pd.Series(np.where(df["role"] == "control", 0.0, out), index=df.index)


def cost_basis(df: pd.DataFrame, params: Params) -> dict[str, dict]:
    """Per campaign read: where its contact cost comes from. ``kind`` 'recorded' (the campaign
    file's cost column), 'per contact' (no cost recorded: ``tiers.cost_per_contact`` of its
    channel, ``rates``) or 'unknown' (``missing``: the channels without a cost per contact, None
    for contacts without a channel; ``several_channels``: the campaign used more than one)."""
    per_contact = params.tiers.cost_per_contact
    out = {}
    for cid, g in df[df["role"] != "control"].groupby("campaign_id", sort=False):
        if g["cost_known"].sum() > 0:
            out[cid] = {"kind": "recorded"}
            continue
        channels = [None if not isinstance(c, str) else c for c in dict.fromkeys(g["channel"].tolist())]
        rates = {c: per_contact[c] for c in channels if c is not None and c in per_contact}
        missing = [c for c in channels if c is None or c not in per_contact]
        if not missing:
            out[cid] = {"kind": "per contact", "rates": rates}
            continue
        out[cid] = {"kind": "unknown", "missing": missing, "several_channels": len(channels) > 1}
    return out


def from_run(run) -> Study:
    """The study for a notebook's run context."""
    return build_study(run.data, run.orders, run.clean.refunds, run.params, run.period, run.period_end)


# ================================================================ tables the notebook shows


def split_table(study: Study) -> pd.DataFrame:
    """Customers per arm against the designed split, with the chi-square p of each campaign."""
    if study.arms.empty:
        return pd.DataFrame()
    a = study.arms.merge(study.overview[["campaign_id", "srm_p", "srm_ok", "status"]], on="campaign_id")
    a = a[~a["status"].isin([READ_EARLIER, NOT_READ, UNKNOWN_GROUP])]
    verdict = np.where(a["srm_ok"].isna(), "not checked", np.where(a["srm_ok"] == True, "as designed", "MISMATCH"))  # noqa: E712
    return pd.DataFrame({
        "campaign": a["campaign_id"], "arm": a["arm"], "role": a["role"], "customers": a["n"],
        "observed share": a["observed_share"], "designed share": a["designed_share"],
        "expected customers": a.get("expected_n"), "chi-square p": a["srm_p"], "split check": verdict,
    }).set_index(["campaign", "arm"])


def balance_table(study: Study) -> pd.DataFrame:
    """Were the arms alike before the contact? Per campaign read with a control, treatment arm
    and pre-contact characteristic: the means (shares) in the arm and in the control group, the
    standardised mean difference, a test p-value (Welch's t; for a share the two-proportion z)
    and a flag where |SMD| > SMD_FLAG. Recency is over the customers with an earlier order (the
    share without one is its own row); segment shares when the campaign file has a segment."""
    rows = []
    for cid in study.ids(READ):
        df = study.outcomes[cid]
        c = df[df["role"] == "control"]
        for arm, t in df[df["role"] == "treatment"].groupby("arm", sort=True):
            for label, col in HISTORY:
                x1, x0 = t[col].to_numpy(dtype=float), c[col].to_numpy(dtype=float)
                x1, x0 = x1[np.isfinite(x1)], x0[np.isfinite(x0)]
                p = (float(stats.ttest_ind(x1, x0, equal_var=False).pvalue)
                     if min(x1.size, x0.size) >= 2 and (x1.std() > 0 or x0.std() > 0) else math.nan)
                rows.append({"campaign_id": cid, "arm": arm, "characteristic": label, "column": col,
                             "treatment": x1.mean() if x1.size else math.nan,
                             "control": x0.mean() if x0.size else math.nan, "smd": smd(x1, x0), "p": p})
            shares = []
            if df["recency_days"].isna().any():
                shares.append(("share with no earlier order", "no_earlier_order", t["recency_days"].isna(),
                               c["recency_days"].isna()))
            if "segment" in study.dimensions:
                for level in sorted(df["segment"].astype(str).unique()):
                    shares.append((f"share in segment {level}", f"segment={level}", t["segment"].astype(str) == level,
                                   c["segment"].astype(str) == level))
            for label, col, a, b in shares:
                est = diff_proportions(a.sum(), len(a), b.sum(), len(b))
                rows.append({"campaign_id": cid, "arm": arm, "characteristic": label, "column": col,
                             "treatment": a.mean(), "control": b.mean(), "smd": smd(a, b), "p": est["p"]})
    out = pd.DataFrame(rows, columns=["campaign_id", "arm", "characteristic", "column", "treatment", "control", "smd", "p"])
    out["imbalanced"] = out["smd"].abs() > SMD_FLAG
    return out


def arm_outcomes(study: Study) -> pd.DataFrame:
    """Per campaign read and arm: customers and outcomes per customer in the window."""
    rows = []
    for cid, df in study.outcomes.items():
        df = _select(df, None, "arm", "role", "purchased", "orders", "revenue", "profit", "pre_revenue", "cost")
        for arm, g in df.groupby("arm", sort=False):
            lo, hi = wilson(g["purchased"].sum(), len(g))
            rows.append({"campaign_id": cid, "arm": arm, "role": g["role"].iloc[0], "n": len(g),
                         "repurchase_rate": g["purchased"].mean(), "repurchase_lo": lo, "repurchase_hi": hi,
                         "orders_per_customer": g["orders"].mean(), "revenue_per_customer": g["revenue"].mean(),
                         "profit_per_customer": g["profit"].mean(), "pre_revenue_per_customer": g["pre_revenue"].mean(),
                         "cost_per_customer": _mean_known(g["cost"])})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    return _sort_ids(out, "role", "arm")


COMPARED = ("purchased", "orders", "pre_orders", "revenue", "pre_revenue", "profit", "pre_profit", "cost",  # compare() reads
            "discount", "profit_after_offer", "profit_before_offer", "orders_before", "recency_days", "segment")
# the outcomes compare() adjusts for the pre-contact covariates, and the prefix of their columns
ADJUSTED = (("purchased", "repurchase_adj"), ("revenue", "revenue_adj"), ("profit", "profit_adj"),
            ("orders", "orders_adj"), ("discount", "discount_adj"), ("profit_after_offer", "profit_after_offer_adj"),
            ("profit_before_offer", "profit_before_offer_adj"))


def _mean_known(values: pd.Series) -> float:
    """The mean, NaN when any value is unknown (pandas' mean would skip them: a cost unknown
    for some customers is not the mean of the others')."""
    return float(values.mean()) if len(values) and not values.isna().any() else math.nan


def _select(df: pd.DataFrame, rows: pd.Series | np.ndarray | None, *columns: str) -> pd.DataFrame:
    """The rows (a mask; None: all) with only the columns a calculation reads: an outcomes frame
    has a row per contacted customer and some thirty columns, and every row selection or group
    split copies each column it carries."""
    cols = [c for c in dict.fromkeys(columns) if c in df.columns]
    return df[cols] if rows is None else df.loc[rows, cols]


def compare(t: pd.DataFrame, c: pd.DataFrame) -> dict:
    """Every estimate of one treatment group against its control group."""
    x1, n1, x0, n0 = t["purchased"].sum(), len(t), c["purchased"].sum(), len(c)
    rep = diff_proportions(x1, n1, x0, n0)
    rel = relative_proportion(x1, n1, x0, n0)
    orders = cuped(t["orders"], c["orders"], t["pre_orders"], c["pre_orders"])
    rev = cuped(t["revenue"], c["revenue"], t["pre_revenue"], c["pre_revenue"])
    prof = cuped(t["profit"], c["profit"], t["pre_profit"], c["pre_profit"])
    raw = rev["raw"]
    se_t = t["revenue"].std(ddof=1) / math.sqrt(n1) if n1 > 1 else math.nan
    se_c = c["revenue"].std(ddof=1) / math.sqrt(n0) if n0 > 1 else math.nan
    rrel = ratio_interval(t["revenue"].mean(), se_t, c["revenue"].mean(), se_c)
    cost_pc = _mean_known(t["cost"]) if n1 else math.nan
    adj = adjusted_lifts(t, c)
    return {
        "n_treatment": n1, "n_control": n0,
        "rate_treatment": x1 / n1 if n1 else math.nan, "rate_control": x0 / n0 if n0 else math.nan,
        "repurchase_pp": rep["estimate"], "repurchase_lo": rep["lo"], "repurchase_hi": rep["hi"],
        "repurchase_se": rep["se"], "repurchase_p": rep["p"],
        "repurchase_rel": rel[0], "repurchase_rel_lo": rel[1], "repurchase_rel_hi": rel[2],
        "orders_pc": orders["estimate"], "orders_lo": orders["lo"], "orders_hi": orders["hi"],
        "revenue_pc": raw["estimate"], "revenue_lo": raw["lo"], "revenue_hi": raw["hi"], "revenue_se": raw["se"],
        "revenue_rel": rrel[0], "revenue_rel_lo": rrel[1], "revenue_rel_hi": rrel[2],
        "revenue_cuped": rev["estimate"], "revenue_cuped_lo": rev["lo"], "revenue_cuped_hi": rev["hi"],
        "revenue_cuped_se": rev["se"], "cuped_theta": rev["theta"],
        "cuped_variance_reduction": rev["variance_reduction"], "cuped_width_ratio": rev["width_ratio"],
        "profit_pc": prof["estimate"], "profit_lo": prof["lo"], "profit_hi": prof["hi"], "profit_se": prof["se"],
        **adj, "cost_pc": cost_pc,
        # net profit per contact: the adjusted lift in profit after the offer's discounts, less the contact cost
        "net_pc": adj.get("profit_after_offer_adj", prof["estimate"]) - cost_pc,
    }


def adjusted_lifts(t: pd.DataFrame, c: pd.DataFrame) -> dict:
    """Every outcome of ADJUSTED (those the frames have) adjusted for the pre-contact covariates
    (regression_adjusted): ``<prefix>``, ``_lo``, ``_hi``, ``_se``, ``_p``, with the method and
    the covariates used, and the discount treated customers redeemed per customer (raw)."""
    covariates = [col for col in ("pre_orders", "pre_revenue", "orders_before", "recency_days", "segment")
                  if col in t.columns]
    X, names = adjustment_covariates(pd.concat([t[covariates], c[covariates]], ignore_index=True))
    have = [(col, name) for col, name in ADJUSTED if col in t.columns]
    Y = np.empty((len(t) + len(c), len(have)))
    for j, (col, _) in enumerate(have):
        Y[: len(t), j], Y[len(t):, j] = t[col].to_numpy(dtype=float), c[col].to_numpy(dtype=float)
    res = regression_adjusted(Y, np.r_[np.ones(len(t), dtype=bool), np.zeros(len(c), dtype=bool)], X)
    used = res["method"] not in ("unadjusted", "none")
    out: dict = {"adjust_method": res["method"],
                 "adjust_covariates": ", ".join(names[i] for i in res["columns"]) if used else "",
                 "discount_treated_pc": float(t["discount"].mean()) if "discount" in t.columns and len(t) else math.nan}
    for j, (_, name) in enumerate(have):
        for key, suffix in (("estimate", ""), ("lo", "_lo"), ("hi", "_hi"), ("se", "_se"), ("p", "_p")):
            out[name + suffix] = float(res[key][j])
    return out


def lift_table(study: Study) -> pd.DataFrame:
    """One row per campaign read with a control and per treatment arm: every lift with its
    interval. Campaigns whose split check failed get a row with the figures withheld."""
    rows = []
    for cid in study.ids(READ):
        df = study.outcomes[cid]
        c = _select(df, df["role"] == "control", *COMPARED)
        for arm, t in _select(df, df["role"] == "treatment", "arm", *COMPARED).groupby("arm", sort=True):
            row = {"campaign_id": cid, "arm": arm, "srm_ok": study.srm_ok(cid)}
            est = compare(t, c)
            if not row["srm_ok"]:  # no causal figure leaves the function for a broken split
                est = {k: (v if k in ("n_treatment", "n_control") else math.nan) for k, v in est.items()}
            rows.append({**row, **est})
    return pd.DataFrame(rows)


def _finite(x) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def economics(study: Study, lifts: pd.DataFrame) -> pd.DataFrame:
    """Incremental buyers, orders, revenue and profit in total, the costs and ROI with intervals,
    per arm, from the covariate-adjusted lifts (per-customer lift x customers contacted).

    Costs counted: the contact cost (the campaign file's cost, else the channel's cost per
    contact) and, when the orders record discounts, the offer's cost — the discount treated
    customers redeemed in the window beyond what the control group's customers redeemed
    (coupons they would have used anyway), adjusted like every other outcome.
    ``incremental_profit`` is the extra profit before the offer's discount; ``net_profit`` =
    incremental profit - contact cost - offer cost, which is the lift in profit after discounts
    minus the contact cost, and carries its interval; ROI = net profit / (contact + offer cost),
    the costs taken as known."""
    rows = []
    for r in lifts.itertuples():
        if not r.srm_ok:
            continue
        t = study.outcomes[r.campaign_id]
        t = _select(t, (t["role"] == "treatment") & (t["arm"] == r.arm), "cost", "discount")
        n = len(t)
        # unknown (NaN) when any contacted customer's cost is: neither the file nor tiers.cost_per_contact gives it
        cost = float(t["cost"].sum()) if not t["cost"].isna().any() else math.nan
        cost_unknown = not np.isfinite(cost)
        cost_known = not cost_unknown and cost > 0
        offer = n * r.discount_adj if study.has_discount else math.nan
        row = {"campaign_id": r.campaign_id, "arm": r.arm, "n_treatment": n,
               "incremental_buyers": n * r.repurchase_adj, "incremental_buyers_lo": n * r.repurchase_adj_lo,
               "incremental_buyers_hi": n * r.repurchase_adj_hi,
               "incremental_orders": n * r.orders_adj, "incremental_orders_lo": n * r.orders_adj_lo,
               "incremental_orders_hi": n * r.orders_adj_hi,
               "incremental_revenue": n * r.revenue_adj, "incremental_revenue_lo": n * r.revenue_adj_lo,
               "incremental_revenue_hi": n * r.revenue_adj_hi,
               "incremental_profit": n * r.profit_before_offer_adj, "incremental_profit_lo": n * r.profit_before_offer_adj_lo,
               "incremental_profit_hi": n * r.profit_before_offer_adj_hi, "cost": cost if np.isfinite(cost) else math.nan,
               "offer_cost": offer, "offer_cost_lo": n * r.discount_adj_lo if study.has_discount else math.nan,
               "offer_cost_hi": n * r.discount_adj_hi if study.has_discount else math.nan,
               "discount_redeemed": float(t["discount"].sum()) if study.has_discount else math.nan}
        known = (cost if cost_known else 0.0) + (max(offer, 0.0) if study.has_discount else 0.0)
        row["total_cost"] = known if (cost_known or study.has_discount) else math.nan
        contact = cost if cost_known else 0.0
        if cost_unknown:  # a contact cost that is not known is not zero: no net profit, no ROI
            row["total_cost"] = math.nan
            row.update(net_profit=math.nan, net_profit_lo=math.nan, net_profit_hi=math.nan)
        else:
            row["net_profit"] = n * r.profit_after_offer_adj - contact
            row["net_profit_lo"] = n * r.profit_after_offer_adj_lo - contact
            row["net_profit_hi"] = n * r.profit_after_offer_adj_hi - contact
        row["roi_note"] = roi_note(known, row["net_profit_lo"], row["net_profit_hi"], cost_unknown)
        if not row["roi_note"]:
            row.update(roi=row["net_profit"] / known, roi_lo=row["net_profit_lo"] / known, roi_hi=row["net_profit_hi"] / known)
        else:
            row.update(roi=math.nan, roi_lo=math.nan, roi_hi=math.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def roi_note(costs: float, net_lo: float, net_hi: float, cost_unknown: bool = False) -> str:
    """Why a campaign's ROI is not read ('' when it is): the contact cost is unknown; no cost
    (none recorded, no discount); or the costs are under ROI_MIN_COST_SHARE of the width of the
    net profit's interval, where net profit / costs is the profit's noise divided by almost
    nothing (a 12 EUR SMS campaign whose profit is known to +-800 EUR shows an ROI of -59)."""
    if cost_unknown:
        return "contact cost unknown"
    if not (_finite(costs) and costs > 0):
        return "no cost recorded"
    width = net_hi - net_lo if _finite(net_lo) and _finite(net_hi) else 0.0
    if costs < 0.5 or costs < ROI_MIN_COST_SHARE * width:
        return "spend too small to read"
    return ""


def costs_counted(study: Study) -> str:
    """Which costs the ROI counts, in words."""
    if study.has_discount:
        return ("the contact cost and the offer's cost (the discount treated customers redeemed in the window beyond "
                "the control group's rate of discounts)")
    return "the contact cost only (the orders record no discount, so the offer's cost cannot be counted)"


# ---------------------------------------------------------------- for whom


def lift_by(study: Study, campaign_id: str, arm: str, column: str) -> pd.DataFrame:
    """Lift of one arm over control within each group of a pre-contact attribute; groups with
    fewer than ``min_group_size`` customers in either arm are listed without estimates."""
    return _lift_by(_arm_and_control(study.outcomes[campaign_id], arm, column), column, study.cfg.min_group_size)


def _arm_and_control(df: pd.DataFrame, arm: str, *columns: str) -> pd.DataFrame:
    """The customers of one arm and of the control group, with the columns compare() reads and
    ``columns``, and which of the two each is (``_treated`` / ``_control``, computed once)."""
    control = df["role"].eq("control").to_numpy()
    rows = control | df["arm"].eq(arm).to_numpy()
    out = _select(df, rows, *columns, "role", *COMPARED).copy(deep=False)
    out["_control"] = control[rows]
    out["_treated"] = out["role"].eq("treatment").to_numpy()
    return out


def _lift_by(df: pd.DataFrame, column: str, min_group_size: int) -> pd.DataFrame:
    rows = []
    for group, g in df.groupby(column, sort=True):
        t, c = g[g["_treated"]], g[g["_control"]]
        row = {"dimension": column, "group": str(group), "n_treatment": len(t), "n_control": len(c)}
        if min(len(t), len(c)) >= min_group_size:
            row.update(compare(t, c))
        rows.append(row)
    out = pd.DataFrame(rows)
    for col in ("repurchase_p", "repurchase_adj_p"):
        if col not in out.columns:
            out[col] = math.nan
    out["p_holm"] = holm(out["repurchase_adj_p"])
    return out


def subgroup_tables(study: Study, campaign_id: str, arm: str) -> pd.DataFrame:
    """lift_by for every available dimension, stacked (the arm's and the control's customers
    are picked out once for all of them)."""
    if not study.dimensions:
        return pd.DataFrame()
    df = _arm_and_control(study.outcomes[campaign_id], arm, *study.dimensions)
    parts = [_lift_by(df, dim, study.cfg.min_group_size) for dim in study.dimensions]
    out = pd.concat(parts, ignore_index=True)
    out["p_holm"] = holm(out["repurchase_adj_p"])  # across every subgroup of every dimension
    return out


def dimension_tests(sub: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Per way of splitting: do its groups' adjusted lifts differ by more than chance (Cochran's
    Q on the adjusted lifts and their robust standard errors: a test of the arm x group
    interaction), Holm-adjusted across the dimensions. A group is named the best (highest lift)
    or the worst only where its dimension's test survives the correction; otherwise
    ``best``/``worst`` are None."""
    rows = []
    est = sub.dropna(subset=["repurchase_adj"]) if "repurchase_adj" in sub.columns else sub.iloc[0:0]
    for dim, g in est.groupby("dimension", sort=False):
        q, p, k = heterogeneity(g["repurchase_adj"], g["repurchase_adj_se"])
        rows.append({"dimension": dim, "groups": k, "q": q, "p": p,
                     "best": g.loc[g["repurchase_adj"].idxmax(), "group"], "worst": g.loc[g["repurchase_adj"].idxmin(), "group"]})
    out = pd.DataFrame(rows, columns=["dimension", "groups", "q", "p", "best", "worst"])
    out["p_holm"] = holm(out["p"])
    out["differ"] = out["p_holm"] < alpha
    out.loc[~out["differ"], ["best", "worst"]] = None
    return out


def subgroups(study: Study, lifts: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """Subgroup tables of every arm read with a sound split, keyed by (campaign, arm)."""
    if lifts.empty:
        return {}
    return {(r.campaign_id, r.arm): subgroup_tables(study, r.campaign_id, r.arm)
            for r in lifts[lifts["srm_ok"].astype(bool)].itertuples()}


def response_dimension(study: Study) -> tuple[str, str] | None:
    """(column, file 'by' value) for the per-tier response file: tier at contact, else the
    campaign file's segment, else lifecycle stage at contact."""
    for column in ("tier", "segment", "stage"):
        if column in study.dimensions:
            return column, column
    return None


def response_payload(study: Study, lifts: pd.DataFrame) -> dict | None:
    """The measured response notebook 05 reads next period (brief's format), from the latest
    campaign read with a control and a passing split check; for a multi-arm campaign, the arm
    with the highest net profit per contact (named in 'arm')."""
    ok = lifts[lifts["srm_ok"]] if not lifts.empty else lifts
    dim = response_dimension(study)
    if ok.empty or dim is None:
        return None
    ends = study.overview.set_index("campaign_id")["window_end"]
    ok = ok.assign(_end=ok["campaign_id"].map(ends)).sort_values(["_end", "net_pc"], ascending=[False, False])
    best = ok.iloc[0]
    column, by = dim
    groups = lift_by(study, best["campaign_id"], best["arm"], column)
    arm_row = study.arms[(study.arms["campaign_id"] == best["campaign_id"]) & (study.arms["arm"] == best["arm"])]
    channel = arm_row["channel"].iloc[0] if len(arm_row) and isinstance(arm_row["channel"].iloc[0], str) else None

    def fields(r) -> dict:
        adjusted = [_num(r.get("repurchase_adj")), _num(r.get("repurchase_adj_lo")), _num(r.get("repurchase_adj_hi"))]
        return {"n_treatment": int(r["n_treatment"]), "n_control": int(r["n_control"]),
                # repurchase_pp carries the adjusted lift: the figure to plan with (the raw one beside it)
                "repurchase_pp": adjusted[0], "repurchase_pp_ci": adjusted[1:],
                "repurchase_pp_adjusted": adjusted[0], "repurchase_pp_adjusted_ci": adjusted[1:],
                "repurchase_pp_raw": _num(r.get("repurchase_pp")),
                "repurchase_pp_raw_ci": [_num(r.get("repurchase_lo")), _num(r.get("repurchase_hi"))],
                "revenue_per_customer": _num(r.get("revenue_adj")),
                "revenue_per_customer_ci": [_num(r.get("revenue_adj_lo")), _num(r.get("revenue_adj_hi"))],
                "cost_per_customer": _num(r.get("cost_pc")),
                "offer_cost_per_customer": _num(r.get("discount_adj")) if study.has_discount else None,
                "adjustment": r.get("adjust_method") if isinstance(r.get("adjust_method"), str) else None}

    return {
        "campaign_id": str(best["campaign_id"]), "arm": str(best["arm"]), "channel": channel, "period": study.period,
        "by": by,
        "window_days": int(study.cfg.window_days),
        "response": {r["group"]: fields(r) for _, r in groups.iterrows()},
        "overall": fields(best),
        "notes": ("repurchase_pp in probability units (0.02 = 2 percentage points) is the lift adjusted for the "
                  "customers' pre-contact characteristics (= repurchase_pp_adjusted; the unadjusted difference is "
                  "repurchase_pp_raw); revenue per customer is the adjusted lift in " + study.currency
                  + "; offer cost per customer is the extra discount treated customers redeemed; groups fixed before "
                  "the contact: " + study.dimensions[column]),
    }


def write_response(run, payload: dict | None) -> Path | None:
    if payload is None:
        return None
    target = run.path("data", RESPONSE_FILE)
    target.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    return target


def _num(x):
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


# ---------------------------------------------------------------- contact fatigue


def fatigue(study: Study, campaign_id: str, arm: str | None = None) -> pd.DataFrame:
    """Repurchase per arm and lift by the number of contacts in the look-back before this one."""
    df = study.outcomes[campaign_id]
    df = _select(df, None if arm is None else (df["role"] == "control") | (df["arm"] == arm),
                 "contacts_prior", "role", "purchased")
    bucket = np.minimum(df["contacts_prior"], 3).map({0: "0", 1: "1", 2: "2", 3: "3+"})
    rows = []
    for b in FATIGUE_BUCKETS:
        g = df[bucket == b]
        t, c = g[g["role"] == "treatment"], g[g["role"] == "control"]
        if g.empty:
            continue
        row = {"contacts_before": b, "n_treatment": len(t), "n_control": len(c),
               "rate_treatment": t["purchased"].mean() if len(t) else math.nan,
               "rate_control": c["purchased"].mean() if len(c) else math.nan}
        if len(t) and len(c):
            est = diff_proportions(t["purchased"].sum(), len(t), c["purchased"].sum(), len(c))
            row.update(lift=est["estimate"], lift_lo=est["lo"], lift_hi=est["hi"], lift_se=est["se"])
        rows.append(row)
    return pd.DataFrame(rows)


def fatigue_tables(study: Study) -> dict[str, pd.DataFrame]:
    """Contact-fatigue table of every campaign read with a control and a sound split."""
    return {cid: fatigue(study, cid) for cid in study.readable()}


def has_history(study: Study, campaign_id: str) -> bool:
    return bool((study.outcomes[campaign_id]["contacts_prior"] > 0).any())


# ---------------------------------------------------------------- without a control group


def match_comparison(treated: pd.DataFrame, pool: pd.DataFrame, window_days: int) -> pd.DataFrame:
    """Nearest neighbour (with replacement) on log recency, log frequency and log spend before
    the contact, standardised; treated customers without a purchase before cannot be matched."""
    feats = ["recency_days", "orders_before", "revenue_before"]
    t = treated[treated["orders_before"] > 0]
    if t.empty or pool.empty:
        return pd.DataFrame()
    xt = np.log1p(t[feats].to_numpy(dtype=float).clip(min=0))
    xp = np.log1p(pool[feats].to_numpy(dtype=float).clip(min=0))
    sd = np.concatenate([xt, xp]).std(axis=0)
    sd[sd == 0] = 1
    _, idx = cKDTree(xp / sd).query(xt / sd, k=1)
    m = pool.iloc[idx].reset_index(drop=True)
    return pd.DataFrame({
        "t_purchased": t["purchased"].to_numpy(), "t_pre": (t["recency_days"] <= window_days).astype(int).to_numpy(),
        "t_revenue": t["revenue"].to_numpy(), "m_purchased": m["purchased"].to_numpy(), "m_pre": m["pre_purchased"].to_numpy(),
        "m_revenue": m["revenue"].to_numpy(),
        **{f"t_{f}": t[f].to_numpy() for f in feats}, **{f"m_{f}": m[f].to_numpy() for f in feats},
    })


def observational(study: Study, campaign_id: str) -> dict:
    """Pre/post comparison of a campaign without a control group against a matched group.
    Observational: it cannot separate the campaign from whatever made these customers be
    chosen. Pre = the window-length before the contact, post = the window after."""
    treated = study.outcomes[campaign_id]
    pool = study.pools.get(campaign_id, pd.DataFrame())
    pairs = match_comparison(treated, pool, study.cfg.window_days)
    out = {"campaign_id": campaign_id, "n_treated": len(treated), "n_matched": len(pairs),
           "n_unmatched": len(treated) - len(pairs), "n_pool": len(pool)}
    if pairs.empty:
        return out
    did = (pairs["t_purchased"] - pairs["t_pre"]) - (pairs["m_purchased"] - pairs["m_pre"])
    post = pairs["t_purchased"] - pairs["m_purchased"]
    out.update({
        "treated_pre": pairs["t_pre"].mean(), "treated_post": pairs["t_purchased"].mean(),
        "matched_pre": pairs["m_pre"].mean(), "matched_post": pairs["m_purchased"].mean(),
        "difference": did.mean(), "difference_se": did.std(ddof=1) / math.sqrt(len(did)),
        "post_difference": post.mean(),
        "revenue_difference": (pairs["t_revenue"] - pairs["m_revenue"]).mean(),
        "balance": pd.DataFrame({
            "treated": [pairs[f"t_{f}"].mean() for f in ("recency_days", "orders_before", "revenue_before")],
            "matched": [pairs[f"m_{f}"].mean() for f in ("recency_days", "orders_before", "revenue_before")],
            "all non-contacted": [pool[f].mean() for f in ("recency_days", "orders_before", "revenue_before")],
        }, index=["days since last purchase", "orders before", f"spend before ({study.currency})"]),
    })
    out["difference_lo"] = out["difference"] - Z95 * out["difference_se"]
    out["difference_hi"] = out["difference"] + Z95 * out["difference_se"]
    return out


def observational_all(study: Study) -> dict[str, dict]:
    return {cid: observational(study, cid) for cid in study.ids(OBSERVATIONAL)}


# ================================================================ metrics and sentences


def campaign_metrics(study: Study, arms_out: pd.DataFrame, lifts: pd.DataFrame, econ: pd.DataFrame,
                     obs: dict[str, dict] | None = None, balance: pd.DataFrame | None = None) -> dict:
    """metrics.json 'campaigns': per campaign id, srm_p, arms and lift (brief's keys, plus more).

    ``lift.<arm>.repurchase_pp`` is the raw difference; ``repurchase_pp_adjusted`` (with
    ``_ci``) the lift adjusted for the pre-contact characteristics, the figure the sentences, the
    incremental buyers, the ROI and notebook 05 use (same units: probability, 0.024 = 2.4 pp).
    ``balance.<arm>.<characteristic>``: standardised difference, p and the |SMD| > 0.1 flag."""
    out: dict = {}
    if study.overview.empty:
        return out
    for row in study.overview.itertuples():
        if row.status == READ_EARLIER:
            continue
        if row.status == UNKNOWN_GROUP:
            out[row.campaign_id] = {"status": row.status, "customers": int(row.customers),
                                    "unknown_labels": {label: n for label, n in row.unknown_labels}}
            continue
        entry = {"status": row.status, "first_contact": f"{row.first_contact:%Y-%m-%d %H:%M:%S}",
                 "window_end": f"{row.window_end:%Y-%m-%d %H:%M:%S}",
                 "window_days": study.cfg.window_days, "customers": int(row.customers),
                 "srm_p": _num(row.srm_p), "srm_ok": None if pd.isna(row.srm_ok) else bool(row.srm_ok),
                 "arms": {}, "lift": {}}
        a = study.arms[study.arms["campaign_id"] == row.campaign_id]
        for arm in a.itertuples():
            entry["arms"][arm.arm] = {"n": int(arm.n), "role": arm.role, "repurchase_rate": None,
                                      "revenue_per_customer": None}
        if not arms_out.empty:
            for r in arms_out[arms_out["campaign_id"] == row.campaign_id].itertuples():
                entry["arms"][r.arm].update(repurchase_rate=r.repurchase_rate, revenue_per_customer=r.revenue_per_customer,
                                            orders_per_customer=r.orders_per_customer, profit_per_customer=r.profit_per_customer,
                                            cost_per_customer=r.cost_per_customer)
        if not lifts.empty:
            for r in lifts[lifts["campaign_id"] == row.campaign_id].itertuples():
                e = econ[(econ["campaign_id"] == r.campaign_id) & (econ["arm"] == r.arm)] if not econ.empty else econ
                e = e.iloc[0] if len(e) else {}
                entry["lift"][r.arm] = {
                    "causal": bool(r.srm_ok),
                    "repurchase_pp": _num(r.repurchase_pp), "repurchase_pp_ci": [_num(r.repurchase_lo), _num(r.repurchase_hi)],
                    "repurchase_relative": _num(r.repurchase_rel),
                    "revenue_per_customer": _num(r.revenue_pc), "revenue_per_customer_ci": [_num(r.revenue_lo), _num(r.revenue_hi)],
                    "revenue_per_customer_cuped": _num(r.revenue_cuped),
                    "revenue_per_customer_cuped_ci": [_num(r.revenue_cuped_lo), _num(r.revenue_cuped_hi)],
                    "cuped_variance_reduction": _num(r.cuped_variance_reduction),
                    "profit_per_customer": _num(r.profit_pc), "cost_per_customer": _num(r.cost_pc),
                    "incremental_revenue": _num(e.get("incremental_revenue")) if len(e) else None,
                    "incremental_profit": _num(e.get("incremental_profit")) if len(e) else None,
                    "cost": _num(e.get("cost")) if len(e) else None,
                    "roi": _num(e.get("roi")) if len(e) else None,
                    "roi_note": (e.get("roi_note") or None) if len(e) else None,
                    "cost_basis": study.cost_basis.get(r.campaign_id, {}).get("kind"),
                    "roi_ci": [_num(e.get("roi_lo")), _num(e.get("roi_hi"))] if len(e) else [None, None],
                    "repurchase_pp_adjusted": _num(r.repurchase_adj),
                    "repurchase_pp_adjusted_ci": [_num(r.repurchase_adj_lo), _num(r.repurchase_adj_hi)],
                    "revenue_per_customer_adjusted": _num(r.revenue_adj),
                    "revenue_per_customer_adjusted_ci": [_num(r.revenue_adj_lo), _num(r.revenue_adj_hi)],
                    "adjustment": {"method": r.adjust_method if isinstance(r.adjust_method, str) else None,
                                   "covariates": (r.adjust_covariates.split(", ") if isinstance(r.adjust_covariates, str)
                                                  and r.adjust_covariates else [])},
                    "incremental_buyers": _num(e.get("incremental_buyers")) if len(e) else None,
                    "incremental_buyers_ci": ([_num(e.get("incremental_buyers_lo")), _num(e.get("incremental_buyers_hi"))]
                                              if len(e) else [None, None]),
                    "contact_cost": _num(e.get("cost")) if len(e) else None,
                    "offer_cost": _num(e.get("offer_cost")) if len(e) else None,
                    "discount_redeemed": _num(e.get("discount_redeemed")) if len(e) else None,
                    "total_cost": _num(e.get("total_cost")) if len(e) else None,
                    "net_profit": _num(e.get("net_profit")) if len(e) else None,
                    "net_profit_ci": [_num(e.get("net_profit_lo")), _num(e.get("net_profit_hi"))] if len(e) else [None, None],
                    "costs_counted": costs_counted(study),
                }
        if obs and row.campaign_id in obs:
            o = obs[row.campaign_id]
            entry["observational"] = {k: _num(o.get(k)) for k in ("treated_pre", "treated_post", "matched_pre",
                                                                    "matched_post", "difference", "difference_lo",
                                                                    "difference_hi")}
            entry["observational"]["label"] = "observational pre/post against a matched group; not a causal lift"
        if balance is not None and not balance.empty:
            for arm, g in balance[balance["campaign_id"] == row.campaign_id].groupby("arm", sort=True):
                entry.setdefault("balance", {})[arm] = {
                    r.column: {"treatment": _num(r.treatment), "control": _num(r.control), "smd": _num(r.smd),
                               "p": _num(r.p), "imbalanced": bool(r.imbalanced)} for r in g.itertuples()}
        out[row.campaign_id] = entry
    return out


# ================================================================ what the findings rest on
# Numbers and labels the sentences of helpers.text.campaigns put into words: each call (raised,
# paid, differs) is made here, from the estimates, and only worded there.


def direction(lo, hi) -> str | None:
    """'raised' when an interval lies above zero, 'lowered' when below, None when it includes zero."""
    if _finite(lo) and lo > 0:
        return "raised"
    if _finite(hi) and hi < 0:
        return "lowered"
    return None


def relative_lift(rate_treatment: float, lift: float) -> float:
    """The lift as a share of the treated customers' rate without the campaign (NaN when that
    rate is not positive)."""
    base = rate_treatment - lift
    return lift / base if _finite(base) and base > 0 and _finite(lift) else math.nan


def lifts_row(study: Study, campaign_id: str, arm: str) -> dict:
    """compare() of one arm against its control (for sentences that need the standard errors)."""
    df = study.outcomes[campaign_id]
    return compare(_select(df, (df["role"] == "treatment") & (df["arm"] == arm), *COMPARED),
                   _select(df, df["role"] == "control", *COMPARED))


def audience_to_settle(est: dict, power: float = 0.8) -> float:
    """How many times the campaign's audience (same split) it would take for the net profit per
    contact now estimated to be detected as different from zero (5 %, two-sided, given power)."""
    net = est.get("profit_after_offer_adj", math.nan) - est.get("cost_pc", math.nan)
    se = est.get("profit_after_offer_adj_se", math.nan)
    if not (_finite(net) and _finite(se)) or net == 0 or se <= 0:
        return math.nan
    z = Z95 + float(stats.norm.ppf(power))
    return float((z * se / abs(net)) ** 2)


def roi_call(study: Study, r) -> tuple[str, float]:
    """What an economics row's ROI interval says: 'paid' (above zero), 'lost' (below) or
    'cannot_tell', with how many times the audience it would take to settle it (NaN otherwise)."""
    if r.roi_lo > 0:
        return "paid", math.nan
    if r.roi_hi < 0:
        return "lost", math.nan
    return "cannot_tell", audience_to_settle(lifts_row(study, r.campaign_id, r.arm))


def pay_call(r) -> tuple[str, float]:
    """What to do with a campaign (a lifts row merged with its economics): 'cost_unknown',
    'pays' (net profit interval above zero), 'loses' (below), 'brings_back' (repurchase raised,
    return within the noise) or 'cannot_tell', with the control group needed to detect a lift of
    this size (only for 'cannot_tell', NaN otherwise)."""
    net_known = _finite(r.net_profit_lo) and _finite(r.total_cost) and r.total_cost > 0
    if r.roi_note == "contact cost unknown":
        return "cost_unknown", math.nan
    if net_known and r.net_profit_lo > 0:
        return "pays", math.nan
    if net_known and r.net_profit_hi < 0:
        return "loses", math.nan
    if r.repurchase_adj_lo > 0:
        return "brings_back", math.nan
    need = control_size_needed(r.rate_treatment, r.rate_control, r.n_treatment / max(r.n_control, 1),
                               r.repurchase_adj if r.repurchase_adj > 0 else 0.01)
    return "cannot_tell", need


def subgroup_counts(sub: pd.DataFrame) -> dict:
    """How many subgroup lifts were estimated, over how many splits, how many look significant at
    5 % and how many remain after Holm's correction."""
    est = sub.dropna(subset=["repurchase_adj"])
    return {"estimated": len(est), "splits": sub["dimension"].nunique(),
            "by_chance": len(est) * 0.05, "significant": int((est["repurchase_adj_p"] < 0.05).sum()),
            "after_holm": int((est["p_holm"] < 0.05).sum())}


def split_findings(sub: pd.DataFrame) -> list[dict]:
    """Per way of splitting with two or more estimated groups: its test (dimension_tests) with the
    lifts of its best and worst group when its groups differ, else the range of its lifts."""
    est = sub.dropna(subset=["repurchase_adj"])
    tests = dimension_tests(sub)
    out = []
    for t in tests.itertuples():
        if t.groups < 2:
            continue
        g = est[est["dimension"] == t.dimension].set_index("group")["repurchase_adj"]
        row = {"dimension": t.dimension, "groups": t.groups, "p": t.p, "p_holm": t.p_holm, "splits": len(tests),
               "differ": bool(t.differ), "lowest": float(g.min()), "highest": float(g.max())}
        if t.differ:
            row.update(best=t.best, worst=t.worst, best_lift=float(g.loc[t.best]), worst_lift=float(g.loc[t.worst]))
        out.append(row)
    return out


def targeting(sub: pd.DataFrame) -> dict | None:
    """Where to aim the campaign next time, from the subgroup estimates (pre-contact groups):
    only groups whose lift survives Holm's correction across all subgroups, in a split whose
    groups differ by more than chance (dimension_tests), are named. ``sure``: up to 3 such groups
    whose lift and net profit per contact are both above zero (best first); ``differ``: the
    splits whose groups differ; ``loses``: up to 3 groups of those splits whose net profit per
    contact is below zero. None without an estimate."""
    est = sub.dropna(subset=["repurchase_adj"]) if "repurchase_adj" in sub.columns else sub.iloc[0:0]
    if est.empty:
        return None
    tests = dimension_tests(sub)
    differ = set(tests.loc[tests["differ"], "dimension"])
    est = est.assign(net=est["profit_after_offer_adj"] - est["cost_pc"],
                     net_lo=est["profit_after_offer_adj_lo"] - est["cost_pc"],
                     net_hi=est["profit_after_offer_adj_hi"] - est["cost_pc"])
    firm = est[est["dimension"].isin(differ) & (est["p_holm"] < 0.05)]
    sure = firm[(firm["repurchase_adj_lo"] > 0) & (firm["net_lo"] > 0)].sort_values("net", ascending=False).head(3)
    loses = est[est["dimension"].isin(differ) & (est["net_hi"] < 0)].head(3)
    return {"sure": sure, "differ": sorted(differ), "loses": loses}


def fatigue_trend(study: Study, campaign_id: str, table: pd.DataFrame) -> dict:
    """Does the lift change with the number of earlier contacts? ``status`` 'no_history' (no
    customer was contacted before), 'too_few' (under two counts with a lift) or 'read', then the
    first and last count's rows, the heterogeneity p and whether the lift falls."""
    if not has_history(study, campaign_id):
        return {"status": "no_history"}
    t = table.dropna(subset=["lift"]) if "lift" in table.columns else table.iloc[0:0]
    if len(t) < 2:
        return {"status": "too_few"}
    _, p, _ = heterogeneity(t["lift"], t["lift_se"])
    first, last = t.iloc[0], t.iloc[-1]
    return {"status": "read", "first": first, "last": last, "p": p, "falls": bool(last["lift"] < first["lift"]),
            "differs": bool(p < 0.05),
            # for the findings: the most-contacted customers' whole interval lies below the least-contacted's
            "responded_less": bool(last["lift_hi"] < first["lift_lo"])}


def outcomes_export(study: Study) -> pd.DataFrame:
    """Customer-level outcomes of every campaign read (for analysts; never shown in the HTML)."""
    if not study.outcomes:
        return pd.DataFrame()
    cols = ["campaign_id", "customer_id", "arm", "role", "contact_ts", "purchased", "orders", "revenue", "profit",
            "pre_revenue", "orders_before", "recency_days", "contacts_prior", "cost", *study.dimensions]
    frame = pd.concat(study.outcomes.values(), ignore_index=True)
    return frame[[c for c in cols if c in frame.columns]]


# ================================================================ brands without money
# Orders without an amount (none mapped): repurchase and order lifts are measured as usual; every
# revenue, profit and ROI figure is unknown — left out of the tables and null in metrics.json,
# never a 0 (the contact cost, recorded in the campaign table, stays).

MONEY_WORDS = ("revenue", "profit", "roi")


def without_money(value, has_amount: bool):
    """``value`` (a display frame, or metrics) without its revenue / profit / ROI figures when the
    orders carry no amount (unchanged otherwise): frames lose those columns and pre-period revenue
    rows, metrics keep the keys with null."""
    if has_amount:
        return value
    if isinstance(value, pd.DataFrame):
        cols = [c for c in value.columns if not any(w in str(c).lower() for w in MONEY_WORDS)]
        out = value[cols]
        if "before the contact" in out.columns:
            out = out[~out["before the contact"].astype(str).str.contains("revenue")]
        return out
    if isinstance(value, dict):
        return {k: None if any(w in str(k).lower() for w in MONEY_WORDS) else without_money(v, False)
                for k, v in value.items()}
    if isinstance(value, list):
        return [without_money(v, False) for v in value]
    return value
