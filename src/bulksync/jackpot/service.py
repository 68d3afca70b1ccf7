"""``JackpotService``: the jackpot of one server — its writer, pool cache, rate limits and figures.

It is also the Python API: ``await service.contribute([...])``, ``await service.win(...)``,
``await service.pools()``, ``service.stats()``, inside a running event loop, between
``await service.start()`` and ``await service.stop()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gc
import logging
import time
from typing import Any

import psycopg
from aiolimiter import AsyncLimiter
from prometheus_client import CollectorRegistry

from bulksync.jackpot.config import JackpotSettings
from bulksync.jackpot.model import POOL_COLUMNS, Contribution, Outcome, PoolState, Win, WinResult
from bulksync.jackpot.shared import Shared
from bulksync.jackpot.stats import JackpotMetrics
from bulksync.jackpot.writer import Commit, JackpotNotReady, JackpotUnavailable, Writer

log = logging.getLogger("bulksync.jackpot")
_READ = f"SELECT {POOL_COLUMNS} FROM jackpot.pools ORDER BY name"
_ALERT_EVERY_S = 30.0


class JackpotService:
    def __init__(
        self,
        settings: JackpotSettings,
        url: str,
        *,
        registry: CollectorRegistry | None = None,
        redis_url: str | None = None,
    ) -> None:
        """With ``settings.redis_url`` (else ``redis_url``) the token buckets and the pool cache
        are shared with every server using that Redis; without, they are this process's own."""
        self.settings, self.url = settings, url
        redis_url = settings.redis_url.get_secret_value() if settings.redis_url else redis_url
        self.shared = None if redis_url is None else Shared(
            redis_url, prefix=settings.redis_prefix, burst=settings.burst,
            per_minute=settings.rate_per_minute, ttl_s=settings.cache_ttl_s,
        )  # fmt: skip
        self._ledger: str | None = None  # the ledger's id: its key in the shared cache
        self.writer = Writer(
            url, max_rows=settings.commit_max_rows, queue_max=settings.queue_max,
            gather_s=settings.commit_gather_ms / 1000,
            connect_timeout_s=settings.connect_timeout_s, on_commit=self._committed,
        )  # fmt: skip
        self.metrics = JackpotMetrics(registry or CollectorRegistry(), self._live)
        self._cache: dict[str, PoolState] = {}
        self._cache_at = float("-inf")
        self._reader: psycopg.AsyncConnection[Any] | None = None
        self._read_lock = asyncio.Lock()
        self._buckets: dict[str, AsyncLimiter] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        # what exists by now (the app, its modules) lives as long as the process: out of the
        # collector's sight, a full collection under load (a batch allocates thousands of
        # objects) no longer walks it every time (~20 % of a batch's parse, measured)
        gc.freeze()
        self._tasks = [
            asyncio.create_task(self.writer.run(), name="jackpot-writer"),
            asyncio.create_task(self._watch(), name="jackpot-alerts"),
        ]
        try:
            await self.pools()
        except (JackpotUnavailable, JackpotNotReady) as exc:
            log.warning("jackpot: %s (retried on the next request)", exc.message)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.writer.close()
        if self._reader is not None:
            await self._reader.close()
        if self.shared is not None:
            await self.shared.close()

    # -- writes -----------------------------------------------------------------------------------

    async def contribute(self, items: list[Contribution]) -> list[Outcome]:
        """Each contribution's outcome, once they are committed; ``JackpotUnavailable`` if the
        database does not commit them within ``request_timeout_s`` (retry with the same ids)."""
        outcomes: list[Outcome] = await self._wait(self.writer.submit_contributions(items))
        return outcomes

    async def win(self, win: Win) -> WinResult:
        """Pay ``win`` (once, whatever how often it is sent); what was paid."""
        result: WinResult = await self._wait(self.writer.submit_win(win))
        return result

    async def _wait(self, future: asyncio.Future[Any]) -> Any:
        # one timer on the writer's own future rather than ``asyncio.wait_for`` (a second future
        # and a callback per request); a request that expires is skipped by the writer if not
        # yet taken, and committed but unanswered if it is (the client retries: "duplicate")
        timeout = self.settings.request_timeout_s
        timer = asyncio.get_running_loop().call_later(timeout, _expire, future, timeout)
        try:
            return await future
        finally:
            timer.cancel()

    async def _committed(self, commit: Commit) -> None:
        """After each commit, before its requests are answered: the caches, then the metrics."""
        pools = [copy.copy(p) for p in commit.pools.values()]
        self._remember(pools)
        if self.shared is not None and self._ledger is not None:
            await self.shared.put_pools(self._ledger, pools[0].version if pools else 0, pools)
        if commit.rows:
            self.metrics.commit_rows.observe(commit.rows)
        self.metrics.commit_seconds.observe(commit.seconds)
        for outcome, n in commit.outcomes.items():
            self.metrics.contributions.labels("rejected" if outcome == "conflict" else outcome).inc(n)
        for hit in commit.must_hits:
            self.metrics.wins.labels("must_hit_by").inc()
            log.info(
                "jackpot: pool %s hit its must-hit-by amount: win %s paid %d minor units to contribution %s",
                hit.pool, hit.win_id, hit.paid_minor, hit.contribution_id,
            )  # fmt: skip

    # -- reads ------------------------------------------------------------------------------------

    def _remember(self, pools: list[PoolState]) -> None:
        """Keep ``pools`` as this process's cache unless it holds a newer commit already."""
        if not self._cache or (pools and pools[0].version >= next(iter(self._cache.values())).version):
            self._cache = {p.name: p for p in pools}
            self._cache_at = time.monotonic()

    async def pools(self) -> list[PoolState]:
        """Every pool from a cache: Redis when shared (every server's commits), else this
        process's (its own commits, or a database read within the TTL); the database otherwise."""
        if self.shared is not None and self._ledger is not None:
            found = await self.shared.get_pools(self._ledger)
            if found is not None:
                self.metrics.cache(hit=True)
                self._remember(found[1])
                return found[1]
        if (
            (self.shared is None or not self.shared.up)
            and time.monotonic() - self._cache_at < self.settings.cache_ttl_s
            and self._cache
        ):
            self.metrics.cache(hit=True)
            return list(self._cache.values())
        self.metrics.cache(hit=False)
        pools = await self._read()
        self._remember(pools)
        if self.shared is not None and self._ledger is not None and pools:
            await self.shared.put_pools(self._ledger, pools[0].version, pools)
        return pools

    async def _read(self) -> list[PoolState]:
        """Every pool from the database (and the ledger's id, once)."""
        async with self._read_lock:
            try:
                if self._reader is None or self._reader.closed or self._reader.broken:
                    self._reader = await psycopg.AsyncConnection.connect(
                        self.url, autocommit=True, connect_timeout=self.settings.connect_timeout_s
                    )
                if self._ledger is None:
                    cur = await self._reader.execute("SELECT id::text FROM jackpot.ledger")
                    found = await cur.fetchone()
                    self._ledger = found[0] if found else None
                cur = await self._reader.execute(_READ)
                rows = await cur.fetchall()
            except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
                raise JackpotNotReady() from exc
            except psycopg.Error as exc:
                raise JackpotUnavailable(
                    f"the jackpot's database cannot be reached ({type(exc).__name__})"
                ) from exc
        return [PoolState.from_row(r) for r in rows]

    def known_pools(self) -> list[str]:
        return sorted(self._cache) or [p.name for p in self.settings.pools]

    # -- limits and figures -----------------------------------------------------------------------

    async def admit(self, token: str) -> float:
        """0 when ``token`` may send one more request now, else the seconds until it may."""
        per_min = self.settings.rate_per_minute
        if per_min == 0:
            return 0.0
        allowed = None if self.shared is None else await self.shared.admit(token)
        if allowed is not None:  # None: Redis is away, this process's bucket decides
            if allowed:
                return 0.0
            self.metrics.rate_limited.inc()
            return 60.0 / per_min
        bucket = self._buckets.get(token)
        if bucket is None:  # a leaky bucket of `burst` drops that empties at the refill rate
            burst = self.settings.burst
            bucket = self._buckets[token] = AsyncLimiter(burst, burst * 60.0 / per_min)
        if bucket.has_capacity():
            await bucket.acquire()  # there is room: returns at once
            return 0.0
        self.metrics.rate_limited.inc()
        return 60.0 / per_min

    def stats(self) -> dict[str, Any]:
        figures = self.metrics.figures()
        return {
            "pools": [self._pool_view(p) for p in sorted(self._cache.values(), key=lambda p: p.name)],
            "contributions_per_s": figures["contributions_per_s"],
            "p95_ms": figures["p95_ms"],
            "error_rate": figures["error_rate"],
            "queue_size": self.writer.queued,
            "cache_hit_rate": figures["cache_hit_rate"],
            "p50_ms": figures["p50_ms"],
            "p99_ms": figures["p99_ms"],
            "window_s": 10.0,
            "db_connections": self._connections(),
        }

    def _pool_view(self, pool: PoolState) -> dict[str, Any]:
        return {
            "name": pool.name, "amount_minor": pool.amount_minor, "seed_minor": pool.seed_minor,
            "cap_minor": pool.cap_minor, "must_hit_by_minor": pool.must_hit_by_minor,
            "currency": pool.currency,
        }  # fmt: skip

    def _connections(self) -> dict[str, int]:
        conn = self.writer._conn
        return {
            "writer": int(conn is not None and not conn.closed),
            "reader": int(self._reader is not None and not self._reader.closed),
        }

    def _live(self) -> dict[str, Any]:
        return {
            "queue_size": self.writer.queued,
            "pools": {n: p.amount_minor for n, p in self._cache.items()},
            "connections": self._connections(),
        }

    async def _watch(self) -> None:
        """The alerts: one warning line (at most every 30 s) while p95 or the queue is too high."""
        said = float("-inf")
        while True:
            await asyncio.sleep(5.0)
            p95 = self.metrics.figures()["p95_ms"]
            queued = self.writer.queued
            high = (
                p95 is not None and p95 > self.settings.alert_p95_ms
            ) or queued > self.settings.alert_queue
            if high and time.monotonic() - said > _ALERT_EVERY_S:
                said = time.monotonic()
                log.warning(
                    "jackpot: p95 %.1f ms (alert above %.0f), queue %d (alert above %d)",
                    p95 or 0.0,
                    self.settings.alert_p95_ms,
                    queued,
                    self.settings.alert_queue,
                )


def _expire(future: asyncio.Future[Any], timeout: float) -> None:
    if not future.done():
        future.set_exception(JackpotUnavailable(
            f"the jackpot's database did not commit within {timeout:g} s: retry with the same ids"
        ))  # fmt: skip
