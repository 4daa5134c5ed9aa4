"""Every case of the bad-input corpus (tests/badinputs) gets the outcome it states."""

from __future__ import annotations

import pytest

from helpers.config import ParamsError
from helpers.sources import SourceError
from tests.badinputs.base import new_brand, write_all
from tests.badinputs.cases import CASES, Case, build
from tests.badinputs.harness import run_audit


@pytest.fixture(scope="module")
def clean_outcome(tmp_path_factory):
    brand = new_brand(tmp_path_factory.mktemp("clean"))
    return run_audit(write_all(brand))


def test_the_clean_base_brand_passes(clean_outcome):
    assert clean_outcome.status == "pass"
    assert clean_outcome.period == "2024-12"
    assert clean_outcome.summary["customers_clean"] == 400


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path, monkeypatch, clean_outcome):
    for key, value in case.env:
        monkeypatch.setenv(key, value)
    brand = build(case, tmp_path / case.name)
    if case.outcome == "error":
        with pytest.raises((SourceError, ParamsError)) as caught:
            run_audit(brand.params_path, case.period)
        message = str(caught.value)
        for fragment in case.expect:
            assert fragment in message, message
        return
    outcome = run_audit(brand.params_path, case.period)
    said = outcome.messages() + "\n" + "\n".join(outcome.notes)
    for fragment in case.expect:
        assert fragment in said, said
    if case.outcome == "flagged":
        assert outcome.status in ("warn", "fail")
    if case.same_figures:
        for key in ("orders_clean", "customers_clean"):
            assert outcome.summary[key] == clean_outcome.summary[key], key
        assert outcome.summary["revenue_clean"] == pytest.approx(clean_outcome.summary["revenue_clean"], abs=1e-6)
        assert outcome.status == "pass" or set(outcome.findings.query("severity != 'info'")["check"]) <= {"readiness"}
