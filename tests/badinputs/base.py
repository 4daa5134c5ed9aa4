"""The clean brand every bad-input case starts from: small, seeded, with known totals.

Three files, shaped like an ordinary CRM export: orders (one row per order, money as plain
decimals), customers, and one randomized campaign. Each case breaks one thing in a copy."""

from __future__ import annotations

import csv
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

FIRST_DAY = pd.Timestamp("2023-01-01")
LAST_DAY = pd.Timestamp("2024-12-31")
N_CUSTOMERS = 400
SEED = 7


@dataclass
class Brand:
    """A brand on disk: its folder, its frames (before writing) and the params body."""

    folder: Path
    orders: pd.DataFrame
    customers: pd.DataFrame
    campaign: pd.DataFrame
    params: dict = field(default_factory=dict)

    @property
    def params_path(self) -> Path:
        return self.folder / "brand.yaml"


def base_frames(seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    span = (LAST_DAY - FIRST_DAY).days
    rows = []
    first_days = rng.integers(0, span - 30, N_CUSTOMERS)
    rates = rng.gamma(1.5, 1 / 60, N_CUSTOMERS)  # purchases per day
    for i in range(N_CUSTOMERS):
        day = int(first_days[i])
        alive = True
        while alive and day <= span:
            ts = FIRST_DAY + pd.Timedelta(days=day, hours=int(rng.integers(8, 22)), minutes=int(rng.integers(0, 60)))
            rows.append((i + 1, ts, round(float(rng.lognormal(4.0, 0.5)), 2)))
            alive = rng.random() > 0.25
            day += int(rng.exponential(1 / rates[i])) + 1
    orders = pd.DataFrame(rows, columns=["customer_id", "order_time", "amount"]).sort_values("order_time")
    orders.insert(0, "order_id", [f"SO{n:05d}" for n in range(1, len(orders) + 1)])
    orders["status"] = "completed"
    orders["channel"] = np.where(rng.random(len(orders)) < 0.6, "app", "web")
    customers = pd.DataFrame({
        "customer_id": np.arange(1, N_CUSTOMERS + 1),
        "signup_date": [(FIRST_DAY + pd.Timedelta(days=int(d))).strftime("%Y-%m-%d") for d in first_days],
        "region": rng.choice(["north", "south", "east", "west"], N_CUSTOMERS),
    })
    contacted = rng.choice(np.arange(1, N_CUSTOMERS + 1), 300, replace=False)
    campaign = pd.DataFrame({
        "campaign_id": 1,
        "customer_id": contacted,
        "group": np.where(rng.random(300) < 0.2, "control", "treatment"),
        "contact_ts": "2024-11-05 10:00:00",
        "channel": "sms",
        "cost": 0.05,
    })
    return orders.reset_index(drop=True), customers, campaign


def params_body(folder: Path) -> dict:
    return {
        "brand": "bad",
        "period": "month",
        "sources": {
            "orders": [{"name": "shop", "path": str(folder / "orders.csv"),
                        "columns": {"order_id": "order_id", "customer_id": "customer_id",
                                    "order_ts": "order_time", "amount": "amount", "status": "status",
                                    "channel": "channel"}}],
            "customers": [{"name": "crm", "path": str(folder / "customers.csv"),
                           "columns": {"customer_id": "customer_id", "signup_ts": "signup_date",
                                       "region": "region"}}],
            "campaigns": [{"name": "winback", "path": str(folder / "campaign.csv"),
                           "columns": {"campaign_id": "campaign_id", "customer_id": "customer_id",
                                       "group": "group", "contact_ts": "contact_ts", "channel": "channel",
                                       "cost": "cost"}}],
        },
        "business": {"currency": "EUR", "margin": 0.3},
        "readiness": {"min_repeat_customers": 50, "min_history_days": 180},
    }


def new_brand(folder: Path, seed: int = SEED) -> Brand:
    folder.mkdir(parents=True, exist_ok=True)
    orders, customers, campaign = base_frames(seed)
    return Brand(folder=folder, orders=orders, customers=customers, campaign=campaign, params=params_body(folder))


def write_frame(frame: pd.DataFrame, path: Path, **kwargs) -> None:
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d %H:%M:%S")
    out.to_csv(path, index=False, quoting=csv.QUOTE_MINIMAL, **kwargs)


def write_params(brand: Brand) -> Path:
    import yaml

    brand.params_path.write_text(yaml.safe_dump(brand.params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return brand.params_path


def write_all(brand: Brand, skip: tuple[str, ...] = ()) -> Path:
    """Write the frames that a case did not write itself, then the params."""
    for name, frame in (("orders", brand.orders), ("customers", brand.customers), ("campaign", brand.campaign)):
        if name not in skip and not (brand.folder / f"{name}.csv").exists():
            write_frame(frame, brand.folder / f"{name}.csv")
    return write_params(brand)


__all__ = ["Brand", "new_brand", "write_all", "write_frame", "write_params", "textwrap"]
