"""Regenerate the stored expectations of the bundled brands' metrics.json and print what changed.

    .venv/bin/python -m tests.expectations.update                  # run demo and cdnow, print the diff, write
    .venv/bin/python -m tests.expectations.update --check          # print the diff, write nothing (exit 1 if any)
    .venv/bin/python -m tests.expectations.update --brand cdnow    # one brand
    .venv/bin/python -m tests.expectations.update --run demo=outputs/demo/2025-06/latest   # an existing run

Each brand is run as tests/test_end_to_end.py runs it (:data:`tests.expectations.RUNS`), in a
temporary outputs folder. Review every changed figure before committing the file: the notes in
``review`` (kept as they are) say what each brand's figures were checked against.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from helpers import config
from tests import expectations as ex


def run_brand(brand: str, outputs: Path) -> Path:
    args = ex.RUNS[brand]
    result = subprocess.run([sys.executable, "-m", "helpers.runner", *args], cwd=config.PROJECT_ROOT,
                            env={**os.environ, "WORKBOOK_OUTPUTS": str(outputs)}, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{brand}: the run failed\n{result.stdout}{result.stderr}")
    return max((outputs / brand).glob("*/latest")).resolve()


def diff(old: dict, new: dict) -> list[str]:
    lines = []
    for path, f in new.items():
        if path not in old:
            lines.append(f"+ {path}: {f['value']!r} ({f['tol']})")
        elif not ex.agrees(f["value"], old[path]["value"], old[path]["tol"]) or f["tol"] != old[path]["tol"]:
            lines.append(f"~ {path}: {old[path]['value']!r} -> {f['value']!r} ({f['tol']})")
    lines += [f"- {path}: {f['value']!r}" for path, f in old.items() if path not in new]
    return lines


def document(brand: str, run: Path, previous: dict | None) -> dict:
    """The expectations of a run. A figure within its stored tolerance keeps its stored value, so
    the file changes only where a figure did."""
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    old = (previous or {}).get("figures", {})
    figures = {path: old[path] if path in old and old[path]["tol"] == f["tol"]
               and ex.agrees(f["value"], old[path]["value"], f["tol"]) else f
               for path, f in ex.figures(metrics).items()}
    return {
        "brand": brand,
        "period": manifest["period"],
        "data_fingerprint": manifest.get("data_fingerprint"),
        "command": "workbook " + " ".join(ex.RUNS[brand]),
        "regenerate": "python -m tests.expectations.update --brand " + brand,
        "tolerances": ex.TOLERANCES,
        "review": (previous or {}).get("review", ["(to write: what these figures were checked against)"]),
        "figures": figures,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--brand", action="append", choices=sorted(ex.RUNS), help="only this brand (repeatable)")
    ap.add_argument("--run", action="append", default=[], metavar="BRAND=RUN_DIR",
                    help="use an existing run folder instead of running the brand")
    ap.add_argument("--check", action="store_true", help="print the differences only")
    args = ap.parse_args(argv)
    given = dict(item.split("=", 1) for item in args.run)
    brands = args.brand or sorted(set(ex.RUNS) | set(given))
    changed = 0
    with tempfile.TemporaryDirectory(prefix="expectations_") as tmp:
        for brand in brands:
            run = Path(given[brand]).resolve() if brand in given else run_brand(brand, Path(tmp))
            path = ex.path_of(brand)
            previous = ex.load(brand) if path.exists() else None
            doc = document(brand, run, previous)
            lines = diff(previous["figures"] if previous else {}, doc["figures"])
            changed += len(lines)
            print(f"{brand} ({run}): {len(doc['figures'])} figures, {len(lines)} changed")
            for line in lines:
                print("  " + line)
            if not args.check and (lines or previous is None or ex.dumps(doc) != path.read_text(encoding="utf-8")):
                path.write_text(ex.dumps(doc), encoding="utf-8")
                print(f"  written: {path.relative_to(config.PROJECT_ROOT)}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
