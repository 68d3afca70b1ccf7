"""The group-commit writer: one task per server that owns the pools' writes.

Requests wait in two queues, wins first. Whenever the previous transaction has committed, the
writer takes every waiting win and up to ``commit_max_rows`` contributions and writes them in
**one transaction**: lock every pool row (in name order, so servers sharing the ledger queue up
rather than deadlock), pay the wins, insert the contributions with ``ON CONFLICT DO NOTHING
RETURNING``, then one update of the pools from the rows actually inserted. Each request is
answered after that commit; a request answered "applied" is durable. The defined order: a win
counts every contribution committed before its transaction; contributions in the same
transaction go to the reset pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from bulksync.errors import PermanentError, TransientError
from bulksync.jackpot import musthit
from bulksync.jackpot.model import (
    POOL_COLUMNS,
    Contribution,
    Outcome,
    PoolState,
    Win,
    WinResult,
    WinStatus,
)

log = logging.getLogger("bulksync.jackpot")

_LOCK = f"SELECT {POOL_COLUMNS} FROM jackpot.pools ORDER BY name FOR UPDATE"
_INSERT = (
    "INSERT INTO jackpot.contributions (contribution_id, game_id, wager_minor, placed_at) "
    "SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::timestamptz[]) "
    "ON CONFLICT DO NOTHING RETURNING seq, contribution_id"
)
_KNOWN = (
    "SELECT contribution_id, game_id, wager_minor, placed_at FROM jackpot.contributions "
    "WHERE contribution_id = ANY(%s)"
)
_SET = (
    "UPDATE jackpot.pools p SET amount_minor = v.amount, version = %s, updated_at = now() "
    "FROM unnest(%s::text[], %s::bigint[]) AS v(name, amount) WHERE p.name = v.name"
)
_WINS = (
    "SELECT win_id, pool, user_id, requested_minor, paid_minor, before_minor, after_minor, won_at "
    "FROM jackpot.wins WHERE win_id = ANY(%s)"
)
_LAST_SEQ = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM jackpot.contribution_seq"
_PAY = (
    "INSERT INTO jackpot.wins (win_id, pool, user_id, requested_minor, paid_minor, before_minor,"
    " after_minor, last_seq, won_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_MUST_HIT = (
    "INSERT INTO jackpot.wins (win_id, pool, user_id, paid_minor, before_minor, after_minor, last_seq,"
    f" kind) VALUES (%s, %s, %s, %s, %s, %s, %s, '{musthit.KIND}')"
)


class JackpotUnavailable(TransientError):
    """The jackpot's database cannot be reached; retry with the same ids."""


class JackpotNotReady(PermanentError):
    """The jackpot's tables do not exist or predate this version: run `bulksync jackpot init`."""


@dataclass(slots=True)
class _Request:
    future: asyncio.Future[Any]
    contributions: list[Contribution] = field(default_factory=list)
    win: Win | None = None


@dataclass(frozen=True, slots=True)
class Commit:
    """What one transaction did, for the cache and the metrics."""

    pools: dict[str, PoolState]
    rows: int
    seconds: float
    outcomes: dict[str, int]
    must_hits: list[musthit.MustHit] = field(default_factory=list)


