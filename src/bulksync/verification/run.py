"""Run a verify: per table, a source thread reads and hashes chunks, this thread reads and
hashes the same key ranges on the destination and compares. Nothing is ever written.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from bulksync.connectors.base import Connector, Key, TableStats
from bulksync.connectors.registry import open_connector
from bulksync.engine.memory import MemoryGuard
from bulksync.engine.progress import Listener, ProgressEvent, ProgressTracker
from bulksync.errors import SchemaMismatchError, UsageError
from bulksync.naming import dest_name
from bulksync.schema import TableSchema, is_json
from bulksync.spec import SyncSpec, TableSpec
from bulksync.verification.canonical import kind_of
from bulksync.verification.compare import Hashed, SideReader, diff_chunk, last_key, record
from bulksync.verification.result import TableVerdict, VerifyResult

PHASE = "verifying"


class VerifySpec(BaseModel):
    """What to compare: the same tables, key and filters a ``copy`` of them would use."""

    model_config = ConfigDict(frozen=True)

    source: str
    destination: str
    tables: tuple[TableSpec, ...] = Field(min_length=1)
    chunk_rows: int | None = Field(default=None, ge=2)  # None: as many rows as fit in chunk_mb
    chunk_mb: float = Field(default=2.0, gt=0)
    max_examples: int = Field(default=10, ge=0)
    statement_timeout_s: float = Field(default=120.0, gt=0)

    @classmethod
    def of(cls, spec: SyncSpec | VerifySpec) -> VerifySpec:
        """The verify of what a sync spec moved (its cursor and mode do not matter here)."""
        if isinstance(spec, VerifySpec):
            return spec
        tables = tuple(t.model_copy(update={"cursor": None}) for t in spec.tables)
        return cls(
            source=spec.source,
            destination=spec.destination,
            tables=tables,
            statement_timeout_s=spec.statement_timeout_s,
        )


def verify(
    spec: VerifySpec | SyncSpec,
    *,
    listeners: Iterable[Listener] = (),
    cancel: threading.Event | None = None,
) -> VerifyResult:
    """Compare every table of ``spec`` between source and destination; read-only on both."""
    spec = VerifySpec.of(spec)
    started = time.monotonic()
    guard = MemoryGuard(max_mb=1 << 20)  # only for RSS readings
    tracker = ProgressTracker([_relabelled(f) for f in listeners], guard.rss_mb)
    result = VerifyResult()
    src = open_connector(spec.source, statement_timeout_s=spec.statement_timeout_s)
    try:
        dst = open_connector(spec.destination, statement_timeout_s=spec.statement_timeout_s)
        try:
            readers = [_readers(spec, table, src, dst) for table in spec.tables]  # check all first
            for table, (verdict, src_side, dst_side) in zip(spec.tables, readers, strict=True):
                result.tables.append(verdict)
                _verify_table(spec, table, verdict, src_side, dst_side, tracker, cancel)
        finally:
            dst.close()
    finally:
        src.close()
    result.duration_s = time.monotonic() - started
    result.memory_peak_mb = guard.peak_mb
    return result


def _relabelled(listener: Listener) -> Listener:
    """The tracker says a table at work is 'copying'; here it is verifying."""

    def relay(event: ProgressEvent) -> None:
        listener(dataclasses.replace(event, phase=PHASE) if event.phase == "copying" else event)

    return relay


def _readers(
    spec: VerifySpec, table: TableSpec, src: Connector, dst: Connector
) -> tuple[TableVerdict, SideReader, SideReader]:
    """Check the table on both sides and build the two readers (nothing read yet)."""
    s_schema = src.describe(table.name)
    d_full = dst.describe(_dest_table(dst, table))
    to = _dest_columns(s_schema, d_full, getattr(dst, "dialect", ""))
    absent = [n for n in s_schema.names if n not in to]
    if absent:
        raise SchemaMismatchError(
            f"destination table {d_full.name!r} lacks column(s) {', '.join(absent)} of "
            f"source table {table.name!r}: the tables cannot be equal"
        )
    for f in table.filters:
        s_schema.column(f.column)
    key = table.key or s_schema.primary_key
    for col in key:
        if is_json(s_schema.column(col).type):
            raise UsageError(
                f"table {table.name!r}: its key column {col!r} is a JSON document, which has no order "
                "to compare it by in ranges; name another unique column with --key"
            )
    d_schema = TableSchema(
        d_full.name, tuple(d_full.column(to[n]) for n in s_schema.names), d_full.primary_key
    )
    kinds = [kind_of(c.name, c.type, d_full.column(to[c.name]).type) for c in s_schema.columns]
    by_name = {k.name: k for k in kinds}
    if key:
        order = tuple(key)
    else:  # no key: page on the columns that can never be NULL, match rows on their whole value
        order = tuple(
            c.name for c in s_schema.columns if not c.nullable and not d_full.column(to[c.name]).nullable
        )
    verdict = TableVerdict(table.name, d_full.name, tuple(key))
    verdict.ignored_columns = [n for n in d_full.names if n not in to.values()]
    mixed = [c for c in key if _mixed_key(src, table.name, c) != _mixed_key(dst, d_full.name, to[c])]
    if mixed:  # numbers and text in one key: SQLite orders them otherwise than the other side
        order = ()
        verdict.notes.append(
            f"key {', '.join(mixed)} holds numbers and text, which the two sides order differently: "
            "compared in one pass, rows paired on the key"
        )
    collated = [
        (c, orders)
        for c in key
        if pa.types.is_string(s_schema.column(c).type) or pa.types.is_large_string(s_schema.column(c).type)
        for orders in [(_text_order(src, table.name, c), _text_order(dst, d_full.name, to[c]))]
        if orders[0] != orders[1]
    ]
    if collated and order:  # key ranges of one side hold other rows on the other side
        order = ()
        c, (mine, theirs) = collated[0]
        verdict.notes.append(
            f"key {c} is text that the two sides sort differently (the source by {mine}, the "
            f"destination by {theirs}): compared in one pass, rows paired on the key"
        )

    def side(conn: Connector, schema: TableSchema, name: dict[str, str]) -> SideReader:
        return SideReader(
            conn,
            _as_read(conn, schema),
            tuple(name[c] for c in order),
            tuple(f.model_copy(update={"column": name[f.column]}) for f in table.filters),
            kinds,
            [by_name[c] for c in key],
            unique=bool(key) and tuple(schema.primary_key) == tuple(name[c] for c in key),
            shown=tuple(key) or tuple(s_schema.names),
            compared_as=tuple(s_schema.names),
        )

    same = {n: n for n in s_schema.names}
    return verdict, side(src, s_schema, same), side(dst, d_schema, to)


def _text_order(conn: Connector, table: str, column: str) -> str:
    """How this side sorts a text column (``text_order.CODE_POINT`` where it cannot say)."""
    from bulksync.connectors.text_order import CODE_POINT

    order = getattr(conn, "text_order", None)
    return str(order(table, column)) if order else CODE_POINT


def _mixed_key(conn: Connector, table: str, column: str) -> bool:
    """True when SQLite holds numbers in this key column read as text (it sorts them before
    every text, numerically; the other side, if not SQLite, sorts them as text)."""
    holds = getattr(conn, "numbers_as_text", None)
    return bool(holds and holds(table, column))


def _dest_table(dst: Connector, table: TableSpec) -> str:
    """The destination table: as named, or as a migration into PostgreSQL folded its name."""
    if table.dest_name is None and dst.find(table.target) is None:
        folded = table.target.lower()
        if folded != table.target and dst.find(folded) is not None:
            return folded
    return table.target


def _dest_columns(source: TableSchema, dest: TableSchema, dialect: str) -> dict[str, str]:
    """Each source column's destination column: the same name, or the name a migration gave
    it (folded to lower case, cut to the destination's length limit)."""
    found: dict[str, str] = {}
    for name in source.names:
        for lower in (False, True):
            candidate = dest_name(name, dialect=dialect, lower=lower)
            if candidate in dest.names:
                found[name] = candidate
                break
    return found


def _as_read(conn: Connector, schema: TableSchema) -> TableSchema:
    """The types to ask ``read_chunk`` for.

    Work-around: SQLite hands back a chunk whose DATE column is empty or all NULL as int64, and
    Arrow cannot cast int64 to date32, so ``read_chunk`` fails on it. Its dates are read as the
    ISO text SQLite stores; canonicalisation parses them (``canonical._ints``, kind ``date``).
    """
    if getattr(conn, "dialect", "") != "sqlite":
        return schema
    columns = tuple(
        dataclasses.replace(c, type=pa.string()) if pa.types.is_date(c.type) else c for c in schema.columns
    )
    return TableSchema(schema.name, columns, schema.primary_key, schema.indexes)


@dataclass
class _SourceChunk:
    after: Key | None
    upto: Key | None  # None: the last chunk (the rest of the key space)
    hashed: Hashed
    asked: int = 1_000  # the rows asked for: the destination pages its side of the range as much


RAMP = 16  # the first and the last chunks shrink down to a sixteenth of a full chunk
FIRST_ROWS = 1_000  # the first chunk when its size comes from the memory budget (width unknown)
MIN_ROWS, MAX_ROWS = 1_000, 1_000_000


def _limits(
    chunk_rows: int | None, estimate: int, chunk_mb: float = 2.0
) -> Generator[int, tuple[int, int], None]:
    """Rows to ask for in each source chunk (send back the rows and bytes each one held).

    A full chunk is ``chunk_rows``, or as many rows as fit in ``chunk_mb`` of Arrow data at
    the row width read so far: every chunk is held a few times over (queued, hashed, compared,
    and glibc keeps freed blocks for the next one), so at 100,000 rows of the 14-column bets
    table (16 MB) a 1 M-row verify peaked at 286 MB, at 25,000 rows (4 MB) at 195 MB and at
    2 MB at 170-180 MB, for the same CPU seconds.

    The destination reads a key range only once the source has read it, and the source runs
    out first: a first full chunk would leave the destination's thread idle while it is read,
    and the destination's last chunks would run alone. So chunks grow from a sixteenth of a
    full one (doubling) and shrink again over the estimated last rows. Only the speed and
    the memory depend on this; which rows a chunk holds never does.
    """
    seen_rows = seen_bytes = done = 0
    size = max(chunk_rows // RAMP, 1) if chunk_rows else FIRST_ROWS
    while True:
        if chunk_rows:
            full = chunk_rows
        elif seen_rows:
            full = min(max(int(chunk_mb * 2**20 * seen_rows / max(seen_bytes, 1)), MIN_ROWS), MAX_ROWS)
        else:
            full = MAX_ROWS
        least = max(full // RAMP, 1)
        limit = min(size, full)
        if done < estimate:  # (past it the estimate was wrong: rows were added meanwhile)
            limit = min(limit, max((estimate - done) // 2, least))
        rows, nbytes = yield limit
        done, seen_rows, seen_bytes = done + rows, seen_rows + rows, seen_bytes + nbytes
        size *= 2


def _source_chunks(
    reader: SideReader, spec: VerifySpec, stop: threading.Event, estimate: int
) -> Iterator[_SourceChunk]:
    """The source's chunks in key order, then the empty open range past its last key."""
    if not reader.order:  # nothing to page on: the whole (filtered) table is one chunk
        batch, _ = reader.page(None, None, 1 << 62)
        yield _SourceChunk(None, None, reader.hashed([batch]))
        return
    after: Key | None = None
    limits = _limits(spec.chunk_rows, estimate, spec.chunk_mb)
    size = next(limits)
    while not stop.is_set():
        batch, more = reader.page(after, None, size)
        if batch.num_rows:
            upto = last_key(batch, reader.order)
            yield _SourceChunk(after, upto, reader.hashed([batch]), size)
            after = upto
        if not more:
            yield _SourceChunk(after, None, reader.hashed([]), size)
            return
        size = limits.send((batch.num_rows, batch.nbytes))


class _SourceThread:
    """The source's row count (``stats``), then ``_source_chunks``, run ahead on a thread of its
    own (two chunks at most waiting in memory); iterate it inside ``with``."""

    def __init__(
        self,
        reader: SideReader,
        table: TableSpec,
        spec: VerifySpec,
        cancel: threading.Event,
        verdict: TableVerdict,
    ) -> None:
        self.stats: Future[TableStats] = Future()
        self._chunks: queue.Queue[_SourceChunk | BaseException | None] = queue.Queue(maxsize=2)
        self._halt = threading.Event()
        self._args = (reader, table, spec, cancel, verdict)
        self._thread = threading.Thread(target=self._work, name=f"verify-source-{verdict.table}", daemon=True)

    def __enter__(self) -> _SourceThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._halt.set()
        self._thread.join()

    def _put(self, item: _SourceChunk | BaseException | None) -> None:
        while not self._halt.is_set():
            try:
                self._chunks.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _work(self) -> None:
        reader, table, spec, cancel, verdict = self._args
        cpu = time.thread_time()
        try:
            stats = reader.conn.stats(reader.schema, None, table.filters)  # rows only: no span needed
            self.stats.set_result(stats)
            for chunk in _source_chunks(reader, spec, cancel, stats.rows):
                self._put(chunk)
                if self._halt.is_set():
                    return
            self._put(None)
        except BaseException as exc:  # handed to the consumer, raised there
            if not self.stats.done():
                self.stats.set_exception(exc)
            self._put(exc)
        finally:
            verdict.source_cpu_s = time.thread_time() - cpu

    def __iter__(self) -> Iterator[_SourceChunk]:
        while True:
            item = self._chunks.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item


def _dest_range(
    reader: SideReader, after: Key | None, upto: Key | None, limit: int, *, expected: int = 0
) -> Iterator[Hashed]:
    """The destination's rows in ``(after, upto]``: one Hashed, or pages of one for the open end.

    When the destination's key is its primary key and the source had ``expected`` rows there,
    the first ``expected`` rows after ``after`` are read instead, the same query shape as the
    source's (PostgreSQL plans ``key > a AND key <= b ORDER BY key`` over a tenth of a table as
    a bitmap scan and a sort, ~2x the server's CPU of the index scan it uses for ``key > a``):
    if the last of them has the key ``upto``, they are exactly the range, keys being unique.
    Otherwise the range differs and is read as such.
    """
    if not reader.order:
        batch, _ = reader.page(None, None, 1 << 62)
        yield reader.hashed([batch])
        return
    if upto is not None and reader.unique and expected > 0:
        batch, _ = reader.page(after, None, expected)
        if batch.num_rows == expected and last_key(batch, reader.order) == upto:
            yield reader.hashed([batch])
            return
    batches = []
    while True:
        batch, more = reader.page(after, upto, limit)
        if upto is None:  # past the source's last key: every row is unexpected, page by page
            yield reader.hashed([batch])
        else:
            batches.append(batch)
        if not more:
            break
        after = last_key(batch, reader.order)
    if upto is not None:
        yield reader.hashed(batches)


def _verify_table(
    spec: VerifySpec,
    table: TableSpec,
    verdict: TableVerdict,
    src_side: SideReader,
    dst_side: SideReader,
    tracker: ProgressTracker,
    cancel: threading.Event | None,
) -> None:
    started = time.monotonic()
    cancel = cancel or threading.Event()
    shown = list(src_side.shown)
    cpu = time.thread_time()
    with _SourceThread(src_side, table, spec, cancel, verdict) as source:
        dest_total = _dest_total(dst_side, table)  # while the source counts its rows
        source_total = source.stats.result()
        tracker.start(table.name, total=source_total.rows, partitions=1)
        for chunk in source:
            verdict.source_rows += chunk.hashed.count
            ranges = _dest_range(
                dst_side, chunk.after, chunk.upto, chunk.asked + 1, expected=chunk.hashed.count
            )
            for dest in ranges:
                verdict.chunks += 1
                verdict.dest_rows += dest.count
                if chunk.hashed.count == dest.count and chunk.hashed.digest() == dest.digest():
                    continue
                verdict.chunks_differing += 1
                diff = diff_chunk(chunk.hashed, dest, shown=shown)
                record(verdict.findings, diff, max_examples=spec.max_examples)
            tracker.advance(table.name, rows=chunk.hashed.count, nbytes=chunk.hashed.rows.nbytes)
    verdict.dest_cpu_s = time.thread_time() - cpu
    if cancel.is_set():
        verdict.notes.append("cancelled: only part of the table was compared")
    _unreachable(verdict, dst_side, dest_total, source_total=source_total)
    verdict.duration_s = time.monotonic() - started
    tracker.phase(table.name, "done" if verdict.equal else "different")


def _dest_total(dest: SideReader, table: TableSpec) -> TableStats | None:
    """The destination's row count, to find rows no key range reaches (a NULL in the key).

    None when there can be none: every key column is NOT NULL. The catalog says so for
    PostgreSQL and MariaDB (a primary key column is NOT NULL there); SQLite's reflection calls
    every primary key column NOT NULL, but SQLite accepts NULL in one (all but an INTEGER
    PRIMARY KEY), so a SQLite primary key column is counted all the same.
    """
    if not dest.order or all(_never_null(dest, name) for name in dest.order):
        return None
    return dest.conn.stats(dest.schema, None, table.filters)


def _never_null(side: SideReader, name: str) -> bool:
    if side.schema.column(name).nullable:
        return False
    return getattr(side.conn, "dialect", "") != "sqlite" or name not in side.schema.primary_key


def _unreachable(
    verdict: TableVerdict, dest: SideReader, dest_total: TableStats | None, *, source_total: TableStats
) -> None:
    """Rows no key range can reach (NULL in a key column) are counted, never silently skipped.

    Only exact counts tell: a connector may answer a big unfiltered table's ``stats`` with the
    catalog's estimate, and then the destination's unreachable rows are said not to be counted.
    """
    if not dest.order:
        return
    cols = ", ".join(dest.order)
    if dest_total is not None and not dest_total.exact:
        verdict.notes.append(
            f"the destination's row count is an estimate: rows with NULL in {cols} (which no key "
            "range reaches) could not be counted"
        )
    elif dest_total is not None and dest_total.rows > verdict.dest_rows:
        hidden = dest_total.rows - verdict.dest_rows
        verdict.findings["unexpected"].rows += hidden
        verdict.notes.append(f"{hidden:,} destination rows have NULL in {cols}: counted as unexpected")
    if source_total.exact and source_total.rows > verdict.source_rows:
        verdict.notes.append(
            f"{source_total.rows - verdict.source_rows:,} source rows have NULL in {cols} (or were "
            "added during the verify) and were not compared"
        )
