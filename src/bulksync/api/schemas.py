"""Request and response bodies: precise OpenAPI, and responses that cannot carry a DSN.

Callers name configured connections (``dk``, ``warehouse``), never URLs: a job record and an API
response only ever hold those names. Job responses are ``Job.to_dict()`` (the public view the CLI
prints with ``--json``); the seed 000 bodies keep the seed's field names.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bulksync.jobs.model import STATUSES
from bulksync.modes import DEFAULT_BATCH_MB
from bulksync.spec import Mode, TableSpec

CONNECTION_NAME = r"^[A-Za-z_][A-Za-z0-9_-]{0,62}$"
_NAME = re.compile(CONNECTION_NAME)
TABLE_NAME = r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$"

ConnectionName = Annotated[
    str,
    Field(
        json_schema_extra={"pattern": CONNECTION_NAME, "maxLength": 63},
        description="a configured connection (BULKSYNC_CONNECTIONS__<NAME>), never a URL or a path",
        examples=["dk"],
    ),
]
TableName = Annotated[str, Field(pattern=TABLE_NAME, description="a table with every default")]
JobStatus = Literal["queued", "running", "stopping", "lost", "succeeded", "partial", "failed", "cancelled"]
assert JobStatus.__args__ == STATUSES  # type: ignore[attr-defined]  # one vocabulary everywhere


class JobCreate(BaseModel):
    """A sync to run as a background job, between two configured connections."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # NaN would slip past gt/le

    source: ConnectionName
    destination: ConnectionName
    tables: list[TableName | TableSpec] = Field(min_length=1, max_length=1000)
    mode: Mode = Mode.APPEND
    partitions: int | None = Field(
        default=None, ge=1, le=64, description="key-range partitions (and tables) moved at once (2)"
    )
    workers: int | None = Field(
        default=None, ge=1, le=64, description="deprecated: the old name of partitions",
        json_schema_extra={"deprecated": True},
    )  # fmt: skip
    max_memory_mb: int = Field(default=512, ge=64, le=1_048_576)
    batch_mb: float = Field(default=DEFAULT_BATCH_MB, gt=0, le=256)
    chunk_rows: int | None = Field(default=None, ge=1, le=10_000_000)
    batch_rows: int | None = Field(default=None, ge=1, le=10_000_000)
    statement_timeout_s: float = Field(default=120.0, gt=0, le=86_400)
    retries: int = Field(default=5, ge=0, le=100)
    lag_seconds: float = Field(default=0.0, ge=0, le=86_400 * 365)
    restart: bool = False
    tries: int | None = Field(default=None, ge=1, le=100, description="attempts (BULKSYNC_JOB_TRIES)")
    timeout_s: float | None = Field(default=None, gt=0, le=86_400 * 30, description="per attempt")

    @field_validator("source", "destination", mode="before")
    @classmethod
    def _a_name(cls, value: object) -> object:
        if isinstance(value, str) and not _NAME.match(value):
            raise ValueError(
                "must be the name of a configured connection (BULKSYNC_CONNECTIONS__<NAME>), "
                "not a URL or a path: database URLs and passwords stay in the server's settings"
            )
        return value

    def spec_fields(self) -> dict[str, Any]:
        """The SyncSpec fields besides source and destination (``partitions`` is its ``workers``)."""
        fields = self.model_dump(exclude={"source", "destination", "tries", "timeout_s", "partitions"})
        fields["workers"] = self.partitions or self.workers or 2
        return fields


class JobOut(BaseModel):
    """A job as the store holds it (connection names and password-free URLs only)."""

    job_id: str
    kind: str
    status: JobStatus
    processed_records: int
    estimated_records: int
    progress_percentage: float
    records_per_second: float
    eta_seconds: float | None
    memory_mb: float
    tables: dict[str, dict[str, Any]]
    attempts: int
    max_attempts: int
    cancel_requested: bool
    runner_lost: bool = Field(description="running, but its runner stopped heart-beating")
    error: str | None
    created_at: str
    started_at: str | None
    updated_at: str
    finished_at: str | None
    spec: dict[str, Any]
    result: dict[str, Any] | None


class JobList(BaseModel):
    jobs: list[JobOut]
    limit: int
    offset: int


class Problem(BaseModel):
    """Every error: one line in ``detail``; validation errors also list the fields."""

    detail: str
    errors: list[dict[str, Any]] | None = None


# -- seed 000 ---------------------------------------------------------------------------------------


class BetRangeIn(BaseModel):
    """Seed 000's request: a date range and a channel (every field optional)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # NaN would slip past gt/le

    start_date: dt.date | None = Field(default=None, description="first day (default: today)")
    end_date: dt.date | None = Field(default=None, description="last day, included (default: today)")
    days_back: int | None = Field(default=None, ge=0, le=3660, description="the N days before today")
    channel: str | None = Field(
        default=None, max_length=16, description="an allowed channel or ALL (BET_SYNC_DEFAULT_CHANNEL)"
    )
    chunk_size: int | None = Field(default=None, ge=1, le=10_000_000)
    batch_size: int | None = Field(default=None, ge=1, le=10_000_000)


class BetPerformance(BaseModel):
    records_per_second: float
    chunk_size: int | None
    batch_size: int | None
    peak_memory_mb: float


class BetSummary(BaseModel):
    date: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    channel: str
    total_records: int
    failed_records: int
    execution_time_seconds: float
    performance: BetPerformance


class BetBackground(BaseModel):
    job_id: str
    estimated_records: int
    status_check_url: str
    note: str


class BetSyncOut(BaseModel):
    """``data`` is the sync summary, or the background shape when the sync went to a job."""

    success: bool
    message: str
    data: BetSummary | BetBackground
    error: str | None = None


class BetBackgroundOut(BaseModel):
    success: bool
    message: str
    data: BetBackground


class BetStatus(BaseModel):
    job_id: str
    status: Literal["queued", "processing", "completed", "failed", "cancelled"]
    started_at: str | None
    processed_records: int
    estimated_records: int
    progress_percentage: float
    updated_at: str
    error: str | None = None


class BetStatusOut(BaseModel):
    success: bool
    data: BetStatus


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    job_store: str
    broker: str
    detail: str | None = None
