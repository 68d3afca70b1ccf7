"""The embedded runner: run a claimed job with ``sync()``, keep its lease alive, record the end.

Progress events arrive on the engine's threads and only update an in-memory snapshot; one
heartbeat thread writes the snapshot to the store (at most twice a second), renews the lease and,
ten times a second, reads ``cancel_requested``. Cancelling sets the engine's cancel event: the
readers stop at once, queued batches are dropped, and the batch being committed is the last one
(``bulksync serve`` sets the event of a job its own workers run as the request arrives). A runner
whose lease was taken over (it stalled past the lease) stops the same way and writes nothing
more: the new owner resumes from the checkpoints.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from bulksync.engine.progress import Listener, ProgressEvent
from bulksync.engine.result import SyncResult, TableResult
from bulksync.engine.retry import retrying
from bulksync.errors import PermanentError, SyncError, TransientError
from bulksync.jobs.addresses import AddressBook
from bulksync.jobs.journal import JobJournal
from bulksync.jobs.specs import describe, spec_from_record
from bulksync.jobs.store import Job, JobStore, Progress
from bulksync.settings import Settings
from bulksync.spec import SyncSpec

log = logging.getLogger("bulksync.jobs")
WRITE_EVERY_S = 0.5  # progress writes per job: at most 2 a second
CANCEL_POLL_S = 0.1  # how often a running job looks for a cancel request (a read, no write)
FINISH_RETRIES = 6  # backoff 0.2 s doubling to 10 s: ~25 s for the job store to come back


def runner_id() -> str:
    """``host:pid:random``: who holds a lease (readable in ``bulksync status``)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class JobProgress:
    """A progress listener: the latest event per table (the engine counts rows committed by
    earlier attempts in ``rows_done``, from their checkpoints; until this attempt's first event
    a table shows what the earlier attempt recorded)."""

    def __init__(
        self, earlier: dict[str, dict[str, Any]], *, public: Callable[[str], str] = lambda m: m
    ) -> None:
        self._tables: dict[str, dict[str, Any]] = {t: dict(v) for t, v in earlier.items()}
        self._public = public  # what a job record may say of a message (jobs/addresses.py)
        self._lock = threading.Lock()
        self._changed = False

    def __call__(self, e: ProgressEvent) -> None:
        with self._lock:
            self._tables[e.table] = {
                "phase": e.phase,
                "rows_done": e.rows_done,
                "rows_total": max(e.rows_total, e.rows_done),
                "rows_per_s": round(e.rows_per_s, 1),
                "eta_s": None if e.eta_s is None else round(e.eta_s, 1),
                "rss_mb": round(e.rss_mb, 1),
                "partitions": e.partitions,
                "rejected": e.rejected,
                "message": self._public(e.message) if e.message else "",
            }
            self._changed = True

    def snapshot(self, *, force: bool = False) -> Progress | None:
        """The job's progress now; None when nothing changed since the last snapshot."""
        with self._lock:
            if not (self._changed or force):
                return None
            self._changed = False
            tables = {t: dict(v) for t, v in self._tables.items()}
        rate = sum(float(v["rows_per_s"]) for v in tables.values() if v["phase"] == "copying")
        return Progress.of_tables(tables, rate=rate)

    def final(self, result: SyncResult) -> Progress:
        """Exact counts from the result: rows committed by earlier attempts plus this one's."""
        snap = self.snapshot(force=True)
        assert snap is not None
        tables = dict(snap.tables)
        for t in result.tables:
            done = t.resumed_rows + t.rows_written
            entry = dict(tables.get(t.target, {}))
            phase = "done" if t.status == "succeeded" else t.status
            entry.update(rows_done=done, rows_total=max(t.estimated_rows, done), phase=phase, eta_s=None)
            tables[t.target] = entry
        totals = Progress.of_tables(tables, rate=result.rows_per_s)
        return replace(totals, eta_s=None, rss_mb=result.memory_peak_mb or snap.rss_mb)


