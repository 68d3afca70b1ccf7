"""``migrate`` of small, nasty SQLite files nobody designed for it (a zoo): a column without a
declared type, REAL values next to text in one column, NULL BLOBs around a rejected row,
partial and expression indexes, generated columns.

Each test migrates for real and reads the destination through its own driver (psycopg, PyMySQL).
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from bulksync import Mode, SyncResult, SyncSpec, sync
from bulksync.connectors.mysql_url import parse_mysql_url

pytestmark = pytest.mark.integration


def sqlite_file(path: Path, script: str, rows: dict[str, list[tuple[Any, ...]]]) -> str:
    conn = sqlite3.connect(path)
    conn.executescript(script)
    for table, values in rows.items():
        marks = ", ".join("?" * len(values[0]))
        conn.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
    conn.commit()
    conn.close()
    return str(path)


def migrate(src: str, dst: str, tables: list[str]) -> SyncResult:
    result = sync(SyncSpec(source=src, destination=dst, tables=tables, mode=Mode.REPLACE))
    assert result.status == "succeeded", [(t.table, t.error) for t in result.tables]
    return result


def pg(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def mariadb(url: str, sql: str) -> list[tuple[Any, ...]]:
    u = parse_mysql_url(url)
    conn = pymysql.connect(host=u.host, port=u.port, user=u.user, password=u.password, database=u.database)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


def test_a_column_without_a_declared_type_migrates(tmp_path: Path, pg_db: str) -> None:
    src = sqlite_file(
        tmp_path / "untyped.db",
        "CREATE TABLE kv (id INTEGER PRIMARY KEY, v)",
        {"kv": [(1, "text"), (2, 42), (3, None)]},
    )

    migrate(src, pg_db, ["kv"])

    assert pg(pg_db, "SELECT id, v FROM kv ORDER BY id") == [(1, "text"), (2, "42"), (3, None)]


def test_real_values_next_to_text_in_one_column_keep_every_digit(tmp_path: Path, pg_db: str) -> None:
    """One '' in a DECIMAL column made the driver read the chunk as text, each REAL printed
    with 7 significant digits: 1234567.89 landed as 1234568.00 and verify saw nothing."""
    src = sqlite_file(
        tmp_path / "prices.db",
        "CREATE TABLE prices (id INTEGER PRIMARY KEY, price DECIMAL(12,2), ratio REAL, note ANY)",
        {
            "prices": [
                (1, 1234567.89, 0.1234567891, 3.141592653589793),
                (2, "", "n/a", "text"),
                (3, 7654321.12, 1e300, 0.1),
            ]
        },
    )

    result = migrate(src, pg_db, ["prices"])

    assert result.tables[0].rows_rejected == 1  # row 2: '' is no decimal, 'n/a' no number
    rows = pg(pg_db, "SELECT id, price, ratio, note FROM prices ORDER BY id")
    assert rows == [
        (1, Decimal("1234567.89"), 0.1234567891, "3.1415926535897931"),
        (3, Decimal("7654321.12"), 1e300, "0.1"),
    ]


def test_null_blobs_stay_null_in_mariadb_when_a_batch_is_split(tmp_path: Path, mariadb_db: str) -> None:
    """A rejected row splits the batch; the BLOB column's NULLs were read from the wrong bits."""
    src = sqlite_file(
        tmp_path / "files.db",
        "CREATE TABLE files (id INTEGER PRIMARY KEY, data BLOB, code VARCHAR(3))",
        {"files": [(1, b"\x00a", "x" * 10), (2, b"", "ok"), (3, None, "ok"), (4, None, "ok"), (5, b"z", "")]},
    )

    result = migrate(src, mariadb_db, ["files"])

    assert result.tables[0].rows_rejected == 1  # row 1: code longer than VARCHAR(3)
    assert mariadb(mariadb_db, "SELECT id, data FROM files ORDER BY id") == [
        (2, b""),
        (3, None),
        (4, None),
        (5, b"z"),
    ]


@pytest.mark.parametrize("dest_kind", ["pg", "mariadb"])
def test_partial_and_expression_indexes_and_generated_columns_are_reported_not_built(
    dest_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A soft-delete UNIQUE index (email unique WHERE deleted = 0) built whole refused the rows."""
    src = sqlite_file(
        tmp_path / "users.db",
        """CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, deleted INTEGER NOT NULL DEFAULT 0,
                               a INTEGER, b INTEGER GENERATED ALWAYS AS (a + 1) STORED);
           CREATE UNIQUE INDEX users_email_live ON users (email) WHERE deleted = 0;
           CREATE INDEX users_email_ci ON users (lower(email));""",
        {},
    )
    with sqlite3.connect(src) as conn:
        conn.executemany(
            "INSERT INTO users (id, email, deleted, a) VALUES (?, ?, ?, ?)",
            [(1, "a@x", 1, 1), (2, "a@x", 0, 2), (3, "b@x", 0, 3)],
        )
    dst = request.getfixturevalue("pg_db" if dest_kind == "pg" else "mariadb_db")

    (table,) = migrate(src, dst, ["users"]).tables

    read = pg if dest_kind == "pg" else mariadb
    assert read(dst, "SELECT id, email, deleted, a FROM users ORDER BY id") == [
        (1, "a@x", 1, 1),
        (2, "a@x", 0, 2),
        (3, "b@x", 0, 3),
    ]
    notes = "; ".join(table.not_carried)
    assert "index users_email_live is partial" in notes
    assert "index users_email_ci is on an expression" in notes
    assert "column b is generated" in notes


def test_a_partial_unique_index_of_a_postgresql_source_is_reported_not_built(pg_db: str, pg_db2: str) -> None:
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id int PRIMARY KEY, email text, deleted boolean NOT NULL)")
        conn.execute("CREATE UNIQUE INDEX users_email_live ON users (email) WHERE NOT deleted")
        conn.execute("INSERT INTO users VALUES (1, 'a@x', true), (2, 'a@x', false)")

    (table,) = migrate(pg_db, pg_db2, ["users"]).tables

    rows = pg(pg_db2, "SELECT id, email, deleted FROM users ORDER BY id")
    assert rows == [(1, "a@x", True), (2, "a@x", False)]
    assert any("index users_email_live is partial" in n for n in table.not_carried)
