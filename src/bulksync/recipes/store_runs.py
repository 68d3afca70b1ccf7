"""A store-sync run split across the worker fleet: opened once, its stores synced by many tasks,
closed once.

The coordinator opens the run (creates the tables, starts or resumes the run — with
``retry_failed`` it reopens the last run for its failed stores). Each fleet task then syncs its
store inside that open run (``stores.sync_in_open_run``), committing pages with their cursors as
a local run does. The last task closes the run: it reads the run's ``sync_logs`` rows (one per
store, whoever synced it) and the records each store set aside (in its checkpoint), writes the
summary row and forgets the done stores' checkpoints.
"""

from __future__ import annotations

import datetime as dt

from bulksync.connectors.base import ChunkQuery, Connector
from bulksync.connectors.registry import open_connector
from bulksync.recipes import store_writes as sw
from bulksync.recipes.store_lock import one_run
from bulksync.recipes.store_rejects import rejected_in
from bulksync.recipes.store_tables import SYNC_LOGS, LogRow, records_table
from bulksync.recipes.stores import StoreJob
from bulksync.recipes.stores_result import StoreOutcome, StoresResult
from bulksync.spec import Filter


def open_run(job: StoreJob) -> sw.Run:
    """Create the tables if needed and open (or resume, or reopen for a retry) the job's run."""
    with one_run(job.dest_url, job_name=job.job_name, table=job.table_name, shared=True):
        return _open_run(job)


def _open_run(job: StoreJob) -> sw.Run:
    dest = open_connector(job.dest_url)
    try:
        sw.prepare(dest, records_table(job.kind, job.table_name))
        return sw.begin_run(
            dest, job_name=job.job_name, table=job.table_name, params=job.fetch_params,
            within_s=job.resume_within_s, retry_failed=job.retry_failed,
        )  # fmt: skip
    finally:
        dest.close()


def pause_run(job: StoreJob) -> None:
    """The open run's summary says 'cancelled': the run stays open, resuming the job continues it."""
    dest = open_connector(job.dest_url)
    try:
        run = sw.open_run_of(dest, job_name=job.job_name, table=job.table_name)
        if run is not None:
            ms = int((dt.datetime.now(dt.UTC) - run.started).total_seconds() * 1000)
            said = "cancelled before it ended; resuming the job continues this run"
            sw.mark_run(dest, LogRow(job.job_name, run.run_id, None, "cancelled", said, ms, run.started))
    finally:
        dest.close()


def close_run(job: StoreJob) -> StoresResult:
    """The run's result from its ``sync_logs`` rows; its summary row written, the run ended."""
    with one_run(job.dest_url, job_name=job.job_name, table=job.table_name, shared=True):
        return _close_run(job)


def _close_run(job: StoreJob) -> StoresResult:
    dest = open_connector(job.dest_url)
    try:
        run = sw.begin_run(dest, job_name=job.job_name, table=job.table_name, params=None)  # the open run
        codes = {s.code for s in job.stores}
        outcomes = [o for o in run_outcomes(dest, run.run_id) if o.code in codes]
        states = sw.store_states(dest, job_name=job.job_name, table=job.table_name, run=run)
        for o in outcomes:
            found = states.get(sw.part_of(o.code))
            o.rejected = rejected_in(found) if found else 0
        seconds = (dt.datetime.now(dt.UTC) - run.started).total_seconds()
        result = StoresResult.of(job.job_name, run.run_id, outcomes, seconds, resumed=run.resumed)
        row = LogRow(
            job.job_name, run.run_id, None, result.status, result.headline(), int(seconds * 1000),
            run.started, result.records_fetched, result.records_written, result.requests, result.retries,
        )  # fmt: skip
        sw.end_run(dest, job_name=job.job_name, table=job.table_name, run=run, row=row)
        sw.forget_stores(dest, job_name=job.job_name, table=job.table_name, run=run)
        return result
    finally:
        dest.close()


def run_outcomes(dest: Connector, run_id: str) -> list[StoreOutcome]:
    """Every store's outcome in the run, as its ``sync_logs`` row says."""
    query = ChunkQuery(SYNC_LOGS, ("id",), 10_000, filters=(Filter(column="run_id", op="eq", value=run_id),))
    found: list[StoreOutcome] = []
    for batch in dest.read_stream(query):
        for r in batch.to_pylist():
            if r["store_code"] is None:
                continue
            counts = {k: r[k] or 0 for k in ("requests", "retries", "duration_ms")}
            outcome = StoreOutcome(r["store_code"], r["status"], r["message"] or "", **counts)
            outcome.fetched, outcome.written = r["records_fetched"] or 0, r["records_written"] or 0
            found.append(outcome)
    return found
