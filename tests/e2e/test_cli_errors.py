"""Bad input: one clear line on stderr, exit 1 (2 for usage), no traceback, nothing changed."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from helpers import make_bets, pg_database, pg_tables

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def bulksync(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bulksync", *args], capture_output=True, text=True, timeout=60, check=False
    )


def assert_error_line(proc: subprocess.CompletedProcess[str], code: int, *fragments: str) -> str:
    """The command failed with ``code`` and said why in exactly one line containing ``fragments``."""
    assert "Traceback" not in proc.stderr
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert proc.stdout == ""
    return lines[0]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file with ``bets``; the commands here only read it."""
    path = str(tmp_path_factory.mktemp("source") / "source.db")
    make_bets(path, 50)
    return path


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    """Where a SQLite destination would be created: it must not be."""
    return tmp_path / "dest.db"


@pytest.fixture(scope="module")
def pg_dest(pg_admin: psycopg.Connection[Any]) -> Iterator[str]:
    """A PostgreSQL destination holding one unrelated table ``x`` with one row; no test may change it."""
    with pg_database(pg_admin) as url:
        with psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE x (id int PRIMARY KEY)")
            conn.execute("INSERT INTO x VALUES (1)")
        yield url


def assert_untouched(pg_url: str) -> None:
    """The destination still answers, still has ``x`` with its row, and nothing else was created."""
    assert pg_tables(pg_url) == {"x"}
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT id FROM x").fetchall() == [(1,)]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--table", "nope"], ["'nope'", "does not exist", "(tables: bets)"]),
        (["--table", "bets", "--where", "nocol=1"], ["'bets'", "no column 'nocol'", "columns: id, player"]),
        (["--table", "bets", "--mode", "incremental", "--cursor", "nocol"], ["no column 'nocol'"]),
    ],
)
def test_names_missing_from_the_source_catalog(
    source: str, dest: Path, args: list[str], fragments: list[str]
) -> None:
    proc = bulksync("copy", source, str(dest), *args)

    assert_error_line(proc, 1, *fragments)
    assert not dest.exists()


def test_missing_sqlite_source(tmp_path: Path, dest: Path) -> None:
    missing = tmp_path / "nowhere.db"

    proc = bulksync("copy", str(missing), str(dest), "--table", "bets")

    assert_error_line(proc, 1, "nowhere.db", "does not exist")
    assert not missing.exists()
    assert not dest.exists()


def test_unreachable_server(dest: Path) -> None:
    proc = bulksync("copy", "postgresql://postgres@127.0.0.1:1/postgres", str(dest), "--table", "bets")

    assert_error_line(proc, 1, "cannot connect", "127.0.0.1:1")
    assert not dest.exists()


def test_misspelled_database_name(source: str, pg_dest: str) -> None:
    typo = pg_dest + "_typo"

    proc = bulksync("copy", source, typo, "--table", "bets")

    assert_error_line(proc, 1, "cannot connect", f'database "{typo.rsplit("/", 1)[1]}" does not exist')
    assert_untouched(pg_dest)


@pytest.mark.parametrize("side", ["source", "destination"])
def test_wrong_credentials_never_show_the_password(source: str, dest: Path, pg_dest: str, side: str) -> None:
    bad = pg_dest.replace("postgresql://postgres@", "postgresql://nosuchuser:secret@")
    args = [bad, str(dest)] if side == "source" else [source, bad]

    proc = bulksync("copy", *args, "--table", "bets")

    line = assert_error_line(proc, 1, "cannot connect", "nosuchuser")
    assert "secret" not in proc.stderr + proc.stdout
    assert "nosuchuser:***@" in line
    assert not dest.exists()
    assert_untouched(pg_dest)


@pytest.mark.parametrize(
    ("password", "said"),
    [
        ("s3c ret pw", "unexpected spaces"),  # libpq: unexpected spaces found in "s3c ret pw"
        ("s3cretpw%", "percent-encoded"),  # invalid percent-encoded token: "s3cretpw%"
        ("s3c@ret#pw", "resolve host"),  # failed to resolve host 'ret'
    ],
)
def test_a_url_the_driver_cannot_parse_never_shows_the_password(
    source: str, pg_dest: str, password: str, said: str
) -> None:
    """The URL was shown with '***', but libpq's own message quoted the password (or a piece
    of it) it could not parse."""
    bad = pg_dest.replace("postgresql://postgres@", f"postgresql://postgres:{password}@")
    proc = bulksync("copy", bad, source, "--table", "bets")
    line = assert_error_line(proc, 1, "cannot connect", said)
    for piece in ("s3c", "ret pw", "s3cretpw", "ret#pw"):
        assert piece not in proc.stderr + proc.stdout, line


