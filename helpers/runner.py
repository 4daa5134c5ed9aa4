"""``workbook``: run the numbered notebooks per brand and period, list runs, rebuild the index.

    workbook run --brand demo --period 2025-06      one brand, one period
    workbook run --params path/to/brand.yaml        a params file anywhere
    workbook run --all                              every params/*.yaml, latest complete period
    workbook run --brand demo --period 2011-01..2011-06 --only 01,04
    workbook list                                   brands, data ranges and past runs
    workbook run --brand demo --language zh         the summary page and the index in Chinese
    workbook render-index                           rebuild outputs/index.html from disk
    workbook clean --brand demo                     remove the staging folders of killed runs
    workbook init FILE... --brand NAME              inspect raw exports, write params/NAME.yaml
    workbook check --brand NAME                     validate a params file against its data

Layout of a run (DESIGN §6)::

    outputs/<brand>/<period>/<run-id>/   executed notebooks, html/, data/, exports/,
                                         metrics.json (written by the notebooks), manifest.json
    outputs/<brand>/<period>/latest      relative symlink to the newest successful run
    outputs/index.html

A run is written into ``.staging-<run-id>/`` beside its final folder and renamed into place
when it ends (success or failure), so a run never overwrites another one and a killed run
leaves only its staging folder, listed as "incomplete" until the brand's next run (or
``workbook clean``) removes it.

Notebooks get exactly four parameters (brand, period, run_dir, params_path), never resolved
secrets: a notebook resolves ``${ENV}`` placeholders itself when it opens a connection. Whatever
a run writes or prints is masked (:func:`helpers.config.redact`): the value of every ``${ENV}``
placeholder of the brand's params and the password of every URL, in the terminal, the manifest,
the executed notebooks, their HTML and every other text file of the run folder.

Exit codes: 0 all runs succeeded; 1 a run or a brand failed; 2 nothing ran because the command,
the notebooks or the outputs folder are unusable.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from helpers import config, report
from helpers.config import ParamsError
from helpers.text import LANGUAGES

PARAMETER_NAMES = ("brand", "period", "run_dir", "params_path", "language")
KERNEL_NAME = "python3"
KERNEL_START_ATTEMPTS = 3  # parallel kernels can race for ports (DESIGN §8)
KERNEL_EXIT_SECONDS = 10  # a kernel asked to shut down exits in well under a second
STAGING_PREFIX = ".staging-"
LATEST_LINK = "latest"
MANIFEST = "manifest.json"
METRICS = "metrics.json"
NOTEBOOK_FILE = re.compile(r"^(\d{2})_\w+\.ipynb$")
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class UsageError(Exception):
    """The command or the notebooks are invalid: nothing is run (exit code 2)."""


class RunError(Exception):
    """One run cannot start (e.g. its run id is taken); other runs continue."""


# ---------------------------------------------------------------- notebooks


def notebooks_dir() -> Path:
    """Where the numbered notebooks are; WORKBOOK_NOTEBOOKS overrides it (tests)."""
    return Path(os.environ.get("WORKBOOK_NOTEBOOKS", config.NOTEBOOKS_DIR)).resolve()


def select_notebooks(folder: Path, only: str | None = None) -> list[Path]:
    """The NN_name.ipynb notebooks in order, optionally only some numbers ("01,04")."""
    found = sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK_FILE.match(p.name))
    if not found:
        raise UsageError(f"no numbered notebooks (NN_name.ipynb) in {folder}")
    if not only:
        return found
    # "4", "04" and "04_clv" all name notebook 04
    wanted = {part.strip().split("_")[0].zfill(2) for part in only.split(",") if part.strip()}
    by_number = {NOTEBOOK_FILE.match(p.name).group(1): p for p in found}
    unknown = sorted(wanted - set(by_number))
    if unknown:
        raise UsageError(f"--only {only}: no notebook numbered {', '.join(unknown)} in {folder} "
                         f"(have {', '.join(sorted(by_number))})")
    return [p for number, p in sorted(by_number.items()) if number in wanted]


def parameters_cell_names(nb_path: Path) -> set[str]:
    """Names assigned in the notebook's single cell tagged ``parameters``."""
    import nbformat  # lazy: `workbook check` / `list` / `init` never read a notebook

    nb = nbformat.read(nb_path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise UsageError(f"{nb_path.name}: needs exactly one cell tagged 'parameters', found {len(cells)}")
    try:
        tree = ast.parse(cells[0].source)
    except SyntaxError as exc:
        raise UsageError(f"{nb_path.name}: parameters cell is not valid Python: {exc}") from None
    names = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def check_parameters(notebooks: list[Path], passed: tuple[str, ...] = PARAMETER_NAMES) -> None:
    """Refuse a notebook that does not define every parameter the runner passes: papermill
    would only warn and the notebook would silently run on its defaults."""
    for nb_path in notebooks:
        missing = [name for name in passed if name not in parameters_cell_names(nb_path)]
        if missing:
            raise UsageError(
                f"{nb_path.name}: its parameters cell does not define {', '.join(missing)}; "
                f"the runner passes {', '.join(passed)}. Refusing to run."
            )


# ---------------------------------------------------------------- executing one notebook


@dataclass
class NotebookResult:
    name: str
    status: str  # ok / failed / skipped
    seconds: float | None = None
    error: dict[str, Any] | None = None

    def as_manifest(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"status": self.status, "seconds": self.seconds}
        if self.error:
            entry["error"] = self.error
        return entry


def execute_notebook(nb_path: Path, output_path: Path, parameters: dict[str, str], kernel: RunKernel | None = None) -> None:
    """papermill, retrying a kernel that fails to start. On a cell error papermill has already
    written the executed notebook (failing cell marked) and raises PapermillExecutionError.
    With ``kernel`` the notebook runs in the run's shared kernel (see :class:`RunKernel`)."""
    import papermill  # imported here: `workbook list` does not need it

    for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
        try:
            extra = {"km": kernel.manager()} if kernel is not None else {}
            papermill.execute_notebook(
                str(nb_path),
                str(output_path),
                parameters=parameters,
                kernel_name=KERNEL_NAME,
                cwd=str(config.PROJECT_ROOT),
                progress_bar=False,
                log_output=False,
                request_save_on_cell_execute=False,
                config=kernel_config(),
                **extra,
            )
            return
        except Exception as exc:
            if attempt == KERNEL_START_ATTEMPTS or not is_kernel_start_failure(exc):
                raise
            print(f"  kernel did not start ({exc}); retrying", file=sys.stderr, flush=True)
            if kernel is not None:
                kernel.shutdown()
            time.sleep(attempt)


# Run between two notebooks in the shared kernel: each notebook starts from an empty namespace,
# no open figures and In [1], as if it had a kernel of its own; only imported modules stay.
KERNEL_RESET = """\
get_ipython().run_line_magic("reset", "-f")
import gc as _gc, sys as _sys
if "matplotlib.pyplot" in _sys.modules:
    _sys.modules["matplotlib.pyplot"].close("all")
_gc.collect()
get_ipython().execution_count = 1
del _gc, _sys
"""


HELPER_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+(helpers(?:\.\w+)*)[ \t]+import[ \t]+([\w \t,]+)|import[ \t]+(helpers\.\w+))", re.M)


