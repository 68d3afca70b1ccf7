"""MariaDB/MySQL's catalog read by hand from ``information_schema``: columns, keys, indexes and
foreign keys of one table, each column resolved to Arrow directly (``Declared``).

SQLAlchemy's inspector did this before (``SHOW CREATE TABLE``, parsed); importing it and its
dialect cost a MariaDB-source copy ~0.15 s before its first row. The rules are the ones the
inspector path applied (``mysql_types.mysql_arrow_type`` over SQLAlchemy's types), written out
and compared with it column by column in ``tests/integration/test_mysql_reflect.py``:

- ``TINYINT(1)`` is a boolean; other signed TINYINT, MEDIUMINT and INT are int32, SMALLINT
  int16, BIGINT int64; UNSIGNED widens to the next signed type (TINYINT → int16, SMALLINT →
  int32, MEDIUMINT and INT → int64) but BIGINT UNSIGNED, which is uint64;
- DECIMAL(p,s) is decimal128(p,s), decimal256 beyond 38 digits; FLOAT float32, DOUBLE float64;
- CHAR/VARCHAR keep their length, ENUM the length of its longest member, SET of all its
  members joined by commas (SQLAlchemy says its longest member: every value of two members was
  refused), the TEXT types none; BINARY/VARBINARY are binary with their length, the BLOB types without;
- DATETIME is a naive timestamp, TIMESTAMP an instant in UTC (``TIMESTAMP_TZ``), TIME a time of
  day, YEAR int16, JSON (MariaDB's alias of LONGTEXT) text;
- BIT, UUID, the spatial types and anything else are refused with the type's own name.

A foreign key's ``RESTRICT`` (MariaDB's default, which ``SHOW CREATE TABLE`` leaves out) is
"no action", as it was.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from bulksync.connectors.catalog import Constraints, Declared, Reflected, Rows, portable_foreign_key
from bulksync.connectors.checks import labels_check, portable_check
from bulksync.connectors.mysql_types import TIMESTAMP_TZ
from bulksync.errors import UnsupportedTypeError
from bulksync.schema import Check, ForeignKey, Index

_SIGNED = {"tinyint": pa.int32(), "smallint": pa.int16(), "mediumint": pa.int32(), "int": pa.int32()}
_UNSIGNED = {"tinyint": pa.int16(), "smallint": pa.int32(), "mediumint": pa.int64(), "int": pa.int64()}
_PLAIN = {
    "float": pa.float32(),
    "double": pa.float64(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
    "timestamp": pa.timestamp("us", tz=TIMESTAMP_TZ),
    "time": pa.time64("us"),
    "year": pa.int16(),
}
_TEXT = ("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "json")
_BLOB = ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob")
_MEMBER = re.compile(r"'((?:[^']|'')*)'")


def declared(row: dict[str, Any], *, where: str) -> Declared:
    """One ``information_schema.COLUMNS`` row (DATA_TYPE, COLUMN_TYPE, lengths) as Arrow."""
    kind = str(row["data_type"]).lower()
    full = str(row["column_type"]).lower()
    unsigned = " unsigned" in full
    if kind == "tinyint" and full.startswith("tinyint(1)") and not unsigned:
        return Declared(pa.bool_())
    if kind == "bigint":
        return Declared(pa.uint64() if unsigned else pa.int64())
    if kind in _SIGNED:
        return Declared((_UNSIGNED if unsigned else _SIGNED)[kind])
    if kind in ("decimal", "numeric"):
        precision, scale = int(row["numeric_precision"]), int(row["numeric_scale"] or 0)
        wide = precision > 38  # up to DECIMAL(65, 30)
        return Declared(pa.decimal256(precision, scale) if wide else pa.decimal128(precision, scale))
    if kind in _PLAIN:
        return Declared(_PLAIN[kind])
    if kind in ("enum", "set"):
        members = _members(str(row["column_type"]))
        if kind == "set":  # a SET value is any members joined by commas: 'r,w,x' needs them all
            return Declared(pa.string(), sum(len(m) + 1 for m in members) - 1 if members else None)
        return Declared(pa.string(), max((len(m) for m in members), default=0) or None)
    if kind in _TEXT:
        return Declared(pa.string(), _length(row) if kind in ("char", "varchar") else None)
    if kind in _BLOB:
        return Declared(pa.binary(), _length(row) if kind in ("binary", "varbinary") else None)
    shown = "BIT" if kind == "bit" else str(row["column_type"])
    raise UnsupportedTypeError(f"{where} has type {shown} which bulksync cannot carry yet")


def _members(column_type: str) -> list[str]:
    """The members of ``enum('a','it''s','back\\\\slash')`` as stored: ``''`` and ``\\\\`` unescaped."""
    return [re.sub(r"''|\\\\", lambda q: q.group()[0], m) for m in _MEMBER.findall(column_type)]


def _length(row: dict[str, Any]) -> int | None:
    n = row["character_maximum_length"]
    return None if n is None else int(n)


def reflect(rows: Rows, table: str) -> Reflected | None:
    """``table`` of the connection's database as its catalog describes it (None: no such table)."""
    found = rows(
        "SELECT COLUMN_NAME AS name, DATA_TYPE AS data_type, COLUMN_TYPE AS column_type, "
        "IS_NULLABLE AS nullable, CHARACTER_MAXIMUM_LENGTH AS character_maximum_length, "
        "NUMERIC_PRECISION AS numeric_precision, NUMERIC_SCALE AS numeric_scale "
        "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s "
        "ORDER BY ORDINAL_POSITION",
        [table],
    )
    if not found:
        return None
    columns = [
        (str(c["name"]), declared(c, where=f"{table}.{c['name']}"), str(c["nullable"]) == "YES")
        for c in found
    ]
    keys: dict[str, tuple[bool, list[str]]] = {}
    for ix in rows(
        "SELECT INDEX_NAME AS name, NON_UNIQUE AS non_unique, COLUMN_NAME AS col "
        "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s "
        "ORDER BY INDEX_NAME, SEQ_IN_INDEX",
        [table],
    ):
        keys.setdefault(str(ix["name"]), (not int(ix["non_unique"]), []))[1].append(str(ix["col"]))
    primary = tuple(keys.pop("PRIMARY", (True, []))[1])
    indexes = tuple(Index(name, tuple(cols), unique) for name, (unique, cols) in sorted(keys.items()))
    fks, dropped = _foreign_keys(rows, table)
    names = [name for name, _, _ in columns]
    made = [
        _members_check(table, str(c["name"]), str(c["column_type"]), names)
        for c in found
        if str(c["data_type"]).lower() == "enum"
    ]
    labels = tuple(m for m in made if isinstance(m, Check))
    dropped += [m for m in made if isinstance(m, str)]
    return Reflected(
        columns, primary, indexes, Constraints(foreign_keys=fks, checks=labels, dropped=tuple(dropped))
    )


