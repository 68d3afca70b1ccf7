"""What a store sync reports: each store's outcome, live progress, and the run's result."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # serve reads these results without loading aiohttp or pyarrow
    from bulksync.connectors.http import Tally
    from bulksync.recipes.store_tables import LogRow


@dataclass
class StoreOutcome:
    """One store: succeeded, failed (with the reason) or skipped (already done in this run).

    ``rejected``: records set aside (in the reject table with their reasons), not ``written``;
    the store still succeeds, and its message says how many."""

    code: str
    status: str
    message: str
    fetched: int = 0
    written: int = 0
    requests: int = 0
    retries: int = 0
    duration_ms: int = 0
    rejected: int = 0

    def log_row(self, job_name: str, run_id: str, run_time: dt.datetime) -> LogRow:
        from bulksync.recipes.store_tables import LogRow

        return LogRow(
            job_name, run_id, self.code, self.status, self.message, self.duration_ms, run_time,
            self.fetched, self.written, self.requests, self.retries,
        )  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@runtime_checkable
class StoreListener(Protocol):
    """Told of each store as it ends, with its request counts (the API's Prometheus metrics)."""

    def store_done(self, outcome: StoreOutcome, tally: Tally) -> None: ...


@dataclass
class StoreProgress:
    """Live counters: stores processed of total, records fetched, requests (each attempt)."""

    total: int
    started: float
    processed: int = 0
    failed: int = 0
    records: int = 0
    finished_requests: int = 0
    running: dict[str, Tally] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (store code, reason)

    def store_done(self, outcome: StoreOutcome) -> None:
        if outcome.status == "stopped":  # cancelled mid-store: it continues when the job resumes
            self.running.pop(outcome.code, None)
            return
        self.processed += 1
        self.failed += outcome.status == "failed"
        if outcome.status == "failed":
            self.failures.append((outcome.code, outcome.message))
        self.finished_requests += outcome.requests
        self.running.pop(outcome.code, None)

    @property
    def requests(self) -> int:
        return self.finished_requests + sum(t.requests for t in self.running.values())

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def percent(self) -> int:
        return int(100 * self.processed / self.total) if self.total else 100

    def as_dict(self) -> dict[str, Any]:
        """Seed 004's 'Sync progress' line, plus records and requests/second."""
        secs = max(self.elapsed, 1e-9)
        return {
            "msg": "Sync progress", "processed": self.processed, "total": self.total,
            "percent": self.percent, "failed": self.failed, "records": self.records,
            "requests": self.requests, "requests_per_s": round(self.requests / secs, 1),
        }  # fmt: skip


@dataclass
class StoresResult:
    job_name: str
    run_id: str
    status: str  # succeeded | partial | failed | cancelled (the run stays open)
    stores: int
    succeeded: int
    failed: int
    skipped: int
    records_fetched: int
    records_written: int
    requests: int
    retries: int
    seconds: float
    resumed: bool
    failures: list[StoreOutcome]
    note: str = ""  # what became of the job's unfinished run: resumed, or why not
    records_rejected: int = 0  # in the reject table with their reasons (exit code 3 in the CLI)
    rejected_stores: list[StoreOutcome] = field(default_factory=list)  # stores that did not fail

    @classmethod
    def of(
        cls,
        job_name: str,
        run_id: str,
        outcomes: list[StoreOutcome],
        seconds: float,
        *,
        resumed: bool,
        note: str = "",
        cancelled: bool = False,
    ) -> StoresResult:
        """``cancelled``: stores were left unstarted (a store stopped mid-way says so itself)."""
        failures = sorted((o for o in outcomes if o.status == "failed"), key=lambda o: o.code)
        rejecting = sorted((o for o in outcomes if o.rejected and o.status != "failed"), key=lambda o: o.code)
        ok = sum(o.status in ("succeeded", "skipped") for o in outcomes)
        status = "succeeded" if not failures else ("partial" if ok else "failed")
        if cancelled or any(o.status == "stopped" for o in outcomes):
            status = "cancelled"
        return cls(
            job_name, run_id, status, len(outcomes), ok, len(failures),
            sum(o.status == "skipped" for o in outcomes),
            sum(o.fetched for o in outcomes), sum(o.written for o in outcomes),
            sum(o.requests for o in outcomes), sum(o.retries for o in outcomes),
            round(seconds, 3), resumed, failures, note, sum(o.rejected for o in outcomes), rejecting,
        )  # fmt: skip

    @property
    def success_rate(self) -> float:
        return round(100.0 * self.succeeded / self.stores, 1) if self.stores else 100.0

    def headline(self) -> str:
        rejected = f", {self.records_rejected} rejected" if self.records_rejected else ""
        return (
            f"{self.succeeded}/{self.stores} stores succeeded ({self.success_rate}%), {self.failed} failed; "
            f"{self.records_written} records written{rejected}, {self.requests} requests"
        )

    def with_failures(self, shown: int = 3) -> str:
        """The headline and the first failed stores with their reasons: a job record's error."""
        first = ", ".join(f"{f.code}: {f.message}" for f in self.failures[:shown])
        more = f" (+{self.failed - shown} more)" if self.failed > shown else ""
        return f"{self.headline()}; {first}{more}"

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k not in ("failures", "rejected_stores")}
        data["success_rate"] = self.success_rate
        data["failures"] = [o.as_dict() for o in self.failures]
        data["rejected_stores"] = [o.as_dict() for o in self.rejected_stores]
        return data