def helper_imports(nb_path: Path) -> set[str]:
    """The helpers modules a notebook imports (``from helpers import a, b`` -> helpers.a, helpers.b;
    ``from helpers.text import clv as words`` -> helpers.text, helpers.text.clv)."""
    import nbformat

    found = set()
    try:
        nb = nbformat.read(nb_path, as_version=4)
    except Exception:
        return found
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for package, names, plain in HELPER_IMPORT.findall(cell.source):
            if plain:
                found.add(plain)
                continue
            if package != "helpers":
                found.add(package)
            folder = config.PROJECT_ROOT.joinpath(*package.split("."))
            for name in (n.split()[0] for n in names.split(",") if n.strip()):
                # a module of the package (not a function): looked up on disk, nothing imported
                if package == "helpers" or (folder / f"{name}.py").is_file() or (folder / name / "__init__.py").is_file():
                    found.add(f"{package}.{name}")
    return found


class RunKernel:
    """One kernel for all notebooks of a run.

    Starting a kernel and importing pandas, Ibis, matplotlib, seaborn, scipy and lifetimes cost
    every notebook 9–17 s here: for a small brand most of its run. The notebooks of one run share
    a kernel, reset between notebooks (:data:`KERNEL_RESET`), so that cost is paid once. A
    notebook still runs on its own (JupyterLab, nbval) exactly as in the run: it defines every
    name it uses, which the reset enforces."""

    def __init__(self) -> None:
        self._km = None

    def manager(self):
        if self._km is None or not self._km.has_kernel:
            import nbformat
            from jupyter_core.utils import run_sync
            from nbclient import NotebookClient

            km = NotebookClient(nbformat.v4.new_notebook(), kernel_name=KERNEL_NAME,
                                config=kernel_config()).create_kernel_manager()
            # The kernel's own output (its log, C libraries writing to the terminal) passes through
            # the runner, masked, instead of reaching the terminal straight from the kernel.
            # No IPython history database: kernels of runs side by side share one SQLite file, and
            # a clash writes 'Session/line number was not unique in database' into the notebook.
            run_sync(km.start_kernel)(cwd=str(config.PROJECT_ROOT), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, extra_arguments=["--HistoryManager.enabled=False"])
            process = km.provisioner.process
            for pipe, name in ((process.stdout, "stdout"), (process.stderr, "stderr")):
                threading.Thread(target=_pass_through_masked, args=(pipe, name), daemon=True).start()
            self._km = km
        return self._km

    def warm_up(self, notebooks: list[Path]) -> None:
        """Start the kernel now and have it import what the notebooks will import, while the
        runner goes on with its own work: the first notebook's cells queue behind the imports."""
        modules = sorted({m for nb in notebooks for m in helper_imports(nb)} | {"helpers.report"})
        if not modules:
            return
        try:
            from jupyter_core.utils import run_sync

            client = self.manager().client()
            client.start_channels()
            run_sync(client.wait_for_ready)(timeout=60)
            code = f"import importlib\nfor _m in {modules!r}:\n    importlib.import_module(_m)\ndel importlib, _m"
            client.execute(code, silent=True, store_history=False)
            client.stop_channels()
        except Exception:  # a warm-up is an optimisation only: the notebooks will import anyway
            self.shutdown()

    def reset(self) -> None:
        """Clear the namespace for the next notebook (a kernel that is gone is started anew)."""
        if self._km is None or not self._km.has_kernel:
            return
        from jupyter_core.utils import run_sync

        client = self._km.client()
        try:
            client.start_channels()
            run_sync(client.wait_for_ready)(timeout=60)
            reply = run_sync(client.execute_interactive)(KERNEL_RESET, store_history=False, timeout=120,
                                                         output_hook=lambda msg: None)
            ok = reply.get("content", {}).get("status") == "ok"
        except Exception:
            ok = False
        finally:
            client.stop_channels()
        if not ok:  # could not reset: the next notebook gets a fresh kernel
            self.shutdown()

    def shutdown(self) -> None:
        """Ask the kernel to exit and wait until it has, then release its ports and files.

        jupyter_client's shutdown_kernel interrupts the kernel (SIGINT) before asking it to
        exit; a kernel still finishing its last message then logs ``[IPKernelApp] ERROR |
        KeyboardInterrupt caught in kernel.`` into the run's output. A kernel that has already
        exited gets no signal; one that does not exit in time is stopped by shutdown_kernel."""
        if self._km is not None and self._km.has_kernel:
            from jupyter_core.utils import run_sync

            client = self._km.client()
            try:
                client.start_channels()
                client.shutdown()  # shutdown_request on the control channel
                deadline = time.monotonic() + KERNEL_EXIT_SECONDS
                while run_sync(self._km.is_alive)() and time.monotonic() < deadline:
                    time.sleep(0.05)
            except Exception:  # the kernel is gone or deaf: shutdown_kernel below ends it
                pass
            finally:
                client.stop_channels()
            try:
                run_sync(self._km.shutdown_kernel)(now=False)
            except Exception:
                pass
        self._km = None


