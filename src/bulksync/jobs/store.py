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
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bulksync.errors import ConnectionLost, PermanentError, UsageError, redact
from bulksync.jobs.lookup import StoreMissing, UnknownJobError, default_store_path, engine_url
from bulksync.jobs.lookup import missing as _missing
from bulksync.jobs.model import (
    FINAL,
    STATUSES,
    Job,
    Progress,
    c,
    jobs,
    metadata,
    new_job_id,
    now,
    status_is,
)
from bulksync.jobs.model import job_from_row as _job
from bulksync.jobs.model import one_line as _one_line
from bulksync.jobs.model import progress_values as _progress_values
from bulksync.jobs.tasks import tasks

# a job split into partition tasks (jobs/tasks.py) is run by the tasks, never as a whole
_distributed = sa.exists().where(tasks.c.job_id == c.id)

__all__ = [
    "FINAL",
    "STATUSES",
    "Job",
    "JobStore",
    "Progress",
    "StoreMissing",
    "UnknownJobError",
    "default_store_path",
]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # a reader never blocks the runner's heartbeat
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class JobStore:
    """Reads and writes job rows; every state change is one conditional statement."""

    def __init__(self, target: str | None = None, *, lease_s: float = 30.0, create: bool = True) -> None:
        """Open the store ``target`` names; ``create`` makes it (its file, its tables) if missing,
        else a missing store is a ``StoreMissing`` and nothing is made. ``created`` tells."""
        url = engine_url(target, create=create)
        self.lease = dt.timedelta(seconds=lease_s)
        self.created = False
        self.where = redact(target) if target and "://" in target else url.removeprefix("sqlite:///")
        if url.startswith("sqlite:///") and not Path(self.where).exists():
            if not create:
                raise _missing(target, self.where)
            self.created = True
        if url.startswith("sqlite"):
            self.engine: Engine = sa.create_engine(
                url, connect_args={"timeout": 30, "check_same_thread": False}
            )
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            # A transaction left open by a runner that froze (SIGSTOP, a paused VM) would hold its
            # job and task rows, and every other runner writing to that job would wait on it:
            # the server ends such a transaction after the lease (10 s at least).
            idle_ms = int(max(lease_s, 10.0) * 1000)
            self.engine = sa.create_engine(
                url, pool_pre_ping=True, pool_size=4, max_overflow=4,
                connect_args={"options": f"-c idle_in_transaction_session_timeout={idle_ms}"},
            )  # fmt: skip
        try:
            if not sa.inspect(self.engine).has_table(jobs.name):
                if not create:
                    self.engine.dispose()
                    raise _missing(target, f"{self.where} (it has no {jobs.name} table)")
                self.created = True
            try:
                metadata.create_all(self.engine)
            except (sa.exc.IntegrityError, sa.exc.ProgrammingError):
                metadata.create_all(self.engine)  # another process created them at the same moment
        except sa.exc.SQLAlchemyError as exc:
            raise PermanentError(f"cannot open the job store: {_one_line(exc)}") from exc

    def close(self) -> None:
        self.engine.dispose()

    def transaction(self) -> AbstractContextManager[Connection]:
        """One store transaction (a store that cannot be reached: a one-line ConnectionLost)."""
        return self._tx()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:  # the store restarting, or away for a while
            raise ConnectionLost(f"job store: {_one_line(exc)}") from exc
        except sa.exc.InternalError as exc:
            # PostgreSQL ended the session's transaction (idle_in_transaction_session_timeout,
            # SQLSTATE 25P03): a process frozen past it meets this on its next commit
            if getattr(exc.orig, "sqlstate", None) != "25P03":
                raise
            raise ConnectionLost(f"job store: {_one_line(exc)}") from exc

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
        """Jobs newest first; ``status`` is one of ``STATUSES`` (``lost`` and ``stopping`` too)."""
        if status is not None and status not in STATUSES:
            raise UsageError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
        query = sa.select(jobs).order_by(c.created_at.desc(), c.id).limit(limit).offset(offset)
        if status is not None:
            query = query.where(status_is(status, now()))
        with self._tx() as conn:
            return [_job(r) for r in conn.execute(query).mappings()]

    def unfinished(self, kind: str) -> tuple[Job, ...]:
        """Every job of ``kind`` recorded as running, its lease live or not (a fleet job's
        coordinator lets its lease go while the tasks run), oldest first."""
        query = sa.select(jobs).where(c.kind == kind, c.status == "running").order_by(c.created_at, c.id)
        with self._tx() as conn:
            return tuple(_job(r) for r in conn.execute(query).mappings())

    def counts(self) -> dict[str, int]:
        """Jobs per status of ``STATUSES`` (every status present, 0 when none)."""
        at = now()
        columns = [sa.func.count().filter(status_is(s, at)).label(s) for s in STATUSES]
        with self._tx() as conn:
            row = conn.execute(sa.select(*columns)).one()
        return {s: int(row[n] or 0) for n, s in enumerate(STATUSES)}

    def ping(self) -> None:
        with self._tx() as conn:
            conn.execute(sa.select(sa.literal(1)))

    # -- runners ---------------------------------------------------------------------------------

    def _claimable(self, at: dt.datetime, *, distributed: bool = False) -> sa.ColumnElement[bool]:
        return sa.and_(
            c.attempts < c.max_attempts,
            c.cancel_requested == sa.false(),
            sa.or_(c.status == "queued", sa.and_(c.status == "running", c.lease_expires < at)),
            sa.true() if distributed else ~_distributed,
        )

    def claim(self, job_id: str, owner: str, *, distributed: bool = False) -> Job | None:
        """Take ``job_id`` if it is queued or its runner's lease expired; None if someone has it.

        A job with partition tasks is only claimed by a coordinator (``distributed``): an
        embedded runner taking it over would write the partitions the tasks write."""
        at = now()
        with self._tx() as conn:
            won = conn.execute(
                jobs.update()
                .where(c.id == job_id, self._claimable(at, distributed=distributed))
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

    def stop_asked(self, job_id: str) -> bool:
        """Whether a running job must stop: a cancel was asked for, or it no longer runs. A read
        only (no write), cheap enough to ask several times a second."""
        with self._tx() as conn:
            row = conn.execute(sa.select(c.cancel_requested, c.status).where(c.id == job_id)).first()
        return row is None or bool(row[0]) or row[1] != "running"

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
                .where(
                    c.status == "running",
                    c.lease_expires < at,
                    c.attempts >= c.max_attempts,
                    ~_distributed,  # its tasks have attempts of their own (TaskStore.reap)
                )
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
        ended = job.status in ("succeeded", "partial", "failed")
        if ended or (job.status == "cancelled" and not job.cancel_requested):
            raise UsageError(f"job {job_id} already {job.status}: nothing to cancel")
        return job

    def resume(self, job_id: str, *, tries: int) -> Job:
        """Queue a failed, partial or cancelled job again with ``tries`` more attempts (checkpoints
        kept; a partial store sync re-runs only its failed stores)."""
        at = now()
        resumable = sa.or_(
            c.status.in_(("failed", "partial", "cancelled")),
            sa.and_(c.status == "running", c.lease_expires < at),
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
