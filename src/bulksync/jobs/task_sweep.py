"""What the sweeper in every worker asks of the task rows: dead tasks, lost messages, leases.

Messages are only hints, so each worker's sweeper (actors.py) looks at the store alone: it fails
tasks whose worker died on their last attempt (and their jobs), hands out tasks whose message may
be lost (each to exactly one caller), keeps the leases of distributed jobs fresh while a fleet
runs them, and finds jobs being cancelled and jobs whose planning message may be lost.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from bulksync.jobs.model import jobs, now
from bulksync.jobs.task_model import j, t, task_from_row, tasks
from bulksync.jobs.tasks import TaskStore


class TaskSweep:
    """The sweeper's queries over a TaskStore's rows."""

    def __init__(self, tasks: TaskStore) -> None:
        self.tasks = tasks
        self.store = tasks.store
        self.lease = tasks.lease

    def reap(self) -> list[tuple[str, str]]:
        """Fail tasks whose worker died on their last attempt, and their jobs; (job, error) each."""
        at = now()
        with self.store.transaction() as conn:
            dead = (
                conn.execute(
                    sa.select(tasks).where(
                        t.status == "running", t.lease_expires < at, t.attempts >= t.max_attempts
                    )
                )
                .mappings()
                .all()
            )
        failed = []
        for row in dead:
            task = task_from_row(row)
            error = (
                f"{task.table}: {'partition ' + str(task.part) if task.part is not None else 'finish step'} "
                f"lost its worker (no heartbeat) on the last of its {task.max_attempts} attempts; "
                "bulksync resume JOB continues from the checkpoints"
            )
            with self.store.transaction() as conn:
                won = conn.execute(
                    tasks.update()
                    .where(t.job_id == task.job_id, t.task_no == task.task_no, t.status == "running",
                           t.lease_expires < at)
                    .values(status="failed", phase="failed", error=error, lease_owner=None,
                            lease_expires=None, updated_at=at)
                ).rowcount  # fmt: skip
            if won and self.tasks.fail_job(task.job_id, error):
                failed.append((task.job_id, error))
        return failed

    def due(self, *, resend_after: dt.timedelta) -> list[tuple[str, int]]:
        """Tasks whose message may be lost, each handed to exactly one caller to send again:
        a running task whose lease expired (its worker died) and that was not re-sent since, a
        queued partition not sent for ``resend_after``, a claimable finish task not sent for a
        lease. The job must run and have no cancel request."""
        at = now()
        with self.store.transaction() as conn:
            rows = (
                conn.execute(
                    sa.select(tasks)
                    .join(jobs, j.id == t.job_id)
                    .where(
                        j.status == "running",
                        j.cancel_requested == sa.false(),
                        t.attempts < t.max_attempts,
                        t.status.in_(("queued", "running")),
                    )
                )
                .mappings()
                .all()
            )
        open_tables = {
            (r["job_id"], r["table_name"]) for r in rows if r["kind"] == "partition" and r["status"] != "done"
        }
        due = []
        for r in rows:
            sent, expires = r["sent_at"], r["lease_expires"]
            if r["status"] == "running":
                want = expires is not None and expires < at and (sent is None or sent < expires)
            elif r["kind"] == "partition":
                want = sent is None or sent < at - resend_after
            else:
                claimable = (r["job_id"], r["table_name"]) not in open_tables
                want = claimable and (sent is None or sent < at - self.lease)
            if want and self._take_send(r["job_id"], int(r["task_no"]), sent, at):
                due.append((r["job_id"], int(r["task_no"])))
        return due

    def _take_send(self, job_id: str, task_no: int, sent: dt.datetime | None, at: dt.datetime) -> bool:
        same = t.sent_at.is_(None) if sent is None else t.sent_at == sent
        with self.store.transaction() as conn:
            return (
                conn.execute(
                    tasks.update().where(t.job_id == job_id, t.task_no == task_no, same).values(sent_at=at)
                ).rowcount
                == 1
            )

    def renew_jobs(self) -> None:
        """Keep the lease of distributed jobs fresh while a worker fleet is alive to run them."""
        at = now()
        with self.store.transaction() as conn:
            conn.execute(
                jobs.update()
                .where(j.status == "running", sa.exists().where(t.job_id == j.id))
                .values(lease_expires=at + self.lease)
            )

    def cancelling(self) -> list[str]:
        with self.store.transaction() as conn:
            return list(
                conn.execute(
                    sa.select(j.id).where(
                        j.status == "running",
                        j.cancel_requested == sa.true(),
                        sa.exists().where(t.job_id == j.id),
                    )
                ).scalars()
            )

    def stale_jobs(self, *, resend_after: dt.timedelta) -> list[str]:
        """Jobs whose planning message may be lost: queued, or planning with an expired lease,
        untouched for ``resend_after``; each handed to one caller (its updated_at moves on)."""
        at = now()
        with self.store.transaction() as conn:
            rows = conn.execute(
                sa.select(j.id, j.updated_at).where(
                    j.updated_at < at - resend_after,
                    j.attempts < j.max_attempts,
                    j.cancel_requested == sa.false(),
                    sa.or_(
                        j.status == "queued",
                        sa.and_(
                            j.status == "running",
                            j.lease_expires < at,
                            ~sa.exists().where(t.job_id == j.id),
                        ),
                    ),
                )
            ).all()
        taken = []
        for job_id, updated in rows:
            with self.store.transaction() as conn:
                won = conn.execute(
                    jobs.update().where(j.id == job_id, j.updated_at == updated).values(updated_at=at)
                ).rowcount
            if won:
                taken.append(str(job_id))
        return taken
