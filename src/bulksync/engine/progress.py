"""Progress events: what the engine tells the faces (CLI bars, logs, job store, metrics).

The engine only emits; subscribers decide how to show them. Events are cheap (one per batch).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProgressEvent:
    """The state of one table after a batch (or at a phase change)."""

    table: str
    phase: str  # planned | copying | indexing | swapping | done | failed
    rows_done: int
    rows_total: int
    bytes_done: int
    elapsed_s: float
    rows_per_s: float
    eta_s: float | None
    rss_mb: float
    partitions: int
    rejected: int = 0
    message: str = ""
    batch_rows: int = 0  # a ``copying`` event: the rows of the batch just committed
    batch_seconds: float = 0.0  # … and how long its write and commit took

    @property
    def percent(self) -> float:
        if self.rows_total <= 0:
            return 100.0 if self.phase == "done" else 0.0
        return min(100.0, 100.0 * self.rows_done / self.rows_total)


Listener = Callable[[ProgressEvent], None]


@dataclass
class _TableCounter:
    total: int
    partitions: int
    started: float = field(default_factory=time.monotonic)
    rows: int = 0  # done in all, rows committed by earlier runs included
    already: int = 0  # committed by earlier (killed) runs: counted in rows, not in the rate
    bytes: int = 0
    rejected: int = 0


class ProgressTracker:
    """Thread-safe per-table counters that turn batches into ProgressEvents for listeners."""

    def __init__(self, listeners: list[Listener], rss_mb: Callable[[], float]) -> None:
        self._listeners = listeners
        self._rss_mb = rss_mb
        self._lock = threading.Lock()
        self._tables: dict[str, _TableCounter] = {}
        self.first_commit_at: float | None = None  # time.time() of the first committed batch

    def start(self, table: str, *, total: int, partitions: int, already: int = 0) -> None:
        with self._lock:
            self._tables[table] = _TableCounter(
                total=max(total, already), partitions=partitions, rows=already, already=already
            )
        self._emit(table, "planned")

    def advance(self, table: str, *, rows: int, nbytes: int, rejected: int = 0, seconds: float = 0.0) -> None:
        """A batch of ``rows`` was committed (its write took ``seconds``)."""
        with self._lock:
            if self.first_commit_at is None:
                self.first_commit_at = time.time()
            counter = self._tables[table]
            counter.rows += rows
            counter.bytes += nbytes
            counter.rejected += rejected
            counter.total = max(counter.total, counter.rows)
        self._emit(table, "copying", batch=(rows, seconds))

    def phase(self, table: str, phase: str, message: str = "") -> None:
        self._emit(table, phase, message)

    def _emit(self, table: str, phase: str, message: str = "", batch: tuple[int, float] = (0, 0.0)) -> None:
        with self._lock:
            c = self._tables[table]
            elapsed = time.monotonic() - c.started
            rate = (c.rows - c.already) / elapsed if elapsed > 0 else 0.0
            left = max(0, c.total - c.rows)
            event = ProgressEvent(
                table=table,
                phase=phase,
                rows_done=c.rows,
                rows_total=c.total,
                bytes_done=c.bytes,
                elapsed_s=elapsed,
                rows_per_s=rate,
                eta_s=(left / rate) if rate > 0 else None,
                rss_mb=self._rss_mb(),
                partitions=c.partitions,
                rejected=c.rejected,
                message=message,
                batch_rows=batch[0],
                batch_seconds=batch[1],
            )
        for listener in self._listeners:
            listener(event)
