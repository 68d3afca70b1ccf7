"""PostgreSQL → PostgreSQL of the values only PostgreSQL holds: numeric 'NaN' and '±Infinity',
timestamp and date '±infinity', and an unconstrained numeric's own scale (1.5, 0.000100).

A table with an enum column left the raw binary COPY for the Arrow path (``migrate`` makes the
enum a varchar, and an enum was no text's binary twin): those values were rejected rows and
1.5 arrived as 1.500000000000000000000000000000. Each test checks the text of every value, and
that ``verify`` agrees — and that it would notice a difference in exactly those values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from test_migrate_types import rejects as dest_rejects

from bulksync import Mode, SyncResult, SyncSpec, TableSpec, VerifySpec, sync, verify
from bulksync.connectors import pg_stream
from bulksync.connectors.postgres import PostgresConnector

pytestmark = pytest.mark.integration

COLUMNS = "id int PRIMARY KEY, m {enum}, n numeric, n2 numeric(10, 2), ts timestamp, tz timestamptz, d date"
ROWS = (
    "(1, 'ok', 1.5, 1.5, '2024-01-01 10:00', '2024-01-01 10:00+00', '2024-01-01'),"
    " (2, 'sad', 'NaN', 'NaN', 'infinity', '-infinity', 'infinity'),"
    " (3, 'happy-ish', 'Infinity', 2, '-infinity', 'infinity', '-infinity'),"
    " (4, NULL, '-Infinity', NULL, NULL, NULL, NULL),"
    " (5, 'ok', 0.000100, 3.10, '2024-01-01 10:00', '2024-01-01 10:00+00', '2024-01-01'),"
    " (6, 'ok', 1.50, 1e-2, '2024-01-01 10:00', '2024-01-01 10:00+00', '2024-01-01'),"
    " (7, 'ok', 1e-40, 0, NULL, NULL, NULL)"
)
AS_TEXT = "SELECT id, m::text, n::text, n2::text, ts::text, tz::text, d::text FROM t ORDER BY id"
MOOD = "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy-ish')"


def pg_run(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)


def pg(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def special_source(url: str) -> None:
    pg_run(url, MOOD, f"CREATE TABLE t ({COLUMNS.format(enum='mood')})", f"INSERT INTO t VALUES {ROWS}")


@pytest.fixture
def arrow_steps(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tables whose chunks went through Arrow (none when the raw COPY carried them)."""
    seen: list[str] = []
    real = PostgresConnector.pull_through_arrow

    def spy(self: PostgresConnector, src: Any, query: Any, target: str, upsert_key: Any) -> Any:
        seen.append(target)
        return real(self, src, query, target, upsert_key)

    monkeypatch.setattr(PostgresConnector, "pull_through_arrow", spy)
    return seen


def equal_by_verify(src: str, dst: str, table: str = "t") -> bool:
    (verdict,) = verify(VerifySpec(source=src, destination=dst, tables=(TableSpec(name=table),))).tables
    return verdict.equal


def copied(result: SyncResult) -> tuple[int, int]:
    assert result.status == "succeeded", [(t.table, t.error) for t in result.tables]
    (table,) = result.tables
    return table.rows_written, table.rows_rejected


def test_migrate_of_an_enum_table_carries_every_value_exactly(
    pg_db: str, pg_db2: str, arrow_steps: list[str]
) -> None:
    special_source(pg_db)

    result = sync(SyncSpec(source=pg_db, destination=pg_db2, tables=["t"], mode=Mode.REPLACE))

    assert copied(result) == (7, 0)
    assert pg(pg_db2, AS_TEXT) == pg(pg_db, AS_TEXT)
    assert arrow_steps == []
    assert equal_by_verify(pg_db, pg_db2)


