"""HTML for people: two renders of each executed notebook, and the outputs index.

Each executed notebook gets two renders (notebooker's pattern, DESIGN §8):

- ``html/<name>.html`` for stakeholders: no code, no prompts, no parameters cells, no cells
  tagged ``remove``, no outputs of cells tagged ``remove-output``, no warnings on stderr and no
  tracebacks (they quote code and sometimes data);
- ``html/<name>.analyst.html``: everything, with code.

nbconvert's ``TagRemovePreprocessor`` is disabled by default and silently does nothing unless
enabled, so it is enabled explicitly here (and the tests check that removed cells are gone).

``outputs/index.html`` lists every brand, period and run with its status and a few headline
figures from ``metrics.json``: aggregates only, never customer-level data.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import jinja2
import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor
from traitlets.config import Config

from helpers.config import atomic_write_text

if TYPE_CHECKING:  # the runner imports this module; import its types only for annotations
    from helpers.runner import RunRecord

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

# Cells a stakeholder never sees. papermill tags the cell it injects "injected-parameters".
STAKEHOLDER_REMOVE_CELL_TAGS = {"parameters", "injected-parameters", "remove"}
STAKEHOLDER_REMOVE_OUTPUT_TAGS = {"remove-output"}
PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"

# Headline figures shown in the index when a run's metrics.json has them (flat "a.b" keys or
# nested {"a": {"b": ...}}); only scalars are shown. Extend as the notebooks settle their names.
HEADLINE_METRICS: tuple[tuple[str, str], ...] = (
    ("audit.status", "Audit"),
    ("audit.orders_clean", "Orders (clean)"),
    ("audit.customers_clean", "Customers"),
    ("audit.revenue_clean", "Revenue (clean)"),
    ("repurchase.within_period", "Repurchase in period"),
    ("repurchase.retention", "Retention"),
    ("clv.total", "Total CLV"),
    ("tiers.expected_profit.optimized", "Plan profit"),
)


# ---------------------------------------------------------------- notebook renders


class StakeholderCleanup(Preprocessor):
    """Drops what a stakeholder should not see even in a shown cell: papermill's error banners,
    stderr (warnings quote code) and tracebacks (they quote code, sometimes data), which are
    replaced by a one-line note naming the error type."""

    def preprocess(self, nb, resources):
        nb.cells = [c for c in nb.cells if PAPERMILL_ERROR_TAG not in c.metadata.get("tags", [])]
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = [_stakeholder_output(o) for o in cell.outputs if not _is_stderr(o)]
        return nb, resources


def _is_stderr(output) -> bool:
    return output.get("output_type") == "stream" and output.get("name") == "stderr"


def _stakeholder_output(output):
    if output.get("output_type") != "error":
        return output
    note = (
        f"This section stopped with an error ({output.get('ename', 'error')}); "
        "the analyst version of this report has the details.\n"
    )
    return nbformat.v4.new_output("stream", name="stdout", text=note)


@functools.cache
def _stakeholder_exporter() -> HTMLExporter:
    c = Config()
    c.HTMLExporter.exclude_input = True
    c.HTMLExporter.exclude_input_prompt = True
    c.HTMLExporter.exclude_output_prompt = True
    c.TagRemovePreprocessor.enabled = True  # off by default: without this nothing is removed
    c.TagRemovePreprocessor.remove_cell_tags = set(STAKEHOLDER_REMOVE_CELL_TAGS)
    c.TagRemovePreprocessor.remove_all_outputs_tags = set(STAKEHOLDER_REMOVE_OUTPUT_TAGS)
    exporter = HTMLExporter(config=c)
    exporter.register_preprocessor(StakeholderCleanup, enabled=True)
    return exporter


@functools.cache
def _analyst_exporter() -> HTMLExporter:
    return HTMLExporter()


def render_notebook(nb_path: Path, html_dir: Path, title: str | None = None) -> dict[str, str]:
    """Write the stakeholder and analyst renders of an executed notebook into ``html_dir``.
    Returns their paths relative to the run folder (``html/...``)."""
    nb = nbformat.read(nb_path, as_version=4)
    html_dir.mkdir(parents=True, exist_ok=True)
    name = nb_path.stem
    targets = {
        "stakeholder": (html_dir / f"{name}.html", _stakeholder_exporter()),
        "analyst": (html_dir / f"{name}.analyst.html", _analyst_exporter()),
    }
    written = {}
    for kind, (path, exporter) in targets.items():
        resources = {"metadata": {"name": title or name}}
        body, _ = exporter.from_notebook_node(copy.deepcopy(nb), resources=resources)
        atomic_write_text(path, body)
        written[kind] = f"{html_dir.name}/{path.name}"
    return written


# ---------------------------------------------------------------- outputs/index.html


# Headline metrics that are shares (0..1), shown as percentages.
PERCENT_METRICS = {"repurchase.within_period", "repurchase.retention"}


def headline_figures(metrics: dict[str, Any]) -> dict[str, str]:
    """Label -> formatted value for the headline metrics this run has."""
    shown = {}
    for key, label in HEADLINE_METRICS:
        value = metric_value(metrics, key)
        if value is None:
            continue
        if key in PERCENT_METRICS and isinstance(value, int | float) and not isinstance(value, bool):
            shown[label] = f"{100 * value:.1f} %"
        else:
            shown[label] = format_figure(value)
    return shown


def metric_value(metrics: dict[str, Any], key: str) -> str | int | float | bool | None:
    """A scalar metric by dotted key, stored flat ("audit.status") or nested."""
    value: Any = metrics.get(key)
    if value is None:
        value = metrics
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, str | int | float | bool) else None


def format_figure(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.3g}"
    return value if len(value) <= 40 else value[:39] + "…"


def render_index(records: Iterable[RunRecord], path: Path) -> Path:
    """Write the index of all runs to ``path`` (links are relative to its folder)."""
    template = _jinja().get_template("index.html.j2")
    html = template.render(
        brands=_index_view(list(records), path.parent),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, html)
    return path


def _index_view(records: list[RunRecord], root: Path) -> list[dict[str, Any]]:
    """Group runs by brand; newest period first, newest run first within a period."""
    brands: dict[str, list[RunRecord]] = {}
    for record in records:
        brands.setdefault(record.brand, []).append(record)
    view = []
    for brand, runs in sorted(brands.items()):
        runs.sort(key=lambda r: (r.period, r.sort_key), reverse=True)
        rows = [_run_row(r, root) for r in runs]
        labels = [label for _, label in HEADLINE_METRICS if any(label in row["figures"] for row in rows)]
        title = next((r.manifest.get("display_name") for r in runs if r.manifest.get("display_name")), brand)
        view.append({"brand": brand, "title": title, "rows": rows, "metric_labels": labels})
    return view


def _run_row(record: RunRecord, root: Path) -> dict[str, Any]:
    folder = os.path.relpath(record.path, root)
    reports = [
        {"label": name, "href": quote(f"{folder}/{entry['html']['stakeholder']}")}
        for name, entry in record.manifest.get("notebooks", {}).items()
        if isinstance(entry.get("html"), dict) and entry["html"].get("stakeholder")
    ]
    failed = record.failed_notebook
    return {
        "period": record.period,
        "run_id": record.run_id,
        "status": record.status,
        # notebook and error type only: an error message may quote customer data
        "status_detail": f"{failed[0]}: {failed[1]}" if failed else "",
        "is_latest": record.is_latest,
        "started": (record.started_utc or "").replace("T", " ").removesuffix("Z"),
        "seconds": record.seconds,
        "figures": headline_figures(record.metrics),
        "reports": reports,
    }


@functools.cache
def _jinja() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


