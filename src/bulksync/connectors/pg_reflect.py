"""PostgreSQL's catalog read by hand: table names, and a table in three queries.

SQLAlchemy's inspector did this before, at the price of importing SQLAlchemy and its dialect
(0.2-0.45 s of start-up before a copy's first row) and of a second connection. The rules are
the inspector's, so a table reads as it did (``tests/integration/test_pg_reflect.py`` compares
the two): a table is found as an unqualified name resolves on the session's ``search_path``
(``with_schema``), types map from ``format_type`` as ``schema.arrow_type`` mapped SQLAlchemy's
types, and partial and expression indexes are notes, not indexes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import pyarrow as pa

from bulksync.connectors.catalog import (
    Declared,
    Reflected,
    portable_constraints,
    portable_foreign_key,
)
from bulksync.connectors.checks import labels_check
from bulksync.errors import UnsupportedTypeError
from bulksync.schema import UNBOUNDED_NUMERIC, ForeignKey, Index

Rows = Callable[[str, Sequence[Any]], list[dict[str, Any]]]

# tables an unqualified name finds on the session's search_path (SQLAlchemy's has_table)
_VISIBLE = (
    "pg_table_is_visible(c.oid) AND n.nspname <> 'pg_catalog' AND c.relname = %s "
    "AND c.relkind IN ('r', 'p', 'f', 'v', 'm')"
)
TABLE_NAMES_SQL = (
    "SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE pg_table_is_visible(c.oid) AND n.nspname <> 'pg_catalog' AND c.relkind IN ('r', 'p') "
    "AND c.relpersistence <> 't'"
)
COLUMNS_SQL = f"""
SELECT c.oid AS oid, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
       t.typtype AS typtype, a.attnotnull AS notnull, a.attidentity <> '' AS identity,
       CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END AS dflt,
       a.attgenerated <> '' AS generated,
       (SELECT max(length(e.enumlabel)) FROM pg_enum e WHERE e.enumtypid = a.atttypid) AS enum_length,
       ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = a.atttypid
             ORDER BY e.enumsortorder) AS enum_labels
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE {_VISIBLE}
ORDER BY a.attnum
"""
_NAMES_OF = """ARRAY(SELECT a.attname::text FROM unnest({keys}) WITH ORDINALITY k(num, i)
      LEFT JOIN pg_attribute a ON a.attrelid = {rel} AND a.attnum = k.num {extra} ORDER BY k.i)"""
CONSTRAINTS_SQL = f"""
SELECT con.conname AS name, con.contype AS kind,
       {_NAMES_OF.format(keys="con.conkey", rel="con.conrelid", extra="")} AS columns,
       {_NAMES_OF.format(keys="con.confkey", rel="con.confrelid", extra="")} AS referred_columns,
       rc.relname AS referred_table,
       CASE WHEN NOT pg_table_is_visible(rc.oid) THEN rn.nspname END AS referred_schema,
       con.confdeltype AS on_delete, con.confupdtype AS on_update,
       CASE WHEN con.contype = 'c' THEN pg_get_expr(con.conbin, con.conrelid, true) END AS check_sql
FROM pg_constraint con
LEFT JOIN pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.conrelid = %s AND con.contype IN ('p', 'f', 'c')
ORDER BY con.conname
"""
INDEXES_SQL = f"""
SELECT ic.relname AS name, ix.indisunique AS is_unique, ix.indpred IS NOT NULL AS partial,
       {_NAMES_OF.format(keys="ix.indkey::int2[]", rel="ix.indrelid", extra="WHERE k.i <= ix.indnkeyatts")}
         AS columns
