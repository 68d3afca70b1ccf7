"""The hot path of ``POST /api/jackpot/contributions`` as plain ASGI, in front of FastAPI.

At tens of thousands of requests a minute the server's own CPU per request is the limit, and
FastAPI's routing, dependency solving and response classes cost more than the contribution
itself. This middleware answers that one route with the very same checks, answers and metrics
as the FastAPI route (which stays for the OpenAPI schema): the body cap, bearer auth with the
``jackpot:write`` scope, the token bucket, validation, the writer, 409 / 422 / 429 / 503.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from bulksync.api.deps import NO_TOKENS, token_name
from bulksync.api.errors import one_line
from bulksync.api.jackpot_parse import parse
from bulksync.api.limits import too_large
from bulksync.errors import redact
from bulksync.jackpot.service import JackpotService
from bulksync.jackpot.writer import JackpotNotReady, JackpotUnavailable
from bulksync.settings import Settings

log = logging.getLogger("bulksync.api")
PATH = "/api/jackpot/contributions"
SCOPE = "jackpot:write"
_CHALLENGE = [(b"www-authenticate", b"Bearer")]
Answer = tuple[int, dict[str, Any], list[tuple[bytes, bytes]], int]


class ContributionsFastPath:
    def __init__(self, app: ASGIApp, *, settings: Settings, service: JackpotService) -> None:
        self.app, self.settings, self.service = app, settings, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            code, body, headers, items = await self._answer(scope, receive)
        except Exception as exc:  # as api.errors.CatchAll: one redacted line, a generic 500
            line = redact(" ".join(f"{type(exc).__name__}: {exc}".split()))[:500]
            log.error("POST %s: internal error: %s", PATH, line)
            code, body, headers, items = (
                500,
                {"detail": "internal error: the server log has the details"},
                [],
                0,
            )
        self.service.metrics.request("contributions", code, time.perf_counter() - started, items)
        raw = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
        await send({
            "type": "http.response.start", "status": code,
            "headers": [(b"content-length", str(len(raw)).encode()), (b"content-type", b"application/json"),
                        *headers],
        })  # fmt: skip
        await send({"type": "http.response.body", "body": raw})

    async def _answer(self, scope: Scope, receive: Receive) -> Answer:
        from bulksync.api.routes.jackpot import _conflict, _result, rate_limited

        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:  # a header sent twice: the first, as every route reads it
            headers.setdefault(name, value)
        cap = self.settings.api_max_body_bytes
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > cap):
            return (413, {"detail": too_large(cap)}, [], 0) if declared.isdigit() else (
                400, {"detail": "bad Content-Length"}, [], 0)  # fmt: skip
        refused = self._auth(headers.get(b"authorization", b"").decode("latin-1"))
        if isinstance(refused, tuple):
            return refused
        service = self.service
        wait = await service.admit(refused)
        if wait:
            detail, retry = rate_limited(service, wait)
            return 429, {"detail": detail}, [(b"retry-after", retry.encode())], 0
        raw = await _read(receive, cap)
        if raw is None:
            return 413, {"detail": too_large(cap)}, [], 0
        items, many, found = parse(raw, service.settings)
        if found:
            service.metrics.contributions.labels("rejected").inc(len(items) or 1)
            return 422, {"detail": redact(one_line(found)), "errors": found}, [], 0
        try:
            outcomes = await service.contribute(items)
        except JackpotUnavailable as exc:
            return 503, {"detail": exc.message}, [(b"retry-after", b"1")], 0
        except JackpotNotReady as exc:
            return 503, {"detail": exc.message}, [(b"retry-after", b"10")], 0
        if not many and outcomes[0] == "conflict":
            return 409, {"detail": _conflict(items[0].contribution_id)}, [], 1
        return 200, _result(items, outcomes), [], len(items)

    def _auth(self, header: str) -> str | Answer:
        """The token's name, or the 401/403 answer ``deps.require`` would give."""
        if not self.settings.api_tokens:
            return 401, {"detail": NO_TOKENS}, _CHALLENGE, 0
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials:
            detail = "missing bearer token: send Authorization: Bearer <token>"
            return 401, {"detail": detail}, _CHALLENGE, 0
        name = token_name(self.settings, credentials.strip())
        if name is None:
            return 401, {"detail": "unknown bearer token"}, _CHALLENGE, 0
        if not self.settings.api_tokens[name].allows(SCOPE):
            return 403, {"detail": f"token {name!r} lacks the {SCOPE} scope this endpoint needs"}, [], 0
        return name


async def _read(receive: Receive, cap: int) -> bytes | None:
    """The whole body, or None once it passes ``cap`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
