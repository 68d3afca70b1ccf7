"""Seed 004's nightly jobs: users or videos of hundreds of store APIs into PostgreSQL.

Each store is one partition. ``concurrency`` stores run at once in a sliding window (a new one
starts the moment any ends, never a batch waiting for its slowest); every request waits for the
per-store and global rate limits; each page commits with its cursor (``store_writes``). A
record with a value its field cannot hold is set aside as a reject (``store_rejects``), the
page's other records land. One store failing is logged with its reason and attempts; the others
go on, and the run ends ``succeeded``, ``partial`` or ``failed`` (every store failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import aiohttp
from pydantic import SecretStr

from bulksync.connectors.base import PartitionState
from bulksync.connectors.http import Endpoint, Pagination, RetryPolicy, Tally, read_pages
from bulksync.connectors.http_batch import records_to_batch
from bulksync.connectors.http_pacing import Limits
from bulksync.connectors.http_pacing_redis import RedisRate
from bulksync.connectors.http_session import open_session, tls_context
from bulksync.connectors.registry import open_connector
from bulksync.engine.write import WriteTarget
from bulksync.errors import SyncError, UsageError, redact
from bulksync.recipes import store_rejects as sr
from bulksync.recipes import store_writes as sw
from bulksync.recipes.store_commits import PageCommitter
from bulksync.recipes.store_list import Store, token_for
from bulksync.recipes.store_lock import one_run
from bulksync.recipes.store_resume import fetch_params
from bulksync.recipes.store_tables import JOB_NAMES, SYNC_LOGS, LogRow, records_table
from bulksync.recipes.stores_result import StoreListener, StoreOutcome, StoreProgress, StoresResult


class _Stopped(Exception):
    """The job is being cancelled: this store stops after its last committed page."""


@dataclass(frozen=True)
class StoreJob:
    """What to sync, from where, how fast."""

    kind: str  # users | videos
    stores: list[Store]
    dest_url: str
    credentials: Mapping[str, SecretStr]
    table: str = ""  # default: store_<kind>
    concurrency: int = 30
    rate: float | None = None  # requests/second, all stores together
    store_rate: float | None = None  # requests/second, each store
    pagination: Pagination = Pagination.CURSOR
    page_size: int = 100
    records_path: str = "data"
    since: str | None = None
    timeout_s: float = 30.0
    max_page_bytes: int = 16 * 1024 * 1024
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    # one: every page waiting goes into one group transaction (2.0-2.3 ms of CPU a page, against
    # 2.9-3.0 with 4 threads committing smaller groups; the same wall time: README)
    writer_threads: int = 1
    retry_failed: bool = False  # reopen the last run and sync only the stores that failed in it
    shared_limit_url: str | None = None  # redis://…: the global limit is shared by every process
    rate_key: str = "bulksync:stores:rate"  # the Redis key of that limit (one per API key)
    # an unfinished run is resumed only if it started less than this ago (and fetches the same)
    resume_within_s: float = 6 * 3600.0

    @property
    def job_name(self) -> str:
        return JOB_NAMES[self.kind]

    @property
    def table_name(self) -> str:
        return self.table or f"store_{self.kind}"

    @property
    def fetch_params(self) -> str:
        """What decides the records the job fetches, as a run's checkpoint keeps it."""
        return fetch_params(
            since=self.since, page_size=self.page_size, pagination=self.pagination.value,
            records_path=self.records_path, stores=[(s.code, s.base_url) for s in self.stores],
        )  # fmt: skip


def sync_stores(
    job: StoreJob,
    on_progress: Callable[[StoreProgress], None] | None = None,
    *,
    cancel: threading.Event | None = None,
    listeners: Sequence[StoreListener] = (),
) -> StoresResult:
    """Run (or resume) the job; blocks until every store has succeeded or failed.

    ``cancel`` set: no store starts any more, running ones stop after their current page; the
    run stays open (the same command, or resuming the job, continues it), its ``sync_logs``
    summary and the result say ``cancelled``. Stopped harder (a second Ctrl-C: the interrupt
    escapes), the summary says ``interrupted`` before the interrupt goes on."""
    check_job(job)
    opened: list[sw.Run] = []
    on_progress, cancel = on_progress or _quiet, cancel or threading.Event()
    with one_run(job.dest_url, job_name=job.job_name, table=job.table_name):
        try:
            return asyncio.run(_run(job, on_progress, cancel, listeners, opened))
        except BaseException as exc:
            if opened:  # not 'running' for good: the next run resumes or abandons it
                _mark_interrupted(job, opened[0], exc)
            raise


