"""An incremental cursor in SQLite whose values do not sort as the times they are.

SQLite keeps a DATETIME as whatever was stored: text, an integer, a real. An incremental read
goes ``WHERE (cursor, key) > watermark`` with the watermark bound as UTC text
(``'2024-01-01 15:20:00'``), and SQLite compares by storage class, then as text: every number
sorts before every text (a Unix-time cursor never passes the watermark: each later run is
"already up to date"), and ``'2024-01-01 11:00:00-05:00'`` — a time five hours past the
watermark, as Python's ``str()`` of an aware datetime writes it — sorts below it. Those rows were
never read, with exit 0. Such a cursor is refused before the first row, with one value as the
example; the scan is one pass over the cursor column (SQLite cannot index a GLOB on it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from bulksync.connectors.ddl import column_list, quote
from bulksync.schema import TableSchema
from bulksync.spec import Filter

if TYPE_CHECKING:
    from bulksync.connectors.sqlite import SqliteConnector

# a numeric offset after the time: '+02:00', '-0500' (a 'Z' names UTC and sorts as its text)
_OFFSET = ("*[0-9][+-][0-9][0-9]:[0-9][0-9]", "*[0-9][+-][0-9][0-9][0-9][0-9]")


def unsortable_times(
    c: SqliteConnector, table: TableSchema, cursor: str, key: Sequence[str], filters: Sequence[Filter]
) -> str | None:
    """Why ``cursor``'s stored values cannot be compared with a watermark, or None."""
    kind = table.column(cursor).type
    if not (pa.types.is_timestamp(kind) or pa.types.is_date(kind)):
        return None
    q = quote(cursor)
    offset = " OR ".join(f"{q} GLOB '{pattern}'" for pattern in _OFFSET)
    where, params = c.where_sql(table, filters)
    found = c._rows(
        f"SELECT {column_list(key)}, CAST({q} AS TEXT) AS bulksync_value, typeof({q}) AS bulksync_kind "
        f"FROM {quote(table.name)}{where or ' WHERE 1 = 1'} AND {q} IS NOT NULL "
        f"AND (typeof({q}) <> 'text' OR {offset}) LIMIT 1",
        params,
    )
    if not found:
        return None
    row = found[0]
    example = ", ".join(f"{k}={row[k]!r}" for k in key)
    what = "a number" if row["bulksync_kind"] != "text" else "a time with a UTC offset"
    return (
        f"table {table.name!r}: the cursor {cursor} holds {what} ({row['bulksync_value']!r} at {example}), "
        "which SQLite does not sort as the time it is: an incremental read would miss rows. Store "
        "UTC times as text ('2024-01-01 15:20:00'), choose another --cursor, or copy with --mode upsert"
    )
