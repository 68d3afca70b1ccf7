"""``POST /api/v1/jobs/stores``: a store sync (users or videos of many store APIs) as a job.

The job is then one of ``/api/v1/jobs`` like any other: listed, read, followed over SSE,
cancelled, resumed (a ``partial`` job resumed re-runs only its failed stores). Callers name the
destination as a configured connection and each store's credential by name; the request, the job
record and every response hold neither a password nor a token. What the CLI checks before it
records a job is checked here first: a credential nobody configured or a destination that is not
PostgreSQL is a 422 at its field, an unreachable destination a 503, and nothing is recorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from bulksync.api.deps import SettingsDep, StoreDep, Writer
from bulksync.api.errors import FieldError
from bulksync.api.routes.jobs import _CONFLICT as _ERRORS
from bulksync.api.schemas import ConnectionName, JobOut, Problem
from bulksync.connectors.http_options import Pagination, RetryPolicy, since_value
from bulksync.connectors.registry import open_connector
from bulksync.errors import UsageError
from bulksync.jobs.dispatch import check_broker, dispatch, uses_broker
from bulksync.jobs.store_specs import KIND, shared_limit_url, store_job_record
from bulksync.recipes.store_list import Store, load_stores_table, token_for
from bulksync.settings import Settings, get_store_settings

if TYPE_CHECKING:  # the store sync (aiohttp, the engine) loads with the first job, not with serve
    from bulksync.recipes.stores import StoreJob

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


class StoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # NaN would slip past gt/le

    store_code: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    base_url: str = Field(pattern=r"^https?://[^@\s]+$", max_length=2000, description="no user:password@")
    credential: str = Field(
        default="", max_length=63, description="a name: BULKSYNC_STORES_CREDENTIALS__<NAME> holds the token"
    )


class StoreSyncCreate(BaseModel):
    """Seed 004's nightly users or videos sync over many store APIs, into PostgreSQL."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # NaN would slip past gt/le

    kind: Literal["users", "videos"]
    destination: ConnectionName
    stores: list[StoreIn] | None = Field(default=None, min_length=1, max_length=100_000)
    stores_table: str | None = Field(
        default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$",
        description="or a table of the destination with store_code, base_url, credential",
    )  # fmt: skip
    table: str = Field(default="", pattern=r"^([A-Za-z_][A-Za-z0-9_]{0,62})?$")
    concurrency: int | None = Field(
        default=None, ge=1, le=1000, description="SYNC_CONCURRENCY / VIDEO_SYNC_CONCURRENCY"
    )
    rate: float | None = Field(default=None, gt=0, le=100_000, description="requests/s, all stores")
    store_rate: float | None = Field(default=None, gt=0, le=100_000, description="requests/s, each store")
    pagination: Pagination = Pagination.CURSOR
    page_size: int = Field(default=100, ge=1, le=100_000)
    records_path: str = Field(default="data", max_length=200)
    since: str | None = Field(default=None, max_length=64)

    @field_validator("since")
    @classmethod
    def _iso_since(cls, value: str | None) -> str | None:
        return None if value is None else since_value(value)

    timeout_s: float = Field(default=30.0, gt=0, le=3600)
    max_page_mb: float = Field(default=16.0, gt=0, le=1024)
    attempts: int = Field(default=5, ge=1, le=100)
    backoff_s: float = Field(default=1.0, ge=0, le=600)
    tries: int | None = Field(default=None, ge=1, le=100, description="attempts (BULKSYNC_JOB_TRIES)")


@router.post(
    "/stores",
    status_code=status.HTTP_201_CREATED,
    response_model=JobOut,
    responses={
        **_ERRORS,
        422: {
            "model": Problem,
            "description": "bad body, unknown connection or credential name, "
            "a global rate a RabbitMQ fleet has no Redis to share",
        },
        503: {"model": Problem, "description": "the destination, the job store or the broker is unreachable"},
    },
)
async def create_store_sync(
    body: StoreSyncCreate, settings: SettingsDep, store: StoreDep, _: Writer
) -> dict[str, Any]:
    """Record a store sync job (one partition per store) and start it."""
    job = await run_in_threadpool(_checked_job, body, settings)
    record = store_job_record(job, settings, destination=body.destination)
    await run_in_threadpool(check_broker, settings)
    created = await run_in_threadpool(
        store.create, kind=KIND, spec=record, max_attempts=body.tries or settings.job_tries,
        estimated=len(job.stores),
    )  # fmt: skip
    await run_in_threadpool(dispatch, created, settings)
    return created.to_dict()


def _checked_job(body: StoreSyncCreate, settings: Settings) -> StoreJob:
    from bulksync.recipes.stores import StoreJob

    try:
        dest = settings.connection(body.destination, role="destination connection")
    except UsageError as exc:
        raise FieldError("body.destination", exc.message, kind="unknown_connection") from exc
    if not dest.startswith(("postgresql://", "postgres://", "postgresql+")):
        raise FieldError("body.destination", "a store sync writes to PostgreSQL: name a PostgreSQL one")
    if (body.stores is None) == (body.stores_table is None):
        raise FieldError("body.stores", 'give "stores" (a list) or "stores_table"', kind="missing")
    open_connector(dest).close()  # unreachable: a 503 before anything is recorded
    if body.stores is not None:
        stores = [Store(s.store_code, s.base_url.rstrip("/"), s.credential) for s in body.stores]
        codes = [s.code for s in stores]
        if len(set(codes)) != len(codes):
            raise FieldError("body.stores", "store codes repeated")
    else:
        stores = load_stores_table(dest, str(body.stores_table))
    conf = get_store_settings()
    for n, s in enumerate(stores):
        try:
            token_for(s, conf.credentials)
        except UsageError as exc:
            field = f"body.stores.{n}.credential" if body.stores is not None else "body.stores_table"
            raise FieldError(field, exc.message, kind="unknown_credential") from exc
    default = conf.sync_concurrency if body.kind == "users" else conf.video_sync_concurrency
    try:  # the fleet shares the global limit through Redis, or the job is refused
        shared_limit_url(settings, conf, rate=body.rate or conf.rate, fleet=uses_broker(settings))
    except UsageError as exc:
        raise FieldError("body.rate", exc.message, kind="no_shared_limit") from exc
    return StoreJob(
        body.kind, stores, dest, conf.credentials, table=body.table, concurrency=body.concurrency or default,
        rate=body.rate or conf.rate, store_rate=body.store_rate or conf.store_rate,
        pagination=body.pagination,
        page_size=body.page_size, records_path=body.records_path, since=body.since, timeout_s=body.timeout_s,
        max_page_bytes=int(body.max_page_mb * 1024 * 1024),
        policy=RetryPolicy(attempts=body.attempts, backoff_s=body.backoff_s),
        resume_within_s=conf.resume_within_hours * 3600,
    )  # fmt: skip
