"""``bulksync copy`` and ``migrate`` as a user runs them: results, progress, summary and help."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bulksync.connectors.registry import open_connector
from helpers import bets_schema, expected_rows, make_bets, run_cli, sqlite_indexes, table_rows, write_bets

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ROWS = 2000
ENV_VARS = (
    "BULKSYNC_MODE",
    "BULKSYNC_PARTITIONS",
    "BULKSYNC_MAX_MEMORY_MB",
    "BULKSYNC_BATCH_MB",
    "BULKSYNC_STATEMENT_TIMEOUT",
    "BULKSYNC_RETRIES",
)


def bulksync(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI without a terminal (pipes), on an 80-column screen, with extra ``env``."""
    return run_cli(*args, **env)


@pytest.fixture
def source(tmp_path: Path) -> str:
    path = str(tmp_path / "source.db")
    make_bets(path, ROWS)
    return path


def test_json_result_has_every_field(source: str, pg_db: str) -> None:
    # BULKSYNC_BATCH_MB from the environment: small batches, so there are several
    began = time.time()
    proc = bulksync("copy", source, pg_db, "--table", "bets", "--json", BULKSYNC_BATCH_MB="0.05")
    wall = time.time() - began

    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "succeeded"
    assert (result["total_rows"], result["processed_rows"], result["failed_rows"]) == (ROWS, ROWS, 0)
    assert result["batch_count"] > 1
    for field in ("duration_s", "avg_batch_s", "memory_peak_mb", "rows_per_s"):
        assert isinstance(result[field], int | float) and result[field] > 0, field
    assert result["avg_batch_s"] <= result["duration_s"]
    # first_batch_s: from the sync's start (planning included); the CLI adds the time from the
    # process's start (interpreter and imports included): both within the process's wall time
    first, from_start = result["first_batch_s"], result["first_batch_from_process_start_s"]
    assert 0 < first < from_start < wall
    assert table_rows(pg_db, "bets") == expected_rows(range(1, ROWS + 1))


def test_without_a_terminal_progress_is_plain_lines_on_stderr(source: str, tmp_path: Path) -> None:
    dest = tmp_path / "dest.db"

    proc = bulksync("copy", source, str(dest), "--table", "bets")

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "\x1b[" not in proc.stderr  # no cursor movement or colours: a log, not a live bar
    progress = [line for line in proc.stderr.splitlines() if line.startswith("bets: ")]
    assert progress, proc.stderr
    assert all(re.search(r"[\d,]+/[\d,]+ rows .* rows/s ETA ", line) for line in progress)
    assert progress[-1].startswith(f"bets: done {ROWS:,}/{ROWS:,} rows (100.0%)")
    assert "bulksync: succeeded" in proc.stderr
    totals = " ".join(proc.stderr.split())
    assert f"total {ROWS:,} · processed {ROWS:,} · failed/rejected 0" in totals
    assert re.search(r"[\d,]+ rows/s$", totals)
    assert table_rows(str(dest), "bets") == expected_rows(range(1, ROWS + 1))


def test_migrate_copies_every_table(source: str, tmp_path: Path) -> None:
    conn = open_connector(source)
    try:
        conn.create_table(bets_schema("wagers"), with_indexes=True)
    finally:
        conn.close()
    write_bets(source, range(1, 301), version=3, name="wagers")
    dest = tmp_path / "copy.db"

    proc = bulksync("migrate", source, str(dest), "--json")

    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["status"], result["processed_rows"]) == ("succeeded", ROWS + 300)
    assert sorted(t["table"] for t in result["tables"]) == ["bets", "wagers"]
    assert table_rows(str(dest), "bets") == expected_rows(range(1, ROWS + 1))
    assert table_rows(str(dest), "wagers") == expected_rows(range(1, 301), version=3)
    assert ("channel",) in sqlite_indexes(str(dest), "wagers").values()


def test_a_table_of_any_name_is_copied_and_named_as_it_is(tmp_path: Path, pg_db: str) -> None:
    """``--table 'Order "Lines"; 2024'`` and ``--dest-table``: the rows land in exactly that table,
    and the progress, the summary and the JSON name it as the user wrote it."""
    import sqlite3

    import psycopg

    name, there = 'Order "Lines"; 2024 Ünï', "Order Lines `copy`"
    src = tmp_path / "odd.db"
    with sqlite3.connect(src) as conn:
        conn.execute('CREATE TABLE "Order ""Lines""; 2024 Ünï" ("Line Id" INTEGER PRIMARY KEY, "note;" TEXT)')
        conn.executemany(
            'INSERT INTO "Order ""Lines""; 2024 Ünï" VALUES (?, ?)', [(i, f"n{i}") for i in range(1, 51)]
        )

    shown = bulksync("copy", str(src), pg_db, "--table", name, "--dest-table", there)
    as_json = bulksync(
        "copy", str(src), pg_db, "--table", name, "--dest-table", there, "--mode", "upsert", "--json"
    )

    assert shown.returncode == 0, shown.stderr
    assert f"{there}: done 50/50 rows (100.0%)" in shown.stderr  # progress names where rows go
    assert name in shown.stderr.split("bulksync: succeeded")[1]  # the summary's table column
    assert as_json.returncode == 0, as_json.stderr
    assert [t["table"] for t in json.loads(as_json.stdout)["tables"]] == [name]
    with psycopg.connect(pg_db) as conn:
        assert conn.execute('SELECT count(*), max("Line Id") FROM "Order Lines `copy`"').fetchone() == (
            50,
            50,
        )


