"""Rate limits for HTTP sources: a global requests/second and one per endpoint (aiolimiter).

Each limiter is a leaky bucket holding 50 ms worth of requests (at least one): an API's own
token bucket of the same rate, whose burst is usually a second's worth, never sees more than it
allows, so it never answers 429 because of us; and the bucket is deep enough that event-loop
timer slack does not cost throughput (capacity one loses ~15 % at 200/s). The global limit can
instead be shared by every process through Redis (``http_pacing_redis``).
"""

from __future__ import annotations

from typing import Protocol

from aiolimiter import AsyncLimiter


class Acquirer(Protocol):
    """A limiter: ``acquire`` returns once one more request is allowed."""

    async def acquire(self) -> None: ...


def _limiter(rate: float | None) -> AsyncLimiter | None:
    if not rate:
        return None
    capacity = max(1.0, rate * 0.05)
    return AsyncLimiter(capacity, capacity / rate)


class Limits:
    """The job's global limit; ``for_endpoint`` adds one endpoint's own."""

    def __init__(
        self, *, rate: float | None, endpoint_rate: float | None, shared: Acquirer | None = None
    ) -> None:
        self._global: Acquirer | None = shared or _limiter(rate)  # shared: the same limit, in Redis
        self._endpoint_rate = endpoint_rate

    def for_endpoint(self) -> EndpointPacer:
        return EndpointPacer(_limiter(self._endpoint_rate), self._global)


class EndpointPacer:
    """Waits for the endpoint's limit, then for the global one (holding no global slot meanwhile)."""

    def __init__(self, own: Acquirer | None, shared: Acquirer | None) -> None:
        self._own = own
        self._shared = shared

    async def wait(self) -> None:
        if self._own is not None:
            await self._own.acquire()
        if self._shared is not None:
            await self._shared.acquire()
