"""Token buckets the fake API enforces: one per store and one for the whole API key."""

from __future__ import annotations

import threading
import time


class Bucket:
    """``rate`` tokens a second, at most ``burst`` saved; ``None`` rate: no limit."""

    def __init__(self, rate: float | None, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else (rate or 0.0)
        self._tokens = self.burst
        self._at = time.monotonic()

    def wait(self, now: float) -> float:
        """Seconds until a token is there (0: one is there now); refills first."""
        if self.rate is None:
            return 0.0
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate

    def take(self) -> None:
        if self.rate is not None:
            self._tokens -= 1.0


class Buckets:
    """The global bucket and one per store, taken together or not at all."""

    def __init__(self, *, rate: float | None, store_rate: float | None) -> None:
        self._lock = threading.Lock()
        self._global = Bucket(rate)
        self._store_rate = store_rate
        self._stores: dict[str, Bucket] = {}

    def admit(self, store: str) -> float:
        """0 when the request may go on (tokens taken), else the seconds to wait."""
        with self._lock:
            now = time.monotonic()
            bucket = self._stores.setdefault(store, Bucket(self._store_rate))
            wait = max(self._global.wait(now), bucket.wait(now))
            if wait == 0.0:
                self._global.take()
                bucket.take()
            return wait
