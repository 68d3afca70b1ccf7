"""Fault 4: another session holds a lock on the destination table longer than --statement-timeout.

The batch waiting on the lock is cancelled by the server (lock_timeout), rolled back and
retried; the copy completes once the lock goes, with every row exactly once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from conftest import SqliteSource
from faultkit import ROWS, SEED, copy_command, inject_and_check, pg_target, retries_logged
from faultservers import PrivatePg

HOLD_S = 4.0


def test_lock_held_longer_than_statement_timeout(
    pg_dest: PrivatePg, sqlite_source: SqliteSource, tmp_path: Path
) -> None:
    url = pg_dest.create_database("lock_held")
    dest = pg_target(url)

    def hold_lock(alive: Callable[[], bool]) -> None:
        with psycopg.connect(url, connect_timeout=10) as conn:  # one transaction, then rolled back
            conn.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
            time.sleep(HOLD_S)

    first, _ = inject_and_check(
        f"lock held {HOLD_S:.0f} s (> --statement-timeout 1 s), upsert",
        copy_command(
            str(sqlite_source.path), dest.arg, "upsert", "--statement-timeout", "1", "--retries", "8"
        ),
        dest=dest,
        source=sqlite_source.digests,
        inject=hold_lock,
        threshold=random.Random(f"{SEED}-lock").randrange(ROWS // 5, ROWS * 3 // 5),
        logs=tmp_path,
    )
    assert retries_logged(first) >= 1, first.stderr[-2000:]
    assert "timeout" in first.stderr, first.stderr[-2000:]  # statement or lock timeout: the same value
