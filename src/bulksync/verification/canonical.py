"""The canonical value of every cell and a 64-bit hash per row, computed in Python (numpy).

Both sides of a verify are hashed here, by the same code, so SQLite, PostgreSQL and MariaDB
agree whatever each stores: a column pair (source type, destination type) gets one *kind*, and
each side's Arrow column is brought to that kind's canonical value before hashing:

    kind      both sides are…                 canonical value
    int       integers or booleans            the integer (false/true → 0/1)
    float     either side floating point      float64 bits; -0.0 → 0.0; every NaN → one NaN
    decimal   decimals (or decimal and int)   the exact unscaled integer at the larger of the
                                              two scales (1.5 and 1.50 agree)
    wide      either side a decimal256        the number's text at the larger scale
    ts        timestamps (or ts and date)     int64 microseconds since 1970; tz-aware values as
                                              their UTC instant, naive ones as UTC wall time
    date      dates                           int64 days since 1970-01-01
    time      times of day                    int64 microseconds since midnight
    bytes     text or binary                  the UTF-8 / raw bytes and their length
    text      any other pair                  Arrow's text rendering of the value

Each cell becomes one 64-bit word: an integer (int, decimal) that fits in int64 is its own
two's-complement bits, a larger one a fold of its 128 bits; floats, times and dates their bits
as above; text and binary a hash of their bytes and length (each distinct value of a chunk
hashed once). The word is salted with its column's position and put through murmur3's 64-bit
finaliser (every input bit flips about half the output bits); a NULL cell is instead a
per-column constant (another value lands on it with probability 2**-64). A row's hash is the
finaliser of the sum of its cells, so moving a value to another column, or swapping two,
changes it, and a chunk's digest (the sum of its row hashes) changes when values move between
rows. No per-row Python object is made: every step is one vectorised Arrow or numpy operation
over the whole chunk, in place where it can be.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bulksync.connectors.conform import cast_array
from bulksync.errors import SyncError

U64 = np.uint64
_M64 = 2**64 - 1
_C1, _C2 = U64(0xFF51AFD7ED558CCD), U64(0xC4CEB9FE1A85EC53)
_GOLDEN = U64(0x9E3779B97F4A7C15)
_NULL = 0x6E756C6C6D61726B  # "nullmark"
_NOT_A_DATE = 0x6E6F74616461746B  # "notadatk": salts the text of a DATE value that is no date
_SHIFT33 = U64(33)
_SHIFT63 = U64(63)


@dataclass(frozen=True)
class Kind:
    """How one column is compared: its canonical form, and the decimal scale for ``decimal``."""

    name: str
    tag: str
    scale: int = 0


def fmix(x: np.ndarray) -> np.ndarray:
    """murmur3's 64-bit finaliser: every input bit flips about half the output bits."""
    out: np.ndarray = np.array(x, dtype=U64, copy=True)
    _fmix_into(out, np.empty_like(out))
    return out


def _fmix_into(x: np.ndarray, tmp: np.ndarray) -> None:
    """``fmix`` of ``x`` in place (``tmp``: scratch of the same shape)."""
    with np.errstate(over="ignore"):
        np.right_shift(x, _SHIFT33, out=tmp)
        np.bitwise_xor(x, tmp, out=x)
        np.multiply(x, _C1, out=x)
        np.right_shift(x, _SHIFT33, out=tmp)
        np.bitwise_xor(x, tmp, out=x)
        np.multiply(x, _C2, out=x)
        np.right_shift(x, _SHIFT33, out=tmp)
        np.bitwise_xor(x, tmp, out=x)


def _fmix_int(v: int) -> int:
    v ^= v >> 33
    v = (v * 0xFF51AFD7ED558CCD) & _M64
    v ^= v >> 33
    v = (v * 0xC4CEB9FE1A85EC53) & _M64
    return v ^ (v >> 33)


def _salt(position: int) -> int:
    """The word a column's cells are salted with: where the column is in the row."""
    return _fmix_int(((position + 1) * 0x2545F4914F6CDD1D) & _M64)


