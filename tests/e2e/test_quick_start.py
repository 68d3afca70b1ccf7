"""The README's quick start as a new user runs it, today: generated data ends today, so the bet
sync examples (today, the last 7 days) find bets instead of succeeding with 0 records."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e]


def bulksync(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("BULKSYNC_", "BET_SYNC_"))}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "bulksync", *args],
        capture_output=True, text=True, timeout=180, check=False, env=environ,
    )  # fmt: skip


def test_generated_bets_end_today_and_the_bet_sync_examples_find_them(tmp_path: Path) -> None:
    dk, default = tmp_path / "dk.db", tmp_path / "default.db"
    made = bulksync("generate", str(dk), "--table", "bets", "--rows", "30000", "--json")
    assert made.returncode == 0, made.stderr
    today = dt.datetime.now(dt.UTC).date()
    assert json.loads(made.stdout)["until"] == today.isoformat()
    with sqlite3.connect(dk) as conn:
        last = conn.execute("SELECT max(placed_at) FROM bets").fetchone()[0]
    assert last[:10] == today.isoformat()

    env = {"BULKSYNC_CONNECTIONS__DK": str(dk), "BULKSYNC_CONNECTIONS__DEFAULT": str(default)}
    for example in ([], ["--channel", "VN", "--days-back", "7"]):  # the README's first examples
        synced = bulksync("bets", "sync", *example, "--json", **env)
        assert synced.returncode == 0, synced.stderr
        assert json.loads(synced.stdout)["data"]["total_records"] > 0, (example, synced.stdout)
