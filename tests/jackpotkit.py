"""Jackpot test kit: a ``bulksync serve`` with the jackpot on a fresh PostgreSQL database, and
what the ledger must then hold, computed here from what the client sent (not by bulksync).

The default pools (mini 0.5 %, minor 0.3 %, major 0.15 %, grand 0.05 %; seeds 10, 100, 1,000,
10,000; no caps) are restated here on purpose: a test that read them from bulksync would agree
with any bug in them.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg

from serving import SECRET, Server, server_env, with_password

RATES_PPM = {"mini": 5000, "minor": 3000, "major": 1500, "grand": 500}
SEEDS = {"mini": 1000, "minor": 10_000, "major": 100_000, "grand": 1_000_000}
AT = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)


def contribution(i: int, wager: str = "2.50", *, prefix: str = "c") -> dict[str, Any]:
    return {
        "contribution_id": f"{prefix}-{i}",
        "game_id": "starburst",
        "wager_amount": wager,
        "timestamp": (AT + dt.timedelta(seconds=i)).isoformat(),
    }


def minor(amount: str) -> int:
    units, _, cents = amount.partition(".")
    return int(units) * 100 + int((cents + "00")[:2])


def shares(wagers_minor: list[int]) -> dict[str, int]:
    """What the contributions add to each pool: each share rounded down to the cent."""
    return {pool: sum(w * ppm // 1_000_000 for w in wagers_minor) for pool, ppm in RATES_PPM.items()}


def jackpot_env(workdir: Path, db_url: str, **extra: str) -> dict[str, str]:
    return server_env(
        workdir,
        BULKSYNC_CONNECTIONS__LEDGER=with_password(db_url),
        BULKSYNC_JACKPOT_CONNECTION="ledger",
        BULKSYNC_SERVE_THREADS="0",
        **extra,
    )


def init_ledger(env: dict[str, str], workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bulksync", "jackpot", "init"],
        capture_output=True, text=True, env=_environ(env), cwd=workdir, timeout=120, check=False,
    )  # fmt: skip


def audit(env: dict[str, str], workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bulksync", "jackpot", "audit", "--json"],
        capture_output=True, text=True, env=_environ(env), cwd=workdir, timeout=120, check=False,
    )  # fmt: skip


def _environ(env: dict[str, str]) -> dict[str, str]:
    import os

    base = {k: v for k, v in os.environ.items() if not k.startswith(("BULKSYNC_", "BET_SYNC_"))}
    return {**base, **env}


def start(workdir: Path, db_url: str, **extra: str) -> Server:
    env = jackpot_env(workdir, db_url, **extra)
    done = init_ledger(env, workdir)
    assert done.returncode == 0, done.stderr
    return Server(workdir, env).start()


def pools(db_url: str) -> dict[str, int]:
    with psycopg.connect(db_url) as conn:
        return dict(conn.execute("SELECT name, amount_minor FROM jackpot.pools").fetchall())


def ledger_ids(db_url: str) -> list[str]:
    with psycopg.connect(db_url) as conn:
        return [r[0] for r in conn.execute("SELECT contribution_id FROM jackpot.contributions")]


def wins(db_url: str, kind: str = "claim") -> dict[str, tuple[str, int]]:
    """Paid wins by id: (pool, paid); ``kind``: claim (sent to /wins) or must_hit_by."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT win_id, pool, paid_minor FROM jackpot.wins WHERE kind = %s", [kind])
    return {r[0]: (r[1], r[2]) for r in rows}


def clean_log(server: Server) -> str:
    text = server.stderr()
    assert SECRET not in text
    return text
