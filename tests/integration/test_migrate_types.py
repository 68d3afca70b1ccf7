"""``migrate`` carries every value of a real database, or says why not: each value arrives
exactly, or its row is rejected with the reason, or the column is reported "not carried".

Every test migrates for real and reads both ends through their own drivers (sqlite3, psycopg,
PyMySQL): the oracle never goes through bulksync.
"""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from test_migrate_zoo import mariadb, pg, sqlite_file

from bulksync import Mode, SyncResult, SyncSpec, TableSpec, VerifySpec, sync, verify
from bulksync.connectors.mysql_url import parse_mysql_url
from helpers import run_cli

pytestmark = pytest.mark.integration


def migrate(src: str, dst: str, tables: list[str]) -> SyncResult:
    result = sync(SyncSpec(source=src, destination=dst, tables=tables, mode=Mode.REPLACE))
    assert result.status == "succeeded", [(t.table, t.error) for t in result.tables]
    return result


def pg_run(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)


def mariadb_conn(url: str) -> Any:
    u = parse_mysql_url(url)
    return pymysql.connect(host=u.host, port=u.port, user=u.user, password=u.password, database=u.database)


def rejects(url: str) -> dict[str, str]:
    """Rejected rows' keys and reasons, read from the destination's reject table."""
    if url.endswith(".db"):
        with sqlite3.connect(url) as conn:
            return dict(conn.execute("SELECT row_key, reason FROM _bulksync_rejects").fetchall())
    if url.startswith("mysql"):
        return dict(mariadb(url, "SELECT row_key, reason FROM _bulksync_rejects"))
    return dict(pg(url, "SELECT row_key, reason FROM bulksync.rejects"))


def test_a_sqlite_varchar_holding_longer_text_arrives_whole_in_postgresql(tmp_path: Path, pg_db: str) -> None:
    """SQLite never enforces VARCHAR(10): its 500 characters were rejected by PostgreSQL."""
    src = sqlite_file(
        tmp_path / "names.db",
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name VARCHAR(10), code VARCHAR(20))",
        {"people": [(1, "x" * 500, "ab"), (2, "short", "é" * 20), (3, None, None)]},
    )

    (table,) = migrate(src, pg_db, ["people"]).tables

    assert table.rows_rejected == 0
    assert pg(pg_db, "SELECT id, length(name), length(code) FROM people ORDER BY id") == [
        (1, 500, 2),
        (2, 5, 20),
        (3, None, None),
    ]
    types = pg(
        pg_db,
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = 'people'::regclass AND attname IN ('name', 'code') ORDER BY attname",
    )
    assert types == [("character varying(20)",), ("text",)]  # code fits its length: kept
    widened = "name: length 10 not carried (SQLite never enforced it and a value is longer)"
    assert f"{widened}: the column has no length" in table.not_carried


def test_a_sqlite_varchar_holding_longer_text_arrives_whole_in_mariadb(
    tmp_path: Path, mariadb_db: str
) -> None:
    src = sqlite_file(
        tmp_path / "names.db",
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name VARCHAR(10))",
        {"people": [(1, "x" * 500), (2, "short")]},
    )

    (table,) = migrate(src, mariadb_db, ["people"]).tables

    assert table.rows_rejected == 0
    assert mariadb(mariadb_db, "SELECT id, name FROM people ORDER BY id") == [(1, "x" * 500), (2, "short")]


def pg_instants(url: str) -> None:
    pg_run(
        url,
        "CREATE TABLE events (id int PRIMARY KEY, at timestamptz NOT NULL)",
        "INSERT INTO events VALUES (1, '1960-01-01 00:00:00+00'), (2, '2050-06-01 12:00:00.123456+02'),"
        " (3, '2024-03-31 01:30:00-05'), (4, '1000-01-01 00:00:00+00')",
    )


