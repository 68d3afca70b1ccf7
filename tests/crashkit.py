"""Crash-test kit: a seeded source table, the copy CLI run as a killable child, and a row oracle.

The oracle reads both sides with drivers independent of bulksync (stdlib ``sqlite3``, psycopg),
hashes a canonical encoding of every row in Python and reports lost, unexpected, duplicated and
mismatched keys, so an engine-side type mistake cannot hide itself.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pymysql
import pymysql.converters
import pymysql.cursors
from pymysql.constants import FIELD_TYPE

from bulksync.connectors.mysql_url import parse_mysql_url
from bulksync.connectors.registry import open_connector
from bulksync.schema import Column, Index, TableSchema

TABLE = "t"
BASE = dt.datetime(2026, 3, 29, 0, 30)  # a DST-edge night in Europe; stored naive
NOTES = ["plain", "ünïcödé", "emoji 🎲🏇", "", "quote ' and \" and ;", "x" * 200]

COLUMNS = (
    Column("id", pa.int64(), nullable=False),
    Column("amount", pa.decimal128(12, 2)),
    Column("odds", pa.float64()),
    Column("won", pa.bool_()),
    Column("placed_at", pa.timestamp("us")),
    Column("note", pa.string()),
    Column("updated_at", pa.timestamp("us"), nullable=False),
)
# the index keeps incremental reads (ORDER BY updated_at, id) from sorting the table per chunk
SCHEMA = TableSchema(TABLE, COLUMNS, ("id",), (Index("t_updated_at_idx", ("updated_at", "id")),))
NAMES = [c.name for c in COLUMNS]

# The PostgreSQL twin of SCHEMA, for destinations the tests create themselves.
PG_COLUMNS = (
    "id BIGINT NOT NULL, amount NUMERIC(12,2), odds DOUBLE PRECISION, won BOOLEAN, "
    "placed_at TIMESTAMP, note TEXT, updated_at TIMESTAMP NOT NULL"
)


def make_batch(start: int, rows: int, *, seed: int, bad_ids: Iterable[int] = ()) -> pa.RecordBatch:
    """Rows ``start .. start+rows-1``: vectorised, deterministic per (seed, start)."""
    rng = np.random.default_rng([seed, start])
    ids = np.arange(start, start + rows, dtype=np.int64)
    cents = rng.integers(0, 10_000_000, rows)
    bad = np.isin(ids, np.fromiter(bad_ids, dtype=np.int64))
    cents = np.where(bad, -cents - 1, cents)
    micros = rng.integers(0, 90 * 86_400 * 10**6, rows)
    micros = np.where(rng.random(rows) < 0.5, micros - micros % 10**6, micros)  # half whole seconds
    # few distinct values: hundreds of rows share each updated_at (cursor ties)
    ticks = rng.integers(0, 2_000, rows) * 10**6
    base = np.datetime64(BASE, "us")
    null = rng.random(rows) < 0.05
    arrays = [
        pa.array(ids),
        pc.round(pa.array(cents / 100), 2).cast(pa.decimal128(12, 2)),
        pa.array(np.round(rng.random(rows) * 20 + 1, 3), mask=null),
        pa.array(rng.random(rows) < 0.4, mask=rng.random(rows) < 0.05),
        pa.array(base + micros.astype("timedelta64[us]"), pa.timestamp("us"), mask=null),
        pa.array([NOTES[i] for i in rng.integers(0, len(NOTES), rows)], mask=rng.random(rows) < 0.1),
        pa.array(base + ticks.astype("timedelta64[us]"), pa.timestamp("us")),
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=SCHEMA.arrow_schema())


def build_source(url: str, rows: int, *, seed: int, bad_ids: Iterable[int] = (), step: int = 50_000) -> None:
    """Create table ``t`` with ``rows`` rows through bulksync's own connector (fast, Arrow)."""
    bad = sorted(bad_ids)
    conn = open_connector(url, create=True)
    try:
        conn.create_table(SCHEMA, with_indexes=False)
        for start in range(1, rows + 1, step):
            with conn.transaction() as tx:
                tx.write(TABLE, make_batch(start, min(step, rows + 1 - start), seed=seed, bad_ids=bad))
        conn.create_indexes(SCHEMA)
    finally:
        conn.close()


# -- the oracle -----------------------------------------------------------------------------------

_NULL = "\x00"


def _dec(v: Any) -> str:
    """A NUMERIC value, normalised but never rounded: a SQLite REAL must be the nearest double."""
    number = v if isinstance(v, decimal.Decimal) else decimal.Decimal(repr(v))
    return str(number.normalize())


