"""The jackpot endpoints (``/api/jackpot/…``) and ``install``, which adds them to the app.

    POST /api/jackpot/contributions   one contribution (an object) or a batch (an array of ≤ 1,000)
    POST /api/jackpot/wins            pay a win once
    GET  /api/jackpot/pools[/{name}]  pool amounts, from the cache
    GET  /api/jackpot/stats           the dashboard's figures

A batch is validated whole before anything is written: one bad item (a bad amount, an unknown
game, an id twice in the batch) is a 422 naming it, and nothing of the batch is applied. A valid
batch is applied per item: an id already applied with another body is that item's ``rejected``
(a single contribution: 409), the others land. Writes need the ``jackpot:write`` scope, reads
``jobs:read``; each token has its own token bucket (429 with ``Retry-After``).
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import TypeAdapter, ValidationError

from bulksync.api.deps import NO_TOKENS, token_name
from bulksync.api.errors import one_line, problem
from bulksync.api.jackpot_parse import errors_of, parse
from bulksync.api.schemas import Problem
from bulksync.jackpot.bodies import (
    ContributionsOut,
    PoolOut,
    StatsOut,
    WinIn,
    WinOut,
)  # fmt: skip
from bulksync.jackpot.config import JackpotSettings
from bulksync.jackpot.model import Contribution, Outcome, PoolState, WinResult
from bulksync.jackpot.money import to_text
from bulksync.jackpot.service import JackpotService
from bulksync.jackpot.writer import JackpotNotReady, JackpotUnavailable
from bulksync.settings import Settings

router = APIRouter(prefix="/api/jackpot", tags=["jackpot"])
_bearer = HTTPBearer(auto_error=False, description="a token of BULKSYNC_API_TOKENS__<NAME>__TOKEN")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _require(scope: str) -> Callable[..., Awaitable[str]]:
    """``deps.require`` as a coroutine: the hot path stays on the event loop (a sync dependency
    costs every request a hop through the thread pool). Same checks, same answers."""

    async def check(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> str:
        settings: Settings = request.app.state.settings
        if not settings.api_tokens:
            raise HTTPException(401, NO_TOKENS, headers=_CHALLENGE)
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(
                401, "missing bearer token: send Authorization: Bearer <token>", headers=_CHALLENGE
            )
        name = token_name(settings, credentials.credentials)
        if name is None:
            raise HTTPException(401, "unknown bearer token", headers=_CHALLENGE)
        if not settings.api_tokens[name].allows(scope):
            raise HTTPException(403, f"token {name!r} lacks the {scope} scope this endpoint needs")
        return name

    return check


Contributor = Annotated[str, Depends(_require("jackpot:write"))]
Reader = Annotated[str, Depends(_require("jobs:read"))]
OFF = (
    "the jackpot is not configured on this server: set BULKSYNC_JACKPOT_CONNECTION to a configured "
    "PostgreSQL connection and run `bulksync jackpot init`"
)
_WIN = TypeAdapter(WinIn)
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": what}
    for code, what in {
        401: "no token, an unknown token, or no tokens configured", 403: "the token lacks the scope",
        404: "the jackpot is not configured on this server", 422: "bad input: the field and item are named",
        429: "over this token's rate limit: see Retry-After",
        503: "the jackpot's database is away: retry with the same ids after Retry-After",
    }.items()
}  # fmt: skip
_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"oneOf": [
            {"$ref": "#/components/schemas/ContributionIn"},
            {"type": "array", "items": {"$ref": "#/components/schemas/ContributionIn"},
             "minItems": 1, "maxItems": 1000},
        ]}}},
    }
}  # fmt: skip


def install(app: FastAPI, settings: Settings, jackpot: JackpotSettings | None = None) -> None:
    """Add the endpoints; when BULKSYNC_JACKPOT_CONNECTION is set, run the jackpot in the app's
    lifespan (its metrics on the app's registry)."""
    jackpot = jackpot or JackpotSettings()
    service = None
    if jackpot.connection:
        url = settings.connection(jackpot.connection, role="jackpot connection")
        broker = settings.broker_url.get_secret_value() if settings.broker_url else None
        shared = broker if broker and broker.startswith(("redis://", "rediss://")) else None
        service = JackpotService(jackpot, url, registry=app.state.metrics.registry, redis_url=shared)
    app.state.jackpot = service
    app.include_router(router)
    if service is None:
        return
    from bulksync.api.jackpot_fastpath import ContributionsFastPath

    # what `bulksync serve` runs: the fast path in front of the whole app, not one of its
    # middlewares, so a contribution skips FastAPI's per-request telemetry check and its
    # server-error, telemetry and body-limit middlewares (~12 µs of ~190, measured); the app alone
    # (another ASGI server) answers the same route, the same way, through the FastAPI route
    app.state.asgi = ContributionsFastPath(app, settings=settings, service=service)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[Any]:
        async with inner(a) as state:
            await service.start()
            try:
                yield state
            finally:
                await service.stop()

    app.router.lifespan_context = lifespan


def _service(request: Request) -> JackpotService:
    service: JackpotService | None = request.app.state.jackpot
    if service is None:
        raise HTTPException(404, OFF)
    return service


async def _observed(
    request: Request, route: str, work: Callable[[JackpotService], Awaitable[tuple[JSONResponse, int]]]
) -> JSONResponse:
    """Run ``work``; count its answer and latency; database trouble becomes 503 + Retry-After."""
    service = _service(request)
    started, code, items = time.perf_counter(), 500, 0
    try:
        response, items = await work(service)
        code = response.status_code
        return response
    except JackpotUnavailable as exc:
        code = 503
        raise HTTPException(503, exc.message, headers={"Retry-After": "1"}) from exc
    except JackpotNotReady as exc:
        code = 503
        raise HTTPException(503, exc.message, headers={"Retry-After": "10"}) from exc
    except HTTPException as exc:
        code = exc.status_code
        raise
    finally:
        service.metrics.request(route, code, time.perf_counter() - started, items)


def rate_limited(service: JackpotService, wait: float) -> tuple[str, str]:
    """The 429's line and its Retry-After seconds."""
    settings = service.settings
    detail = (
        f"over this token's rate limit ({settings.rate_per_minute}/min, burst {settings.burst}): "
        "retry after the Retry-After seconds"
    )
    return detail, str(max(1, math.ceil(wait)))


async def _limit(service: JackpotService, token: str) -> None:
    wait = await service.admit(token)
    if wait:
        detail, retry = rate_limited(service, wait)
        raise HTTPException(429, detail, headers={"Retry-After": retry})


def _invalid(request: Request, found: list[dict[str, Any]]) -> JSONResponse:
    return problem(request, 422, one_line(found), errors=found)


@router.post("/contributions", response_model=ContributionsOut, responses=_ERRORS, openapi_extra=_BODY)
async def contribute(request: Request, token: Contributor) -> Any:
    """Apply one contribution or a batch of up to 1,000; answered once they are durable."""

    async def work(service: JackpotService) -> tuple[JSONResponse, int]:
        await _limit(service, token)
        items, many, found = parse(await request.body(), service.settings)
        if found:
            service.metrics.contributions.labels("rejected").inc(len(items) or 1)
            return _invalid(request, found), 0
        outcomes = await service.contribute(items)
        if not many and outcomes[0] == "conflict":
            return problem(request, 409, _conflict(items[0].contribution_id)), 1
        return JSONResponse(_result(items, outcomes)), len(items)

    return await _observed(request, "contributions", work)


def _conflict(contribution_id: str) -> str:
    return f"contribution_id {contribution_id!r} was already applied with a different body; nothing changed"


def _result(items: list[Contribution], outcomes: list[Outcome]) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for item, outcome in zip(items, outcomes, strict=True):
        if outcome == "conflict":
            error = _conflict(item.contribution_id)
            results.append({"contribution_id": item.contribution_id, "status": "rejected", "error": error})
            errors.append({"contribution_id": item.contribution_id, "error": error})
        else:
            results.append({"contribution_id": item.contribution_id, "status": outcome})
    applied = outcomes.count("applied")
    duplicates = outcomes.count("duplicate")
    return {
        "total": len(items), "processed": applied + duplicates, "applied": applied,
        "duplicates": duplicates, "failed": len(errors), "results": results, "errors": errors,
    }  # fmt: skip


_WIN_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WinIn"}}},
    }
}


