"""MariaDB's limit on a row's declared size, and which columns go ``LONGTEXT`` to fit it.

MariaDB refuses a table whose columns declare more than 65,535 bytes (``Row size too large``),
counting a ``VARCHAR(n)`` in utf8mb4 as ``4 n`` bytes and a ``TEXT``/``BLOB`` as about 12. A
SQLite or PostgreSQL table of thirty ``VARCHAR(1000)`` columns holds fine there and could not be
created here at all. The widest ``VARCHAR`` columns outside keys and indexes become ``LONGTEXT``
until the row fits; the lengths they lose are said in ``not carried``.
"""

from __future__ import annotations

import pyarrow as pa

from bulksync.connectors.mysql_types import KEY_TEXT_LENGTH, VARCHAR_MAX
from bulksync.schema import Column, TableSchema, is_json

ROW_BYTES = 65_535
_LOB_BYTES = 12  # a TEXT or BLOB column's share of the row: its pointer and length
_DECIMAL_DIGITS = (0, 1, 1, 2, 2, 3, 3, 4, 4)  # bytes of the digits left over from each 9


def keyed_columns(schema: TableSchema) -> set[str]:
    """The columns in a key, an index or a foreign key: their text needs a bounded type."""
    keyed = set(schema.primary_key) | {c for ix in schema.indexes for c in ix.columns}
    return keyed | {c for fk in schema.foreign_keys for c in fk.columns}


def varchar_length(col: Column, *, keyed: bool) -> int | None:
    """The n of the ``VARCHAR(n)`` a text column is made as, None when it is ``LONGTEXT``."""
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)) or is_json(col.type):
        return None
    length = col.length or (KEY_TEXT_LENGTH if keyed else None)
    return None if length is None or length > VARCHAR_MAX else length


def long_texts(schema: TableSchema, keyed: set[str]) -> tuple[str, ...]:
    """The text columns, widest first, made ``LONGTEXT`` instead of ``VARCHAR`` so that the row
    fits in ``ROW_BYTES``; none for a table that fits as it is. Keyed columns keep their type."""
    sizes = {c.name: _declared_bytes(c, keyed=c.name in keyed) for c in schema.columns}
    total = sum(sizes.values()) + (len(schema.columns) + 7) // 8  # the NULL bitmap
    movable = [c.name for c in schema.columns if c.name not in keyed and varchar_length(c, keyed=False)]
    moved: list[str] = []
    for name in sorted(movable, key=lambda n: -sizes[n]):
        if total <= ROW_BYTES:
            break
        total -= sizes[name] - _LOB_BYTES
        moved.append(name)
    return tuple(moved)


def long_text_notes(schema: TableSchema, moved: tuple[str, ...]) -> list[str]:
    """The ``not carried`` line of ``long_texts``' columns (one line, however many)."""
    if not moved:
        return []
    lengths = {c.name: c.length for c in schema.columns}
    each = ", ".join(f"{name} ({lengths[name]})" for name in moved)
    return [
        f"{each}: length not carried (MariaDB holds {ROW_BYTES:,} declared bytes per row: "
        f"the widest VARCHAR columns are LONGTEXT)"
    ]


def _declared_bytes(col: Column, *, keyed: bool) -> int:
    t = col.type
    varchar = varchar_length(col, keyed=keyed)
    if varchar is not None:
        return 4 * varchar + (1 if 4 * varchar < 256 else 2)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return (col.length or KEY_TEXT_LENGTH) + 2 if keyed else _LOB_BYTES
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _LOB_BYTES
    if pa.types.is_boolean(t):
        return 1
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return max(int(t.bit_width) // 8, 1)
    if pa.types.is_decimal(t):
        return _decimal_bytes(t.precision - t.scale) + _decimal_bytes(t.scale)
    if pa.types.is_date(t):
        return 3
    if pa.types.is_time(t):
        return 6
    return 8  # DATETIME(6), TIMESTAMP(6) and anything else of fixed width


def _decimal_bytes(digits: int) -> int:
    return digits // 9 * 4 + _DECIMAL_DIGITS[digits % 9]
