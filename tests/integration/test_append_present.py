"""An append that meets keys the destination holds already (``--restart`` over rows an earlier
run copied): those rows are rejected with a reason that says so, found by one lookup per batch
rather than by bisecting the batch row by row; the new rows of the same batches land once.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from bulksync import SyncSpec, TableSpec, sync
from bulksync.connectors.mysql_url import parse_mysql_url
from bulksync.connectors.registry import open_connector
from bulksync.connectors.sql_transaction import SqlTransaction
from bulksync.errors import SchemaMismatchError
from bulksync.schema import TableSchema
from helpers import bets_schema, expected_rows, make_bets, table_rows, write_bets

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def dest(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "dest.db")
    else:
        yield request.getfixturevalue("pg_db" if request.param == "postgresql" else "mariadb_db")


def rejects(url: str) -> list[tuple[Any, str]]:
    """(row key, reason) of every reject record in ``url``, read with the connector's own SQL."""
    conn: Any = open_connector(url)
    try:
        rows = conn._rows(f"SELECT row_key, reason FROM {conn.reject_table} ORDER BY row_key")
    finally:
        conn.close()
    return [(json.loads(r["row_key"]), r["reason"]) for r in rows]


def count_savepoints(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    taken: list[str] = []
    savepoint = SqlTransaction.savepoint

    def counted(self: SqlTransaction, name: str) -> None:
        taken.append(name)
        savepoint(self, name)

    monkeypatch.setattr(SqlTransaction, "savepoint", counted)
    return taken


def test_a_restart_over_rows_already_there_rejects_them_by_lookup_and_lands_the_new_ones(
    tmp_path: Path, dest: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = str(tmp_path / "source.db")
    make_bets(source, 3_000)
    spec = {"source": source, "destination": dest, "tables": [TableSpec(name="bets")], "batch_rows": 700}
    first = sync(SyncSpec(**spec))
    assert first.processed_rows == 3_000
    write_bets(source, range(3_001, 4_001))  # a batch of the re-run holds old and new keys

    taken = count_savepoints(monkeypatch)
    again = sync(SyncSpec(**spec, restart=True))

    assert table_rows(dest, "bets") == expected_rows(range(1, 4_001))
    assert (again.processed_rows, again.failed_rows) == (1_000, 3_000)
    found = rejects(dest)
    assert sorted(k[0] for k, _ in found) == list(range(1, 3_001))
    assert {reason for _, reason in found} == {
        "its key (id) is already in 'bets': an append never overwrites a row (--mode upsert updates it)"
    }
    # one savepoint per refused batch (its other rows, written at once): bisection takes two per row
    assert len(taken) <= again.batch_count, f"{len(taken)} savepoints for {again.batch_count} batches"


def pairs(start: int, stop: int) -> list[tuple[int, str, float]]:
    return [(i % 50, f"k{i}", i / 3) for i in range(start, stop)]


def test_a_composite_key_already_there_is_found_by_lookup(
    tmp_path: Path, pg_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "pairs.db"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE pairs (a INTEGER NOT NULL, b TEXT NOT NULL, v REAL, PRIMARY KEY (a, b))")
        conn.executemany("INSERT INTO pairs VALUES (?, ?, ?)", pairs(0, 2_000))
    spec = {"source": str(source), "destination": pg_db, "tables": [TableSpec(name="pairs")]}
    spec["batch_rows"] = 300
    sync(SyncSpec(**spec))
    with sqlite3.connect(source) as conn:
        conn.executemany("INSERT INTO pairs VALUES (?, ?, ?)", pairs(2_000, 2_500))

    taken = count_savepoints(monkeypatch)
    again = sync(SyncSpec(**spec, restart=True))

    with psycopg.connect(pg_db) as conn:
        landed = conn.execute("SELECT count(*), count(DISTINCT (a, b)) FROM pairs").fetchone()
    assert landed == (2_500, 2_500)
    assert (again.processed_rows, again.failed_rows) == (500, 2_000)
    assert len(taken) <= again.batch_count


def test_a_key_the_lookup_cannot_match_is_still_found_by_bisection(tmp_path: Path, mariadb_db: str) -> None:
    """A MariaDB key of a case-insensitive collation: 'AB7' is a duplicate of 'ab7' there, which the
    lookup (comparing as Python does) does not claim. The bisection then finds that row."""
    source = tmp_path / "codes.db"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE codes (code VARCHAR(16) NOT NULL PRIMARY KEY, v INTEGER)")
        conn.executemany("INSERT INTO codes VALUES (?, ?)", [(f"ab{i}", i) for i in range(500)])
    u = parse_mysql_url(mariadb_db)
    login = {"host": u.host, "port": u.port, "user": u.user, "password": u.password}
    with pymysql.connect(**login, database=u.database) as db:
        db.cursor().execute(
            "CREATE TABLE codes (code VARCHAR(16) COLLATE utf8mb4_general_ci NOT NULL PRIMARY KEY, v INT)"
        )
    spec = {"source": str(source), "destination": mariadb_db, "tables": [TableSpec(name="codes")]}
    sync(SyncSpec(**spec))
    with sqlite3.connect(source) as conn:
        conn.executemany("INSERT INTO codes VALUES (?, ?)", [("AB7", -1), ("new1", 1), ("new2", 2)])

    again = sync(SyncSpec(**spec, restart=True))

    assert (again.processed_rows, again.failed_rows) == (2, 501)
    found = {k[0]: reason for k, reason in rejects(mariadb_db)}
    assert "duplicate" in found["AB7"].lower() and "already in" in found["ab7"]
    codes = {r[0] for r in table_rows(mariadb_db, "codes", key=("code",))}
    assert codes == {f"ab{i}" for i in range(500)} | {"new1", "new2"}


def test_rejects_of_wide_rows_are_recorded_within_the_servers_packet_limit(
    tmp_path: Path, mariadb_db: str
) -> None:
    """200 rejected rows of 100 KB each: 20 MB of reject records, more than one MariaDB packet
    (16 MB by default) holds, so they cannot all go in one INSERT."""
    source = tmp_path / "wide.db"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE wide (id INTEGER PRIMARY KEY, body TEXT)")
        conn.executemany("INSERT INTO wide VALUES (?, ?)", [(i, f"{i:06d}" * 17_000) for i in range(200)])
    spec = {"source": str(source), "destination": mariadb_db, "tables": [TableSpec(name="wide")]}
    sync(SyncSpec(**spec))

    again = sync(SyncSpec(**spec, restart=True))

    assert (again.processed_rows, again.failed_rows) == (0, 200)
    assert sorted(k[0] for k, _ in rejects(mariadb_db)) == list(range(200))


def test_an_append_into_a_table_without_a_unique_key_that_holds_rows_is_refused(
    tmp_path: Path, dest: str
) -> None:
    """Nothing there tells the rows already copied: a ``--restart`` (or a first run over rows
    loaded by hand) inserted each of them a second time, exit 0."""
    source = str(tmp_path / "source.db")
    make_bets(source, 300)
    conn = open_connector(dest, create=True)
    try:  # the bets columns, no primary key, no index
        conn.create_table(TableSchema("heap", bets_schema().columns), with_indexes=False)
    finally:
        conn.close()

    def copy(*, restart: bool) -> None:
        table = TableSpec(name="bets", dest_name="heap")
        sync(SyncSpec(source=source, destination=dest, tables=(table,), restart=restart))

    copy(restart=False)  # empty: the first run loads it
    write_bets(source, range(301, 311))
    copy(restart=False)  # its checkpoints say where to go on
    with pytest.raises(
        SchemaMismatchError, match=r"^destination table 'heap' holds rows and keeps no primary key"
    ):
        copy(restart=True)
    assert [r[0] for r in table_rows(dest, "heap")] == list(range(1, 311))