def _pass_through_masked(pipe, stream_name: str) -> None:
    """Copy a kernel's output pipe, line by line and masked, to the runner's stdout or stderr
    (looked up per line: a caller may redirect it) until the kernel exits."""
    with pipe:
        for raw in iter(pipe.readline, b""):
            try:
                print(config.redact(raw.decode("utf-8", errors="replace")), end="",
                      file=getattr(sys, stream_name), flush=True)
            except (OSError, ValueError):  # the runner's stream is closed: keep draining the pipe
                pass


def kernel_config() -> Any:
    """Encrypt kernel traffic (CurveZMQ) when pyzmq supports it; 'auto' applies it only to
    kernels whose spec declares support. Otherwise every ipykernel start prints a warning about
    plain-text TCP into the run's log."""
    import zmq
    from traitlets.config import Config

    c = Config()
    if zmq.has("curve"):
        c.KernelManager.transport_encryption = "auto"
    return c


def is_kernel_start_failure(exc: BaseException) -> bool:
    """A kernel that never answered (no cell ran, so a retry is safe). A kernel that died
    mid-run (nbclient's DeadKernelError) is not retried: cells may have had effects."""
    if type(exc).__name__ == "DeadKernelError":
        return False
    if type(exc).__name__ == "ZMQError":  # "Address already in use": a port race
        return True
    message = str(exc)
    return isinstance(exc, RuntimeError | TimeoutError) and (
        message.startswith("Kernel died before replying to kernel_info")
        or message.startswith("Kernel didn't respond")
    )


def run_notebook(nb_path: Path, output_path: Path, parameters: dict[str, str],
                 kernel: RunKernel | None = None) -> NotebookResult:
    from papermill.exceptions import PapermillExecutionError

    name = nb_path.stem
    started = time.monotonic()
    try:
        check_parameters([nb_path], tuple(parameters))
        execute_notebook(nb_path, output_path, parameters, kernel)
        result = NotebookResult(name, "ok")
    except PapermillExecutionError as exc:
        error = {"cell_index": exc.cell_index, "execution_count": exc.exec_count,
                 "ename": exc.ename, "evalue": config.redact(str(exc.evalue))}
        result = NotebookResult(name, "failed", error=error)
    except Exception as exc:  # kernel died, timed out, notebook unreadable: still one failure
        error = {"cell_index": None, "execution_count": None,
                 "ename": type(exc).__name__, "evalue": config.redact(str(exc))}
        result = NotebookResult(name, "failed", error=error)
    redact_notebook(output_path)  # before its HTML is rendered from it
    result.seconds = _since(started)
    return result


def redact_notebook(path: Path) -> None:
    """Mask secrets in an executed notebook's outputs, tracebacks and metadata: a helper that
    prints a resolved connection URL or a source path built from ${ENV} must not keep it there."""
    import nbformat

    if not path.exists():
        return
    nb = nbformat.read(path, as_version=4)
    masked = config.redact_data(nb)
    if masked != nb:
        config.atomic_write(path, lambda tmp: nbformat.write(masked, tmp))


def _since(started: float) -> float:
    return round(time.monotonic() - started, 2)


# ---------------------------------------------------------------- one run: brand x period


@dataclass
class Run:
    params: config.Params
    params_path: Path
    period: str
    run_id: str
    staging: Path
    manifest: dict[str, Any]
    results: list[NotebookResult] = field(default_factory=list)
    clock_start: float = field(default_factory=time.monotonic)

    @property
    def label(self) -> str:
        return f"{self.params.brand} {self.period}"

    @property
    def period_dir(self) -> Path:
        return self.staging.parent

    def parameters(self) -> dict[str, str]:
        return {
            "brand": self.params.brand,
            "period": self.period,
            "run_dir": str(self.staging),
            "params_path": str(self.params_path),
            "language": self.manifest["language"],  # the notebooks' words, as the summary's
        }


def run_period(params: config.Params, period: str, notebooks: list[Path],
               run_id: str | None, command: str, keep_tables: bool = False,
               language: str | None = None) -> bool:
    """Execute the notebooks for one brand and period, then write the run's summary page in
    ``language`` (default: the params' report.language); True when everything succeeded."""
    params_path = config.params_file(params)
    period_dir = config.outputs_dir() / params.brand / period
    try:
        run_id, staging = claim_staging(period_dir, run_id)
    except RunError as exc:
        print(f"{params.brand} {period}  cannot start: {exc}", file=sys.stderr, flush=True)
        return False
    manifest = new_manifest(params, params_path, period, run_id, notebooks, command)
    manifest["language"] = language or params.report.language  # of the notebooks and html/summary.html
    manifest["currency"] = params.business.currency.strip()
    run = Run(params, params_path, period, run_id, staging, manifest)
    write_manifest(staging, manifest)

    execute_all(run, notebooks)  # renders each notebook's HTML as soon as it has run
    if not keep_tables:  # the run's engine tables (a copy of the clean orders): bulky, rebuilt on demand
        shutil.rmtree(staging / report.ENGINE_DIR, ignore_errors=True)
    write_summary(run)
    try:
        final = publish(run)
    except OSError as exc:  # e.g. the final folder appeared meanwhile: keep staging, never overwrite
        print(f"{run.label}  cannot move {staging} into place: {exc}", file=sys.stderr, flush=True)
        return False
    print(f"{run.label}  {manifest['status']}  {final}", flush=True)
    return manifest["status"] == "success"


def execute_all(run: Run, notebooks: list[Path]) -> None:
    """Sequentially: later notebooks read what earlier ones wrote, so after a failure the rest
    are skipped rather than run on missing inputs."""
    from concurrent.futures import ThreadPoolExecutor

    failed = False
    kernel = RunKernel()
    kernel.warm_up(notebooks)
    # A notebook's HTML is rendered while the next one runs (the kernel is another process).
    with ThreadPoolExecutor(max_workers=1) as renderer:
        renders = []
        try:
            for nb_path in notebooks:
                if failed:
                    result = NotebookResult(nb_path.stem, "skipped")
                else:
                    result = run_notebook(nb_path, run.staging / nb_path.name, run.parameters(), kernel)
                    failed = result.status == "failed"
                    kernel.reset()
                run.results.append(result)
                run.manifest["notebooks"][result.name] = result.as_manifest()
                write_manifest(run.staging, run.manifest)
                print(progress_line(run.label, result), flush=True)
                renders.append(renderer.submit(render_one, run, result))
        finally:
            kernel.shutdown()
        for result, done in zip(run.results, renders, strict=True):
            run.manifest["notebooks"][result.name].update(done.result())
    write_manifest(run.staging, run.manifest)


