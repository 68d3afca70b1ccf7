"""kill -9 in the middle of a migration with a keyed and a keyless table, twice, then the same
command again: the destination ends equal to the source (the keyless table reloaded whole,
nothing doubled), with no staging tables and no checkpoints left behind."""

from __future__ import annotations

import random
import sqlite3
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest

import crashkit

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEYED_ROWS = 150_000
LOG_ROWS = 200_000
SEED = 20261203


def build(path: Path) -> None:
    crashkit.build_source(str(path), KEYED_ROWS, seed=SEED)
    rng = random.Random(SEED)
    with sqlite3.connect(path) as conn:
        conn.execute(
            'CREATE TABLE "EventLog" ("At" datetime, "Who" text, "Amount" numeric(10,2), "Flag" boolean)'
        )
        rows = [
            (
                f"2026-0{1 + i % 9}-1{i % 10} 0{i % 10}:00:00",
                f"user {rng.randrange(500)}",
                i % 1000 / 4,
                i % 2,
            )
            for i in range(LOG_ROWS)
        ]
        rows[10:20] = [rows[10]] * 10  # identical rows: a keyless table may hold them
        conn.executemany('INSERT INTO "EventLog" VALUES (?, ?, ?, ?)', rows)


def log_rows_sqlite(path: Path) -> Counter[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return Counter(
            (at, who, f"{amount:.2f}", bool(flag))
            for at, who, amount, flag in conn.execute('SELECT "At", "Who", "Amount", "Flag" FROM "EventLog"')
        )


def log_rows_pg(url: str) -> Counter[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return Counter(
            (at.strftime("%Y-%m-%d %H:%M:%S"), who, f"{amount:.2f}", flag)
            for at, who, amount, flag in conn.execute("SELECT at, who, amount, flag FROM eventlog")
        )


def test_kill9_twice_mid_migration_then_the_same_command_ends_equal(tmp_path: Path, pg_db: str) -> None:
    source = tmp_path / "app.db"
    build(source)
    cmd = [
        sys.executable,
        "-m",
        "bulksync",
        "migrate",
        str(source),
        pg_db,
        "--batch-mb",
        "0.5",
        "--workers",
        "2",
    ]
    probe = crashkit.PgProbe(pg_db)
    try:
        rng = random.Random(SEED)
        for low, high in ((0.1, 0.3), (0.4, 0.7)):
            threshold = int(LOG_ROWS * rng.uniform(low, high))
            kill = crashkit.run_and_kill(
                cmd,
                count=lambda: probe.count("eventlog__bulksync_new"),
                settle=probe.settle,
                threshold=threshold,
                delay_s=rng.uniform(0, 0.05),
            )
            assert kill.after < LOG_ROWS, "the kill came after the keyless table was loaded"
        done = crashkit.run_to_end([*cmd, "--quiet", "--verify"], timeout_s=300)
    finally:
        probe.close()

    assert "DIFFERENT" not in done.stderr
    assert log_rows_pg(pg_db) == log_rows_sqlite(source)  # reloaded whole: nothing lost, nothing doubled
    verdict = crashkit.compare(crashkit.sqlite_digests(source), crashkit.pg_digests(pg_db))
    assert verdict.ok, str(verdict)
    with psycopg.connect(pg_db) as conn:
        left = conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE '%%bulksync%%'").fetchall()
        states = conn.execute("SELECT count(*) FROM bulksync.sync_state").fetchone()
    assert left == [] and states == (0,)