class Writer:
    """``submit_*`` enqueue and wait for the commit; ``run`` is the writer task."""

    def __init__(
        self,
        url: str,
        *,
        max_rows: int,
        queue_max: int,
        gather_s: float = 0.0,
        connect_timeout_s: int,
        on_commit: Callable[[Commit], Awaitable[None]],
    ) -> None:
        self.url, self.max_rows, self.queue_max, self.gather_s = url, max_rows, queue_max, gather_s
        self._last_commit = float("-inf")  # when the last transaction ended (monotonic)
        self.connect_timeout_s = connect_timeout_s
        self.on_commit = on_commit
        self.queued = 0  # contributions waiting
        self._wins: deque[_Request] = deque()
        self._contributions: deque[_Request] = deque()
        self._ready = asyncio.Event()
        self._win_waiting = asyncio.Event()
        self._conn: psycopg.AsyncConnection[Any] | None = None

    # -- the callers' side ----------------------------------------------------------------------

    def submit_contributions(self, items: list[Contribution]) -> asyncio.Future[list[Outcome]]:
        if self.queued + len(items) > self.queue_max:
            raise JackpotUnavailable(
                f"the jackpot's queue is full ({self.queued:,} contributions waiting): retry shortly"
            )
        request = _Request(asyncio.get_running_loop().create_future(), contributions=items)
        self._contributions.append(request)
        self.queued += len(items)
        self._ready.set()
        return request.future

    def submit_win(self, win: Win) -> asyncio.Future[WinResult]:
        request = _Request(asyncio.get_running_loop().create_future(), win=win)
        self._wins.append(request)
        self._ready.set()
        self._win_waiting.set()
        return request.future

    # -- the writer task --------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._wins or self._contributions:
                if self._busy():  # more requests join this commit; a win ends the wait
                    self._win_waiting.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._win_waiting.wait(), self.gather_s)
                wins = [r for r in self._drain_wins() if not r.future.done()]
                contributions = [r for r in self._take_contributions() if not r.future.done()]
                if wins or contributions:
                    await self._commit(wins, contributions)
                    self._last_commit = time.monotonic()

    def _busy(self) -> bool:
        """Whether to gather before committing: commits back to back, no win waiting, room left."""
        return (
            self.gather_s > 0
            and not self._wins
            and self.queued < self.max_rows
            and time.monotonic() - self._last_commit < self.gather_s
        )

    def _drain_wins(self) -> list[_Request]:
        taken = list(self._wins)
        self._wins.clear()
        return taken

    def _take_contributions(self) -> list[_Request]:
        taken: list[_Request] = []
        rows = 0
        while self._contributions:
            size = len(self._contributions[0].contributions)
            if taken and rows + size > self.max_rows:
                break
            taken.append(self._contributions.popleft())
            rows += size
        self.queued -= rows
        return taken

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = None
            try:
                self._conn = await psycopg.AsyncConnection.connect(
                    self.url, connect_timeout=self.connect_timeout_s,
                    options="-c statement_timeout=10000 -c lock_timeout=10000",
                )  # fmt: skip
            except psycopg.Error as exc:
                raise JackpotUnavailable(
                    f"the jackpot's database cannot be reached ({type(exc).__name__}): "
                    "retry with the same ids"
                ) from exc
        return self._conn

    async def _commit(self, wins: list[_Request], contributions: list[_Request]) -> None:
        started = time.perf_counter()
        try:
            conn = await self.connection()
            pools, answers, hits = await self._write(conn, wins, contributions)
        except (psycopg.Error, TransientError, PermanentError) as exc:
            failure = _failure(exc)
            if self._conn is not None and self._conn.broken:
                await self.close()
            for request in (*wins, *contributions):
                if not request.future.done():
                    request.future.set_exception(failure)
            return
        outcomes: dict[str, int] = {}
        for _, answer in answers:
            if isinstance(answer, list):
                for outcome in answer:
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1
        rows = sum(len(r.contributions) for r in contributions)
        try:  # the caches first: a client answered, then reading another server, sees this commit
            await self.on_commit(Commit(pools, rows, time.perf_counter() - started, outcomes, hits))
        except Exception:  # committed is committed: a cache or metric failing must not unanswer it
            log.exception("jackpot: after a commit")
        for request, answer in answers:
            if not request.future.done():
                request.future.set_result(answer)

    async def _write(
        self, conn: psycopg.AsyncConnection[Any], wins: list[_Request], contributions: list[_Request]
    ) -> tuple[dict[str, PoolState], list[tuple[_Request, Any]], list[musthit.MustHit]]:
        """One transaction in pipeline mode: without wins, BEGIN, the lock and the ledger insert
        go in one round trip, the pools' update and COMMIT in a second (five round trips before:
        on a busy machine each is a wake-up of PostgreSQL and of this process, and the commit's
        length is what a request waits for). A win reads the sequence before the contributions
        of its own transaction are inserted (they go to the reset pool), so with wins the insert
        waits for the payouts."""
        answers: list[tuple[_Request, Any]] = []
        hits: list[musthit.MustHit] = []
        async with conn.pipeline(), conn.transaction():
            cur = conn.cursor()
            await cur.execute(_LOCK)  # queued: sent with what follows
            if wins:
                pools = {r[0]: PoolState.from_row(r) for r in await cur.fetchall()}
                answers += await _pay(cur, pools, wins)
            inserted = conn.cursor()
            first = await _insert(inserted, contributions) if contributions else {}
            if not wins:
                pools = {r[0]: PoolState.from_row(r) for r in await cur.fetchall()}
            if contributions:
                applied, hits = await _apply(inserted, pools, contributions, first)
                answers += applied
            version = max(p.version for p in pools.values()) + 1
            for pool in pools.values():
                pool.version = version
            names = sorted(pools)
            await cur.execute(_SET, (version, names, [pools[n].amount_minor for n in names]))
        return pools, answers, hits


