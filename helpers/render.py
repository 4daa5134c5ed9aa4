"""HTML for people: two renders of each executed notebook, and the outputs index.

Each executed notebook gets two renders (notebooker's pattern, DESIGN §8):

- ``html/<name>.html`` for stakeholders: no code, no prompts, no parameters cells, no cells
  tagged ``remove``, no outputs of cells tagged ``remove-output``, no warnings on stderr and no
  tracebacks (they quote code and sometimes data);
- ``html/<name>.analyst.html``: everything, with code.

nbconvert's ``TagRemovePreprocessor`` is disabled by default and silently does nothing unless
enabled, so it is enabled explicitly here (and the tests check that removed cells are gone).

``outputs/index.html`` lists every brand, period and run with its status and a few headline
figures from ``metrics.json`` (aggregates only, never customer-level data), each run's summary
page (:mod:`helpers.summary`) first among its reports, and per brand the headline figures across
its periods as small inline SVG line charts. Its words come from the catalogue of one language
(:mod:`helpers.text`).
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

from helpers import summary
from helpers.config import atomic_write_text
from helpers.text import Text, language_or_default, notebook_text
from helpers.text.formats import Formats, is_number

if TYPE_CHECKING:  # the runner imports this module; import its types only for annotations
    from helpers.runner import RunRecord

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

# Cells a stakeholder never sees. papermill tags the cell it injects "injected-parameters";
# "analyst" marks the technical detail (model symbols, parameter keys, diagnostics tables) that
# only the analyst render shows.
STAKEHOLDER_REMOVE_CELL_TAGS = {"parameters", "injected-parameters", "remove", "analyst"}
STAKEHOLDER_REMOVE_OUTPUT_TAGS = {"remove-output"}
PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"

# Headline figures shown in the index's run table when a run's metrics.json has them (flat "a.b"
# keys or nested {"a": {"b": ...}}) and the catalogue key of their column; only scalars are shown.
HEADLINE_METRICS: tuple[tuple[str, str], ...] = (
    ("audit.status", "index.metric.audit"),
    ("audit.orders_clean", "index.metric.orders"),
    ("audit.customers_clean", "index.metric.customers"),
    ("audit.revenue_clean", "index.metric.revenue"),
    ("repurchase.within_period", "index.metric.repurchase"),
    ("repurchase.retention", "index.metric.retention"),
    ("clv.total", "index.metric.clv"),
    ("tiers.expected_profit.optimized", "index.metric.plan_profit"),
)
AUDIT_STATUS_KEYS = {"pass": "index.audit.pass", "warn": "index.audit.warn", "fail": "index.audit.fail"}
RUN_STATUS_KEYS = {"success": "index.status.success", "failed": "index.status.failed",
                   "running": "index.status.running", "incomplete": "index.status.incomplete",
                   "unknown": "index.status.unknown"}


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


def render_notebook(nb_path: Path, html_dir: Path, title: str | None = None, language: str = "en") -> dict[str, str]:
    """Write the stakeholder and analyst renders of an executed notebook into ``html_dir``, its
    narrative in ``language`` (helpers.text.notebook_text). Returns their paths relative to the
    run folder (``html/...``)."""
    nb = notebook_text.translate(nbformat.read(nb_path, as_version=4), nb_path.stem, language_or_default(language))
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


def headline_figures(metrics: dict[str, Any], text: Text | None = None) -> dict[str, str]:
    """Column label -> formatted value for the headline metrics this run has (in the language
    of ``text``; English by default). Figures in full (1,234; a share as 27.9 %): the brand's
    currency is named once above its table."""
    text = text or Text()
    fmt = Formats(text)
    shown = {}
    for key, label_key in HEADLINE_METRICS:
        value = metric_value(metrics, key)
        if value is None:
            continue
        if key in PERCENT_METRICS and is_number(value):
            shown[text(label_key)] = fmt.share(value)
        elif key == "audit.status" and value in AUDIT_STATUS_KEYS:
            shown[text(label_key)] = text(AUDIT_STATUS_KEYS[value])
        else:
            shown[text(label_key)] = format_figure(value, text)
    return shown


def metric_value(metrics: dict[str, Any], key: str) -> str | int | float | bool | None:
    """A scalar metric by dotted key, stored flat ("audit.status") or nested."""
    value: Any = metrics.get(key)
    if value is None:
        value = metrics
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, str | int | float | bool) else None


def format_figure(value: str | int | float | bool, text: Text | None = None) -> str:
    text = text or Text()
    fmt = Formats(text)
    if isinstance(value, bool):
        return text("index.yes") if value else text("index.no")
    if isinstance(value, int):
        return fmt.number(value)
    if isinstance(value, float):
        if abs(value) >= 1000:
            return fmt.number(value)
        return fmt.number(value, 2) if abs(value) >= 1 else f"{value:.3g}"
    return value if len(value) <= 40 else value[:39] + "…"


def render_index(records: Iterable[RunRecord], path: Path, language: str | None = None) -> Path:
    """Write the index of all runs to ``path`` (links are relative to its folder). Its language:
    ``language``, else the one every brand's runs report in, else English."""
    records = list(records)
    text = Text(index_language(records, language))
    template = jinja().get_template("index.html.j2")
    html = template.render(
        t=text,
        brands=_index_view(records, path.parent, text),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, html)
    return path


