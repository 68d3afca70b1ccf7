"""A distributed job's progress and result, computed from its task rows.

Each task writes only its own counters; the job's figures are summed from every task row of
the job (with the job row locked by the caller, so workers on several machines never overwrite
each other).

    per table  rows_done (all attempts), rows_total (the planner's estimate), phase, rate and
               ETA, partitions (done), rejected rows, the first error
    the job    their sums (Progress.of_tables)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bulksync.jobs.model import Progress, jobs, now, progress_values
from bulksync.jobs.task_model import j, t, tasks

UNFINISHED_TABLE = "planned"


def write_job_progress(conn: Connection, job_id: str, *, lease: dt.timedelta, renew: bool) -> Progress:
    """Sum the job's progress from its task rows into its row (``renew``: its lease too)."""
    rows = conn.execute(sa.select(tasks).where(t.job_id == job_id)).mappings().all()
    progress = job_progress(rows)
    values = progress_values(progress)
    values["updated_at"] = now()
    if renew:
        values["lease_expires"] = values["updated_at"] + lease
    conn.execute(jobs.update().where(j.id == job_id).values(**values))
    return progress


def job_progress(rows: Sequence[sa.RowMapping]) -> Progress:
    """A job's progress from its task rows: per table, then the totals."""
    tables: dict[str, dict[str, Any]] = {}
    for target in dict.fromkeys(r["target"] for r in rows):
        mine = [r for r in rows if r["target"] == target]
        parts = [r for r in mine if r["kind"] == "partition"]
        finish = next((r for r in mine if r["kind"] == "finish"), None)
        done = sum(int(r["rows_done"]) for r in parts)
        total = max(int(finish["rows_total"]) if finish else 0, done)
        rate = sum(float(r["rows_per_s"]) for r in parts if r["status"] == "running")
        tables[target] = {
            "phase": _table_phase(parts, finish),
            "rows_done": done,
            "rows_total": total,
            "rows_per_s": round(rate, 1),
            "eta_s": round(max(0, total - done) / rate, 1) if rate > 0 else None,
            "rss_mb": round(max((float(r["rss_mb"]) for r in mine), default=0.0), 1),
            "partitions": len(parts),
            "partitions_done": sum(1 for r in parts if r["status"] == "done"),
            "rejected": sum(int(r["rows_rejected"]) for r in parts),
            "message": next((str(r["error"]) for r in mine if r["error"]), ""),
        }
    return Progress.of_tables(tables)


def _table_phase(parts: Sequence[sa.RowMapping], finish: sa.RowMapping | None) -> str:
    everything = [*parts, *([finish] if finish is not None else [])]
    if any(r["status"] == "failed" for r in everything):
        return "failed"
    if finish is not None and finish["status"] in ("running", "done"):
        return str(finish["phase"])
    if any(r["status"] == "running" or int(r["rows_done"]) > 0 for r in parts):
        return "copying"
    return UNFINISHED_TABLE


def job_result(conn: Connection, job_id: str, progress: Progress) -> dict[str, Any]:
    """The job's result record (the shape of ``SyncResult.to_dict``, summed over its tasks)."""
    rows = conn.execute(sa.select(tasks).where(t.job_id == job_id)).mappings().all()
    tables = []
    for target, entry in progress.tables.items():
        parts = [r for r in rows if r["target"] == target and r["kind"] == "partition"]
        written = sum(int(r["rows_written"]) for r in parts)
        rejected = sum(int(r["rows_rejected"]) for r in parts)
        tables.append(
            {
                "table": parts[0]["table_name"] if parts else target,
                "target": target,
                "estimated_rows": entry["rows_total"],
                "rows_read": written + rejected,
                "rows_written": written,
                "rows_rejected": rejected,
                "resumed_rows": int(entry["rows_done"]) - written - rejected,
                "partitions": len(parts),
                "status": "succeeded",
            }
        )
    return {
        "status": "succeeded",
        "total_rows": sum(int(x["estimated_rows"]) for x in tables),
        "processed_rows": sum(int(x["rows_written"]) for x in tables),
        "failed_rows": sum(int(x["rows_rejected"]) for x in tables),
        "rows_read": sum(int(x["rows_read"]) for x in tables),
        "distributed": True,
        "tables": tables,
    }