class Heartbeat(threading.Thread):
    """Writes progress, renews the lease, turns cancel requests and timeouts into ``cancel``."""

    def __init__(
        self,
        store: JobStore,
        job: Job,
        owner: str,
        progress: JobProgress,
        *,
        cancel: threading.Event | None = None,
    ) -> None:
        super().__init__(name=f"heartbeat-{job.id}", daemon=True)
        self.store, self.job, self.owner, self.progress = store, job, owner, progress
        self.cancel = cancel or threading.Event()
        self.lost = self.timed_out = False
        self._halt = threading.Event()
        self._renew_every = max(0.5, store.lease.total_seconds() / 4)

    def run(self) -> None:
        started = last_write = time.monotonic()
        while not self._halt.wait(CANCEL_POLL_S):
            since = time.monotonic() - last_write
            snap = self.progress.snapshot() if since >= WRITE_EVERY_S else None
            if snap is None and since < self._renew_every:
                self._look_for_cancel()
                continue
            try:
                ours, cancel = self.store.heartbeat(self.job.id, self.owner, snap)
            except SyncError as exc:  # the store is briefly unreachable: keep going, try again
                log.warning("%s: heartbeat failed: %s", self.job.id, exc.message)
                continue
            last_write = time.monotonic()
            if not ours:
                self.lost = True
            if self.job.timeout_s and last_write - started > self.job.timeout_s:
                self.timed_out = True
            if self.lost or cancel or self.timed_out:
                self.cancel.set()

    def _look_for_cancel(self) -> None:
        if self.cancel.is_set():
            return
        try:
            if self.store.stop_asked(self.job.id):
                self.cancel.set()
        except SyncError:
            pass  # the store is briefly away: the next heartbeat says so

    def stop(self) -> None:
        self._halt.set()
        self.join()


def run_job(
    store: JobStore,
    job: Job,
    settings: Settings,
    owner: str,
    *,
    listeners: Sequence[Listener] = (),
    cancel: threading.Event | None = None,
) -> str:
    """Run one attempt of a job this runner has claimed; record and return its new status.

    ``listeners`` get the engine's progress events too (the API's Prometheus metrics). The record
    names configured connections, never their addresses; this runner's log has the whole line."""
    if job.kind == "stores":  # a fan-out over store APIs (jobs/store_runner.py)
        from bulksync.jobs.store_runner import run_store_job

        return run_store_job(store, job, settings, owner, cancel=cancel, listeners=listeners)
    book = AddressBook.for_job(settings, job.spec)
    progress = JobProgress(job.progress.tables, public=book.public)
    journal = JobJournal(job, every_s=settings.job_log_seconds)
    journal.started(describe(job.spec), owner)
    beat = Heartbeat(store, job, owner, progress, cancel=cancel)
    beat.start()
    try:
        result, error = _attempt(job, settings, [progress, journal, *listeners], beat.cancel)
    finally:
        beat.stop()
    if beat.lost:
        journal.ended("taken over by another runner (this one stalled past its lease)", None, None)
        return "lost"  # another runner owns the job now; its record is theirs to write
    status, message = _outcome(job, beat, error, result)
    final = progress.final(result) if result is not None else progress.snapshot(force=True)
    journal.ended(status, final, message)
    record = partial(
        store.finish,
        job.id,
        owner,
        status=status,
        progress=final,
        result=_public_result(result, book) if result else None,
        error=book.public(message) if message else None,
    )
    retrying(record, retries=FINISH_RETRIES)  # the store restarting must not cost the job a re-run
    return status


def _attempt(
    job: Job, settings: Settings, listeners: list[Listener], cancel: threading.Event
) -> tuple[SyncResult | None, SyncError | None]:
    """What is left of the job, run; its result and the error it stopped on, if any."""
    from bulksync.engine.run import SyncFailed  # the engine loads with the first job, not with serve

    try:
        return _run_rest(job, spec_from_record(job.spec, settings), listeners, cancel), None
    except SyncFailed as failed:
        return failed.result, failed.error
    except SyncError as exc:
        return None, exc
    except Exception as exc:  # a bug: fail the job with its type and message, never a traceback
        return None, PermanentError(f"internal error ({type(exc).__name__}): {exc}")


def _run_rest(job: Job, spec: SyncSpec, listeners: list[Listener], cancel: threading.Event) -> SyncResult:
    """Run what is left of the job: tables an earlier attempt finished are not read again.

    Their rows were committed (and counted) by that attempt; the result lists them as resumed.
    ``--restart`` (forget the checkpoints) applies to a job's first attempt only: a later one
    continues from what the first committed.
    """
    done = {t for t, v in job.progress.tables.items() if v.get("phase") == "done"}
    left = tuple(t for t in spec.tables if t.target not in done)
    update: dict[str, Any] = {"restart": spec.restart and job.attempts <= 1}
    skipped = [
        TableResult(
            table=t.name,
            target=t.target,
            mode=spec.mode.value,
            estimated_rows=int(job.progress.tables[t.target].get("rows_total", 0)),
            resumed_rows=int(job.progress.tables[t.target].get("rows_done", 0)),
            status="succeeded",
        )
        for t in spec.tables
        if t.target in done
    ]
    from bulksync.engine.run import sync

    result = (
        sync(spec.model_copy(update={**update, "tables": left}), listeners=listeners, cancel=cancel)
        if left
        else SyncResult()
    )
    result.tables = skipped + result.tables
    return result


