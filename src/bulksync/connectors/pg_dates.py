"""PostgreSQL dates and timestamps outside years 1 to 9999: ``infinity``, ``-infinity``, BC, 10000+.

No Python value (a reject record, a verify, the SQLite and MariaDB writers) holds them, and
the ADBC driver reads ±infinity wrongly: it shifts PostgreSQL's sentinels (the largest and
smallest int64, or int32 for a date) by the 2000-01-01 epoch and wraps around, landing on
absurd values some 290,000 years BC, which went on as garbage ('<value out of range: …>' into
SQLite) or crashed the sync. Such values are taken out here and travel as BadValues: rejected
with the reason, or loaded as NULL (``--on-bad-value``).
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc

from bulksync.connectors.conform import BadValue, conform

_PG_EPOCH_US = 946_684_800_000_000
_PG_EPOCH_DAYS = 10_957
_INT64, _INT32 = 2**63, 2**31


def _wrapped(value: int, half: int) -> int:
    return (value + half) % (2 * half) - half


_INFINITIES = {  # Arrow storage type → {the value the driver gives: what PostgreSQL held}
    pa.int64(): {
        _wrapped(_INT64 - 1 + _PG_EPOCH_US, _INT64): "infinity",
        _wrapped(-_INT64 + _PG_EPOCH_US, _INT64): "-infinity",
    },
    pa.int32(): {
        _wrapped(_INT32 - 1 + _PG_EPOCH_DAYS, _INT32): "infinity",
        _wrapped(-_INT32 + _PG_EPOCH_DAYS, _INT32): "-infinity",
    },
}
_EPOCH = dt.datetime(1970, 1, 1)
_RANGE = {  # storage type → (first, last) representable value, in the column's unit
    pa.int64(): ((dt.datetime(1, 1, 1) - _EPOCH) // dt.timedelta(microseconds=1),
                 (dt.datetime(9999, 12, 31, 23, 59, 59, 999999) - _EPOCH) // dt.timedelta(microseconds=1)),
    pa.int32(): ((dt.date(1, 1, 1) - _EPOCH.date()).days, (dt.date(9999, 12, 31) - _EPOCH.date()).days),
}  # fmt: skip
INFINITY = "PostgreSQL's infinity, which has no value outside PostgreSQL"
OUT_OF_RANGE = "outside years 1 to 9999, which bulksync cannot carry"


def take_out_of_range(raw: pa.Table | pa.RecordBatch) -> tuple[pa.Table | pa.RecordBatch, list[BadValue]]:
    """``raw`` with each date or timestamp outside years 1 to 9999 set to NULL, and a BadValue for each."""
    columns = [
        i
        for i, f in enumerate(raw.schema)
        if (pa.types.is_timestamp(f.type) and f.type.unit == "us") or pa.types.is_date32(f.type)
    ]
    if not columns or raw.num_rows == 0:
        return raw, []
    batch = conform(raw, raw.schema) if isinstance(raw, pa.Table) else raw
    bad: list[BadValue] = []
    for i in columns:
        arr = batch.column(i)
        storage = pa.int32() if pa.types.is_date32(arr.type) else pa.int64()
        ints = arr.view(storage)
        first, last = _RANGE[storage]
        hits = pc.or_(pc.less(ints, first), pc.greater(ints, last))
        if not pc.any(hits).as_py():
            continue
        for row in pc.indices_nonzero(hits).to_pylist():
            value = ints[row].as_py()
            held = _INFINITIES[storage].get(value)
            shown = held or pa.array([value], storage).cast(arr.type).cast(pa.string())[0].as_py()
            bad.append(BadValue(row, batch.schema[i].name, shown, INFINITY if held else OUT_OF_RANGE))
        batch = batch.set_column(i, batch.schema[i], pc.if_else(hits, pa.scalar(None, arr.type), arr))
    return batch, bad