def progress_line(label: str, result: NotebookResult) -> str:
    if result.status == "ok":
        return f"{label}  {result.name}  ok  {result.seconds:.1f}s"
    if result.status == "skipped":
        return f"{label}  {result.name}  skipped"
    error = result.error or {}
    where = ""
    if error.get("cell_index") is not None:
        where = f" at cell {error['cell_index']}"
        if error.get("execution_count") is not None:
            where += f" (In [{error['execution_count']}])"
    evalue = " ".join(str(error.get("evalue", "")).split())
    return f"{label} {result.name} FAILED{where}: {error.get('ename', 'Error')}: {evalue}"


def render_one(run: Run, result: NotebookResult) -> dict[str, Any]:
    """Both HTML renders of one executed notebook: {"html": paths} or {"html_error": text} for
    its manifest entry. A render failure fails the run, but never touches the executed notebook.
    (Runs in the render thread: it returns its entry instead of writing the shared manifest.)"""
    executed = run.staging / f"{result.name}.ipynb"
    if result.status == "skipped" or not executed.exists():
        return {}
    try:
        title = f"{result.name} · {run.params.title} {run.period}"
        from helpers import render  # lazy: nbconvert is only needed to write HTML

        return {"html": render.render_notebook(executed, run.staging / "html", title=title,
                                               language=run.manifest["language"])}
    except Exception as exc:
        error = f"{type(exc).__name__}: {config.redact(str(exc))}"
        print(f"{run.label} {result.name} HTML render FAILED: {error}", flush=True)
        return {"html_error": error}


def write_summary(run: Run) -> None:
    """``html/summary.html`` from the run's metrics.json, also after a partial run (its sections
    say which notebooks did not run), compared with the brand's latest runs of the previous
    period and of a year earlier. A failure is printed and recorded in the manifest
    (``summary_error``) and fails the run (the page is what a manager reads first); the notebooks
    and their pages are kept."""
    try:
        from helpers import render

        run.manifest["summary"] = render.render_summary(run.staging, run.manifest, language=run.manifest["language"],
                                                         brand_dir=run.period_dir.parent)
    except Exception as exc:
        error = f"{type(exc).__name__}: {config.redact(str(exc))}"
        run.manifest["summary_error"] = error
        print(f"{run.label} summary page FAILED: {error}", flush=True)
    write_manifest(run.staging, run.manifest)


def publish(run: Run) -> Path:
    """Finish the manifest, move the staging folder into place, and point `latest` at the
    newest successful run of the period."""
    manifest = run.manifest
    ok = all(r.status == "ok" for r in run.results) and not any(
        "html_error" in manifest["notebooks"][r.name] for r in run.results
    ) and "summary_error" not in manifest
    manifest["status"] = "success" if ok else "failed"
    manifest["finished_utc"] = utc_now()
    manifest["seconds"] = _since(run.clock_start)  # wall time, renders included
    write_manifest(run.staging, manifest)
    redact_run_folder(run.staging)
    final = run.period_dir / run.run_id
    os.rename(run.staging, final)  # atomic; fails rather than overwrite an existing run
    newest = newest_successful_run(run.period_dir)
    if newest is not None:
        point_latest(run.period_dir, newest.run_id)
    return final


# Files of a run folder that are text, whoever wrote them (the runner, the notebooks)
TEXT_SUFFIXES = frozenset({".ipynb", ".json", ".html", ".htm", ".csv", ".tsv", ".txt", ".log", ".md", ".svg"})
SCAN_CHUNK = 16 << 20


def redact_run_folder(folder: Path) -> list[Path]:
    """Mask secrets in every text file of a run folder: the notebooks write data, exports and
    metrics that may quote a source path built from ${ENV} or a connection URL. Returns the files
    changed. Each file is first searched as bytes, so a large export holding no secret (nor any
    URL) is read once and never rewritten."""
    needles = {form.encode() for _name, value in config.secret_values() for form in config.secret_forms(value)}
    needles.add(b"://")  # a URL, whose password the text pass decides about
    changed = []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in TEXT_SUFFIXES or path.is_symlink() or not path.is_file():
            continue
        if not _contains_any(path, needles):
            continue
        if path.suffix == ".ipynb":
            before = path.read_bytes()
            redact_notebook(path)
            if path.read_bytes() != before:
                changed.append(path)
            continue
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        if path.suffix == ".json":
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            if data is not None:  # masked value by value: escapes inside JSON strings stay valid
                masked_data = config.redact_data(data)
                if masked_data != data:
                    config.atomic_write_text(path, json.dumps(masked_data, indent=2, ensure_ascii=False) + "\n")
                    changed.append(path)
                continue
        masked = config.redact(text)
        if masked != text:
            config.atomic_write(path, lambda tmp, masked=masked: tmp.write_text(
                masked, encoding="utf-8", errors="surrogateescape"))
            changed.append(path)
    return changed


def _contains_any(path: Path, needles: set[bytes]) -> bool:
    overlap = max(map(len, needles)) - 1
    tail = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(SCAN_CHUNK):
            window = tail + chunk
            if any(n in window for n in needles):
                return True
            tail = window[-overlap:] if overlap else b""
    return False


def claim_staging(period_dir: Path, requested: str | None) -> tuple[str, Path]:
    """Create this run's staging folder; the run id is a UTC timestamp, with a short random
    suffix when that is taken (two runs in one second). mkdir is the atomic claim; the folder
    names its process at once, so that a cleaner never takes it for a killed run's."""
    try:
        period_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"cannot create {period_dir}: {exc.strerror or exc}") from None
    base = requested or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate = base
    for _ in range(20):
        staging = period_dir / f"{STAGING_PREFIX}{candidate}"
        if not (period_dir / candidate).exists():
            try:
                staging.mkdir()
            except FileExistsError:
                pass
            except OSError as exc:
                raise RunError(f"cannot create {staging}: {exc.strerror or exc}") from None
            else:
                write_manifest(staging, {"run_id": candidate, "status": "running", "started_utc": utc_now(),
                                         "host": socket.gethostname(), "pid": os.getpid()})
                return candidate, staging
        if requested:
            raise RunError(f"run id {requested!r} already exists in {period_dir}")
        candidate = f"{base}-{secrets.token_hex(2)}"
    raise RunError(f"could not find a free run id in {period_dir}")