def _mark_interrupted(job: StoreJob, run: sw.Run, exc: BaseException) -> None:
    why = "" if isinstance(exc, KeyboardInterrupt | SystemExit) else f" by {_error_text(exc)}"
    said = f"interrupted{why} before it ended; the same command continues this run"
    row = LogRow(job.job_name, run.run_id, None, "interrupted", said, _ms_since(run.started), run.started)
    with contextlib.suppress(SyncError):  # best effort: the interrupt itself is what matters
        dest = open_connector(job.dest_url)
        try:
            sw.mark_run(dest, row)
        finally:
            dest.close()


def _error_text(exc: BaseException) -> str:
    return exc.message if isinstance(exc, SyncError) else redact(f"{type(exc).__name__}: {exc}")


def _ms_since(started: dt.datetime) -> int:
    return int((dt.datetime.now(dt.UTC) - started).total_seconds() * 1000)


def sync_in_open_run(
    job: StoreJob, *, cancel: threading.Event | None = None, listeners: Sequence[StoreListener] = ()
) -> list[StoreOutcome]:
    """Sync ``job.stores`` inside the job's open run (opened by ``store_runs.open_run``): one
    task of the worker fleet. The run's summary is written by ``store_runs.close_run``."""
    check_job(job)
    with one_run(job.dest_url, job_name=job.job_name, table=job.table_name, shared=True):
        return asyncio.run(_in_open_run(job, cancel or threading.Event(), listeners))


def _quiet(progress: StoreProgress) -> None:
    pass


def check_job(job: StoreJob) -> None:
    """Every credential known and every store code distinct: a usage error before any request."""
    for store in job.stores:
        token_for(store, job.credentials)  # every credential is known before the first request
    parts = {sw.part_of(s.code) for s in job.stores}
    if len(parts) != len(job.stores):
        raise UsageError("two store codes of the list share a checkpoint number: rename one of them")


async def _run(
    job: StoreJob,
    on_progress: Callable[[StoreProgress], None],
    cancel: threading.Event,
    listeners: Sequence[StoreListener] = (),
    opened: list[sw.Run] | None = None,
) -> StoresResult:
    writers = sw.Writers(job.dest_url, threads=max(1, min(job.writer_threads, job.concurrency)))
    schema = records_table(job.kind, job.table_name)
    try:
        await writers.run(lambda d: sw.prepare(d, schema))
        run = await writers.run(partial(sw.begin_run, **_run_options(job)))
        if opened is not None:
            opened.append(run)
        states = await writers.run(
            lambda d: sw.store_states(d, job_name=job.job_name, table=job.table_name, run=run)
        )
        progress = StoreProgress(total=len(job.stores), started=time.monotonic())
        outcomes = await _all_stores(job, writers, run, progress, on_progress, states, cancel, listeners)
        result = StoresResult.of(
            job.job_name, run.run_id, outcomes, progress.elapsed, resumed=run.resumed, note=run.note,
            cancelled=cancel.is_set() and len(outcomes) < len(job.stores),
        )  # fmt: skip
        row = LogRow(
            job.job_name, run.run_id, None, result.status, result.headline(), _ms_since(run.started),
            run.started, result.records_fetched, result.records_written, result.requests, result.retries,
        )  # fmt: skip
        if result.status == "cancelled":  # the run stays open: resuming continues it
            said = f"cancelled after {result.headline()}; the same command continues this run"
            await writers.run(lambda d: sw.mark_run(d, replace(row, message=said)))
            return result
        await writers.run(
            lambda d: sw.end_run(d, job_name=job.job_name, table=job.table_name, run=run, row=row)
        )
        await writers.run(lambda d: sw.forget_stores(d, job_name=job.job_name, table=job.table_name, run=run))
        return result
    finally:
        writers.close()


def _run_options(job: StoreJob) -> dict[str, Any]:
    """``begin_run``'s options for ``job``: resume its run only if it fetches the same, recently."""
    return {
        "job_name": job.job_name, "table": job.table_name, "params": job.fetch_params,
        "within_s": job.resume_within_s, "retry_failed": job.retry_failed,
    }  # fmt: skip


async def _in_open_run(
    job: StoreJob, cancel: threading.Event, listeners: Sequence[StoreListener]
) -> list[StoreOutcome]:
    writers = sw.Writers(job.dest_url, threads=1)
    try:
        run = await writers.run(
            lambda d: sw.begin_run(d, job_name=job.job_name, table=job.table_name, params=None)
        )
        states = await writers.run(
            lambda d: sw.store_states(d, job_name=job.job_name, table=job.table_name, run=run)
        )
        progress = StoreProgress(total=len(job.stores), started=time.monotonic())
        return await _all_stores(job, writers, run, progress, _quiet, states, cancel, listeners)
    finally:
        writers.close()


