"""The fake store API server: stdlib ThreadingHTTPServer, one thread per request.

Routes: ``GET /{style}/stores/{code}/{users|videos}`` where ``style`` is how pages are chained:

- ``cursor``: ``?cursor=&limit=`` → ``{"data": [...], "next_cursor": "…" | null}``
- ``link``:   ``?cursor=&limit=`` → ``{"data": [...]}`` and a ``Link: <…>; rel="next"`` header
- ``page``:   ``?page=&per_page=`` → ``{"data": [...]}``, an empty page ends
- ``offset``: ``?offset=&limit=`` → ``{"data": [...]}``, an empty page ends

``updated_since`` (ISO time) keeps records updated at or after it. ``GET /_stats`` answers the
counters a test or the bench reads (requests, statuses, refusals above the buckets).
"""

from __future__ import annotations

import base64
import json
import math
import random
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from bulksync.fakestores.buckets import Buckets
from bulksync.fakestores.data import KINDS, FakeStores, Fault

STYLES = ("cursor", "link", "page", "offset")


class Stats:
    """What the server saw; read under its lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.by_store: Counter[str] = Counter()
        self.over_limit = 0  # 429 answers because a bucket was empty
        self.per_second: Counter[int] = Counter()

    def count(self, store: str, status: int) -> None:
        with self.lock:
            self.statuses[status] += 1
            self.by_store[store] += 1
            self.per_second[int(time.monotonic())] += 1

    def as_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": sum(self.statuses.values()),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "over_limit": self.over_limit,
                "by_store": dict(self.by_store),
                "peak_per_second": max(self.per_second.values(), default=0),
            }


class FakeStoreServer:
    """Serve ``catalog`` on ``host:port`` (0: a free port) from a background thread."""

    def __init__(
        self,
        catalog: FakeStores,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_s: float = 0.0,
        vary_latency: bool = False,
        rate: float | None = None,
        store_rate: float | None = None,
    ) -> None:
        self.catalog = catalog
        self.latency_s = latency_s
        self.vary_latency = vary_latency
        self.buckets = Buckets(rate=rate, store_rate=store_rate)
        self.stats = Stats()
        self._seen: Counter[str] = Counter()  # requests per store, for faults of the first N
        self._cache: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._httpd = _Server((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def base_url(self, code: str, style: str = "cursor") -> str:
        return f"{self.url}/{style}/stores/{code}"

    def start(self) -> FakeStoreServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fakestores", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeStoreServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def write_store_list(self, path: str, *, style: str = "cursor", credential: str = "fake") -> None:
        """A CSV store list for ``bulksync stores sync``: code, base URL, credential reference."""
        lines = ["store_code,base_url,credential"]
        lines += [f"{c},{self.base_url(c, style)},{credential}" for c in self.catalog.codes()]
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")

    def records(self, code: str, kind: str) -> list[dict[str, Any]]:
        key = (code, kind)
        with self.stats.lock:
            found = self._cache.get(key)
        if found is None:
            found = self.catalog.records(code, kind)
            with self.stats.lock:
                self._cache[key] = found
        return found

    def delay(self, code: str) -> float:
        return store_latency(self.catalog, code, self.latency_s, vary=self.vary_latency)

    def nth_request(self, code: str) -> int:
        with self.stats.lock:
            self._seen[code] += 1
            return self._seen[code]


def store_latency(catalog: FakeStores, code: str, latency_s: float, *, vary: bool) -> float:
    """Seconds one page of ``code`` takes: ``latency_s``, or 0.5-1.5 times it per store."""
    if not vary:
        return latency_s
    return latency_s * random.Random(f"{catalog.seed}:{code}:lat").uniform(0.5, 1.5)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a page refused as too large) is not the server's error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_for(server: FakeStoreServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        fake = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    fake: FakeStoreServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and the bench read the counters instead."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/_stats":
            return self._send(200, self.fake.stats.as_dict())
        segs = parts.path.strip("/").split("/")
        if len(segs) != 4 or segs[0] not in STYLES or segs[1] != "stores" or segs[3] not in KINDS:
            return self._send(404, {"error": "no such route"})
        style, _, code, kind = segs
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self._answer(style, code, kind, query)

    def _answer(self, style: str, code: str, kind: str, query: dict[str, str]) -> None:
        fake = self.fake
        if self.headers.get("Authorization") != f"Bearer {fake.catalog.token}":
            return self._count_send(code, 401, {"error": "invalid token"})
        if code not in fake.catalog.codes():
            return self._count_send(code, 404, {"error": f"store {code} not found"})
        wait = fake.buckets.admit(code)
        if wait > 0:
            with fake.stats.lock:
                fake.stats.over_limit += 1
            return self._count_send(code, 429, {"error": "rate limited"}, retry_after=math.ceil(wait))
        fault = fake.catalog.faults.get(code)
        nth = fake.nth_request(code)
        if fault and fault.kind == "drop" and nth <= fault.times:
            self.close_connection = True
            return  # no answer at all: the client sees the connection closed
        if fault and fault.kind == "status" and nth <= fault.times:
            after = 1 if fault.status in (429, 503) else None
            return self._count_send(code, fault.status, {"error": "injected"}, retry_after=after)
        time.sleep(fake.delay(code) + (fault.seconds if fault and fault.kind == "slow" else 0.0))
        self._page(style, code, kind, query, fault)

    def _page(self, style: str, code: str, kind: str, query: dict[str, str], fault: Fault | None) -> None:
        rows = self.fake.records(code, kind)
        if since := query.get("updated_since"):
            rows = [r for r in rows if r["updated_at"] >= since]
        start, size = _window(style, query)
        page_no = start // size + 1
        if fault and fault.kind == "cap":
            size = min(size, fault.cap)  # the API answers fewer records than asked
        data = rows[start : start + size]
        if code in self.fake.catalog.overlap and start > 0 and data:
            data = [rows[start - 1], *data]  # a record the previous page had already
        if fault and fault.kind == "value":
            data = [{**r, fault.field: fault.value} if fault.changes(r, page_no) else r for r in data]
        if fault and fault.page == page_no and fault.kind in ("malformed", "huge", "missing"):
            return self._faulty(code, fault, data)
        nxt = start + size if start + size < len(rows) else None
        if fault and fault.kind == "endless":
            nxt = start + size  # one more page, empty or not
        if fault and fault.kind == "repeat" and page_no >= fault.page:
            nxt = start  # the cursor points back at this very page
        body: dict[str, Any] = {"data": data}
        headers: dict[str, str] = {}
        if style == "cursor":
            body["next_cursor"] = None if nxt is None else _token(nxt)
        elif style == "link" and nxt is not None:
            link = f"{self.fake.base_url(code, 'link')}/{kind}?" + urlencode(
                {**query, "cursor": _token(nxt), "limit": size}
            )
            headers["Link"] = f'<{link}>; rel="next"'
        self._count_send(code, 200, body, headers=headers)

    def _faulty(self, code: str, fault: Fault, data: list[dict[str, Any]]) -> None:
        if fault.kind == "malformed":
            raw = b'{"data": [{"id": 1, "username": '
        elif fault.kind == "huge":
            raw = json.dumps({"data": data, "pad": "x" * fault.huge_bytes}).encode()
        else:
            raw = json.dumps({"items": data}).encode()
        self.fake.stats.count(code, 200)
        self._raw(200, raw, {})

    def _count_send(self, code: str, status: int, body: Any, **kw: Any) -> None:
        self.fake.stats.count(code, status)
        self._send(status, body, **kw)

    def _send(
        self, status: int, body: Any, *, retry_after: int | None = None, headers: dict[str, str] | None = None
    ) -> None:
        extra = dict(headers or {})
        if retry_after is not None:
            extra["Retry-After"] = str(retry_after)
        self._raw(status, json.dumps(body).encode(), extra)

    def _raw(self, status: int, raw: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)


def _window(style: str, query: dict[str, str]) -> tuple[int, int]:
    """(first record index, page size) a request asks for."""
    if style == "page":
        size = int(query.get("per_page", 50))
        return (max(1, int(query.get("page", 1))) - 1) * size, size
    size = int(query.get("limit", 50))
    if style == "offset":
        return int(query.get("offset", 0)), size
    cursor = query.get("cursor")
    return (_untoken(cursor) if cursor else 0), size


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def _untoken(token: str) -> int:
    return int(json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["o"])
