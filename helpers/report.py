"""The run context every notebook opens, and what notebooks write: metrics, files, provenance.

A notebook's third cell is ``run = open_run(brand=..., period=..., run_dir=..., params_path=...)``.
It validates the params, resolves the period (``latest`` = the last complete period in the
data), opens the sources in the engine and decides where the notebook writes. Papermill passes
``run_dir`` (the runner's staging folder); a notebook opened in JupyterLab or run by nbval leaves
it empty and writes to ``outputs/<brand>/<period>/interactive/`` — a scratch folder the runner
never lists as a run.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from dataclasses import dataclass, field
from functools import cached_property
from importlib import metadata
from pathlib import Path

import pandas as pd

from helpers import config
from helpers.config import Params, ParamsError, period_end, period_start

PACKAGES = ("pandas", "numpy", "ibis-framework", "duckdb", "lifetimes", "lifelines", "statsmodels",
            "scipy", "matplotlib", "seaborn", "papermill", "nbconvert", "pydantic")
INTERACTIVE = "interactive"
ENGINE_DIR = "engine"  # the run's stored engine tables (helpers.engine)


@dataclass
class Run:
    params: Params
    period: str
    run_dir: Path
    interactive: bool
    language: str = ""  # of the notebook's words ('' = the params' report.language)
    _metrics_cache: dict = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------ identity and time
    @property
    def brand(self) -> str:
        return self.params.brand

    @property
    def period_kind(self) -> str:
        return self.params.period

    @property
    def period_end(self) -> pd.Timestamp:
        return period_end(self.period, self.params.period)

    @property
    def period_start(self) -> pd.Timestamp:
        return period_start(self.period, self.params.period)

    @property
    def currency(self) -> str:
        return self.params.business.unit

    # ------------------------------------------------------------ words (presentation layer)
    @cached_property
    def text(self):
        """The message catalogue of the run's language (``run.text("key", ...)``)."""
        from helpers.text import Text, language_or_default

        return Text(language_or_default(self.language or self.params.report.language))

    @cached_property
    def fmt(self):
        """Numbers, money, shares and dates written in the run's language and currency: what the
        sentence modules (helpers.text.*) and the chart modules take."""
        from helpers.text.formats import Formats

        return Formats(self.text, self.params.business.currency)

    # ------------------------------------------------------------ data (in the engine, read once)
    @cached_property
    def store(self):
        """The run's engine tables (``<run>/engine/``): the mapped sources and the clean orders,
        made by the first notebook that needs them (notebook 01 in a run) and read by every later
        one. A store made from other params, data or code is cleared first."""
        from helpers import engine, sources

        con = sources.connect(self.params)
        return engine.TableStore(con, self.run_dir / ENGINE_DIR,
                                 stamp={**engine.source_stamp(self.params), "period_end": str(self.period_end)})

    @cached_property
    def data(self):
        """The brand's sources mapped to the canonical tables; each read from its file once."""
        from helpers import sources

        return sources.load(self.params, con=self.store.con, store=self.store)

    @cached_property
    def clean(self):
        """The clean orders, the refunds and the reconciliation: computed once per run (by
        notebook 01, or by whichever notebook comes first), then read from the store."""
        from helpers import audit

        store = self.store
        orders, refunds, recorded = store.get("orders_clean"), store.get("refunds"), store.meta("clean")
        if orders is not None and refunds is not None and recorded is not None:
            return audit.CleanResult(orders=orders, refunds=refunds, steps=pd.DataFrame(recorded["steps"]),
                                     counts=recorded["counts"], outlier_threshold=recorded["outlier_threshold"],
                                     has_amount=self.params.has_amount)
        result = audit.clean_orders(self.data, self.period_end, store=store)
        store.set_meta("clean", {"steps": result.steps.to_dict(orient="records"), "counts": result.counts,
                                 "outlier_threshold": result.outlier_threshold})
        return result

    @property
    def orders(self):
        return self.clean.orders

    def as_of(self, kind: str):
        """A customers / interactions / campaigns table as known at the period end (rows dated
        after it are left out, so re-running last month gives last month's answer); None when
        the brand has no such table."""
        table = self.data.table(kind)
        if table is None:
            return None
        ts = {"customers": "signup_ts", "interactions": "ts", "campaigns": "contact_ts"}[kind]
        table = table.filter(table._parse_error.isnull() | (table._parse_error != ts))
        return table.filter(table[ts].isnull() | (table[ts] <= self.period_end)) if kind == "customers" \
            else table.filter(table[ts] <= self.period_end)

    # ------------------------------------------------------------ outputs
    def path(self, *parts: str) -> Path:
        target = self.run_dir.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def write_metrics(self, section: str, values: dict) -> dict:
        """Merge ``values`` under ``section`` into the run's metrics.json (stable names: the
        contract for dashboards) and return the whole file's content."""
        target = self.path("metrics.json")
        current = json.loads(target.read_text(encoding="utf-8")) if target.exists() else {}
        current[section] = _jsonable(values)
        config.atomic_write_text(target, json.dumps(current, indent=2, ensure_ascii=False, sort_keys=True))
        return current

    def read_metrics(self) -> dict:
        target = self.run_dir / "metrics.json"
        return json.loads(target.read_text(encoding="utf-8")) if target.exists() else {}

    def save_table(self, frame: pd.DataFrame, name: str) -> Path:
        """Customer- or row-level results for analysts and CRM imports (never in the HTML)."""
        target = self.path("data", name)
        if target.suffix == ".csv":
            frame.to_csv(target, index=False)
        else:
            frame.to_parquet(target, index=False)
        return target

    # The customer table: one row per customer, each notebook adds its columns (DESIGN §6).
    CUSTOMERS = "customers.parquet"

    def customers(self) -> pd.DataFrame | None:
        """data/customers.parquet as earlier notebooks of this run left it (None if absent)."""
        target = self.run_dir / "data" / self.CUSTOMERS
        return pd.read_parquet(target) if target.exists() else None

    def update_customers(self, frame: pd.DataFrame) -> Path:
        """Merge customer-level columns (keyed by customer_id) into data/customers.parquet.
        Columns this notebook wrote before are replaced; other notebooks' columns are kept."""
        if "customer_id" not in frame.columns:
            raise ValueError("update_customers needs a customer_id column")
        if frame["customer_id"].duplicated().any():
            raise ValueError("update_customers got duplicated customer ids")
        current = self.customers()
        if current is not None:
            keep = [c for c in current.columns if c == "customer_id" or c not in frame.columns]
            frame = current[keep].merge(frame, on="customer_id", how="outer")
        return config.atomic_write(self.path("data", self.CUSTOMERS), lambda tmp: frame.to_parquet(tmp, index=False))

    def previous_output(self, relative: str) -> tuple[str, Path] | None:
        """The newest file ``relative`` (e.g. 'data/campaign_response.json') written by the
        latest successful run of an EARLIER period of this brand: how one period's campaign
        results feed the next period's allocation. Returns (period, path) or None."""
        brand_dir = config.outputs_dir() / self.brand
        if not brand_dir.exists():
            return None
        current = config.to_period(self.period, self.period_kind)
        found = []
        for period_dir in brand_dir.iterdir():
            try:
                p = config.to_period(period_dir.name, self.period_kind)
            except ParamsError:
                continue
            candidate = period_dir / "latest" / relative
            if p < current and candidate.exists():
                found.append((p, period_dir.name, candidate))
        if not found:
            return None
        _, label, path = max(found)
        return label, path

    def describe(self) -> str:
        """The line each notebook opens with: brand, period with its dates, and which run, in the
        run's language (helpers.text.common.run_header)."""
        from helpers.text.common import run_header

        if self.interactive:
            where = self.run_dir
            try:
                where = self.run_dir.relative_to(config.PROJECT_ROOT)
            except ValueError:
                pass
            return run_header(self.fmt, self.params.title, self.period, self.period_start, self.period_end,
                              folder=str(where))
        # the runner's staging folder is renamed when the run ends: name the run, not it
        return run_header(self.fmt, self.params.title, self.period, self.period_start, self.period_end,
                          run_id=self.run_dir.name.removeprefix(".staging-"))

    def provenance(self) -> pd.DataFrame:
        """Versions, commit, params and data fingerprints: how to reproduce this notebook."""
        rows = [("brand", self.brand), ("period", self.period), ("period end", f"{self.period_end:%Y-%m-%d}"),
                ("params fingerprint", config.params_fingerprint(self.params)),
                ("data fingerprint", data_fingerprint(self.params)),
                ("git commit", _commit_text())]
        rows += [(name, version or "not installed") for name, version in package_versions().items()]
        return pd.DataFrame(rows, columns=["item", "value"])


