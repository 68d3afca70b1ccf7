"""Writing one batch: data, rejects and checkpoint in one destination transaction.

The fast path writes the whole batch. If the destination refuses rows (a CHECK or NOT NULL
violation, a value out of range), the transaction is rolled back and the batch is split in
halves under savepoints until each bad row is alone; bad rows go to the reject table with the
database's reason, good rows land, and the checkpoint still moves past the whole batch. An
append's rows whose key the table holds already are found by a lookup first, not bisected; an
upsert's rows whose key equals another only under the destination's collation ('A' where 'a'
is) are named by the refusal itself (``KeyCollisionError``) and rejected the same way.

Values the source's types could not hold (``conform.BadValue``: text in an INTEGER column of a
SQLite file) arrive already marked; ``--on-bad-value`` decides: their rows are rejected the same
way (``reject``), land with NULL there and are recorded with the rejects (``null``), or stop the
table (``fail``, which also stops on any row the destination refuses).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from bulksync.connectors.base import Destination, FindsKeys, Merged, PartitionState, Reject, Transaction
from bulksync.connectors.conform import BadValue, bad_values
from bulksync.engine.plan import TablePlan
from bulksync.errors import BadRowsError, KeyCollisionError, PermanentError, SyncError
from bulksync.spec import BadValue as OnBadValue
from bulksync.spec import Mode


@dataclass(frozen=True)
class WriteTarget:
    """Where a partition's batches go and how."""

    table: str  # destination table (staging table in replace mode)
    source_table: str  # for messages (the reject records name the destination's table)
    sync_id: str
    key: tuple[str, ...]  # the key's destination names (upserts)
    upsert: bool
    statement_rows: int | None = None  # rows per write statement (None: the whole batch)
    row_key: tuple[str, ...] = ()  # the key's names in a batch (the source's), for rejects
    on_bad_value: OnBadValue = OnBadValue.REJECT
    final_table: str = ""  # the table the user asked for, when ``table`` is its staging table

    @property
    def rejects_of(self) -> str:
        """The table a reject record names: the destination's, as the user reads it there (not
        the source's, which ``--dest-table`` or folding to lower case may have renamed)."""
        return self.final_table or self.table

    def in_user_words(self, message: str) -> str:
        """``message`` naming the user's table where the database named the staging table."""
        if not self.final_table or self.final_table == self.table:
            return message
        return message.replace(self.table, self.final_table)

    @classmethod
    def of(
        cls,
        plan: TablePlan,
        mode: Mode,
        statement_rows: int | None = None,
        on_bad_value: OnBadValue = OnBadValue.REJECT,
    ) -> WriteTarget:
        return cls(
            table=plan.write_to,
            source_table=plan.spec.name,
            sync_id=plan.sync_id,
            key=plan.final.primary_key,
            upsert=mode is Mode.INCREMENTAL or (mode is Mode.UPSERT and not inserts_only(plan)),
            statement_rows=statement_rows,
            row_key=plan.key,
            on_bad_value=on_bad_value,
            final_table=plan.final.name,
        )


def inserts_only(plan: TablePlan) -> bool:
    """True when an upsert can only ever insert: plain writes do the same, faster.

    That holds for a table this sync created (nothing in it but what its partitions wrote), read
    in the order of the source's primary key (a key is read once: partitions are disjoint key
    ranges, and each resumes after its committed checkpoint) — so no row can meet itself again.
    """
    return (
        bool(plan.states)
        and all(s.created_table for s in plan.states)
        and plan.order == plan.key
        and plan.key == plan.source.primary_key
    )


@dataclass(frozen=True)
class Written:
    """What one committed batch did."""

    rows: int
    rejected: int
    nulled: int = 0  # values loaded as NULL (--on-bad-value null)
    merged: Merged = field(default_factory=Merged)  # of ``rows``: inserted, updated (the rest unchanged)


@dataclass
class InsertFirst:
    """Upsert batches by trying plain inserts first, for as long as they keep succeeding.

    A plain insert (PostgreSQL COPY, MariaDB LOAD DATA) into the table costs about half of an
    upsert through a staging table. Tried under a savepoint, it either inserts the whole batch
    (no key existed yet: the same outcome as the upsert) or is refused and rolled back, and the
    batch is upserted as usual — so the result is the upsert's in every case. A refusal means
    keys already exist (a re-run), so the next ``pause`` batches go straight to the upsert
    before one is tried again, twice as many after each further refusal in a row (a full re-run
    wastes a handful of tries, not one in every ``pause``). A partition keeps one of these.
    """

    pause: int = 16
    max_pause: int = 1024
    _skip: int = 0
    _in_a_row: int = 0
    refused: int = 0

    def wanted(self) -> bool:
        if self._skip:
            self._skip -= 1
            return False
        return True

    def was_refused(self) -> None:
        self.refused += 1
        self._skip = min(self.max_pause, self.pause * 2**self._in_a_row)
        self._in_a_row += 1

    def was_accepted(self) -> None:
        self._in_a_row = 0


