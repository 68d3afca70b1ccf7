"""An enum travels as text as long as its longest label, and its labels as a CHECK (PostgreSQL
enums, MariaDB ENUMs).

Before 2026-12-04 the new column took any text: the enum's one rule (only its labels) was gone
with nothing said. The CHECK (``<table>_<column>_enum``) is made wherever CHECKs are: a new
PostgreSQL, MariaDB or SQLite table."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pymysql
import pytest

from helpers import run_cli

pytestmark = pytest.mark.integration

SOURCE = [
    "CREATE TYPE mood AS ENUM ('sad', 'ok', 'it''s fine')",
    "CREATE TABLE t (id int PRIMARY KEY, m mood NOT NULL)",
    "INSERT INTO t VALUES (1, 'sad'), (2, 'it''s fine'), (3, 'ok')",
]


@pytest.fixture
def source(pg_db: str) -> str:
    with psycopg.connect(pg_db, autocommit=True) as conn:
        for statement in SOURCE:
            conn.execute(statement.encode())
    return pg_db


def copied(source: str, dest: str) -> None:
    done = run_cli("copy", source, dest, "--table", "t")
    assert done.returncode == 0, done.stderr


def test_into_postgresql(source: str, pg_db2: str) -> None:
    copied(source, pg_db2)
    with psycopg.connect(pg_db2, autocommit=True) as conn:
        assert conn.execute("SELECT m FROM t ORDER BY id").fetchall() == [("sad",), ("it's fine",), ("ok",)]
        conn.execute("INSERT INTO t VALUES (4, 'ok')")
        with pytest.raises(psycopg.errors.CheckViolation, match="t_m_enum"):
            conn.execute("INSERT INTO t VALUES (5, 'angry')")


def test_into_sqlite(source: str, tmp_path: Path) -> None:
    dest = tmp_path / "dest.db"
    copied(source, str(dest))
    with sqlite3.connect(dest) as conn:
        assert conn.execute("SELECT m FROM t ORDER BY id").fetchall() == [("sad",), ("it's fine",), ("ok",)]
        with pytest.raises(sqlite3.IntegrityError, match="t_m_enum"):
            conn.execute("INSERT INTO t VALUES (5, 'angry')")


def test_into_mariadb(source: str, mariadb_db: str) -> None:
    copied(source, mariadb_db)
    parts = mariadb_db.split("/")
    with pymysql.connect(host="127.0.0.1", port=3306, user="root", database=parts[-1]) as conn:
        cur = conn.cursor()
        cur.execute("SELECT m FROM t ORDER BY id")
        assert cur.fetchall() == (("sad",), ("it's fine",), ("ok",))
        with pytest.raises(pymysql.err.OperationalError, match="t_m_enum"):
            cur.execute("INSERT INTO t VALUES (5, 'angry')")


def test_a_mariadb_enum_into_postgresql(mariadb_db: str, pg_db: str) -> None:
    """MariaDB's ENUM too, with ``''``: the value MariaDB stores for one it could not (outside
    strict mode). Members with a quote or a backslash arrive unescaped."""
    name = mariadb_db.split("/")[-1]
    with pymysql.connect(host="127.0.0.1", port=3306, user="root", database=name, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute(r"CREATE TABLE t (id int PRIMARY KEY, m ENUM('sad', 'it''s', 'back\\slash') NOT NULL)")
        cur.execute(r"INSERT INTO t VALUES (1, 'sad'), (2, 'it''s'), (3, 'back\\slash')")
    copied(mariadb_db, pg_db)
    with psycopg.connect(pg_db, autocommit=True) as conn:
        got = conn.execute("SELECT m FROM t ORDER BY id").fetchall()
        assert got == [("sad",), ("it's",), ("back\\slash",)]
        typed = conn.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 't'::regclass AND attname = 'm'"
        ).fetchone()
        assert typed == ("character varying(10)",)
        conn.execute("INSERT INTO t VALUES (4, '')")
        with pytest.raises(psycopg.errors.CheckViolation, match="t_m_enum"):
            conn.execute("INSERT INTO t VALUES (5, 'angry')")


@pytest.mark.parametrize("into", ["sqlite", "mariadb", "postgresql"])
def test_verify_of_an_enum_key_pairs_the_rows_whatever_the_order(
    pg_db: str, pg_db2: str, mariadb_db: str, tmp_path: Path, into: str
) -> None:
    """An enum sorts by its labels' declared order, the copy's text by code point: verify read
    one side's key range against other rows of the other and reported 73,750 of 120,000 rows
    missing after an exact copy. Such a key is now compared in one pass."""
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("CREATE TYPE prio AS ENUM ('zulu', 'alpha', 'mike', 'bravo', 'yankee', 'charlie')")
        conn.execute("CREATE TABLE ek (p prio, n int, v text, PRIMARY KEY (p, n))")
        conn.execute(
            "INSERT INTO ek SELECT l, g, 'v' FROM unnest(enum_range(NULL::prio)) l, generate_series(1, 300) g"
        )
    dest = {"sqlite": str(tmp_path / "d.db"), "mariadb": mariadb_db, "postgresql": pg_db2}[into]
    done = run_cli("copy", pg_db, dest, "--table", "ek")
    assert done.returncode == 0, done.stderr
    verified = run_cli("verify", pg_db, dest, "--table", "ek", "--chunk-rows", "100", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "declared order of PostgreSQL's enum prio" in verified.stdout
