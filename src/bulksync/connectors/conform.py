"""Cast a batch column by column to the Arrow schema the plan expects (vectorised, no per-row work).

Lossless rules come first, for the loose values SQLite keeps: ``'7'`` or ``7.0`` in an INTEGER
column is 7, ``0``/``1`` in a BOOLEAN column is false/true, ISO-8601 text with ``T`` or a zone
(``Z``, ``+02:00``) in a DATETIME column is that instant (in UTC). A value no rule converts
(``'abc'`` in an INTEGER column, ``2024-02-30``, invalid UTF-8) fails a strict ``conform``;
``conform_loose`` instead sets it NULL and lists it as a ``BadValue`` the engine then rejects,
loads as NULL or stops on (``--on-bad-value``). Finding the bad values splits only the column
that failed, by halves, so a clean batch costs exactly what it did before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from bulksync.errors import BadRowsError, SchemaMismatchError, UnsupportedTypeError
from bulksync.schema import Column, TableSchema

_BAD_KEY = b"bulksync.bad_values"
_TRUE = ["1", "t", "true", "y", "yes", "on"]
_FALSE = ["0", "f", "false", "n", "no", "off"]


@dataclass(frozen=True)
class BadValue:
    """A value no lossless rule converts to its column's type: where it is and why."""

    row: int  # index in its batch
    column: str
    value: str  # as the source holds it
    reason: str
    key: tuple[Any, ...] = ()  # the row's key (or rowid) in the source


def written_columns(batch: pa.RecordBatch | pa.Table, table: TableSchema) -> list[Column]:
    """The columns of ``table`` that ``batch``'s columns go into, in the batch's order.

    By name wherever the batch's names are the table's (a table the user made may order its
    columns otherwise, or have more of them: those keep their default). By position only when
    the sync renamed columns (``--lower-names``, names fitted to MariaDB) into a table it made
    in the batch's order. Anything else is refused before a row is written.
    """
    names = batch.schema.names
    if names == table.names:
        return list(table.columns)
    if set(names) <= set(table.names):
        return [table.column(n) for n in names]
    if len(names) == len(table.names):
        return list(table.columns)
    missing = [n for n in names if n not in table.names]
    raise SchemaMismatchError(
        f"destination table {table.name!r} lacks column(s) {', '.join(missing)}; add them, or use "
        "--mode replace to recreate the table"
    )


def columns_schema(table: TableSchema, columns: list[Column]) -> pa.Schema:
    """The Arrow fields of ``table``'s ``columns``, in that order: what a batch is conformed to."""
    fields = table.arrow_schema()
    return pa.schema([fields.field(c.name) for c in columns])


