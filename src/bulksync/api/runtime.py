"""What a running server holds: the job store (opened lazily) and the embedded worker pool.

The server starts even when its job store is down (a PostgreSQL store being restarted): healthz
then answers 503 with the reason, job endpoints 503, and the store is tried again on the next
request and every few seconds in the background. The worker pool starts once the store opens.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from bulksync.engine.progress import Listener
from bulksync.errors import SyncError
from bulksync.jobs.dispatch import uses_broker
from bulksync.jobs.launch import open_store
from bulksync.jobs.runner import WorkerPool
from bulksync.jobs.store import JobStore
from bulksync.settings import Settings

log = logging.getLogger("bulksync.api")
RETRY_S = 5.0


def _open_creating(settings: Settings) -> JobStore:
    """The server records jobs: it creates its store if there is none yet, and says so."""
    store = open_store(settings, create=True)
    if store.created:
        log.info("created the job store %s", store.where)
    return store


class StoreUnavailable(SyncError):
    """The job store cannot be reached."""


class Runtime:
    """The store handle and the worker pool of one app; ``start``/``stop`` from the lifespan."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: JobStore | None = None,
        threads: int = 0,
        listeners: Sequence[Listener] = (),
        opener: Callable[[Settings], JobStore] | None = None,
    ) -> None:
        self.settings, self.listeners = settings, tuple(listeners)
        # with a broker, jobs run on the `bulksync worker` fleet as partition tasks: an embedded
        # worker claiming a queued job first would run it whole, outside the fleet
        self.threads = 0 if uses_broker(settings) else threads
        self._store, self._owned = store, store is None
        self._opener = opener or _open_creating
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._pool: WorkerPool | None = None
        self._retry: threading.Thread | None = None

    def store(self) -> JobStore:
        """The open store; opens it now if it is not yet, or raises ``StoreUnavailable``."""
        with self._lock:
            if self._store is None:
                try:
                    self._store = self._opener(self.settings)
                except SyncError as exc:
                    raise StoreUnavailable(f"job store unavailable: {exc.message}") from exc
            if self._pool is None and self.threads > 0 and not self._halt.is_set():
                self._pool = WorkerPool(
                    self._store, self.settings, threads=self.threads, listeners=self.listeners
                )
                self._pool.start()
                log.info("%d embedded worker thread(s) started", self.threads)
            return self._store

    def cancel_now(self, job_id: str) -> bool:
        """Stop a job the embedded workers run, without waiting for its next look at the store."""
        with self._lock:
            pool = self._pool
        return pool is not None and pool.cancel(job_id)

    def start(self) -> None:
        if uses_broker(self.settings):
            log.info("jobs run on the `bulksync worker` fleet (BULKSYNC_BROKER_URL): no embedded workers")
        try:
            self.store()
        except StoreUnavailable as exc:
            log.warning("%s; retrying every %.0f s", exc.message, RETRY_S)
            self._retry = threading.Thread(target=self._keep_trying, name="store-retry", daemon=True)
            self._retry.start()

    def _keep_trying(self) -> None:
        while not self._halt.wait(RETRY_S):
            try:
                self.store()
                return
            except StoreUnavailable:
                continue

    def stop(self, timeout_s: float = 2.0) -> int:
        """Stop the idle workers and close the store; the number of jobs still running.

        A job still running is not waited for (it may run for hours): ``bulksync serve`` exits
        anyway, and the job is taken over from its last checkpoint once its lease expires, by
        this server's next start or any other runner.
        """
        self._halt.set()
        with self._lock:
            pool, store = self._pool, self._store
        if pool is not None:
            pool.stop(timeout_s)
        busy = pool.busy() if pool is not None else 0
        if store is not None and self._owned and not busy:
            store.close()
        return busy
