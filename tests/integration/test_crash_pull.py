"""kill -9 on the same-engine pull paths. PostgreSQL → PostgreSQL streams raw binary COPY from one
server into the other (never decoded), or, within one database, moves each chunk with one
INSERT … SELECT; either way each chunk is committed with its checkpoint. Three kills at seeded
moments, a re-run, and the destination must equal the source row for row.

MariaDB → MariaDB on one server (two databases) moves each chunk with INSERT … SELECT too.
(SQLite → SQLite, the other pull path, is killed in ``test_crash.py``.)
"""

from __future__ import annotations

import psycopg
import pytest
from test_crash import ROWS, SEED, Source, _pg_rejects, assert_exact, crash_and_finish

import crashkit

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def pg_source(pg_db2: str) -> Source:
    crashkit.build_source(pg_db2, ROWS, seed=SEED)
    return Source(pg_db2, crashkit.pg_digests(pg_db2))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "extra", "seed"),
    [("append", (), 11), ("upsert", (), 12), ("incremental", ("--cursor", "updated_at"), 13)],
    ids=["append", "upsert", "incremental"],
)
def test_kill9_three_times_then_the_pg_to_pg_copy_is_exact(
    pg_source: Source, pg_db: str, pg_probe: crashkit.PgProbe, mode: str, extra: tuple[str, ...], seed: int
) -> None:
    cmd = crashkit.copy_command(str(pg_source.path), pg_db, mode, *extra)
    crash_and_finish(cmd, pg_probe, seed=SEED + seed, incremental=mode == "incremental")
    assert_exact(pg_source, crashkit.pg_digests(pg_db), _pg_rejects(pg_probe))


@pytest.fixture
def pg_local_source(pg_db: str) -> Source:
    """The source as ``t_src`` in the destination's own database (the copy writes ``t`` beside it)."""
    crashkit.build_source(pg_db, ROWS, seed=SEED)
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {crashkit.TABLE} RENAME TO {LOCAL_SOURCE}")
    return Source(pg_db, crashkit.pg_digests(pg_db, LOCAL_SOURCE))  # type: ignore[arg-type]


LOCAL_SOURCE = "t_src"


@pytest.mark.parametrize(
    ("mode", "extra", "seed"),
    [("append", (), 21), ("upsert", (), 22), ("incremental", ("--cursor", "updated_at"), 23)],
    ids=["append", "upsert", "incremental"],
)
def test_kill9_three_times_then_the_copy_within_one_pg_database_is_exact(
    pg_local_source: Source,
    pg_db: str,
    pg_probe: crashkit.PgProbe,
    mode: str,
    extra: tuple[str, ...],
    seed: int,
) -> None:
    """Within one database every chunk is one INSERT … SELECT, committed with its checkpoint."""
    cmd = crashkit.copy_command(str(pg_local_source.path), pg_db + "?application_name=dest", mode, *extra)
    cmd[cmd.index("--table") + 1] = LOCAL_SOURCE
    cmd += ["--dest-table", crashkit.TABLE]
    crash_and_finish(cmd, pg_probe, seed=SEED + seed, incremental=mode == "incremental")
    assert_exact(pg_local_source, crashkit.pg_digests(pg_db), _pg_rejects(pg_probe))


@pytest.mark.parametrize(
    ("mode", "extra", "seed"),
    [("append", (), 31), ("upsert", (), 32), ("incremental", ("--cursor", "updated_at"), 33)],
    ids=["append", "upsert", "incremental"],
)
def test_kill9_three_times_then_the_copy_between_two_mariadb_databases_is_exact(
    mariadb_db: str,
    mariadb_db2: str,
    mariadb_probe: crashkit.MariadbProbe,
    mode: str,
    extra: tuple[str, ...],
    seed: int,
) -> None:
    """One server, two databases: each chunk is one INSERT … SELECT, committed with its checkpoint."""
    crashkit.build_source(mariadb_db2, ROWS, seed=SEED)
    source = crashkit.MariadbProbe(mariadb_db2)
    try:
        digests = source.digests()
    finally:
        source.close()
    cmd = crashkit.copy_command(mariadb_db2, mariadb_db, mode, *extra)
    crash_and_finish(cmd, mariadb_probe, seed=SEED + seed, incremental=mode == "incremental")
    rejects = lambda: mariadb_probe.count("_bulksync_rejects")  # noqa: E731
    assert_exact(Source(mariadb_db2, digests), mariadb_probe.digests(), rejects)  # type: ignore[arg-type]
