"""One partition's pipeline: a reader thread and a writer joined by a bounded queue.

Reading and writing overlap; the queue holds at most ``queue_depth`` batches, which bounds
memory. Each batch is committed with its checkpoint, so stopping anywhere loses nothing.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, closing, nullcontext
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import pyarrow as pa

from bulksync.connectors.base import ChunkQuery, Connector, Merged, PartitionState, SharesSchemas
from bulksync.engine.batching import BatchSizer
from bulksync.engine.landed import landed_batch
from bulksync.engine.lengths import TextFitter
from bulksync.engine.memory import MemoryGuard
from bulksync.engine.plan import TablePlan
from bulksync.engine.progress import ProgressTracker
from bulksync.engine.retry import retrying
from bulksync.engine.write import InsertFirst, WriteTarget, Written, commit_batch, insert_first_for
from bulksync.errors import SyncError
from bulksync.schema import TableSchema
from bulksync.spec import SyncSpec

_END = object()


@dataclass
class RunContext:
    """What every partition of one sync shares."""

    spec: SyncSpec
    open_source: Callable[[], Connector]
    open_dest: Callable[[], Connector]
    guard: MemoryGuard
    tracker: ProgressTracker
    stop: threading.Event
    cancel: threading.Event
    max_batch_bytes: int
    write_lock: threading.Lock | None = None  # set when the destination allows one writer
    # tables the partitions' writers described, shared between them (_share_schema)
    described: dict[str, TableSchema] = field(default_factory=dict)
    describing: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class PartitionOutcome:
    """Counters of one partition run."""

    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    values_nulled: int = 0
    merged: Merged = field(default_factory=Merged)  # of rows_written: inserted, updated (rest unchanged)
    batches: int = 0
    batch_seconds: float = 0.0
    finished: bool = False
    seconds: float = field(default=0.0)


class PartitionFailed(Exception):
    """A partition stopped on ``error`` after doing what ``outcome`` counts (all committed)."""

    def __init__(self, error: SyncError, outcome: PartitionOutcome) -> None:
        super().__init__(error.message)
        self.error = error
        self.outcome = outcome


def last_key(batch: pa.RecordBatch, columns: tuple[str, ...]) -> tuple[Any, ...]:
    """The ordering key of the batch's last row (the checkpoint after it commits)."""
    end = batch.num_rows - 1
    return tuple(batch.column(batch.schema.get_field_index(c))[end].as_py() for c in columns)


