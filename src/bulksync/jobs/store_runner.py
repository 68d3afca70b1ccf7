"""Run a store-sync job (kind ``stores``) on one runner: a ``--background`` process or a worker
thread of ``bulksync serve``; the same heartbeat, lease and cancel as every other job.

The job record's progress has the shape of every job's — processed / estimated (here: stores),
percentage, rate (stores/s) and ETA — with one entry under ``tables`` (the records table) that
adds records, requests, requests/s and the failed stores with their reasons, so listings,
``status --follow``, the API and its SSE events show a store sync like any other job. The end:
``succeeded``, ``partial`` (some stores failed: each one in the result), ``failed`` (all did, or
the run could not start), ``cancelled``, or ``queued`` again after a transient failure.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from bulksync.errors import PermanentError, SyncError, TransientError
from bulksync.jobs.addresses import AddressBook
from bulksync.jobs.journal import JobJournal
from bulksync.jobs.runner import Heartbeat, JobProgress
from bulksync.jobs.specs import describe
from bulksync.jobs.store import Job, JobStore, Progress
from bulksync.jobs.store_specs import retrying, store_job_from_record
from bulksync.recipes.stores import sync_stores
from bulksync.recipes.stores_result import StoreListener, StoreProgress, StoresResult
from bulksync.settings import Settings, get_store_settings

MAX_LISTED_FAILURES = 100  # failed stores listed in the live progress (the result lists them all)


class StoreJobProgress(JobProgress):
    """The latest StoreProgress of the run, as the job record's Progress."""

    def __init__(self, table: str, total: int) -> None:
        super().__init__({})
        self.table, self.total = table, total
        self._latest: dict[str, Any] | None = None
        self._rss = _rss_mb()

    def update(self, p: StoreProgress) -> None:
        """A listener of ``sync_stores``: called on the run's event loop, cheap."""
        secs = max(p.elapsed, 1e-9)
        rate = p.processed / secs
        entry = {
            "phase": "copying",
            "rows_done": p.processed,
            "rows_total": p.total,
            "rows_per_s": round(rate, 2),
            "eta_s": round((p.total - p.processed) / rate, 1) if rate > 0 else None,
            "rss_mb": self._rss,
            "partitions": p.total,
            "partitions_done": p.processed,
            "rejected": 0,
            "message": "",
            "unit": "stores",
            "records": p.records,
            "requests": p.requests,
            "requests_per_s": round(p.requests / secs, 1),
            "failed": p.failed,
            "failed_stores": [{"code": c, "reason": m} for c, m in p.failures[:MAX_LISTED_FAILURES]],
        }
        with self._lock:
            self._latest, self._changed = entry, True

    def snapshot(self, *, force: bool = False) -> Progress | None:
        with self._lock:
            if not (self._changed or force):
                return None
            self._changed = False
            entry = dict(self._latest) if self._latest else self._empty()
        entry["rss_mb"] = self._rss = _rss_mb()
        return Progress.of_tables({self.table: entry})

    def done(self, result: StoresResult) -> Progress:
        snap = self.snapshot(force=True)
        assert snap is not None
        entry = dict(snap.tables[self.table])
        entry.update(phase="done" if result.status != "cancelled" else "cancelled", eta_s=None,
                     rows_per_s=0.0, records=result.records_written, requests=result.requests)  # fmt: skip
        if result.status != "cancelled":
            entry.update(rows_done=self.total, partitions_done=self.total)
        return Progress.of_tables({self.table: entry}, rate=0.0)

    def _empty(self) -> dict[str, Any]:
        return {"phase": "planned", "rows_done": 0, "rows_total": self.total, "rows_per_s": 0.0,
                "eta_s": None, "rss_mb": 0.0, "partitions": self.total, "partitions_done": 0,
                "rejected": 0, "message": "", "unit": "stores"}  # fmt: skip


def _rss_mb() -> float:
    import psutil

    return round(psutil.Process().memory_info().rss / 2**20, 1)


def run_store_job(
    store: JobStore,
    job: Job,
    settings: Settings,
    owner: str,
    *,
    cancel: threading.Event | None = None,
    listeners: Sequence[object] = (),
) -> str:
    """Run one attempt of a claimed store-sync job; record and return its new status.
    ``listeners`` that are ``StoreListener``s (the API's metrics) are told of each store."""
    book = AddressBook.for_job(settings, job.spec)
    conf = get_store_settings()
    total = len(job.spec["stores"]["list"])
    progress = StoreJobProgress(job.spec["stores"]["table"], total)
    journal = JobJournal(job, every_s=settings.job_log_seconds)
    journal.started(describe(job.spec), owner)
    beat = Heartbeat(store, job, owner, progress, cancel=cancel)
    beat.start()
    result: StoresResult | None = None
    error: SyncError | None = None
    try:
        run = store_job_from_record(job.spec, settings, conf, retry_failed=retrying(job.result))
        hooks = [x for x in listeners if isinstance(x, StoreListener)]
        result = sync_stores(run, progress.update, cancel=beat.cancel, listeners=hooks)
    except SyncError as exc:
        error = exc
    except Exception as exc:  # a bug: fail the job with its type and message, never a traceback
        error = PermanentError(f"internal error ({type(exc).__name__}): {exc}")
    finally:
        beat.stop()
    if beat.lost:
        journal.ended("taken over by another runner (this one stalled past its lease)", None, None)
        return "lost"
    status, message = _outcome(job, error, result)
    final = progress.done(result) if result is not None else progress.snapshot(force=True)
    journal.ended(status, final, message)
    store.finish(
        job.id, owner, status=status, progress=final,
        result=result.as_dict() if result is not None else job.result,
        error=book.public(message) if message else None,
    )  # fmt: skip
    return status


def _outcome(job: Job, error: SyncError | None, result: StoresResult | None) -> tuple[str, str | None]:
    if error is not None:
        if isinstance(error, TransientError) and job.attempts < job.max_attempts:
            return "queued", f"attempt {job.attempts} of {job.max_attempts} failed, retrying: {error.message}"
        return "failed", error.message
    assert result is not None
    if result.status == "succeeded":
        return "succeeded", None
    if result.status == "cancelled":
        return "cancelled", None
    return result.status, result.with_failures()
