"""Benchmark of a whole workbook run (six notebooks via the runner) against references measured
in the same session. Not a test: rerun it by hand and compare the ratios, not the seconds.

    python benchmarks/workbook_bench.py --orders 0.1M                  quick
    python benchmarks/workbook_bench.py --orders 1M,10M --json bench.json
    python benchmarks/workbook_bench.py --empty-notebooks              papermill's floor
    python benchmarks/workbook_bench.py --brand cdnow                  a real brand against that floor

For each size in ``--orders`` (0.1M, 250k, 1e6, 1000000 ...):

1. a synthetic brand (``helpers.demo.write_brand``: the demo generator plus a params file) of
   N = orders / 3.63 customers, cached under ``--work`` (default data/bench/) and reused when
   it has the same N, seed and generator version;
2. the clean orders of that brand (``open_run(...).orders``, the view every notebook reads, as
   the CLV benchmark does) written to Parquet for the reference. This also fills the
   workbook's transcoding cache (data/cache) for the GBK POS export, so every measured run
   starts from the same, warm state;
3. ``workbook run --params <brand>/params.yaml --period latest`` in its own process with a
   temporary outputs folder. The resident memory (RSS) of the whole process tree (the runner,
   its papermill kernels and their children) is summed every 0.2 s: its maximum is the run's
   peak memory (an upper bound: pages shared between processes count once per process).
   Per-notebook seconds come from the run's manifest.json, the total is the wall time of the
   process (renders, index and interpreter start included);
4. the reference, in its own process: ``benchmarks/clv_paths.py lifetimes`` on the same clean
   orders, i.e. lifetimes' ``summary_data_from_transaction_data`` plus the unweighted
   ``BetaGeoFitter().fit``; its seconds are those two steps (reading the Parquet excluded).

Targets (reported as PASS/FAIL; the exit code does not depend on them):
10M orders: total / reference <= 10 and peak <= 4 GB; 1M orders: total / reference <= 3;
--brand cdnow: total <= 2 x the time papermill needs to execute six empty notebooks (one
parameters cell each) on the runner's kernel, measured in the same session.

``--timeout S`` bounds every measured process: the whole tree is killed and the row says
"did not finish in S s" (with the seconds of the notebooks that did finish).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ORDERS_PER_CUSTOMER = 3.63  # order rows (online + POS) per customer made by helpers.demo
DEFAULT_SEED = 11  # the CLV benchmark's
POLL_SECONDS = 0.2
GB = 1024**3
# size in orders -> (max total / reference, max peak GB); None: not checked
SIZE_TARGETS = {1_000_000: (3.0, None), 10_000_000: (10.0, 4.0)}
BRAND_TARGETS = {"cdnow": 2.0}  # max total / empty-notebooks time
EMPTY_NOTEBOOKS = 6
KERNEL_NAME = "python3"  # the runner's (helpers.runner.KERNEL_NAME)
PARAMETERS_CELL = 'brand = "demo"\nperiod = "latest"\nrun_dir = ""\nparams_path = ""\n'


# ---------------------------------------------------------------- sizes


def parse_orders(text: str) -> int:
    """'0.1M' / '250k' / '1e6' / '1000000' -> a number of orders."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kKmM]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r}: write a number of orders like 0.1M, 250k or 1000000")
    value = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[m.group(2).lower()]
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: at least one order")
    return int(round(value))


def orders_label(orders: int) -> str:
    if orders >= 1_000_000:
        return f"{orders / 1e6:g}M"
    if orders >= 1_000:
        return f"{orders / 1e3:g}k"
    return str(orders)


def customers_for(orders: int) -> int:
    return max(100, int(round(orders / ORDERS_PER_CUSTOMER)))  # the generator's minimum is 100


# ---------------------------------------------------------------- one measured process


@dataclass
class Measured:
    """A process run to completion (or killed), with the peak RSS of its whole tree."""

    cmd: list[str]
    seconds: float
    returncode: int | None  # None: killed at the timeout
    peak_rss_bytes: int
    peak_processes: int
    timed_out: bool
    timeout: float | None
    output: str = field(repr=False, default="")

    @property
    def ok(self) -> bool:
        return not self.timed_out and self.returncode == 0

    @property
    def peak_gb(self) -> float:
        return self.peak_rss_bytes / GB

    def failure(self) -> str | None:
        if self.timed_out:
            return f"did not finish in {self.timeout:g} s"
        if self.returncode != 0:
            last = [line for line in self.output.splitlines() if line.strip()][-3:]
            return f"exit code {self.returncode}" + (": " + " | ".join(last) if last else "")
        return None


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return [root]


