"""The scenarios: which tools race, into which destination, against which subject."""

from __future__ import annotations

import dataclasses
import shlex
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

from bench import mariadb
from bench.bets import TABLE, sqlite_ddl
from bench.ceiling import CeilingFiles
from bench.context import Bench, bulksync_command
from bench.dataset import DATA_SETS, count_sqlite_rows, ensure_source, source_path
from bench.postgres import (
    copy_from_file,
    count_rows,
    drop_state,
    ensure_database,
    psql_command,
    reset_table,
)
from bench.runner import Destination, Tool

COPY_TABLE = "bets_copy"


class Scenario(NamedTuple):
    title: str
    subject: str  # the tool every ratio is taken against
    tools: Callable[[Bench], list[Tool]]
    mariadb: bool = False  # needs the MariaDB server


def pg_table(bench: Bench, table: str) -> Destination:
    return Destination(reset=lambda: reset_table(bench.pg, table), count=lambda: count_rows(bench.pg, table))


def sqlite_file(bench: Bench) -> tuple[str, Destination]:
    path = bench.work_dir / "dest.db"

    def reset() -> None:
        bench.work_dir.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        with sqlite3.connect(path) as conn:
            conn.execute(sqlite_ddl(TABLE))

    def count() -> int:
        return count_sqlite_rows(path) if path.exists() else -1

    return str(path), Destination(reset=reset, count=count)


def bulksync_to_pg(bench: Bench) -> Tool:
    """bulksync's full SQLite → PostgreSQL copy (shared by three scenarios, run once)."""
    command = bench.bulksync("copy", bench.source_db, bench.pg, "--table", TABLE, "--json")
    return Tool("bulksync", [command], pg_table(bench, TABLE), bench.rows)


def sqlite_to_pg(bench: Bench) -> list[Tool]:
    src, pg, dest, rows = bench.source_db, bench.pg, pg_table(bench, TABLE), bench.rows
    ceiling = CeilingFiles(bench)

    def peer(name: str, module: str) -> Tool:
        return Tool(name, [bench.peer(module, src, pg, TABLE)], dest, rows)

    return [
        peer("seeds", "seeds"),
        peer("psycopg_copy", "psycopg_copy"),
        peer("duckdb", "duckdb_attach"),
        peer("adbc", "adbc_arrow"),
        Tool(
            "ceiling",
            [bench.psql(copy_from_file(TABLE, ceiling.whole))],
            dest,
            rows,
            setup=ceiling.ensure,
        ),
        Tool(
            "ceiling_x2",
            [bench.psql(copy_from_file(TABLE, half)) for half in ceiling.halves],
            dest,
            rows,
            setup=ceiling.ensure,
        ),
        bulksync_to_pg(bench),
    ]


