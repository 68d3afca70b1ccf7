"""Run one claimed partition task (or a table's finish task) on this worker and record its end.

Like the embedded runner, a heartbeat thread writes the task's progress (and, from all task rows,
the job's), renews the task's lease and turns a cancel request, a failed job, a lost lease, a
timeout or the worker shutting down into the engine's cancel event: the partition stops after
its current batch, its checkpoint is where it stopped. The worker that finishes a table's last
partition claims and runs the table's finish task; the one that finishes the last finish task
marks the job succeeded (both decided by conditional updates in the store).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bulksync.engine.plan import CheckpointsGone
from bulksync.engine.progress import ProgressEvent
from bulksync.engine.result import SyncResult
from bulksync.engine.run import SyncFailed, run_table
from bulksync.errors import FencedOut, PermanentError, SyncError, TransientError
from bulksync.jobs.addresses import AddressBook
from bulksync.jobs.broker import RUN_PARTITION, send
from bulksync.jobs.runner import CANCEL_POLL_S
from bulksync.jobs.specs import spec_from_record
from bulksync.jobs.tasks import Task, TaskProgress
from bulksync.logs import bound
from bulksync.spec import Mode

if TYPE_CHECKING:
    from bulksync.jobs.actors import Fleet

log = logging.getLogger("bulksync.worker")
WRITE_EVERY_S = 0.5


class TaskListener:
    """The engine's latest event for this task, as a TaskProgress (earlier attempts included)."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self._lock = threading.Lock()
        self._event: ProgressEvent | None = None
        self._already = 0
        self._changed = False

    def __call__(self, e: ProgressEvent) -> None:
        with self._lock:
            if self._event is None:
                self._already = e.rows_done  # the start event: rows committed before this attempt
            self._event, self._changed = e, True

    def snapshot(self, *, force: bool = False) -> TaskProgress | None:
        with self._lock:
            e = self._event
            if e is None or not (self._changed or force):
                return None
            self._changed = False
        if self.task.kind == "finish":
            return TaskProgress(phase=e.phase, rows_done=0, rss_mb=e.rss_mb)
        return TaskProgress(
            phase=e.phase,
            rows_done=e.rows_done,
            rows_written=self.task.rows_written + e.rows_done - self._already - e.rejected,
            rows_rejected=self.task.rows_rejected + e.rejected,
            rows_per_s=e.rows_per_s,
            rss_mb=e.rss_mb,
        )


class TaskBeat(threading.Thread):
    """Heartbeats of one task; sets ``cancel`` when the task must stop between batches."""

    def __init__(self, fleet: Fleet, task: Task, listener: TaskListener, timeout_s: float | None) -> None:
        super().__init__(name=f"beat-{task.job_id}-{task.task_no}", daemon=True)
        self.fleet, self.task, self.listener, self.timeout_s = fleet, task, listener, timeout_s
        self.cancel = threading.Event()
        self.lost = self.timed_out = self.stopped = False
        self._halt = threading.Event()
        self._renew_every = max(0.5, fleet.store.lease.total_seconds() / 4)

    def run(self) -> None:
        started = last_write = time.monotonic()
        while not self._halt.wait(CANCEL_POLL_S):
            if self.fleet.halt.is_set():
                self.stopped = True  # the worker is shutting down: hand the task back
                self.cancel.set()
            since = time.monotonic() - last_write
            snap = self.listener.snapshot() if since >= WRITE_EVERY_S else None
            if snap is None and since < self._renew_every:
                self._look_for_cancel()
                continue
            try:
                ours, stop = self.fleet.tasks.heartbeat(self.task, self.fleet.owner, snap)
            except SyncError as exc:  # the store is briefly unreachable: keep going, try again
                log.warning("%s: heartbeat failed: %s", self.task.label, exc.message)
                continue
            last_write = time.monotonic()
            self.lost = self.lost or not ours
            self.stopped = self.stopped or stop is not None
            self.timed_out = bool(self.timeout_s) and last_write - started > (self.timeout_s or 0)
            if self.lost or self.stopped or self.timed_out:
                self.cancel.set()

    def _look_for_cancel(self) -> None:
        """Between heartbeats: a read of the job's row, so a cancel stops the task at once."""
        if self.cancel.is_set():
            return
        try:
            if self.fleet.store.stop_asked(self.task.job_id):
                self.stopped = True
                self.cancel.set()
        except SyncError:
            pass  # the store is briefly away: the next heartbeat says so

    def stop(self) -> None:
        self._halt.set()
        self.join()


@dataclass
class Attempt:
    """How one attempt of a task ended."""

    result: SyncResult | None = None
    error: SyncError | None = None


def run_task(fleet: Fleet, task: Task) -> str:
    """Run a task this worker claimed; record its end; returns done|failed|stopped|lost|retry.

    Every line logged meanwhile carries the job, table and partition (JSON logs: fields)."""
    with bound(job=task.job_id, table=task.table, partition=task.part):
        return _run_task(fleet, task)