def test_postgresql_instants_outside_1970_2038_land_in_mariadb_as_utc(pg_db: str, mariadb_db: str) -> None:
    """timestamptz became TIMESTAMP(6), which holds only 1970..2038: rows 1, 2 and 4 were rejected."""
    pg_instants(pg_db)

    (table,) = migrate(pg_db, mariadb_db, ["events"]).tables

    assert table.rows_rejected == 0
    assert mariadb(mariadb_db, "SELECT id, at FROM events ORDER BY id") == [
        (1, dt.datetime(1960, 1, 1)),
        (2, dt.datetime(2050, 6, 1, 10, 0, 0, 123456)),
        (3, dt.datetime(2024, 3, 31, 6, 30)),
        (4, dt.datetime(1000, 1, 1)),
    ]
    column = (
        "SELECT COLUMN_TYPE FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME = 'at'"
    )
    assert mariadb(mariadb_db, column) == [("datetime(6)",)]
    assert verify(VerifySpec(source=pg_db, destination=mariadb_db, tables=(TableSpec(name="events"),))).equal


def test_the_instants_travel_back_from_mariadb_unchanged(pg_db: str, mariadb_db: str, pg_db2: str) -> None:
    pg_instants(pg_db)
    migrate(pg_db, mariadb_db, ["events"])

    migrate(mariadb_db, pg_db2, ["events"])

    there = pg(pg_db, "SELECT id, at AT TIME ZONE 'UTC' FROM events ORDER BY id")
    back = pg(pg_db2, "SELECT id, at FROM events ORDER BY id")  # a DATETIME: UTC wall time
    assert back == there


def pg_numbers(url: str) -> None:
    pg_run(
        url,
        "CREATE TABLE amounts (id int PRIMARY KEY, n numeric)",
        "INSERT INTO amounts VALUES (1, 1e-30), (2, 123456789012345678901234567890.123456789012),"
        " (3, 1.5), (4, -0.1), (5, 1e-31), (6, 1e40), (7, 'NaN'), (8, NULL)",
    )


def test_an_unconstrained_numeric_keeps_every_digit_into_mariadb(pg_db: str, mariadb_db: str) -> None:
    """numeric became decimal(38,10): 1e-30 was rejected, and the widest value too."""
    pg_numbers(pg_db)

    (table,) = migrate(pg_db, mariadb_db, ["amounts"]).tables

    rows = dict(mariadb(mariadb_db, "SELECT id, n FROM amounts"))
    assert rows == {  # Decimal equality: 1.5 == 1.500…
        1: Decimal("1E-30"),
        2: Decimal("123456789012345678901234567890.123456789012"),
        3: Decimal("1.5"),
        4: Decimal("-0.1"),
        8: None,
    }
    assert table.rows_rejected == 3
    reasons = rejects(mariadb_db)
    assert "not a valid decimal" in reasons["[5]"]  # 31 digits after the point: never rounded
    assert "[6]" in reasons and "[7]" in reasons  # 41 digits before it; NaN
    verdict = verify(VerifySpec(source=pg_db, destination=mariadb_db, tables=(TableSpec(name="amounts"),)))
    findings = {kind: f.rows for kind, f in verdict.tables[0].findings.items() if f.rows}
    assert findings == {"missing": 3}  # the rejected rows; every landed value compares equal


def test_an_unconstrained_numeric_stays_unconstrained_between_postgresql_databases(
    pg_db: str, pg_db2: str
) -> None:
    """It became numeric(38,10), and 1e-30 and the 42-digit value landed as NULL, silently."""
    pg_numbers(pg_db)
    pg_run(pg_db, "INSERT INTO amounts VALUES (9, 1e-40)")

    (table,) = migrate(pg_db, pg_db2, ["amounts"]).tables

    assert table.rows_rejected == 0
    assert pg(pg_db2, "SELECT id, n::text FROM amounts ORDER BY id") == pg(
        pg_db, "SELECT id, n::text FROM amounts ORDER BY id"
    )
    assert pg(pg_db2, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
              "WHERE attrelid = 'amounts'::regclass AND attname = 'n'") == [("numeric",)]  # fmt: skip


