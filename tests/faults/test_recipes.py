"""Faults inside the recipes, not only ``copy``: the destination PostgreSQL restarted (immediate)
and then its backends killed three times, during ``bulksync migrate`` (SQLite → PostgreSQL, two
tables in parallel) and during ``bulksync bets sync`` (200K generated bets, upserted on the id).

Each run must survive (or fail with one line and then finish when run again), and the
destination must equal the source row by row: 0 lost, 0 doubled.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from test_backend_kill import KILLS, kill_several

import crashkit
import fleetkit
from faultkit import (
    REPORT,
    ROWS,
    SEED,
    Dest,
    ReportRow,
    Run,
    assert_resumable_failure,
    committed_rows,
    logged,
    outcome_of,
    retries_logged,
    run_copy,
)
from faultservers import PrivatePg
from helpers import table_rows


def restart_then_kill(pg: PrivatePg, dbname: str) -> Callable[[Callable[[], bool]], None]:
    """Restart the destination (immediate), then, once the run moved on, kill its backends x3."""
    url = pg.url(dbname)
    dest = Dest(url, lambda: committed_rows(url), lambda: [])

    def inject(alive: Callable[[], bool]) -> None:
        pg.restart("immediate", down_s=1.0)
        target = (dest.progress() or 0) + ROWS // 20
        deadline = time.monotonic() + 60
        while (dest.progress() or 0) < target:
            if not alive():
                return  # it gave up during the restart: its one-line failure is judged, then re-run
            assert time.monotonic() < deadline, "no progress after the restart"
            time.sleep(0.02)
        kill_several(dest, lambda: pg.terminate(dbname), seed=f"{SEED}-{dbname}")(alive)

    return inject


def run_through(
    cmd: list[str], *, pg: PrivatePg, dbname: str, logs: Path, env: dict[str, str]
) -> tuple[Run, Run | None]:
    env = {"BULKSYNC_RETRIES": "8", **env}  # as test_db_restart: ~40 s of patience for a restart
    first = run_copy(
        cmd, log=logs / "first.log", progress=lambda: committed_rows(pg.url(dbname)), threshold=ROWS // 5,
        inject=restart_then_kill(pg, dbname), env=env, end_within_s=180,
    )  # fmt: skip
    if first.returncode == 0:
        assert retries_logged(first) >= 1, first.stderr[-2000:]  # the faults were met, not missed
        return first, None
    assert_resumable_failure(first)
    again = run_copy(cmd, log=logs / "again.log", env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    return first, again


def report(fault: str, first: Run, again: Run | None, lost: int, doubled: int) -> None:
    recover = first.after_fault_s + (again.seconds if again else 0.0)
    REPORT.rows.append(ReportRow(fault, 1 + KILLS, outcome_of(first, again), lost, doubled, recover))


@pytest.fixture(scope="module")
def two_tables(tmp_path_factory: pytest.TempPathFactory) -> fleetkit.Source:
    return fleetkit.build_source(tmp_path_factory.mktemp("migrate") / "source.db")


def test_migrate_through_a_restart_and_killed_backends(
    pg_dest: PrivatePg, two_tables: fleetkit.Source, tmp_path: Path
) -> None:
    url = pg_dest.create_database("migrate_dest")
    # upsert: checkpoints stay until the end (replace drops a table's at its swap, and the
    # watcher's row count would go backwards)
    cmd = logged("migrate", str(two_tables.path), url, "--mode", "upsert", "--batch-mb", "0.25", "-q")
    first, again = run_through(cmd, pg=pg_dest, dbname="migrate_dest", logs=tmp_path, env={})
    lost = doubled = 0
    for table, digests in two_tables.digests.items():
        verdict = crashkit.compare(digests, crashkit.pg_digests(url, table))
        assert verdict.ok, f"{table}: {verdict}"
        lost, doubled = lost + len(verdict.lost), doubled + len(verdict.duplicated)
    report("migrate SQLite → PG (2 tables): dest restart + backends killed x3", first, again, lost, doubled)


def test_bet_sync_through_a_restart_and_killed_backends(pg_dest: PrivatePg, tmp_path: Path) -> None:
    dk = tmp_path / "dk.db"
    made = subprocess.run(
        logged("generate", str(dk), "--table", "bets", "--rows", str(ROWS), "-q"),
        capture_output=True, text=True, timeout=300, env=crashkit._env(), check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    url = pg_dest.create_database("bets_dest")
    env = {"BULKSYNC_CONNECTIONS__DK": str(dk), "BULKSYNC_CONNECTIONS__DEFAULT": url}
    cmd = logged("bets", "sync", "--days-back", "400", "--channel", "ALL", "--chunk-size", "2000", "-q")
    first, again = run_through(cmd, pg=pg_dest, dbname="bets_dest", logs=tmp_path, env=env)
    source, dest = table_rows(str(dk), "bets"), table_rows(url, "bets")
    counts = Counter(row[0] for row in dest)
    lost = len({row[0] for row in source} - set(counts))
    doubled = sum(n - 1 for n in counts.values() if n > 1)
    assert (lost, doubled) == (0, 0), (lost, doubled)
    assert source == dest
    report("bet sync (200K bets) → PG: dest restart + backends killed x3", first, again, lost, doubled)