@router.post("/wins", response_model=WinOut, responses=_ERRORS, openapi_extra=_WIN_BODY)
async def win(request: Request, token: Contributor) -> Any:
    """Pay a win from a pool, once: a repeated ``win_id`` answers the original payout."""

    async def work(service: JackpotService) -> tuple[JSONResponse, int]:
        await _limit(service, token)
        try:
            body = _WIN.validate_json(await request.body())
        except ValidationError as exc:
            return _invalid(request, errors_of(exc)), 0
        known = service.known_pools()
        if body.pool not in known:
            return _invalid(request, [_unknown_pool(body.pool, known)]), 0
        result = await service.win(body.to_value())
        service.metrics.wins.labels(
            {"paid": "paid", "duplicate": "duplicate"}.get(result.status, "rejected")
        ).inc()
        return _win_answer(request, result, known), 0

    return await _observed(request, "wins", work)


def _unknown_pool(name: str, known: list[str]) -> dict[str, Any]:
    message = f"unknown pool {name!r} (pools: {', '.join(known)})"
    return {"field": "body.pool", "message": message, "type": "unknown_pool"}


def _win_answer(request: Request, result: WinResult, known: list[str]) -> JSONResponse:
    if result.status == "conflict":
        detail = (
            f"win_id {result.win_id!r} was already paid with another pool, user or amount; nothing changed"
        )
        return problem(request, 409, detail)
    if result.status == "unknown_pool":
        return _invalid(request, [_unknown_pool(result.pool, known)])
    if result.status == "over_amount":
        message = f"more than pool {result.pool!r} holds ({to_text(result.before_minor)}); nothing paid"
        return _invalid(request, [{"field": "body.amount", "message": message, "type": "over_amount"}])
    return JSONResponse({
        "win_id": result.win_id, "status": result.status, "pool": result.pool, "user_id": result.user_id,
        "paid_minor": result.paid_minor, "paid": to_text(result.paid_minor),
        "pool_before_minor": result.before_minor, "pool_after_minor": result.after_minor,
        "won_at": result.won_at.isoformat() if result.won_at else None,
    })  # fmt: skip


