"""Seed 000's endpoints, with its request and response shapes, on the bet-sync recipe.

``POST /api/sync-bets`` (today) and ``/date-range`` sync at once and answer with the summary,
unless the source holds more matching bets than ``BET_SYNC_BACKGROUND_THRESHOLD``: then, as the
seed describes, the sync becomes a background job and the answer is the background shape
(``202``). ``/background`` always records a job; ``/status/{jobId}`` shows one in the seed's words.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Body, Request, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from bulksync.api.deps import BetSettingsDep, Reader, SettingsDep, StoreDep, Writer
from bulksync.api.errors import api_words, public_message, status_of
from bulksync.api.schemas import BetBackgroundOut, BetRangeIn, BetStatusOut, BetSyncOut, Problem
from bulksync.errors import UsageError
from bulksync.jobs.dispatch import dispatch
from bulksync.jobs.launch import submit
from bulksync.jobs.model import iso
from bulksync.jobs.preflight import check_ends
from bulksync.jobs.store import JobStore, UnknownJobError
from bulksync.recipes import bets as recipe
from bulksync.settings import BetSyncSettings, Settings
from bulksync.spec import SyncSpec

log = logging.getLogger("bulksync.api")
router = APIRouter(prefix="/api/sync-bets", tags=["bet sync (seed 000)"])

SEED_STATUS = {  # our status -> the seed's word
    "queued": "queued",
    "running": "processing",
    "succeeded": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "no token, an unknown token, or no tokens configured"},
    403: {"model": Problem, "description": "the token lacks the scope"},
}
_SYNC: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    202: {"model": BetBackgroundOut, "description": "above the background threshold: a job was started"},
    422: {"model": Problem, "description": "bad dates or channel, or the source lacks the bets table"},
}


@router.post("", response_model=BetSyncOut, response_model_exclude_none=True, responses=_SYNC)
async def sync_today(
    settings: SettingsDep, bets: BetSettingsDep, store: StoreDep, request: Request, _: Writer,
    body: BetRangeIn | None = Body(default=None),
) -> Any:  # fmt: skip
    """Sync today's bets (or the body's range) now; big ranges go to the background."""
    return await _sync_or_background(request, settings, bets, store, body or BetRangeIn())


@router.post("/date-range", response_model=BetSyncOut, response_model_exclude_none=True, responses=_SYNC)
async def sync_date_range(
    body: BetRangeIn, settings: SettingsDep, bets: BetSettingsDep, store: StoreDep, request: Request,
    _: Writer,
) -> Any:  # fmt: skip
    """Sync the bets of ``start_date``..``end_date`` (one channel or all) now."""
    if body.start_date is None and body.days_back is None:
        raise UsageError("start_date: required for a date range (YYYY-MM-DD)")
    return await _sync_or_background(request, settings, bets, store, body)


@router.post(
    "/background",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BetBackgroundOut,
    responses={**_ERRORS, 422: _SYNC[422]},
)
async def sync_background(
    settings: SettingsDep, bets: BetSettingsDep, store: StoreDep, _: Writer,
    body: BetRangeIn | None = Body(default=None),
) -> dict[str, Any]:  # fmt: skip
    """Start a background sync job for the range and answer with its id and status URL."""
    spec = _plan(settings, bets, body or BetRangeIn())[1]
    estimated = await run_in_threadpool(check_ends, spec)
    return await run_in_threadpool(_background, store, spec, settings, bets, estimated)


@router.get(
    "/status/{jobId}",
    response_model=BetStatusOut,
    responses={**_ERRORS, 404: {"model": Problem, "description": "no such bet sync job"}},
)
async def job_status(jobId: str, store: StoreDep, _: Reader) -> dict[str, Any]:  # the seed's name
    """A bet sync job's status and progress, in the seed's words (running is ``processing``)."""
    job = await run_in_threadpool(store.get, jobId)
    if job.kind != "bets":
        raise UnknownJobError(f"job {jobId!r} is not a bet sync job (GET /api/v1/jobs/{jobId} shows it)")
    view = job.to_dict()
    data = {key: view[key] for key in ("job_id", "processed_records", "estimated_records")}
    data.update(
        status=SEED_STATUS[job.status],
        started_at=iso(job.started_at),
        progress_percentage=view["progress_percentage"],
        updated_at=view["updated_at"],
        error=job.error,
    )
    return {"success": True, "data": data}


def _plan(settings: Settings, bets: BetSyncSettings, body: BetRangeIn) -> tuple[recipe.BetRange, SyncSpec]:
    try:
        days = recipe.resolve_range(
            bets,
            start_date=body.start_date.isoformat() if body.start_date else None,
            end_date=body.end_date.isoformat() if body.end_date else None,
            days_back=body.days_back,
            channel=body.channel,
        )
    except UsageError as exc:  # the recipe speaks CLI options; the API has fields
        raise UsageError(api_words(exc.message)) from exc
    spec = recipe.build_spec(days, settings, bets, chunk_size=body.chunk_size, batch_size=body.batch_size)
    return days, spec


async def _sync_or_background(
    request: Request, settings: Settings, bets: BetSyncSettings, store: JobStore, body: BetRangeIn
) -> Any:
    days, spec = _plan(settings, bets, body)
    estimated = await run_in_threadpool(check_ends, spec)
    if estimated > bets.background_threshold:
        started = await run_in_threadpool(_background, store, spec, settings, bets, estimated)
        return JSONResponse(started, status_code=status.HTTP_202_ACCEPTED)
    from bulksync.engine.run import SyncFailed, sync  # the engine loads with the first sync

    warn = recipe.MemoryWarning(bets.memory_warning, log.warning)
    try:
        result = await run_in_threadpool(sync, spec, listeners=[request.app.state.metrics, warn])
    except SyncFailed as failed:
        said = public_message(request, failed.error)
        if said != failed.message:
            log.info("%s %s: %s", request.method, request.url.path, failed.message)
        body_out = {**recipe.summary(days, failed.result, spec), "error": said}
        return JSONResponse(body_out, status_code=status_of(failed.error))
    return recipe.summary(days, result, spec)


def _background(
    store: JobStore, spec: SyncSpec, settings: Settings, bets: BetSyncSettings, estimated: int
) -> dict[str, Any]:
    job = submit(
        store, spec, settings, kind="bets", tries=bets.job_tries, timeout_s=float(bets.job_timeout),
        estimated=estimated,
    )  # fmt: skip
    dispatch(job, settings)
    return {
        "success": True,
        "message": "Background sync job started successfully",
        "data": {
            "job_id": job.id,
            "estimated_records": estimated,
            "status_check_url": f"/api/sync-bets/status/{job.id}",
            "note": "Use the status_check_url to monitor progress",
        },
    }
