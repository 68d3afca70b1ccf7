"""``/api/v1/jobs``: create a job between configured connections, list, get, cancel, resume, follow.

A job is created only after both ends checked out (jobs/preflight.py: unknown tables and columns
are a 422 naming the request's field, an unreachable database a 503, and neither leaves a record);
it then goes to ``dispatch`` (the embedded workers claim it from the store, or the broker gets a
hint). Cancel and resume are the store's conditional
updates: a job in the wrong state is a 409 that says why.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from bulksync.api.deps import Reader, SettingsDep, StoreDep, Writer
from bulksync.api.errors import STORE_DOWN, FieldError
from bulksync.api.schemas import JobCreate, JobList, JobOut, JobStatus, Problem
from bulksync.errors import SyncError, UnknownColumnError, UnknownTableError, UsageError
from bulksync.jobs.dispatch import check_broker, dispatch
from bulksync.jobs.launch import submit
from bulksync.jobs.preflight import SpecError, check_ends
from bulksync.jobs.store import Job, UnknownJobError
from bulksync.settings import Settings
from bulksync.spec import Mode, SyncSpec

log = logging.getLogger("bulksync.api")
POLL_S = 0.5  # the events stream looks at the store twice a second
KEEPALIVE_S = 15.0  # a comment line this often keeps proxies from closing a quiet stream

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "no token, an unknown token, or no tokens configured"},
    403: {"model": Problem, "description": "the token lacks the scope"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "no such job"}}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=JobOut,
    responses={
        **_ERRORS,
        422: {"model": Problem, "description": "bad spec, unknown connection, table or column"},
        503: {"model": Problem, "description": "a database, the job store or the broker is unreachable"},
    },
)
async def create_job(
    body: JobCreate, settings: SettingsDep, store: StoreDep, response: Response, _: Writer
) -> dict[str, Any]:
    """Record a sync job between two configured connections and start it."""
    check_modes(body)
    if body.workers is not None:  # the old name of partitions: honoured, and said so
        response.headers["Deprecation"] = "true"
        response.headers["Warning"] = '299 - "workers is deprecated: use partitions"'
    spec = SyncSpec(
        source=_connection(settings, body.source, "source"),
        destination=_connection(settings, body.destination, "destination"),
        **body.spec_fields(),
    )
    estimated = await run_in_threadpool(_checked, spec, body)
    job = await run_in_threadpool(
        submit, store, spec, settings, kind="sync", tries=body.tries, timeout_s=body.timeout_s,
        estimated=estimated,
    )  # fmt: skip
    await run_in_threadpool(dispatch, job, settings)
    return job.to_dict()


def check_modes(body: JobCreate) -> None:
    """The mode's needs, table by table, at the field that lacks (or should not have) a value."""
    targets: dict[str, int] = {}
    for n, entry in enumerate(body.tables):
        name, cursor = (entry, None) if isinstance(entry, str) else (entry.name, entry.cursor)
        at = f"body.tables.{n}.cursor"
        if body.mode is Mode.INCREMENTAL and cursor is None:
            raise FieldError(
                at,
                f'incremental mode needs a cursor column for table {name!r} (e.g. "cursor": "updated_at")',
                kind="missing",
            )
        if body.mode is not Mode.INCREMENTAL and cursor is not None:
            raise FieldError(at, '"cursor" only applies to "mode": "incremental"')
        target = name if isinstance(entry, str) else entry.target
        if target in targets:
            raise FieldError(
                f"body.tables.{n}" + ("" if isinstance(entry, str) else ".dest_name"),
                f"tables {targets[target]} and {n} would both be written to the table {target!r}",
            )
        targets[target] = n


def _connection(settings: Settings, name: str, role: str) -> str:
    try:
        return settings.connection(name, role=f"{role} connection")
    except UsageError as exc:
        raise FieldError(f"body.{role}", exc.message, kind="unknown_connection") from exc


_KINDS: dict[type[SyncError], str] = {
    UnknownTableError: "unknown_table",
    UnknownColumnError: "unknown_column",
}


