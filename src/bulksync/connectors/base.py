"""What every connector implements: a Source that reads chunks, a Destination that writes batches.

A connector is opened once per thread (``registry.open_connector``); the engine never shares one
connection between threads. Capabilities tell the engine what the destination can do.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

import pyarrow as pa

from bulksync.schema import TableSchema
from bulksync.spec import Filter

if TYPE_CHECKING:
    from bulksync.connectors.ddl import Reattached

Key = tuple[Any, ...]


@dataclass(frozen=True)
class Capabilities:
    """What the engine may ask of a connector."""

    transactional: bool = True
    savepoints: bool = True
    parallel_writes: bool = True  # False: one writer at a time (SQLite)
    # VARCHAR(n) refuses (or cuts) longer text; SQLite stores 500 characters in a VARCHAR(10)
    enforces_lengths: bool = True


@dataclass(frozen=True)
class TableStats:
    """Rows matching the filters and the span of the first key column (for partitioning).

    ``exact`` is False when ``rows`` is the catalog's estimate (a big unfiltered table whose
    count would cost a full scan before the first row moves): good for partitions and the ETA.
    """

    rows: int
    min_key: Any = None
    max_key: Any = None
    exact: bool = True


@dataclass(frozen=True)
class ChunkQuery:
    """One keyset page: rows with ``order`` strictly after ``after`` and at most ``upto``."""

    table: TableSchema
    order: tuple[str, ...]
    limit: int
    after: Key | None = None
    upto: Key | None = None
    filters: tuple[Filter, ...] = ()
    fetch_rows: int | None = None  # a streaming source fetches this many rows at a time


@dataclass
class PartitionState:
    """The checkpoint of one partition, committed with each batch it describes."""

    sync_id: str
    table: str
    partition: int
    lower: Key | None
    upper: Key | None
    last: Key | None = None
    rows: int = 0
    done: bool = False
    created_table: bool = False  # this sync created the table: build its indexes at the end
    # The fence: the checkpoint this writer last saw committed (read from the destination, then
    # moved by its own commits). A batch commits only while the stored checkpoint still equals
    # it, so a writer that lost its partition (a worker frozen past its lease) cannot commit.
    # The writer's own bookkeeping, not the checkpoint: two states are equal without them.
    prior: Key | None = field(default=None, compare=False)
    fenced: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class Merged:
    """What a write did to the rows it was given: inserted, updated, and (the rest) unchanged.

    A plain insert inserts every row; an upsert tells the three apart, so a re-run that finds
    nothing new says so (``0 inserted, 0 updated, 300,000 unchanged``) instead of "written".
    """

    inserted: int = 0
    updated: int = 0

    @classmethod
    def all_new(cls, rows: int) -> Merged:
        return cls(rows, 0)

    def __add__(self, other: Merged) -> Merged:
        return Merged(self.inserted + other.inserted, self.updated + other.updated)


class Pulled(NamedTuple):
    """One chunk a destination pulled from its source: rows, last key, what the write did."""

    rows: int
    last: Key | None
    merged: Merged


@dataclass(frozen=True)
class Reject:
    """A row the destination refused, with the reason it gave."""

    key: Key
    row: dict[str, Any]
    reason: str


class Transaction(Protocol):
    """One destination transaction: batches, savepoints, checkpoint and rejects commit together."""

    def write(
        self,
        table: str,
        batch: pa.RecordBatch,
        *,
        upsert_key: Sequence[str] = (),
        statement_rows: int | None = None,
    ) -> Merged:
        """Insert ``batch`` into ``table``; with ``upsert_key``, update rows whose key exists.

        ``statement_rows``: send the rows in statements of at most this many (an upsert stages
        them that way, then merges the whole batch at once). Returns how many rows were
        inserted and updated (the rest of an upsert's rows were already there, unchanged).
        """

    def savepoint(self, name: str) -> None: ...

    def rollback_to(self, name: str) -> None: ...

    def release(self, name: str) -> None: ...

    def save_state(self, state: PartitionState) -> None: ...

    def save_rejects(self, sync_id: str, table: str, rejects: Sequence[Reject]) -> None: ...


class Source(Protocol):
    """Where rows come from."""

    capabilities: Capabilities

    def list_tables(self) -> list[str]: ...

    def describe(self, table: str) -> TableSchema: ...

    def stats(self, table: TableSchema, key: str | None, filters: Sequence[Filter]) -> TableStats: ...

    def read_chunk(self, query: ChunkQuery) -> pa.RecordBatch: ...

    def read_stream(self, query: ChunkQuery) -> Generator[pa.RecordBatch, None, None]:
        """Every row matching ``query.filters`` in no particular order, ``query.limit`` a batch
        (a table without a key: nothing to page on)."""
        ...

    def close(self) -> None: ...


class Destination(Protocol):
    """Where rows go."""

    capabilities: Capabilities

    def find(self, table: str) -> TableSchema | None: ...

    def create_table(self, schema: TableSchema, *, with_indexes: bool) -> None: ...

    def create_indexes(self, schema: TableSchema) -> None: ...

    def drop_table(self, table: str) -> None: ...

    def swap_table(self, staging: str, final: TableSchema, sync_id: str) -> list[Reattached]:
        """Atomically replace ``final`` by ``staging``, build its indexes, forget the checkpoints;
        return the other tables' foreign keys to it, added back unchecked (``check_reattached``).

        Readers see the old table or the new one, never a half-loaded one.
        """

    def swap_landed(self, staging: str, final: TableSchema, sync_id: str) -> bool:
        """On a retry of ``swap_table``: True when the swap already happened (its answer was
        lost), having finished whatever of it was left."""

    def load_states(self, sync_id: str) -> list[PartitionState]: ...

    def stored_state(self, sync_id: str, partition: int) -> PartitionState | None:
        """One partition's checkpoint as committed now, or None if it has none."""

    def same_database(self, other: object) -> bool:
        """True when ``other`` is a connection to this very database, not merely an equal one."""

    def reset_states(self, sync_id: str, states: Sequence[PartitionState]) -> None:
        """Forget every checkpoint of ``sync_id`` and store ``states`` instead, in one txn."""

    def transaction(self) -> AbstractContextManager[Transaction]: ...

    def tidy(self) -> None:
        """Drop bookkeeping a finished sync left empty (checkpoint and reject tables)."""

    def close(self) -> None: ...


@runtime_checkable
class SharesSchemas(Protocol):
    """A destination that keeps the tables it described and can take one that another
    connection of the same sync just described (optional: the writers of a table's partitions
    then reflect it once between them, not once each before their first batch)."""

    def adopt_schema(self, schema: TableSchema) -> None: ...


@runtime_checkable
class ChecksKeys(Protocol):
    """A source that can tell whether a key pages its rows exactly (optional: without it the
    key is trusted)."""

    def key_problem(self, table: TableSchema, key: Sequence[str], filters: Sequence[Filter]) -> str | None:
        """Why ``key`` cannot page ``table``'s rows (NULLs, repeated values), or None."""
        ...

    def cursor_problem(
        self, table: TableSchema, cursor: str, key: Sequence[str], filters: Sequence[Filter]
    ) -> str | None:
        """Why ``cursor`` cannot order an incremental read of ``table`` (NULLs), or None."""
        ...


@runtime_checkable
class FindsKeys(Protocol):
    """A transaction that can say which rows of a batch have a key their table holds already
    (optional: without it an append that meets such keys bisects the batch to find them)."""

    def existing_keys(self, table: str, key: Sequence[str], batch: pa.RecordBatch) -> list[bool]:
        """For each row of ``batch`` (laid out as ``table``'s columns): True only when ``table``
        holds a row with the same ``key`` (destination names)."""
        ...


@runtime_checkable
class HoldsKey(Protocol):
    """A destination that can say whether a table holds the row with a given key (optional)."""

    def holds_key(self, table: str, key: Sequence[str], values: Sequence[Any]) -> bool:
        """True when ``table`` holds a row whose ``key`` columns (destination names) equal
        ``values``; with no key, when it holds any row."""
        ...


@runtime_checkable
class NamesViews(Protocol):
    """A destination whose views hold on to the table itself, not to its name (PostgreSQL):
    dropping the table would drop them too, so a replace must not swap such a table."""

    def dependent_views(self, table: str) -> list[str]:
        """The views (and materialized views) that read ``table``, or [] when none or no table."""
        ...


@runtime_checkable
class NotesSwaps(Protocol):
    """A destination whose swap (replace) makes again what the old table had beyond its columns
    (PostgreSQL: owner, grants, comments, triggers, own indexes) and says what it kept or not."""

    def swap_notes(self, table: str) -> list[str]: ...

    def replace_refusal(self, table: str) -> str | None:
        """Why ``table`` cannot be swapped for a plain new table (its partitions, tables that
        inherit from it), said before the first row; None when it can."""
        ...


@runtime_checkable
class WidensText(Protocol):
    """A destination that can drop the length of a text column of a table this sync created
    (``connectors/text_lengths.py``), so text a source never held to its length lands whole."""

    def text_lengths(self, table: str) -> dict[str, int | None]:
        """Each text column of ``table`` with its length in characters (None: unbounded), as
        the catalog has it now."""
        ...

    def made_unbounded(self, table: TableSchema) -> frozenset[str]:
        """The text columns of ``table`` (destination names) a table made from it holds with no
        length whatever they declare (MariaDB: where its row would pass the size limit)."""
        ...

    def widen_text(self, table: TableSchema, longest: Mapping[str, int]) -> None:
        """Give each column of ``longest`` (destination names) a type that holds text of that
        many characters, keeping NULL-ability and default; outside any transaction of ours.

        Idempotent and safe when partitions on other connections widen the same columns; what
        a key cannot hold stays as long as a key can be (its longer values are refused).
        """
        ...


class Connector(Source, Destination, Protocol):
    """A connector that is both (SQLite, PostgreSQL, memory)."""
