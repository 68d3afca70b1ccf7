"""Fault: a batch's ``COMMIT`` reaches PostgreSQL and commits, and its answer is lost.

The proxy drops the server's answer to a ``COMMIT`` and resets the connection:
the copy sees a lost connection and cannot tell whether the batch is in. Retrying it as if it
were not either doubled it (a table without a key: nothing fences a second insert) or was
refused as another writer's move of the checkpoint and failed the copy. The retry now reads the
checkpoint first: there already at the batch's end, the batch is in and is not written again.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

import crashkit
from conftest import SqliteSource
from faultkit import ROWS, copy_command, inject_and_check, pg_target
from faultproxy import FaultProxy
from faultservers import PrivatePg

COMMIT = b"C\x00\x00\x00\x0bCOMMIT\x00"  # PostgreSQL's CommandComplete message for a COMMIT


@pytest.fixture
def dest_proxy(pg_dest: PrivatePg) -> Iterator[FaultProxy]:
    proxy = FaultProxy(pg_dest.port)
    yield proxy
    proxy.close()


def lose_one_commit(proxy: FaultProxy) -> Callable[[Callable[[], bool]], None]:
    def inject(alive: Callable[[], bool]) -> None:
        proxy.lose_answer(COMMIT)

    return inject


def copy_losing_one_commit(
    pg_dest: PrivatePg, proxy: FaultProxy, db: str, fault: str, source: str, mode: str,
    digests: crashkit.Digests, logs: Path,
) -> str:  # fmt: skip
    """Copy ``source`` into the fresh database ``db`` through the proxy, one COMMIT's answer
    lost past a quarter of the rows; the copy must succeed, equal to ``digests``: its log."""
    url = pg_dest.create_database(db)
    dest = pg_target(url, via=pg_dest.url(db, proxy.port))
    first, _ = inject_and_check(
        fault, copy_command(source, dest.arg, mode), dest=dest, source=digests,
        inject=lose_one_commit(proxy), threshold=ROWS // 4, logs=logs,
    )  # fmt: skip
    assert proxy.answers_lost == 1
    return first.stderr


@pytest.mark.parametrize("mode", ["append", "upsert"])
def test_a_commit_whose_answer_is_lost_is_not_written_twice(
    mode: str, pg_dest: PrivatePg, dest_proxy: FaultProxy, sqlite_source: SqliteSource, tmp_path: Path
) -> None:
    said = copy_losing_one_commit(
        pg_dest, dest_proxy, f"lost_commit_{mode}", f"a COMMIT's answer lost (proxy), {mode}",
        str(sqlite_source.path), mode, sqlite_source.digests, tmp_path,
    )  # fmt: skip
    assert "it is not written again" in said, said[-2000:]


def test_a_keyless_table_whose_commit_answer_is_lost_is_not_doubled(
    pg_dest: PrivatePg, dest_proxy: FaultProxy, sqlite_source: SqliteSource, tmp_path: Path
) -> None:
    source = tmp_path / "keyless.db"
    with sqlite3.connect(source) as conn:
        conn.execute("ATTACH DATABASE ? AS seeded", (str(sqlite_source.path),))
        (ddl,) = conn.execute("SELECT sql FROM seeded.sqlite_master WHERE name = 't'").fetchone()
        conn.execute(re.sub(r",\s*PRIMARY KEY \(id\)", "", ddl))  # the same columns, no key
        conn.execute("INSERT INTO t SELECT * FROM seeded.t ORDER BY id")
    said = copy_losing_one_commit(
        pg_dest, dest_proxy, "lost_commit_keyless", "a COMMIT's answer lost (proxy), a table without a key",
        str(source), "replace", crashkit.sqlite_digests(source), tmp_path,
    )  # fmt: skip
    assert "it is not written again" in said, said[-2000:]


def test_a_pulled_chunk_whose_commit_answer_is_lost_is_not_pulled_twice(
    pg_source_url: str, pg_dest: PrivatePg, dest_proxy: FaultProxy, sqlite_source: SqliteSource,
    tmp_path: Path,
) -> None:  # fmt: skip
    """PostgreSQL → PostgreSQL: the destination pulls each chunk (COPY relay) with its checkpoint."""
    said = copy_losing_one_commit(
        pg_dest, dest_proxy, "lost_commit_pull", "a COMMIT's answer lost (proxy), COPY relay",
        pg_source_url, "append", sqlite_source.digests, tmp_path,
    )  # fmt: skip
    assert "it is not pulled again" in said, said[-2000:]


def test_a_replace_whose_swap_commit_answer_is_lost_still_ends_with_the_new_table(
    pg_dest: PrivatePg, dest_proxy: FaultProxy, sqlite_source: SqliteSource, tmp_path: Path
) -> None:
    """``--mode replace`` over an existing table: the swap's transaction (drop the old table,
    rename the loaded one) commits and its answer is lost. The retry must see the swap done, not
    fail on a staging table that is gone, nor load everything again."""
    url = pg_dest.create_database("lost_commit_swap")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id integer PRIMARY KEY, stale text)")
        conn.execute("INSERT INTO t VALUES (1, 'old')")
    dest = pg_target(url, via=pg_dest.url("lost_commit_swap", dest_proxy.port))
    dest_proxy.lose_answer(COMMIT, after_sent=b"RENAME TO")
    inject_and_check(
        "the swap's COMMIT answer lost (proxy), replace",
        copy_command(str(sqlite_source.path), dest.arg, "replace"),
        dest=dest, source=sqlite_source.digests, inject=lambda alive: None, threshold=0, logs=tmp_path,
    )  # fmt: skip
    assert dest_proxy.answers_lost == 1
    with psycopg.connect(url) as conn:
        names = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    assert names == ["t"], names  # no staging table left behind
