"""The HTTP source's errors and how transport failures and Retry-After map onto retries.

TransientError ── HttpTransient   429, 503, other 5xx, timeout, dropped connection: retried
PermanentError ─┬ HttpRefused     any other 4xx (401, 403, 404): that endpoint fails
                └ BadPage         not JSON, no records, above the size cap, a repeating cursor
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import aiohttp
from tenacity import RetryCallState, wait_exponential_jitter

from bulksync.errors import PermanentError, TransientError

if TYPE_CHECKING:
    from bulksync.connectors.http import RetryPolicy


class HttpTransient(TransientError):
    """The API failed for now; the request can be sent again."""

    def __init__(self, message: str, *, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after_seconds(retry_after)


class HttpRefused(PermanentError):
    """The API refused the request; sending it again will not help."""


class BadPage(PermanentError):
    """The API answered a page that cannot be read."""


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def waiter(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    """tenacity's wait: the server's Retry-After when it gave one, else backoff with jitter."""
    backoff = wait_exponential_jitter(multiplier=policy.backoff_s, max=policy.max_backoff_s)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, HttpTransient) and exc.retry_after is not None:
            return min(exc.retry_after, policy.max_retry_after_s)
        return float(backoff(state))

    return wait


def map_transport(
    exc: aiohttp.ClientError | TimeoutError, where: str, *, secret: str | None
) -> TransientError:
    """A transport failure as a retryable error naming what failed; never the headers, and
    ``secret`` (the token) is cut out should the client have quoted a URL holding it."""
    if isinstance(exc, TimeoutError):  # aiohttp's connect/read timeouts are TimeoutErrors too
        text = f"timed out ({type(exc).__name__})"
    elif isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        text = "the connection was closed without an answer"
    elif isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS handshake
        text = f"{type(exc).__name__}: cannot connect to {exc.host}:{exc.port} ({exc.os_error})"
    else:
        text = f"{type(exc).__name__}: {exc}"
    if secret:
        text = text.replace(secret, "***")
    return HttpTransient(f"{where}: {text}")
