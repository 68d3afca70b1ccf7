"""MariaDB's DECIMAL(65, 30) into PostgreSQL and SQLite.

The destination made the column NUMERIC(65, 30) and then could not describe its own table
('more than 38 digits'): a migrate stopped with exit 1 after other tables had loaded, leaving a
staging table behind (an empty such table went through). Decimals up to 76 digits now travel
as Arrow decimal256; a value past 38 significant digits, which the COPY encoder cannot write,
is a rejected row with its reason, never a rounded one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pymysql
import pytest

from helpers import run_cli

pytestmark = pytest.mark.integration

WIDE = "12345678901234567890123456789012345.123456789012345678901234567890"


@pytest.fixture
def source(mariadb_db: str) -> str:
    name = mariadb_db.split("/")[-1]
    with pymysql.connect(host="127.0.0.1", port=3306, user="root", database=name, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("CREATE TABLE a (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO a VALUES (1), (2)")
        cur.execute("CREATE TABLE c (id INT PRIMARY KEY, p DECIMAL(65, 30))")
        cur.execute(
            f"INSERT INTO c VALUES (1, 1.5), (2, NULL), (3, -0.000000000000000000000000000001), (4, {WIDE})"
        )
    return mariadb_db


def test_into_postgresql(source: str, pg_db: str) -> None:
    done = run_cli("migrate", source, pg_db)
    assert done.returncode == 3, done.stderr  # done, with the one rejected row
    with psycopg.connect(pg_db) as conn:
        got = conn.execute("SELECT id, p::text FROM c ORDER BY id").fetchall()
        assert got == [
            (1, "1.500000000000000000000000000000"),
            (2, None),
            (3, "-0.000000000000000000000000000001"),
        ]
        assert conn.execute("SELECT count(*) FROM a").fetchone() == (2,)
        reason = conn.execute("SELECT reason FROM bulksync.rejects WHERE tbl = 'c'").fetchone()
    assert reason is not None and "more than 38 significant digits" in reason[0]


def test_into_sqlite(source: str, tmp_path: Path) -> None:
    dest = tmp_path / "dest.db"
    done = run_cli("migrate", source, str(dest))
    assert done.returncode in (0, 3), done.stderr
    with sqlite3.connect(dest) as conn:
        got = dict(conn.execute("SELECT id, p FROM c").fetchall())
    assert got[1] == 1.5 and got[2] is None
