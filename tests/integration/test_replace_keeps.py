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


def test_row_security_and_its_policies_come_back_before_the_grants(
    source: str, pg_db: str, roles: None
) -> None:
    """A policy that cannot be made again (its column is gone) leaves row security on: the
    role's grant then reads nothing, never every row."""
    replace(source, pg_db)
    execute(
        pg_db,
        "CREATE ROLE bs_keep_app", "CREATE ROLE bs_keep_owner", "ALTER TABLE bets ADD COLUMN tenant text",
        "ALTER TABLE bets ENABLE ROW LEVEL SECURITY", "ALTER TABLE bets FORCE ROW LEVEL SECURITY",
        "CREATE POLICY web_only ON bets FOR SELECT TO bs_keep_app USING (channel = 'web')",
        "CREATE POLICY own_tenant ON bets TO bs_keep_app USING (tenant = current_user)",
        "GRANT SELECT ON bets TO bs_keep_app",
    )  # fmt: skip
    warnings = replace(source, pg_db)["tables"][0]["warnings"]
    assert one(
        pg_db, "SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE oid = 'bets'::regclass"
    )
    policies = one(pg_db, "SELECT array_agg(policyname::text) FROM pg_policies WHERE tablename = 'bets'")
    assert policies == ["web_only"]
    assert any("policy own_tenant" in w and "could not be made again" in w for w in warnings)
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("SET ROLE bs_keep_app")
        seen = conn.execute("SELECT DISTINCT channel FROM bets").fetchall()
    assert seen in ([("web",)], []), "the role reads rows its policy kept from it"


def test_triggers_keep_their_state_and_table_options_come_back(source: str, pg_db: str) -> None:
    replace(source, pg_db)
    execute(
        pg_db,
        "CREATE TABLE audit (bet_id bigint)",
        "CREATE FUNCTION audit_bet() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN INSERT INTO audit VALUES (NEW.id); RETURN NEW; END $$",
        "CREATE TRIGGER t_off AFTER INSERT ON bets FOR EACH ROW EXECUTE FUNCTION audit_bet()",
        "CREATE TRIGGER t_replica AFTER INSERT ON bets FOR EACH ROW EXECUTE FUNCTION audit_bet()",
        "ALTER TABLE bets DISABLE TRIGGER t_off",
        "ALTER TABLE bets ENABLE REPLICA TRIGGER t_replica",
        "ALTER TABLE bets SET (fillfactor = 70)",
        "ALTER TABLE bets REPLICA IDENTITY FULL",
        "CREATE STATISTICS bets_stats (dependencies) ON channel, settled FROM bets",
        "CREATE PUBLICATION bs_keep_pub FOR TABLE bets",
    )
    try:
        warnings = replace(source, pg_db)["tables"][0]["warnings"]
        states = one(
            pg_db,
            "SELECT string_agg(tgname || '=' || tgenabled::text, ',' ORDER BY tgname) FROM pg_trigger "
            "WHERE tgrelid = 'bets'::regclass AND NOT tgisinternal",
        )
        assert states == "t_off=D,t_replica=R"
        execute(pg_db, "INSERT INTO bets (id, player, channel, stake, placed_at, updated_at, settled) "
                       "VALUES (-1, 'p', 'web', 1, now(), now(), false)")  # fmt: skip
        assert one(pg_db, "SELECT count(*) FROM audit") == 0, "a disabled trigger fired"
        assert (
            one(pg_db, "SELECT reloptions::text FROM pg_class WHERE oid = 'bets'::regclass")
            == "{fillfactor=70}"
        )
        assert one(pg_db, "SELECT relreplident FROM pg_class WHERE oid = 'bets'::regclass") == "f"
        assert one(pg_db, "SELECT count(*) FROM pg_statistic_ext WHERE stxrelid = 'bets'::regclass") == 1
        assert one(pg_db, "SELECT count(*) FROM pg_publication_tables WHERE pubname = 'bs_keep_pub'") == 1
        kept = next(w for w in warnings if w.startswith("kept"))
        assert "publication bs_keep_pub" in kept and "replica identity FULL" in kept
    finally:
        execute(pg_db, "DROP PUBLICATION IF EXISTS bs_keep_pub")


def test_triggers_are_not_made_again_when_the_replace_drops_a_column(source: str, pg_db: str) -> None:
    """A trigger that writes a column the new table lacks would fail every later insert."""
    replace(source, pg_db)
    execute(
        pg_db,
        "ALTER TABLE bets ADD COLUMN gone text",
        "CREATE INDEX bets_gone ON bets (gone)",
        "CREATE FUNCTION fill_gone() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN NEW.gone := 'g'; RETURN NEW; END $$",
        "CREATE TRIGGER t_gone BEFORE INSERT ON bets FOR EACH ROW EXECUTE FUNCTION fill_gone()",
    )
    warnings = replace(source, pg_db)["tables"][0]["warnings"]
    assert any("t_gone" in w and "not made again" in w and "gone" in w for w in warnings)
    assert any("index bets_gone" in w and "went with its column" in w for w in warnings)
    execute(pg_db, "INSERT INTO bets (id, player, channel, stake, placed_at, updated_at, settled) "
                   "VALUES (-1, 'p', 'web', 1, now(), now(), false)")  # fmt: skip
    done = run_cli("copy", source, pg_db, "--table", "bets", "--mode", "upsert")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("made", "said"),
    [
        (["CREATE TABLE bets_new_part (LIKE bets)", "DROP TABLE bets",
          "CREATE TABLE bets (LIKE bets_new_part) PARTITION BY LIST (channel)",
          "CREATE TABLE bets_web PARTITION OF bets FOR VALUES IN ('web')"],
         "is partitioned (partitions: bets_web)"),
        (["CREATE TABLE bets_archive (archived date) INHERITS (bets)"],
         "has tables that inherit from it (bets_archive)"),
    ],
)  # fmt: skip
def test_a_partitioned_or_inherited_table_is_refused_before_the_first_row(
    source: str, pg_db: str, made: list[str], said: str
) -> None:
    replace(source, pg_db)
    execute(pg_db, *made)
    done = run_cli("copy", source, pg_db, "--table", "bets", "--mode", "replace")
    assert done.returncode == 1 and said in done.stderr and "--mode upsert" in done.stderr, done.stderr
    assert one(pg_db, "SELECT to_regclass('bets__bulksync_new')") is None
