"""The fault suite's fixtures: private PostgreSQL clusters it may restart, a seeded 200K-row
source (in SQLite, PostgreSQL and MariaDB), and the report table printed at the end of the run.

Every test here is marked ``faults`` (``pytest -m faults`` runs them alone).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import crashkit
from faultkit import REPORT, ROWS, SEED
from faultservers import PrivateMariadb, PrivatePg, free_port

sys.path.insert(0, str(Path(__file__).parents[1] / "distributed"))  # fleetkit: the worker fleet kit


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.faults)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORT.rows:
        terminalreporter.write_sep("=", "fault report")
        terminalreporter.write_line(REPORT.table())


Require = Callable[[str, Exception], None]


def _needs(require: Require, *tools: str) -> None:
    """Skip (fail under CI=true) through the shared ``require_service`` when a tool is missing."""
    missing = [t for t in tools if shutil.which(t) is None and not Path(t).exists()]
    if missing:
        require("the fault suite's tools", FileNotFoundError(f"not installed: {', '.join(missing)}"))


@pytest.fixture(scope="session")
def fault_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="bulksync-faults-"))
    os.chmod(root, 0o755)  # the postgres OS user walks into it
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _cluster(root: Path, name: str, require: Require) -> Iterator[PrivatePg]:
    from faultservers import PG_BIN

    _needs(require, str(PG_BIN / "initdb"))
    pg = PrivatePg(root / name)
    pg.start_cluster()
    try:
        yield pg
    finally:
        pg.destroy()


@pytest.fixture(scope="session")
def pg_dest(fault_root: Path, require_service: Require) -> Iterator[PrivatePg]:
    """A PostgreSQL cluster of the suite's own, the one destinations live in."""
    yield from _cluster(fault_root, "pg-dest", require_service)


@pytest.fixture(scope="session")
def pg_source(fault_root: Path, require_service: Require) -> Iterator[PrivatePg]:
    """A second private cluster for sources (restarted without touching the destination)."""
    yield from _cluster(fault_root, "pg-source", require_service)


@pytest.fixture(scope="session")
def mariadb(fault_root: Path, require_service: Require) -> Iterator[PrivateMariadb]:
    """A MariaDB server of the suite's own (the shared one on 3306 is never touched)."""
    from faultservers import MARIADB_BIN

    _needs(require_service, "mariadb-install-db", str(MARIADB_BIN / "mariadbd"))
    server = PrivateMariadb(fault_root / "mariadb")
    try:
        server.start_server()
        yield server
    finally:
        server.destroy()


@dataclass(frozen=True)
class SqliteSource:
    path: Path
    digests: crashkit.Digests


@pytest.fixture(scope="session")
def sqlite_source(fault_root: Path) -> SqliteSource:
    """Table ``t`` with ROWS seeded rows in a SQLite file, and the oracle's digests of it."""
    path = fault_root / "source.db"
    crashkit.build_source(str(path), ROWS, seed=SEED)
    return SqliteSource(path, crashkit.sqlite_digests(path))


@pytest.fixture(scope="session")
def pg_source_url(pg_source: PrivatePg, sqlite_source: SqliteSource) -> str:
    """The same ROWS rows as ``sqlite_source``, in the private source cluster."""
    url = pg_source.create_database("src")
    crashkit.build_source(url, ROWS, seed=SEED)
    return url


@pytest.fixture(scope="session")
def mariadb_source_url(mariadb: PrivateMariadb, sqlite_source: SqliteSource) -> str:
    """The same ROWS rows as ``sqlite_source``, in the private MariaDB."""
    url = mariadb.create_database("src")
    crashkit.build_source(url, ROWS, seed=SEED)
    return url


class PrivateRedis:
    """A Redis server of the suite's own (no persistence: a restart loses every queued message)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.restarts = 0
        self._start()

    def _start(self) -> None:
        import redis

        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=1).ping()
                return
            except redis.RedisError:
                assert time.monotonic() < deadline, "the private Redis did not start"
                time.sleep(0.1)

    def kill_and_restart(self, down_s: float) -> None:
        """SIGKILL it (queues, acks and heartbeats gone), wait, start it again on the same port."""
        self.proc.kill()
        self.proc.wait(30)
        time.sleep(down_s)
        self._start()
        self.restarts += 1

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


@pytest.fixture(scope="session")
def redis_server(fault_root: Path, require_service: Require) -> Iterator[PrivateRedis]:
    _needs(require_service, "redis-server")
    server = PrivateRedis(fault_root)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def private_redis(redis_server: PrivateRedis) -> str:
    return redis_server.url
