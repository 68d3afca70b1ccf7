"""A requests/second limit shared by every process through Redis (pyrate-limiter's Redis bucket).

With a broker configured, the global limit of an API (one key shared by every store, every job
and every machine) is one sliding window in Redis: at most ``rate`` requests in any second, the
check and the insert atomic in one Lua script. Each process stamps requests with its own clock,
so machines must keep their clocks in sync (NTP) for the window to hold exactly.
"""

from __future__ import annotations

from typing import Any

from bulksync.errors import ConnectError


class RedisRate:
    """``await acquire()`` returns once one more request fits in the shared window."""

    def __init__(self, limiter: Any, client: Any) -> None:
        self._limiter = limiter
        self._client = client

    @classmethod
    async def open(cls, url: str, *, rate: float, key: str) -> RedisRate:
        from pyrate_limiter import Duration, Limiter, Rate
        from pyrate_limiter.buckets.redis_bucket import RedisBucket
        from redis.asyncio import Redis
        from redis.exceptions import RedisError

        client = Redis.from_url(url, socket_connect_timeout=5)
        per_ten_s = max(1, int(rate * 10))  # a fractional rate (0.5/s) is whole per 10 s
        window = [Rate(per_ten_s, Duration.SECOND * 10)] if rate < 1 else [Rate(int(rate), Duration.SECOND)]
        try:
            bucket = await RedisBucket.init(window, client, key)
        except (RedisError, OSError) as exc:
            await client.aclose()
            raise ConnectError(f"cannot reach Redis for the shared rate limit: {type(exc).__name__}") from exc
        return cls(Limiter(bucket), client)

    async def acquire(self) -> None:
        await self._limiter.try_acquire_async("global", blocking=True)

    async def close(self) -> None:
        await self._client.aclose()
