"""Benchmark of notebook 04's engine path against lifetimes' own utilities (not a test of
correctness beyond the two agreeing; `make bench` runs it, `make test` does not).

The demo generator makes BENCH_CUSTOMERS customers (default 3,000,000: about 10.9 million
orders); the brand's clean orders (the view every notebook reads: deduplicated, refunds and
guests out) are written once to a Parquet file, which both paths read. Each path runs in its
own process, so its time and peak memory are its own:

* ours: the notebook's customer summary as one DuckDB query (Ibis), the compressed (x, t_x, T)
  histogram, the weighted BG/NBD fit; and the large-scale variant where only the histogram
  leaves the engine;
* lifetimes: the orders in pandas, ``summary_data_from_transaction_data`` (freq D), the
  unweighted BG/NBD fit on one row per customer.

It prints seconds and peak memory of each and the ratios, and checks all fit the same
parameters. A smaller run: ``BENCH_CUSTOMERS=300000 make bench``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from helpers import config, demo

N_CUSTOMERS = int(os.environ.get("BENCH_CUSTOMERS", "3000000"))
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def bench_orders(tmp_path_factory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("clv_bench")
    started = time.perf_counter()
    demo.generate(folder, n_customers=N_CUSTOMERS, seed=11)
    online = pq.read_table(folder / "online_orders.parquet", columns=["order_id", "customer_id", "order_time", "amount",
                                                                       "status"])
    online = online.select(["order_id", "customer_id", "order_time", "amount", "status"])
    pos = pacsv.read_csv(folder / "pos_orders.csv", read_options=pacsv.ReadOptions(encoding="gbk"),
                         convert_options=pacsv.ConvertOptions(column_types={"实付金额": pa.string(), "订单号": pa.string(),
                                                                            "会员ID": pa.string()}))
    money = pc.replace_substring_regex(pos["实付金额"], r"[^0-9.\-]", "")
    pos = pa.table({"order_id": pos["订单号"], "customer_id": pos["会员ID"],
                    "order_time": pc.strptime(pos["下单时间"].cast(pa.string()), "%Y-%m-%d %H:%M:%S", "us"),
                    "amount": pc.cast(pc.if_else(pc.equal(money, ""), None, money), pa.float64(), safe=False),
                    "status": pa.nulls(pos.num_rows, pa.string())})
    online = online.cast(pa.schema([("order_id", pa.string()), ("customer_id", pa.string()),
                                    ("order_time", pa.timestamp("us")), ("amount", pa.float64()),
                                    ("status", pa.string())]))
    orders = pa.concat_tables([online, pos.cast(online.schema)])
    pq.write_table(orders, folder / "orders.parquet")
    for name in demo.DATA_FILES:
        (folder / name).unlink()
    params = folder / "bench.yaml"
    params.write_text(textwrap.dedent(f"""
        brand: bench
        period: month
        sources:
          orders:
            - name: orders
              path: {folder / "orders.parquet"}
              columns:
                order_id: order_id
                customer_id: customer_id
                order_ts: order_time
                amount: amount
                status: status
    """), encoding="utf-8")
    from helpers.report import open_run

    run = open_run(brand="", period="latest", run_dir=str(folder / "run"), params_path=str(params))
    clean = folder / "clean_orders.parquet"
    run.orders.select("customer_id", "order_id", "order_ts", "amount").to_parquet(clean)
    print(f"\n[bench] {N_CUSTOMERS:,} customers, {orders.num_rows:,} order rows generated and cleaned in "
          f"{time.perf_counter() - started:.0f} s; period end {run.period_end:%Y-%m-%d}")
    return clean, str(run.period_end)


def _run(which: str, orders: tuple[Path, str], outputs: Path) -> dict:
    env = {**os.environ, "WORKBOOK_OUTPUTS": str(outputs)}
    done = subprocess.run([sys.executable, str(HERE / "clv_paths.py"), which, str(orders[0]), orders[1]],
                          cwd=config.PROJECT_ROOT, capture_output=True, text=True, env=env, timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_engine_summary_and_weighted_fit_vs_lifetimes(bench_orders, tmp_path, capsys):
    ours = _run("ours", bench_orders, tmp_path)
    engine = _run("ours-histogram", bench_orders, tmp_path)
    theirs = _run("lifetimes", bench_orders, tmp_path)
    ours_s = ours["summary_s"] + ours["fit_s"]
    engine_s = engine["summary_s"] + engine["fit_s"]
    theirs_s = theirs["summary_s"] + theirs["fit_s"]
    with capsys.disabled():
        print(textwrap.dedent(f"""
            [bench] customers: {ours['customers']:,}; rows fitted: ours {ours['rows_fitted']:,} unique (x, t_x, T), lifetimes {theirs['rows_fitted']:,}
            [bench] ours (notebook)   : customer summary in DuckDB + histogram {ours['summary_s']:6.1f} s + weighted fit {ours['fit_s']:5.1f} s = {ours_s:6.1f} s, peak {ours['peak_mb']:,.0f} MB
            [bench] ours (histogram)  : histogram in DuckDB {engine['summary_s']:6.1f} s + weighted fit {engine['fit_s']:5.1f} s = {engine_s:6.1f} s, peak {engine['peak_mb']:,.0f} MB
            [bench] lifetimes         : summary_data_from_transaction_data {theirs['summary_s']:6.1f} s + unweighted fit {theirs['fit_s']:5.1f} s = {theirs_s:6.1f} s, peak {theirs['peak_mb']:,.0f} MB (+ {theirs['load_s']:.1f} s to read the orders into pandas)
            [bench] ratio to lifetimes (time, excluding its read): notebook path {ours_s / theirs_s:.2f}, histogram path {engine_s / theirs_s:.2f}; peak memory {ours['peak_mb'] / theirs['peak_mb']:.2f} and {engine['peak_mb'] / theirs['peak_mb']:.2f}
            [bench] BG/NBD per week, ours {ours['params']}, lifetimes {theirs['params']}"""))
    assert ours["customers"] == theirs["customers"] == engine["customers"]
    for k, v in ours["params"].items():
        assert v == pytest.approx(theirs["params"][k], rel=1e-5), k
        assert engine["params"][k] == pytest.approx(v, rel=1e-9), k
