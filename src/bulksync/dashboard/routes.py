"""The page at ``/``, its static files under ``/dashboard/``, and what the page asks the server.

The page is public (it holds no data); every figure on it comes from token-protected endpoints.
Its Content-Security-Policy allows nothing but this server: no CDN, no inline script, no frame.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from bulksync.api.deps import Reader, SettingsDep, StoreDep
from bulksync.api.schemas import Problem
from bulksync.jobs.model import STATUSES, iso, now

STATIC = Path(str(files("bulksync.dashboard") / "static"))
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter()


class Overview(BaseModel):
    """What the dashboard asks first and every two seconds."""

    token: str = Field(description="the token's name in BULKSYNC_API_TOKENS__<NAME>, never its value")
    scopes: list[str]
    can_write: bool = Field(description="jobs:write: the page shows Cancel and Resume")
    counts: dict[str, int] = Field(description="jobs per status")
    server_time: str = Field(description="the server's clock, ISO 8601 UTC")


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """The dashboard page (it asks for a token before it shows anything)."""
    return FileResponse(STATIC / "index.html", headers=_HEADERS)


@router.get(
    "/api/v1/dashboard",
    tags=["dashboard"],
    response_model=Overview,
    responses={401: {"model": Problem}, 403: {"model": Problem}},
)
async def overview(settings: SettingsDep, store: StoreDep, name: Reader) -> dict[str, Any]:
    """The token's name and scopes (the page shows cancel and resume only with ``jobs:write``),
    the number of jobs per status, and the server's clock (ISO 8601 UTC)."""
    counts = await run_in_threadpool(store.counts)
    return {
        "token": name,
        "scopes": settings.api_tokens[name].scopes,
        "can_write": settings.api_tokens[name].allows("jobs:write"),
        "counts": {status: counts.get(status, 0) for status in STATUSES},
        "server_time": iso(now()),
    }


def mount(app: FastAPI) -> None:
    """Serve the dashboard from ``app``: the page at ``/`` and its files under ``/dashboard/``."""
    app.include_router(router)
    app.mount("/dashboard", _Static(directory=STATIC), name="dashboard")


class _Static(StaticFiles):
    """The page's script and style sheet, with the page's security headers."""

    async def get_response(self, path: str, scope: Any) -> Any:
        response = await super().get_response(path, scope)
        response.headers.update(_HEADERS)
        return response