def _failure(exc: Exception) -> Exception:
    if isinstance(exc, pg_errors.UndefinedTable | pg_errors.UndefinedColumn):
        return JackpotNotReady()
    if isinstance(exc, TransientError | PermanentError):
        return exc
    if isinstance(exc, psycopg.OperationalError):
        log.warning("jackpot: database error, answering 503: %s", type(exc).__name__)
        return JackpotUnavailable(
            f"the jackpot's database failed mid-transaction ({type(exc).__name__}): "
            "nothing of it was applied; retry with the same ids"
        )
    log.error("jackpot: transaction failed: %s", " ".join(str(exc).split())[:300])
    return PermanentError(f"the jackpot's transaction failed ({type(exc).__name__}): nothing was applied")


async def _insert(cur: psycopg.AsyncCursor[Any], requests: list[_Request]) -> dict[str, Contribution]:
    """Queue the ledger insert of the first contribution of every id; those contributions."""
    first: dict[str, Contribution] = {}
    for request in requests:
        for c in request.contributions:
            first.setdefault(c.contribution_id, c)
    rows = list(first.values())
    await cur.execute(_INSERT, (
        _array(c.contribution_id for c in rows), _array(c.game_id for c in rows),
        "{" + ",".join(str(c.wager_minor) for c in rows) + "}",
        _array(c.placed_text or c.placed_at.isoformat() for c in rows),
    ))  # fmt: skip
    return first


async def _apply(
    cur: psycopg.AsyncCursor[Any],
    pools: dict[str, PoolState],
    requests: list[_Request],
    first: dict[str, Contribution],
) -> tuple[list[tuple[_Request, list[Outcome]]], list[musthit.MustHit]]:
    """The shares of the rows ``cur``'s insert put in the ledger; each request's outcomes."""
    seqs: dict[str, int] = {r[1]: r[0] for r in await cur.fetchall()}
    inserted = seqs.keys()
    known: dict[str, tuple[str, int, dt.datetime]] = {}
    if len(inserted) < len(first):
        await cur.execute(_KNOWN, ([i for i in first if i not in inserted],))
        known = {r[0]: (r[1], r[2], r[3]) for r in await cur.fetchall()}
    hits = musthit.add_shares(pools, [(seq, cid, first[cid].wager_minor) for cid, seq in seqs.items()])
    if hits:
        await cur.executemany(_MUST_HIT, [
            (h.win_id, h.pool, h.contribution_id, h.paid_minor, h.before_minor, h.after_minor, h.seq)
            for h in hits
        ])  # fmt: skip
    answers: list[tuple[_Request, list[Outcome]]] = []
    for request in requests:
        outcome: list[Outcome] = []
        for c in request.contributions:
            cid = c.contribution_id
            if cid in inserted:
                was = first[cid]
                same = c is was or c.same_as(was.game_id, was.wager_minor, was.placed_at)
                outcome.append("applied" if c is was else "duplicate" if same else "conflict")
            else:
                outcome.append("duplicate" if c.same_as(*known[cid]) else "conflict")
        answers.append((request, outcome))
    return answers, hits


def _array(values: Iterable[str]) -> str:
    """A PostgreSQL array literal, every element quoted: psycopg dumps a list element by element
    in Python (~10 ms for a batch's four arrays of 1,000), this is one string."""
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


async def _pay(
    cur: psycopg.AsyncCursor[Any], pools: dict[str, PoolState], requests: list[_Request]
) -> list[tuple[_Request, WinResult]]:
    await cur.execute(_WINS, ([r.win.win_id for r in requests if r.win is not None],))
    known = {r[0]: r for r in await cur.fetchall()}
    await cur.execute(_LAST_SEQ)
    row = await cur.fetchone()
    last_seq = int(row[0]) if row else 0
    now = dt.datetime.now(dt.UTC)
    answers: list[tuple[_Request, WinResult]] = []
    for request in requests:
        win = request.win
        assert win is not None
        prior = known.get(win.win_id)
        if prior is not None:
            _, pool, user, requested, paid, before, after, won_at = prior
            same = (pool, user, requested) == (win.pool, win.user_id, win.amount_minor)
            status: WinStatus = "duplicate" if same else "conflict"
            answers.append((request, WinResult(status, win.win_id, pool, user, paid, before, after, won_at)))
            continue
        state = pools.get(win.pool)
        if state is None:
            answers.append((request, WinResult("unknown_pool", win.win_id, win.pool, win.user_id)))
            continue
        before = state.amount_minor
        paid = before if win.amount_minor is None else win.amount_minor
        if paid > before:
            answers.append((request, WinResult("over_amount", win.win_id, win.pool, win.user_id, 0, before)))
            continue
        after = max(state.seed_minor, before - paid)
        state.amount_minor = after
        values = (win.win_id, win.pool, win.user_id, win.amount_minor, paid, before, after, last_seq, now)
        await cur.execute(_PAY, values)
        known[win.win_id] = (*values[:7], now)
        answers.append(
            (request, WinResult("paid", win.win_id, win.pool, win.user_id, paid, before, after, now))
        )
    return answers