@pytest.mark.parametrize(
    ("args", "said"),
    [
        pytest.param(
            ["--table", "bets; DROP TABLE x"], "table 'bets; DROP TABLE x' does not exist", id="table"
        ),
        pytest.param(["--table", 'a"b'], "table 'a\"b' does not exist", id="quote"),
        pytest.param(["--table", "t --"], "table 't --' does not exist", id="comment"),
        pytest.param(
            ["--table", "bets`; DROP TABLE x"], "table 'bets`; DROP TABLE x' does not exist", id="tick"
        ),
        pytest.param(
            ["--table", "bets", "--where", "id) OR 1=1; DROP TABLE x; --=1"],
            "no column 'id) OR 1'",
            id="where",
        ),
        pytest.param(["--table", "bets", "--key", 'id" DESC; --'], "no column 'id\" DESC; --'", id="key"),
    ],
)
def test_injection_shaped_names_are_not_in_the_catalog(
    source: str, pg_dest: str, args: list[str], said: str
) -> None:
    """Names are looked up in the source catalog and quoted everywhere: an injection-shaped
    name is a table or column the source does not have."""
    proc = bulksync("copy", source, pg_dest, *args)

    assert_error_line(proc, 1, said)
    assert_untouched(pg_dest)


@pytest.mark.parametrize("name", ["a\nb", "a\x01b", "", "t" * 256])
def test_a_name_no_database_could_hold_is_bad_usage(source: str, pg_dest: str, name: str) -> None:
    proc = bulksync("copy", source, pg_dest, "--table", "bets", "--dest-table", name)

    assert_error_line(proc, 2, "invalid destination table name", "without a NUL, a line break")
    assert_untouched(pg_dest)


def test_a_table_name_past_the_destinations_limit_is_refused_before_anything_is_created(
    tmp_path: Path, pg_dest: str
) -> None:
    """80 bytes: PostgreSQL would cut the name to 63 (maybe onto another table's)."""
    src = tmp_path / "long.db"
    with sqlite3.connect(src) as conn:
        conn.execute("CREATE TABLE bets (id INTEGER PRIMARY KEY)")
        conn.execute(f'CREATE TABLE "{"é" * 40}" (id INTEGER PRIMARY KEY)')

    proc = bulksync("migrate", str(src), pg_dest)

    assert_error_line(proc, 2, f"table '{'é' * 40}'", "longer than postgresql's 63 bytes", "--exclude")
    assert_untouched(pg_dest)


def test_incremental_needs_a_cursor(source: str, dest: Path) -> None:
    proc = bulksync("copy", source, str(dest), "--table", "bets", "--mode", "incremental")

    assert_error_line(proc, 2, "incremental", "--cursor")
    assert not dest.exists()


def test_unknown_url_scheme_lists_the_known_ones(source: str) -> None:
    proc = bulksync("copy", source, "oracle://user@127.0.0.1/shop", "--table", "bets")

    assert_error_line(proc, 2, "'oracle'", "(known: mariadb, memory, mysql, postgresql, sqlite)")


@pytest.mark.parametrize("side", ["source", "dest"])
def test_a_libpq_keyword_string_is_refused_and_never_becomes_a_file(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, side: str
) -> None:
    """It has no scheme, so it was taken for a SQLite path: a new file in the working folder
    whose name held the password."""
    monkeypatch.chdir(tmp_path)
    dsn = "host=127.0.0.1 user=app password=S3cr3t-pw dbname=shop"
    ends = (source, dsn) if side == "dest" else (dsn, str(tmp_path / "out.db"))
    proc = bulksync("copy", *ends, "--table", "bets")

    assert_error_line(proc, 2, "libpq's keyword form", "postgresql://user@host:5432/dbname")
    assert "S3cr3t" not in proc.stderr + proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("postgresql://app:S3cr3t-pw@[::1/shop", "Invalid IPv6 URL"),
        ("mysql://app:S3cr3t-pw@[::1:3306/shop", "Invalid IPv6 URL"),
        ("postgresql://app:S3cr3t-pw@[db1]/shop", "'db1' does not appear to be an IPv4 or IPv6 address"),
        ("mariadb://app:S3cr3t-pw@db:port/shop", "Port could not be cast to integer value as 'port'"),
    ],
)
def test_a_url_whose_host_or_port_cannot_be_read_is_one_line(source: str, url: str, fragment: str) -> None:
    """Python's URL parser raised from deep in a connector: a traceback, exit 1."""
    proc = bulksync("copy", source, url, "--table", "bets")

    assert_error_line(proc, 2, "malformed", fragment, "an IPv6 host goes in brackets")
    assert "S3cr3t" not in proc.stderr + proc.stdout


