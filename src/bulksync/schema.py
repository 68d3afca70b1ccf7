"""Table shapes in flight: columns as Arrow types, keys and indexes, and their SQL types.

Arrow is the neutral type system between connectors: a source maps its catalog types to
Arrow (``arrow_type``), a destination maps Arrow back to its own DDL (``sql_type``).

Constraints travel in the same neutral form, every table and column referred to by name (so a
destination that renames them maps these names too): foreign keys, CHECK expressions as a
template over the columns they read, identity columns and column defaults in the portable form
of ``connectors/expressions.py``. What a source has that cannot travel is in ``dropped``.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from bulksync.errors import UnknownColumnError, UnsupportedTypeError, UsageError
from bulksync.identifiers import check_identifier as check_identifier

# An unconstrained NUMERIC (PostgreSQL's ``numeric`` without a precision) in flight: 46 digits
# before the point and 30 after it (MariaDB's widest DECIMAL is (65, 30)). Into PostgreSQL it is
# created as plain ``numeric`` again; a value with more digits is rejected with its reason.
UNBOUNDED_NUMERIC = pa.decimal256(76, 30)

if TYPE_CHECKING:  # SQLAlchemy is imported by the functions that map its types (start-up time)
    import sqlalchemy as sa


@dataclass(frozen=True)
class Column:
    """One column: its name, Arrow type and whether it may hold NULL."""

    name: str
    type: pa.DataType
    nullable: bool = True
    length: int | None = None  # VARCHAR(n), kept so DDL round-trips
    identity: bool = False  # values come from the database (serial, identity, AUTO_INCREMENT, rowid)
    # portable default: a SQL literal (42, -1.5, 'text', TRUE) or CURRENT_TIMESTAMP / CURRENT_DATE
    default: str | None = None
    # the catalog gives it a value when an insert leaves it out: a default of any kind, portable
    # or not (gen_random_uuid(), uuid()), or a generation expression; never part of CREATE TABLE
    has_default: bool = False
    # a JSON document kept as written (PostgreSQL ``json``): created as ``json``, not ``jsonb``,
    # whose parse drops whitespace and duplicate keys and reorders keys
    json_text: bool = False


@dataclass(frozen=True)
class Index:
    """A secondary index, created after the load."""

    name: str
    columns: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key: ``columns`` of this table refer to ``referred_columns`` of ``referred_table``.

    ``on_delete`` / ``on_update``: CASCADE, SET NULL, SET DEFAULT or RESTRICT; None is NO ACTION.
    """

    name: str
    columns: tuple[str, ...]
    referred_table: str
    referred_columns: tuple[str, ...]
    on_delete: str | None = None
    on_update: str | None = None


