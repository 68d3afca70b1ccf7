"""Fault 3: a stalled network, through the suite's TCP proxy between the copy and PostgreSQL.

(a) latency on every packet, (b) every connection reset in the middle of a COPY, (c) a black
hole (nothing forwarded, nothing closed) longer than the statement timeout: the copy notices it
through its read deadline (statement timeout x 1.5 + 5 s), drops the connection and retries on
a new one; a black hole that never heals fails the copy in bounded time with one line, and the
same command finishes the job once the network is back. A black hole in front of a PostgreSQL
source's keyset reads (ADBC, which has no client timeout of its own) is caught by the same read
deadline, kept by a helper thread the read runs in.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import SqliteSource
from faultkit import ROWS, SEED, copy_command, inject_and_check, pg_target, retries_logged, sqlite_target
from faultproxy import FaultProxy
from faultservers import PrivatePg

TIMEOUT = ("--statement-timeout", "2")  # read deadline: 2 x 1.5 + 5 = 8 s


@pytest.fixture
def dest_proxy(pg_dest: PrivatePg) -> Iterator[FaultProxy]:
    proxy = FaultProxy(pg_dest.port)
    yield proxy
    proxy.close()


def moment(what: str) -> int:
    return random.Random(f"{SEED}-{what}").randrange(ROWS // 5, ROWS * 3 // 5)


def test_latency(
    pg_dest: PrivatePg, dest_proxy: FaultProxy, sqlite_source: SqliteSource, tmp_path: Path
) -> None:
    url = pg_dest.create_database("net_latency")
    dest = pg_target(url, via=pg_dest.url("net_latency", dest_proxy.port))

    def slow(alive: Callable[[], bool]) -> None:
        dest_proxy.latency = 0.01  # per forwarded chunk, both ways

    inject_and_check(
        "latency 10 ms per packet (proxy), upsert",
        copy_command(str(sqlite_source.path), dest.arg, "upsert", *TIMEOUT),
        dest=dest, source=sqlite_source.digests, inject=slow, threshold=moment("latency"), logs=tmp_path,
    )  # fmt: skip


def test_cut_mid_copy(
    pg_dest: PrivatePg, dest_proxy: FaultProxy, sqlite_source: SqliteSource, tmp_path: Path
) -> None:
    url = pg_dest.create_database("net_cut")
    dest = pg_target(url, via=pg_dest.url("net_cut", dest_proxy.port))
    first, _ = inject_and_check(
        "connections reset mid-COPY (proxy RST), append",
        copy_command(str(sqlite_source.path), dest.arg, "append", *TIMEOUT),
        dest=dest, source=sqlite_source.digests, inject=lambda alive: dest_proxy.cut(),
        threshold=moment("cut"), logs=tmp_path,
    )  # fmt: skip
    assert retries_logged(first) >= 1, first.stderr[-2000:]


def test_black_hole_then_healed(
    pg_dest: PrivatePg, dest_proxy: FaultProxy, sqlite_source: SqliteSource, tmp_path: Path
) -> None:
    url = pg_dest.create_database("net_hole")
    dest = pg_target(url, via=pg_dest.url("net_hole", dest_proxy.port))

    def hole(alive: Callable[[], bool]) -> None:
        dest_proxy.blackhole = True
        time.sleep(12)  # longer than the statement timeout and the read deadline
        dest_proxy.heal()

    first, _ = inject_and_check(
        "black hole 12 s (> statement timeout 2 s), append",
        copy_command(str(sqlite_source.path), dest.arg, "append", *TIMEOUT),
        dest=dest, source=sqlite_source.digests, inject=hole, threshold=moment("hole"), logs=tmp_path,
    )  # fmt: skip
    assert "read deadline" in first.stderr, first.stderr[-2000:]


def test_black_hole_in_front_of_an_adbc_source_read(
    pg_source: PrivatePg, pg_source_url: str, sqlite_source: SqliteSource, tmp_path: Path
) -> None:
    """PostgreSQL → SQLite: the source's keyset chunks are read through ADBC behind the proxy."""
    proxy = FaultProxy(pg_source.port)
    try:
        dest = sqlite_target(tmp_path / "dest.db")

        def hole(alive: Callable[[], bool]) -> None:
            proxy.blackhole = True
            time.sleep(12)  # longer than the read deadline (8 s)
            proxy.heal()

        first, _ = inject_and_check(
            "black hole 12 s in front of an ADBC source read, → SQLite",
            copy_command(pg_source.url("src", proxy.port), dest.arg, "append", *TIMEOUT),
            dest=dest, source=sqlite_source.digests, inject=hole, threshold=moment("hole-adbc"),
            logs=tmp_path,
        )  # fmt: skip
        assert "read deadline" in first.stderr, first.stderr[-2000:]
    finally:
        proxy.close()


def test_black_hole_forever_fails_in_bounded_time(
    pg_dest: PrivatePg, dest_proxy: FaultProxy, sqlite_source: SqliteSource, tmp_path: Path
) -> None:
    url = pg_dest.create_database("net_hole_forever")
    dest = pg_target(url, via=pg_dest.url("net_hole_forever", dest_proxy.port))

    def hole(alive: Callable[[], bool]) -> None:
        dest_proxy.blackhole = True
        deadline = time.monotonic() + 90
        while alive():  # the copy must give up by itself
            assert time.monotonic() < deadline, "HUNG: the copy still waits on a black hole after 90 s"
            time.sleep(0.1)
        dest_proxy.heal()

    first, resumed = inject_and_check(
        "black hole that never heals (retries 1), append",
        copy_command(str(sqlite_source.path), dest.arg, "append", *TIMEOUT, "--retries", "1"),
        dest=dest, source=sqlite_source.digests, inject=hole, threshold=moment("hole-forever"),
        logs=tmp_path, must_succeed=False,
    )  # fmt: skip
    assert first.returncode == 1 and resumed is not None
    assert "read deadline" in first.stderr or "timeout expired" in first.stderr, first.stderr[-2000:]
