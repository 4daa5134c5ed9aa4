"""Scale check of notebook 04's per-customer steps: predictions, the one-step bootstrap and the
CLV intervals on a demo brand of N customers (not a test; run by hand).

    python benchmarks/clv_scale_check.py --customers 300000
    python benchmarks/clv_scale_check.py --customers 3000000 --models mbgnbd
    python benchmarks/clv_scale_check.py --customers 300000 --before /tmp/clv_before.py

``prepare`` (run once per size, cached under --dir): ``demo.generate(dir, n_customers=N,
seed=11)``, clean-ish orders from online_orders.parquet only (completed, positive amount, a
customer id, one row per order id, to the period end), the customer summary
(``clv.customer_summary``, weeks, same-day orders collapsed) and the fits of every purchase
model and of Gamma-Gamma, saved so that each measurement starts from the same inputs.

``measure`` (each in its own process, so its peak memory is its own) times
``customer_predictions``, ``bootstrap`` and ``clv_draws`` (with the four value groups, as
``add_intervals`` does) of helpers/clv.py, or of an older copy of it given with ``--before``
(e.g. ``git show 09f8802:helpers/clv.py > /tmp/clv_before.py``: the loop over draws before
it was vectorised), and reports for each step the seconds and the peak resident memory above
the memory in use when the step started (VmHWM, reset through /proc/self/clear_refs before the
step), and the peak of the whole process. With ``--before`` both versions run on the same
inputs and their outputs are compared. The generator takes ~35 s and the Pareto/NBD fit ~4 min
at 3M customers; the old loop's Pareto/NBD intervals take tens of minutes there.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

SETTINGS = {"horizon_months": 12, "margin": 0.35, "annual_discount_rate": 0.10, "cost_to_serve_per_year": 2.0}


def _status(field: str) -> float:
    """A /proc/self/status field in MB (VmHWM: peak resident memory; VmRSS: current)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _fixed_mmap_threshold() -> None:
    """Large blocks straight from and back to the system (glibc's M_MMAP_THRESHOLD fixed at
    64 kB instead of growing with freed blocks): memory freed by one step is not kept in the
    heap, where the next step would reuse it unseen by VmHWM."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current VmRSS
        return True
    except OSError:
        return False


def prepare(n: int, folder: Path) -> dict:
    import ibis
    import pandas as pd

    from helpers import clv, demo

    meta_path = folder / "meta.json"
    if meta_path.is_file():
        return json.loads(meta_path.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if not (folder / "truth.json").is_file():
        demo.generate(folder, n_customers=n, seed=11)
    truth = json.loads((folder / "truth.json").read_text())
    end = pd.Timestamp(truth["data_end_ts"])
    con = ibis.duckdb.connect()
    con.raw_sql("SET enable_progress_bar = false")
    raw = con.read_parquet(folder / "online_orders.parquet")
    raw = raw.filter((raw.status == "completed") & (raw.amount > 0) & raw.customer_id.notnull()
                     & (raw.customer_id != "") & (raw.order_time <= end))
    raw = raw.mutate(_k=ibis.row_number().over(group_by=raw.order_id, order_by=raw.order_time))
    orders = raw.filter(raw._k == 0).select("order_id", "customer_id", order_ts=raw.order_time, amount=raw.amount)
    clean = folder / "clean_orders.parquet"
    orders.to_parquet(clean)
    orders = con.read_parquet(clean)
    t1 = time.perf_counter()
    summary = clv.customer_summary(orders, end, "week")
    t2 = time.perf_counter()
    summary.frame.drop(columns=["row"], errors="ignore").to_parquet(folder / "summary.parquet")
    hist = summary.histogram()
    fits = {}
    fit_s = {}
    for model in ("bgnbd", "mbgnbd", "pareto"):
        s = time.perf_counter()
        fit = clv.fit_purchases(hist, model)
        fit_s[model] = time.perf_counter() - s
        fits[model] = {"params": fit.params, "penalizer": fit.penalizer, "loglik": fit.loglik}
    spend = clv.fit_spend(clv.spend_data(summary))
    meta = {"customers": len(summary.frame), "orders": int(orders.count().execute()), "end": str(end),
            "end_day": summary.end_day, "patterns": len(hist.frame), "fits": fits,
            "spend": {"params": spend.params, "penalizer": spend.penalizer, "loglik": spend.loglik},
            "prepare_s": {"generate_and_clean": t1 - t0, "summary": t2 - t1, "fits": fit_s}}
    meta_path.write_text(json.dumps(meta, indent=1))
    return meta


def _module(before: str | None):
    if not before:
        from helpers import clv

        return clv
    spec = importlib.util.spec_from_file_location("clv_before", before)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["clv_before"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def measure(folder: Path, model: str, draws: int, before: str | None, out: Path | None) -> dict:
    import pandas as pd
    from lifetimes import GammaGammaFitter

    warnings.simplefilter("ignore")
    _fixed_mmap_threshold()
    clv = _module(before)
    meta = json.loads((folder / "meta.json").read_text())
    frame = pd.read_parquet(folder / "summary.parquet")
    summary = clv.Summary(frame=frame, unit=clv.time_unit("week"), end_day=meta["end_day"])
    hist = summary.histogram()
    m = meta["fits"][model]
    fitter = clv._fitter_class(model)(penalizer_coef=m["penalizer"])
    fitter.params_ = pd.Series(m["params"])[clv.PARAM_NAMES[model]]
    fit = clv.PurchaseFit(model=model, unit=summary.unit, params=m["params"], loglik=m["loglik"],
                          customers=hist.customers, patterns=len(hist.frame), penalizer=m["penalizer"], fitter=fitter,
                          scale=1.0 / float(hist.T.max()))
    sp = meta["spend"]
    gg = GammaGammaFitter(penalizer_coef=sp["penalizer"])
    gg.params_ = pd.Series(sp["params"])
    spend = clv.SpendFit(params=sp["params"], loglik=sp["loglik"], customers=0, penalizer=sp["penalizer"], fitter=gg)
    data = clv.spend_data(summary)
    settings = clv.ClvSettings(**SETTINGS)
    end = pd.Timestamp(meta["end"])
    result = {"version": "before" if before else "after", "model": model, "customers": len(frame),
              "patterns": len(hist.frame), "repeat_buyers": len(data), "draws": draws, "steps": {}}
    can_reset = _reset_peak()

    def step(name, fn):
        _reset_peak()
        base = _status("VmRSS")
        s = time.perf_counter()
        value = fn()
        seconds = time.perf_counter() - s
        result["steps"][name] = {"s": round(seconds, 2),
                                 "extra_peak_mb": round(_status("VmHWM") - base, 0) if can_reset else None}
        return value

    pred = step("customer_predictions", lambda: clv.customer_predictions(fit, spend, summary, settings, end))
    boot = step("bootstrap", lambda: clv.bootstrap(fit, hist, spend, data, draws, seed=0))
    groups = clv.value_groups(pred["clv"])
    masks = {str(g): (groups == g).to_numpy() for g in groups.cat.categories}
    res = step("clv_draws", lambda: clv.clv_draws(fit, spend, summary, settings, boot, masks))
    result["process_peak_mb"] = round(_status("VmHWM"), 0)
    result["total_clv"] = float(pred["clv"].sum())
    result["total_interval"] = [float(v) for v in np.quantile(res["total"], [0.025, 0.975])]
    if out is not None:
        next_days = pred["expected_next_purchase"].to_numpy(dtype="datetime64[ns]").astype("int64")
        np.savez(out, clv=pred["clv"].to_numpy(), p_alive=pred["p_alive"].to_numpy(),
                 e365=pred["expected_purchases_365"].to_numpy(), horizon=pred["expected_purchases_horizon"].to_numpy(),
                 next_days=next_days, purchase=boot.purchase, spend=boot.spend, low=res["low"], high=res["high"],
                 total=res["total"], **{f"group_{i}": v for i, v in enumerate(res["groups"].values())})
    return result


def compare(a: Path, b: Path) -> dict:
    x, y = np.load(a), np.load(b)
    diffs = {}
    for key in x.files:
        u, v = x[key].astype(float), y[key].astype(float)
        both_nan = np.isnan(u) & np.isnan(v)
        scale = max(float(np.nanmax(np.abs(u))) if np.isfinite(u).any() else 1.0, 1e-300)
        err = np.where(both_nan, 0.0, np.abs(u - v))
        diffs[key] = float(np.nanmax(err) / scale) if err.size else 0.0
    return diffs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=300_000)
    ap.add_argument("--dir", default="/tmp/clvbench", help="cache folder (one sub-folder per size)")
    ap.add_argument("--models", default="bgnbd,mbgnbd,pareto")
    ap.add_argument("--draws", type=int, default=200, help="bootstrap draws (params clv.bootstrap: 200)")
    ap.add_argument("--before", default=None, help="an older helpers/clv.py to compare with")
    ap.add_argument("--measure", default=None, help=argparse.SUPPRESS)  # internal: one model in this process
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    folder = Path(args.dir) / f"n{args.customers}"
    if args.measure:
        print(json.dumps(measure(folder, args.measure, args.draws, args.before, Path(args.out) if args.out else None)))
        return
    meta = prepare(args.customers, folder)
    print(f"{meta['customers']:,} customers, {meta['orders']:,} clean online orders, {meta['patterns']:,} (x, t_x, T) "
          f"patterns; prepared in {sum(v if isinstance(v, float) else sum(v.values()) for v in meta['prepare_s'].values()):.0f} s",
          flush=True)
    versions = [("before", args.before), ("after", None)] if args.before else [("after", None)]
    for model in args.models.split(","):
        runs = {}
        for label, path in versions:
            cmd = [sys.executable, __file__, "--customers", str(args.customers), "--dir", args.dir, "--draws",
                   str(args.draws), "--measure", model, "--out", str(folder / f"{model}_{label}.npz")]
            if path:
                cmd += ["--before", path]
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            if done.returncode:
                print(done.stderr[-3000:])
                raise SystemExit(done.returncode)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            runs[label] = r
            steps = "; ".join(f"{k} {v['s']:.1f} s (+{v['extra_peak_mb']:,.0f} MB)" for k, v in r["steps"].items())
            print(f"[{model:6s} {label:6s}] {steps}; process peak {r['process_peak_mb']:,.0f} MB "
                  f"({r['repeat_buyers']:,} repeat buyers, {r['draws']} draws)", flush=True)
        if len(runs) == 2:
            diffs = compare(folder / f"{model}_before.npz", folder / f"{model}_after.npz")
            worst = max(diffs, key=diffs.get)
            print(f"[{model:6s} diff  ] largest difference relative to the array's scale: {diffs[worst]:.1e} ({worst}); "
                  + ", ".join(f"{k} {v:.0e}" for k, v in diffs.items()), flush=True)


if __name__ == "__main__":
    main()
