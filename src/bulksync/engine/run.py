"""Run a sync: plan every table, run its partitions on a thread pool, finish each table.

``sync`` does all three in one call. Distributed jobs split it: ``plan_sync`` plans every table
once (checkpoints stored in the destination), then ``run_table`` runs single partitions and the
finish step wherever a worker picks them up.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager, nullcontext
from functools import partial

from bulksync.connectors.base import Connector, NamesViews, NotesSwaps, PartitionState
from bulksync.connectors.ddl import Reattached
from bulksync.connectors.registry import open_connector, same_sqlite_file, scheme_of
from bulksync.engine.constraints import (
    check_reattached,
    choose_foreign_keys,
    create_foreign_keys,
    note_not_carried,
    set_identity,
)
from bulksync.engine.folded import adopt_folded
from bulksync.engine.lengths import note_widened
from bulksync.engine.memory import HIGH_WATER, MemoryGuard
from bulksync.engine.move import PartitionFailed, PartitionOutcome, RunContext, run_partition
from bulksync.engine.plan import CheckedTable, TablePlan, check_table, plan_table
from bulksync.engine.progress import Listener, ProgressTracker
from bulksync.engine.pull import can_pull, run_pull_partition
from bulksync.engine.result import SyncResult, TableResult
from bulksync.engine.retry import retrying
from bulksync.errors import PermanentError, SchemaMismatchError, SyncError, UsageError
from bulksync.spec import Mode, SyncSpec

log = logging.getLogger("bulksync.engine")


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
    began = time.time()  # first_batch_s counts from here: planning included, imports not
    with _planner(spec) as (checked, source, dest):
        plans = [plan_table(spec, c, source, dest) for c in checked]
        result = _execute(
            spec, plans, dest, began=began, listeners=listeners, cancel=cancel, foreign_keys=True
        )
        if result.status == "succeeded" and spec.mode is Mode.REPLACE:
            dest.tidy()  # a finished replace needs no checkpoints; empty bookkeeping goes
    if spec.verify and result.status == "succeeded":
        from bulksync.verification.aftersync import verify_loaded  # reads only, never writes

        verify_loaded(spec, result, listeners=listeners, cancel=cancel)
    return result


def plan_sync(spec: SyncSpec) -> list[TablePlan]:
    """Check and plan every table, storing its checkpoints in the destination; move nothing.

    The partitions of the returned plans are what ``run_table`` runs later, one at a time if
    need be, on this machine or another (distributed jobs).
    """
    with _planner(spec) as (checked, source, dest):
        return [plan_table(spec, c, source, dest) for c in checked]


def run_table(
    spec: SyncSpec,
    table: str,
    *,
    partitions: Collection[int] | None = None,
    finish: bool = True,
    listeners: Iterable[Listener] = (),
    cancel: threading.Event | None = None,
) -> SyncResult:
    """Run some partitions of one table that ``plan_sync`` planned, and/or finish the table.

    The table is planned again from the destination's checkpoints only (never fresh ones), so
    each partition continues after its last committed key. ``partitions``: the partition
    numbers to run (None: every pending one); ``finish``: once no partition is pending, swap
    the table in or build its indexes. Raises ``CheckpointsGone`` when the destination holds no
    checkpoints for the table (a replace-mode table is swapped in: it has none left).
    """
    began = time.time()
    chosen = [t for t in spec.tables if t.name == table]
    if not chosen:
        raise UsageError(f"table {table!r} is not part of this sync")
    with _planner(spec.model_copy(update={"tables": tuple(chosen)})) as (checked, source, dest):
        plan = plan_table(spec, checked[0], source, dest, resume_only=True)
        return _execute(
            spec, [plan], dest, began=began, listeners=listeners, cancel=cancel, only=partitions,
            finish=finish,
        )  # fmt: skip


@contextmanager
def _planner(spec: SyncSpec) -> Iterator[tuple[list[CheckedTable], Connector, Connector]]:
    """Check every table against the source, then open the destination (in that order)."""
    source = open_connector(spec.source, statement_timeout_s=spec.statement_timeout_s)
    try:
        checked = [check_table(spec, t, source) for t in spec.tables]
        _check_memory_room(spec)
        if same_sqlite_file(spec.source, spec.destination):
            _refuse_copy_onto_itself(spec)
        if scheme_of(spec.destination) == "sqlite":  # SQLite's table names ignore case
            _refuse_names_equal_but_for_case(spec)
        # only now: bad input must not even create a SQLite file
        dest = open_connector(spec.destination, create=True, statement_timeout_s=spec.statement_timeout_s)
        try:
            if any(t.target == t.name for t in spec.tables) and dest.same_database(source):
                _refuse_copy_onto_itself(spec)
            checked = adopt_folded(spec, checked, dest, scheme_of(spec.destination))
            if spec.mode is Mode.REPLACE:
                _refuse_unreplaceable(spec, dest)
            yield choose_foreign_keys(spec, checked, dest), source, dest
        finally:
            dest.close()
    finally:
        source.close()


def _refuse_unreplaceable(spec: SyncSpec, dest: Connector) -> None:
    """A replace swaps in a new table and drops the old one; views that hold on to the old one
    would block that drop after every row was loaded (or go with it), and a plain table cannot
    take a partitioned or inherited one's place: refused before the first row."""
    for table in spec.tables:
        refusal = dest.replace_refusal(table.target) if isinstance(dest, NotesSwaps) else None
        if refusal:
            raise SchemaMismatchError(f"destination table {table.target!r} {refusal}")
        views = dest.dependent_views(table.target) if isinstance(dest, NamesViews) else []
        if views:
            raise SchemaMismatchError(
                f"destination table {table.target!r} is read by view(s) {', '.join(views)}: "
                "--mode replace would drop them with it; drop them first (and create them again "
                "after), or copy into it with --mode upsert"
            )


