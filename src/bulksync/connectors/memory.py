"""An in-memory connector (``memory://NAME``): real transactions over Arrow tables, for tests and demos.

Stores are process-global by name, so a source and a destination opened separately (one per
thread, as the engine does) see the same data. A transaction works on a private copy of the
store and publishes it on commit; savepoints are copies too. Not for big data: upserts and
key comparisons run in Python.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from bulksync.connectors.base import (
    Capabilities,
    ChunkQuery,
    Merged,
    PartitionState,
    Reject,
    TableStats,
)
from bulksync.connectors.conform import conform
from bulksync.errors import BadRowsError, UnknownTableError, unknown_table
from bulksync.schema import TableSchema
from bulksync.spec import Filter

if TYPE_CHECKING:
    from bulksync.connectors.ddl import Reattached


@dataclass
class _Store:
    tables: dict[str, tuple[TableSchema, pa.Table]] = field(default_factory=dict)
    states: dict[tuple[str, int], PartitionState] = field(default_factory=dict)
    rejects: list[tuple[str, str, Reject]] = field(default_factory=list)
    # a stand-in for a CHECK constraint: table → (column, value that is refused)
    refuse: dict[str, tuple[str, Any]] = field(default_factory=dict)
    # one transaction at a time per store (like SQLite's write lock): no commit undoes another
    writer: threading.Lock = field(default_factory=threading.Lock)


_STORES: dict[str, _Store] = {}
_LOCK = threading.RLock()


def _compare(values: tuple[Any, ...], op: str, bound: tuple[Any, ...]) -> bool:
    return values > bound if op == ">" else values <= bound


class MemoryConnector:
    """Tables held as Arrow tables in this process."""

    dialect: ClassVar[str] = "memory"
    capabilities = Capabilities(enforces_lengths=False)  # a fake: any text fits

    def __init__(self, url: str, *, create: bool = False, statement_timeout_s: float = 0) -> None:
        self.name = url.removeprefix("memory://") or "default"
        self.safe_url = url
        with _LOCK:
            self._store = _STORES.setdefault(self.name, _Store())
        self._tx: _Store | None = None
        self._savepoints: dict[str, _Store] = {}

    def same_database(self, other: object) -> bool:
        return isinstance(other, MemoryConnector) and other._store is self._store

    @staticmethod
    def drop_store(name: str) -> None:
        with _LOCK:
            _STORES.pop(name, None)

    def refuse_rows(self, table: str, column: str, value: Any) -> None:
        """Make ``table`` refuse rows whose ``column`` equals ``value`` (like a CHECK)."""
        with _LOCK:
            self._store.refuse[table] = (column, value)

    @property
    def _view(self) -> _Store:
        return self._tx if self._tx is not None else self._store

    # -- catalog and DDL ------------------------------------------------------------------------

    def list_tables(self) -> list[str]:
        return sorted(self._view.tables)

    def find(self, table: str) -> TableSchema | None:
        entry = self._view.tables.get(table)
        return entry[0] if entry else None

    def describe(self, table: str) -> TableSchema:
        found = self.find(table)
        if found is None:
            raise unknown_table(table, self.safe_url, self.list_tables())
        return found

    def create_table(self, schema: TableSchema, *, with_indexes: bool) -> None:
        with _LOCK:
            self._store.tables[schema.name] = (schema, schema.arrow_schema().empty_table())

    def create_indexes(self, schema: TableSchema) -> None:
        """Indexes mean nothing in memory; the schema already lists them."""

    def drop_table(self, table: str) -> None:
        with _LOCK:
            self._store.tables.pop(table, None)

    def swap_table(self, staging: str, final: TableSchema, sync_id: str) -> list[Reattached]:
        with self.transaction():
            assert self._tx is not None
            if staging not in self._tx.tables:
                raise UnknownTableError(f"cannot swap in {staging!r}: it does not exist")
            _schema, data = self._tx.tables.pop(staging)
            self._tx.tables[final.name] = (final, data)
            for k in [k for k in self._tx.states if k[0] == sync_id]:
                del self._tx.states[k]
        return []  # memory tables have no foreign keys

    # -- reads ----------------------------------------------------------------------------------

    def _rows(self, table: TableSchema, filters: Sequence[Filter]) -> pa.Table:
        data = self._view.tables[table.name][1]
        for f in filters:
            col = data.column(f.column)
            value = pa.scalar(f.value).cast(col.type) if isinstance(f.value, str) else f.value
            op = {"eq": pc.equal, "ge": pc.greater_equal, "lt": pc.less}[f.op]
            data = data.filter(op(col, value))
        return data

    def stats(self, table: TableSchema, key: str | None, filters: Sequence[Filter]) -> TableStats:
        data = self._rows(self.describe(table.name), filters)
        if data.num_rows == 0 or key is None:
            return TableStats(data.num_rows)
        bounds = pc.min_max(data.column(key)).as_py()
        return TableStats(data.num_rows, bounds["min"], bounds["max"])

    def read_stream(self, query: ChunkQuery) -> Generator[pa.RecordBatch, None, None]:
        data = self._rows(self.describe(query.table.name), query.filters)
        for batch in data.to_batches(max_chunksize=query.limit):
            yield conform(batch, query.table.arrow_schema())

    def read_chunk(self, query: ChunkQuery) -> pa.RecordBatch:
        data = self._rows(self.describe(query.table.name), query.filters)
        keys = list(zip(*(data.column(c).to_pylist() for c in query.order), strict=True))
        keep = [
            i
            for i, k in enumerate(keys)
            if (query.after is None or _compare(k, ">", query.after))
            and (query.upto is None or _compare(k, "<=", query.upto))
        ]
        keep.sort(key=lambda i: keys[i])
        picked = data.take(pa.array(keep[: query.limit], pa.int64()))
        return conform(picked, query.table.arrow_schema())

    # -- transactions ---------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[MemoryConnector]:
        with self._store.writer:
            with _LOCK:
                self._tx = _Store(
                    dict(self._store.tables), dict(self._store.states), list(self._store.rejects)
                )
            try:
                yield self
            except BaseException:
                self._tx = None
                raise
            with _LOCK:
                self._store.tables, self._store.states = self._tx.tables, self._tx.states
                self._store.rejects = self._tx.rejects
            self._tx = None

    def write(
        self,
        table: str,
        batch: pa.RecordBatch,
        *,
        upsert_key: Sequence[str] = (),
        statement_rows: int | None = None,  # one store: nothing to split
    ) -> Merged:
        assert self._tx is not None, "write outside a transaction"
        schema, data = self._tx.tables[table]
        incoming = pa.Table.from_batches([conform(batch, schema.arrow_schema())])
        rule = self._store.refuse.get(table)
        if rule and rule[1] in incoming.column(rule[0]).to_pylist():
            raise BadRowsError(f"write to {table!r}: row violates check ({rule[0]} <> {rule[1]!r})")
        key = list(upsert_key or schema.primary_key)
        updated = 0
        if key:
            old = {tuple(r[k] for k in key): r for r in data.to_pylist()}
            new = [(tuple(r[k] for k in key), r) for r in incoming.to_pylist()]
            clash = [k for k, _ in new if k in old]
            if clash and not upsert_key:
                raise BadRowsError(f"write to {table!r}: duplicate key {clash[0]}")
            if clash:
                updated = sum(1 for k, r in new if k in old and old[k] != r)
                drop = set(clash)
                rows = data.select(key).to_pylist()
                mask = pa.array([tuple(r[k] for k in key) not in drop for r in rows], pa.bool_())
                data = data.filter(mask)
            inserted = sum(1 for k, _ in new if k not in old)
        else:
            inserted = incoming.num_rows
        self._tx.tables[table] = (schema, pa.concat_tables([data, incoming]))
        return Merged(inserted, updated)

    def savepoint(self, name: str) -> None:
        assert self._tx is not None
        self._savepoints[name] = _Store(dict(self._tx.tables), dict(self._tx.states), list(self._tx.rejects))

    def rollback_to(self, name: str) -> None:
        saved = self._savepoints[name]
        assert self._tx is not None
        self._tx.tables, self._tx.states = dict(saved.tables), dict(saved.states)
        self._tx.rejects = list(saved.rejects)

    def release(self, name: str) -> None:
        self._savepoints.pop(name, None)

    def save_state(self, state: PartitionState) -> None:
        assert self._tx is not None
        self._tx.states[(state.sync_id, state.partition)] = copy.copy(state)

    def save_rejects(self, sync_id: str, table: str, rejects: Sequence[Reject]) -> None:
        assert self._tx is not None
        self._tx.rejects.extend((sync_id, table, r) for r in rejects)

    # -- checkpoints ----------------------------------------------------------------------------

    def load_states(self, sync_id: str) -> list[PartitionState]:
        with _LOCK:
            found = [copy.copy(s) for (sid, _), s in self._store.states.items() if sid == sync_id]
        return sorted(found, key=lambda s: s.partition)

    def swap_landed(self, staging: str, final: TableSchema, sync_id: str) -> bool:
        return False  # a swap here is one step in this process: it never leaves a retry

    def stored_state(self, sync_id: str, partition: int) -> PartitionState | None:
        with _LOCK:
            found = self._store.states.get((sync_id, partition))
            return copy.copy(found) if found is not None else None

    def reset_states(self, sync_id: str, states: Sequence[PartitionState]) -> None:
        with self.transaction():
            assert self._tx is not None
            for k in [k for k in self._tx.states if k[0] == sync_id]:
                del self._tx.states[k]
            for s in states:
                self.save_state(s)

    def tidy(self) -> None:
        """Nothing to drop: checkpoints are kept per store, out of the tables' way."""

    def rejected(self) -> list[tuple[str, str, Reject]]:
        return list(self._store.rejects)

    def close(self) -> None:
        self._tx = None