def point_latest(period_dir: Path, run_id: str) -> None:
    """Swap the relative `latest` link atomically: readers see the old or the new target."""
    tmp = period_dir / f".{LATEST_LINK}-{secrets.token_hex(4)}"
    os.symlink(run_id, tmp)
    os.replace(tmp, period_dir / LATEST_LINK)


# ---------------------------------------------------------------- manifest


def new_manifest(params: config.Params, params_path: Path, period: str, run_id: str,
                 notebooks: list[Path], command: str) -> dict[str, Any]:
    commit, dirty = report.git_state()
    return {
        "schema_version": 1,
        "brand": params.brand,
        "display_name": params.title,
        "period": period,
        "period_kind": params.period,
        "period_end": config.period_end(period, params.period).isoformat(),
        "run_id": run_id,
        "status": "running",
        "started_utc": utc_now(),
        "finished_utc": None,
        "seconds": None,
        "notebooks": {nb.stem: {"status": "pending", "seconds": None} for nb in notebooks},
        # as written: ${ENV} placeholders stay unresolved, so no secret reaches this file
        "params": {
            "path": str(params_path),
            "fingerprint": config.params_fingerprint(params),
            "raw_yaml": params_path.read_text(encoding="utf-8"),
        },
        "data_fingerprint": data_fingerprint(params),
        "versions": report.package_versions(),
        "git_commit": commit,
        "git_dirty": dirty,
        "command": command,
        "notebooks_dir": str(notebooks[0].parent) if notebooks else None,
        "host": socket.gethostname(),  # with pid: tells a running staging run from a killed one
        "pid": os.getpid(),
    }


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    """Written masked: the raw params may hold a URL with its password, an error may quote one."""
    text = json.dumps(config.redact_data(manifest), indent=2, ensure_ascii=False)
    config.atomic_write_text(run_dir / MANIFEST, text + "\n")


def data_fingerprint(params: config.Params) -> str | None:
    """Hash of the brand's source files at the start of the run (None if unavailable)."""
    try:
        from helpers import report

        return report.data_fingerprint(params)
    except Exception:  # a missing file or env var fails the notebooks, with a clearer message
        return None


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- what is on disk


@dataclass
class RunRecord:
    """One run folder (finished or staging) as found on disk."""

    brand: str
    period: str
    run_id: str
    path: Path
    status: str  # success / failed / running / incomplete / unknown
    manifest: dict[str, Any]
    metrics: dict[str, Any]
    is_latest: bool = False

    @property
    def started_utc(self) -> str | None:
        return self.manifest.get("started_utc")

    @property
    def seconds(self) -> float | None:
        return self.manifest.get("seconds")

    @property
    def sort_key(self) -> tuple[str, str]:
        return (self.started_utc or "", self.run_id)

    @property
    def failed_notebook(self) -> tuple[str, str] | None:
        """(notebook, error type) of the first failed notebook, if any."""
        for name, entry in self.manifest.get("notebooks", {}).items():
            if entry.get("status") == "failed":
                return name, (entry.get("error") or {}).get("ename", "error")
        return None


def scan_runs(root: Path | None = None) -> list[RunRecord]:
    root = root or config.outputs_dir()
    records = []
    for brand_dir in _visible_dirs(root):
        for period_dir in _visible_dirs(brand_dir):
            records.extend(period_runs(period_dir))
    return records


def period_runs(period_dir: Path) -> list[RunRecord]:
    """The runs of one period, oldest first."""
    latest = _link_target(period_dir / LATEST_LINK)
    records = []
    for entry in sorted(period_dir.iterdir()):
        if entry.is_symlink() or not entry.is_dir():
            continue
        staging = entry.name.startswith(STAGING_PREFIX)
        if entry.name.startswith(".") and not staging:
            continue
        if not staging and not (entry / MANIFEST).exists():
            continue  # not a runner's run (e.g. a notebook run interactively writes elsewhere)
        records.append(_read_run(entry, staging, latest))
    return sorted(records, key=lambda r: r.sort_key)


def _read_run(path: Path, staging: bool, latest: str | None) -> RunRecord:
    manifest = _read_json(path / MANIFEST)
    if staging:
        run_id = path.name.removeprefix(STAGING_PREFIX)
        status = "running" if _still_running(manifest) else "incomplete"
    else:
        run_id = path.name
        status = manifest.get("status", "unknown")  # success / failed
    return RunRecord(
        brand=path.parent.parent.name,
        period=path.parent.name,
        run_id=run_id,
        path=path,
        status=status,
        manifest=manifest,
        metrics=_read_json(path / METRICS),
        is_latest=not staging and run_id == latest,
    )


def newest_successful_run(period_dir: Path) -> RunRecord | None:
    good = [r for r in period_runs(period_dir) if r.status == "success"]
    return good[-1] if good else None


def _visible_dirs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))


def _link_target(link: Path) -> str | None:
    return os.readlink(link) if link.is_symlink() else None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _still_running(manifest: dict[str, Any]) -> bool:
    """A staging folder whose runner process is alive on this host is running, not killed."""
    pid = manifest.get("pid")
    if not isinstance(pid, int) or manifest.get("host") != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


STAGING_GRACE_SECONDS = 60  # a staging folder this young may be a run still naming its process


