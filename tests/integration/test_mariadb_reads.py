"""Reads from MariaDB of values its reader (connectorx) once could not decode.

A DECIMAL with more than 18 digits before the point (DECIMAL(20, 0), the usual column for a
uint64) stopped the read with 'decimal scale is not equal to expected scale': connectorx rescales
every decimal to 10 places within 28 digits. A value over 16 MB stopped it with a cut-off
'CodecError { Packet is larger than max_allowed_packet', naming no table. Both now travel whole,
and ``verify`` agrees, with MariaDB on either side.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from bulksync.connectors.mysql_url import parse_mysql_url
from helpers import run_cli

pytestmark = pytest.mark.integration

# (column, type, its largest value): every boundary of connectorx's own decimal decoding
DECIMALS = [
    ("d18_0", "DECIMAL(18, 0)", "9" * 18),
    ("d19_0", "DECIMAL(19, 0)", "9" * 19),
    ("d20_0", "DECIMAL(20, 0)", "9" * 20),
    ("d28_10", "DECIMAL(28, 10)", "9" * 18 + "." + "9" * 10),
    ("d29_10", "DECIMAL(29, 10)", "9" * 19 + "." + "9" * 10),
    ("d38_0", "DECIMAL(38, 0)", "9" * 38),
    ("d38_38", "DECIMAL(38, 38)", "0." + "9" * 38),
    ("d65_30", "DECIMAL(65, 30)", "1234567.123456789012345678901234567890"),  # 37 digits: fits Arrow
]


def mdb(url: str, *sql: str, params: Any = None, infile: bool = False) -> list[tuple[Any, ...]]:
    u = parse_mysql_url(url)
    conn = pymysql.connect(
        host=u.host, port=u.port, user=u.user, password=u.password, database=u.database,
        autocommit=True, charset="utf8mb4", local_infile=infile,
    )  # fmt: skip
    try:
        with conn.cursor() as cur:
            for statement in sql:
                cur.execute(statement, params)
            return list(cur.fetchall())
    finally:
        conn.close()


def pg(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def wide_decimals(url: str) -> list[tuple[Any, ...]]:
    """A MariaDB table of every boundary DECIMAL: each at its largest, its most negative, its
    smallest step, 0, and NULL; the rows as PostgreSQL prints them."""
    cols = ", ".join(f"{name} {sql}" for name, sql, _ in DECIMALS)
    rows = [
        [top for _, _, top in DECIMALS],
        ["-" + top for _, _, top in DECIMALS],
        [_smallest_step(top) for _, _, top in DECIMALS],
        ["0"] * len(DECIMALS),
        ["NULL"] * len(DECIMALS),
        ["18446744073709551615" if name == "d20_0" else "NULL" for name, _, _ in DECIMALS],  # uint64's max
    ]
    values = ", ".join(f"({i}, {', '.join(row)})" for i, row in enumerate(rows, 1))
    mdb(url, f"CREATE TABLE v (id INT PRIMARY KEY, {cols})", f"INSERT INTO v VALUES {values}")
    shown = ", ".join(f"CAST({name} AS CHAR)" for name, _, _ in DECIMALS)
    return mdb(url, f"SELECT id, {shown} FROM v ORDER BY id")


def _smallest_step(top: str) -> str:
    places = len(top.partition(".")[2])
    return "0." + "0" * (places - 1) + "1" if places else "1"


def verified(a: str, b: str, table: str) -> None:
    for left, right in ((a, b), (b, a)):
        proc = run_cli("verify", left, right, "-t", table)
        assert proc.returncode == 0, proc.stderr
        assert "verify: equal" in proc.stderr + proc.stdout


def test_decimals_past_18_integer_digits_travel_exactly_to_postgresql_and_back(
    mariadb_db: str, mariadb_db2: str, pg_db: str
) -> None:
    want = wide_decimals(mariadb_db)

    there = run_cli("copy", mariadb_db, pg_db, "-t", "v")
    back = run_cli("copy", pg_db, mariadb_db2, "-t", "v")  # NUMERIC(38, 38) stays DECIMAL(38, 38)

    assert there.returncode == 0, there.stderr
    assert back.returncode == 0, back.stderr
    shown = ", ".join(f"{name}::text" for name, _, _ in DECIMALS)
    assert pg(pg_db, f"SELECT id, {shown} FROM v ORDER BY id") == want
    cast = ", ".join(f"CAST({name} AS CHAR)" for name, _, _ in DECIMALS)
    assert mdb(mariadb_db2, f"SELECT id, {cast} FROM v ORDER BY id") == want
    verified(mariadb_db, pg_db, "v")
    verified(pg_db, mariadb_db2, "v")
    verified(mariadb_db, mariadb_db2, "v")


def test_a_decimal_20_0_into_sqlite_lands_or_is_rejected_never_stops_the_read(
    mariadb_db: str, tmp_path: Path
) -> None:
    mdb(
        mariadb_db,
        "CREATE TABLE u (id INT PRIMARY KEY, n DECIMAL(20, 0))",
        "INSERT INTO u VALUES (1, 10000000000000000000), (2, -7), (3, NULL)",
        "CREATE TABLE big (id INT PRIMARY KEY, n DECIMAL(20, 0))",
        "INSERT INTO big VALUES (1, 18446744073709551615), (2, 5)",
    )
    dest = str(tmp_path / "out.db")

    fits = run_cli("copy", mariadb_db, dest, "-t", "u")
    wide = run_cli("copy", mariadb_db, dest, "-t", "big")

    assert fits.returncode == 0, fits.stderr
    assert wide.returncode == 3, wide.stderr  # 20 significant digits: a REAL would round it
    with sqlite3.connect(dest) as conn:
        assert conn.execute("SELECT id, n FROM u ORDER BY id").fetchall() == [(1, 1e19), (2, -7), (3, None)]
        assert conn.execute("SELECT id, n FROM big").fetchall() == [(2, 5)]
        (reason,) = conn.execute("SELECT reason FROM _bulksync_rejects WHERE tbl = 'big'").fetchone()
    assert "column 'n'" in reason
    verified(mariadb_db, dest, "u")


def test_a_value_over_16_mb_is_read_whole(mariadb_db: str, pg_db: str, tmp_path: Path) -> None:
    """connectorx's driver refused any row over the server's max_allowed_packet (16 MB)."""
    text = "é" * 8_500_001  # 17,000,002 bytes
    blob = bytes(range(256)) * 70_000  # 17,920,000 bytes
    load = tmp_path / "big.tsv"
    load.write_bytes(b"1\t" + text.encode() + b"\t" + blob.hex().encode() + b"\n")
    mdb(
        mariadb_db,
        "CREATE TABLE big (id INT PRIMARY KEY, t LONGTEXT, b LONGBLOB)",
        f"LOAD DATA LOCAL INFILE '{load}' INTO TABLE big CHARACTER SET utf8mb4 (id, t, @b) SET b = UNHEX(@b)",
        infile=True,
    )

    proc = run_cli("copy", mariadb_db, pg_db, "-t", "big")

    assert proc.returncode == 0, proc.stderr
    got = pg(pg_db, "SELECT id, length(t), md5(t), md5(b) FROM big")
    assert got == [
        (1, len(text), hashlib.md5(text.encode()).hexdigest(), hashlib.md5(blob).hexdigest()),
    ]
    verify = run_cli("verify", mariadb_db, pg_db, "-t", "big")
    assert verify.returncode == 0, verify.stderr