def _public_result(result: SyncResult, book: AddressBook) -> dict[str, Any]:
    """The result as a job record holds it: table errors without internal addresses."""
    data = result.to_dict()
    for table in data["tables"]:
        if table.get("error"):
            table["error"] = book.public(table["error"])
    return data


def _outcome(
    job: Job, beat: Heartbeat, error: SyncError | None, result: SyncResult | None
) -> tuple[str, str | None]:
    if error is not None:
        if isinstance(error, TransientError) and job.attempts < job.max_attempts:
            return "queued", f"attempt {job.attempts} of {job.max_attempts} failed, retrying: {error.message}"
        return "failed", error.message
    if beat.timed_out:
        return "failed", (
            f"timed out after {job.timeout_s:.0f} s (the job timeout); "
            "bulksync resume JOB continues from its checkpoints"
        )
    if result is not None and result.status == "cancelled":
        return "cancelled", None
    return "succeeded", None


def run_until_done(
    store: JobStore, job_id: str, settings: Settings, *, owner: str | None = None
) -> str | None:
    """Claim ``job_id`` and run it, again after a transient failure; None if another runner has it."""
    owner = owner or runner_id()
    status: str | None = None
    while (job := store.claim(job_id, owner)) is not None:
        status = run_job(store, job, settings, owner)
        if status != "queued":
            break
        wait = min(30.0, 2.0**job.attempts)
        log.info("%s: attempt %d of %d in %.0f s", job_id, job.attempts + 1, job.max_attempts, wait)
        time.sleep(wait)  # back off before the next attempt
    return status


class WorkerPool:
    """Embedded workers: threads that claim queued jobs (and jobs whose runner died) and run them.

    ``bulksync serve`` starts one; a detached ``--background`` runner and these workers share the
    store, and the atomic claim decides who runs what. On ``stop`` a worker finishes its current
    attempt; a job still running when the process dies is taken over once its lease expires.
    """

    def __init__(
        self,
        store: JobStore,
        settings: Settings,
        *,
        threads: int = 2,
        poll_s: float = 1.0,
        listeners: Sequence[Listener] = (),
    ) -> None:
        self.store, self.settings, self.poll_s = store, settings, poll_s
        self.listeners = tuple(listeners)
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._cancels: dict[str, threading.Event] = {}  # the jobs running here: their cancel events
        self._halt = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, name=f"bulksync-worker-{n}", daemon=True)
            for n in range(threads)
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self, timeout_s: float | None = None) -> None:
        self._halt.set()
        for t in self._threads:
            t.join(timeout_s)

    def _work(self) -> None:
        owner = runner_id()
        while not self._halt.is_set():
            try:
                job = self.store.claim_next(owner)
            except SyncError as exc:
                log.warning("worker: cannot read the job store: %s", exc.message)
                job = None
            if job is None:
                self._halt.wait(self.poll_s)
                continue
            cancel = threading.Event()
            with self._busy_lock:
                self._busy += 1
                self._cancels[job.id] = cancel
            try:
                run_job(self.store, job, self.settings, owner, listeners=self.listeners, cancel=cancel)
            except SyncError as exc:  # the store stayed away: this thread must live on
                log.warning(
                    "%s: its end could not be recorded (%s); another runner takes it over from its "
                    "checkpoints once its lease lapses", job.id, exc.message,
                )  # fmt: skip
            finally:
                with self._busy_lock:
                    self._busy -= 1
                    self._cancels.pop(job.id, None)

    def cancel(self, job_id: str) -> bool:
        """Stop ``job_id`` now if it runs here (its cancel request is already in the store)."""
        with self._busy_lock:
            found = self._cancels.get(job_id)
        if found is not None:
            found.set()
        return found is not None

    def busy(self) -> int:
        """Jobs these workers are running now (after ``stop``: the ones it did not wait for)."""
        with self._busy_lock:
            return self._busy
