"""Ctrl-C stops a ``copy``: each partition finishes the batch it is on, nothing after it is
written, the process exits 130 with one line, and the same command run again completes the copy
exactly (the batches committed before the interrupt are not written twice)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from helpers import expected_rows, make_bets, table_rows

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ROWS = 60_000


def count(url: str) -> int:
    """Rows committed to ``bets`` so far (0 before the copy created it)."""
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('bets')").fetchone() == (None,):
            return 0
        row = conn.execute("SELECT count(*) FROM bets").fetchone()
    return int(row[0]) if row else 0


def test_ctrl_c_stops_the_copy_after_the_batch_in_flight(tmp_path: Path, pg_db: str) -> None:
    source = str(tmp_path / "source.db")
    make_bets(source, ROWS)
    cmd = [sys.executable, "-m", "bulksync", "copy", source, pg_db, "--table", "bets", "--batch-mb", "0.01"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while count(pg_db) == 0:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no batch committed in 60 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    stopped_at = count(pg_db)
    assert 0 < stopped_at < ROWS, f"{stopped_at} of {ROWS} rows: the copy went on after Ctrl-C"

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert table_rows(pg_db, "bets") == expected_rows(range(1, ROWS + 1))
