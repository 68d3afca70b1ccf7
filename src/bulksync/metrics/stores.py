"""Prometheus metrics of the store syncs a ``bulksync serve`` process runs (its embedded workers).

    bulksync_store_http_requests_total{code}     requests to store APIs by HTTP status code
    bulksync_store_http_retries_total            requests retried (429, 503, 5xx, timeouts, drops)
    bulksync_store_http_rate_limited_total       429 answers (the limits should keep this at 0)
    bulksync_stores_synced_total{outcome}        stores ended: succeeded | failed | skipped
    bulksync_store_sync_seconds{outcome}         seconds per store (histogram)

No store code or job id label: 300 stores a night would make 300 series per metric for ever.
Counted when each store ends (its requests included), from the recipe's per-store tally.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram

from bulksync.recipes.stores_result import StoreOutcome

if TYPE_CHECKING:
    from bulksync.connectors.http import Tally

_STORE_SECONDS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, float("inf"))


class StoreMetrics:
    """A ``StoreListener`` that counts into ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "bulksync_store_http_requests", "Requests to store APIs by HTTP status code", ["code"],
            registry=registry,
        )  # fmt: skip
        self.retries = Counter("bulksync_store_http_retries", "Store API requests retried", registry=registry)
        self.rate_limited = Counter(
            "bulksync_store_http_rate_limited", "Store API answers 429 (rate limited)", registry=registry
        )
        self.stores = Counter(
            "bulksync_stores_synced", "Stores whose sync ended, by outcome", ["outcome"], registry=registry
        )
        self.seconds = Histogram(
            "bulksync_store_sync_seconds", "Seconds to sync one store", ["outcome"],
            buckets=_STORE_SECONDS, registry=registry,
        )  # fmt: skip

    def store_done(self, outcome: StoreOutcome, tally: Tally) -> None:
        if outcome.status not in ("succeeded", "failed", "skipped"):
            return  # stopped by a cancel: it continues later and is counted then
        for code, n in tally.statuses.items():
            self.requests.labels(str(code)).inc(n)
        self.retries.inc(tally.retries)
        self.rate_limited.inc(tally.rate_limited)
        self.stores.labels(outcome.status).inc()
        if outcome.status != "skipped":
            self.seconds.labels(outcome.status).observe(outcome.duration_ms / 1000)
