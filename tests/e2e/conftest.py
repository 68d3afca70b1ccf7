"""Fixtures of the CLI's end-to-end tests."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from bulksync.jobs.store import JobStore


@pytest.fixture
def store_path(tmp_path: Path) -> Iterator[Path]:
    """A job store file for the test's ``--background`` jobs; a runner still running at the end
    (the test failed) is killed."""
    path = tmp_path / "state" / "jobs.db"
    yield path
    if path.exists():  # never leave a detached runner behind a failed test
        store = JobStore(str(path))
        for job in store.list(status="running"):
            _kill(job.lease_owner)
        store.close()


def _kill(owner: str | None) -> None:
    if owner and owner.split(":")[0] == os.uname().nodename:
        try:
            os.kill(int(owner.split(":")[1]), signal.SIGKILL)
        except ProcessLookupError:
            pass
