"""What a command loads before it does anything: a guard on start-up time and memory.

``--version`` answers before Typer is imported; ``--help`` builds the commands without the
engine, the connectors or their drivers; ``jobs`` reads the job store without pyarrow. Each
check runs the real entry point in a fresh interpreter and lists the top-level packages it
imported (a test of what is imported, not of seconds: the machine is shared and noisy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import cli_imports

ENGINE = {"pyarrow", "numpy", "sqlalchemy", "adbc_driver_manager", "psycopg", "pymysql", "connectorx", "pgpq"}
SERVICES = {"dramatiq", "fastapi", "uvicorn", "redis", "pika", "prometheus_client"}


def modules(*args: str, env: dict[str, str] | None = None, code: int = 0) -> set[str]:
    """Every module ``bulksync *args`` imported, in a fresh interpreter (stdout, stderr: pipes)."""
    proc, found = cli_imports(args, env=env)
    assert proc.returncode == code, proc.stderr
    return found


def loaded(*args: str, env: dict[str, str] | None = None) -> set[str]:
    """The top-level packages ``bulksync *args`` imported."""
    return {m.split(".")[0] for m in modules(*args, env=env)}


def test_version_answers_before_typer_or_anything_of_bulksync_loads() -> None:
    found = loaded("--version")
    assert not found & (ENGINE | SERVICES | {"typer", "click", "rich", "pydantic", "pydantic_settings"})


# Rich draws output, aiohttp and tenacity serve HTTP sources (httpx: the tests' client),
# pydantic-settings reads settings: a command's help needs none of them (Typer itself may load
# pydantic to describe some options).
HELP_NEEDS_NONE_OF = ENGINE | SERVICES | {"rich", "aiohttp", "httpx", "tenacity", "pydantic_settings"}


@pytest.mark.parametrize(
    "args", [("copy", "--help"), ("jobs", "--help"), ("migrate", "--help"), ("stores", "sync", "--help")]
)
def test_help_builds_the_commands_without_the_engine_or_its_drivers(args: tuple[str, ...]) -> None:
    assert not loaded(*args) & HELP_NEEDS_NONE_OF


def test_the_command_list_loads_typer_and_nothing_heavier() -> None:
    assert not loaded("--help") & (HELP_NEEDS_NONE_OF | {"pydantic"})


COMMAND_MODULES = {
    f"bulksync.cli.{m}"
    for m in ("move", "generate", "verify", "jobs", "worker", "serve", "bets", "stores", "jackpot", "render")
}


@pytest.mark.parametrize("args", [(), ("--help",), ("cpy",)])
def test_the_command_list_imports_no_command_module(args: tuple[str, ...]) -> None:
    """``bulksync``, ``--help`` and an unknown name draw the list from cli/app.py's table."""
    found = modules(*args, code=0 if args == ("--help",) else 2)  # no command: usage, exit 2
    assert "bulksync.cli.app" in found and not found & COMMAND_MODULES


@pytest.mark.parametrize(
    ("args", "module"),
    [(("copy", "--help"), "bulksync.cli.move"), (("stores", "sync", "--help"), "bulksync.cli.stores")],
)
def test_a_command_imports_its_own_module_and_no_other(args: tuple[str, ...], module: str) -> None:
    found = modules(*args)
    assert module in found and not found & (COMMAND_MODULES - {module})


# `jobs`, `status` and `cancel` read a row or two: through sqlite3 or psycopg (jobs/lookup.py),
# never SQLAlchemy (0.3 s), pydantic-settings (0.2 s) or the engine. 0.90 → 0.3 s, 63 → 47 MB.
JOB_COMMANDS_NEED_NONE_OF = ENGINE | SERVICES | {"pydantic_settings"}


def test_jobs_status_and_cancel_read_the_store_without_sqlalchemy_or_the_settings(tmp_path: Path) -> None:
    from bulksync.jobs.store import JobStore

    store = JobStore(str(tmp_path / "jobs.db"))  # `jobs` never creates one
    ids = [store.create(kind="copy", spec=SPEC, max_attempts=3).id for _ in range(2)]
    store.close()
    env = {**os.environ, "BULKSYNC_JOB_STORE": str(tmp_path / "jobs.db")}
    assert not loaded("jobs", env=env) & (JOB_COMMANDS_NEED_NONE_OF | {"rich"})  # a plain listing
    assert not loaded("jobs", "--status", "queued", env=env) & JOB_COMMANDS_NEED_NONE_OF
    assert not loaded("status", ids[0], env=env) & JOB_COMMANDS_NEED_NONE_OF
    assert not loaded("status", ids[0], "--json", env=env) & JOB_COMMANDS_NEED_NONE_OF
    assert not loaded("cancel", ids[1], env=env) & JOB_COMMANDS_NEED_NONE_OF
    store = JobStore(str(tmp_path / "jobs.db"))
    assert [store.get(i).status for i in ids] == ["queued", "cancelled"]  # the cancel happened
    store.close()


SPEC = {"source": {"url": "/tmp/a.db"}, "destination": {"url": "/tmp/b.db"}, "tables": [{"name": "t"}]}


