"""Build source tables with awkward values, and read tables back as comparable Python rows.

Rows are read back independently of bulksync (psycopg for PostgreSQL, the stdlib ``sqlite3``
for SQLite) so a connector that writes and reads consistently wrong cannot hide its bug.
Never call a SQLite reader here while a bulksync connector has the same file open: two SQLite
libraries in one process break SQLite's POSIX file locks.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
import pyarrow as pa

from bulksync.connectors.registry import open_connector, scheme_of
from bulksync.connectors.sqlite import sqlite_path
from bulksync.schema import Column, Index, TableSchema

BASE_TIME = dt.datetime(2024, 1, 1, 0, 0, 0)
TIE_GROUP = 700  # this many consecutive ids share one updated_at value (cursor ties)
CHANNELS = ("VN", "TH", "ID")

BETS = TableSchema(
    name="bets",
    columns=(
        Column("id", pa.int64(), nullable=False),
        Column("player", pa.string()),
        Column("channel", pa.string(), nullable=False),
        Column("stake", pa.decimal128(12, 2)),
        Column("placed_at", pa.timestamp("us")),
        Column("updated_at", pa.timestamp("us"), nullable=False),
        Column("settled", pa.bool_()),
    ),
    primary_key=("id",),
    indexes=(Index("bets_channel_idx", ("channel",)),),
)

_NAMES = ("Ana 🎲", "Zoë 🏇 “quoted”", "李小龍", 'O\'Brien, "Bob"', "tab\tnew\nline", "plain")


def bets_schema(name: str = "bets") -> TableSchema:
    """The test table under another name (its index renamed with it)."""
    indexes = tuple(Index(f"{name}_channel_idx", ix.columns, ix.unique) for ix in BETS.indexes)
    return TableSchema(name, BETS.columns, BETS.primary_key, indexes)


def updated_at_of(row_id: int, version: int = 0) -> dt.datetime:
    """The cursor value of a row: shared by TIE_GROUP consecutive ids, later for each version."""
    return BASE_TIME + dt.timedelta(minutes=row_id // TIE_GROUP, days=version)


def bet_rows(ids: Iterable[int], *, version: int = 0) -> pa.RecordBatch:
    """Deterministic rows for ``ids``; ``version`` changes every non-key value (an update)."""
    ids = list(ids)
    player, channel, stake, placed, updated, settled = [], [], [], [], [], []
    for i in ids:
        player.append(None if i % 7 == 0 else f"{_NAMES[(i + version) % len(_NAMES)]} #{i}.{version}")
        channel.append(CHANNELS[i % 3])
        cents = (i * 7919 + version * 13) % 10**12
        sign = -1 if i % 5 == 0 else 1
        stake.append(None if i % 11 == 0 else sign * decimal.Decimal(cents) / 100)
        micros = 0 if i % 2 else (i * 7 + version) % 1_000_000
        placed.append(
            None if i % 13 == 0 else BASE_TIME + dt.timedelta(seconds=i + version, microseconds=micros)
        )
        updated.append(updated_at_of(i, version))
        settled.append(None if i % 17 == 0 else (i + version) % 3 == 0)
    return pa.RecordBatch.from_arrays(
        [
            pa.array(ids, pa.int64()),
            pa.array(player, pa.string()),
            pa.array(channel, pa.string()),
            pa.array(stake, pa.decimal128(12, 2)),
            pa.array(placed, pa.timestamp("us")),
            pa.array(updated, pa.timestamp("us")),
            pa.array(settled, pa.bool_()),
        ],
        schema=BETS.arrow_schema(),
    )


def make_bets(url: str, rows: int, *, name: str = "bets") -> None:
    """Create the ``bets`` table (with its secondary index) holding ids 1..rows."""
    conn = open_connector(url, create=True)
    try:
        conn.create_table(bets_schema(name), with_indexes=True)
    finally:
        conn.close()
    write_bets(url, range(1, rows + 1), name=name)


def write_bets(url: str, ids: Iterable[int], *, version: int = 0, name: str = "bets") -> None:
    """Insert (or, for existing ids, update) rows of ``bets`` in the source, in one transaction."""
    ids = list(ids)
    conn = open_connector(url, create=True)
    try:
        with conn.transaction() as tx:
            for start in range(0, len(ids), 5000):
                tx.write(name, bet_rows(ids[start : start + 5000], version=version), upsert_key=("id",))
    finally:
        conn.close()


def expected_rows(ids: Iterable[int], *, version: int = 0) -> list[tuple[Any, ...]]:
    """What ``table_rows`` returns for a ``bets`` table holding exactly ``ids`` at ``version``."""
    return [tuple(r.values()) for r in bet_rows(sorted(ids), version=version).to_pylist()]


# -- reading back ---------------------------------------------------------------------------------


def table_rows(url: str, table: str, key: Sequence[str] = ("id",)) -> list[tuple[Any, ...]]:
    """Every row of ``table`` ordered by ``key``, as tuples of plain Python values.

    Decimals come back as ``Decimal`` (quantized to the column's scale), timestamps as naive
    ``datetime``, booleans as ``bool``, whatever the database stores them as.
    """
    scheme = scheme_of(url)
    if scheme in ("postgresql", "postgres"):
        return _pg_rows(url, table, key)
    if scheme == "sqlite":
        return _sqlite_rows(url, table, key)
    return _connector_rows(url, table, key)


def _order(key: Sequence[str]) -> str:
    return ", ".join(f'"{k}"' for k in key)


def _pg_rows(url: str, table: str, key: Sequence[str]) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return [tuple(r) for r in conn.execute(f'SELECT * FROM "{table}" ORDER BY {_order(key)}')]


def _sqlite_rows(url: str, table: str, key: Sequence[str]) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(sqlite_path(url))
    try:
        info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
        assert info, f"no table {table!r} in {url}"
        fixes = [_sqlite_fix(str(c[2]).upper()) for c in info]
        rows = conn.execute(f'SELECT * FROM "{table}" ORDER BY {_order(key)}').fetchall()
    finally:
        conn.close()
    return [tuple(fix(v) for fix, v in zip(fixes, row, strict=True)) for row in rows]


def _sqlite_fix(declared: str) -> Any:
    def keep(v: Any) -> Any:
        return v

    if declared.startswith(("NUMERIC", "DECIMAL")):
        scale = int(declared.rstrip(")").split(",")[1]) if "," in declared else 0
        quantum = decimal.Decimal(1).scaleb(-scale)
        return lambda v: None if v is None else decimal.Decimal(repr(v)).quantize(quantum)
    if declared.startswith(("TIMESTAMP", "DATETIME")):
        return lambda v: None if v is None else dt.datetime.fromisoformat(v)
    if declared.startswith("BOOL"):
        return lambda v: None if v is None else bool(v)
    return keep


def _connector_rows(url: str, table: str, key: Sequence[str]) -> list[tuple[Any, ...]]:
    from bulksync.connectors.base import ChunkQuery

    conn = open_connector(url)
    try:
        schema = conn.describe(table)
        batch = conn.read_chunk(ChunkQuery(schema, tuple(key), limit=10**9))
    finally:
        conn.close()
    return [tuple(r.values()) for r in batch.to_pylist()]


@contextmanager
def pg_database(admin: psycopg.Connection[Any]) -> Iterator[str]:
    """A fresh PostgreSQL database shared by a module's tests (the ``pg_db`` fixture is per test)."""
    name = f"bs_shared_{uuid.uuid4().hex[:12]}"
    admin_url = os.environ.get("BULKSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_column_types(url: str, table: str) -> dict[str, str]:
    """``column → data type`` as PostgreSQL's information_schema spells it (with precision)."""
    sql = (
        "SELECT column_name, data_type, numeric_precision, numeric_scale FROM "
        "information_schema.columns WHERE table_name = %s ORDER BY ordinal_position"
    )
    with psycopg.connect(url) as conn:
        found = {}
        for name, kind, precision, scale in conn.execute(sql, [table]):
            found[name] = f"{kind}({precision},{scale})" if kind == "numeric" else kind
        return found


def pg_tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r[0] for r in rows}


def pg_indexes(url: str, table: str) -> dict[str, str]:
    """``index name → definition`` of a PostgreSQL table (primary key included)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return dict(rows)


def pg_primary_key(url: str, table: str) -> list[str]:
    sql = (
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary"
    )
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute(sql, [f'"{table}"'])]


def sqlite_tables(url: str) -> set[str]:
    conn = sqlite3.connect(sqlite_path(url))
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    finally:
        conn.close()
    return {r[0] for r in rows}


def sqlite_indexes(url: str, table: str) -> dict[str, tuple[str, ...]]:
    """``index name → columns`` of the indexes created on a SQLite table (not automatic ones)."""
    conn = sqlite3.connect(sqlite_path(url))
    try:
        found = {}
        for row in conn.execute(f'PRAGMA index_list("{table}")').fetchall():
            if row[3] == "c":
                cols = conn.execute(f'PRAGMA index_info("{row[1]}")').fetchall()
                found[row[1]] = tuple(c[2] for c in sorted(cols))
        return found
    finally:
        conn.close()


def sqlite_primary_key(url: str, table: str) -> list[str]:
    conn = sqlite3.connect(sqlite_path(url))
    try:
        info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
    finally:
        conn.close()
    return [c[1] for c in sorted(info, key=lambda c: c[5]) if c[5]]


def run_cli(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI without a terminal (pipes), on an 80-column screen unless ``COLUMNS`` is
    given, with no BULKSYNC_* variable of ours and with extra ``env``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BULKSYNC_")}
    environ.update({"COLUMNS": "80", **env})
    return subprocess.run(
        [sys.executable, "-m", "bulksync", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=environ,
    )


def merged(result: Any) -> tuple[int, int, int]:
    """(inserted, updated, unchanged) over a SyncResult's tables."""
    d = result.to_dict()
    return d["rows_inserted"], d["rows_updated"], d["rows_unchanged"]


# Runs the real entry point in a fresh interpreter and reports, at exit, every module imported.
CLI_PROBE = """
import json, os, sys
sys.argv = ["bulksync", *json.loads(sys.argv[1])]
real_exit = os._exit
def report(code=0):
    sys.stdout.flush()
    sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
    sys.stderr.flush()
    real_exit(code)
os._exit = report
from bulksync.cli import main
try:
    main()
except SystemExit as exc:
    report(exc.code if isinstance(exc.code, int) else 1)
report(0)
"""


def cli_imports(
    args: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 60
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """``bulksync *args`` in a fresh interpreter (stdout, stderr: pipes): its result and every
    module it imported."""
    proc = subprocess.run(
        [sys.executable, "-c", CLI_PROBE, json.dumps(list(args))],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    line = next(x for x in proc.stderr.splitlines() if x.startswith("MODULES "))
    return proc, set(json.loads(line.removeprefix("MODULES ")))


def mariadb_connect(url: str) -> Any:
    """A PyMySQL session (autocommit, utf8mb4) on a ``mysql://`` URL: the tests' own reads."""
    import pymysql

    from bulksync.connectors.mysql_url import parse_mysql_url

    u = parse_mysql_url(url)
    return pymysql.connect(
        host=u.host, port=u.port, user=u.user, password=u.password, database=u.database,
        autocommit=True, charset="utf8mb4",
    )  # fmt: skip
