"""``.ci/services`` (run by ``make test``): a service it cannot start is skipped loudly outside CI
and is fatal with CI=true, as the README says. The services are stand-ins on PATH here: PostgreSQL,
MariaDB and Redis answer, RabbitMQ neither answers nor starts, and ``sleep`` returns at once."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "services"
STUBS = {
    "pg_isready": "exit 0",
    "mariadb-admin": "exit 0",
    "redis-cli": "echo PONG",
    "rabbitmqctl": "exit 69",
    "rabbitmq-server": "exit 1",
    "sleep": "exit 0",
}


def run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    stubs = tmp_path / "bin"
    stubs.mkdir(exist_ok=True)
    for name, body in STUBS.items():
        (stubs / name).write_text(f"#!/bin/sh\n{body}\n")
        (stubs / name).chmod(0o755)
    environ = {k: v for k, v in os.environ.items() if k != "CI"}
    environ.update(PATH=f"{stubs}:/usr/bin:/bin", **env)
    return subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60, check=False, env=environ
    )


def test_outside_ci_a_service_that_cannot_start_is_skipped_loudly(tmp_path: Path) -> None:
    proc = run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "SKIPPED: RabbitMQ is not reachable and could not be started" in proc.stderr
    assert "FATAL" not in proc.stderr
    assert "services: SKIPPED RabbitMQ" in proc.stderr


@pytest.mark.parametrize("ci", ["true", "1"])
def test_in_ci_a_service_that_cannot_start_is_fatal(tmp_path: Path, ci: str) -> None:
    proc = run(tmp_path, CI=ci)
    assert proc.returncode == 1
    assert "FATAL: RabbitMQ is not reachable" in proc.stderr
