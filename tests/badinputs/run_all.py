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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="case names (default: all)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    cases = [c for c in CASES + NOTEBOOK_CASES if not args.only or c.name in args.only]
    with tempfile.TemporaryDirectory(prefix="badinputs-") as tmp:
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(lambda c: run_case(c, Path(tmp)), cases))
    bad = 0
    for case, problems, seconds in results:
        verdict = "ok" if not problems else "WRONG"
        bad += bool(problems)
        print(f"{case.name:32s} {case.outcome:8s} {verdict:5s} {seconds:6.1f}s  {'; '.join(problems)}")
    print(f"{len(results) - bad} of {len(results)} cases get the outcome they state")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
