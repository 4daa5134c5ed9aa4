"""Shared fixtures: small brands written into a temporary folder, and the real bundled ones."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from helpers import config


@pytest.fixture(autouse=True)
def _outputs_in_tmp(tmp_path_factory, monkeypatch):
    """No test writes into the project's outputs/ folder."""
    monkeypatch.setenv("WORKBOOK_OUTPUTS", str(tmp_path_factory.getbasetemp() / "outputs"))


def write_params(folder: Path, body: str, name: str = "tiny.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


@pytest.fixture
def tiny_orders_csv(tmp_path) -> Path:
    """Eight orders with one of each fault, hand-made so every count is known."""
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,customer_id,order_time,amount,status\n"
        "A1,c1,2024-01-05 10:00:00,100.00,completed\n"
        "A2,c1,2024-02-05 10:00:00,50.00,completed\n"
        "A2,c1,2024-02-05 10:00:00,50.00,completed\n"      # exact duplicate
        "A3,c2,2024-01-07 09:00:00,\"¥1,200.50\",completed\n"  # money as text
        "A4,,2024-01-08 09:00:00,30.00,completed\n"       # guest
        "A5,c2,2024-01-09 09:00:00,0,completed\n"         # zero amount
        "A6,c2,2024-01-20 09:00:00,-40.00,refunded\n"     # refund
        "A7,c3,2024-03-02 09:00:00,70.00,completed\n"     # after period end (Feb)
        "A8,c3,2024-01-15 09:00:00,N/A,completed\n",      # unparseable amount
        encoding="utf-8",
    )
    return path


@pytest.fixture
def tiny_params(tmp_path, tiny_orders_csv) -> Path:
    return write_params(tmp_path, f"""
        brand: tiny
        sources:
          orders:
            - name: shop
              path: {tiny_orders_csv}
              columns:
                order_id: order_id
                customer_id: customer_id
                order_ts: order_time
                amount: amount
                status: status
        business:
          currency: CNY
    """)


def load(path: Path) -> config.Params:
    return config.load_params(path)
