"""The workbook's intervals against the generator's truth, one generated demo per seed.

Each seed is a demo brand of the default size (:func:`helpers.demo.generate`, 3,000 customers)
read the way the notebooks read it, at the period 2025-06: notebook 04's CLV chain (holdout,
model choice, Gamma-Gamma, the bootstrap) against the per-customer truth
(:func:`helpers.demo.customer_truth`), notebook 03's driver effects against the planted N-day
effects, notebook 06's campaign lifts against the planted uplift. :func:`figures` returns plain
numbers per seed; the tests in this folder count how often each interval covers its truth.

Seeds run in worker processes (:func:`over_seeds`, ``PROOF_JOBS``, default 2: both cores), each
seed's demo generated once into a shared folder.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import yaml

SEEDS = range(1, 31)
PERIOD = "2025-06"
PLANTED = ("slow_delivery", "unresolved_complaint", "first_order_coupon", "no_second_coupon_reminder")
SEGMENTS = ("recent", "lapsing", "lapsed")


def demo_params(folder: Path, brand: str = "demoseed") -> Path:
    """params/demo.yaml pointed at the generated demo in ``folder`` (without the demo: key, so
    the bundled data/demo is never regenerated)."""
    from helpers import config

    raw = yaml.safe_load((config.PARAMS_DIR / "demo.yaml").read_text(encoding="utf-8"))
    raw.pop("demo", None)
    raw["brand"] = brand
    for specs in raw["sources"].values():
        for spec in specs:
            spec["path"] = str(folder / Path(spec["path"]).name)
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def clv_figures(folder: Path, work: Path) -> dict:
    """Notebook 04's chain at the period end, and the truth summed over the same customers."""
    from scipy.stats import spearmanr

    from helpers import clv, demo
    from helpers.report import open_run

    run = open_run(brand="demoseed", period=PERIOD, run_dir=str(work / "clv"), params_path=str(demo_params(folder)))
    hist = clv.history(run)
    trunc = clv.checks.truncation(run, hist)
    hold = clv.holdout_validation(run, calibrate_from=trunc.calibrate_from)
    spend = clv.spend_model(run, hist)
    value = clv.add_intervals(run, clv.customer_values(run, hist, spend, hold, calibrate_from=trunc.calibrate_from),
                              hold)
    pr = value.predictions
    truth = demo.customer_truth(run.period_end, value.settings, out_dir=folder)
    both = pr.merge(truth, on="customer_id", how="left", suffixes=("", "_true"), validate="one_to_one")
    total = float(pr["clv"].sum())
    low, high = clv.total_interval(value, value.draws["total"], total)
    p_low, p_high = clv.interval(value.draws["total"], value.boot.level)
    k = len(both) // 10
    top = set(both.nlargest(k, "clv")["customer_id"]) & set(both.nlargest(k, "clv_true")["customer_id"])
    group = value.groups.cat.categories[0]  # the top 10 % by predicted CLV: notebook 05's high tier
    mask = (value.groups == group).to_numpy()
    g_total = float(pr.loc[mask, "clv"].sum())
    g_low, g_high = clv.total_interval(value, value.draws["groups"][f"value: {group}"], g_total, mask)
    n_low, n_high = clv.purchases_interval(value, 365)
    return {
        "model": value.fit.model, "customers": len(pr), "unmatched": int(both["clv_true"].isna().sum()),
        "total": total, "low": low, "high": high, "param_low": p_low, "param_high": p_high,
        "forecast_error": value.forecast_error, "latent_sd": float(np.sqrt(value.latent_var.sum())),
        "truth": float(both["clv_true"].sum()),
        "top_total": g_total, "top_low": g_low, "top_high": g_high, "top_truth": float(both.loc[mask, "clv_true"].sum()),
        "purchases_365": float(pr["expected_purchases_365"].sum()),
        "purchases_365_low": n_low, "purchases_365_high": n_high,
        "purchases_365_truth": float(both["expected_purchases_365_true"].sum()),
        "p_alive_mean": float(pr["p_alive"].mean()), "alive_share": float(both["p_alive_true"].mean()),
        "spearman": float(spearmanr(both["clv"], both["clv_true"]).statistic),
        "top_decile_overlap": len(top) / k,
    }


def driver_figures(folder: Path, work: Path, truth: dict) -> dict:
    """Notebook 03's effects with the notebook's settings (200 resamples)."""
    from helpers import drivers
    from helpers.report import open_run

    run = open_run(brand="demoseed", period=PERIOD, run_dir=str(work / "drivers"), params_path=str(demo_params(folder)))
    eff = drivers.estimate_effects(drivers.driver_data(run), run.params.drivers)
    table = eff.table.set_index("factor")
    n = str(run.params.drivers.horizon_days)
    out = {}
    for name in PLANTED:
        row = table.loc[name]
        out[name] = {"truth": truth["drivers"][name]["effect"][n], "effect": float(row["effect"]),
                     "low": float(row["ci_low_marginal"]), "high": float(row["ci_high_marginal"]),
                     "sim_low": float(row["ci_low"]), "sim_high": float(row["ci_high"])}
    return out


