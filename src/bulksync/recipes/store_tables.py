"""The destination tables of the store syncs: users and videos keyed by (store_code, id), and
``sync_logs`` in seed 004's shape (one row per store and one per run with store_code NULL).

A ``sync_logs`` row's id is ``<run id>/<store code>`` (``<run id>/`` for the run's summary) and is
upserted: a run resumed after a crash rewrites its rows instead of adding new ones.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa

from bulksync.schema import Column, Index, TableSchema

_KEY = (Column("store_code", pa.string(), nullable=False), Column("id", pa.int64(), nullable=False))

USERS = (
    *_KEY,
    Column("username", pa.string()),
    Column("display_name", pa.string()),
    Column("follower_count", pa.int64()),
    Column("profile", pa.json_()),  # a nested object: jsonb in PostgreSQL
    Column("updated_at", pa.timestamp("us", tz="UTC")),
)
VIDEOS = (
    *_KEY,
    Column("user_id", pa.int64()),
    Column("title", pa.string()),
    Column("views", pa.int64()),
    Column("likes", pa.int64()),
    Column("duration_s", pa.float64()),
    Column("tags", pa.json_()),  # a list: jsonb in PostgreSQL
    Column("updated_at", pa.timestamp("us", tz="UTC")),
)
KINDS = {"users": USERS, "videos": VIDEOS}
JOB_NAMES = {"users": "sync_users_daily", "videos": "sync_videos_daily"}


def records_table(kind: str, name: str) -> TableSchema:
    return TableSchema(name, KINDS[kind], ("store_code", "id"))


SYNC_LOGS = TableSchema(
    "sync_logs",
    (
        Column("id", pa.string(), nullable=False),
        Column("job_name", pa.string(), nullable=False),
        Column("run_id", pa.string(), nullable=False),
        Column("store_code", pa.string()),
        Column("status", pa.string(), nullable=False),
        Column("message", pa.string()),
        Column("duration_ms", pa.int64()),
        Column("run_time", pa.timestamp("us", tz="UTC"), nullable=False),
        Column("records_fetched", pa.int64()),
        Column("records_written", pa.int64()),
        Column("requests", pa.int64()),
        Column("retries", pa.int64()),
    ),
    ("id",),
    (Index("sync_logs_run_time_idx", ("job_name", "run_time")),),
)


@dataclass(frozen=True)
class LogRow:
    job_name: str
    run_id: str
    store_code: str | None
    status: str
    message: str
    duration_ms: int
    run_time: dt.datetime
    records_fetched: int = 0
    records_written: int = 0
    requests: int = 0
    retries: int = 0

    def batch(self) -> pa.RecordBatch:
        row = {"id": f"{self.run_id}/{self.store_code or ''}", **self.__dict__}
        return pa.RecordBatch.from_pylist([row], schema=SYNC_LOGS.arrow_schema())
