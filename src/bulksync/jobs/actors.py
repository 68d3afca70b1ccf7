"""Dramatiq actors of a worker process: plan a job into partition tasks, run a task, sweep.

``plan_job(job_id)`` is the coordinator step: claimed through the job store (so it runs once),
it checks and plans every table (the partitions' checkpoints go to the destination, as for a
local sync), records one task per partition plus one finish task per table, and sends one
``run_partition(job_id, task_no)`` message per task that can start. A resumed job keeps its
tasks: the unfinished ones are queued again and re-sent.

Messages are only hints. Every worker runs a ``Sweeper`` that, from the store alone, fails
tasks whose worker died on their last attempt, re-sends messages for tasks whose lease expired
(their worker died) or whose message may be lost, finishes cancellations and keeps the leases of
distributed jobs fresh — so a lost message or a dead worker never leaves a job stuck.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import dramatiq

from bulksync.engine.plan import TablePlan
from bulksync.engine.run import plan_sync
from bulksync.errors import SyncError, TransientError, redact
from bulksync.jobs.addresses import AddressBook
from bulksync.jobs.broker import MAX_RETRIES, PLAN_JOB, QUEUE, RUN_PARTITION, send
from bulksync.jobs.runner import Heartbeat, JobProgress, runner_id
from bulksync.jobs.specs import spec_from_record
from bulksync.jobs.store import Job, JobStore
from bulksync.jobs.task_runner import run_task
from bulksync.jobs.task_sweep import TaskSweep
from bulksync.jobs.tasks import NewTask, TaskStore
from bulksync.settings import Settings

log = logging.getLogger("bulksync.worker")


@dataclass
class Fleet:
    """What the actors of one worker process share."""

    settings: Settings
    store: JobStore
    broker: dramatiq.Broker
    owner: str = field(default_factory=runner_id)
    halt: threading.Event = field(default_factory=threading.Event)  # set: the worker is stopping
    # told of progress events and stores' ends (the worker's Prometheus metrics, metrics/process.py)
    listeners: Sequence[Any] = ()

    def __post_init__(self) -> None:
        self.tasks = TaskStore(self.store)

    def settle_cancel(self, job_id: str) -> bool:
        """End a job being cancelled once none of its tasks runs (``TaskStore.settle_cancel``); a
        store sync's run summary in ``sync_logs`` then says 'cancelled'. True if this ended it."""
        if not self.tasks.settle_cancel(job_id):
            return False
        job = self.store.get(job_id)
        if job.kind == "stores":
            from bulksync.jobs.store_tasks import pause_store_run

            pause_store_run(self, job)
        return True

    def declare_actors(self) -> None:
        """Register ``plan_job`` and ``run_partition`` with the broker (the worker consumes them)."""
        options = {"max_retries": MAX_RETRIES}
        for name, fn in ((PLAN_JOB, self.plan_job), (RUN_PARTITION, self.run_partition)):
            dramatiq.Actor(
                fn, broker=self.broker, actor_name=name, queue_name=QUEUE, priority=0, options=options
            )

    # -- actors -------------------------------------------------------------------------------

    def plan_job(self, job_id: str) -> None:
        if self.halt.is_set():
            send(self.broker, PLAN_JOB, job_id, delay_ms=1000)  # let a worker that stays take it
            return
        job = self.store.claim(job_id, self.owner, distributed=True)
        if job is None:
            log.info("dropped: plan_job %s (done, cancelled or held by another worker)", job_id)
            return
        if job.kind == "stores":  # one task per store (jobs/store_tasks.py)
            from bulksync.jobs.store_tasks import plan_store_job

            plan_store_job(self, job)
            return
        if self.tasks.has_tasks(job_id):  # resumed, or its coordinator died after recording
            reopened = self.tasks.reopen(job_id, tries=self.settings.job_tries)
            log.info("job resumed: %s, %d task(s) queued again", job_id, reopened)
        elif not self._plan(job):
            return
        self.send_startable(job_id)

    def run_partition(self, job_id: str, task_no: int) -> None:
        if self.halt.is_set():
            send(self.broker, RUN_PARTITION, job_id, task_no, delay_ms=1000)
            return
        task = self.tasks.claim(job_id, task_no, self.owner)
        if task is None:
            self.settle_cancel(job_id)
            log.info("dropped: %s task %d (done, not runnable, or held by a live lease)", job_id, task_no)
            return
        run_task(self, task)

    # -- the coordinator ----------------------------------------------------------------------

    def plan_failed(self, job: Job, exc: SyncError, what: str) -> None:
        """The coordinator step failed: queue the job again later (a transient error, tries left)
        or fail it, with the error's public line."""
        retry = isinstance(exc, TransientError) and job.attempts < job.max_attempts
        said = AddressBook.for_job(self.settings, job.spec).public(exc.message)
        self.store.finish(job.id, self.owner, status="queued" if retry else "failed", error=said)
        if retry:
            send(self.broker, PLAN_JOB, job.id, delay_ms=1000 * 2**job.attempts)
        log.error("job %s: %s: %s", job.id, what, exc.message)

    def _plan(self, job: Job) -> bool:
        """Plan every table and record the tasks; False when the job ended instead."""
        beat = Heartbeat(self.store, job, self.owner, JobProgress({}))  # keeps the lease meanwhile
        beat.start()
        try:
            plans = plan_sync(spec_from_record(job.spec, self.settings))
        except SyncError as exc:
            beat.stop()
            self.plan_failed(job, exc, "planning failed")
            return False
        beat.stop()
        if beat.lost:
            return False
        if beat.cancel.is_set():
            self.store.finish(job.id, self.owner, status="cancelled")
            return False
        self.tasks.record(job.id, new_tasks(plans), max_attempts=job.max_attempts)
        parts = sum(len(p.states) for p in plans)
        log.info("job planned: %s, %d table(s), %d partition(s)", job.id, len(plans), parts)
        return True

    def send_startable(self, job_id: str) -> None:
        sent = []
        try:
            for task_no in self.tasks.startable(job_id):
                send(self.broker, RUN_PARTITION, job_id, task_no)
                sent.append(task_no)
        finally:
            self.tasks.mark_sent(job_id, sent)  # the sweeper sends the rest


