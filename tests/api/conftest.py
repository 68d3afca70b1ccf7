"""Fixtures of the API tests: a source, a warehouse database and a shared server per module."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import crashkit
from serving import SECRET, SOURCE_ROWS, Server, drop_pg, fresh_pg, server_env, with_password


@pytest.fixture(scope="session")
def source_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, crashkit.Digests]:
    path = tmp_path_factory.mktemp("api-source") / "source.db"
    crashkit.build_source(str(path), SOURCE_ROWS, seed=41)
    return path, crashkit.sqlite_digests(path)


@pytest.fixture(scope="module")
def warehouse(pg_admin: psycopg.Connection) -> Iterator[str]:
    """A PostgreSQL database for the module's server (tests write distinct tables in it)."""
    name = f"bs_api_{uuid.uuid4().hex[:12]}"
    yield fresh_pg(pg_admin, name)
    drop_pg(pg_admin, name)


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, source_db: tuple[Path, Any], warehouse: str
) -> Iterator[Server]:
    """A server shared by a module's tests; at the end, no password may be in its stderr."""
    workdir = tmp_path_factory.mktemp("serve")
    gone = warehouse.rsplit("/", 1)[0] + f"/bs_gone_{uuid.uuid4().hex[:8]}"  # a database never made
    env = server_env(
        workdir,
        BULKSYNC_CONNECTIONS__SRC=str(source_db[0]),
        BULKSYNC_CONNECTIONS__WH=with_password(warehouse),
        BULKSYNC_CONNECTIONS__GONE=with_password(gone),
    )
    srv = Server(workdir, env).start()
    yield srv
    srv.stop()
    assert SECRET not in srv.stderr()
