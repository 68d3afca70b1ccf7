"""The job store: the single writer of job state (SQLAlchemy Core on a SQLite file or PostgreSQL).

Every job is one row of ``bulksync_jobs``: what to run (the spec, with configured connection
names and password-free URLs only), its status, its progress, its attempts and its **lease**.
A runner owns a job only while its lease is fresh; it renews the lease with every heartbeat.
Claiming is one conditional ``UPDATE`` (queued, or running with an expired lease), so two
runners racing for a job cannot both win, and a job whose runner died is taken over and resumed
from the checkpoints in its destination. Queue messages (later: Dramatiq partition tasks) are
only hints: whoever runs work claims it here first.

    queued ──claim──► running ──► succeeded | failed | cancelled
      ▲                  │ lease expired: claim again (attempts + 1, capped)
      └──── resume ──────┘ (failed / cancelled → queued, a fresh set of tries)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bulksync.errors import PermanentError, UsageError, redact

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL = frozenset({"succeeded", "failed", "cancelled"})

metadata = sa.MetaData()
jobs = sa.Table(
    "bulksync_jobs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("spec", sa.Text, nullable=False),  # JSON: never a password (see jobs/specs.py)
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("processed_records", sa.BigInteger, nullable=False, default=0),
    sa.Column("estimated_records", sa.BigInteger, nullable=False, default=0),
    sa.Column("percentage", sa.Float, nullable=False, default=0.0),
    sa.Column("rows_per_s", sa.Float, nullable=False, default=0.0),
    sa.Column("eta_s", sa.Float),
    sa.Column("rss_mb", sa.Float, nullable=False, default=0.0),
    sa.Column("tables", sa.Text, nullable=False, default="{}"),  # JSON: progress per table
    sa.Column("result", sa.Text),  # JSON: SyncResult.to_dict() of the last attempt
    sa.Column("error", sa.Text),  # one line, redacted
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("timeout_s", sa.Float),  # per attempt; None: no limit
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("lease_owner", sa.String(160)),
    sa.Column("lease_expires", sa.DateTime),  # naive UTC, like every timestamp here
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("started_at", sa.DateTime),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
)
c = jobs.c


class UnknownJobError(UsageError):
    """No such job."""


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

    def to_dict(self) -> dict[str, Any]:
        """The public view (CLI ``--json``, API): timestamps in ISO 8601 UTC, no lease internals."""
        p = self.progress
        return {
            "job_id": self.id,
            "kind": self.kind,
            "status": self.status,
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


def default_store_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "bulksync" / "jobs.db"


def engine_url(target: str | None) -> str:
    """A SQLAlchemy URL for a store setting: a path, ``sqlite:///…`` or ``postgresql://…``."""
    if not target:
        target = str(default_store_path())
    if target.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + target.split("://", 1)[1]
    if target.startswith(("sqlite:", "postgresql+")):
        return target
    if "://" in target:
        raise UsageError(
            f"BULKSYNC_JOB_STORE must be a SQLite path or a postgresql:// URL, not {redact(target)!r}"
        )
    path = Path(target).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # a reader never blocks the runner's heartbeat
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class JobStore:
    """Reads and writes job rows; every state change is one conditional statement."""

    def __init__(self, target: str | None = None, *, lease_s: float = 30.0) -> None:
        url = engine_url(target)
        self.lease = dt.timedelta(seconds=lease_s)
        if url.startswith("sqlite"):
            self.engine: Engine = sa.create_engine(
                url, connect_args={"timeout": 30, "check_same_thread": False}
            )
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = sa.create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4)
        try:
            metadata.create_all(self.engine)
        except sa.exc.IntegrityError:  # another process created it at the same moment
            metadata.create_all(self.engine)
        except sa.exc.SQLAlchemyError as exc:
            raise PermanentError(f"cannot open the job store: {_one_line(exc)}") from exc

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise PermanentError(f"job store: {_one_line(exc)}") from exc

    # -- creating and reading -------------------------------------------------------------------

    def create(
        self,
        *,
        kind: str,
        spec: dict[str, Any],
        max_attempts: int,
        timeout_s: float | None = None,
        estimated: int = 0,
        job_id: str | None = None,
    ) -> Job:
        """A new queued job; ``spec`` must already be free of secrets (jobs/specs.py)."""
        at = now()
        job_id = job_id or new_job_id(kind)
        with self._tx() as conn:
            conn.execute(
                jobs.insert().values(
                    id=job_id,
                    kind=kind,
                    spec=json.dumps(spec, sort_keys=True),
                    status="queued",
                    processed_records=0,
                    estimated_records=estimated,
                    percentage=0.0,
                    rows_per_s=0.0,
                    rss_mb=0.0,
                    tables="{}",
                    attempts=0,
                    max_attempts=max_attempts,
                    timeout_s=timeout_s,
                    cancel_requested=False,
                    created_at=at,
                    updated_at=at,
                )
            )
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        with self._tx() as conn:
            row = conn.execute(sa.select(jobs).where(c.id == job_id)).mappings().first()
        if row is None:
            raise UnknownJobError(f"no job {job_id!r} in the job store (bulksync jobs lists them)")
        return _job(row)

    def list(self, *, status: str | None = None, limit: int = 50, offset: int = 0) -> list[Job]:
        query = sa.select(jobs).order_by(c.created_at.desc(), c.id).limit(limit).offset(offset)
        if status is not None:
            query = query.where(c.status == status)
        with self._tx() as conn:
            return [_job(r) for r in conn.execute(query).mappings()]

    def counts(self) -> dict[str, int]:
        """Jobs per status (every status present, 0 when none)."""
        with self._tx() as conn:
            rows = conn.execute(sa.select(c.status, sa.func.count()).group_by(c.status)).all()
        found = {str(s): int(n) for s, n in rows}
        return {s: found.get(s, 0) for s in STATUSES}

    def ping(self) -> None:
        with self._tx() as conn:
            conn.execute(sa.select(sa.literal(1)))

    # -- runners ---------------------------------------------------------------------------------

    def _claimable(self, at: dt.datetime) -> sa.ColumnElement[bool]:
        return sa.and_(
            c.attempts < c.max_attempts,
            c.cancel_requested == sa.false(),
            sa.or_(c.status == "queued", sa.and_(c.status == "running", c.lease_expires < at)),
        )

    def claim(self, job_id: str, owner: str) -> Job | None:
        """Take ``job_id`` if it is queued or its runner's lease expired; None if someone has it."""
        at = now()
        with self._tx() as conn:
            won = conn.execute(
                jobs.update()
                .where(c.id == job_id, self._claimable(at))
                .values(
                    status="running",
                    lease_owner=owner,
                    lease_expires=at + self.lease,
                    attempts=c.attempts + 1,
                    started_at=sa.func.coalesce(c.started_at, at),
                    updated_at=at,
                    finished_at=None,
                )
            ).rowcount
        return self.get(job_id) if won == 1 else None

    def claim_next(self, owner: str) -> Job | None:
        """The oldest claimable job, claimed; None when there is nothing to do."""
        self.reap()
        at = now()
        with self._tx() as conn:
            ids = (
                conn.execute(
                    sa.select(c.id).where(self._claimable(at)).order_by(c.created_at, c.id).limit(20)
                )
                .scalars()
                .all()
            )
        for job_id in ids:
            job = self.claim(job_id, owner)
            if job is not None:
                return job
        return None

    def heartbeat(self, job_id: str, owner: str, progress: Progress | None = None) -> tuple[bool, bool]:
        """Renew the lease (and write progress); returns (still ours, cancel requested)."""
        at = now()
        values: dict[str, Any] = {"lease_expires": at + self.lease, "updated_at": at}
        if progress is not None:
            values.update(_progress_values(progress))
        with self._tx() as conn:
            ours = conn.execute(
                jobs.update()
                .where(c.id == job_id, c.lease_owner == owner, c.status == "running")
                .values(**values)
            ).rowcount
            cancel = conn.execute(sa.select(c.cancel_requested).where(c.id == job_id)).scalar()
        return ours == 1, bool(cancel)

    def finish(
        self,
        job_id: str,
        owner: str,
        *,
        status: str,
        progress: Progress | None = None,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> bool:
        """Record the end of an attempt: a final status, or ``queued`` to be tried again."""
        assert status in (*FINAL, "queued"), status
        at = now()
        values: dict[str, Any] = {
            "status": status,
            "updated_at": at,
            "lease_owner": None,
            "lease_expires": None,
            "error": _one_line(error) if error else None,
            "finished_at": at if status in FINAL else None,
        }
        if result is not None:
            values["result"] = json.dumps(result, default=str)
        if progress is not None:
            values.update(_progress_values(progress))
        with self._tx() as conn:
            return (
                conn.execute(
                    jobs.update()
                    .where(c.id == job_id, c.lease_owner == owner, c.status == "running")
                    .values(**values)
                ).rowcount
                == 1
            )

    def reap(self) -> int:
        """Fail the jobs whose runner died and that have no attempt left; returns how many."""
        at = now()
        with self._tx() as conn:
            return conn.execute(
                jobs.update()
                .where(c.status == "running", c.lease_expires < at, c.attempts >= c.max_attempts)
                .values(
                    status="failed",
                    updated_at=at,
                    finished_at=at,
                    lease_owner=None,
                    lease_expires=None,
                    error=sa.func.coalesce(
                        c.error,
                        "its runner stopped (no heartbeat) on the last of its "
                        "attempts; bulksync resume JOB continues it from its checkpoints",
                    ),
                )
            ).rowcount

    # -- users -----------------------------------------------------------------------------------

    def request_cancel(self, job_id: str) -> Job:
        """Cancel a queued job (or one whose runner is gone) now; ask a running one to stop."""
        at = now()
        stop_now = sa.or_(c.status == "queued", sa.and_(c.status == "running", c.lease_expires < at))
        with self._tx() as conn:
            conn.execute(
                jobs.update()
                .where(c.id == job_id, stop_now)
                .values(
                    status="cancelled",
                    cancel_requested=True,
                    updated_at=at,
                    finished_at=at,
                    lease_owner=None,
                    lease_expires=None,
                )
            )
            conn.execute(
                jobs.update()
                .where(c.id == job_id, c.status == "running")
                .values(cancel_requested=True, updated_at=at)
            )
        job = self.get(job_id)
        if job.status in ("succeeded", "failed") or (job.status == "cancelled" and not job.cancel_requested):
            raise UsageError(f"job {job_id} already {job.status}: nothing to cancel")
        return job

    def resume(self, job_id: str, *, tries: int) -> Job:
        """Queue a failed or cancelled job again with ``tries`` more attempts (checkpoints kept)."""
        at = now()
        resumable = sa.or_(
            c.status.in_(("failed", "cancelled")), sa.and_(c.status == "running", c.lease_expires < at)
        )
        with self._tx() as conn:
            conn.execute(
                jobs.update()
                .where(c.id == job_id, resumable)
                .values(
                    status="queued",
                    max_attempts=c.attempts + tries,
                    cancel_requested=False,
                    error=None,
                    lease_owner=None,
                    lease_expires=None,
                    finished_at=None,
                    updated_at=at,
                )
            )
        job = self.get(job_id)
        if job.status == "succeeded":
            raise UsageError(f"job {job_id} already succeeded: start a new job to sync again")
        if job.status == "running":
            raise UsageError(f"job {job_id} is running (runner {job.lease_owner}): nothing to resume")
        return job


def _progress_values(p: Progress) -> dict[str, Any]:
    return {
        "processed_records": p.processed,
        "estimated_records": p.estimated,
        "percentage": p.percentage,
        "rows_per_s": p.rows_per_s,
        "eta_s": p.eta_s,
        "rss_mb": p.rss_mb,
        "tables": json.dumps(p.tables, sort_keys=True),
    }


def _job(row: sa.RowMapping) -> Job:
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


def _one_line(error: object) -> str:
    text = str(getattr(error, "orig", None) or error)
    return redact(" ".join(text.split()))[:2000]
