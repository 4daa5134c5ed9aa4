"""Notebook 06 helpers (helpers.campaigns): estimators on known values, hand-built brands with
planted effects (broken split, multi-arm, contact fatigue, no control group), and the demo's
planted campaign uplift recovered across generator seeds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import audit, config, demo, sources
from helpers import campaigns as cp
from helpers.text import Text
from helpers.text import campaigns as words
from helpers.text.formats import Formats

EN = Formats(Text("en"), "CNY")  # the sentences checked here in English; both languages: tests/test_text_campaigns.py

CONTACT = pd.Timestamp("2024-05-10 10:00:00")
HISTORY_START = pd.Timestamp("2023-05-10")
PERIOD = "2024-06"
PERIOD_END = config.period_end(PERIOD, "month")
WINDOW = 30


# ================================================================ estimators


def test_wilson_and_newcombe_match_published_values():
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 - 48/80, method 10
    est = cp.diff_proportions(56, 70, 48, 80)
    assert est["estimate"] == pytest.approx(0.2)
    assert (est["lo"], est["hi"]) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    lo, hi = cp.wilson(0, 10)  # Wilson never collapses to a zero-width interval
    assert lo == 0 and hi == pytest.approx(0.2775, abs=1e-4)


def test_welch_interval_and_relative_lift():
    rng = np.random.default_rng(1)
    a, b = rng.normal(10, 2, 400), rng.normal(9, 3, 300)
    est = cp.diff_means(a, b)
    se = math.sqrt(a.var(ddof=1) / 400 + b.var(ddof=1) / 300)
    assert est["se"] == pytest.approx(se)
    assert est["lo"] < a.mean() - b.mean() < est["hi"]
    rel, lo, hi = cp.relative_proportion(60, 200, 30, 200)
    assert rel == pytest.approx(1.0) and lo < 1.0 < hi
    assert math.isnan(cp.relative_proportion(5, 100, 0, 100)[0])


def test_holm_and_heterogeneity():
    assert cp.holm([0.01, 0.04, 0.03, np.nan]).tolist()[:3] == pytest.approx([0.03, 0.06, 0.06])
    q, p, k = cp.heterogeneity([0.01, 0.01, 0.01], [0.01, 0.02, 0.03])
    assert q == pytest.approx(0) and p == pytest.approx(1) and k == 3
    assert cp.heterogeneity([0.0, 0.1], [0.01, 0.01])[1] < 1e-6


def test_srm_test_and_designed_shares():
    res = cp.srm_test({"t": 8000, "c": 2000}, {"t": 0.8, "c": 0.2})
    assert res["chi2"] == pytest.approx(0) and res["p"] == pytest.approx(1)
    assert cp.srm_test({"t": 8200, "c": 1800}, {"t": 0.8, "c": 0.2})["p"] < 1e-5
    arms = pd.DataFrame({"arm": ["control", "treatment"], "role": ["control", "treatment"], "designed_share": [0.2, 0.8]})
    assert cp.designed_shares(arms)[0] == {"control": 0.2, "treatment": 0.8}
    same = arms.assign(designed_share=[0.8, 0.8])  # the treatment share written on every row
    assert cp.designed_shares(same)[0] == pytest.approx({"control": 0.2, "treatment": 0.8})
    assert cp.designed_shares(arms.assign(designed_share=[0.2, None]))[0] is None


def test_cuped_narrows_and_stays_unbiased_under_randomisation():
    rng = np.random.default_rng(7)
    diffs, raws, ratios = [], [], []
    for _ in range(300):
        x = rng.gamma(2.0, 50.0, 1000)
        y = 0.6 * x + rng.normal(0, 30, 1000)
        treated = rng.random(1000) < 0.5
        y = y + 5.0 * treated
        res = cp.cuped(y[treated], y[~treated], x[treated], x[~treated])
        diffs.append(res["estimate"])
        raws.append(res["raw"]["estimate"])
        ratios.append(res["width_ratio"])
    assert np.mean(diffs) == pytest.approx(5.0, abs=3 * np.std(diffs) / math.sqrt(300))
    # x explains 2/3 of y's variance: the spread, and the interval, shrink to about sqrt(1/3)
    assert np.std(diffs) < 0.65 * np.std(raws)
    assert max(ratios) < 0.65


def test_regression_adjustment_equals_statsmodels_ols_with_hc2():
    """Lin's interacted estimator and the common-slopes fallback: the arm coefficient and its HC2
    standard error as statsmodels computes them on the full design, and the plain difference
    (no covariate) with the Welch standard error."""
    from statsmodels.regression.linear_model import OLS

    rng = np.random.default_rng(3)
    n = 600
    treated = rng.random(n) < 0.7
    df = pd.DataFrame({"pre_orders": rng.poisson(1.0, n), "pre_revenue": rng.gamma(1.5, 40.0, n),
                       "orders_before": rng.poisson(3.0, n) + 1, "recency_days": rng.exponential(120.0, n),
                       "segment": rng.choice(["a", "b", "c"], n)})
    df.loc[:4, "recency_days"] = np.nan  # no earlier order
    X, names = cp.adjustment_covariates(df)
    assert names == ["pre-period orders", "pre-period revenue", "orders before", "log days since last order",
                     "no earlier order", "segment=b", "segment=c"]
    signal = 0.3 * df["pre_orders"] + 0.002 * df["pre_revenue"] - 0.05 * np.log1p(df["recency_days"].fillna(100))
    y = np.column_stack([(rng.random(n) < (0.2 + 0.1 * treated + 0.1 * signal).clip(0, 1)).astype(float),
                         50 * signal + 8 * treated + 3 * treated * df["pre_orders"] + rng.normal(0, 20, n)])
    res = cp.regression_adjusted(y, treated, X)
    assert res["method"].startswith("Lin")
    Xc = X - X.mean(axis=0)
    full = np.column_stack([np.ones(n), treated, Xc, treated[:, None] * Xc])
    for j in range(2):
        fit = OLS(y[:, j], full).fit(cov_type="HC2")
        assert res["estimate"][j] == pytest.approx(fit.params[1], rel=1e-9)
        assert res["se"][j] == pytest.approx(fit.bse[1], rel=1e-9)
        assert [res["lo"][j], res["hi"][j]] == pytest.approx(fit.conf_int()[1].tolist(), rel=1e-9)
    few = np.r_[np.flatnonzero(~treated)[:60], np.flatnonzero(treated)[:200]]  # 60 controls: too few to interact
    small = cp.regression_adjusted(y[few], treated[few], X[few])
    assert small["method"].startswith("ANCOVA")
    fit = OLS(y[few, 1], np.column_stack([np.ones(few.size), treated[few], Xc[few] - Xc[few].mean(axis=0)])).fit(
        cov_type="HC2")
    assert small["estimate"][1] == pytest.approx(fit.params[1], rel=1e-9)
    assert small["se"][1] == pytest.approx(fit.bse[1], rel=1e-9)
    plain = cp.regression_adjusted(y[:, 1], treated, np.zeros((n, 0)))
    welch = cp.diff_means(y[treated, 1], y[~treated, 1])
    assert plain["method"] == "unadjusted"
    assert (plain["estimate"][0], plain["se"][0]) == pytest.approx((welch["estimate"], welch["se"]), rel=1e-9)


def test_smd_and_the_subgroup_claims_need_the_multiplicity_correction():
    assert cp.smd([1, 2, 3, 4], [1, 2, 3, 4]) == 0
    assert cp.smd([2.0, 4.0], [0.0, 2.0]) == pytest.approx(2 / math.sqrt(2))
    rows = []
    for dim, lifts in (("flat", [0.02, 0.03, 0.025]), ("steep", [0.0, 0.01, 0.12])):
        for g, lift in zip("xyz", lifts, strict=True):
            rows.append({"dimension": dim, "group": f"{dim}-{g}", "repurchase_adj": lift, "repurchase_adj_se": 0.015,
                         "repurchase_adj_lo": lift - 0.03, "repurchase_adj_hi": lift + 0.03,
                         "repurchase_adj_p": 2 * float(cp.stats.norm.sf(lift / 0.015)),
                         "profit_after_offer_adj": 100 * lift, "profit_after_offer_adj_lo": 100 * lift - 2,
                         "profit_after_offer_adj_hi": 100 * lift + 2, "cost_pc": 1.0})
    sub = pd.DataFrame(rows)
    sub["p_holm"] = cp.holm(sub["repurchase_adj_p"])
    tests = cp.dimension_tests(sub).set_index("dimension")
    assert not tests.loc["flat", "differ"] and tests.loc["flat", "best"] is None
    assert tests.loc["steep", "differ"] and tests.loc["steep", "best"] == "steep-z"
    assert tests.loc["steep", "p_holm"] == pytest.approx(min(1.0, 2 * tests.loc["steep", "p"]))
    aim = cp.targeting(sub)
    assert aim["differ"] == ["steep"] and aim["sure"]["group"].tolist() == ["steep-z"]
    text = words.targeting(EN, sub)
    assert "steep-z" in text and "flat-" not in text
    # the same lifts with three times the noise: nothing survives, nothing is named
    noisy = sub.assign(repurchase_adj_se=0.045, repurchase_adj_p=lambda d: 2 * cp.stats.norm.sf(d["repurchase_adj"] / 0.045))
    noisy["p_holm"] = cp.holm(noisy["repurchase_adj_p"])
    assert not cp.dimension_tests(noisy)["differ"].any()
    assert cp.targeting(noisy)["differ"] == [] and cp.targeting(noisy)["sure"].empty
    assert "no subgroup stands out" in words.targeting(EN, noisy) and "steep-z" not in words.targeting(EN, noisy)


# ================================================================ hand-built brands


def make_brand(folder: Path, *, arms: dict[str, tuple[float, float]] | None = None, n: int = 4000, seed: int = 0,
               drop_control: float = 0.0, history_share: float = 0.0, fatigue: float = 0.0,
               observational: bool = False, contact: pd.Timestamp = CONTACT, campaign_id: str = "test_camp",
               tilt: float = 0.0) -> dict:
    """Orders and a campaign file with a planted effect. ``arms`` maps arm -> (designed share,
    rate multiplier in the window); control is the arm named 'control'. ``tilt`` (two arms only)
    skews the split by history: the campaign file gets a segment, 'frequent' (3+ orders before
    the contact) or 'occasional', and the first arm's share is raised by ``tilt`` x the
    occasional share among the frequent and lowered by ``tilt`` x the frequent share among the
    occasional — the split keeps its design overall, but the first arm holds more of the
    customers who buy more. Returns the params path and the planted truth (expected difference
    in P(buy in window) per arm, over all customers of the campaign)."""
    rng = np.random.default_rng(seed)
    arms = arms or {"treatment": (0.8, 2.0), "control": (0.2, 1.0)}
    ids = np.array([f"C{i:05d}" for i in range(n)])
    lam = rng.gamma(0.8, 1 / 60, n)  # purchases per day
    span = (contact - HISTORY_START).days
    # history: a first order, then a Poisson process up to the contact
    k_hist = rng.poisson(lam * span)
    who = np.concatenate([np.arange(n), np.repeat(np.arange(n), k_hist)])
    when = HISTORY_START + pd.to_timedelta(rng.random(who.size) * span, unit="D")
    # assignment
    names = list(arms)
    if observational:  # the marketer favoured the more active customers: selection on the rate
        rank = lam.argsort().argsort() / n
        chosen = rng.random(n) < 0.1 + 0.6 * rank
        arm = np.where(chosen, names[0], "")
    elif tilt:
        chosen = np.ones(n, dtype=bool)
        frequent = k_hist >= 2
        f = frequent.mean()
        share = arms[names[0]][0] + np.where(frequent, tilt * (1 - f), -tilt * f)
        arm = np.where(rng.random(n) < share, names[0], names[1])
    else:
        chosen = np.ones(n, dtype=bool)
        arm = rng.choice(names, size=n, p=[arms[a][0] for a in names])
    mult = np.where(arm == "", 1.0, np.vectorize(lambda a: arms.get(a, (0, 1.0))[1])(arm))
    earlier = chosen & (rng.random(n) < history_share)
    mult = np.where(earlier, 1 + (mult - 1) * (1 - fatigue), mult)
    # outcome window, then the rest of the period at the usual rate
    k_win = rng.poisson(lam * mult * WINDOW)
    after = (PERIOD_END - contact).days - WINDOW
    k_after = rng.poisson(lam * after)
    w_who = np.repeat(np.arange(n), k_win)
    a_who = np.repeat(np.arange(n), k_after)
    w_when = contact + pd.to_timedelta(rng.random(w_who.size) * WINDOW, unit="D")
    a_when = contact + pd.Timedelta(days=WINDOW) + pd.to_timedelta(rng.random(a_who.size) * after, unit="D")
    cust = np.concatenate([who, w_who, a_who])
    ts = pd.DatetimeIndex(np.concatenate([when.values, w_when.values, a_when.values])).floor("s")
    orders = pd.DataFrame({"order_id": [f"O{i}" for i in range(cust.size)], "customer_id": ids[cust],
                           "order_time": ts.strftime("%Y-%m-%d %H:%M:%S"),
                           "amount": np.round(rng.lognormal(np.log(90), 0.4, cust.size), 2)})
    orders.to_csv(folder / "orders.csv", index=False)

    rows = []
    for i in np.flatnonzero(chosen):
        a = arm[i]
        rows.append((campaign_id, ids[i], a, contact + pd.Timedelta(minutes=int(rng.integers(0, 240))),
                     0.0 if a == "control" else 1.0, arms[a][0]))
    camp = pd.DataFrame(rows, columns=["campaign_id", "customer_id", "group", "contact_ts", "cost", "designed_share"])
    if tilt:
        camp["segment"] = np.where(frequent, "frequent", "occasional")[np.flatnonzero(chosen)]
    if drop_control:
        ctrl = camp.index[camp["group"] == "control"]
        camp = camp.drop(rng.choice(ctrl, size=int(drop_control * len(ctrl)), replace=False))
    if history_share:
        prior = pd.DataFrame({"campaign_id": "earlier_push", "customer_id": ids[earlier], "group": "treatment",
                              "contact_ts": contact - pd.Timedelta(days=40), "cost": 0.5, "designed_share": 1.0})
        camp = pd.concat([prior, camp], ignore_index=True)
    camp["contact_ts"] = pd.to_datetime(camp["contact_ts"]).dt.strftime("%Y-%m-%d %H:%M:%S")
    camp.to_csv(folder / "campaign.csv", index=False)

    in_camp = chosen
    base = 1 - np.exp(-lam * WINDOW)
    truth = {}
    for a in names:
        if a == "control":
            continue
        m = np.where(earlier, 1 + (arms[a][1] - 1) * (1 - fatigue), arms[a][1])
        truth[a] = float(np.mean(((1 - np.exp(-lam * m * WINDOW)) - base)[in_camp]))
    params = folder / "synth.yaml"
    params.write_text(yaml.safe_dump({
        "brand": "synth", "period": "month",
        "sources": {
            "orders": [{"name": "shop", "path": str(folder / "orders.csv"),
                        "columns": {"order_id": "order_id", "customer_id": "customer_id", "order_ts": "order_time",
                                    "amount": "amount"}}],
            "campaigns": [{"name": "camp", "path": str(folder / "campaign.csv"),
                           "columns": {c: c for c in ("campaign_id", "customer_id", "group", "contact_ts", "cost",
                                                      "designed_share", *(["segment"] if tilt else []))}}],
        },
        "business": {"currency": "CNY", "margin": 0.3},
    }), encoding="utf-8")
    return {"params": params, "truth": truth, "lam": lam, "earlier": earlier}


def edit_params(path: Path, change) -> Path:
    """Apply ``change`` to the params dict of a hand-built brand and write it back."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(raw)
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def study_for(params_path: Path, period: str = PERIOD) -> cp.Study:
    params = config.load_params(params_path)
    data = sources.load(params)
    end = config.period_end(period, params.period)
    clean = audit.clean_orders(data, end, with_steps=False)
    return cp.build_study(data, clean.orders, clean.refunds, params, period, end)


