"""Drawing progress and results with Rich: bars on a terminal, tables and summaries.

Where nothing is drawn (stderr not a terminal), progress, JSON, warnings and errors are
``plain.py``'s and this module is not imported.

Nothing is ever cut: where output is not a terminal (a pipe, a log, CI) lines are as long as
they need to be, and a table too wide for the terminal it is drawn on becomes one line per row
instead of columns whose numbers end in "…".
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column, Table
from rich.text import Text

from bulksync.cli.plain import ProgressLog, up_to_date
from bulksync.engine.progress import ProgressEvent
from bulksync.engine.result import SyncResult

if TYPE_CHECKING:  # verify's modules load only when verify runs (start-up time)
    from bulksync.recipes.stores_result import StoreProgress, StoresResult
    from bulksync.verification.result import VerifyResult

_NARROW = 120  # columns under which progress bars shrink to leave their figures whole
_UNBOUNDED = 1_000_000  # columns of a console that is not a terminal: lines are never cut or wrapped


def _console(*, stderr: bool) -> Console:
    """A terminal's own width; anywhere else (a pipe, a file, CI) no width limit at all."""
    console = Console(stderr=stderr, highlight=False)
    if console.is_terminal:
        return console
    return Console(stderr=stderr, highlight=False, width=_UNBOUNDED)


err = _console(stderr=True)
out = _console(stderr=False)


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        rate = task.fields.get("rate", 0.0)
        return Text(f"{rate:,.0f} rows/s", style="cyan")


class _RowsColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        if task.fields.get("up_to_date"):
            return Text("no new rows", style="green")
        total = int(task.total or 0)
        return Text(f"{int(task.completed):,}/{total:,}", style="green")


class _MemColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.fields.get('rss', 0.0):.0f} MB", style="magenta")


class ProgressView:
    """A listener for ProgressEvents: one bar per table on a terminal, else plain.ProgressLog's
    lines."""

    def __init__(
        self,
        *,
        enabled: bool = True,
        log_every_s: float = 5.0,
        log_every_rows: int | None = None,
        busy_phases: tuple[str, ...] = ("copying",),
    ) -> None:
        self.enabled = enabled
        self._busy = busy_phases  # the phase of a table at work: unlabelled bar, throttled log
        self.live = enabled and err.is_terminal
        self._log = ProgressLog(
            enabled=enabled, log_every_s=log_every_s, log_every_rows=log_every_rows, busy_phases=busy_phases
        )
        self._lock = threading.Lock()
        self._tasks: dict[str, TaskID] = {}
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            # on a narrow terminal the bar takes what the figures leave, so no number is cut
            # ("300,000/300,0…"); on a wide one it keeps Rich's 40 columns
            BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=5))
            if err.width < _NARROW
            else BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            _RowsColumn(),
            _RateColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            _MemColumn(),
            console=err,
            transient=False,
            expand=err.width < _NARROW,
        )

    def __enter__(self) -> ProgressView:
        if self.live:
            self._progress.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.live:
            self._progress.stop()

    def __call__(self, event: ProgressEvent) -> None:
        if not self.enabled:
            return
        if self.live:
            self._update_bar(event)
        else:
            self._log(event)

    def _update_bar(self, e: ProgressEvent) -> None:
        with self._lock:
            label = f"{e.table} [{e.phase}]" if e.phase not in (*self._busy, "planned") else e.table
            if e.table not in self._tasks:
                self._tasks[e.table] = self._progress.add_task(label, total=max(e.rows_total, 1))
            total = e.rows_done if e.phase == "done" else max(e.rows_total, e.rows_done, 1)
            fresh = up_to_date(e)
            self._progress.update(
                self._tasks[e.table],
                description=f"{e.table} [up to date]" if fresh else label,
                completed=1 if fresh else e.rows_done,
                total=max(total, 1),
                rate=e.rows_per_s,
                rss=e.rss_mb,
                up_to_date=fresh,
            )


