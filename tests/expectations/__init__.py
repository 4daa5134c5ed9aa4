"""Stored, reviewed expectations of the bundled brands' metrics.json (issue 17).

``<brand>.json`` holds every figure of one run of that brand (the run tests/test_end_to_end.py
makes) under its path in metrics.json (``clv.holdout.models.bgnbd.params.r``,
``audit.findings[2].rows``), with its expected value and the name of its tolerance; the
tolerances, with the reason for each, are written at the top of the file. A change of any
published number is a failing test and, once accepted, a diff of that file in review:

    .venv/bin/python -m tests.expectations.update            # run the brands, print the diff, write
    .venv/bin/python -m tests.expectations.update --check    # print the diff only

Prose is not pinned: a string of more than :data:`PROSE` characters (findings messages, the
reasons of the reliability verdict, method descriptions) is wording; the figures it quotes are
pinned where metrics.json keeps them as numbers.

The tolerances were measured, not guessed: the cdnow and demo runs were repeated with the CPU's
vector instructions and BLAS kernels switched (``NPY_DISABLE_CPU_FEATURES=X86_V3
OPENBLAS_CORETYPE=Sandybridge``, what a CI machine with other hardware changes). Counts, labels,
the data arithmetic and every maximum-likelihood fit moved by at most 2e-11 relative; the
bootstrap percentiles and the budget optimiser's split moved more (see :data:`TOLERANCES`).
"""

from __future__ import annotations

import fnmatch
import json
import math
from pathlib import Path

FOLDER = Path(__file__).parent
PROSE = 40  # characters: a longer string is wording, not a figure

# How each brand is run for its expectations: the runs of tests/test_end_to_end.py.
# Online Retail is run by `make proof` (tests/proof/test_online_retail_expectations.py), not by
# make test: the third brand's run would add a minute to the suite that runs on every change.
RUNS = {
    "demo": ["run", "--brand", "demo", "--period", "latest"],
    "cdnow": ["run", "--brand", "cdnow", "--period", "latest"],
    "online_retail": ["run", "--brand", "online_retail", "--period", "latest"],
}

TOLERANCES = {
    "exact": {
        "why": "counts, labels, flags, dates and nulls: any change is a change"},
    "deterministic": {
        "rel": 1e-9, "abs": 1e-12,
        "why": "floats computed from the data: sums, shares, Wilson intervals, regressions, maximum-likelihood fits "
               "from fixed starts, the seeded Monte Carlo of the customers' own variance (clv.total_latent_sd). The same inputs give the same bits; with the CPU's vector instructions and BLAS "
               "kernels switched none moved by more than 2e-11 relative (50x room). abs 1e-12: a difference that "
               "cancels to zero"},
    "bootstrap": {
        "rel": 1e-4, "abs": 1e-9,
        "why": "percentiles of the seeded one-step bootstrap (the intervals on total CLV, expected purchases and the "
               "parameters, the plan's expected-profit range): the same on every run, but each draw is a Newton step from finite-difference scores and "
               "Hessian, which amplify a last-bit change of the vector maths: they moved by up to 5.5e-6 relative "
               "(demo, modified BG/NBD b); 1e-4 leaves 18x room and is 19 CNY on the demo's 193,000 CNY interval end"},
    "optimizer": {
        "rel": 1e-6, "abs": 1e-6,
        "why": "the budget plan of notebook 05 (spend per tier and channel, its ROI): an iterative optimiser that "
               "stops at its own tolerance moved them by up to 5.4e-8 relative when the vector maths changed (18x "
               "room), and a channel it leaves empty reads 0 or 1e-11; abs 1e-6 is a millionth of a currency unit"},
}

# The first matching pattern (fnmatch on the figure's path) names a float's tolerance; other
# floats are deterministic. Ints, strings, booleans and nulls are exact.
RULES = [
    ("clv.params_interval.*", "bootstrap"),
    ("clv.total_interval[[]*", "bootstrap"),
    ("clv.total_interval_parameters[[]*", "bootstrap"),
    ("clv.expected_purchases_365_interval[[]*", "bootstrap"),
    ("tiers.expected_profit_range.*", "bootstrap"),
    ("tiers.budget.optimized.*", "optimizer"),
    ("tiers.spend.optimized.*", "optimizer"),
    ("tiers.spend_by_channel.optimized.*", "optimizer"),
    ("tiers.roi.optimized", "optimizer"),
]


