"""Dataset sizes (the scales of seed 001) and the deterministic stream of batches per table.

Batch ``i`` of a table is drawn from ``default_rng([seed, table salt, i])``: any batch can be
regenerated on its own, the same seed always gives the same rows, and no two (seed, table, batch)
triples share a random stream (a plain ``seed + salt + i`` would make seed 42's second batch
equal seed 43's first).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bulksync.datagen.entities import build_matches, build_players, build_statcast
from bulksync.datagen.tables import TABLES
from bulksync.datagen.wagers import build_bets, build_odds
from bulksync.datagen.world import DATASET_END, Draw
from bulksync.errors import UsageError

BATCH_ROWS = 50_000

# Rows per table; totals: small 0.56 M, medium 2.56 M, large 12.8 M, xlarge 55 M (seed 001).
SCALES: dict[str, dict[str, int]] = {
    "small": {
        "players": 10_000,
        "matches": 50_000,
        "bets": 300_000,
        "odds": 100_000,
        "statcast": 100_000,
    },
    "medium": {
        "players": 40_000,
        "matches": 120_000,
        "bets": 1_200_000,
        "odds": 600_000,
        "statcast": 600_000,
    },
    "large": {
        "players": 200_000,
        "matches": 600_000,
        "bets": 6_000_000,
        "odds": 3_000_000,
        "statcast": 3_000_000,
    },
    "xlarge": {
        "players": 1_000_000,
        "matches": 2_000_000,
        "bets": 24_000_000,
        "odds": 14_000_000,
        "statcast": 14_000_000,
    },
}

Builder = Callable[[Draw], pa.RecordBatch]
BUILDERS: dict[str, tuple[int, Builder]] = {  # table → (salt of its random streams, builder)
    "players": (1, build_players),
    "matches": (2, build_matches),
    "bets": (3, build_bets),
    "odds": (4, build_odds),
    "statcast": (5, build_statcast),
}


@dataclass(frozen=True)
class Plan:
    """Which tables to generate with how many rows, and the id ranges references point into."""

    seed: int
    rows: dict[str, int]  # the selected tables only, in load order
    players: int
    matches: int
    shift_days: int = 0  # every timestamp moved by this many days: the data ends ``until``

    @property
    def until(self) -> dt.date:
        """The last day with bets."""
        return DATASET_END + dt.timedelta(days=self.shift_days)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def _choose(what: str, asked: Sequence[str], known: Sequence[str]) -> None:
    unknown = [name for name in asked if name not in known]
    if unknown:
        raise UsageError(f"unknown {what} {unknown[0]!r} (valid: {', '.join(known)})")


def make_plan(
    scale: str = "small",
    *,
    seed: int = 42,
    tables: Sequence[str] | None = None,
    rows_override: Mapping[str, int] | None = None,
    until: dt.date | None = None,
) -> Plan:
    """Resolve a scale, a table selection and row overrides; refuse unknown names.

    ``until`` is the last day with bets (the year of data ends that day); by default
    ``DATASET_END`` (2026-10-31), so a seed alone gives the same rows on any day."""
    _choose("scale", [scale], list(SCALES))
    selected = [tables] if isinstance(tables, str) else list(tables or TABLES)
    overrides = dict(rows_override or {})
    _choose("table", [*selected, *overrides], list(TABLES))
    if seed < 0:
        raise UsageError(f"seed must be a non-negative integer, got {seed}")
    if any(count < 0 for count in overrides.values()):
        raise UsageError(f"row counts must not be negative, got {overrides}")
    counts = {**SCALES[scale], **overrides}
    rows = {name: counts[name] for name in TABLES if name in selected}
    shift = (until - DATASET_END).days if until is not None else 0
    return Plan(seed, rows, max(counts["players"], 1), max(counts["matches"], 1), shift)


def iter_batches(plan: Plan, table: str, *, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """The batches of one table, ids ``1..rows`` in order, each ``batch_rows`` long but the last."""
    salt, build = BUILDERS[table]
    total = plan.rows[table]
    for index, first in enumerate(range(0, total, batch_rows)):
        ids = np.arange(first + 1, min(first + batch_rows, total) + 1, dtype=np.int64)
        rng = np.random.default_rng([plan.seed, salt, index])
        batch = build(Draw(ids, rng, plan.seed, plan.players, plan.matches, total, plan.shift_days))
        yield _moved(batch, plan.shift_days) if plan.shift_days else batch


def _moved(batch: pa.RecordBatch, days: int) -> pa.RecordBatch:
    """Every timestamp of ``batch`` ``days`` later (the order of rows, and so of ids, is kept)."""
    by = pa.scalar(dt.timedelta(days=days), pa.duration("us"))
    columns = [pc.add(col, by) if pa.types.is_timestamp(col.type) else col for col in batch.columns]
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)
