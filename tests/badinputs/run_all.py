"""Every case of the corpus through the real CLI (`workbook run`, all six notebooks): the check
that a broken input never crashes a late notebook. Slow (a full run per case); `make corpus`.

Outcomes, per case:
- error: the run stops before any notebook, exit code 1, the expected fragments in stderr and
  no Python traceback;
- otherwise: every notebook succeeds, and the executed notebooks contain the case's
  ``said_in_notebooks`` fragments (what was skipped or repaired, in words).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.badinputs.cases import CASES, NOTEBOOK_CASES, Case, build


def run_case(case: Case, root: Path) -> tuple[Case, list[str], float]:
    folder = root / case.name
    brand = build(case, folder)
    outputs = folder / "outputs"
    env = {**os.environ, "WORKBOOK_OUTPUTS": str(outputs), "OPENBLAS_NUM_THREADS": "1", **dict(case.env)}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "helpers.runner", "run", "--params", str(brand.params_path),
                           "--period", case.period, "--no-index"], env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    problems = []
    said = proc.stdout + proc.stderr
    if "Traceback (most recent call last)" in said:
        problems.append("a Python traceback reached the terminal")
    if case.outcome == "error":
        if proc.returncode == 0:
            problems.append("the run succeeded; it should stop with a message")
        problems += [f"stderr lacks {f!r}" for f in case.expect if f not in proc.stderr]
        return case, problems, seconds
    if proc.returncode != 0:
        failed = [line for line in said.splitlines() if "FAILED" in line or "error" in line.lower()]
        problems.append(f"exit code {proc.returncode}: {' | '.join(failed[:3]) or said[-300:]}")
        return case, problems, seconds
    runs = [p for p in outputs.glob("*/*/*") if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")]
    if len(runs) != 1:
        return case, problems + [f"expected one run folder, found {len(runs)}"], seconds
    manifest = json.loads((runs[0] / "manifest.json").read_text())
    statuses = {name: nb["status"] for name, nb in manifest.get("notebooks", {}).items()}
    if len(statuses) != 6 or set(statuses.values()) != {"ok"}:
        problems.append(f"notebooks: {statuses}")
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(runs[0].glob("**/*.ipynb")))
    problems += [f"the executed notebooks never say {f!r}" for f in case.said_in_notebooks if f not in text]
    return case, problems, seconds


# metrics.json keys that name the run rather than the answer
VOLATILE = ("utc", "run_id", "seconds", "started", "finished", "elapsed")


def differences(a, b, path: str = "") -> list[str]:
    """Key paths where two metrics.json documents differ (volatile keys ignored)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            if any(v in key for v in VOLATILE):
                continue
            out += differences(a.get(key), b.get(key), f"{path}.{key}" if path else key)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"[:200]]


def same_inputs_same_metrics(root: Path) -> list[str]:
    """The clean base brand run twice from scratch: metrics.json must be identical apart from the
    run's own names and times (issue 12: fits deterministic, sums independent of thread order)."""
    from tests.badinputs.base import new_brand, write_all

    params = write_all(new_brand(root / "twice"))
    docs = []
    for n in (1, 2):
        outputs = root / "twice" / f"outputs{n}"
        env = {**os.environ, "WORKBOOK_OUTPUTS": str(outputs), "OPENBLAS_NUM_THREADS": "1"}
        proc = subprocess.run([sys.executable, "-m", "helpers.runner", "run", "--params", str(params),
                               "--no-index"], env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            return [f"run {n} failed: {proc.stdout[-300:]} {proc.stderr[-300:]}"]
        (metrics,) = outputs.glob("*/*/latest/metrics.json")
        docs.append(json.loads(metrics.read_text()))
    return differences(*docs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="case names (default: all)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--twice", action="store_true", help="only run the clean brand twice and compare metrics")
    args = parser.parse_args(argv)
    if args.twice:
        with tempfile.TemporaryDirectory(prefix="badinputs-") as tmp:
            drift = same_inputs_same_metrics(Path(tmp))
        print("same inputs, same metrics.json:", "yes" if not drift else f"NO — {len(drift)} difference(s)")
        for line in drift[:20]:
            print("   ", line)
        return 1 if drift else 0
    cases = [c for c in CASES + NOTEBOOK_CASES if not args.only or c.name in args.only]
    with tempfile.TemporaryDirectory(prefix="badinputs-") as tmp:
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            twice = pool.submit(same_inputs_same_metrics, Path(tmp)) if not args.only else None
            results = list(pool.map(lambda c: run_case(c, Path(tmp)), cases))
            drift = twice.result() if twice else []
    bad = 0
    for case, problems, seconds in results:
        verdict = "ok" if not problems else "WRONG"
        bad += bool(problems)
        print(f"{case.name:32s} {case.outcome:8s} {verdict:5s} {seconds:6.1f}s  {'; '.join(problems)}")
    print(f"{len(results) - bad} of {len(results)} cases get the outcome they state")
    if twice:
        print("same inputs, same metrics.json:", "yes" if not drift else f"NO — {len(drift)} difference(s)")
        for line in drift[:20]:
            print("   ", line)
    return 1 if bad or drift else 0


if __name__ == "__main__":
    sys.exit(main())
