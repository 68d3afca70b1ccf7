"""A job's log: what ``bulksync status`` knows, as plain lines, while the job runs.

The detached runner of ``--background`` writes them to ``logs/<job>.log`` next to the store;
``bulksync serve`` to its own log. One line when an attempt starts (what, which attempt, which
runner), one per table every few seconds while it copies and at each change of phase (planned,
indexing, swapping, done, failed, with the reason), the engine's retries of a batch, and one
when the attempt ends: the status, the rows committed, the speed and, for a failure or a retry,
the reason in full (redacted: no password, but the address, which a job record never holds).
"""

from __future__ import annotations

import logging
import threading
import time

from bulksync.engine.progress import ProgressEvent
from bulksync.errors import redact
from bulksync.jobs.model import Job, Progress
from bulksync.logs import context

log = logging.getLogger("bulksync.jobs")


class JobJournal:
    """A progress listener that logs a job's tables every ``every_s`` seconds and at each phase."""

    def __init__(self, job: Job, *, every_s: float = 5.0) -> None:
        self.job, self.every_s = job, every_s
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        self._started = time.monotonic()

    def started(self, what: str, owner: str) -> None:
        attempt = f"attempt {self.job.attempts} of {self.job.max_attempts}"
        log.info(
            "%s: started (%s, runner %s): %s %s", self.job.id, attempt, owner, self.job.kind, what,
            extra=context(job=self.job.id, attempt=self.job.attempts),
        )  # fmt: skip

    def __call__(self, e: ProgressEvent) -> None:
        now = time.monotonic()
        with self._lock:
            if e.phase == "copying" and now - self._last.get(e.table, 0.0) < self.every_s:
                return
            self._last[e.table] = now
        eta = f"{e.eta_s:,.0f} s" if e.eta_s is not None else "?"
        log.info(
            "%s: %s: %s %s/%s rows (%.1f%%) %s rows/s ETA %s%s%s",
            self.job.id, e.table, e.phase, f"{e.rows_done:,}", f"{e.rows_total:,}", e.percent,
            f"{e.rows_per_s:,.0f}", eta, f", {e.rejected:,} rejected" if e.rejected else "",
            f": {redact(e.message)}" if e.message else "",
            extra=context(job=self.job.id, table=e.table, phase=e.phase),
        )  # fmt: skip

    def ended(self, status: str, progress: Progress | None, message: str | None) -> None:
        seconds = time.monotonic() - self._started
        rows = f"{progress.processed:,} of {progress.estimated:,} rows" if progress else "no rows"
        speed = f" ({progress.rows_per_s:,.0f} rows/s)" if progress and progress.rows_per_s else ""
        why = f": {redact(message)}" if message else ""
        word = "will be tried again" if status == "queued" else status
        level = logging.ERROR if status == "failed" else logging.INFO
        log.log(
            level, "%s: %s after %.1f s, %s committed%s%s", self.job.id, word, seconds, rows, speed, why,
            extra=context(job=self.job.id, phase=status),
        )  # fmt: skip
