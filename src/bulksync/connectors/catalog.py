"""Foreign keys, CHECKs, identity columns and defaults as a catalog describes them, made portable.

PostgreSQL's catalog is read by hand (``pg_reflect``), MariaDB's too (``mysql_reflect``: columns,
keys, indexes, foreign keys; its defaults, AUTO_INCREMENT and CHECKs from ``information_schema``
here, ``mysql_constraints``). SQLite has its own module (``sqlite_catalog``).
``portable_constraints`` and ``portable_foreign_key`` make any of them portable.
Whatever cannot travel becomes a line of ``Constraints.dropped``, never silence. ``reflect_with``
reads a whole table (columns, keys, indexes and these) through SQLAlchemy's inspector: the
oracle the hand-written readers are tested against.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from bulksync.connectors.checks import portable_check
from bulksync.connectors.defaults import portable_default
from bulksync.naming import fitted_name
from bulksync.schema import Check, ForeignKey, Index

if TYPE_CHECKING:  # only the inspector's callers import SQLAlchemy (start-up time)
    import sqlalchemy as sa

ACTIONS = ("CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT")  # NO ACTION is the default: None
Rows = Callable[[str, Sequence[Any]], list[dict[str, Any]]]


@dataclass(frozen=True)
class Constraints:
    """The portable part of a table's catalog besides its columns, keys and indexes."""

    identity: frozenset[str] = frozenset()
    defaults: tuple[tuple[str, str], ...] = ()  # (column, portable default)
    foreign_keys: tuple[ForeignKey, ...] = ()
    checks: tuple[Check, ...] = ()
    dropped: tuple[str, ...] = ()
    # columns the database fills when an insert leaves them out: any default, portable or not,
    # and generated columns (identity columns are in ``identity``)
    defaulted: frozenset[str] = frozenset()


def generated_note(column: str) -> str:
    """The ``not carried`` line of a generated column (``GENERATED ALWAYS AS (a * b)``)."""
    return f"{column}: generated column not carried (its values are copied into a plain column)"


def action(text: Any) -> str | None:
    """A reflected ON DELETE / ON UPDATE action, or None for NO ACTION (and anything unknown)."""
    word = " ".join(str(text or "").upper().split())
    return word if word in ACTIONS else None


def as_is(name: str) -> str:
    return name


def portable_foreign_key(
    table: str,
    name: str,
    columns: tuple[str, ...],
    referred: tuple[str | None, str, tuple[str, ...]],
    *,
    on_delete: Any = None,
    on_update: Any = None,
) -> ForeignKey | str:
    """A foreign key as it travels, or why it cannot (it refers to a table in another schema).

    ``referred``: the referred table's schema (None: the connection's own), name and columns.
    """
    schema, referred_table, referred_columns = referred
    name = name or fitted_name(f"{table}_{'_'.join(columns)}", "_fkey")
    if schema:
        return f"fk {name}: refers to {schema}.{referred_table} in another schema"
    return ForeignKey(
        name,
        columns,
        referred_table,
        referred_columns,
        on_delete=action(on_delete),
        on_update=action(on_update),
    )


def foreign_keys_of(
    inspector: sa.Inspector, table: str, read_name: Callable[[str], str] = as_is
) -> tuple[tuple[ForeignKey, ...], list[str]]:
    """The table's foreign keys through SQLAlchemy, and notes on those that cannot travel."""
    found, dropped = [], []
    for fk in inspector.get_foreign_keys(table):
        options = fk.get("options") or {}
        made = portable_foreign_key(
            table,
            read_name(str(fk.get("name") or "")),
            tuple(read_name(str(c)) for c in fk["constrained_columns"]),
            (
                fk.get("referred_schema"),
                read_name(str(fk["referred_table"])),
                tuple(read_name(str(c)) for c in fk["referred_columns"]),
            ),
            on_delete=options.get("ondelete"),
            on_update=options.get("onupdate"),
        )
        if isinstance(made, str):
            dropped.append(made)
        else:
            found.append(made)
    return tuple(found), dropped


def inspected(
    inspector: sa.Inspector, table: str, columns: list[Any], read_name: Callable[[str], str] = as_is
) -> Constraints:
    """PostgreSQL's (and, for foreign keys, any SQLAlchemy dialect's) constraints of ``table``.

    ``columns``: the inspector's ``get_columns`` dicts. A serial column (a ``nextval`` default
    SQLAlchemy marks autoincrement) and an identity column are identity columns.
    """
    dialect = inspector.dialect.name
    fks, dropped = foreign_keys_of(inspector, table, read_name)
    if dialect == "mysql":  # the rest comes from information_schema: ``mysql_constraints``
        return Constraints(foreign_keys=fks, dropped=tuple(dropped))
    described = [
        (
            str(col["name"]),
            col.get("default"),
            bool(
                col.get("identity")
                or (col.get("autoincrement") is True and str(col.get("default") or "").startswith("nextval("))
            ),
        )
        for col in columns
    ]
    checks = [(str(ck["name"]), str(ck["sqltext"])) for ck in inspector.get_check_constraints(table)]
    generated = {str(col["name"]) for col in columns if col.get("computed")}
    return portable_constraints(
        described, checks, foreign_keys=(fks, dropped), dialect=dialect, generated=generated
    )