def test_numbers_sqlite_cannot_hold_exactly_are_rejected_not_rounded(pg_db: str, tmp_path: Path) -> None:
    """A 42-digit numeric landed as 1.2345678901234568e+29 and NaN as NULL, without a word."""
    pg_numbers(pg_db)
    pg_run(
        pg_db,
        "CREATE TABLE wide (id int PRIMARY KEY, d numeric(20, 2), f float8)",
        "INSERT INTO wide VALUES (1, 1234567.89, 'NaN'), (2, 99999999999999.99, 0.1),"
        " (3, 123456789012345678.12, 1e300), (4, 0.1, '-Infinity')",
    )
    dst = str(tmp_path / "out.db")

    amounts, wide = sync(SyncSpec(source=pg_db, destination=dst, tables=["amounts", "wide"])).tables

    with sqlite3.connect(dst) as conn:
        got = dict(conn.execute("SELECT id, n FROM amounts").fetchall())
        got_wide = conn.execute("SELECT id, d, f FROM wide ORDER BY id").fetchall()
    assert got == {1: 1e-30, 3: 1.5, 4: -0.1, 6: 1e40, 8: None}  # 1e40 is a double exactly
    assert got_wide == [(4, 0.1, -math.inf)]
    reasons = rejects(dst)
    assert "digits than a 64-bit float" in reasons["[2]"]  # both tables: row 2
    assert "NaN, which SQLite would store as NULL" in reasons["[1]"]
    assert (amounts.rows_rejected, wide.rows_rejected) == (3, 3)


def test_a_sqlite_decimal_column_holding_integers_moves(tmp_path: Path, pg_db: str) -> None:
    """SQLite stores 7 in a DECIMAL(10,0) column as an INTEGER: Arrow refused to cast int64 to a
    decimal of fewer than 19 digits, and every such row was rejected."""
    src = sqlite_file(
        tmp_path / "d.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, d DECIMAL(10, 0), e DECIMAL(6, 2))",
        {"t": [(1, 7, 3), (2, 9999999999, 1.25), (3, None, None)]},
    )

    (table,) = migrate(src, pg_db, ["t"]).tables

    assert table.rows_rejected == 0
    assert pg(pg_db, "SELECT id, d, e FROM t ORDER BY id") == [
        (1, Decimal("7"), Decimal("3.00")),
        (2, Decimal("9999999999"), Decimal("1.25")),
        (3, None, None),
    ]


def test_minus_zero_travels_between_postgresql_databases(pg_db: str, pg_db2: str) -> None:
    """SQLite and MariaDB store -0.0 as 0 (README); PostgreSQL keeps its sign."""
    pg_run(pg_db, "CREATE TABLE z (id int PRIMARY KEY, f float8)", "INSERT INTO z VALUES (1, '-0'), (2, 0)")

    migrate(pg_db, pg_db2, ["z"])

    assert [(i, math.copysign(1, f)) for i, f in pg(pg_db2, "SELECT id, f FROM z ORDER BY id")] == [
        (1, -1),
        (2, 1),
    ]


# -- verify: equal copies are equal, and differences still show -------------------------------


def untyped_key_file(tmp_path: Path) -> str:
    return sqlite_file(
        tmp_path / "untyped_key.db",
        "CREATE TABLE m (k PRIMARY KEY, v TEXT)",
        {"m": [(i, "x") for i in range(1200)] + [("a", "y"), ("b", "z"), (2.5, "r")]},
    )


def check(src: str, dst: str, table: str) -> Any:
    spec = VerifySpec(source=src, destination=dst, tables=(TableSpec(name=table),), chunk_rows=100)
    (verdict,) = verify(spec).tables
    return verdict


def test_verify_calls_a_copy_of_a_mixed_untyped_sqlite_key_equal(tmp_path: Path, pg_db: str) -> None:
    """SQLite orders the numbers first and numerically, PostgreSQL the text '10' before '9':
    every chunk's key range held other rows on each side, and verify reported thousands."""
    src = untyped_key_file(tmp_path)
    migrate(src, pg_db, ["m"])

    assert check(src, pg_db, "m").equal


