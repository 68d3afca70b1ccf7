"""Slicing a batch into statements, and a keyset chunk's size and last key asked of the source."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from bulksync.connectors.ddl import column_list, quote

if TYPE_CHECKING:
    from bulksync.connectors.base import ChunkQuery, Key
    from bulksync.connectors.sql import SqlConnector


def statements(batch: pa.RecordBatch, rows: int | None) -> list[pa.RecordBatch]:
    """``batch`` in slices of at most ``rows`` rows (zero-copy), or whole."""
    if rows is None or batch.num_rows <= rows:
        return [batch]
    return [batch.slice(start, rows) for start in range(0, batch.num_rows, rows)]


def chunk_bounds(
    conn: SqlConnector,
    query: ChunkQuery,
    table_sql: str,
    fetch: Callable[[str, list[Any]], list[dict[str, Any]]],
) -> tuple[int, Key | None]:
    """Rows in the next keyset chunk and its last key, asked of the source without reading it.

    Keys are unique, so if a row sits at offset ``limit - 1`` the chunk is full and ends there;
    otherwise it is the partition's last, short chunk.
    """
    order = column_list(query.order)
    where, params = conn.range_sql(query)
    mark = conn.placeholder(len(params) + 1)
    rows = fetch(
        f"SELECT {order} FROM {table_sql}{where} ORDER BY {order} LIMIT 1 OFFSET {mark}",
        [*params, query.limit - 1],
    )
    if rows:
        return query.limit, tuple(rows[0].values())
    found = fetch(f"SELECT COUNT(*) AS n FROM {table_sql}{where}", params)
    if not found[0]["n"]:
        return 0, None
    desc = ", ".join(f"{quote(c)} DESC" for c in query.order)
    last = fetch(f"SELECT {order} FROM {table_sql}{where} ORDER BY {desc} LIMIT 1", params)
    return int(found[0]["n"]), tuple(last[0].values())
