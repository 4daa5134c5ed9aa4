"""Notebook 04's helper calls, one by one, timed, on a run folder where notebook 01 has run
(not a test; run by hand to see where notebook 04 spends its time and memory).

    workbook run --params data/bench/synthetic_275482_seed11/params.yaml --only 01,04 --run-id prof
    python benchmarks/clv_notebook_profile.py --params data/bench/synthetic_275482_seed11/params.yaml \\
        --run-dir $WORKBOOK_OUTPUTS/synthetic_275482/2025-06/prof [--cprofile /tmp/nb04.prof]
    git show HEAD~3:helpers/clv.py > /tmp/clv_before.py   # then, same run folder:
    python benchmarks/clv_notebook_profile.py ... --before /tmp/clv_before.py

Prints each step's seconds and the peak resident memory above the memory in use when it
started (VmHWM, reset through /proc/self/clear_refs), and the process's peak. The plots and
the sentences are left out (not the helpers' numeric cost). With ``--before``: an older
helpers/clv.py stands in for helpers.clv (clv_checks then uses it too); each version in its own
process, one after the other, compares like with like on a shared machine.
"""

from __future__ import annotations

import argparse
import cProfile
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from clv_scale_check import _fixed_mmap_threshold, _reset_peak, _status  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", required=True)
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--period", default="latest")
    ap.add_argument("--cprofile", default="")
    ap.add_argument("--before", default="", help="an older helpers/clv.py to run instead")
    args = ap.parse_args()
    _fixed_mmap_threshold()
    if args.before:
        import importlib.util

        import helpers

        spec = importlib.util.spec_from_file_location("helpers.clv", args.before)
        old = importlib.util.module_from_spec(spec)
        sys.modules["helpers.clv"] = old
        helpers.clv = old
        spec.loader.exec_module(old)
    from helpers import clv
    from helpers.report import open_run

    rows = []

    def step(name, fn):
        base = _status("VmRSS")
        _reset_peak()
        t0 = time.perf_counter()
        out = fn()
        rows.append((name, time.perf_counter() - t0, _status("VmHWM") - base))
        print(f"{name:28s} {rows[-1][1]:8.1f} s  +{rows[-1][2]:8.0f} MB", flush=True)
        return out

    prof = cProfile.Profile() if args.cprofile else None
    if prof:
        prof.enable()
    t_all = time.perf_counter()
    run = step("open_run", lambda: open_run(brand="", period=args.period, run_dir=args.run_dir,
                                            params_path=args.params))
    hist_res = step("history", lambda: clv.history(run))
    trunc = step("checks.truncation", lambda: clv.checks.truncation(run, hist_res))
    hold = step("holdout_validation", lambda: clv.holdout_validation(run, calibrate_from=trunc.calibrate_from))
    calibration = None
    if hold.choice is not None:
        scores = step("checks.holdout_scores", lambda: clv.checks.holdout_scores(hold))
        calibration = step("checks.decile_calibration", lambda: clv.checks.decile_calibration(scores))
        step("checks.segment_table", lambda: clv.checks.segment_table(scores))
    spend = step("spend_model", lambda: clv.spend_model(run, hist_res))
    value = step("customer_values", lambda: clv.customer_values(run, hist_res, spend, hold,
                                                                  calibrate_from=trunc.calibrate_from))
    if value.fitted:
        step("concentration", lambda: clv.concentration(value.value))
        if value.money:
            step("cac_report", lambda: clv.cac_report(run, value.predictions))
    value = step("add_intervals", lambda: clv.add_intervals(run, value, hold))
    if value.draws is not None:
        step("interval_table", lambda: clv.interval_table(value, run.currency))
    sensitivity = (step("checks.sensitivity", lambda: clv.checks.sensitivity(value))
                   if value.fitted and value.spend.fit is not None else None)
    lost = step("at_risk", lambda: clv.at_risk(value))
    step("customer_columns", lambda: clv.customer_columns(value))
    churn = step("checks.lifecycle_churn", lambda: clv.checks.lifecycle_churn(run, value.predictions["customer_id"]))
    rel = step("checks.reliability", lambda: clv.checks.reliability(
        value, hold, trunc, churn, clv.checks.past_purchases(run), calibration, clv.checks.audit_readiness(run)))
    step("metrics", lambda: {**clv.metrics(hold, value), **clv.checks.metrics(rel, trunc, calibration, sensitivity)})
    del lost
    if prof:
        prof.disable()
        prof.dump_stats(args.cprofile)
    print(f"{'total':28s} {time.perf_counter() - t_all:8.1f} s  peak {_status('VmHWM'):8.0f} MB (last step's)"
          f"; model {value.fit.model if value.fitted else None}")


if __name__ == "__main__":
    main()
