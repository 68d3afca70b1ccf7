"""Planning: turn a TableSpec into checked schemas, a key, partitions and their checkpoints.

Resuming is part of planning: if the destination holds unfinished checkpoints for this sync,
the plan is those partitions, each continuing after its last committed key. ``resume_only``
plans (distributed partition tasks) take the stored checkpoints as they are, done or not, and
never make fresh ones: the partitions a coordinator planned stay the partitions every worker runs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from bulksync.connectors.base import ChecksKeys, Destination, PartitionState, Source, TableStats
from bulksync.connectors.ddl import Reattached
from bulksync.engine.checkpoint import sync_id as make_sync_id
from bulksync.engine.lengths import TextLimit, unenforced_lengths
from bulksync.engine.plan_checks import (
    refuse_append_that_would_double,
    refuse_replace_with_nothing,
    warn_if_delivered_rows_gone,
    warn_of_columns_replaced_away,
)
from bulksync.errors import SchemaMismatchError, UnsupportedTypeError, UsageError, refusal
from bulksync.naming import NAME_LIMITS, dest_name, fitted_name, name_map, renamed_columns, side_by_side
from bulksync.schema import Index, TableSchema, coerce, is_json
from bulksync.spec import Filter, Mode, SyncSpec, TableSpec

STAGING_SUFFIX = "__bulksync_new"


@dataclass
class TablePlan:
    """Everything the engine needs to move one table."""

    spec: TableSpec
    source: TableSchema
    final: TableSchema  # the destination table as it will look (name, columns, indexes)
    write_to: str  # the table batches go to (a staging table in replace mode)
    key: tuple[str, ...]
    order: tuple[str, ...]  # key, or (cursor, *key) in incremental mode
    sync_id: str
    filters: tuple[Filter, ...]
    estimated_rows: int
    states: list[PartitionState] = field(default_factory=list)
    build_indexes: bool = False
    resumed_rows: int = 0
    stats: TableStats | None = None  # the source's figures for ``filters``, once asked
    # lengths to check in each batch (a table this sync created, from a source that never
    # enforced them): see ``engine/lengths.py``
    unenforced: tuple[TextLimit, ...] = ()
    warnings: list[str] = field(default_factory=list)  # for the summary: what the user should know
    reattached: list[Reattached] = field(default_factory=list)  # other tables' keys the swap kept

    @property
    def pending(self) -> list[PartitionState]:
        return [s for s in self.states if not s.done]

    @property
    def keyless(self) -> bool:
        """No key: the table is read whole in one stream and a crash reloads it."""
        return not self.key

    @property
    def renamed(self) -> bool:
        """Some destination column is named otherwise than its source column."""
        return self.final.names != self.source.names


@dataclass(frozen=True)
class CheckedTable:
    """A table spec whose names were all found in the source catalog.

    ``key`` is empty for a table without a primary key, which only replace mode copies (whole:
    without a key nothing tells which rows a crash left behind, so a crash reloads the table).
    ``columns`` maps each source column to its destination name.
    """

    spec: TableSpec
    schema: TableSchema
    key: tuple[str, ...]
    order: tuple[str, ...]
    columns: dict[str, str] = field(default_factory=dict)


def check_table(spec: SyncSpec, table: TableSpec, source: Source) -> CheckedTable:
    """Check every name against the source catalog (before anything is written anywhere)."""
    try:
        schema = source.describe(table.name)
    except UnsupportedTypeError as exc:
        refusal(exc)  # nothing is written yet: exit code 2
        raise
    for f in table.filters:
        schema.column(f.column)
    _refuse_empty_ranges(table, schema)
    key = table.key or schema.primary_key
    if spec.mode is Mode.REPLACE and not table.key and any(is_json(schema.column(c).type) for c in key):
        key = ()  # a JSON key has no order to read ranges by: the table is copied whole, as a keyless one
    if not key and spec.mode is not Mode.REPLACE:
        raise UsageError(
            f"table {table.name!r} has no primary key: name the column(s) that identify a row with --key "
            "(bulksync copy), or copy it whole with --mode replace"
        )
    for col in key:
        if is_json(schema.column(col).type):
            raise UsageError(
                f"table {table.name!r}: its key column {col!r} is a JSON document, which has no order to "
                "read it by in ranges; name another unique column with --key, or copy the table whole "
                "with --mode replace"
            )
    if key and isinstance(source, ChecksKeys):
        problem = source.key_problem(schema, key, table.filters)
        if problem:
            raise UsageError(problem)
    order = key
    if spec.mode is Mode.INCREMENTAL:
        assert table.cursor is not None
        schema.column(table.cursor)
        order = (table.cursor, *key)
        if isinstance(source, ChecksKeys):
            problem = source.cursor_problem(schema, table.cursor, key, table.filters)
            if problem:
                raise UsageError(problem)
    elif table.order_by is not None and table.order_by not in key and key:
        schema.column(table.order_by)
        order = (table.order_by, *key)
    _refuse_percent_names(spec, table, schema.names)
    _refuse_unholdable_target(spec, table)
    columns = name_map(
        schema.names, table=table.name, dialect=_dialect(spec.destination), lower=spec.lower_names
    )
    return CheckedTable(table, schema, key, order, columns)


def _refuse_empty_ranges(table: TableSpec, schema: TableSchema) -> None:
    """``--since`` at or after ``--until`` selects nothing: a typo, which in replace mode would
    empty the table. Refused, as the bet sync refuses an end before its start."""
    for low in (f for f in table.filters if f.op == "ge"):
        column = schema.column(low.column)
        for high in (f for f in table.filters if f.op == "lt" and f.column == low.column):
            start, end = coerce(column, low.value), coerce(column, high.value)
            try:
                empty = start >= end
            except TypeError:  # values the column compares otherwise: the source decides
                continue
            if empty:
                raise UsageError(
                    f"table {table.name!r}: {low.column} from {low.value} until {high.value} is an empty "
                    "range (--since must be before --until)"
                )


def _refuse_percent_names(spec: SyncSpec, table: TableSpec, names: list[str]) -> None:
    """A "%" in a table or column name breaks the statements psycopg and PyMySQL format with
    parameters (reads, upserts, verify): refused before anything is written, not a traceback midway."""
    if not {_dialect(spec.source), _dialect(spec.destination)} & {
        "postgresql",
        "postgres",
        "mysql",
        "mariadb",
    }:
        return
    where = "" if table.name == table.target else f" (written to {table.target!r})"
    if "%" in table.name or "%" in table.target:
        raise UsageError(
            f"table {table.name!r}{where} has a '%' in its name, which bulksync cannot carry to or from "
            "PostgreSQL or MariaDB yet: rename it in the source (or --exclude the table)"
        )
    percent = [n for n in names if "%" in n]
    if percent:
        raise UsageError(
            f"table {table.name!r}: column {percent[0]!r} has a '%' in its name, which bulksync cannot "
            "carry to or from PostgreSQL or MariaDB yet: rename it in the source (or --exclude the table)"
        )


def _refuse_unholdable_target(spec: SyncSpec, table: TableSpec) -> None:
    """A destination name past the dialect's limit: PostgreSQL would cut it (and the cut name
    could be another table's), MariaDB refuses it midway. Refused before anything is created."""
    dialect = _dialect(spec.destination)
    target = table.target
    if dest_name(target, dialect=dialect, lower=False) != target:
        limit, unit = NAME_LIMITS[dialect]
        raise UsageError(
            f"table {table.name!r}: the destination name {target!r} is longer than {dialect}'s "
            f"{limit} {unit}: rename it in the source (or --exclude it, or copy it with --dest-table)"
        )


