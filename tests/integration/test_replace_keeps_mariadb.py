"""A replace into MariaDB keeps what the old table had beyond its columns (``mysql_keep``).

The swap drops the old table, and its triggers and a user's own indexes went with it: a nightly
replace silently removed the audit triggers and the indexes the application's queries need,
with exit 0. They are made again on the new table and the result says so; one the new rows
refuse is a warning with the reason. Grants are kept by name and stay as they were."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bulksync.connectors.mysql_url import parse_mysql_url
from helpers import make_bets, mariadb_connect, run_cli

pytestmark = pytest.mark.integration

ROWS = 300
INSERT = (
    "INSERT INTO bets (id, player, channel, stake, placed_at, updated_at, settled) "
    "VALUES (-1, 'p', 'web', 1, NOW(), NOW(), 0)"
)
# created in a session without ANSI_QUOTES: "upd" is a string there, a column under ANSI_QUOTES
AUDIT = (
    "CREATE TRIGGER bets_audit AFTER UPDATE ON bets FOR EACH ROW "
    "INSERT INTO audit VALUES (NEW.id, CONCAT(\"upd\", '%'))"
)
DDL = [
    "CREATE TABLE audit (bet_id BIGINT, what VARCHAR(20))",
    # made in the reverse of their order, named against it: the order is ACTION_ORDER's
    "CREATE TRIGGER bets_aa_second BEFORE INSERT ON bets FOR EACH ROW "
    "SET NEW.player = CONCAT(NEW.player, 'b')",
    "CREATE TRIGGER bets_zz_first BEFORE INSERT ON bets FOR EACH ROW PRECEDES bets_aa_second "
    "SET NEW.player = CONCAT(NEW.player, 'a')",
    "CREATE INDEX bets_player_idx ON bets (player(10) DESC, placed_at)",
    "CREATE UNIQUE INDEX bets_placed ON bets (placed_at, id) COMMENT 'it''s unique'",
    "CREATE FULLTEXT INDEX bets_player_ft ON bets (player)",
]
TRIGGERS = (
    "SELECT TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER, ACTION_STATEMENT, SQL_MODE, "
    "DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY TRIGGER_NAME"
)
INDEXES = (
    "SELECT INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE, SUB_PART, COLLATION, INDEX_TYPE, "
    "INDEX_COMMENT FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
    "AND TABLE_NAME = 'bets' ORDER BY INDEX_NAME, SEQ_IN_INDEX"
)


def connect(url: str) -> Any:
    return mariadb_connect(url)


def execute(url: str, *statements: str, sql_mode: str | None = None) -> None:
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            if sql_mode is not None:
                cur.execute("SET SESSION sql_mode = %s", [sql_mode])
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def rows(url: str, query: str) -> list[tuple[Any, ...]]:
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return list(cur.fetchall())
    finally:
        conn.close()


def one(url: str, query: str) -> Any:
    found = rows(url, query)
    return found[0][0] if found else None


def replace(source: str, dest: str) -> list[str]:
    """Replace ``bets`` from ``source``; the warnings of the run."""
    done = run_cli("copy", source, dest, "--table", "bets", "--mode", "replace", "--json")
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["processed_rows"] == ROWS
    assert one(dest, "SELECT count(*) FROM bets") == ROWS
    warnings: list[str] = result["tables"][0]["warnings"]
    return warnings


@pytest.fixture
def source(tmp_path: Path) -> str:
    path = str(tmp_path / "source.db")
    make_bets(path, ROWS)
    return path


@pytest.fixture
def users(mariadb_db: str) -> Iterator[tuple[str, str]]:
    """A writer with every privilege on the test database only, and an application user."""
    tag = uuid.uuid4().hex[:8]
    writer, app = f"bs_keep_w_{tag}", f"bs_keep_a_{tag}"
    db = parse_mysql_url(mariadb_db).database
    execute(
        mariadb_db,
        f"CREATE USER '{writer}'@'%' IDENTIFIED BY 'pw'",
        f"CREATE USER '{app}'@'%' IDENTIFIED BY 'pw'",
        f"GRANT ALL PRIVILEGES ON `{db}`.* TO '{writer}'@'%'",
    )
    try:
        yield writer, app
    finally:
        execute(mariadb_db, f"DROP USER IF EXISTS '{writer}'@'%'", f"DROP USER IF EXISTS '{app}'@'%'")


def test_triggers_and_indexes_survive_a_replace(source: str, mariadb_db: str) -> None:
    replace(source, mariadb_db)
    assert replace(source, mariadb_db) == [], "a table bulksync made replaces without a word"
    execute(mariadb_db, *DDL)
    execute(mariadb_db, AUDIT, sql_mode="")
    triggers, indexes = rows(mariadb_db, TRIGGERS), rows(mariadb_db, INDEXES)

    warnings = replace(source, mariadb_db)

    assert rows(mariadb_db, TRIGGERS) == triggers  # order, body, sql_mode, definer
    assert rows(mariadb_db, INDEXES) == indexes  # prefix, DESC, unique, FULLTEXT, comment
    execute(mariadb_db, INSERT, "UPDATE bets SET stake = 2 WHERE id = -1")
    assert one(mariadb_db, "SELECT player FROM bets WHERE id = -1") == "pab", "BEFORE INSERT, in order"
    assert rows(mariadb_db, "SELECT bet_id, what FROM audit") == [(-1, "upd%")], "AFTER UPDATE"
    kept = [w for w in warnings if w.startswith("kept from the replaced table")]
    assert len(kept) == 1 and len(warnings) == 1, warnings
    assert "index bets_placed, bets_player_ft, bets_player_idx" in kept[0]
    assert "trigger bets_audit, bets_zz_first, bets_aa_second" in kept[0]


def test_an_index_the_new_rows_break_is_a_warning_and_the_replace_lands(source: str, mariadb_db: str) -> None:
    replace(source, mariadb_db)
    execute(
        mariadb_db, "DELETE FROM bets WHERE id > 1", "CREATE UNIQUE INDEX bets_one_channel ON bets (channel)"
    )
    warnings = replace(source, mariadb_db)
    refused = [w for w in warnings if "bets_one_channel" in w]
    assert len(refused) == 1 and "could not be made again" in refused[0] and "duplicate" in refused[0].lower()
    assert rows(mariadb_db, "SHOW INDEX FROM bets WHERE Key_name = 'bets_one_channel'") == []


def test_triggers_are_not_made_again_when_the_replace_drops_a_column(source: str, mariadb_db: str) -> None:
    """A trigger that writes a column the new table lacks would fail every later insert."""
    replace(source, mariadb_db)
    execute(
        mariadb_db,
        "ALTER TABLE bets ADD COLUMN gone VARCHAR(10)",
        "CREATE INDEX bets_gone ON bets (gone)",
        "CREATE TRIGGER t_gone BEFORE INSERT ON bets FOR EACH ROW SET NEW.gone = 'g'",
    )
    warnings = replace(source, mariadb_db)
    assert any("t_gone" in w and "not made again" in w and "gone" in w for w in warnings), warnings
    assert any("index bets_gone" in w and "went with its column" in w for w in warnings), warnings
    assert rows(mariadb_db, "SHOW TRIGGERS") == []
    execute(mariadb_db, INSERT)
    done = run_cli("copy", source, mariadb_db, "--table", "bets", "--mode", "upsert")
    assert done.returncode == 0, done.stderr


def test_a_writer_that_cannot_name_the_definer_makes_the_trigger_its_own_and_grants_stay(
    source: str, mariadb_db: str, users: tuple[str, str]
) -> None:
    writer, app = users
    definer_of = "SELECT DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_NAME = 'bets_new'"
    as_writer = mariadb_db.replace("mysql://root@", f"mysql://{writer}:pw@")
    replace(source, mariadb_db)
    execute(
        mariadb_db,
        "CREATE TABLE audit (bet_id BIGINT, what VARCHAR(20))",
        "CREATE TRIGGER bets_new AFTER INSERT ON bets FOR EACH ROW INSERT INTO audit VALUES (NEW.id, 'new')",
        f"GRANT SELECT, INSERT ON bets TO '{app}'@'%'",
        f"GRANT UPDATE (settled) ON bets TO '{app}'@'%'",
    )
    root = one(mariadb_db, definer_of)
    grants = rows(mariadb_db, f"SHOW GRANTS FOR '{app}'@'%'")
    assert any("UPDATE (`settled`)" in g[0] for g in grants), grants

    warnings = replace(source, as_writer)

    assert rows(mariadb_db, f"SHOW GRANTS FOR '{app}'@'%'") == grants
    assert one(as_writer.replace(f"{writer}:pw@", f"{app}:pw@"), "SELECT count(*) FROM bets") == ROWS
    assert one(mariadb_db, definer_of) == f"{writer}@%"
    said = [w for w in warnings if "bets_new" in w and "definer" in w]
    assert len(said) == 1 and f"not {root}" in said[0], warnings
    execute(mariadb_db, INSERT)
    assert rows(mariadb_db, "SELECT bet_id, what FROM audit") == [(-1, "new")]


def test_triggers_a_crashed_swap_left_on_the_old_table_come_back(source: str, mariadb_db: str) -> None:
    """A swap that stopped right after its rename left the triggers on ``bets__bulksync_old``;
    the next one moves them onto the table before it drops that one."""
    replace(source, mariadb_db)
    execute(
        mariadb_db,
        "CREATE TRIGGER bets_mark BEFORE INSERT ON bets FOR EACH ROW SET NEW.player = 'marked'",
        "CREATE TABLE bets_crashed LIKE bets",
        "INSERT INTO bets_crashed SELECT * FROM bets",
        "RENAME TABLE bets TO bets__bulksync_old, bets_crashed TO bets",
    )
    warnings = replace(source, mariadb_db)
    assert "bets__bulksync_old" not in {r[0] for r in rows(mariadb_db, "SHOW TABLES")}
    execute(mariadb_db, INSERT)
    assert one(mariadb_db, "SELECT player FROM bets WHERE id = -1") == "marked"
    assert any("trigger bets_mark" in w for w in warnings), warnings


def test_a_swap_retried_after_its_rename_finishes_it(source: str, mariadb_db: str) -> None:
    """The connection was lost right after the swap's rename: the retry finds the staging table
    gone and the checkpoints deleted, and finishes the swap (triggers moved off the old table,
    the old table dropped) instead of failing on the staging table (``_swapper`` in the engine
    asks ``swap_landed`` before it swaps again)."""
    from bulksync.connectors.mysql import MysqlConnector
    from bulksync.connectors.registry import open_connector

    replace(source, mariadb_db)
    execute(
        mariadb_db,
        "CREATE TRIGGER bets_mark BEFORE INSERT ON bets FOR EACH ROW SET NEW.player = 'marked'",
        "CREATE TABLE bets_loaded LIKE bets",
        "INSERT INTO bets_loaded SELECT * FROM bets",
        "RENAME TABLE bets TO bets__bulksync_old, bets_loaded TO bets",
    )
    conn = open_connector(mariadb_db)
    assert isinstance(conn, MysqlConnector)
    try:
        conn.ensure_internal_tables()  # a finished copy tidied them away; a swap has them
        final = conn.find("bets")
        assert final is not None
        assert conn.swap_landed("bets_loaded", final, "a-sync-whose-checkpoints-are-gone")
        notes = conn.swap_notes("bets")
    finally:
        conn.close()
    assert "bets__bulksync_old" not in {r[0] for r in rows(mariadb_db, "SHOW TABLES")}
    execute(mariadb_db, INSERT)
    assert one(mariadb_db, "SELECT player FROM bets WHERE id = -1") == "marked"
    assert any("trigger bets_mark" in n for n in notes), notes
