"""Faults 1 and 2 on MariaDB: the server restarted mid-read and mid-write, and its sessions
``KILL``ed several times in one run.

A private MariaDB server (``faultservers.PrivateMariadb``) is the source of a MariaDB → PostgreSQL
copy (chunks read through connectorx, a new connection per chunk) and the destination of a
SQLite → MariaDB copy (LOAD DATA through PyMySQL, one session). Each copy must retry through
the fault and end equal to the source, row by row.
"""

from __future__ import annotations

from pathlib import Path

import pymysql
from test_backend_kill import KILLS, kill_several
from test_db_restart import RETRIES, moment

import crashkit
from conftest import SqliteSource
from faultkit import ROWS, SEED, Dest, Run, copy_command, inject_and_check, pg_target, retries_logged
from faultservers import PrivateMariadb, PrivatePg


def seen(run: Run) -> bool:
    """The copy met the fault: the engine retried, or connectorx's pool (r2d2) reconnected."""
    return retries_logged(run) >= 1 or "ERROR r2d2" in run.stderr


def mariadb_target(server: PrivateMariadb, dbname: str) -> Dest:
    """A MariaDB destination; progress read on a fresh session (None while the server is away)."""
    url = server.url(dbname)

    def progress() -> int | None:
        try:
            probe = crashkit.MariadbProbe(url)
        except pymysql.Error:
            return None
        try:
            found = probe.row("SELECT coalesce(sum(rows_done), 0) FROM _bulksync_state")
            return int(found[0]) if found else 0
        except pymysql.Error:
            return None
        finally:
            probe.close()

    def digests() -> crashkit.Digests:
        probe = crashkit.MariadbProbe(url)
        try:
            return probe.digests()
        finally:
            probe.close()

    return Dest(url, progress, digests)


def test_source_restarted_mid_read(
    mariadb: PrivateMariadb, mariadb_source_url: str, pg_dest: PrivatePg,
    sqlite_source: SqliteSource, tmp_path: Path,
) -> None:  # fmt: skip
    """MariaDB → PostgreSQL; the source server SIGKILLed (crash recovery) and started again."""
    dest = pg_target(pg_dest.create_database("dest_from_mariadb"))
    first, _ = inject_and_check(
        "source MariaDB restart (SIGKILL), keyset reads → PG",
        copy_command(mariadb_source_url, dest.arg, "upsert", *RETRIES),
        dest=dest, source=sqlite_source.digests, threshold=moment("mariadb", "source"), logs=tmp_path,
        inject=lambda alive: mariadb.restart("immediate", down_s=1.0),
    )  # fmt: skip
    assert seen(first), first.stderr[-2000:]


def test_destination_restarted_mid_write(
    mariadb: PrivateMariadb, sqlite_source: SqliteSource, tmp_path: Path
) -> None:
    """SQLite → MariaDB; the destination server shut down (SIGTERM) mid-LOAD DATA, started again."""
    mariadb.create_database("dest_restart")
    dest = mariadb_target(mariadb, "dest_restart")
    first, _ = inject_and_check(
        "destination MariaDB restart (shutdown), append",
        copy_command(str(sqlite_source.path), dest.arg, "append", *RETRIES),
        dest=dest, source=sqlite_source.digests, threshold=moment("mariadb", "dest"), logs=tmp_path,
        inject=lambda alive: mariadb.restart("fast", down_s=1.0),
    )  # fmt: skip
    assert retries_logged(first) >= 1, first.stderr[-2000:]


def test_destination_sessions_killed(
    mariadb: PrivateMariadb, sqlite_source: SqliteSource, tmp_path: Path
) -> None:
    mariadb.create_database("dest_kill")
    dest = mariadb_target(mariadb, "dest_kill")
    first, _ = inject_and_check(
        f"destination MariaDB sessions KILLed x{KILLS}, upsert",
        copy_command(str(sqlite_source.path), dest.arg, "upsert"),
        dest=dest, source=sqlite_source.digests, threshold=ROWS // 10, logs=tmp_path,
        inject=kill_several(dest, lambda: mariadb.kill_sessions("dest_kill"), seed=f"{SEED}-mariadb-dest"),
        injected=KILLS,
    )  # fmt: skip
    assert retries_logged(first) >= 1, first.stderr[-2000:]


def test_source_sessions_killed(
    mariadb: PrivateMariadb, mariadb_source_url: str, pg_dest: PrivatePg,
    sqlite_source: SqliteSource, tmp_path: Path,
) -> None:  # fmt: skip
    dest = pg_target(pg_dest.create_database("dest_mariadb_kill"))
    first, _ = inject_and_check(
        f"source MariaDB sessions KILLed x{KILLS}, keyset reads → PG",
        copy_command(mariadb_source_url, dest.arg, "append"),
        dest=dest, source=sqlite_source.digests, threshold=ROWS // 10, logs=tmp_path,
        inject=kill_several(dest, lambda: mariadb.kill_sessions("src"), seed=f"{SEED}-mariadb-source"),
        injected=KILLS,
    )  # fmt: skip
    assert seen(first), first.stderr[-2000:]
