"""Into a table the user made, a column the source does not have is left out of every insert.
NOT NULL with no default, it would refuse every row, each rejected by itself after bisection:
refused up front instead, before a row is written. Any default the database has (portable or
not), NULL allowed, an identity column or a generated one: the copy goes ahead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bulksync import Mode, SyncSpec, TableSpec, sync
from bulksync.connectors.registry import open_connector
from bulksync.engine.plan import check_table, plan_table
from bulksync.errors import SchemaMismatchError
from helpers import make_bets, run_cli

pytestmark = pytest.mark.integration

ROWS = 300
BETS = {  # the source's columns, as the user declared them
    "postgresql": "id bigint PRIMARY KEY, player text, channel text NOT NULL, stake numeric(12, 2), "
    "placed_at timestamp, updated_at timestamp NOT NULL, settled boolean",
    "mariadb": "id BIGINT PRIMARY KEY, player TEXT, channel VARCHAR(5) NOT NULL, stake DECIMAL(12, 2), "
    "placed_at DATETIME(6), updated_at DATETIME(6) NOT NULL, settled BOOL",
    "sqlite": "id INTEGER PRIMARY KEY, player TEXT, channel TEXT NOT NULL, stake NUMERIC(12, 2), "
    "placed_at TIMESTAMP, updated_at TIMESTAMP NOT NULL, settled BOOLEAN",
}
REQUIRED = {
    "postgresql": "region text NOT NULL, note text, zone varchar(4) NOT NULL",
    "mariadb": "region VARCHAR(8) NOT NULL, note TEXT, zone VARCHAR(4) NOT NULL",
    "sqlite": "region TEXT NOT NULL, note TEXT, zone TEXT NOT NULL DEFAULT NULL",
}
FILLED = {  # columns the source lacks that the database fills
    "non-portable default": {
        "postgresql": "region text NOT NULL DEFAULT gen_random_uuid()::text, "
        "n numeric NOT NULL DEFAULT nextval('n_seq')",
        "mariadb": "region VARCHAR(40) NOT NULL DEFAULT uuid()",
        "sqlite": "region TEXT NOT NULL DEFAULT (random())",
    },
    "portable default": {
        "postgresql": "region text NOT NULL DEFAULT 'VN', at timestamp NOT NULL DEFAULT now()",
        "mariadb": "region VARCHAR(8) NOT NULL DEFAULT 'VN', at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP",
        "sqlite": "region TEXT NOT NULL DEFAULT 'VN', at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP",
    },
    "nullable": {
        "postgresql": "region text",
        "mariadb": "region VARCHAR(8) DEFAULT NULL",
        "sqlite": "region TEXT DEFAULT NULL",
    },
    "identity": {
        "postgresql": "seq bigint GENERATED ALWAYS AS IDENTITY, n serial",
        "mariadb": "seq BIGINT NOT NULL AUTO_INCREMENT UNIQUE",
        "sqlite": "seq INTEGER PRIMARY KEY",  # the rowid (``id`` is then a UNIQUE column)
    },
    "generated": {
        "postgresql": "twice bigint GENERATED ALWAYS AS (id * 2) STORED NOT NULL",
        "mariadb": "twice BIGINT AS (id * 2) PERSISTENT, thrice BIGINT AS (id * 3) VIRTUAL",
        "sqlite": "twice INTEGER GENERATED ALWAYS AS (id * 2) STORED NOT NULL, "
        "thrice INTEGER AS (id * 3) NOT NULL",
    },
}
MODES = [Mode.APPEND, Mode.UPSERT, Mode.INCREMENTAL]
MESSAGE = (
    "destination table 'bets' requires column(s) region, zone (NOT NULL, no default) that the source "
    "does not have: give them a default, allow NULL, or add them to the source"
)


@pytest.fixture
def source(tmp_path: Path) -> str:
    path = str(tmp_path / "source.db")
    make_bets(path, ROWS)
    return path


def dest_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "sqlite":
        return str(tmp_path / "dest.db")
    return str(request.getfixturevalue("pg_db" if kind == "postgresql" else "mariadb_db"))


def make_dest(url: str, kind: str, extra: str, *, seeded: bool = False) -> None:
    """``bets`` with the source's columns and ``extra``; with one row of the user's if ``seeded``."""
    columns = BETS[kind]
    if kind == "sqlite" and extra.startswith("seq INTEGER PRIMARY KEY"):
        columns = columns.replace("id INTEGER PRIMARY KEY", "id INTEGER NOT NULL UNIQUE")
    conn: Any = open_connector(url, create=True)
    try:
        if kind == "postgresql":
            conn._execute("CREATE SEQUENCE n_seq")
        conn._execute(f"CREATE TABLE bets ({columns}, {extra})")
        if seeded:
            conn._execute(
                "INSERT INTO bets (id, channel, updated_at, region, zone) "
                "VALUES (1000000, 'VN', '2024-01-01 00:00:00', 'mine', 'z')"
            )
    finally:
        conn.close()


def counts(url: str) -> tuple[int, int]:
    """(rows in ``bets``, rows in the reject table)."""
    conn: Any = open_connector(url)
    try:
        rows = conn._rows("SELECT count(*) AS n FROM bets")[0]["n"]
        rejects = conn._rows(f"SELECT count(*) AS n FROM {conn.reject_table}")[0]["n"]
        return int(rows), int(rejects)
    finally:
        conn.close()


def spec(source: str, url: str, mode: Mode) -> SyncSpec:
    cursor = "updated_at" if mode is Mode.INCREMENTAL else None
    return SyncSpec(source=source, destination=url, tables=[TableSpec(name="bets", cursor=cursor)], mode=mode)


@pytest.mark.parametrize("mode", MODES, ids=str)
@pytest.mark.parametrize("kind", sorted(BETS))
def test_a_required_column_the_source_lacks_is_refused_before_a_row_is_written(
    request: pytest.FixtureRequest, tmp_path: Path, source: str, kind: str, mode: Mode
) -> None:
    url = dest_url(kind, request, tmp_path)
    make_dest(url, kind, REQUIRED[kind], seeded=True)

    with pytest.raises(SchemaMismatchError) as refused:
        sync(spec(source, url, mode))

    assert refused.value.message == MESSAGE
    assert counts(url) == (1, 0)


@pytest.mark.parametrize("mode", MODES, ids=str)
@pytest.mark.parametrize("case", sorted(FILLED))
@pytest.mark.parametrize("kind", sorted(BETS))
def test_a_column_the_database_fills_is_no_obstacle(
    request: pytest.FixtureRequest, tmp_path: Path, source: str, kind: str, case: str, mode: Mode
) -> None:
    url = dest_url(kind, request, tmp_path)
    make_dest(url, kind, FILLED[case][kind])

    result = sync(spec(source, url, mode))

    assert (result.processed_rows, result.failed_rows) == (ROWS, 0)
    assert counts(url) == (ROWS, 0)
    if mode is Mode.UPSERT:  # the rows are there now: merged (on PostgreSQL through a stage)
        again = sync(spec(source, url, mode))
        assert (again.processed_rows, again.failed_rows) == (ROWS, 0)
        assert counts(url) == (ROWS, 0)


@pytest.mark.parametrize("kind", sorted(BETS))
def test_the_cli_says_it_in_one_line_and_fails(
    request: pytest.FixtureRequest, tmp_path: Path, source: str, kind: str
) -> None:
    url = dest_url(kind, request, tmp_path)
    make_dest(url, kind, REQUIRED[kind], seeded=True)

    proc = run_cli("copy", source, url, "-t", "bets", "--mode", "upsert")

    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and MESSAGE in lines[0], proc.stderr
    assert counts(url) == (1, 0)


def test_a_resumed_run_is_refused_too(tmp_path: Path, source: str, pg_db: str) -> None:
    """Checkpoints of a run that never finished (planned, then stopped), and the column added
    since: the resumed run is refused as a fresh one would be."""
    make_dest(pg_db, "postgresql", "note text")
    planned = spec(source, pg_db, Mode.APPEND)
    src, dst = open_connector(source), open_connector(pg_db)
    try:
        plan = plan_table(planned, check_table(planned, planned.tables[0], src), src, dst)
        assert plan.pending  # checkpoints stored, no row written
    finally:
        src.close()
        dst.close()
    conn: Any = open_connector(pg_db)
    try:
        conn._execute("ALTER TABLE bets ADD COLUMN region text NOT NULL")
    finally:
        conn.close()

    with pytest.raises(SchemaMismatchError, match=r"requires column\(s\) region \(NOT NULL, no default\)"):
        sync(planned)

    assert counts(pg_db) == (0, 0)