def _refuse_copy_onto_itself(spec: SyncSpec) -> None:
    """Source and destination are one database: no table may be copied onto itself."""
    for table in spec.tables:
        if table.target == table.name:
            raise UsageError(
                f"source and destination are the same table {table.name!r} (one database): "
                "give --dest-table another name"
            )


def _refuse_names_equal_but_for_case(spec: SyncSpec) -> None:
    """Tables the destination would take for one ("Foo" is "foo" in SQLite) are refused up front."""
    seen: dict[str, str] = {}
    for table in spec.tables:
        other = seen.setdefault(table.target.lower(), table.target)
        if other != table.target:
            raise UsageError(
                f"tables {other!r} and {table.target!r} would be one table in the destination, whose "
                "names ignore case: --exclude one, or copy it alone with --dest-table"
            )


ROOM_MB = 32  # under the high-water mark, above what the process starts with: a few small batches
_moving = 0  # syncs moving rows in this process now (a server runs several)
_moving_lock = threading.Lock()


def _check_memory_room(spec: SyncSpec) -> None:
    """Refuse a memory limit the process is already near before its first row.

    The guard pauses readers above 80 % of the limit; a sync alone in a process that starts
    above that mark (its libraries alone) would wait at every batch instead of moving rows.
    With other syncs running here their batches count too, and the guard's pauses are the point.
    """
    guard = MemoryGuard(spec.max_memory_mb)
    with _moving_lock:
        alone = _moving == 0
    rss = guard.rss_mb()
    if alone and rss >= guard.high_water_mb:
        raise UsageError(
            f"--max-memory-mb {spec.max_memory_mb} leaves no room: this process already uses "
            f"{rss:.0f} MB before the first row (its libraries and connections); give it at least "
            f"{math.ceil((rss + ROOM_MB) / HIGH_WATER)}"
        )


