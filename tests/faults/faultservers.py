"""Private servers the fault suite may hurt: PostgreSQL clusters and a MariaDB server of its own,
started in a temp dir.

The suite restarts, kills and blocks these; the shared services other tests use are never
touched. PostgreSQL refuses to run as root, so as root it runs as the ``postgres`` OS user;
MariaDB is told ``--user=root`` instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
import pymysql

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


MARIADB_BIN = Path(os.environ.get("BULKSYNC_FAULTS_MARIADB_BIN", "/usr/sbin"))


class PrivateMariadb:
    """A MariaDB server in ``root`` on a free TCP port: no grant checks beyond root, no binlog."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.log = root / "server.log"
        self.restarts = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, dbname: str) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/{dbname}"

    def start_server(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        install = [
            "mariadb-install-db", "--no-defaults", f"--datadir={self.data}", "--user=root",
            "--auth-root-authentication-method=normal", "--skip-test-db",
        ]  # fmt: skip
        subprocess.run(install, check=True, capture_output=True, timeout=120)
        self.start()

    def start(self) -> None:
        cmd = [
            str(MARIADB_BIN / "mariadbd"), "--no-defaults", f"--datadir={self.data}", "--user=root",
            f"--port={self.port}", "--bind-address=127.0.0.1", f"--socket={self.root / 'mysqld.sock'}",
            f"--pid-file={self.root / 'mysqld.pid'}", f"--log-error={self.log}", "--skip-log-bin",
            "--innodb-buffer-pool-size=64M", "--innodb-flush-log-at-trx-commit=2", "--max-connections=60",
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.admin().close()
                return
            except pymysql.Error:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    tail = self.log.read_text()[-2000:] if self.log.exists() else ""
                    raise RuntimeError(f"the private MariaDB did not start:\n{tail}") from None
                time.sleep(0.1)

    def stop(self, mode: str = "fast") -> None:
        """``fast``: SIGTERM (sessions killed, a clean shutdown); ``immediate``: SIGKILL (crash recovery)."""
        assert self.proc is not None
        if mode == "immediate":
            self.proc.kill()
        else:
            self.proc.terminate()
        self.proc.wait(120)

    def restart(self, mode: str, down_s: float = 0.0) -> None:
        self.stop(mode)
        time.sleep(down_s)
        self.start()
        self.restarts += 1

    def admin(self) -> pymysql.connections.Connection[Any]:
        return pymysql.connect(
            host="127.0.0.1", port=self.port, user="root", autocommit=True, connect_timeout=5
        )

    def create_database(self, name: str) -> str:
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        return self.url(name)

    def kill_sessions(self, dbname: str) -> int:
        """``KILL`` every other session of ``dbname``; how many there were."""
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT id FROM information_schema.processlist WHERE db = %s AND id <> CONNECTION_ID()",
                [dbname],
            )
            ids = [row[0] for row in cur.fetchall()]
            for session in ids:
                try:
                    cur.execute(f"KILL {int(session)}")
                except pymysql.Error:
                    pass  # it ended by itself meanwhile
        return len(ids)

    def destroy(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRabbit:
    """A RabbitMQ node of the suite's own (``faults-<port>@localhost``: its own ports, Mnesia and
    logs under ``root``; epmd is shared, which is harmless). The broker drops privileges to the
    ``rabbitmq`` OS user, so ``root`` is handed to it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self.restarts = 0
        self.proc: subprocess.Popen[bytes] | None = None
        for sub in ("mnesia", "log"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            for path in (root, root / "mnesia", root / "log"):
                shutil.chown(path, "rabbitmq", "rabbitmq")
        self.env = {
            **os.environ,
            "RABBITMQ_NODENAME": f"faults-{self.port}@localhost",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(root / "log"),
            "RABBITMQ_PID_FILE": str(root / "rabbit.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(root / "plugins"),
            "RABBITMQ_CONFIG_FILE": str(root / "no-config"),
        }

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["rabbitmq-server"], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while not (_listening(self.port) and (self.root / "rabbit.pid").exists()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the private RabbitMQ did not start (logs in {self.root / 'log'})")
            time.sleep(0.2)

    def kill_and_restart(self, down_s: float) -> None:
        """SIGKILL the node (connections and unconfirmed messages gone), wait, start it again."""
        self.stop(hard=True)
        time.sleep(down_s)
        self.start()
        self.restarts += 1

    def stop(self, *, hard: bool = False) -> None:
        """Signal the node's VM by the PID it wrote (``rabbitmq-server`` switches user in a
        session of its own: a process group signal would not reach it), wait until it is gone."""
        if self.proc is None or self.proc.poll() is not None:
            return
        pid_file = self.root / "rabbit.pid"
        os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL if hard else signal.SIGTERM)
        pid_file.unlink(missing_ok=True)  # a node shut down cleanly removes it itself
        self.proc.wait(60)
        deadline = time.monotonic() + 30
        while _listening(self.port):
            assert time.monotonic() < deadline, "the private RabbitMQ did not stop"
            time.sleep(0.1)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False
