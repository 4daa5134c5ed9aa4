"""The workbook benchmark's harness (benchmarks/workbook_bench.py): its measuring, killing and
reporting, and one end-to-end pass at a tiny size. The benchmark itself is run by hand:
``python benchmarks/workbook_bench.py --orders 1M,10M``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import psutil
import pytest
import workbook_bench as bench


@pytest.mark.parametrize(("text", "orders"), [("0.1M", 100_000), ("250k", 250_000), ("1e6", 1_000_000),
                                              ("10M", 10_000_000), ("30000", 30_000)])
def test_sizes(text, orders):
    assert bench.parse_orders(text) == orders
    assert bench.orders_label(orders) == {"0.1M": "100k", "1e6": "1M", "30000": "30k"}.get(text, text)


def test_customers_follow_the_generator_orders_per_customer():
    assert bench.customers_for(10_000_000) == 2_754_821
    assert bench.customers_for(10) == 100  # the generator's minimum
    with pytest.raises(Exception, match="number of orders"):
        bench.parse_orders("lots")


def test_measure_sees_the_whole_tree_and_kills_it_at_the_timeout():
    # a parent holding ~200 MB that starts a child holding ~200 MB, both sleeping
    code = textwrap.dedent("""
        import subprocess, sys, time
        block = bytearray(200 * 2**20)
        child = subprocess.Popen([sys.executable, "-c",
                                  "import time; b = bytearray(200 * 2**20); print('child', flush=True); time.sleep(60)"],
                                 start_new_session=True)
        print(child.pid, flush=True)
        time.sleep(60)
    """)
    done = bench.measure([sys.executable, "-c", code], timeout=3)
    assert done.timed_out and done.returncode is None and not done.ok
    assert done.failure() == "did not finish in 3 s"
    assert done.peak_rss_bytes > 380 * 2**20 and done.peak_processes == 2
    child_pid = int(done.output.split()[0])
    assert not psutil.pid_exists(child_pid) or psutil.Process(child_pid).status() == psutil.STATUS_ZOMBIE


def test_measure_reports_a_failed_command():
    done = bench.measure([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"])
    assert not done.ok and done.returncode == 3 and done.failure() == "exit code 3: boom"


def test_table_and_targets_for_a_run_that_did_not_finish():
    run = {"ok": False, "timed_out": True, "problem": "did not finish in 60 s", "total_seconds": 60.3,
           "peak_rss_gb": 1.5, "notebooks": {"01_data_audit": 20.0, "02_lifecycle": None}}
    row = {"size": "10M", "order_rows": 10_000_000, "customers": 2_754_821, "workbook": run,
           "reference": {"seconds": 80.0}, "ratio": None, "problem": run["problem"]}
    lines = bench.table([row])
    assert lines[0].split()[:5] == ["size", "orders", "customers", "01", "02"]
    assert "60.3+" in lines[1] and "did not finish in 60 s" in lines[1]
    target = bench.check("10M: whole run <= 10 x lifetimes", None, 10, run)
    assert target["pass"] is False and target["why"] == "did not finish in 60 s"
    assert bench.check("x", 2.5, 3, run)["pass"] is True


def test_end_to_end_at_a_small_size(tmp_path):
    """The harness on a small brand (about the demo's size; at 2k orders notebook 02 fails today)
    with a timeout: a JSON report with every field, whether or not the run finishes in time."""
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(bench.HERE / "workbook_bench.py"), "--orders", "10k",
                           "--timeout", "600", "--work", str(tmp_path / "work"), "--json", str(out)],
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert {"date", "machine", "sizes"} <= set(result)
    assert {"cpu_count", "memory_total_gb", "platform", "python"} <= set(result["machine"])
    (row,) = result["sizes"]
    assert row["customers"] == bench.customers_for(10_000) and row["order_rows"] > 9000
    assert row["reference"]["seconds"] is not None
    run = row["workbook"]
    assert run["timed_out"] or run["ok"], run["problem"]
    assert list(run["notebooks"]) and all(k[:2].isdigit() for k in run["notebooks"])
    assert "seconds per notebook" in done.stdout