def _members_check(table: str, column: str, column_type: str, names: list[str]) -> Check | str:
    """An ENUM travels as text; its members as a CHECK (``<table>_<column>_enum``), with ``''``,
    the value MariaDB stores for one it could not (outside strict mode)."""
    name, text = labels_check(table, column, list(dict.fromkeys([*_members(column_type), ""])))
    return portable_check(name, text, dialect="postgresql", columns=names)


def _foreign_keys(rows: Rows, table: str) -> tuple[tuple[ForeignKey, ...], list[str]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for r in rows(
        "SELECT k.CONSTRAINT_NAME AS name, k.COLUMN_NAME AS col, k.REFERENCED_COLUMN_NAME AS ref_col, "
        "k.REFERENCED_TABLE_NAME AS ref_table, "
        "CASE WHEN k.REFERENCED_TABLE_SCHEMA = DATABASE() THEN NULL ELSE k.REFERENCED_TABLE_SCHEMA END "
        "AS ref_schema, r.UPDATE_RULE AS on_update, r.DELETE_RULE AS on_delete "
        "FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r "
        "ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
        "AND r.TABLE_NAME = k.TABLE_NAME "
        "WHERE k.TABLE_SCHEMA = DATABASE() AND k.TABLE_NAME = %s AND k.REFERENCED_TABLE_NAME IS NOT NULL "
        "ORDER BY k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
        [table],
    ):
        grouped.setdefault(str(r["name"]), []).append(r)
    found, dropped = [], []
    for name, parts in grouped.items():
        first = parts[0]
        made = portable_foreign_key(
            table,
            name,
            tuple(str(p["col"]) for p in parts),
            (first["ref_schema"], str(first["ref_table"]), tuple(str(p["ref_col"]) for p in parts)),
            on_delete=_rule(first["on_delete"]),
            on_update=_rule(first["on_update"]),
        )
        if isinstance(made, str):
            dropped.append(made)
        else:
            found.append(made)
    return tuple(found), dropped


def _rule(rule: Any) -> str | None:
    return None if str(rule or "").upper() in ("RESTRICT", "NO ACTION") else str(rule)