def test_help_mentions_environment_variables() -> None:
    proc = bulksync("--help")

    assert proc.returncode == 0, proc.stderr
    assert "BULKSYNC_PARTITIONS" in proc.stdout


def test_copy_help_shows_every_environment_variable_in_full() -> None:
    proc = bulksync("copy", "--help")

    assert proc.returncode == 0, proc.stderr
    assert "--partitions" in proc.stdout and "BULKSYNC_PARTITIONS" in proc.stdout
    assert [v for v in ENV_VARS if v not in proc.stdout] == []


@pytest.mark.parametrize(
    ("args", "env", "note"),
    [
        (["--partitions", "1"], {}, None),
        (["-w", "1"], {}, "--workers is deprecated here: use --partitions"),
        (["--workers=1"], {}, "--workers is deprecated here: use --partitions"),
        ([], {"BULKSYNC_WORKERS": "1"}, "BULKSYNC_WORKERS is deprecated: use BULKSYNC_PARTITIONS"),
        ([], {"BULKSYNC_PARTITIONS": "1"}, None),
    ],
)
def test_partitions_has_its_own_name_and_the_old_one_still_works(
    source: str, tmp_path: Path, args: list[str], env: dict[str, str], note: str | None
) -> None:
    """``--workers`` meant partitions here, threads on ``serve``: each meaning has its own name,
    and scripts using the old one keep working, with a note."""
    proc = bulksync("copy", source, str(tmp_path / "d.db"), "--table", "bets", "--json", *args, **env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["processed_rows"] == ROWS
    assert (note in proc.stderr) if note else ("deprecated" not in proc.stderr), proc.stderr


def test_output_that_is_not_a_terminal_is_never_cut(source: str, tmp_path: Path) -> None:
    """In a pipe, a log or CI there is no screen width: tables and lines come out whole, and a
    number is never cut to "2,0…" (the width a terminal would have is not guessed from COLUMNS)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BULKSYNC_") and k != "COLUMNS"}
    dest = str(tmp_path / "dest.db")

    def run(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "bulksync", *args], capture_output=True, text=True, timeout=120,
            check=False, env=environ,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert "…" not in proc.stderr + proc.stdout, proc.stderr
        return proc.stderr

    copied = run("copy", source, dest, "--table", "bets")
    header = next(line for line in copied.splitlines() if "rejected" in line)
    assert all(word in header for word in ("read", "written", "rejected", "batches", "seconds")), copied
    assert re.search(r"^total 2,000 · processed 2,000 · .* rows/s$", copied, re.M), copied
    verified = run("verify", source, dest, "--table", "bets")
    row = next(line for line in verified.splitlines() if line.startswith(("│ bets", "| bets", "bets ")))
    assert row.count("2,000") == 2, verified  # source rows and dest rows, whole


def test_a_second_append_with_nothing_new_says_it_is_up_to_date(source: str, tmp_path: Path) -> None:
    """Not 'done 0/2,000 rows (0.0%)', which reads as a failure: the rows were delivered before."""
    dest = str(tmp_path / "dest.db")
    assert bulksync("copy", source, dest, "--table", "bets").returncode == 0
    again = bulksync("copy", source, dest, "--table", "bets")
    assert again.returncode == 0, again.stderr
    assert "bets: already up to date: no new rows since the last run" in again.stderr
    assert "already up to date: no new rows since the last run in bets" in again.stderr
    assert "done 0/2,000" not in again.stderr, again.stderr


def test_an_upsert_says_what_it_inserted_updated_and_left_unchanged(source: str, pg_db: str) -> None:
    """Not 'written 2,000' for a re-run that changed nothing: the database's own counts."""
    first = bulksync("copy", source, pg_db, "--table", "bets", "--mode", "upsert")
    assert first.returncode == 0, first.stderr
    assert "bets: 2,000 inserted · 0 updated · 0 unchanged" in first.stderr
    write_bets(source, range(1, 11), version=1)  # 10 changed rows
    write_bets(source, range(2_001, 2_004))  # 3 new ones
    second = bulksync("copy", source, pg_db, "--table", "bets", "--mode", "upsert", "--json")
    assert second.returncode == 0, second.stderr
    totals = json.loads(second.stdout)
    assert (totals["rows_inserted"], totals["rows_updated"], totals["rows_unchanged"]) == (3, 10, 1_990)
    assert totals["tables"][0]["rows_unchanged"] == 1_990
    third = bulksync("copy", source, pg_db, "--table", "bets", "--mode", "upsert")
    assert third.returncode == 0, third.stderr
    assert "bets: 0 inserted · 0 updated · 2,003 unchanged" in third.stderr