def campaign_figures(folder: Path, truth: dict) -> dict:
    """Notebook 06's study of the planted campaign, read in 2025-06 (its window closed in May)."""
    from helpers import audit, config, sources
    from helpers import campaigns as cp

    params = config.load_params(demo_params(folder))
    data = sources.load(params)
    end = config.period_end(PERIOD, "month")
    clean = audit.clean_orders(data, end, with_steps=False)
    study = cp.build_study(data, clean.orders, clean.refunds, params, PERIOD, end)
    lift = cp.lift_table(study).iloc[0]
    t = truth["campaign"]
    row = {"srm_ok": bool(lift["srm_ok"]), "truth": t["uplift"]["overall"],
           "lo": float(lift["repurchase_lo"]), "hi": float(lift["repurchase_hi"]),
           "raw_pp": float(lift["repurchase_pp"]), "adj": float(lift["repurchase_adj"]),
           "adj_lo": float(lift["repurchase_adj_lo"]), "adj_hi": float(lift["repurchase_adj_hi"]),
           "rev_truth": t["revenue_uplift_per_customer"]["overall"], "raw": float(lift["revenue_pc"]),
           "raw_lo": float(lift["revenue_lo"]), "raw_hi": float(lift["revenue_hi"]),
           "cuped": float(lift["revenue_cuped"]),
           "cuped_lo": float(lift["revenue_cuped_lo"]), "cuped_hi": float(lift["revenue_cuped_hi"])}
    sub = cp.lift_by(study, t["campaign_id"], "treatment", "segment").set_index("group")
    for seg in SEGMENTS:
        row[f"{seg}_truth"] = t["uplift"][seg]
        row[f"{seg}_lo"], row[f"{seg}_hi"] = float(sub.loc[seg, "repurchase_lo"]), float(sub.loc[seg, "repurchase_hi"])
    return row


def figures(seed: int, root: str, kinds: tuple[str, ...] = ("clv", "drivers", "campaign")) -> dict:
    """Everything measured on the demo of ``seed`` (generated under ``root`` if missing)."""
    from helpers import demo

    folder = demo.ensure_demo_data(Path(root) / f"seed{seed}", seed=seed)
    truth = demo.load_truth(folder)
    work = Path(tempfile.mkdtemp(prefix=f"proof{seed}-", dir=root))
    out: dict = {"seed": seed}
    if "clv" in kinds:
        out["clv"] = clv_figures(folder, work)
    if "drivers" in kinds:
        out["drivers"] = driver_figures(folder, work, truth)
    if "campaign" in kinds:
        out["campaign"] = campaign_figures(folder, truth)
    return out


def _init_worker(outputs: str) -> None:
    os.environ["WORKBOOK_OUTPUTS"] = outputs  # nothing of these runs reaches the project's outputs/
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def over_seeds(root: Path, kinds: tuple[str, ...], seeds=SEEDS, jobs: int | None = None) -> list[dict]:
    """:func:`figures` of every seed, ``jobs`` seeds at a time in fresh processes (spawned: the
    engine's threads do not survive a fork)."""
    jobs = jobs or int(os.environ.get("PROOF_JOBS", "2"))
    root.mkdir(parents=True, exist_ok=True)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                             initargs=(str(root / "outputs"),)) as pool:
        return list(pool.map(figures, list(seeds), [str(root)] * len(seeds), [kinds] * len(seeds)))


def coverage_lines(seeds: list[dict]) -> list[str]:
    """k of n per interval, for the terminal summary of make proof."""
    n = len(seeds)

    def count(rows, low, high, truth):
        return sum(bool(r[low] <= r[truth] <= r[high]) for r in rows)

    lines = []
    if all("clv" in s for s in seeds):
        c = [s["clv"] for s in seeds]
        lines += [f"total CLV: {count(c, 'low', 'high', 'truth')}/{n} "
                  f"(bootstrap alone {count(c, 'param_low', 'param_high', 'truth')}/{n}); "
                  f"top 10 % group: {count(c, 'top_low', 'top_high', 'top_truth')}/{n}; "
                  f"expected purchases 365 d: {count(c, 'purchases_365_low', 'purchases_365_high', 'purchases_365_truth')}/{n}",
                  "CLV total relative error: mean {:+.1%}, sd {:.1%}; interval half-width mean {:.1%}; Spearman min {:.3f}, "
                  "top-tenth overlap min {:.1%}".format(
                      float(np.mean([r["total"] / r["truth"] - 1 for r in c])),
                      float(np.std([r["total"] / r["truth"] - 1 for r in c], ddof=1)),
                      float(np.mean([(r["high"] - r["low"]) / 2 / r["total"] for r in c])),
                      min(r["spearman"] for r in c), min(r["top_decile_overlap"] for r in c))]
    if all("drivers" in s for s in seeds):
        d = {name: [s["drivers"][name] for s in seeds] for name in PLANTED}
        lines.append("drivers, simultaneous: " + ", ".join(f"{k} {count(v, 'sim_low', 'sim_high', 'truth')}/{n}"
                                                           for k, v in d.items())
                     + f"; all four {sum(all(x['sim_low'] <= x['truth'] <= x['sim_high'] for x in (d[k][i] for k in d)) for i in range(n))}/{n}")
        lines.append("drivers, per factor: " + ", ".join(f"{k} {count(v, 'low', 'high', 'truth')}/{n}" for k, v in d.items()))
    if all("campaign" in s for s in seeds):
        c = [s["campaign"] for s in seeds]
        lines.append(f"campaign: raw lift {count(c, 'lo', 'hi', 'truth')}/{n}, adjusted {count(c, 'adj_lo', 'adj_hi', 'truth')}/{n}, "
                     + ", ".join(f"{seg} {count(c, f'{seg}_lo', f'{seg}_hi', f'{seg}_truth')}/{n}" for seg in SEGMENTS)
                     + f", CUPED revenue {count(c, 'cuped_lo', 'cuped_hi', 'rev_truth')}/{n}")
    return lines
