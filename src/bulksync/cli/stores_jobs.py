"""``bulksync stores sync … --background`` and ``bulksync stores retry JOB``: store syncs as jobs.

The job is recorded only once what the foreground command would check first is checked (the
store list, every credential name, the destination reachable); the record holds the store list
and credential names, never a token nor a password (jobs/store_specs.py).
"""

from __future__ import annotations

import typer

from bulksync.cli.jobs import _start
from bulksync.cli.plain import print_json
from bulksync.connectors.registry import open_connector
from bulksync.errors import UsageError
from bulksync.jobs.dispatch import check_broker
from bulksync.jobs.launch import log_path, open_store
from bulksync.jobs.store_specs import KIND, store_job_record
from bulksync.recipes.stores import StoreJob, check_job
from bulksync.settings import get_settings


def submit_store_job(job: StoreJob, *, destination: str, json_out: bool) -> None:
    """Record ``job`` (queued), start it, print its id (alone on stdout)."""
    settings = get_settings()
    check_job(job)  # every credential name configured, before anything is recorded
    record = store_job_record(job, settings, destination=destination)  # refuses secrets first
    open_connector(job.dest_url).close()  # an unreachable destination: one line, nothing recorded
    check_broker(settings)
    store = open_store(settings, create=True)
    if store.created:
        typer.echo(f"created the job store {store.where} (BULKSYNC_JOB_STORE)", err=True)
    try:
        recorded = store.create(kind=KIND, spec=record, max_attempts=settings.job_tries,
                                estimated=len(job.stores))  # fmt: skip
    finally:
        store.close()
    how = _start(settings, recorded)
    if json_out:
        out = {"job_id": recorded.id, "status": recorded.status, "runs_on": how,
               "status_command": f"bulksync status {recorded.id} --follow"}  # fmt: skip
        if how == "runner":
            out["log"] = str(log_path(settings, recorded.id))
        print_json(out)
        return
    typer.echo(recorded.id)
    where = "sent to the workers" if how == "broker" else "started in the background"
    typer.echo(f"job {recorded.id} {where}: bulksync status {recorded.id} --follow", err=True)


def retry_store_job(job_id: str) -> None:
    """Queue a partial or failed store sync again: only its failed stores run."""
    settings = get_settings()
    check_broker(settings)
    store = open_store(settings, create=False)
    try:
        job = store.get(job_id)
        if job.kind != KIND:
            raise UsageError(
                f"job {job_id} is a {job.kind} job, not a store sync: use bulksync resume {job_id}"
            )
        if job.status not in ("partial", "failed"):
            raise UsageError(
                f"job {job_id} is {job.public_status}: only a partial or failed store sync is retried"
            )
        job = store.resume(job_id, tries=settings.job_tries)
    finally:
        store.close()
    _start(settings, job)
    failed = (job.result or {}).get("failed", "its")
    typer.echo(
        f"job {job_id}: retrying {failed} failed store(s) in the background: "
        f"bulksync status {job_id} --follow"
    )