@dataclass
class Cleaned:
    """What :func:`clean_killed_runs` removed, kept (with the reason) and failed to remove."""

    removed: list[Path] = field(default_factory=list)
    kept: list[tuple[Path, str]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def clean_killed_runs(brand: str) -> Cleaned:
    """Remove the staging folders of this brand's killed runs: their runner process, on this
    host, is gone. Finished runs are never touched; a staging folder whose process is alive,
    that another host started (its processes cannot be checked from here) or that is seconds
    old and names no process yet is kept."""
    cleaned = Cleaned()
    for period_dir in _visible_dirs(config.outputs_dir() / brand):
        for staging in sorted(period_dir.glob(f"{STAGING_PREFIX}*")):
            if staging.is_symlink() or not staging.is_dir():
                continue
            reason = _why_staging_stays(staging)
            if reason:
                cleaned.kept.append((staging, reason))
                continue
            # renamed first: of two cleaners (runs side by side) one removes it, the other skips
            doomed = staging.with_name(f".removing-{staging.name.removeprefix(STAGING_PREFIX)}-{secrets.token_hex(2)}")
            try:
                os.rename(staging, doomed)
                shutil.rmtree(doomed)
            except FileNotFoundError:
                continue
            except OSError as exc:
                cleaned.failed.append((staging, f"{exc.strerror or exc}: {exc.filename}"))
                continue
            cleaned.removed.append(staging)
    return cleaned


def _why_staging_stays(staging: Path) -> str | None:
    manifest = _read_json(staging / MANIFEST)
    if _still_running(manifest):
        return f"running (process {manifest['pid']})"
    host = manifest.get("host")
    if host and host != socket.gethostname():
        return f"started on host {host}, whose processes cannot be checked from here"
    if "pid" not in manifest and time.time() - staging.stat().st_mtime < STAGING_GRACE_SECONDS:
        return "just created"
    return None


def report_cleaned(cleaned: Cleaned, with_kept: bool = False) -> None:
    for path in cleaned.removed:
        print(f"removed {path}  (incomplete: its run was killed)", flush=True)
    for path, reason in cleaned.kept if with_kept else ():
        print(f"kept {path}  ({reason})", flush=True)
    for path, reason in cleaned.failed:
        print(f"cannot remove {path}  ({reason}); remove it by hand or fix the folder's permissions",
              file=sys.stderr, flush=True)


def check_outputs_writable() -> Path:
    """The outputs folder, created if need be; refused (exit 2) before any run starts when it
    cannot be written, with the folder, the reason and the fix."""
    root = config.outputs_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-test-{os.getpid()}-{secrets.token_hex(4)}"
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        existing = next(p for p in (root, *root.parents) if p.exists())
        if not existing.is_dir():
            why, fix = f" ({existing} is a file, not a folder)", "or move that file away"
        else:
            why = "" if existing == root else f" ({existing} does not let this user create folders in it)"
            fix = f"or give this user write permission on {existing} (e.g. chmod u+w {existing}, as its owner)"
        raise UsageError(
            f"cannot write into the outputs folder {root}: {exc.strerror or exc}{why}. Point "
            f"WORKBOOK_OUTPUTS at a folder you can write to, {fix}"
        ) from None
    return root


def rebuild_index(language: str | None = None) -> Path:
    root = config.outputs_dir()
    from helpers import render

    return render.render_index(scan_runs(root), root / "index.html", language=language)


# ---------------------------------------------------------------- commands


@dataclass
class BrandTarget:
    """What --brand / --params / --all named; loaded inside the per-brand error handling."""

    name: str
    path: Path | None = None

    def load(self) -> config.Params:
        if self.path is not None:
            return config.load_params(self.path)
        return config.load_params(brand=self.name)


def brand_targets(args: argparse.Namespace) -> list[BrandTarget]:
    if args.params:
        return [BrandTarget(name=args.params, path=Path(args.params))]
    if args.brand:
        return [BrandTarget(name=args.brand)]
    files = config.all_params_files()
    if not files:
        raise UsageError(f"--all: no params files in {config.PARAMS_DIR}")
    return [BrandTarget(name=p.stem, path=p) for p in files]


def resolve_periods(params: config.Params, spec: str) -> list[str]:
    """'latest' -> the last complete period in the brand's data; 'A..B' -> every period, where
    either end may be 'latest' or 'latest-K'."""
    from helpers import sources  # lazy: opens the data engine only when needed

    found = latest = None
    if config.needs_latest(spec):  # 'latest', 'latest-1..latest': one scan gives latest and the range
        found = sources.data_range(params)
        latest, note = sources.latest_period(params, found)
        if note:
            print(f"{params.brand}: {note}", flush=True)
        if spec == "latest":
            return [latest]
    periods = config.expand_periods(spec, params.period, latest)
    if found is None:
        try:
            found = sources.data_range(params)
        except Exception as exc:  # unreachable data: notebook 01 reports it, with the notebooks' context
            print(f"{params.brand}: the period could not be checked against the data "
                  f"({type(exc).__name__}: {config.redact(str(exc)).splitlines()[0]})", file=sys.stderr, flush=True)
            return periods
    for label in periods:  # a back-run range must lie within the data, each period of it
        sources.check_period(params, label, found)
    return periods


def run_brand(target: BrandTarget, period_spec: str, notebooks: list[Path],
              run_id: str | None, command: str, keep_tables: bool = False, language: str | None = None) -> int:
    """All periods of one brand; returns the number of failures. A params or data-range error
    fails this brand only, with its message and no traceback."""
    try:
        params = target.load()
        periods = resolve_periods(params, period_spec)
    except ParamsError as exc:
        print(config.redact(str(exc)), file=sys.stderr, flush=True)
        return 1
    except Exception as exc:  # the data could not be read to find 'latest', or miss the period
        known = type(exc).__name__ == "SourceError"  # its message names file, column and fix
        what = "" if known else f"{target.name}: cannot find the brand's data range: {type(exc).__name__}: "
        print(f"{what}{config.redact(str(exc))}", file=sys.stderr, flush=True)
        return 1
    report_cleaned(clean_killed_runs(params.brand))
    return sum(not run_period(params, period, notebooks, run_id, command, keep_tables, language) for period in periods)


def cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    notebooks = select_notebooks(notebooks_dir(), args.only)
    check_parameters(notebooks)
    if args.run_id and (not RUN_ID.match(args.run_id) or args.run_id == LATEST_LINK):
        raise UsageError(f"--run-id {args.run_id!r}: use letters, digits, '.', '_' and '-'")
    command = shlex.join(["workbook", *argv])
    targets = brand_targets(args)
    if args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: give 1 or more")
    check_outputs_writable()
    jobs = [(t, args.period) for t in targets]
    if args.jobs > 1 and (len(jobs) > 1 or ".." in args.period):
        failures = run_side_by_side(jobs, args)
    else:
        failures = sum(run_brand(t, args.period, notebooks, args.run_id, command, args.keep_tables, args.language)
                       for t in targets)
    if not args.no_index:
        print(f"index: {rebuild_index(args.language)}", flush=True)
    if failures:
        print(f"{failures} run(s) or brand(s) failed", file=sys.stderr, flush=True)
    return 1 if failures else 0


def side_by_side_jobs(jobs: list[tuple[BrandTarget, str]]) -> list[tuple[BrandTarget, str | None]]:
    """The processes ``--jobs`` starts: one per brand and period, except that a brand with
    campaign sources keeps its range in one process, in order (each period's plan, notebook 05,
    uses the response the period before's notebook 06 measured). None: the brand failed here."""
    expanded: list[tuple[BrandTarget, str | None]] = []
    for target, spec in jobs:
        periods = [spec]
        if ".." in spec:
            try:
                params = target.load()
                if params.sources.campaigns:
                    print(f"{params.brand}: periods {spec} in order (each plan uses the response the period "
                          "before measured)", flush=True)
                else:
                    periods = resolve_periods(params, spec) if config.needs_latest(spec) else \
                        config.expand_periods(spec, params.period)
            except Exception as exc:  # params or data-range error: this brand fails, with its message
                print(config.redact(str(exc)), file=sys.stderr, flush=True)
                expanded.append((target, None))
                continue
        expanded += [(target, p) for p in periods]
    return expanded


def run_side_by_side(jobs: list[tuple[BrandTarget, str]], args: argparse.Namespace) -> int:
    """Each brand (and each period of a range) as its own ``workbook run`` process, at most
    ``--jobs`` at a time; their output lines are passed through as they come. Returns the
    number of failed jobs (which processes: :func:`side_by_side_jobs`)."""
    from concurrent.futures import ThreadPoolExecutor

    expanded = side_by_side_jobs(jobs)

    def one(target: BrandTarget, period: str | None) -> bool:
        if period is None:
            return False
        cmd = [sys.executable, "-m", "helpers.runner", "run", "--period", period, "--no-index",
               *(["--params", str(target.path)] if target.path else ["--brand", target.name]),
               *(["--only", args.only] if args.only else []),
               *(["--run-id", args.run_id] if args.run_id else []),
               *(["--keep-tables"] if args.keep_tables else []),
               *(["--language", args.language] if args.language else [])]
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              cwd=config.PROJECT_ROOT) as proc:
            for line in proc.stdout:  # the child's kernel writes here too, unmasked
                print(config.redact(line), end="", flush=True)
        return proc.returncode == 0

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda job: one(*job), expanded))
    return sum(not ok for ok in results)


