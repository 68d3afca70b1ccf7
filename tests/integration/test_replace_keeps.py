"""A replace into PostgreSQL keeps what the old table had beyond its columns (``pg_keep``).

The swap drops the old table, and in PostgreSQL its owner, grants, comments, triggers and a
user's own indexes went with it: a nightly replace run as ``postgres`` left the application's
role with "permission denied" and its audit trigger off, with exit 0. They are made again on the
new table and the result says so; one the new rows refuse is a warning with the reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from helpers import make_bets, run_cli

pytestmark = pytest.mark.integration

ROWS = 300

DDL = [
    "DROP ROLE IF EXISTS bs_keep_app",
    "DROP ROLE IF EXISTS bs_keep_owner",
    "CREATE ROLE bs_keep_app",
    "CREATE ROLE bs_keep_owner",
    "CREATE TABLE audit (bet_id bigint)",
    "CREATE FUNCTION audit_bet() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN INSERT INTO audit VALUES (NEW.id); RETURN NEW; END $$",
    "CREATE INDEX bets_player_idx ON bets (player)",
    "CREATE INDEX bets_open ON bets (lower(player)) WHERE NOT settled",
    "COMMENT ON TABLE bets IS 'every bet; 100% of them'",
    "COMMENT ON COLUMN bets.stake IS 'in EUR'",
    "GRANT SELECT, INSERT ON bets TO bs_keep_app",
    "GRANT UPDATE (settled) ON bets TO bs_keep_app",
    "GRANT SELECT ON bets TO PUBLIC",
    "CREATE TRIGGER bets_audit AFTER INSERT ON bets FOR EACH ROW EXECUTE FUNCTION audit_bet()",
    "ALTER TABLE bets OWNER TO bs_keep_owner",
]


def execute(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.encode())


def one(url: str, query: str) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(query.encode()).fetchone()
    return row[0] if row else None


def replace(source: str, dest: str) -> dict[str, Any]:
    done = run_cli("copy", source, dest, "--table", "bets", "--mode", "replace", "--json")
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["processed_rows"] == ROWS
    return result


@pytest.fixture
def source(tmp_path: Path) -> str:
    path = str(tmp_path / "source.db")
    make_bets(path, ROWS)
    return path


@pytest.fixture
def roles(pg_db: str) -> Any:
    yield
    execute(pg_db, "DROP TABLE IF EXISTS bets", "DROP OWNED BY bs_keep_app, bs_keep_owner")
    execute(pg_db, "DROP ROLE IF EXISTS bs_keep_app", "DROP ROLE IF EXISTS bs_keep_owner")


def test_owner_grants_comments_triggers_and_indexes_survive_a_replace(
    source: str, pg_db: str, roles: None
) -> None:
    replace(source, pg_db)
    execute(pg_db, *DDL)
    warnings = replace(source, pg_db)["tables"][0]["warnings"]
    assert (
        one(pg_db, "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'bets'::regclass")
        == "bs_keep_owner"
    )
    assert one(pg_db, "SELECT has_table_privilege('bs_keep_app', 'bets', 'SELECT, INSERT')") is True
    assert one(pg_db, "SELECT has_table_privilege('bs_keep_app', 'bets', 'DELETE')") is False
    assert one(pg_db, "SELECT has_column_privilege('bs_keep_app', 'bets', 'settled', 'UPDATE')") is True
    assert one(pg_db, "SELECT has_column_privilege('bs_keep_app', 'bets', 'stake', 'UPDATE')") is False
    assert one(pg_db, "SELECT relacl::text LIKE '%=r/%' FROM pg_class WHERE oid = 'bets'::regclass")  # PUBLIC
    assert one(pg_db, "SELECT obj_description('bets'::regclass, 'pg_class')") == "every bet; 100% of them"
    assert one(pg_db, "SELECT col_description('bets'::regclass, 4)") == "in EUR"
    indexes = one(
        pg_db, "SELECT array_agg(indexname::text ORDER BY indexname) FROM pg_indexes WHERE tablename = 'bets'"
    )
    assert {"bets_player_idx", "bets_open", "bets_channel_idx"} <= set(indexes)
    assert "WHERE (NOT settled)" in one(
        pg_db, "SELECT indexdef FROM pg_indexes WHERE indexname = 'bets_open'"
    )
    execute(pg_db, "INSERT INTO bets (id, player, channel, stake, placed_at, updated_at, settled) "
                   "VALUES (-1, 'p', 'web', 1, now(), now(), false)")  # fmt: skip
    assert one(pg_db, "SELECT count(*) FROM audit WHERE bet_id = -1") == 1, "the trigger no longer fires"
    kept = [w for w in warnings if w.startswith("kept from the replaced table")]
    assert len(kept) == 1 and "owner bs_keep_owner" in kept[0] and "trigger bets_audit" in kept[0]
    assert "UPDATE (settled) to bs_keep_app" in kept[0] and "index bets_open, bets_player_idx" in kept[0]


def test_an_index_the_new_rows_break_is_a_warning_and_the_replace_lands(source: str, pg_db: str) -> None:
    replace(source, pg_db)
    execute(pg_db, "DELETE FROM bets WHERE id > 1", "CREATE UNIQUE INDEX bets_one_channel ON bets (channel)")
    warnings = replace(source, pg_db)["tables"][0]["warnings"]
    assert one(pg_db, "SELECT count(*) FROM bets") == ROWS
    refused = [w for w in warnings if "bets_one_channel" in w]
    assert len(refused) == 1 and "could not be made again" in refused[0] and "duplicate" in refused[0].lower()
    assert one(pg_db, "SELECT to_regclass('bets_one_channel')") is None


def test_a_table_bulksync_made_replaces_without_a_word(source: str, pg_db: str) -> None:
    replace(source, pg_db)
    assert replace(source, pg_db)["tables"][0]["warnings"] == []


def test_row_level_security_is_said_to_be_left_behind(source: str, pg_db: str) -> None:
    replace(source, pg_db)
    execute(pg_db, "ALTER TABLE bets ENABLE ROW LEVEL SECURITY")
    warnings = replace(source, pg_db)["tables"][0]["warnings"]
    assert any("row-level security" in w for w in warnings)
