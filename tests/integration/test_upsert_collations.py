"""An upsert into a key the destination compares without case or accents (MariaDB's default
``_ci`` collations, SQLite's ``NOCASE``, a nondeterministic PostgreSQL collation) never merges
distinct source keys into one row. Before, source keys 'a', 'A', 'ä' and 'Ä' became one row
holding a mix of their values, and the summary said "2 inserted · 3 updated", exit 0.

Each row whose key equals another key of other bytes under the collation — in the destination
already, or in the same copy — is rejected with a reason that says so, as an append rejects its
duplicate keys; an upsert of the same key bytes keeps updating.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from bulksync import SyncSpec, TableSpec, sync
from bulksync.connectors.mysql_url import parse_mysql_url
from bulksync.connectors.registry import open_connector
from helpers import merged, run_cli
from serving import PG_ADMIN

pytestmark = pytest.mark.integration

# in code point order, the order a SQLite source is read in: 'A' < 'a' < 'b' < 'Ä' < 'ä'
SOURCE = {"a": 1, "A": 2, "ä": 3, "Ä": 4, "b": 5}


@dataclass(frozen=True)
class Dest:
    url: str
    collation: str  # as the reasons name it
    kept: dict[str, int]  # what the first upsert leaves in the table
    rejected: list[str]  # the keys it rejects (each equals a kept one)


def _source(path: Path, rows: dict[str, int]) -> str:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS codes (code TEXT PRIMARY KEY, v INTEGER)")
        conn.executemany("INSERT OR REPLACE INTO codes VALUES (?, ?)", list(rows.items()))
    return str(path)


@pytest.fixture
def pg_icu_ci(pg_admin: psycopg.Connection) -> Iterator[str]:
    """A PostgreSQL database with a nondeterministic ICU collation that ignores case and accents."""
    name = f"bs_test_ci_{uuid.uuid4().hex[:8]}"
    pg_admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level1', deterministic = false)"
            )
            conn.execute("CREATE TABLE codes (code TEXT COLLATE ci PRIMARY KEY, v INTEGER)")
        yield url
    finally:
        pg_admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _mariadb_table(url: str, collation: str) -> None:
    u = parse_mysql_url(url)
    conn = pymysql.connect(host=u.host, port=u.port, user=u.user, password=u.password, database=u.database)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE codes (code VARCHAR(8) COLLATE {collation} PRIMARY KEY, v INT)")
    finally:
        conn.close()


@pytest.fixture(params=["sqlite-nocase", "mariadb-ci", "postgresql-icu-ci"])
def dest(request: pytest.FixtureRequest, tmp_path: Path) -> Dest:
    folded_all = Dest("", "", {"A": 2, "b": 5}, ["a", "Ä", "ä"])
    if request.param == "sqlite-nocase":  # NOCASE folds ASCII letters only: 'Ä' and 'ä' stay two
        path = tmp_path / "dest.db"
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE codes (code TEXT COLLATE NOCASE PRIMARY KEY, v INTEGER)")
        return Dest(str(path), "case-insensitive collation NOCASE", {"A": 2, "b": 5, "Ä": 4, "ä": 3}, ["a"])
    if request.param == "mariadb-ci":  # MariaDB's default for a table made by hand
        url = request.getfixturevalue("mariadb_db")
        _mariadb_table(url, "utf8mb4_general_ci")
        return Dest(
            url, "case-insensitive collation utf8mb4_general_ci", folded_all.kept, folded_all.rejected
        )
    url = request.getfixturevalue("pg_icu_ci")
    return Dest(url, "nondeterministic collation ci", folded_all.kept, folded_all.rejected)


def _read(url: str, sql: str) -> list[dict[str, Any]]:
    conn: Any = open_connector(url)
    try:
        return list(conn._rows(sql))
    finally:
        conn.close()


def _table(url: str) -> dict[str, int]:
    return {r["code"]: r["v"] for r in _read(url, "SELECT code, v FROM codes")}


def _rejects(url: str) -> dict[str, str]:
    """Each rejected key and the reason it was last rejected for."""
    conn: Any = open_connector(url)
    table = conn.reject_table
    conn.close()
    rows = _read(url, f"SELECT row_key, reason, rejected_at FROM {table} ORDER BY rejected_at")
    return {json.loads(r["row_key"])[0]: r["reason"] for r in rows}


def _clear_rejects(url: str) -> None:
    conn: Any = open_connector(url)
    try:
        with conn.transaction():
            conn._execute(f"DELETE FROM {conn.reject_table}")
    finally:
        conn.close()


def test_an_upsert_rejects_keys_equal_only_under_the_collation_and_updates_the_same_key(
    tmp_path: Path, dest: Dest
) -> None:
    src = _source(tmp_path / "src.db", SOURCE)
    spec = SyncSpec(source=src, destination=dest.url, mode="upsert", tables=(TableSpec(name="codes"),))

    first = sync(spec)

    assert _table(dest.url) == dest.kept  # each kept key with its own row's value, nothing mixed
    assert (first.processed_rows, first.failed_rows) == (len(dest.kept), len(dest.rejected))
    assert merged(first) == (len(dest.kept), 0, 0)
    reasons = _rejects(dest.url)
    assert sorted(reasons) == sorted(dest.rejected)
    for key, reason in reasons.items():  # an earlier row of this copy, or the row it wrote
        assert reason in (
            f"key {key!r} equals 'A' of another source row under the destination's {dest.collation}: "
            "'codes' holds one of them ('A', the first in code point order)",
            f"key {key!r} equals existing 'A' under the destination's {dest.collation}: "
            "an upsert would overwrite that row of 'codes' with this one",
        ), reason

    _clear_rejects(dest.url)
    _source(tmp_path / "src.db", {"A": 20, "b": 50, "a": 10})  # new values, same keys

    again = run_cli("copy", src, dest.url, "-t", "codes", "--mode", "upsert")

    assert again.returncode == 3, again.stderr  # done, but rows went to the reject table
    assert _table(dest.url) == {**dest.kept, "A": 20, "b": 50}
    unchanged = len(dest.kept) - 2
    assert f"codes: 0 inserted · 2 updated · {unchanged} unchanged" in again.stderr
    assert f"{len(dest.rejected)} rejected rows" in again.stderr
    assert _rejects(dest.url) == {
        key: f"key {key!r} equals existing 'A' under the destination's {dest.collation}: "
        "an upsert would overwrite that row of 'codes' with this one"
        for key in dest.rejected
    }


def test_binary_keys_are_not_checked(tmp_path: Path, mariadb_db: str, pg_db: str) -> None:
    """Integer keys, SQLite's BINARY, MariaDB's NO PAD _bin and PostgreSQL's deterministic
    collations compare bytes: nothing folds, so no upsert of theirs runs the collision query."""
    path = tmp_path / "d.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (code TEXT PRIMARY KEY, n INTEGER)")
    _mariadb_table(mariadb_db, "utf8mb4_nopad_bin")
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute('CREATE TABLE codes (code TEXT COLLATE "en-US-x-icu" PRIMARY KEY, v INTEGER)')
    for url, table, key in ((str(path), "t", "code"), (str(path), "t", "n"), (mariadb_db, "codes", "code")):
        c: Any = open_connector(url)
        try:
            assert c.key_foldings(table, [key]) == {}
        finally:
            c.close()
    c = open_connector(pg_db)
    try:
        assert c.key_foldings("codes", ["code"]) == {}  # type: ignore[attr-defined]
    finally:
        c.close()


def test_a_pad_space_bin_key_rejects_a_key_that_differs_only_in_trailing_spaces(
    tmp_path: Path, mariadb_db: str
) -> None:
    """``utf8mb4_bin`` (a table made by hand) compares bytes but ignores trailing spaces: 'a' and
    'a ' were one row of mixed values; 'A' stays a key of its own."""
    _mariadb_table(mariadb_db, "utf8mb4_bin")
    src = _source(tmp_path / "src.db", {"a": 1, "a ": 2, "A": 3})

    result = sync(
        SyncSpec(source=src, destination=mariadb_db, mode="upsert", tables=(TableSpec(name="codes"),))
    )

    assert _table(mariadb_db) == {"A": 3, "a": 1}
    assert (result.processed_rows, result.failed_rows) == (2, 1)
    (reason,) = _rejects(mariadb_db).values()  # within one batch the stage's key meets it first
    assert list(_rejects(mariadb_db)) == ["a "]
    assert "'a' under the destination's collation utf8mb4_bin (it ignores trailing spaces)" in reason


@pytest.mark.parametrize("kind", ["sqlite-nocase", "postgresql-citext"])
def test_a_composite_key_folds_only_its_folding_column(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    src = tmp_path / "src.db"
    with sqlite3.connect(src) as conn:
        conn.execute("CREATE TABLE items (shop INTEGER, code TEXT, v INTEGER, PRIMARY KEY (shop, code))")
        conn.executemany("INSERT INTO items VALUES (?, ?, ?)", [(1, "a", 1), (1, "A", 2), (2, "a", 3)])
    if kind == "sqlite-nocase":
        dst, how = str(tmp_path / "dest.db"), "case-insensitive collation NOCASE"
        with sqlite3.connect(dst) as conn:
            conn.execute(
                "CREATE TABLE items (shop INTEGER, code TEXT, v INTEGER, "
                "PRIMARY KEY (shop, code COLLATE NOCASE))"
            )
    else:
        dst, how = request.getfixturevalue("pg_db"), "case-insensitive type citext"
        with psycopg.connect(dst, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION citext")
            conn.execute(
                "CREATE TABLE items (shop INTEGER, code citext, v INTEGER, PRIMARY KEY (shop, code))"
            )
    spec = SyncSpec(source=str(src), destination=dst, mode="upsert", tables=(TableSpec(name="items"),))

    result = sync(spec)

    rows = {(r["shop"], str(r["code"])): r["v"] for r in _read(dst, "SELECT shop, code, v FROM items")}
    assert rows == {(1, "A"): 2, (2, "a"): 3}
    assert (result.processed_rows, result.failed_rows) == (2, 1)
    assert list(_rejects_of(dst).items()) == [
        (
            (1, "a"),
            f"key (1, 'a') equals (1, 'A') of another source row under the destination's {how}: "
            "'items' holds one of them ((1, 'A'), the first in code point order)",
        )
    ]


def _rejects_of(url: str) -> dict[tuple[Any, ...], str]:
    conn: Any = open_connector(url)
    table = conn.reject_table
    conn.close()
    return {
        tuple(json.loads(r["row_key"])): r["reason"]
        for r in _read(url, f"SELECT row_key, reason FROM {table}")
    }


def test_mariadb_to_mariadb_on_one_server_rejects_the_same_rows(mariadb_db: str, mariadb_db2: str) -> None:
    """The rows move by ``INSERT … SELECT`` from the other database (no Arrow, no stage table):
    the check reads them there, and the refused chunk is written again through Arrow."""
    u = parse_mysql_url(mariadb_db2)
    conn = pymysql.connect(host=u.host, port=u.port, user=u.user, password=u.password, database=u.database)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE codes (code VARCHAR(8) COLLATE utf8mb4_bin PRIMARY KEY, v INT)")
            cur.executemany("INSERT INTO codes VALUES (%s, %s)", list(SOURCE.items()))
        conn.commit()
    finally:
        conn.close()
    _mariadb_table(mariadb_db, "utf8mb4_general_ci")

    result = sync(
        SyncSpec(source=mariadb_db2, destination=mariadb_db, mode="upsert", tables=(TableSpec(name="codes"),))
    )

    assert _table(mariadb_db) == {"A": 2, "b": 5}
    assert (result.processed_rows, result.failed_rows) == (2, 3)
    assert sorted(_rejects(mariadb_db)) == ["a", "Ä", "ä"]


@pytest.mark.parametrize("source_kind", ["sqlite", "mariadb"])
def test_an_upsert_into_mariadb_never_overwrites_a_row_another_unique_index_matched(
    source_kind: str, tmp_path: Path, mariadb_db: str, mariadb_db2: str
) -> None:
    """``ON DUPLICATE KEY UPDATE`` fires on any unique index: source row (2, 'c@x') met the
    destination's row 3 on its unique email and overwrote row 3's name; row 2 never arrived,
    and the summary said "1 inserted", exit 0. PostgreSQL and SQLite refuse such a row."""
    rows = [(1, "a@x", "one"), (2, "c@x", "two"), (4, "d@x", "four")]
    if source_kind == "sqlite":
        src = str(tmp_path / "u.db")
        with sqlite3.connect(src) as conn:
            conn.execute("CREATE TABLE u (id INTEGER PRIMARY KEY, email TEXT, name TEXT)")
            conn.executemany("INSERT INTO u VALUES (?, ?, ?)", rows)
    else:  # the same server: rows move by INSERT … SELECT, merged without a stage
        src = mariadb_db2
        _mariadb_run(src, ["CREATE TABLE u (id BIGINT PRIMARY KEY, email VARCHAR(100), name TEXT)"], rows)
    _mariadb_run(
        mariadb_db,
        ["CREATE TABLE u (id BIGINT PRIMARY KEY, email VARCHAR(100) UNIQUE, name TEXT)"],
        [(1, "a@x", "one"), (3, "c@x", "three")],
    )

    result = sync(SyncSpec(source=src, destination=mariadb_db, mode="upsert", tables=(TableSpec(name="u"),)))

    got = {r["id"]: (r["email"], r["name"]) for r in _read(mariadb_db, "SELECT id, email, name FROM u")}
    assert got == {1: ("a@x", "one"), 3: ("c@x", "three"), 4: ("d@x", "four")}
    assert (result.processed_rows, result.failed_rows) == (2, 1)
    (table,) = result.tables
    assert (table.rows_inserted, table.rows_updated, table.rows_unchanged) == (1, 0, 1)
    (reason,) = _rejects(mariadb_db).values()
    assert reason == (
        "(email) = 'c@x' is already held by the row of 'u' whose key is 3: an upsert would overwrite "
        "that row with this one (MariaDB's ON DUPLICATE KEY UPDATE fires on every unique index)"
    )


def _mariadb_run(url: str, statements: list[str], rows: list[tuple[Any, ...]]) -> None:
    u = parse_mysql_url(url)
    conn = pymysql.connect(host=u.host, port=u.port, user=u.user, password=u.password, database=u.database)
    try:
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
            cur.executemany("INSERT INTO u VALUES (%s, %s, %s)", rows)
        conn.commit()
    finally:
        conn.close()