async def _all_stores(
    job: StoreJob,
    writers: sw.Writers,
    run: sw.Run,
    progress: StoreProgress,
    on_progress: Callable[[StoreProgress], None],
    states: dict[int, PartitionState],
    cancel: threading.Event,
    listeners: Sequence[StoreListener] = (),
) -> list[StoreOutcome]:
    """Every store, with the global limit in Redis when one is configured, else in-process."""
    shared = None
    if job.shared_limit_url and job.rate:
        shared = await RedisRate.open(job.shared_limit_url, rate=job.rate, key=job.rate_key)
    try:
        limits = Limits(rate=job.rate, endpoint_rate=job.store_rate, shared=shared)
        base = records_table(job.kind, job.table_name)
        schema, own = await writers.run(lambda d: sw.with_own_columns(d, base))
        context = _Context(job, writers, run, progress, on_progress, limits, states)
        context.schema, context.own_columns = schema, own
        context.cancel, context.listeners = cancel, listeners
        return await context.all_stores()
    finally:
        if shared is not None:
            await shared.close()


class _Context:
    """One run: its limits, writers, committed checkpoints and progress counters."""

    def __init__(
        self,
        job: StoreJob,
        writers: sw.Writers,
        run: sw.Run,
        progress: StoreProgress,
        on_progress: Callable[[StoreProgress], None],
        limits: Limits,
        states: dict[int, PartitionState],
    ) -> None:
        self.job, self.writers, self.run, self.progress = job, writers, run, progress
        self.on_progress, self.limits = on_progress, limits
        self.schema = records_table(job.kind, job.table_name)
        self.own_columns: frozenset[str] = frozenset()  # the table's columns beyond the fixed ones
        self.states = states  # the run's committed store checkpoints, by partition
        self.committer = PageCommitter(writers, flushers=writers.threads)
        self.cancel = threading.Event()  # set: no store starts, running ones stop after a page
        self.listeners: Sequence[StoreListener] = ()
        self.first_rejects: dict[str, str] = {}  # store code → the reason of its first reject

    async def all_stores(self) -> list[StoreOutcome]:
        """Every store in a sliding window of ``concurrency`` slots, all sharing one HTTP session
        (a connection per slot). A slot is free again as soon as its store's last page is
        fetched: the last commit and the sync_logs row finish meanwhile."""
        outcomes: list[StoreOutcome] = []
        slots = max(1, min(self.job.concurrency, len(self.job.stores)))
        session = open_session(connections=slots, tls=tls_context())
        free: asyncio.Queue[int] = asyncio.Queue()
        for slot in range(slots):
            free.put_nowait(slot)
        running: set[asyncio.Task[None]] = set()

        failed: list[asyncio.Task[None]] = []

        def forget(task: asyncio.Task[None]) -> None:
            running.discard(task)
            if task.cancelled() or task.exception() is not None:
                failed.append(task)  # gather raises its error

        ticker = asyncio.create_task(self._tick())
        try:
            for store in self.job.stores:
                slot = await free.get()  # the next store starts the moment a slot is free
                if self.cancel.is_set() or failed:
                    break  # cancelled, or a store hit an error that stops the run (raised below)
                task = asyncio.create_task(self._in_slot(session, (free, slot), store, outcomes))
                running.add(task)
                task.add_done_callback(forget)
            await asyncio.gather(*running, *failed)
        finally:
            ticker.cancel()
            await session.close()
        self.on_progress(self.progress)
        return outcomes

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.on_progress(self.progress)

    async def _in_slot(
        self, client: aiohttp.ClientSession, slot: tuple[asyncio.Queue[int], int], store: Store,
        out: list[StoreOutcome],
    ) -> None:  # fmt: skip
        handed_back = False

        def release() -> None:
            nonlocal handed_back
            if not handed_back:
                handed_back = True
                slot[0].put_nowait(slot[1])

        try:
            outcome = await self._one_store(client, store, release)
        finally:
            release()
        tally = self.progress.running.get(store.code)
        for listener in self.listeners:
            listener.store_done(outcome, tally or Tally())
        out.append(outcome)
        self.progress.store_done(outcome)
        self.on_progress(self.progress)

    async def _one_store(
        self, client: aiohttp.ClientSession, store: Store, release: Callable[[], None]
    ) -> StoreOutcome:
        job, started, tally = self.job, time.monotonic(), Tally()
        run_time = dt.datetime.now(dt.UTC)
        found = self.states.get(sw.part_of(store.code))
        if self.run.retrying and found is None:
            return StoreOutcome(store.code, "skipped", "succeeded earlier in this run")
        state = found or sw.fresh_state(
            job_name=job.job_name, table=job.table_name, run=self.run, code=store.code
        )
        if state.done:
            said = "already synced in this run"
            return StoreOutcome(
                store.code, "skipped", said, written=state.rows, rejected=sr.rejected_in(state)
            )
        outcome = StoreOutcome(store.code, "succeeded", "")
        self.progress.running[store.code] = tally
        done: PartitionState | None = None
        committed = [state]  # the store's last committed checkpoint, kept if it fails
        try:
            done = await self._pages(client, store, state, tally, outcome, committed, release)
        except _Stopped:
            outcome.status, outcome.message = "stopped", "cancelled after its last committed page"
            outcome.requests, outcome.retries = tally.requests, tally.retries
            outcome.written, outcome.rejected = committed[0].rows, sr.rejected_in(committed[0])
            return outcome  # no sync_logs row: the store continues from its checkpoint
        except SyncError as exc:
            outcome.status, outcome.message = "failed", exc.message
        except Exception as exc:  # a bug must fail this store, never the other stores
            outcome.status, outcome.message = "failed", redact(f"{type(exc).__name__}: {exc}")
        outcome.requests, outcome.retries = tally.requests, tally.retries
        outcome.duration_ms = int((time.monotonic() - started) * 1000)
        final = done or committed[0]
        outcome.written = final.rows  # a failed store's committed pages are in the table too
        outcome.rejected = sr.rejected_in(final)
        first = self.first_rejects.pop(store.code, "")
        outcome.message = sr.rejects_note(outcome.message, outcome.rejected, first)
        row = outcome.log_row(job.job_name, self.run.run_id, run_time)
        # the sync_logs row and the store's last checkpoint (done if it succeeded; a failed store
        # keeps one, even before its first page: that is what a retry looks for), committed with
        # the pages and ends of other stores waiting meanwhile: one transaction, not one per store
        logs = WriteTarget(SYNC_LOGS.name, SYNC_LOGS.name, final.sync_id, ("id",), upsert=True)
        await self.committer.commit(logs, row.batch(), replace(final, done=done is not None))
        return outcome

    async def _pages(
        self,
        client: aiohttp.ClientSession,
        store: Store,
        state: PartitionState,
        tally: Tally,
        out: StoreOutcome,
        committed: list[PartitionState],
        release: Callable[[], None],
    ) -> PartitionState:
        """Fetch and commit the store's pages; ``release`` the slot once the last is fetched."""
        if state.last and state.last[0] == sw.END:
            out.written = state.rows
            return state
        key = ("store_code", "id")
        rejects_sid = sw.rejects_sid(self.job.job_name, self.job.table_name)
        target = WriteTarget(self.job.table_name, self.job.kind, rejects_sid, key, upsert=True, row_key=key)
        start = str(state.last[0]) if state.last else None
        pages = read_pages(client, self._endpoint(store), start=start, pacer=self.limits.for_endpoint(),
                           policy=self.job.policy, tally=tally)  # fmt: skip
        committing: asyncio.Future[int] | None = None  # the previous page, committing meanwhile
        pending, sent = state, 0  # its checkpoint and rows
        try:
            async for page in pages:
                if self.cancel.is_set():
                    raise _Stopped
                got = records_to_batch(
                    page.records,
                    self.schema,
                    fixed={"store_code": store.code},
                    label=store.code,
                    optional=self.own_columns,
                )
                out.fetched += len(page.records)
                self.progress.records += len(page.records)
                if got.rejects:
                    self.first_rejects.setdefault(store.code, got.rejects[0].reason)
                if committing is not None:  # pages of a store commit in order
                    state = committed[0] = sr.settled(pending, refused=sent - await committing)
                state = sr.page_state(
                    state, cursor=page.next or sw.END, rows=got.batch.num_rows, rejected=len(got.rejects)
                )
                commit = self.committer.commit(target, got.batch, state, got.rejects)
                committing, pending, sent = asyncio.ensure_future(commit), state, got.batch.num_rows
        finally:
            release()
            if committing is not None:
                state = committed[0] = sr.settled(pending, refused=sent - await committing)
        out.written = state.rows
        return state

    def _endpoint(self, store: Store) -> Endpoint:
        j = self.job
        return Endpoint(
            url=f"{store.base_url}/{j.kind}", label=f"store {store.code}",
            token=token_for(store, j.credentials),
            pagination=j.pagination, records_path=j.records_path, page_size=j.page_size, since=j.since,
            timeout_s=j.timeout_s, max_page_bytes=j.max_page_bytes,
        )  # fmt: skip
