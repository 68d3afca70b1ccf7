"""MySQL/MariaDB types ↔ Arrow, and Arrow batches → the text ``LOAD DATA`` reads.

Reads: each column is selected as an expression connectorx decodes exactly (DECIMAL as text,
TIME as microseconds) and cast to the schema's Arrow type. DATE, DATETIME and TIMESTAMP are read
as their text (a TIMESTAMP's is UTC: the session's time zone is +00:00): a zero date
(``0000-00-00``, ``2024-00-15``) has no Arrow value, so it fails its cast like any invalid value
and its row is rejected with the reason (``--on-bad-value``), never read as NULL. We never write
one: the session's ``sql_mode`` has NO_ZERO_DATE and NO_ZERO_IN_DATE.

Writes: a batch becomes tab-separated text in LOAD DATA's default escaping (``\\N`` for NULL,
backslash escapes for tab, newline, backslash, NUL), built with Arrow compute kernels, never
value by value in Python. Binary columns travel as hex and are decoded with ``UNHEX``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bulksync.errors import UnsupportedTypeError
from bulksync.schema import Column, arrow_type, is_json

if TYPE_CHECKING:  # imported where a MariaDB table is created (start-up time; ``mysql_reflect``)
    import sqlalchemy as sa

KEY_TEXT_LENGTH = 255  # an unbounded text column in a key or index becomes VARCHAR(255)
VARCHAR_MAX = 16383  # utf8mb4 characters in a VARCHAR (65,535 bytes / 4)
# MariaDB's DECIMAL: up to 65 digits, up to 38 after the point; a wider one (an unconstrained
# NUMERIC) becomes DECIMAL(65, 30), which keeps 35 digits before the point
_DECIMAL_MAX, _DECIMAL_SCALE_MAX, _WIDE_SCALE = 65, 38, 30
# UTC, spelled so that an instant read from a MariaDB TIMESTAMP (so within 1970..2038) is told
# from any other (PostgreSQL's timestamptz is "UTC"): into MariaDB it is a TIMESTAMP again
TIMESTAMP_TZ = "+00:00"
_WIDER = {pa.uint8(): pa.int16(), pa.uint16(): pa.int32(), pa.uint32(): pa.int64()}


def mysql_arrow_type(satype: sa.types.TypeEngine[Any], *, where: str) -> pa.DataType:
    """The Arrow type a SQLAlchemy-reflected MySQL/MariaDB column travels as: the rules
    ``mysql_reflect`` applies to the catalog by hand (and is tested against)."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import mysql

    if isinstance(satype, mysql.TINYINT) and satype.display_width == 1 and not satype.unsigned:
        return pa.bool_()  # BOOL/BOOLEAN are TINYINT(1)
    if isinstance(satype, mysql.BIT):
        raise UnsupportedTypeError(f"{where} has type {satype} which bulksync cannot carry yet")
    if getattr(satype, "unsigned", False) and isinstance(satype, sa.Integer):
        # BIGINT UNSIGNED keeps its full range; smaller ones widen to a signed type every
        # destination has
        if isinstance(satype, mysql.BIGINT):
            return pa.uint64()
        if isinstance(satype, mysql.TINYINT):
            return pa.int16()
        if isinstance(satype, mysql.SMALLINT):
            return pa.int32()
        return pa.int64()
    if isinstance(satype, mysql.MEDIUMINT | mysql.INTEGER) and not isinstance(satype, mysql.BIGINT):
        return pa.int32()
    if isinstance(satype, mysql.YEAR):
        return pa.int16()
    if isinstance(satype, mysql.FLOAT):
        return pa.float32()
    if isinstance(satype, mysql.DOUBLE | mysql.REAL):
        return pa.float64()
    if isinstance(satype, sa.Numeric) and not isinstance(satype, sa.Float):
        if satype.precision is not None and satype.precision > 38:  # up to DECIMAL(65, 30)
            return pa.decimal256(satype.precision, satype.scale or 0)
    if isinstance(satype, mysql.TIMESTAMP):  # an instant, read in UTC whatever the server's zone
        return pa.timestamp("us", tz=TIMESTAMP_TZ)
    if isinstance(satype, mysql.JSON):
        return pa.string()  # the document's text, exactly as stored
    if isinstance(satype, sa.types._Binary):
        return pa.binary()
    return arrow_type(satype, dialect="mysql", where=where)


