"""Request bodies above ``BULKSYNC_API_MAX_BODY_BYTES`` are a 413 before anything parses them.

A declared ``Content-Length`` over the cap is answered at once (nothing is read, no route runs);
a streamed (chunked) body is counted as it is read and refused the moment it passes the cap.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def too_large(limit: int) -> str:
    return f"request body larger than {limit:,} bytes (BULKSYNC_API_MAX_BODY_BYTES)"


class BodyLimit:
    """ASGI middleware enforcing the body cap."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            status, detail = (
                (413, too_large(self.max_bytes)) if declared.isdigit() else (400, "bad Content-Length")
            )
            await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, too_large(self.max_bytes))
            return message

        await self.app(scope, counted, send)
