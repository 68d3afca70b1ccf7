"""A distributed job's progress and result, computed from its task rows.

Each task writes only its own counters; the job's figures are summed from every task row of
the job (with the job row locked by the caller, so workers on several machines never overwrite
each other). The speed is measured, not summed from what tasks say: a table's rate follows the
rows its tasks committed since the job row was last written (smoothed over a few seconds), so it
stays right between tasks, across workers, and when a task's own rate was never sampled.

    per table  rows_done (all attempts), rows_total (the planner's estimate; exact once done),
               phase, rate and ETA, partitions (done), rejected rows, the first error
    the job    their sums (Progress.of_tables)
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bulksync.jobs.model import Progress, jobs, now, progress_values
from bulksync.jobs.task_model import j, t, tasks

UNFINISHED_TABLE = "planned"
SMOOTHING_S = 3.0  # a table's rate follows its committed rows over about this many seconds


def write_job_progress(conn: Connection, job_id: str, *, lease: dt.timedelta, renew: bool) -> Progress:
    """Sum the job's progress from its task rows into its row (``renew``: its lease too)."""
    rows = conn.execute(sa.select(tasks).where(t.job_id == job_id)).mappings().all()
    earlier = conn.execute(sa.select(j.tables, j.updated_at).where(j.id == job_id)).first()
    before = (json.loads(earlier[0] or "{}"), earlier[1]) if earlier is not None else ({}, None)
    at = now()
    progress = job_progress(rows, before=before, at=at)
    values = progress_values(progress)
    values["updated_at"] = at
    if renew:
        values["lease_expires"] = at + lease
    conn.execute(jobs.update().where(j.id == job_id).values(**values))
    return progress


def job_progress(
    rows: Sequence[sa.RowMapping],
    *,
    before: tuple[dict[str, dict[str, Any]], dt.datetime | None] = ({}, None),
    at: dt.datetime | None = None,
) -> Progress:
    """A job's progress from its task rows: per table, then the totals. ``before`` is the job's
    per-table progress as last written, and when: the rates follow the rows committed since."""
    tables: dict[str, dict[str, Any]] = {}
    for target in dict.fromkeys(r["target"] for r in rows):
        mine = [r for r in rows if r["target"] == target]
        parts = [r for r in mine if r["kind"] == "partition"]
        finish = next((r for r in mine if r["kind"] == "finish"), None)
        phase = _table_phase(parts, finish)
        done = sum(int(r["rows_done"]) for r in parts)
        total = done if phase == "done" else max(int(finish["rows_total"]) if finish else 0, done)
        rate = 0.0 if phase in ("done", "failed") else _rate(before, target, done, at or now())
        tables[target] = {
            "phase": phase,
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


def _rate(
    before: tuple[dict[str, dict[str, Any]], dt.datetime | None], target: str, done: int, at: dt.datetime
) -> float:
    """Rows per second committed to ``target``: the rows since the last write over the time since,
    smoothed exponentially (the first measure is taken as it is)."""
    tables, then = before
    earlier = tables.get(target)
    if earlier is None or then is None or at <= then:
        return float(earlier.get("rows_per_s", 0.0)) if earlier else 0.0
    seconds = (at - then).total_seconds()
    now_rate = max(0, done - int(earlier.get("rows_done", done))) / seconds
    last = float(earlier.get("rows_per_s") or 0.0)
    if last <= 0:
        return now_rate
    weight = 1 - math.exp(-seconds / SMOOTHING_S)
    return weight * now_rate + (1 - weight) * last


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