def everything(study: cp.Study) -> dict:
    arms = cp.arm_outcomes(study)
    lifts = cp.lift_table(study)
    econ = cp.economics(study, lifts)
    return {"arms": arms, "lifts": lifts, "econ": econ, "metrics": cp.campaign_metrics(study, arms, lifts, econ)}


def test_two_arm_brand_recovers_the_planted_lift(tmp_path):
    brand = make_brand(tmp_path, n=5000)
    study = study_for(brand["params"])
    assert study.ids(cp.READ) == ["test_camp"]
    out = everything(study)
    lift = out["lifts"].iloc[0]
    assert lift["repurchase_lo"] < brand["truth"]["treatment"] < lift["repurchase_hi"]
    assert lift["repurchase_lo"] > 0
    econ = out["econ"].iloc[0]
    assert econ["cost"] == pytest.approx(lift["n_treatment"] * 1.0)
    assert econ["roi"] == pytest.approx((econ["incremental_profit"] - econ["cost"]) / econ["cost"])
    assert econ["roi_lo"] < econ["roi"] < econ["roi_hi"]
    m = out["metrics"]["test_camp"]
    assert set(m["arms"]["treatment"]) >= {"n", "repurchase_rate", "revenue_per_customer"}
    assert set(m["lift"]["treatment"]) >= {"repurchase_pp", "repurchase_pp_ci", "revenue_per_customer",
                                           "revenue_per_customer_ci", "roi"}
    assert m["srm_p"] > study.cfg.srm_alpha and m["lift"]["treatment"]["causal"] is True
    json.dumps(out["metrics"])  # plain JSON types only (report._jsonable handles timestamps)