def _tree_rss(procs: list[psutil.Process]) -> int:
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:  # ended between listing and reading
            pass
    return total


def _kill_tree(root: psutil.Process) -> None:
    """Kill the process we started and every descendant (kernels run in sessions of their
    own, so a process-group kill would miss them): children first, then the root."""
    procs = _tree(root)
    for proc in reversed(procs):
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=10)


def measure(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float | None = None,
            echo: str | None = None, cwd: Path = ROOT) -> Measured:
    """Run ``cmd``, polling the RSS sum of its process tree every POLL_SECONDS; kill the tree
    at ``timeout``. With ``echo``, the process's output lines are printed as they come (to
    stderr, prefixed), so a long run shows its progress."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", start_new_session=True)
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if echo is not None:
                print(f"{echo}{line.rstrip()}", file=sys.stderr, flush=True)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    root = psutil.Process(proc.pid)
    peak = peak_n = 0
    timed_out = False
    while proc.poll() is None:
        procs = _tree(root)
        peak = max(peak, _tree_rss(procs))
        peak_n = max(peak_n, len(procs))
        if timeout is not None and time.perf_counter() - started > timeout:
            timed_out = True
            _kill_tree(root)
            break
        time.sleep(POLL_SECONDS)
    proc.wait()
    seconds = time.perf_counter() - started
    reader.join(timeout=5)
    return Measured(cmd=cmd, seconds=round(seconds, 2), returncode=None if timed_out else proc.returncode,
                    peak_rss_bytes=peak, peak_processes=peak_n, timed_out=timed_out, timeout=timeout,
                    output="".join(lines))


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    env.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the Makefile: the runner's kernels inherit it
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def workbook_cmd(*args: str) -> list[str]:
    """The `workbook` console script of this interpreter's environment (python -m otherwise)."""
    script = Path(sys.executable).with_name("workbook")
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "helpers.runner", *args]