def cmd_render_index(args: argparse.Namespace, argv: list[str]) -> int:
    check_outputs_writable()
    print(rebuild_index(args.language))
    return 0


def cmd_clean(args: argparse.Namespace, argv: list[str]) -> int:
    """Remove the staging folders of killed runs (of one brand, or of every brand)."""
    root = config.outputs_dir()
    brands = [args.brand] if args.brand else [p.name for p in _visible_dirs(root)]
    cleaned = Cleaned()
    for brand in brands:
        found = clean_killed_runs(brand)
        cleaned.removed += found.removed
        cleaned.kept += found.kept
        cleaned.failed += found.failed
    report_cleaned(cleaned, with_kept=True)
    if not cleaned.removed and not cleaned.failed:
        print(f"no killed runs to remove in {root / args.brand if args.brand else root}", flush=True)
    if cleaned.removed and (root / "index.html").exists():  # it listed them as incomplete
        print(f"index: {rebuild_index()}", flush=True)
    return 1 if cleaned.failed else 0


def cmd_list(args: argparse.Namespace, argv: list[str]) -> int:
    runs = scan_runs()
    runs_by_brand: dict[str, list[RunRecord]] = {}
    for record in runs:
        runs_by_brand.setdefault(record.brand, []).append(record)
    described = set()
    for params_path in config.all_params_files():
        brand, lines = describe_params(params_path)
        described.add(brand)
        print("\n".join(lines + run_table(runs_by_brand.get(brand, []))) + "\n")
    for brand in sorted(set(runs_by_brand) - described):
        lines = [brand, f"  params: none in {config.PARAMS_DIR}"]
        print("\n".join(lines + run_table(runs_by_brand[brand])) + "\n")
    return 0


def describe_params(params_path: Path) -> tuple[str, list[str]]:
    """(brand, header lines): name, title and the data range of one params file."""
    try:
        params = config.load_params(params_path)
    except ParamsError as exc:
        return params_path.stem, [params_path.stem, f"  params: INVALID: {exc.args[0].splitlines()[0]}"]
    header = f"{params.brand}  {params.title}" if params.title != params.brand else params.brand
    try:
        from helpers import sources

        found = sources.data_range(params)
        first, last = found.first, found.last
        latest, _note = sources.latest_period(params, found)
        data = (f"  data: {first:%Y-%m-%d} .. {last:%Y-%m-%d}  "
                f"(period: {params.period}, latest complete: {latest})")
    except Exception as exc:
        data = f"  data: unavailable ({type(exc).__name__}: {config.redact(str(exc)).splitlines()[0]})"
    return params.brand, [header, data]


def run_table(records: list[RunRecord]) -> list[str]:
    if not records:
        return ["  no runs yet"]
    rows = [
        (
            r.period,
            r.run_id,
            r.status,
            (r.started_utc or "").replace("T", " ").removesuffix("Z"),
            f"{r.seconds:.1f}s" if r.seconds is not None else "",
            "latest" if r.is_latest else ("failed: " + r.failed_notebook[0] if r.failed_notebook else ""),
        )
        for r in sorted(records, key=lambda r: (r.period, r.sort_key))
    ]
    return format_table(("PERIOD", "RUN ID", "STATUS", "STARTED (UTC)", "TIME", ""), rows)


