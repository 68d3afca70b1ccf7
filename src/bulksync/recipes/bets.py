"""Seed 000's bet sync: bets of a day or a date range (optionally one channel) from the configured
source connection into the destination ``bets`` table, upserted on the bet id.

This module turns a request (dates, channel, sizes) and the settings into a ``SyncSpec`` and a
result into the seed's summary. It never touches a database itself: ``bulksync.sync`` does.
Re-running a range is idempotent (upsert on the key): one copy of each bet, changed bets updated.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

from bulksync.engine.progress import ProgressEvent
from bulksync.engine.result import SyncResult
from bulksync.errors import UsageError
from bulksync.settings import BetSyncSettings, Settings
from bulksync.spec import Filter, Mode, SyncSpec, TableSpec

ALL_CHANNELS = "ALL"


@dataclass(frozen=True)
class BetRange:
    """Whole calendar days ``start``..``end`` (both included), one channel or all (None)."""

    start: dt.date
    end: dt.date
    channel: str | None

    @property
    def label(self) -> str:
        days = self.start.isoformat()
        return days if self.start == self.end else f"{days}..{self.end.isoformat()}"

    def filters(self, bets: BetSyncSettings) -> tuple[Filter, ...]:
        """Bound parameters: ``date_column`` in [start, end + 1 day), and the channel if one."""
        found: tuple[Filter, ...] = (
            Filter(column=bets.date_column, op="ge", value=self.start.isoformat()),
            Filter(column=bets.date_column, op="lt", value=(self.end + dt.timedelta(days=1)).isoformat()),
        )
        if self.channel is not None:
            found = (*found, Filter(column=bets.channel_column, op="eq", value=self.channel))
        return found


def parse_day(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a date: use YYYY-MM-DD, e.g. 2025-11-20") from None


def today(bets: BetSyncSettings) -> dt.date:
    return dt.datetime.now(zoneinfo.ZoneInfo(bets.timezone)).date()


def resolve_range(
    bets: BetSyncSettings,
    *,
    start_date: str | None = None,
    end_date: str | None = None,
    days_back: int | None = None,
    channel: str | None = None,
    now: dt.date | None = None,
) -> BetRange:
    """The days and channel a request means, or a clear ``UsageError``.

    No dates: today. ``--start-date`` alone: up to today. ``--days-back N``: the N days before
    today and today. ``--end-date`` alone and end-before-start are refused.
    """
    day = now or today(bets)
    if days_back is not None and (start_date or end_date):
        raise UsageError("use either --days-back or --start-date/--end-date, not both")
    if days_back is not None:
        if days_back < 0:
            raise UsageError(f"--days-back must be 0 or more, not {days_back}")
        start, end = day - dt.timedelta(days=days_back), day
    elif start_date:
        start = parse_day(start_date, "--start-date")
        end = parse_day(end_date, "--end-date") if end_date else day
    elif end_date:
        raise UsageError("--end-date needs --start-date (the first day of the range)")
    else:
        start = end = day
    if end < start:
        raise UsageError(
            f"--end-date {end.isoformat()} is before --start-date {start.isoformat()}: "
            "the range would be empty"
        )
    return BetRange(start, end, pick_channel(bets, channel))


def pick_channel(bets: BetSyncSettings, channel: str | None) -> str | None:
    """The channel to filter on (None: every channel); refused if it is not an allowed one."""
    wanted = channel.strip().upper() if channel is not None else bets.default_channel
    if wanted is None or wanted == ALL_CHANNELS:
        return None
    if wanted not in bets.allowed_channels:
        allowed = ", ".join(bets.allowed_channels)
        raise UsageError(
            f"channel {wanted!r} is not allowed (allowed: {allowed}, or {ALL_CHANNELS}); "
            "BET_SYNC_ALLOWED_CHANNELS sets the list"
        )
    return wanted


def build_spec(
    days: BetRange,
    settings: Settings,
    bets: BetSyncSettings,
    *,
    chunk_size: int | None = None,
    batch_size: int | None = None,
    workers: int = 2,
    max_memory_mb: int = 512,
) -> SyncSpec:
    """The upsert of ``days`` from the source connection into the destination bets table."""
    return SyncSpec(
        source=settings.connection(
            bets.source_connection, role="source connection (BET_SYNC_SOURCE_CONNECTION)"
        ),
        destination=settings.connection(
            bets.destination_connection, role="destination connection (BET_SYNC_DESTINATION_CONNECTION)"
        ),
        tables=(
            TableSpec(
                name=bets.source_table,
                dest_name=bets.destination_table,
                order_by=bets.date_column,  # walk the date index, not the whole id range
                filters=days.filters(bets),
            ),
        ),
        mode=Mode.UPSERT,
        workers=workers,
        max_memory_mb=max_memory_mb,
        # the seed's chunk: bets fetched from the source at a time; its batch: bets per write
        # statement. Transactions (each with its checkpoint) are sized by the engine.
        fetch_rows=chunk_size or bets.chunk_size,
        batch_rows=batch_size or bets.batch_size,
    )


def summary(days: BetRange, result: SyncResult, spec: SyncSpec) -> dict[str, object]:
    """Seed 000's response body (``success``, ``message``, ``data``) plus channel and memory."""
    data: dict[str, object] = (
        {"date": days.start.isoformat()}
        if days.start == days.end
        else {"start_date": days.start.isoformat(), "end_date": days.end.isoformat()}
    )
    data.update(
        channel=days.channel or ALL_CHANNELS,
        total_records=result.processed_rows,
        failed_records=result.failed_rows,
        execution_time_seconds=round(result.duration_s, 2),
        performance={
            "records_per_second": round(result.rows_per_s, 2),
            "chunk_size": spec.fetch_rows,
            "batch_size": spec.batch_rows,
            "peak_memory_mb": round(result.memory_peak_mb, 1),
        },
    )
    ok = result.status == "succeeded"
    return {"success": ok, "message": "Bets synced successfully" if ok else "Bet sync failed", "data": data}


class MemoryWarning:
    """A progress listener that warns once when the sync's memory passes BET_SYNC_MEMORY_WARNING.

    The seed measured a PHP request's own memory; here that is what the process grew by since
    the sync's first event. The process's whole size would count bulksync's libraries and, in
    ``bulksync serve``, the server itself (~300 MB): every request would warn.
    """

    def __init__(self, threshold_mb: int, warn: Callable[[str], None]) -> None:
        self.threshold_mb = threshold_mb
        self._warn = warn
        self._baseline: float | None = None
        self.fired = False

    def __call__(self, event: ProgressEvent) -> None:
        if self._baseline is None:
            self._baseline = event.rss_mb
        grown = event.rss_mb - self._baseline
        if not self.fired and grown > self.threshold_mb:
            self.fired = True
            self._warn(
                f"the sync's memory grew by {grown:.0f} MB (to {event.rss_mb:.0f} MB), above "
                f"BET_SYNC_MEMORY_WARNING={self.threshold_mb} MB (the sync goes on; --max-memory-mb "
                "is the hard limit)"
            )
