"""What a verify found: per table, the rows of each kind of difference and where they are."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Key = tuple[Any, ...]

KINDS = ("missing", "unexpected", "duplicated", "different")
KIND_HELP = {
    "missing": "in the source, not in the destination",
    "unexpected": "in the destination, not in the source",
    "duplicated": "extra copies of a key (or of a whole row, for a table without a key) in the destination",
    "different": "same key on both sides, other values",
}
MAX_RANGES = 50


@dataclass
class Finding:
    """Rows of one kind of difference in one table: how many, key ranges, the first keys."""

    kind: str
    rows: int = 0
    ranges: list[tuple[Key, Key]] = field(default_factory=list)  # (first, last) key per chunk
    examples: list[Key] = field(default_factory=list)
    more_ranges: int = 0  # ranges not listed (past MAX_RANGES)

    def add(self, keys: list[Key], rows: int, *, max_examples: int) -> None:
        self.rows += rows
        if not keys:
            return
        room = max_examples - len(self.examples)
        self.examples.extend(keys[: max(room, 0)])
        if len(self.ranges) < MAX_RANGES:
            self.ranges.append((keys[0], keys[-1]))
        else:
            self.more_ranges += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "ranges": [[list(lo), list(hi)] for lo, hi in self.ranges],
            "more_ranges": self.more_ranges,
            "first_keys": [list(k) for k in self.examples],
        }


@dataclass
class TableVerdict:
    """The comparison of one table with its destination table."""

    table: str
    target: str
    key: tuple[str, ...]  # the columns rows are matched on; () for a table without a key
    source_rows: int = 0
    dest_rows: int = 0
    chunks: int = 0
    chunks_differing: int = 0
    duration_s: float = 0.0
    source_cpu_s: float = 0.0  # CPU time of the thread reading and hashing the source
    dest_cpu_s: float = 0.0
    ignored_columns: list[str] = field(default_factory=list)  # destination-only columns
    notes: list[str] = field(default_factory=list)
    findings: dict[str, Finding] = field(default_factory=lambda: {k: Finding(k) for k in KINDS})

    @property
    def equal(self) -> bool:
        return all(f.rows == 0 for f in self.findings.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "target": self.target,
            "key": list(self.key),
            "equal": self.equal,
            "source_rows": self.source_rows,
            "dest_rows": self.dest_rows,
            "chunks": self.chunks,
            "chunks_differing": self.chunks_differing,
            "duration_s": round(self.duration_s, 3),
            "source_cpu_s": round(self.source_cpu_s, 3),
            "dest_cpu_s": round(self.dest_cpu_s, 3),
            "ignored_columns": self.ignored_columns,
            "notes": self.notes,
            **{kind: f.to_dict() for kind, f in self.findings.items()},
        }


@dataclass
class VerifyResult:
    """Every table compared; ``equal`` only when no table has any difference."""

    tables: list[TableVerdict] = field(default_factory=list)
    duration_s: float = 0.0
    memory_peak_mb: float = 0.0

    @property
    def equal(self) -> bool:
        return all(t.equal for t in self.tables)

    @property
    def rows_compared(self) -> int:
        return sum(t.source_rows for t in self.tables)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "equal" if self.equal else "different",
            "equal": self.equal,
            "rows_compared": self.rows_compared,
            "duration_s": round(self.duration_s, 3),
            "memory_peak_mb": round(self.memory_peak_mb, 1),
            "tables": [t.to_dict() for t in self.tables],
        }
