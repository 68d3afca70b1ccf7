"""Fault 6: the destination SQLite file's filesystem fills up mid-copy.

The file lives on a small tmpfs the test mounts. The copy must fail with one line (not reject
rows as bad, not leave a corrupt file); after the filesystem grows, the same command finishes
the job with every row exactly once.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import crashkit
from conftest import SqliteSource
from faultkit import REPORT, ReportRow, assert_resumable_failure, copy_command, run_copy, sqlite_target


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "small"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        message = f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{message} (CI=true: the disk-full fault must run)")
        pytest.skip(message)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_sqlite_disk_full_then_freed(small_fs: Path, sqlite_source: SqliteSource) -> None:
    dest = sqlite_target(small_fs / "dest.db")
    cmd = copy_command(str(sqlite_source.path), dest.arg, "append")
    first = run_copy(cmd, log=small_fs.parent / "first.log")
    assert_resumable_failure(first)
    assert "full" in first.error_line, first.stderr[-2000:]
    assert "reject" not in first.stderr.lower(), first.stderr[-2000:]  # no row blamed for the disk
    conn = sqlite3.connect(f"file:{small_fs / 'dest.db'}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        committed = conn.execute("SELECT count(*) FROM t").fetchone()[0]
    finally:
        conn.close()
    subprocess.run(["mount", "-o", "remount,size=256m", str(small_fs)], check=True)
    resumed = run_copy(cmd, log=small_fs.parent / "resumed.log")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    verdict = crashkit.compare(sqlite_source.digests, dest.digests())
    assert verdict.ok, str(verdict)
    REPORT.rows.append(
        ReportRow(
            f"SQLite destination disk full (tmpfs 6 MB; {committed} rows committed before)",
            1, f"failed resumable ({first.error_line[7:60]}…), resumed to equal after the fs grew",
            len(verdict.lost), len(verdict.duplicated), resumed.seconds,
        )
    )  # fmt: skip
