"""A brand whose orders carry no amount (loyalty-card visits: customer id + timestamp) runs all
six notebooks: purchase counts everywhere, no money figure anywhere (null, never 0), and every
notebook says which money sections it skips."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import config
from helpers.text import Text
from tests.badinputs.base import new_brand, write_all, write_frame

pytestmark = pytest.mark.slow

NOTEBOOKS = ("01_data_audit", "02_lifecycle", "03_repurchase_drivers", "04_clv", "05_tiers",
             "06_campaign_retrospective")
NO_AMOUNT = Text("en")("common.no_amount_reason")  # the brand below reports in English


def no_amount_brand(folder: Path) -> Path:
    """The bad-input base brand (400 customers, 1,245 orders) without its amount column."""
    brand = new_brand(folder)
    write_frame(brand.orders.drop(columns=["amount"]), folder / "orders.csv")
    del brand.params["sources"]["orders"][0]["columns"]["amount"]
    brand.params["clv"] = {"bootstrap": 20}
    brand.params["drivers"] = {"bootstrap": 20}
    return write_all(brand)


def _markdown_outputs(notebook: Path) -> str:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(out.get("data", {}).get("text/markdown", []))
                     for cell in cells for out in cell.get("outputs", []))


def test_no_amount_brand_runs_every_notebook_without_money(tmp_path):
    params = no_amount_brand(tmp_path / "brand")
    env = {**os.environ, "WORKBOOK_OUTPUTS": str(tmp_path / "out"), "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "helpers.runner", "run", "--params", str(params), "--period", "latest"],
                          cwd=config.PROJECT_ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    run = tmp_path / "out" / "bad" / "2024-12" / "latest"
    for name in NOTEBOOKS:
        assert f"{name}  ok" in done.stdout, done.stdout
        said = _markdown_outputs(run / f"{name}.ipynb")
        assert NO_AMOUNT in said, name  # the same words on every page (helpers.text.common.no_amount_reason)
        assert " 0 EUR" not in said and "+0.0 EUR" not in said and "nan EUR" not in said, (name, said)

    m = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    # audit: every order kept (none is 'zero-amount' for want of an amount), revenue unknown
    assert m["audit"]["orders_clean"] == 1245 and m["audit"]["customers_clean"] == 400
    assert "zero-amount orders" not in m["audit"]["removed"]
    assert m["audit"]["revenue_raw"] is None and m["audit"]["revenue_clean"] is None and m["audit"]["refunds"] is None
    # lifecycle and repurchase: counts present, revenue null
    assert sum(m["lifecycle"]["stage_counts"].values()) == 400
    assert m["lifecycle"]["revenue_bridge"] is None
    assert 0 < m["repurchase"]["second_purchase"]["90"] < 1
    assert all(v is None for v in m["repurchase"]["cohort"]["cumulative_revenue_per_customer_by_age"].values())
    # drivers: the funnel counts the 400 customers, 273 of whom bought twice
    assert m["drivers"]["funnel"]["1->2"]["reached"] == 400 and m["drivers"]["funnel"]["1->2"]["converted"] == 273
    # CLV: purchase model fitted and validated, no money
    clv = m["clv"]
    assert clv["has_amount"] is False and clv["total"] is None and clv["top10_share"] is None
    assert clv["gamma_gamma"] is None and clv["refund_share"] is None
    assert 150 < clv["expected_purchases_365"] < 400 and clv["holdout"]["actual"] == 172
    assert 0.1 < clv["top10_purchase_share"] < 1
    # tiers by expected purchases: 10 % high, 40 % low of 400, no budget or CLV figure
    tiers = m["tiers"]
    assert tiers["ranked_by"] == "expected_purchases_365"
    assert tiers["counts"]["high"] == 40 and tiers["counts"]["low"] == 160 and sum(tiers["counts"].values()) == 400
    assert tiers["expected_purchase_share"]["high"] > tiers["expected_purchase_share"]["low"]
    assert tiers["budget"] is None and tiers["clv_share"] is None and tiers["revenue_share"] is None
    # campaigns: conversion lift measured, every revenue / profit figure null
    camp = m["campaigns"]["1"]
    assert camp["customers"] == 300
    lift = camp["lift"]["treatment"]
    assert lift["repurchase_pp_adjusted"] is not None and lift["repurchase_pp_adjusted_ci"][0] < 0 < lift["repurchase_pp_adjusted_ci"][1]
    assert lift["incremental_revenue"] is None and lift["incremental_profit"] is None and lift["net_profit"] is None
    assert camp["arms"]["treatment"]["revenue_per_customer"] is None and camp["arms"]["treatment"]["n"] == 243
