"""``bulksync jobs|status|cancel|resume`` and the ``--background`` of copy, migrate and bets sync."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from bulksync.cli import options as o
from bulksync.jobs.statuses import STATUSES

if TYPE_CHECKING:
    from bulksync.engine.progress import ProgressEvent
    from bulksync.jobs.store import Job
    from bulksync.settings import Settings
    from bulksync.spec import SyncSpec

# Each command imports what it needs when it runs: `bulksync jobs`, `status` and `cancel` read
# the store through the plain driver (jobs/lookup.py: no SQLAlchemy, no pydantic-settings, no
# engine), and `--help` loads none of them.

JobArg = Annotated[str, typer.Argument(help="job id, as printed by --background or bulksync jobs")]


def submit_background(
    spec: SyncSpec, *, kind: str, json_out: bool, tries: int | None = None, timeout_s: float | None = None
) -> None:
    """Check both ends, record ``spec`` as a queued job, start it (a detached runner, or the
    broker's workers when BULKSYNC_BROKER_URL is set), print the job id.

    A job that could only fail (an unknown table or column, a destination that cannot be
    reached) is refused here in one line, as the foreground command would refuse it, and
    nothing is recorded."""
    from bulksync.cli.plain import print_json
    from bulksync.jobs.launch import log_path, open_store, submit
    from bulksync.jobs.preflight import check_ends
    from bulksync.jobs.specs import spec_record
    from bulksync.settings import get_settings

    settings = get_settings()
    spec_record(spec, settings)  # a URL with a password is refused before anything is opened
    estimated = check_ends(spec)
    store = open_store(settings, create=True)
    if store.created:
        typer.echo(f"created the job store {store.where} (BULKSYNC_JOB_STORE)", err=True)
    try:
        job = submit(store, spec, settings, kind=kind, tries=tries, timeout_s=timeout_s, estimated=estimated)
    finally:
        store.close()
    how = _start(settings, job)
    if json_out:
        out = {
            "job_id": job.id,
            "status": job.status,
            "status_command": f"bulksync status {job.id} --follow",
            "runs_on": how,
        }
        if how == "runner":
            out["log"] = str(log_path(settings, job.id))
        print_json(out)
        return
    typer.echo(job.id)  # alone on stdout: JOB=$(bulksync copy … --background)
    where = "sent to the workers" if how == "broker" else "started in the background"
    typer.echo(f"job {job.id} {where}: bulksync status {job.id} --follow", err=True)


def _start(settings: Settings, job: Job) -> str:
    """Send the job to the broker's workers if one is configured, else start a detached runner."""
    from bulksync.jobs.dispatch import dispatch
    from bulksync.jobs.launch import start_runner

    if dispatch(job, settings) == "broker":
        return "broker"
    start_runner(settings, job.id)
    return "runner"


def list_jobs(
    status: Annotated[
        str | None, typer.Option("--status", help=f"only jobs in this status ({', '.join(STATUSES)})")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="newest N jobs")] = 20,
    json_out: o.JsonOpt = False,
) -> None:
    """List background jobs, newest first: status, progress, records, what they move."""
    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"use one of {', '.join(STATUSES)}", param_hint="--status")
    from bulksync.jobs.lookup import open_lookup
    from bulksync.jobs.specs import describe

    store = open_lookup()
    try:
        found = store.list(status=status, limit=limit)
    finally:
        store.close()
    if json_out:
        from bulksync.cli.plain import print_json

        print_json({"jobs": [j.to_dict() for j in found]})
        return
    if not found:
        typer.echo("no jobs" + (f" with status {status}" if status else ""))
        return
    typer.echo(f"{'JOB':<24} {'STATUS':<10} {'DONE':>6} {'RECORDS':>21}  {'CREATED (UTC)':<19}  WHAT")
    for j in found:
        p = j.progress
        records = f"{p.processed:,}/{p.estimated:,}"
        typer.echo(
            f"{j.id:<24} {j.public_status:<10} {p.percentage:>5.1f}% {records:>21}  "
            f"{j.created_at:%Y-%m-%d %H:%M:%S}  {j.kind} {describe(j.spec)}"
        )


def status(
    job_id: JobArg,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="show live progress until the job ends")
    ] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.1, help="seconds between looks")] = 0.5,
    json_out: o.JsonOpt = False,
    quiet: o.QuietOpt = False,
) -> None:
    """Show a job's status and progress; --follow until it ends."""
    from bulksync.cli.plain import print_json
    from bulksync.jobs.lookup import open_lookup

    store = open_lookup()
    try:
        job = store.get(job_id)
        if follow:
            job = _follow(store.get, job, interval=interval, quiet=quiet or json_out)
    finally:
        store.close()
    if json_out:
        print_json(job.to_dict())
    elif not (follow and quiet):
        _print_job(job)
    if follow and job.status == "failed":
        raise typer.Exit(1)