def test_dest_table_with_two_tables(source: str, dest: Path) -> None:
    proc = bulksync("copy", source, str(dest), "--table", "bets", "--table", "other", "--dest-table", "y")

    assert "Traceback" not in proc.stderr
    assert proc.returncode == 2
    said = " ".join(proc.stderr.replace("│", " ").split())
    assert "--dest-table needs exactly one --table" in said
    assert not dest.exists()


def test_unsupported_column_type_is_named_and_nothing_is_written(
    pg_admin: psycopg.Connection[Any], dest: Path
) -> None:
    with pg_database(pg_admin) as url:
        with psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE docs (id int PRIMARY KEY, body uuid)")  # jsonb travels now
            conn.execute("INSERT INTO docs VALUES (1, gen_random_uuid())")
        proc = bulksync("copy", url, str(dest), "--table", "docs")

    assert_error_line(proc, 2, "docs.body", "UUID", "cannot carry")  # a refusal: exit code 2
    assert not dest.exists()


def test_a_memory_limit_below_what_bulksync_starts_with_is_refused_before_any_row(
    source: str, dest: Path
) -> None:
    """The guard would pause every read for room it can never get: say so, and change nothing."""
    proc = bulksync("copy", source, str(dest), "--table", "bets", "--max-memory-mb", "64")
    line = assert_error_line(proc, 2, "--max-memory-mb 64 leaves no room", "give it at least")
    assert not dest.exists()
    # the value it asks for is the smallest that works (a little room above the 80 % mark), not
    # one far above it: 275 was asked for when 200 worked
    found = re.search(r"already uses (\d+) MB .* at least (\d+)$", line)
    assert found is not None, line
    uses, asked = int(found.group(1)), int(found.group(2))
    assert asked <= (uses + 48) / 0.8, line
    again = bulksync("copy", source, str(dest), "--table", "bets", "--max-memory-mb", str(asked))
    assert again.returncode == 0, again.stderr


def _sqlite_state(path: str) -> tuple[list[str], str, bytes]:
    """The file's tables, journal mode and bytes: what a refused command must leave as it was."""
    with sqlite3.connect(path) as conn:
        tables = sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    return tables, mode, Path(path).read_bytes()


def test_a_sqlite_table_copied_onto_itself_is_refused_and_the_file_untouched(source: str) -> None:
    """The same file under another spelling of its path is still the same table."""
    before = _sqlite_state(source)
    other_spelling = str(Path(source).parent / ".." / Path(source).parent.name / Path(source).name)
    proc = bulksync("copy", source, other_spelling, "--table", "bets")
    assert_error_line(proc, 2, "same table 'bets'", "--dest-table")
    assert _sqlite_state(source) == before


def test_a_pg_table_copied_onto_itself_is_refused(pg_dest: str) -> None:
    """Two spellings of one database's URL are one database."""
    other_spelling = pg_dest + "?application_name=other_spelling"
    proc = bulksync("copy", pg_dest, other_spelling, "--table", "x")
    assert_error_line(proc, 2, "same table 'x'", "--dest-table")
    assert_untouched(pg_dest)


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("BULKSYNC_CONNECTIONS", "{not json", 'field "connections" from the environment'),
        ("BULKSYNC_JOB_TRIES", "many", "job_tries"),
    ],
)
def test_a_malformed_setting_is_one_line_not_a_traceback(
    name: str, value: str, fragment: str, tmp_path: Path
) -> None:
    import os

    # `resume` reads the settings (its tries, the broker); `jobs`, `status` and `cancel` read only
    # BULKSYNC_JOB_STORE (jobs/lookup.py), so a malformed other setting does not stop them
    env = {**os.environ, name: value, "BULKSYNC_JOB_STORE": str(tmp_path / "jobs.db")}
    command = [sys.executable, "-m", "bulksync", "resume", "job_0"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert_error_line(proc, 2, fragment)
