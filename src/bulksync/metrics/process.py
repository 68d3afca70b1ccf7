"""Prometheus metrics of one ``bulksync serve`` or ``bulksync worker`` process, on a registry of
its own (a worker serves it on ``--metrics-port``).

Fed by the engine's progress events (a listener the worker pool, the fleet's tasks and the
synchronous bet syncs pass to ``sync``), by each store's end and, at scrape time, by the job store
(``serve`` only: the job counts are the same from every server, a worker does not repeat them):

    bulksync_rows_synced_total{table}        rows committed to destinations by this process
    bulksync_batch_rows{table}               rows per committed batch (histogram)
    bulksync_batch_seconds{table}            seconds to write and commit one batch (histogram)
    bulksync_jobs{status}                    jobs in the store per status (shared by all servers)
    bulksync_job_store_up                    1 when the store answered the scrape
    bulksync_job_stall_seconds               the longest any running job's rows have not moved
    bulksync_memory_rss_bytes                resident memory of this process
    bulksync_store_* / bulksync_stores_*     store syncs (metrics/stores.py)
    process_* / python_*                     prometheus-client's standard process collectors
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import psutil
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from bulksync.engine.progress import ProgressEvent
from bulksync.errors import SyncError
from bulksync.jobs.statuses import STATUSES
from bulksync.metrics.stores import StoreMetrics

if TYPE_CHECKING:  # a worker's metrics never read the job store (serve's do): no SQLAlchemy there
    from bulksync.jobs.store import JobStore

_ROW_BUCKETS = (10, 100, 500, 1_000, 5_000, 10_000, 50_000, 100_000, 500_000, float("inf"))
STALL_JOBS = 1000  # running jobs a scrape looks at for bulksync_job_stall_seconds
_SECOND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, float("inf"))


class Metrics:
    """The registry and the progress listener that feeds it (thread-safe: events come from the
    engine's partition threads)."""

    def __init__(self, store: Callable[[], JobStore] | None) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.rows = Counter(
            "bulksync_rows_synced", "Rows committed to destinations", ["table"], registry=self.registry
        )
        self.batch_rows = Histogram(
            "bulksync_batch_rows", "Rows per committed batch", ["table"],
            buckets=_ROW_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.batch_seconds = Histogram(
            "bulksync_batch_seconds", "Seconds per committed batch of one partition", ["table"],
            buckets=_SECOND_BUCKETS, registry=self.registry,
        )  # fmt: skip
        if store is not None:
            self.registry.register(StoreCollector(store))
        self.stores = StoreMetrics(self.registry)
        self.store_done = self.stores.store_done  # a StoreListener too (recipes/stores_result.py)
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}  # table -> rows_done at its last event

    def __call__(self, event: ProgressEvent) -> None:
        """A progress listener: count the rows each event adds since the table's previous one.

        ``rows_done`` counts rows of earlier runs too; a ``planned`` event starts a run, so it
        sets the baseline instead of counting. (Two jobs writing the same table at the same time
        would share one baseline; the job store's counts are exact either way.)
        """
        with self._lock:
            before = self._seen.get(event.table)
            if event.phase == "planned" or before is None:
                self._seen[event.table] = event.rows_done
                return
            added = event.rows_done - before
            if added <= 0:  # an event that overtook a later one on another thread: nothing new
                return
            self._seen[event.table] = event.rows_done
        self.rows.labels(event.table).inc(added)
        if event.batch_rows:  # the engine's own figures for the batch this event reports
            self.batch_rows.labels(event.table).observe(event.batch_rows)
            self.batch_seconds.labels(event.table).observe(event.batch_seconds)


class StoreCollector(Collector):
    """Job counts per status and the process memory, read when Prometheus scrapes."""

    def __init__(self, store: Callable[[], JobStore]) -> None:
        self.store = store
        self.process = psutil.Process()
        self._lock = threading.Lock()
        self._moved: dict[str, tuple[int, float]] = {}  # running job -> (rows, monotonic time they changed)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("bulksync_job_store_up", "1 when the job store answered this scrape")
        jobs = GaugeMetricFamily("bulksync_jobs", "Jobs in the job store by status", labels=["status"])
        try:
            counts = self.store().counts()
        except SyncError:
            up.add_metric([], 0)
        else:
            up.add_metric([], 1)
            for status in STATUSES:
                jobs.add_metric([status], counts[status])
            yield jobs
            yield from self._stall()
        yield up
        rss = GaugeMetricFamily("bulksync_memory_rss_bytes", "Resident memory of this server process")
        rss.add_metric([], self.process.memory_info().rss)
        yield rss

    def _stall(self) -> Iterator[Metric]:
        """Seconds since the rows of the longest-stuck running job last moved, as this process's
        scrapes saw them (a job first seen counts from then; a heartbeat alone is no progress)."""
        stall = GaugeMetricFamily(
            "bulksync_job_stall_seconds",
            "Longest time any running job's committed rows have not moved (as seen by this server)",
        )
        try:
            running = self.store().list(status="running", limit=STALL_JOBS)
        except SyncError:
            return  # the store went away between two queries: bulksync_job_store_up says so next time
        at = time.monotonic()
        with self._lock:
            before, self._moved = self._moved, {}
            for job in running:
                rows = job.progress.processed
                was, since = before.get(job.id, (rows, at))
                self._moved[job.id] = (rows, since if was == rows else at)
            stall.add_metric([], max((at - since for _, since in self._moved.values()), default=0.0))
        yield stall

    def describe(self) -> Iterator[Metric]:
        return iter(())  # collected only on a scrape, never at registration