def flatten(metrics, prefix: str = "") -> dict:
    """Every leaf of metrics.json under its path: ``a.b[2].c``."""
    out: dict = {}
    if isinstance(metrics, dict):
        for key, value in metrics.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(metrics, list):
        for i, value in enumerate(metrics):
            out.update(flatten(value, f"{prefix}[{i}]"))
    else:
        out[prefix] = metrics
    return out


def is_prose(value) -> bool:
    return isinstance(value, str) and len(value) > PROSE


def tolerance_of(path: str, value) -> str:
    if not isinstance(value, float):
        return "exact"
    return next((tol for pattern, tol in RULES if fnmatch.fnmatchcase(path, pattern)), "deterministic")


def figures(metrics: dict) -> dict:
    """The pinned figures of a run: path -> {value, tol}."""
    return {path: {"value": value, "tol": tolerance_of(path, value)}
            for path, value in flatten(metrics).items() if not is_prose(value)}


def path_of(brand: str) -> Path:
    return FOLDER / f"{brand}.json"


def load(brand: str) -> dict:
    return json.loads(path_of(brand).read_text(encoding="utf-8"))


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def agrees(value, expected, tol: str) -> bool:
    if not (_number(value) and _number(expected)):
        return type(value) is type(expected) and value == expected
    if math.isnan(value) or math.isnan(expected):
        return math.isnan(value) and math.isnan(expected)
    if tol == "exact":
        return value == expected
    t = TOLERANCES[tol]
    return math.isclose(value, expected, rel_tol=t["rel"], abs_tol=t["abs"])


def compare(metrics: dict, stored: dict) -> list[str]:
    """Each figure that differs from the stored expectation beyond its tolerance, each missing
    figure and each new one (a new figure is reviewed and stored like a changed one)."""
    expected = stored["figures"]
    actual = figures(metrics)
    problems = []
    for path, e in expected.items():
        if path not in actual:
            problems.append(f"{path}: missing (expected {e['value']!r})")
        elif not agrees(actual[path]["value"], e["value"], e["tol"]):
            problems.append(f"{path}: {actual[path]['value']!r}, expected {e['value']!r} ({e['tol']})")
    problems += [f"{path}: new figure {actual[path]['value']!r}" for path in actual if path not in expected]
    return problems


def check_run(run: Path, brand: str) -> list[str]:
    """:func:`compare` on a run folder, with a first line when the brand's data changed since the
    expectations were stored (data fingerprint of manifest.json): then every figure may move."""
    stored = load(brand)
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    problems = compare(metrics, stored)
    if problems and manifest.get("data_fingerprint") != stored.get("data_fingerprint"):
        problems.insert(0, f"the data changed: fingerprint {manifest.get('data_fingerprint')}, stored "
                           f"{stored.get('data_fingerprint')} (regenerated demo data?)")
    return problems


def explain(problems: list[str], brand: str, shown: int = 40) -> str:
    return (f"{len(problems)} figure(s) of {brand}'s metrics.json differ from tests/expectations/{brand}.json. "
            f"If the change is intended, review it and run `.venv/bin/python -m tests.expectations.update --brand "
            f"{brand}` (it prints the diff):\n  " + "\n  ".join(problems[:shown])
            + (f"\n  ... and {len(problems) - shown} more" if len(problems) > shown else ""))


def dumps(doc: dict) -> str:
    """JSON with one figure per line, so a change is a one-line diff."""
    head = {k: v for k, v in doc.items() if k != "figures"}
    lines = json.dumps(head, indent=2, ensure_ascii=False).rstrip("}").rstrip().rstrip(",")
    body = ",\n".join(f"    {json.dumps(path, ensure_ascii=False)}: {json.dumps(f, ensure_ascii=False)}"
                      for path, f in doc["figures"].items())
    return f"{lines},\n  \"figures\": {{\n{body}\n  }}\n}}\n"