def insert_first_for(dest: Destination, target: WriteTarget, mode: Mode) -> InsertFirst | None:
    """An InsertFirst for an upsert into a table whose key is unique there, else None.

    Without a primary key or unique index on the upsert columns a plain insert would never be
    refused, and a re-run would double every row: such a table is left to the upsert itself
    (which refuses it with a clear error).
    """
    if mode is not Mode.UPSERT or not target.upsert or not dest.capabilities.savepoints:
        return None
    return InsertFirst() if _key_is_unique(dest, target) else None


def _key_is_unique(dest: Destination, target: WriteTarget) -> bool:
    """Whether ``target.key`` is the primary key or a unique index of the destination table."""
    table = dest.find(target.table)
    return table is not None and table.is_unique(target.key)


def commit_batch(
    dest: Destination,
    target: WriteTarget,
    batch: pa.RecordBatch,
    state: PartitionState,
    insert_first: InsertFirst | None = None,
) -> Written:
    """Write ``batch`` and ``state`` atomically; isolate bad rows if the batch is refused."""
    try:
        return _commit_batch(dest, target, batch, state, insert_first)
    except SyncError as exc:  # same error, same retry decision: only the staging name goes
        exc.args = (target.in_user_words(exc.message),)
        raise


def _commit_batch(
    dest: Destination,
    target: WriteTarget,
    batch: pa.RecordBatch,
    state: PartitionState,
    insert_first: InsertFirst | None,
) -> Written:
    upsert_key = target.key if target.upsert else ()
    batch, early, nulled = _take_bad_values(target, batch)
    try:
        with dest.transaction() as tx:
            if upsert_key and insert_first and insert_first.wanted():
                merged = _insert_or_upsert(tx, target, batch, insert_first)
            else:
                merged = tx.write(
                    target.table, batch, upsert_key=upsert_key, statement_rows=target.statement_rows
                )
            if early:
                tx.save_rejects(target.sync_id, target.rejects_of, early)
            tx.save_state(replace(state, rows=state.rows - (len(early) - nulled)))
        return Written(batch.num_rows, len(early) - nulled, nulled, merged)
    except BadRowsError as exc:
        if target.on_bad_value is OnBadValue.FAIL:
            why = f"table {target.source_table!r}: {target.in_user_words(exc.message)} (--on-bad-value fail)"
            raise PermanentError(why) from exc
        if not dest.capabilities.savepoints or batch.num_rows == 0:
            raise
        refused = exc
    with dest.transaction() as tx:
        if isinstance(refused, KeyCollisionError):
            rest, present = _set_aside_collisions(target, batch, refused)
        else:
            rest, present = _set_aside_present(dest, tx, target, batch)
        rejects, merged = _isolate(tx, target, rest, upsert_key, depth=0) if rest.num_rows else ([], Merged())
        rejects = present + rejects
        if rejects or early:
            tx.save_rejects(target.sync_id, target.rejects_of, early + rejects)
        dropped = len(early) - nulled + len(rejects)
        tx.save_state(replace(state, rows=state.rows - dropped))
    return Written(batch.num_rows - len(rejects), dropped, nulled, merged)


def _set_aside_present(
    dest: Destination, tx: Transaction, target: WriteTarget, batch: pa.RecordBatch
) -> tuple[pa.RecordBatch, list[Reject]]:
    """An append's rows whose key the table holds already, as rejects, and the other rows.

    Found by one lookup per few thousand keys (``FindsKeys``) rather than by bisection, which
    costs a savepoint and two statements per row: a ``--restart`` over a million rows that are
    all there would take half an hour to say so. Only for a key the table keeps unique (else
    such a row is not what the table refused) and never for upserts (they update those rows).
    """
    if target.upsert or not isinstance(tx, FindsKeys) or not _key_is_unique(dest, target):
        return batch, []
    present = tx.existing_keys(target.table, target.key, batch)
    if not any(present):
        return batch, []
    mask = pa.array(present, pa.bool_())
    where = target.final_table or target.table
    reason = (
        f"its key ({', '.join(target.key)}) is already in {where!r}: an append never overwrites "
        "a row (--mode upsert updates it)"
    )
    rows = batch.filter(mask).to_pylist()
    rejects = [Reject(tuple(row[k] for k in target.row_key), row, reason) for row in rows]
    return batch.filter(pc.invert(mask)), rejects


