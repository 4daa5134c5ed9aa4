"""Run the data audit (notebook 01's calls, in-process) on a case's params: fast enough for
dozens of cases, and the same helpers the notebook calls."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from helpers import audit, config, sources
from helpers.report import open_run
from helpers.text import audit as audit_words


@dataclass
class AuditOutcome:
    period: str
    status: str
    findings: pd.DataFrame
    steps: pd.DataFrame
    summary: dict
    failures: pd.DataFrame
    matches: pd.DataFrame
    notes: list[str]  # what the runner prints before the run (e.g. why 'latest' stepped back)

    def removed(self, rule: str) -> int:
        row = self.steps[self.steps["step"] == rule]
        return int(row["rows_removed"].iloc[0]) if len(row) else 0

    def messages(self) -> str:
        return "\n".join(self.findings["message"].astype(str))


def run_audit(params_path: Path, period: str = "latest", run_dir: Path | None = None) -> AuditOutcome:
    """The period is resolved (and checked against the data) as the runner does it."""
    params = config.load_params(params_path)
    found = sources.data_range(params)
    notes, label = [], period
    if period == "latest":  # as runner.resolve_periods, with its printed note kept
        label, note = sources.latest_period(params, found)
        notes += [note] if note else []
    else:
        (label,) = config.expand_periods(period, params.period)
        sources.check_period(params, label, found)
    run = open_run(brand="", period=label, params_path=str(params_path), run_dir=str(run_dir or params_path.parent / "run"))
    profile = audit.profile_sources(run.data)
    failures = audit.parse_failures(run.data)
    findings = audit.source_findings(profile, failures, audit.line_duplicates(run.data),
                                     audit.customer_table_duplicates(run.data))
    daily = audit.daily_volume(run.data, run.period_end)
    findings += audit.gap_findings(audit.find_gaps(daily))
    clean = run.clean
    findings += audit.cleaning_findings(clean)
    matches = audit.key_match(run.data, clean.orders)
    findings += audit.island_findings(matches, run.data)
    ready = audit.readiness(clean.orders, run.period_end, run.params)
    findings += audit.readiness_findings(ready)
    status = audit.overall_status(findings)
    return AuditOutcome(period=run.period, status=status, findings=audit_words.findings_frame(findings, audit_words.english(run.fmt)),
                        steps=clean.steps, summary=audit.clean_summary(clean, ready), failures=failures,
                        matches=matches, notes=notes)