def test_arms_imbalanced_on_history_bias_the_raw_lift_and_the_adjusted_one_recovers_it(tmp_path):
    """The split passes its check, but the treated arm holds more frequent buyers: the balance
    table flags it, the raw difference overstates the planted lift (its interval misses it), and
    the lift adjusted for the pre-contact history and segment recovers it."""
    brand = make_brand(tmp_path, n=2000, seed=2, tilt=0.3, arms={"treatment": (0.5, 2.0), "control": (0.5, 1.0)})
    truth = brand["truth"]["treatment"]
    study = study_for(brand["params"])
    assert study.srm_ok("test_camp")
    bal = cp.balance_table(study).set_index("column")
    assert bal.loc["segment=frequent", "imbalanced"] and bal.loc["orders_before", "imbalanced"]
    assert bal.loc["orders_before", "smd"] > 0.2 and bal.loc["orders_before", "p"] < 0.001
    lift = cp.lift_table(study).iloc[0]
    assert lift["repurchase_lo"] > truth + 0.03  # raw: biased upwards, its interval misses the truth
    assert lift["repurchase_adj_lo"] < truth < lift["repurchase_adj_hi"]
    assert abs(lift["repurchase_adj"] - truth) < 0.25 * abs(lift["repurchase_pp"] - truth)
    assert "segment=occasional" in lift["adjust_covariates"] and "orders before" in lift["adjust_covariates"]
    econ = cp.economics(study, cp.lift_table(study)).iloc[0]
    assert econ["incremental_buyers"] == pytest.approx(lift["n_treatment"] * lift["repurchase_adj"])
    text = " ".join(words.balance(study, EN, cp.balance_table(study), cp.lift_table(study)))
    assert "differ between the groups" in text and EN.pp(lift["repurchase_adj"]) in text


