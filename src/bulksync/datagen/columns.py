"""Numpy arrays → Arrow columns of the tables' types, without touching a Python object per row."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bulksync.datagen.world import Floats, Ints, Mask


def pick(rng: np.random.Generator, n: int, weights: tuple[float, ...]) -> Ints:
    """``n`` category indexes drawn with the given (unnormalised) weights."""
    p = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(weights), size=n, p=p / p.sum()).astype(np.int64)


def flat_vocab(groups: tuple[tuple[str, ...], ...]) -> tuple[tuple[str, ...], Ints, Ints]:
    """Nested vocabularies as one flat tuple plus each group's offset and size."""
    counts = np.array([len(g) for g in groups], dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    return tuple(x for g in groups for x in g), offsets, counts


def pick_within(rng: np.random.Generator, group: Ints, offsets: Ints, counts: Ints) -> Ints:
    """For each row's group, a uniform index into that group's slice of a flat vocabulary."""
    within = (rng.random(len(group)) * counts[group]).astype(np.int64)
    return np.asarray(offsets[group] + within, dtype=np.int64)


def text(vocab: tuple[str, ...], idx: Ints, mask: Mask | None = None) -> pa.Array:
    """Strings ``vocab[idx]``; rows where ``mask`` is true are NULL."""
    indices = pa.array(idx, mask=mask)
    return pa.array(vocab, pa.string()).take(indices)


def labels(prefix: str, ids: Ints, *, width: int = 6, suffix: str = "") -> pa.Array:
    """``prefix`` + zero-padded id + ``suffix``, e.g. ``player_000123``."""
    digits = pc.utf8_lpad(pa.array(ids).cast(pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, suffix, "")


def decimal(units: Ints, dtype: pa.DataType, mask: Mask | None = None) -> pa.Array:
    """A decimal128 column from unscaled integers (``1234`` with scale 2 is ``12.34``)."""
    words = np.empty((len(units), 2), dtype=np.int64)
    words[:, 0] = units
    words[:, 1] = units >> 63  # sign-extend to the 128-bit two's complement Arrow stores
    validity = None
    if mask is not None and mask.any():
        validity = pa.py_buffer(np.packbits(~mask, bitorder="little"))
    data = pa.py_buffer(words)
    return pa.Array.from_buffers(dtype, len(units), [validity, data])


def timestamps(micros: Ints, mask: Mask | None = None) -> pa.Array:
    """A ``timestamp('us')`` column from int64 microseconds, truncated to whole seconds."""
    seconds = micros - micros % 1_000_000  # what applications store; keeps SQLite text short
    return pa.array(seconds.view("datetime64[us]"), mask=mask)


def integers(values: Ints, dtype: pa.DataType, mask: Mask | None = None) -> pa.Array:
    """An integer column of ``dtype`` (values are in range by construction)."""
    return pa.array(values, type=dtype, mask=mask)


def floats(values: Floats, mask: Mask | None = None, *, digits: int = 2) -> pa.Array:
    """A float64 column rounded to ``digits`` decimals, as a sensor would report it."""
    return pa.array(np.round(values, digits), type=pa.float64(), mask=mask)


def flags(values: Mask) -> pa.Array:
    """A non-null boolean column."""
    return pa.array(values, type=pa.bool_())


def lognormal_units(
    rng: np.random.Generator,
    n: int,
    *,
    median: float,
    sigma: float,
    low: float,
    high: float,
    scale: int,
) -> Ints:
    """Log-normal amounts clipped to ``[low, high]``, as unscaled integers at ``scale`` digits."""
    amounts = np.clip(rng.lognormal(np.log(median), sigma, n), low, high)
    return np.round(amounts * float(10**scale)).astype(np.int64)
