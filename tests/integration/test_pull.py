"""Same-engine paths (SQLite ATTACH, PostgreSQL raw binary COPY): exact copies, and the
Arrow fallback when the destination refuses rows or has other column types."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bulksync import Mode, SyncSpec, TableSpec, sync
from bulksync.connectors import sql as sql_connectors
from bulksync.connectors.pg_stream import CopyStream
from bulksync.connectors.postgres import PostgresConnector
from helpers import expected_rows, make_bets, table_rows

pytestmark = pytest.mark.integration
ROWS = 6_000


def _spec(src: str, dst: str, mode: Mode = Mode.APPEND) -> SyncSpec:
    return SyncSpec(
        source=src,
        destination=dst,
        tables=(TableSpec(name="bets"),),
        mode=mode,
        workers=2,
        partition_min_rows=1_000,
        batch_mb=0.05,
    )


@pytest.mark.parametrize("mode", [Mode.APPEND, Mode.UPSERT, Mode.REPLACE])
def test_pg_to_pg_streams_an_exact_copy(pg_db: str, pg_db2: str, mode: Mode) -> None:
    make_bets(pg_db, ROWS)
    result = sync(_spec(pg_db, pg_db2, mode))
    assert (result.rows_read, result.processed_rows, result.failed_rows) == (ROWS, ROWS, 0)
    assert table_rows(pg_db2, "bets") == expected_rows(range(1, ROWS + 1))


@pytest.mark.parametrize("mode", [Mode.APPEND, Mode.UPSERT, Mode.REPLACE])
def test_pg_to_pg_within_one_database_is_an_exact_copy(pg_db: str, mode: Mode) -> None:
    """Source and destination in one database: the server moves each chunk (INSERT … SELECT)."""
    make_bets(pg_db, ROWS)
    spec = _spec(pg_db, pg_db + "?application_name=dest", mode)
    spec = spec.model_copy(update={"tables": (TableSpec(name="bets", dest_name="bets_copy"),)})
    if mode is Mode.UPSERT:  # half the rows there already, some of them stale
        sync(spec.model_copy(update={"mode": Mode.APPEND}))
        with psycopg.connect(pg_db) as conn:
            conn.execute("DELETE FROM bets_copy WHERE id % 2 = 0")
            conn.execute("UPDATE bets_copy SET player = 'stale' WHERE id % 3 = 0")
    result = sync(spec)
    assert result.rows_read == ROWS and result.failed_rows == 0
    assert table_rows(pg_db, "bets_copy") == expected_rows(range(1, ROWS + 1))


def test_pg_source_in_the_same_database_is_read_by_the_destination_itself(pg_db: str, pg_db2: str) -> None:
    make_bets(pg_db, 10)
    same = PostgresConnector(pg_db + "?application_name=dest")
    other = PostgresConnector(pg_db2)
    source = PostgresConnector(pg_db)
    try:
        same.attach_source(pg_db)
        other.attach_source(pg_db)
        assert same._local_name(source, "bets") == "public.bets"
        assert other._local_name(source, "bets") is None
    finally:
        for conn in (same, other, source):
            conn.close()


@pytest.mark.parametrize(
    ("key_type", "rows", "chunk"),
    [("smallint", 50, 7), ("integer", 49, 7), ("bigint", 0, 7), ("bigint", 3, 100)],
    ids=["int2-partial-last-chunk", "int4-whole-chunks", "empty", "one-short-chunk"],
)
def test_pg_to_pg_between_databases_cuts_one_stream_into_chunks(
    pg_db: str, pg_db2: str, key_type: str, rows: int, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One COPY per partition, cut every ``chunk`` rows: a commit and a checkpoint per chunk."""
    opened = []
    real_open = CopyStream.open.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(
        CopyStream, "open", classmethod(lambda cls, *a: opened.append(a[1]) or real_open(cls, *a))
    )
    with psycopg.connect(pg_db) as conn:
        conn.execute(f"CREATE TABLE t (id {key_type} PRIMARY KEY, note text, n numeric(6,2))")
        conn.execute(
            "INSERT INTO t SELECT i * 3 - 40, CASE WHEN i %% 5 = 0 THEN NULL ELSE 'row ' || i END, i / 7.0 "
            "FROM generate_series(1, %s) AS i",
            [rows],
        )
    spec = SyncSpec(source=pg_db, destination=pg_db2, tables=(TableSpec(name="t"),), chunk_rows=chunk)
    result = sync(spec)
    assert (result.rows_read, result.processed_rows) == (rows, rows)
    assert result.tables[0].batches == -(-rows // chunk)
    assert len(opened) == 1, opened  # one COPY TO for the whole range
    query = "SELECT id, note, n FROM t ORDER BY id"
    with psycopg.connect(pg_db) as a, psycopg.connect(pg_db2) as b:
        assert a.execute(query).fetchall() == b.execute(query).fetchall()
        states = b.execute("SELECT last_key, rows_done, done FROM bulksync.sync_state").fetchall()
    assert states == [(f"[{rows * 3 - 40}]" if rows else None, rows, 1)], states


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


@pytest.mark.parametrize(
    ("dest_types", "streamed"),
    [
        ("code text, note varchar(50), amount numeric(14,2)", True),  # same binary form, room to spare
        ("code varchar(11), note text, amount numeric(14,2)", False),  # shorter: through Arrow
        ("code text, note text, amount numeric(14,3)", False),  # another scale: through Arrow
    ],
    ids=["wider", "shorter-text", "other-scale"],
)
def test_pg_to_pg_streams_into_wider_types_of_the_same_binary_form(
    pg_db: str, pg_db2: str, dest_types: str, streamed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """varchar(12) into text, numeric(12,2) into numeric(14,2): the raw binary COPY still holds
    (a hand-made destination rarely repeats the source's lengths); anything narrower or of
    another scale is converted through Arrow, where a value that does not fit is a reject."""
    opened: list[Any] = []
    real_open = CopyStream.open.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(
        CopyStream, "open", classmethod(lambda cls, *a: opened.append(a[1]) or real_open(cls, *a))
    )
    with psycopg.connect(pg_db) as conn:
        conn.execute(
            "CREATE TABLE t (id bigint PRIMARY KEY, code varchar(12), note varchar(40), amount numeric(12,2))"
        )
        conn.execute(
            "INSERT INTO t SELECT i, 'c' || i, CASE WHEN i % 4 = 0 THEN NULL ELSE repeat('é', i % 40) END, "
            "i * 1.25 - 500 FROM generate_series(1, 3000) AS i"
        )
    with psycopg.connect(pg_db2) as conn:
        conn.execute(f"CREATE TABLE t (id bigint PRIMARY KEY, {dest_types})")
    result = sync(SyncSpec(source=pg_db, destination=pg_db2, tables=(TableSpec(name="t"),), chunk_rows=700))
    assert (result.processed_rows, result.failed_rows) == (3000, 0)
    assert bool(opened) is streamed
    query = "SELECT id, code, note, amount FROM t ORDER BY id"
    with psycopg.connect(pg_db) as a, psycopg.connect(pg_db2) as b:
        assert a.execute(query).fetchall() == b.execute(query).fetchall()


def test_a_pulled_chunk_that_goes_through_arrow_is_read_a_step_at_a_time(
    pg_db: str, pg_db2: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other column types: each pulled chunk moves as bounded Arrow steps, one transaction."""
    monkeypatch.setattr(sql_connectors, "PULL_STEP_ROWS", 7)
    reads: list[int] = []
    real_sql = PostgresConnector.chunk_sql
    monkeypatch.setattr(
        PostgresConnector, "chunk_sql", lambda self, q: reads.append(q.limit) or real_sql(self, q)
    )
    make_bets(pg_db, 1_000)
    with psycopg.connect(pg_db2) as conn:
        conn.execute(
            "CREATE TABLE bets (id bigint PRIMARY KEY, player text, channel text NOT NULL, "
            "stake numeric(14,4), placed_at timestamptz, updated_at timestamp NOT NULL, settled boolean)"
        )
    spec = SyncSpec(source=pg_db, destination=pg_db2, tables=(TableSpec(name="bets"),), chunk_rows=100)
    result = sync(spec)
    assert result.processed_rows == 1_000 and result.tables[0].batches == 10
    assert max(reads) == 7  # never more than a step in memory
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
        rejected = conn.execute("SELECT count(*), min(reason) FROM bulksync.rejects").fetchone()
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


def test_a_big_analyzed_pg_table_is_planned_on_reltuples_and_reports_exact_totals(
    pg_db: str, tmp_path: Path
) -> None:
    rows = 120_000
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE big (id bigint PRIMARY KEY, v int NOT NULL)")
        conn.execute("INSERT INTO big SELECT i, i %% 7 FROM generate_series(1, %s) AS i", [rows])
        conn.execute("DELETE FROM big WHERE id % 10 = 0")  # an estimate that is not exact
        conn.execute("ANALYZE big")
        row = conn.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = 'big'::regclass").fetchone()
    assert row is not None
    planned: list[int] = []

    def listen(event: Any) -> None:
        if event.phase == "planned":
            planned.append(event.rows_total)

    spec = SyncSpec(source=pg_db, destination=str(tmp_path / "big.db"), tables=(TableSpec(name="big"),))
    result = sync(spec, listeners=[listen])
    left = rows - rows // 10
    assert planned == [row[0]]
    assert (result.total_rows, result.rows_read) == (left, left)