def index_language(records: list[RunRecord], language: str | None = None) -> str:
    if language:
        return language_or_default(language)
    found = {summary.run_settings(r.manifest)[0] for r in records if r.manifest}
    return found.pop() if len(found) == 1 else language_or_default(None)


def _index_view(records: list[RunRecord], root: Path, text: Text) -> list[dict[str, Any]]:
    """Group runs by brand; newest period first, newest run first within a period."""
    brands: dict[str, list[RunRecord]] = {}
    for record in records:
        brands.setdefault(record.brand, []).append(record)
    view = []
    for brand, runs in sorted(brands.items()):
        runs.sort(key=lambda r: (r.period, r.sort_key), reverse=True)
        rows = [_run_row(r, root, text) for r in runs]
        labels = [text(key) for _, key in HEADLINE_METRICS if any(text(key) in row["figures"] for row in rows)]
        title = next((r.manifest.get("display_name") for r in runs if r.manifest.get("display_name")), brand)
        currency = next((summary.run_settings(r.manifest)[1] for r in runs if r.manifest), "")
        fmt = Formats(text, currency)
        view.append({"brand": brand, "title": title, "rows": rows, "metric_labels": labels,
                     "currency": text("index.currency", currency=fmt.currency_label()),
                     "trends": trends(runs, fmt)})
    return view


def _run_row(record: RunRecord, root: Path, text: Text) -> dict[str, Any]:
    folder = os.path.relpath(record.path, root)
    reports = []
    page = record.manifest.get("summary")
    if not isinstance(page, str) and (record.path / "html" / summary.SUMMARY_FILE).is_file():
        page = f"html/{summary.SUMMARY_FILE}"
    if isinstance(page, str):
        reports.append({"label": text("index.summary"), "title": text("index.summary_title"),
                        "href": quote(f"{folder}/{page}"), "summary": True})
    reports += [
        {"label": name[:2] if name[:2].isdigit() else name, "title": name,
         "href": quote(f"{folder}/{entry['html']['stakeholder']}"), "summary": False}
        for name, entry in record.manifest.get("notebooks", {}).items()
        if isinstance(entry.get("html"), dict) and entry["html"].get("stakeholder")
    ]
    failed = record.failed_notebook
    return {
        "period": record.period,
        "run_id": record.run_id,
        "status": record.status,
        "status_label": text(RUN_STATUS_KEYS.get(record.status, "index.status.unknown")),
        # notebook and error type only: an error message may quote customer data
        "status_detail": f"{failed[0]}: {failed[1]}" if failed else "",
        "is_latest": record.is_latest,
        "started": (record.started_utc or "").replace("T", " ").removesuffix("Z"),
        "seconds": text("index.seconds", n=f"{record.seconds:.0f}") if is_number(record.seconds) else "",
        "figures": headline_figures(record.metrics, text),
        "reports": reports,
    }


