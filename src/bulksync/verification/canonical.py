"""The canonical value of every cell and a 64-bit hash per row, computed in Python (numpy).

Both sides of a verify are hashed here, by the same code, so SQLite, PostgreSQL and MariaDB
agree whatever each stores: a column pair (source type, destination type) gets one *kind*, and
each side's Arrow column is brought to that kind's canonical value before hashing:

    kind      both sides are…                 canonical value
    int       integers or booleans            int64 (false/true → 0/1)
    float     either side floating point      float64 bits; -0.0 → 0.0; every NaN → one NaN
    decimal   decimals (or decimal and int)   the exact unscaled 128-bit integer at the larger
                                              of the two scales (1.5 and 1.50 agree)
    ts        timestamps (or ts and date)     int64 microseconds since 1970; tz-aware values as
                                              their UTC instant, naive ones as UTC wall time
    date      dates                           int64 days since 1970-01-01
    time      times of day                    int64 microseconds since midnight
    bytes     text or binary                  the UTF-8 / raw bytes and their length
    text      any other pair                  Arrow's text rendering of the value

NULL is a per-column constant that no value hashes to. A row's hash mixes its cells' hashes
in column order (murmur3's 64-bit finaliser between steps), so moving a value to another
column, or swapping two, changes it. No per-row Python object is made: every step is one
vectorised Arrow or numpy operation over the whole chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bulksync.connectors.conform import cast_array

U64 = np.uint64
_C1, _C2 = U64(0xFF51AFD7ED558CCD), U64(0xC4CEB9FE1A85EC53)
_GOLDEN = U64(0x9E3779B97F4A7C15)
_NULL = U64(0x6E756C6C6D61726B)  # "nullmark"
_SHIFT33 = U64(33)


@dataclass(frozen=True)
class Kind:
    """How one column is compared: its canonical form, and the decimal scale for ``decimal``."""

    name: str
    tag: str
    scale: int = 0


def fmix(x: np.ndarray) -> np.ndarray:
    """murmur3's 64-bit finaliser: every input bit flips about half the output bits."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> _SHIFT33)
        x = x * _C1
        x = x ^ (x >> _SHIFT33)
        x = x * _C2
        mixed: np.ndarray = x ^ (x >> _SHIFT33)
        return mixed


def kind_of(name: str, source: pa.DataType, dest: pa.DataType) -> Kind:
    """The one canonical form both sides of a column are compared in."""
    types = (source, dest)

    def both(test: object) -> bool:
        return all(test(t) for t in types)  # type: ignore[operator]

    def either(test: object) -> bool:
        return any(test(t) for t in types)  # type: ignore[operator]

    def intlike(t: pa.DataType) -> bool:
        return bool(pa.types.is_integer(t) or pa.types.is_boolean(t))

    def text(t: pa.DataType) -> bool:
        return bool(
            pa.types.is_string(t)
            or pa.types.is_large_string(t)
            or pa.types.is_binary(t)
            or pa.types.is_large_binary(t)
        )

    if both(intlike):
        return Kind(name, "int")

    def numeric(t: pa.DataType) -> bool:
        return bool(intlike(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))

    if both(numeric) and either(pa.types.is_floating):
        return Kind(name, "float")
    if either(pa.types.is_decimal) and all(intlike(t) or pa.types.is_decimal128(t) for t in types):
        scale = max(getattr(t, "scale", 0) for t in types)
        return Kind(name, "decimal", scale)
    if both(pa.types.is_timestamp) or (
        either(pa.types.is_timestamp) and all(pa.types.is_timestamp(t) or pa.types.is_date(t) for t in types)
    ):
        return Kind(name, "ts")
    if both(pa.types.is_date):
        return Kind(name, "date")
    if both(pa.types.is_time):
        return Kind(name, "time")
    if both(text):
        return Kind(name, "bytes")
    return Kind(name, "text")


def _ints(arr: pa.Array, kind: Kind) -> np.ndarray:
    """The canonical 64-bit integer of each valid value (nulls: anything; masked later)."""
    tag = kind.tag
    if tag == "int":
        return _np(arr.cast(pa.int64()))
    if tag == "float":
        return _floats(arr.cast(pa.float64()))
    if tag in ("ts", "date") and pa.types.is_string(arr.type):
        arr = arr.cast(pa.date32())  # SQLite's DATE text (see verification.run._as_read)
    if tag == "ts":
        if pa.types.is_date(arr.type):
            arr = arr.cast(pa.timestamp("us"))
        arr = arr.cast(pa.timestamp(arr.type.unit))  # drop the zone: the stored value is UTC
        return _np(arr.cast(pa.timestamp("us"), safe=False).cast(pa.int64()))
    if tag == "date":
        return _np(arr.cast(pa.date32()).cast(pa.int32()).cast(pa.int64()))
    if tag == "time":
        return _np(arr.cast(pa.time64("us")).cast(pa.int64()))
    raise AssertionError(tag)