def other_database(dsn: str) -> str:
    """``dsn`` with ``_dest`` appended to its database name (a second database, same server)."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_dest"))


def pg_pipe(source: str, dest: str, dest_table: str) -> list[str]:
    """``psql COPY … TO STDOUT | psql COPY … FROM STDIN``, binary, as one shell pipeline."""
    copy_out = psql_command(source, f"COPY (SELECT * FROM {TABLE}) TO STDOUT (FORMAT binary)")
    copy_in = psql_command(dest, f"COPY {dest_table} FROM STDIN (FORMAT binary)")
    return ["bash", "-c", f"set -o pipefail; {shlex.join(copy_out)} | {shlex.join(copy_in)}"]


def pg_to_pg(bench: Bench) -> list[Tool]:
    pg, dest, rows = bench.pg, pg_table(bench, COPY_TABLE), bench.rows
    source_full = CeilingFiles(bench).fill
    bulksync = bench.bulksync("copy", pg, pg, "--table", TABLE, "--dest-table", COPY_TABLE, "--json")
    other = other_database(pg)

    def both_ready() -> None:
        source_full(TABLE)
        ensure_database(other)

    into_other = Destination(reset=lambda: reset_table(other, TABLE), count=lambda: count_rows(other, TABLE))
    return [
        Tool(
            "copy_psycopg",
            [bench.peer("pg_passthrough", pg, f"{pg}#{COPY_TABLE}", TABLE)],
            dest,
            rows,
            setup=source_full,
        ),
        Tool("copy_psql_pipe", [pg_pipe(pg, pg, COPY_TABLE)], dest, rows, setup=source_full),
        Tool("bulksync", [bulksync], dest, rows, setup=source_full),
        # into another database of the same server: no INSERT … SELECT, rows cross the wire
        Tool("copy_psql_pipe_2db", [pg_pipe(pg, other, TABLE)], into_other, rows, setup=both_ready),
        Tool(
            "bulksync_2db",
            [bench.bulksync("copy", pg, other, "--table", TABLE, "--json")],
            into_other,
            rows,
            setup=both_ready,
        ),
    ]


def sqlite_to_sqlite(bench: Bench) -> list[Tool]:
    path, dest = sqlite_file(bench)
    src, rows = bench.source_db, bench.rows
    return [
        Tool("executemany_25k", [bench.peer("sqlite_executemany", src, path, TABLE)], dest, rows),
        Tool("bulksync", [bench.bulksync("copy", src, path, "--table", TABLE, "--json")], dest, rows),
    ]


def upsert(bench: Bench) -> list[Tool]:
    ceiling = CeilingFiles(bench)

    def full_table() -> None:
        ceiling.fill(TABLE)
        drop_state(bench.pg)

    full = Destination(reset=full_table, count=lambda: count_rows(bench.pg, TABLE))
    command = bench.bulksync(
        "copy", bench.source_db, bench.pg, "--table", TABLE, "--mode", "upsert", "--json"
    )
    return [bulksync_to_pg(bench), Tool("bulksync_upsert", [command], full, bench.rows)]


def big(bench: Bench) -> list[Tool]:
    """SQLite → PostgreSQL at ``--big-rows`` (10 M): DuckDB, the ceilings and bulksync again,
    where the fixed cost of starting up no longer hides the rate (and the RSS must stay flat);
    on the same ``--data`` as the rest (the generated data after ``--source-db``)."""
    if bench.big_rows is None:
        return []
    rows, data_dir = bench.big_rows, bench.data_dir
    data = bench.data if bench.data in DATA_SETS else "generated"
    sized = dataclasses.replace(bench, rows=rows, source_db=source_path(data, rows, data_dir))

    def source_first(then: Callable[[], object] | None) -> Callable[[], None]:
        def setup() -> None:
            ensure_source(data, rows=rows, data_dir=data_dir)
            if then is not None:
                then()

        return setup

    wanted = ("duckdb", "ceiling", "ceiling_x2", "bulksync")
    return [
        dataclasses.replace(tool, setup=source_first(tool.setup))
        for tool in sqlite_to_pg(sized)
        if tool.name in wanted
    ]


def mariadb_source(bench: Bench) -> Callable[[], None]:
    """The untimed setup of every MariaDB → PostgreSQL tool: ``bench.bets`` loaded (once)."""
    return lambda: mariadb.ensure_source(
        bench.mariadb, bench.source_db, bench.rows, bulksync_command(), bench.env
    )


def mariadb_dest(bench: Bench) -> tuple[str, Destination]:
    """``<database>_dest`` on the MariaDB server: ``bets`` recreated empty before each attempt."""
    database = mariadb.parse(bench.mariadb).database + "_dest"
    url = mariadb.with_database(bench.mariadb, database)
    return url, Destination(reset=lambda: mariadb.reset_table(url), count=lambda: mariadb.count_rows(url))


def bet_days(source_db: Path) -> tuple[str, str]:
    """The first and last calendar day of ``placed_at`` in the source: the whole range."""
    with sqlite3.connect(f"file:{source_db}?mode=ro", uri=True) as conn:
        first, last = conn.execute(f"SELECT min(placed_at), max(placed_at) FROM {TABLE}").fetchone()
    return str(first)[:10], str(last)[:10]


def bets_sync(bench: Bench, *sizes: str) -> list[str]:
    """``bulksync bets sync`` of every day and channel, from MariaDB (``dk``) into PostgreSQL."""
    first, last = bet_days(bench.source_db)
    env = [
        f"BULKSYNC_CONNECTIONS__DK={bench.mariadb}",
        f"BULKSYNC_CONNECTIONS__DEFAULT={bench.pg}",
        "BET_SYNC_SOURCE_CONNECTION=dk",
        "BET_SYNC_DESTINATION_CONNECTION=default",
        f"BET_SYNC_SOURCE_TABLE={TABLE}",
        f"BET_SYNC_DESTINATION_TABLE={TABLE}",
    ]
    sync = bench.bulksync("bets", "sync", "--start-date", first, "--end-date", last, "--channel", "ALL")
    return ["env", *env, *sync, *sizes, "--json"]


def mariadb_to_pg(bench: Bench) -> list[Tool]:
    src, pg, dest, rows = bench.mariadb, bench.pg, pg_table(bench, TABLE), bench.rows
    ready = mariadb_source(bench)
    ceiling = CeilingFiles(bench)

    def full_table() -> None:  # every bet already there: the re-run upserts all of them again
        ceiling.fill(TABLE)
        drop_state(bench.pg)

    full = Destination(reset=full_table, count=lambda: count_rows(bench.pg, TABLE))

    def peer(name: str, module: str) -> Tool:
        return Tool(name, [bench.peer(module, src, pg, TABLE)], dest, rows, setup=ready)

    copy = bench.bulksync("copy", src, pg, "--table", TABLE, "--json")
    big = ("--chunk-size", "50000", "--batch-size", "50000")
    return [
        peer("seeds", "seeds_mariadb_pg"),
        peer("duckdb", "duckdb_mysql"),
        peer("connectorx_adbc", "connectorx_adbc"),
        Tool("bulksync", [copy], dest, rows, setup=ready),
        Tool("bets_sync", [bets_sync(bench)], dest, rows, setup=ready),
        Tool("bets_sync_50k", [bets_sync(bench, *big)], dest, rows, setup=ready),
        Tool("bets_sync_rerun", [bets_sync(bench)], full, rows, setup=ready),
    ]


def pg_to_mariadb(bench: Bench) -> list[Tool]:
    pg, rows = bench.pg, bench.rows
    url, dest = mariadb_dest(bench)
    source_full = CeilingFiles(bench).fill

    def peer(name: str, module: str) -> Tool:
        return Tool(name, [bench.peer(module, pg, url, TABLE)], dest, rows, setup=source_full)

    copy = bench.bulksync("copy", pg, url, "--table", TABLE, "--json")
    return [
        peer("seeds", "seeds_pg_mariadb"),
        peer("duckdb", "duckdb_mysql"),
        Tool("bulksync", [copy], dest, rows, setup=source_full),
    ]


SCENARIOS: dict[str, Scenario] = {
    "sqlite-pg": Scenario("SQLite → PostgreSQL", "bulksync", sqlite_to_pg),
    "pg-pg": Scenario("PostgreSQL → PostgreSQL", "bulksync", pg_to_pg),
    "sqlite-sqlite": Scenario("SQLite → SQLite", "bulksync", sqlite_to_sqlite),
    "upsert": Scenario("Upsert into a full table (SQLite → PostgreSQL)", "bulksync_upsert", upsert),
    "big": Scenario("SQLite → PostgreSQL at --big-rows", "bulksync", big),
    "mariadb-pg": Scenario("MariaDB → PostgreSQL", "bulksync", mariadb_to_pg, mariadb=True),
    "pg-mariadb": Scenario("PostgreSQL → MariaDB", "bulksync", pg_to_mariadb, mariadb=True),
}
