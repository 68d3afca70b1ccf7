"""Run competitor commands as child processes and measure wall time and peak RSS.

Peak RSS comes from GNU ``/usr/bin/time -v`` when it exists (exact for a single process), and
from polling the process tree with psutil every 50 ms (catches a tool that forks workers: the
polled value is the sum over the tree). The larger of the two is reported.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

GNU_TIME = Path("/usr/bin/time")
_MAXRSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")
_POLL_S = 0.05
QUIET_BELOW_PCT = 20.0  # CPU use by others under which the machine counts as quiet


@dataclass
class Measurement:
    """What one run of one or more parallel commands cost."""

    seconds: float
    peak_rss_mb: float
    returncodes: list[int]
    stdout: str
    stderr: str
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return not self.timed_out and all(code == 0 for code in self.returncodes)


class _TreePoller(threading.Thread):
    """Samples the summed RSS of some process trees until told to stop."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.peak_bytes = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.wait(_POLL_S):
            self.peak_bytes = max(self.peak_bytes, sum(map(_tree_rss, self.pids)))


def _tree_rss(pid: int) -> int:
    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True)]
        if not GNU_TIME.exists():
            procs.append(root)  # with GNU time the root is `time` itself: not the tool's memory
        return sum(p.memory_info().rss for p in procs if p.is_running())
    except psutil.Error:
        return 0


def measure(
    commands: list[list[str]], *, env: dict[str, str] | None = None, timeout_s: float | None = None
) -> Measurement:
    """Start every command at once, wait for all; stdout is the first command's.

    After ``timeout_s`` seconds every command's process group is killed (SIGKILL) and the
    measurement says ``timed_out``.
    """
    with tempfile.TemporaryDirectory(prefix="bench-time-") as tmp:
        reports = [Path(tmp) / f"time-{i}.txt" for i in range(len(commands))]
        wrapped = [_wrap(cmd, report) for cmd, report in zip(commands, reports, strict=True)]
        started = time.perf_counter()
        procs = [
            subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                start_new_session=True,  # its own process group: a timeout kills the whole tool
            )
            for cmd in wrapped
        ]
        poller = _TreePoller([p.pid for p in procs])
        poller.start()
        outputs, timed_out = _wait_all(procs, None if timeout_s is None else started + timeout_s)
        seconds = time.perf_counter() - started
        poller.stop_event.set()
        poller.join()
        timed_kb = sum(_read_maxrss_kb(report) for report in reports)
    return Measurement(
        seconds=seconds,
        peak_rss_mb=max(timed_kb * 1024, poller.peak_bytes) / 2**20,
        returncodes=[p.returncode for p in procs],
        stdout=outputs[0][0],
        stderr="\n".join(err for _, err in outputs if err),
        timed_out=timed_out,
    )


def _wait_all(
    procs: list[subprocess.Popen[str]], deadline: float | None
) -> tuple[list[tuple[str, str]], bool]:
    """Every process's (stdout, stderr); past ``deadline`` all process groups are killed."""
    outputs: list[tuple[str, str]] = []
    for index, proc in enumerate(procs):
        try:
            left = None if deadline is None else max(0.0, deadline - time.perf_counter())
            outputs.append(proc.communicate(timeout=left))
        except subprocess.TimeoutExpired:
            for other in procs[index:]:
                try:
                    os.killpg(other.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            outputs += [other.communicate() for other in procs[index:]]
            return outputs, True
    return outputs, False


def wait_for_quiet(max_wait_s: float, *, busy_limit: float = QUIET_BELOW_PCT) -> float:
    """Wait until other processes use < ``busy_limit`` % CPU (at most ``max_wait_s``).

    Returns the last 1-second CPU use seen, so a run on a busy machine can be flagged.
    """
    deadline = time.monotonic() + max_wait_s
    busy = psutil.cpu_percent(interval=1.0)
    while busy >= busy_limit and time.monotonic() < deadline:
        busy = psutil.cpu_percent(interval=1.0)
    return busy


def _wrap(command: list[str], report: Path) -> list[str]:
    if GNU_TIME.exists():
        return [str(GNU_TIME), "-v", "-o", str(report), *command]
    return command


def _read_maxrss_kb(report: Path) -> int:
    if not report.exists():
        return 0
    match = _MAXRSS.search(report.read_text())
    return int(match.group(1)) if match else 0


def child_env(repo_root: Path) -> dict[str, str]:
    """The environment for peers: this one plus ``bench`` importable from ``repo_root``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo_root), env.get("PYTHONPATH")]))
    return env