def open_run(brand: str = "demo", period: str = "latest", run_dir: str = "", params_path: str = "",
             language: str = "") -> Run:
    """Validate params, resolve the period, choose the output folder, set the chart theme.
    ``language`` (en, zh; '' = the params' report.language) is the language of the words."""
    params = config.load_params(params_path or None, brand=None if params_path else brand)
    if params_path and brand and params.brand != brand:
        raise ParamsError(f"{params_path}: its brand is {params.brand!r}, but brand={brand!r} was passed")
    interactive = not run_dir
    label = resolve_period(params, period, check=interactive)
    folder = Path(run_dir) if run_dir else config.outputs_dir() / params.brand / label / INTERACTIVE
    folder.mkdir(parents=True, exist_ok=True)
    from helpers import plots
    from helpers.text import LANGUAGES

    if language and language not in LANGUAGES:
        raise ParamsError(f"language={language!r}: the workbook speaks {', '.join(LANGUAGES)}")
    language = language or params.report.language
    plots.set_theme(language)  # zh: the CJK font first
    return Run(params=params, period=label, run_dir=folder.resolve(), interactive=interactive, language=language)


def _commit_text() -> str:
    commit, dirty = git_state()
    if commit is None:
        return "not a git checkout"
    return commit + (" (with local changes)" if dirty else "")