def _execute(
    spec: SyncSpec,
    plans: list[TablePlan],
    dest: Connector,
    *,
    began: float,
    listeners: Iterable[Listener],
    cancel: threading.Event | None,
    only: Collection[int] | None = None,
    finish: bool = True,
    foreign_keys: bool = False,
) -> SyncResult:
    """Run the pending partitions of ``plans`` (those in ``only``), finishing tables if asked;
    with ``foreign_keys``, create the foreign keys once every table succeeded. ``began``: when
    the sync started (``time.time()``), before it planned."""
    started = time.monotonic()
    guard = MemoryGuard(spec.max_memory_mb)
    tracker = ProgressTracker(list(listeners), guard.rss_mb)
    todo = {id(p): [s for s in p.pending if only is None or s.partition in only] for p in plans}
    ctx = _context(spec, _openers(spec), guard, tracker, cancel, todo, dest)
    result = SyncResult(tables=[_table_result(spec, p) for p in plans])
    result.rejects_at = getattr(dest, "reject_table", "")
    for plan, table in zip(plans, result.tables, strict=True):
        note_not_carried(spec, plan, table, dest)
    for plan in plans:
        tracker.start(
            plan.final.name,
            total=plan.estimated_rows,
            partitions=len(todo[id(plan)]),
            # what earlier runs committed: all of the table's, or the chosen partitions' part
            already=plan.resumed_rows if only is None else sum(s.rows for s in todo[id(plan)]),
        )
    global _moving
    with _moving_lock:
        _moving += 1
    try:
        error = _run_all(ctx, plans, todo, result, dest, finish=finish)
        if foreign_keys and error is None and not ctx.cancel.is_set():
            create_foreign_keys(spec, plans, result.tables, dest)
        check_reattached(spec, plans, result.tables, dest)
    finally:
        with _moving_lock:
            _moving -= 1
    for plan, table in zip(plans, result.tables, strict=True):
        note_widened(plan, table, dest, source=scheme_of(spec.source), retries=spec.retries)
    result.duration_s = time.monotonic() - started
    result.memory_peak_mb = guard.peak_mb
    result.memory_pauses = guard.pauses
    if tracker.first_commit_at is not None:  # from the sync's start (a server runs many)
        result.first_commit_at = tracker.first_commit_at
        result.first_batch_s = tracker.first_commit_at - began
    if error is not None:
        result.status = "failed"
        raise SyncFailed(error, result) from error
    if ctx.cancel.is_set():
        result.status = "cancelled"
    return result


def _forget(spec: SyncSpec, failed: list[TablePlan], dest: Connector) -> None:
    """A replace whose table failed for good (not a lost connection: that one resumes) drops
    its half-loaded ``__bulksync_new`` table and checkpoints: the next run starts it afresh."""
    if spec.mode is not Mode.REPLACE:
        return
    for plan in failed:
        try:
            dest.drop_table(plan.write_to)
            dest.reset_states(plan.sync_id, [])
        except SyncError:
            pass  # the destination is unreachable now: the next run reuses or drops the table


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
    todo: dict[int, list[PartitionState]],
    dest: Connector,
) -> RunContext:
    streams = max(1, min(spec.workers, sum(len(t) for t in todo.values())))
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
        warnings=list(plan.warnings),
    )


