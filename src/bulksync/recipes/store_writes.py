"""Everything the store syncs write to PostgreSQL, on a few writer threads of their own.

Each page is one ``commit_batch`` (the engine's: rows upserted by (store_code, id) and the
store's checkpoint — the cursor of the next page — in one transaction). A store's end is one
more transaction: its ``sync_logs`` row and its checkpoint marked done. The run itself has a
checkpoint too (its id, start time and what it fetches, done at the end with the summary row),
so the same command soon after a crash resumes that run (``store_resume`` says when): finished
stores are skipped, the others continue from their last committed page, and every ``sync_logs``
row is rewritten in place, never added twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import threading
import uuid
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TypeVar

import pyarrow as pa

from bulksync.connectors.base import Destination, PartitionState, Reject
from bulksync.connectors.registry import open_connector
from bulksync.engine.write import WriteTarget, commit_batch
from bulksync.errors import SyncError, UsageError
from bulksync.recipes.store_rejects import forget_older, replace_rejects
from bulksync.recipes.store_resume import differing, refusal, shown
from bulksync.recipes.store_tables import SYNC_LOGS, LogRow
from bulksync.schema import TableSchema

T = TypeVar("T")
END = "<end>"  # the checkpoint of a store whose last page is committed


@dataclass(frozen=True)
class Run:
    run_id: str
    started: dt.datetime
    resumed: bool
    retrying: bool = False  # only the stores that failed in this run (the others have no checkpoint)
    note: str = ""  # what became of the job's unfinished run: resumed, or why not
    params: str = ""  # what it fetches (store_resume.fetch_params), kept in its checkpoint


def _sid(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(("stores", *parts)).encode()).hexdigest()[:32]


class Writers:
    """A thread pool whose threads each keep one connection to the destination."""

    def __init__(self, url: str, *, threads: int) -> None:
        self._url = url
        self.threads = threads
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="store-writer")
        self._local = threading.local()
        self._opened: list[Destination] = []
        self._lock = threading.Lock()

    def _dest(self) -> Destination:
        dest: Destination | None = getattr(self._local, "dest", None)
        if dest is None:
            dest = open_connector(self._url)
            self._local.dest = dest
            with self._lock:
                self._opened.append(dest)
        return dest

    async def run(self, fn: Callable[[Destination], T]) -> T:
        """``fn(destination)`` on a writer thread."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, lambda: fn(self._dest()))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for dest in self._opened:
            dest.close()


def prepare(dest: Destination, records: TableSchema) -> None:
    """Create the records table and sync_logs if they are not there yet."""
    for schema in (records, SYNC_LOGS):
        if dest.find(schema.name) is None:
            try:
                dest.create_table(schema, with_indexes=True)
            except SyncError:
                if dest.find(schema.name) is None:
                    raise  # not the other job (users and videos at once) creating it first


def with_own_columns(dest: Destination, schema: TableSchema) -> tuple[TableSchema, frozenset[str]]:
    """``schema`` plus every other column the destination table has (a user's own column, e.g.
    ``country``, filled from the API field of that exact name), and the names of those columns."""
    found = dest.find(schema.name)
    own = tuple(c for c in found.columns if c.name not in schema.names) if found else ()
    return replace(schema, columns=(*schema.columns, *own)), frozenset(c.name for c in own)


def begin_run(
    dest: Destination,
    *,
    job_name: str,
    table: str,
    params: str | None,
    within_s: float = 0.0,
    retry_failed: bool = False,
) -> Run:
    """Resume the job's unfinished run if it fetches the same (``params``, from
    ``store_resume.fetch_params``) and started within ``within_s``; with ``retry_failed`` reopen
    its last run; else close the unfinished run as abandoned and start a new one (its summary row
    says 'running' until it ends). ``params`` None: join the open run whatever it fetches (a
    fleet task inside the run its coordinator opened)."""
    sid = _sid("run", job_name, table)
    states = dest.load_states(sid)
    if retry_failed:
        if not states or not states[0].last:
            raise UsageError(f"{job_name} into {table} has no earlier run to retry")
        return _reopen(dest, states[0], params)
    last = states[0].last if states else None
    why = None
    if last and not states[0].done:
        started, recorded = _started(last), _params(last)
        if params is not None:
            why = refusal(recorded, params, started=started, now=dt.datetime.now(dt.UTC), within_s=within_s)
        if why is None:
            retrying = len(last) > 2 and last[2] == "retry"
            note = f"resuming {shown(str(last[0]), started)}"
            run = Run(str(last[0]), started, True, retrying, note=note, params=recorded or "")
            if params is not None:  # a cancelled or interrupted run runs again (not a fleet task)
                mark_run(dest, _summary(job_name, run, "running", "resumed"))
            return run
    return _start(dest, sid, job_name=job_name, table=table, params=params, last=last, why=why)


def _reopen(dest: Destination, state: PartitionState, params: str | None) -> Run:
    """The job's last run, open again for its failed stores (``--retry-failed``)."""
    last = state.last or ()
    recorded = _params(last)
    changed = differing(recorded, params) if params else []
    if changed:
        raise UsageError(
            f"--retry-failed: {shown(str(last[0]), _started(last))} was made with another "
            f"{' and '.join(changed)}; give the options it was made with"
        )
    run = Run(str(last[0]), _started(last), resumed=True, retrying=True, params=recorded or "")
    dest.reset_states(state.sync_id, [replace(state, last=_run_key(run), done=False)])
    return replace(run, note=f"retrying the failed stores of {shown(run.run_id, run.started)}")