def test_a_broken_split_is_caught_and_withholds_causal_figures(tmp_path):
    brand = make_brand(tmp_path, arms={"treatment": (0.5, 2.0), "control": (0.5, 1.0)}, n=3000, drop_control=0.3)
    study = study_for(brand["params"])
    row = study.overview.iloc[0]
    assert row["srm_p"] < 1e-6 and row["srm_ok"] == False  # noqa: E712
    out = everything(study)
    assert out["lifts"]["repurchase_pp"].isna().all() and out["lifts"]["revenue_pc"].isna().all()
    assert out["econ"].empty
    assert study.readable() == []
    assert out["metrics"]["test_camp"]["lift"]["treatment"]["causal"] is False
    assert out["metrics"]["test_camp"]["lift"]["treatment"]["roi"] is None
    text = " ".join(words.split(study, EN))
    assert "the split does not match the design" in text and "no lift, return or segment figure" in text
    assert cp.response_payload(study, out["lifts"]) is None
    assert "Do not act on test_camp" in words.findings(study, EN, out["lifts"], out["econ"], {}, {})


def test_multi_arm_campaign_two_offers_and_a_control(tmp_path):
    arms = {"offer_a": (0.4, 2.5), "offer_b": (0.4, 1.0), "control": (0.2, 1.0)}
    brand = make_brand(tmp_path, arms=arms, n=6000, seed=3)
    stopped = study_for(brand["params"])  # two arms beside the control, neither a known treatment label
    assert stopped.overview.iloc[0]["status"] == cp.UNKNOWN_GROUP and stopped.outcomes == {}
    edit_params(brand["params"], lambda p: p.setdefault("campaigns", {}).update(treatment_labels=["offer_a", "offer_b"]))
    study = study_for(brand["params"])
    assert study.overview.iloc[0]["arms"] == 3 and study.overview.iloc[0]["srm_ok"]
    out = everything(study)
    lifts = out["lifts"].set_index("arm")
    assert list(lifts.index) == ["offer_a", "offer_b"]
    assert (lifts["n_control"] == lifts["n_control"].iloc[0]).all()  # one shared control group
    a, b = lifts.loc["offer_a"], lifts.loc["offer_b"]
    assert a["repurchase_lo"] < brand["truth"]["offer_a"] < a["repurchase_hi"] and a["repurchase_lo"] > 0
    assert b["repurchase_lo"] < 0 < b["repurchase_hi"]  # the planted no-effect offer
    split = cp.split_table(study)
    assert len(split) == 3 and (split["split check"] == "as designed").all()
    assert set(out["metrics"]["test_camp"]["lift"]) == {"offer_a", "offer_b"}
    payload = cp.response_payload(study, out["lifts"])
    assert payload["arm"] == "offer_a"  # the arm with the better net return per contact


def test_contact_fatigue_with_history(tmp_path):
    brand = make_brand(tmp_path, n=6000, seed=5, history_share=0.5, fatigue=1.0,
                       arms={"treatment": (0.5, 2.5), "control": (0.5, 1.0)})
    study = study_for(brand["params"])
    # the earlier push (no control group) is listed as observational; test_camp is read
    assert study.ids(cp.READ) == ["test_camp"]
    assert cp.has_history(study, "test_camp")
    prior = study.outcomes["test_camp"]["contacts_prior"]
    assert prior.sum() == brand["earlier"].sum()
    table = cp.fatigue(study, "test_camp").set_index("contacts_before")
    assert list(table.index) == ["0", "1"]
    assert table.loc["0", "lift_lo"] > 0  # never contacted before: the planted effect
    assert table.loc["1", "lift_lo"] < 0 < table.loc["1", "lift_hi"]  # contacted before: no effect planted
    trend = cp.fatigue_trend(study, "test_camp", table.reset_index())
    assert trend["status"] == "read" and trend["falls"] and trend["differs"] and trend["responded_less"]
    text = " ".join(words.fatigue(study, EN, "test_camp", table.reset_index()))
    assert "falls" in text and "larger than chance" in text


def test_demo_has_no_contact_history_and_says_so():
    study = study_for_demo()
    assert not cp.has_history(study, "spring_winback")
    assert cp.fatigue_trend(study, "spring_winback", cp.fatigue(study, "spring_winback")) == {"status": "no_history"}
    assert "no contact history" in words.fatigue(study, EN, "spring_winback", cp.fatigue(study, "spring_winback"))[0]


def test_campaign_without_control_is_observational(tmp_path):
    brand = make_brand(tmp_path, arms={"treatment": (1.0, 2.0)}, n=4000, seed=11, observational=True)
    study = study_for(brand["params"])
    assert study.ids(cp.OBSERVATIONAL) == ["test_camp"] and study.ids(cp.READ) == []
    assert cp.lift_table(study).empty
    obs = cp.observational(study, "test_camp")
    assert obs["n_matched"] > 0.9 * obs["n_treated"]
    balance = obs["balance"]
    # matching removes most of the selection: matched look like the treated, not like everyone
    gap_matched = abs(balance.loc["orders before", "treated"] - balance.loc["orders before", "matched"])
    gap_all = abs(balance.loc["orders before", "treated"] - balance.loc["orders before", "all non-contacted"])
    assert gap_matched < 0.25 * gap_all
    assert obs["difference_lo"] < obs["difference_hi"]
    text = " ".join(words.observational(study, EN, "test_camp", obs))
    assert "Observational, not a causal lift" in text
    metrics = cp.campaign_metrics(study, cp.arm_outcomes(study), cp.lift_table(study), pd.DataFrame(),
                                  {"test_camp": obs})
    assert metrics["test_camp"]["lift"] == {} and "not a causal lift" in metrics["test_camp"]["observational"]["label"]
    assert "cannot be measured" in " ".join(words.overview(study, EN))