def _dialect(url: str) -> str:
    from bulksync.connectors.registry import scheme_of

    return scheme_of(url)


class CheckpointsGone(UsageError):
    """The destination holds no checkpoints for a table a resume-only plan asked for."""


def plan_table(
    spec: SyncSpec,
    checked: CheckedTable,
    source: Source,
    dest: Destination,
    *,
    resume_only: bool = False,
) -> TablePlan:
    """Find or make the checkpoints and the destination table for one checked table.

    With ``resume_only`` the destination's checkpoints are used as stored (even when every
    partition is done) and ``CheckpointsGone`` is raised when there are none.
    """
    table, schema, key, order = checked.spec, checked.schema, checked.key, checked.order
    final = side_by_side(
        _target_schema(schema, table, key, checked.columns),
        source=_dialect(spec.source),
        dest=_dialect(spec.destination),
    )
    ident = make_sync_id(
        source=_safe(spec.source), destination=_safe(spec.destination), table=table, mode=spec.mode
    )
    plan = TablePlan(
        spec=table,
        source=schema,
        final=final,
        write_to=fitted_name(table.target, STAGING_SUFFIX) if spec.mode is Mode.REPLACE else table.target,
        key=key,
        order=order,
        sync_id=ident,
        filters=table.filters,
        estimated_rows=0,
    )
    previous = dest.load_states(ident) if resume_only or not spec.restart else []
    unfinished = any(not s.done for s in previous) or (spec.mode is Mode.REPLACE and previous)
    if not key and not resume_only:
        unfinished = False  # nothing tells which rows of a keyless table landed: load it again
    if resume_only and not (previous and dest.find(plan.write_to) is not None):
        raise CheckpointsGone(
            f"table {table.name!r}: the destination holds no checkpoints (or no table "
            f"{plan.write_to!r}) for this sync any more"
        )
    if resume_only or (unfinished and dest.find(plan.write_to) is not None):
        existing = dest.find(plan.write_to)
        assert existing is not None  # found just above
        _refuse_unfilled_columns(plan, existing)  # the table may have changed since
        plan.states = previous
        for state in previous:
            state.fenced = True  # each batch commits only on the checkpoint it was read at
        plan.resumed_rows = sum(s.rows for s in previous)
        plan.order = _order_of_states(plan, previous)
    else:
        if previous and dest.find(plan.write_to) is None:
            previous = []  # the table earlier runs delivered into is gone, and what they delivered
        plan.order = _read_order(spec, plan, source)
        _fresh_states(spec, plan, source, previous)
        warn_of_columns_replaced_away(spec, plan, dest)
        warn_if_delivered_rows_gone(spec, plan, dest, previous)
        refuse_replace_with_nothing(spec, plan, source, dest)
        created = _prepare_destination(spec, plan, dest)
        if not created and not previous:
            refuse_append_that_would_double(spec, plan, dest)
        for state in plan.states:
            state.created_table = created
        dest.reset_states(ident, plan.states)
        for state in plan.states:
            state.prior, state.fenced = state.last, True
    if spec.mode is Mode.REPLACE or any(s.created_table for s in plan.states):  # this sync's table
        plan.unenforced = unenforced_lengths(source, dest, read=schema, made=plan.final)
    # only a table this sync created gets the source's secondary indexes, after the load
    plan.build_indexes = (
        spec.mode is not Mode.REPLACE
        and bool(plan.final.indexes)
        and any(s.created_table for s in plan.states)
    )
    if spec.mode is Mode.INCREMENTAL and spec.lag_seconds > 0:
        plan.filters = (*plan.filters, *_lag_filter(plan, spec.lag_seconds))
        plan.stats = None  # other filters now
    if plan.stats is None:
        plan.stats = source.stats(schema, key[0] if key else None, plan.filters)
    plan.estimated_rows = plan.stats.rows
    return plan