def _run_task(fleet: Fleet, task: Task) -> str:
    job = fleet.store.get(task.job_id)
    if job.kind == "stores":  # a store of a store sync (jobs/store_tasks.py)
        from bulksync.jobs.store_tasks import run_store_task

        return run_store_task(fleet, task, job)
    log.info("task start: %s, attempt %d of %d", task.label, task.attempts, task.max_attempts)
    listener = TaskListener(task)
    beat = TaskBeat(fleet, task, listener, job.timeout_s)
    started = time.monotonic()
    beat.start()
    try:
        attempt = _attempt(fleet, task, job.spec, listener, beat.cancel)
    finally:
        beat.stop()
    took = time.monotonic() - started
    if isinstance(attempt.error, FencedOut):  # another writer has the partition: not a failure
        log.info("task fenced out: %s (%s)", task.label, attempt.error.message)
        return "lost"
    if beat.lost:
        log.info("task lost: %s (its lease was taken over)", task.label)
        return "lost"
    progress = _final(listener, task, attempt.result)
    if attempt.error is not None or beat.timed_out:
        book = AddressBook.for_job(fleet.settings, job.spec)
        return _failed(fleet, task, attempt.error, progress, timed_out=beat.timed_out, public=book.public)
    table = attempt.result.tables[0] if attempt.result and attempt.result.tables else None
    if table is None or table.status not in ("succeeded", "partitions done"):
        fleet.tasks.end(task, fleet.owner, status="queued", progress=progress, give_back=True)
        log.info("task stopped: %s after %.1f s (between batches)", task.label, took)
        if not fleet.settle_cancel(task.job_id):
            _resend_if_running(fleet, task)  # e.g. this worker is shutting down: another takes it
        return "stopped"
    fleet.tasks.end(task, fleet.owner, status="done", progress=progress)
    rows = f", {table.rows_written:,} rows" if task.kind == "partition" else ""
    log.info("task done: %s in %.1f s%s", task.label, took, rows)
    if task.kind == "finish":
        if fleet.tasks.complete_job(task.job_id):
            log.info("job succeeded: %s", task.job_id)
        return "done"
    finish_no = fleet.tasks.finish_task_of(task.job_id, task.table)
    finish = None if finish_no is None else fleet.tasks.claim(task.job_id, finish_no, fleet.owner)
    if finish is not None:
        run_task(fleet, finish)  # this worker finished the table's last partition
    return "done"


def _attempt(
    fleet: Fleet, task: Task, spec_record: dict[str, object], listener: TaskListener, cancel: threading.Event
) -> Attempt:
    try:
        spec = spec_from_record(spec_record, fleet.settings)
        told = [listener, *fleet.listeners]  # the task's progress, and the worker's metrics
        if task.kind == "finish":
            try:
                return Attempt(run_table(spec, task.table, partitions=(), listeners=told, cancel=cancel))
            except CheckpointsGone:
                if spec.mode is not Mode.REPLACE:
                    raise
                # the swap committed (it forgets the checkpoints) before the last worker died
                return _swapped()
        parts = [task.part] if task.part is not None else []
        return Attempt(
            run_table(spec, task.table, partitions=parts, finish=False, listeners=told, cancel=cancel)
        )
    except SyncFailed as failed:
        return Attempt(failed.result, failed.error)
    except SyncError as exc:
        return Attempt(None, exc)
    except Exception as exc:  # a bug: fail the task with its type and message, never a traceback
        return Attempt(None, PermanentError(f"internal error ({type(exc).__name__}): {exc}"))


def _swapped() -> Attempt:
    from bulksync.engine.result import TableResult

    return Attempt(SyncResult(tables=[TableResult(table="", target="", mode="replace", status="succeeded")]))


def _final(listener: TaskListener, task: Task, result: SyncResult | None) -> TaskProgress | None:
    snap = listener.snapshot(force=True)
    if snap is None or result is None or not result.tables or task.kind == "finish":
        return snap
    t = result.tables[0]
    return TaskProgress(
        phase=snap.phase,
        rows_done=snap.rows_done,
        rows_written=task.rows_written + t.rows_written,
        rows_rejected=task.rows_rejected + t.rows_rejected,
        rss_mb=snap.rss_mb,
    )


def _failed(
    fleet: Fleet,
    task: Task,
    error: SyncError | None,
    progress: TaskProgress | None,
    *,
    timed_out: bool,
    public: Callable[[str], str],
) -> str:
    """Record a failed attempt: queued again after a transient error, else the job fails. The
    records name connections (``public``); the worker's log has the whole line."""
    where = f"table {task.table}, " + (f"partition {task.part}" if task.part is not None else "finish step")
    if error is None or timed_out:
        message = f"{where}: timed out (the job timeout, per attempt); bulksync resume JOB continues it"
    else:
        message = f"{where}: {error.message}"
    if isinstance(error, TransientError) and not timed_out and task.attempts < task.max_attempts:
        fleet.tasks.end(task, fleet.owner, status="queued", progress=progress, error=public(message))
        log.warning("task retry: %s: %s", task.label, message)
        send(fleet.broker, RUN_PARTITION, task.job_id, task.task_no, delay_ms=1000 * 2**task.attempts)
        return "retry"
    fleet.tasks.end(task, fleet.owner, status="failed", progress=progress, error=public(message))
    fleet.tasks.fail_job(task.job_id, public(message))
    log.error("task failed: %s: %s", task.label, message)
    return "failed"


def _resend_if_running(fleet: Fleet, task: Task) -> None:
    job = fleet.store.get(task.job_id)
    if job.status == "running" and not job.cancel_requested:
        send(fleet.broker, RUN_PARTITION, task.job_id, task.task_no)
        fleet.tasks.mark_sent(task.job_id, [task.task_no])
