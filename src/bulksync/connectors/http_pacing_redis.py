"""A requests/second limit shared by every process through Redis (pyrate-limiter's Redis bucket).

With a broker configured, the global limit of an API (one key shared by every store, every job
and every machine) is one sliding window in Redis, the check and the insert atomic in one Lua
script. The window is a quarter second: at most ``rate`` x 250 ms requests (at least one) in
any ``that / rate`` seconds. A one-second window let a whole second's worth go at once and the
next second's right after it: an API's token bucket of the same rate (a second's burst) refused
the last of them whenever the network had delayed the first by more than a few milliseconds.
Each process stamps requests with its own clock, so machines must keep their clocks in sync
(NTP) for the window to hold exactly.
"""

from __future__ import annotations

import math
from typing import Any

from bulksync.errors import ConnectError


class RedisRate:
    """``await acquire()`` returns once one more request fits in the shared window."""

    def __init__(self, limiter: Any, client: Any) -> None:
        self._limiter = limiter
        self._client = client

    @classmethod
    async def open(cls, url: str, *, rate: float, key: str) -> RedisRate:
        from pyrate_limiter import Limiter
        from pyrate_limiter.buckets.redis_bucket import RedisBucket
        from redis.asyncio import Redis
        from redis.exceptions import RedisError

        client = Redis.from_url(url, socket_connect_timeout=5)
        window = [spaced(rate)]
        try:
            bucket = await RedisBucket.init(window, client, key)
        except (RedisError, OSError) as exc:
            await client.aclose()
            raise ConnectError(f"cannot reach Redis for the shared rate limit: {type(exc).__name__}") from exc
        return cls(Limiter(bucket, buffer_ms=0), client)  # no 50 ms added to each wait

    async def acquire(self) -> None:
        await self._limiter.try_acquire_async("global", blocking=True)

    async def close(self) -> None:
        await self._client.aclose()


def spaced(rate: float) -> Any:
    """The sliding window for ``rate``/s: ``max(1, rate x 250 ms)`` requests per ``that / rate``
    seconds, rounded up to whole milliseconds. Redis counts a request stamped at the window's
    first millisecond as inside it, so the window is one millisecond shorter than that."""
    from pyrate_limiter import Rate

    burst = max(1, int(rate * 0.25))
    return Rate(burst, max(1, math.ceil(burst * 1000 / rate) - 1))