def mysql_column_type(col: Column, *, keyed: bool, long_text: bool = False) -> sa.types.TypeEngine[Any]:
    """The MariaDB type that stores ``col`` without loss (``keyed``: in a key or an index;
    ``long_text``: text made ``LONGTEXT`` whatever its length, see ``mysql_row_size``)."""
    from sqlalchemy.dialects import mysql

    t = col.type
    if pa.types.is_boolean(t):
        return mysql.TINYINT(display_width=1)
    if pa.types.is_integer(t):
        if pa.types.is_unsigned_integer(t):
            return {8: mysql.TINYINT, 16: mysql.SMALLINT, 32: mysql.INTEGER, 64: mysql.BIGINT}[t.bit_width](
                unsigned=True
            )
        return {8: mysql.TINYINT, 16: mysql.SMALLINT, 32: mysql.INTEGER, 64: mysql.BIGINT}[t.bit_width]()
    if pa.types.is_float32(t):
        return mysql.FLOAT()
    if pa.types.is_floating(t):
        return mysql.DOUBLE()
    if pa.types.is_decimal(t):
        if t.precision <= _DECIMAL_MAX and 0 <= t.scale <= _DECIMAL_SCALE_MAX:
            return mysql.DECIMAL(t.precision, t.scale)  # NUMERIC(38, 38) too: not cut to 30 places
        return mysql.DECIMAL(_DECIMAL_MAX, min(max(t.scale, 0), _WIDE_SCALE))
    if pa.types.is_timestamp(t):
        # an instant is its UTC wall time in a DATETIME: a TIMESTAMP column holds only
        # 1970..2038 and would reject every other instant (but those of a TIMESTAMP)
        return mysql.TIMESTAMP(fsp=6) if t.tz == TIMESTAMP_TZ else mysql.DATETIME(fsp=6)
    if pa.types.is_date32(t) or pa.types.is_date64(t):
        return mysql.DATE()
    if pa.types.is_time(t):
        return mysql.TIME(fsp=6)
    if is_json(t):
        return mysql.JSON()
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        length = col.length or (KEY_TEXT_LENGTH if keyed else None)
        if length is None or length > VARCHAR_MAX or long_text:
            return mysql.LONGTEXT()
        return mysql.VARCHAR(length)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return mysql.VARBINARY(col.length or KEY_TEXT_LENGTH) if keyed else mysql.LONGBLOB()
    raise UnsupportedTypeError(f"column {col.name!r} has Arrow type {t} with no MariaDB mapping")


# -- reads --------------------------------------------------------------------------------------


_CX_DIGITS, _CX_SCALE = 28, 10  # connectorx's decimal: 28 digits, rescaled to 10 after the point


def native_decimal(t: pa.DataType) -> bool:
    """A DECIMAL connectorx reads exactly. It decodes every DECIMAL through a 28-digit decimal
    rescaled to 10 places (into decimal128(38, 10)), so a value comes through only if its
    integer digits plus 10 fit in 28: DECIMAL(p, s) with s <= 10 and p - s <= 18. A wider one
    (DECIMAL(20, 0), uint64's usual column, fails with 'decimal scale is not equal to expected
    scale') is selected as text and converted exactly."""
    if not pa.types.is_decimal(t) or t.scale > _CX_SCALE or t.scale < 0:
        return False
    return bool(t.precision - t.scale + _CX_SCALE <= _CX_DIGITS)


def select_expression(col: Column, ident: str) -> str:
    """What to SELECT for ``col`` so connectorx decodes it exactly."""
    t = col.type
    if pa.types.is_decimal(t) and not native_decimal(t):
        return f"CAST({ident} AS CHAR)"  # connectorx decodes DECIMAL through a 28-digit type
    if pa.types.is_timestamp(t) or pa.types.is_date32(t):
        return f"CAST({ident} AS CHAR)"  # a zero date: a value that fails its cast (see above)
    if pa.types.is_time(t):
        return f"CAST(TIME_TO_SEC({ident}) * 1000000 AS SIGNED)"
    return ident


