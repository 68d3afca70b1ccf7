"""Declared lengths a source never enforced: checked per batch, widened before it is written.

SQLite stores 500 characters in a ``VARCHAR(10)``. A table this sync creates (a new table,
``--mode replace``, a staging table; after a crash the checkpoints' ``created_table`` says so)
keeps the declared lengths; before each batch goes to it, the batch's text columns are checked
against them with Arrow kernels, and a column some value exceeds is widened first
(``WidensText``). Relying on the destination's error instead would lose data: PostgreSQL cuts
trailing spaces past the length without a word. Nothing is asked of the source before the first
row. Into a table the user already had nothing changes: a too-long value is a rejected row.

The report (``TableResult.not_carried``) is read from the destination's catalog at the end, so a
resumed run tells of the columns an earlier run widened too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bulksync.connectors.base import Destination, Source, WidensText
from bulksync.engine.retry import retrying
from bulksync.errors import SyncError
from bulksync.schema import TableSchema

if TYPE_CHECKING:
    from bulksync.engine.plan import TablePlan
    from bulksync.engine.result import TableResult


@dataclass(frozen=True)
class TextLimit:
    """A declared length the source did not enforce: ``column`` in a batch, ``target`` in the
    destination table."""

    column: str
    target: str
    length: int


def unenforced_lengths(
    source: Source, dest: Destination, *, read: TableSchema, made: TableSchema
) -> tuple[TextLimit, ...]:
    """The text lengths of ``read`` (as the source has it) to check in each batch written to
    ``made`` (the table created from it, same column order): those the source does not enforce
    and the destination does, when it can widen a column."""
    if source.capabilities.enforces_lengths or not dest.capabilities.enforces_lengths:
        return ()
    if not isinstance(dest, WidensText):
        return ()
    unbounded = dest.made_unbounded(made)
    return tuple(
        TextLimit(col.name, to.name, col.length)
        for col, to in zip(read.columns, made.columns, strict=True)
        if col.length
        and (pa.types.is_string(col.type) or pa.types.is_large_string(col.type))
        and to.name not in unbounded
    )


def too_long(batch: pa.RecordBatch, limits: Mapping[str, int]) -> dict[str, int]:
    """Each column of ``limits`` with a value longer than its limit (in characters), with the
    longest such value's length.

    A character takes one to four bytes in UTF-8, so a column whose longest value has at most
    ``limit`` bytes fits (one pass over the offsets); characters are counted only in the values
    with more bytes than that. Spaces count like any character.
    """
    found = {}
    for name, limit in limits.items():
        at = batch.schema.get_field_index(name)
        if at < 0:
            continue
        values = batch.column(at)
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            continue
        if _most_bytes(values) <= limit:
            continue
        chars = pc.max(pc.utf8_length(values.filter(pc.greater(pc.binary_length(values), limit)))).as_py()
        if chars is not None and chars > limit:
            found[name] = int(chars)
    return found


def _most_bytes(values: pa.Array) -> int:
    """The most bytes a value of ``values`` has, read off its offsets (numpy's scratch memory,
    not Arrow's pool: the writer threads allocate nothing else there). A null's slot may count
    too: then the characters are counted, nulls left out."""
    if len(values) == 0:
        return 0
    width = np.int64 if pa.types.is_large_string(values.type) else np.int32
    offsets = np.frombuffer(
        values.buffers()[1], dtype=width, count=len(values) + 1, offset=values.offset * width().itemsize
    )
    return int(np.diff(offsets).max())


class TextFitter:
    """One partition's check: widens what a batch needs before it is written, then stops
    checking those columns (its connection holds them widened, or as wide as a key allows)."""

    def __init__(self, table: TableSchema, limits: tuple[TextLimit, ...]) -> None:
        self._table = table  # the table written to, as created: its keys tell MariaDB's types
        self._limits = {lim.column: lim for lim in limits}

    def __bool__(self) -> bool:
        return bool(self._limits)

    def fit(self, batch: pa.RecordBatch, dest: Destination) -> None:
        """Widen ``dest``'s columns that some value of ``batch`` is too long for."""
        beyond = too_long(batch, {c: lim.length for c, lim in self._limits.items()})
        if not beyond:
            return
        assert isinstance(dest, WidensText)
        dest.widen_text(self._table, {self._limits[c].target: n for c, n in beyond.items()})
        for column in beyond:
            del self._limits[column]


def note_widened(
    plan: TablePlan, table: TableResult, dest: Destination, *, source: str, retries: int
) -> None:
    """Add to ``table.not_carried`` each column of ``plan`` its destination table now holds
    longer than declared (whichever run widened it). ``source``: the source's dialect."""
    if not plan.unenforced or not isinstance(dest, WidensText):
        return
    name = plan.final.name if table.status == "succeeded" else plan.write_to  # swapped in, or not
    try:
        now = retrying(partial(dest.text_lengths, name), retries=retries)
    except SyncError:
        return  # the destination is gone (or the staging table dropped): no rows were lost
    table.not_carried += widened_notes(plan.unenforced, now, source=source)


def widened_notes(limits: tuple[TextLimit, ...], now: Mapping[str, int | None], *, source: str) -> list[str]:
    """The report of each column of ``limits`` the destination now holds longer than declared
    (``now``: its text columns' lengths, None for none). ``source``: the source's dialect."""
    who = "SQLite" if source == "sqlite" else "the source"
    notes = []
    for lim in limits:
        if lim.target not in now:
            continue
        held = now[lim.target]
        if held is not None and held <= lim.length:
            continue
        outcome = "the column has no length" if held is None else f"the column's length is {held}"
        notes.append(
            f"{lim.column}: length {lim.length} not carried ({who} never enforced it and a value is "
            f"longer): {outcome}"
        )
    return notes
