"""What planning refuses, or warns of, about a destination table that holds rows already.

Each check runs before anything is written (a refusal changes nothing) and costs at most one
indexed probe or count: a first append that would insert rows a second time, a filtered replace
that selects nothing, the columns a replace drops, rows an earlier run delivered and that are gone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bulksync.connectors.base import HoldsKey
from bulksync.errors import SchemaMismatchError, SyncError, UsageError
from bulksync.spec import Mode, SyncSpec

if TYPE_CHECKING:
    from bulksync.connectors.base import Destination, PartitionState, Source
    from bulksync.engine.plan import TablePlan


def refuse_replace_with_nothing(spec: SyncSpec, plan: TablePlan, source: Source, dest: Destination) -> None:
    """A filtered replace that selects no row would leave a table that holds rows empty: a
    ``--where`` typo (``channel=XX``) emptied it, exit 0. Refused before anything is written;
    an unfiltered replace of an empty source table still mirrors it."""
    if spec.mode is not Mode.REPLACE or not plan.filters or not isinstance(dest, HoldsKey):
        return
    if dest.find(plan.final.name) is None or not dest.holds_key(plan.final.name, (), ()):
        return
    plan.stats = plan.stats or source.stats(plan.source, plan.key[0] if plan.key else None, plan.filters)
    if plan.stats.exact and plan.stats.rows == 0:
        ops = {"eq": "=", "ge": ">=", "lt": "<"}
        shown = " and ".join(f"{f.column} {ops.get(f.op, f.op)} {f.value!r}" for f in plan.filters)
        raise UsageError(
            f"no row of {plan.spec.name!r} matches {shown}: --mode replace would leave "
            f"{plan.final.name!r} empty; check the filters (or empty the table yourself)"
        )


def warn_of_columns_replaced_away(spec: SyncSpec, plan: TablePlan, dest: Destination) -> None:
    """A replace makes the table anew from the source: columns only the old table had (added
    by hand, filled by another process) go with it. Said, as nothing else would say it."""
    old = dest.find(plan.final.name) if spec.mode is Mode.REPLACE else None
    gone = [c for c in old.names if c not in plan.final.names] if old is not None else []
    if gone:
        plan.warnings.append(
            f"{plan.final.name!r} had column(s) {', '.join(gone)} that the source does not: --mode "
            "replace makes the table anew without them and their values (--mode upsert keeps them)"
        )


def refuse_append_that_would_double(spec: SyncSpec, plan: TablePlan, dest: Destination) -> None:
    """A first append (or ``--restart``) into a table of yours that holds rows: where it keeps
    the key unique, rows already there are rejected as such; where nothing does, they would be
    inserted a second time. Refused before the first row, unless the table is empty."""
    if spec.mode is not Mode.APPEND or not isinstance(dest, HoldsKey):
        return
    existing = dest.find(plan.write_to)
    key = plan.final.primary_key
    if existing is None or existing.is_unique(key) or not dest.holds_key(plan.write_to, (), ()):
        return
    raise SchemaMismatchError(
        f"destination table {plan.write_to!r} holds rows and keeps no primary key or unique index on "
        f"({', '.join(key)}): an append cannot tell the rows already there and would copy them a "
        f"second time; add one (ALTER TABLE {plan.write_to} ADD PRIMARY KEY ({', '.join(key)})), "
        "empty the table, or use --mode replace"
    )


def warn_if_delivered_rows_gone(
    spec: SyncSpec, plan: TablePlan, dest: Destination, previous: list[PartitionState]
) -> None:
    """An append or incremental run continues after the last row earlier runs delivered. When
    the destination no longer holds that row (the table was emptied, its newest rows deleted,
    or another sync replaced it), rows gone from it are not copied again: say so.

    Only said, never acted on: a consumer that empties the table it is fed on purpose must not
    be fed every row again. One probe of the key's index per table and run.
    """
    lasts = [s.last for s in previous if s.done and s.last is not None]
    if spec.mode not in (Mode.APPEND, Mode.INCREMENTAL) or not lasts or not plan.key:
        return
    if not isinstance(dest, HoldsKey):
        return
    values = max(lasts)[-len(plan.key) :]  # (cursor, *key) in incremental mode
    key = plan.final.primary_key
    try:
        held = dest.holds_key(plan.write_to, key, values)
    except SyncError:
        return  # a key this table cannot be asked for: nothing to say
    if not held:
        where = ", ".join(f"{k}={v!r}" for k, v in zip(key, values, strict=True))
        plan.warnings.append(
            f"{plan.write_to!r} no longer holds the last row an earlier run copied ({where}): "
            "rows deleted from it since are not copied again (--restart copies every row)"
        )
