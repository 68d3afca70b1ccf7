"""bulksync's bookkeeping schema in PostgreSQL (``bulksync.sync_state``, ``bulksync.rejects``)
made by several syncs at once: ``CREATE TABLE IF NOT EXISTS`` is not safe against itself (both
sessions see no table, both create, one fails on ``pg_type``'s unique index). Two store jobs
started together in a fresh database failed that way."""

from __future__ import annotations

import threading

import psycopg

from bulksync.connectors.postgres import PostgresConnector


def test_many_syncs_starting_together_in_a_fresh_database_all_get_their_bookkeeping(pg_db: str) -> None:
    sessions = 8
    connectors = [PostgresConnector(pg_db) for _ in range(sessions)]
    start = threading.Barrier(sessions)
    failures: list[BaseException] = []

    def begin(conn: PostgresConnector) -> None:
        start.wait()
        try:
            conn.load_states("a-sync")  # what every sync asks first
        except BaseException as exc:  # collected, asserted below
            failures.append(exc)

    threads = [threading.Thread(target=begin, args=(c,)) for c in connectors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for conn in connectors:
        conn.close()

    assert failures == []
    with psycopg.connect(pg_db) as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'bulksync' "
            "AND tablename IN ('sync_state', 'rejects')"
        ).fetchone()
        assert found == (2,)
        held = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()
        assert held == (0,)  # nobody kept the lock
