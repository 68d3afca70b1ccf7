"""The fleet's sweeper thread outlives an unexpected error in one sweep."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from types import SimpleNamespace
from typing import Any

import pytest

from bulksync.jobs.actors import Sweeper


class Failing(Sweeper):
    """The first sweep meets a bug (not a SyncError); the next ones succeed."""

    def __init__(self, fleet: Any) -> None:
        super().__init__(fleet)
        self.sweeps = 0
        self.swept_again = threading.Event()

    def sweep(self) -> None:
        self.sweeps += 1
        if self.sweeps == 1:
            raise RuntimeError("boom near postgresql://app:s3cret@db/jobs")
        self.swept_again.set()


def test_an_unexpected_error_in_one_sweep_does_not_end_the_sweeper(caplog: pytest.LogCaptureFixture) -> None:
    fleet = SimpleNamespace(
        store=SimpleNamespace(lease=dt.timedelta(seconds=2)), settings=SimpleNamespace(job_resend_seconds=0)
    )
    sweeper = Failing(fleet)
    with caplog.at_level(logging.ERROR, logger="bulksync"):
        sweeper.start()
        try:
            assert sweeper.swept_again.wait(10), "the sweeper thread ended after the first error"
        finally:
            sweeper.stop()
    (line,) = [r.getMessage() for r in caplog.records if "sweeper" in r.getMessage()]
    assert "unexpected RuntimeError" in line and "s3cret" not in line
