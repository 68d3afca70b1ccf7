"""Fixtures shared by the integration tests: probes that read a destination while a killed copy
writes it; a job store of each kind (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import crashkit
from bulksync.jobs.store import JobStore


@pytest.fixture
def pg_probe(pg_db: str) -> Iterator[crashkit.PgProbe]:
    probe = crashkit.PgProbe(pg_db)
    yield probe
    probe.close()


@pytest.fixture
def mariadb_probe(mariadb_db: str) -> Iterator[crashkit.MariadbProbe]:
    probe = crashkit.MariadbProbe(mariadb_db)
    yield probe
    probe.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "jobs.db")
    else:
        yield request.getfixturevalue("pg_db")


@pytest.fixture
def store(store_url: str) -> Iterator[JobStore]:
    s = JobStore(store_url, lease_s=30)
    yield s
    s.close()
