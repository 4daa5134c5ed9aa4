"""The third bundled brand's metrics.json against its stored, reviewed expectations (issue 17
item 4): Online Retail (real data, left-truncated, CLV 'unreliable') run as a user runs it.
Here rather than in make test, whose two end-to-end brands (demo, cdnow) are pinned the same
way in tests/test_end_to_end.py; a run of Online Retail takes about a minute."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import config
from tests import expectations

pytestmark = pytest.mark.proof


def test_online_retail_figures_match_the_reviewed_expectations(tmp_path):
    result = subprocess.run([sys.executable, "-m", "helpers.runner", *expectations.RUNS["online_retail"]],
                            cwd=config.PROJECT_ROOT, capture_output=True, text=True,
                            env={**os.environ, "WORKBOOK_OUTPUTS": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    run = max((tmp_path / "online_retail").glob("*/latest")).resolve()
    problems = expectations.check_run(run, "online_retail")
    assert not problems, expectations.explain(problems, "online_retail")