def _start(
    dest: Destination, sid: str, *, job_name: str, table: str, params: str | None,
    last: tuple[object, ...] | None, why: str | None,
) -> Run:  # fmt: skip
    """A new run; the unfinished one (``why`` it was not resumed) closed as abandoned with it."""
    now = dt.datetime.now(dt.UTC)
    run = Run(f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}", now, resumed=False, params=params or "")
    with dest.transaction() as tx:
        tx.write(SYNC_LOGS.name, _summary(job_name, run, "running", "").batch(), upsert_key=("id",))
        if why is not None and last is not None:  # the old run ends here, not 'running' for good
            old = Run(str(last[0]), _started(last), resumed=False)
            gone = f"not resumed: {why}; run {run.run_id} started instead"
            tx.write(SYNC_LOGS.name, _summary(job_name, old, "abandoned", gone).batch(), upsert_key=("id",))
        tx.save_state(PartitionState(sid, table, 0, None, None, last=_run_key(run)))
    if last:  # the previous run's failed stores are no use to this one
        dest.reset_states(_sid("store", job_name, table, str(last[0])), [])
    if why is None or last is None:
        return run
    return replace(run, note=f"{shown(str(last[0]), _started(last))} not resumed: {why}")


def _params(last: tuple[object, ...]) -> str | None:
    """What the run fetches, as its checkpoint recorded it (None: an earlier build's run)."""
    return str(last[3]) if len(last) > 3 and last[3] else None


def _started(last: tuple[object, ...]) -> dt.datetime:
    return dt.datetime.fromisoformat(str(last[1]))


def _run_key(run: Run) -> tuple[str, ...]:
    """The run's checkpoint: id, start, 'retry' for a retry of its failed stores, what it fetches."""
    return (run.run_id, run.started.isoformat(), "retry" if run.retrying else "", run.params)


def end_run(dest: Destination, *, job_name: str, table: str, run: Run, row: LogRow) -> None:
    sid = _sid("run", job_name, table)
    state = PartitionState(sid, table, 0, None, None, last=_run_key(replace(run, retrying=False)), done=True)
    with dest.transaction() as tx:
        tx.write(SYNC_LOGS.name, row.batch(), upsert_key=("id",))
        tx.save_state(state)


def open_run_of(dest: Destination, *, job_name: str, table: str) -> Run | None:
    """The job's unfinished run, if it has one (nothing is started or changed)."""
    states = dest.load_states(_sid("run", job_name, table))
    if not states or not states[0].last or states[0].done:
        return None
    return Run(str(states[0].last[0]), _started(states[0].last), resumed=True)


def mark_run(dest: Destination, row: LogRow) -> None:
    """Rewrite the run's summary row only: its checkpoint stays open (a cancelled run resumes)."""
    with dest.transaction() as tx:
        tx.write(SYNC_LOGS.name, row.batch(), upsert_key=("id",))


def _summary(job_name: str, run: Run, status: str, message: str) -> LogRow:
    return LogRow(job_name, run.run_id, None, status, message, 0, run.started)


def part_of(code: str) -> int:
    """A store's partition number in its run's checkpoints: stable, from its code."""
    return zlib.crc32(code.encode()) & 0x7FFFFFFF


def store_states(dest: Destination, *, job_name: str, table: str, run: Run) -> dict[int, PartitionState]:
    """Every store checkpoint of the run (one partition per store), by partition number."""
    return {s.partition: s for s in dest.load_states(_sid("store", job_name, table, run.run_id))}


def fresh_state(*, job_name: str, table: str, run: Run, code: str) -> PartitionState:
    return PartitionState(_sid("store", job_name, table, run.run_id), table, part_of(code), None, None)


def rejects_sid(job_name: str, table: str) -> str:
    """The sync id of the job's rejects into ``table``: the same in every run (``store_rejects``)."""
    return _sid("rejects", job_name, table)


def commit_page(
    dest: Destination,
    target: WriteTarget,
    batch: pa.RecordBatch,
    state: PartitionState,
    rejects: Sequence[Reject] = (),
) -> int:
    """The page's rows and the store's new checkpoint, in one transaction; rows written.

    The page's records set aside go first, in a transaction of their own: the engine's
    ``commit_batch`` opens its own. Recorded again after a crash, each replaces itself; a row the
    destination refuses replaces its earlier reject just after."""
    if rejects or batch.num_rows == 0:
        with dest.transaction() as tx:
            replace_rejects(dest, tx, target, rejects)
            if batch.num_rows == 0:
                tx.save_state(state)
    if batch.num_rows == 0:
        return 0
    written = commit_batch(dest, target, batch, state).rows
    if written < batch.num_rows:  # rows the destination refused: one reject each, the latest
        keys = zip(*(batch.column(k).to_pylist() for k in target.row_key), strict=True)
        forget_older(dest, target, list(keys))
    return written


def forget_stores(dest: Destination, *, job_name: str, table: str, run: Run) -> None:
    """Keep only the checkpoints of the run's failed stores (for ``--retry-failed``)."""
    sid = _sid("store", job_name, table, run.run_id)
    dest.reset_states(sid, [s for s in dest.load_states(sid) if not s.done])
