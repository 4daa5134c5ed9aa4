"""Synthetic "demo" brand: a seeded generator that plants known truth.

The demo brand is a tea & snacks company with app and mini-program orders (Parquet), an
offline POS export (GBK CSV, Chinese headers, money as text), a CRM customer list, service
tickets and coupon events, and one randomised win-back campaign. The generator plants

* the behaviour model: BG/NBD purchases and dropout (time unit: days), Gamma-Gamma spend;
* four driver effects on the second purchase, with their exact average effects;
* per-segment campaign uplift, computed from each customer's hidden alive state and rate;
* data faults with exact counts (duplicates, refunds, guests, late rows, money as text ...);

and writes all of it to ``truth.json`` beside the data, so notebook tests can check that the
workbook recovers it. The hidden per-customer state (rate, dropout, spend, first-repeat factor,
when the second purchase came and when the customer dropped out) goes to
``truth_customers.parquet``: :func:`customer_truth` computes from it every customer's true
P(alive), expected purchases and CLV at any period end, on the workbook's CLV conventions. Everything is vectorised over customers: the only Python loop runs over
the purchase *number* (1st, 2nd, 3rd ... purchase of every still-active customer at once), so
the cost grows with the number of orders, not with Python overhead per order.

Public API: :func:`generate`, :func:`ensure_demo_data`, :func:`load_truth`, :func:`customer_truth`,
:func:`write_brand`
(a brand of any size with its own params file: ``workbook generate``), :data:`GENERATOR_VERSION`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

GENERATOR_VERSION = 3
DEFAULT_N_CUSTOMERS = 3000
DEFAULT_SEED = 20250630

DATA_FILES = (
    "online_orders.parquet",
    "pos_orders.csv",
    "customers.csv",
    "interactions.csv",
    "campaign.csv",
)
TRUTH_FILE = "truth.json"
TRUTH_CUSTOMERS_FILE = "truth_customers.parquet"  # the hidden per-customer state: customer_truth() reads it
BRAND_PARAMS_FILE = "params.yaml"  # written by write_brand beside the data

# ---------------------------------------------------------------- time
# Model time is a float number of days since ORIGIN. It becomes a wall-clock timestamp only when
# written (_timestamps): same date, time of day squeezed into opening hours, floored to the second.
ORIGIN = np.datetime64("2023-01-01T00:00:00", "s")


def _day(date: str) -> float:
    return float((np.datetime64(date, "s") - ORIGIN) / np.timedelta64(1, "D"))


HORIZON = _day("2025-07-01")  # observation ends 2025-06-30 23:59:59
LATE_DAYS = 10.0  # the planted after-period-end rows fall on 2025-07-01 .. 2025-07-10
FAR = 1e9  # "never" for window bounds (finite, so interval arithmetic stays free of inf - inf)
OPEN_HOUR, CLOSE_HOUR = 8.0, 23.0  # written times fall in these hours (see _timestamps)

# ---------------------------------------------------------------- the planted model
PURCHASE = {"r": 0.45, "alpha": 15.0, "a": 0.6, "b": 1.0}  # BG/NBD, per day
SPEND = {"p": 6.0, "q": 4.0, "gamma": 75.0}  # Gamma-Gamma: mean order value p*gamma/(q-1) = 150
ACQUISITION_GROWTH = 0.6  # acquisition density rises linearly to 1.6x its starting level

DRIVER_BETAS = {
    "slow_delivery": -0.5,
    "unresolved_complaint": -0.7,
    "first_order_coupon": 0.3,
    "no_second_coupon_reminder": -0.9,
}
EFFECT_DAYS = (30, 60, 90)
P_FIRST_COUPON = 0.35  # online first orders only (the POS export has no coupon column)
P_TICKET = 0.08  # a first-order service ticket; slow delivery adds P_TICKET_IF_SLOW
P_TICKET_IF_SLOW = 0.20
P_RESOLVED = 0.55
P_REMINDER = 0.45  # randomised: who gets the second-order coupon reminder

CAMPAIGN = {
    "campaign_id": "spring_winback",
    # Early April, so the 30-day window closes inside May: the 2025-05 run's notebook 06 measures
    # the campaign and the 2025-06 run's plan uses that measured response (make demo's loop).
    "contact_date": "2025-04-08",
    "first_purchase_before": "2025-02-01",
    "designed_share": 0.8,
    "window_days": 30.0,
    "channel": "sms",
    "cost_per_treated_contact": 1.5,
    "offer": "20 off 100",
}
SEGMENTS = ("recent", "lapsing", "lapsed")  # recency at contact: <=60, 61-180, >180 days
SEGMENT_MULTIPLIER = np.array([1.3, 1.8, 2.5])

# ---------------------------------------------------------------- vocabularies
ACQ_CHANNELS = ("app", "mini_program", "store", "referral")
ACQ_CHANNEL_P = (0.35, 0.30, 0.25, 0.10)
ORDER_CHANNELS = ("app", "mini_program", "store")  # codes 0, 1 online; 2 = POS
REGIONS = ("华东", "华北", "华南", "西南", "华中")
REGION_P = (0.34, 0.22, 0.20, 0.12, 0.12)
STORES = (  # two per region, in REGIONS order
    "上海南京西路店", "杭州湖滨店", "北京三里屯店", "天津滨江道店", "广州天河店",
    "深圳万象城店", "成都太古里店", "重庆解放碑店", "武汉楚河汉街店", "长沙五一广场店",
)
MEMBER_LEVELS = ("normal", "silver", "gold")
MEMBER_P = (0.70, 0.22, 0.08)
CATEGORIES = ("绿茶", "红茶", "乌龙茶", "花草茶", "茶点", "礼盒")
CATEGORY_P = (0.24, 0.20, 0.16, 0.12, 0.18, 0.10)
DELIVERY_P = (0.08, 0.22, 0.25, 0.20, 0.11, 0.07, 0.04, 0.02, 0.01)  # 1..9 days; P(>=5) = 0.25
COUPONS = ("", "NEW15", "TEA10", "FULL100-20", "HOLIDAY30", "SPRING20")  # code 0 = none
COUPON_VALUE = np.array([0.0, 15.0, 10.0, 20.0, 30.0, 20.0])
POS_CURRENCY_SIGN = "￥"  # U+FFE5: GBK cannot encode the half-width ¥ (U+00A5)


# ================================================================ public API


def generate(out_dir: Path, *, n_customers: int = DEFAULT_N_CUSTOMERS, seed: int = DEFAULT_SEED) -> dict:
    """Write the demo brand's files and truth.json into ``out_dir``; return the truth.

    Same seed and size give byte-identical files."""
    if n_customers < 100:
        raise ValueError(f"n_customers must be at least 100 (got {n_customers})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # One independent stream per stage: changing one stage does not reshuffle the others.
    stages = ("customers", "first", "campaign", "purchases", "orders", "interactions", "faults")
    rng = dict(zip(stages, (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(stages))), strict=True))

    plan = _fault_plan(n_customers)
    cust = _draw_customers(rng["customers"], n_customers + plan["deleted_customers"])
    cust["kept"] = _kept_mask(rng["customers"], cust["t0"].size, plan["deleted_customers"])
    first = _first_order_experience(rng["first"], cust)
    camp = _campaign_assignment(rng["campaign"], cust)
    sim = _simulate_purchases(rng["purchases"], cust, first["eta"], camp)
    state = _contact_state(cust, camp, sim)
    orders = _order_attributes(rng["orders"], sim, cust, first, camp)

    outage = _outage_start(rng["faults"])
    online, online_faults = _online_orders(rng["faults"], orders, cust, plan, outage)
    pos, pos_faults = _pos_orders(rng["faults"], orders, cust, plan, outage)
    del orders
    inter = _interactions(rng["interactions"], cust, first, sim)
    buyers = np.concatenate([online["cust"].to_numpy(), pos["cust"].to_numpy()])
    without_orders = cust["kept"] & (np.bincount(buyers[buyers >= 0], minlength=cust["kept"].size) == 0)
    faults = {**online_faults, **pos_faults,
              "unknown_customer_interactions": int((~cust["kept"][inter["cust"].to_numpy()]).sum()),
              "customers_without_orders": int(without_orders.sum())}

    # Each file is written as soon as it is built (one output table in memory at a time);
    # truth.json comes last, so a folder without it is never mistaken for finished data.
    rows = {"online_orders": _write_parquet(out_dir / "online_orders.parquet", _online_table(online, cust))}
    del online
    rows["pos_orders"] = _write_csv(out_dir / "pos_orders.csv", _pos_table(pos, cust), encoding="gbk", quoted=("实付金额",))
    del pos
    rows["customers"] = _write_csv(out_dir / "customers.csv", _customer_table(rng["customers"], cust))
    rows["interactions"] = _write_csv(out_dir / "interactions.csv", _interaction_table(inter, cust))
    rows["campaign"] = _write_csv(out_dir / "campaign.csv", _campaign_table(cust, camp, state))
    _write_parquet(out_dir / TRUTH_CUSTOMERS_FILE, _hidden_state(cust, first, camp, state, sim))

    truth = _jsonable(_truth(n_customers=n_customers, seed=seed, cust=cust, first=first, camp=camp, sim=sim,
                             state=state, rows=rows, faults=faults, outage=outage))
    (out_dir / TRUTH_FILE).write_text(json.dumps(truth, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return truth


def ensure_demo_data(
    out_dir: Path | None = None, *, n_customers: int = DEFAULT_N_CUSTOMERS, seed: int = DEFAULT_SEED
) -> Path:
    """The demo data folder, generated if missing or made by another size, seed, generator
    version or generator source (see _source_fingerprint).

    Safe for concurrent callers: generation runs under an exclusive lock into a temporary
    sibling folder that is renamed into place when complete, so a half-written folder is never
    visible as the data; a caller that waited for the lock finds the data ready."""
    out_dir = Path(out_dir) if out_dir is not None else _default_dir()
    if _is_current(out_dir, n_customers, seed):
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(out_dir):
        if _is_current(out_dir, n_customers, seed):  # another process made it while we waited
            return out_dir
        _check_replaceable(out_dir)
        _remove_leftovers(out_dir)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
        try:
            generate(tmp, n_customers=n_customers, seed=seed)
            _swap_into_place(tmp, out_dir)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def load_truth(out_dir: Path | None = None) -> dict:
    """The planted truth written beside the demo data."""
    path = (Path(out_dir) if out_dir is not None else _default_dir()) / TRUTH_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: generate the demo data first (helpers.demo.ensure_demo_data)")
    return json.loads(path.read_text(encoding="utf-8"))


def write_brand(
    out_dir: Path,
    n_customers: int = DEFAULT_N_CUSTOMERS,
    seed: int | None = None,
    brand: str | None = None,
    *,
    reuse: bool = False,
) -> Path:
    """A synthetic brand of any size in ``out_dir``: the demo's files (:func:`generate`) and a
    ``params.yaml`` for them; returns the params file's path.

    The params are ``params/demo.yaml`` rewritten: brand ``brand`` (default
    ``synthetic_<n_customers>``), every source path the absolute path of the file in ``out_dir``
    (so the file works from any folder) and no ``demo:`` key (which would make the loader
    regenerate the bundled demo). Mapping and business assumptions stay the demo's. With
    ``reuse``, data already in ``out_dir`` from the same size, seed and generator version is
    kept (the params file is always rewritten). Raises ParamsError for an invalid brand name,
    before generating anything."""
    from pydantic import ValidationError

    from helpers import config  # lazily, like _default_dir: generate() needs no params

    seed = DEFAULT_SEED if seed is None else seed
    out_dir = Path(out_dir).resolve()
    target = out_dir / BRAND_PARAMS_FILE
    raw = _brand_params(out_dir, n_customers, seed, brand or f"synthetic_{n_customers}")
    try:
        config.Params.model_validate(raw)
    except ValidationError as exc:
        raise config.ParamsError(config._format_errors(target, exc)) from None
    if not (reuse and _has_brand_data(out_dir, n_customers, seed)):
        (out_dir / TRUTH_FILE).unlink(missing_ok=True)  # a killed run must not leave old truth beside new files
        generate(out_dir, n_customers=n_customers, seed=seed)
    header = (f"# Synthetic brand written by `workbook generate` (helpers.demo.write_brand): the demo\n"
              f"# generator at {n_customers:,} customers, seed {seed}; mapping and assumptions from\n"
              f"# params/demo.yaml. Source paths are absolute: move the folder, regenerate the file.\n")
    body = yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=100)
    config.atomic_write_text(target, header + body)
    params = config.load_params(target)
    for kind in ("orders", "customers", "interactions", "campaigns"):
        for spec in getattr(params.sources, kind):
            if not config.resolve_path(spec.path, params).is_file():
                raise FileNotFoundError(f"{target}: source {spec.name} points to {spec.path}, which is missing")
    return target


def _brand_params(out_dir: Path, n_customers: int, seed: int, brand: str) -> dict:
    """params/demo.yaml as a mapping, rewritten for the brand in ``out_dir``."""
    from helpers.config import PARAMS_DIR

    raw = yaml.safe_load((PARAMS_DIR / "demo.yaml").read_text(encoding="utf-8"))
    raw.pop("demo", None)
    raw["brand"] = brand
    raw["display_name"] = f"Synthetic tea brand ({n_customers:,} customers, seed {seed})"
    raw["description"] = (f"The demo generator at {n_customers:,} customers (seed {seed}), written to {out_dir}; "
                          "same sources, faults and planted truth (truth.json) as the demo brand.")
    for kind, specs in raw["sources"].items():
        for spec in specs:
            name = Path(spec["path"]).name
            if name not in DATA_FILES:
                raise ValueError(f"params/demo.yaml: {kind} source {spec.get('name')} reads {spec['path']}, "
                                 f"not one of the generator's files ({', '.join(DATA_FILES)})")
            spec["path"] = str(out_dir / name)
    return raw


def _has_brand_data(out_dir: Path, n_customers: int, seed: int) -> bool:
    """Complete generator output of this size, seed and generator version. Unlike the demo
    cache (_is_current) an edit of this module's source does not invalidate it: regenerating a
    benchmark's ten million orders for a docstring change is not worth it."""
    try:
        truth = json.loads((out_dir / TRUTH_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(truth, dict)
        and truth.get("generator_version") == GENERATOR_VERSION
        and truth.get("n_customers") == n_customers
        and truth.get("seed") == seed
        and all((out_dir / name).is_file() for name in (*DATA_FILES, TRUTH_CUSTOMERS_FILE))
    )


# ================================================================ customers and exposures


def _draw_customers(rng: np.random.Generator, n: int) -> dict:
    """Hidden parameters and CRM attributes; ids follow acquisition order like a CRM sequence."""
    g = ACQUISITION_GROWTH
    u = np.sort(rng.random(n))
    t0 = HORIZON * (np.sqrt(1.0 + g * (2.0 + g) * u) - 1.0) / g  # inverse CDF of density ∝ 1 + g t/H
    region = rng.choice(len(REGIONS), size=n, p=REGION_P)
    return {
        "t0": t0,
        "lam": np.maximum(rng.gamma(PURCHASE["r"], 1.0 / PURCHASE["alpha"], n), 1e-12),
        "p": rng.beta(PURCHASE["a"], PURCHASE["b"], n),
        "nu": rng.gamma(SPEND["q"], 1.0 / SPEND["gamma"], n),
        "acq_channel": rng.choice(len(ACQ_CHANNELS), size=n, p=ACQ_CHANNEL_P),
        "region": region,
        "home_store": region * 2 + rng.integers(0, 2, n),
        "member": rng.choice(len(MEMBER_LEVELS), size=n, p=MEMBER_P),
        "birth_year": np.clip(np.round(rng.normal(1990, 9, n)), 1955, 2006).astype(np.int64),
        "opted_out": rng.random(n) < 0.03,
        "id": _customer_ids(np.arange(1, n + 1)),
    }


def _customer_ids(numbers: np.ndarray) -> pa.Array:
    width = max(7, len(str(int(numbers.max())))) if numbers.size else 7
    digits = pc.utf8_lpad(pa.array(numbers).cast(pa.string()), width, "0")
    return pc.binary_join_element_wise("M", digits, "")


def _kept_mask(rng: np.random.Generator, n_total: int, n_deleted: int) -> np.ndarray:
    """Customers later deleted from the CRM export: their orders stay, their rows do not."""
    kept = np.ones(n_total, dtype=bool)
    kept[rng.choice(n_total, size=n_deleted, replace=False)] = False
    return kept


def _first_order_experience(rng: np.random.Generator, cust: dict) -> dict:
    """First-order channel and the binary driver factors, all observable in the data."""
    n = cust["t0"].size
    acq = cust["acq_channel"]
    online_pick = rng.integers(0, 2, n)  # app or mini program for store/referral customers
    store_at_pos = rng.random(n) < 0.9
    channel = np.select([acq == 0, acq == 1, acq == 2], [0, 1, np.where(store_at_pos, 2, online_pick)], online_pick)
    online = channel < 2
    delivery = _draw_delivery(rng, n)
    slow = online & (delivery >= 5)
    coupon = online & (rng.random(n) < P_FIRST_COUPON)
    ticket = rng.random(n) < P_TICKET + P_TICKET_IF_SLOW * slow  # slow parcels draw complaints
    resolved = rng.random(n) < P_RESOLVED
    reminded = rng.random(n) < P_REMINDER
    x = {
        "slow_delivery": slow,
        "unresolved_complaint": ticket & ~resolved,
        "first_order_coupon": coupon,
        "no_second_coupon_reminder": ~reminded,
    }
    eta = sum(beta * x[name] for name, beta in DRIVER_BETAS.items())
    return {"channel": channel, "delivery": delivery, "coupon": coupon, "ticket": ticket,
            "resolved": resolved, "reminded": reminded, "x": x, "eta": np.asarray(eta, dtype=float)}


def _draw_delivery(rng: np.random.Generator, n: int) -> np.ndarray:
    return (rng.choice(len(DELIVERY_P), size=n, p=DELIVERY_P) + 1).astype(np.float32)


def _campaign_assignment(rng: np.random.Generator, cust: dict) -> dict:
    """Eligible = CRM customers who can be contacted and bought before the cut-off; alive or
    not (the analyst cannot see that). Bernoulli assignment, so the split is only near 80/20."""
    n = cust["t0"].size
    eligible = cust["kept"] & ~cust["opted_out"] & (cust["t0"] < _day(CAMPAIGN["first_purchase_before"]))
    treated = eligible & (rng.random(n) < CAMPAIGN["designed_share"])
    # 10:00-14:00 on the wall clock (model time of day maps onto 08:00-23:00)
    contact = _day(CAMPAIGN["contact_date"]) + (10.0 + 4.0 * rng.random(n) - OPEN_HOUR) / (CLOSE_HOUR - OPEN_HOUR)
    return {"eligible": eligible, "treated": treated, "contact": np.where(eligible, contact, FAR)}


def _segment(contact: np.ndarray, last_purchase: np.ndarray) -> np.ndarray:
    """0 recent, 1 lapsing, 2 lapsed by calendar days from the last purchase date to the contact
    date (<=60, 61-180, >180): dates survive the wall-clock mapping, so analysts can redo it."""
    days = np.floor(contact) - np.floor(last_purchase)
    return np.where(days <= 60, 0, np.where(days <= 180, 1, 2))


# ================================================================ purchase simulation


def _simulate_purchases(rng: np.random.Generator, cust: dict, eta: np.ndarray, camp: dict) -> dict:
    """BG/NBD with the planted modifications, one purchase number at a time for all customers.

    After every purchase a customer drops out with probability p_i; otherwise the next purchase
    comes after an exponential wait at rate lam_i (lam_i * exp(eta_i) for the first repeat),
    multiplied by the segment factor while a treated customer is inside the campaign window."""
    n = cust["t0"].size
    lam, p = cust["lam"], cust["p"]
    treated, contact = camp["treated"], camp["contact"]
    w0 = np.where(treated, contact, FAR)
    w1 = np.where(treated, contact + CAMPAIGN["window_days"], FAR)
    mult = np.ones(n)
    dead_at = np.full(n, np.inf)  # time of the purchase after which the customer dropped out
    same_day = np.zeros(n, dtype=np.int32)  # repeat purchases on the day of the previous one
    idx, t = np.arange(n, dtype=np.int32), cust["t0"].copy()
    parts_c, parts_t, parts_k = [idx], [t], [np.ones(n, dtype=np.int32)]
    k = 1
    while idx.size:
        drop = rng.random(idx.size) < p[idx]
        dead_at[idx[drop]] = t[drop]
        idx, t = idx[~drop], t[~drop]
        # The segment is fixed by the last purchase before contact: while a treated customer's
        # current purchase is before contact, it defines the multiplier for the window.
        pre = treated[idx] & (t < contact[idx])
        mult[idx[pre]] = SEGMENT_MULTIPLIER[_segment(contact[idx[pre]], t[pre])]
        rate = lam[idx] * (np.exp(eta[idx]) if k == 1 else 1.0)
        t_next = _next_purchase(t, rng.standard_exponential(idx.size), rate, mult[idx], w0[idx], w1[idx])
        keep = t_next < HORIZON
        same_day[idx[keep & (np.floor(t_next) == np.floor(t))]] += 1
        idx, t = idx[keep], t_next[keep]
        k += 1
        parts_c.append(idx)
        parts_t.append(t)
        parts_k.append(np.full(idx.size, k, dtype=np.int32))
    return {"cust": np.concatenate(parts_c), "t": np.concatenate(parts_t),
            "k": np.concatenate(parts_k), "dead_at": dead_at, "same_day": same_day}


def _next_purchase(t, e, rate, mult, w0, w1):
    """Invert the cumulative hazard of a rate that is ``rate`` outside [w0, w1) and
    ``rate * mult`` inside it, starting from t with a unit-exponential budget e."""
    before = np.maximum(w0 - t, 0.0)
    start = np.maximum(t, w0)
    inside = np.maximum(w1 - start, 0.0)
    h_before, h_inside = rate * before, rate * mult * inside
    out = t + e / rate
    in_window = (e > h_before) & (e <= h_before + h_inside)
    out = np.where(in_window, start + (e - h_before) / (rate * mult), out)
    after = e > h_before + h_inside
    return np.where(after, start + inside + (e - h_before - h_inside) / rate, out)


def _order_attributes(rng: np.random.Generator, sim: dict, cust: dict, first: dict, camp: dict) -> pd.DataFrame:
    """Channel, amount, category, coupon, delivery and store of every simulated purchase."""
    c, t, k = sim["cust"], sim["t"], sim["k"]
    m = c.size
    is_first = k == 1
    stay = rng.random(m) < 0.75  # later orders mostly stay on the first order's channel
    channel = _small(rng.choice(3, size=m, p=(0.4, 0.3, 0.3)))
    channel = np.where(is_first | stay, first["channel"][c].astype(np.int8), channel)
    del stay
    amount = _spend(rng, cust["nu"][c])
    delivery = np.where(is_first, first["delivery"][c], _draw_delivery(rng, m)).astype(np.float32)
    later_coupon = np.where(rng.random(m) < 0.15, rng.integers(2, 5, m, dtype=np.int8), np.int8(0))
    coupon = np.where(is_first, first["coupon"][c].astype(np.int8), later_coupon)
    del later_coupon, is_first
    contact = camp["contact"][c]
    in_window = camp["treated"][c] & (t >= contact) & (t < contact + CAMPAIGN["window_days"])
    del contact
    coupon = np.where(in_window & (amount >= 100) & (rng.random(m) < 0.6), np.int8(5), coupon)  # the "20 off 100"
    coupon[channel == 2] = 0  # the POS export has no coupon column
    store = np.where(rng.random(m) < 0.85, cust["home_store"][c], rng.integers(0, len(STORES), m)).astype(np.int8)
    return pd.DataFrame({
        "cust": c, "t": t, "k": k, "channel": channel, "amount": amount,
        "category": _small(rng.choice(len(CATEGORIES), size=m, p=CATEGORY_P)),
        "coupon": coupon, "delivery": delivery, "store": store,
    })


def _small(codes: np.ndarray) -> np.ndarray:
    """Category codes as int8: at 10M+ orders the order frame is a third of its int64 size."""
    return codes.astype(np.int8)


def _spend(rng: np.random.Generator, nu: np.ndarray) -> np.ndarray:
    """Gamma-Gamma order value, in yuan; the 1.00 floor keeps rounding from making a 0.00 order."""
    return np.maximum(np.round(rng.gamma(SPEND["p"], 1.0 / nu), 2), 1.0)


def _random_times(rng: np.random.Generator, n: int) -> np.ndarray:
    """Times following the acquisition trend (for guest orders)."""
    g = ACQUISITION_GROWTH
    return HORIZON * (np.sqrt(1.0 + g * (2.0 + g) * rng.random(n)) - 1.0) / g


# ================================================================ faults


def _fault_plan(n_customers: int) -> dict:
    """How many faulty rows of each kind to plant: proportional to size, at least 3 each."""
    scale = n_customers / DEFAULT_N_CUSTOMERS

    def count(at_default: int) -> int:
        return max(3, int(round(at_default * scale)))

    return {
        "exact_duplicate_rows": count(30), "conflicting_duplicate_ids": count(12),
        "refund_rows": count(60), "zero_amount_rows": count(6), "outliers": count(5),
        "guest_online": count(30), "guest_pos": count(24),
        "after_online": count(15), "after_pos": count(9), "deleted_customers": count(30),
        "money_as_text_rows": count(60), "unparseable_amount_rows": count(9),
    }


def _mean_order_value() -> float:
    return SPEND["p"] * SPEND["gamma"] / (SPEND["q"] - 1)


def _outage_start(rng: np.random.Generator) -> float:
    """Three consecutive March-2024 days lost from the online export."""
    return _day("2024-03-04") + float(rng.integers(0, 22))


def _avoid_outage(t: np.ndarray, outage: float) -> np.ndarray:
    hit = (t >= outage) & (t < outage + 3.0)
    return np.where(hit, t + 3.0, t)


def _extra_orders(rng, cust, who, t, channel) -> pd.DataFrame:
    """Normal-looking orders for planted faults (guests: who = -1, spend from the prior)."""
    n = who.size
    known = np.maximum(who, 0)
    nu = np.where(who >= 0, cust["nu"][known], rng.gamma(SPEND["q"], 1.0 / SPEND["gamma"], n))
    store = np.where(who >= 0, cust["home_store"][known], rng.integers(0, len(STORES), n))
    return pd.DataFrame({
        "cust": who.astype(np.int32), "t": t, "k": np.zeros(n, dtype=np.int32), "channel": _small(channel),
        "amount": _spend(rng, nu), "category": _small(rng.choice(len(CATEGORIES), size=n, p=CATEGORY_P)),
        "coupon": np.zeros(n, dtype=np.int8), "delivery": _draw_delivery(rng, n), "store": _small(store),
    })


def _some_crm_customers(rng, cust, n) -> np.ndarray:
    return rng.choice(np.flatnonzero(cust["kept"]), size=n, replace=True)


def _crm_rows(df: pd.DataFrame, cust: dict) -> np.ndarray:
    """Rows whose buyer is in the CRM export (not a guest, not a deleted customer)."""
    c = df["cust"].to_numpy()
    return (c >= 0) & cust["kept"][np.maximum(c, 0)]


def _online_orders(rng, orders, cust, plan, outage) -> tuple[pd.DataFrame, dict]:
    """App and mini-program orders with their planted faults, sorted by time."""
    clean = orders[orders["channel"] < 2]
    lost = ((clean["t"] >= outage) & (clean["t"] < outage + 3.0)).to_numpy()
    clean = clean[~lost].assign(fault="")

    n_guest = plan["guest_online"]
    guests = _extra_orders(rng, cust, np.full(n_guest, -1), _avoid_outage(_random_times(rng, n_guest), outage),
                           rng.integers(0, 2, n_guest)).assign(fault="guest")
    who = _some_crm_customers(rng, cust, plan["zero_amount_rows"])  # test orders on real accounts
    when = _avoid_outage(cust["t0"][who] + rng.random(who.size) * (HORIZON - cust["t0"][who]), outage)
    zero = _extra_orders(rng, cust, who, when, np.zeros(who.size, dtype=int)).assign(amount=0.0, fault="zero")
    who = _some_crm_customers(rng, cust, plan["after_online"])
    late = _extra_orders(rng, cust, who, HORIZON + LATE_DAYS * rng.random(who.size),
                         rng.integers(0, 2, who.size)).assign(fault="after")

    df = pd.concat([clean, guests, zero, late], ignore_index=True)
    df = df.sort_values("t", kind="stable", ignore_index=True)
    df["oid"] = np.arange(100_000_001, 100_000_001 + len(df))
    df["refund"] = False

    # Faulty copies and refunds are drawn without overlap from clean orders of CRM customers,
    # at least 25 days before the data end so that a refund dated after them still falls inside.
    pool = np.flatnonzero((df["fault"] == "").to_numpy() & _crm_rows(df, cust) & (df["t"] < HORIZON - 25).to_numpy())
    sizes = [plan["refund_rows"], plan["outliers"], plan["exact_duplicate_rows"], plan["conflicting_duplicate_ids"]]
    picked = [np.sort(x) for x in np.split(rng.choice(pool, size=sum(sizes), replace=False), np.cumsum(sizes)[:-1])]
    refund_src, outliers, dup_src, conflict_src = picked

    # Wholesale-size: 40-80x the customer's usual spend, and never below 40x the brand's mean
    # order value, so they stand out from everyone's orders, not just from a light buyer's.
    usual = np.maximum(SPEND["p"] / cust["nu"][df["cust"].to_numpy()[outliers]], _mean_order_value())
    df.loc[outliers, "amount"] = np.round(usual * rng.uniform(40, 80, outliers.size), 2)
    df.loc[outliers, "fault"] = "outlier"

    refunds = _refunds(rng, df.loc[refund_src], outage)
    dups = df.loc[dup_src].assign(fault="duplicate")
    conflicts = _conflicting_copies(rng, df.loc[conflict_src])

    df = pd.concat([df, refunds, dups, conflicts], ignore_index=True)
    df = df.sort_values("t", kind="stable", ignore_index=True)  # a copy lands right after its original
    unknown = (df["cust"].to_numpy() >= 0) & ~_crm_rows(df, cust)
    faults = {
        "exact_duplicate_rows": len(dups),
        "conflicting_duplicate_ids": len(conflicts),
        "refund_rows": len(refunds),
        "zero_amount_rows": len(zero),
        "guest_online": len(guests),
        "after_online": len(late),
        "outlier_order_ids": sorted(f"W{oid}" for oid in df.loc[df["fault"] == "outlier", "oid"]),
        "unknown_online_orders": int(unknown.sum()),
        "unknown_online_ids": np.unique(df["cust"].to_numpy()[unknown]),
        "outage_lost_online_orders": int(lost.sum()),
    }
    return df, faults


def _refunds(rng, src: pd.DataFrame, outage: float) -> pd.DataFrame:
    """A refund of part or all of an earlier order, 1-20 days later, with its own WR id."""
    ref = src.copy()
    share = np.where(rng.random(len(ref)) < 0.5, 1.0, rng.uniform(0.2, 0.8, len(ref)))
    ref["amount"] = -np.maximum(np.round(ref["amount"].to_numpy() * share, 2), 0.01)
    ref["t"] = _avoid_outage(ref["t"].to_numpy() + rng.uniform(1.0, 20.0, len(ref)), outage)
    ref = ref.sort_values("t", kind="stable")
    ref["oid"] = np.arange(10_000_001, 10_000_001 + len(ref))
    return ref.assign(refund=True, coupon=np.int8(0), delivery=np.float32(np.nan), fault="refund")


def _conflicting_copies(rng, src: pd.DataFrame) -> pd.DataFrame:
    """Same order id and columns, a different amount (a re-sent record after a price edit)."""
    copy = src.copy()
    n = len(copy)
    factor = np.where(rng.random(n) < 0.5, rng.uniform(0.5, 0.9, n), rng.uniform(1.1, 1.6, n))
    copy["amount"] = np.maximum(np.round(copy["amount"].to_numpy() * factor, 2), 1.0)
    copy = copy[copy["amount"].to_numpy() != src["amount"].to_numpy()]  # guard against a tiny order
    return copy.assign(fault="conflict")


AMOUNT_PLAIN, AMOUNT_MONEY_TEXT, AMOUNT_NA, AMOUNT_PENDING = 0, 1, 2, 3


def _pos_orders(rng, orders, cust, plan, outage) -> tuple[pd.DataFrame, dict]:
    """Store orders with guests, late rows and amounts written as text; the POS has orders on
    each online outage day (at least a guest's), whatever the size."""
    clean = orders[orders["channel"] == 2].assign(fault="")
    n_guest = plan["guest_pos"]
    when = _random_times(rng, n_guest)
    when[:3] = outage + np.arange(3) + rng.random(3)  # the stores kept selling while the web export was down
    guests = _extra_orders(rng, cust, np.full(n_guest, -1), when, np.full(n_guest, 2)).assign(fault="guest")
    who = _some_crm_customers(rng, cust, plan["after_pos"])
    late = _extra_orders(rng, cust, who, HORIZON + LATE_DAYS * rng.random(who.size),
                         np.full(who.size, 2)).assign(fault="after")
    df = pd.concat([clean, guests, late], ignore_index=True)
    df = df.sort_values("t", kind="stable", ignore_index=True)
    df["oid"] = np.arange(200_000_001, 200_000_001 + len(df))
    df["amount_kind"] = AMOUNT_PLAIN

    pool = np.flatnonzero((df["fault"] == "").to_numpy() & _crm_rows(df, cust) & (df["t"] < HORIZON).to_numpy())
    n_text, n_bad = plan["money_as_text_rows"], plan["unparseable_amount_rows"]
    big = pool[df["amount"].to_numpy()[pool] >= 1000]  # a third of them, so thousands separators occur
    text_big = rng.choice(big, size=min(big.size, n_text // 3), replace=False)
    others = rng.choice(np.setdiff1d(pool, text_big), size=n_text - text_big.size + n_bad, replace=False)
    text_rows = np.concatenate([text_big, others[: n_text - text_big.size]])
    bad_rows = others[n_text - text_big.size:]
    df.loc[text_rows, ["amount_kind", "fault"]] = [AMOUNT_MONEY_TEXT, "money_text"]
    df.loc[bad_rows, "amount_kind"] = np.where(rng.random(bad_rows.size) < 0.5, AMOUNT_NA, AMOUNT_PENDING)
    df.loc[bad_rows, "fault"] = "unparseable"

    unknown = (df["cust"].to_numpy() >= 0) & ~_crm_rows(df, cust)
    faults = {
        "guest_pos": len(guests), "after_pos": len(late),
        "money_as_text_rows": int(text_rows.size),
        "unparseable_amount_rows": int(bad_rows.size),
        "unknown_pos_orders": int(unknown.sum()),
        "unknown_pos_ids": np.unique(df["cust"].to_numpy()[unknown]),
    }
    return df, faults


# ================================================================ interactions, campaign, CRM


def _interactions(rng, cust, first, sim) -> pd.DataFrame:
    """Coupon issue/reminder after the first order, service tickets with response hours and
    satisfaction scores. Only first-order tickets fall within 14 days of the first order."""
    n = cust["t0"].size
    t0 = cust["t0"]
    issued = t0 + 0.1 + 2.4 * rng.random(n)  # within 3 days even after the wall-clock mapping (< 0.375 d)
    reminder = issued + 9.0 + 2.0 * rng.random(n)
    first_ticket = t0 + 0.5 + 9.5 * rng.random(n)

    later = sim["k"] >= 2  # occasional tickets about later orders, kept out of the 14-day window
    lc = sim["cust"][later]
    lt = sim["t"][later] + 0.5 + 9.5 * rng.random(lc.size)
    keep = (rng.random(lc.size) < 0.04) & (lt > t0[lc] + 15.0)  # 15: wall-clock mapping moves < 1 day
    lc, lt = lc[keep], lt[keep]

    tk = np.flatnonzero(first["ticket"])
    t_cust = np.concatenate([tk, lc])
    t_time = np.concatenate([first_ticket[tk], lt])
    resolved = np.concatenate([first["resolved"][tk], rng.random(lc.size) < 0.7])
    m = t_cust.size
    hours = np.where(resolved, np.exp(rng.normal(np.log(6.0), 0.8, m)), np.exp(rng.normal(np.log(30.0), 0.7, m)))
    rated = rng.random(m) < 0.7
    score = 1 + np.where(resolved, rng.choice(5, size=m, p=(0.05, 0.10, 0.20, 0.35, 0.30)),
                         rng.choice(5, size=m, p=(0.35, 0.30, 0.20, 0.10, 0.05)))
    score_time = t_time + 0.2 + 2.0 * rng.random(m)

    rm = np.flatnonzero(first["reminded"])
    df = pd.concat([
        _events(np.arange(n), issued, "coupon_issued"),
        _events(rm, reminder[rm], "coupon_reminder"),
        _events(t_cust, t_time, "ticket", value=np.round(np.maximum(hours, 0.1), 1), resolved=resolved),
        _events(t_cust[rated], score_time[rated], "satisfaction", value=score[rated].astype(float)),
    ], ignore_index=True)
    df = df[(df["t"] < HORIZON).to_numpy()]  # nothing after the data end
    return df.sort_values(["t", "cust"], kind="stable", ignore_index=True)


def _events(cust_idx, t, kind, value=None, resolved=None) -> pd.DataFrame:
    n = cust_idx.size
    return pd.DataFrame({
        "cust": cust_idx, "t": t, "kind": kind,
        "value": np.full(n, np.nan) if value is None else value,
        "resolved": np.full(n, -1) if resolved is None else resolved.astype(int),  # -1 = empty
    })


def _contact_state(cust, camp, sim) -> dict:
    """Hidden state of every customer at their contact time: segment, alive, purchases so far."""
    n = cust["t0"].size
    c, t = sim["cust"], sim["t"]
    before = t < camp["contact"][c]
    last = np.full(n, -np.inf)
    np.maximum.at(last, c[before], t[before])
    return {
        "segment": _segment(camp["contact"], last),
        "alive": sim["dead_at"] > camp["contact"],
        "n_before": np.bincount(c[before], minlength=n),
    }


# ================================================================ output tables


def _labels(vocab, codes) -> pa.Array:
    return pa.array(list(vocab), pa.string()).take(pa.array(np.asarray(codes, dtype=np.int64)))


def _customer_id_column(cust: dict, c: np.ndarray) -> pa.Array:
    ids = cust["id"].take(pa.array(np.maximum(c, 0)))
    return pc.if_else(pa.array(c < 0), pa.scalar(None, pa.string()), ids)


def _timestamps(t: np.ndarray) -> pa.Array:
    """Model time -> wall-clock timestamps. Each day's 24 model hours are squeezed into opening
    hours 08:00-23:00: the date never changes and every event keeps its order (the map is
    monotone and applied to every written time), while shops stop selling at 3 a.m."""
    day = np.floor(t)
    wall = day + (OPEN_HOUR + (CLOSE_HOUR - OPEN_HOUR) * (t - day)) / 24.0
    seconds = np.floor(wall * 86400.0).astype(np.int64)
    return pa.array(ORIGIN + seconds.astype("timedelta64[s]"))


def _prefixed(prefix, numbers) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pa.array(np.asarray(numbers, dtype=np.int64)).cast(pa.string()), "")


def _online_table(df: pd.DataFrame, cust: dict) -> pa.Table:
    refund = df["refund"].to_numpy()
    coupon = df["coupon"].to_numpy()
    return pa.table({
        "order_id": pc.if_else(pa.array(refund), _prefixed("WR", df["oid"]), _prefixed("W", df["oid"])),
        "customer_id": _customer_id_column(cust, df["cust"].to_numpy()),
        "order_time": _timestamps(df["t"].to_numpy()).cast(pa.timestamp("us")),
        "amount": pa.array(df["amount"].to_numpy(), pa.float64()),
        "channel": _labels(ORDER_CHANNELS, df["channel"]),
        "category": _labels(CATEGORIES, df["category"]),
        "coupon_id": _labels((None, *COUPONS[1:]), coupon),
        "delivery_days": pa.array(df["delivery"].to_numpy(dtype=np.float64), from_pandas=True),
        "status": _labels(("completed", "refunded"), refund.astype(int)),
        "discount": pa.array(COUPON_VALUE[coupon], pa.float64()),
    })


def _pos_table(df: pd.DataFrame, cust: dict) -> pa.Table:
    return pa.table({
        "订单号": _prefixed("S", df["oid"]),
        "会员ID": _customer_id_column(cust, df["cust"].to_numpy()),
        "下单时间": _timestamps(df["t"].to_numpy()),
        "实付金额": _amount_text(df["amount"].to_numpy(), df["amount_kind"].to_numpy()),
        "门店": _labels(STORES, df["store"]),
        "品类": _labels(CATEGORIES, df["category"]),
    })


def _amount_text(amount: np.ndarray, kind: np.ndarray) -> pa.Array:
    """"123.40" normally; "￥1,234.50" for money-as-text rows; "N/A" / "待定" when unparseable."""
    cents = np.round(amount * 100).astype(np.int64)
    whole, frac = cents // 100, cents % 100
    frac_text = pc.utf8_lpad(pa.array(frac).cast(pa.string()), 2, "0")
    plain = pc.binary_join_element_wise(pa.array(whole).cast(pa.string()), frac_text, ".")
    money = pc.binary_join_element_wise(POS_CURRENCY_SIGN, pc.binary_join_element_wise(_group_thousands(whole), frac_text, "."), "")
    text = pc.if_else(pa.array(kind == AMOUNT_MONEY_TEXT), money, plain)
    text = pc.if_else(pa.array(kind == AMOUNT_NA), pa.scalar("N/A"), text)
    return pc.if_else(pa.array(kind == AMOUNT_PENDING), pa.scalar("待定"), text)


def _group_thousands(whole: np.ndarray) -> pa.Array:
    """1234567 -> "1,234,567", built group by group from the top (a loop over digit groups)."""
    text = pa.nulls(whole.size, pa.string())
    n_groups = max(1, len(str(int(whole.max())))) // 3 + 1 if whole.size else 1
    for i in reversed(range(n_groups)):
        group = pa.array((whole // 1000**i) % 1000).cast(pa.string())
        higher = pa.array(whole >= 1000 ** (i + 1))
        starts_here = pa.array((whole >= 1000**i) | (i == 0))
        continued = pc.binary_join_element_wise(text, pc.utf8_lpad(group, 3, "0"), ",")
        text = pc.if_else(higher, continued, pc.if_else(starts_here, group, text))
    return text


def _interaction_table(df: pd.DataFrame, cust: dict) -> pa.Table:
    kind = df["kind"].to_numpy()
    value = df["value"].to_numpy()
    hours = _one_decimal(value)
    score = pa.array(np.nan_to_num(value).astype(np.int64)).cast(pa.string())
    value_text = pc.if_else(pa.array(kind == "ticket"), hours,
                            pc.if_else(pa.array(kind == "satisfaction"), score, pa.scalar(None, pa.string())))
    resolved = df["resolved"].to_numpy()
    return pa.table({
        "customer_id": _customer_id_column(cust, df["cust"].to_numpy()),
        "ts": _timestamps(df["t"].to_numpy()),
        "kind": pa.array(kind.astype(str)),
        "value": value_text,
        "resolved": pc.if_else(pa.array(resolved < 0), pa.scalar(None, pa.string()),
                               _labels(("false", "true"), np.maximum(resolved, 0))),
    })


def _one_decimal(x: np.ndarray) -> pa.Array:
    tenths = np.round(np.nan_to_num(x) * 10).astype(np.int64)
    return pc.binary_join_element_wise(pa.array(tenths // 10).cast(pa.string()),
                                       pa.array(tenths % 10).cast(pa.string()), ".")


def _campaign_table(cust, camp, state) -> pa.Table:
    e = np.flatnonzero(camp["eligible"])
    treated = camp["treated"][e]
    cost = np.where(treated, CAMPAIGN["cost_per_treated_contact"], 0.0)
    return pa.table({
        "campaign_id": pa.array(np.full(e.size, CAMPAIGN["campaign_id"])),
        "customer_id": _customer_id_column(cust, e),
        "group": _labels(("control", "treatment"), treated.astype(int)),
        "contact_ts": _timestamps(camp["contact"][e]),
        "channel": pa.array(np.full(e.size, CAMPAIGN["channel"])),
        "cost": _amount_text(cost, np.zeros(e.size, dtype=int)),
        "offer": _labels((None, CAMPAIGN["offer"]), treated.astype(int)),
        "designed_share": _labels((f"{1 - CAMPAIGN['designed_share']:.1f}", f"{CAMPAIGN['designed_share']:.1f}"),
                                  treated.astype(int)),
        "segment": _labels(SEGMENTS, state["segment"][e]),
    })


def _customer_table(rng, cust) -> pa.Table:
    keep = np.flatnonzero(cust["kept"])
    first_day = np.floor(cust["t0"][keep]).astype(np.int64)
    signup_day = first_day - rng.choice(4, size=keep.size, p=(0.7, 0.15, 0.1, 0.05))  # then, or a bit before
    return pa.table({
        "customer_id": _customer_id_column(cust, keep),
        "signup_date": pa.array(ORIGIN.astype("datetime64[D]") + signup_day.astype("timedelta64[D]")).cast(pa.string()),
        "acquisition_channel": _labels(ACQ_CHANNELS, cust["acq_channel"][keep]),
        "region": _labels(REGIONS, cust["region"][keep]),
        "member_level": _labels(MEMBER_LEVELS, cust["member"][keep]),
        "birth_year": pa.array(cust["birth_year"][keep]).cast(pa.string()),
        "opted_out": _labels(("false", "true"), cust["opted_out"][keep].astype(int)),
    })


# ================================================================ truth


def _truth(*, n_customers, seed, cust, first, camp, sim, state, rows, faults, outage) -> dict:
    outage_days = [str(ORIGIN.astype("datetime64[D]") + np.timedelta64(int(outage) + i, "D")) for i in range(3)]
    return {
        "generator_version": GENERATOR_VERSION,
        "generator_fingerprint": _source_fingerprint(),
        "seed": seed,
        "n_customers": n_customers,
        "data_end": "2025-06-30",
        "data_end_ts": "2025-06-30 23:59:59",
        "period_end": "2025-06-30",
        "latest_complete_month": "2025-06",
        "acquisition_window": ["2023-01-01", "2025-06-30"],
        "currency": "CNY",
        "time_unit": "days",
        "purchase_model": {
            "model": "BG/NBD", **PURCHASE, "time_unit": "days",
            "note": "lambda_i ~ Gamma(shape=r, rate=alpha) purchases per day; p_i ~ Beta(a, b), the chance to "
                    "drop out after every purchase including the first. The driver effects scale the first "
                    "repeat interval and the campaign scales rates in its window, so a plain BG/NBD fit "
                    "recovers these only approximately.",
        },
        "spend_model": {
            "model": "Gamma-Gamma", **SPEND, "mean_order_value": _mean_order_value(),
            "note": "nu_i ~ Gamma(shape=q, rate=gamma); each amount ~ Gamma(shape=p, rate=nu_i): the amount paid "
                    "after any discount, rounded to 0.01 with a floor of 1.00. The discount column is informational.",
        },
        "realised": _realised(cust, sim),
        "second_purchase": _second_purchase_truth(cust, first),
        "drivers": _driver_truth(cust, first),
        "campaign": _campaign_truth(cust, first, camp, state),
        "customers": {
            "file": TRUTH_CUSTOMERS_FILE,
            "columns": "customer_id, in_crm, first_purchase_day, lam, p, nu, eta, second_purchase_day, dropout_day, "
                       "purchases, treated, contact_day, window_multiplier (days since 2023-01-01; NaN: never)",
            "compute": "helpers.demo.customer_truth(period_end, settings)",
            "definition": CUSTOMER_TRUTH_DEFINITION,
        },
        "faults": _fault_truth(faults, outage_days),
        "total_rows_by_source": rows,
        "files": {
            "online_orders.parquet": "Parquet; order_time timestamp[us]; delivery_days null on refunds",
            "pos_orders.csv": "GBK-encoded CSV with Chinese headers; 实付金额 is text; the planted currency sign is "
                              f"{POS_CURRENCY_SIGN} (U+FFE5 fullwidth: GBK cannot encode U+00A5)",
            "customers.csv": "UTF-8 CSV",
            "interactions.csv": "UTF-8 CSV; value = response hours (ticket) or score 1-5 (satisfaction)",
            "campaign.csv": "UTF-8 CSV",
        },
        "attributes_without_effect": [
            "region", "member_level", "birth_year", "acquisition_channel", "opted_out", "category", "store",
            "resolved tickets", "satisfaction", "response hours",
        ],
    }


def _realised(cust, sim) -> dict:
    kept = cust["kept"]
    counts = np.bincount(sim["cust"], minlength=kept.size)[kept]
    return {
        "note": "sample values of the simulation among CRM customers, before faults and the outage",
        "orders": int(counts.sum()),
        "mean_orders_per_customer": float(counts.mean()),
        "repeat_customer_share": float((counts >= 2).mean()),
        "alive_at_data_end_share": float(np.isinf(sim["dead_at"][kept]).mean()),
        "mean_lambda_per_day": float(cust["lam"][kept].mean()),
        "mean_p": float(cust["p"][kept].mean()),
        "mean_expected_order_value": float((SPEND["p"] / cust["nu"][kept]).mean()),
        "same_day_repeat_purchases": int(sim["same_day"][kept].sum()),
    }


def _p_second(cust, eta, days):
    """P(second purchase within `days` of the first), uncensored: survive the first dropout,
    then an exponential wait at the first-repeat rate."""
    return (1.0 - cust["p"]) * -np.expm1(-cust["lam"] * np.exp(eta) * days)


def _second_purchase_truth(cust, first) -> dict:
    kept = cust["kept"]
    return {
        "definition": "mean over CRM customers of (1 - p_i) * (1 - exp(-lambda_i * exp(eta_i) * N)) with each "
                      "customer's own driver exposures; uncensored (ignores the data end); ignores the campaign, "
                      "which touches few first repeats. Same-day second purchases count.",
        "expected_share": {str(d): float(_p_second(cust, first["eta"], d)[kept].mean()) for d in EFFECT_DAYS},
    }


def _driver_truth(cust, first) -> dict:
    kept = cust["kept"]
    eta = first["eta"]
    out = {}
    for name, beta in DRIVER_BETAS.items():
        x = first["x"][name]
        eta_on, eta_off = eta + beta * (~x), eta - beta * x  # this factor set to 1 / to 0, others as they are
        out[name] = {
            "beta": beta,
            "exposed_share": float(x[kept].mean()),
            "effect": {str(d): float((_p_second(cust, eta_on, d) - _p_second(cust, eta_off, d))[kept].mean())
                       for d in EFFECT_DAYS},
        }
    out["definition"] = (
        "effect[N] = mean over CRM customers of P(second purchase within N days | factor=1) - P(... | factor=0), "
        "P = (1 - p_i) * (1 - exp(-lambda_i * exp(eta_i) * N)), the other factors as they are; uncensored. "
        "The factors act on the first repeat interval only. slow_delivery: first order online with "
        "delivery_days >= 5; unresolved_complaint: a ticket within 14 days after the first order with "
        "resolved=false; first_order_coupon: the first (online) order has a coupon_id; "
        "no_second_coupon_reminder: no coupon_reminder event after the coupon_issued one (randomised). "
        "Slow delivery raises the chance of a ticket, so those two are correlated."
    )
    return out


def _campaign_truth(cust, first, camp, state) -> dict:
    e = np.flatnonzero(camp["eligible"])
    seg = state["segment"][e]
    alive = state["alive"][e].astype(float)
    waiting_for_second = state["n_before"][e] == 1
    rate = cust["lam"][e] * np.where(waiting_for_second, np.exp(first["eta"][e]), 1.0)
    window = CAMPAIGN["window_days"]
    mult = SEGMENT_MULTIPLIER[seg]
    p_treated = alive * -np.expm1(-rate * mult * window)
    p_control = alive * -np.expm1(-rate * window)
    # Expected purchases inside the window under each arm, dropout after every purchase and the
    # first-repeat rate giving way to lambda_i after the second purchase included (_expected_purchases).
    stage1 = waiting_for_second & state["alive"][e]
    second_alive = ~waiting_for_second & state["alive"][e]
    lam, p_drop, eta = cust["lam"][e], cust["p"][e], first["eta"][e]
    contact = camp["contact"][e]
    arms = [_expected_purchases(contact, np.array([window]), lam=lam, p=p_drop, eta=eta, stage1=stage1,
                                stage2=second_alive, w0=contact, w1=contact + window, mult=m)[:, 0]
            for m in (mult, np.ones_like(mult))]
    extra_purchases = arms[0] - arms[1]
    extra_revenue = extra_purchases * SPEND["p"] / cust["nu"][e]
    treated = camp["treated"][e]

    def by_segment(values):
        out = {"overall": float(values.mean()) if values.size else None}
        out.update({s: float(values[seg == i].mean()) if np.any(seg == i) else None for i, s in enumerate(SEGMENTS)})
        return out

    return {
        "campaign_id": CAMPAIGN["campaign_id"],
        "contact_date": CAMPAIGN["contact_date"],
        "eligibility": f"CRM customers, not opted out, first purchase before {CAMPAIGN['first_purchase_before']}, "
                       "alive or not",
        "designed_share": CAMPAIGN["designed_share"],
        "window_days": int(window),
        "n": {"treatment": int(treated.sum()), "control": int((~treated).sum())},
        "realised_treatment_share": float(treated.mean()),
        "n_by_segment": {s: {"treatment": int((treated & (seg == i)).sum()),
                             "control": int((~treated & (seg == i)).sum())} for i, s in enumerate(SEGMENTS)},
        "segment_rule": "calendar days from the date of the last purchase before contact to the contact date: "
                        "recent <= 60, lapsing 61-180, lapsed > 180",
        "rate_multiplier": dict(zip(SEGMENTS, SEGMENT_MULTIPLIER.tolist(), strict=True)),
        "alive_share_at_contact": by_segment(alive),
        "control_purchase_probability": by_segment(p_control),
        "uplift": by_segment(p_treated - p_control),
        "purchases_uplift_per_customer": by_segment(extra_purchases),
        "revenue_uplift_per_customer": by_segment(extra_revenue),
        "cost_per_treated_contact": CAMPAIGN["cost_per_treated_contact"],
        "offer": CAMPAIGN["offer"],
        "definition": "uplift = mean over the campaign's customers (both arms) of P(>=1 purchase within 30 days "
                      "after contact | treated) - P(... | control); P = alive * (1 - exp(-rate * 30)) with rate the "
                      "customer's rate at contact (lambda_i, or lambda_i * exp(eta_i) while still waiting for the "
                      "second purchase), times the segment multiplier if treated; the dead are not revived. "
                      "purchases_uplift = E[purchases within 30 days after contact | treated] - E[... | control] "
                      "from the customer's state at contact, exactly as the simulation runs it: a purchase at the "
                      "rate (times the multiplier if treated), dropout with probability p_i after every purchase, "
                      "lambda_i after the second purchase; revenue_uplift = purchases_uplift * expected spend "
                      "p / nu_i (CNY, before costs).",
    }


# ================================================================ per-customer truth

DAYS_PER_MONTH = 365.25 / 12  # as helpers.clv: the CLV horizon's months are calendar-average months


def _exp_gap(a, c, h):
    """(exp(-c h) - exp(-a h)) / (a - c), without cancellation when a ~ c or overflow when
    they are far apart: exp(-min(a, c) h) * h * g(|a - c| h), g(x) = (1 - exp(-x)) / x, g(0) = 1."""
    x = np.abs(a - c) * h
    with np.errstate(invalid="ignore", divide="ignore"):
        g = np.where(x > 1e-12, -np.expm1(-x) / np.where(x > 1e-12, x, 1.0), 1.0 - x / 2)
    return np.exp(-np.minimum(a, c) * h) * h * g


def _evolve(p1, p2, n, *, a, b, p, h):
    """One stretch of ``h`` days at constant rates: ``a`` while waiting for the second purchase
    (alive mass p1), ``b`` after it (alive mass p2), dropout with probability ``p`` after every
    purchase. Returns the alive masses at the end and the expected purchases ``n`` plus those of
    the stretch. Every purchase kills with probability p in either stage, so the expected
    purchases are the alive mass lost divided by p; below p = 1e-6 the p -> 0 limit is used
    (no loss to divide; its error is of order p)."""
    c = b * p
    e1 = np.exp(-a * h)
    q1 = p1 * e1
    q2 = p2 * np.exp(-c * h) + (1.0 - p) * a * p1 * _exp_gap(a, c, h)
    with np.errstate(invalid="ignore", divide="ignore"):
        lost = (p1 + p2 - q1 - q2) / np.where(p >= 1e-6, p, 1.0)
        bought1 = -np.expm1(-a * h)
        limit = p1 * bought1 + b * h * p2 + b * p1 * (h - np.where(a > 0, bought1 / np.where(a > 0, a, 1.0), h))
    return q1, q2, n + np.where(p >= 1e-6, lost, limit)


def _expected_purchases(start, offsets, *, lam, p, eta, stage1, stage2, w0, w1, mult) -> np.ndarray:
    """E[purchases in (start, start + offset]] for each offset (days, increasing), shape
    (customers, offsets), exactly as :func:`_simulate_purchases` runs a customer from ``start``:
    alive mass ``stage1`` waits for the second purchase at lam * exp(eta), ``stage2`` buys at
    lam; both times ``mult`` inside the window [w0, w1); dropout with probability p after every
    purchase. Piecewise-constant rates, each stretch in closed form (:func:`_evolve`)."""
    lam, p, eta, mult = (np.asarray(v, dtype=float) for v in (lam, p, eta, mult))
    start = np.broadcast_to(np.asarray(start, dtype=float), lam.shape)
    w0, w1 = (np.broadcast_to(np.asarray(v, dtype=float), lam.shape) for v in (w0, w1))
    p1, p2 = np.asarray(stage1, dtype=float).copy(), np.asarray(stage2, dtype=float).copy()
    n = np.zeros(lam.shape)
    a_rate, b_rate = lam * np.exp(eta), lam
    out = np.empty((lam.size, len(offsets)))
    if np.any(np.diff(np.asarray(offsets, dtype=float)) < 0):
        raise ValueError("the offsets must increase")
    lo = start
    for j, offset in enumerate(offsets):
        hi = start + float(offset)
        c0, c1 = np.clip(w0, lo, hi), np.clip(w1, lo, hi)
        for a_, b_, h in ((a_rate, b_rate, c0 - lo), (a_rate * mult, b_rate * mult, c1 - c0),
                          (a_rate, b_rate, hi - c1)):
            p1, p2, n = _evolve(p1, p2, n, a=a_, b=b_, p=p, h=h)
        out[:, j] = n
        lo = hi
    return out


def _hidden_state(cust, first, camp, state, sim) -> pa.Table:
    """What the simulation knows of every customer and the data never show: the planted rate,
    dropout and spend, the first-repeat factor, when the second purchase came and when the
    customer dropped out, and the campaign window. Written as truth_customers.parquet; the
    truth at any period end is computed from it (:func:`customer_truth`)."""
    n = cust["t0"].size
    second = np.full(n, np.nan)
    is_second = sim["k"] == 2
    second[sim["cust"][is_second]] = sim["t"][is_second]
    treated = camp["treated"]
    return pa.table({
        "customer_id": cust["id"],
        "in_crm": pa.array(cust["kept"]),
        "first_purchase_day": pa.array(cust["t0"]),
        "lam": pa.array(cust["lam"]),
        "p": pa.array(cust["p"]),
        "nu": pa.array(cust["nu"]),
        "eta": pa.array(first["eta"]),
        "second_purchase_day": pa.array(second),
        "dropout_day": pa.array(np.where(np.isinf(sim["dead_at"]), np.nan, sim["dead_at"])),
        "purchases": pa.array(np.bincount(sim["cust"], minlength=n).astype(np.int32)),
        "treated": pa.array(treated),
        "contact_day": pa.array(np.where(treated, camp["contact"], np.nan)),
        "window_multiplier": pa.array(np.where(treated, SEGMENT_MULTIPLIER[state["segment"]], 1.0)),
    })


CUSTOMER_TRUTH_DEFINITION = (
    "Per customer acquired by the period end (first purchase up to its last second), from the planted "
    "lambda_i (purchases per day), p_i (dropout chance after every purchase), nu_i (spend rate) and the "
    "simulated history, in model days from 2023-01-01 (a period end P means the end of P's day): "
    "alive = the customer has not dropped out by the period end (the simulation knows; p_alive is 1 or 0). "
    "expected_purchases_<D> = E[purchases in the D days after the period end | lambda_i, p_i, alive, stage], "
    "exactly as the simulation runs: purchases at lambda_i, or lambda_i * exp(eta_i) while still waiting for the "
    "second purchase (the driver effects), times the campaign multiplier inside a treated customer's window, "
    "dropout with probability p_i after every purchase; 0 for the dead. Purchases are the simulated orders: the "
    "workbook counts a customer's same-day orders as one purchase occasion (clv.same_day: collapse), a few per "
    "cent fewer. expected_purchases_horizon: the same over horizon_months calendar-average months "
    "(365.25 / 12 days). expected_spend = p / nu_i (Gamma-Gamma mean order value; amounts are rounded to 0.01 "
    "with a floor of 1.00). clv = as helpers.clv.discounted_clv: sum over months m of margin x (1 - refund_share) x "
    "expected_spend x E[purchases in month m] x (1 + annual_discount_rate)^(-m/12), minus "
    "cost_to_serve_per_year / 12 x sum_m (1 + rate)^(-m/12) x alive (the workbook weights that cost by its "
    "P(alive))."
)


def _setting(settings, name: str, default=None):
    value = settings.get(name, default) if isinstance(settings, dict) else getattr(settings, name, default)
    if value is None:
        raise ValueError(f"customer_truth needs the CLV setting {name!r}")
    return float(value)


def customer_truth(period_end, settings, out_dir: Path | None = None) -> pd.DataFrame:
    """Every customer's true P(alive), expected purchases, expected spend per order and CLV at
    ``period_end`` (a date or timestamp; its day's end), from the hidden state the generator
    wrote beside the data (truth_customers.parquet). ``settings``: the CLV conventions, a
    :class:`helpers.clv.ClvSettings` or a mapping with horizon_months, margin,
    annual_discount_rate and optionally cost_to_serve_per_year and refund_share (default 0).
    One row per customer acquired by the period end, CRM or not (``in_crm``); the definition is
    :data:`CUSTOMER_TRUTH_DEFINITION` (also in truth.json)."""
    folder = Path(out_dir) if out_dir is not None else _default_dir()
    path = folder / TRUTH_CUSTOMERS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: generate the demo data first (helpers.demo.ensure_demo_data)")
    h = pq.read_table(path).to_pandas()
    tau = _day(str(pd.Timestamp(period_end).date())) + 1.0
    if tau > HORIZON + 1e-9:
        raise ValueError(f"period end {period_end} is after the simulated data end (2025-06-30)")
    months = int(_setting(settings, "horizon_months"))
    margin = _setting(settings, "margin")
    rate = _setting(settings, "annual_discount_rate")
    cost = _setting(settings, "cost_to_serve_per_year", 0.0)
    refund = _setting(settings, "refund_share", 0.0)

    h = h[h["first_purchase_day"].to_numpy() < tau].reset_index(drop=True)
    dropout = h["dropout_day"].to_numpy()
    alive = ~(dropout <= tau)  # NaN: never dropped out within the simulation
    waiting = ~(h["second_purchase_day"].to_numpy() < tau)
    contact = h["contact_day"].to_numpy()
    treated = h["treated"].to_numpy()
    w0 = np.where(treated, contact, FAR)
    w1 = np.where(treated, contact + CAMPAIGN["window_days"], FAR)
    days = (30.0, 90.0, 365.0)
    edges = DAYS_PER_MONTH * np.arange(1, months + 1)
    offsets, where = np.unique(np.concatenate([days, edges]), return_inverse=True)  # increasing, as required
    cum = _expected_purchases(tau, offsets, lam=h["lam"], p=h["p"], eta=h["eta"],
                              stage1=alive & waiting, stage2=alive & ~waiting, w0=w0, w1=w1,
                              mult=h["window_multiplier"])[:, where]
    by_month = np.diff(np.concatenate([np.zeros((len(h), 1)), cum[:, len(days):]], axis=1), axis=1)
    d = (1.0 + rate) ** (-np.arange(1, months + 1) / 12.0)
    spend = SPEND["p"] / h["nu"].to_numpy()
    out = pd.DataFrame({"customer_id": h["customer_id"], "in_crm": h["in_crm"], "alive": alive,
                        "p_alive": alive.astype(float)})
    for i, day in enumerate(days):
        out[f"expected_purchases_{int(day)}"] = cum[:, i]
    out["expected_purchases_horizon"] = cum[:, -1]
    out["expected_spend"] = spend
    out["clv"] = margin * (1.0 - refund) * spend * (by_month @ d) - cost / 12.0 * d.sum() * alive
    return out


def _fault_truth(f: dict, outage_days: list[str]) -> dict:
    unknown_ids = np.union1d(f["unknown_online_ids"], f["unknown_pos_ids"])
    return {
        "exact_duplicate_rows": f["exact_duplicate_rows"],
        "conflicting_duplicate_ids": f["conflicting_duplicate_ids"],
        "refund_rows": f["refund_rows"],
        "zero_amount_rows": f["zero_amount_rows"],
        "guest_orders": f["guest_online"] + f["guest_pos"],
        "guest_orders_by_source": {"online_orders": f["guest_online"], "pos_orders": f["guest_pos"]},
        "after_period_end_rows": f["after_online"] + f["after_pos"],
        "after_period_end_rows_by_source": {"online_orders": f["after_online"], "pos_orders": f["after_pos"]},
        "unknown_customer_ids": int(unknown_ids.size),
        "unknown_customer_orders": f["unknown_online_orders"] + f["unknown_pos_orders"],
        "unknown_customer_orders_by_source": {"online_orders": f["unknown_online_orders"],
                                              "pos_orders": f["unknown_pos_orders"]},
        "money_as_text_rows": f["money_as_text_rows"],
        "unparseable_amount_rows": f["unparseable_amount_rows"],
        "unknown_customer_interactions": f["unknown_customer_interactions"],
        "outage_days": outage_days,
        "outage_lost_online_orders": f["outage_lost_online_orders"],
        "customers_without_orders": f["customers_without_orders"],
        "outlier_order_ids": f["outlier_order_ids"],
        "notes": "Each faulty row carries exactly one fault. Duplicates copy clean completed online orders; refunds "
                 "(status refunded, negative amount, WR ids) follow an earlier order of the same customer; unknown "
                 "customers are real buyers deleted from the CRM export (their interactions remain); outliers are "
                 "legitimate wholesale orders at 40-80x the larger of the customer's expected spend and the "
                 "mean order value (status completed; flag, do not drop). The outage loses real "
                 "online orders (outage_lost_online_orders); customers_without_orders counts CRM customers whose "
                 "only orders were lost that way (a consequence, not a separate fault).",
    }


def _jsonable(x):
    """Plain JSON values; floats to 6 significant digits so the file reads cleanly."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple | np.ndarray):
        return [_jsonable(v) for v in x]
    if isinstance(x, bool | np.bool_):
        return bool(x)
    if isinstance(x, int | np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        return float(f"{float(x):.6g}")
    return x


# ================================================================ writing


def _write_parquet(path: Path, table: pa.Table) -> int:
    pq.write_table(table, path, compression="snappy")
    return table.num_rows


def _write_csv(path: Path, table: pa.Table, *, encoding: str = "utf-8", quoted: tuple[str, ...] = ()) -> int:
    """CSV built in Arrow (fast at millions of rows): fields joined by commas, nulls empty,
    timestamps as YYYY-MM-DD HH:MM:SS. Values of the ``quoted`` columns are quoted when they
    hold a comma (grouped money text); no other value can hold a comma, quote or newline."""
    cols = []
    for name, col in zip(table.column_names, table.columns, strict=True):
        text = col if col.type == pa.string() else col.cast(pa.string())
        if name in quoted:
            text = pc.if_else(pc.match_substring(text, ","), pc.binary_join_element_wise('"', text, '"', ""), text)
        cols.append(text)
    with open(path, "wb") as out:
        out.write((",".join(table.column_names) + "\n").encode(encoding))
        if table.num_rows:
            lines = pc.binary_join_element_wise(*cols, ",", null_handling="replace", null_replacement="")
            body = _concat_strings(pc.binary_join_element_wise(lines, "\n", ""))
            out.write(body if encoding == "utf-8" else str(body, "utf-8").encode(encoding))
    return table.num_rows


def _concat_strings(arr) -> memoryview:
    """All values of a string array back to back, viewed straight in its data buffer."""
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    arr = arr.cast(pa.large_string())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
    return memoryview(arr.buffers()[2])[offsets[0]: offsets[-1]]


# ================================================================ cache and concurrency


def _default_dir() -> Path:
    from helpers.config import DATA_DIR  # lazily: generating into a given folder needs no params

    return Path(DATA_DIR) / "demo"


def _source_fingerprint() -> str:
    """Hash of this module's source: data made by an edited generator is regenerated even if
    nobody remembered to bump GENERATOR_VERSION."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def _is_current(out_dir: Path, n_customers: int, seed: int) -> bool:
    try:
        truth = json.loads((out_dir / TRUTH_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(truth, dict)
        and truth.get("generator_version") == GENERATOR_VERSION
        and truth.get("generator_fingerprint") == _source_fingerprint()
        and truth.get("n_customers") == n_customers
        and truth.get("seed") == seed
        and all((out_dir / name).is_file() for name in (*DATA_FILES, TRUTH_CUSTOMERS_FILE))
    )


@contextlib.contextmanager
def _exclusive_lock(out_dir: Path):
    """An OS file lock keyed by the folder's absolute path. The lock file lives in the system
    temp folder so it never shows up in the project tree."""
    key = hashlib.sha256(str(out_dir.resolve()).encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"repurchase-demo-{key}.lock"
    try:
        import fcntl
    except ImportError:  # no flock (Windows): the rename below still keeps half-written data invisible
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_replaceable(out_dir: Path) -> None:
    """Refuse to replace a folder that holds anything the generator did not write."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise FileExistsError(f"{out_dir} exists and is not a folder; cannot put the demo data there")
    foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in (*DATA_FILES, TRUTH_FILE, TRUTH_CUSTOMERS_FILE))
    if foreign:
        raise FileExistsError(
            f"{out_dir} holds files the demo generator did not write ({', '.join(foreign[:5])}); "
            "move them away or pass another out_dir"
        )


def _remove_leftovers(out_dir: Path) -> None:
    """Temporary siblings left by a killed generator (we hold the lock, so none is in use)."""
    for pattern in (f".{out_dir.name}.tmp-*", f".{out_dir.name}.old-*"):
        for leftover in out_dir.parent.glob(pattern):
            shutil.rmtree(leftover, ignore_errors=True)


def _swap_into_place(tmp: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.replace(tmp, out_dir)
        return
    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    os.replace(out_dir, old)  # a non-empty folder cannot be renamed over, so move the stale one aside
    os.replace(tmp, out_dir)
    shutil.rmtree(old, ignore_errors=True)