def test_campaign_too_early_then_read_then_read_earlier(tmp_path):
    brand = make_brand(tmp_path, n=1500)
    early = study_for(brand["params"], period="2024-05")
    assert early.ids(cp.TOO_EARLY) == ["test_camp"] and early.outcomes == {}
    assert "too early to read" in " ".join(words.overview(early, EN))
    m = cp.campaign_metrics(early, cp.arm_outcomes(early), cp.lift_table(early), pd.DataFrame())
    assert m["test_camp"]["status"] == cp.TOO_EARLY and m["test_camp"]["arms"]["treatment"]["n"] > 0
    assert m["test_camp"]["srm_p"] is not None  # the split can be checked before the window closes
    # 2024-09 is past the read periods (window closed 2024-06): on the brand's first run nobody
    # read it, and the run says so and which period reads it; once the 2024-06 run has read it,
    # it is "read by an earlier run", naming that run
    assert not (config.outputs_dir() / "synth").exists()
    old = study_for(brand["params"], period="2024-09")
    assert old.ids(cp.NOT_READ) == ["test_camp"] and old.ids(cp.READ_EARLIER) == []
    text = " ".join(words.overview(old, EN))
    assert "earlier runs read it" not in text and "no earlier run of this brand read it" in text
    assert "--period 2024-06" in text
    assert "test_camp closed before this run's read periods" in words.findings(old, EN, cp.lift_table(old), pd.DataFrame(), {}, {})
    earlier = config.outputs_dir() / "synth" / "2024-06" / "latest"
    earlier.mkdir(parents=True)
    (earlier / "metrics.json").write_text(json.dumps({"campaigns": {"test_camp": {"status": cp.READ}}}))
    try:
        old = study_for(brand["params"], period="2024-09")
        assert old.ids(cp.READ_EARLIER) == ["test_camp"] and old.ids(cp.NOT_READ) == []
        assert "the run of June 2024 read it" in " ".join(words.overview(old, EN))
    finally:
        import shutil

        shutil.rmtree(config.outputs_dir() / "synth", ignore_errors=True)


def test_response_file_uses_tiers_at_contact_from_an_earlier_run(tmp_path):
    brand = make_brand(tmp_path, n=3000)
    # an earlier run (period 2024-04 ended before the contact) left tiers in its customer table
    earlier = config.outputs_dir() / "synth" / "2024-04" / "latest" / "data"
    earlier.mkdir(parents=True, exist_ok=True)
    ids = [f"C{i:05d}" for i in range(3000)]
    pd.DataFrame({"customer_id": ids, "tier": np.where(np.arange(3000) % 2, "general", "low")}).to_parquet(
        earlier / "customers.parquet")
    try:
        study = study_for(brand["params"])
        lifts = cp.lift_table(study)
        payload = cp.response_payload(study, lifts)
        assert payload["by"] == "tier" and set(payload["response"]) == {"general", "low"}
        assert "2024-04" in study.dimensions["tier"]
        g = payload["response"]["low"]
        assert set(g) == {"n_treatment", "n_control", "repurchase_pp", "repurchase_pp_ci", "repurchase_pp_adjusted",
                          "repurchase_pp_adjusted_ci", "repurchase_pp_raw", "repurchase_pp_raw_ci",
                          "revenue_per_customer", "revenue_per_customer_ci", "cost_per_customer",
                          "offer_cost_per_customer", "adjustment"}
        assert g["repurchase_pp_ci"][0] < g["repurchase_pp"] < g["repurchase_pp_ci"][1]
        # what notebook 05 reads (repurchase_pp) is the adjusted lift
        assert (g["repurchase_pp"], g["repurchase_pp_ci"]) == (g["repurchase_pp_adjusted"], g["repurchase_pp_adjusted_ci"])
        assert payload["overall"]["n_treatment"] == int(lifts.iloc[0]["n_treatment"])
        assert payload["window_days"] == WINDOW and payload["period"] == PERIOD
    finally:
        import shutil

        shutil.rmtree(config.outputs_dir() / "synth", ignore_errors=True)


def test_brand_without_campaigns_table(tiny_params):
    params = config.load_params(tiny_params)
    data = sources.load(params)
    end = config.period_end("2024-02", "month")
    clean = audit.clean_orders(data, end, with_steps=False)
    study = cp.build_study(data, clean.orders, clean.refunds, params, "2024-02", end)
    assert not study.has_table
    assert "no campaigns table" in words.overview(study, EN)[0]
    assert cp.campaign_metrics(study, cp.arm_outcomes(study), cp.lift_table(study), pd.DataFrame()) == {}
    assert "no campaign data" in words.findings(study, EN, cp.lift_table(study), pd.DataFrame(), {}, {})


# ================================================================ the demo brand's planted campaign


_DEMO: dict = {}


def study_for_demo() -> cp.Study:
    if "study" not in _DEMO:
        params = config.load_params(brand="demo")
        data = sources.load(params)
        truth = demo.load_truth()
        period = truth["latest_complete_month"]
        end = config.period_end(period, "month")
        clean = audit.clean_orders(data, end, with_steps=False)
        _DEMO["study"] = cp.build_study(data, clean.orders, clean.refunds, params, period, end)
        _DEMO["truth"] = truth["campaign"]
    return _DEMO["study"]


def test_demo_campaign_is_read_in_the_latest_period_and_recovers_the_truth():
    study = study_for_demo()
    truth = _DEMO["truth"]
    assert study.ids(cp.READ) == [truth["campaign_id"]]
    split = cp.split_table(study).loc[truth["campaign_id"]]
    assert split.loc["treatment", "customers"] == truth["n"]["treatment"]
    assert split.loc["control", "customers"] == truth["n"]["control"]
    assert split.loc["treatment", "designed share"] == pytest.approx(truth["designed_share"])
    lift = cp.lift_table(study).iloc[0]
    assert lift["repurchase_lo"] < truth["uplift"]["overall"] < lift["repurchase_hi"]
    assert lift["revenue_cuped_lo"] < truth["revenue_uplift_per_customer"]["overall"] < lift["revenue_cuped_hi"]
    assert lift["cuped_variance_reduction"] > 0.05  # the pre-period revenue explains some of the outcome
    # (that CUPED narrows the interval is a property across draws: tests/proof/test_campaign_coverage.py)
    sub = cp.lift_by(study, truth["campaign_id"], "treatment", "segment").set_index("group")
    for seg, n in truth["n_by_segment"].items():
        assert (sub.loc[seg, "n_treatment"], sub.loc[seg, "n_control"]) == (n["treatment"], n["control"])
    econ = cp.economics(study, cp.lift_table(study)).iloc[0]
    assert econ["cost"] == pytest.approx(truth["n"]["treatment"] * truth["cost_per_treated_contact"])
    payload = cp.response_payload(study, cp.lift_table(study))
    assert payload["by"] == "segment" and set(payload["response"]) == set(truth["n_by_segment"])