def _run_all(
    ctx: RunContext,
    plans: list[TablePlan],
    todo: dict[int, list[PartitionState]],
    result: SyncResult,
    dest: Connector,
    *,
    finish: bool,
) -> SyncError | None:
    """Run the partitions in ``todo``; finish each table as soon as no partition is pending."""
    left = {id(p): len(todo[id(p)]) for p in plans}

    def finished(plan: TablePlan) -> bool:  # a table whose other partitions run elsewhere waits
        return finish and not any(not s.done for s in plan.states)

    by_plan = {id(p): r for p, r in zip(plans, result.tables, strict=True)}
    error: SyncError | None = None
    failed: list[TablePlan] = []  # tables stopped by a permanent error
    workers = max(1, min(ctx.spec.workers, sum(left.values()) or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bulksync") as pool:
        pulls = can_pull(dest, ctx.spec.source)
        futures: dict[Future[PartitionOutcome], TablePlan] = {
            pool.submit(_runner(plan, pulls), ctx, plan, state): plan
            for plan in plans
            for state in todo[id(plan)]
        }
        for plan in plans:
            if left[id(plan)] == 0 and finished(plan):
                error = error or _finish(ctx, plan, by_plan[id(plan)], dest)
        try:
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
                    if isinstance(exc, PermanentError) and plan not in failed:
                        failed.append(plan)
                    table.status, table.error = "failed", exc.message
                    ctx.tracker.phase(plan.final.name, "failed", exc.message)
                    error = error or exc
                    continue
                left[id(plan)] -= 1
                if left[id(plan)] == 0 and not (ctx.stop.is_set() or ctx.cancel.is_set()) and finished(plan):
                    error = error or _finish(ctx, plan, table, dest)
        except KeyboardInterrupt:  # Ctrl-C: each partition stops after the batch it is on
            ctx.cancel.set()
            raise
    _forget(ctx.spec, failed, dest)
    for table in result.tables:
        if table.status == "running":
            table.status = "cancelled" if ctx.cancel.is_set() else table.status
            if not finish and not ctx.cancel.is_set() and error is None:
                table.status = "partitions done"  # the table is finished by whoever runs the rest
    return error


Runner = Callable[[RunContext, TablePlan, PartitionState], PartitionOutcome]


def _runner(plan: TablePlan, pulls: bool) -> Runner:
    """The destination pulls chunks itself when it can: same engine, a key to page on, and
    every column under its source name (its ``INSERT … SELECT`` names them once for both)."""
    return run_pull_partition if pulls and not plan.keyless and not plan.renamed else run_partition


def _add(table: TableResult, outcome: PartitionOutcome) -> None:
    table.rows_read += outcome.rows_read
    table.rows_written += outcome.rows_written
    table.rows_rejected += outcome.rows_rejected
    table.values_nulled += outcome.values_nulled
    table.rows_inserted += outcome.merged.inserted
    table.rows_updated += outcome.merged.updated
    table.rows_unchanged += outcome.rows_written - outcome.merged.inserted - outcome.merged.updated
    table.batches += outcome.batches
    table.batch_seconds += outcome.batch_seconds
    table.duration_s = max(table.duration_s, outcome.seconds)


def _swap_landed(dest: Connector, plan: TablePlan) -> list[Reattached] | None:
    """On a retry of the swap: [] when the try before it committed (its answer lost) and there
    is nothing left to do (and no foreign key to check), else None."""
    if not dest.swap_landed(plan.write_to, plan.final, plan.sync_id):
        return None
    log.info("table %r: the swap committed before its connection was lost", plan.final.name)
    return []


def _finish(ctx: RunContext, plan: TablePlan, table: TableResult, dest: Connector) -> SyncError | None:
    """Swap in the new table (replace) or build indexes after the load (fresh tables)."""
    name = plan.final.name
    try:
        with ctx.write_lock or nullcontext():
            if ctx.spec.mode is Mode.REPLACE:
                ctx.tracker.phase(name, "swapping")
                plan.reattached = retrying(
                    partial(dest.swap_table, plan.write_to, plan.final, plan.sync_id),
                    retries=ctx.spec.retries,
                    landed=partial(_swap_landed, dest, plan),
                )
                if isinstance(dest, NotesSwaps):
                    table.warnings.extend(dest.swap_notes(name))
            elif plan.build_indexes:
                ctx.tracker.phase(name, "indexing")
                retrying(partial(dest.create_indexes, plan.final), retries=ctx.spec.retries)
            set_identity(ctx.spec, plan, dest)
    except SyncError as exc:
        table.status, table.error = "failed", exc.message
        ctx.tracker.phase(name, "failed", exc.message)
        return exc
    table.status = "succeeded"
    if plan.stats is not None and not plan.stats.exact:  # planned on an estimate: now it is known
        table.estimated_rows = table.resumed_rows + table.rows_read
    ctx.tracker.phase(name, "done")
    return None
