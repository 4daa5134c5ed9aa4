"""One path of the CLV benchmark, run in its own process so its time and peak memory are its own.

    python benchmarks/clv_paths.py ours <clean_orders.parquet> <period end>
    python benchmarks/clv_paths.py lifetimes <clean_orders.parquet> <period end>

Prints one JSON line: seconds per step, peak resident memory, the fitted BG/NBD (per week).
"""

from __future__ import annotations

import json
import resource
import sys
import time
import warnings


def peak_mb() -> float:
    """Peak resident memory of this process (VmHWM: unlike getrusage's ru_maxrss it does not
    carry over the parent's peak through fork and exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(which: str, orders_path: str, period_end: str) -> dict:
    import ibis
    import pandas as pd
    from lifetimes import BetaGeoFitter
    from lifetimes.utils import summary_data_from_transaction_data

    from helpers import clv

    warnings.simplefilter("ignore")
    end = pd.Timestamp(period_end)
    out: dict = {"path": which}
    t0 = time.perf_counter()
    if which in ("ours", "ours-histogram"):
        orders = ibis.duckdb.connect().read_parquet(orders_path)
        if which == "ours":
            # the notebook's work: the customer summary in the engine (one DuckDB query), the
            # compressed histogram, the weighted fit
            summary = clv.customer_summary(orders, end, "week")
            hist = summary.histogram()
            customers = len(summary.frame)
        else:
            # the large-scale path: only the histogram of unique (x, t_x, T) leaves the engine
            hist = clv.histogram(clv.summarize(orders, end, "week"), "week")
            customers = hist.customers
        t1 = time.perf_counter()
        fit = clv.fit_purchases(hist, "bgnbd")
        t2 = time.perf_counter()
        out.update(customers=customers, rows_fitted=len(hist.frame), summary_s=t1 - t0, fit_s=t2 - t1,
                   params=fit.params)
    else:
        # lifetimes' own way: transactions in pandas, summary_data_from_transaction_data, the
        # unweighted fit (one row per customer)
        tx = pd.read_parquet(orders_path, columns=["customer_id", "order_ts"])
        t1 = time.perf_counter()
        summary = summary_data_from_transaction_data(tx, "customer_id", "order_ts",
                                                     observation_period_end=end.normalize(), freq="D")
        t2 = time.perf_counter()
        fitter = BetaGeoFitter().fit(summary["frequency"], summary["recency"] / 7, summary["T"] / 7)
        t3 = time.perf_counter()
        out.update(customers=len(summary), rows_fitted=len(summary), load_s=t1 - t0, summary_s=t2 - t1,
                   fit_s=t3 - t2, params={k: float(v) for k, v in fitter.params_.items()})
    out["peak_mb"] = peak_mb()
    return out


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4])))
