"""PostgreSQL keeps bulksync's bookkeeping in a schema of its own, ``bulksync``.

Checkpoints (``bulksync.sync_state``) and rejected rows (``bulksync.rejects``) then never sit
among the user's tables (``\\dt`` of a migrated database shows the migrated tables only), and a
migration into another schema (``--schema``) shares them. Tables an older bulksync made in the
search path (``_bulksync_state``, ``_bulksync_rejects``) are moved in the first time, so an
interrupted sync still resumes from its checkpoints.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bulksync.connectors.base import Reject
from bulksync.engine.checkpoint import encode_key
from bulksync.naming import fitted_name

if TYPE_CHECKING:
    from bulksync.connectors.postgres import PostgresConnector

SCHEMA = "bulksync"
STATE_TABLE = f"{SCHEMA}.sync_state"
REJECT_TABLE = f"{SCHEMA}.rejects"
# the advisory lock (one bigint: apart from the two-int keys of ``same_database``) held while
# the bookkeeping schema and tables are created
DDL_LOCK = 0x62756C6B73796E63  # "bulksync"
_LEGACY = (("_bulksync_state", STATE_TABLE), ("_bulksync_rejects", REJECT_TABLE))


def stage_name(table: str) -> str:
    """The session's temporary staging table for upserts into ``table`` (one per table, however
    long its name)."""
    return fitted_name("_bs_stage_" + table)


def ensure_tables(conn: PostgresConnector) -> None:
    """Create the schema (the tables are the dialect-neutral ones), adopt legacy tables."""
    conn._execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")


def adopt_legacy_tables(conn: PostgresConnector) -> None:
    """Move the rows of pre-schema bookkeeping tables into ``bulksync`` and drop them."""
    for old, new in _LEGACY:
        found = conn._rows("SELECT to_regclass(%s) IS NOT NULL AS found", [old])
        if not found[0]["found"]:
            continue
        conn._execute("BEGIN")
        try:
            if new == STATE_TABLE:
                conn._execute(
                    f"ALTER TABLE {old} ADD COLUMN IF NOT EXISTS created_table INTEGER NOT NULL DEFAULT 0"
                )
                conn._execute(
                    f"INSERT INTO {new} (sync_id, tbl, part, lower_key, upper_key, last_key, rows_done, "
                    "done, created_table) SELECT sync_id, tbl, part, lower_key, upper_key, last_key, "
                    f"rows_done, done, created_table FROM {old} ON CONFLICT DO NOTHING"
                )
            else:
                conn._execute(
                    f"INSERT INTO {new} (sync_id, tbl, row_key, row_data, reason, rejected_at) "
                    f"SELECT sync_id, tbl, row_key, row_data, reason, rejected_at FROM {old}"
                )
            conn._execute(f"DROP TABLE {old}")
            conn._execute("COMMIT")
        except BaseException:
            conn._execute("ROLLBACK")
            raise


def copy_rejects(conn: PostgresConnector, sync_id: str, table: str, rejects: Sequence[Reject]) -> None:
    """Record ``rejects`` with one COPY in the open transaction (a ``--restart`` over rows that are
    there already rejects every row of a batch: one INSERT each cost more than the copy)."""
    cols = "sync_id, tbl, row_key, row_data, reason"
    with conn._session().cursor().copy(f"COPY {REJECT_TABLE} ({cols}) FROM STDIN") as copy:
        for r in rejects:
            row = json.dumps(r.row, default=str)
            copy.write_row((sync_id, table, encode_key(r.key) or "", row, r.reason))


def lock_key(name: str) -> int:
    """The advisory lock key (one signed bigint) of ``name``."""
    return int.from_bytes(hashlib.sha256(f"bulksync:{name}".encode()).digest()[:8], "big", signed=True)


def try_lock(conn: PostgresConnector, name: str, *, shared: bool) -> str | None:
    """Take the session's advisory lock ``name`` (shared: with other shared holders) until the
    session ends; None when taken, else who holds it ('PostgreSQL backend 1234 since …')."""
    key = lock_key(name)
    fn = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
    if conn._rows(f"SELECT {fn}(%s) AS ok", [key])[0]["ok"]:
        return None
    holders = conn._rows(
        "SELECT l.pid, a.backend_start, host(a.client_addr) AS addr FROM pg_locks l "
        "LEFT JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
        "AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = %s "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.pid <> pg_backend_pid() ORDER BY a.backend_start LIMIT 1",
        [key],
    )
    if not holders:
        return "another session"  # it let go between the two queries: the caller may try again
    h = holders[0]
    since = f" since {h['backend_start']:%Y-%m-%d %H:%M:%S %Z}" if h["backend_start"] else ""
    source = f" from {h['addr']}" if h["addr"] else ""
    return f"PostgreSQL backend {h['pid']}{since}{source}"