def _set_aside_collisions(
    target: WriteTarget, batch: pa.RecordBatch, exc: KeyCollisionError
) -> tuple[pa.RecordBatch, list[Reject]]:
    """The rows of ``batch`` whose key ``exc`` names (an upsert would merge them into another
    row), as rejects with its reasons, and the other rows."""
    keys = zip(*(batch.column(k).to_pylist() for k in target.row_key), strict=True)
    reasons = [exc.collisions.get(tuple(key)) for key in keys]
    if not any(reasons):
        return batch, []
    rows = batch.filter(pa.array([r is not None for r in reasons], pa.bool_())).to_pylist()
    rejects = [
        Reject(tuple(row[k] for k in target.row_key), row, target.in_user_words(reason))
        for row, reason in zip(rows, (r for r in reasons if r is not None), strict=True)
    ]
    return batch.filter(pa.array([r is None for r in reasons], pa.bool_())), rejects


def _take_bad_values(target: WriteTarget, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, list[Reject], int]:
    """Apply ``--on-bad-value`` to the values the source could not convert.

    Returns the batch to write, the records for the reject table and how many of those records
    are values loaded as NULL (their rows land) rather than rejected rows.
    """
    bad = bad_values(batch)
    if not bad:
        return batch, [], 0
    batch = batch.replace_schema_metadata(None)
    if target.on_bad_value is OnBadValue.FAIL:
        b = bad[0]
        raise PermanentError(
            f"table {target.source_table!r}, row {_shown_key(b)}: column {b.column!r} holds {b.value!r}, "
            f"{b.reason} (--on-bad-value fail; 'reject' sets such rows aside, 'null' loads them with NULL)"
        )
    by_row: dict[int, list[BadValue]] = {}
    for b in bad:
        by_row.setdefault(b.row, []).append(b)
    records = [_record(batch, found) for found in by_row.values()]
    if target.on_bad_value is OnBadValue.NULL:
        return batch, [replace(r, reason="loaded with NULL: " + r.reason) for r in records], len(records)
    keep = pc.invert(pa.array([i in by_row for i in range(batch.num_rows)], pa.bool_()))
    return batch.filter(keep), records, 0


def _record(batch: pa.RecordBatch, found: list[BadValue]) -> Reject:
    """One reject record: the row as the source held it, its key (or rowid), each bad column."""
    row = batch.slice(found[0].row, 1).to_pylist()[0]
    for b in found:
        row[b.column] = b.value
    reason = "; ".join(f"column {b.column!r}: {b.value!r} is {b.reason}" for b in found)
    return Reject(found[0].key, row, reason)


def _shown_key(b: BadValue) -> str:
    return str(b.key[0]) if len(b.key) == 1 else str(b.key)


def _insert_or_upsert(
    tx: Transaction, target: WriteTarget, batch: pa.RecordBatch, insert_first: InsertFirst
) -> Merged:
    rows = target.statement_rows
    tx.savepoint("bulksync_insert")
    try:
        merged = tx.write(target.table, batch, statement_rows=rows)
    except BadRowsError:  # a key exists already (or a bad row: the upsert meets it too)
        tx.rollback_to("bulksync_insert")
        tx.release("bulksync_insert")
        insert_first.was_refused()
        return tx.write(target.table, batch, upsert_key=target.key, statement_rows=rows)
    tx.release("bulksync_insert")
    insert_first.was_accepted()
    return merged


def _isolate(
    tx: Transaction,
    target: WriteTarget,
    batch: pa.RecordBatch,
    upsert_key: Sequence[str],
    *,
    depth: int,
) -> tuple[list[Reject], Merged]:
    """Write what the destination accepts of ``batch``; return the rows it refused and what the
    accepted ones did."""
    name = f"bulksync_sp{depth}"
    tx.savepoint(name)
    try:
        merged = tx.write(target.table, batch, upsert_key=upsert_key)
    except BadRowsError as exc:
        tx.rollback_to(name)
        tx.release(name)
        rest, colliding = (
            _set_aside_collisions(target, batch, exc) if isinstance(exc, KeyCollisionError) else (batch, [])
        )
        if colliding:  # named by the refusal: the other rows are written without them
            if not rest.num_rows:
                return colliding, Merged()
            more, merged = _isolate(tx, target, rest, upsert_key, depth=depth + 1)
            return colliding + more, merged
        if batch.num_rows == 1:
            row = _row_of(batch)
            reason = target.in_user_words(exc.message)
            return [Reject(tuple(row[k] for k in target.row_key), row, reason)], Merged()
        half = batch.num_rows // 2
        first, first_merged = _isolate(tx, target, batch.slice(0, half), upsert_key, depth=depth + 1)
        rest, rest_merged = _isolate(tx, target, batch.slice(half), upsert_key, depth=depth + 1)
        return first + rest, first_merged + rest_merged
    tx.release(name)
    return [], merged


def _row_of(batch: pa.RecordBatch) -> dict[str, Any]:
    """A one-row batch as a dict; a value Python cannot hold (a timestamp past year 9999) as
    Arrow's text of it."""
    row: dict[str, Any] = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        try:
            row[name] = column[0].as_py()
        except (OverflowError, ValueError):
            row[name] = column.cast(pa.string())[0].as_py()
    return row