def _np(arr: pa.Array) -> np.ndarray:
    """An integer-valued Arrow array as uint64 (nulls as 0: they are masked later)."""
    if arr.null_count:
        arr = arr.fill_null(0)
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.int64).view(U64)


def _floats(arr: pa.Array) -> np.ndarray:
    if arr.null_count:
        arr = arr.fill_null(0.0)
    values = np.array(arr.to_numpy(zero_copy_only=False), dtype=np.float64) + 0.0  # -0.0 → +0.0
    values[np.isnan(values)] = np.nan
    return values.view(U64)


def _decimal(arr: pa.Array, kind: Kind) -> np.ndarray:
    """The unscaled 128-bit value at the kind's scale, folded into 64 bits."""
    if arr.null_count:
        arr = arr.fill_null(pa.scalar(0, arr.type) if pa.types.is_integer(arr.type) else 0)
    arr = cast_array(arr, pa.decimal128(38, kind.scale), kind.name)
    words = np.frombuffer(arr.buffers()[1], dtype=U64)[2 * arr.offset : 2 * (arr.offset + len(arr))]
    pairs = words.reshape(-1, 2)
    folded: np.ndarray = fmix(pairs[:, 0]) ^ fmix(pairs[:, 1] + _GOLDEN)
    return folded


def _bytes(arr: pa.Array) -> np.ndarray:
    """A 64-bit hash of each value's bytes (nulls: anything; masked later).

    Each distinct value is hashed once (Arrow's dictionary encoding finds them in C++), then
    the hashes are spread back to the rows: text columns repeat a lot (channel, status, …).
    """
    encoded = pc.dictionary_encode(arr)
    if len(encoded.dictionary) < len(arr):
        distinct = _bytes_each(encoded.dictionary)
        return distinct[np.asarray(encoded.indices.fill_null(0), dtype=np.int64)]
    return _bytes_each(arr)


def _bytes_each(arr: pa.Array) -> np.ndarray:
    """Position-salted 8-byte words of each value, summed, mixed with the value's length."""
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = arr.view(pa.large_binary() if pa.types.is_large_string(arr.type) else pa.binary())
    n = len(arr)
    wide = pa.types.is_large_binary(arr.type)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64 if wide else np.int32)
    offsets = offsets[arr.offset : arr.offset + n + 1].astype(np.int64)
    lengths = np.diff(offsets)
    words_per_row = (lengths + 7) >> 3
    word_start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(words_per_row, out=word_start[1:])
    total_words = int(word_start[-1])
    padded = np.zeros(total_words * 8, dtype=np.uint8)
    if total_words:  # each value's bytes move to the start of its first word, zero-padded
        data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
        shift = np.repeat(word_start[:-1] * 8 - (offsets[:-1] - offsets[0]), lengths)
        padded[np.arange(data.size, dtype=np.int64) + shift] = data
    words = padded.view(U64)
    word_rows = np.repeat(np.arange(n, dtype=np.int64), words_per_row)
    position = (np.arange(total_words, dtype=np.int64) - word_start[word_rows]).astype(U64)
    with np.errstate(over="ignore"):
        salted = fmix(words ^ (position * _GOLDEN + _C1))
        running = np.zeros(total_words + 1, dtype=U64)
        np.cumsum(salted, out=running[1:])
        sums = running[word_start[1:]] - running[word_start[:-1]]
        return fmix(sums ^ fmix(lengths.astype(U64) + _C2))


def _column_hash(arr: pa.Array, kind: Kind) -> np.ndarray:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if isinstance(arr.type, pa.ExtensionType):
        arr = arr.storage
    if kind.tag == "decimal":
        values = _decimal(arr, kind)
    elif kind.tag in ("bytes", "text"):
        values = _bytes(arr if kind.tag == "bytes" else arr.cast(pa.string()))
    else:
        values = fmix(_ints(arr, kind))
    if arr.null_count:
        valid = np.asarray(arr.is_valid())
        values = np.where(valid, values, _NULL)
    return values


def row_hashes(batch: pa.RecordBatch | pa.Table, kinds: Sequence[Kind]) -> np.ndarray:
    """One uint64 per row: the columns named by ``kinds``, canonicalised and mixed in order."""
    h = np.full(batch.num_rows, _GOLDEN, dtype=U64)
    with np.errstate(over="ignore"):
        for i, kind in enumerate(kinds):
            cell = _column_hash(batch.column(kind.name), kind)
            h = fmix(h * _C1 + (cell ^ U64((i + 1) * 0x2545F4914F6CDD1D % 2**64)))
    return h