def test_verify_still_finds_differences_in_a_mixed_untyped_key(tmp_path: Path, pg_db: str) -> None:
    src = untyped_key_file(tmp_path)
    migrate(src, pg_db, ["m"])
    pg_run(
        pg_db,
        "DELETE FROM m WHERE k = '17'",
        "UPDATE m SET v = 'changed' WHERE k = 'a'",
        "INSERT INTO m VALUES ('9999', 'extra')",
    )

    verdict = check(src, pg_db, "m")

    assert not verdict.equal
    assert [k for (k,) in verdict.findings["missing"].examples] == ["17"]
    assert [k for (k,) in verdict.findings["different"].examples] == ["a"]
    assert [k for (k,) in verdict.findings["unexpected"].examples] == ["9999"]


def test_verify_calls_a_numeric_key_copied_into_sqlite_equal(pg_db: str, tmp_path: Path) -> None:
    """SQLite stores a NUMERIC(10,0) key as INTEGER; reading it back as a decimal failed."""
    pg_run(
        pg_db,
        "CREATE TABLE money (id numeric(10, 0) PRIMARY KEY, v text)",
        "INSERT INTO money SELECT g, 'x' FROM generate_series(1, 1000) g",
    )
    dst = str(tmp_path / "out.db")
    migrate(pg_db, dst, ["money"])

    assert check(pg_db, dst, "money").equal
    with sqlite3.connect(dst) as conn:
        conn.execute("UPDATE money SET v = 'y' WHERE id = 500")
    assert [k for (k,) in check(pg_db, dst, "money").findings["different"].examples] == [Decimal(500)]


def test_a_chunk_pulled_through_arrow_carries_infinity_into_another_timestamp_type(
    pg_db: str, pg_db2: str
) -> None:
    """Between two PostgreSQL databases whose column types differ, chunks go through Arrow:
    'infinity' (no Arrow value) first landed there as NULL, read = written, exit 0; then it was
    a rejected row, though the destination's timestamp holds it."""
    pg_run(
        pg_db,
        "CREATE TABLE ti (id int PRIMARY KEY, ts timestamptz)",
        "INSERT INTO ti VALUES (1, 'infinity'), (2, '2024-01-01 10:00+00')",
    )
    pg_run(pg_db2, "CREATE TABLE ti (id int PRIMARY KEY, ts timestamp)")  # another type: no raw COPY

    (table,) = sync(SyncSpec(source=pg_db, destination=pg_db2, tables=["ti"], mode=Mode.APPEND)).tables

    # infinity is infinity in a timestamp too: carried as its text (test_pg_special_values.py)
    assert (table.rows_written, table.rows_rejected) == (2, 0)
    landed = pg(pg_db2, "SELECT id, ts::text FROM ti ORDER BY id")
    assert landed == [(1, "infinity"), (2, "2024-01-01 10:00:00")]