@pytest.mark.parametrize(
    ("environ", "dotenv", "expected"),
    [
        ({}, None, None),
        ({"BULKSYNC_JOB_STORE": "/srv/jobs.db"}, None, "/srv/jobs.db"),
        ({"bulksync_job_store": "/srv/lower.db"}, None, "/srv/lower.db"),  # names in any case
        ({}, "BULKSYNC_JOB_STORE=/from/dotenv.db\n", "/from/dotenv.db"),
        ({}, "export BULKSYNC_JOB_STORE='postgresql://u@h/db' # shared\n", "postgresql://u@h/db"),
        ({"BULKSYNC_JOB_STORE": "/env/wins.db"}, "BULKSYNC_JOB_STORE=/dotenv/loses.db\n", "/env/wins.db"),
        ({"BULKSYNC_JOB_STORE": ""}, "BULKSYNC_JOB_STORE=/dotenv.db\n", None),  # set but empty: none
        ({}, "BULKSYNC_JOB_STORE=\nOTHER=1\n", None),
        ({}, "BULKSYNC_JOB_STORE\n", None),  # a name without a value
    ],
)
def test_the_job_commands_read_the_store_setting_as_the_settings_do(
    environ: dict[str, str],
    dotenv: str | None,
    expected: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`jobs|status|cancel` read BULKSYNC_JOB_STORE without pydantic-settings: the same value,
    from the same places (environment over ./.env, any case), as ``Settings().job_store``."""
    from bulksync.jobs.lookup import job_store_setting
    from bulksync.settings import Settings

    for name in [n for n in os.environ if n.upper() == "BULKSYNC_JOB_STORE"]:
        monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv)
    full = Settings().job_store
    assert (full.get_secret_value() or None if full is not None else None) == expected
    assert job_store_setting() == expected


@pytest.mark.parametrize("output", ["--quiet", "--json", None])
def test_a_copy_between_paths_and_urls_never_loads_the_settings_nor_rich_in_a_pipe(
    tmp_path: Path, output: str | None
) -> None:
    """Only a bare word can name a configured connection: a path or URL is taken as given. With
    stdout and stderr not a terminal, progress and JSON are plain lines: no Rich (0.03 s) either;
    a copy that prints its summary table loads Rich for that alone."""
    import sqlite3

    src = tmp_path / "src.db"
    with sqlite3.connect(src) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, str(i)) for i in range(100)])
    env = {k: v for k, v in os.environ.items() if k not in ("TTY_COMPATIBLE", "FORCE_COLOR")}
    args = ("copy", str(src), str(tmp_path / "dst.db"), "--table", "t")
    found = loaded(*args, *([output] if output else []), env=env)
    assert "pyarrow" in found  # it did copy
    assert "pydantic_settings" not in found
    assert ("rich" in found) == (output is None)
    with sqlite3.connect(tmp_path / "dst.db") as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (100,)


def test_a_sqlite_copy_never_loads_pyarrows_datasets_or_filesystems(tmp_path: Path) -> None:
    """ADBC's DB-API module imports ``pyarrow.dataset`` for one test our data never reaches: with
    it came pyarrow's S3/GCS/HDFS/Azure filesystems, Parquet and ssl (~30 MB, 0.05-0.1 s; ssl
    still comes with SQLAlchemy or psycopg where they are needed).
    The copy writes through ``adbc_ingest`` (an upsert stages its rows there), so the stand-in
    (``connectors/adbc_dbapi.py``) served every call ADBC made."""
    import sqlite3

    src = tmp_path / "src.db"
    with sqlite3.connect(src) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, str(i)) for i in range(100)])
    for mode in ("append", "upsert"):
        args = ("copy", str(src), str(tmp_path / "dst.db"), "--table", "t", "--mode", mode, "--quiet")
        found = modules(*args)
        assert "adbc_driver_manager.dbapi" in found
        assert not found & {"pyarrow._dataset", "pyarrow._fs", "pyarrow._parquet", "pyarrow._s3fs"}
    with sqlite3.connect(tmp_path / "dst.db") as conn:
        assert conn.execute("SELECT count(*), sum(id) FROM t").fetchone() == (100, 4950)


def test_the_datasets_stand_in_becomes_the_real_module_when_used() -> None:
    probe = (
        "import sys; import bulksync.connectors.adbc_dbapi; import pyarrow as pa; "
        "assert 'pyarrow._dataset' not in sys.modules; import pyarrow.dataset as ds; "
        "d = ds.dataset(pa.table({'a': [1, 2]})); assert d.to_table().num_rows == 2; "
        "assert sys.modules['pyarrow.dataset'] is pa.dataset and hasattr(pa.dataset, 'Scanner'); "
        "print(type(pa.dataset).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "module"  # the real one, not the stand-in


def test_serve_builds_its_app_without_the_engine_or_the_http_source() -> None:
    """An idle `bulksync serve` holds the API, the job store and the jackpot: pyarrow, numpy,
    the drivers and the HTTP client load with the first job that needs them (134 → 77 MB at start)."""
    probe = (
        "import json, sys; from bulksync.api.app import create_app; create_app(); "
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    found = {m.split(".")[0] for m in json.loads(out.stdout.splitlines()[-1])}
    assert "fastapi" in found
    assert not found & (ENGINE - {"sqlalchemy", "psycopg"} | {"aiohttp", "httpx", "dramatiq", "pika"})


def test_a_workers_metrics_load_prometheus_without_the_api() -> None:
    """``bulksync worker --metrics-port`` builds its registry from ``bulksync.metrics``: no
    FastAPI, Starlette or uvicorn in a worker (they lived under ``bulksync.api`` once)."""
    probe = (
        "import json, sys; from bulksync.metrics.process import Metrics; Metrics(None); "
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    found = {m.split(".")[0] for m in json.loads(out.stdout.splitlines()[-1])}
    assert "prometheus_client" in found
    assert not found & ({"fastapi", "starlette", "uvicorn", "pydantic"} | ENGINE), found & ENGINE
