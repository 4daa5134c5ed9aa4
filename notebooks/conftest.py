"""The notebooks under nbval (make test) write their runs into a temporary outputs folder, never
the project's own outputs/: the kernels nbval starts inherit this process's environment."""

from __future__ import annotations

import os
import tempfile


def pytest_configure(config):
    if "WORKBOOK_OUTPUTS" not in os.environ:
        folder = tempfile.mkdtemp(prefix="workbook-nbval-")
        os.environ["WORKBOOK_OUTPUTS"] = folder
        config._workbook_outputs = folder


def pytest_unconfigure(config):
    folder = getattr(config, "_workbook_outputs", None)
    if folder:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop("WORKBOOK_OUTPUTS", None)