def _safe(url: str) -> str:
    from bulksync.connectors.registry import safe_url

    return safe_url(url)


def _target_schema(
    schema: TableSchema, table: TableSpec, key: tuple[str, ...], columns: dict[str, str]
) -> TableSchema:
    """The destination table: the target's name, the key as its primary key, destination names.

    A renamed table's indexes are named after it and their columns, a unique one ``_key``, the
    others ``_idx``: a UNIQUE index and a plain one on the same columns (or a MariaDB prefix
    index) were one name, and the second ``CREATE INDEX IF NOT EXISTS`` was skipped in silence,
    the UNIQUE one included. An index repeating another's columns and kind is left out (it
    would be the same index twice)."""
    target = table.target
    indexes = schema.indexes
    if target != schema.name:
        named = {
            _index_name(target, ix): Index(_index_name(target, ix), ix.columns, ix.unique) for ix in indexes
        }
        indexes = tuple(named.values())
    # no key to read by (a keyless table, or a JSON key copied whole): the table keeps its own
    final = dataclasses.replace(schema, name=target, primary_key=key or schema.primary_key, indexes=indexes)
    return renamed_columns(final, lambda name: columns.get(name, name)) if columns else final


def _index_name(table: str, ix: Index) -> str:
    return fitted_name(f"{table}_{'_'.join(ix.columns)}", "_key" if ix.unique else "_idx")


