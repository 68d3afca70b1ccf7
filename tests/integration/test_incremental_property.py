"""Incremental sync you can trust: a stateful property test.

Hypothesis interleaves, on a SQLite source: inserts (many rows sharing one cursor value),
updates (several rows moved to the same new cursor value, possibly the watermark's own value),
late arrivals (rows whose cursor is older than the newest one, inside the lag window), the clock
moving on, and syncs that are killed with SIGKILL at a random moment. After every completed
sync the PostgreSQL destination must equal the source exactly: every id, every value, once.

What incremental mode cannot see, by design: hard deletes at the source (no row, no cursor) and
changes whose cursor lands more than ``--lag-seconds`` before the watermark. Deletes are not
generated here; the README gives the remedy (a periodic ``verify``, or ``--mode replace``).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from bulksync import SyncSpec, sync
from bulksync.connectors.registry import open_connector
from bulksync.schema import Column, Index, TableSchema
from bulksync.spec import Mode, TableSpec

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PG_ADMIN = os.environ.get("BULKSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
LAG_S = 30
T0 = dt.datetime(2026, 3, 29, 1, 0, 0)
SCHEMA = TableSchema(
    "t",
    (
        Column("id", pa.int64(), nullable=False),
        Column("v", pa.string()),
        Column("updated_at", pa.timestamp("us"), nullable=False),
    ),
    ("id",),
    (Index("t_cursor_idx", ("updated_at", "id")),),
)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BULKSYNC_")}
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    return env


class IncrementalSync(RuleBasedStateMachine):
    """The model is a dict id → (v, updated_at); the source is written to match it."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"bs_prop_{uuid.uuid4().hex[:10]}"
        self.dir.mkdir(parents=True)
        self.source = str(self.dir / "source.db")
        self.db = f"bs_prop_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.db}"')
        self.dest = PG_ADMIN.rsplit("/", 1)[0] + "/" + self.db
        self.model: dict[int, tuple[str, dt.datetime]] = {}
        self.now = T0
        self.next_id = 1
        self.version = 0
        self.synced = False

    @initialize()
    def create_source(self) -> None:
        conn = open_connector(self.source, create=True)
        try:
            conn.create_table(SCHEMA, with_indexes=True)
        finally:
            conn.close()

    # -- changes at the source ----------------------------------------------------------------

    def _write(self, rows: dict[int, tuple[str, dt.datetime]]) -> None:
        ids = sorted(rows)
        batch = pa.RecordBatch.from_arrays(
            [
                pa.array(ids, pa.int64()),
                pa.array([rows[i][0] for i in ids], pa.string()),
                pa.array([rows[i][1] for i in ids], pa.timestamp("us")),
            ],
            schema=SCHEMA.arrow_schema(),
        )
        conn = open_connector(self.source)
        try:
            with conn.transaction() as tx:
                tx.write("t", batch, upsert_key=("id",))
        finally:
            conn.close()
        self.model.update(rows)

    def _value(self) -> str:
        self.version += 1
        return f"v{self.version}"

    @rule(n=st.integers(1, 40))
    def insert_sharing_one_cursor(self, n: int) -> None:
        rows = {self.next_id + i: (self._value(), self.now) for i in range(n)}
        self.next_id += n
        self._write(rows)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data(), n=st.integers(1, 10))
    def update_several_to_the_same_cursor(self, data: st.DataObject, n: int) -> None:
        ids = data.draw(st.lists(st.sampled_from(sorted(self.model)), min_size=1, max_size=n, unique=True))
        self._write({i: (self._value(), self.now) for i in ids})

    @precondition(lambda self: bool(self.model))
    @rule(n=st.integers(1, 10), back=st.integers(0, LAG_S - 1))
    def arrive_late(self, n: int, back: int) -> None:
        newest = max(ts for _, ts in self.model.values())
        rows = {self.next_id + i: (self._value(), newest - dt.timedelta(seconds=back)) for i in range(n)}
        self.next_id += n
        self._write(rows)

    @precondition(lambda self: self.synced and bool(self.model))
    @rule(n=st.integers(1, 5), back=st.integers(1, LAG_S - 1))
    def arrive_late_after_a_sync_then_sync(self, n: int, back: int) -> None:
        """The case the lag window exists for: behind the watermark the last sync left."""
        self.arrive_late(n, back)
        self.sync_to_the_end()

    @rule(seconds=st.integers(0, 5))
    def clock_moves(self, seconds: int) -> None:
        self.now += dt.timedelta(seconds=seconds)

    # -- syncs -------------------------------------------------------------------------------

    def _spec(self) -> SyncSpec:
        return SyncSpec(
            source=self.source,
            destination=self.dest,
            tables=(TableSpec(name="t", cursor="updated_at"),),
            mode=Mode.INCREMENTAL,
            lag_seconds=LAG_S,
            chunk_rows=7,  # many small batches: more places for a kill to land
        )

    @rule()
    def sync_to_the_end(self) -> None:
        sync(self._spec())
        self.synced = True
        self.check_equal()

    @rule(delay_ms=st.integers(0, 1500))
    def sync_killed_midway(self, delay_ms: int) -> None:
        cmd = [
            sys.executable, "-m", "bulksync", "copy", self.source, self.dest, "--table", "t",
            "--mode", "incremental", "--cursor", "updated_at", "--lag-seconds", str(LAG_S),
            "--batch-mb", "0.01", "--quiet",
        ]  # fmt: skip
        child = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            child.wait(timeout=0.6 + delay_ms / 1000)  # imports take ~0.6 s: most kills land mid-sync
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
            child.wait()
        else:
            assert child.returncode == 0, child.stderr.read() if child.stderr else ""
        if child.stderr:
            child.stderr.close()

    # -- the property ------------------------------------------------------------------------

    def check_equal(self) -> None:
        with psycopg.connect(self.dest) as conn:
            rows = conn.execute("SELECT id, v, updated_at FROM t").fetchall()
        got: dict[int, tuple[str, dt.datetime]] = {}
        for row_id, v, ts in rows:
            assert row_id not in got, f"id {row_id} is in the destination twice"
            got[row_id] = (v, ts)
        missing = sorted(set(self.model) - set(got))
        stale = sorted(i for i in set(self.model) & set(got) if got[i] != self.model[i])
        extra = sorted(set(got) - set(self.model))
        assert not (missing or stale or extra), (
            f"missing {missing[:10]} stale {stale[:10]} extra {extra[:10]}"
        )

    @invariant()
    def destination_never_invents_rows(self) -> None:
        if not self.synced:
            return
        with psycopg.connect(self.dest) as conn:
            ids = {r[0] for r in conn.execute("SELECT id FROM t").fetchall()}
        assert ids <= set(self.model), f"rows the source never had: {sorted(ids - set(self.model))[:10]}"

    def teardown(self) -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
        for f in self.dir.iterdir():
            f.unlink()
        self.dir.rmdir()


IncrementalSync.TestCase.settings = settings(
    max_examples=int(os.environ.get("BULKSYNC_PROPERTY_EXAMPLES", "12")),
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(autouse=True)
def _postgres_is_up(pg_admin: Any) -> None:
    """Fail (CI) or skip (laptop) through conftest when PostgreSQL is down."""


TestIncrementalSync = IncrementalSync.TestCase
