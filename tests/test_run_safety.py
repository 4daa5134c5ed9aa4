"""What a run leaves and says on real machines: no secret in any file or line, no killed run's
staging folder forever, a plain message when the outputs folder cannot be written, no stray
kernel lines.

One short run (a one-notebook brand whose notebook prints, displays, writes and finally raises
with a resolved connection URL) is shared by the tests that inspect it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from helpers import config, runner

BRAND = "vault"
PERIOD = "2025-05"
URL_ENV = "VAULT_DB_URL"  # a name no credential rule would guess
PASSWORD = "Pw-Leak&4471"
SECRET_URL = f"postgres://svc:{PASSWORD}@db.internal/shop"
LITERAL_PASSWORD = "Hunter2-lit"  # written into the params as a URL's password
# every form in which the two passwords could have reached a file: as is, percent-encoded, HTML
LEAKS = (PASSWORD, "Pw-Leak%264471", "Pw-Leak&amp;4471", LITERAL_PASSWORD)

PARAMS_YAML = f"""\
brand: {BRAND}
display_name: "Vault Test Brand"
description: "orders mirrored from sftp://bob:{LITERAL_PASSWORD}@files.example.com/in"
period: month
engine:
  url: "${{{URL_ENV}}}"
sources:
  orders:
    - name: orders
      path: data/vault/orders.csv
      columns:
        order_id: id
        customer_id: member
        order_ts: ts
        amount: paid
"""

LEAKY_CELL = """\
import json, os, pathlib, warnings
import pandas as pd
from helpers import config
params = config.load_params(params_path)
url = config.resolve_secrets(params.engine.url)
print("connecting to", url)
print(params.description)
display(pd.DataFrame({"source": [url]}))
out = pathlib.Path(run_dir)
(out / "data").mkdir(exist_ok=True)
pd.DataFrame({"url": [url]}).to_csv(out / "data" / "sources.csv", index=False)
(out / "metrics.json").write_text(json.dumps({"audit": {"status": "ok", "source": url}}))
(out / "notebook.log").write_text(f"opened {url}\\n")
os.write(2, f"native library: {url}\\n".encode())  # past Python, as a C library would
warnings.warn(f"slow connection to {url}")
raise ConnectionError(f"cannot reach {url}")
"""


def write_notebook(path: Path, source: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    parameters = nbformat.v4.new_code_cell('brand = ""\nperiod = ""\nrun_dir = ""\nparams_path = ""\nlanguage = ""\n')
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters, nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, path)


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = runner.main(list(args))
    return code, out.getvalue(), err.getvalue()


def dead_pid() -> int:
    """The pid of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def plant_staging(period_dir: Path, run_id: str, **manifest) -> Path:
    staging = period_dir / f"{runner.STAGING_PREFIX}{run_id}"
    staging.mkdir(parents=True)
    (staging / "01_x.ipynb").write_text("{}")
    if manifest:
        (staging / runner.MANIFEST).write_text(json.dumps({"run_id": run_id, **manifest}))
    return staging


@dataclass
class LeakyRun:
    outputs: Path
    run_dir: Path
    code: int
    out: str  # everything on file descriptors 1 and 2: the runner's and the kernel's lines
    killed_staging: Path
    finished_run: Path
    finished_before: dict[str, bytes]


@pytest.fixture(scope="module")
def leaky_run(tmp_path_factory) -> LeakyRun:
    root = tmp_path_factory.mktemp("safety")
    params = root / f"{BRAND}.yaml"
    params.write_text(PARAMS_YAML, encoding="utf-8")
    notebooks = root / "notebooks"
    notebooks.mkdir()
    write_notebook(notebooks / "01_leaky.ipynb", LEAKY_CELL)
    outputs = root / "outputs"
    # a killed run of another period, and a finished run that must stay byte for byte
    killed = plant_staging(outputs / BRAND / "2025-03", "killed", host=socket.gethostname(), pid=dead_pid())
    finished = outputs / BRAND / "2025-03" / "20250101T000000Z"
    finished.mkdir(parents=True)
    (finished / runner.MANIFEST).write_text(json.dumps({"status": "success", "pid": dead_pid(),
                                                        "host": socket.gethostname()}))
    before = {p.name: p.read_bytes() for p in finished.iterdir()}

    captured = root / "captured.txt"
    with pytest.MonkeyPatch.context() as mp, open(captured, "a") as sink:
        mp.setenv(URL_ENV, SECRET_URL)
        mp.setenv("WORKBOOK_NOTEBOOKS", str(notebooks))
        mp.setenv("WORKBOOK_OUTPUTS", str(outputs))
        mp.setattr(runner, "resolve_periods", lambda params, spec: [spec])  # no data to open
        saved = os.dup(1), os.dup(2)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(sink.fileno(), 1)  # the kernel inherits these: its own lines are captured too
        os.dup2(sink.fileno(), 2)
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                code = runner.main(["run", "--params", str(params), "--period", PERIOD])
                sink.flush()
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
    (run_dir,) = [p for p in (outputs / BRAND / PERIOD).iterdir() if p.is_dir() and not p.is_symlink()]
    return LeakyRun(outputs, run_dir, code, captured.read_text(), killed, finished, before)


