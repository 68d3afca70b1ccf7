"""``bulksync verify`` as a user runs it: exit codes, the report, --json, progress, clear errors."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from helpers import make_bets

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ROWS = 1500
_PYTHONPATH = {k: v for k, v in os.environ.items() if k == "PYTHONPATH"}


def bulksync(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI without a terminal, on an 80-column screen."""
    return subprocess.run(
        [sys.executable, "-m", "bulksync", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        # PYTHONPATH kept: a worktree's sources, not the installed ones, are the ones under test
        env={"COLUMNS": "80", "PATH": "/usr/bin:/bin", **_PYTHONPATH},
    )


@pytest.fixture
def pair(tmp_path: Path) -> tuple[str, str]:
    src, dst = str(tmp_path / "src.db"), str(tmp_path / "dst.db")
    make_bets(src, ROWS)
    make_bets(dst, ROWS)
    return src, dst


def damage(path: str, *statements: str) -> None:
    conn = sqlite3.connect(path)
    try:
        for sql in statements:
            conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


def test_equal_tables_exit_0_with_plain_progress_lines(pair: tuple[str, str]) -> None:
    proc = bulksync("verify", *pair, "--table", "bets", "--chunk-rows", "400")

    assert proc.returncode == 0, proc.stderr
    assert "\x1b[" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("bets: ")]
    assert lines[-1].startswith(f"bets: done {ROWS:,}/{ROWS:,} rows (100.0%)"), proc.stderr
    assert "bulksync verify: equal" in proc.stderr
    assert "copying" not in proc.stderr


def test_differences_exit_1_and_are_named_with_their_keys(pair: tuple[str, str]) -> None:
    src, dst = pair
    damage(dst, "DELETE FROM bets WHERE id IN (10, 11)", "UPDATE bets SET channel = 'XX' WHERE id = 1200")

    proc = bulksync("verify", src, dst, "--table", "bets", "--chunk-rows", "400")

    assert proc.returncode == 1, proc.stderr
    text = " ".join(proc.stderr.split())
    assert "bulksync verify: DIFFERENT" in text
    assert "bets: 2 missing (in the source, not in the destination); key ranges 10..11; first: 10, 11" in text
    assert "bets: 1 different (same key on both sides, other values); key ranges 1200..1200" in text


def test_json_reports_every_kind(pair: tuple[str, str]) -> None:
    src, dst = pair
    damage(dst, "DELETE FROM bets WHERE id = 5")

    proc = bulksync("verify", src, dst, "-t", "bets", "--json", "--quiet")

    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["status"], result["equal"], result["rows_compared"]) == ("different", False, ROWS)
    (table,) = result["tables"]
    assert table["missing"] == {"rows": 1, "ranges": [[[5], [5]]], "more_ranges": 0, "first_keys": [[5]]}
    for kind in ("unexpected", "duplicated", "different"):
        assert table[kind]["rows"] == 0
    assert proc.stderr == ""


def test_unknown_table_is_one_line_exit_1(pair: tuple[str, str]) -> None:
    proc = bulksync("verify", *pair, "--table", "nope")

    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: table 'nope' does not exist")
    assert len(proc.stderr.strip().splitlines()) <= 2  # one message (wrapped at 80 columns at most)
    assert "Traceback" not in proc.stderr


def test_bad_dsn_never_prints_the_password(pair: tuple[str, str], pg_db: str) -> None:
    parts = urlsplit(pg_db)
    wrong = urlunsplit(parts._replace(netloc=f"nobody:s3cr3t-pw@{parts.hostname}:{parts.port or 5432}"))

    proc = bulksync("verify", pair[0], wrong, "--table", "bets")

    assert proc.returncode == 1
    assert "s3cr3t-pw" not in proc.stderr + proc.stdout
    assert proc.stderr.startswith("error: cannot connect to ")
    assert "Traceback" not in proc.stderr


def test_usage_errors_exit_2(pair: tuple[str, str]) -> None:
    proc = bulksync("verify", *pair, "-t", "bets", "-t", "other", "--dest-table", "x")
    assert proc.returncode == 2
    proc = bulksync("verify", *pair, "-t", "bets", "--since", "2024-01-01")
    assert proc.returncode == 2
    assert "--date-column" in proc.stderr