def _null_cell(position: int) -> int:
    """A NULL cell's hash in this column: a constant unrelated to any simple value."""
    return _fmix_int((_NULL * (position + 3)) & _M64) ^ 0x5BD1E9955BD1E995


def _unreadable_cell(text: str, position: int) -> int:
    """The hash of a cell whose value only its text holds (see ``row_hashes``)."""
    word = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8, person=b"unreadable").digest())
    return _fmix_int(word ^ _salt(position))


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
            or isinstance(t, pa.JsonType)  # a document: its text (JSONB's on both sides)
            or pa.types.is_binary(t)
            or pa.types.is_large_binary(t)
        )

    if both(intlike):
        return Kind(name, "int")

    def numeric(t: pa.DataType) -> bool:
        return bool(intlike(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))

    if both(numeric) and either(pa.types.is_floating):
        return Kind(name, "float")
    if either(pa.types.is_decimal) and all(intlike(t) or pa.types.is_decimal(t) for t in types):
        scale = max(getattr(t, "scale", 0) for t in types)
        return Kind(name, "wide" if either(pa.types.is_decimal256) else "decimal", scale)
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


# -- each kind's canonical 64-bit word (nulls: anything, replaced later) -----------------------


def _buffer(arr: pa.Array, dtype: type[np.generic]) -> np.ndarray:
    """The values buffer of a fixed-width array, as numpy, without a copy (read-only)."""
    values = np.frombuffer(arr.buffers()[1], dtype=dtype)
    return values[arr.offset : arr.offset + len(arr)]