# ---------------------------------------------------------------- secrets


def test_no_secret_in_any_file_of_the_run_or_any_line_printed(leaky_run):
    files = [p for p in leaky_run.outputs.rglob("*") if p.is_file()]
    names = {p.relative_to(leaky_run.run_dir).as_posix() for p in files if leaky_run.run_dir in p.parents}
    # the notebook reached every place a secret can go before it raised
    assert {"01_leaky.ipynb", "manifest.json", "metrics.json", "notebook.log", "data/sources.csv",
            "html/01_leaky.html", "html/01_leaky.analyst.html"} <= names
    leaked = {str(p): [s for s in LEAKS if s.encode() in p.read_bytes()] for p in files}
    assert {path: found for path, found in leaked.items() if found} == {}
    assert [s for s in LEAKS if s in leaky_run.out] == []


def test_secrets_are_masked_not_dropped(leaky_run):
    """Where the URL was, its placeholder stands; a URL's password becomes ***."""
    assert leaky_run.code == 1
    assert re.search(rf"01_leaky FAILED at cell \d+ \(In \[\d+\]\): ConnectionError: cannot reach "
                     rf"\$\{{{URL_ENV}\}}$", leaky_run.out, re.M), leaky_run.out
    assert f"native library: ${{{URL_ENV}}}" in leaky_run.out  # the kernel's own output, passed through
    nb = (leaky_run.run_dir / "01_leaky.ipynb").read_text()
    assert f"connecting to ${{{URL_ENV}}}" in nb
    assert "sftp://bob:***@files.example.com/in" in nb
    manifest = json.loads((leaky_run.run_dir / "manifest.json").read_text())
    assert manifest["notebooks"]["01_leaky"]["error"]["evalue"] == f"cannot reach ${{{URL_ENV}}}"
    assert f'url: "${{{URL_ENV}}}"' in manifest["params"]["raw_yaml"]  # a placeholder is no secret
    assert "sftp://bob:***@files.example.com" in manifest["params"]["raw_yaml"]
    assert (leaky_run.run_dir / "data" / "sources.csv").read_text() == f"url\n${{{URL_ENV}}}\n"
    assert json.loads((leaky_run.run_dir / "metrics.json").read_text())["audit"]["source"] == f"${{{URL_ENV}}}"


def test_redact_masks_any_placeholder_value_and_every_url_password(monkeypatch):
    monkeypatch.setenv("SHOP_WAREHOUSE", "mysql://etl:wh-9Zq!x@10.0.0.5:3306/dw")
    assert config.resolve_secrets("${SHOP_WAREHOUSE}").startswith("mysql://")
    assert config.redact("cannot open mysql://etl:wh-9Zq!x@10.0.0.5:3306/dw") == "cannot open ${SHOP_WAREHOUSE}"
    assert config.redact("cannot open mysql%3A%2F%2Fetl%3Awh-9Zq%21x%4010.0.0.5%3A3306%2Fdw") == "cannot open ${SHOP_WAREHOUSE}"
    assert config.redact("postgres://me:p@ss@db:5432/shop x") == "postgres://me:***@db:5432/shop x"
    assert config.redact("https://:tok3n@host/repo") == "https://:***@host/repo"
    for kept in ("postgres://me:${PGPASSWORD}@db/shop", "https://host:8443/path@x", "ssh://git@host/repo"):
        assert config.redact(kept) == kept
    png = {"image/png": "bXlzcWw6Ly9ldGw6d2gtOVpxIXhA", "text/plain": "mysql://etl:wh-9Zq!x@h/dw"}
    assert config.redact_data(png) == {"image/png": png["image/png"], "text/plain": "mysql://etl:***@h/dw"}


# ---------------------------------------------------------------- killed runs


def test_the_next_run_of_the_brand_removes_killed_staging_and_keeps_finished_runs(leaky_run):
    assert not leaky_run.killed_staging.exists()
    assert f"removed {leaky_run.killed_staging}" in leaky_run.out
    assert {p.name: p.read_bytes() for p in leaky_run.finished_run.iterdir()} == leaky_run.finished_before
    assert [p.name for p in leaky_run.killed_staging.parent.iterdir()] == [leaky_run.finished_run.name]


