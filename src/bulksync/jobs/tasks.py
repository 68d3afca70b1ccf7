"""Partition tasks of a distributed job: the ``bulksync_tasks`` table and every change to it.

A job run through a broker is split into tasks: one per partition of each table (``partition``)
and one per table (``finish``: swap the table in or build its indexes once all its partitions
are done). Tasks are claimed like jobs, with a lease a worker renews while it runs the task, so
a duplicate or redelivered message for a task that is done, or held by a live lease, is dropped.
Queue messages only say "look at task N"; these rows decide.

    queued ──claim──► running ──► done  (last partition of a table: its finish task is claimable;
      ▲                  │                last finish task: the job succeeds)
      │                  ├──► failed     (the job fails with the task's error)
      └── stopped, or ───┘ lease expired: claimed again (attempts + 1, capped; then reaped: failed)

The job's progress is computed from the task rows (each task writes only its own counters) with
the job row locked, so writers on several machines never overwrite each other's rows
(task_progress.py). The sweeper's queries (dead tasks, lost messages) are in task_sweep.py.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from bulksync.jobs.model import jobs, now
from bulksync.jobs.model import one_line as _one_line
from bulksync.jobs.task_model import NewTask, Task, TaskProgress, j, t, task_from_row, tasks
from bulksync.jobs.task_progress import job_result, write_job_progress

__all__ = ["NewTask", "Task", "TaskProgress", "TaskStore", "tasks"]

if TYPE_CHECKING:
    from bulksync.jobs.store import JobStore


class TaskStore:
    """Reads and writes task rows (and the job columns tasks decide) through a JobStore's engine."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.lease = store.lease

    # -- the coordinator ----------------------------------------------------------------------

    def has_tasks(self, job_id: str) -> bool:
        with self.store.transaction() as conn:
            return conn.execute(sa.select(t.task_no).where(t.job_id == job_id).limit(1)).first() is not None

    def record(self, job_id: str, new: Sequence[NewTask], *, max_attempts: int) -> None:
        """Store a job's tasks in one transaction and its first progress from them."""
        at = now()
        rows = [
            {
                "job_id": job_id,
                "task_no": n,
                "kind": task.kind,
                "table_name": task.table,
                "target": task.target,
                "part": task.part,
                "status": "done" if task.done else "queued",
                "phase": "done" if task.done else "planned",
                "rows_done": task.rows_done,
                "rows_total": task.rows_total,
                "rows_written": 0,
                "rows_rejected": 0,
                "rows_per_s": 0.0,
                "rss_mb": 0.0,
                "attempts": 0,
                "max_attempts": max_attempts,
                "updated_at": at,
            }
            for n, task in enumerate(new)
        ]
        with self.store.transaction() as conn:
            conn.execute(tasks.insert(), rows)
            write_job_progress(conn, job_id, lease=self.lease, renew=True)

    def reopen(self, job_id: str, *, tries: int) -> int:
        """Queue a resumed job's unfinished tasks again with ``tries`` more attempts each.

        A task still held by a live lease is left to its worker (it sees the job running again
        and carries on); resetting it would put a second writer on its partition."""
        at = now()
        with self.store.transaction() as conn:
            return conn.execute(
                tasks.update()
                .where(
                    t.job_id == job_id,
                    t.status != "done",
                    sa.not_(sa.and_(t.status == "running", t.lease_expires >= at)),
                )
                .values(
                    status="queued",
                    max_attempts=t.attempts + tries,
                    lease_owner=None,
                    lease_expires=None,
                    error=None,
                    sent_at=None,
                    updated_at=at,
                )
            ).rowcount

    def startable(self, job_id: str) -> list[int]:
        """Task numbers that can be claimed now (queued partitions, finish tasks of done tables)."""
        with self.store.transaction() as conn:
            rows = conn.execute(sa.select(tasks).where(t.job_id == job_id)).mappings().all()
        open_tables = {r["table_name"] for r in rows if r["kind"] == "partition" and r["status"] != "done"}
        return [
            int(r["task_no"])
            for r in rows
            if r["status"] == "queued" and (r["kind"] == "partition" or r["table_name"] not in open_tables)
        ]

    def mark_sent(self, job_id: str, task_nos: Sequence[int]) -> None:
        if not task_nos:
            return
        with self.store.transaction() as conn:
            conn.execute(
                tasks.update().where(t.job_id == job_id, t.task_no.in_(task_nos)).values(sent_at=now())
            )

    # -- workers ------------------------------------------------------------------------------

    def get(self, job_id: str, task_no: int) -> Task | None:
        with self.store.transaction() as conn:
            row = (
                conn.execute(sa.select(tasks).where(t.job_id == job_id, t.task_no == task_no))
                .mappings()
                .first()
            )
        return None if row is None else task_from_row(row)

    def claim(self, job_id: str, task_no: int, owner: str) -> Task | None:
        """Take a task if it is queued (or its worker's lease expired), has attempts left, its job
        runs and is not being cancelled, and — for a finish task — its table's partitions are
        all done. None: someone else has it, or there is nothing to do."""
        task = self.get(job_id, task_no)
        if task is None:
            return None
        at = now()
        conditions = [
            t.job_id == job_id,
            t.task_no == task_no,
            t.attempts < t.max_attempts,
            sa.or_(t.status == "queued", sa.and_(t.status == "running", t.lease_expires < at)),
            sa.exists().where(j.id == job_id, j.status == "running", j.cancel_requested == sa.false()),
        ]
        if task.kind == "finish":
            other = tasks.alias("other")
            conditions.append(
                ~sa.exists().where(
                    other.c.job_id == job_id,
                    other.c.table_name == task.table,
                    other.c.kind == "partition",
                    other.c.status != "done",
                )
            )
        with self.store.transaction() as conn:
            won = conn.execute(
                tasks.update()
                .where(*conditions)
                .values(
                    status="running",
                    lease_owner=owner,
                    lease_expires=at + self.lease,
                    attempts=t.attempts + 1,
                    rows_per_s=0.0,
                    error=None,
                    updated_at=at,
                )
            ).rowcount
        return self.get(job_id, task_no) if won == 1 else None

    def finish_task_of(self, job_id: str, table: str) -> int | None:
        with self.store.transaction() as conn:
            found = conn.execute(
                sa.select(t.task_no).where(t.job_id == job_id, t.table_name == table, t.kind == "finish")
            ).scalar()
        return None if found is None else int(found)

    def heartbeat(self, task: Task, owner: str, progress: TaskProgress | None) -> tuple[bool, str | None]:
        """Renew the task's lease, write its progress and the job's; returns (still ours, why the
        task must stop: ``"cancel"`` when the job is being cancelled or no longer runs)."""
        at = now()
        values: dict[str, Any] = {"lease_expires": at + self.lease, "updated_at": at}
        if progress is not None:
            values.update(_task_values(progress))
        with self.store.transaction() as conn:
            job = conn.execute(
                sa.select(j.status, j.cancel_requested).where(j.id == task.job_id).with_for_update()
            ).first()
            ours = conn.execute(tasks.update().where(*_held(task, owner)).values(**values)).rowcount
            if ours == 1 and progress is not None:
                write_job_progress(
                    conn, task.job_id, lease=self.lease, renew=job is not None and job[0] == "running"
                )
        stop = None if job is not None and job[0] == "running" and not job[1] else "cancel"
        return ours == 1, stop

    def end(
        self,
        task: Task,
        owner: str,
        *,
        status: str,
        progress: TaskProgress | None = None,
        error: str | None = None,
        give_back: bool = False,
    ) -> bool:
        """Record the end of a task's attempt: ``done``, ``failed``, or ``queued`` (stopped;
        ``give_back``: the attempt does not count, the worker was asked to stop)."""
        assert status in ("done", "failed", "queued"), status
        at = now()
        values: dict[str, Any] = {
            "status": status,
            "lease_owner": None,
            "lease_expires": None,
            "updated_at": at,
            "error": _one_line(error) if error else None,
            "rows_per_s": 0.0,
        }
        if progress is not None:
            values.update(_task_values(progress))
            values["rows_per_s"] = 0.0
        values["phase"] = {"done": "done", "failed": "failed"}.get(status, values.get("phase", "planned"))
        if give_back:
            values["attempts"] = t.attempts - 1
        with self.store.transaction() as conn:
            conn.execute(sa.select(j.id).where(j.id == task.job_id).with_for_update()).first()
            ours = conn.execute(tasks.update().where(*_held(task, owner)).values(**values)).rowcount
            if ours == 1:
                write_job_progress(conn, task.job_id, lease=self.lease, renew=False)
        return ours == 1

    # -- the job's end ----------------------------------------------------------------------------

    def fail_job(self, job_id: str, error: str) -> bool:
        """Fail a running job (the first failing task wins; later ones change nothing)."""
        at = now()
        with self.store.transaction() as conn:
            return (
                conn.execute(
                    jobs.update()
                    .where(j.id == job_id, j.status == "running")
                    .values(error=_one_line(error), **_ended("failed", at))
                ).rowcount
                == 1
            )

    def complete_job(self, job_id: str) -> bool:
        """Mark the job succeeded if every task is done; True for the one caller that did it."""
        at = now()
        with self.store.transaction() as conn:
            won = conn.execute(
                jobs.update()
                .where(
                    j.id == job_id,
                    j.status == "running",
                    ~sa.exists().where(t.job_id == job_id, t.status != "done"),
                )
                .values(**_ended("succeeded", at))
            ).rowcount
            if won:
                progress = write_job_progress(conn, job_id, lease=self.lease, renew=False)
                conn.execute(
                    jobs.update()
                    .where(j.id == job_id)
                    .values(result=json.dumps(job_result(conn, job_id, progress)), rows_per_s=0.0, eta_s=None)
                )
        return won == 1

    def settle_cancel(self, job_id: str) -> bool:
        """A job being cancelled becomes ``cancelled`` once none of its tasks runs any more."""
        at = now()
        with self.store.transaction() as conn:
            return (
                conn.execute(
                    jobs.update()
                    .where(
                        j.id == job_id,
                        j.status == "running",
                        j.cancel_requested == sa.true(),
                        ~sa.exists().where(t.job_id == job_id, t.status == "running", t.lease_expires >= at),
                    )
                    .values(**_ended("cancelled", at))
                ).rowcount
                == 1
            )


def _ended(status: str, at: dt.datetime) -> dict[str, Any]:
    """A job row's values when it reaches a final status: no lease, no rate, no ETA."""
    return {
        "status": status,
        "finished_at": at,
        "updated_at": at,
        "lease_owner": None,
        "lease_expires": None,
        "rows_per_s": 0.0,
        "eta_s": None,
    }


def _held(task: Task, owner: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (t.job_id == task.job_id, t.task_no == task.task_no, t.lease_owner == owner, t.status == "running")


def _task_values(p: TaskProgress) -> dict[str, Any]:
    return {
        "phase": p.phase,
        "rows_done": p.rows_done,
        "rows_written": p.rows_written,
        "rows_rejected": p.rows_rejected,
        "rows_per_s": p.rows_per_s,
        "rss_mb": p.rss_mb,
    }
