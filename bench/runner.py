"""Run one tool: reset the destination, measure the process, verify the row count, keep the best."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.context import Bench
from bench.measure import Measurement, measure


@dataclass
class Destination:
    """How to empty a destination before a run and count its rows after."""

    reset: Callable[[], None]
    count: Callable[[], int]


@dataclass
class Tool:
    """One competitor in one scenario: parallel command lines and the rows it must load."""

    name: str
    commands: list[list[str]]
    dest: Destination
    rows: int
    setup: Callable[[], object] | None = None  # untimed, once, before the first attempt


@dataclass
class Result:
    """The best attempt of a tool, or why it FAILED."""

    tool: str
    rows: int
    seconds: float | None = None
    peak_rss_mb: float | None = None
    error: str | None = None
    reported: Any = None  # the tool's own JSON on stdout, if it printed any
    attempts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and self.seconds is not None

    @property
    def rows_per_s(self) -> float | None:
        return self.rows / self.seconds if self.ok and self.seconds else None

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "rows_per_s": self.rows_per_s, "ok": self.ok}


def run_tool(bench: Bench, tool: Tool) -> Result:
    """Best of ``bench.repeat`` attempts; any failed attempt makes the tool FAILED."""
    result = Result(tool=tool.name, rows=tool.rows)
    if tool.setup is not None:
        try:
            tool.setup()
        except (SystemExit, subprocess.CalledProcessError) as exc:
            result.error = f"setup failed: {_setup_error(exc)}"
            print(f"  {tool.name} FAILED: {result.error}", file=sys.stderr, flush=True)
            return result
    for attempt in range(1, bench.repeat + 1):
        tool.dest.reset()
        run = measure(tool.commands, env=bench.env)
        error = _failure(run, tool)
        result.attempts.append(
            {"seconds": run.seconds, "peak_rss_mb": run.peak_rss_mb, "error": error}
        )
        _progress(tool.name, attempt, bench.repeat, run, error)
        if error is not None:
            result.error = error
        elif result.seconds is None or run.seconds < result.seconds:
            result.seconds, result.peak_rss_mb = run.seconds, run.peak_rss_mb
            result.reported = _parse_json(run.stdout)
    if result.error is not None:
        result.seconds = result.peak_rss_mb = None
    return result


def _setup_error(exc: SystemExit | subprocess.CalledProcessError) -> str:
    if isinstance(exc, subprocess.CalledProcessError):
        stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
        return f"{shlex.join(map(str, exc.cmd))}: {_error_line(stderr)}"
    return str(exc.code)


def _failure(run: Measurement, tool: Tool) -> str | None:
    if not run.ok:
        return f"exit {max(run.returncodes, key=abs)}: {_error_line(run.stderr)}"
    loaded = tool.dest.count()
    if loaded != tool.rows:
        return f"loaded {loaded:,} rows, expected {tool.rows:,}"
    return None


def _error_line(stderr: str) -> str:
    """A traceback's last line (the exception), otherwise the first line (a CLI's message)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return "no error output"
    return lines[-1] if lines[0].startswith("Traceback") else lines[0]


def _parse_json(stdout: str) -> Any:
    for text in (stdout, *reversed(stdout.strip().splitlines())):
        try:
            return json.loads(text)
        except ValueError:
            continue
    return None


def _progress(name: str, attempt: int, of: int, run: Measurement, error: str | None) -> None:
    status = f"FAILED: {error}" if error else f"{run.seconds:.2f} s, {run.peak_rss_mb:.0f} MB"
    print(f"  {name} [{attempt}/{of}] {status}", file=sys.stderr, flush=True)
