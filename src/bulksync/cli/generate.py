"""``bulksync generate``: a realistic betting dataset (seed 001's tables) into SQLite or PostgreSQL."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated

import typer

from bulksync.errors import UsageError


def generate(
    dest: Annotated[str, typer.Argument(help="SQLite path/URL or postgresql:// DSN to fill")],
    scale: Annotated[
        str, typer.Option("--scale", "-s", help="small (~0.56M rows) | medium | large | xlarge")
    ] = "small",
    seed: Annotated[int, typer.Option("--seed", help="same seed → same data")] = 42,
    table: Annotated[
        list[str] | None, typer.Option("--table", "-t", help="only these tables (repeatable)")
    ] = None,
    rows: Annotated[
        int | None,
        typer.Option("--rows", min=1, help="row count for the (single) --table, e.g. 1000000"),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="the last day of the data, YYYY-MM-DD (default: today, UTC): a year of bets, odds "
            "and matches ends that day; the same --seed and --until give the same rows",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print rows per table as JSON")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress output")] = False,
) -> None:
    """Generate players, matches, bets, odds and statcast with consistent relationships.

    A SQLite file that does not exist yet is built under a temporary name next to it
    (DEST.partial-PID), without journal or fsync, and renamed to DEST once every row and index
    is in: if the command fails, there is no DEST, never a half-filled one (only a killed process
    can leave the temporary file behind). Into an existing SQLite file or a server database,
    the generated tables are dropped, recreated and filled one transaction per batch; other
    tables are left alone.
    """
    from bulksync.cli.plain import print_json, print_line, progress_view
    from bulksync.datagen import generate as run_generate
    from bulksync.engine.memory import MemoryGuard
    from bulksync.engine.progress import ProgressTracker

    if rows is not None and (not table or len(table) != 1):
        raise typer.BadParameter("--rows needs exactly one --table")
    override = {table[0]: rows} if rows is not None and table else None
    last_day = _day(until) if until else dt.datetime.now(dt.UTC).date()
    guard = MemoryGuard(max_mb=10**6)
    started = time.monotonic()
    with progress_view(enabled=not quiet) as view:
        tracker = ProgressTracker([view], guard.rss_mb)
        seen: dict[str, int] = {}

        def on_progress(name: str, done: int, total: int) -> None:
            if name not in seen:
                tracker.start(name, total=total, partitions=1)
                seen[name] = 0
            if done > seen[name]:
                tracker.advance(name, rows=done - seen[name], nbytes=0)
                seen[name] = done
            if done >= total:
                tracker.phase(name, "done")

        counts = run_generate(
            dest,
            scale=scale,
            seed=seed,
            tables=table,
            rows_override=override,
            on_progress=on_progress,
            until=last_day,
        )
    seconds = time.monotonic() - started
    total = sum(counts.values())
    if json_out:
        print_json(
            {
                "tables": counts,
                "rows": total,
                "seconds": round(seconds, 3),
                "rows_per_s": round(total / seconds, 1) if seconds else 0.0,
                "memory_peak_mb": round(guard.peak_mb, 1),
                "until": last_day.isoformat(),
            }
        )
    elif not quiet:
        print_line(
            f"generated {total:,} rows in {seconds:.2f}s ({total / max(seconds, 1e-9):,.0f} rows/s, "
            f"peak memory {guard.peak_mb:.0f} MB): "
            + ", ".join(f"{k} {v:,}" for k, v in counts.items())
            + f"; a year of activity up to {last_day.isoformat()}"
        )


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--until {text!r} is not a date: use YYYY-MM-DD, e.g. 2026-10-31") from None
