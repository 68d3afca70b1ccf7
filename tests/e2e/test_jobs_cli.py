"""Background jobs as a user runs them: ``copy … --background`` returns a job id at once and the
job finishes on its own; ``status --json`` shows progress; a SIGKILLed runner is resumed to an
exact copy; a DSN with a password is refused, a named connection is stored by name only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

import crashkit
from bulksync.jobs.store import JobStore

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ROWS = 120_000
SEED = 77


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, crashkit.Digests]:
    path = tmp_path_factory.mktemp("bg") / "source.db"
    crashkit.build_source(str(path), ROWS, seed=SEED)
    return path, crashkit.sqlite_digests(path)


def bulksync(store: Path, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("BULKSYNC_", "BET_SYNC_"))}
    environ.update(BULKSYNC_JOB_STORE=str(store), COLUMNS="100", **env)
    return subprocess.run(
        [sys.executable, "-m", "bulksync", *args],
        capture_output=True, text=True, timeout=timeout, check=False, env=environ,
    )  # fmt: skip


def status(store: Path, job_id: str, *extra: str, **env: str) -> dict[str, Any]:
    proc = bulksync(store, "status", job_id, "--json", *extra, **env)
    assert proc.returncode == 0, proc.stderr
    found: dict[str, Any] = json.loads(proc.stdout)
    return found


def copy_args(source: Path, dest: str, *, slow: bool = True) -> list[str]:
    # slow: small batches, one partition at a time, so there is a "during" to look at
    sizes = ["--batch-mb", "0.02", "--partitions", "1"] if slow else []
    return ["copy", str(source), dest, "--table", crashkit.TABLE, *sizes]


def test_background_copy_returns_at_once_and_finishes_on_its_own(
    source: tuple[Path, crashkit.Digests], pg_db: str, store_path: Path
) -> None:
    started = time.monotonic()
    proc = bulksync(store_path, *copy_args(source[0], pg_db), "--background")
    returned_after = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    job_id = proc.stdout.strip()
    assert job_id.startswith("job_") and "\n" not in job_id
    assert f"bulksync status {job_id} --follow" in proc.stderr
    assert returned_after < 10

    probe = crashkit.PgProbe(pg_db)
    while probe.count() < ROWS // 5:
        assert time.monotonic() - started < 60, status(store_path, job_id)
        time.sleep(0.005)
    probe.close()
    with psycopg.connect(pg_db) as lock:  # holding SHARE: the runner's next batch waits for us
        lock.execute(f"LOCK TABLE {crashkit.TABLE} IN SHARE MODE")
        time.sleep(1.0)  # a heartbeat or two: the store has the progress up to the lock
        mid = status(store_path, job_id)
        assert mid["status"] == "running" and 0 < mid["processed_records"] < ROWS, mid
        assert mid["estimated_records"] == ROWS and 0 < mid["progress_percentage"] < 100
        assert mid["records_per_second"] > 0 and mid["tables"][crashkit.TABLE]["phase"] == "copying"
        assert mid["started_at"] and mid["updated_at"] and mid["finished_at"] is None
    now = status(store_path, job_id, "--follow")
    assert now["status"] == "succeeded", now["error"]
    assert (now["processed_records"], now["progress_percentage"], now["attempts"]) == (ROWS, 100.0, 1)
    assert now["result"]["processed_rows"] == ROWS and now["finished_at"]

    listed = json.loads(bulksync(store_path, "jobs", "--json").stdout)["jobs"]
    assert [j["job_id"] for j in listed] == [job_id]
    table = bulksync(store_path, "jobs").stdout
    assert job_id in table and "succeeded" in table and f"{ROWS:,}/{ROWS:,}" in table
    verdict = crashkit.compare(source[1], crashkit.pg_digests(pg_db))
    assert verdict.ok, str(verdict)


def test_kill_9_of_the_runner_then_resume_loses_and_doubles_nothing(
    source: tuple[Path, crashkit.Digests], pg_db: str, store_path: Path
) -> None:
    lease = {"BULKSYNC_JOB_LEASE_SECONDS": "2"}
    job_id = bulksync(store_path, *copy_args(source[0], pg_db), "--background", **lease).stdout.strip()
    probe = crashkit.PgProbe(pg_db)
    deadline = time.monotonic() + 60
    store = JobStore(str(store_path))
    while probe.count() < ROWS // 5:
        assert time.monotonic() < deadline, store.get(job_id)
        time.sleep(0.005)
    owner = store.get(job_id).lease_owner
    assert owner is not None and owner.split(":")[0] == os.uname().nodename
    os.kill(int(owner.split(":")[1]), signal.SIGKILL)  # raises if the runner had already exited
    assert store.get(job_id).status == "running"
    store.close()
    probe.settle()
    killed_at = probe.count()
    assert killed_at < ROWS, "the runner finished before it could be killed"

    time.sleep(2.5)  # the lease runs out: the job shows as lost, and can be taken over
    lost = status(store_path, job_id)
    assert (lost["status"], lost["runner_lost"]) == ("lost", True)
    assert "resume" in bulksync(store_path, "status", job_id).stderr
    listed = bulksync(store_path, "jobs", "--status", "lost", "--json")  # shown, and asked for
    assert listed.returncode == 0 and [j["job_id"] for j in json.loads(listed.stdout)["jobs"]] == [job_id]
    running = bulksync(store_path, "jobs", "--status", "running")
    assert running.returncode == 0 and job_id not in running.stdout
    resumed = bulksync(store_path, "resume", job_id, **lease)
    assert resumed.returncode == 0, resumed.stderr
    done = status(store_path, job_id, "--follow", **lease)
    assert done["status"] == "succeeded", done["error"]
    assert done["attempts"] == 2 and done["processed_records"] == ROWS
    verdict = crashkit.compare(source[1], crashkit.pg_digests(pg_db))
    assert verdict.ok, str(verdict)
    probe.close()


def test_a_password_is_refused_in_a_url_and_kept_out_of_the_store_as_a_name(
    source: tuple[Path, crashkit.Digests], pg_db: str, store_path: Path
) -> None:
    secret = "Sup3r-s3cret"
    dsn = pg_db.replace("postgres@", f"postgres:{secret}@")  # trust auth: any password connects

    refused = bulksync(store_path, *copy_args(source[0], dsn, slow=False), "--background")
    assert refused.returncode == 2
    assert "configure it as a named connection" in refused.stderr
    assert secret not in refused.stderr + refused.stdout

    named = bulksync(
        store_path, *copy_args(source[0], "wh", slow=False), "--background", BULKSYNC_CONNECTIONS__WH=dsn
    )
    assert named.returncode == 0, named.stderr
    done = status(store_path, named.stdout.strip(), "--follow", BULKSYNC_CONNECTIONS__WH=dsn)
    assert done["status"] == "succeeded", done["error"]
    assert done["spec"]["destination"] == {"connection": "wh"}
    raw = b"".join(p.read_bytes() for p in store_path.parent.rglob("*") if p.is_file())
    assert secret.encode() not in raw


def test_bets_sync_background_gets_a_seed_shaped_job_id(tmp_path: Path, pg_db: str, store_path: Path) -> None:
    from bulksync.datagen import generate

    dk = tmp_path / "dk.db"
    generate(str(dk), tables=["bets"], rows_override={"bets": 20_000}, seed=3)
    env = {"BULKSYNC_CONNECTIONS__DK": str(dk), "BULKSYNC_CONNECTIONS__DEFAULT": pg_db}
    args = ("bets", "sync", "--start-date", "2025-11-01", "--end-date", "2025-12-31", "--channel", "ALL")

    proc = bulksync(store_path, *args, "--background", "--json", **env)
    assert proc.returncode == 0, proc.stderr
    started = json.loads(proc.stdout)
    assert started["job_id"].startswith("sync_bets_") and started["status"] == "queued"
    done = status(store_path, started["job_id"], "--follow", **env)
    assert done["status"] == "succeeded", done["error"]
    assert done["kind"] == "bets" and done["processed_records"] > 0
    assert done["max_attempts"] == 3  # BET_SYNC_JOB_TRIES
    assert done["spec"]["source"] == {"connection": "dk"}


def _in(cwd: Path, store: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("BULKSYNC_", "BET_SYNC_"))}
    environ.update(BULKSYNC_JOB_STORE=str(store), COLUMNS="100", **env)
    return subprocess.run(
        [sys.executable, "-m", "bulksync", *args],
        capture_output=True, text=True, timeout=120, check=False, env=environ, cwd=cwd,
    )  # fmt: skip


def _one_line(proc: subprocess.CompletedProcess[str], code: int, fragment: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], proc.stderr


@pytest.mark.parametrize(
    ("dest", "table", "code", "fragment"),
    [
        ("{gone}", crashkit.TABLE, 1, "does not exist"),  # a destination database nobody made
        ("{pg}", "nope", 1, "table 'nope' does not exist"),
        ("warehous", crashkit.TABLE, 2, "'warehous' is not a configured connection (configured: warehouse)"),
        ("{tmp}/no/such/folder/x.db", crashkit.TABLE, 1, "for SQLite file does not exist"),
    ],
)
def test_background_checks_both_ends_before_recording_anything(
    source: tuple[Path, crashkit.Digests], pg_db: str, tmp_path: Path, store_path: Path,
    dest: str, table: str, code: int, fragment: str,
) -> None:  # fmt: skip
    """What the foreground command would refuse at once, --background refuses too: one line, the
    exit code, no job, no job store, no file named after a misspelled connection."""
    target = dest.format(gone=pg_db + "_gone", pg=pg_db, tmp=tmp_path)
    proc = _in(
        tmp_path, store_path, "copy", str(source[0]), target, "--table", table, "--background",
        BULKSYNC_CONNECTIONS__WAREHOUSE=pg_db,
    )  # fmt: skip
    _one_line(proc, code, fragment)
    assert not store_path.exists() and not (tmp_path / "warehous").exists()


@pytest.mark.parametrize("command", [["jobs"], ["jobs", "--json"], ["status", "job_x"], ["cancel", "job_x"],
                                     ["resume", "job_x"]])  # fmt: skip
def test_a_mistyped_store_is_never_created_by_commands_that_record_no_job(
    tmp_path: Path, command: list[str]
) -> None:
    typo = tmp_path / "var" / "lib" / "bulksync" / "jobs.db"
    proc = bulksync(typo, *command)
    _one_line(proc, 1, f"no job store at {typo} (BULKSYNC_JOB_STORE)")
    assert not (tmp_path / "var").exists()


def test_the_first_background_job_creates_the_store_and_says_so_once(
    source: tuple[Path, crashkit.Digests], pg_db: str, tmp_path: Path
) -> None:
    store = tmp_path / "new" / "jobs.db"
    said = []
    for name in ("t_first", "t_second"):
        proc = bulksync(store, *copy_args(source[0], pg_db, slow=False), "--dest-table", name, "--background")
        assert proc.returncode == 0, proc.stderr
        said.append(proc.stderr.count(f"created the job store {store}"))
        assert status(store, proc.stdout.strip(), "--follow")["status"] == "succeeded"
    assert said == [1, 0]


def test_a_jobs_log_says_what_status_knows(
    source: tuple[Path, crashkit.Digests], pg_db: str, store_path: Path
) -> None:
    """The start, each table's progress at intervals, the end with the rows; a failure's reason."""
    every = {"BULKSYNC_JOB_LOG_SECONDS": "0.2"}
    job_id = bulksync(store_path, *copy_args(source[0], pg_db), "--background", **every).stdout.strip()
    assert status(store_path, job_id, "--follow")["status"] == "succeeded"
    log = (store_path.parent / "logs" / f"{job_id}.log").read_text()
    assert log.endswith("\n")
    assert f"{job_id}: started (attempt 1 of 3, runner " in log and f"copy {source[0]} → " in log
    copying = [line for line in log.splitlines() if f"{job_id}: t: copying " in line]
    assert len(copying) >= 2 and "rows/s ETA" in copying[0], log
    assert f"{job_id}: t: done {ROWS:,}/{ROWS:,} rows" in log
    assert f"{job_id}: succeeded after " in log and f"{ROWS:,} of {ROWS:,} rows committed" in log

    with psycopg.connect(pg_db) as conn:  # a destination table the job cannot write to
        conn.execute("CREATE TABLE t_narrow (id BIGINT PRIMARY KEY)")
    failing = bulksync(store_path, *copy_args(source[0], pg_db), "--dest-table", "t_narrow", "--background")
    followed = bulksync(store_path, "status", failing.stdout.strip(), "--follow", "--json")
    failed = json.loads(followed.stdout)
    assert (followed.returncode, failed["status"]) == (1, "failed")
    log = (store_path.parent / "logs" / f"{failed['job_id']}.log").read_text()
    assert f"{failed['job_id']}: failed after " in log and "lacks column(s) amount" in log, log
    assert ": t as t_narrow" in log  # the job is shown by where its rows go
    listed = bulksync(store_path, "jobs").stdout
    assert f"copy {source[0]} → {pg_db}: t as t_narrow" in listed, listed
    assert log.endswith("\n")


@pytest.mark.parametrize("url", ["amqp://guest:guest@127.0.0.1:9/", "redis://127.0.0.1:9/0"])
def test_an_unreachable_broker_says_why_in_one_line(store_path: Path, url: str) -> None:
    proc = bulksync(store_path, "worker", BULKSYNC_BROKER_URL=url)
    _one_line(proc, 1, "is not reachable: ")
    assert "Connection refused" in proc.stderr and "AMQPConnectionError" not in proc.stderr
    assert "guest:guest" not in proc.stderr and not store_path.exists()
