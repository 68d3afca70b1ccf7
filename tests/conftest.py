"""Shared fixtures: real PostgreSQL databases per test, SQLite files, memory stores.

Services are real. On a laptop a missing service skips its tests with a loud reason; with
CI=true it fails them instead (a test that needs a service never silently skips in CI).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

PG_ADMIN = os.environ.get("BULKSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_url(dbname: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + dbname


def _require(service: str, exc: Exception) -> None:
    message = f"{service} is not reachable: {exc}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message} (CI=true: a needed service must be up)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[psycopg.Connection]:
    try:
        conn = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        _require("PostgreSQL", exc)
        raise
    yield conn
    conn.close()


@contextmanager
def fresh_database(pg_admin: psycopg.Connection) -> Iterator[str]:
    """Create an empty PostgreSQL database, yield its URL, drop it afterwards."""
    name = f"bs_test_{uuid.uuid4().hex[:12]}"
    pg_admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(name)
    finally:
        pg_admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_db(pg_admin: psycopg.Connection) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; its URL."""
    with fresh_database(pg_admin) as url:
        yield url


@pytest.fixture
def pg_db2(pg_admin: psycopg.Connection) -> Iterator[str]:
    """A second fresh PostgreSQL database (PG → PG tests)."""
    with fresh_database(pg_admin) as url:
        yield url


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "data.db"


@pytest.fixture
def memory_url() -> Iterator[str]:
    from bulksync.connectors.memory import MemoryConnector

    name = f"t{uuid.uuid4().hex[:8]}"
    yield f"memory://{name}"
    MemoryConnector.drop_store(name)