def _read_order(spec: SyncSpec, plan: TablePlan, source: Source) -> tuple[str, ...]:
    """Read a filtered upsert in key order when its rows fill most of their key range.

    ``order_by`` (the bet recipe's date column) walks the filter's index, which costs a primary
    key lookup per row; when the matching rows are at least half of the key range between their
    first and last key, a primary-key range scan that skips the others reads them about three
    times faster, and the key range splits into parallel partitions. Only upserts switch: they
    may re-read rows after a change of plan without doubling any; the other modes keep the order
    their checkpoints continue from.
    """
    if (
        spec.mode not in (Mode.UPSERT, Mode.REPLACE)
        or plan.order == plan.key
        or not plan.filters
        or len(plan.key) != 1
        or not pa.types.is_integer(plan.source.column(plan.key[0]).type)
    ):
        return plan.order
    stats = plan.stats = source.stats(plan.source, plan.key[0], plan.filters)
    if stats.min_key is None:
        return plan.order
    span = int(stats.max_key) - int(stats.min_key) + 1
    return plan.key if stats.rows * 2 >= span else plan.order


def _order_of_states(plan: TablePlan, states: list[PartitionState]) -> tuple[str, ...]:
    """A resumed plan reads in the order its checkpoints were written in (their keys' width)."""
    widths = {len(k) for s in states for k in (s.lower, s.upper, s.last) if k is not None}
    if widths == {len(plan.key)}:
        return plan.key
    return plan.order


def _fresh_states(spec: SyncSpec, plan: TablePlan, source: Source, previous: list[PartitionState]) -> None:
    after: tuple[Any, ...] | None = None
    done_lasts = [s.last for s in previous if s.done and s.last is not None]
    if spec.mode in (Mode.APPEND, Mode.INCREMENTAL) and done_lasts:
        after = max(done_lasts)  # continue after what earlier runs already delivered
    bounds = _partition_bounds(spec, plan, source, after)
    plan.states = [
        PartitionState(plan.sync_id, plan.final.name, i, lower, upper, last=lower)
        for i, (lower, upper) in enumerate(bounds)
    ]


