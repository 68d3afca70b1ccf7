"""Same-engine partitions: the destination pulls each chunk itself (SQLite ATTACH + INSERT … SELECT).

Rows never cross into Python, yet every chunk is still one destination transaction carrying its
checkpoint. A chunk the destination refuses (bad rows) is moved once more the ordinary way, as
an Arrow batch, so the bad rows are isolated and rejected exactly as on every other path.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from bulksync.connectors.base import ChunkQuery, Connector, Key, Merged, PartitionState, Pulled, Source
from bulksync.engine.batching import BatchSizer
from bulksync.engine.landed import landed_chunk
from bulksync.engine.move import (
    PartitionFailed,
    PartitionOutcome,
    Reconnecting,
    RunContext,
    last_key,
    mark_done,
)
from bulksync.engine.plan import TablePlan
from bulksync.engine.retry import retrying
from bulksync.engine.write import WriteTarget, commit_batch
from bulksync.errors import BadRowsError, SyncError

ROW_BYTES_GUESS = 150  # no batch is materialised here; rows per chunk come from this


@runtime_checkable
class Puller(Protocol):
    """A destination that can copy chunks straight from the source database."""

    def can_pull_from(self, source_url: str) -> bool: ...

    def attach_source(self, source_url: str) -> None: ...

    def pull_chunk(self, query: ChunkQuery, target: str, upsert_key: tuple[str, ...]) -> Pulled: ...


@runtime_checkable
class RereadsRefused(Protocol):
    """A puller that says how a chunk it refused is read again (PostgreSQL: a numeric as text)."""

    def read_refused(self, src: Source, query: ChunkQuery, target: str) -> pa.RecordBatch: ...


def can_pull(dest: Connector, source_url: str) -> bool:
    return isinstance(dest, Puller) and dest.can_pull_from(source_url)


def run_pull_partition(ctx: RunContext, plan: TablePlan, state: PartitionState) -> PartitionOutcome:
    """Move one partition by letting the destination pull its chunks."""
    started = time.monotonic()
    outcome = PartitionOutcome()
    # A pulled chunk never sits in our memory (the servers stream it), so only its commit time
    # bounds it: start at 4x the batch size and let fast commits grow it up to 64x.
    sizer = BatchSizer(
        target_bytes=int(ctx.spec.batch_mb * 4 * 2**20),
        min_bytes=256 * 1024,
        max_bytes=max(int(ctx.spec.batch_mb * 64 * 2**20), 256 * 1024),
        target_seconds=ctx.spec.target_batch_seconds,
        row_bytes=ROW_BYTES_GUESS,
        fixed_rows=ctx.spec.chunk_rows,
    )
    target = WriteTarget.of(plan, ctx.spec.mode, ctx.spec.batch_rows, ctx.spec.on_bad_value)
    dest = Reconnecting(lambda: _attached(ctx))
    try:
        while not (ctx.stop.is_set() or ctx.cancel.is_set()):
            query = ChunkQuery(plan.source, plan.order, sizer.rows(), state.last, state.upper, plan.filters)
            began = time.monotonic()
            count = _one_chunk(ctx, dest, plan, target, query, state, outcome)
            if count is None:
                break  # cancelled or stopped while waiting for the one writer's turn
            sizer.observe_write(time.monotonic() - began)
            if count < query.limit:
                mark_done(ctx, dest, state)
                outcome.finished = True
                break
    except SyncError as exc:
        outcome.seconds = time.monotonic() - started
        raise PartitionFailed(exc, outcome) from exc
    finally:
        dest.conn.close()
    outcome.seconds = time.monotonic() - started
    return outcome


def _attached(ctx: RunContext) -> Connector:
    conn = ctx.open_dest()
    assert isinstance(conn, Puller)
    conn.attach_source(ctx.spec.source)
    return conn


def _one_chunk(
    ctx: RunContext,
    dest: Reconnecting,
    plan: TablePlan,
    target: WriteTarget,
    query: ChunkQuery,
    state: PartitionState,
    outcome: PartitionOutcome,
) -> int | None:
    """Pull one chunk with its checkpoint; fall back to an Arrow batch if rows are refused.

    None: the sync was stopped while this partition waited for its turn to write."""
    lock: AbstractContextManager[Any] = ctx.write_lock or nullcontext()
    upsert_key = target.key if target.upsert else ()
    began = time.monotonic()

    def landed() -> Pulled | None:
        stored = landed_chunk(dest.conn, state)
        if stored is None:
            return None
        rows = stored.rows - state.rows  # a pulled chunk rejects nothing: it is refused whole
        return Pulled(rows, stored.last, Merged() if upsert_key else Merged.all_new(rows))

    def pull() -> Pulled:
        conn = dest.conn
        assert isinstance(conn, Puller)
        with dest.conn.transaction() as tx:
            pulled = conn.pull_chunk(query, target.table, upsert_key)
            if pulled.rows:
                tx.save_state(replace(state, last=pulled.last, rows=state.rows + pulled.rows))
        return pulled

    rejected = 0
    try:
        with lock:
            if ctx.cancel.is_set() or ctx.stop.is_set():
                return None
            count, last, merged = retrying(
                pull, retries=ctx.spec.retries, reconnect=dest.reconnect, landed=landed
            )
    except BadRowsError:
        count, last, rejected, merged = _fallback(ctx, dest, target, query, state, lock)
    if count:
        state.last, state.rows, state.prior = last, state.rows + count - rejected, last
        outcome.rows_read += count
        outcome.rows_written += count - rejected
        outcome.rows_rejected += rejected
        outcome.merged += merged
        outcome.batches += 1
        took = time.monotonic() - began
        outcome.batch_seconds += took
        ctx.tracker.advance(
            plan.final.name, rows=count, nbytes=count * ROW_BYTES_GUESS, rejected=rejected, seconds=took
        )
    return count


def _fallback(
    ctx: RunContext,
    dest: Reconnecting,
    target: WriteTarget,
    query: ChunkQuery,
    state: PartitionState,
    lock: AbstractContextManager[Any],
) -> tuple[int, Key | None, int, Merged]:
    """Read the refused chunk as Arrow and write it with bad-row isolation."""
    source = ctx.open_source()
    try:
        conn = dest.conn
        if isinstance(conn, RereadsRefused):
            batch = conn.read_refused(source, query, target.table)
        else:
            batch = source.read_chunk(query)
    finally:
        source.close()
    if batch.num_rows == 0:
        return 0, None, 0, Merged()
    last = last_key(batch, query.order)
    proposed = replace(state, last=last, rows=state.rows + batch.num_rows)
    with lock:
        written = commit_batch(dest.conn, target, batch, proposed)
    return batch.num_rows, last, written.rejected, written.merged