def last_json(output: str) -> dict:
    for line in reversed(output.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line in the output")


def read_manifest(outputs: Path) -> dict:
    """The manifest of the (single) run in a temporary outputs folder: the finished run folder,
    or the staging folder of a run that was killed (its manifest is updated per notebook)."""
    found = sorted(p for p in outputs.glob("*/*/*/manifest.json") if not p.parent.is_symlink())
    if not found:
        return {}
    try:
        return json.loads(found[-1].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def notebook_seconds(manifest: dict) -> dict[str, float | None]:
    return {name: entry.get("seconds") for name, entry in sorted(manifest.get("notebooks", {}).items())}


def failed_notebooks(manifest: dict) -> list[str]:
    out = []
    for name, entry in sorted(manifest.get("notebooks", {}).items()):
        if entry.get("status") == "failed":
            error = entry.get("error") or {}
            out.append(f"{name}: {error.get('ename', 'Error')}: {' '.join(str(error.get('evalue', '')).split())[:200]}")
    return out


def run_workbook(run_args: list[str], outputs_parent: Path, timeout: float | None, keep: bool,
                 echo: str) -> dict:
    """One `workbook run` with a temporary outputs folder; its numbers as a dict."""
    outputs = Path(tempfile.mkdtemp(prefix="outputs-", dir=outputs_parent))
    try:
        done = measure(workbook_cmd("run", *run_args), env=child_env(WORKBOOK_OUTPUTS=str(outputs)),
                       timeout=timeout, echo=echo)
        manifest = read_manifest(outputs)
    finally:
        if not keep:
            shutil.rmtree(outputs, ignore_errors=True)
    problems = [p for p in [done.failure(), *failed_notebooks(manifest)] if p]
    return {
        "command": "workbook run " + " ".join(run_args),
        "ok": done.ok and manifest.get("status") == "success",
        "problem": "; ".join(problems) or (None if manifest else "no manifest written"),
        "timed_out": done.timed_out,
        "period": manifest.get("period"),
        "notebooks": notebook_seconds(manifest),
        "total_seconds": done.seconds,
        "manifest_seconds": manifest.get("seconds"),
        "peak_rss_gb": round(done.peak_gb, 3),
        "peak_processes": done.peak_processes,
        "outputs": str(outputs) if keep else None,
    }


# ---------------------------------------------------------------- children (run in their own processes)


def child_generate(out_dir: str, n_customers: str, seed: str) -> dict:
    """write_brand (reusing data of the same size and seed), with its seconds and peak memory."""
    from clv_paths import peak_mb

    from helpers import demo

    started = time.perf_counter()
    reused = demo._has_brand_data(Path(out_dir).resolve(), int(n_customers), int(seed))
    path = demo.write_brand(Path(out_dir), n_customers=int(n_customers), seed=int(seed), reuse=True)
    seconds = time.perf_counter() - started
    truth = demo.load_truth(path.parent)
    rows = truth["total_rows_by_source"]
    return {"params": str(path), "seconds": round(seconds, 2), "peak_mb": round(peak_mb()),
            "order_rows": rows["online_orders"] + rows["pos_orders"], "customers": truth["n_customers"],
            "reused": reused}


def child_clean(params_path: str, out_path: str) -> dict:
    """The clean orders of the brand's latest complete period, as the CLV benchmark writes them."""
    from helpers.report import open_run

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-clean-") as run_dir:
        run = open_run(brand="", period="latest", run_dir=run_dir, params_path=params_path)
        run.orders.select("customer_id", "order_id", "order_ts", "amount").to_parquet(out_path)
        period, period_end = run.period, str(run.period_end)
    import pyarrow.parquet as pq

    return {"period": period, "period_end": period_end, "rows": pq.read_metadata(out_path).num_rows,
            "seconds": round(time.perf_counter() - started, 2)}


def child_empty_notebooks(folder: str) -> dict:
    """Plain papermill, one kernel per notebook, with the runner's kernel name and settings
    (not the runner itself: the reference must not move when the runner changes)."""
    import papermill

    started = time.perf_counter()
    seconds = {}
    for nb in sorted(Path(folder).glob("[0-9][0-9]_*.ipynb")):
        t0 = time.perf_counter()
        papermill.execute_notebook(str(nb), str(nb.with_name(f"out-{nb.name}")), kernel_name=KERNEL_NAME,
                                   parameters={"brand": "empty", "period": "latest", "run_dir": folder,
                                               "params_path": ""},
                                   cwd=str(ROOT), progress_bar=False, log_output=False,
                                   request_save_on_cell_execute=False)
        seconds[nb.stem] = round(time.perf_counter() - t0, 2)
    return {"notebooks": seconds, "seconds": round(time.perf_counter() - started, 2)}


CHILDREN = {"generate": child_generate, "clean": child_clean, "empty-notebooks": child_empty_notebooks}


def run_child(name: str, *args: str, timeout: float | None) -> tuple[Measured, dict]:
    done = measure([sys.executable, str(Path(__file__).resolve()), "--child", name, *args],
                   env=child_env(), timeout=timeout)
    if not done.ok:
        return done, {}
    return done, last_json(done.output)


# ---------------------------------------------------------------- the measurements


def write_empty_notebooks(folder: Path, n: int = EMPTY_NOTEBOOKS) -> None:
    import nbformat

    for i in range(1, n + 1):
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
        nb.metadata["language_info"] = {"name": "python"}
        cell = nbformat.v4.new_code_cell(PARAMETERS_CELL)
        cell.metadata["tags"] = ["parameters"]
        nb.cells = [cell]
        nbformat.write(nb, folder / f"{i:02d}_empty.ipynb")


def measure_empty_notebooks(timeout: float | None) -> dict:
    """Wall time of one process executing six empty notebooks through papermill (interpreter
    start and papermill import included, as in a `workbook run`); papermill_seconds is the
    time of the six papermill calls alone."""
    print(f"[bench] papermill on {EMPTY_NOTEBOOKS} empty notebooks ...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-empty-") as folder:
        write_empty_notebooks(Path(folder))
        done, out = run_child("empty-notebooks", folder, timeout=timeout)
    return {"ok": done.ok, "problem": done.failure(), "seconds": done.seconds, "notebooks": out.get("notebooks", {}),
            "papermill_seconds": out.get("seconds"), "peak_rss_gb": round(done.peak_gb, 3)}


def typical(results: list[dict], key: str) -> dict:
    """The median measurement (the lower one of an even count: a real run, not an average),
    or the first failed one; with every measured value listed."""
    failed = [r for r in results if not r["ok"]]
    chosen = failed[0] if failed else sorted(results, key=lambda r: r[key])[(len(results) - 1) // 2]
    return {**chosen, "repeats": len(results), f"all_{key}": [r[key] for r in results]}


def measure_small(brands: list[str], repeat: int, work: Path, timeout: float | None, keep: bool) -> tuple[dict, list[dict]]:
    """The empty-notebooks reference and the brand runs, interleaved ``repeat`` times so both
    see the same machine load; the medians are compared."""
    empties: list[dict] = []
    runs: dict[str, list[dict]] = {b: [] for b in brands}
    for i in range(repeat):
        if repeat > 1:
            print(f"[bench] round {i + 1} of {repeat}", file=sys.stderr, flush=True)
        empties.append(measure_empty_notebooks(timeout))
        for brand in brands:
            print(f"[bench] workbook run --brand {brand} --period latest ...", file=sys.stderr, flush=True)
            runs[brand].append({"brand": brand, **run_workbook(["--brand", brand, "--period", "latest"], work,
                                                               timeout, keep, echo=f"  [{brand}] ")})
    empty = typical(empties, "seconds")
    results = []
    for brand in brands:
        result = typical(runs[brand], "total_seconds")
        if result["ok"] and empty["ok"]:
            result["ratio_to_empty_notebooks"] = round(result["total_seconds"] / empty["seconds"], 2)
            result["ratio_to_papermill_calls"] = round(result["total_seconds"] / empty["papermill_seconds"], 2)
        limit = BRAND_TARGETS.get(brand)
        if limit is not None:
            result["target"] = check(f"{brand}: whole run <= {limit:g} x six empty notebooks",
                                     result.get("ratio_to_empty_notebooks"), limit, result)
        results.append(result)
    return empty, results


def measure_size(orders: int, seed: int, work: Path, timeout: float | None, keep: bool,
                 generate_only: bool = False) -> dict:
    label = orders_label(orders)
    n = customers_for(orders)
    folder = work / f"synthetic_{n}_seed{seed}"
    row: dict[str, Any] = {"size": label, "target_orders": orders, "customers": n, "seed": seed, "folder": str(folder)}

    print(f"[bench] {label} orders: brand of {n:,} customers in {folder} ...", file=sys.stderr, flush=True)
    done, gen = run_child("generate", str(folder), str(n), str(seed), timeout=None)
    if not done.ok:
        row.update(ok=False, problem=f"generation failed: {done.failure()}")
        return row
    params = gen["params"]
    row.update(order_rows=gen["order_rows"], params=params,
               generate={"seconds": gen["seconds"], "process_seconds": done.seconds, "peak_gb": round(done.peak_gb, 3),
                         "reused": gen["reused"]})
    if generate_only:
        row.update(ok=True, problem=None)
        return row

    print(f"[bench] {label}: clean orders for the reference ...", file=sys.stderr, flush=True)
    clean_path = folder / "reference_clean_orders.parquet"
    done, clean = run_child("clean", params, str(clean_path), timeout=timeout)
    if not done.ok:
        row.update(ok=False, problem=f"preparing the reference's clean orders failed: {done.failure()}")
        return row
    row.update(period=clean["period"], clean_orders=clean["rows"], clean={"seconds": done.seconds})

    print(f"[bench] {label}: workbook run --params {params} --period latest ...", file=sys.stderr, flush=True)
    run = run_workbook(["--params", params, "--period", "latest"], work, timeout, keep, echo=f"  [{label}] ")
    row["workbook"] = run

    print(f"[bench] {label}: reference (lifetimes) ...", file=sys.stderr, flush=True)
    done = measure([sys.executable, str(HERE / "clv_paths.py"), "lifetimes", str(clean_path), clean["period_end"]],
                   env=child_env(), timeout=timeout)
    if done.ok:
        ref = last_json(done.output)
        row["reference"] = {"seconds": round(ref["summary_s"] + ref["fit_s"], 2), "summary_s": round(ref["summary_s"], 2),
                            "fit_s": round(ref["fit_s"], 2), "load_s": round(ref["load_s"], 2),
                            "process_seconds": done.seconds, "peak_gb": round(done.peak_gb, 3),
                            "customers": ref["customers"]}
    else:
        row["reference"] = {"seconds": None, "problem": done.failure()}
    ref_s = row["reference"]["seconds"]
    row["ratio"] = round(run["total_seconds"] / ref_s, 2) if run["ok"] and ref_s else None
    row["ok"] = run["ok"] and ref_s is not None
    row["problem"] = run["problem"] or row["reference"].get("problem")

    ratio_limit, peak_limit = SIZE_TARGETS.get(orders, (None, None))
    row["targets"] = []
    if ratio_limit is not None:
        row["targets"].append(check(f"{label}: whole run <= {ratio_limit:g} x lifetimes", row["ratio"], ratio_limit, run))
    if peak_limit is not None:
        # an unfinished run's peak so far is a verdict only when it is already over the limit
        peak = run["peak_rss_gb"] if run["ok"] or run["peak_rss_gb"] > peak_limit else None
        row["targets"].append(check(f"{label}: peak memory <= {peak_limit:g} GB", peak, peak_limit, run))
    return row


def check(name: str, value: float | None, limit: float, run: dict) -> dict:
    if value is None:
        return {"target": name, "limit": limit, "value": None, "pass": False,
                "why": run.get("problem") or "not measured"}
    return {"target": name, "limit": limit, "value": value, "pass": value <= limit}


# ---------------------------------------------------------------- report


def machine() -> dict:
    vm = psutil.virtual_memory()
    commit = _git("rev-parse", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "cpu_count": os.cpu_count(),
        "cpu_count_physical": psutil.cpu_count(logical=False),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_total_gb": round(vm.total / GB, 2),
        "memory_available_gb_at_start": round(vm.available / GB, 2),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "git_commit": commit,
        "git_dirty": bool(dirty) if commit else None,
    }


def _git(*args: str) -> str | None:
    try:  # read-only git commands
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table(rows: list[dict]) -> list[str]:
    names = sorted({name for r in rows for name in r.get("workbook", {}).get("notebooks", {})})
    headers = ["size", "orders", "customers", *(n[:2] for n in names), "total s", "peak GB", "ref s", "ratio", ""]
    body = []
    for r in rows:
        run = r.get("workbook", {})
        nb = run.get("notebooks", {})
        body.append([
            r["size"], f"{r.get('order_rows', 0):,}", f"{r['customers']:,}", *(_s(nb.get(n)) for n in names),
            _s(run.get("total_seconds")) + ("+" if run.get("timed_out") else ""),
            "-" if "peak_rss_gb" not in run else f"{run['peak_rss_gb']:.2f}",
            _s(r.get("reference", {}).get("seconds")),
            "-" if r.get("ratio") is None else f"{r['ratio']:.2f}",
            r.get("problem") or "",
        ])
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *body, strict=True)]
    return ["  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in (headers, *body)]


def print_report(result: dict) -> None:
    m = result["machine"]
    print(f"\nworkbook benchmark {result['date']}  ({m['cpu_count']} CPUs, {m['memory_total_gb']:.1f} GB, "
          f"{m['platform']}, Python {m['python']}, commit {(m['git_commit'] or '?')[:10]}"
          f"{' +local changes' if m['git_dirty'] else ''})")
    empty = result.get("empty_notebooks")
    if empty:
        per = ", ".join(f"{s:.1f}" for s in empty["notebooks"].values())
        many = f" (median of {', '.join(_s(v) for v in empty['all_seconds'])})" if empty["repeats"] > 1 else ""
        print(f"\npapermill, {EMPTY_NOTEBOOKS} empty notebooks, one process: {_s(empty['seconds'])} s{many}; "
              f"the papermill calls alone {_s(empty['papermill_seconds'])} s"
              + (f" (per notebook {per} s)" if per else "") + (f"  FAILED: {empty['problem']}" if not empty["ok"] else ""))
    for b in result.get("brands", []):
        nb = "  ".join(f"{k[:2]} {_s(v)}" for k, v in b["notebooks"].items())
        ratio = b.get("ratio_to_empty_notebooks")
        many = f" (median of {', '.join(_s(v) for v in b['all_total_seconds'])})" if b["repeats"] > 1 else ""
        print(f"{b['brand']} {b.get('period') or ''}: total {_s(b['total_seconds'])} s{many}, peak {b['peak_rss_gb']:.2f} GB"
              f"  [{nb}]" + (f"\n  ratio to the empty notebooks {ratio:.2f} (to the papermill calls alone "
                              f"{b['ratio_to_papermill_calls']:.2f})" if ratio is not None else "")
              + (f"  ({b['problem']})" if b.get("problem") else ""))
    for r in result.get("sizes", []):
        g = r.get("generate")
        if g:
            how = "found in the cache" if g["reused"] else f"generated in {g['seconds']:.1f} s"
            print(f"brand {r['size']}: {r['customers']:,} customers, {r['order_rows']:,} order rows, {how} "
                  f"(process {g['process_seconds']:.1f} s, peak {g['peak_gb']:.2f} GB)  {r['folder']}")
        elif r.get("problem"):
            print(f"brand {r['size']}: {r['problem']}")
    if any("workbook" in r for r in result.get("sizes", [])):
        print("\nseconds per notebook (manifest), total = wall time of `workbook run`; peak = RSS sum of its "
              "process tree;\nref = lifetimes summary_data_from_transaction_data + BetaGeoFitter.fit on the same clean orders\n")
        print("\n".join(table([r for r in result["sizes"] if "workbook" in r])))
    targets = [t for b in result.get("brands", []) if "target" in b for t in [b["target"]]]
    targets += [t for r in result.get("sizes", []) for t in r.get("targets", [])]
    if targets:
        print("\ntargets")
        for t in targets:
            shown = "-" if t["value"] is None else f"{t['value']:.2f}"
            print(f"  {'PASS' if t['pass'] else 'FAIL'}  {t['target']}: {shown}" + (f" ({t['why']})" if t.get("why") else ""))


# ---------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=lambda s: [parse_orders(x) for x in s.split(",") if x.strip()],
                        default=[], metavar="SIZES", help="order counts to run, e.g. 0.1M or 1M,10M")
    parser.add_argument("--empty-notebooks", action="store_true",
                        help=f"time papermill on {EMPTY_NOTEBOOKS} empty notebooks (the reference for small brands)")
    parser.add_argument("--brand", action="append", default=[], metavar="NAME",
                        help="time `workbook run --brand NAME --period latest` against the empty notebooks (repeatable)")
    parser.add_argument("--repeat", type=int, default=1, metavar="K",
                        help="measure the empty notebooks and each --brand K times (interleaved); report medians")
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "bench",
                        help="cache of generated brands and scratch outputs (default: data/bench/)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"generator seed (default {DEFAULT_SEED})")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="kill any measured process after this long")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a measured run fails or times out (the targets never set the exit code)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--keep-outputs", action="store_true", help="keep each run's outputs folder under --work")
    parser.add_argument("--generate-only", action="store_true",
                        help="only generate (or find in the cache) the brands of --orders: seconds and peak memory")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child:
        name, *rest = args.child
        sys.path.insert(0, str(HERE))  # clv_paths
        print(json.dumps(CHILDREN[name](*rest)))
        return 0
    if not (args.orders or args.empty_notebooks or args.brand):
        build_parser().error("nothing to do: give --orders, --empty-notebooks and/or --brand")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine(),
        "orders_per_customer": ORDERS_PER_CUSTOMER,
        "timeout": args.timeout,
    }
    if args.empty_notebooks or args.brand:
        result["empty_notebooks"], brands = measure_small(args.brand, args.repeat, work, args.timeout,
                                                          args.keep_outputs)
        if brands:
            result["brands"] = brands
    if args.orders:
        result["sizes"] = [measure_size(n, args.seed, work, args.timeout, args.keep_outputs, args.generate_only)
                           for n in args.orders]
    print_report(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(_finite(result), indent=2) + "\n", encoding="utf-8")
        print(f"\njson: {args.json}")
    rows = [*result.get("sizes", []), *result.get("brands", [])]
    if args.strict and any(not row.get("ok", False) for row in rows):
        print("\nat least one measured run failed (see above)", file=sys.stderr)
        return 1
    return 0


def _finite(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


if __name__ == "__main__":
    sys.exit(main())
