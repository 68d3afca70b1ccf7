"""S2 kill -9: SIGKILL the copy three times at seeded random moments, re-run, and prove nothing
was lost, doubled or changed.

Each copy is a separate ``python -m bulksync copy`` process. Kill moments are chosen by watching
the committed row count in the destination (each threshold above what earlier runs committed,
then a random delay, so the kill lands anywhere inside a batch); a kill only counts if the child
was still running. After every kill the checkpoint must agree with the committed data, so the
next run re-copies nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psycopg
import pytest

import crashkit
from bulksync.engine.checkpoint import decode_key

ROWS = 200_000
SEED = 20_261_101

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass(frozen=True)
class Source:
    path: Path
    digests: crashkit.Digests


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    path = tmp_path_factory.mktemp("crash") / "source.db"
    crashkit.build_source(str(path), ROWS, seed=SEED)
    return Source(path, crashkit.sqlite_digests(path))


def _ts(value: Any) -> Any:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value


class Probe(Protocol):
    """What the kill loop asks of a destination: PgProbe, SqliteProbe, MariadbProbe."""

    def row(self, sql: str, params: Sequence[Any] = ...) -> tuple[Any, ...] | None: ...

    def count(self, table: str = ...) -> int: ...

    state_table: str

    def settle(self) -> None: ...


def assert_checkpoint_agrees(probe: Probe, *, incremental: bool) -> int:
    """Each partition's checkpoint (rows, last key) equals what its key range holds; returns rows."""
    states = []
    part = 0
    while (row := probe.row(
        f"SELECT lower_key, upper_key, last_key, rows_done FROM {probe.state_table} WHERE part = %s", (part,)
    )) is not None:  # fmt: skip
        states.append(row)
        part += 1
    assert states, "no checkpoint was committed before the kill"
    total = 0
    for lower_text, upper_text, last_text, rows_done in states:
        lower, upper, last = decode_key(lower_text), decode_key(upper_text), decode_key(last_text)
        if incremental:
            found = probe.row("SELECT count(*) FROM t")
            top = probe.row("SELECT updated_at, id FROM t ORDER BY updated_at DESC, id DESC LIMIT 1")
            got_last = (_ts(top[0]), top[1]) if top else None
        else:
            lo = lower[0] if lower else -(2**62)
            hi = upper[0] if upper else 2**62
            found = probe.row("SELECT count(*) FROM t WHERE id > %s AND id <= %s", (lo, hi))
            top = probe.row("SELECT max(id) FROM t WHERE id > %s AND id <= %s", (lo, hi))
            got_last = (top[0],) if top and top[0] is not None else lower
        assert found is not None
        assert (rows_done, last) == (found[0], got_last), (
            f"checkpoint says {rows_done} rows up to {last}, the destination holds {found[0]} rows "
            f"up to {got_last}: a resume would lose or re-copy rows"
        )
        total += rows_done
    return total


def crash_and_finish(
    cmd: list[str],
    probe: Probe,
    *,
    seed: int,
    incremental: bool = False,
) -> dict[str, Any]:
    """Three seeded kills (each mid-copy, each checked), then a run to the end; the figures."""
    rng = random.Random(seed)
    kills = []
    committed = 0
    for low, high in ((0.05, 0.2), (0.25, 0.4), (0.45, 0.6)):
        if committed >= ROWS * high:  # a fast path ran past this window before the last kill
            continue  # landed; a kill now might come after the last row (seen on faster hosts)
        threshold = max(int(ROWS * rng.uniform(low, high)), committed + 1)
        # a few ms past the threshold: a chunk commits every 1-4 ms, so the kill still lands at a
        # random point of one; 80 ms let a fast path (SQLite → SQLite, ~10^6 rows/s) finish first
        delay = rng.uniform(0, 0.01)
        kill = crashkit.run_and_kill(
            cmd, count=probe.count, settle=probe.settle, threshold=threshold, delay_s=delay
        )
        assert kill.after < ROWS, f"kill at {threshold} rows came after the copy had finished"
        committed = assert_checkpoint_agrees(probe, incremental=incremental)
        assert committed == kill.after, f"checkpoint rows {committed} != committed rows {kill.after}"
        kills.append(kill)
    assert kills and committed < ROWS
    result = json.loads(crashkit.run_to_end([*cmd, "--json", "--quiet"]).stdout)
    table = result["tables"][0]
    recopied = table["rows_read"] - (ROWS - committed)
    figures = {
        "kills": [(k.threshold, k.seen, k.after, round(k.seconds, 2)) for k in kills],
        "resumed_rows": table["resumed_rows"],
        "final_rows_read": table["rows_read"],
        "recopied_by_last_resume": recopied,
    }
    print(f"\n{cmd[cmd.index('--mode') + 1]} -> {type(probe).__name__}: {figures}")
    assert table["resumed_rows"] == committed and recopied == 0, (
        f"the last resume re-copied {recopied} rows (resumed_rows {table['resumed_rows']}, "
        f"committed before it {committed})"
    )
    return figures


