"""A SQLite → PostgreSQL ``copy`` never imports SQLAlchemy: into an existing table, a new one, or
one it replaces; nor does a MariaDB → PostgreSQL one (``mysql_reflect`` reads its catalog).

SQLAlchemy and its PostgreSQL dialect cost 0.2-0.45 s of start-up before the first row (issue
15): both catalogs are read by hand (``sqlite_types``, ``pg_reflect``) and PostgreSQL's CREATE
TABLE is rendered as text (``pg_ddl``). The copy runs the real
entry point in a fresh interpreter and lists every module it imported at exit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers import cli_imports, make_bets, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ROWS = 500


def copy_modules(*args: str) -> set[str]:
    """The top-level packages ``bulksync copy *args --json`` imported (it must succeed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BULKSYNC_")}
    proc, found = cli_imports(["copy", *args, "--json"], env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["processed_rows"] == ROWS
    return {m.split(".")[0] for m in found}


@pytest.fixture
def source(tmp_path: Path) -> str:
    path = str(tmp_path / "source.db")
    make_bets(path, ROWS)
    return path


def test_copy_into_an_existing_table_imports_no_sqlalchemy(source: str, pg_db: str) -> None:
    made = run_cli("copy", source, pg_db, "--table", "bets", "--where", "channel=none")  # the table only
    assert made.returncode == 0, made.stderr
    found = copy_modules(source, pg_db, "--table", "bets", "--mode", "append")
    assert "pyarrow" in found and "psycopg" in found  # it did copy
    assert "sqlalchemy" not in found


def test_copy_into_a_new_table_imports_no_sqlalchemy(source: str, pg_db: str) -> None:
    assert "sqlalchemy" not in copy_modules(source, pg_db, "--table", "bets")


def test_copy_replacing_a_table_imports_no_sqlalchemy(source: str, pg_db: str) -> None:
    made = run_cli("copy", source, pg_db, "--table", "bets")
    assert made.returncode == 0, made.stderr
    assert "sqlalchemy" not in copy_modules(source, pg_db, "--table", "bets", "--mode", "replace")


def test_copy_from_mariadb_imports_no_sqlalchemy(source: str, pg_db: str, mariadb_db: str) -> None:
    made = run_cli("copy", source, mariadb_db, "--table", "bets")  # (creating it does import it)
    assert made.returncode == 0, made.stderr
    found = copy_modules(mariadb_db, pg_db, "--table", "bets")
    assert "connectorx" in found  # it did read MariaDB
    assert "sqlalchemy" not in found
