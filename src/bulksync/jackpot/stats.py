"""What the jackpot reports: Prometheus metrics and the rolling figures of ``/api/jackpot/stats``.

bulksync_jackpot_contributions_total{outcome}  applied | duplicate | rejected (conflicts, bad input)
bulksync_jackpot_wins_total{outcome}           paid | duplicate | rejected | must_hit_by
bulksync_jackpot_request_seconds{route}        request latency, arrival to answer (histogram)
bulksync_jackpot_requests_total{route,code}    answers by status code
bulksync_jackpot_commit_rows                   contributions per group commit (histogram)
bulksync_jackpot_commit_seconds                seconds per group commit (histogram)
bulksync_jackpot_queue_depth                   contributions waiting for the writer
bulksync_jackpot_pool_amount_minor{pool}       each pool's amount as this server last committed or read it
bulksync_jackpot_cache_hits_total / _misses_total   pool reads served from memory / from the database
bulksync_jackpot_rate_limited_total            requests refused with 429
bulksync_jackpot_db_connections{role}          connections held (writer, reader) and whether open
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

WINDOW_S = 10.0
_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_ROWS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 50_000)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class JackpotMetrics:
    """The counters, and a window of the last ``WINDOW_S`` seconds for the stats endpoint."""

    def __init__(self, registry: CollectorRegistry, live: Callable[[], dict[str, Any]]) -> None:
        self.contributions = Counter(
            "bulksync_jackpot_contributions", "Contributions by outcome", ["outcome"], registry=registry
        )
        self.wins = Counter("bulksync_jackpot_wins", "Wins by outcome", ["outcome"], registry=registry)
        self.request_seconds = Histogram(
            "bulksync_jackpot_request_seconds", "Jackpot request latency", ["route"],
            buckets=_SECONDS, registry=registry,
        )  # fmt: skip
        self.requests = Counter(
            "bulksync_jackpot_requests",
            "Jackpot answers by status code",
            ["route", "code"],
            registry=registry,
        )
        self.commit_rows = Histogram(
            "bulksync_jackpot_commit_rows", "Contributions per group commit", buckets=_ROWS, registry=registry
        )
        self.commit_seconds = Histogram(
            "bulksync_jackpot_commit_seconds", "Seconds per group commit", buckets=_SECONDS, registry=registry
        )
        self.cache_hits = Counter("bulksync_jackpot_cache_hits", "Pool reads from memory", registry=registry)
        self.cache_misses = Counter(
            "bulksync_jackpot_cache_misses", "Pool reads from the database", registry=registry
        )
        self.rate_limited = Counter(
            "bulksync_jackpot_rate_limited", "Requests refused with 429", registry=registry
        )
        registry.register(_LiveCollector(live))
        self._latency: deque[tuple[float, float, bool]] = deque()  # (when, seconds, ok)
        self._items: deque[tuple[float, int]] = deque()  # (when, contributions answered)
        self.hits = self.misses = 0
        self._observe: dict[str, Callable[[float], None]] = {}
        self._count: dict[tuple[str, int], Callable[[], None]] = {}

    def request(self, route: str, code: int, seconds: float, items: int = 0) -> None:
        # the labelled children, looked up once: ``labels()`` locks and builds a key every call
        # (~3 µs a request, measured, when a single contribution costs the server ~150 µs)
        observe = self._observe.get(route)
        if observe is None:
            observe = self._observe[route] = self.request_seconds.labels(route).observe
        observe(seconds)
        count = self._count.get((route, code))
        if count is None:
            count = self._count[(route, code)] = self.requests.labels(route, str(code)).inc
        count()
        now = time.monotonic()
        self._latency.append((now, seconds, code < 400 or code == 409))
        if items:
            self._items.append((now, items))
        self._trim(now)

    def cache(self, hit: bool) -> None:
        if hit:
            self.hits += 1
            self.cache_hits.inc()
        else:
            self.misses += 1
            self.cache_misses.inc()

    def _trim(self, now: float) -> None:
        for window in (self._latency, self._items):
            while window and window[0][0] < now - WINDOW_S:
                window.popleft()

    def figures(self) -> dict[str, float | None]:
        """contributions/s, p50/p95/p99 (ms), error rate over the window; the cache's hit rate."""
        now = time.monotonic()
        self._trim(now)
        latencies = [s * 1000 for _, s, _ in self._latency]
        failed = sum(1 for *_, ok in self._latency if not ok)
        reads = self.hits + self.misses
        return {
            "contributions_per_s": sum(n for _, n in self._items) / WINDOW_S,
            "p50_ms": percentile(latencies, 0.50),
            "p95_ms": percentile(latencies, 0.95),
            "p99_ms": percentile(latencies, 0.99),
            "error_rate": failed / len(latencies) if latencies else 0.0,
            "cache_hit_rate": self.hits / reads if reads else None,
        }


class _LiveCollector(Collector):
    """Gauges read at scrape time from the running service."""

    def __init__(self, live: Callable[[], dict[str, Any]]) -> None:
        self.live = live

    def collect(self) -> Iterator[Metric]:
        now = self.live()
        queue = GaugeMetricFamily("bulksync_jackpot_queue_depth", "Contributions waiting for the writer")
        queue.add_metric([], now["queue_size"])
        yield queue
        pools = GaugeMetricFamily(
            "bulksync_jackpot_pool_amount_minor", "Pool amounts in minor units", labels=["pool"]
        )
        for name, amount in now["pools"].items():
            pools.add_metric([name], amount)
        yield pools
        conns = GaugeMetricFamily(
            "bulksync_jackpot_db_connections", "Database connections of the jackpot, 1 when open",
            labels=["role"],
        )  # fmt: skip
        for role, up in now["connections"].items():
            conns.add_metric([role], up)
        yield conns

    def describe(self) -> Iterator[Metric]:
        return iter(())