def assert_exact(source: Source, target: crashkit.Digests, no_rejects: Callable[[], int]) -> None:
    verdict = crashkit.compare(source.digests, target)
    assert verdict.ok, str(verdict)
    assert verdict.target_rows == ROWS == len(source.digests)
    rejected = no_rejects()
    assert rejected == 0, f"{rejected} rows went to the reject table (a double write refused by the key?)"


def _pg_rejects(probe: crashkit.PgProbe) -> Callable[[], int]:
    return lambda: probe.count(probe.reject_table)


@pytest.mark.parametrize(
    ("mode", "extra", "seed"),
    [("append", (), 1), ("upsert", (), 2), ("incremental", ("--cursor", "updated_at"), 3)],
    ids=["append", "upsert", "incremental"],
)
def test_kill9_three_times_then_the_copy_into_postgres_is_exact(
    source: Source,
    pg_db: str,
    pg_probe: crashkit.PgProbe,
    mode: str,
    extra: tuple[str, ...],
    seed: int,
) -> None:
    cmd = crashkit.copy_command(str(source.path), pg_db, mode, *extra)
    crash_and_finish(cmd, pg_probe, seed=SEED + seed, incremental=mode == "incremental")
    assert_exact(source, crashkit.pg_digests(pg_db), _pg_rejects(pg_probe))
    with psycopg.connect(pg_db) as conn:
        pk = conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 't'::regclass AND contype = 'p'"
        )
        assert pk.fetchone() == (1,), "bulksync created the destination without its primary key"


def test_kill9_append_into_a_table_without_a_key_writes_no_row_twice(
    source: Source, pg_db: str, pg_probe: crashkit.PgProbe
) -> None:
    # no primary key here: a re-copied batch would land as visible duplicates, not be refused
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE t ({crashkit.PG_COLUMNS})")
    cmd = crashkit.copy_command(str(source.path), pg_db, "append")
    crash_and_finish(cmd, pg_probe, seed=SEED + 4)
    assert_exact(source, crashkit.pg_digests(pg_db), _pg_rejects(pg_probe))


def test_kill9_three_times_then_the_copy_into_sqlite_is_exact(source: Source, tmp_path: Path) -> None:
    dest = tmp_path / "dest.db"
    probe = crashkit.SqliteProbe(dest)
    cmd = crashkit.copy_command(str(source.path), str(dest), "append")
    # SQLite's own pull grows its chunks to 64x --batch-mb: at 0.5 MB the 200K rows took 0.66 s in
    # a few commits, and a kill landed after the end; 0.01 MB keeps them small (~100 commits)
    cmd[cmd.index("--batch-mb") + 1] = "0.01"
    crash_and_finish(cmd, probe, seed=SEED + 5)
    assert_exact(source, crashkit.sqlite_digests(dest), lambda: probe.count("_bulksync_rejects"))


# -- MariaDB as destination and as source (crashkit.MariadbProbe reads it) ---------------------------


@pytest.mark.parametrize(
    ("mode", "extra", "seed"),
    [("append", (), 6), ("upsert", (), 7), ("incremental", ("--cursor", "updated_at"), 8)],
    ids=["append", "upsert", "incremental"],
)
def test_kill9_three_times_then_the_copy_into_mariadb_is_exact(
    source: Source,
    mariadb_db: str,
    mariadb_probe: crashkit.MariadbProbe,
    mode: str,
    extra: tuple[str, ...],
    seed: int,
) -> None:
    cmd = crashkit.copy_command(str(source.path), mariadb_db, mode, *extra)
    crash_and_finish(cmd, mariadb_probe, seed=SEED + seed, incremental=mode == "incremental")
    assert_exact(source, mariadb_probe.digests(), lambda: mariadb_probe.count("_bulksync_rejects"))
    key = mariadb_probe.row("SELECT count(*) FROM information_schema.statistics WHERE table_schema = "
                            "DATABASE() AND table_name = 't' AND index_name = 'PRIMARY'")  # fmt: skip
    assert key == (1,), "bulksync created the destination without its primary key"


def test_kill9_three_times_then_the_copy_from_mariadb_into_postgres_is_exact(
    source: Source,
    mariadb_db: str,
    mariadb_probe: crashkit.MariadbProbe,
    pg_db: str,
    pg_probe: crashkit.PgProbe,
) -> None:
    crashkit.build_source(mariadb_db, ROWS, seed=SEED)
    assert mariadb_probe.digests() == source.digests  # the same rows as the SQLite source
    cmd = crashkit.copy_command(mariadb_db, pg_db, "append")
    crash_and_finish(cmd, pg_probe, seed=SEED + 9)
    assert_exact(source, crashkit.pg_digests(pg_db), _pg_rejects(pg_probe))