def decode_column(arr: pa.Array | pa.ChunkedArray, col: Column, table: str) -> pa.Array | pa.ChunkedArray:
    """Turn what ``select_expression`` selected back into ``col`` (of ``table``)'s Arrow type."""
    t = col.type
    if native_decimal(t) and pa.types.is_decimal(arr.type) and arr.type != t:
        return arr.cast(t)  # scale 10 → the column's: exact (safe cast refuses any loss)
    if pa.types.is_time(t) and pa.types.is_integer(arr.type):
        micros = arr.cast(pa.int64())
        bad = pc.or_(pc.less(micros, 0), pc.greater_equal(micros, 86_400 * 10**6))
        if pc.any(bad).as_py():
            raise UnsupportedTypeError(
                f"{table}.{col.name} holds a TIME outside 00:00:00..23:59:59.999999 "
                "(a duration, not a time of day), which Arrow's time64 cannot carry"
            )
        return micros.cast(pa.time64("us")).cast(t)
    return arr


# -- writes -------------------------------------------------------------------------------------

_NULL = pa.scalar("\\N")
_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"), ("\0", "\\0"))
_HEX = np.frombuffer(b"".join(f"{i:02x}".encode() for i in range(256)), dtype=np.uint8).reshape(256, 2)


def is_hex_column(t: pa.DataType) -> bool:
    return bool(pa.types.is_binary(t) or pa.types.is_large_binary(t))


def tsv_payload(batch: pa.RecordBatch) -> pa.Buffer:
    """``batch`` as LOAD DATA text: one line per row, tab-separated, NULL as ``\\N``."""
    fields = [_field_text(batch.column(i)) for i in range(batch.num_columns)]
    joined = pc.binary_join_element_wise(*fields, "\t") if len(fields) > 1 else fields[0]
    lines = pc.binary_join_element_wise(joined, pa.scalar("\n"), "")
    if len(lines) == 0:
        return pa.py_buffer(b"")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=lines.offset * 4)
    data = lines.buffers()[2]
    return data.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))


def _field_text(arr: pa.Array) -> pa.Array:
    if is_json(arr.type):
        arr = arr.storage  # a document is its text
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        text = arr.cast(pa.string())
        for raw, escaped in _ESCAPES:
            text = pc.replace_substring(text, raw, escaped)
    elif is_hex_column(t):
        text = _hex(arr.cast(pa.binary()))
    elif pa.types.is_boolean(t):
        text = arr.cast(pa.int8()).cast(pa.string())
    elif pa.types.is_timestamp(t):
        # a TIMESTAMP column takes UTC wall time: the session's time_zone is +00:00
        text = arr.cast(pa.timestamp("us")).cast(pa.string())
    else:
        text = arr.cast(pa.string())
    return pc.fill_null(text, _NULL)


def _hex(arr: pa.Array) -> pa.Array:
    """Each value as lowercase hex text (vectorised through a 256-entry table)."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=len(arr) + 1, offset=arr.offset * 4)
    start, end = int(offsets[0]), int(offsets[-1])
    raw = arr.buffers()[2]
    if raw is None or end == start:
        values = np.zeros(0, np.uint8)
    else:
        values = np.frombuffer(raw, dtype=np.uint8, count=end - start, offset=start)
    digits = _HEX[values].reshape(-1)
    new_offsets = (offsets - start) * 2
    # the validity bitmap of a slice (a batch split into statements, or bisected around a bad
    # row) starts at bit arr.offset: is_valid() gives it re-based to bit 0
    validity = arr.is_valid().buffers()[1] if arr.null_count else None
    return pa.StringArray.from_buffers(
        len(arr), pa.py_buffer(new_offsets.astype(np.int32).tobytes()), pa.py_buffer(digits.tobytes()),
        validity, arr.null_count,
    )  # fmt: skip
