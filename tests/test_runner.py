"""The `workbook` runner against tiny notebooks written here (the real ones are independent).

Kernels take a second or two to start, so the runs are shared: one module-scoped fixture makes
two good runs and one failing run of the same period, and the tests inspect what they left.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from helpers import config, render, runner, sources

BRAND = "tiny"
PERIOD = "2025-05"
SECRET_ENV = "TINY_DB_PASSWORD"
SECRET_VALUE = "s3cret-Value-9f2c7e"
FAKE_CUSTOMER_ID = "CUST-ID-C0042"
HIDDEN_OUTPUT = "ROW-LEVEL-OUTPUT-7731"
CODE_MARKER = "code_marker_variable"
DATA_RANGE = (pd.Timestamp("2024-01-03 08:00"), pd.Timestamp("2025-05-20 21:15"))  # May incomplete: latest 2025-04

PARAMS_YAML = f"""\
brand: {BRAND}
display_name: "Tiny Test Brand"
period: month
engine:
  url: "postgres://analyst:${{{SECRET_ENV}}}@db.example.com/shop"
sources:
  orders:
    - name: orders
      path: data/tiny/orders.csv
      columns:
        order_id: id
        customer_id: member
        order_ts: ts
        amount: paid
"""

PARAMETERS_CELL = 'brand = "demo"\nperiod = "latest"\nrun_dir = ""\nparams_path = ""\nlanguage = ""\n'

MERGE_METRICS = """\
import json, pathlib
out = pathlib.Path(run_dir)
metrics_file = out / "metrics.json"
metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
"""


# ---------------------------------------------------------------- tiny notebooks


def code(source: str, *tags: str):
    cell = nbformat.v4.new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def write_notebook(path: Path, cells: list, parameters: str = PARAMETERS_CELL) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), code(parameters, "parameters"), *cells]
    nbformat.write(nb, path)


def write_tiny_notebooks(folder: Path) -> None:
    """01 writes audit figures and data/, 02 reads them (fails on demand; has hidden cells),
    03 writes clv figures and exports/."""
    folder.mkdir(parents=True, exist_ok=True)
    write_notebook(folder / "01_alpha.ipynb", [
        code("from helpers.config import load_params\nparams = load_params(params_path)\n"
             "assert params.brand == brand"),
        code(MERGE_METRICS + 'metrics["audit"] = {"status": "ok", "orders_clean": 1234, '
             '"revenue_clean": 5678.5, "period": period}\n'
             'metrics_file.write_text(json.dumps(metrics))\n'
             '(out / "data").mkdir(exist_ok=True)\n(out / "data" / "alpha.csv").write_text("x\\n1\\n")\n'
             'print("ALPHA_VISIBLE_OUTPUT")'),
    ])
    write_notebook(folder / "02_beta.ipynb", [
        code(f'print("{FAKE_CUSTOMER_ID}")', "remove"),
        code(f'print("{HIDDEN_OUTPUT}")', "remove-output"),
        code('import os\nif os.environ.get("TINY_FAIL") == "02_beta":\n    raise KeyError("x")'),
        code(MERGE_METRICS + f'{CODE_MARKER} = metrics["audit"]["orders_clean"]\n'
             f'metrics["beta"] = {{"orders_seen": {CODE_MARKER}}}\n'
             'metrics_file.write_text(json.dumps(metrics))\n'
             f'print("BETA_VISIBLE", {CODE_MARKER})'),
    ])
    write_notebook(folder / "03_gamma.ipynb", [
        code(MERGE_METRICS + 'metrics["clv"] = {"total": 99.5}\n'
             'metrics_file.write_text(json.dumps(metrics))\n'
             '(out / "exports").mkdir(exist_ok=True)\n'
             '(out / "exports" / "gamma.csv").write_text("tier,n\\nA,3\\n")'),
    ])


# ---------------------------------------------------------------- fixtures


@dataclass
class Cli:
    code: int
    out: str
    err: str


def run_cli(*args: str) -> Cli:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = runner.main(list(args))
    return Cli(code, out.getvalue(), err.getvalue())


@dataclass
class Workspace:
    root: Path
    notebooks: Path
    outputs: Path
    params: Path
    params_dir: Path

    def cli(self, *args: str, **env: str) -> Cli:
        """The CLI on this workspace's notebooks and outputs (set per call: conftest points
        WORKBOOK_OUTPUTS at a shared folder for every test function)."""
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("WORKBOOK_NOTEBOOKS", str(self.notebooks))
            mp.setenv("WORKBOOK_OUTPUTS", str(self.outputs))
            for name, value in env.items():
                mp.setenv(name, value)
            return run_cli(*args)

    def period_dir(self, period: str = PERIOD, brand: str = BRAND) -> Path:
        return self.outputs / brand / period

    def run_dirs(self, period: str = PERIOD) -> list[Path]:
        return sorted(p for p in self.period_dir(period).iterdir() if p.is_dir() and not p.is_symlink())


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("workbook")
    params_dir = root / "params"
    params_dir.mkdir()
    params = params_dir / f"{BRAND}.yaml"
    params.write_text(PARAMS_YAML, encoding="utf-8")
    write_tiny_notebooks(root / "notebooks")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SECRET_ENV, SECRET_VALUE)
        mp.delenv("TINY_FAIL", raising=False)
        # the data range the runner finds, without opening data: 40 orders a month, plausible dates
        months = pd.period_range(DATA_RANGE[0], DATA_RANGE[1], freq="M").start_time
        found = sources.DataRange(first=DATA_RANGE[0], last=DATA_RANGE[1],
                                  volume=pd.Series(40, index=months), implausible=0)
        mp.setattr("helpers.sources.data_range", lambda params: found)
        mp.setattr(config, "PARAMS_DIR", params_dir)
        yield Workspace(root, root / "notebooks", root / "outputs", params, params_dir)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@dataclass
class History:
    first: Path
    second: Path
    failed: Path
    first_before: dict
    first_after: dict
    first_cli: Cli
    second_cli: Cli
    failed_cli: Cli
    leftovers_after_runs: list[str]


@pytest.fixture(scope="module")
def history(workspace) -> History:
    """Run A (good), run B (good), run C (02 fails) of the same brand and period."""
    first_cli = workspace.cli("run", "--params", str(workspace.params), "--period", PERIOD)
    (first,) = workspace.run_dirs()
    first_before = snapshot(first)
    second_cli = workspace.cli("run", "--params", str(workspace.params), "--period", PERIOD)
    failed_cli = workspace.cli("run", "--params", str(workspace.params), "--period", PERIOD,
                               TINY_FAIL="02_beta")
    runs = workspace.run_dirs()
    leftovers = [p.name for p in workspace.period_dir().iterdir() if p.name.startswith(".")]
    second, failed = [p for p in runs if p != first]
    return History(first, second, failed, first_before, snapshot(first),
                   first_cli, second_cli, failed_cli, leftovers)


def manifest_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


# ---------------------------------------------------------------- a good run


def test_good_run_writes_everything_in_place(history):
    assert history.first_cli.code == 0, history.first_cli.err
    run = history.first
    assert re.fullmatch(r"\d{8}T\d{6}Z(-[0-9a-f]{4})?", run.name)
    for name in ("01_alpha", "02_beta", "03_gamma"):
        assert (run / f"{name}.ipynb").is_file()
        assert (run / "html" / f"{name}.html").is_file()
        assert (run / "html" / f"{name}.analyst.html").is_file()
    assert (run / "data" / "alpha.csv").is_file()
    assert (run / "exports" / "gamma.csv").is_file()
    assert history.leftovers_after_runs == []  # no staging folder survives a finished run


def test_metrics_are_merged_across_notebooks(history):
    metrics = json.loads((history.first / "metrics.json").read_text())
    assert metrics["audit"] == {"status": "ok", "orders_clean": 1234, "revenue_clean": 5678.5,
                                "period": PERIOD}  # the resolved label reached the notebook
    assert metrics["beta"] == {"orders_seen": 1234}  # 02 read what 01 wrote
    assert metrics["clv"] == {"total": 99.5}


def test_manifest_records_the_run(history, workspace):
    manifest = manifest_of(history.first)
    assert manifest["brand"] == BRAND and manifest["period"] == PERIOD
    assert manifest["run_id"] == history.first.name
    assert manifest["status"] == "success"
    assert manifest["period_end"].startswith("2025-05-31T23:59:59")
    assert manifest["started_utc"] <= manifest["finished_utc"]
    assert list(manifest["notebooks"]) == ["01_alpha", "02_beta", "03_gamma"]
    for entry in manifest["notebooks"].values():
        assert entry["status"] == "ok" and entry["seconds"] > 0 and "error" not in entry
        assert entry["html"]["stakeholder"].startswith("html/")
    assert manifest["params"]["raw_yaml"] == workspace.params.read_text()
    assert "${" + SECRET_ENV + "}" in manifest["params"]["raw_yaml"]  # as written, unresolved
    assert manifest["params"]["fingerprint"] == config.params_fingerprint(config.load_params(workspace.params))
    assert set(manifest["versions"]) >= {"python", "pandas", "numpy", "ibis-framework", "duckdb",
                                         "lifetimes", "papermill"}
    assert "git_commit" in manifest
    assert "data_fingerprint" in manifest  # the tiny brand's files do not exist: any value
    assert manifest["command"].startswith("workbook run --params")


def test_progress_lines_and_paths_are_printed(history):
    out = history.first_cli.out
    for name in ("01_alpha", "02_beta", "03_gamma"):
        assert re.search(rf"^{BRAND} {PERIOD}  {name}  ok  \d+\.\ds$", out, re.M)
    assert str(history.first) in out
    assert out.rstrip().endswith("index.html")


def test_stakeholder_html_has_no_code_and_no_hidden_cells(history):
    html = (history.first / "html" / "02_beta.html").read_text()
    assert "BETA_VISIBLE 1234" in html  # outputs stay
    assert CODE_MARKER not in html  # no code
    assert FAKE_CUSTOMER_ID not in html  # cell tagged "remove"
    assert HIDDEN_OUTPUT not in html  # output of a cell tagged "remove-output"
    assert "run_dir" not in html and "params_path" not in html  # parameters + injected cells
    assert str(history.first.parent) not in html
    assert "In&nbsp;[" not in html and "In [" not in html  # no prompts
    analyst = (history.first / "html" / "02_beta.analyst.html").read_text()
    assert CODE_MARKER in analyst and FAKE_CUSTOMER_ID in analyst  # the full render keeps all


def test_executed_notebook_has_the_injected_parameters(history):
    nb = nbformat.read(history.first / "01_alpha.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    assert f'period = "{PERIOD}"' in injected[0].source
    assert set(nb.metadata.papermill.parameters) == set(runner.PARAMETER_NAMES)


# ---------------------------------------------------------------- runs never overwrite


def test_second_run_leaves_the_first_untouched(history):
    assert history.second_cli.code == 0
    assert history.second != history.first
    assert history.first_after == history.first_before  # same bytes, same mtimes


def test_latest_points_to_the_newest_successful_run(history, workspace):
    link = workspace.period_dir() / "latest"
    assert link.is_symlink()
    assert os.readlink(link) == history.second.name  # relative
    assert link.resolve() == history.second.resolve()


# ---------------------------------------------------------------- a failing run


def test_failed_run_exits_1_and_names_notebook_cell_and_error(history):
    cli = history.failed_cli
    assert cli.code == 1
    assert re.search(rf"^{BRAND} {PERIOD} 02_beta FAILED at cell \d+ \(In \[\d+\]\): KeyError: 'x'$",
                     cli.out, re.M), cli.out
    assert re.search(rf"^{BRAND} {PERIOD}  03_gamma  skipped$", cli.out, re.M)


def test_failed_run_keeps_the_executed_notebook_and_records_the_error(history):
    run = history.failed
    nb = nbformat.read(run / "02_beta.ipynb", as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors and errors[0].ename == "KeyError"
    assert not (run / "03_gamma.ipynb").exists()
    manifest = manifest_of(run)
    assert manifest["status"] == "failed"
    notebooks = manifest["notebooks"]
    assert notebooks["01_alpha"]["status"] == "ok"
    assert notebooks["02_beta"]["status"] == "failed"
    assert notebooks["02_beta"]["error"]["ename"] == "KeyError"
    assert notebooks["02_beta"]["error"]["evalue"] == "'x'"
    assert isinstance(notebooks["02_beta"]["error"]["cell_index"], int)
    assert notebooks["03_gamma"]["status"] == "skipped"
    # what executed is still rendered; the stakeholder page shows no traceback
    stakeholder = (run / "html" / "02_beta.html").read_text()
    assert "stopped with an error (KeyError)" in stakeholder
    assert "Traceback" not in stakeholder and "raise KeyError" not in stakeholder
    assert (run / "html" / "02_beta.analyst.html").is_file()


def test_failed_run_does_not_move_latest(history, workspace):
    assert os.readlink(workspace.period_dir() / "latest") == history.second.name


# ---------------------------------------------------------------- secrets and the index


def test_secret_is_never_written(history, workspace):
    assert os.environ[SECRET_ENV] == SECRET_VALUE
    files = [p for p in workspace.outputs.rglob("*") if p.is_file()]
    assert len(files) > 20
    leaked = [str(p) for p in files if SECRET_VALUE.encode() in p.read_bytes()]
    assert leaked == []


def test_index_lists_runs_with_status_figures_and_links(history, workspace):
    html = (workspace.outputs / "index.html").read_text()
    assert "Tiny Test Brand" in html
    for run in (history.first, history.second, history.failed):
        assert run.name in html
    assert "success" in html and "failed" in html
    assert "02_beta: KeyError" in html  # which notebook failed, not the message
    assert "1,234" in html and "5,678" in html and "99.5" in html  # headline figures
    link = f'href="{BRAND}/{PERIOD}/{history.second.name}/html/01_alpha.html"'
    assert link in html
    assert CODE_MARKER not in html and FAKE_CUSTOMER_ID not in html


def test_killed_run_leaves_only_staging_listed_incomplete(history, workspace, tmp_path):
    """A runner killed mid-notebook: its staging folder stays, shown as running while the
    process lives and as incomplete after; the earlier runs and `latest` are untouched."""
    slow = tmp_path / "notebooks"
    slow.mkdir()
    write_notebook(slow / "01_slow.ipynb", [code("import time\ntime.sleep(60)")])
    before = snapshot(history.second)
    env = {**os.environ, "WORKBOOK_NOTEBOOKS": str(slow), "WORKBOOK_OUTPUTS": str(workspace.outputs)}
    cmd = [sys.executable, "-m", "helpers.runner", "run", "--params", str(workspace.params),
           "--period", PERIOD, "--run-id", "killed-run"]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    staging = workspace.period_dir() / ".staging-killed-run"
    try:
        deadline = time.monotonic() + 60
        while not (staging / "manifest.json").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (staging / "manifest.json").exists()
        assert re.search(rf"{PERIOD}\s+killed-run\s+running", workspace.cli("list").out)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the runner and its kernel: our own process group
        proc.wait()

    assert staging.is_dir() and not (workspace.period_dir() / "killed-run").exists()
    cli = workspace.cli("list")
    assert cli.code == 0
    assert "Tiny Test Brand" in cli.out
    assert "data: 2024-01-03 .. 2025-05-20" in cli.out and "latest complete: 2025-04" in cli.out
    assert re.search(rf"{PERIOD}\s+killed-run\s+incomplete", cli.out), cli.out
    assert re.search(rf"{PERIOD}\s+{history.second.name}\s+success\s.*latest", cli.out)
    assert re.search(rf"{PERIOD}\s+{history.failed.name}\s+failed\s.*failed: 02_beta", cli.out)
    assert os.readlink(workspace.period_dir() / "latest") == history.second.name
    assert snapshot(history.second) == before

    assert workspace.cli("render-index").code == 0
    html = (workspace.outputs / "index.html").read_text()
    assert "killed-run" in html and "incomplete" in html


def test_taken_run_id_is_refused_without_overwriting(history, workspace):
    before = snapshot(history.first)
    cli = workspace.cli("run", "--params", str(workspace.params), "--period", PERIOD,
                  "--run-id", history.first.name)
    assert cli.code == 1
    assert "already exists" in cli.err
    assert snapshot(history.first) == before


# ---------------------------------------------------------------- periods, --only, brands


def test_back_run_range_makes_one_run_per_period_and_only_selects(workspace):
    cli = workspace.cli("run", "--brand", BRAND, "--period", "2025-01..2025-03", "--only", "01")
    assert cli.code == 0, cli.out + cli.err
    for period in ("2025-01", "2025-02", "2025-03"):
        (run,) = workspace.run_dirs(period)
        assert sorted(p.name for p in run.glob("*.ipynb")) == ["01_alpha.ipynb"]
        assert list(manifest_of(run)["notebooks"]) == ["01_alpha"]
        assert json.loads((run / "metrics.json").read_text())["audit"]["period"] == period
        assert os.readlink(workspace.period_dir(period) / "latest") == run.name


def test_period_latest_is_the_last_complete_period_in_the_data(workspace):
    cli = workspace.cli("run", "--brand", BRAND, "--only", "1")
    assert cli.code == 0, cli.out + cli.err
    (run,) = workspace.run_dirs("2025-04")  # data ends 2025-04-30
    assert manifest_of(run)["period"] == "2025-04"


def test_params_error_fails_one_brand_and_the_others_still_run(workspace):
    broken = workspace.params_dir / "broken.yaml"
    broken.write_text(PARAMS_YAML.replace(f"brand: {BRAND}", "brand: broken") + "margn: 0.3\n")
    try:
        cli = workspace.cli("run", "--all", "--period", "2024-11", "--only", "01")
    finally:
        broken.unlink()
    assert cli.code == 1
    assert "broken.yaml" in cli.err and "margn" in cli.err
    assert "Traceback" not in cli.err + cli.out
    (run,) = workspace.run_dirs("2024-11")
    assert manifest_of(run)["status"] == "success"
    assert not (workspace.outputs / "broken").exists()


def test_unknown_parameter_is_refused_before_papermill(workspace, tmp_path, monkeypatch):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder / "01_old.ipynb", [code("print(1)")],
                   parameters='brand = "demo"\nperiod = "latest"\nrun_dir = ""\n')
    monkeypatch.setenv("WORKBOOK_NOTEBOOKS", str(folder))
    monkeypatch.setenv("WORKBOOK_OUTPUTS", str(tmp_path / "outputs"))

    def no_papermill(*args, **kwargs):
        raise AssertionError("papermill must not be called")

    monkeypatch.setattr("papermill.execute_notebook", no_papermill)
    cli = run_cli("run", "--params", str(workspace.params), "--period", PERIOD)
    assert cli.code == 2
    assert "01_old.ipynb" in cli.err and "params_path" in cli.err
    assert not (tmp_path / "outputs" / BRAND).exists()


def test_notebook_without_parameters_cell_is_refused(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('brand = "demo"')]
    nbformat.write(nb, tmp_path / "01_x.ipynb")
    with pytest.raises(runner.UsageError, match="exactly one cell tagged 'parameters'"):
        runner.check_parameters([tmp_path / "01_x.ipynb"])


def test_only_with_an_unknown_number_is_a_usage_error(workspace):
    cli = workspace.cli("run", "--brand", BRAND, "--period", PERIOD, "--only", "01,09")
    assert cli.code == 2 and "09" in cli.err


def test_render_failure_keeps_the_executed_notebook(workspace, monkeypatch):
    def broken_render(*args, **kwargs):
        raise RuntimeError("template exploded")

    monkeypatch.setattr(render, "render_notebook", broken_render)
    cli = workspace.cli("run", "--brand", BRAND, "--period", "2024-10", "--only", "01")
    assert cli.code == 1
    assert "01_alpha HTML render FAILED: RuntimeError: template exploded" in cli.out
    (run,) = workspace.run_dirs("2024-10")
    assert (run / "01_alpha.ipynb").is_file()
    manifest = manifest_of(run)
    assert manifest["status"] == "failed"
    assert manifest["notebooks"]["01_alpha"]["status"] == "ok"
    assert "template exploded" in manifest["notebooks"]["01_alpha"]["html_error"]
    assert not (workspace.period_dir("2024-10") / "latest").exists()


def test_summary_failure_fails_the_run_and_keeps_the_notebooks(workspace, monkeypatch):
    def broken_summary(*args, **kwargs):
        raise ValueError("no headline")

    monkeypatch.setattr(render, "render_summary", broken_summary)
    cli = workspace.cli("run", "--brand", BRAND, "--period", "2024-05", "--only", "01")
    assert cli.code == 1
    assert "summary page FAILED: ValueError: no headline" in cli.out
    (run,) = workspace.run_dirs("2024-05")
    manifest = manifest_of(run)
    assert manifest["status"] == "failed" and manifest["summary_error"] == "ValueError: no headline"
    assert manifest["notebooks"]["01_alpha"]["status"] == "ok" and (run / "html" / "01_alpha.html").is_file()
    assert not (workspace.period_dir("2024-05") / "latest").exists()


# ---------------------------------------------------------------- units


def test_kernel_start_failure_is_retried(monkeypatch, tmp_path):
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("Kernel died before replying to kernel_info")

    monkeypatch.setattr("papermill.execute_notebook", flaky)
    monkeypatch.setattr(runner.time, "sleep", lambda s: None)
    runner.execute_notebook(tmp_path / "in.ipynb", tmp_path / "out.ipynb", {})
    assert len(calls) == 2


def test_dead_kernel_mid_run_is_not_retried(monkeypatch, tmp_path):
    from nbclient.exceptions import DeadKernelError

    calls = []

    def dies(*args, **kwargs):
        calls.append(1)
        raise DeadKernelError("Kernel died")

    monkeypatch.setattr("papermill.execute_notebook", dies)
    with pytest.raises(DeadKernelError):
        runner.execute_notebook(tmp_path / "in.ipynb", tmp_path / "out.ipynb", {})
    assert len(calls) == 1


def test_headline_figures_read_flat_or_nested_scalars():
    figures = render.headline_figures(
        {"audit": {"status": "ok", "orders_clean": 1200}, "clv.total": 12345.6, "x": [1, 2]}
    )
    assert figures == {"Audit": "ok", "Orders (clean)": "1,200", "Total CLV": "12,346"}


# ---------------------------------------------------------------- one kernel per run, side by side


KERNEL_PROBE = ('import os, pathlib\n'
                'pathlib.Path(run_dir, "kernel-pid-{nb}").write_text(str(os.getpid()))\n'
                'first_count = get_ipython().execution_count\n'
                'leaked_names = sorted(n for n in ("left_behind", "first_count_01") if n in globals())\n'
                'pathlib.Path(run_dir, "{nb}.json").write_text(__import__("json").dumps('
                '{{"count": first_count, "leaked": leaked_names}}))\n'
                '{extra}')


def test_notebooks_of_a_run_share_one_kernel_reset_between_them(workspace, tmp_path):
    """One kernel per run (imports paid once), yet every notebook starts as in a fresh kernel:
    no names left by the previous notebook, counting from In [1]."""
    notebooks = tmp_path / "shared"
    notebooks.mkdir()
    write_notebook(notebooks / "01_first.ipynb", [
        code(KERNEL_PROBE.format(nb="01", extra='left_behind = 1\nfirst_count_01 = first_count')),
    ])
    write_notebook(notebooks / "02_second.ipynb", [code(KERNEL_PROBE.format(nb="02", extra=""))])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBOOK_NOTEBOOKS", str(notebooks))
        mp.setenv("WORKBOOK_OUTPUTS", str(workspace.outputs))
        cli = run_cli("run", "--params", str(workspace.params), "--period", "2024-06")
    assert cli.code == 0, cli.out + cli.err
    (run,) = workspace.run_dirs("2024-06")
    pids = {p.read_text() for p in run.glob("kernel-pid-*")}
    assert len(pids) == 1, "both notebooks ran in the same kernel process"
    first, second = (json.loads((run / f"{nb}.json").read_text()) for nb in ("01", "02"))
    assert first["leaked"] == [] and second["leaked"] == [], "the kernel was reset between notebooks"
    assert second["count"] == first["count"], "each notebook counts its cells from In [1]"


def test_jobs_run_periods_side_by_side(workspace):
    cli = workspace.cli("run", "--params", str(workspace.params), "--period", "2024-07..2024-08", "--only", "01",
                        "--jobs", "2")
    assert cli.code == 0, cli.out + cli.err
    for period in ("2024-07", "2024-08"):
        (run,) = workspace.run_dirs(period)
        assert manifest_of(run)["status"] == "success"
        assert json.loads((run / "metrics.json").read_text())["audit"]["period"] == period
    assert "index:" in cli.out


def test_period_counted_back_from_latest(workspace):
    """'latest-1' is the period before the last complete one (the data end 2025-05-20: 2025-03),
    what make demo runs first; ranges such as 'latest-1..latest' are expanded the same way
    (tests/test_config.py::test_periods_counted_back_from_latest)."""
    cli = workspace.cli("run", "--params", str(workspace.params), "--period", "latest-1", "--only", "01")
    assert cli.code == 0, cli.out + cli.err
    run = workspace.period_dir("2025-03") / "latest"
    assert "latest-1" in manifest_of(run)["command"]
    assert json.loads((run / "metrics.json").read_text())["audit"]["period"] == "2025-03"


def test_jobs_keep_a_brand_with_campaigns_in_period_order(workspace, tmp_path, capsys):
    """Each period's plan uses the response its previous period measured, so --jobs gives a brand
    with campaign sources one process for its whole range (run in order) and a brand without
    one process per period."""
    params = tmp_path / "withcampaigns.yaml"
    params.write_text(PARAMS_YAML + """\
  campaigns:
    - name: winback
      path: data/tiny/campaign.csv
      columns: {campaign_id: campaign, customer_id: member, group: arm, contact_ts: sent}
