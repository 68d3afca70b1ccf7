"""Run a sync: plan every table, run its partitions on a thread pool, finish each table."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import nullcontext
from functools import partial

from bulksync.connectors.base import Connector
from bulksync.connectors.registry import open_connector
from bulksync.engine.memory import MemoryGuard
from bulksync.engine.move import PartitionFailed, PartitionOutcome, RunContext, run_partition
from bulksync.engine.plan import TablePlan, check_table, plan_table
from bulksync.engine.progress import Listener, ProgressTracker
from bulksync.engine.pull import can_pull, run_pull_partition
from bulksync.engine.result import SyncResult, TableResult
from bulksync.engine.retry import retrying
from bulksync.errors import SyncError
from bulksync.spec import Mode, SyncSpec


class SyncFailed(SyncError):
    """The sync stopped on an error; ``result`` tells what was done before it."""

    def __init__(self, error: SyncError, result: SyncResult) -> None:
        super().__init__(error.message)
        self.error = error
        self.result = result
        self.exit_code = error.exit_code


def sync(
    spec: SyncSpec,
    *,
    listeners: Iterable[Listener] = (),
    cancel: threading.Event | None = None,
) -> SyncResult:
    """Move every table of ``spec``; resume from checkpoints; return what happened."""
    started = time.monotonic()
    guard = MemoryGuard(spec.max_memory_mb)
    tracker = ProgressTracker(list(listeners), guard.rss_mb)
    opener = _openers(spec)
    result = SyncResult()
    planner_src = opener[0]()
    try:
        checked = [check_table(spec, t, planner_src) for t in spec.tables]
        planner_dst = opener[1]()  # only now: bad input must not even create a SQLite file
    except BaseException:
        planner_src.close()
        raise
    try:
        plans = [plan_table(spec, c, planner_src, planner_dst) for c in checked]
        ctx = _context(spec, opener, guard, tracker, cancel, plans, planner_dst)
        result.tables = [_table_result(spec, p) for p in plans]
        for plan in plans:
            tracker.start(
                plan.final.name,
                total=plan.estimated_rows,
                partitions=len(plan.pending),
                already=plan.resumed_rows,
            )
        error = _run_all(ctx, plans, result, planner_dst)
    finally:
        planner_src.close()
        planner_dst.close()
    result.duration_s = time.monotonic() - started
    result.memory_peak_mb = guard.peak_mb
    result.memory_pauses = guard.pauses
    if error is not None:
        result.status = "failed"
        raise SyncFailed(error, result) from error
    if ctx.cancel.is_set():
        result.status = "cancelled"
    return result


def _openers(spec: SyncSpec) -> tuple[Callable[[], Connector], Callable[[], Connector]]:
    timeout = spec.statement_timeout_s

    def source() -> Connector:
        return open_connector(spec.source, statement_timeout_s=timeout)

    def dest() -> Connector:
        return open_connector(spec.destination, create=True, statement_timeout_s=timeout)

    return source, dest


def _context(
    spec: SyncSpec,
    opener: tuple[Callable[[], Connector], Callable[[], Connector]],
    guard: MemoryGuard,
    tracker: ProgressTracker,
    cancel: threading.Event | None,
    plans: list[TablePlan],
    dest: Connector,
) -> RunContext:
    streams = max(1, min(spec.workers, sum(len(p.pending) for p in plans)))
    budget = guard.budget_bytes(baseline_mb=guard.rss_mb(), streams=streams, depth=spec.queue_depth)
    return RunContext(
        spec=spec,
        open_source=opener[0],
        open_dest=opener[1],
        guard=guard,
        tracker=tracker,
        stop=threading.Event(),
        cancel=cancel or threading.Event(),
        max_batch_bytes=max(64 * 1024, min(int(spec.batch_mb * 4 * 2**20), budget)),
        write_lock=None if dest.capabilities.parallel_writes else threading.Lock(),
    )


def _table_result(spec: SyncSpec, plan: TablePlan) -> TableResult:
    return TableResult(
        table=plan.spec.name,
        target=plan.final.name,
        mode=spec.mode.value,
        estimated_rows=plan.estimated_rows,
        resumed_rows=plan.resumed_rows,
        partitions=len(plan.states),
        status="running",
    )


def _run_all(
    ctx: RunContext, plans: list[TablePlan], result: SyncResult, dest: Connector
) -> SyncError | None:
    """Run all partitions; finish each table as soon as its last partition is done."""
    left = {id(p): len(p.pending) for p in plans}
    by_plan = {id(p): r for p, r in zip(plans, result.tables, strict=True)}
    error: SyncError | None = None
    workers = max(1, min(ctx.spec.workers, sum(left.values()) or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bulksync") as pool:
        runner = run_pull_partition if can_pull(dest, ctx.spec.source) else run_partition
        futures: dict[Future[PartitionOutcome], TablePlan] = {
            pool.submit(runner, ctx, plan, state): plan for plan in plans for state in plan.pending
        }
        for plan in plans:
            if left[id(plan)] == 0:
                error = error or _finish(ctx, plan, by_plan[id(plan)], dest)
        for fut in as_completed(futures):
            plan = futures[fut]
            table = by_plan[id(plan)]
            try:
                _add(table, fut.result())
            except (SyncError, PartitionFailed) as failure:
                exc = failure.error if isinstance(failure, PartitionFailed) else failure
                if isinstance(failure, PartitionFailed):
                    _add(table, failure.outcome)
                ctx.stop.set()
                table.status, table.error = "failed", exc.message
                ctx.tracker.phase(plan.final.name, "failed", exc.message)
                error = error or exc
                continue
            left[id(plan)] -= 1
            if left[id(plan)] == 0 and not (ctx.stop.is_set() or ctx.cancel.is_set()):
                error = error or _finish(ctx, plan, table, dest)
    for table in result.tables:
        if table.status == "running":
            table.status = "cancelled" if ctx.cancel.is_set() else table.status
    return error


def _add(table: TableResult, outcome: PartitionOutcome) -> None:
    table.rows_read += outcome.rows_read
    table.rows_written += outcome.rows_written
    table.rows_rejected += outcome.rows_rejected
    table.batches += outcome.batches
    table.batch_seconds += outcome.batch_seconds
    table.duration_s = max(table.duration_s, outcome.seconds)


def _finish(ctx: RunContext, plan: TablePlan, table: TableResult, dest: Connector) -> SyncError | None:
    """Swap in the new table (replace) or build indexes after the load (fresh tables)."""
    name = plan.final.name
    try:
        with ctx.write_lock or nullcontext():
            if ctx.spec.mode is Mode.REPLACE:
                ctx.tracker.phase(name, "swapping")
                retrying(
                    partial(dest.swap_table, plan.write_to, plan.final, plan.sync_id),
                    retries=ctx.spec.retries,
                )
            elif plan.build_indexes:
                ctx.tracker.phase(name, "indexing")
                retrying(partial(dest.create_indexes, plan.final), retries=ctx.spec.retries)
    except SyncError as exc:
        table.status, table.error = "failed", exc.message
        ctx.tracker.phase(name, "failed", exc.message)
        return exc
    table.status = "succeeded"
    ctx.tracker.phase(name, "done")
    return None
