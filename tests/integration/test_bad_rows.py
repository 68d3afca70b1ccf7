"""Rows the destination refuses: each one lands in the reject table with the reason, the rest land
once, and the result's counters add up (``rows_read == processed_rows + failed_rows``).
"""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import crashkit
from bulksync import Mode, SyncSpec, TableSpec, sync
from bulksync.connectors.base import ChunkQuery
from bulksync.connectors.memory import MemoryConnector

ROWS = 20_000
MEMORY_ROWS = 4_000

pytestmark = pytest.mark.integration


def bad_ids(rows: int, seed: int) -> set[int]:
    """About 1 % of the keys, spread over the table (first and last key included)."""
    rng = random.Random(seed)
    return {1, rows, *rng.sample(range(2, rows), rows // 100 - 2)}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[int], crashkit.Digests]:
    path = tmp_path_factory.mktemp("bad") / "source.db"
    bad = bad_ids(ROWS, seed=5)
    crashkit.build_source(str(path), ROWS, seed=5, bad_ids=bad, step=5_000)
    return path, bad, crashkit.sqlite_digests(path)


@pytest.mark.parametrize("mode", [Mode.APPEND, Mode.UPSERT])
def test_rows_refused_by_a_check_constraint_go_to_the_reject_table_and_nowhere_else(
    source: tuple[Path, set[int], crashkit.Digests], pg_db: str, mode: Mode
) -> None:
    path, bad, digests = source
    # append: no key, so a row written twice would be visible; upsert needs the key
    key = ", PRIMARY KEY (id)" if mode is Mode.UPSERT else ""
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE t ({crashkit.PG_COLUMNS}, CONSTRAINT t_amount_check CHECK (amount >= 0){key})"
        )
    result = sync(
        SyncSpec(source=str(path), destination=pg_db, tables=[TableSpec(name="t")], mode=mode, batch_mb=0.5)
    )
    with psycopg.connect(pg_db) as conn:
        landed = [r[0] for r in conn.execute("SELECT id FROM t")]
        rejects = conn.execute(
            "SELECT row_key, row_data, reason FROM bulksync.rejects WHERE tbl = 't'"
        ).fetchall()
    rejected = [json.loads(k)[0] for k, _, _ in rejects]

    everything = {k for k, _ in digests}
    both = set(landed) & set(rejected)
    assert not both, f"{len(both)} rows are both in the table and rejected, e.g. {sorted(both)[:5]}"
    assert len(landed) == len(set(landed)), f"{len(landed) - len(set(landed))} rows landed twice"
    assert len(rejected) == len(set(rejected)), f"{len(rejected) - len(set(rejected))} rows rejected twice"
    assert set(landed) | set(rejected) == everything, (
        f"lost: {len(everything - set(landed) - set(rejected))} of {len(everything)}"
    )
    assert set(rejected) == bad, f"rejected {len(rejected)} rows, the bad ones are {len(bad)}"
    for _key, data, reason in rejects:
        assert "t_amount_check" in reason, reason
        assert float(json.loads(data)["amount"]) < 0
    verdict = crashkit.compare([d for d in digests if d[0] not in bad], crashkit.pg_digests(pg_db))
    assert verdict.ok, str(verdict)

    assert result.status == "succeeded"
    assert result.rows_read == result.processed_rows + result.failed_rows == ROWS
    assert (result.failed_rows, result.processed_rows) == (len(bad), ROWS - len(bad))


@pytest.fixture
def memory_pair() -> Iterator[tuple[str, str]]:
    names = [f"bad{uuid.uuid4().hex[:8]}" for _ in range(2)]
    yield f"memory://{names[0]}", f"memory://{names[1]}"
    for name in names:
        MemoryConnector.drop_store(name)


def _memory_source(url: str, bad: set[int]) -> None:
    batch = crashkit.make_batch(1, MEMORY_ROWS, seed=9)
    is_bad = pc.is_in(batch.column(0), value_set=pa.array(sorted(bad), pa.int64()))
    note = pc.if_else(is_bad, pa.scalar("void"), batch.column(5))
    batch = batch.set_column(5, "note", note)
    conn = MemoryConnector(url)
    conn.create_table(crashkit.SCHEMA, with_indexes=False)
    with conn.transaction() as tx:
        tx.write("t", batch)


@pytest.mark.parametrize("mode", [Mode.APPEND, Mode.UPSERT])
def test_rows_refused_by_the_memory_destination_are_rejected_once(
    memory_pair: tuple[str, str], mode: Mode
) -> None:
    src_url, dst_url = memory_pair
    bad = bad_ids(MEMORY_ROWS, seed=3)
    _memory_source(src_url, bad)
    dest = MemoryConnector(dst_url)
    dest.refuse_rows("t", "note", "void")

    result = sync(
        SyncSpec(source=src_url, destination=dst_url, tables=[TableSpec(name="t")], mode=mode, batch_mb=0.05)
    )
    schema = dest.describe("t")
    landed = dest.read_chunk(ChunkQuery(schema, ("id",), limit=10 * MEMORY_ROWS)).column(0).to_pylist()
    rejects = [r for _, table, r in dest.rejected() if table == "t"]
    rejected = [r.key[0] for r in rejects]

    assert result.batch_count > 1, "the source fitted one batch: nothing here tests batch splitting"
    assert not set(landed) & set(rejected)
    assert len(landed) == len(set(landed)) and len(rejected) == len(set(rejected))
    assert set(landed) | set(rejected) == set(range(1, MEMORY_ROWS + 1))
    assert set(rejected) == bad
    assert all("note" in r.reason and r.row["note"] == "void" for r in rejects)
    assert result.rows_read == result.processed_rows + result.failed_rows == MEMORY_ROWS
    assert result.failed_rows == len(bad)


def test_a_null_in_a_not_null_destination_column_is_a_rejected_row(tmp_path: Path, pg_db: str) -> None:
    """PostgreSQL refuses the NULLs (its reason is kept); the sync goes on and the rest lands."""
    src = str(tmp_path / "nulls.db")
    crashkit.build_source(src, 2_000, seed=9)
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE t ({crashkit.PG_COLUMNS.replace('note TEXT', 'note TEXT NOT NULL')})")
    with closing(sqlite3.connect(f"file:{src}?mode=ro", uri=True)) as look:  # closed before sync() opens it
        nulls = {row[0] for row in look.execute("SELECT id FROM t WHERE note IS NULL")}
    assert nulls, "the seeded source should hold some NULL notes"
    result = sync(SyncSpec(source=src, destination=pg_db, tables=(TableSpec(name="t"),)))
    assert (result.processed_rows, result.failed_rows) == (2_000 - len(nulls), len(nulls))
    with psycopg.connect(pg_db) as conn:
        rejected = conn.execute("SELECT row_key, reason FROM bulksync.rejects").fetchall()
    assert {json.loads(key)[0] for key, _ in rejected} == nulls
    assert all("null value in column" in reason for _, reason in rejected)


@pytest.mark.parametrize("mode", [Mode.APPEND, Mode.REPLACE, Mode.UPSERT])
def test_a_nul_character_in_a_text_key_is_a_rejected_row_into_postgres(
    tmp_path: Path, pg_db: str, mode: Mode
) -> None:
    """PostgreSQL text holds no NUL: the append's lookup of keys already there raised psycopg's
    DataError, a traceback that stopped the whole migration."""
    src = str(tmp_path / "nul.db")
    with closing(sqlite3.connect(src)) as conn:
        conn.execute("CREATE TABLE nk (k TEXT PRIMARY KEY, v INTEGER)")
        conn.executemany("INSERT INTO nk VALUES (?, ?)", [("a\x00b", 1), ("ok", 2), ("zz", 3)])
        conn.commit()
    result = sync(SyncSpec(source=src, destination=pg_db, tables=(TableSpec(name="nk"),), mode=mode))
    assert (result.processed_rows, result.failed_rows) == (2, 1)
    with psycopg.connect(pg_db) as conn:
        assert conn.execute("SELECT k, v FROM nk ORDER BY k").fetchall() == [("ok", 2), ("zz", 3)]
        ((key, reason),) = conn.execute("SELECT row_key, reason FROM bulksync.rejects").fetchall()
    assert json.loads(key) == ["a\x00b"] and "0x00" in reason


def test_a_reject_record_names_the_destination_table_it_was_refused_by(
    source: tuple[Path, set[int], crashkit.Digests], pg_db: str
) -> None:
    """``--dest-table`` (here: two copies of one source table) — the records said ``tbl = 't'``,
    the source's name, so the two copies' rejects could not be told apart by table."""
    path, bad, _ = source
    with psycopg.connect(pg_db, autocommit=True) as conn:
        for name in ("t_a", "t_b"):
            conn.execute(
                f"CREATE TABLE {name} ({crashkit.PG_COLUMNS}, CHECK (amount >= 0), PRIMARY KEY (id))"
            )
    for name in ("t_a", "t_b"):
        spec = SyncSpec(source=str(path), destination=pg_db, tables=[TableSpec(name="t", dest_name=name)])
        assert sync(spec).failed_rows == len(bad)
    with psycopg.connect(pg_db) as conn:
        found = conn.execute("SELECT tbl, count(*) FROM bulksync.rejects GROUP BY tbl ORDER BY 1").fetchall()
    assert found == [("t_a", len(bad)), ("t_b", len(bad))]
