"""The canonical row hash: equal values agree across the types engines return, any change shows."""

from __future__ import annotations

import datetime as dt
import decimal

import numpy as np
import pyarrow as pa
import pytest

from bulksync.verification import canonical
from bulksync.verification.canonical import kind_of, row_hashes


def hashes(*columns: tuple[pa.Array, pa.Array]) -> tuple[list[int], list[int]]:
    """Hash the same rows as two sides typed them: columns are (source array, destination array)."""
    kinds = [kind_of(f"c{i}", a.type, b.type) for i, (a, b) in enumerate(columns)]
    src = pa.table({f"c{i}": a for i, (a, _) in enumerate(columns)})
    dst = pa.table({f"c{i}": b for i, (_, b) in enumerate(columns)})
    return row_hashes(src, kinds).tolist(), row_hashes(dst, kinds).tolist()


UTC = dt.UTC
D = decimal.Decimal


@pytest.mark.parametrize(
    ("source", "dest"),
    [
        (pa.array([1, -2, None], pa.int32()), pa.array([1, -2, None], pa.int64())),
        (pa.array([True, False, None]), pa.array([1, 0, None], pa.int64())),
        (
            pa.array([D("1.50"), D("-0.01"), None], pa.decimal128(12, 2)),
            pa.array([D("1.500"), D("-0.010"), None], pa.decimal128(14, 3)),
        ),
        (pa.array([D("12"), D("-3"), None], pa.decimal128(10, 0)), pa.array([12, -3, None], pa.int64())),
        (pa.array([1.5, -0.0, float("nan")], pa.float64()), pa.array([1.5, 0.0, float("nan")], pa.float32())),
        (pa.array([D("2.25"), None, D("0")], pa.decimal128(8, 2)), pa.array([2.25, None, 0.0], pa.float64())),
        (  # an unconstrained numeric against SQLite's REAL: Arrow's own cast was an ulp off
            pa.array([D("0.000100"), D("1E-30"), D("123.456")]).cast(pa.decimal256(76, 30)),
            pa.array([0.0001, 1e-30, 123.456], pa.float64()),
        ),
        (
            pa.array([dt.datetime(2024, 3, 1, 12, 0, 0, 5, tzinfo=UTC), None], pa.timestamp("us", tz="UTC")),
            pa.array([dt.datetime(2024, 3, 1, 12, 0, 0, 5), None], pa.timestamp("us")),
        ),
        (
            pa.array([dt.datetime(2024, 3, 1, 12, 0, 0, 5)], pa.timestamp("us")),
            pa.array([dt.datetime(2024, 3, 1, 12, 0, 0, 5)], pa.timestamp("ns")),
        ),
        (
            pa.array([dt.date(1969, 12, 31), dt.date(2024, 2, 29)], pa.date32()),
            pa.array([dt.date(1969, 12, 31), dt.date(2024, 2, 29)], pa.date64()),
        ),
        (
            pa.array(["Zoë 🏇", "", None, "exactly8", "sixteen-bytes-xx"], pa.string()),
            pa.array(["Zoë 🏇", "", None, "exactly8", "sixteen-bytes-xx"], pa.large_string()),
        ),
    ],
)
def test_equal_values_hash_equal_whatever_each_side_typed_them(source: pa.Array, dest: pa.Array) -> None:
    src, dst = hashes((source, dest))
    assert src == dst
    assert len(set(src)) == len(src)  # and distinct values hash apart


def test_null_differs_from_zero_empty_and_false() -> None:
    ints, _ = hashes((pa.array([None, 0], pa.int64()), pa.array([None, 0], pa.int64())))
    text, _ = hashes((pa.array([None, ""]), pa.array([None, ""])))
    assert ints[0] != ints[1] and text[0] != text[1]


def test_one_changed_byte_or_swapped_columns_change_the_hash() -> None:
    a = pa.array(["abcdefghijklmnopq", "x"])
    b = pa.array(["abcdefghijklmnopr", "x"])
    (h1, _), (h2, _) = hashes((a, a)), hashes((b, b))
    assert h1[0] != h2[0] and h1[1] == h2[1]
    left, _ = hashes((pa.array(["p"]), pa.array(["p"])), (pa.array(["q"]), pa.array(["q"])))
    right, _ = hashes((pa.array(["q"]), pa.array(["q"])), (pa.array(["p"]), pa.array(["p"])))
    assert left != right
    # moving a boundary between two text columns is a different row
    split1, _ = hashes((pa.array(["ab"]), pa.array(["ab"])), (pa.array(["c"]), pa.array(["c"])))
    split2, _ = hashes((pa.array(["a"]), pa.array(["a"])), (pa.array(["bc"]), pa.array(["bc"])))
    assert split1 != split2


