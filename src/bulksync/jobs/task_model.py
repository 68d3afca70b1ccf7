"""What a partition task is: the ``bulksync_tasks`` table and a task as read (tasks.py has the
state machine and every change to a row, task_progress.py a job's progress from its tasks)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from bulksync.jobs.model import jobs, metadata

tasks = sa.Table(
    "bulksync_tasks",
    metadata,
    sa.Column("job_id", sa.String(64), primary_key=True),
    sa.Column("task_no", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(16), nullable=False),  # partition | finish
    sa.Column("table_name", sa.String(255), nullable=False),  # the spec's table
    sa.Column("target", sa.String(255), nullable=False),  # its destination table (progress key)
    sa.Column("part", sa.Integer),  # partition number; None for a finish task
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("phase", sa.String(16), nullable=False, default="planned"),
    sa.Column("rows_done", sa.BigInteger, nullable=False, default=0),  # committed, all attempts
    sa.Column("rows_total", sa.BigInteger, nullable=False, default=0),  # finish task: the table's
    sa.Column("rows_written", sa.BigInteger, nullable=False, default=0),  # by this job
    sa.Column("rows_rejected", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_per_s", sa.Float, nullable=False, default=0.0),
    sa.Column("rss_mb", sa.Float, nullable=False, default=0.0),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("lease_owner", sa.String(160)),
    sa.Column("lease_expires", sa.DateTime),
    sa.Column("sent_at", sa.DateTime),  # when a message for it was last sent
    sa.Column("error", sa.Text),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
t = tasks.c
j = jobs.c


@dataclass(frozen=True)
class Task:
    """One row of ``bulksync_tasks``, as read."""

    job_id: str
    task_no: int
    kind: str
    table: str
    target: str
    part: int | None
    status: str
    attempts: int
    max_attempts: int
    rows_written: int = 0  # by earlier attempts of this job
    rows_rejected: int = 0

    @property
    def label(self) -> str:
        what = f"partition {self.part}" if self.kind == "partition" else "finish"
        return f"{self.job_id} task {self.task_no} ({self.table} {what})"


@dataclass(frozen=True)
class NewTask:
    """A task as the coordinator records it."""

    kind: str
    table: str
    target: str
    part: int | None = None
    rows_done: int = 0
    rows_total: int = 0
    done: bool = False


@dataclass(frozen=True)
class TaskProgress:
    """What a running task reports with each heartbeat."""

    phase: str
    rows_done: int
    rows_written: int = 0
    rows_rejected: int = 0
    rows_per_s: float = 0.0
    rss_mb: float = 0.0


def task_from_row(row: sa.RowMapping) -> Task:
    return Task(
        job_id=row["job_id"],
        task_no=int(row["task_no"]),
        kind=row["kind"],
        table=row["table_name"],
        target=row["target"],
        part=row["part"],
        status=row["status"],
        attempts=int(row["attempts"]),
        max_attempts=int(row["max_attempts"]),
        rows_written=int(row["rows_written"]),
        rows_rejected=int(row["rows_rejected"]),
    )
