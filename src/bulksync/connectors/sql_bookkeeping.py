"""bulksync's bookkeeping in a SQL destination: each partition's checkpoint, and rejected rows.

Mixed into every SQL connector (PostgreSQL keeps both tables in the ``bulksync`` schema, SQLite
and MariaDB as ``_bulksync_state`` / ``_bulksync_rejects``). A checkpoint is written in the same
transaction as the batch it describes, after ``check_fence`` locked the stored one and found it
still where this writer left it: a writer that lost its partition to another has its batch
refused, never doubled.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from bulksync.connectors.base import PartitionState, Reject
from bulksync.engine.checkpoint import decode_key, encode_key
from bulksync.errors import FencedOut, SyncError
from bulksync.schema import TableSchema

REJECT_STATEMENT_BYTES = 4 << 20


class Bookkeeping:
    """The checkpoint and reject tables' statements; dialects override the SQL that differs."""

    state_table: ClassVar[str]
    reject_table: ClassVar[str]
    begin_sql: ClassVar[str] = "BEGIN"
    max_params: ClassVar[int] = 999  # bound parameters one statement may carry (SQLite's old floor)

    if TYPE_CHECKING:  # the connector this is mixed into runs the statements

        def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...

        def _execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

        def placeholder(self, n: int) -> str: ...

        def _table_names(self) -> list[str]: ...

    def ensure_internal_tables(self) -> None:
        self._execute(
            f"CREATE TABLE IF NOT EXISTS {self.state_table} (sync_id VARCHAR(64) NOT NULL, "
            "tbl TEXT NOT NULL, part INTEGER NOT NULL, lower_key TEXT, upper_key TEXT, "
            "last_key TEXT, rows_done BIGINT NOT NULL, done INTEGER NOT NULL, "
            "created_table INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (sync_id, part))"
        )
        self._execute(
            f"CREATE TABLE IF NOT EXISTS {self.reject_table} (sync_id VARCHAR(64) NOT NULL, "
            "tbl TEXT NOT NULL, row_key TEXT NOT NULL, row_data TEXT NOT NULL, "
            "reason TEXT NOT NULL, rejected_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"
        )
        try:  # checkpoint tables written before created_table existed
            self._execute(
                f"ALTER TABLE {self.state_table} ADD COLUMN created_table INTEGER NOT NULL DEFAULT 0"
            )
        except SyncError:
            pass  # the column is there already

    def load_states(self, sync_id: str) -> list[PartitionState]:
        self.ensure_internal_tables()
        return self._select_states(sync_id)

    def stored_state(self, sync_id: str, partition: int) -> PartitionState | None:
        """One partition's checkpoint as committed now (no DDL: other partitions may be
        mid-transaction on the checkpoint table)."""
        found = self._select_states(sync_id, partition)
        return found[0] if found else None

    def swap_landed(self, staging: str, final: TableSchema, sync_id: str) -> bool:
        """On a retry of ``swap_table``: True when the swap already happened and its answer was
        lost. It renamed the staging table away and deleted ``sync_id``'s checkpoints, which
        every table has from its plan until then."""
        names = self._table_names()
        return staging not in names and final.name in names and not self._select_states(sync_id)

    def _select_states(self, sync_id: str, partition: int | None = None) -> list[PartitionState]:
        one = f" AND part = {self.placeholder(2)}" if partition is not None else ""
        rows = self._rows(
            "SELECT sync_id, tbl, part, lower_key, upper_key, last_key, rows_done, done, created_table "
            f"FROM {self.state_table} WHERE sync_id = {self.placeholder(1)}{one} ORDER BY part",
            [sync_id] if partition is None else [sync_id, partition],
        )
        return [
            PartitionState(
                r["sync_id"],
                r["tbl"],
                int(r["part"]),
                decode_key(r["lower_key"]),
                decode_key(r["upper_key"]),
                decode_key(r["last_key"]),
                int(r["rows_done"]),
                bool(r["done"]),
                bool(r["created_table"]),
                prior=decode_key(r["last_key"]),
            )
            for r in rows
        ]

    for_update: ClassVar[str] = " FOR UPDATE"  # the checkpoint row locked until the batch commits

    def check_fence(self, s: PartitionState) -> None:
        """Refuse the batch unless the stored checkpoint is still the one this writer last saw."""
        rows = self._rows(
            f"SELECT last_key FROM {self.state_table} WHERE sync_id = {self.placeholder(1)} "
            f"AND part = {self.placeholder(2)}{self.for_update}",
            [s.sync_id, s.partition],
        )
        stored = decode_key(rows[0]["last_key"]) if rows else None
        if encode_key(stored) != encode_key(s.prior):
            raise FencedOut(
                f"table {s.table!r}, partition {s.partition}: another writer moved its checkpoint "
                f"(to {encode_key(stored)}, this one expected {encode_key(s.prior)}) - this writer lost "
                "the partition (its lease expired); its batch is refused, none of it was written"
            )

    def reset_states(self, sync_id: str, states: Sequence[PartitionState]) -> None:
        self.ensure_internal_tables()
        self._execute(self.begin_sql)
        try:
            self._execute(f"DELETE FROM {self.state_table} WHERE sync_id = {self.placeholder(1)}", [sync_id])
            for state in states:
                self.upsert_state(state)
            self._execute("COMMIT")
        except BaseException:
            self._execute("ROLLBACK")
            raise

    def upsert_state(self, s: PartitionState) -> None:
        marks = ", ".join(self.placeholder(i) for i in range(1, 10))
        self._execute(
            f"INSERT INTO {self.state_table} (sync_id, tbl, part, lower_key, upper_key, last_key, "
            f"rows_done, done, created_table) VALUES ({marks}) ON CONFLICT (sync_id, part) DO UPDATE SET "
            "last_key = excluded.last_key, rows_done = excluded.rows_done, done = excluded.done",
            [
                s.sync_id,
                s.table,
                s.partition,
                encode_key(s.lower),
                encode_key(s.upper),
                encode_key(s.last),
                s.rows,
                int(s.done),
                int(s.created_table),
            ],
        )

    def insert_rejects(self, sync_id: str, table: str, rejects: Sequence[Reject]) -> None:
        """Record ``rejects``, many rows per INSERT (a --restart over rows already there rejects
        every row of a batch): as many as the dialect's parameters allow, and about
        ``REJECT_STATEMENT_BYTES`` of row data at most (MariaDB's packet limit)."""
        per = max(1, self.max_params // 5)
        params: list[Any] = []
        size = 0
        for r in rejects:
            row = json.dumps(r.row, default=str)
            params += [sync_id, table, encode_key(r.key) or "", row, r.reason]
            size += len(row) + len(r.reason)
            if len(params) >= 5 * per or size >= REJECT_STATEMENT_BYTES:
                self._insert_reject_rows(params)
                params, size = [], 0
        if params:
            self._insert_reject_rows(params)

    def _insert_reject_rows(self, params: list[Any]) -> None:
        n = iter(range(1, len(params) + 1))
        rows = ", ".join(
            "(" + ", ".join(self.placeholder(next(n)) for _ in range(5)) + ")"
            for _ in range(len(params) // 5)
        )
        self._execute(
            f"INSERT INTO {self.reject_table} (sync_id, tbl, row_key, row_data, reason) VALUES {rows}", params
        )
