"""The runner end to end on the real notebooks: demo and CDNOW, as a scheduled run would."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import config

pytestmark = pytest.mark.slow

DEMO_ID = re.compile(r"\bM\d{7}\b")  # the demo generator's customer ids


def workbook(*args: str, env_outputs: Path) -> subprocess.CompletedProcess:
    env = {**__import__("os").environ, "WORKBOOK_OUTPUTS": str(env_outputs)}
    return subprocess.run([sys.executable, "-m", "helpers.runner", *args], cwd=config.PROJECT_ROOT,
                          capture_output=True, text=True, env=env, timeout=900)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e_outputs")


@pytest.fixture(scope="module")
def demo_run(outputs) -> Path:
    result = workbook("run", "--brand", "demo", "--period", "latest", env_outputs=outputs)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "01_data_audit" in result.stdout and "index.html" in result.stdout
    return (outputs / "demo" / "2025-06" / "latest").resolve()


def _stakeholder_html(run: Path) -> list[Path]:
    return sorted(p for p in (run / "html").glob("*.html") if not p.name.endswith(".analyst.html"))


def test_demo_run_layout_and_metrics(demo_run):
    assert (demo_run / "01_data_audit.ipynb").exists()
    assert (demo_run / "html" / "01_data_audit.html").exists()
    assert (demo_run / "html" / "01_data_audit.analyst.html").exists()
    assert (demo_run / "data" / "audit_reconciliation.csv").exists()
    metrics = json.loads((demo_run / "metrics.json").read_text())
    audit = metrics["audit"]
    for key in ("status", "orders_clean", "customers_clean", "revenue_clean", "findings"):
        assert key in audit
    assert audit["status"] in ("pass", "warn", "fail")
    assert all(set(f) == {"check", "severity", "rows", "message"} for f in audit["findings"])
    manifest = json.loads((demo_run / "manifest.json").read_text())
    assert manifest["brand"] == "demo" and manifest["period"] == "2025-06"
    assert (demo_run.parent.parent.parent / "index.html").exists()


def test_every_notebook_writes_its_contract(demo_run):
    """The metric names of issues 3-7 (stable: dashboards read them) and the customer table."""
    import pandas as pd

    metrics = json.loads((demo_run / "metrics.json").read_text())
    manifest = json.loads((demo_run / "manifest.json").read_text())
    assert [n["status"] for n in manifest["notebooks"].values()] == ["ok"] * 6
    assert set(metrics["lifecycle"]["stage_counts"]) == {"new", "active", "dormant", "churned", "returning"}
    repurchase = metrics["repurchase"]
    assert 0 < repurchase["within_period"] < 1 and 0 < repurchase["retention"] < 1
    assert set(repurchase["second_purchase"]) == {"30", "60", "90"}
    assert metrics["drivers"]["funnel"] and metrics["drivers"]["effects"]
    assert all({"effect", "ci", "family", "n"} <= set(e) for e in metrics["drivers"]["effects"].values())
    clv = metrics["clv"]
    for key in ("model", "params", "loglik", "gamma_gamma", "total", "total_interval"):
        assert key in clv
    assert {"actual", "predicted", "baseline_error", "model_error"} <= set(clv["holdout"])
    low, high = clv["total_interval"]
    assert low <= clv["total"] <= high
    tiers = metrics["tiers"]
    assert set(tiers["counts"]) == {"high", "potential", "general", "low"}
    for split in ("optimized", "rule_of_thumb"):
        assert sum(tiers["budget"][split].values()) <= tiers["total_budget"] + 1e-6
    assert tiers["expected_profit"]["optimized"] >= tiers["expected_profit"]["rule_of_thumb"] - 1e-6
    campaign = metrics["campaigns"]["spring_winback"]
    assert 0 <= campaign["srm_p"] <= 1 and set(campaign["arms"]) == {"treatment", "control"}
    assert {"repurchase_pp", "repurchase_pp_ci", "revenue_per_customer", "revenue_per_customer_ci", "roi"} \
        <= set(campaign["lift"]["treatment"])
    customers = pd.read_parquet(demo_run / "data" / "customers.parquet")
    for column in ("stage", "previous_stage", "r_score", "f_score", "m_score", "rfm_segment", "p_alive",
                   "expected_purchases_30", "expected_purchases_90", "expected_purchases_365", "expected_spend",
                   "clv", "clv_low", "clv_high", "tier", "action"):
        assert column in customers.columns, column
    assert customers["customer_id"].is_unique
    assert len(customers) == metrics["audit"]["customers_clean"]
    assert list((demo_run / "exports").glob("*.csv")), "notebook 05 writes CRM lists"
    assert (demo_run / "data" / "campaign_response.json").exists()


def test_stakeholder_html_has_no_code_and_no_customer_ids(demo_run):
    pages = _stakeholder_html(demo_run)
    assert pages
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "open_run" not in text and "run_dir" not in text, f"{page.name} shows code or parameters"
        assert 'hl-ipython3' not in text, f"{page.name} has code cells"
        assert not DEMO_ID.search(text), f"{page.name} shows a customer id: {DEMO_ID.search(text).group()}"
    # the analyst render keeps the code
    analyst = (demo_run / "html" / "01_data_audit.analyst.html").read_text(encoding="utf-8")
    assert "open_run" in analyst and 'hl-ipython3' in analyst


def test_second_run_leaves_the_first_untouched(demo_run, outputs):
    before = {p: p.stat().st_mtime_ns for p in demo_run.rglob("*") if p.is_file()}
    result = workbook("run", "--brand", "demo", "--period", "2025-06", "--only", "01", env_outputs=outputs)
    assert result.returncode == 0, result.stdout + result.stderr
    after = {p: p.stat().st_mtime_ns for p in demo_run.rglob("*") if p.is_file()}
    assert before == after
    runs = [p for p in (outputs / "demo" / "2025-06").iterdir() if p.is_dir() and not p.is_symlink()
            and p.name != "interactive"]
    assert len(runs) == 2
    assert (outputs / "demo" / "2025-06" / "latest").resolve() != demo_run


def test_cdnow_run(outputs):
    result = workbook("run", "--brand", "cdnow", "--period", "latest", env_outputs=outputs)
    assert result.returncode == 0, result.stdout + result.stderr
    run = (outputs / "cdnow" / "1998-06" / "latest").resolve()
    audit = json.loads((run / "metrics.json").read_text())["audit"]
    assert audit["orders_clean"] == 69_659  # every CDNOW purchase is kept ($0 purchases included)
    assert audit["customers_clean"] == 23_570


def test_a_failing_notebook_is_named_and_exits_1(outputs, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        (config.PARAMS_DIR / "cdnow.yaml").read_text(encoding="utf-8")
        .replace("brand: cdnow", "brand: broken")
        .replace("amount: dollar_value", "amount: dollars"),  # a column the file does not have
        encoding="utf-8")
    result = workbook("run", "--params", str(broken), "--period", "1998-06", env_outputs=outputs)
    assert result.returncode == 1
    line = next(ln for ln in result.stdout.splitlines() if "FAILED" in ln)
    assert "broken" in line and "01_data_audit" in line and "cell" in line and "SourceError" in line
    assert "'dollars' not found" in result.stdout + result.stderr
    kept = list((outputs / "broken" / "1998-06").glob("*/01_data_audit.ipynb"))
    assert kept, "the executed notebook of a failed run is kept"
    assert not (outputs / "broken" / "1998-06" / "latest").exists()
