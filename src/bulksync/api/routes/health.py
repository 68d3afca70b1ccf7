"""``/healthz`` (job store, and the broker when one is set) and ``/metrics`` (Prometheus); no auth.

Neither says anything secret: healthz says which part is down (its address and the reason go to
the server log), metrics are counts.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from bulksync.api.deps import SettingsDep
from bulksync.api.errors import BROKER_DOWN, STORE_DOWN
from bulksync.api.runtime import Runtime
from bulksync.api.schemas import Health
from bulksync.errors import SyncError, redact
from bulksync.jobs.dispatch import check_broker, uses_broker
from bulksync.settings import Settings

router = APIRouter(tags=["operations"])
log = logging.getLogger("bulksync.api")


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
async def healthz(settings: SettingsDep, request: Request) -> Any:
    """200 when the job store (and the broker, if configured) answer; 503 with the reason if not."""
    body = await run_in_threadpool(_check, settings, request.app.state.runtime)
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


def _check(settings: Settings, runtime: Runtime) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "ok", "job_store": "ok", "broker": "not configured", "detail": None}
    try:
        runtime.store().ping()
    except SyncError as exc:
        log.warning("healthz: %s", redact(exc.message))
        body.update(status="unavailable", job_store="unavailable", detail=STORE_DOWN)
    if uses_broker(settings):
        try:
            check_broker(settings)
            body["broker"] = "ok"
        except SyncError as exc:
            log.warning("healthz: %s", redact(exc.message))
            body.update(status="unavailable", broker="unavailable")
            body["detail"] = body["detail"] or BROKER_DOWN
    return body


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics: rows synced, batch sizes and durations, jobs by status, memory."""
    text = await run_in_threadpool(generate_latest, request.app.state.metrics.registry)
    return Response(text, media_type=CONTENT_TYPE_LATEST)
