"""REAL values read through the ADBC SQLite driver with every digit, at no cost when a column is clean.

The driver infers each column's type from the rows of one batch. A column whose batch mixes
text and REAL values (an untyped column, a DECIMAL column holding '' or 'n/a') comes back as
text, each REAL printed with ``%e``: 7 significant digits, 1234567.89 → '1.234568e+06', without
a word. SQLite's ``CAST(x AS TEXT)`` prints the round-trip text instead, but selecting every
number through it cost a fifth of a copy's CPU. So the cast is selected only where it is needed:

- a column the plan reads as text and SQLite can store a REAL in (it has no TEXT affinity):
  always, because nothing in the driver's text tells a REAL's digits from text;
- a float, decimal or integer column: only for a chunk the driver returned it as text in (an
  integer column: as anything but integers). That chunk is
  read again whole with the cast (never spliced: the two reads may see different rows), and
  the table's later chunks are read with the cast straight away (a column with text in one
  chunk usually has it in the next).

A column of TEXT affinity never holds a REAL: SQLite stores any number given to it as text. A
BLOB column is always read through ``CAST(x AS BLOB)``: a number stored there arrives as the
bytes of SQLite's own text of it (``1.5`` → ``b'1.5'``, as ``CAST`` gives), where the driver
made every value of the batch a double first and then printed it with ``%e`` (``42`` →
``b'4.200000e+01'``).
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from bulksync.connectors.sql import quote
from bulksync.schema import Column, TableSchema

_INTEGER = re.compile(r"[+-]?\d+")
_REAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|-?Inf")  # as CAST(real AS TEXT) prints


def text_affinity(declared: str | None) -> bool:
    """True when SQLite gives a column so declared TEXT affinity (rules 1 and 2 of its docs)."""
    upper = (declared or "").upper()
    return "INT" not in upper and any(word in upper for word in ("CHAR", "CLOB", "TEXT"))


def number_of(value: Any) -> Any:
    """``value`` as the number SQLite stored, when it is the text ``CAST(x AS TEXT)`` printed."""
    if not isinstance(value, str):
        return value
    if _INTEGER.fullmatch(value) and -(2**63) <= int(value) < 2**63:
        return int(value)
    if _REAL.fullmatch(value):
        return float(value)
    return value


def _holds_numbers(t: pa.DataType) -> bool:
    return bool(pa.types.is_floating(t) or pa.types.is_decimal(t) or pa.types.is_integer(t))


def _cast_reals(name: str) -> str:
    q = quote(name)
    return f"CASE WHEN typeof({q}) = 'real' THEN CAST({q} AS TEXT) ELSE {q} END AS {q}"


def select_list(table: TableSchema, text_only: frozenset[str], *, exact: bool) -> str:
    """The chunk read's columns: the cast where a REAL could come back as 7-digit text.

    ``text_only`` names the columns of TEXT affinity; ``exact`` casts the float and decimal
    columns too (the re-read of a chunk :func:`reals_as_text` found).
    """

    def one(col: Column) -> str:
        if col.name in text_only:
            return quote(col.name)
        if pa.types.is_binary(col.type):  # a number there as SQLite's text of it, not '%e'
            return f"CAST({quote(col.name)} AS BLOB) AS {quote(col.name)}"
        if pa.types.is_string(col.type) or (exact and _holds_numbers(col.type)):
            return _cast_reals(col.name)
        return quote(col.name)

    return ", ".join(one(c) for c in table.columns)


def reals_as_text(raw: pa.Schema, table: TableSchema, text_only: frozenset[str]) -> bool:
    """True when the driver read a number column that can hold REALs as anything but numbers
    (the chunk may carry REALs printed with 7 digits), or an integer column as anything but
    integers: a REAL among integers makes the driver read them all as doubles, and an integer
    past 2**53 so read comes back changed (9007199254740993 → 9007199254740992)."""
    for col in table.columns:
        if col.name in text_only or not _holds_numbers(col.type):
            continue
        got = raw.field(col.name).type if col.name in raw.names else pa.null()
        if pa.types.is_integer(col.type):
            exact = pa.types.is_integer(got) or pa.types.is_null(got)
        else:
            exact = pa.types.is_integer(got) or pa.types.is_floating(got) or pa.types.is_null(got)
        if not exact:
            return True
    return False
