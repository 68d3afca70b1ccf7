"""Batch sizing in bytes, adapted to how long the destination takes to commit a batch."""

from __future__ import annotations

from dataclasses import dataclass

MIN_ROWS = 500
MAX_ROWS = 1_000_000


@dataclass
class BatchSizer:
    """Chooses how many rows to read next so a batch is about ``target_bytes`` big.

    After each commit, ``observe_write`` grows the target when batches commit well under
    ``target_seconds`` and shrinks it when they take much longer (short locks, steady memory).
    """

    target_bytes: int
    min_bytes: int
    max_bytes: int
    target_seconds: float
    row_bytes: float = 200.0
    fixed_rows: int | None = None  # the user asked for this many rows per chunk (memory may halve it)

    def rows(self) -> int:
        if self.fixed_rows is not None:
            return self.fixed_rows
        wanted = int(self.target_bytes / max(self.row_bytes, 1.0))
        return max(MIN_ROWS, min(MAX_ROWS, wanted))

    def observe_chunk(self, rows: int, nbytes: int) -> None:
        if rows > 0:
            # smooth, so one odd chunk (wide text) does not swing the size
            self.row_bytes = 0.7 * self.row_bytes + 0.3 * (nbytes / rows)

    def observe_write(self, seconds: float) -> None:
        if seconds > 2.0 * self.target_seconds:
            self.target_bytes = max(self.min_bytes, int(self.target_bytes * 0.6))
        elif seconds < 0.5 * self.target_seconds:
            self.target_bytes = min(self.max_bytes, int(self.target_bytes * 1.25))

    def shrink(self) -> None:
        """Memory pressure: halve the target."""
        if self.fixed_rows is not None:
            self.fixed_rows = max(1, self.fixed_rows // 2)
        self.target_bytes = max(self.min_bytes, self.target_bytes // 2)
