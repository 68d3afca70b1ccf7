"""Constraints after the load: foreign keys between the migrated tables, identity next values.

Rows land first, constraints after (checking a key per row while loading costs far more than
one check of the whole table at the end, and load order then never matters):

- **Choosing foreign keys** (before planning): a table keeps the foreign keys whose referred
  table is migrated by the same sync (renamed to its target) or already in the destination;
  the others are reported in ``TableResult.not_carried``. ``SyncSpec.foreign_keys=False``
  (``migrate --no-foreign-keys``, and ``copy`` always) keeps none.
- **Identity** (when a table is finished, as part of it, in every mode): the destination
  table's identity column numbers new rows past the largest value in it, never backwards. A
  failure here fails the table: the next application insert would collide.
- **Foreign keys** (once every table of ``sync`` succeeded; not in ``run_table``, the
  distributed path, where no step knows that every table is done): each one is added to the
  destination (``ConstraintDdl.create_foreign_key``: PostgreSQL adds it ``NOT VALID`` when rows
  refer to a missing parent, MariaDB adds it without re-checking rows, SQLite declared it in
  CREATE TABLE), and its orphan rows are counted. **A key the destination refuses does not fail
  the sync**: every row has landed, so the table stays ``succeeded`` and the key is reported
  with status ``failed`` and the database's reason.

Only tables this sync created (replace mode, or a table it had to create) get foreign keys: an
existing table keeps its own.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from functools import partial
from typing import Any, Protocol, runtime_checkable

from bulksync.connectors.base import Destination
from bulksync.connectors.ddl import ForeignKeyOutcome, Reattached
from bulksync.engine.plan import CheckedTable, TablePlan
from bulksync.engine.result import TableResult
from bulksync.engine.retry import retrying
from bulksync.errors import SyncError
from bulksync.schema import ForeignKey, TableSchema
from bulksync.spec import Mode, SyncSpec


@runtime_checkable
class ConstraintTarget(Protocol):
    """A destination that adds constraints after the load (the SQL connectors)."""

    def not_carried(self, schema: TableSchema) -> list[str]: ...

    def create_foreign_key(self, table: str, fk: ForeignKey) -> ForeignKeyOutcome: ...

    def set_identity_next(self, table: str) -> None: ...

    def check_reattached(self, key: Reattached) -> int: ...


def choose_foreign_keys(spec: SyncSpec, checked: list[CheckedTable], dest: Destination) -> list[CheckedTable]:
    """``checked`` with only the foreign keys this sync will create; the others noted as dropped."""
    targets = {c.spec.name: c.spec.target for c in checked}
    columns = {c.spec.name: c.columns for c in checked}  # each table's destination column names
    chosen = []
    for table in checked:
        kept, dropped = [], list(table.schema.dropped)
        for fk in table.schema.foreign_keys if spec.foreign_keys else ():
            parent = targets.get(fk.referred_table)
            if parent is None and dest.find(fk.referred_table) is not None:
                parent = fk.referred_table
            if parent is None:
                dropped.append(
                    f"fk {fk.name}: not created, {fk.referred_table} is not migrated nor in the destination"
                )
                continue
            names = columns.get(fk.referred_table, {})
            referred = tuple(names.get(c, c) for c in fk.referred_columns)
            kept.append(replace(fk, referred_table=parent, referred_columns=referred))
        schema = replace(table.schema, foreign_keys=tuple(kept), dropped=tuple(dropped))
        chosen.append(replace(table, schema=schema))
    return chosen


def created_here(spec: SyncSpec, plan: TablePlan) -> bool:
    """True when this sync created the table (its constraints are this sync's to make)."""
    return spec.mode is Mode.REPLACE or any(s.created_table for s in plan.states)


def note_not_carried(spec: SyncSpec, plan: TablePlan, table: TableResult, dest: Destination) -> None:
    """Fill ``table.not_carried``: what of the source table the destination table will not have."""
    if created_here(spec, plan) and isinstance(dest, ConstraintTarget):
        table.not_carried = [*plan.final.dropped, *dest.not_carried(plan.final)]


def set_identity(spec: SyncSpec, plan: TablePlan, dest: Destination) -> None:
    """Make the finished table's identity column number new rows past the copied ones."""
    if isinstance(dest, ConstraintTarget):  # the destination's catalog says which column it is
        retrying(partial(dest.set_identity_next, plan.final.name), retries=spec.retries)


def create_foreign_keys(
    spec: SyncSpec, plans: list[TablePlan], tables: list[TableResult], dest: Destination
) -> None:
    """Add every chosen foreign key of the tables this sync created; report each in ``tables``."""
    if not isinstance(dest, ConstraintTarget):
        return
    for plan, table in zip(plans, tables, strict=True):
        if not created_here(spec, plan):
            continue
        for fk in plan.final.foreign_keys:
            table.foreign_keys.append(_create(spec, dest, plan.final.name, fk))


def check_reattached(
    spec: SyncSpec, plans: list[TablePlan], tables: list[TableResult], dest: Destination
) -> None:
    """Check the rows of other tables whose foreign keys the swaps added back unchecked (a
    replaced table keeps the keys that refer to it); warn of those that refer to a row the new
    table lacks. Keys of tables this sync replaced too are made again, and checked, by
    ``create_foreign_keys``."""
    if not isinstance(dest, ConstraintTarget):
        return
    ours = {plan.final.name for plan in plans}
    for plan, table in zip(plans, tables, strict=True):
        for key in plan.reattached:
            if key.table in ours:
                continue
            orphans = retrying(partial(dest.check_reattached, key), retries=spec.retries)
            if orphans:
                table.warnings.append(
                    f"foreign key {key.what}: {orphans:,} of its rows refer to a row the new "
                    f"{plan.final.name} lacks; the key checks new rows only (PostgreSQL: NOT VALID)"
                )


def _create(spec: SyncSpec, dest: ConstraintTarget, table: str, fk: ForeignKey) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": fk.name,
        "columns": list(fk.columns),
        "references": f"{fk.referred_table}({', '.join(fk.referred_columns)})",
    }
    try:
        outcome = retrying(partial(dest.create_foreign_key, table, fk), retries=spec.retries)
    except SyncError as exc:  # refused (no unique key there, types differ…): reported, not fatal
        return {**entry, "status": "failed", "orphans": 0, "error": exc.message}
    return {**entry, **asdict(outcome), "error": None}