def test_demo_adjusted_lift_covers_the_planted_uplift_and_roi_counts_the_offer():
    """The adjusted lift's interval covers the planted uplift (its bias and coverage across draws:
    tests/proof/test_campaign_coverage.py, make proof). It is what the totals, the metrics
    and the response file for notebook 05 carry; the ROI counts the offer's discount as well as
    the contact cost."""
    study = study_for_demo()
    truth = _DEMO["truth"]
    planted = truth["uplift"]["overall"]
    bal = cp.balance_table(study).set_index("column")
    assert (bal["imbalanced"] == (bal["smd"].abs() > 0.1)).all()
    lifts = cp.lift_table(study)
    lift = lifts.iloc[0]
    assert lift["repurchase_adj_lo"] < planted < lift["repurchase_adj_hi"]
    econ = cp.economics(study, lifts)
    e = econ.iloc[0]
    n = truth["n"]["treatment"]
    assert e["incremental_buyers"] == pytest.approx(n * lift["repurchase_adj"])
    assert study.has_discount and e["offer_cost"] > 0 and e["discount_redeemed"] >= e["offer_cost"]
    assert e["total_cost"] == pytest.approx(e["cost"] + e["offer_cost"])
    assert e["net_profit"] == pytest.approx(e["incremental_profit"] - e["total_cost"])
    assert e["roi"] == pytest.approx(e["net_profit"] / e["total_cost"])
    m = cp.campaign_metrics(study, cp.arm_outcomes(study), lifts, econ, {}, cp.balance_table(study))
    m = m[truth["campaign_id"]]
    got = m["lift"]["treatment"]
    assert got["repurchase_pp"] == pytest.approx(lift["repurchase_pp"])  # the raw figure keeps its key
    assert got["repurchase_pp_adjusted"] == pytest.approx(lift["repurchase_adj"])
    assert got["repurchase_pp_adjusted_ci"] == pytest.approx([lift["repurchase_adj_lo"], lift["repurchase_adj_hi"]])
    assert got["offer_cost"] == pytest.approx(e["offer_cost"]) and "offer" in got["costs_counted"]
    assert m["balance"]["treatment"]["orders_before"]["imbalanced"] == bool(bal.loc["orders_before", "imbalanced"])
    json.dumps(m)
    payload = cp.response_payload(study, lifts)
    assert payload["overall"]["repurchase_pp"] == pytest.approx(lift["repurchase_adj"])
    assert payload["overall"]["repurchase_pp_raw"] == pytest.approx(lift["repurchase_pp"])
    assert payload["channel"] == "sms"  # notebook 05 carries a lift only to the channel it was measured on
    text = " ".join(words.lift(study, EN, lifts))
    assert f"**{EN.pp(lift['repurchase_adj'])}**" in text


# ---------------------------------------------------------------- across generator seeds
# Coverage of the lifts over 30 generated demos (raw, adjusted, per segment, CUPED revenue), the
# adjusted lift's bias and CUPED's narrowing: tests/proof/test_campaign_coverage.py (make proof).


# ================================================================ the fast paths equal the plain ones
# At ten million orders the study's engine results come to pandas through Arrow (not Ibis's
# value-by-value conversion of columns with NULLs), and are lined up with the contacts on a
# stored row number (not merged on campaign and customer ids). Same frames, to the last bit.


def test_execute_through_arrow_equals_ibis_execute():
    import ibis

    con = ibis.duckdb.connect()
    con.raw_sql("SET preserve_insertion_order = true")
    con.raw_sql("""CREATE TABLE exec_check AS SELECT * FROM (VALUES
        ('a', 1, 1.5, 'u', true, TIMESTAMP '2024-05-01 10:00:00.123456', TIMESTAMP '2024-05-01 10:00:00'),
        ('b', 2, NULL, NULL, NULL, NULL, TIMESTAMP '2024-05-02 10:00:00'),
        ('a', 3, 2.25, 'w', false, TIMESTAMP '2024-05-04 10:00:00.123456', TIMESTAMP '2024-05-03 10:00:00'),
        (NULL, 4, 4.0, 'u', true, TIMESTAMP '2024-05-01 10:00:00.123456', TIMESTAMP '2024-05-04 10:00:00'),
        ('c', 5, NULL, NULL, NULL, NULL, TIMESTAMP '2024-05-05 10:00:00')
        ) v(k, i, x, s, b, t, t_full)""")
    t = con.table("exec_check")
    exprs = {
        "as stored": t,
        "aggregates with NULLs": t.group_by("k").aggregate(
            n=t.count(), n_x=t.x.count(), i_sum=t.i.sum(where=t.x.notnull()), x_sum=t.x.sum(), s_max=t.s.max(),
            b_any=t.b.any(), first=t.t.min(where=t.i > 1), last=t.t_full.max(), never=t.t.max(where=t.i > 99),
            none=t.x.sum(where=t.i > 99)).order_by("k"),
        "no rows": t.filter(t.i > 99),
        "row numbers": t.mutate(_row=ibis.row_number()),
    }
    for what, expr in exprs.items():
        pd.testing.assert_frame_equal(cp._execute(expr), expr.execute(), check_exact=True, obj=what)


def test_left_join_on_the_row_number_equals_the_merge():
    df = pd.DataFrame({"_row": [5, 2, 9, 7], "customer_id": ["a", "b", "c", "d"], "v": [1.0, 2.0, 3.0, 4.0]})
    other = pd.DataFrame({"_row": [9, 2, 11], "orders": [3, 0, 1], "revenue": [10.5, None, 2.0],
                          "last": pd.to_datetime(["2024-01-02", None, "2024-03-01"]).as_unit("ns")})
    for right in (other, other.iloc[:0], other[other["_row"].isin([2, 5, 7, 9])]):
        pd.testing.assert_frame_equal(cp._left_join(df, right, ("_row",)), df.merge(right, on="_row", how="left"),
                                      check_exact=True)
    with_all = other.assign(_row=[5, 2, 9]).iloc[[0, 1, 2]]
    pd.testing.assert_frame_equal(cp._left_join(df, with_all, ("_row",)), df.merge(with_all, on="_row", how="left"),
                                  check_exact=True)


def _lift_by_on_full_frames(study: cp.Study, campaign_id: str, arm: str, column: str) -> pd.DataFrame:
    df = study.outcomes[campaign_id]
    df = df[(df["role"] == "control") | (df["arm"] == arm)]
    rows = []
    for group, g in df.groupby(column, sort=True):
        t, c = g[g["role"] == "treatment"], g[g["role"] == "control"]
        row = {"dimension": column, "group": str(group), "n_treatment": len(t), "n_control": len(c)}
        if min(len(t), len(c)) >= study.cfg.min_group_size:
            row.update(cp.compare(t, c))
        rows.append(row)
    out = pd.DataFrame(rows)
    out["p_holm"] = cp.holm(out["repurchase_adj_p"])
    return out


