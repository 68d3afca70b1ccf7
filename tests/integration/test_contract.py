"""One contract, every connector: memory, SQLite, PostgreSQL and MariaDB behave alike where the
engine relies on it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from bulksync.connectors.base import ChunkQuery, Connector, PartitionState
from bulksync.connectors.memory import MemoryConnector
from bulksync.connectors.registry import open_connector
from bulksync.errors import BadRowsError, SyncError, UnknownTableError
from bulksync.spec import Filter
from dbkit import fresh_mariadb
from helpers import BASE_TIME, BETS, bet_rows, bets_schema, pg_database, updated_at_of

pytestmark = pytest.mark.integration

ROWS = 2000


KINDS = ["memory", "sqlite", "postgres", "mariadb"]


@pytest.fixture(params=KINDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind, for one test."""
    if request.param == "memory":
        return str(request.getfixturevalue("memory_url"))
    if request.param == "sqlite":
        return str(tmp_path / "contract.db")
    if request.param == "mariadb":
        return str(request.getfixturevalue("mariadb_db"))
    return str(request.getfixturevalue("pg_db"))


def _open(url: str) -> Connector:
    return open_connector(url, create=True)


@pytest.fixture
def conn(url: str) -> Iterator[Connector]:
    c = _open(url)
    yield c
    c.close()


def _load(conn: Connector) -> Connector:
    conn.create_table(bets_schema(), with_indexes=True)
    with conn.transaction() as tx:
        tx.write("bets", bet_rows(range(1, ROWS + 1)))
    return conn


@pytest.fixture
def bets(conn: Connector) -> Connector:
    """``conn`` holding ``bets`` with ids 1..ROWS, for a test that changes it."""
    return _load(conn)


@pytest.fixture(scope="module", params=KINDS)
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Connector]:
    """A connector holding ``bets`` with ids 1..ROWS, shared by the tests that only read."""
    with ExitStack() as stack:
        if request.param == "memory":
            name = f"contract{uuid.uuid4().hex[:8]}"
            stack.callback(MemoryConnector.drop_store, name)
            url = f"memory://{name}"
        elif request.param == "sqlite":
            url = str(tmp_path_factory.mktemp("contract") / "loaded.db")
        elif request.param == "mariadb":
            url = stack.enter_context(fresh_mariadb(request.getfixturevalue("mariadb_admin")))
        else:
            url = stack.enter_context(pg_database(request.getfixturevalue("pg_admin")))
        conn = _load(_open(url))
        stack.callback(conn.close)
        yield conn


def ids(conn: Connector, table: str = "bets") -> list[int]:
    batch = conn.read_chunk(ChunkQuery(conn.describe(table), ("id",), limit=10**6))
    return [int(v) for v in batch.column(0).to_pylist()]


def rows(conn: Connector, table: str = "bets") -> list[dict[str, Any]]:
    batch = conn.read_chunk(ChunkQuery(conn.describe(table), ("id",), limit=10**6))
    return list(batch.to_pylist())


def state(sync_id: str, partition: int = 0, **kw: Any) -> PartitionState:
    return PartitionState(sync_id, "bets", partition, kw.pop("lower", None), kw.pop("upper", None), **kw)


def test_create_table_round_trips_through_find_and_describe(conn: Connector) -> None:
    assert conn.find("bets") is None

    conn.create_table(bets_schema(), with_indexes=True)

    found = conn.find("bets")
    assert found is not None
    assert found == conn.describe("bets")
    assert found.names == BETS.names
    assert found.arrow_schema().types == BETS.arrow_schema().types
    assert [c.nullable for c in found.columns] == [c.nullable for c in BETS.columns]
    assert found.primary_key == ("id",)
    assert [ix.columns for ix in found.indexes] == [("channel",)]
    assert "bets" in conn.list_tables()


def test_list_tables_hides_internal_tables(conn: Connector) -> None:
    conn.create_table(bets_schema("a"), with_indexes=False)
    conn.create_table(bets_schema("b"), with_indexes=False)
    conn.reset_states("s", [state("s")])  # creates the checkpoint table where there is one

    assert conn.list_tables() == ["a", "b"]


def test_unknown_table_error_lists_the_tables(loaded: Connector) -> None:
    loaded.load_states("any")

    with pytest.raises(UnknownTableError) as caught:
        loaded.describe("bet")

    message = str(caught.value)
    assert "'bet'" in message and "bets" in message
    assert "_bulksync" not in message


def test_rows_round_trip_with_awkward_values(loaded: Connector) -> None:
    assert rows(loaded) == bet_rows(range(1, ROWS + 1)).to_pylist()


def test_commit_makes_rows_visible_to_other_connections(url: str, conn: Connector) -> None:
    conn.create_table(bets_schema(), with_indexes=False)
    other = _open(url)
    try:
        with conn.transaction() as tx:
            tx.write("bets", bet_rows(range(1, 101)))
            assert ids(other) == []
        assert ids(other) == list(range(1, 101))
    finally:
        other.close()