def test_a_bigint_unsigned_beyond_sqlite_integers_is_a_rejected_row(mariadb_db: str, tmp_path: Path) -> None:
    """SQLite's INTEGER is signed 64-bit: 2**64 - 1 failed the whole table."""
    conn = mariadb_conn(mariadb_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE big (id INT PRIMARY KEY, u BIGINT UNSIGNED)")
        cur.execute("INSERT INTO big VALUES (1, 18446744073709551615), (2, 9223372036854775807), (3, 0)")
    conn.commit()
    conn.close()
    dst = str(tmp_path / "out.db")

    (table,) = migrate(mariadb_db, dst, ["big"]).tables

    assert (table.rows_written, table.rows_rejected) == (2, 1)
    with sqlite3.connect(dst) as out:
        assert out.execute("SELECT id, u FROM big ORDER BY id").fetchall() == [(2, 2**63 - 1), (3, 0)]
    assert "outside the range of int64" in rejects(dst)["[1]"]


def test_time_with_time_zone_is_refused_in_one_line(pg_db: str, tmp_path: Path) -> None:
    """Its bytes reached Arrow undecoded: every row was rejected with a reason made of bytes."""
    pg_run(pg_db, "CREATE TABLE shifts (id int PRIMARY KEY, starts timetz)")

    proc = run_cli("migrate", pg_db, str(tmp_path / "out.db"))

    assert proc.returncode == 2  # refused before anything is created
    assert "shifts.starts has type TIME WITH TIME ZONE which bulksync cannot carry yet" in proc.stderr


def test_a_mariadb_set_of_several_members_arrives_whole(mariadb_db: str, pg_db: str) -> None:
    """A SET became varchar(its longest member): 'r,w' was refused as too long for varchar(1)."""
    conn = mariadb_conn(mariadb_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE perms (id INT PRIMARY KEY, p SET('r','w','x','admin'))")
        cur.execute("INSERT INTO perms VALUES (1, 'r,w'), (2, 'r,w,x,admin'), (3, ''), (4, NULL)")
    conn.commit()
    conn.close()

    (table,) = migrate(mariadb_db, pg_db, ["perms"]).tables

    assert (table.rows_written, table.rows_rejected) == (4, 0)
    assert pg(pg_db, "SELECT p FROM perms ORDER BY id") == [("r,w",), ("r,w,x,admin",), ("",), (None,)]
    assert pg(
        pg_db, "SELECT character_maximum_length FROM information_schema.columns WHERE column_name = 'p'"
    ) == [(11,)]


@pytest.mark.parametrize("kind", ["pg", "mariadb"])
def test_sqlite_times_of_day_arrive_and_verify_equal(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Arrow casts no text to a time of day: every SQLite TIME value was a rejected row, and a
    verify of PostgreSQL's times against their SQLite copy called every row different."""
    src = str(tmp_path / "times.db")
    with sqlite3.connect(src) as conn:
        conn.execute("CREATE TABLE tt (id INTEGER PRIMARY KEY, d TIME)")
        conn.executemany(
            "INSERT INTO tt VALUES (?, ?)",
            [(1, "02:30:00"), (2, "23:59:59.5"), (3, "00:00"), (4, None), (5, "24:00:01"), (6, "noon")],
        )
    dst = request.getfixturevalue("pg_db" if kind == "pg" else "mariadb_db")

    (table,) = migrate(src, dst, ["tt"]).tables

    assert (table.rows_written, table.rows_rejected) == (4, 2)
    assert sorted(rejects(dst)) == ["[5]", "[6]"]
    read = pg if kind == "pg" else mariadb
    got = [(i, str(t) if t is not None else None) for i, t in read(dst, "SELECT id, d FROM tt ORDER BY id")]
    assert got[:2] == [(1, "2:30:00" if kind == "mariadb" else "02:30:00"), (2, "23:59:59.500000")]
    back = str(tmp_path / "back.db")
    migrate(dst, back, ["tt"])
    assert verify(VerifySpec(source=dst, destination=back, tables=(TableSpec(name="tt"),))).equal


def test_a_sqlite_date_written_as_its_midnight_is_that_date(tmp_path: Path, pg_db: str) -> None:
    src = str(tmp_path / "dates.db")
    with sqlite3.connect(src) as conn:
        conn.execute("CREATE TABLE dd (id INTEGER PRIMARY KEY, d DATE)")
        conn.executemany(
            "INSERT INTO dd VALUES (?, ?)",
            [(1, "2024-01-01 00:00:00"), (2, "2024-02-03"), (3, "2024-01-01 10:00:00"), (4, None)],
        )

    (table,) = migrate(src, pg_db, ["dd"]).tables

    assert (table.rows_written, table.rows_rejected) == (3, 1)
    assert pg(pg_db, "SELECT id, d FROM dd ORDER BY id") == [
        (1, dt.date(2024, 1, 1)), (2, dt.date(2024, 2, 3)), (4, None)
    ]  # fmt: skip
    assert list(rejects(pg_db)) == ["[3]"]
