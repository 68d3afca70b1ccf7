"""Private servers the fault suite may hurt: a PostgreSQL cluster of its own, started in a temp dir.

The suite restarts, kills and blocks these; the shared services other tests use are never
touched. PostgreSQL refuses to run as root, so as root it runs as the ``postgres`` OS user.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg

PG_BIN = Path(os.environ.get("BULKSYNC_FAULTS_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class PrivatePg:
    """A PostgreSQL cluster in ``root`` on a free TCP port (unix socket in ``root`` too)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.log = root / "server.log"
        self.restarts = 0

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, dbname: str, port: int | None = None) -> str:
        """A database's URL, through ``port`` (a proxy) when given."""
        return f"postgresql://postgres@127.0.0.1:{port or self.port}/{dbname}"

    def start_cluster(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        initdb = [str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"]
        subprocess.run(_as_postgres([*initdb, "--no-sync", "-E", "UTF8"]), check=True, capture_output=True)
        self.start()

    def _ctl(self, *args: str, timeout: float = 60) -> None:
        cmd = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", *args]
        done = subprocess.run(_as_postgres(cmd), capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl {' '.join(args)} failed: {done.stderr}{done.stdout}\n{tail}")

    def start(self) -> None:
        opts = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c max_connections=60 -c shared_buffers=64MB"
        )
        self._ctl("start", "-o", opts)

    def stop(self, mode: str = "fast") -> None:
        self._ctl("stop", "-m", mode)

    def restart(self, mode: str, down_s: float = 0.0) -> None:
        """Stop (``fast``: sessions rolled back; ``immediate``: crash recovery on start), wait, start."""
        self.stop(mode)
        time.sleep(down_s)
        self.start()
        self.restarts += 1

    def admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10)

    def create_database(self, name: str) -> str:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def terminate(self, dbname: str) -> int:
        """pg_terminate_backend every other session of ``dbname``; how many there were."""
        with self.admin() as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
                [dbname],
            ).fetchall()
        return len(rows)

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.root, ignore_errors=True)