def test_same_database_tells_a_second_connection_from_another_database(
    request: pytest.FixtureRequest, url: str, conn: Connector, tmp_path: Path
) -> None:
    """What refuses a table copied onto itself, and lets PostgreSQL copy inside one database."""
    with ExitStack() as stack:
        if url.startswith("memory://"):
            other_url = f"memory://other{uuid.uuid4().hex[:8]}"
            stack.callback(MemoryConnector.drop_store, other_url.removeprefix("memory://"))
        elif url.endswith(".db"):
            other_url = str(tmp_path / "other.db")
        elif url.startswith("mysql"):
            other_url = str(request.getfixturevalue("mariadb_db2"))
        else:
            other_url = str(request.getfixturevalue("pg_db2"))
        same, other = _open(url), _open(other_url)
        stack.callback(same.close)
        stack.callback(other.close)
        assert conn.same_database(same) and same.same_database(conn)
        assert not conn.same_database(other) and not other.same_database(conn)
        if not url.endswith(".db"):  # another kind of database is never the same one
            sqlite = _open(str(tmp_path / "a-sqlite-file.db"))
            stack.callback(sqlite.close)
            assert not conn.same_database(sqlite) and not sqlite.same_database(conn)


def test_exception_in_transaction_rolls_back_rows_and_checkpoint(bets: Connector) -> None:
    bets.reset_states("s", [])

    with pytest.raises(RuntimeError, match="boom"), bets.transaction() as tx:
        tx.write("bets", bet_rows(range(ROWS + 1, ROWS + 51)))
        tx.save_state(state("s", last=(ROWS + 50,), rows=50))
        raise RuntimeError("boom")

    assert ids(bets) == list(range(1, ROWS + 1))
    assert bets.load_states("s") == []
    with bets.transaction() as tx:  # the connection is usable again
        tx.write("bets", bet_rows([ROWS + 1]))
    assert ids(bets)[-1] == ROWS + 1


def test_rollback_to_savepoint_keeps_what_came_before(bets: Connector) -> None:
    with bets.transaction() as tx:
        tx.write("bets", bet_rows(range(3001, 3011)))
        tx.savepoint("sp")
        tx.write("bets", bet_rows(range(3011, 3021)))
        tx.rollback_to("sp")
        tx.release("sp")
        tx.savepoint("dup")
        with pytest.raises(BadRowsError):
            tx.write("bets", bet_rows([3005, 3030]))  # 3005 exists: the whole write is refused
        tx.rollback_to("dup")
        tx.release("dup")
        tx.write("bets", bet_rows(range(3021, 3026)))

    assert ids(bets)[ROWS:] == [*range(3001, 3011), *range(3021, 3026)]


def test_upsert_updates_existing_keys_and_inserts_new_ones(bets: Connector) -> None:
    with bets.transaction() as tx:
        tx.write("bets", bet_rows(range(ROWS - 9, ROWS + 11), version=1), upsert_key=("id",))

    got = rows(bets)
    assert len(got) == ROWS + 10
    assert got[: ROWS - 10] == bet_rows(range(1, ROWS - 9)).to_pylist()
    assert got[ROWS - 10 :] == bet_rows(range(ROWS - 9, ROWS + 11), version=1).to_pylist()


def test_read_chunk_pages_by_key_within_bounds(loaded: Connector) -> None:
    schema = loaded.describe("bets")

    page = loaded.read_chunk(ChunkQuery(schema, ("id",), limit=15, after=(10,), upto=(50,)))
    tail = loaded.read_chunk(ChunkQuery(schema, ("id",), limit=100, after=(40,), upto=(50,)))
    first = loaded.read_chunk(ChunkQuery(schema, ("id",), limit=3))

    assert page.to_pylist() == bet_rows(range(11, 26)).to_pylist()
    assert tail.column(0).to_pylist() == list(range(41, 51))
    assert first.column(0).to_pylist() == [1, 2, 3]
    assert page.schema == schema.arrow_schema()


def test_read_chunk_orders_by_cursor_then_key_through_ties(loaded: Connector) -> None:
    schema = loaded.describe("bets")
    order = ("updated_at", "id")
    assert updated_at_of(1000) == updated_at_of(1001) == updated_at_of(700)

    page = loaded.read_chunk(ChunkQuery(schema, order, limit=4, after=(updated_at_of(1000), 1000)))
    after, upto = (updated_at_of(700), 1390), (updated_at_of(1400), 1402)
    bounded = loaded.read_chunk(ChunkQuery(schema, order, limit=100, after=after, upto=upto))

    assert page.column(0).to_pylist() == [1001, 1002, 1003, 1004]
    assert bounded.column(0).to_pylist() == [*range(1391, 1400), 1400, 1401, 1402]


