"""An upsert carries a change its column's equality calls no change.

PostgreSQL says ``1.5 = 1.50`` (numeric), ``-0 = 0`` (float) and, for ``citext`` or a
case-insensitive collation, ``'abc' = 'ABC'``; SQLite's NOCASE says the same. The merge skipped
such rows as unchanged, so the destination kept the old scale, sign or case with exit 0 (and
verify, comparing by value, could not tell). The merge now compares values as written.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bulksync import Mode, SyncSpec, TableSpec, sync

pytestmark = pytest.mark.integration

CREATE = "CREATE TABLE t (id int PRIMARY KEY, n numeric, f float8, c citext)"


def _upsert(src: str, dst: str) -> tuple[int, int]:
    result = sync(SyncSpec(source=src, destination=dst, tables=(TableSpec(name="t"),), mode=Mode.UPSERT))
    (table,) = result.tables
    return table.rows_inserted, table.rows_updated


def _pg(url: str, *sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in sql[:-1]:
            conn.execute(statement)
        return [tuple(r) for r in conn.execute(sql[-1]).fetchall()]


def test_postgres_to_postgres_carries_scale_sign_and_case(pg_db: str, pg_db2: str) -> None:
    src, dst = pg_db, pg_db2
    _pg(
        src,
        "CREATE EXTENSION IF NOT EXISTS citext",
        CREATE,
        "INSERT INTO t VALUES (1, 1.5, 0, 'abc')",
        "SELECT 1",
    )
    _pg(dst, "CREATE EXTENSION IF NOT EXISTS citext", CREATE, "SELECT 1")
    assert _upsert(src, dst) == (1, 0)
    _pg(src, "UPDATE t SET n = 1.50, f = '-0', c = 'ABC'", "SELECT 1")
    assert _upsert(src, dst) == (0, 1)
    got = _pg(dst, "SELECT n::text, f::text, c::text FROM t")
    assert got == [("1.50", "-0", "ABC")]
    assert _upsert(src, dst) == (0, 0)  # now it is unchanged


def test_sqlite_nocase_text_carries_a_case_change(tmp_path: Path) -> None:
    src, dst = tmp_path / "s.db", tmp_path / "d.db"
    for path in (src, dst):
        with closing(sqlite3.connect(path)) as conn:
            conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT COLLATE NOCASE)")
            conn.commit()
    with closing(sqlite3.connect(src)) as conn:
        conn.execute("INSERT INTO t VALUES (1, 'abc')")
        conn.commit()
    assert _upsert(str(src), str(dst)) == (1, 0)
    with closing(sqlite3.connect(src)) as conn:
        conn.execute("UPDATE t SET name = 'ABC'")
        conn.commit()
    assert _upsert(str(src), str(dst)) == (0, 1)
    with closing(sqlite3.connect(dst)) as conn:
        assert conn.execute("SELECT name FROM t").fetchall() == [("ABC",)]