FROM pg_index ix JOIN pg_class ic ON ic.oid = ix.indexrelid
WHERE ix.indrelid = %s AND NOT ix.indisprimary
ORDER BY ic.relname
"""
_ACTION_CODES = {"a": None, "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
_SIMPLE: dict[str, pa.DataType] = {
    "boolean": pa.bool_(),
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "real": pa.float32(),
    "double precision": pa.float64(),
    "date": pa.date32(),
    "time": pa.time64("us"),
    "time without time zone": pa.time64("us"),
    "timestamp": pa.timestamp("us"),
    "timestamp without time zone": pa.timestamp("us"),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "bytea": pa.binary(),
    "json": pa.json_(),
    "jsonb": pa.json_(),
}
_TEXT = ("text", "citext", "name", '"char"', "character", "character varying")
_INTEGERS = ("smallint", "integer", "bigint")


def column_arrow(format_type: str, *, typtype: str, enum_length: int | None, where: str) -> Declared:
    """The Arrow type (and VARCHAR length) of a column of ``format_type`` (``typtype``: pg_type's)."""
    args_found = re.search(r"\((.*)\)", format_type)
    args = re.split(r"\s*,\s*", args_found.group(1)) if args_found and args_found.group(1) else []
    base = re.sub(r"\(.*\)", "", format_type)
    if base.endswith("[]"):
        raise UnsupportedTypeError(f"{where} has type ARRAY which bulksync cannot carry yet")
    if typtype == "d":  # a domain: its name
        raise UnsupportedTypeError(f"{where} has type {format_type.upper()} which bulksync cannot carry yet")
    if typtype == "e":  # an enum: its labels are text (SQLAlchemy's ENUM is a VARCHAR that fits them)
        return Declared(pa.string(), enum_length)
    if base == "json":  # kept as written: jsonb would parse it (whitespace, key order, duplicates)
        return Declared(pa.json_(), json_text=True)
    if base in _SIMPLE:
        return Declared(_SIMPLE[base])
    if base == "numeric":
        if len(args) != 2:
            return Declared(UNBOUNDED_NUMERIC)
        precision, scale = int(args[0]), int(args[1])
        if not 0 < precision <= 76:  # Arrow's decimal256 holds 76 digits
            raise UnsupportedTypeError(
                f"{where} has type NUMERIC({precision}, {scale}): more than 76 digits, "
                "which bulksync cannot carry yet"
            )
        wide = precision > 38  # MariaDB's DECIMAL(65, 30) made again in PostgreSQL
        return Declared(pa.decimal256(precision, scale) if wide else pa.decimal128(precision, scale))
    if base == "time with time zone":  # the driver hands it over as undecoded bytes
        raise UnsupportedTypeError(f"{where} has type TIME WITH TIME ZONE which bulksync cannot carry yet")
    if base in _TEXT:
        length = int(args[0]) if args and args[0].isdigit() and base.startswith("character") else None
        return Declared(pa.string(), length)
    raise UnsupportedTypeError(f"{where} has type {format_type.upper()} which bulksync cannot carry yet")


def table_names(rows: Rows) -> list[str]:
    """The tables (not views, not temporary) an unqualified name finds on the search_path."""
    return [str(r["name"]) for r in rows(TABLE_NAMES_SQL, [])]


def reflect(rows: Rows, table: str) -> Reflected | None:
    """Columns, keys, plain-column indexes and constraints of ``table``; None if there is none."""
    found = rows(COLUMNS_SQL, [table])
    if not found:
        return None
    oid = found[0]["oid"]
    present = [c for c in found if c["name"] is not None]  # a table without columns: one NULL row
    columns, described = [], []
    for c in present:
        name, format_type, default = str(c["name"]), str(c["type"]), c["dflt"]
        arrow = column_arrow(
            format_type, typtype=str(c["typtype"]), enum_length=c["enum_length"], where=f"{table}.{name}"
        )
        columns.append((name, arrow, not c["notnull"]))
        described.append((name, default, bool(c["identity"]) or _serial(format_type, default)))
    constraints = rows(CONSTRAINTS_SQL, [oid])
    pk = next((tuple(c["columns"]) for c in constraints if c["kind"] == "p"), ())
    fks = _foreign_keys(table, [c for c in constraints if c["kind"] == "f"])
    checks = [(str(c["name"]), str(c["check_sql"])) for c in constraints if c["kind"] == "c"]
    checks += [labels_check(table, str(c["name"]), c["enum_labels"]) for c in present if c["enum_labels"]]
    generated = [str(c["name"]) for c in present if c["generated"]]
    portable = portable_constraints(
        described, checks, foreign_keys=fks, dialect="postgresql", generated=generated
    )
    indexes, not_created = _indexes(rows(INDEXES_SQL, [oid]))
    portable = replace(portable, dropped=(*portable.dropped, *not_created))
    return Reflected(columns, pk, indexes, portable)


def _serial(format_type: str, default: str | None) -> bool:
    """An integer column numbered by a sequence (``serial``): SQLAlchemy's autoincrement."""
    return format_type in _INTEGERS and (default or "").startswith("nextval('")


def _foreign_keys(table: str, found: list[dict[str, Any]]) -> tuple[tuple[ForeignKey, ...], list[str]]:
    keys, dropped = [], []
    for fk in found:
        made = portable_foreign_key(
            table,
            str(fk["name"]),
            tuple(fk["columns"]),
            (fk["referred_schema"], str(fk["referred_table"]), tuple(fk["referred_columns"])),
            on_delete=_ACTION_CODES.get(fk["on_delete"]),
            on_update=_ACTION_CODES.get(fk["on_update"]),
        )
        if isinstance(made, str):
            dropped.append(made)
        else:
            keys.append(made)
    return tuple(keys), dropped


def _indexes(found: list[dict[str, Any]]) -> tuple[tuple[Index, ...], list[str]]:
    """The plain-column indexes, and a note for each partial or expression index left out."""
    indexes, not_created = [], []
    for ix in found:
        name = str(ix["name"])
        if ix["partial"]:  # built whole it would be wrong; UNIQUE, it could refuse the source's rows
            not_created.append(f"index {name} is partial (… WHERE …): recreate it by hand")
        elif not all(ix["columns"]):  # an expression has no column name
            not_created.append(f"index {name} is on an expression: recreate it by hand")
        else:
            indexes.append(Index(name, tuple(ix["columns"]), bool(ix["is_unique"])))
    return tuple(indexes), not_created
