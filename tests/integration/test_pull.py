"""Same-engine paths (SQLite ATTACH, PostgreSQL raw binary COPY): exact copies, and the
Arrow fallback when the destination refuses rows or has other column types."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import psycopg
import pytest

from bulksync import Mode, SyncSpec, TableSpec, sync
from helpers import expected_rows, make_bets, table_rows

pytestmark = pytest.mark.integration
ROWS = 6_000


def _spec(src: str, dst: str, mode: Mode = Mode.APPEND) -> SyncSpec:
    return SyncSpec(
        source=src, destination=dst, tables=(TableSpec(name="bets"),), mode=mode,
        workers=2, partition_min_rows=1_000, batch_mb=0.05,
    )


@pytest.mark.parametrize("mode", [Mode.APPEND, Mode.UPSERT, Mode.REPLACE])
def test_pg_to_pg_streams_an_exact_copy(pg_db: str, pg_db2: str, mode: Mode) -> None:
    make_bets(pg_db, ROWS)
    result = sync(_spec(pg_db, pg_db2, mode))
    assert (result.rows_read, result.processed_rows, result.failed_rows) == (ROWS, ROWS, 0)
    assert table_rows(pg_db2, "bets") == expected_rows(range(1, ROWS + 1))


def test_pg_to_pg_into_other_column_types_goes_through_arrow(pg_db: str, pg_db2: str) -> None:
    make_bets(pg_db, ROWS)
    with psycopg.connect(pg_db2) as conn:  # numeric(14,4) and timestamptz: other binary formats
        conn.execute(
            "CREATE TABLE bets (id bigint PRIMARY KEY, player text, channel text NOT NULL, "
            "stake numeric(14,4), placed_at timestamptz, updated_at timestamp NOT NULL, settled boolean)"
        )
    result = sync(_spec(pg_db, pg_db2))
    assert result.processed_rows == ROWS
    with psycopg.connect(pg_db) as a, psycopg.connect(pg_db2) as b:
        query = "SELECT id, stake, placed_at IS NULL FROM bets ORDER BY id"
        assert a.execute(query).fetchall() == b.execute(query).fetchall()


def test_pg_to_pg_refused_rows_are_isolated(pg_db: str, pg_db2: str) -> None:
    make_bets(pg_db, ROWS)
    with psycopg.connect(pg_db) as conn:
        bad = conn.execute("SELECT count(*) FROM bets WHERE channel = 'ID'").fetchone()
        assert bad is not None and bad[0] > 0
    with psycopg.connect(pg_db2) as conn:
        conn.execute(
            "CREATE TABLE bets (id bigint PRIMARY KEY, player text, channel text NOT NULL "
            "CHECK (channel <> 'ID'), stake numeric(12,2), placed_at timestamp, "
            "updated_at timestamp NOT NULL, settled boolean)"
        )
    result = sync(_spec(pg_db, pg_db2))
    assert (result.rows_read, result.failed_rows) == (ROWS, bad[0])
    assert result.processed_rows == ROWS - bad[0]
    with psycopg.connect(pg_db2) as conn:
        rejected = conn.execute("SELECT count(*), min(reason) FROM _bulksync_rejects").fetchone()
    assert rejected is not None and rejected[0] == bad[0] and "check constraint" in rejected[1]


def test_sqlite_to_sqlite_refused_rows_are_isolated(tmp_path: Path) -> None:
    src, dst = str(tmp_path / "src.db"), str(tmp_path / "dst.db")
    make_bets(src, ROWS)
    with closing(sqlite3.connect(dst)) as conn:
        conn.execute(
            "CREATE TABLE bets (id INTEGER PRIMARY KEY, player TEXT, channel TEXT NOT NULL "
            "CHECK (channel <> 'ID'), stake NUMERIC(12,2), placed_at DATETIME, "
            "updated_at DATETIME NOT NULL, settled BOOLEAN)"
        )
        conn.commit()
    with closing(sqlite3.connect(src)) as conn:
        bad = conn.execute("SELECT count(*) FROM bets WHERE channel = 'ID'").fetchone()[0]
    result = sync(_spec(src, dst))
    assert (result.rows_read, result.failed_rows, result.processed_rows) == (ROWS, bad, ROWS - bad)
    kept = [r for r in expected_rows(range(1, ROWS + 1)) if r[2] != "ID"]
    assert table_rows(dst, "bets") == kept
