"""The job store's ``bulksync_jobs`` table; a job and its progress as read from it (job.py)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from bulksync.jobs.job import Job as Job
from bulksync.jobs.job import Progress as Progress
from bulksync.jobs.job import iso as iso
from bulksync.jobs.job import job_from_row as job_from_row
from bulksync.jobs.job import new_job_id as new_job_id
from bulksync.jobs.job import now as now
from bulksync.jobs.job import one_line as one_line
from bulksync.jobs.job import progress_values as progress_values
from bulksync.jobs.statuses import FINAL as FINAL
from bulksync.jobs.statuses import STATUSES as STATUSES
from bulksync.jobs.statuses import STORED as STORED

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


def status_is(status: str, at: dt.datetime) -> sa.ColumnElement[bool]:
    """The rows whose status, as ``Job.public_status`` says it, is ``status``."""
    running = c.status == "running"
    expired = sa.and_(c.lease_expires.is_not(None), c.lease_expires < at)
    if status == "lost":
        return sa.and_(running, expired)
    if status == "stopping":
        return sa.and_(running, ~expired, c.cancel_requested == sa.true())
    if status == "running":
        return sa.and_(running, ~expired, c.cancel_requested == sa.false())
    return c.status == status
