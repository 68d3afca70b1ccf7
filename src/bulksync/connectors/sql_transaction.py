"""The Transaction protocol over one SQL connector's open transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from bulksync.connectors.base import Merged, PartitionState, Reject
from bulksync.connectors.sql_keys import existing_keys

if TYPE_CHECKING:
    from bulksync.connectors.sql import SqlConnector


class SqlTransaction:
    """The Transaction protocol over one SQL connector's open transaction."""

    def __init__(self, connector: SqlConnector) -> None:
        self._c = connector

    def write(
        self,
        table: str,
        batch: pa.RecordBatch,
        *,
        upsert_key: Sequence[str] = (),
        statement_rows: int | None = None,
    ) -> Merged:
        return self._c.write_batch(table, batch, upsert_key, statement_rows)

    def savepoint(self, name: str) -> None:
        self._c._execute(f"SAVEPOINT {name}")

    def rollback_to(self, name: str) -> None:
        self._c._execute(f"ROLLBACK TO SAVEPOINT {name}")

    def release(self, name: str) -> None:
        self._c._execute(f"RELEASE SAVEPOINT {name}")

    def save_state(self, state: PartitionState) -> None:
        if state.fenced:
            self._c.check_fence(state)
        self._c.upsert_state(state)

    def existing_keys(self, table: str, key: Sequence[str], batch: pa.RecordBatch) -> list[bool]:
        return existing_keys(self._c, table, key, batch)

    def save_rejects(self, sync_id: str, table: str, rejects: Sequence[Reject]) -> None:
        self._c.insert_rejects(sync_id, table, rejects)
