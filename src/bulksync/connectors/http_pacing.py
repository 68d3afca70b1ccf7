"""Rate limits for HTTP sources: a global requests/second and one per endpoint (aiolimiter).

Each limiter is a leaky bucket holding 50 ms worth of requests (at least one): an API's own
token bucket of the same rate, whose burst is usually a second's worth, never sees more than it
allows, so it never answers 429 because of us; and the bucket is deep enough that event-loop
timer slack does not cost throughput (capacity one loses ~15 % at 200/s). In one process only;
a fleet would share a Redis bucket instead.
"""

from __future__ import annotations

from aiolimiter import AsyncLimiter


def _limiter(rate: float | None) -> AsyncLimiter | None:
    if not rate:
        return None
    capacity = max(1.0, rate * 0.05)
    return AsyncLimiter(capacity, capacity / rate)


class Limits:
    """The job's global limit; ``for_endpoint`` adds one endpoint's own."""

    def __init__(self, *, rate: float | None, endpoint_rate: float | None) -> None:
        self._global = _limiter(rate)
        self._endpoint_rate = endpoint_rate

    def for_endpoint(self) -> EndpointPacer:
        return EndpointPacer(_limiter(self._endpoint_rate), self._global)


class EndpointPacer:
    """Waits for the endpoint's limit, then for the global one (holding no global slot meanwhile)."""

    def __init__(self, own: AsyncLimiter | None, shared: AsyncLimiter | None) -> None:
        self._own = own
        self._shared = shared

    async def wait(self) -> None:
        if self._own is not None:
            await self._own.acquire()
        if self._shared is not None:
            await self._shared.acquire()
