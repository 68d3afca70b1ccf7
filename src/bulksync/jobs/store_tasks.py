"""A store-sync job on the worker fleet: one task per store, one finish task for the run.

    plan_job   open the run in the destination (tables, run checkpoint; a retry reopens the last
               run for its failed stores) and record one ``partition`` task per store (``part``
               is its index in the job's store list) plus one ``finish`` task
    run_partition(store task)   sync that store inside the open run, page by page, each page
               committed with the store's cursor; a worker killed mid-store: the task's lease
               expires, the sweeper re-sends it, another worker resumes from the last committed
               page. A store that fails (401, a bad page) is that store's outcome, not the task's:
               the task is done, its row names the reason
    finish     close the run from its ``sync_logs`` rows (summary row, success rate) and end the
               job ``succeeded``, ``partial`` or ``failed``, with the run's result

The same task table, leases, sweeper and messages as a key-range job (tasks.py); the global rate
limit is shared by every worker through Redis when the broker is Redis.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from bulksync.errors import PermanentError, RunInProgressError, SyncError
from bulksync.jobs.addresses import AddressBook
from bulksync.jobs.model import jobs, now
from bulksync.jobs.runner import Heartbeat, JobProgress
from bulksync.jobs.store import Job
from bulksync.jobs.store_specs import retrying, store_job_from_record
from bulksync.jobs.task_model import NewTask, Task, TaskProgress, j, t, tasks
from bulksync.jobs.task_progress import write_job_progress
from bulksync.jobs.task_runner import TaskBeat, TaskListener, _failed, _resend_if_running
from bulksync.logs import bound
from bulksync.recipes.store_runs import close_run, open_run, pause_run
from bulksync.recipes.stores import StoreJob, sync_in_open_run
from bulksync.recipes.stores_result import StoreOutcome, StoresResult
from bulksync.settings import get_store_settings

if TYPE_CHECKING:
    from bulksync.jobs.actors import Fleet

log = logging.getLogger("bulksync.worker")


def plan_store_job(fleet: Fleet, job: Job) -> None:
    """The coordinator step of a store sync (the job is claimed): open the run, record or reopen
    the tasks, send them."""
    beat = Heartbeat(fleet.store, job, fleet.owner, JobProgress({}))  # keeps the lease meanwhile
    beat.start()
    retry = retrying(job.result)
    try:
        refuse_twin(fleet, job)
        run = open_run(_job(fleet, job, retry_failed=retry))
    except SyncError as exc:
        beat.stop()
        fleet.plan_failed(job, exc, "opening the store sync failed")
        return
    beat.stop()
    if beat.lost:
        return
    stores = job.spec["stores"]["list"]
    table = job.spec["stores"]["table"]
    if not fleet.tasks.has_tasks(job.id):
        new = [NewTask("partition", table, table, part=n) for n in range(len(stores))]
        new.append(NewTask("finish", table, table, rows_total=len(stores)))
        fleet.tasks.record(job.id, new, max_attempts=job.max_attempts)
        log.info("job planned: %s, %d store task(s)", job.id, len(stores))
    elif retry:
        log.info("job retried: %s, %d failed store(s) queued again", job.id, _reopen_failed(fleet, job))
    elif not run.resumed:  # its run was not resumed (too old): every store again, in a new run
        log.info("job resumed in a new run: %s (%s), %d task(s) queued again", job.id, run.note,
                 _reopen_all(fleet, job))  # fmt: skip
    else:
        log.info("job resumed: %s, %d task(s) queued again", job.id,
                 fleet.tasks.reopen(job.id, tries=fleet.settings.job_tries))  # fmt: skip
    fleet.send_startable(job.id)


def refuse_twin(fleet: Fleet, job: Job) -> None:
    """Refuse the job while an older running job syncs the same kind into the same table of the
    same destination: the two would share one run (``recipes.store_lock`` keeps a local run
    apart; the fleet's tasks of one job share its lock, so two fleet jobs are told apart here)."""
    mine = _twin_key(job)
    for other in fleet.store.unfinished(job.kind):
        if (other.created_at, other.id) < (job.created_at, job.id) and _twin_key(other) == mine:
            raise RunInProgressError(
                f"job {other.id} is already syncing {mine[0]} into {mine[1]!r} of this "
                "destination: wait for it to end, or cancel it"
            )


def _twin_key(job: Job) -> tuple[str, str, str]:
    stores = job.spec.get("stores") or {}
    dest = json.dumps(job.spec.get("destination"), sort_keys=True)
    return str(stores.get("kind")), str(stores.get("table")), dest


def _reopen_failed(fleet: Fleet, job: Job) -> int:
    """Queue again the store tasks whose store failed, and the finish task."""
    at = now()
    failed_store = sa.and_(t.kind == "partition", t.error.is_not(None))
    values = {
        "status": "queued", "phase": "planned", "rows_done": 0, "error": None, "lease_owner": None,
        "lease_expires": None, "sent_at": None, "updated_at": at,
        "max_attempts": t.attempts + fleet.settings.job_tries,
    }  # fmt: skip
    which = sa.and_(t.job_id == job.id, sa.or_(failed_store, t.kind == "finish"))
    with fleet.store.transaction() as conn:
        return int(conn.execute(tasks.update().where(which).values(**values)).rowcount)


def _reopen_all(fleet: Fleet, job: Job) -> int:
    """Queue every task of the job again, done ones too: a new run syncs every store."""
    values = {
        "status": "queued", "phase": "planned", "rows_done": 0, "error": None, "lease_owner": None,
        "lease_expires": None, "sent_at": None, "updated_at": now(),
        "max_attempts": t.attempts + fleet.settings.job_tries,
    }  # fmt: skip
    with fleet.store.transaction() as conn:
        return int(conn.execute(tasks.update().where(t.job_id == job.id).values(**values)).rowcount)


def pause_store_run(fleet: Fleet, job: Job) -> None:
    """The cancelled job's run summary says 'cancelled' (the run stays open for a resume)."""
    try:
        pause_run(_job(fleet, job))
    except SyncError as exc:  # the summary only: the cancel itself goes on
        log.warning("job %s: the run's summary could not be marked cancelled: %s", job.id, exc.message)


def _job(fleet: Fleet, job: Job, *, retry_failed: bool = False, only: set[str] | None = None) -> StoreJob:
    return store_job_from_record(
        job.spec, fleet.settings, get_store_settings(), retry_failed=retry_failed, only=only
    )


class _StoreListener(TaskListener):
    """A store task reports nothing while it runs (the heartbeat keeps its lease)."""

    def snapshot(self, *, force: bool = False) -> TaskProgress | None:
        return TaskProgress(phase="copying", rows_done=0) if force else None


def run_store_task(fleet: Fleet, task: Task, job: Job) -> str:
    """Run one claimed task of a store sync; record its end; done|failed|stopped|lost|retry."""
    beat = TaskBeat(fleet, task, _StoreListener(task), job.timeout_s)
    beat.start()
    outcome: StoreOutcome | None = None
    result: StoresResult | None = None
    error: SyncError | None = None
    try:
        if task.kind == "finish":
            result = close_run(_job(fleet, job))
        else:
            code = job.spec["stores"]["list"][task.part or 0][0]
            with bound(store=code):
                log.info("task start: %s (store %s), attempt %d", task.label, code, task.attempts)
                outcome = sync_in_open_run(
                    _job(fleet, job, only={code}), cancel=beat.cancel, listeners=fleet.listeners
                )[0]
    except SyncError as exc:
        error = exc
    except Exception as exc:  # a bug: fail the task with its type and message, never a traceback
        error = PermanentError(f"internal error ({type(exc).__name__}): {exc}")
    finally:
        beat.stop()
    if beat.lost:
        return "lost"
    if error is not None:
        book = AddressBook.for_job(fleet.settings, job.spec)
        return _failed(fleet, task, error, None, timed_out=False, public=book.public)
    if outcome is not None and outcome.status == "stopped":
        fleet.tasks.end(task, fleet.owner, status="queued", give_back=True)
        if fleet.store.get(job.id).cancel_requested:  # (a job whose lease had lapsed is cancelled at once)
            pause_store_run(fleet, job)
        if not fleet.settle_cancel(task.job_id):
            _resend_if_running(fleet, task)
        return "stopped"
    if result is not None:
        fleet.tasks.end(task, fleet.owner, status="done", progress=TaskProgress(phase="done", rows_done=0))
        if _complete(fleet, job.id, result):
            log.info("job %s: %s", result.status, job.id)
        return "done"
    assert outcome is not None
    said = f"store {outcome.code}: {outcome.message}" if outcome.status == "failed" else None
    done = TaskProgress(phase="done", rows_done=1, rows_written=outcome.written)
    fleet.tasks.end(task, fleet.owner, status="done", progress=done, error=said)
    log.info("task done: %s, store %s %s, %d records", task.label, outcome.code, outcome.status,
             outcome.written)  # fmt: skip
    finish_no = fleet.tasks.finish_task_of(task.job_id, task.table)
    finish = None if finish_no is None else fleet.tasks.claim(task.job_id, finish_no, fleet.owner)
    if finish is not None:
        run_store_task(fleet, finish, job)  # this worker synced the run's last store
    return "done"


def _complete(fleet: Fleet, job_id: str, result: StoresResult) -> bool:
    """End the job with the run's status and result once every task is done; True for the caller
    that did it."""
    at = now()
    values: dict[str, Any] = {
        "status": result.status, "finished_at": at, "updated_at": at, "lease_owner": None,
        "lease_expires": None, "rows_per_s": 0.0, "eta_s": None,
        "result": json.dumps(result.as_dict(), default=str),
        "error": None if result.status == "succeeded" else result.with_failures(),
    }  # fmt: skip
    all_done = ~sa.exists().where(t.job_id == job_id, t.status != "done")
    with fleet.store.transaction() as conn:
        won = conn.execute(
            jobs.update().where(j.id == job_id, j.status == "running", all_done).values(**values)
        ).rowcount
        if won:
            write_job_progress(conn, job_id, lease=fleet.store.lease, renew=False)
            conn.execute(jobs.update().where(j.id == job_id).values(rows_per_s=0.0, eta_s=None))
    return won == 1
