"""`make proof`: the intervals against the generator's truth over 30 generated demos.

These tests are heavy (minutes, both cores) and run only when asked for: with ``-m proof``
(what `make proof` runs) or when tests/proof is named on the command line. Anywhere else (make
test, make test-fast) they are deselected, so the suite that runs on every change stays fast.

Threshold for a 95 % interval over 30 seeds: it covers its truth in at least 27. An interval
of nominal coverage passes that with probability 0.94 (binomial, 30 draws at 0.95); one whose
true coverage is 85 % passes with probability 0.32, so it fails most of the time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
MIN_COVERED = 27  # of 30 seeds, for a 95 % interval (see above)


def pytest_configure(config):
    config.addinivalue_line("markers", "proof: coverage over 30 generated demos (make proof; deselected elsewhere)")


def _asked_for(config) -> bool:
    if "proof" in (config.option.markexpr or "") and "not proof" not in config.option.markexpr:
        return True
    return any(Path(str(arg).split("::")[0]).resolve().is_relative_to(HERE) for arg in config.args)


def pytest_collection_modifyitems(config, items):
    if _asked_for(config):
        return
    proof = [item for item in items if item.get_closest_marker("proof")]
    if proof:
        config.hook.pytest_deselected(items=proof)
        items[:] = [item for item in items if not item.get_closest_marker("proof")]


_MEASURED: list = []


@pytest.fixture(scope="session")
def seeds(tmp_path_factory) -> list[dict]:
    """Every seed's figures (demo_seeds.figures): CLV, drivers and campaign, on both cores."""
    import demo_seeds

    out = demo_seeds.over_seeds(tmp_path_factory.mktemp("proof_demos"), ("clv", "drivers", "campaign"))
    _MEASURED[:] = out
    return out


def pytest_terminal_summary(terminalreporter):
    """The measured coverage, k of n seeds per interval, after the results."""
    if _MEASURED:
        import demo_seeds

        terminalreporter.section("coverage over the generated demos")
        for line in demo_seeds.coverage_lines(_MEASURED):
            terminalreporter.write_line(line)