def new_tasks(plans: list[TablePlan]) -> list[NewTask]:
    """One task per partition (those done already recorded done) and a finish task per table."""
    found: list[NewTask] = []
    for plan in plans:
        table, target = plan.spec.name, plan.final.name
        found += [
            NewTask("partition", table, target, part=s.partition, rows_done=s.rows, done=s.done)
            for s in plan.states
        ]
        found.append(NewTask("finish", table, target, rows_total=plan.estimated_rows))
    return found


class Sweeper(threading.Thread):
    """Every half lease: fail dead tasks out of attempts, re-send lost messages, settle cancels."""

    def __init__(self, fleet: Fleet) -> None:
        super().__init__(name="bulksync-sweeper", daemon=True)
        self.fleet = fleet
        lease = fleet.store.lease
        self.every_s = max(1.0, lease.total_seconds() / 2)
        resend_s = fleet.settings.job_resend_seconds
        default = max(dt.timedelta(seconds=60), 10 * lease)
        self.resend_after = dt.timedelta(seconds=resend_s) if resend_s else default
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.every_s):
            try:
                self.sweep()
            except SyncError as exc:
                log.warning("sweeper: %s", exc.message)
            except Exception as exc:  # a bug must not end re-sends and lease reaping for good
                log.error("sweeper: unexpected %s: %s (it sweeps again in %.0f s)",
                          type(exc).__name__, redact(str(exc)), self.every_s)  # fmt: skip

    def sweep(self) -> None:
        fleet, tasks = self.fleet, TaskSweep(self.fleet.tasks)
        for job_id, error in tasks.reap():
            log.error("job failed: %s: %s", job_id, error)
        fleet.store.reap()
        tasks.renew_jobs()
        for job_id in tasks.cancelling():
            if fleet.settle_cancel(job_id):
                log.info("job cancelled: %s", job_id)
        for job_id, task_no in tasks.due(resend_after=self.resend_after):
            log.info("re-sent: %s task %d (lease expired or message lost)", job_id, task_no)
            send(fleet.broker, RUN_PARTITION, job_id, task_no)
        for job_id in tasks.stale_jobs(resend_after=self.resend_after):
            log.info("re-sent: plan_job %s", job_id)
            send(fleet.broker, PLAN_JOB, job_id)

    def stop(self) -> None:
        self._halt.set()
        self.join()
