"""The result of a sync: seed 002's BatchInsertResult fields, per table and in total."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TableResult:
    """What happened to one table."""

    table: str
    target: str
    mode: str
    estimated_rows: int = 0
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    values_nulled: int = 0  # --on-bad-value null: values loaded as NULL (recorded with the rejects)
    # of rows_written: new rows, rows whose values changed, rows already there as they were
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    resumed_rows: int = 0
    batches: int = 0
    batch_seconds: float = 0.0
    partitions: int = 0
    duration_s: float = 0.0
    status: str = "pending"
    error: str | None = None
    verified: str | None = None  # --verify: 'equal', 'equal but for 3 rejected rows', 'DIFFERENT: …'
    verify_equal: bool | None = None  # --verify: the copy holds what the sync says it moved
    differences: dict[str, int] | None = None  # --verify: rows of each kind of difference
    # per foreign key: name, columns, references, status (created | created NOT VALID |
    # created unchecked | declared | exists | failed), orphans (rows without a parent), error
    foreign_keys: list[dict[str, Any]] = field(default_factory=list)
    not_carried: list[str] = field(default_factory=list)  # defaults, CHECKs, keys left out, and why
    warnings: list[str] = field(default_factory=list)  # what the user should know of this run


@dataclass
class SyncResult:
    """Totals over every table (``read = written + rejected`` always holds)."""

    tables: list[TableResult] = field(default_factory=list)
    duration_s: float = 0.0
    memory_peak_mb: float = 0.0
    memory_pauses: int = 0
    first_batch_s: float | None = None  # from the sync's start (planning included) to its first commit
    first_commit_at: float | None = None  # when that batch committed (time.time()); not in to_dict
    status: str = "succeeded"
    rejects_at: str = ""  # the destination table that holds rejected rows and their reasons

    @property
    def total_rows(self) -> int:
        return sum(t.estimated_rows for t in self.tables)

    @property
    def processed_rows(self) -> int:
        return sum(t.rows_written for t in self.tables)

    @property
    def failed_rows(self) -> int:
        return sum(t.rows_rejected for t in self.tables)

    @property
    def verify_failed(self) -> bool:
        """``--verify`` found a difference the sync does not account for."""
        return any(t.verify_equal is False for t in self.tables)

    @property
    def recorded_rows(self) -> int:
        """Rows in the reject table from this sync: rejected, or loaded with a NULL value."""
        return self.failed_rows + sum(t.values_nulled for t in self.tables)

    @property
    def rows_read(self) -> int:
        return sum(t.rows_read for t in self.tables)

    @property
    def batch_count(self) -> int:
        return sum(t.batches for t in self.tables)

    @property
    def avg_batch_s(self) -> float:
        count = self.batch_count
        return sum(t.batch_seconds for t in self.tables) / count if count else 0.0

    @property
    def rows_per_s(self) -> float:
        return self.rows_read / self.duration_s if self.duration_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "total_rows": self.total_rows,
            "processed_rows": self.processed_rows,
            "failed_rows": self.failed_rows,
            "rows_read": self.rows_read,
            "batch_count": self.batch_count,
            "duration_s": round(self.duration_s, 3),
            "avg_batch_s": round(self.avg_batch_s, 4),
            "memory_peak_mb": round(self.memory_peak_mb, 1),
            "memory_pauses": self.memory_pauses,
            "first_batch_s": None if self.first_batch_s is None else round(self.first_batch_s, 3),
            "rows_per_s": round(self.rows_per_s, 1),
            "values_nulled": sum(t.values_nulled for t in self.tables),
            "rows_inserted": sum(t.rows_inserted for t in self.tables),
            "rows_updated": sum(t.rows_updated for t in self.tables),
            "rows_unchanged": sum(t.rows_unchanged for t in self.tables),
            "rejects_table": self.rejects_at if self.recorded_rows else None,
            "tables": [asdict(t) for t in self.tables],
        }