@pytest.mark.parametrize("dest_enum", ["mood", "text", "varchar(9)", "varchar(20)"])
def test_copy_of_an_enum_table_into_a_table_that_is_there_carries_every_value_exactly(
    pg_db: str, pg_db2: str, dest_enum: str, arrow_steps: list[str]
) -> None:
    """An enum into its own type, or into text that holds its longest label ('happy-ish')."""
    special_source(pg_db)
    pg_run(pg_db2, MOOD, f"CREATE TABLE t ({COLUMNS.format(enum=dest_enum)})")

    result = sync(SyncSpec(source=pg_db, destination=pg_db2, tables=["t"], mode=Mode.APPEND))

    assert copied(result) == (7, 0)
    assert pg(pg_db2, AS_TEXT) == pg(pg_db, AS_TEXT)
    assert arrow_steps == []
    assert equal_by_verify(pg_db, pg_db2)


@pytest.mark.parametrize("mode", [Mode.APPEND, Mode.UPSERT])
def test_an_enum_into_varchar_within_one_database_is_moved_by_the_server(pg_db: str, mode: Mode) -> None:
    """The same database: one INSERT … SELECT per chunk (an enum is assigned to a varchar)."""
    special_source(pg_db)
    pg_run(pg_db, f"CREATE TABLE t_copy ({COLUMNS.format(enum='varchar(9)')})")
    dest = pg_db + "?application_name=dest"
    tables = (TableSpec(name="t", dest_name="t_copy"),)
    spec = SyncSpec(source=pg_db, destination=dest, tables=tables, mode=mode)

    assert copied(sync(spec)) == (7, 0)
    assert pg(pg_db, AS_TEXT.replace("FROM t ", "FROM t_copy ")) == pg(pg_db, AS_TEXT)


def test_an_enum_into_a_shorter_varchar_still_goes_through_arrow(
    pg_db: str, pg_db2: str, arrow_steps: list[str]
) -> None:
    """varchar(5) cannot hold 'happy-ish': not the raw COPY; that row is refused, the rest land."""
    pg_run(
        pg_db,
        MOOD,
        "CREATE TABLE t (id int PRIMARY KEY, m mood)",
        "INSERT INTO t VALUES (1, 'ok'), (2, 'happy-ish'), (3, NULL)",
    )
    pg_run(pg_db2, "CREATE TABLE t (id int PRIMARY KEY, m varchar(5))")

    result = sync(SyncSpec(source=pg_db, destination=pg_db2, tables=["t"], mode=Mode.APPEND))

    assert copied(result) == (2, 1)
    assert pg(pg_db2, "SELECT id, m FROM t ORDER BY id") == [(1, "ok"), (3, None)]
    assert arrow_steps


