"""The mutation score of `make mutants` (not a test): run in the mutmut workspace after `mutmut run`,
with the mutant-name patterns of the functions scored. Prints killed / total per function, the
surviving mutants, and the score; exits 1 below --min.

    python tests/mutation_score.py --min 0.9 'helpers.budget.x_gross_profit__*' ...
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

KILLED = {"killed", "timeout", "caught by type check"}  # a mutant the checks notice


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--min", type=float, default=0.9)
    ap.add_argument("patterns", nargs="+")
    args = ap.parse_args()
    mutmut = Path(sys.executable).with_name("mutmut")
    out = subprocess.run([str(mutmut), "results", "--all", "true"], capture_output=True, text=True, check=True).stdout
    by_function: dict[str, Counter] = defaultdict(Counter)
    survivors = []
    for line in out.splitlines():
        m = re.match(r"\s*(\S+__mutmut_\d+): (.+)$", line)
        if not m or not any(fnmatch.fnmatch(m.group(1), p) for p in args.patterns):
            continue
        name, status = m.group(1), m.group(2).strip()
        function = name.rsplit("__mutmut_", 1)[0]
        by_function[function][status] += 1
        if status not in KILLED:
            survivors.append(f"{name}: {status}")
    total = sum(sum(c.values()) for c in by_function.values())
    killed = sum(c[s] for c in by_function.values() for s in KILLED)
    for function, counts in sorted(by_function.items()):
        k = sum(counts[s] for s in KILLED)
        print(f"{function:60s} {k:4d} / {sum(counts.values()):4d}  {dict(counts)}")
    print("\nnot killed (`mutmut show NAME` in the workspace for the diff):")
    for s in sorted(survivors):
        print("   ", s)
    if not total:
        print("no mutants matched the patterns")
        return 1
    score = killed / total
    print(f"\nmutation score: {killed} of {total} mutants killed = {100 * score:.1f} % (minimum {100 * args.min:.0f} %)")
    return 0 if score >= args.min else 1


if __name__ == "__main__":
    sys.exit(main())