def test_outcomes_keyed_by_row_number_equal_the_merge_on_ids(tmp_path, monkeypatch):
    """build_study stores each contact's row number and lines the engine's aggregates up on it;
    a backend without temporary tables merges on (campaign_id, customer_id) as before. Both give
    the same outcomes (a misaligned row would show as a different customer's orders), and every
    table computed from them is the same; the subgroup tables equal those computed on the whole
    outcome frames."""
    arms = {"offer_a": (0.4, 2.5), "offer_b": (0.4, 1.0), "control": (0.2, 1.0)}
    brand = make_brand(tmp_path, arms=arms, n=3000, seed=11, history_share=0.4, fatigue=0.5)
    edit_params(brand["params"],  # the earlier push's arm is 'treatment': the list replaces the defaults
                lambda p: p.setdefault("campaigns", {}).update(treatment_labels=["treatment", "offer_a", "offer_b"]))
    fast = study_for(brand["params"])
    stored = cp._stored
    monkeypatch.setattr(cp, "_stored", lambda con, expr: None if "_row" in expr.columns else stored(con, expr))
    plain = study_for(brand["params"])
    assert fast.outcomes.keys() == plain.outcomes.keys() == {"test_camp", "earlier_push"}
    for cid, df in fast.outcomes.items():
        assert df.index.equals(pd.RangeIndex(len(df)))
        key = ["campaign_id", "customer_id"]
        # the engine may add a customer's few orders in another order: money can differ in the last bit
        pd.testing.assert_frame_equal(df.sort_values(key, ignore_index=True),
                                      plain.outcomes[cid].sort_values(key, ignore_index=True),
                                      check_exact=False, rtol=1e-12)
    assert fast.outcomes["test_camp"]["contacts_prior"].sum() == brand["earlier"].sum()
    for f in ("overview", "arms"):  # money sums may differ in the last bits with the engine's threads
        pd.testing.assert_frame_equal(getattr(fast, f), getattr(plain, f), check_exact=False, rtol=1e-12)
    a, b = everything(fast), everything(plain)
    pd.testing.assert_frame_equal(a["arms"], b["arms"], check_exact=False, rtol=1e-12)
    for f in ("lifts", "econ"):  # the covariate adjustment carries those last bits of the money sums a little further
        pd.testing.assert_frame_equal(a[f], b[f], check_exact=False, rtol=1e-9)
    lifts = a["lifts"]
    subs = cp.subgroups(fast, lifts)
    assert set(subs) == {("test_camp", "offer_a"), ("test_camp", "offer_b")}
    for (cid, arm), sub in subs.items():
        ref = pd.concat([_lift_by_on_full_frames(fast, cid, arm, d) for d in fast.dimensions], ignore_index=True)
        ref["p_holm"] = cp.holm(ref["repurchase_adj_p"])  # across every group of every dimension
        pd.testing.assert_frame_equal(sub, ref, check_exact=True)
    for cid in fast.readable():
        pd.testing.assert_frame_equal(cp.fatigue(fast, cid, "offer_a"), cp.fatigue(plain, cid, "offer_a"),
                                      check_exact=False, rtol=1e-12)


# ================================================================ real campaign exports (issue 12)


def _no_cost(p: dict) -> None:
    del p["sources"]["campaigns"][0]["columns"]["cost"]


def test_a_campaign_without_a_cost_column_runs_and_says_its_cost_is_unknown(tmp_path):
    """The most common export: no cost column, no channel. Lift, split check and CUPED are read
    as with a cost; the contact cost is unknown, not zero: no net profit, no ROI, and the words
    name the column and the param that would give it. With a channel that tiers.cost_per_contact
    prices (sms: 0.05), the cost is contacts x 0.05 and the sentence says where it comes from."""
    brand = make_brand(tmp_path, n=1500, seed=4)
    edit_params(brand["params"], _no_cost)
    study = study_for(brand["params"])
    assert study.ids(cp.READ) == ["test_camp"] and study.overview.iloc[0]["srm_p"] > 0.001
    out = everything(study)
    lift = out["lifts"].iloc[0]
    assert lift["repurchase_adj_lo"] > 0 and lift["revenue_cuped_lo"] < lift["revenue_cuped"] < lift["revenue_cuped_hi"]
    assert lift["cuped_theta"] > 0  # the pre-period revenue predicts the window's
    assert math.isnan(lift["cost_pc"]) and math.isnan(lift["net_pc"])
    e = out["econ"].iloc[0]
    assert math.isnan(e["cost"]) and math.isnan(e["net_profit"]) and math.isnan(e["roi"]) and math.isnan(e["total_cost"])
    assert e["roi_note"] == "contact cost unknown" and e["incremental_profit"] > 0
    assert study.cost_basis["test_camp"]["kind"] == "unknown" and study.cost_basis["test_camp"]["missing"] == [None]
    text = " ".join(words.economics(study, EN, out["econ"]))
    assert "Its contact cost is unknown" in text and "the campaign file has no cost" in text
    assert "no channel is recorded for its contacts" in text
    shown = words.economics_table(EN, out["econ"]).iloc[0]
    assert shown["Contact cost"] == "unknown" and shown["Return on spend"] == "not read: contact cost unknown"
    arms = words.arms_table(EN, out["arms"], WINDOW)
    assert arms.loc[("test_camp", "treatment"), "Contact cost per customer"] == ""  # unknown, not 0.00
    findings = words.findings(study, EN, out["lifts"], out["econ"], {}, {})
    assert "cannot be told: its contact cost is unknown" in findings and "cheaper contact" not in findings
    assert out["metrics"]["test_camp"]["lift"]["treatment"]["roi_note"] == "contact cost unknown"
    from helpers import campaign_plots

    campaign_plots.economics_chart(out["econ"], EN)

    camp = pd.read_csv(tmp_path / "campaign.csv").assign(channel="sms")
    camp.to_csv(tmp_path / "campaign.csv", index=False)
    edit_params(brand["params"], lambda p: p["sources"]["campaigns"][0]["columns"].update(channel="channel"))
    study = study_for(brand["params"])
    e = cp.economics(study, cp.lift_table(study)).iloc[0]
    assert e["cost"] == pytest.approx(0.05 * e["n_treatment"]) and study.cost_basis["test_camp"]["kind"] == "per contact"
    assert "the brand's cost per contact of its channel: sms CNY 0.05 per contact" in " ".join(
        words.economics(study, EN, cp.economics(study, cp.lift_table(study))))
    # a channel without a cost per contact: unknown again, naming the channel and the param
    camp.assign(channel="wechat").to_csv(tmp_path / "campaign.csv", index=False)
    study = study_for(brand["params"])
    assert study.cost_basis["test_camp"]["missing"] == ["wechat"]
    assert "the brand sets no cost per contact for its channel 'wechat'" in words.cost_basis(EN, study.cost_basis["test_camp"])