def _checked(spec: SyncSpec, body: JobCreate) -> int:
    """``check_ends``, a catalog refusal reported at the request's field (``body.tables.0.key.1``)."""
    try:
        return check_ends(spec)
    except SpecError as exc:
        entry = body.tables[exc.table]
        path = () if isinstance(entry, str) and exc.path in (("name",), ("dest_name",)) else exc.path
        field = ".".join(str(p) for p in ("body", "tables", exc.table, *path))
        raise FieldError(field, exc.message, kind=_KINDS.get(type(exc.error), "value_error")) from exc


@router.get("", response_model=JobList, responses=_ERRORS)
async def list_jobs(
    store: StoreDep,
    _: Reader,
    status: Annotated[JobStatus | None, Query(description="only jobs in this status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    """Jobs, newest first."""
    found = await run_in_threadpool(store.list, status=status, limit=limit, offset=offset)
    return {"jobs": [j.to_dict() for j in found], "limit": limit, "offset": offset}


@router.get("/{job_id}", response_model=JobOut, responses={**_ERRORS, **_NOT_FOUND})
async def get_job(job_id: str, store: StoreDep, _: Reader) -> dict[str, Any]:
    """One job: status, progress, ETA, attempts, error, result."""
    job: Job = await run_in_threadpool(store.get, job_id)
    return job.to_dict()


_CONFLICT: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    **_NOT_FOUND,
    409: {"model": Problem, "description": "the job is in a state that does not allow it"},
}


@router.post("/{job_id}/cancel", response_model=JobOut, responses=_CONFLICT)
async def cancel_job(job_id: str, store: StoreDep, request: Request, _: Writer) -> dict[str, Any]:
    """Cancel: a queued job at once; a running one stops reading at once and commits nothing
    after the batch it is committing (checkpoints kept)."""
    job = await _changing(store.request_cancel, job_id)
    request.app.state.runtime.cancel_now(job_id)  # a job this server runs: now, not at its next look
    return job.to_dict()


@router.post("/{job_id}/resume", response_model=JobOut, responses=_CONFLICT)
async def resume_job(
    job_id: str,
    settings: SettingsDep,
    store: StoreDep,
    _: Writer,
    tries: Annotated[int | None, Query(ge=1, le=100, description="attempts from now")] = None,
) -> dict[str, Any]:
    """Queue a failed or cancelled job again; it continues from its last committed batch."""
    await run_in_threadpool(check_broker, settings)  # 503 before the job changes, if it is down
    job = await _changing(lambda j: store.resume(j, tries=tries or settings.job_tries), job_id)
    await run_in_threadpool(dispatch, job, settings)
    return job.to_dict()


async def _changing(change: Any, job_id: str) -> Job:
    try:
        job: Job = await run_in_threadpool(change, job_id)
    except UnknownJobError:
        raise
    except UsageError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, exc.message) from exc
    return job


async def existing_job(job_id: str, store: StoreDep) -> Job:
    """The job, or a 404 before any response starts (the events stream needs it up front)."""
    job: Job = await run_in_threadpool(store.get, job_id)
    return job


@router.get(
    "/{job_id}/events",
    response_class=EventSourceResponse,
    responses={**_ERRORS, **_NOT_FOUND},
)
async def job_events(
    request: Request, store: StoreDep, _: Reader, job: Annotated[Job, Depends(existing_job)]
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events: a ``job`` event (a JobOut) now and each time the job changes, then
    ``end`` with the final status. The store is polled twice a second."""
    last: dict[str, Any] | None = None
    quiet_since = time.monotonic()
    while True:
        view = job.to_dict()
        if view != last:
            yield ServerSentEvent(data=view, event="job", id=f"{job.id}:{view['updated_at']}")
            last, quiet_since = view, time.monotonic()
        elif time.monotonic() - quiet_since > KEEPALIVE_S:
            yield ServerSentEvent(comment="keep-alive")
            quiet_since = time.monotonic()
        if job.done:
            yield ServerSentEvent(data={"job_id": job.id, "status": job.status}, event="end")
            return
        if await request.is_disconnected():
            return
        await asyncio.sleep(POLL_S)
        try:
            job = await run_in_threadpool(store.get, job.id)
        except SyncError as exc:  # the store is briefly away: say so, and look again
            log.warning("events of %s: %s", job.id, exc.message)
            yield ServerSentEvent(data={"detail": STORE_DOWN}, event="error")
