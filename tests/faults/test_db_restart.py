"""Fault 1: the destination or the source PostgreSQL restarted (fast and immediate) mid-copy.

The copy must end succeeded (its retries reconnected) or failed with one resumable line; after
the same command, the destination holds exactly the source's rows.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import crashkit
from conftest import SqliteSource
from faultkit import REPORT, ROWS, SEED, ReportRow, Run, assert_resumable_failure, committed_rows, outcome_of
from faultkit import copy_command, retries_logged, run_copy, settle_and_compare
from faultservers import PrivatePg


def _finish(cmd: list[str], first: Run, tmp_path: Path) -> Run | None:
    if first.returncode == 0:
        return None
    assert_resumable_failure(first)
    resumed = run_copy(cmd, log=tmp_path / "resumed.log")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return resumed


def _record(fault: str, first: Run, resumed: Run | None, verdict: crashkit.Verdict) -> None:
    recover = first.after_fault_s + (resumed.seconds if resumed else 0.0)
    REPORT.rows.append(
        ReportRow(fault, 1, outcome_of(first, resumed), len(verdict.lost), len(verdict.duplicated), recover)
    )


@pytest.mark.parametrize(
    ("mode", "how"),
    [("append", "fast"), ("upsert", "immediate"), ("replace", "immediate"), ("incremental", "fast")],
)
def test_destination_restarted_mid_copy(
    pg_dest: PrivatePg, sqlite_source: SqliteSource, tmp_path: Path, mode: str, how: str
) -> None:
    url = pg_dest.create_database(f"dest_{mode}")
    extra = ["--cursor", "updated_at"] if mode == "incremental" else []
    cmd = copy_command(str(sqlite_source.path), url, mode, *extra)
    threshold = random.Random(f"{SEED}-{mode}-{how}").randrange(ROWS // 5, ROWS * 3 // 5)
    first = run_copy(
        cmd,
        log=tmp_path / "first.log",
        progress=lambda: committed_rows(url),
        threshold=threshold,
        inject=lambda: pg_dest.restart(how, down_s=1.0),
    )
    print(first.stderr[-4000:])
    resumed = _finish(cmd, first, tmp_path)
    verdict = settle_and_compare(sqlite_source.digests, url)
    _record(f"destination PG restart ({how}), {mode}", first, resumed, verdict)