@dataclass(frozen=True)
class Check:
    """A portable CHECK constraint: ``template`` with ``{c0}``, ``{c1}``… for ``columns`` and
    ``{length}`` for the character-length function (``connectors/expressions.render_check``)."""

    name: str
    template: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class TableSchema:
    """A table as the engine sees it."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    indexes: tuple[Index, ...] = field(default=())
    foreign_keys: tuple[ForeignKey, ...] = ()
    checks: tuple[Check, ...] = ()
    dropped: tuple[str, ...] = ()  # what the source has that does not travel, each with why

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        known = ", ".join(self.names)
        raise UnknownColumnError(f"table {self.name!r} has no column {name!r} (columns: {known})")

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, c.nullable) for c in self.columns])

    def is_unique(self, columns: Sequence[str]) -> bool:
        """Whether ``columns`` are exactly the primary key or a unique index (in any order)."""
        wanted = set(columns)
        return bool(wanted) and any(
            wanted == set(cols)
            for cols in (self.primary_key, *(ix.columns for ix in self.indexes if ix.unique))
        )

    def renamed(self, name: str) -> TableSchema:
        return replace(self, name=name)


def arrow_type(sql: sa.types.TypeEngine[Any], *, dialect: str, where: str) -> pa.DataType:
    """Map a reflected SQLAlchemy type to the Arrow type that carries it without loss."""
    import sqlalchemy as sa

    try:
        generic = sql.as_generic()
    except NotImplementedError:  # NullType has no generic form (SQLite: a column declared
        generic = sql  # without a type); it is carried as text at the end of this function
    if isinstance(sql, sa.JSON):  # PostgreSQL JSON and JSONB too: a document travels as its text
        return pa.json_()
    if isinstance(sql, sa.Uuid | sa.ARRAY):  # (PostgreSQL's UUID and ARRAY are these)
        raise UnsupportedTypeError(f"{where} has type {sql} which bulksync cannot carry yet")
    if isinstance(generic, sa.Boolean):
        return pa.bool_()
    if isinstance(generic, sa.SmallInteger):
        return pa.int16()
    if isinstance(generic, sa.BigInteger):
        return pa.int64()
    if isinstance(generic, sa.Integer):
        return pa.int64() if dialect == "sqlite" else pa.int32()
    if isinstance(generic, sa.Numeric) and not isinstance(generic, sa.Float):
        if generic.precision is None:
            return pa.float64() if dialect == "sqlite" else UNBOUNDED_NUMERIC
        if not 0 < generic.precision <= 76:  # Arrow's decimal256 holds 76 digits
            raise UnsupportedTypeError(
                f"{where} has type {sql}: more than 76 digits, which bulksync cannot carry yet"
            )
        decimal = pa.decimal256 if generic.precision > 38 else pa.decimal128
        return decimal(generic.precision, generic.scale or 0)
    if isinstance(generic, sa.Float):
        return pa.float32() if isinstance(sql, sa.REAL) and dialect != "sqlite" else pa.float64()
    if isinstance(generic, sa.DateTime):
        return pa.timestamp("us", tz="UTC" if getattr(generic, "timezone", False) else None)
    if isinstance(generic, sa.Date):
        return pa.date32()
    if isinstance(generic, sa.Time):
        if getattr(sql, "timezone", False):  # the driver hands it over as undecoded bytes
            raise UnsupportedTypeError(
                f"{where} has type TIME WITH TIME ZONE which bulksync cannot carry yet"
            )
        return pa.time64("us")
    if isinstance(generic, sa.LargeBinary):
        return pa.binary()
    if isinstance(generic, sa.String):
        return pa.string()
    if isinstance(sql, sa.types.NullType) and dialect == "sqlite":
        return pa.string()  # a column declared without a type: SQLite keeps whatever it got
    raise UnsupportedTypeError(f"{where} has type {sql} which bulksync cannot carry yet")


def is_json(t: pa.DataType) -> bool:
    """A JSON document (Arrow's ``arrow.json`` extension type over UTF-8 text)."""
    return isinstance(t, pa.JsonType)


def sql_type(col: Column) -> sa.types.TypeEngine[Any]:
    """Map an Arrow type back to a portable SQLAlchemy type for CREATE TABLE."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    t = col.type
    mapping: list[tuple[bool, sa.types.TypeEngine[Any]]] = [
        (pa.types.is_boolean(t), sa.Boolean()),
        (pa.types.is_int16(t) or pa.types.is_int8(t) or pa.types.is_uint8(t), sa.SmallInteger()),
        (pa.types.is_int32(t) or pa.types.is_uint16(t), sa.Integer()),
        (pa.types.is_int64(t) or pa.types.is_uint32(t), sa.BigInteger()),
        (pa.types.is_uint64(t), sa.Numeric(20, 0)),  # MySQL BIGINT UNSIGNED: up to 2**64 - 1
        (pa.types.is_float32(t), sa.REAL()),
        (pa.types.is_float64(t), sa.Float(precision=53)),
        (pa.types.is_date32(t), sa.Date()),
        (pa.types.is_time64(t), sa.Time()),
        (pa.types.is_binary(t) or pa.types.is_large_binary(t), sa.LargeBinary()),
    ]
    for hit, sqltype in mapping:
        if hit:
            return sqltype
    if t == UNBOUNDED_NUMERIC:
        return sa.Numeric()
    if pa.types.is_decimal(t):
        return sa.Numeric(t.precision, t.scale)
    if is_json(t):  # JSONB on PostgreSQL: indexable, comparable (an upsert skips equal documents)
        return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    if pa.types.is_timestamp(t):
        return sa.DateTime(timezone=t.tz is not None)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return sa.String(col.length) if col.length else sa.Text()
    raise UnsupportedTypeError(f"column {col.name!r} has Arrow type {t} with no SQL mapping")


def coerce(column: Column, value: Any) -> Any:
    """Turn a CLI string (or JSON value) into the Python value a column of this type compares with."""
    t = column.type
    if not isinstance(value, str):
        return value
    try:
        if pa.types.is_timestamp(t):
            return dt.datetime.fromisoformat(value)
        if pa.types.is_date32(t):
            return dt.date.fromisoformat(value[:10])
        if pa.types.is_integer(t):
            return int(value)
        if pa.types.is_floating(t):
            return float(value)
        if pa.types.is_decimal(t):
            return decimal.Decimal(value)
        if pa.types.is_boolean(t):
            return value.lower() in ("1", "t", "true", "y", "yes")
    except (ValueError, decimal.InvalidOperation) as exc:
        raise UsageError(f"value {value!r} is not a valid {t} for column {column.name!r}") from exc
    return value