def format_table(headers: tuple[str, ...], rows: list[tuple[str, ...]], indent: str = "  ") -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    return [indent + "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in (headers, *rows)]


def cmd_generate(args: argparse.Namespace, argv: list[str]) -> int:
    """A synthetic brand of any size: the demo generator's files plus a params.yaml for them."""
    from helpers import demo

    try:
        path = demo.write_brand(args.out, n_customers=args.customers, seed=args.seed, brand=args.brand)
    except ValueError as exc:  # ParamsError (bad brand name) or too few customers
        raise UsageError(str(exc)) from None
    rows = demo.load_truth(path.parent)["total_rows_by_source"]
    print(f"{args.customers:,} customers, {rows['online_orders'] + rows['pos_orders']:,} order rows in {path.parent}")
    print(f"params: {path}")
    print(f"next: workbook run --params {shlex.quote(str(path))}")
    return 0


def cmd_init(args: argparse.Namespace, argv: list[str]) -> int:
    """Inspect raw exports and write a first params file, every guess commented."""
    from helpers import onboarding

    try:
        path, checks, _ = onboarding.init(args.files, args.brand, Path(args.out) if args.out else None, args.force,
                                          args.url, args.table, args.query)
    except ParamsError as exc:
        raise UsageError(str(exc)) from None
    except Exception as exc:  # SourceError names the file and the fix
        print(config.redact(str(exc)), file=sys.stderr, flush=True)
        return 1
    print(f"params: {path}\ncheck these guesses:")
    print("\n".join(f"  - {line}" for line in checks))
    shown = f"--brand {args.brand}" if not args.out else f"--params {shlex.quote(str(path))}"
    print(f"next: workbook check {shown}")
    return 0


def cmd_check(args: argparse.Namespace, argv: list[str]) -> int:
    """Validate a params file against its data in seconds (exit 1 on a blocking problem)."""
    from helpers import onboarding

    path = Path(args.params) if args.params else config.PARAMS_DIR / f"{args.brand}.yaml"
    result = onboarding.check(path)
    print(config.redact("\n".join(result.lines)), flush=True)
    for problem in result.problems:
        print(config.redact(str(problem)), file=sys.stderr if problem.blocking else sys.stdout, flush=True)
    verdict = "blocking problem(s): fix them before a run" if result.blocking else "ready to run"
    print(f"check: {len(result.problems)} problem(s), {verdict} ({result.seconds:.1f}s)", flush=True)
    return 1 if result.blocking else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbook",
        description="Run the numbered notebooks per brand and period; list runs; rebuild the index.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="execute the notebooks for brands and periods")
    which = run.add_mutually_exclusive_group(required=True)
    which.add_argument("--brand", help="a brand with a params/<brand>.yaml")
    which.add_argument("--params", metavar="PATH", help="a params file anywhere")
    which.add_argument("--all", action="store_true", help="every params/*.yaml")
    run.add_argument("--period", default="latest",
                     help="'latest' (default: last complete period in the data), a label such as "
                          "2025-06 / 2025Q2 / 2025-W23, or a range FIRST..LAST (one run each); "
                          "'latest-1..latest' is the last two complete periods")
    run.add_argument("--only", metavar="NN,NN", help="run only these notebooks, by number prefix")
    run.add_argument("--run-id", help="override the run id (default: UTC timestamp)")
    run.add_argument("--jobs", type=int, default=1, metavar="N",
                     help="run up to N brands or periods side by side (default 1; each run uses "
                          "one kernel and the engine's threads, so N above the cores rarely helps)")
    run.add_argument("--no-index", action="store_true", help=argparse.SUPPRESS)  # set by --jobs children
    run.add_argument("--keep-tables", action="store_true",
                     help="keep the run's engine tables (engine/: mapped sources, clean orders as Parquet)")
    run.add_argument("--language", choices=LANGUAGES,
                     help="language of the summary page (html/summary.html) and the index; default: the "
                          "params' report.language (en unless set)")
    run.set_defaults(handler=cmd_run)

    listing = commands.add_parser("list", help="brands, their data ranges and past runs")
    listing.set_defaults(handler=cmd_list)

    index = commands.add_parser("render-index", help="rebuild outputs/index.html from disk")
    index.add_argument("--language", choices=LANGUAGES,
                       help="language of the index (default: the one every brand's runs report in, else en)")
    index.set_defaults(handler=cmd_render_index)

    clean = commands.add_parser("clean", help="remove the staging folders of killed runs")
    clean.add_argument("--brand", help="only this brand (default: every brand in the outputs folder)")
    clean.set_defaults(handler=cmd_clean)

    generate = commands.add_parser("generate", help="write a synthetic brand (demo generator) and its params file")
    generate.add_argument("--customers", type=int, required=True, metavar="N", help="number of customers")
    generate.add_argument("--out", required=True, metavar="DIR", help="folder for the data and params.yaml")
    generate.add_argument("--seed", type=int, help="generator seed (default: the demo's)")
    generate.add_argument("--brand", help="brand name (default: synthetic_<N>)")
    generate.set_defaults(handler=cmd_generate)

    init = commands.add_parser("init", help="inspect raw exports and write a first params file (every guess commented)")
    init.add_argument("files", nargs="*", metavar="FILE", help="CSV/TSV/Excel/Parquet/JSON or whitespace text")
    init.add_argument("--brand", required=True, help="brand name (writes params/<brand>.yaml)")
    init.add_argument("--out", metavar="PATH", help="write the params file here instead")
    init.add_argument("--force", action="store_true", help="overwrite an existing params file")
    init.add_argument("--url", help="an engine URL to read a table or query from")
    init.add_argument("--table", help="a table of --url")
    init.add_argument("--query", metavar="SQL", help="a query against --url")
    init.set_defaults(handler=cmd_init)

    check = commands.add_parser("check", help="validate a params file against its data in seconds, no notebooks")
    checked = check.add_mutually_exclusive_group(required=True)
    checked.add_argument("--brand", help="a brand with a params/<brand>.yaml")
    checked.add_argument("--params", metavar="PATH", help="a params file anywhere")
    check.set_defaults(handler=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args, argv)
    except UsageError as exc:
        print(f"workbook: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("workbook: interrupted; an unfinished run stays in its .staging-* folder (listed as "
              "incomplete until the brand's next run or `workbook clean` removes it), earlier runs "
              "and `latest` are untouched", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
