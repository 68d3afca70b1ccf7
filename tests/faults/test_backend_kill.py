"""Fault 2: the copy's backends killed (``pg_terminate_backend``) several times in one run.

Each kill lands at a seeded random moment after the previous one; the copy must retry on a new
session every time and end equal to the source.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

from conftest import SqliteSource
from faultkit import ROWS, SEED, Dest, copy_command, inject_and_check, pg_target, retries_logged
from faultservers import PrivatePg

KILLS = 3


def kill_several(dest: Dest, kill: Callable[[], int], *, seed: str) -> Callable[[Callable[[], bool]], None]:
    """The injection: ``kill()`` now, then again each time the copy committed a random step more."""
    rng = random.Random(seed)

    def inject(alive: Callable[[], bool]) -> None:
        for n in range(KILLS):
            _kill_one(kill, n, alive)
            if n == KILLS - 1:
                return
            seen = dest.progress() or 0
            target = seen + rng.randrange(ROWS // 40, ROWS // 15)
            deadline = time.monotonic() + 60
            while (dest.progress() or 0) < target:
                assert alive(), f"the copy ended after kill {n + 1}"
                assert time.monotonic() < deadline, "the copy made no progress after a kill"
                time.sleep(0.02)

    return inject


def _kill_one(kill: Callable[[], int], n: int, alive: Callable[[], bool]) -> None:
    """Kill the copy's sessions, waiting (bounded) for one while it reconnects after the last kill."""
    deadline = time.monotonic() + 15
    while kill() == 0:
        assert alive(), f"the copy ended before kill {n + 1}"
        assert time.monotonic() < deadline, f"kill {n + 1}: the copy had no session to kill"
        time.sleep(0.01)


def test_destination_backends_killed(pg_dest: PrivatePg, sqlite_source: SqliteSource, tmp_path: Path) -> None:
    dest = pg_target(pg_dest.create_database("dest_kill"))
    first, _ = inject_and_check(
        "destination backends killed x3 (pg_terminate_backend), upsert",
        copy_command(str(sqlite_source.path), dest.arg, "upsert"),
        dest=dest,
        source=sqlite_source.digests,
        inject=kill_several(dest, lambda: pg_dest.terminate("dest_kill"), seed=f"{SEED}-dest-kill"),
        threshold=ROWS // 10,
        logs=tmp_path,
        injected=KILLS,
    )
    assert retries_logged(first) >= 1, first.stderr[-2000:]  # a kill may hit an idle session


def test_source_backends_killed(
    pg_source: PrivatePg, pg_source_url: str, pg_dest: PrivatePg, sqlite_source: SqliteSource, tmp_path: Path
) -> None:
    dest = pg_target(pg_dest.create_database("dest_src_kill"))
    first, _ = inject_and_check(
        "source backends killed x3 (pg_terminate_backend), COPY relay",
        copy_command(pg_source_url, dest.arg, "append"),
        dest=dest,
        source=sqlite_source.digests,
        inject=kill_several(dest, lambda: pg_source.terminate("src"), seed=f"{SEED}-source-kill"),
        threshold=ROWS // 10,
        logs=tmp_path,
        injected=KILLS,
    )
    assert retries_logged(first) >= 1, first.stderr[-2000:]  # a kill may hit an idle session
