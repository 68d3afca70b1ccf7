"""Drawing a store sync: a Rich bar of stores on a terminal, seed 004's JSON lines otherwise.

(Rich is imported here as well as in ``render.py``: the store bar counts stores, requests and
records, not the rows/bytes of the engine's ``ProgressEvent``.)
"""

from __future__ import annotations

import json
import sys
import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from bulksync.recipes.stores_result import StoreProgress, StoresResult

_err = Console(stderr=True, highlight=False)


class StoresView:
    """A listener for StoreProgress: a bar on a terminal, a 'Sync progress' line every few seconds."""

    def __init__(self, *, enabled: bool = True, log_every_s: float = 5.0) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.log_every_s = log_every_s
        self._last_log = 0.0
        self._last_processed = -1
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> StoresView:
        if self.enabled and self.tty:
            self._bar = Progress(
                TextColumn("stores"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.percentage:>3.0f}%"), TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(), console=_err,
            )  # fmt: skip
            self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __call__(self, p: StoreProgress) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            detail = f"{p.records:,} records · {p.as_dict()['requests_per_s']} req/s · {p.failed} failed"
            if self._task is None:
                self._task = self._bar.add_task("stores", total=p.total, detail=detail)
            self._bar.update(self._task, completed=p.processed, detail=detail)
            return
        now = time.monotonic()
        if p.processed != self._last_processed and (
            now - self._last_log >= self.log_every_s or p.processed == p.total
        ):
            self._last_log, self._last_processed = now, p.processed
            print(json.dumps(p.as_dict()), file=sys.stderr, flush=True)


def print_stores_summary(result: StoresResult) -> None:
    """The run's headline, then one line per failed store with its reason and attempts."""
    out = Console(highlight=False)
    style = {"succeeded": "green", "partial": "yellow"}.get(result.status, "red")
    out.print(f"[{style}]{result.job_name} {result.status}[/]: {result.headline()} in {result.seconds:.1f} s")
    if result.resumed:
        out.print(f"resumed run {result.run_id}: {result.skipped} stores were already done")
    for f in result.failures:
        out.print(f"  {f.code}: {f.message} ({f.requests} requests)", markup=False)
