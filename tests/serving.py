"""The real ``bulksync serve`` process on a free port, spoken to over HTTP with httpx.

Every server gets a temporary SQLite job store, two tokens (``ops``: every scope, ``viewer``:
jobs:read) and named connections: ``src`` (a SQLite source of the crash kit's table ``t``),
``wh`` (a PostgreSQL database whose URL carries a password: the server is trust-auth, so it
connects, and the password must never show up in a response or in the server's stderr).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

OPS = "ops-token-0123456789abcdef"
VIEWER = "viewer-token-0123456789abcdef"
SECRET = "Sup3r-s3cret-pw"
SOURCE_ROWS = 60_000
TERMINAL = ("succeeded", "failed", "cancelled")
PG_ADMIN = os.environ.get("BULKSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One ``bulksync serve`` child process; its stderr goes to a file the tests read."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir, self.env = workdir, env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"serve-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> Server:
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("BULKSYNC_", "BET_SYNC_"))}
        environ.update(self.env)
        with open(self.log, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bulksync", "serve", "--port", str(self.port)],
                stdout=err, stderr=err, env=environ, cwd=self.workdir,
            )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while True:
            assert self.proc.poll() is None, f"serve exited: {self.stderr()}"
            try:
                httpx.get(self.url + "/openapi.json", timeout=2)
                return self
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"serve did not answer: {self.stderr()}"
                time.sleep(0.1)

    def stop(self) -> int:
        """Ctrl-C, as a user would; the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stderr(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def client(self, token: str | None = OPS) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


def server_env(workdir: Path, **extra: str) -> dict[str, str]:
    return {
        "BULKSYNC_JOB_STORE": str(workdir / "state" / "jobs.db"),
        "BULKSYNC_API_TOKENS__OPS__TOKEN": OPS,
        "BULKSYNC_API_TOKENS__OPS__SCOPES": "*",
        "BULKSYNC_API_TOKENS__VIEWER__TOKEN": VIEWER,
        "BULKSYNC_API_TOKENS__VIEWER__SCOPES": "jobs:read",
        "BULKSYNC_JOB_LEASE_SECONDS": "4",  # a heartbeat every second even while a batch waits
        "COLUMNS": "100",
        **extra,
    }


def with_password(pg_url: str) -> str:
    return pg_url.replace("postgres@", f"postgres:{SECRET}@")  # trust auth: any password connects


def wait_for(
    client: httpx.Client, job_id: str, *, until: tuple[str, ...] = TERMINAL, timeout_s: float = 180
) -> Any:
    """Poll the job until its status is one of ``until``; its last view."""
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] in until:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def no_secret(response: httpx.Response) -> httpx.Response:
    assert SECRET not in response.text and SECRET not in str(response.headers)
    return response


def fresh_pg(pg_admin: Any, name: str) -> str:
    """Create an empty PostgreSQL database; its URL (drop it with ``drop_pg``)."""
    pg_admin.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def drop_pg(pg_admin: Any, name: str) -> None:
    pg_admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