def test_a_row_hashes_the_same_in_any_chunk_and_slice() -> None:
    values = [f"player {i % 7} {'é' * (i % 11)}" if i % 5 else None for i in range(300)]
    arr = pa.array(values)
    whole, _ = hashes((arr, arr))
    sliced = arr.slice(100, 50)
    part, _ = hashes((sliced, sliced))
    assert part == whole[100:150]
    unique = pa.array([f"unique {i}" for i in range(300)])  # no repeats: hashed row by row
    u_whole, _ = hashes((unique, unique))
    u_part, _ = hashes((unique.slice(7, 9), unique.slice(7, 9)))
    assert u_part == u_whole[7:16]


def test_hashes_are_uint64_and_spread() -> None:
    arr = pa.array(range(10_000), pa.int64())
    out = row_hashes(pa.table({"c": arr}), [kind_of("c", arr.type, arr.type)])
    assert out.dtype == np.uint64
    assert len(np.unique(out)) == 10_000
    assert 0.45 < np.mean(out >> np.uint64(63)) < 0.55  # the top bit is a fair coin


# up to 33 bytes: one word, several, and past the word-by-word path
TEXTS = [
    "",
    "a",
    "VN",
    "exactly8",
    "nine byte",
    "sixteen-bytes-xx",
    "Zoë 🏇 “q”",
    "x" * 31,
    "y" * 32,
    "z" * 33,
]


def test_every_way_of_hashing_text_gives_the_same_hash() -> None:
    # short values word by word, repeated values once per distinct value, long ones value by value
    arr = pa.array(TEXTS, pa.binary())
    start, lengths = canonical._spans(arr)
    words = int((int(lengths.max()) + 7) >> 3)
    each = canonical._bytes_each(arr).tolist()
    assert canonical._bytes_by_word(arr, start, lengths, words).tolist() == each
    repeated = pa.array(TEXTS * 500, pa.binary())  # repeats: the dictionary path
    assert canonical._bytes(repeated).tolist() == each * 500
    assert canonical._bytes(arr.slice(1, 3)).tolist() == each[1:4]
    assert len(set(each)) == len(each)


def test_integers_beyond_64_bits_hash_as_the_numbers_they_are() -> None:
    big = 2**64 - 1
    unsigned = pa.array([big, 2**63, 5, None], pa.uint64())
    as_decimal = pa.array([D(big), D(2**63), D(5), None], pa.decimal128(20, 0))
    src, dst = hashes((unsigned, as_decimal))
    assert src == dst  # the same integers, whatever the type
    wrapped, _ = hashes((pa.array([-1, -(2**63), 5, None], pa.int64()), pa.array([0, 0, 0, 0], pa.int64())))
    mine, _ = hashes((unsigned, pa.array([0, 0, 0, 0], pa.int64())))
    assert mine[0] != wrapped[0] and mine[1] != wrapped[1] and mine[2] == wrapped[2]
    wide = pa.array([D("12345678901234567890.12"), D("-12345678901234567890.12")], pa.decimal128(30, 2))
    wider = pa.array([D("12345678901234567890.1200"), D("-12345678901234567890.1200")], pa.decimal128(32, 4))
    src, dst = hashes((wide, wider))
    assert src == dst and src[0] != src[1]
    off, _ = hashes((pa.array([D("12345678901234567890.13")], pa.decimal128(30, 2)), wider.slice(0, 1)))
    assert off[0] != src[0]


def test_null_is_neither_any_small_value_nor_the_same_in_two_columns() -> None:
    ints = pa.array([None, *range(-1000, 1000)], pa.int64())
    out, _ = hashes((ints, ints))
    assert out[0] not in out[1:]
    left, _ = hashes((pa.array([None], pa.int64()),) * 2, (pa.array([1], pa.int64()),) * 2)
    right, _ = hashes((pa.array([1], pa.int64()),) * 2, (pa.array([None], pa.int64()),) * 2)
    assert left != right


def test_a_value_only_its_text_holds_is_neither_null_nor_another_such_value() -> None:
    """numeric NaN / Infinity, timestamp ±infinity are NULL in Arrow, with their text beside."""
    rows = pa.table({"n": pa.array([None, None, None, None], pa.decimal128(10, 2))})
    kinds = [kind_of("n", rows["n"].type, rows["n"].type)]
    unreadable = {"n": [(0, "NaN"), (1, "Infinity"), (2, "NaN")]}
    hashed = row_hashes(rows, kinds, unreadable=unreadable).tolist()
    assert hashed[0] == hashed[2]  # the same value on both sides agrees
    assert len({hashed[0], hashed[1], hashed[3]}) == 3  # NaN, Infinity, NULL apart
    assert hashed[3] == row_hashes(rows, kinds).tolist()[3]