""", encoding="utf-8")
    with_campaigns = runner.BrandTarget(name="withcampaigns", path=params)
    without = runner.BrandTarget(name=BRAND, path=workspace.params)
    jobs = runner.side_by_side_jobs([(with_campaigns, "2024-09..2024-11"), (without, "2024-09..2024-10")])
    assert jobs == [(with_campaigns, "2024-09..2024-11"), (without, "2024-09"), (without, "2024-10")]
    assert "periods 2024-09..2024-11 in order" in capsys.readouterr().out


def test_jobs_must_be_positive(workspace):
    cli = workspace.cli("run", "--brand", BRAND, "--jobs", "0")
    assert cli.code == 2 and "--jobs" in cli.err


def test_helper_imports_name_modules_not_functions(tmp_path):
    path = tmp_path / "01_x.ipynb"
    write_notebook(path, [nbformat.v4.new_code_cell(
        "from helpers import audit, plots\nfrom helpers.report import open_run, say\n"
        "from helpers.text import clv as clv_words, Text\nimport helpers.summary")])
    assert runner.helper_imports(path) == {"helpers.audit", "helpers.plots", "helpers.report", "helpers.text",
                                           "helpers.text.clv", "helpers.summary"}


def test_helper_imports_of_the_real_notebooks():
    """The kernel's warm-up imports exactly what the notebooks import from helpers."""
    found = {nb.name: runner.helper_imports(nb) for nb in runner.select_notebooks(config.NOTEBOOKS_DIR)}
    assert found["01_data_audit.ipynb"] >= {"helpers.audit", "helpers.plots", "helpers.report", "helpers.text.audit"}
    assert found["04_clv.ipynb"] >= {"helpers.clv", "helpers.clv_plots", "helpers.report", "helpers.text.clv"}
    assert all(any(name.startswith("helpers.text.") for name in names) for names in found.values())  # words
    assert all(name.startswith("helpers.") for names in found.values() for name in names)
