"""What several servers share through Redis: each API token's bucket and the pools last committed.

With ``BULKSYNC_JACKPOT_REDIS_URL`` (or a ``redis://`` broker URL) every ``bulksync serve``
draws a token's requests from **one** limit (pyrate-limiter's Redis bucket: at most ``burst``
requests in any ``burst * 60 / rate`` seconds, checked and counted atomically in Redis) and reads
the pools from **one** cache: a Redis hash holding the pools of the ledger's latest commit, written
by the committing server before it answers (so a read on another server after an answer sees that
commit) and only when newer than what is there (``version`` counts the ledger's commits, so a late
writer never puts an older state back). It expires after ``cache_ttl_s`` without commits, which
bounds how stale it can be if one server lost Redis while it committed.

Redis away is never an error for a client: the first failed call logs one warning, the service
goes on with its per-process bucket and cache, and tries Redis again after ``RETRY_S``
(one more line when it is back). Nothing is lost: the ledger is in PostgreSQL, not here.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from typing import Any

from bulksync.jackpot.model import PoolState

log = logging.getLogger("bulksync.jackpot")
RETRY_S = 5.0
TIMEOUT_S = 0.5  # a Redis that does not answer is away: no request waits longer on it

# set the pools only when this commit is newer than the one stored; keep them cache_ttl ms
_PUT = """
local stored = redis.call('HGET', KEYS[1], 'version')
if stored and tonumber(stored) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'pools', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""


class Shared:
    """The Redis side; every method answers ``None`` when Redis is away (the caller goes local)."""

    def __init__(self, url: str, *, prefix: str, burst: int, per_minute: int, ttl_s: float) -> None:
        self.url, self.prefix = url, prefix
        self.burst, self.per_minute, self.ttl_ms = burst, per_minute, max(1, int(ttl_s * 1000))
        self._client: Any = None
        self._put: Any = None
        self._limiters: dict[str, Any] = {}
        self._down_until = 0.0
        self.up = False

    async def _redis(self) -> Any | None:
        if self._client is not None:
            return self._client
        if time.monotonic() < self._down_until:
            return None
        from redis.asyncio import Redis

        self._client = Redis.from_url(self.url, socket_connect_timeout=TIMEOUT_S, socket_timeout=TIMEOUT_S)
        self._put = self._client.register_script(_PUT)
        return self._client

    async def _away(self, exc: Exception) -> None:
        """Drop the client and every Redis bucket (their leak tasks too); log once per outage."""
        if self.up or self._down_until == 0.0:
            log.warning(
                "jackpot: Redis is away (%s): rate limits and the pool cache are per process until "
                "it is back (retried every %.0f s)", type(exc).__name__, RETRY_S,
            )  # fmt: skip
        self.up = False
        self._down_until = time.monotonic() + RETRY_S
        for limiter in self._limiters.values():
            limiter.close()
        self._limiters.clear()
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.aclose()
            except Exception:  # closing a broken connection: nothing more to lose
                pass

    def _back(self) -> None:
        if not self.up:
            if self._down_until:
                log.info("jackpot: Redis is back: rate limits and the pool cache are shared again")
            self.up = True

    async def admit(self, token: str) -> bool | None:
        """Whether ``token`` may send one more request now, by the limit every server shares."""
        from redis.exceptions import RedisError

        try:
            client = await self._redis()
            if client is None:
                return None
            limiter = self._limiters.get(token) or await self._limiter(client, token)
            allowed = bool(await limiter.try_acquire_async(token, blocking=False))
        except (RedisError, OSError) as exc:
            await self._away(exc)
            return None
        self._back()
        return allowed

    async def _limiter(self, client: Any, token: str) -> Any:
        from pyrate_limiter import Duration, Limiter, Rate
        from pyrate_limiter.buckets.redis_bucket import RedisBucket

        window_ms = max(1, int(self.burst * Duration.MINUTE / self.per_minute))
        bucket = await RedisBucket.init([Rate(self.burst, window_ms)], client, f"{self.prefix}:rate:{token}")
        limiter = self._limiters[token] = Limiter(bucket)
        return limiter

    async def put_pools(self, ledger: str, version: int, pools: list[PoolState]) -> None:
        """Store the pools of commit ``version`` unless a newer commit's are there already."""
        from redis.exceptions import RedisError

        try:
            if await self._redis() is None:
                return
            body = json.dumps([asdict(p) for p in pools], separators=(",", ":"))
            await self._put(keys=[self._pools_key(ledger)], args=[version, body, self.ttl_ms])
        except (RedisError, OSError) as exc:
            await self._away(exc)
            return
        self._back()

    async def get_pools(self, ledger: str) -> tuple[int, list[PoolState]] | None:
        """The latest commit's version and pools, or None (Redis away, or nothing fresh there)."""
        from redis.exceptions import RedisError

        try:
            client = await self._redis()
            if client is None:
                return None
            version, body = await client.hmget(self._pools_key(ledger), ["version", "pools"])
        except (RedisError, OSError) as exc:
            await self._away(exc)
            return None
        self._back()
        if version is None or body is None:
            return None
        return int(version), [PoolState(**p) for p in json.loads(body)]

    def _pools_key(self, ledger: str) -> str:
        return f"{self.prefix}:{ledger}:pools"

    async def close(self) -> None:
        for limiter in self._limiters.values():
            limiter.close()
        self._limiters.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