def _partition_bounds(
    spec: SyncSpec, plan: TablePlan, source: Source, after: tuple[Any, ...] | None
) -> list[tuple[tuple[Any, ...] | None, tuple[Any, ...] | None]]:
    """Key ranges, one per partition; a filtered read is bounded by its rows' first and last key.

    The bound matters for filtered syncs (a day of bets): the source then reads the primary key
    range of the matching rows, found through the filter's index, instead of scanning from the
    start of the table or sorting the whole match for every chunk.
    """
    single: list[tuple[tuple[Any, ...] | None, tuple[Any, ...] | None]] = [(after, None)]
    if plan.order != plan.key or len(plan.key) != 1:
        return single  # partitions and bounds are ranges of the key: only when reading in key order
    if not pa.types.is_integer(plan.source.column(plan.key[0]).type):
        return single
    if spec.workers < 2 and not plan.filters:
        return single
    stats = plan.stats = plan.stats or source.stats(plan.source, plan.key[0], plan.filters)
    if stats.min_key is None:
        return single
    lo = int(stats.min_key) - 1 if after is None else max(int(after[0]), int(stats.min_key) - 1)
    hi = int(stats.max_key)
    whole: list[tuple[tuple[Any, ...] | None, tuple[Any, ...] | None]] = (
        [((lo,), (hi,))] if plan.filters else single
    )
    if spec.workers < 2 or stats.rows < 2 * spec.partition_min_rows:
        return whole
    parts = min(spec.workers, max(1, stats.rows // spec.partition_min_rows))
    if hi - lo < parts * 2:
        return whole
    cuts = [lo + (hi - lo) * i // parts for i in range(1, parts)]
    edges: list[tuple[Any, ...] | None] = [after, *[(c,) for c in cuts], None]
    return list(itertools.pairwise(edges))


def _prepare_destination(spec: SyncSpec, plan: TablePlan, dest: Destination) -> bool:
    """Create the table the batches go to if needed; True if this sync created it."""
    if spec.mode is Mode.REPLACE:
        dest.drop_table(plan.write_to)
        dest.create_table(plan.final.renamed(plan.write_to), with_indexes=False)
        return True
    existing = dest.find(plan.write_to)
    if existing is None:
        dest.create_table(plan.final, with_indexes=False)
        return True
    missing = [c for c in plan.final.names if c not in existing.names]
    if missing:
        raise SchemaMismatchError(
            f"destination table {plan.write_to!r} lacks column(s) {', '.join(missing)}; "
            "add them, or use --mode replace to recreate the table"
        )
    _refuse_unfilled_columns(plan, existing)
    return False


def _refuse_unfilled_columns(plan: TablePlan, existing: TableSchema) -> None:
    """A destination column the source lacks is left out of every insert: NOT NULL with no
    default, it refuses every row, and each one would be rejected by itself (two statements a
    row). Refused before a row is written."""
    required = [
        c.name
        for c in existing.columns
        if c.name not in plan.final.names
        and not (c.nullable or c.identity or c.default is not None or c.has_default)
    ]
    if required:
        raise SchemaMismatchError(
            f"destination table {plan.write_to!r} requires column(s) {', '.join(required)} "
            "(NOT NULL, no default) that the source does not have: give them a default, allow NULL, "
            "or add them to the source"
        )


def _lag_filter(plan: TablePlan, lag_seconds: float) -> tuple[Filter, ...]:
    """Re-read rows whose cursor is within the lag window before the watermark (late arrivals,
    and rows that later took the watermark's very cursor value with a smaller key). A cursor of
    neither times nor numbers has no window: refused (it was ignored without a word)."""
    lasts = [s.lower for s in plan.pending if s.lower is not None]
    if not lasts:
        return ()
    watermark = min(lasts)[0]
    assert plan.spec.cursor is not None
    if isinstance(watermark, dt.datetime):
        value: str | int | float = (watermark - dt.timedelta(seconds=lag_seconds)).isoformat()
    elif isinstance(watermark, dt.date):  # whole days: the window reaches back a day at least
        value = (watermark - dt.timedelta(days=math.ceil(lag_seconds / 86_400))).isoformat()
    elif isinstance(watermark, int | float) and not isinstance(watermark, bool):
        value = watermark - lag_seconds
    elif isinstance(watermark, decimal.Decimal):
        value = str(watermark - decimal.Decimal(str(lag_seconds)))
    else:
        raise UsageError(
            f"table {plan.spec.name!r}: --lag-seconds needs a cursor of times or numbers; "
            f"{plan.spec.cursor} holds {type(watermark).__name__} values"
        )
    for s in plan.pending:
        s.last = None  # the lag filter replaces the keyset bound for this run
    return (Filter(column=plan.spec.cursor, op="ge", value=value),)