def _pool_out(pool: PoolState) -> dict[str, Any]:
    return {
        "name": pool.name, "amount_minor": pool.amount_minor, "amount": to_text(pool.amount_minor),
        "seed_minor": pool.seed_minor, "cap_minor": pool.cap_minor,
        "must_hit_by_minor": pool.must_hit_by_minor, "currency": pool.currency,
        "contribution_percent": f"{pool.rate_ppm / 10_000:g}",
    }  # fmt: skip


@router.get("/pools", response_model=list[PoolOut], responses=_ERRORS)
async def pools(request: Request, _: Reader) -> Any:
    """Every pool's amount (from the cache the writer keeps current)."""

    async def work(service: JackpotService) -> tuple[JSONResponse, int]:
        return JSONResponse([_pool_out(p) for p in await service.pools()]), 0

    return await _observed(request, "pools", work)


@router.get("/pools/{name}", response_model=PoolOut, responses=_ERRORS)
async def pool(request: Request, name: str, _: Reader) -> Any:
    """One pool's amount; 404 naming the pools there are."""

    async def work(service: JackpotService) -> tuple[JSONResponse, int]:
        found = {p.name: p for p in await service.pools()}
        if name not in found:
            raise HTTPException(404, f"unknown pool {name[:40]!r} (pools: {', '.join(sorted(found))})")
        return JSONResponse(_pool_out(found[name])), 0

    return await _observed(request, "pools", work)


@router.get("/stats", response_model=StatsOut, responses=_ERRORS)
async def stats(request: Request, _: Reader) -> Any:
    """Throughput, latency, error rate, queue size and cache hit rate of this server."""
    return _service(request).stats()
