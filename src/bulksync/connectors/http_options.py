"""How an HTTP source pages and retries: plain values, importable without httpx (CLI options)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Pagination(StrEnum):
    CURSOR = "cursor"  # the body names the next cursor
    LINK = "link"  # a Link: <…>; rel="next" header (or a next URL in the body)
    PAGE = "page"  # ?page=1,2,… until an empty page
    OFFSET = "offset"  # ?offset=0,n,2n,… until an empty page


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    max_retry_after_s: float = 120.0


def since_value(text: str) -> str:
    """``--since`` as given, once it reads as an ISO date or time (``2026-11-16``,
    ``2026-11-16T00:00:00Z``). Anything else went to the API as it was, which answered with no
    records: a sync that "succeeded" with nothing (``--since yesterday``)."""
    import datetime as dt

    try:
        dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since {text!r} is not an ISO date or time (e.g. 2026-11-16 or 2026-11-16T00:00:00Z)"
        ) from None
    return text.strip()