class Reconnecting:
    """A connection that can be replaced after it was lost."""

    def __init__(self, opener: Callable[[], Connector]) -> None:
        self._opener = opener
        self.conn = opener()

    def reconnect(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass
        self.conn = self._opener()


def run_partition(ctx: RunContext, plan: TablePlan, state: PartitionState) -> PartitionOutcome:
    """Move one partition to the end (or until stopped); return its counters."""
    started = time.monotonic()
    spec = ctx.spec
    sizer = BatchSizer(
        target_bytes=min(int(spec.batch_mb * 2**20), ctx.max_batch_bytes),
        min_bytes=min(256 * 1024, ctx.max_batch_bytes),
        max_bytes=ctx.max_batch_bytes,
        target_seconds=spec.target_batch_seconds,
        fixed_rows=spec.chunk_rows,
    )
    chunks: queue.Queue[object] = queue.Queue(maxsize=spec.queue_depth)
    halt = threading.Event()  # this partition's reader only
    source = Reconnecting(ctx.open_source)
    reader = threading.Thread(
        target=_read_loop,
        args=(ctx, plan, state, source, sizer, chunks, halt),
        name=f"read-{plan.spec.name}-{state.partition}",
        daemon=True,
    )
    reader.start()
    outcome = PartitionOutcome()
    try:
        dest = Reconnecting(ctx.open_dest)
        try:
            _write_loop(ctx, plan, state, dest, sizer, chunks, outcome)
        except SyncError as exc:
            outcome.seconds = time.monotonic() - started
            raise PartitionFailed(exc, outcome) from exc
        finally:
            dest.conn.close()
    finally:
        halt.set()
        reader.join()
        source.conn.close()
    outcome.seconds = time.monotonic() - started
    return outcome


def _read_loop(
    ctx: RunContext,
    plan: TablePlan,
    state: PartitionState,
    source: Reconnecting,
    sizer: BatchSizer,
    out: queue.Queue[object],
    halt: threading.Event,
) -> None:
    after = state.last

    def halted() -> bool:
        return halt.is_set() or ctx.stop.is_set() or ctx.cancel.is_set()

    try:
        if plan.keyless:
            _read_whole(ctx, plan, source, sizer, out, halt, halted)
        while not plan.keyless and not halted():
            if ctx.guard.wait_for_room(halt):
                sizer.shrink()
            query = ChunkQuery(
                plan.source, plan.order, sizer.rows(), after, state.upper, plan.filters, ctx.spec.fetch_rows
            )
            batch = retrying(
                partial(_read_one, source, query), retries=ctx.spec.retries, reconnect=source.reconnect
            )
            sizer.observe_chunk(batch.num_rows, batch.nbytes)
            if batch.num_rows:
                after = last_key(batch, plan.order)
                _put(out, batch, halted)
            if batch.num_rows < query.limit:
                break
        _put(out, _END, halted)
    except BaseException as exc:
        _put(out, exc, halted)


def _read_whole(
    ctx: RunContext,
    plan: TablePlan,
    source: Reconnecting,
    sizer: BatchSizer,
    out: queue.Queue[object],
    halt: threading.Event,
    halted: Callable[[], bool],
) -> None:
    """A table without a key: one pass over all of it (a failure midway fails the table, and
    the next run loads it again from the start: no key tells where to continue)."""
    query = ChunkQuery(plan.source, (), sizer.rows(), None, None, plan.filters, ctx.spec.fetch_rows)
    with closing(source.conn.read_stream(query)) as batches:
        for batch in batches:
            sizer.observe_chunk(batch.num_rows, batch.nbytes)
            _put(out, batch, halted)
            if halted():
                return
            ctx.guard.wait_for_room(halt)


def _read_one(source: Reconnecting, query: ChunkQuery) -> pa.RecordBatch:
    return source.conn.read_chunk(query)


def _commit_one(
    dest: Reconnecting,
    target: WriteTarget,
    batch: pa.RecordBatch,
    state: PartitionState,
    insert_first: InsertFirst | None,
) -> Written:
    return commit_batch(dest.conn, target, batch, state, insert_first)


def _landed(
    dest: Reconnecting, before: PartitionState, proposed: PartitionState, upsert: bool
) -> Written | None:
    return landed_batch(dest.conn, before, proposed, upsert=upsert)


def _fit(fitter: TextFitter, batch: pa.RecordBatch, dest: Reconnecting) -> None:
    fitter.fit(batch, dest.conn)


def _put(out: queue.Queue[object], item: object, halted: Callable[[], bool]) -> None:
    while not halted():
        try:
            out.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _write_loop(
    ctx: RunContext,
    plan: TablePlan,
    state: PartitionState,
    dest: Reconnecting,
    sizer: BatchSizer,
    chunks: queue.Queue[object],
    outcome: PartitionOutcome,
) -> None:
    target = WriteTarget.of(plan, ctx.spec.mode, ctx.spec.batch_rows, ctx.spec.on_bad_value)
    _share_schema(ctx, plan.write_to, dest.conn)
    insert_first = insert_first_for(dest.conn, target, ctx.spec.mode)
    if plan.keyless and state.rows:
        _start_over(ctx, plan, state, dest)
    fitter = TextFitter(plan.final.renamed(plan.write_to), plan.unenforced)
    lock: AbstractContextManager[Any] = ctx.write_lock or nullcontext()
    while True:
        try:
            item = chunks.get(timeout=0.1)
        except queue.Empty:
            if ctx.cancel.is_set() or ctx.stop.is_set():
                return
            continue
        if item is _END:
            break
        if ctx.cancel.is_set() or ctx.stop.is_set():
            return  # stopped: a queued batch is dropped (read again on resume), never committed
        if isinstance(item, BaseException):
            raise item
        assert isinstance(item, pa.RecordBatch)
        last = last_key(item, plan.order) if plan.order else None
        proposed = replace(state, last=last, rows=state.rows + item.num_rows)
        began = time.monotonic()
        with lock:
            if ctx.cancel.is_set() or ctx.stop.is_set():
                return  # stopped while waiting for the one writer's turn: nothing new committed
            if fitter:  # a text column too narrow for this batch is widened before its transaction
                fit = partial(_fit, fitter, item, dest)
                retrying(fit, retries=ctx.spec.retries, reconnect=dest.reconnect)
            written = retrying(
                partial(_commit_one, dest, target, item, proposed, insert_first),
                retries=ctx.spec.retries,
                reconnect=dest.reconnect,
                landed=partial(_landed, dest, state, proposed, target.upsert),
            )
        took = time.monotonic() - began
        sizer.observe_write(took)
        state.last, state.rows, state.prior = proposed.last, state.rows + written.rows, proposed.last
        outcome.rows_read += item.num_rows
        outcome.rows_written += written.rows
        outcome.rows_rejected += written.rejected
        outcome.values_nulled += written.nulled
        outcome.merged += written.merged
        outcome.batches += 1
        outcome.batch_seconds += took
        ctx.tracker.advance(
            plan.final.name, rows=item.num_rows, nbytes=item.nbytes, rejected=written.rejected, seconds=took
        )
        if ctx.cancel.is_set() or ctx.stop.is_set():
            return  # stopped between batches: the checkpoint is where we are
    mark_done(ctx, dest, state)
    outcome.finished = True


def _share_schema(ctx: RunContext, table: str, conn: Connector) -> None:
    """The writers of one table's partitions describe it once between them, before their first
    batch: reflecting a PostgreSQL table takes 0.1-0.2 s, and they all start at the same moment."""
    if not isinstance(conn, SharesSchemas):
        return
    with ctx.describing:
        known = ctx.described.get(table)
        if known is not None:
            conn.adopt_schema(known)
            return
        try:
            found = conn.find(table)
        except SyncError:
            return  # the first batch describes it again, under its retries
        if found is not None:
            ctx.described[table] = found


def _start_over(ctx: RunContext, plan: TablePlan, state: PartitionState, dest: Reconnecting) -> None:
    """Empty a keyless table's half-loaded staging table (a worker took it over midway)."""

    def again() -> None:
        dest.conn.drop_table(plan.write_to)
        dest.conn.create_table(plan.final.renamed(plan.write_to), with_indexes=False)
        with dest.conn.transaction() as tx:
            tx.save_state(replace(state, rows=0))

    with ctx.write_lock or nullcontext():
        retrying(again, retries=ctx.spec.retries, reconnect=dest.reconnect)
    state.rows = 0


def mark_done(ctx: RunContext, dest: Reconnecting, state: PartitionState) -> None:
    state.done = True

    def save() -> None:
        with dest.conn.transaction() as tx:
            tx.save_state(state)

    with ctx.write_lock or nullcontext():
        retrying(save, retries=ctx.spec.retries, reconnect=dest.reconnect)
