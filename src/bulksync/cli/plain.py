"""Output where nothing is drawn: JSON, warnings, errors and progress as plain lines.

Where stderr is not a terminal (a pipe, a log file, CI) nothing needs Rich, which costs a
command 0.03 s to import: ``copy --json`` and ``copy --quiet`` never load it. On a terminal
(or with TTY_COMPATIBLE=1 / FORCE_COLOR, as Rich decides) the same calls go to ``render.py``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    from bulksync.engine.progress import ProgressEvent


class ProgressListener(Protocol):
    """What a command passes to the engine as its progress view (a context manager)."""

    def __enter__(self) -> ProgressListener: ...
    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    def __call__(self, event: ProgressEvent) -> None: ...


def is_terminal(stream: TextIO) -> bool:
    """Whether Rich would draw on ``stream``: the environment's word first (TTY_COMPATIBLE,
    then FORCE_COLOR, as rich.console.Console.is_terminal reads them), else ``isatty()``."""
    tty_compatible = os.environ.get("TTY_COMPATIBLE", "")
    if tty_compatible in ("0", "1"):
        return tty_compatible == "1"
    force_color = os.environ.get("FORCE_COLOR")
    if force_color is not None:
        return force_color != ""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def print_json(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, default=str, indent=2) + "\n")
    sys.stdout.flush()


def print_line(message: str) -> None:
    """One line on stderr, as it is (no markup, never cut)."""
    print(message, file=sys.stderr, flush=True)


def print_warning(message: str) -> None:
    if is_terminal(sys.stderr):
        from bulksync.cli.render import print_warning as drawn

        drawn(message)
        return
    print_line(f"warning: {message}")


def print_error(message: str) -> None:
    if is_terminal(sys.stderr):
        from bulksync.cli.render import print_error as drawn

        drawn(message)
        return
    print_line(f"error: {message}")


def progress_view(
    *,
    enabled: bool = True,
    log_every_s: float = 5.0,
    log_every_rows: int | None = None,
    busy_phases: tuple[str, ...] = ("copying",),
) -> ProgressListener:
    """Bars on a terminal (``render.ProgressView``), else a log line every few seconds."""
    if enabled and is_terminal(sys.stderr):
        from bulksync.cli.render import ProgressView

        return ProgressView(log_every_s=log_every_s, log_every_rows=log_every_rows, busy_phases=busy_phases)
    return ProgressLog(
        enabled=enabled, log_every_s=log_every_s, log_every_rows=log_every_rows, busy_phases=busy_phases
    )


def up_to_date(e: ProgressEvent) -> bool:
    """A table done without a row to move while its source has some: earlier runs (append,
    incremental) delivered them all. Not a failure at 0 %: nothing was new."""
    return e.phase == "done" and e.rows_done == 0 < e.rows_total


class ProgressLog:
    """A listener for ProgressEvents: a line per table every few seconds (or every N rows)
    while it is busy, and one at each change of phase."""

    def __init__(
        self,
        *,
        enabled: bool = True,
        log_every_s: float = 5.0,
        log_every_rows: int | None = None,
        busy_phases: tuple[str, ...] = ("copying",),
    ) -> None:
        self.enabled = enabled
        self._busy = busy_phases  # the phase of a table at work: its lines are throttled
        self._log_every = log_every_s
        self._log_rows = log_every_rows  # log lines every N rows instead of every few seconds
        self._last_log: dict[str, float] = {}
        self._logged_rows: dict[str, int] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> ProgressLog:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def __call__(self, event: ProgressEvent) -> None:
        if self.enabled and self._due(event):
            print_line(progress_line(event))

    def _due(self, e: ProgressEvent) -> bool:
        now = time.monotonic()
        with self._lock:
            if e.phase in self._busy:
                if self._log_rows is not None:
                    if e.rows_done - self._logged_rows.get(e.table, 0) < self._log_rows:
                        return False
                elif e.table in self._last_log and now - self._last_log[e.table] < self._log_every:
                    return False
            self._last_log[e.table] = now
            self._logged_rows[e.table] = e.rows_done
        return True


def progress_line(e: ProgressEvent) -> str:
    """``bets: copying 40,000/100,000 rows (40.0%) 197,647 rows/s ETA 3s RSS 154 MB``."""
    if up_to_date(e):
        return f"{e.table}: already up to date: no new rows since the last run"
    eta = f"{e.eta_s:.0f}s" if e.eta_s is not None else "?"
    return (
        f"{e.table}: {e.phase} {e.rows_done:,}/{e.rows_total:,} rows ({e.percent:.1f}%) "
        f"{e.rows_per_s:,.0f} rows/s ETA {eta} RSS {e.rss_mb:.0f} MB"
        + (f" rejected {e.rejected:,}" if e.rejected else "")
        + (f" — {e.message}" if e.message else "")
    )
