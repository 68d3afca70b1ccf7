"""Cast a batch column by column to the Arrow schema the plan expects (vectorised, no per-row work)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from bulksync.errors import UnsupportedTypeError


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
    if isinstance(arr.type, pa.ExtensionType):
        arr = arr.storage
    if arr.type.equals(target):
        return arr
    if arr.null_count == len(arr):
        return pa.nulls(len(arr), target)  # SQLite types an empty or all-NULL column as int64
    try:
        if pa.types.is_decimal(target) and pa.types.is_floating(arr.type):
            # half away from zero, as PostgreSQL rounds; overflow raises, never wraps
            return pc.round(arr, target.scale, round_mode="half_towards_infinity").cast(target)
        if pa.types.is_timestamp(target) and pa.types.is_timestamp(arr.type):
            return arr.cast(target)
        if pa.types.is_boolean(target) and pa.types.is_string(arr.type):
            return _bool_from_text(arr)
        return arr.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise UnsupportedTypeError(
            f"column {name!r}: cannot convert {arr.type} values to {target}: {exc}"
        ) from exc


def _bool_from_text(arr: pa.Array) -> pa.Array:
    truthy = pc.is_in(pc.utf8_lower(arr), value_set=pa.array(["1", "t", "true", "y", "yes"]))
    return pc.if_else(pc.is_null(arr), pa.scalar(None, pa.bool_()), truthy)


def to_sqlite_storage(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Re-express a batch in SQLite's storage classes (REAL, TEXT, INTEGER, BLOB)."""
    fields, arrays = [], []
    for field, arr in zip(batch.schema, batch.columns, strict=True):
        t = field.type
        if pa.types.is_decimal(t):
            arr = _decimal_double(arr)
        elif pa.types.is_timestamp(t):
            arr = _timestamp_text(arr)
        elif pa.types.is_date32(t) or pa.types.is_time64(t):
            arr = arr.cast(pa.string())
        fields.append(pa.field(field.name, arr.type, field.nullable))
        arrays.append(arr)
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _decimal_double(arr: pa.Array) -> pa.Array:
    """The nearest double to each decimal (Arrow's direct cast can be off by one ulp)."""
    t = arr.type
    if t.precision <= 15:
        # unscaled value and 10**scale are exact doubles; IEEE division rounds correctly
        unscaled = pc.multiply(arr, pa.scalar(10**t.scale, pa.int64())).cast(pa.int64(), safe=False)
        return pc.divide(unscaled.cast(pa.float64()), float(10**t.scale))
    return arr.cast(pa.string()).cast(pa.float64())


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
