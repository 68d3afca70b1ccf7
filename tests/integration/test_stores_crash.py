"""The ``bulksync stores sync`` CLI as a child process: kill -9 mid-run, then the same command
again; exit codes, ``--json`` and secrets in its output."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

import crashkit
from bulksync.fakestores import FakeStores, FakeStoreServer, Fault
from storekit import BAD_TOKEN, assert_exactly_once, expected_keys, rows

PAGE = 5
_BASE_ENV = crashkit._env  # the child's PYTHONPATH; credentials are added to it


def command(stores: Path, url: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "bulksync", "stores", "sync", "users", "--stores", str(stores), "--to", url,
        "--page-size", str(PAGE), "--concurrency", "4", "--backoff", "0.01", *extra,
    ]  # fmt: skip


def run(cmd: list[str], environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, env=environ, timeout=120, check=False)


def env(**creds: str) -> dict[str, str]:
    found = _BASE_ENV()
    for name, token in creds.items():
        found[f"BULKSYNC_STORES_CREDENTIALS__{name.upper()}"] = token
    return found


@pytest.fixture
def server() -> Iterator[FakeStoreServer]:
    with FakeStoreServer(FakeStores(stores=30), latency_s=0.02) as srv:
        yield srv


def test_kill_9_mid_run_then_the_same_command_again(
    server: FakeStoreServer,
    pg_db: str,
    pg_probe: crashkit.PgProbe,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    catalog = server.catalog
    listing = tmp_path / "stores.csv"
    server.write_store_list(str(listing), credential="main")
    monkeypatch.setattr(crashkit, "_env", lambda: env(main=catalog.token))
    kill = crashkit.run_and_kill(
        command(listing, pg_db), count=lambda: pg_probe.count("store_users"), settle=pg_probe.settle,
        threshold=catalog.total("users") // 3, delay_s=0.05,
    )  # fmt: skip
    assert 0 < kill.after < catalog.total("users")
    done_before = {
        r["store_code"] for r in rows(pg_db, "SELECT store_code FROM sync_logs WHERE store_code IS NOT NULL")
    }
    asked_before = Counter(server.stats.as_dict()["by_store"])

    again = run(command(listing, pg_db, "--json"), env(main=catalog.token))
    assert again.returncode == 0, again.stderr[-2000:]
    result = json.loads(again.stdout)
    assert result["status"] == "succeeded" and result["resumed"] and result["skipped"] == len(done_before)

    assert_exactly_once(pg_db, "store_users", expected_keys(catalog, "users"))
    asked_after = Counter(server.stats.as_dict()["by_store"])
    assert all(asked_after[c] == asked_before[c] for c in done_before), "a finished store was read again"
    full = sum(-(-catalog.count(c, "users") // PAGE) for c in catalog.codes())
    assert result["requests"] < full, "the resumed run read every page again"

    logs = rows(pg_db, "SELECT run_id, store_code, status FROM sync_logs")
    assert {r["run_id"] for r in logs} == {result["run_id"]}, "the second command started a new run"
    per_store = Counter(r["store_code"] for r in logs)
    assert per_store[None] == 1 and set(per_store) == {None, *catalog.codes()}
    assert max(per_store.values()) == 1, "sync_logs rows duplicated"
    assert {r["status"] for r in logs} == {"succeeded"}


def test_partial_exit_code_json_and_no_secret_in_output(
    server: FakeStoreServer, pg_db: str, tmp_path: Path
) -> None:
    listing = tmp_path / "stores.json"
    entries = [
        {"store_code": c, "base_url": server.base_url(c), "credential": "bad" if c == "s0002" else "main"}
        for c in server.catalog.codes()[:5]
    ]
    listing.write_text(json.dumps(entries))
    creds = env(main=server.catalog.token, bad=BAD_TOKEN)
    for extra in (["--json"], []):
        done = run(command(listing, pg_db, *extra), creds)
        assert done.returncode == 4, done.stderr[-2000:]
        for secret in (BAD_TOKEN, server.catalog.token):
            assert secret not in done.stdout + done.stderr
        assert "s0002" in done.stdout and "401" in done.stdout
        if not extra:  # not a terminal: seed 004's progress lines on stderr, the last one complete
            last = [json.loads(x) for x in done.stderr.splitlines() if "Sync progress" in x][-1]
            assert (last["processed"], last["total"], last["percent"], last["failed"]) == (5, 5, 100, 1)
    result = json.loads(run(command(listing, pg_db, "--json"), creds).stdout)
    assert result["status"] == "partial" and result["success_rate"] == 80.0
    assert [f["code"] for f in result["failures"]] == ["s0002"] and result["failures"][0]["requests"] == 1


def test_unknown_credential_is_a_usage_error(server: FakeStoreServer, pg_db: str, tmp_path: Path) -> None:
    listing = tmp_path / "stores.csv"
    server.write_store_list(str(listing), credential="nowhere")
    done = run(command(listing, pg_db), env())
    assert done.returncode == 2 and "BULKSYNC_STORES_CREDENTIALS__NOWHERE" in done.stderr
    assert server.stats.as_dict()["requests"] == 0


def test_store_list_from_a_stores_table(server: FakeStoreServer, pg_db: str) -> None:
    import psycopg

    codes = server.catalog.codes()[:4]
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE stores (store_code TEXT PRIMARY KEY, base_url TEXT, credential TEXT)")
        for c in codes:
            conn.execute("INSERT INTO stores VALUES (%s, %s, 'main')", (c, server.base_url(c)))
    cmd = [*command(Path("unused"), pg_db, "--json")]
    cmd[cmd.index("--stores") : cmd.index("--stores") + 2] = ["--stores-table", "stores"]
    done = run(cmd, env(main=server.catalog.token))
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["stores"] == 4
    assert_exactly_once(pg_db, "store_users", expected_keys(server.catalog, "users", codes))


def _started_then(
    cmd: list[str], environ: dict[str, str], probe: crashkit.PgProbe, signum: int
) -> subprocess.Popen[str]:
    """Start ``cmd``; once some store has logged its end, send it ``signum``."""
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ)
    deadline = time.monotonic() + 60
    while not _stores_logged(probe):
        assert child.poll() is None, f"the sync ended first ({child.returncode})"
        assert time.monotonic() < deadline, "no store ended within 60 s"
        time.sleep(0.01)
    child.send_signal(signum)
    return child


def _stores_logged(probe: crashkit.PgProbe) -> bool:
    found = probe.row("SELECT count(*) FROM sync_logs WHERE store_code IS NOT NULL")  # None: no table yet
    return bool(found and found[0])


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_ends_the_summary_cancelled_and_the_same_command_continues(
    server: FakeStoreServer, pg_db: str, pg_probe: crashkit.PgProbe, tmp_path: Path, signum: int
) -> None:
    catalog = server.catalog
    listing = tmp_path / "stores.csv"
    server.write_store_list(str(listing), credential="main")
    environ = env(main=catalog.token)
    child = _started_then(command(listing, pg_db, "--json"), environ, pg_probe, signum)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 128 + signum, err[-2000:]
    assert json.loads(out)["status"] == "cancelled" and "the same command continues run" in err
    summary = rows(pg_db, "SELECT status, message FROM sync_logs WHERE store_code IS NULL")
    assert [r["status"] for r in summary] == ["cancelled"], summary
    assert "the same command continues this run" in summary[0]["message"]

    again = run(command(listing, pg_db, "--json"), environ)
    assert again.returncode == 0, again.stderr[-2000:]
    result = json.loads(again.stdout)
    assert result["resumed"] and result["note"].startswith("resuming run ")
    assert_exactly_once(pg_db, "store_users", expected_keys(catalog, "users"))
    assert [r["status"] for r in rows(pg_db, "SELECT status FROM sync_logs WHERE store_code IS NULL")] == [
        "succeeded"
    ]


def test_after_kill_9_a_run_too_old_to_resume_is_closed_as_abandoned(
    server: FakeStoreServer, pg_db: str, pg_probe: crashkit.PgProbe, tmp_path: Path
) -> None:
    catalog = server.catalog
    listing = tmp_path / "stores.csv"
    server.write_store_list(str(listing), credential="main")
    environ = env(main=catalog.token)
    child = _started_then(command(listing, pg_db), environ, pg_probe, signal.SIGKILL)
    child.communicate(timeout=30)
    killed = rows(pg_db, "SELECT run_id, status FROM sync_logs WHERE store_code IS NULL")
    assert [r["status"] for r in killed] == ["running"]  # nothing could say otherwise

    again = run(command(listing, pg_db, "--json", "--resume-within", "0"), environ)
    assert again.returncode == 0, again.stderr[-2000:]
    result = json.loads(again.stdout)
    assert not result["resumed"] and result["skipped"] == 0
    assert result["note"].endswith("not resumed: it started 0.0 h ago, more than --resume-within 0 h")
    statuses = {r["run_id"]: r for r in rows(pg_db, "SELECT * FROM sync_logs WHERE store_code IS NULL")}
    assert statuses[killed[0]["run_id"]]["status"] == "abandoned"
    assert result["run_id"] in statuses[killed[0]["run_id"]]["message"]
    assert statuses[result["run_id"]]["status"] == "succeeded"
    assert_exactly_once(pg_db, "store_users", expected_keys(catalog, "users"))


def test_a_second_ctrl_c_interrupts_at_once_and_the_summary_says_interrupted(
    pg_db: str, pg_probe: crashkit.PgProbe, tmp_path: Path
) -> None:
    slow = {f"s{i:04d}": Fault("slow", seconds=5.0) for i in range(5, 13)}  # pages in flight
    with FakeStoreServer(FakeStores(stores=12, faults=slow)) as srv:
        listing = tmp_path / "stores.csv"
        srv.write_store_list(str(listing), credential="main")
        environ = env(main=srv.catalog.token)
        child = _started_then(command(listing, pg_db), environ, pg_probe, signal.SIGINT)
        time.sleep(0.3)
        started = time.monotonic()
        child.send_signal(signal.SIGINT)
        child.communicate(timeout=30)
        assert child.returncode != 0 and time.monotonic() - started < 4, "the second Ctrl-C waited for a page"
        summary = rows(pg_db, "SELECT status, message FROM sync_logs WHERE store_code IS NULL")
        assert [r["status"] for r in summary] == ["interrupted"], summary
        srv.catalog.faults.clear()
        again = run(command(listing, pg_db, "--json"), environ)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["resumed"]
    assert_exactly_once(pg_db, "store_users", expected_keys(srv.catalog, "users"))