def _ts(v: Any) -> str:
    if isinstance(v, str):
        if len(v) == 19 and v[10] == " ":
            return v + ".000000"  # SQLite text without fraction: the same instant
        if len(v) == 26 and v[10] == " ":
            return v
        v = dt.datetime.fromisoformat(v)
    return str(v.isoformat(sep=" ", timespec="microseconds"))


# one canonical text per column, whatever Python type the driver hands back
_CANON: list[Callable[[Any], str]] = [
    str,
    _dec,
    lambda v: repr(float(v)),
    lambda v: "1" if v else "0",
    _ts,
    str,
    _ts,
]


def row_hash(row: Sequence[Any]) -> bytes:
    text = "\x1f".join(_NULL if v is None else f(v) for f, v in zip(_CANON, row, strict=True))
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


Digests = list[tuple[int, bytes]]


def sqlite_digests(path: Path, table: str = TABLE) -> Digests:
    """(id, row hash) of every row, in key order; stdlib sqlite3, read-only."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cur = conn.execute(f"SELECT {', '.join(NAMES)} FROM {table} ORDER BY id")
        return [(row[0], row_hash(row)) for row in _fetch(cur)]
    finally:
        conn.close()


def pg_digests(url: str, table: str = TABLE) -> Digests:
    with psycopg.connect(url) as conn, conn.cursor(name="oracle") as cur:
        cur.itersize = 10_000
        cur.execute(f"SELECT {', '.join(NAMES)} FROM {table} ORDER BY id")
        return [(row[0], row_hash(row)) for row in cur]


def _fetch(cur: Any) -> Iterator[tuple[Any, ...]]:
    while rows := cur.fetchmany(10_000):
        yield from rows


@dataclass
class Verdict:
    """What the oracle found; ``ok`` when both sides hold exactly the same rows."""

    source_rows: int
    target_rows: int
    lost: list[int] = field(default_factory=list)
    unexpected: list[int] = field(default_factory=list)
    duplicated: list[int] = field(default_factory=list)
    mismatched: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.unexpected or self.duplicated or self.mismatched)

    def __str__(self) -> str:
        def some(keys: list[int]) -> str:
            return f"{len(keys)}" + (f" (e.g. {keys[:5]})" if keys else "")

        return (
            f"rows lost: {some(self.lost)} of {self.source_rows}; duplicated: {some(self.duplicated)}; "
            f"unexpected: {some(self.unexpected)}; mismatched: {some(self.mismatched)}; "
            f"target rows: {self.target_rows}"
        )


def compare(source: Digests, target: Digests) -> Verdict:
    want = dict(source)
    counts = Counter(k for k, _ in target)
    got = dict(target)
    return Verdict(
        source_rows=len(source),
        target_rows=len(target),
        lost=sorted(k for k in want if k not in counts),
        unexpected=sorted(k for k in counts if k not in want),
        duplicated=sorted(k for k, n in counts.items() if n > 1),
        mismatched=sorted(k for k, h in want.items() if k in got and got[k] != h),
    )


# -- looking at the destination from outside ------------------------------------------------------


class PgProbe:
    """Reads a PostgreSQL destination while a child process writes it (autocommit, no locks kept)."""

    state_table = "bulksync.sync_state"  # bulksync's bookkeeping has a schema of its own here
    reject_table = "bulksync.rejects"

    def __init__(self, url: str) -> None:
        self._conn = psycopg.connect(url, autocommit=True)

    def row(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row, or None when the table does not exist yet."""
        try:
            return self._conn.execute(sql, params).fetchone()
        except psycopg.errors.UndefinedTable:
            return None

    def count(self, table: str = TABLE) -> int:
        found = self.row(f"SELECT count(*) FROM {table}")
        return int(found[0]) if found else 0

    def settle(self, timeout_s: float = 30.0) -> None:
        """Wait until the killed client's server sessions are gone.

        A client killed right after sending COMMIT still gets its transaction committed; only
        once its backends have exited is the committed state final.
        """
        others = (
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        deadline = time.monotonic() + timeout_s
        while (found := self.row(others)) and found[0]:
            assert time.monotonic() < deadline, f"{found[0]} sessions of the killed copy still open"
            time.sleep(0.01)

    def close(self) -> None:
        self._conn.close()


class SqliteProbe:
    """The same over a SQLite file (stdlib sqlite3, read-only, a new connection per look)."""

    state_table = "_bulksync_state"
    reject_table = "_bulksync_rejects"

    def __init__(self, path: Path) -> None:
        self.path = path

    def row(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        if not self.path.exists():
            return None
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(sql.replace("%s", "?"), params).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise
        finally:
            conn.close()

    def count(self, table: str = TABLE) -> int:
        found = self.row(f"SELECT count(*) FROM {table}")
        return int(found[0]) if found else 0

    def settle(self) -> None:
        """Nothing to wait for: SQLite commits inside the killed process or not at all."""

    def close(self) -> None:
        pass


# -- the copy as a killable child process -----------------------------------------------------------


def copy_command(source: str, dest: str, mode: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "bulksync", "copy", source, dest, "--table", TABLE, "--mode", mode,
        "--batch-mb", "0.5", "--partitions", "2", *extra,
    ]  # fmt: skip


@dataclass
class Kill:
    """One SIGKILL: the committed row count that triggered it and the count once it was dead."""

    threshold: int
    seen: int
    after: int
    seconds: float


def run_and_kill(
    cmd: list[str],
    *,
    count: Callable[[], int],
    settle: Callable[[], None],
    threshold: int,
    delay_s: float,
    timeout_s: float = 90.0,
) -> Kill:
    """Start ``cmd``; once ``count()`` reaches ``threshold`` wait ``delay_s`` and SIGKILL it.

    Fails if the child exits on its own first: every kill must land mid-copy.
    """
    started = time.monotonic()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env())
    try:
        seen = 0
        while (seen := count()) < threshold:
            if child.poll() is not None:
                raise AssertionError(
                    f"the copy exited ({child.returncode}) before the kill at {threshold} rows "
                    f"(committed {seen}): {child.stderr.read().decode()[-2000:] if child.stderr else ''}"
                )
            if time.monotonic() - started > timeout_s:
                raise AssertionError(f"the copy reached only {seen} rows in {timeout_s} s")
            time.sleep(0.005)
        time.sleep(delay_s)
        alive = child.poll() is None
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        assert alive and child.returncode == -signal.SIGKILL, (
            f"the copy had already exited ({child.returncode}) when it was to be killed"
        )
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stderr:
            child.stderr.close()
    settle()
    return Kill(threshold, seen, count(), time.monotonic() - started)


def run_to_end(cmd: list[str], timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=_env(), check=False)
    assert done.returncode == 0, f"the final copy failed ({done.returncode}): {done.stderr[-3000:]}"
    return done


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BULKSYNC_")}
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    return env


class MariadbProbe:
    """Reads a MariaDB destination while a child process writes it (autocommit, PyMySQL)."""

    state_table = "_bulksync_state"
    reject_table = "_bulksync_rejects"

    def __init__(self, url: str) -> None:
        u = parse_mysql_url(url)
        self._connect = partial(
            pymysql.connect, host=u.host, port=u.port, user=u.user, password=u.password,
            database=u.database, autocommit=True, charset="utf8mb4",
        )  # fmt: skip
        self._conn = self._connect()

    def row(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row, or None when the table does not exist yet."""
        try:
            with self._conn.cursor() as cur:
                cur.execute(sql, tuple(params) or None)
                return cur.fetchone()  # type: ignore[no-any-return]
        except pymysql.ProgrammingError as exc:
            if exc.args[0] == 1146:
                return None
            raise

    def count(self, table: str = TABLE) -> int:
        found = self.row(f"SELECT count(*) FROM {table}")
        return int(found[0]) if found else 0

    def settle(self, timeout_s: float = 30.0) -> None:
        """Wait until the killed client's sessions are gone (the server has rolled them back)."""
        others = (
            "SELECT count(*) FROM information_schema.processlist "
            "WHERE db = DATABASE() AND id <> CONNECTION_ID()"
        )
        deadline = time.monotonic() + timeout_s
        while (found := self.row(others)) and found[0]:
            assert time.monotonic() < deadline, f"{found[0]} sessions of the killed copy still open"
            time.sleep(0.01)

    def digests(self) -> Digests:
        """(id, row hash) of every row in key order, streamed with an unbuffered cursor."""
        # DATETIME(6) kept as the server's text (what ``_ts`` makes of a datetime anyway):
        # PyMySQL's parse and our isoformat were a third of the oracle's time
        conv = dict(pymysql.converters.conversions)
        for kind in (FIELD_TYPE.DATETIME, FIELD_TYPE.TIMESTAMP):
            conv.pop(kind)
        conn = self._connect(conv=conv)
        try:
            with conn.cursor(pymysql.cursors.SSCursor) as cur:
                cur.execute(f"SELECT {', '.join(NAMES)} FROM {TABLE} ORDER BY id")
                return [(row[0], row_hash(row)) for row in cur]
        finally:
            conn.close()

    def close(self) -> None:
        self._conn.close()