def cancel(job_id: JobArg) -> None:
    """Cancel a job: a queued job at once; a running one stops reading at once and commits
    nothing after the batch it is committing."""
    from bulksync.jobs.lookup import open_lookup

    store = open_lookup()
    try:
        job = store.request_cancel(job_id)
    finally:
        store.close()
    if job.status == "cancelled":
        typer.echo(f"job {job_id} cancelled; bulksync resume {job_id} continues it from its checkpoints")
    else:
        typer.echo(
            f"job {job_id}: cancel requested: it stops reading now and commits nothing after the "
            f"batch it is committing; bulksync status {job_id} then shows the rows committed"
        )


def resume(
    job_id: JobArg,
    tries: Annotated[
        int | None,
        typer.Option("--tries", min=1, help="attempts allowed from now (default: BULKSYNC_JOB_TRIES)"),
    ] = None,
) -> None:
    """Queue a failed or cancelled job again (or one whose runner died) and run it: it continues
    from its last committed batch."""
    from bulksync.jobs.dispatch import check_broker
    from bulksync.jobs.launch import open_store
    from bulksync.settings import get_settings

    settings = get_settings()
    check_broker(settings)  # a resumed job nobody would be told about stays where it was
    store = open_store(settings, create=False)
    try:
        job = store.resume(job_id, tries=tries or settings.job_tries)
    finally:
        store.close()
    _start(settings, job)
    typer.echo(f"job {job_id} resumed in the background: bulksync status {job_id} --follow")


def _follow(get: Callable[[str], Job], job: Job, *, interval: float, quiet: bool) -> Job:
    from bulksync.cli.plain import print_error, progress_view
    from bulksync.errors import SyncError

    shown: dict[str, tuple[object, ...]] = {}
    with progress_view(enabled=not quiet) as view:
        while True:
            for table, t in job.progress.tables.items():
                key = (t.get("phase"), t.get("rows_done"), t.get("rows_total"))
                if shown.get(table) != key:
                    shown[table] = key
                    view(_event(table, t))
            if job.done or job.public_status == "lost":  # a dead runner's job would never end
                return job
            time.sleep(interval)
            try:
                job = get(job.id)
            except SyncError as exc:  # the store is briefly busy or away: look again
                print_error(f"cannot read job {job.id}: {exc.message}")


def _event(table: str, t: dict[str, object]) -> ProgressEvent:
    from bulksync.engine.progress import ProgressEvent

    def num(key: str) -> float:
        value = t.get(key)
        return float(value) if isinstance(value, int | float) else 0.0

    eta = t.get("eta_s")
    return ProgressEvent(
        table=table,
        phase=str(t.get("phase", "copying")),
        rows_done=int(num("rows_done")),
        rows_total=int(num("rows_total")),
        bytes_done=0,
        elapsed_s=0.0,
        rows_per_s=num("rows_per_s"),
        eta_s=float(eta) if isinstance(eta, int | float) else None,
        rss_mb=num("rss_mb"),
        partitions=int(num("partitions")),
        rejected=int(num("rejected")),
        message=str(t.get("message") or ""),
    )


def _print_job(job: Job) -> None:
    from bulksync.cli.render import print_error, print_fields, print_warning
    from bulksync.jobs.specs import describe

    p = job.progress
    eta = f"{p.eta_s:,.0f} s" if p.eta_s is not None else "-"
    unit = "stores" if job.kind == "stores" else "records"  # a store sync counts stores
    rows = [
        ("status", job.public_status),
        ("what", f"{job.kind} {describe(job.spec)}"),
        (f"processed {unit}", f"{p.processed:,}"),
        (f"estimated {unit}", f"{p.estimated:,}"),
        ("progress", f"{p.percentage:.1f} %"),
        (f"{unit} per second", f"{p.rows_per_s:,.1f}" if job.kind == "stores" else f"{p.rows_per_s:,.0f}"),
        ("ETA", eta if job.status == "running" else "-"),
        ("memory", f"{p.rss_mb:.0f} MB"),
        ("attempts", f"{job.attempts} of {job.max_attempts}"),
        ("created", f"{job.created_at:%Y-%m-%d %H:%M:%S} UTC"),
        ("updated", f"{job.updated_at:%Y-%m-%d %H:%M:%S} UTC"),
    ]
    if job.finished_at is not None:
        rows.append(("finished", f"{job.finished_at:%Y-%m-%d %H:%M:%S} UTC"))
    if job.kind == "stores" and job.result:  # the run's records and success rate
        rows.append(("records written", f"{job.result.get('records_written', 0):,}"))
        rows.append(("success rate", f"{job.result.get('success_rate', 0)} %"))
    print_fields(f"job {job.id}", rows)
    if job.error:
        print_error(job.error)
    if job.public_status == "lost":
        print_warning(f"its runner stopped; bulksync resume {job.id} continues from the last checkpoint")
