"""Shared fixtures: real PostgreSQL databases per test, SQLite files, memory stores.

Services are real. On a laptop a missing service skips its tests with a loud reason; with
CI=true it fails them instead (a test that needs a service never silently skips in CI).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dbkit import MARIADB_ADMIN, fresh_mariadb

PG_ADMIN = os.environ.get("BULKSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_url(dbname: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + dbname


def _require(service: str, exc: Exception) -> None:
    message = f"{service} is not reachable: {exc}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message} (CI=true: a needed service must be up)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def require_service() -> Callable[[str, Exception], None]:
    """``_require`` for the folders below (their conftest.py cannot import this one)."""
    return _require


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


# -- MariaDB --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mariadb_admin() -> Iterator[Any]:
    """An autocommit PyMySQL connection to the MariaDB server (to create and drop databases)."""
    import pymysql

    from bulksync.connectors.mysql_url import parse_mysql_url

    u = parse_mysql_url(MARIADB_ADMIN)
    try:
        conn = pymysql.connect(
            host=u.host, port=u.port, user=u.user, password=u.password, unix_socket=u.unix_socket,
            autocommit=True, connect_timeout=5,
        )  # fmt: skip
    except pymysql.Error as exc:
        _require("MariaDB", exc)
        raise
    yield conn
    conn.close()


@pytest.fixture
def mariadb_db(mariadb_admin: Any) -> Iterator[str]:
    """A fresh, empty MariaDB database for one test; its URL."""
    with fresh_mariadb(mariadb_admin) as url:
        yield url


@pytest.fixture
def mariadb_db2(mariadb_admin: Any) -> Iterator[str]:
    """A second fresh MariaDB database (MariaDB → MariaDB tests)."""
    with fresh_mariadb(mariadb_admin) as url:
        yield url


# -- the memory guard inside pytest ----------------------------------------------------------------


@pytest.fixture(autouse=True)
def _host_sized_memory_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Syncs run in the pytest process share its RSS, which grows to several hundred MB over the
    suite (the API, fleet and Hypothesis tests): against the default 512 MB the guard would
    refuse them (or pause every read). There they get a host-sized limit; the guard itself is
    exercised where it means something, in processes of their own (the CLI error tests, the
    bench's memory scenario)."""
    import bulksync.engine.run as run
    from bulksync.engine.memory import MemoryGuard

    class HostSizedGuard(MemoryGuard):
        def __init__(self, max_mb: float) -> None:
            super().__init__(max(max_mb, 16_384))

    monkeypatch.setattr(run, "MemoryGuard", HostSizedGuard)
