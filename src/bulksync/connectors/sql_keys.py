"""Keys: which rows of a batch carry a key their table holds already, and whether a key can
page a source at all.

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
    from bulksync.schema import TableSchema
    from bulksync.spec import Filter


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
        try:
            got = c._query(sql, params)
        except BadRowsError:  # a key the table could not hold (NUL in PostgreSQL text): not there
            continue
        if got.num_rows:  # (no rows may come back without columns, too)
            found.update(zip(*(got.column(i).to_pylist() for i in range(len(key))), strict=True))
    return [k in found for k in rows]


def holds_key(c: SqlConnector, table: str, key: Sequence[str], values: Sequence[Any]) -> bool:
    """Whether ``table`` holds a row whose ``key`` columns equal ``values`` (one indexed probe);
    with no key, whether it holds any row."""
    schema = c.describe(table)
    columns = [schema.column(k) for k in key]
    where = " AND ".join(f"{quote(k)} = {c.placeholder(n + 1)}" for n, k in enumerate(key))
    params = [c.param(col, v) for col, v in zip(columns, values, strict=True)]
    sql = f"SELECT 1 FROM {quote(table)}{' WHERE ' + where if where else ''} LIMIT 1"
    return bool(c._query(sql, params).num_rows > 0)


def _in_list(c: SqlConnector, key: Sequence[str], rows: int) -> str:
    marks = iter([c.placeholder(n + 1) for n in range(rows * len(key))])
    if len(key) == 1:
        return f"{quote(key[0])} IN ({', '.join(marks)})"
    values = ", ".join("(" + ", ".join(next(marks) for _ in key) + ")" for _ in range(rows))
    return f"({column_list(key)}) IN ({values})"


def key_problem(
    c: SqlConnector, table: TableSchema, key: Sequence[str], filters: Sequence[Filter]
) -> str | None:
    """Why ``key`` cannot page the rows of ``table`` that ``filters`` keep, or None.

    Reads go ``WHERE key > last ORDER BY key``: a row whose key is NULL is never read, and of a
    value shared by rows at a batch's end the rest are skipped, while the summary counts them as
    copied. A key the catalog declares unique is not counted again; NULLs are looked for
    wherever a key column may hold one (SQLite lets a PRIMARY KEY other than INTEGER hold NULL).
    """
    where, params = c.where_sql(table, filters)
    name, cols = quote(table.name), column_list(key)
    nullable = [k for k in key if table.column(k).nullable]
    if nullable:
        test = " OR ".join(f"{quote(k)} IS NULL" for k in nullable)
        found = c._rows(
            f"SELECT 1 AS found FROM {name}{where or ' WHERE 1 = 1'} AND ({test}) LIMIT 1", params
        )
        if found:
            return (
                f"table {table.name!r}: the key ({', '.join(key)}) is NULL in some rows, which a keyset "
                "read never reaches: choose NOT NULL key columns with --key (or fill them)"
            )
    if table.is_unique(key):
        return None
    repeated = c._rows(
        f"SELECT {cols}, COUNT(*) AS bs_rows FROM {name}{where} GROUP BY {cols} HAVING COUNT(*) > 1 LIMIT 1",
        params,
    )
    if not repeated:
        return None
    example = ", ".join(f"{k}={repeated[0][k]!r}" for k in key)
    return (
        f"table {table.name!r}: the key ({', '.join(key)}) is not unique ({example} is in "
        f"{repeated[0]['bs_rows']} rows), so paging by it would skip rows: name column(s) that identify "
        "one row each with --key"
    )


def cursor_problem(
    c: SqlConnector, table: TableSchema, cursor: str, key: Sequence[str], filters: Sequence[Filter]
) -> str | None:
    """Why ``cursor`` cannot order an incremental read of the rows ``filters`` keep, or None.

    Incremental reads go ``WHERE (cursor, key) > last``: a row whose cursor is NULL is never
    read, on the first run or any later one, while the run reports success. A column the catalog
    declares NOT NULL is not looked at; otherwise one probe (the cursor's index answers it).
    """
    if not table.column(cursor).nullable:
        return None
    where, params = c.where_sql(table, filters)
    found = c._rows(
        f"SELECT {column_list(key)} FROM {quote(table.name)}{where or ' WHERE 1 = 1'} "
        f"AND {quote(cursor)} IS NULL LIMIT 1",
        params,
    )
    if not found:
        return None
    example = ", ".join(f"{k}={found[0][k]!r}" for k in key)
    return (
        f"table {table.name!r}: the cursor {cursor} is NULL in some rows ({example} is one), which an "
        "incremental read never reaches: fill them, choose a NOT NULL --cursor, or copy with --mode upsert"
    )
