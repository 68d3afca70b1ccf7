"""kill -9 of ``bulksync serve`` while clients pour contributions and wins into the jackpot.

Four client threads send single contributions, batches and wins (a tenth of them delivered
twice), each request retried with the same ids until it is answered (connection refused or reset
while the server is down, 503).
The server is killed with SIGKILL twice mid-load and started again. Afterwards, from what the
clients sent and PostgreSQL read directly: every contribution is in the ledger once, every win
was paid once (every answer to a win, first or retried, names the same payout), each pool holds
its seed + the shares of every distinct contribution - what its wins paid + a seed per win, and
the audit finds no drift. In the kill test a fifth pool, ``hot``, must hit by 50.00: it is won
hundreds of times by contributions, each win in the transaction of the contribution that set it off.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

import jackpotkit as kit
from serving import OPS, Server, drop_pg, fresh_pg

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]
CONTRIBUTIONS = 6000
GIVE_UP_S = 180.0  # a liveness bound for one request across restarts, not a performance figure
HOT_PPM, HOT_SEED = 10_000, 100  # 1 % of each wager, seed 1.00, must hit by 50.00
HOT_AND_DEFAULTS = json.dumps([
    {"name": "mini", "rate_percent": "0.5", "seed": "10.00"},
    {"name": "minor", "rate_percent": "0.3", "seed": "100.00"},
    {"name": "major", "rate_percent": "0.15", "seed": "1000.00"},
    {"name": "grand", "rate_percent": "0.05", "seed": "10000.00"},
    {"name": "hot", "rate_percent": "1", "seed": "1.00", "must_hit_by": "50.00"},
])  # fmt: skip


@pytest.fixture
def ledger(pg_admin: psycopg.Connection) -> Iterator[str]:
    name = f"bs_jackpot_crash_{uuid.uuid4().hex[:10]}"
    yield fresh_pg(pg_admin, name)
    drop_pg(pg_admin, name)


def plan(seed: int) -> tuple[list[tuple[str, Any]], list[int]]:
    """Requests ("c": a contribution or a batch, "w": a win), a tenth of them delivered twice, and
    every distinct wager sent, in cents."""
    rng = random.Random(seed)
    requests: list[tuple[str, Any]] = []
    wagers: list[int] = []
    i = 0
    while i < CONTRIBUTIONS:
        size = min(rng.choice((1, 1, 1, 1, 10, 50)), CONTRIBUTIONS - i)
        items = []
        for _ in range(size):
            cents = rng.randint(10, 50_000)
            wagers.append(cents)
            items.append(kit.contribution(i, f"{cents // 100}.{cents % 100:02d}", prefix="k"))
            i += 1
        requests.append(("c", items[0] if size == 1 and rng.random() < 0.5 else items))
        if rng.random() < 0.04:
            pool = rng.choice(("mini", "minor"))
            requests.append(("w", {"win_id": f"win-{len(requests)}", "pool": pool, "user_id": "p1"}))
    for again in rng.sample(range(len(requests)), len(requests) // 10):  # duplicate deliveries
        requests.insert(rng.randint(again + 1, len(requests)), requests[again])
    return requests, wagers


class Clients:
    """Threads that send their share of the requests, each until it is answered."""

    def __init__(self, url: str, requests: list[tuple[str, Any]], threads: int = 4) -> None:
        self.url, self.requests = url, requests
        self.answered = 0
        self.retries = 0
        self.wins: dict[str, list[dict[str, Any]]] = {}
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._send, args=(requests[n::threads],), daemon=True)
            for n in range(threads)
        ]

    def _send(self, mine: list[tuple[str, Any]]) -> None:
        with httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {OPS}"}, timeout=30) as api:
            for kind, body in mine:
                answer = self._until_answered(api, kind, body)
                with self.lock:
                    self.answered += 1
                    if kind == "w":
                        self.wins.setdefault(body["win_id"], []).append(answer)

    def _until_answered(self, api: httpx.Client, kind: str, body: Any) -> Any:
        path = "/api/jackpot/wins" if kind == "w" else "/api/jackpot/contributions"
        deadline = time.monotonic() + GIVE_UP_S
        while True:
            try:
                response = api.post(path, json=body)
                if response.status_code == 200:
                    return response.json()
                assert response.status_code == 503, response.text
            except httpx.TransportError:
                pass
            with self.lock:
                self.retries += 1
            assert time.monotonic() < deadline, f"{path} not answered within {GIVE_UP_S} s"
            time.sleep(0.05)

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def wait_for(self, answered: int) -> None:
        deadline = time.monotonic() + GIVE_UP_S
        while self.answered < answered and any(t.is_alive() for t in self.threads):
            assert time.monotonic() < deadline
            time.sleep(0.005)

    def join(self) -> None:
        for t in self.threads:
            t.join(GIVE_UP_S * 2)
            assert not t.is_alive()


def test_kill_9_mid_load_then_retries_count_every_contribution_and_win_exactly_once(
    tmp_path: Path, ledger: str
) -> None:
    requests, wagers = plan(seed=12)
    srv: Server = kit.start(
        tmp_path, ledger, BULKSYNC_JACKPOT_RATE_PER_MINUTE="0", BULKSYNC_JACKPOT_POOLS=HOT_AND_DEFAULTS
    )
    clients = Clients(srv.url, requests)
    clients.start()
    kills = 0
    for share in (0.25, 0.6):
        clients.wait_for(int(len(requests) * share))
        assert clients.answered < len(requests), "the load ended before the kill: make it bigger"
        srv.kill()
        kills += 1
        srv.start()
    clients.join()
    assert srv.stop() == 0
    assert (kills, clients.answered) == (2, len(requests))
    assert clients.retries > 0  # the kills hit requests in flight

    ids = kit.ledger_ids(ledger)
    assert len(ids) == len(set(ids)) == CONTRIBUTIONS
    assert set(ids) == {f"k-{i}" for i in range(CONTRIBUTIONS)}

    paid = kit.wins(ledger)
    assert set(paid) == set(clients.wins)  # each win paid, none twice (win_id is the key)
    for win_id, answers in clients.wins.items():
        assert {(a["pool"], a["paid_minor"]) for a in answers} == {paid[win_id]}

    hits = kit.wins(ledger, kind="must_hit_by")
    assert len(hits) > 100 and {paid for _, paid in hits.values()} == {5000}
    added = kit.shares(wagers) | {"hot": sum(w * HOT_PPM // 1_000_000 for w in wagers)}
    seeds = kit.SEEDS | {"hot": HOT_SEED}
    for pool, amount in kit.pools(ledger).items():
        out = [minor for (where, minor) in (*paid.values(), *hits.values()) if where == pool]
        assert amount == seeds[pool] + added[pool] - sum(out) + seeds[pool] * len(out), pool

    done = kit.audit(srv.env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    kit.clean_log(srv)


def test_connections_killed_under_load_are_503s_then_service_resumes_and_counts_once(
    tmp_path: Path, ledger: str, pg_admin: psycopg.Connection
) -> None:
    """The database side of a crash: every backend of the ledger terminated three times mid-load
    (what a PostgreSQL restart does to the server's connections)."""
    requests, wagers = plan(seed=34)
    srv: Server = kit.start(tmp_path, ledger, BULKSYNC_JACKPOT_RATE_PER_MINUTE="0")
    clients = Clients(srv.url, requests)
    clients.start()
    killed = 0
    for share in (0.2, 0.45, 0.7):
        clients.wait_for(int(len(requests) * share))
        assert clients.answered < len(requests), "the load ended before the fault: make it bigger"
        found = pg_admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (ledger.rsplit("/", 1)[1],),
        ).fetchone()
        killed += found[0] if found else 0
    clients.join()
    assert srv.stop() == 0
    assert killed >= 3 and clients.answered == len(requests)
    assert clients.retries > 0  # requests in flight were refused (503), then retried

    ids = kit.ledger_ids(ledger)
    assert len(ids) == len(set(ids)) == CONTRIBUTIONS
    paid = kit.wins(ledger)
    assert set(paid) == set(clients.wins)
    added = kit.shares(wagers)
    for pool, amount in kit.pools(ledger).items():
        out = [minor for (where, minor) in paid.values() if where == pool]
        assert amount == kit.SEEDS[pool] + added[pool] - sum(out) + kit.SEEDS[pool] * len(out), pool
    done = kit.audit(srv.env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
