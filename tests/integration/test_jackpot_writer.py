"""The group-commit writer on a real PostgreSQL through the Python API: its pipelined
transaction, its gathering under load and its per-request timeout keep every contribution
counted exactly once (audit drift 0)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import psycopg
import pytest
from prometheus_client import CollectorRegistry

from bulksync.jackpot.audit import audit
from bulksync.jackpot.config import JackpotSettings
from bulksync.jackpot.ledger import init
from bulksync.jackpot.model import Contribution, Win
from bulksync.jackpot.service import JackpotService
from bulksync.jackpot.writer import JackpotUnavailable

pytestmark = pytest.mark.integration
PLACED = dt.datetime(2026, 12, 3, 12, tzinfo=dt.UTC)


def settings(**values: Any) -> JackpotSettings:
    return JackpotSettings(connection="ledger", redis_url=None, rate_per_minute=0, **values)


def ledger(url: str, jackpot: JackpotSettings) -> None:
    with psycopg.connect(url) as conn:
        init(conn, jackpot)


def contribution(i: int, wager_minor: int = 250) -> Contribution:
    return Contribution(f"c-{i}", "g1", wager_minor, PLACED)


def drift(url: str) -> tuple[int, int, list[str]]:
    """Summed drift of the pools, contributions in the ledger, wins the ledger does not explain."""
    with psycopg.connect(url) as conn:
        found = audit(conn)
    return sum(abs(p.drift_minor) for p in found.pools), found.contributions, found.bad_wins


def test_contributions_gathered_under_load_count_once_and_a_win_takes_the_ones_before_it(
    pg_db: str,
) -> None:
    jackpot = settings(commit_gather_ms=5.0)
    ledger(pg_db, jackpot)
    registry = CollectorRegistry()

    async def run() -> tuple[list[list[str]], Any]:
        service = JackpotService(jackpot, pg_db, registry=registry)
        await service.start()
        try:
            # requests arriving over time, ten at a time; the win and, while it waits, the same
            # ids again (a client retrying) and new ones: they share its transaction
            ids = [*range(300), *range(0, 300, 3), *range(300, 600)]
            tasks: list[asyncio.Task[Any]] = []
            for n, i in enumerate(ids):
                if n == 300:
                    win = asyncio.create_task(service.win(Win("w-1", "mini", "player-1")))
                tasks.append(asyncio.create_task(service.contribute([contribution(i)])))
                if n % 10 == 9:
                    await asyncio.sleep(0.001)
            return await asyncio.gather(*tasks), await win
        finally:
            await service.stop()

    outcomes, paid = asyncio.run(run())
    assert outcomes[:300] == [["applied"]] * 300
    assert outcomes[300:400] == [["duplicate"]] * 100
    assert outcomes[400:] == [["applied"]] * 300
    assert paid.status == "paid" and paid.paid_minor > 0
    commits = registry.get_sample_value("bulksync_jackpot_commit_rows_count")
    assert commits is not None and commits < 100  # 700 requests gathered into few transactions
    assert drift(pg_db) == (0, 600, [])


def test_a_request_not_committed_in_time_is_unavailable_and_its_retry_counts_once(pg_db: str) -> None:
    jackpot = settings(request_timeout_s=0.5)
    ledger(pg_db, jackpot)

    async def run() -> tuple[str, list[str], float]:
        service = JackpotService(jackpot, pg_db)
        await service.start()
        blocker = await psycopg.AsyncConnection.connect(pg_db)
        try:
            # another server's transaction holds the pools: the writer waits behind it
            await blocker.execute("SELECT 1 FROM jackpot.pools FOR UPDATE")
            started = asyncio.get_running_loop().time()
            with pytest.raises(JackpotUnavailable) as refused:
                await service.contribute([contribution(1)])
            waited = asyncio.get_running_loop().time() - started
            await blocker.rollback()  # the writer's transaction goes on and commits it
            retried = await service.contribute([contribution(1)])
            return refused.value.message, retried, waited
        finally:
            await blocker.close()
            await service.stop()

    message, retried, waited = asyncio.run(run())
    assert "did not commit within 0.5 s: retry with the same ids" in message
    assert 0.45 < waited < 2.0
    assert retried == ["duplicate"]
    assert drift(pg_db) == (0, 1, [])


def test_gathering_is_a_setting_with_bounds() -> None:
    assert settings().commit_gather_ms == 2.0
    with pytest.raises(ValueError, match="commit_gather_ms"):
        settings(commit_gather_ms=-1)