def test_control_labels_are_explicit_and_an_unknown_label_stops_only_its_campaign(tmp_path):
    """'CTRL' (a default control spelling, any case and spaces) is the control group; a label
    that is neither a control nor a treatment label stops its campaign with the label, its
    customers and the params to set, while the other campaign is read; a single unknown label
    beside a known control is read as the treatment, and said so."""
    brand = make_brand(tmp_path, n=1500, seed=6)
    camp = pd.read_csv(tmp_path / "campaign.csv")
    n_control = int((camp["group"] == "control").sum())
    spelled = camp.assign(group=camp["group"].map({"control": " CTRL ", "treatment": "Treatment"}))
    spelled.to_csv(tmp_path / "campaign.csv", index=False)
    study = study_for(brand["params"])
    assert study.ids(cp.READ) == ["test_camp"]
    lift = cp.lift_table(study).iloc[0]
    assert (lift["n_control"], lift["n_treatment"]) == (n_control, len(camp) - n_control)

    unknown = camp.assign(group=camp["group"].map({"control": "Kontrolle", "treatment": "treatment"}))
    both = pd.concat([unknown, camp.assign(campaign_id="good_camp")], ignore_index=True)
    both.to_csv(tmp_path / "campaign.csv", index=False)
    study = study_for(brand["params"])
    assert study.ids(cp.UNKNOWN_GROUP) == ["test_camp"] and study.ids(cp.READ) == ["good_camp"]
    assert "test_camp" not in study.outcomes and cp.lift_table(study)["campaign_id"].tolist() == ["good_camp"]
    text = " ".join(words.overview(study, EN))
    assert f"**test_camp is not analysed**: its group label(s) 'Kontrolle' ({n_control:,} customers)" in text
    assert "neither control labels (control, control group, ctrl" in text and "Add each label to the brand's control or treatment labels" in text
    assert "test_camp" not in cp.split_table(study).index.get_level_values(0)
    m = cp.campaign_metrics(study, cp.arm_outcomes(study), cp.lift_table(study), pd.DataFrame())
    assert m["test_camp"] == {"status": cp.UNKNOWN_GROUP, "customers": len(camp), "unknown_labels": {"Kontrolle": n_control}}
    lifts = cp.lift_table(study)
    assert "add its group label(s) 'Kontrolle'" in words.findings(study, EN, lifts, cp.economics(study, lifts), {}, {})

    camp.assign(group=camp["group"].map({"control": "对照组", "treatment": "A组"})).to_csv(tmp_path / "campaign.csv", index=False)
    study = study_for(brand["params"])
    assert study.ids(cp.READ) == ["test_camp"]
    lift = cp.lift_table(study).iloc[0]
    assert lift["arm"] == "A组" and (lift["n_control"], lift["n_treatment"]) == (n_control, len(camp) - n_control)
    assert "'A组' is not among the treatment labels" in " ".join(words.overview(study, EN))


def test_campaign_ids_in_natural_order_and_no_none_or_nan_in_words(tmp_path):
    """Numeric ids sort by value (1, 2, 10, not 1, 10, 2); a campaign file without an offer or
    a channel shows 'not recorded', never None or nan, in the tables and sentences."""
    brand = make_brand(tmp_path, n=600, seed=8)
    camp = pd.read_csv(tmp_path / "campaign.csv")
    ids = ["10", "2", "1"]
    parts = [camp.assign(campaign_id=cid, customer_id=camp["customer_id"]) for cid in ids]
    pd.concat(parts, ignore_index=True).to_csv(tmp_path / "campaign.csv", index=False)
    study = study_for(brand["params"])
    assert study.overview["campaign_id"].tolist() == ["1", "2", "10"]
    out = everything(study)
    assert out["arms"]["campaign_id"].drop_duplicates().tolist() == ["1", "2", "10"]
    assert out["lifts"]["campaign_id"].tolist() == ["1", "2", "10"]
    assert list(out["metrics"]) == ["1", "2", "10"]
    table = words.overview_table(study, EN)
    assert table["Offer"].tolist() == ["not recorded"] * 3 and table["Channel"].tolist() == ["not recorded"] * 3
    said = " ".join([*words.overview(study, EN), *words.split(study, EN), *words.lift(study, EN, out["lifts"]),
                     *words.economics(study, EN, out["econ"]), words.findings(study, EN, out["lifts"], out["econ"], {}, {}),
                     table.to_string(), words.economics_table(EN, out["econ"]).to_string(),
                     words.lift_table(EN, out["lifts"]).to_string()])
    for bad in ("None", "nan", "NaN", "-0 ", "+0 ", "-0.0 ", "+0.0 ", "\u22120 ", "\u22120.0 "):
        assert bad not in said, bad
    assert cp.natural_order(["b10", "b2", "a", "3", "20"]) == ["3", "20", "a", "b2", "b10"]


def test_a_roi_on_a_spend_too_small_for_its_noise_is_not_read():
    """ROI = net / costs only where the costs are at least 1 % of the net profit interval's
    width: 12 EUR against an interval 1,612 wide is noise over almost nothing; with 20 EUR it
    is read."""
    assert cp.roi_note(12.0, -1527.0, 85.0) == "spend too small to read"
    assert cp.roi_note(20.0, -1527.0, 85.0) == ""
    assert cp.roi_note(0.4, -0.2, 0.2) == "spend too small to read"  # under half a unit of money
    assert cp.roi_note(0.0, -10.0, 10.0) == "no cost recorded"
    assert cp.roi_note(math.nan, -10.0, 10.0, cost_unknown=True) == "contact cost unknown"


def test_observational_section_never_points_at_a_lift_that_was_not_measured():
    """A campaign too early to read (or stopped): nothing was measured above, and the skipped
    observational section must not say 'its lift is measured above'."""
    from types import SimpleNamespace

    nothing_read = SimpleNamespace(has_table=True, readable=lambda: [])
    text = words.section_skipped(nothing_read, EN, "observational")
    assert "measured above" not in text and text.startswith("Skipped:")
    one_read = SimpleNamespace(has_table=True, readable=lambda: ["1"])
    assert "its lift is measured above" in words.section_skipped(one_read, EN, "observational")