def print_table(
    console: Console,
    title: str,
    headers: tuple[str, ...],
    rows: Sequence[tuple[str, ...]],
    *,
    left: int = 1,
    show_header: bool = True,
) -> None:
    """A table (its first ``left`` columns left-aligned, the rest numbers, right-aligned) at its
    natural width; where that does not fit the terminal, one line per row, nothing cut."""
    table = Table(
        title=title,
        title_justify="left",
        show_header=show_header,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for n, header in enumerate(headers):
        table.add_column(header, justify="left" if n < left else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    # measured as if the screen had no edge: console.measure() stops at the console's width, so
    # a table wider than the terminal would "fit" and be drawn with every cell cut ("statca…")
    natural = Measurement.get(console, console.options.update_width(_UNBOUNDED), table).maximum
    if natural <= console.width:
        console.print(table)
        return
    console.print(title, soft_wrap=True, markup=False)
    for row in rows:  # "statcast: target: statcast_vn · mode: replace · …", wrapped between fields
        if not show_header:
            console.print(f"  {row[0]}: {row[1]}", markup=False, soft_wrap=True)
            continue
        fields = [f"{h}: {v}" for h, v in zip(headers[1:], row[1:], strict=True)]
        console.print(_fold(f"  {row[0]}:", fields, console.width), markup=False, soft_wrap=True)


def _fold(head: str, fields: list[str], width: int) -> str:
    """``head`` then ``fields`` joined by " · ", a new indented line before a field that would
    pass ``width`` (a field is never split)."""
    lines, line = [], head
    for field in fields:
        if len(line) + 3 + len(field) > width and line.strip():
            lines.append(line)
            line = "    " + field
        else:
            line += (" " if line == head else " · ") + field
    return "\n".join([*lines, line])


def print_summary(result: SyncResult) -> None:
    """The final summary: per table (its target only where one differs), then the totals."""
    rows: list[tuple[str, ...]] = [
        (
            t.table,
            t.target,
            t.mode,
            f"{t.rows_read:,}",
            f"{t.rows_written:,}",
            f"{t.rows_rejected:,}",
            f"{t.batches:,}",
            f"{t.duration_s:.2f}",
        )
        for t in result.tables
    ]
    headers: tuple[str, ...] = (
        "table",
        "target",
        "mode",
        "read",
        "written",
        "rejected",
        "batches",
        "seconds",
    )
    if all(t.target == t.table for t in result.tables):  # the usual case: no column repeating names
        headers, rows = headers[:1] + headers[2:], [row[:1] + row[2:] for row in rows]
    print_table(err, f"bulksync: {result.status}", headers, rows, left=3 if len(headers) == 8 else 2)
    current = [
        t.target for t in result.tables if t.status == "succeeded" and t.rows_read == 0 < t.estimated_rows
    ]
    if current:
        err.print(
            f"already up to date: no new rows since the last run in {', '.join(current)} "
            "(--restart copies everything again)",
            markup=False,
        )
    d = result.to_dict()
    err.print(
        f"total {d['total_rows']:,} · processed {d['processed_rows']:,} · "
        f"failed/rejected {d['failed_rows']:,} · batches {d['batch_count']:,} · "
        f"duration {d['duration_s']:.2f}s · avg batch {d['avg_batch_s'] * 1000:.0f} ms · "
        f"peak memory {d['memory_peak_mb']:.0f} MB · {d['rows_per_s']:,.0f} rows/s"
    )
    for t in result.tables:
        if t.mode in ("upsert", "incremental") and t.rows_written:
            err.print(
                f"{t.target}: {t.rows_inserted:,} inserted · {t.rows_updated:,} updated · "
                f"{t.rows_unchanged:,} unchanged",
                markup=False,
                soft_wrap=True,
            )
    for t in result.tables:
        if t.verified is not None:
            err.print(f"{t.table}: verify: {t.verified}", markup=False, soft_wrap=True)
    if result.recorded_rows:
        nulled = sum(t.values_nulled for t in result.tables)
        what = [f"{result.failed_rows:,} rejected rows"] if result.failed_rows else []
        if nulled:
            what.append(f"{nulled:,} values loaded as NULL")
        err.print(
            f"{' and '.join(what)}: each is in the destination's {result.rejects_at or 'reject'} table "
            "with its key, the column and the reason; they stay there until you delete them",
            style="yellow",
            markup=False,
            soft_wrap=True,
        )
    _print_constraints(result)


_ORPHANS_KEPT = {
    "created NOT VALID": "created NOT VALID",
    "created unchecked": "created without checking them",
    "declared": "declared; SQLite checks keys only with PRAGMA foreign_keys=ON",
}


def _print_constraints(result: SyncResult) -> None:
    """Foreign keys made, and one line per key with orphan rows or refused, per table left out."""
    keys = [fk for t in result.tables for fk in t.foreign_keys]
    if keys:
        made = sum(1 for fk in keys if fk["status"] != "failed")
        err.print(f"foreign keys: {made:,} of {len(keys):,} in place")
    for t in result.tables:
        for fk in t.foreign_keys:
            if fk["status"] == "failed":
                line = f"{t.target}: fk {fk['name']} not created: {fk['error']}"
            elif fk["orphans"]:
                how = _ORPHANS_KEPT.get(fk["status"], fk["status"])
                line = f"{t.target}: fk {fk['name']}: {fk['orphans']:,} orphan rows ({how})"
            else:
                continue
            err.print(line, style="yellow", soft_wrap=True, markup=False, highlight=False)
        if t.not_carried:
            err.print(
                f"{t.target}: not carried: {'; '.join(t.not_carried)}",
                style="yellow", soft_wrap=True, markup=False, highlight=False,
            )  # fmt: skip


def print_verify_summary(result: VerifyResult) -> None:
    from bulksync.verification.result import KIND_HELP

    """Per table: equal, or each kind of difference with its rows, key ranges and first keys."""
    headers = ("table", "→ target", "source rows", "dest rows", *KIND_HELP, "seconds")
    rows = [
        (
            t.table,
            t.target,
            f"{t.source_rows:,}",
            f"{t.dest_rows:,}",
            *(f"{t.findings[k].rows:,}" for k in KIND_HELP),
            f"{t.duration_s:.2f}",
        )
        for t in result.tables
    ]
    title = f"bulksync verify: {'equal' if result.equal else 'DIFFERENT'}"
    print_table(err, title, headers, rows, left=2)
    for t in result.tables:
        for kind, help_text in KIND_HELP.items():
            f = t.findings[kind]
            if not f.rows:
                continue
            ranges = ", ".join(f"{_key(lo)}..{_key(hi)}" for lo, hi in f.ranges[:5])
            more = len(f.ranges) - 5 + f.more_ranges
            err.print(
                f"{t.table}: {f.rows:,} {kind} ({help_text})"
                + (f"; key ranges {ranges}" + (f" and {more:,} more" if more > 0 else "") if ranges else "")
                + (f"; first: {', '.join(_key(k) for k in f.examples)}" if f.examples else ""),
                soft_wrap=True,
                markup=False,
            )
        for note in t.notes:
            err.print(f"{t.table}: {note}", soft_wrap=True, markup=False)
    rate = result.rows_compared / result.duration_s if result.duration_s > 0 else 0.0
    err.print(
        f"compared {result.rows_compared:,} rows in {result.duration_s:.2f}s ({rate:,.0f} rows/s per side) · "
        f"peak memory {result.memory_peak_mb:.0f} MB"
    )


def _key(key: tuple[Any, ...]) -> str:
    return "(" + ", ".join(str(v) for v in key) + ")" if len(key) != 1 else str(key[0])


def print_fields(title: str, fields: list[tuple[str, str]]) -> None:
    """A two-column summary (label, value) under a title, on stdout."""
    print_table(out, title, ("field", "value"), fields, show_header=False)


def print_warning(message: str) -> None:
    err.print(f"warning: {message}", style="yellow", markup=False, highlight=False)


def print_error(message: str) -> None:
    err.print(f"[bold red]error:[/bold red] {message}", soft_wrap=True)


# -- store syncs: a bar of stores (not the rows/bytes of ProgressEvent), seed 004's JSON lines --


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
                TimeElapsedColumn(), console=Console(stderr=True, highlight=False),
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
    if result.note:
        out.print(result.note, markup=False)
    if result.resumed:
        out.print(f"resumed run {result.run_id}: {result.skipped} stores were already done")
    for f in result.failures:
        out.print(f"  {f.code}: {f.message} ({f.requests} requests)", markup=False)