def test_read_chunk_applies_filters(loaded: Connector) -> None:
    schema = loaded.describe("bets")
    vn = (Filter(column="channel", op="eq", value="VN"),)

    batch = loaded.read_chunk(ChunkQuery(schema, ("id",), limit=5, after=(100,), filters=vn))

    assert batch.column(0).to_pylist() == [102, 105, 108, 111, 114]


def test_stats_count_min_max_with_filters(loaded: Connector) -> None:
    schema = loaded.describe("bets")
    window = (
        Filter(column="channel", op="eq", value="VN"),
        Filter(column="placed_at", op="ge", value="2024-01-01T00:10:03"),
        Filter(column="placed_at", op="lt", value="2024-01-01 00:20:03"),
    )
    lo, hi = BASE_TIME + dt.timedelta(seconds=603), BASE_TIME + dt.timedelta(seconds=1203)
    wanted = [
        r["id"]
        for r in bet_rows(range(1, ROWS + 1)).to_pylist()
        if r["channel"] == "VN" and r["placed_at"] is not None and lo <= r["placed_at"] < hi
    ]

    everything = loaded.stats(schema, "id", [])
    some = loaded.stats(schema, "id", window)
    none = loaded.stats(schema, "id", [Filter(column="channel", op="eq", value="XX")])

    assert (everything.rows, everything.min_key, everything.max_key) == (ROWS, 1, ROWS)
    assert (some.rows, some.min_key, some.max_key) == (len(wanted), 603, wanted[-1])
    assert (none.rows, none.min_key, none.max_key) == (0, None, None)


def test_reset_states_replaces_one_syncs_checkpoints(conn: Connector) -> None:
    a0 = state("a", 0, upper=(1000,), last=(dt.datetime(2024, 1, 1, 0, 0, 0, 5), 17), rows=17)
    a1 = state("a", 1, lower=(1000,), last=(1000,))
    b0 = state("b", 0, last=(3,), rows=3, done=True)

    conn.reset_states("a", [a0, a1])
    conn.reset_states("b", [b0])
    assert conn.load_states("a") == [a0, a1]
    assert conn.load_states("b") == [b0]
    assert conn.load_states("c") == []

    with conn.transaction() as tx:
        tx.save_state(replace(a1, last=(1500,), rows=500, done=True))
    assert conn.load_states("a")[1] == replace(a1, last=(1500,), rows=500, done=True)

    conn.reset_states("a", [a1])
    assert conn.load_states("a") == [a1]
    assert conn.load_states("b") == [b0]


def test_swap_table_replaces_the_table_and_forgets_checkpoints(bets: Connector) -> None:
    staging = "bets__bulksync_new"
    final = bets_schema()
    bets.create_table(bets_schema().renamed(staging), with_indexes=False)
    with bets.transaction() as tx:
        tx.write(staging, bet_rows(range(5001, 5021), version=2))
    bets.reset_states("sw", [state("sw", last=(5020,), rows=20, done=True)])
    bets.reset_states("other", [state("other")])

    bets.swap_table(staging, final, "sw")

    assert rows(bets) == bet_rows(range(5001, 5021), version=2).to_pylist()
    assert bets.find(staging) is None
    assert staging not in bets.list_tables()
    swapped = bets.describe("bets")
    assert swapped.primary_key == ("id",)
    assert [ix.columns for ix in swapped.indexes] == [("channel",)]
    assert bets.load_states("sw") == []
    assert bets.load_states("other") == [state("other")]


def test_failed_swap_leaves_the_old_table(bets: Connector) -> None:
    bets.reset_states("sw", [])

    with pytest.raises(SyncError):
        bets.swap_table("missing__bulksync_new", bets_schema(), "sw")

    assert ids(bets) == list(range(1, ROWS + 1))


def test_drop_table_removes_it(bets: Connector) -> None:
    bets.drop_table("bets")
    bets.drop_table("bets")  # dropping what is not there is fine

    assert bets.find("bets") is None
    assert "bets" not in bets.list_tables()


def test_write_conforms_batches_to_the_table_types(bets: Connector) -> None:
    loose = pa.table(
        {
            "id": pa.array([9001], pa.int32()),
            "player": ["x"],
            "channel": ["VN"],
            "stake": pa.array([12.35], pa.float64()),  # a double a hair off 12.35: that decimal
            "placed_at": pa.array([BASE_TIME], pa.timestamp("ms")),
            "updated_at": pa.array([BASE_TIME], pa.timestamp("s")),
            "settled": pa.array([True]),
        }
    ).to_batches()[0]

    with bets.transaction() as tx:
        tx.write("bets", loose)

    last = rows(bets)[-1]
    assert last["id"] == 9001 and str(last["stake"]) == "12.35"
    assert last["placed_at"] == last["updated_at"] == BASE_TIME
