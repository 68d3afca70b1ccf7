"""What a job is as read from the store: a job and its progress (no SQLAlchemy).

``bulksync jobs|status|cancel`` read jobs through the plain driver (jobs/lookup.py) with these;
the job store's table is in model.py.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bulksync.errors import redact
from bulksync.jobs.statuses import FINAL as FINAL
from bulksync.jobs.statuses import STATUSES as STATUSES


def now() -> dt.datetime:
    """Naive UTC: the one clock format every backend compares the same way."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def new_job_id(kind: str) -> str:
    """``sync_bets_<13 hex>`` for bet syncs (seed 000's shape), ``job_<16 hex>`` otherwise."""
    return f"sync_bets_{secrets.token_hex(7)[:13]}" if kind == "bets" else f"job_{secrets.token_hex(8)}"


@dataclass(frozen=True)
class Progress:
    """A job's progress as the runner last wrote it."""

    processed: int = 0
    estimated: int = 0
    rows_per_s: float = 0.0
    eta_s: float | None = None
    rss_mb: float = 0.0
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def percentage(self) -> float:
        return round(min(100.0, 100.0 * self.processed / self.estimated), 2) if self.estimated else 0.0

    @classmethod
    def of_tables(cls, tables: dict[str, dict[str, Any]], *, rate: float | None = None) -> Progress:
        """The job's totals from its per-table entries (``rows_done``, ``rows_total``,
        ``rows_per_s``, ``rss_mb``); ``rate`` overrides the sum of the tables' rates."""
        done = sum(int(v["rows_done"]) for v in tables.values())
        total = sum(int(v["rows_total"]) for v in tables.values())
        if rate is None:
            rate = sum(float(v["rows_per_s"]) for v in tables.values())
        return cls(
            processed=done,
            estimated=max(total, done),
            rows_per_s=rate,
            eta_s=(max(0, total - done) / rate) if rate > 0 else None,
            rss_mb=max((float(v.get("rss_mb", 0.0)) for v in tables.values()), default=0.0),
            tables=tables,
        )


@dataclass(frozen=True)
class Job:
    """One row of the store, as read."""

    id: str
    kind: str
    spec: dict[str, Any]
    status: str
    progress: Progress
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    max_attempts: int
    timeout_s: float | None
    cancel_requested: bool
    lease_owner: str | None
    lease_expires: dt.datetime | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    updated_at: dt.datetime
    finished_at: dt.datetime | None

    @property
    def done(self) -> bool:
        return self.status in FINAL

    def lease_expired(self, at: dt.datetime | None = None) -> bool:
        return self.lease_expires is not None and self.lease_expires < (at or now())

    @property
    def public_status(self) -> str:
        """The job's status in the one vocabulary of ``STATUSES``."""
        if self.status == "running" and self.lease_expired():
            return "lost"
        if self.status == "running" and self.cancel_requested:
            return "stopping"
        return self.status

    def to_dict(self) -> dict[str, Any]:
        """The public view (CLI ``--json``, API): timestamps in ISO 8601 UTC, no lease internals."""
        p = self.progress
        return {
            "job_id": self.id,
            "kind": self.kind,
            "status": self.public_status,
            "processed_records": p.processed,
            "estimated_records": p.estimated,
            "progress_percentage": p.percentage,
            "records_per_second": round(p.rows_per_s, 1),
            "eta_seconds": None if p.eta_s is None else round(p.eta_s, 1),
            "memory_mb": round(p.rss_mb, 1),
            "tables": p.tables,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "cancel_requested": self.cancel_requested,
            "runner_lost": self.status == "running" and self.lease_expired(),
            "error": self.error,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "updated_at": iso(self.updated_at),
            "finished_at": iso(self.finished_at),
            "spec": self.spec,
            "result": self.result,
        }


def iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.replace(microsecond=0).isoformat() + "Z"


def progress_values(p: Progress) -> dict[str, Any]:
    return {
        "processed_records": p.processed,
        "estimated_records": p.estimated,
        "percentage": p.percentage,
        "rows_per_s": p.rows_per_s,
        "eta_s": p.eta_s,
        "rss_mb": p.rss_mb,
        "tables": json.dumps(p.tables, sort_keys=True),
    }


def job_from_row(row: Mapping[Any, Any]) -> Job:
    return Job(
        id=row["id"],
        kind=row["kind"],
        spec=json.loads(row["spec"]),
        status=row["status"],
        progress=Progress(
            processed=int(row["processed_records"]),
            estimated=int(row["estimated_records"]),
            rows_per_s=float(row["rows_per_s"]),
            eta_s=row["eta_s"],
            rss_mb=float(row["rss_mb"]),
            tables=json.loads(row["tables"] or "{}"),
        ),
        result=json.loads(row["result"]) if row["result"] else None,
        error=row["error"],
        attempts=int(row["attempts"]),
        max_attempts=int(row["max_attempts"]),
        timeout_s=row["timeout_s"],
        cancel_requested=bool(row["cancel_requested"]),
        lease_owner=row["lease_owner"],
        lease_expires=row["lease_expires"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
    )


def one_line(error: object) -> str:
    """An error as one redacted line (a driver's original message where it wraps one)."""
    text = str(getattr(error, "orig", None) or error)
    return redact(" ".join(text.split()))[:2000]
