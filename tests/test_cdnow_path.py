"""CDNOW through the notebook path (issue 17): the published figures from a run's metrics.json.

The CDNOW 1/10 sample (tests/fixtures/cdnow_sample.yaml: 2,357 customers, weeks 1-39 calibration
to 1997-09-30, weeks 40-78 holdout) goes through the real runner, sources -> audit (notebook 01)
-> summary and fits (notebook 04), and every published figure of DESIGN §4 is read from the run's
metrics.json at the precision it is published (Fader, Hardie & Lee 2005; Fader & Hardie's notes):

* BG/NBD r 0.243, alpha 4.414, a 0.793, b 2.426, log-likelihood -9582.4
* Pareto/NBD r 0.553, alpha 10.578, s 0.606, beta 11.669, log-likelihood -9595.0
* Gamma-Gamma on the 946 repeat buyers of the calibration window: p 6.25, q 3.74, gamma 15.44
* BG/NBD E[Y(39) | x = 2, t_x = 30.43, T = 38.86] = 1.226 (customer 1, the worked example)
* 1,882 repeat purchases in the holdout (same-day purchases collapsed)

tests/test_references.py checks the same formulas on lifetimes' prepared summary; this checks
that the project's own path from the raw transaction file gets there. The bundled full CDNOW
brand is checked against lifetimes' own summary and fitter in tests/test_end_to_end.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import config

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures"
PARAMS = FIXTURES / "cdnow_sample.yaml"

# Published value and its number of decimals: a reproduced figure must round to it.
BGNBD = {"r": (0.243, 3), "alpha": (4.414, 3), "a": (0.793, 3), "b": (2.426, 3)}
PARETO = {"r": (0.553, 3), "alpha": (10.578, 3), "s": (0.606, 3), "beta": (11.669, 3)}
GAMMA_GAMMA = {"p": (6.25, 2), "q": (3.74, 2), "v": (15.44, 2)}  # v is the literature's gamma


def published(value: float, expected: float, decimals: int) -> bool:
    """``value`` rounds to ``expected`` at ``decimals`` (half a unit of the last published digit)."""
    return abs(value - expected) <= 0.5 * 10.0 ** -decimals + 1e-12


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    outputs = tmp_path_factory.mktemp("cdnow_sample_outputs")
    result = subprocess.run(
        [sys.executable, "-m", "helpers.runner", "run", "--params", str(PARAMS), "--period", "1998-06", "--only", "01,04"],
        cwd=config.PROJECT_ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "WORKBOOK_OUTPUTS": str(outputs)})
    assert result.returncode == 0, result.stdout + result.stderr
    return (outputs / "cdnow_sample" / "1998-06" / "latest").resolve()


@pytest.fixture(scope="module")
def metrics(run) -> dict:
    return json.loads((run / "metrics.json").read_text())


def test_every_purchase_is_read(metrics):
    audit = metrics["audit"]
    assert audit["rows_raw"] == audit["orders_clean"] == 6_919  # the file's rows, $0 purchases included
    assert audit["customers_clean"] == 2_357
    assert metrics["clv"]["customers"] == metrics["clv"]["holdout"]["customers"] == 2_357


def test_split_and_holdout_purchases(metrics):
    hold = metrics["clv"]["holdout"]
    assert metrics["clv"]["time_unit"] == "week"
    assert hold["calibration_end"] == "1997-09-30" and hold["holdout_length"] == 39.0
    assert hold["actual"] == 1_882  # repeat purchases in weeks 40-78, same-day purchases collapsed


def test_bgnbd_published(metrics):
    fit = metrics["clv"]["holdout"]["models"]["bgnbd"]
    off = {k: (fit["params"][k], v) for k, (v, d) in BGNBD.items() if not published(fit["params"][k], v, d)}
    assert not off, f"BG/NBD parameters (reproduced, published): {off}"
    assert published(fit["loglik"], -9582.4, 1), fit["loglik"]


def test_pareto_nbd_published(metrics):
    fit = metrics["clv"]["holdout"]["models"]["pareto"]
    off = {k: (fit["params"][k], v) for k, (v, d) in PARETO.items() if not published(fit["params"][k], v, d)}
    assert not off, f"Pareto/NBD parameters (reproduced, published): {off}"
    assert published(fit["loglik"], -9595.0, 1), fit["loglik"]


def test_gamma_gamma_published(metrics):
    hold = metrics["clv"]["holdout"]
    assert hold["gamma_gamma_customers"] == hold["repeat_customers"] == 946
    off = {k: (hold["gamma_gamma"][k], v) for k, (v, d) in GAMMA_GAMMA.items()
           if not published(hold["gamma_gamma"][k], v, d)}
    assert not off, f"Gamma-Gamma parameters (reproduced, published): {off}"


def test_conditional_expectation_published(metrics):
    example = metrics["clv"]["holdout"]["example"]  # customer 1 of the sample
    assert example["x"] == 2 and published(example["t_x"], 30.43, 2) and published(example["T"], 38.86, 2)
    assert example["holdout_length"] == 39.0
    assert published(example["expected"]["bgnbd"], 1.226, 3), example["expected"]["bgnbd"]