def conform(batch: pa.RecordBatch | pa.Table, schema: pa.Schema) -> pa.RecordBatch:
    """Return ``batch`` as one RecordBatch with exactly ``schema``'s column types."""
    if isinstance(batch, pa.Table):
        batch = batch.combine_chunks()
        batch = (
            batch.to_batches()[0] if batch.num_rows else pa.RecordBatch.from_pylist([], schema=batch.schema)
        )
    if batch.schema.equals(schema):
        return batch
    arrays = [cast_array(batch.column(i), field.type, field.name) for i, field in enumerate(schema)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def cast_array(arr: pa.Array, target: pa.DataType, name: str) -> pa.Array:
    """Cast one column; decimals from floats are rounded to their scale first."""
    if isinstance(arr.type, pa.BaseExtensionType):
        arr = arr.storage
    if arr.type.equals(target):
        return arr
    if arr.null_count == len(arr):
        return pa.nulls(len(arr), target)  # SQLite types an empty or all-NULL column as int64
    try:
        return _convert(arr, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        if pa.types.is_decimal(arr.type) and (pa.types.is_decimal(target) or pa.types.is_floating(target)):
            # a value with more digits than its destination column holds: that row is refused
            # (isolated and rejected with this reason), never rounded
            holds = _decimal_sql(target) if pa.types.is_decimal(target) else "a 64-bit float"
            raise BadRowsError(f"column {name!r}: a value has more digits than {holds} holds") from exc
        if pa.types.is_integer(arr.type) and pa.types.is_integer(target):  # BIGINT UNSIGNED → SQLite
            raise BadRowsError(f"column {name!r}: a value is outside the range of {target}") from exc
        if isinstance(exc, pa.ArrowInvalid):  # a value, not the type: 2.5 into an int column
            detail = " ".join(str(exc).split()).split(". ")[0][:200]  # Arrow's advice after it is Arrow's
            raise BadRowsError(f"column {name!r}: a value does not convert to {target}: {detail}") from exc
        raise UnsupportedTypeError(
            f"column {name!r}: cannot convert {arr.type} values to {target}: {exc}"
        ) from exc


def _decimal_sql(t: pa.DataType) -> str:
    return f"DECIMAL({t.precision}, {t.scale})"


def _convert(arr: pa.Array, target: pa.DataType) -> pa.Array:
    """The cast, or the lossless rule for loose values when the plain cast refuses."""
    if pa.types.is_float64(target) and pa.types.is_decimal(arr.type):
        return _exact_doubles(arr)
    if pa.types.is_decimal(target) and pa.types.is_integer(arr.type):
        # Arrow casts an int64 only to a decimal of 19 digits or more: widen, then narrow (safe)
        return arr.cast(pa.decimal256(76, target.scale)).cast(target)
    if pa.types.is_decimal(target) and pa.types.is_floating(arr.type):
        return _decimal_from_float(arr, target)
    if pa.types.is_boolean(target) and pa.types.is_string(arr.type):
        return _bool_from_text(arr)
    if pa.types.is_boolean(target) and pa.types.is_integer(arr.type):
        return _bool_from_int(arr)
    if pa.types.is_time(target) and pa.types.is_string(arr.type):
        return _time_from_text(arr, target)
    if pa.types.is_timestamp(target) and pa.types.is_integer(arr.type):
        return _within_years(_from_unix_seconds(arr, target), as_what=" as Unix time in seconds")
    if pa.types.is_string(arr.type) and (pa.types.is_timestamp(target) or pa.types.is_date(target)):
        return _within_years(_from_text(arr, target))
    return _from_text(arr, target)


def _from_text(arr: pa.Array, target: pa.DataType) -> pa.Array:
    try:
        return arr.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if not pa.types.is_string(arr.type):
            raise
        if pa.types.is_integer(target):  # '7.0', '1e3': integral numbers written as REAL
            return arr.cast(pa.float64()).cast(target)
        if pa.types.is_timestamp(target):  # with a zone (Z, +02:00), or without one
            zoned = pa.timestamp(target.unit, tz="UTC")
            return arr.cast(pa.timestamp(target.unit) if target.tz else zoned).cast(target)
        if pa.types.is_date(target):  # '2024-01-01 00:00:00': a date written as its midnight
            at = arr.cast(pa.timestamp("us"))
            day = at.cast(pa.date32())
            if pc.all(pc.equal(day.cast(pa.timestamp("us")), at)).as_py() is not False:
                return day.cast(target)
        raise


def _decimal_from_float(arr: pa.Array, target: pa.DataType) -> pa.Array:
    """The decimal of ``target``'s scale each float stands for: 19.99 (a double, 19.98999…) is
    19.99, and so is 19.990000000000002 (arithmetic's noise: off by less than a millionth of the
    last decimal, or by a few units of the double's last place). A float with a digit the column
    does not keep (12.345 or 0.00001 in a DECIMAL(10, 2)) raises: its row is refused, never
    rounded. Overflow raises too, never wraps. A float past 2**53 is the number its shortest text
    says (-9e37, as decimals into SQLite are checked: ``_exact_doubles``)."""
    doubles = arr.cast(pa.float64())
    rounded = pc.round(doubles, target.scale, round_mode="half_towards_infinity")  # as PostgreSQL
    result = rounded.cast(target)
    big = pc.greater_equal(pc.abs(doubles), 2.0**53)  # past 2**53 a double's digits are not exact
    if pc.any(big).as_py():  # the number its shortest text says (-9e37), not its binary expansion
        result = pc.if_else(big, rounded.cast(pa.string()).cast(target), result)
    noise = pc.max_element_wise(pc.multiply(pc.abs(doubles), 2.0**-50), 10.0 ** (-target.scale - 6))
    if pc.any(pc.greater(pc.abs(pc.subtract(doubles, rounded)), noise)).as_py():
        raise pa.ArrowInvalid(f"more decimals than the column's {target.scale}: it would be rounded")
    return result


def _from_unix_seconds(arr: pa.Array, target: pa.DataType) -> pa.Array:
    """An integer in a DATETIME column is Unix time in seconds, as SQLite's ``'unixepoch'`` reads
    it (Arrow's own cast took it for microseconds: 1704067200 became 1970-01-01 00:28:24)."""
    scaled = pc.multiply_checked(arr.cast(pa.int64()), _PER_SECOND[target.unit])  # overflow raises
    return scaled.cast(pa.timestamp(target.unit, tz=target.tz))


# 0001-01-01 and 10000-01-01 in days and seconds from 1970: the years a date or time may have
_DAYS = (-719_162, 2_932_897)
_SECONDS = (-62_135_596_800, 253_402_300_800)


def _within_years(arr: pa.Array, *, as_what: str = "") -> pa.Array:
    """``arr``, if every date or instant lies in years 1 to 9999 (text with an offset can land
    outside: '9999-12-31T23:00:00-02:00' is 10000-01-01 01:00 UTC); else ``ArrowInvalid``."""
    if pa.types.is_timestamp(arr.type):
        low, high = (s * _PER_SECOND[arr.type.unit] for s in _SECONDS)
        values = arr.cast(pa.timestamp(arr.type.unit)).cast(pa.int64())
    else:
        low, high = _DAYS
        values = arr.cast(pa.date32()).cast(pa.int32())
    span = pc.min_max(values).as_py()
    if span["min"] is not None and (span["min"] < low or span["max"] >= high):
        raise pa.ArrowInvalid(f"outside years 1 to 9999{as_what}, which bulksync cannot carry")
    return arr


def _time_from_text(arr: pa.Array, target: pa.DataType) -> pa.Array:
    """'02:30', '23:59:59.5' (SQLite's TIME, as text): Arrow casts no text to a time of day,
    so each is read as that time on 1970-01-01; a value past 24:00 or not a time raises."""
    day = pc.binary_join_element_wise("1970-01-01T", arr, "")
    at = day.cast(pa.timestamp(target.unit))
    if len(at) - at.null_count and pc.max(at.cast(pa.int64())).as_py() >= 86_400 * _PER_SECOND[target.unit]:
        raise pa.ArrowInvalid("a time of day is before 24:00:00")
    return at.cast(target)


_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def narrow_decimals(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with each decimal256 column as a decimal128 that holds its values exactly.

    For an encoder that knows only decimal128 (pgpq): the widest scale whose 38 digits hold
    every value of the column is taken; a value no decimal128 holds refuses its row.
    """
    if not any(pa.types.is_decimal256(t) for t in batch.schema.types):
        return batch
    arrays = list(batch.columns)
    for i, field in enumerate(batch.schema):
        if pa.types.is_decimal256(field.type):
            arrays[i] = _narrow(arrays[i], field.name)
    fields = [f.with_type(a.type) for f, a in zip(batch.schema, arrays, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields, batch.schema.metadata))


def _narrow(arr: pa.Array, name: str) -> pa.Array:
    for scale in range(min(arr.type.scale, 38), -1, -1):
        try:
            return arr.cast(pa.decimal128(38, scale))
        except pa.ArrowInvalid:
            continue
    raise BadRowsError(f"column {name!r}: a value has more than 38 significant digits")


def _bool_from_text(arr: pa.Array) -> pa.Array:
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(arr))
    known = pc.or_(
        pc.is_in(lowered, value_set=pa.array(_TRUE)), pc.is_in(lowered, value_set=pa.array(_FALSE))
    )
    if pc.any(pc.invert(pc.or_(known, pc.is_null(arr)))).as_py():
        raise pa.ArrowInvalid("not one of " + "/".join(_TRUE + _FALSE))
    truthy = pc.is_in(lowered, value_set=pa.array(_TRUE))
    return pc.if_else(pc.is_null(arr), pa.scalar(None, pa.bool_()), truthy)


def _bool_from_int(arr: pa.Array) -> pa.Array:
    span = pc.min_max(arr).as_py()
    if span["min"] is not None and (span["min"] < 0 or span["max"] > 1):
        raise pa.ArrowInvalid("a boolean is 0 or 1")
    return arr.cast(pa.bool_())


# -- loose values: NULL where no rule converts, and a BadValue for each ----------------------------


def conform_loose(
    batch: pa.RecordBatch | pa.Table, schema: pa.Schema, *, check_utf8: bool = False
) -> tuple[pa.RecordBatch, list[BadValue]]:
    """``conform``, but each value no rule converts becomes NULL and is returned as a BadValue.

    ``check_utf8``: text from a source that does not enforce UTF-8 (SQLite) is checked too.
    """
    if isinstance(batch, pa.Table):
        batch = conform(batch, batch.schema)  # one contiguous batch
    arrays, bad = [], []
    for i, field in enumerate(schema):
        arr = batch.column(i)
        if isinstance(arr.type, pa.BaseExtensionType):
            arr = arr.storage
        try:
            arrays.append(cast_array(arr, field.type, field.name))
        except (UnsupportedTypeError, BadRowsError):
            fixed, failed = _split_cast(arr, field.type, 0)
            arrays.append(fixed)
            texts = [(row, _text(arr, row), why) for row, why in failed]
            bad += [BadValue(row, field.name, text, _why(text, why, field.type)) for row, text, why in texts]
        if check_utf8 and pa.types.is_string(field.type):
            fixed, invalid = _valid_utf8(arrays[-1], 0)
            arrays[-1] = fixed
            bad += [BadValue(row, field.name, _text(arr, row), "invalid UTF-8") for row in invalid]
    return pa.RecordBatch.from_arrays(arrays, schema=schema), bad


def _split_cast(arr: pa.Array, target: pa.DataType, offset: int) -> tuple[pa.Array, list[tuple[int, str]]]:
    """Cast ``arr`` by halves until each value that no rule converts is alone (then NULL)."""
    try:
        return (pa.nulls(len(arr), target) if arr.null_count == len(arr) else _convert(arr, target)), []
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        if len(arr) == 1:
            return pa.nulls(1, target), [(offset, f"not a valid {_kind(target)}{_reason(exc)}")]
    half = len(arr) // 2
    head, bad_head = _split_cast(arr.slice(0, half), target, offset)
    tail, bad_tail = _split_cast(arr.slice(half), target, offset + half)
    return pa.concat_arrays([head, tail]), bad_head + bad_tail


def _valid_utf8(arr: pa.Array, offset: int) -> tuple[pa.Array, list[int]]:
    try:
        arr.validate(full=True)
        return arr, []
    except pa.ArrowInvalid:
        if len(arr) == 1:
            return pa.nulls(1, arr.type), [offset]
    half = len(arr) // 2
    head, bad_head = _valid_utf8(arr.slice(0, half), offset)
    tail, bad_tail = _valid_utf8(arr.slice(half), offset + half)
    return pa.concat_arrays([head, tail]), bad_head + bad_tail


_NOT_DECIMALS = ("NaN", "Infinity", "-Infinity")  # PostgreSQL's numeric holds them, no decimal does


def _why(text: str, why: str, target: pa.DataType) -> str:
    if pa.types.is_decimal(target) and text in _NOT_DECIMALS:
        return "not a number a decimal holds (NaN and ±Infinity exist in PostgreSQL's numeric and in floats)"
    return why


def _kind(t: pa.DataType) -> str:
    for test, word in (
        (pa.types.is_boolean, "boolean (0/1, true/false)"),
        (pa.types.is_integer, "integer"),
        (pa.types.is_floating, "number"),
        (pa.types.is_decimal, "decimal"),
        (pa.types.is_timestamp, "date and time"),
        (pa.types.is_date, "date"),
        (pa.types.is_time, "time of day"),
    ):
        if test(t):
            return word
    return str(t)


def _reason(exc: Exception) -> str:
    """Arrow's detail, when it says more than that the text did not parse."""
    text = " ".join(str(exc).split())
    return "" if "Failed to parse" in text or not text else f" ({text[:200]})"


def _text(arr: pa.Array, row: int) -> str:
    """The value as the source held it, readable even when it is not UTF-8."""
    if pa.types.is_string(arr.type):
        raw = arr.view(pa.binary())[row].as_py()
        return "" if raw is None else bytes(raw).decode("utf-8", "backslashreplace")[:1000]
    return str(arr[row].as_py())[:1000]


def with_bad_values(batch: pa.RecordBatch, bad: list[BadValue]) -> pa.RecordBatch:
    """``batch`` carrying ``bad`` to the writer (in its schema's metadata: queues pass it as is)."""
    if not bad:
        return batch
    listed = [[b.row, b.column, b.value, b.reason, list(b.key)] for b in bad]
    return batch.replace_schema_metadata({_BAD_KEY: json.dumps(listed, default=str)})


def bad_values(batch: pa.RecordBatch) -> list[BadValue]:
    """The BadValues a source attached to ``batch`` (none for a clean batch)."""
    meta = batch.schema.metadata
    if not meta or _BAD_KEY not in meta:
        return []
    return [BadValue(r, c, v, why, tuple(k)) for r, c, v, why, k in json.loads(meta[_BAD_KEY])]


def refuse_bad_values(batch: pa.RecordBatch, table: str) -> None:
    """Raise ``BadRowsError`` if ``batch`` carries BadValues: a path that writes batches as they
    are (a pulled chunk) must not load their NULLs in place of the values without a word."""
    if bad_values(batch):
        raise BadRowsError(f"table {table!r}: values no rule converts to their column's type")


def to_sqlite_storage(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Re-express a batch in SQLite's storage classes (REAL, TEXT, INTEGER, BLOB)."""
    fields, arrays = [], []
    for field, arr in zip(batch.schema, batch.columns, strict=True):
        t = field.type
        if pa.types.is_decimal(t):
            arr = _decimal_double(arr, field.name)
        elif pa.types.is_floating(t) and pc.any(pc.is_nan(arr)).as_py():
            raise BadRowsError(f"column {field.name!r}: NaN, which SQLite would store as NULL")
        elif pa.types.is_timestamp(t):
            arr = _timestamp_text(arr)
        elif pa.types.is_date32(t) or pa.types.is_time64(t):
            arr = arr.cast(pa.string())
        fields.append(pa.field(field.name, arr.type, field.nullable))
        arrays.append(arr)
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _decimal_double(arr: pa.Array, name: str) -> pa.Array:
    """The nearest double to each decimal (Arrow's direct cast can be off by one ulp).

    SQLite keeps a DECIMAL as a REAL: up to 15 significant digits always come back as they
    were; a wider value that would not refuses its row (never rounded without a word).
    """
    t = arr.type
    if t.precision <= 15:
        # unscaled value and 10**scale are exact doubles; IEEE division rounds correctly
        unscaled = pc.multiply(arr, pa.scalar(10**t.scale, pa.int64())).cast(pa.int64(), safe=False)
        return pc.divide(unscaled.cast(pa.float64()), float(10**t.scale))
    try:
        return _exact_doubles(arr)
    except pa.ArrowInvalid as exc:
        raise BadRowsError(f"column {name!r}: a value has {exc}") from exc


def _exact_doubles(arr: pa.Array) -> pa.Array:
    """Decimals as doubles, when each double reads back (as its shortest text) as the very
    same number; ``ArrowInvalid`` when one has more significant digits than a double keeps."""
    doubles = arr.cast(pa.string()).cast(pa.float64())
    wide = pa.decimal256(76, arr.type.scale)
    try:
        same = pc.all(pc.equal(doubles.cast(pa.string()).cast(wide), arr.cast(wide))).as_py()
    except pa.ArrowInvalid:
        same = False
    if same is False:
        raise pa.ArrowInvalid("more significant digits than a 64-bit float keeps")
    return doubles


def _timestamp_text(arr: pa.Array) -> pa.Array:
    """Format each instant as SQLite does: 'YYYY-MM-DD HH:MM:SS', '.ffffff' only when non-zero.

    Per value, so one instant always has one text whatever its batch mates (text compares).
    """
    if arr.type.tz is not None:
        arr = arr.cast(pa.timestamp(arr.type.unit))  # stored as UTC wall time
    micros = arr.cast(pa.timestamp("us"))
    whole = arr.cast(pa.timestamp("s"), safe=False)
    # Arrow's cast to string is ~20x faster than strftime and prints the same text
    exact = pc.equal(whole.cast(pa.timestamp("us")).cast(pa.int64()), micros.cast(pa.int64()))
    if pc.all(exact).as_py() is not False:  # whole seconds only (nulls aside): one formatting
        return whole.cast(pa.string())
    return pc.if_else(exact, whole.cast(pa.string()), micros.cast(pa.string()))
