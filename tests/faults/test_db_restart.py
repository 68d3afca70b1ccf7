"""Fault 1: the destination or the source PostgreSQL restarted (fast and immediate) mid-copy.

A restart that is over within the retry budget must not fail the copy at all: the batch in
flight is rolled back by the server, retried on a new session, and the destination ends equal
to the source (0 lost, 0 doubled).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from conftest import SqliteSource
from faultkit import ROWS, SEED, copy_command, inject_and_check, pg_target, retries_logged, sqlite_target
from faultservers import PrivatePg

RETRIES = ("--retries", "8")  # backoff 0.2 s doubling to 10 s: ~40 s of patience for a restart


def moment(*what: str) -> int:
    """A seeded random moment: the committed row count at which the fault is injected."""
    return random.Random("-".join([str(SEED), *what])).randrange(ROWS // 5, ROWS * 3 // 5)


@pytest.mark.parametrize(
    ("mode", "how"),
    [("append", "fast"), ("upsert", "immediate"), ("replace", "immediate"), ("incremental", "fast")],
)
def test_destination_restarted_mid_copy(
    pg_dest: PrivatePg, sqlite_source: SqliteSource, tmp_path: Path, mode: str, how: str
) -> None:
    dest = pg_target(pg_dest.create_database(f"dest_{mode}"))
    extra = ["--cursor", "updated_at"] if mode == "incremental" else []
    first, _ = inject_and_check(
        f"destination PG restart ({how}), {mode}",
        copy_command(str(sqlite_source.path), dest.arg, mode, *RETRIES, *extra),
        dest=dest,
        source=sqlite_source.digests,
        inject=lambda alive: pg_dest.restart(how, down_s=1.0),
        threshold=moment(mode, how),
        logs=tmp_path,
    )
    assert retries_logged(first) >= 1, first.stderr[-2000:]


@pytest.mark.parametrize(
    ("read", "how"),
    [("keyset reads → SQLite", "immediate"), ("binary COPY relay → PG", "fast")],
)
def test_source_restarted_mid_read(
    pg_source: PrivatePg, pg_source_url: str, pg_dest: PrivatePg, sqlite_source: SqliteSource,
    tmp_path: Path, read: str, how: str,
) -> None:  # fmt: skip
    """PostgreSQL → SQLite reads keyset chunks through ADBC; PostgreSQL → PostgreSQL relays the
    source's binary COPY raw. The source restarts mid-read either way."""
    to_sqlite = read.endswith("SQLite")
    if to_sqlite:
        dest = sqlite_target(tmp_path / "dest.db")
    else:
        dest = pg_target(pg_dest.create_database("dest_relay"))
    first, _ = inject_and_check(
        f"source PG restart ({how}), {read}",
        copy_command(pg_source_url, dest.arg, "append" if to_sqlite else "upsert", *RETRIES),
        dest=dest,
        source=sqlite_source.digests,
        inject=lambda alive: pg_source.restart(how, down_s=1.0),
        threshold=moment("source", "keyset" if to_sqlite else "relay"),
        logs=tmp_path,
    )
    assert retries_logged(first) >= 1, first.stderr[-2000:]
