"""Fault 5 (the fence, deterministically): two writers hold the same partition's checkpoint; the
one that commits second — a worker that froze past its lease while another took over — has its
batch refused, and none of its rows are written. The fleet test freezes a real worker."""

from __future__ import annotations

from dataclasses import replace

import psycopg
import pytest

import crashkit
from bulksync.connectors.base import PartitionState
from bulksync.connectors.registry import open_connector
from bulksync.errors import FencedOut
from faultservers import PrivatePg


def _writer(url: str, sync_id: str) -> tuple[object, PartitionState]:
    conn = open_connector(url)
    (state,) = conn.load_states(sync_id)
    state.fenced = True  # what the engine's plan does with the checkpoints it resumes from
    return conn, state


def test_a_writer_that_lost_its_partition_cannot_commit(pg_dest: PrivatePg) -> None:
    url = pg_dest.create_database("fence")
    setup = open_connector(url, create=True)
    setup.create_table(crashkit.SCHEMA, with_indexes=False)
    setup.reset_states("sync-1", [PartitionState("sync-1", "t", 0, None, None)])
    setup.close()
    zombie, z_state = _writer(url, "sync-1")
    taker, t_state = _writer(url, "sync-1")
    try:
        with taker.transaction() as tx:  # type: ignore[attr-defined]
            tx.write("t", crashkit.make_batch(1, 100, seed=1))
            tx.save_state(replace(t_state, last=(100,), rows=100))
        with pytest.raises(FencedOut, match="partition 0: another writer moved its checkpoint"):
            with zombie.transaction() as tx:  # type: ignore[attr-defined]
                tx.write("t", crashkit.make_batch(101, 100, seed=1))  # a batch it read before freezing
                tx.save_state(replace(z_state, last=(200,), rows=100))
    finally:
        zombie.close()  # type: ignore[attr-defined]
        taker.close()  # type: ignore[attr-defined]
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT id) FROM t").fetchone() == (100, 100)
        assert conn.execute("SELECT last_key, rows_done FROM bulksync.sync_state").fetchone() == (
            "[100]",
            100,
        )
