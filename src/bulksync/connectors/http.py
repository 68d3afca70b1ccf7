"""An HTTP JSON API as a source: pages of records, chained by cursor, link, page or offset.

``read_pages`` yields one ``Page`` per request that succeeded, each with the cursor of the page
after it (JSON text, ``None`` after the last page): that cursor is the checkpoint a caller
commits with the page's rows, and ``read_pages(start=cursor)`` resumes there.

Every request first waits for the rate limits (``Pacer``), then is retried by tenacity: 429 and
503 after their ``Retry-After`` (seconds or an HTTP date), other 5xx, timeouts and dropped
connections with exponential backoff and jitter, at most ``RetryPolicy.attempts`` times. Any
other 4xx, a page that is not JSON, lacks the records field, is larger than the cap, or a
cursor that repeats is a ``PermanentError`` naming the endpoint. A page with no records is the
last, whatever next cursor or link it carries (an API with ``has_more`` may always send one).
The token is sent in a header only: no message, log line or checkpoint ever holds it (nor the
query string).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
from pydantic import SecretStr
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from bulksync.connectors.http_errors import BadPage, HttpRefused, HttpTransient, map_transport, waiter
from bulksync.connectors.http_options import Pagination as Pagination
from bulksync.connectors.http_options import RetryPolicy as RetryPolicy
from bulksync.connectors.http_session import proxy_for, request_timeout


@dataclass(frozen=True)
class Endpoint:
    """One collection of one API: where it is, how its pages chain, how to authenticate."""

    url: str
    label: str  # what messages call it (a store code), never the token
    token: SecretStr | None = None
    pagination: Pagination = Pagination.CURSOR
    records_path: str = "data"
    cursor_path: str = "next_cursor"
    page_size: int = 100
    since: str | None = None  # only records updated at or after this (ISO time)
    since_param: str = "updated_since"
    timeout_s: float = 30.0
    max_page_bytes: int = 16 * 1024 * 1024


class Pacer(Protocol):
    """Waits until one more request is allowed (per-store and global limits)."""

    async def wait(self) -> None: ...


@dataclass
class Tally:
    """Requests sent (each attempt counts) and how many were retried or rate limited."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    records: list[dict[str, Any]]
    next: str | None  # the cursor of the page after this one (JSON text); None: this was the last


async def read_pages(
    client: aiohttp.ClientSession,
    ep: Endpoint,
    *,
    start: str | None,
    pacer: Pacer,
    policy: RetryPolicy,
    tally: Tally,
) -> AsyncIterator[Page]:
    """Every page from cursor ``start`` (None: the first page) to the last."""
    cursor = start
    seen: set[str] = set() if start is None else {start}
    while True:
        page = await fetch_page(client, ep, cursor, pacer=pacer, policy=policy, tally=tally)
        if page.next is not None and page.next in seen:
            raise BadPage(f"{ep.label}: the API's next cursor repeats a page already read (a loop)")
        yield page
        if page.next is None:
            return
        seen.add(page.next)
        cursor = page.next


async def fetch_page(
    client: aiohttp.ClientSession,
    ep: Endpoint,
    cursor: str | None,
    *,
    pacer: Pacer,
    policy: RetryPolicy,
    tally: Tally,
) -> Page:
    """One page, with the rate limits and the retries."""
    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        wait=waiter(policy),
        retry=retry_if_exception_type(HttpTransient),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            if attempt.retry_state.attempt_number > 1:
                tally.retries += 1
            await pacer.wait()
            return await _get(client, ep, cursor, tally)
    raise AssertionError("unreachable: tenacity reraises the last error")


async def _get(client: aiohttp.ClientSession, ep: Endpoint, cursor: str | None, tally: Tally) -> Page:
    url, params = _request(ep, cursor)
    secret = ep.token.get_secret_value() if ep.token else None
    headers = {"Authorization": f"Bearer {secret}"} if secret else None
    tally.requests += 1
    parts = urlsplit(url)
    where = f"{ep.label}: GET {parts.path}"
    try:
        # params=None, not {}: a next link keeps its own query
        request = client.get(
            url, params=params or None, headers=headers, timeout=request_timeout(ep.timeout_s),
            allow_redirects=False, proxy=proxy_for(parts.scheme, parts.hostname or ""),
        )  # fmt: skip
        async with request as resp:
            tally.statuses[resp.status] = tally.statuses.get(resp.status, 0) + 1
            _check_status(resp, where, tally)
            raw = await _body(resp, ep, where)
            nxt = resp.links.get("next")
            link = None if nxt is None else nxt.get("url")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise map_transport(exc, where, secret=secret) from exc
    return _parse(raw, ep, cursor, None if link is None else str(link), where)


