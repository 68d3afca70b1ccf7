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


def test_source_restarted_mid_keyset_read(
    pg_source: PrivatePg, pg_source_url: str, sqlite_source: SqliteSource, tmp_path: Path
) -> None:
    """PostgreSQL → SQLite: keyset chunks read through ADBC; the source restarts (immediate)."""
    dest = sqlite_target(tmp_path / "dest.db")
    first, _ = inject_and_check(
        "source PG restart (immediate), keyset reads → SQLite",
        copy_command(pg_source_url, dest.arg, "append", *RETRIES),
        dest=dest,
        source=sqlite_source.digests,
        inject=lambda alive: pg_source.restart("immediate", down_s=1.0),
        threshold=moment("source", "keyset"),
        logs=tmp_path,
    )
    assert retries_logged(first) >= 1, first.stderr[-2000:]


def test_source_restarted_mid_copy_relay(
    pg_source: PrivatePg, pg_source_url: str, pg_dest: PrivatePg, sqlite_source: SqliteSource, tmp_path: Path
) -> None:
    """PostgreSQL → PostgreSQL: the source's binary COPY relayed raw; the source restarts (fast)."""
    dest = pg_target(pg_dest.create_database("dest_relay"))
    first, _ = inject_and_check(
        "source PG restart (fast), binary COPY relay → PG",
        copy_command(pg_source_url, dest.arg, "upsert", *RETRIES),
        dest=dest,
        source=sqlite_source.digests,
        inject=lambda alive: pg_source.restart("fast", down_s=1.0),
        threshold=moment("source", "relay"),
        logs=tmp_path,
    )
    assert retries_logged(first) >= 1, first.stderr[-2000:]