# ---------------------------------------------------------------- trends across periods

SPARK_W, SPARK_H, SPARK_PAD = 200.0, 56.0, 6.0


def period_runs_for_trends(runs: list[RunRecord]) -> list[RunRecord]:
    """One run per period, oldest period first: the period's `latest` run, else its newest
    successful one, else none (failed and running runs are not a period's figures)."""
    chosen = {}
    for record in sorted(runs, key=lambda r: r.sort_key):
        if record.status != "success" or not record.metrics:
            continue
        if record.is_latest or not chosen.get(record.period, (None, False))[1]:
            chosen[record.period] = (record, record.is_latest)
    return [chosen[p][0] for p in sorted(chosen)]


def trends(runs: list[RunRecord], fmt: Formats) -> list[dict[str, Any]]:
    """Per headline figure of the summary page: its value in each period, as a small line chart
    (inline SVG coordinates) with the latest value written out."""
    chosen = period_runs_for_trends(runs)
    if not chosen:
        return []
    newest = chosen[-1].metrics
    out = []
    for headline in summary.HEADLINES:
        points = [(r.period, headline.value(r.metrics)) for r in chosen]
        if all(v is None for _, v in points):
            continue
        label = fmt.t(headline.label, days=summary.second_purchase_days(newest) or "N",
                      months=fmt.number(summary.num(newest, "clv", "horizon_months") or 12))
        latest = next(((p, v) for p, v in reversed(points) if v is not None))
        out.append({"id": headline.key, "label": label,
                    "latest": summary.headline_text(headline, latest[1], fmt),
                    "latest_period": fmt.period(latest[0]),
                    "first_period": fmt.period(points[0][0]), "last_period": fmt.period(points[-1][0]),
                    "aria": fmt.t("index.chart_label", label=label, first=fmt.period(points[0][0]),
                                  last=fmt.period(points[-1][0])),
                    **sparkline([(fmt.t("index.point", period=fmt.period(p), value=summary.headline_text(headline, v, fmt)),
                                  v) for p, v in points])})
    return out


def sparkline(points: list[tuple[str, float | None]]) -> dict[str, Any]:
    """SVG coordinates of a small line chart over (tooltip, value) points, one per period:
    polylines through consecutive known values (a period without the figure breaks the line)
    and a dot with its tooltip per known value."""
    known = [v for _, v in points if v is not None]
    lo, hi = min(known), max(known)
    n = len(points)

    def x(i: int) -> float:
        return SPARK_W / 2 if n == 1 else SPARK_PAD + i * (SPARK_W - 2 * SPARK_PAD) / (n - 1)

    def y(v: float) -> float:
        if hi == lo:
            return SPARK_H / 2
        return SPARK_H - SPARK_PAD - (v - lo) / (hi - lo) * (SPARK_H - 2 * SPARK_PAD)

    dots, lines, current = [], [], []
    for i, (tooltip, v) in enumerate(points):
        if v is None:
            if len(current) > 1:
                lines.append(" ".join(current))
            current = []
            continue
        dots.append({"x": f"{x(i):.1f}", "y": f"{y(v):.1f}", "title": tooltip})
        current.append(f"{x(i):.1f},{y(v):.1f}")
    if len(current) > 1:
        lines.append(" ".join(current))
    return {"width": f"{SPARK_W:.0f}", "height": f"{SPARK_H:.0f}", "dots": dots, "lines": lines}


def render_summary(run_dir: Path, manifest: dict, language: str | None = None,
                   brand_dir: Path | None = None) -> str:
    """Write ``html/summary.html`` of a run from its metrics.json (:func:`helpers.summary.build`);
    returns its path relative to the run folder."""
    view = summary.build(run_dir, manifest, summary.read_json(run_dir / summary.METRICS), language, brand_dir)
    page = jinja().get_template("summary.html.j2").render(page=view)
    target = run_dir / "html" / summary.SUMMARY_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, page)
    return f"html/{summary.SUMMARY_FILE}"


@functools.cache
def jinja() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


_jinja = jinja  # the name earlier callers used
