"""Inject a fault into a running copy, wait (bounded) for its end, resume it, judge the result.

The copy is a real ``python -m bulksync copy`` child. Progress is watched through the
destination's checkpoints (``bulksync.sync_state``), read on a fresh short-lived connection so
the watcher survives the faults it causes. Every wait has a bound: a copy that neither ends
nor fails within it is a hang and fails the test.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

import crashkit

ROWS = 200_000
SEED = 20_261_203
END_WITHIN_S = 120.0  # "never hung": a copy must end (succeeded or failed) within this


@dataclass
class ReportRow:
    fault: str
    injected: int
    outcome: str
    lost: int
    doubled: int
    recover_s: float


@dataclass
class Report:
    """The fault table the suite prints at the end (and the README keeps)."""

    rows: list[ReportRow] = field(default_factory=list)

    def table(self) -> str:
        head = "| fault | injected | outcome | lost | doubled | time to recover |"
        lines = [head, "|---|---|---|---|---|---|"]
        for r in self.rows:
            lines.append(
                f"| {r.fault} | {r.injected} | {r.outcome} | {r.lost} | {r.doubled} | {r.recover_s:.1f} s |"
            )
        return "\n".join(lines)


REPORT = Report()


def committed_rows(url: str) -> int | None:
    """Rows the copy has committed so far (its checkpoints), None while the server is away."""
    try:
        with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:
            row = conn.execute("SELECT coalesce(sum(rows_done), 0) FROM bulksync.sync_state").fetchone()
            return int(row[0]) if row else 0
    except psycopg.errors.UndefinedTable:
        return 0
    except psycopg.Error:
        return None


@dataclass
class Run:
    returncode: int
    stderr: str
    seconds: float
    injected_at: float = 0.0  # seconds after the start

    @property
    def after_fault_s(self) -> float:
        return self.seconds - self.injected_at

    @property
    def error_line(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""


_LOGGED = (
    "import faulthandler, logging, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True); "
    "logging.basicConfig(level=logging.INFO, format='%(name)s: %(message)s'); "
    "sys.argv[0] = 'bulksync'; from bulksync.cli.app import main; main()"
)


def copy_command(source: str, dest: str, mode: str, *extra: str) -> list[str]:
    """crashkit's copy command, quiet, with the engine's retry log on stderr (what it survived)."""
    cmd = crashkit.copy_command(source, dest, mode, "-q", *extra)
    assert cmd[1:3] == ["-m", "bulksync"]
    return logged(*cmd[3:])


def logged(*args: str) -> list[str]:
    """``python -m bulksync ARGS`` with the engine's retry log on stderr."""
    return [sys.executable, "-c", _LOGGED, *args]


def retries_logged(run: Run) -> int:
    return sum(1 for line in run.stderr.splitlines() if line.startswith("bulksync.engine: retry "))


def run_copy(
    cmd: list[str],
    *,
    log: Path,
    progress: Callable[[], int | None] | None = None,
    threshold: int = 0,
    inject: Callable[[Callable[[], bool]], Any] | None = None,
    end_within_s: float = END_WITHIN_S,
    env: dict[str, str] | None = None,
) -> Run:
    """Run ``cmd``; once ``progress()`` reaches ``threshold`` call ``inject(alive)``; wait for the end.

    Fails if the copy ends before the fault could be injected, or does not end in time (hung).
    """
    started = time.monotonic()
    injected_at = 0.0
    with open(log, "w+") as err:
        environ = crashkit._env() | (env or {})
        child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=environ)
        try:
            if inject is not None and progress is not None:
                while (seen := progress()) is None or seen < threshold:
                    assert child.poll() is None, f"the copy ended before the fault: {log.read_text()[-2000:]}"
                    assert time.monotonic() - started < end_within_s, "the copy never reached the fault"
                    time.sleep(0.02)
                injected_at = time.monotonic() - started
                try:
                    inject(lambda: child.poll() is None)  # the fault may ask whether the copy still runs
                except AssertionError as exc:
                    raise AssertionError(f"{exc}\n{_stacks(child, log)}") from None
            try:
                child.wait(timeout=max(1.0, end_within_s - (time.monotonic() - started)))
            except subprocess.TimeoutExpired:
                raise AssertionError(
                    f"HUNG: the copy neither ended nor failed within {end_within_s} s:\n{_stacks(child, log)}"
                ) from None
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        err.seek(0)
        return Run(child.returncode, err.read(), time.monotonic() - started, injected_at)


def _stacks(child: subprocess.Popen[bytes], log: Path) -> str:
    """The copy's log with every thread's stack at the end (faulthandler on SIGUSR1)."""
    if child.poll() is None:
        child.send_signal(signal.SIGUSR1)
        time.sleep(1)
    return log.read_text()[-6000:]


def assert_resumable_failure(run: Run) -> None:
    """A failed copy says why in one line (no traceback) and exits 1."""
    assert run.returncode == 1, f"exit {run.returncode}: {run.stderr[-2000:]}"
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert run.error_line.startswith("error:"), run.stderr[-2000:]


@dataclass(frozen=True)
class Dest:
    """Where a copy writes: its argument, how far it got, and its rows for the oracle."""

    arg: str
    progress: Callable[[], int | None]
    digests: Callable[[], crashkit.Digests]


def pg_target(url: str, *, via: str | None = None) -> Dest:
    """A PostgreSQL destination; the copy writes through ``via`` (a proxy's URL) when given,
    while progress and the oracle read it directly."""
    return Dest(via or url, lambda: committed_rows(url), lambda: crashkit.pg_digests(url))


def sqlite_target(path: Path) -> Dest:
    probe = crashkit.SqliteProbe(path)

    def progress() -> int | None:
        found = probe.row("SELECT coalesce(sum(rows_done), 0) FROM _bulksync_state")
        return int(found[0]) if found else 0

    return Dest(str(path), progress, lambda: crashkit.sqlite_digests(path))


def inject_and_check(
    fault: str,
    cmd: list[str],
    *,
    dest: Dest,
    source: crashkit.Digests,
    inject: Callable[[Callable[[], bool]], Any],
    threshold: int,
    logs: Path,
    must_succeed: bool = True,
    injected: int = 1,
) -> tuple[Run, Run | None]:
    """Run the copy, inject the fault at ``threshold`` committed rows, resume it if it failed,
    and prove the destination equals the source; the outcome goes to the report."""
    first = run_copy(cmd, log=logs / "first.log", progress=dest.progress, threshold=threshold, inject=inject)
    resumed = None
    if must_succeed:
        assert first.returncode == 0, f"the copy did not survive the fault: {first.stderr[-3000:]}"
    elif first.returncode != 0:
        assert_resumable_failure(first)
        resumed = run_copy(cmd, log=logs / "resumed.log")
        assert resumed.returncode == 0, resumed.stderr[-3000:]
    verdict = crashkit.compare(source, dest.digests())
    assert verdict.ok, str(verdict)
    recover = first.after_fault_s + (resumed.seconds if resumed else 0.0)
    outcome = outcome_of(first, resumed)
    REPORT.rows.append(
        ReportRow(fault, injected, outcome, len(verdict.lost), len(verdict.duplicated), recover)
    )
    return first, resumed


def outcome_of(first: Run, resumed: Run | None) -> str:
    if first.returncode == 0:
        return f"succeeded after {retries_logged(first)} retries"
    return f"failed resumable ({first.error_line[7:70]}…), resumed to equal" if resumed else "failed"