def _request(ep: Endpoint, cursor: str | None) -> tuple[str, dict[str, Any]]:
    """The URL and query parameters (text, as the API reads them) of the page ``cursor`` points at."""
    at: dict[str, Any] = json.loads(cursor) if cursor else {}
    if "url" in at:  # a next link holds every parameter already
        return _with_token(str(at["url"]), ep), {}
    params: dict[str, Any] = {}
    if ep.since:
        params[ep.since_param] = ep.since
    if ep.pagination is Pagination.PAGE:
        params.update(page=at.get("page", 1), per_page=ep.page_size)
    elif ep.pagination is Pagination.OFFSET:
        params.update(offset=at.get("offset", 0), limit=ep.page_size)
    else:
        params["limit"] = ep.page_size
        if "cursor" in at:
            params["cursor"] = at["cursor"]
    return ep.url, {k: _query_value(v) for k, v in params.items()}


def _query_value(value: Any) -> str:
    """A query value as text: true/false for booleans, empty for null, str() for the rest."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _check_status(resp: aiohttp.ClientResponse, where: str, tally: Tally) -> None:
    status = resp.status
    if 300 <= status < 400:  # not followed: the bearer token would go wherever it points
        to = urlsplit(resp.headers.get("Location", ""))  # shown without its query: it may hold a key
        place = f"{to.scheme + '://' if to.scheme else ''}{to.hostname or ''}{to.path}"
        shown = f" to {place}" if place else ""
        raise HttpRefused(
            f"{where} answered {status}, a redirect{shown}: bulksync does not follow redirects (the "
            "token would go along); give the address it ends at as the store's base_url"
        )
    if status < 400:
        return
    if status in (429, 503):
        tally.rate_limited += status == 429
        raise HttpTransient(f"{where} answered {status}", retry_after=resp.headers.get("Retry-After"))
    if status >= 500:
        raise HttpTransient(f"{where} answered {status}")
    reason = {401: "bad or missing token", 403: "forbidden", 404: "not found"}.get(status, "refused")
    raise HttpRefused(f"{where} answered {status} ({reason})")


async def _body(resp: aiohttp.ClientResponse, ep: Endpoint, where: str) -> bytes:
    """The body, refused as soon as it is known to exceed the cap (before it is all read)."""
    cap = ep.max_page_bytes
    declared = resp.content_length
    if declared is not None and declared > cap:
        raise BadPage(f"{where}: page of {declared:,} bytes is above the {cap:,}-byte cap")
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_any():
        size += len(chunk)
        if size > cap:
            raise BadPage(f"{where}: page larger than the {cap:,}-byte cap")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(raw: bytes, ep: Endpoint, cursor: str | None, link: str | None, where: str) -> Page:
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadPage(f"{where}: the page is not valid JSON ({exc.msg} at byte {exc.pos})") from exc
    except UnicodeDecodeError as exc:
        raise BadPage(f"{where}: the page is not UTF-8 text") from exc
    records = _at_path(body, ep.records_path)
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise BadPage(f"{where}: the page has no list of records at {ep.records_path!r}")
    return Page(records, _next(ep, body, cursor, link, len(records)))


def _next(ep: Endpoint, body: Any, cursor: str | None, link: str | None, received: int) -> str | None:
    at: dict[str, Any] = json.loads(cursor) if cursor else {}
    if ep.pagination is Pagination.PAGE:
        return json.dumps({"page": at.get("page", 1) + 1}) if received else None
    if ep.pagination is Pagination.OFFSET:
        # by the records received, not the page size asked: an API that caps its pages (asked
        # 100, answers 50) would otherwise have every other half-page skipped
        return json.dumps({"offset": at.get("offset", 0) + received}) if received else None
    if not received:  # an empty page ends every style: APIs with has_more send a next cursor anyway
        return None
    if ep.pagination is Pagination.LINK:
        nxt = link or _at_path(body, ep.cursor_path)
        return json.dumps({"url": _without_token(str(nxt), ep)}) if nxt else None
    token = _at_path(body, ep.cursor_path)
    return json.dumps({"cursor": token}) if token else None


_TOKEN_MARK = "{bulksync:token}"


def _without_token(url: str, ep: Endpoint) -> str:
    """A next link as it may be checkpointed: some APIs echo the token in it."""
    return url.replace(ep.token.get_secret_value(), _TOKEN_MARK) if ep.token else url


def _with_token(url: str, ep: Endpoint) -> str:
    return url.replace(_TOKEN_MARK, ep.token.get_secret_value()) if ep.token else url


def _at_path(body: Any, path: str) -> Any:
    for part in path.split(".") if path else ():
        if not isinstance(body, dict):
            return None
        body = body.get(part)
    return body
