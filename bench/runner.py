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
from bench.measure import Measurement, measure, wait_for_quiet


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
    busy_pct: float | None = None  # CPU use by others just before the kept attempt
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
    if tool.setup is not None and (error := _prepare(tool.setup)) is not None:
        result.error = f"setup failed: {error}"
        print(f"  {tool.name} FAILED: {result.error}", file=sys.stderr, flush=True)
        return result
    for attempt in range(1, bench.repeat + 1):
        tried = _attempt(bench, tool)
        result.attempts.append(tried)
        _progress(tool.name, attempt, bench.repeat, tried)
        if tried["error"] is not None:
            result.error = tried["error"]
            if tried.get("timed_out"):
                break  # another attempt would only time out again
        elif result.seconds is None or tried["seconds"] < result.seconds:
            result.seconds, result.peak_rss_mb = tried["seconds"], tried["peak_rss_mb"]
            result.busy_pct, result.reported = tried["busy_pct"], tried["reported"]
    if result.error is not None:
        result.seconds = result.peak_rss_mb = None
    return result


def _attempt(bench: Bench, tool: Tool) -> dict[str, Any]:
    tried: dict[str, Any] = {"seconds": None, "peak_rss_mb": None, "busy_pct": None}
    if (error := _prepare(tool.dest.reset)) is not None:
        return {**tried, "error": f"resetting the destination failed: {error}", "reported": None}
    tried["busy_pct"] = wait_for_quiet(bench.quiet_wait_s) if bench.quiet_wait_s > 0 else None
    run = measure(tool.commands, env=bench.env, timeout_s=bench.timeout_s)
    return {
        **tried,
        "timed_out": run.timed_out,
        "seconds": run.seconds,
        "peak_rss_mb": run.peak_rss_mb,
        "error": _failure(run, tool),
        "reported": _parse_json(run.stdout),
    }


def _prepare(step: Callable[[], object]) -> str | None:
    """Run an untimed preparation step; say why it failed, or None."""
    try:
        step()
    except subprocess.CalledProcessError as exc:
        stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
        return f"{shlex.join(map(str, exc.cmd))}: {_error_line(stderr)}"
    except SystemExit as exc:
        return str(exc.code)
    return None


def _failure(run: Measurement, tool: Tool) -> str | None:
    if run.timed_out:
        return f"timed out after {run.seconds:.0f} s (killed; raise --timeout to wait longer)"
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


def _progress(name: str, attempt: int, of: int, tried: dict[str, Any]) -> None:
    if tried["error"] is not None:
        status = f"FAILED: {tried['error']}"
    else:
        status = f"{tried['seconds']:.2f} s, {tried['peak_rss_mb']:.0f} MB"
    if tried["busy_pct"] is not None:
        status += f" (CPU {tried['busy_pct']:.0f}% busy before)"
    print(f"  {name} [{attempt}/{of}] {status}", file=sys.stderr, flush=True)
