"""Read and cancel jobs through the plain driver: ``bulksync jobs``, ``status`` and ``cancel``.

These commands read a row or two, so they skip what costs a short command most of its time
(SQLAlchemy 0.3 s, pydantic-settings 0.2 s): the store's setting is read as ``Settings`` reads
it, and the rows through ``sqlite3`` or psycopg with the statements ``JobStore`` issues
(store.py, the single writer of everything else; it takes its store URL rules from here).
Other ``BULKSYNC_*`` settings are not read, so a malformed one (a bad BULKSYNC_JOB_TRIES) does
not stop these three commands; the commands that use it say so in one line.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bulksync.errors import ConnectionLost, PermanentError, UsageError, redact
from bulksync.jobs.job import Job, job_from_row, now, one_line
from bulksync.jobs.statuses import STATUSES

TABLE = "bulksync_jobs"
_TIMES = ("lease_expires", "created_at", "started_at", "updated_at", "finished_at")


class UnknownJobError(UsageError):
    """No such job."""


class StoreMissing(PermanentError):
    """There is no job store where BULKSYNC_JOB_STORE (or the default) points."""


def default_store_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "bulksync" / "jobs.db"


def engine_url(target: str | None, *, create: bool = True) -> str:
    """A SQLAlchemy URL for a store setting: a path, ``sqlite:///…`` or ``postgresql://…``.

    Only with ``create`` is a SQLite store's folder made; without, a missing file is refused."""
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
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def missing(target: str | None, where: str) -> StoreMissing:
    setting = "BULKSYNC_JOB_STORE" if target else "the default; BULKSYNC_JOB_STORE sets another"
    return StoreMissing(
        f"no job store at {where} ({setting}): check the path; a store is created by the first "
        "--background job or by bulksync serve"
    )


def job_store_setting() -> str | None:
    """``Settings().job_store`` without pydantic-settings: BULKSYNC_JOB_STORE from the
    environment (any case), else from ``./.env``; an empty value is no value."""
    name = "bulksync_job_store"
    found = {k.lower(): v for k, v in os.environ.items()}.get(name)
    if found is None and (Path(".env").is_file() or Path(".env").is_fifo()):
        from dotenv import dotenv_values  # pydantic-settings reads .env with it too

        found = {k.lower(): v for k, v in dotenv_values(".env", encoding="utf-8").items()}.get(name)
    return found or None


