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
from bulksync.modes import BadValue
from helpers import run_cli

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
        "CREATE TABLE files (id INTEGER PRIMARY KEY, data BLOB, ratio REAL)",
        {
            "files": [
                (1, b"\x00a", float("inf")),
                (2, b"", 1.0),
                (3, None, 1.0),
                (4, None, 1.0),
                (5, b"z", 0.5),
            ]
        },
    )

    result = migrate(src, mariadb_db, ["files"])

    assert result.tables[0].rows_rejected == 1  # row 1: MariaDB's DOUBLE holds no infinity
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


def pg_source_with_dates_beyond_python(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE ti (id int PRIMARY KEY, ts timestamptz, d date)")
        conn.execute(
            "INSERT INTO ti VALUES (1, 'infinity', '2024-01-01'), (2, '-infinity', 'infinity'),"
            " (3, '2024-01-01 10:00+00', '4713-01-01 BC'), (4, '2024-01-01 10:00+00', '2024-01-02')"
        )


def test_infinite_and_bc_dates_of_a_postgresql_source_are_rejected_with_the_reason(
    pg_db: str, tmp_path: Path
) -> None:
    """The driver read 'infinity' as a wrapped-around number: '<value out of range: …>' landed
    in SQLite as the row's value, and into MariaDB the sync crashed with a traceback."""
    pg_source_with_dates_beyond_python(pg_db)
    dst = str(tmp_path / "out.db")

    (table,) = migrate(pg_db, dst, ["ti"]).tables

    assert (table.rows_written, table.rows_rejected) == (1, 3)
    with sqlite3.connect(dst) as conn:
        rows = conn.execute("SELECT id, ts, d FROM ti").fetchall()
        reasons = dict(conn.execute("SELECT row_key, reason FROM _bulksync_rejects").fetchall())
    assert rows == [(4, "2024-01-01 10:00:00", "2024-01-02")]
    assert "'infinity' is PostgreSQL's infinity" in reasons["[1]"]
    assert "'-4712-01-01' is outside years 1 to 9999" in reasons["[3]"]


def test_infinite_dates_load_as_null_into_mariadb_when_asked(pg_db: str, mariadb_db: str) -> None:
    pg_source_with_dates_beyond_python(pg_db)

    spec = SyncSpec(
        source=pg_db, destination=mariadb_db, tables=["ti"], mode=Mode.REPLACE, on_bad_value=BadValue.NULL
    )
    result = sync(spec)

    assert result.status == "succeeded", [(t.table, t.error) for t in result.tables]
    assert mariadb(mariadb_db, "SELECT id, ts IS NULL, d IS NULL FROM ti ORDER BY id") == [
        (1, 1, 0),
        (2, 1, 1),
        (3, 0, 1),
        (4, 0, 0),
    ]


def test_infinity_still_travels_between_two_postgresql_databases(pg_db: str, pg_db2: str) -> None:
    pg_source_with_dates_beyond_python(pg_db)

    migrate(pg_db, pg_db2, ["ti"])

    assert pg(pg_db2, "SELECT id, ts::text, d::text FROM ti ORDER BY id")[:3] == [
        (1, "infinity", "2024-01-01"),
        (2, "-infinity", "infinity"),
        (3, "2024-01-01 10:00:00+00", "4713-01-01 BC"),
    ]


def test_a_numeric_wider_than_76_digits_is_one_clear_line_not_a_traceback(pg_db: str, pg_db2: str) -> None:
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE wide (id int PRIMARY KEY, n numeric(80, 10))")

    proc = run_cli("migrate", pg_db, pg_db2)

    assert proc.returncode == 2  # refused before anything is created
    assert "Traceback" not in proc.stderr
    assert "wide.n has type NUMERIC(80, 10): more than 76 digits" in proc.stderr


def test_a_type_bulksync_cannot_carry_is_refused_with_exit_2_before_anything_is_created(
    pg_db: str, mariadb_db: str
) -> None:
    """A point column stopped the migrate before anything was created, but with exit 1 (failed)
    where the README promises 2 (refused, nothing changed)."""
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE a (id int PRIMARY KEY)")
        conn.execute("INSERT INTO a VALUES (1)")
        conn.execute("CREATE TABLE geo (id int PRIMARY KEY, p point)")
        conn.execute("INSERT INTO geo VALUES (1, '(1,2)')")

    proc = run_cli("migrate", pg_db, mariadb_db)
    copied = run_cli("copy", pg_db, mariadb_db, "-t", "geo")

    assert (proc.returncode, copied.returncode) == (2, 2), proc.stderr + copied.stderr
    said = proc.stderr.strip().splitlines()
    assert said[-1] == "error: geo.p has type POINT which bulksync cannot carry yet"
    assert mariadb(mariadb_db, "SHOW TABLES") == []


def test_a_numeric_of_39_to_76_digits_travels(pg_db: str, pg_db2: str) -> None:
    """MariaDB's DECIMAL(65, 30), made again in PostgreSQL, stopped a migrate after other tables
    had loaded ('more than 38 digits': the destination's own table could not be described).
    Between PostgreSQL databases every digit travels (the raw binary COPY)."""
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE wide (id int PRIMARY KEY, n numeric(65, 30))")
        conn.execute(
            "INSERT INTO wide VALUES (1, 1.5), (2, NULL), (3, -0.000000000000000000000000000001), "
            "(4, 12345678901234567890123456789012345.123456789012345678901234567890)"
        )

    proc = run_cli("migrate", pg_db, pg_db2)

    assert proc.returncode == 0, proc.stderr
    query = "SELECT id, n::text FROM wide ORDER BY id"
    assert pg(pg_db2, query) == pg(pg_db, query)
    typed = (
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = 'wide'::regclass AND attnum = 2"
    )
    assert pg(pg_db2, typed) == [("numeric(65,30)",)]


def test_tables_folded_onto_one_name_are_named_with_the_way_out(pg_db: str, pg_db2: str) -> None:
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute('CREATE TABLE "Foo" (id int PRIMARY KEY)')
        conn.execute("CREATE TABLE foo (id int PRIMARY KEY)")

    proc = run_cli("migrate", pg_db, pg_db2)

    assert proc.returncode == 2
    assert "'Foo' and 'foo' → 'foo' (folded to lower case: --keep-case" in proc.stderr


def test_tables_one_in_sqlite_are_refused_before_the_file_is_created(pg_db: str, tmp_path: Path) -> None:
    """SQLite's table names ignore case: "Foo" and foo failed midway with a cryptic ALTER error."""
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute('CREATE TABLE "Foo" (id int PRIMARY KEY)')
        conn.execute("CREATE TABLE foo (id int PRIMARY KEY)")
    dst = tmp_path / "out.db"

    proc = run_cli("migrate", pg_db, str(dst))

    assert proc.returncode == 2
    assert "tables 'Foo' and 'foo' would be one table in the destination" in proc.stderr
    assert not dst.exists()


@pytest.mark.parametrize("dest_kind", ["sqlite", "mariadb"])
def test_columns_one_in_a_case_blind_destination_are_refused_naming_table_and_columns(
    dest_kind: str, pg_db: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute('CREATE TABLE people (id int PRIMARY KEY, "Name" text, name text)')
    dst = str(tmp_path / "out.db") if dest_kind == "sqlite" else request.getfixturevalue("mariadb_db")

    proc = run_cli("migrate", pg_db, dst)

    assert proc.returncode == 2
    assert "table 'people': columns 'Name' and 'name' would have one name in the destination" in proc.stderr


def test_a_percent_in_a_column_name_is_refused_up_front(tmp_path: Path, pg_db: str) -> None:
    """'growth %' landed as "growth %%" in PostgreSQL (and verify, upsert, a PostgreSQL read
    crashed with a psycopg traceback; MariaDB failed with "Unknown column")."""
    src = sqlite_file(
        tmp_path / "pct.db", 'CREATE TABLE t (id INTEGER PRIMARY KEY, "growth %" REAL)', {"t": [(1, 2.5)]}
    )

    proc = run_cli("migrate", src, pg_db)

    assert proc.returncode == 2
    assert "table 't': column 'growth %' has a '%' in its name" in proc.stderr
    assert pg(pg_db, "SELECT count(*) FROM pg_tables WHERE tablename = 't'") == [(0,)]


def test_a_postgresql_numeric_key_moves_every_row(pg_db: str, mariadb_db: str) -> None:
    """The NUMERIC key is read as text, and ORDER BY id meant that text: chunks ordered
    '10' < '9' while the keyset compared numbers; half the rows were skipped, exit 0."""
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE money (id numeric(10, 0) PRIMARY KEY, v text)")
        conn.execute("INSERT INTO money SELECT g, repeat('x', 50) FROM generate_series(1, 5000) g")

    result = sync(SyncSpec(source=pg_db, destination=mariadb_db, tables=["money"], batch_mb=0.02))

    assert result.status == "succeeded"
    assert result.tables[0].rows_read == 5000
    assert mariadb(mariadb_db, "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM money") == [
        (5000, 5000, 1, 5000)
    ]


def test_numbers_in_an_untyped_sqlite_key_move_every_row(tmp_path: Path, pg_db: str) -> None:
    """An untyped key holding numbers is read as text: the next chunk started after the text
    '525', past every number (SQLite sorts numbers before text); 526 of 5003 rows, exit 0."""
    src = sqlite_file(
        tmp_path / "untyped_key.db",
        "CREATE TABLE m (k PRIMARY KEY, v TEXT)",
        {"m": [(i, "x" * 50) for i in range(5000)] + [("a", "y"), ("b", "z"), (2.5, "r")]},
    )

    result = sync(SyncSpec(source=src, destination=pg_db, tables=["m"], batch_mb=0.02))

    assert result.status == "succeeded"
    assert result.tables[0].rows_read == 5003
    assert pg(pg_db, "SELECT count(*), count(DISTINCT k) FROM m") == [(5003, 5003)]
    assert pg(pg_db, "SELECT k FROM m WHERE k IN ('2.5', 'a', '4999') ORDER BY k") == [
        ("2.5",),
        ("4999",),
        ("a",),
    ]
