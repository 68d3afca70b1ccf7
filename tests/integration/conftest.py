"""Fixtures shared by the integration tests: probes that read a destination while a killed copy writes it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import crashkit


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