class JobLookup:
    """The jobs of an existing store, read (and cancelled) one short transaction at a time."""

    def __init__(self, target: str | None) -> None:
        url = engine_url(target, create=False)
        self.sqlite = url.startswith("sqlite")
        self.where = redact(target) if target and "://" in target else url.removeprefix("sqlite:///")
        self.mark = "?" if self.sqlite else "%s"
        self._url = url
        self._conn = self._sqlite(target, url) if self.sqlite else self._postgres(url)
        with self._tx() as cur:
            if self.sqlite:
                cur.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,))
            else:
                cur.execute("SELECT to_regclass(%s)", (TABLE,))
            row = cur.fetchone()
        if row is None or (not self.sqlite and row[0] is None):
            self.close()
            raise missing(target, f"{self.where} (it has no {TABLE} table)")

    def _sqlite(self, target: str | None, url: str) -> Any:
        path = url.removeprefix("sqlite:///")  # what SQLAlchemy opens: sqlite:////abs, sqlite:///rel
        if not Path(path).exists():
            raise missing(target, self.where)
        try:
            conn = sqlite3.connect(path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA busy_timeout=30000")
        except sqlite3.Error as exc:
            raise PermanentError(f"cannot open the job store: {one_line(exc)}") from exc
        return conn

    def _postgres(self, url: str) -> Any:
        import psycopg  # psycopg alone: 0.15 s less than through SQLAlchemy

        dsn = "postgresql://" + url.split("://", 1)[1]
        try:
            return psycopg.connect(dsn)
        except psycopg.Error as exc:
            raise PermanentError(f"cannot open the job store: {one_line(exc)}") from exc

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """One transaction (a store that cannot be reached: a one-line ConnectionLost)."""
        lost: tuple[type[BaseException], ...] = (sqlite3.OperationalError,)
        if not self.sqlite:
            import psycopg

            lost = (psycopg.OperationalError,)
            if self._conn.broken or self._conn.closed:  # the server restarted: `status --follow`
                self._conn = self._postgres(self._url)  # looks again on a new connection
        try:
            if self.sqlite:
                cur = self._conn.cursor()
                cur.execute("BEGIN")
                try:
                    yield cur
                except BaseException:
                    self._conn.rollback()
                    raise
                self._conn.commit()
            else:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    yield cur
        except lost as exc:  # the store restarting, or away for a while
            raise ConnectionLost(f"job store: {one_line(exc)}") from exc

    def _at(self, value: dt.datetime) -> Any:
        """A timestamp as SQLAlchemy stores it: text in SQLite, a timestamp in PostgreSQL."""
        return value.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else value

    def _jobs(self, cur: Any, sql: str, params: Sequence[Any]) -> list[Job]:
        cur.execute(sql.replace("%s", self.mark), params)
        names = [d[0] for d in cur.description]
        return [self._job(dict(zip(names, row, strict=True))) for row in cur.fetchall()]

    def _job(self, row: dict[str, Any]) -> Job:
        if self.sqlite:
            for name in _TIMES:
                if isinstance(row[name], str):
                    row[name] = dt.datetime.fromisoformat(row[name])
        return job_from_row(row)

    def get(self, job_id: str) -> Job:
        with self._tx() as cur:
            found = self._jobs(cur, f"SELECT * FROM {TABLE} WHERE id = %s", (job_id,))
        if not found:
            raise UnknownJobError(f"no job {job_id!r} in the job store (bulksync jobs lists them)")
        return found[0]

    def list(self, *, status: str | None = None, limit: int = 50) -> list[Job]:
        """Jobs newest first; ``status`` is one of ``STATUSES`` (``lost`` and ``stopping`` too)."""
        if status is not None and status not in STATUSES:
            raise UsageError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
        where, params = ("", []) if status is None else status_where(status, self._at(now()))
        sql = f"SELECT * FROM {TABLE}{where} ORDER BY created_at DESC, id LIMIT %s"
        with self._tx() as cur:
            return self._jobs(cur, sql, [*params, limit])

    def request_cancel(self, job_id: str) -> Job:
        """Cancel a queued job (or one whose runner is gone) now; ask a running one to stop
        (``JobStore.request_cancel``'s statements)."""
        at = self._at(now())
        with self._tx() as cur:
            cur.execute(
                f"UPDATE {TABLE} SET status = 'cancelled', cancel_requested = %s, updated_at = %s, "
                "finished_at = %s, lease_owner = NULL, lease_expires = NULL WHERE id = %s AND "
                "(status = 'queued' OR (status = 'running' AND lease_expires < %s))".replace("%s", self.mark),
                (True, at, at, job_id, at),
            )
            cur.execute(
                f"UPDATE {TABLE} SET cancel_requested = %s, updated_at = %s "
                "WHERE id = %s AND status = 'running'".replace("%s", self.mark),
                (True, at, job_id),
            )
        job = self.get(job_id)
        ended = job.status in ("succeeded", "partial", "failed")
        if ended or (job.status == "cancelled" and not job.cancel_requested):
            raise UsageError(f"job {job_id} already {job.status}: nothing to cancel")
        return job


def status_where(status: str, at: object) -> tuple[str, list[Any]]:
    """``model.status_is`` as a WHERE clause: the rows whose ``Job.public_status`` is ``status``."""
    expired = "(lease_expires IS NOT NULL AND lease_expires < %s)"
    if status == "lost":
        return f" WHERE status = 'running' AND {expired}", [at]
    if status in ("stopping", "running"):
        return (
            f" WHERE status = 'running' AND NOT {expired} AND cancel_requested = %s",
            [at, status == "stopping"],
        )
    return " WHERE status = %s", [status]


def open_lookup() -> JobLookup:
    """The existing store BULKSYNC_JOB_STORE names (default: the SQLite file), never a new one."""
    return JobLookup(job_store_setting())
