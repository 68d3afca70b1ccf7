"""Seed 000's bet sync: settings with the seed's names and defaults, ranges, channels, the spec."""

from __future__ import annotations

import datetime as dt

import pytest

from bulksync.engine.result import SyncResult, TableResult
from bulksync.errors import UsageError
from bulksync.recipes import bets as recipe
from bulksync.settings import BetSyncSettings, Settings
from bulksync.spec import Filter, Mode

DAY = dt.date(2025, 11, 21)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("BET_SYNC_", "BULKSYNC_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(str(tmp_path))  # no stray .env file


def test_defaults_are_the_seeds() -> None:
    s = BetSyncSettings()
    assert (s.chunk_size, s.batch_size, s.background_threshold, s.memory_warning) == (1000, 500, 10_000, 256)
    assert (s.source_connection, s.destination_table, s.default_channel) == ("dk", "bets", "VN")
    assert s.allowed_channels == ["VN", "TH", "MY", "PH"]
    assert (s.job_timeout, s.job_tries, s.progress_interval, s.enable_progress_log) == (3600, 3, 5000, True)


def test_environment_variables_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BET_SYNC_CHUNK_SIZE", "2000")
    monkeypatch.setenv("BET_SYNC_BATCH_SIZE", "250")
    monkeypatch.setenv("BET_SYNC_ALLOWED_CHANNELS", "vn, th ,KR")
    monkeypatch.setenv("BET_SYNC_DEFAULT_CHANNEL", "")
    monkeypatch.setenv("BET_SYNC_ENABLE_PROGRESS_LOG", "false")
    s = BetSyncSettings()
    assert (s.chunk_size, s.batch_size) == (2000, 250)
    assert s.allowed_channels == ["VN", "TH", "KR"]
    assert s.default_channel is None  # empty: every channel
    assert s.enable_progress_log is False


def test_a_bad_setting_is_refused_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("BET_SYNC_CHUNK_SIZE", "0")
    with pytest.raises(ValidationError, match="chunk_size"):
        BetSyncSettings()


def test_named_connections_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BULKSYNC_CONNECTIONS__DK", "mysql://sync:s3cret@db1/dk")
    s = Settings()
    assert s.connection("dk") == "mysql://sync:s3cret@db1/dk"
    assert s.resolve("DK") == "mysql://sync:s3cret@db1/dk"
    assert s.resolve("/data/x.db") == "/data/x.db"
    assert "s3cret" not in repr(s)  # a SecretStr: never printed by accident
    with pytest.raises(UsageError) as caught:
        s.connection("warehouse", role="destination connection")
    assert "BULKSYNC_CONNECTIONS__WAREHOUSE" in caught.value.message
    assert "s3cret" not in caught.value.message and "dk" in caught.value.message


def test_ranges() -> None:
    s = BetSyncSettings()
    assert recipe.resolve_range(s, now=DAY) == recipe.BetRange(DAY, DAY, "VN")
    week = recipe.resolve_range(s, days_back=7, channel="th", now=DAY)
    assert (week.start, week.end, week.channel) == (dt.date(2025, 11, 14), DAY, "TH")
    span = recipe.resolve_range(s, start_date="2025-11-01", end_date="2025-11-20", now=DAY)
    assert (span.start, span.end, span.label) == (
        dt.date(2025, 11, 1),
        dt.date(2025, 11, 20),
        "2025-11-01..2025-11-20",
    )
    open_end = recipe.resolve_range(s, start_date="2025-11-19", now=DAY)
    assert (open_end.start, open_end.end) == (dt.date(2025, 11, 19), DAY)
    assert recipe.resolve_range(s, channel="all", now=DAY).channel is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start_date": "2025-11-20", "end_date": "2025-11-01"}, "is before --start-date"),
        ({"start_date": "2025-13-01"}, "is not a date"),
        ({"start_date": "yesterday"}, "is not a date"),
        ({"end_date": "2025-11-01"}, "needs --start-date"),
        ({"days_back": 3, "start_date": "2025-11-01"}, "either --days-back"),
        ({"days_back": -1}, "0 or more"),
        ({"channel": "KR"}, "not allowed (allowed: VN, TH, MY, PH"),
        ({"channel": "VN'; DROP TABLE bets; --"}, "not allowed"),
    ],
)
def test_bad_requests_are_refused_clearly(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        recipe.resolve_range(BetSyncSettings(), now=DAY, **kwargs)  # type: ignore[arg-type]


def test_the_spec_upserts_whole_days_of_one_channel_with_the_seeds_sizes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BULKSYNC_CONNECTIONS__DK", "mysql://root@127.0.0.1/dk")
    monkeypatch.setenv("BULKSYNC_CONNECTIONS__DEFAULT", "postgresql://postgres@127.0.0.1/app")
    bets = BetSyncSettings()
    days = recipe.BetRange(dt.date(2025, 11, 1), dt.date(2025, 11, 20), "VN")
    spec = recipe.build_spec(days, Settings(), bets)
    assert (spec.source, spec.destination, spec.mode) == (
        "mysql://root@127.0.0.1/dk",
        "postgresql://postgres@127.0.0.1/app",
        Mode.UPSERT,
    )
    # the seed's chunk is the fetch size; transactions are the engine's to size
    assert (spec.fetch_rows, spec.batch_rows, spec.chunk_rows) == (1000, 500, None)
    (table,) = spec.tables
    assert (table.name, table.target) == ("bets", "bets")
    assert table.filters == (
        Filter(column="placed_at", op="ge", value="2025-11-01"),
        Filter(column="placed_at", op="lt", value="2025-11-21"),  # the end day is included
        Filter(column="channel", op="eq", value="VN"),
    )
    assert recipe.build_spec(days, Settings(), bets, chunk_size=50_000, batch_size=5000).fetch_rows == 50_000


def test_the_summary_has_the_seeds_fields() -> None:
    result = SyncResult(
        tables=[TableResult(table="bets", target="bets", mode="upsert", rows_read=15420, rows_written=15420)],
        duration_s=2.0,
        memory_peak_mb=180.0,
    )
    days = recipe.BetRange(DAY, DAY, None)
    from bulksync.spec import SyncSpec, TableSpec

    spec = SyncSpec(
        source="a.db", destination="b.db", tables=(TableSpec(name="bets"),), fetch_rows=1000, batch_rows=500
    )
    body = recipe.summary(days, result, spec)
    assert body["success"] is True and body["message"] == "Bets synced successfully"
    data = body["data"]
    assert isinstance(data, dict)
    assert data["date"] == "2025-11-21" and data["total_records"] == 15420 and data["channel"] == "ALL"
    assert data["execution_time_seconds"] == 2.0
    assert data["performance"] == {
        "records_per_second": 7710.0,
        "chunk_size": 1000,
        "batch_size": 500,
        "peak_memory_mb": 180.0,
    }


def test_memory_warning_fires_once() -> None:
    from bulksync.engine.progress import ProgressEvent

    said: list[str] = []
    warn = recipe.MemoryWarning(256, said.append)
    for rss in (100.0, 300.0, 400.0):
        warn(ProgressEvent("bets", "copying", 1, 2, 3, 0.1, 1.0, None, rss, 1))
    assert len(said) == 1 and "BET_SYNC_MEMORY_WARNING=256" in said[0]


def test_memory_warning_counts_the_syncs_own_memory_not_the_servers() -> None:
    """In ``bulksync serve`` the process is ~300 MB before a request: a 256 MB warning on the
    process's size would fire on every request. What the sync adds is what counts."""
    from bulksync.engine.progress import ProgressEvent

    said: list[str] = []
    warn = recipe.MemoryWarning(256, said.append)
    for rss in (310.0, 380.0, 540.0):  # the server's 310 MB, then the sync's batches
        warn(ProgressEvent("bets", "copying", 1, 2, 3, 0.1, 1.0, None, rss, 1))
    assert said == []
    warn(ProgressEvent("bets", "copying", 1, 2, 3, 0.1, 1.0, None, 600.0, 1))
    assert len(said) == 1 and "grew by 290 MB (to 600 MB)" in said[0]