def test_types_migrate_makes_otherwise_still_move_by_raw_copy(
    pg_db: str, pg_db2: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """citext and name become text, time(3) and timestamp(0) their 6-digit types: each the same
    value in the same binary form."""
    opened: list[Any] = []
    real_open = pg_stream.CopyStream.open.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(
        pg_stream.CopyStream, "open", classmethod(lambda cls, *a: opened.append(a[1]) or real_open(cls, *a))
    )
    pg_run(
        pg_db,
        "CREATE EXTENSION IF NOT EXISTS citext",
        "CREATE TABLE w (id int PRIMARY KEY, ci citext, nm name, tm time(3), ts timestamp(0), "
        "tz timestamptz(2), n numeric)",
        "INSERT INTO w VALUES (1, 'MiXed', 'a_name', '10:11:12.345', '2024-01-01 10:00:01', "
        "'infinity', 'NaN'), (2, NULL, NULL, NULL, '-infinity', '2024-01-01 10:00:00.25+00', 2.50)",
    )

    result = sync(SyncSpec(source=pg_db, destination=pg_db2, tables=["w"], mode=Mode.REPLACE))

    assert copied(result) == (2, 0)
    as_text = "SELECT id, ci::text, nm::text, tm::text, ts::text, tz::text, n::text FROM w ORDER BY id"
    assert pg(pg_db2, as_text) == pg(pg_db, as_text)
    assert opened, "the chunks went through Arrow"
    assert equal_by_verify(pg_db, pg_db2, "w")


@pytest.mark.parametrize(
    ("change", "differing"),
    [
        ("UPDATE t SET n = NULL WHERE id = 2", 1),  # NaN → NULL
        ("UPDATE t SET n = 'NaN' WHERE id = 3", 1),  # Infinity → NaN
        ("UPDATE t SET ts = 'infinity', d = NULL WHERE id = 3", 1),  # -infinity → infinity, NULL
        ("UPDATE t SET tz = NULL WHERE id IN (2, 3)", 2),
    ],
)
def test_verify_tells_the_values_only_postgresql_holds_apart(
    pg_db: str, pg_db2: str, change: str, differing: int
) -> None:
    """verify read each such value as NULL: NaN, Infinity, ±infinity and NULL all compared equal."""
    special_source(pg_db)
    sync(SyncSpec(source=pg_db, destination=pg_db2, tables=["t"], mode=Mode.REPLACE))
    assert equal_by_verify(pg_db, pg_db2)
    pg_run(pg_db2, change)

    (verdict,) = verify(VerifySpec(source=pg_db, destination=pg_db2, tables=(TableSpec(name="t"),))).tables

    assert not verdict.equal
    assert verdict.findings["different"].rows == differing


# -- chunks that still go through Arrow (another column's type differs) ---------------------------

OTHER_MOOD = "CREATE TYPE other_mood AS ENUM ('sad', 'ok', 'happy-ish')"


@pytest.mark.parametrize("mode", [Mode.APPEND, Mode.UPSERT])
def test_through_arrow_each_value_arrives_as_postgresql_held_it(
    pg_db: str, pg_db2: str, mode: Mode, arrow_steps: list[str]
) -> None:
    """An enum into another enum type goes through Arrow: NaN, ±Infinity and ±infinity were
    rejected rows, and 1.5 landed as 1.500000000000000000000000000000."""
    special_source(pg_db)
    pg_run(pg_db2, OTHER_MOOD, f"CREATE TABLE t ({COLUMNS.format(enum='other_mood')})")
    if mode is Mode.UPSERT:  # rows there already, to be overwritten
        pg_run(pg_db2, "INSERT INTO t (id, n) VALUES (1, 7), (2, 7), (5, 7)")

    result = sync(SyncSpec(source=pg_db, destination=pg_db2, tables=["t"], mode=mode))

    assert copied(result) == (7, 0)
    assert arrow_steps
    assert pg(pg_db2, AS_TEXT) == pg(pg_db, AS_TEXT)
    assert equal_by_verify(pg_db, pg_db2)


@pytest.mark.parametrize("mode", [Mode.APPEND, Mode.UPSERT])
def test_through_arrow_a_numeric_into_text_is_the_numbers_own_text(
    pg_db: str, pg_db2: str, mode: Mode, arrow_steps: list[str]
) -> None:
    """1.5 into a text column was '1.500000000000000000000000000000', NaN a rejected row."""
    special_source(pg_db)
    pg_run(pg_db2, OTHER_MOOD, f"CREATE TABLE t ({COLUMNS.format(enum='other_mood')})")
    pg_run(pg_db2, "ALTER TABLE t ALTER COLUMN n TYPE text, ALTER COLUMN n2 TYPE varchar(20)")

    result = sync(SyncSpec(source=pg_db, destination=pg_db2, tables=["t"], mode=mode))

    assert copied(result) == (7, 0)
    assert arrow_steps
    assert pg(pg_db2, AS_TEXT) == pg(pg_db, AS_TEXT)


def test_through_arrow_a_value_the_destination_type_cannot_hold_is_a_rejected_row(
    pg_db: str, pg_db2: str
) -> None:
    """numeric(10,2) holds NaN but not ±Infinity, nor 0.000100 without rounding it: those rows
    are rejected with the reason; every row that lands holds the source's value."""
    special_source(pg_db)
    pg_run(pg_db2, OTHER_MOOD, f"CREATE TABLE t ({COLUMNS.format(enum='other_mood')})")
    pg_run(pg_db2, "ALTER TABLE t ALTER COLUMN n TYPE numeric(10, 2)")

    result = sync(SyncSpec(source=pg_db, destination=pg_db2, tables=["t"], mode=Mode.APPEND))

    written, rejected = copied(result)
    assert written + rejected == 7
    reasons = rejects(pg_db2)
    assert {"[3]", "[4]", "[5]", "[7]"} <= set(reasons)
    assert all(reasons.values())
    landed = pg(pg_db2, "SELECT id, n::numeric::text FROM t ORDER BY id")
    fits = "n = 'NaN' OR abs(n) < 1e8"  # the source's values numeric(10,2) holds, as it shows them
    there = dict(pg(pg_db, f"SELECT id, CASE WHEN {fits} THEN n::numeric(10, 2)::text END FROM t"))
    assert landed and all(there[i] == n for i, n in landed)
    (verdict,) = verify(VerifySpec(source=pg_db, destination=pg_db2, tables=(TableSpec(name="t"),))).tables
    assert {k: f.rows for k, f in verdict.findings.items() if f.rows} == {"missing": rejected}


def test_a_chunk_the_destination_refuses_keeps_each_numeric_scale(pg_db: str, pg_db2: str) -> None:
    """A refused chunk is moved again with each bad row isolated: its unconstrained numerics
    are read as their text there too (1.50 stays 1.50, 1e-40 lands)."""
    special_source(pg_db)
    pg_run(
        pg_db2,
        OTHER_MOOD,
        f"CREATE TABLE t ({COLUMNS.format(enum='other_mood')}, CHECK (id <> 6))",
    )

    result = sync(SyncSpec(source=pg_db, destination=pg_db2, tables=["t"], mode=Mode.APPEND))

    written, rejected = copied(result)
    assert "[6]" in rejects(pg_db2) and written + rejected == 7
    landed = pg(pg_db2, "SELECT id, n::text, n2::text FROM t ORDER BY id")
    there = {row[0]: row for row in pg(pg_db, "SELECT id, n::text, n2::text FROM t")}
    assert [there[row[0]] for row in landed] == landed  # each landed row exactly as the source's
    assert {1, 5, 7} <= {row[0] for row in landed}  # 1.5, 0.000100, 1e-40 (more than 30 digits)


def rejects(url: str) -> dict[str, str]:
    return dict(pg(url, "SELECT row_key, reason FROM bulksync.rejects"))


# -- into a database that has no such values --------------------------------------------------------


@pytest.mark.parametrize("into", ["sqlite", "mariadb"])
def test_into_sqlite_or_mariadb_such_a_row_is_rejected_with_what_the_value_is(
    pg_db: str, into: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    special_source(pg_db)
    dst = str(tmp_path / "out.db") if into == "sqlite" else request.getfixturevalue("mariadb_db")

    result = sync(SyncSpec(source=pg_db, destination=dst, tables=["t"], mode=Mode.REPLACE))

    # rows 2-4, and 7: 1e-40 has more than 30 decimals, the most bulksync carries but into PostgreSQL
    assert copied(result) == (3, 4)
    reasons = dest_rejects(dst)
    assert "'NaN' is not a number a decimal holds" in reasons["[2]"]
    assert "'infinity' is PostgreSQL's infinity" in reasons["[2]"]
    assert "'-Infinity' is not a number a decimal holds" in reasons["[4]"]
    (verdict,) = verify(VerifySpec(source=pg_db, destination=dst, tables=(TableSpec(name="t"),))).tables
    assert {k: f.rows for k, f in verdict.findings.items() if f.rows} == {"missing": result.failed_rows}