def _words(arr: pa.Array, kind: Kind) -> np.ndarray:
    """One uint64 per value: the kind's canonical value (or its hash, for text and decimals)."""
    tag = kind.tag
    if tag == "int":
        return _int_words(arr)
    if tag == "float":
        return _float_words(arr)
    if tag == "decimal":
        return _decimal_words(arr, kind)
    if tag == "wide":  # beyond 38 digits: the text of the number at the kind's scale
        return _bytes(arr.fill_null(0).cast(pa.decimal256(76, kind.scale)).cast(pa.string()))
    if tag in ("bytes", "text"):
        return _bytes(arr if tag == "bytes" else arr.cast(pa.string()))
    if tag in ("ts", "date") and (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return _date_text_words(arr, kind)
    if tag == "ts":
        if pa.types.is_date(arr.type):
            arr = arr.cast(pa.timestamp("us"))
        if arr.type.unit != "us":  # the stored value is UTC whatever the zone: keep it
            arr = arr.cast(pa.timestamp("us", arr.type.tz), safe=False)
        return _buffer(arr, np.uint64)
    if tag == "date":
        if not pa.types.is_date32(arr.type):
            arr = arr.cast(pa.date32())
        return _buffer(arr, np.int32).astype(np.int64).view(U64)
    if tag == "time":
        if not (pa.types.is_time64(arr.type) and arr.type.unit == "us"):
            arr = arr.cast(pa.time64("us"))
        return _buffer(arr, np.uint64)
    raise AssertionError(tag)


def _date_text_words(arr: pa.Array, kind: Kind) -> np.ndarray:
    """SQLite's DATE text (see ``verification.run._as_read``) as the date a copy reads it as:
    ``2024-02-29`` or its midnight (``2024-02-29 00:00:00``, ``2024-02-29T00:00:00``). A text that
    is no such date (a copy rejected its row) is compared as its text: it equals no date. Arrow's
    cast refused the midnight forms, and ``verify`` stopped with a traceback."""
    try:
        return _words(cast_array(arr, pa.date32(), kind.name), kind)
    except (SyncError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass  # some value is no date: sort them out one by one (a table that held rejected rows)
    days = pa.array([_day(v) for v in arr.to_pylist()], pa.date32())
    words = _words(days, kind)
    unreadable = np.asarray(pc.and_(arr.is_valid(), days.is_null()), dtype=bool)
    np.copyto(words, _bytes(arr) ^ U64(_NOT_A_DATE), where=unreadable)
    return words


def _day(value: str | None) -> object:
    if value is None:
        return None
    try:
        return cast_array(pa.array([value]), pa.date32(), "date")[0].as_py()
    except (SyncError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _int_words(arr: pa.Array) -> np.ndarray:
    t = arr.type
    if pa.types.is_boolean(t):
        return np.asarray(arr.cast(pa.uint8()).fill_null(0), dtype=U64)
    if pa.types.is_uint64(t):  # above 2**63 - 1 it is folded as the integer it is, not wrapped
        values = _buffer(arr, np.uint64)
        if np.any(values >> _SHIFT63):
            return _fold(values, np.zeros_like(values))
        return values
    if t.bit_width == 64:
        return _buffer(arr, np.uint64)
    return _buffer(arr, t.to_pandas_dtype()).astype(np.int64).view(U64)


def _float_words(arr: pa.Array) -> np.ndarray:
    if pa.types.is_decimal(arr.type):
        # through its text: Arrow's decimal → double divides by a power of ten, off by an ulp for
        # some values (0.000100 of an unconstrained numeric against SQLite's REAL 0.0001)
        arr = arr.cast(pa.string())
    if not pa.types.is_float64(arr.type):
        arr = arr.cast(pa.float64())
    values = _buffer(arr, np.float64) + 0.0  # a copy, and -0.0 → +0.0
    values[np.isnan(values)] = np.nan
    return values.view(U64)


def _decimal_words(arr: pa.Array, kind: Kind) -> np.ndarray:
    """The unscaled integer at the kind's scale: itself if it fits in int64, else a fold."""
    if not (pa.types.is_decimal128(arr.type) and arr.type.scale == kind.scale):
        if arr.null_count:  # a NULL's slot may hold anything: it must not overflow the cast
            arr = arr.fill_null(pa.scalar(0, arr.type) if pa.types.is_integer(arr.type) else 0)
        arr = cast_array(arr, pa.decimal128(38, kind.scale), kind.name)
    words = np.frombuffer(arr.buffers()[1], dtype=U64)[2 * arr.offset : 2 * (arr.offset + len(arr))]
    return _fold(words[0::2], words[1::2])  # little-endian: low word first


def _fold(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """A 128-bit integer (two's complement, as words) as one word: its low word when it fits
    in int64, else a mix of both words (equal integers always give equal words)."""
    sign = (lo.view(np.int64) >> 63).view(U64)  # all ones for a negative low word
    fits = hi == sign
    if fits.all():
        return lo
    big = ~fits
    folded = np.array(lo, copy=True)
    with np.errstate(over="ignore"):
        folded[big] = fmix(lo[big]) ^ fmix(hi[big] + _GOLDEN) ^ _C2
    return folded


_WORD_PATH_MAX = 4  # values up to 32 bytes: hashed word by word straight from Arrow's buffer
_SAMPLE = 1024
_MASKS = np.array([(1 << (8 * i)) - 1 for i in range(8)] + [2**64 - 1], dtype=U64)


def _bytes(arr: pa.Array) -> np.ndarray:
    """A 64-bit hash of each value's bytes and length (nulls: anything; replaced later).

    Three ways to the same hash, picked by cost: a column of short values (one 8-byte word) is
    hashed word by word for every row; a column that repeats (channel, status, …) has each
    distinct value hashed once (Arrow's dictionary encoding finds them in C++) and spread back
    to the rows; any other column is hashed word by word when its values are short, else value
    by value over its packed bytes.
    """
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = arr.view(pa.large_binary() if pa.types.is_large_string(arr.type) else pa.binary())
    start, lengths = _spans(arr)
    n = len(arr)
    words = int((int(lengths.max()) + 7) >> 3) if n else 0
    if words > 1 and n > 2 * _SAMPLE:
        sample = len(pc.unique(arr.slice(0, _SAMPLE)))
        if sample <= _SAMPLE // 4:  # repeats: hash each distinct value once
            encoded = pc.dictionary_encode(arr)
            indices = encoded.indices
            if indices.null_count:
                indices = indices.fill_null(0)
            distinct = _bytes(encoded.dictionary)
            return distinct.take(_buffer(indices, np.int32).astype(np.int64))
    if words <= _WORD_PATH_MAX:
        return _bytes_by_word(arr, start, lengths, words)
    return _bytes_each(arr)


def _spans(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Each value's start in the data buffer and its length (int64)."""
    wide = pa.types.is_large_binary(arr.type)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64 if wide else np.int32)
    offsets = offsets[arr.offset : arr.offset + len(arr) + 1].astype(np.int64)
    return offsets[:-1], np.diff(offsets)


def _finish(sums: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return fmix(sums ^ fmix(lengths.astype(U64) + _C2))


def _bytes_by_word(arr: pa.Array, start: np.ndarray, lengths: np.ndarray, words: int) -> np.ndarray:
    """``_bytes_each``'s hash, one 8-byte word position at a time over all rows (short values).

    Word ``k`` of every value is read as one unaligned little-endian load at ``start + 8k`` from
    a zero-padded copy of the data buffer; the bytes past the value's end are masked off, and a
    row whose value has no word ``k`` adds nothing.
    """
    n = len(arr)
    sums = np.zeros(n, dtype=U64)
    if words:
        data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
        end = int(start[-1] + lengths[-1]) if n else 0
        first = int(start[0]) if n else 0
        padded = np.zeros(end - first + 8 * words + 8, dtype=np.uint8)
        padded[: end - first] = data[first:end]
        loads = np.ndarray(shape=(padded.size - 7,), dtype=U64, buffer=padded, strides=(1,))
        word = np.empty(n, dtype=U64)
        tmp = np.empty(n, dtype=U64)
        base = start - first
        with np.errstate(over="ignore"):
            for k in range(words):
                left = np.clip(lengths - 8 * k, 0, 8)
                np.take(loads, base + 8 * k, out=word, mode="clip")  # in range: no checks
                np.bitwise_and(word, _MASKS[left], out=word)
                np.bitwise_xor(word, U64(k) * _GOLDEN + _C1, out=word)
                _fmix_into(word, tmp)
                np.putmask(word, left == 0, U64(0))
                np.add(sums, word, out=sums)
    return _finish(sums, lengths)


def _bytes_each(arr: pa.Array) -> np.ndarray:
    """Position-salted 8-byte words of each value, summed, mixed with the value's length."""
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = arr.view(pa.large_binary() if pa.types.is_large_string(arr.type) else pa.binary())
    n = len(arr)
    starts, lengths = _spans(arr)
    offsets = np.append(starts, starts[-1] + lengths[-1]) if n else np.zeros(1, dtype=np.int64)
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
    return _finish(sums, lengths)


def _plain(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()
    if isinstance(arr.type, pa.BaseExtensionType):
        arr = arr.storage
    return arr


def row_hashes(
    batch: pa.RecordBatch | pa.Table,
    kinds: Sequence[Kind],
    *,
    unreadable: Mapping[str, Sequence[tuple[int, str]]] | None = None,
) -> np.ndarray:
    """One uint64 per row: the columns named by ``kinds``, canonicalised and mixed by position.

    ``unreadable``: per column, the (row, text) of each value its reader could not put in an
    Arrow array (``conform.BadValue``: a NUMERIC 'NaN', a timestamp 'infinity'), NULL in
    ``batch``; such a cell is hashed as that text, so it matches the same value on the other
    side and neither a NULL nor another such value ('Infinity' for 'NaN').
    """
    n = batch.num_rows
    total = np.zeros(n, dtype=U64)
    cell = np.empty(n, dtype=U64)
    tmp = np.empty(n, dtype=U64)
    with np.errstate(over="ignore"):
        for position, kind in enumerate(kinds):
            arr = _plain(batch.column(kind.name))
            np.bitwise_xor(_words(arr, kind), U64(_salt(position)), out=cell)
            _fmix_into(cell, tmp)
            if arr.null_count:
                np.putmask(cell, ~np.asarray(arr.is_valid()), U64(_null_cell(position)))
            for row, text in (unreadable or {}).get(kind.name, ()):
                cell[row] = _unreadable_cell(text, position)
            np.add(total, cell, out=total)
        np.add(total, _GOLDEN, out=total)
        _fmix_into(total, tmp)
    return total
