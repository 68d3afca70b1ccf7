"""PostgreSQL restarted under the jackpot's load (a private cluster of this test, never the shared
one): while it is away every request is answered quickly with 503 + ``Retry-After`` (nothing
waits beyond the configured request timeout), the service comes back by itself when the
database does, and the clients' retries with the same ids leave every contribution counted once."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import jackpotkit as kit
from faults.faultservers import PG_BIN, PrivatePg
from serving import OPS

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]
URL = "/api/jackpot/contributions"
CONTRIBUTIONS = 1500
TIMEOUT_S = 2  # BULKSYNC_JACKPOT_REQUEST_TIMEOUT_S and CONNECT_TIMEOUT_S of the server
SLACK_S = 5.0  # the client's side of an answer on a loaded 2-core machine, not a performance figure


@pytest.fixture
def private_pg(require_service: Callable[[str, Exception], None]) -> Iterator[PrivatePg]:
    if not (PG_BIN / "initdb").exists():
        require_service("PostgreSQL binaries", FileNotFoundError(str(PG_BIN / "initdb")))
    root = Path(tempfile.mkdtemp(prefix="bulksync-jackpot-pg-"))
    os.chmod(root, 0o755)  # the postgres OS user walks into it
    pg = PrivatePg(root / "pg")
    try:
        pg.start_cluster()
        yield pg
    finally:
        pg.destroy()
        shutil.rmtree(root, ignore_errors=True)


class Load:
    """Threads sending single contributions, each retried with its id until it is applied."""

    def __init__(self, url: str, threads: int = 3) -> None:
        self.url = url
        self.attempts: list[tuple[float, int, str | None]] = []  # (seconds, status, Retry-After)
        self.answered = 0
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._send, args=(range(n, CONTRIBUTIONS, threads),), daemon=True)
            for n in range(threads)
        ]
        for t in self.threads:
            t.start()

    def _send(self, mine: range) -> None:
        with httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {OPS}"}, timeout=60) as api:
            for i in mine:
                while True:
                    started = time.monotonic()
                    answer = api.post(URL, json=kit.contribution(i, prefix="rs"))
                    with self.lock:
                        seconds = time.monotonic() - started
                        self.attempts.append((seconds, answer.status_code, answer.headers.get("retry-after")))
                    if answer.status_code == 200:
                        break
                    time.sleep(0.05)
                with self.lock:
                    self.answered += 1

    def wait_for(self, answered: int) -> None:
        while self.answered < answered:
            assert any(t.is_alive() for t in self.threads)
            time.sleep(0.01)

    def join(self) -> None:
        for t in self.threads:
            t.join(300)
            assert not t.is_alive()


def test_postgresql_restarted_under_load_gives_fast_503s_then_the_service_resumes_by_itself(
    tmp_path: Path, private_pg: PrivatePg
) -> None:
    ledger = private_pg.create_database("ledger")
    srv = kit.start(
        tmp_path, ledger, BULKSYNC_JACKPOT_RATE_PER_MINUTE="0",
        BULKSYNC_JACKPOT_REQUEST_TIMEOUT_S=str(TIMEOUT_S), BULKSYNC_JACKPOT_CONNECT_TIMEOUT_S=str(TIMEOUT_S),
    )  # fmt: skip
    try:
        load = Load(srv.url)
        load.wait_for(CONTRIBUTIONS // 4)
        private_pg.restart("fast", down_s=2)  # sessions rolled back, then 2 s with no server at all
        load.wait_for(CONTRIBUTIONS // 2)
        assert load.answered < CONTRIBUTIONS, "the load ended before the second restart: make it bigger"
        private_pg.restart("immediate", down_s=1)  # a crash: recovery on start
        load.join()
    finally:
        assert srv.stop() == 0
    codes = {code for _, code, _ in load.attempts}
    refused = [(s, retry) for s, code, retry in load.attempts if code == 503]
    assert codes == {200, 503}, codes  # nothing else: no 500, no dropped connection
    assert refused and all(retry == "1" for _, retry in refused)
    slowest = max(s for s, _, _ in load.attempts)
    assert slowest < TIMEOUT_S + SLACK_S, f"a request waited {slowest:.1f} s"
    assert private_pg.restarts == 2 and load.answered == CONTRIBUTIONS
    ids = kit.ledger_ids(ledger)
    assert sorted(ids) == sorted(f"rs-{i}" for i in range(CONTRIBUTIONS))
    share = kit.shares([250])
    assert kit.pools(ledger) == {p: kit.SEEDS[p] + share[p] * CONTRIBUTIONS for p in kit.SEEDS}
    done = kit.audit(srv.env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    kit.clean_log(srv)