def test_clean_removes_only_staging_of_dead_processes_and_says_what(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_OUTPUTS", str(tmp_path))
    period = tmp_path / BRAND / PERIOD
    here = socket.gethostname()
    dead = plant_staging(period, "dead", host=here, pid=dead_pid())
    no_manifest = plant_staging(period, "old-no-manifest")
    os.utime(no_manifest, (0, 0))  # long ago: not a run still naming its process
    alive = plant_staging(period, "alive", host=here, pid=os.getpid())
    elsewhere = plant_staging(period, "elsewhere", host="another-host", pid=dead_pid())
    young = plant_staging(period, "young")  # just claimed: its manifest is being written
    finished = period / "20250101T000000Z"
    finished.mkdir()
    (finished / runner.MANIFEST).write_text(json.dumps({"status": "failed", "pid": dead_pid(), "host": here}))
    other_brand = plant_staging(tmp_path / "other" / PERIOD, "dead", host=here, pid=dead_pid())

    code, out, err = run_cli("clean", "--brand", BRAND)
    assert code == 0, err
    assert not dead.exists() and not no_manifest.exists()
    assert alive.is_dir() and elsewhere.is_dir() and young.is_dir() and other_brand.is_dir()
    assert (finished / runner.MANIFEST).is_file()
    assert f"removed {dead}" in out and f"removed {no_manifest}" in out
    assert f"kept {alive}  (running (process {os.getpid()}))" in out
    assert f"kept {elsewhere}  (started on host another-host" in out
    assert f"kept {young}  (just created)" in out

    code, out, _ = run_cli("clean", "--brand", BRAND)
    assert code == 0 and "removed" not in out and "no killed runs to remove" in out
    code, out, _ = run_cli("clean")  # every brand
    assert code == 0 and f"removed {other_brand}" in out and not other_brand.exists()


# ---------------------------------------------------------------- outputs folder not writable


@pytest.fixture
def one_notebook(tmp_path, monkeypatch):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder / "01_x.ipynb", "print(1)")
    monkeypatch.setenv("WORKBOOK_NOTEBOOKS", str(folder))


def test_outputs_under_a_file_is_refused_with_folder_and_fix(tmp_path, monkeypatch, one_notebook):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("WORKBOOK_OUTPUTS", str(blocker / "outputs"))
    code, out, err = run_cli("run", "--brand", BRAND, "--period", PERIOD)
    assert code == 2
    assert (f"cannot write into the outputs folder {blocker / 'outputs'}: Not a directory "
            f"({blocker} is a file, not a folder). Point WORKBOOK_OUTPUTS at a folder you can write to, "
            "or move that file away") in err
    assert "Traceback" not in err + out


def test_read_only_outputs_is_refused_with_folder_and_fix(tmp_path, monkeypatch, one_notebook):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.access(locked, os.W_OK):  # root: permissions do not bind, so the refusal is simulated
        real_mkdir = Path.mkdir

        def denied(self, *args, **kwargs):
            if locked in self.parents:
                raise PermissionError(13, "Permission denied", str(self))
            return real_mkdir(self, *args, **kwargs)

        monkeypatch.setattr(Path, "mkdir", denied)
    monkeypatch.setenv("WORKBOOK_OUTPUTS", str(locked / "outputs"))
    try:
        code, out, err = run_cli("run", "--brand", BRAND, "--period", PERIOD)
    finally:
        locked.chmod(0o700)
    assert code == 2
    assert (f"cannot write into the outputs folder {locked / 'outputs'}: Permission denied ({locked} does not "
            f"let this user create folders in it). Point WORKBOOK_OUTPUTS at a folder you can write to, or give "
            f"this user write permission on {locked} (e.g. chmod u+w {locked}, as its owner)") in err
    assert "Traceback" not in err + out
    assert not (locked / "outputs").exists()


# ---------------------------------------------------------------- kernel shutdown


def test_run_prints_no_kernel_interrupt_lines(leaky_run):
    assert "KeyboardInterrupt" not in leaky_run.out
    assert "IPKernelApp" not in leaky_run.out


def test_kernel_exits_on_request_before_any_signal(monkeypatch):
    """jupyter_client's shutdown sends SIGINT first; a kernel still finishing its last message
    logs 'KeyboardInterrupt caught in kernel.'. The run's kernel is asked to exit and has exited
    (status 0) before shutdown_kernel signals it, so no interrupt reaches a live kernel."""
    kernel = runner.RunKernel()
    manager = kernel.manager()
    process = manager.provisioner.process
    signalled = []
    send_signal = manager.provisioner.send_signal

    async def record(signum):
        signalled.append((signum, process.poll()))
        await send_signal(signum)

    monkeypatch.setattr(manager.provisioner, "send_signal", record)
    kernel.shutdown()
    assert process.poll() == 0
    assert all(returncode is not None for _signum, returncode in signalled), signalled


def test_params_error_quoting_a_url_masks_its_password(tmp_path, monkeypatch, one_notebook):
    monkeypatch.setenv("WORKBOOK_OUTPUTS", str(tmp_path / "outputs"))
    path = tmp_path / "bad.yaml"
    path.write_text(PARAMS_YAML.replace("period: month", f"period: postgres://me:{LITERAL_PASSWORD}@db/shop"))
    code, out, err = run_cli("run", "--params", str(path), "--period", PERIOD)
    assert code == 1
    assert "period: Input should be" in err and "postgres://me:***@db/shop" in err  # the error still says what
    assert LITERAL_PASSWORD not in out + err