def resolve_period(params: Params, period: str, check: bool = True) -> str:
    """'latest' or a label -> the label; a label the data do not reach is refused (``check``:
    a notebook run by the runner skips the scan, the runner has checked the period already)."""
    from helpers import sources

    if str(period).strip().lower() in ("latest", ""):
        return sources.latest_period(params)[0]
    label = config.period_label(config.to_period(period, params.period), params.period)
    if check:
        sources.check_period(params, label)
    return label


# ---------------------------------------------------------------- provenance helpers


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state() -> tuple[str | None, bool | None]:
    """(commit, has uncommitted changes to tracked files), or (None, None) outside git."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return None, None
    # --no-optional-locks: a read-only look that never rewrites the index
    status = _git("--no-optional-locks", "status", "--porcelain", "--untracked-files=no")
    return commit, (bool(status) if status is not None else None)


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=config.PROJECT_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def data_fingerprint(params: Params) -> str:
    """Hash of every source file's name, size and content (head and tail for very large files)."""
    digest = hashlib.sha256()
    for kind in ("orders", "customers", "interactions", "campaigns"):
        for spec in getattr(params.sources, kind):
            digest.update(f"{kind}:{spec.name}".encode())
            if not spec.path:
                digest.update((spec.table or spec.query or "").encode())
                continue
            path = config.resolve_path(spec.path, params)
            if not path.exists():
                digest.update(b"missing")
                continue
            size = path.stat().st_size
            digest.update(str(size).encode())
            with open(path, "rb") as fh:
                if size <= 256 << 20:
                    while chunk := fh.read(1 << 22):
                        digest.update(chunk)
                else:
                    digest.update(fh.read(16 << 20))
                    fh.seek(-16 << 20, os.SEEK_END)
                    digest.update(fh.read())
    return digest.hexdigest()[:16]


def _jsonable(value):
    """numpy / pandas scalars and timestamps -> plain JSON types."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, pd.Timestamp | pd.Period):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


# ---------------------------------------------------------------- findings in a notebook


def say(*sentences: str) -> None:
    """Show findings as markdown in the notebook (and in the stakeholder HTML)."""
    from IPython.display import Markdown, display

    text = "\n".join(f"- {s}" if not s.startswith(("- ", "#", "**")) else s for s in sentences if s)
    if text:  # nothing to say (e.g. a note that does not apply): no empty output
        display(Markdown(text))
