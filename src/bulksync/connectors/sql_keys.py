"""Which rows of a batch carry a key their table holds already.

An append that meets keys already in the destination (a ``--restart`` over rows a run copied
before, rows loaded by hand) is refused as a whole. Bisecting such a batch down to single rows
costs two statements and a savepoint per row — half an hour for a million rows that are all
there already. One ``SELECT key … WHERE key IN (…)`` per few thousand keys names them instead.

The answer only ever says "present" for a key the database returned and that equals the
batch's value as Python compares them; a value the database matches otherwise (a
case-insensitive collation, trailing spaces) stays "not found" and goes on to the bisection,
which finds it the slow way. So a row is never set aside without its key being in the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from bulksync.connectors.conform import cast_array, written_columns
from bulksync.connectors.ddl import column_list, quote
from bulksync.errors import BadRowsError

if TYPE_CHECKING:
    from bulksync.connectors.sql import SqlConnector


def existing_keys(c: SqlConnector, table: str, key: Sequence[str], batch: pa.RecordBatch) -> list[bool]:
    """For each row of ``batch`` (its columns matched to ``table``'s as a write matches them),
    whether ``table`` holds a row with the same ``key`` (destination column names)."""
    schema = c.describe(table)
    written = written_columns(batch, schema)
    names = [w.name for w in written]
    if not set(key) <= set(names):  # the key is not among what the batch writes
        return [False] * batch.num_rows
    at = [names.index(k) for k in key]
    try:
        values = [cast_array(batch.column(i), written[i].type, written[i].name).to_pylist() for i in at]
    except (BadRowsError, pa.ArrowException):  # a key the column cannot hold: no lookup helps
        return [False] * batch.num_rows
    rows: list[tuple[Any, ...]] = list(zip(*values, strict=True))
    distinct = [k for k in dict.fromkeys(rows) if None not in k]
    columns = [schema.column(k) for k in key]
    per = max(1, c.max_params // len(key))
    found: set[tuple[Any, ...]] = set()
    for start in range(0, len(distinct), per):
        part = distinct[start : start + per]
        sql = f"SELECT {column_list(key)} FROM {quote(table)} WHERE {_in_list(c, key, len(part))}"
        params = [c.param(col, v) for k in part for col, v in zip(columns, k, strict=True)]
        got = c._query(sql, params)
        if got.num_rows:  # (no rows may come back without columns, too)
            found.update(zip(*(got.column(i).to_pylist() for i in range(len(key))), strict=True))
    return [k in found for k in rows]


def _in_list(c: SqlConnector, key: Sequence[str], rows: int) -> str:
    marks = iter([c.placeholder(n + 1) for n in range(rows * len(key))])
    if len(key) == 1:
        return f"{quote(key[0])} IN ({', '.join(marks)})"
    values = ", ".join("(" + ", ".join(next(marks) for _ in key) + ")" for _ in range(rows))
    return f"({column_list(key)}) IN ({values})"
