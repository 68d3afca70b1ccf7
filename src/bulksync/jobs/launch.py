"""Submit a job and start a detached runner for it: ``--background`` returns while the job runs."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from bulksync.jobs.dispatch import check_broker
from bulksync.jobs.specs import spec_record
from bulksync.jobs.store import Job, JobStore, default_store_path
from bulksync.settings import Settings
from bulksync.spec import SyncSpec


def open_store(settings: Settings, *, create: bool) -> JobStore:
    """The job store the settings name (BULKSYNC_JOB_STORE, default a SQLite file).

    Commands that only read or change existing jobs pass ``create=False``: a mistyped path is
    then an error (``StoreMissing``), never a new empty store; commands that record jobs create
    it, and say so (``JobStore.created``)."""
    target = settings.job_store.get_secret_value() if settings.job_store else None
    return JobStore(target, lease_s=settings.job_lease_seconds, create=create)


def submit(
    store: JobStore,
    spec: SyncSpec,
    settings: Settings,
    *,
    kind: str,
    tries: int | None = None,
    timeout_s: float | None = None,
    estimated: int = 0,
) -> Job:
    """Record a queued job for ``spec``; refused if it would have to store a password, or if a
    broker is configured but cannot be reached (a job nobody would be told about)."""
    record = spec_record(spec, settings)
    check_broker(settings)
    return store.create(
        kind=kind,
        spec=record,
        max_attempts=tries or settings.job_tries,
        timeout_s=timeout_s,
        estimated=estimated,
    )


def log_path(settings: Settings, job_id: str) -> Path:
    """Where a detached runner writes its stderr: next to a SQLite store, else the state dir."""
    target = settings.job_store.get_secret_value() if settings.job_store else ""
    local = target and "://" not in target
    base = Path(target).expanduser().resolve().parent if local else default_store_path().parent
    return base / "logs" / f"{job_id}.log"


def start_runner(settings: Settings, job_id: str) -> int:
    """Run the job in a detached process; its pid.

    Forked from this command where the OS allows it: the child is the already-started command
    (no second interpreter start and import, about a second), detached into its own session.
    """
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return spawn_runner(settings, job_id)  # a fork copies no other thread: only when alone
    log = log_path(settings, job_id)
    log.parent.mkdir(parents=True, exist_ok=True)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # or the child would repeat what is still buffered
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.setsid()  # no hang-up when the terminal closes
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        from bulksync.jobs.__main__ import main

        code = main([job_id])
    except BaseException as exc:
        print(f"job {job_id}: the runner stopped: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(code)  # never the parent command's exit handlers


def spawn_runner(settings: Settings, job_id: str) -> int:
    """Start ``python -m bulksync.jobs JOB_ID`` in its own session; return its pid.

    The child outlives this command (a new session: no hang-up when the terminal closes) and
    inherits the environment, so it resolves the same named connections.
    """
    log = log_path(settings, job_id)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "bulksync.jobs", job_id],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            close_fds=True,
            cwd=os.getcwd(),
        )
    return child.pid