def portable_constraints(
    columns: Sequence[tuple[str, str | None, bool]],
    checks: Sequence[tuple[str, str]],
    *,
    foreign_keys: tuple[tuple[ForeignKey, ...], Sequence[str]],
    dialect: str,
    generated: Collection[str] = (),
) -> Constraints:
    """Identity columns, defaults and CHECKs as they travel, whoever read the catalog.

    ``columns``: (name, default expression, is identity); ``checks``: (name, expression);
    ``foreign_keys``: those that travel and the notes on those that cannot; ``generated``: the
    generated columns (``GENERATED ALWAYS AS …``).
    """
    fks, dropped = foreign_keys[0], list(foreign_keys[1])
    identity, defaults, defaulted = set(), [], set(generated)
    dropped += [generated_note(name) for name, _, _ in columns if name in defaulted]
    for name, text, is_identity in columns:
        if is_identity:
            identity.add(name)
            continue
        value, why = portable_default(text, dialect=dialect)
        if value is not None:
            defaults.append((name, value))
        elif why:
            dropped.append(f"{name}: {why}")
        if value is not None or why:  # (None, None): no default, or DEFAULT NULL
            defaulted.add(name)
    names = [name for name, _, _ in columns]
    found = []
    for name, text in checks:
        made = portable_check(name, text, dialect=dialect, columns=names)
        if isinstance(made, str):
            dropped.append(made)
        else:
            found.append(made)
    return Constraints(
        frozenset(identity), tuple(defaults), fks, tuple(found), tuple(dropped), frozenset(defaulted)
    )


def mysql_constraints(rows: Rows, table: str, foreign_keys: Constraints) -> Constraints:
    """MariaDB's defaults, AUTO_INCREMENT and CHECKs of ``table`` from ``information_schema``.

    ``foreign_keys``: what ``foreign_keys_of`` found (kept as is, with its notes).
    """
    columns = rows(
        "SELECT COLUMN_NAME AS name, COLUMN_DEFAULT AS dflt, EXTRA AS extra FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
        [table],
    )
    identity, defaults, defaulted, dropped = set(), [], set(), list(foreign_keys.dropped)
    for col in columns:
        name, extra = str(col["name"]), str(col["extra"] or "").lower()
        if "auto_increment" in extra:
            identity.add(name)
            continue
        if "on update" in extra:
            dropped.append(f"{name}: {extra} is not portable")
        # COLUMN_DEFAULT: SQL NULL for none (NOT NULL columns), the word NULL for DEFAULT NULL
        value, why = portable_default(col["dflt"], dialect="mysql")
        if value is not None:
            defaults.append((name, value))
        elif why:
            dropped.append(f"{name}: {why}")
        if value is not None or why or "generated" in extra:  # VIRTUAL / STORED GENERATED
            defaulted.add(name)
        if "generated" in extra:
            dropped.append(generated_note(name))
    names = [str(c["name"]) for c in columns]
    checks = []
    for ck in rows(
        "SELECT CONSTRAINT_NAME AS name, CHECK_CLAUSE AS clause FROM information_schema.CHECK_CONSTRAINTS "
        "WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY CONSTRAINT_NAME",
        [table],
    ):
        made = portable_check(str(ck["name"]), str(ck["clause"]), dialect="mysql", columns=names)
        if isinstance(made, str):
            dropped.append(made)
        else:
            checks.append(made)
    return Constraints(
        frozenset(identity),
        tuple(defaults),
        foreign_keys.foreign_keys,
        (*foreign_keys.checks, *checks),  # the ENUM members' (mysql_reflect), then the table's
        tuple(dropped),
        frozenset(defaulted),
    )


@dataclass(frozen=True)
class Declared:
    """A column type a connector resolved to Arrow itself, without SQLAlchemy (its reflection
    by hand: SQLite's PRAGMAs, PostgreSQL's catalog). ``length``: VARCHAR(n)'s n."""

    arrow: pa.DataType
    length: int | None = None
    json_text: bool = False  # ``Column.json_text``


@dataclass(frozen=True)
class Reflected:
    """A table as a catalog describes it, before mapping to Arrow: each column's type either a
    SQLAlchemy type (mapped by the connector's ``arrow_type_of``) or already ``Declared``."""

    columns: Sequence[tuple[str, sa.types.TypeEngine[Any] | Declared, bool]]
    primary_key: tuple[str, ...]
    indexes: tuple[Index, ...]
    constraints: Constraints = field(default_factory=Constraints)


def reflect_with(inspector: sa.Inspector, table: str, read_name: Callable[[str], str] = as_is) -> Reflected:
    """Columns, keys, plain-column indexes and constraints of ``table`` through SQLAlchemy;
    ``read_name`` undoes what the dialect's reflection left escaped in a name."""
    found = inspector.get_columns(table)
    columns = [(read_name(str(c["name"])), c["type"], bool(c.get("nullable", True))) for c in found]
    pk = tuple(read_name(str(c)) for c in inspector.get_pk_constraint(table).get("constrained_columns") or ())
    indexes, not_created = [], []
    for ix in inspector.get_indexes(table):
        name = read_name(str(ix.get("name") or ""))
        if not name:
            continue
        if any(k.endswith("_where") and v for k, v in ix.get("dialect_options", {}).items()):
            # built whole it would be wrong; UNIQUE, it could refuse the source's rows
            not_created.append(f"index {name} is partial (… WHERE …): recreate it by hand")
        elif not all(ix["column_names"]):  # expression indexes have no column names
            not_created.append(f"index {name} is on an expression: recreate it by hand")
        else:
            indexes.append(
                Index(name, tuple(read_name(str(c)) for c in ix["column_names"]), bool(ix["unique"]))
            )
    constraints = inspected(inspector, table, list(found), read_name)
    constraints = replace(constraints, dropped=(*constraints.dropped, *not_created))
    return Reflected(columns, pk, tuple(indexes), constraints)
