"""``bulksync migrate`` of databases shaped like real ones (an application's SQLite file, a
sample schema): keyless tables, mixed-case and reserved-word names, loose SQLite values,
63-byte name clashes, bookkeeping out of the user's way, ``--verify``, round trips.

Every check looks at the destination through its own driver (psycopg, sqlite3, PyMySQL).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest

from helpers import run_cli

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

HISTORY_ROWS = 30_000


def bulksync(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, timeout=300, COLUMNS="200")


def build_app_db(path: Path) -> None:
    """An application's SQLite file: the kinds of tables and values such files really hold."""
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE "Artist" ("ArtistId" INTEGER PRIMARY KEY AUTOINCREMENT, "Name" nvarchar(120) NOT NULL);
        CREATE TABLE "Album" ("AlbumId" integer PRIMARY KEY, "Title" varchar(160),
                              "ArtistId" int REFERENCES "Artist" ("ArtistId") ON DELETE CASCADE);
        CREATE TABLE "PlaylistTrack" ("PlaylistId" int NOT NULL, "TrackId" int NOT NULL,
                                      PRIMARY KEY ("PlaylistId", "TrackId"));
        CREATE TABLE history (at datetime, what text, n integer, raw blob);
        CREATE TABLE "user" ("order" integer PRIMARY KEY, "group" text, "select" blob);
        CREATE TABLE loose (id integer PRIMARY KEY, n integer, d datetime, s text, b boolean, r real);
        CREATE VIEW top_albums AS SELECT * FROM "Album";
        CREATE TRIGGER history_log AFTER INSERT ON history BEGIN SELECT 1; END;
        """
    )
    conn.executemany('INSERT INTO "Artist" VALUES (?, ?)', [(i, f"artist {i}") for i in (1, 2, 5, 9)])
    conn.executemany(
        'INSERT INTO "Album" VALUES (?, ?, ?)', [(i, f"title {i}", (1, 2, 5, 9)[i % 4]) for i in range(1, 40)]
    )
    conn.execute("INSERT INTO \"Album\" VALUES (77, 'orphan', 77)")  # SQLite does not enforce keys
    conn.executemany(
        'INSERT INTO "PlaylistTrack" VALUES (?, ?)', [(p, t) for p in range(1, 4) for t in range(1, 50)]
    )
    rows = [
        (f"2024-01-{1 + i % 28:02d} 10:{i % 60:02d}:00", f"event {i % 97}", i % 13, bytes([i % 256]))
        for i in range(HISTORY_ROWS)
    ]
    rows += [("2024-01-01 10:00:00", "same", 1, b"x")] * 3 + [
        (None, None, None, None)
    ] * 2  # duplicates, NULLs
    conn.executemany("INSERT INTO history VALUES (?, ?, ?, ?)", rows)
    conn.executemany('INSERT INTO "user" VALUES (?, ?, ?)', [(1, "admins", b"\x00\x01"), (2, None, None)])
    conn.executemany(
        "INSERT INTO loose VALUES (?, ?, ?, ?, ?, ?)",
        [
            (1, 5, "2024-01-01 10:00:00", "ok", 1, 1.5),
            (2, "abc", "2024-02-30 10:00:00", "fine", 2, 2.0),  # text, impossible date, boolean 2
            (3, 7.0, "2024-01-01T10:00:00Z", "a", 0, 3),  # integral REAL, ISO-8601 with T and Z
            (4, "8", "2024-01-01T12:00:00.5+02:00", "b", "1", "4.25"),  # integer and number as text
            (5, 9, "2024-01-02 00:00:00", None, None, None),
        ],
    )
    conn.execute("INSERT INTO loose VALUES (6, 10, NULL, CAST(x'ff41' AS TEXT), 1, 0)")  # invalid UTF-8
    conn.commit()
    conn.close()


@pytest.fixture
def app_db(tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    build_app_db(path)
    return path


def pg(url: str, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def history_rows_sqlite(path: Path) -> Counter[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return Counter(conn.execute("SELECT at, what, n, raw FROM history").fetchall())
    finally:
        conn.close()


def test_an_application_database_migrates_into_postgresql_as_a_dba_expects(app_db: Path, pg_db: str) -> None:
    proc = bulksync("migrate", str(app_db), pg_db, "--json")

    assert proc.returncode == 3, proc.stderr  # done, with rejected rows
    result = json.loads(proc.stdout)
    tables = {t["table"]: t for t in result["tables"]}
    assert {t["target"] for t in tables.values()} == {
        "artist",
        "album",
        "playlisttrack",
        "history",
        "user",
        "loose",
    }
    assert all(t["status"] == "succeeded" for t in tables.values())
    # names folded to lower case: no quotes needed; reserved words still work as names
    public = {r[0] for r in pg(pg_db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert public == {"artist", "album", "playlisttrack", "history", "user", "loose"}  # no bookkeeping
    assert pg(pg_db, "SELECT albumid, title, artistid FROM album WHERE albumid = 3") == [(3, "title 3", 9)]
    assert pg(pg_db, 'SELECT "order", "group", "select" FROM "user" ORDER BY 1') == [
        (1, "admins", b"\x00\x01"),
        (2, None, None),
    ]
    assert pg(pg_db, "SELECT count(*) FROM playlisttrack") == [(147,)]
    # the foreign key, under the folded names, made NOT VALID because of its orphan row
    fks = pg(pg_db, "SELECT pg_get_constraintdef(oid), convalidated FROM pg_constraint WHERE contype = 'f'")
    assert fks == [("FOREIGN KEY (artistid) REFERENCES artist(artistid) ON DELETE CASCADE NOT VALID", False)]
    assert [fk["orphans"] for fk in tables["Album"]["foreign_keys"]] == [1]
    # identity: the application's next insert without an id gets one past the copied ids
    assert pg(pg_db, "INSERT INTO artist (name) VALUES ('new') RETURNING artistid") == [(10,)]
    # the keyless table: every row, duplicates and NULL rows included
    landed = Counter(
        (a.strftime("%Y-%m-%d %H:%M:%S") if a else None, w, n, bytes(r) if r is not None else None)
        for a, w, n, r in pg(pg_db, "SELECT at, what, n, raw FROM history")
    )
    assert landed == history_rows_sqlite(app_db)
    assert tables["history"]["rows_written"] == HISTORY_ROWS + 5
    # loose values: lossless rules applied, the one row that cannot be converted rejected alone
    assert pg(
        pg_db, "SELECT id, n, to_char(d, 'YYYY-MM-DD HH24:MI:SS.MS'), s, b, r FROM loose ORDER BY id"
    ) == [
        (1, 5, "2024-01-01 10:00:00.000", "ok", True, 1.5),
        (3, 7, "2024-01-01 10:00:00.000", "a", False, 3.0),
        (4, 8, "2024-01-01 10:00:00.500", "b", True, 4.25),
        (5, 9, "2024-01-02 00:00:00.000", None, None, None),
    ]
    assert (
        tables["loose"]["rows_read"],
        tables["loose"]["rows_written"],
        tables["loose"]["rows_rejected"],
    ) == (6, 4, 2)
    assert result["rejects_table"] == "bulksync.rejects"
    rejects = dict(pg(pg_db, "SELECT row_key, reason FROM bulksync.rejects WHERE tbl = 'loose'"))
    assert set(rejects) == {"[2]", "[6]"}
    assert "column 'n': 'abc' is not a valid integer" in rejects["[2]"]
    assert "'2024-02-30 10:00:00' is not a valid date and time" in rejects["[2]"]
    assert "column 'b': '2' is not a valid boolean" in rejects["[2]"]
    assert "column 's': '\\\\xffA' is invalid UTF-8" in rejects["[6]"]
    data = json.loads(pg(pg_db, "SELECT row_data FROM bulksync.rejects WHERE row_key = '[2]'")[0][0])
    assert data["n"] == "abc" and data["d"] == "2024-02-30 10:00:00"  # the row as the source held it
    assert pg(pg_db, "SELECT count(*) FROM bulksync.sync_state") == [(0,)]  # finished: no checkpoints left
    # what is not a table is named, never dropped silently
    assert "not migrated: view top_albums" in proc.stderr
    assert "not migrated: trigger history_log on history" in proc.stderr


def test_keep_case_keeps_names_and_schema_puts_tables_elsewhere(app_db: Path, pg_db: str) -> None:
    proc = bulksync(
        "migrate", str(app_db), pg_db, "--keep-case", "--schema", "music", "--exclude", "loose", "-q"
    )

    assert proc.returncode == 0, proc.stderr
    found = {r[0] for r in pg(pg_db, "SELECT tablename FROM pg_tables WHERE schemaname = 'music'")}
    assert found == {"Artist", "Album", "PlaylistTrack", "history", "user"}
    assert pg(pg_db, 'SELECT "Title" FROM music."Album" WHERE "AlbumId" = 2') == [("title 2",)]
    assert pg(pg_db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]


def test_copy_and_verify_reach_the_tables_migrate_put_in_a_schema(app_db: Path, pg_db: str) -> None:
    """Neither had --schema: ``--dest-table music.artist`` made a table named "music.artist" in
    public, and verify said there was no such table."""
    migrated = bulksync(
        "migrate", str(app_db), pg_db, "--schema", "music", "--keep-case", "--exclude", "loose"
    )
    assert migrated.returncode == 0, migrated.stderr
    with sqlite3.connect(app_db) as conn:
        conn.execute("UPDATE Artist SET Name = 'renamed' WHERE ArtistId = 1")

    copied = bulksync(
        "copy", str(app_db), pg_db, "-t", "Artist", "--schema", "music", "--mode", "upsert", "-q"
    )
    checked = bulksync("verify", str(app_db), pg_db, "-t", "Artist", "--schema", "music")

    assert copied.returncode == 0, copied.stderr
    assert checked.returncode == 0, checked.stderr
    assert pg(pg_db, 'SELECT "Name" FROM music."Artist" WHERE "ArtistId" = 1') == [("renamed",)]
    assert pg(pg_db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]
    refused = bulksync(
        "copy", str(app_db), str(app_db.with_name("x.db")), "-t", "Artist", "--schema", "music"
    )
    assert refused.returncode == 2 and "--schema applies to a PostgreSQL destination" in refused.stderr


def test_copy_after_migrate_finds_the_folded_table_and_its_columns(app_db: Path, pg_db: str) -> None:
    """migrate folds ``Artist (ArtistId, Name)`` to ``artist (artistid, name)``: a later copy made a
    second table "Artist" beside it (or, with --dest-table artist, was refused: no ArtistId)."""
    assert bulksync("migrate", str(app_db), pg_db, "--exclude", "loose", "-q").returncode == 0
    with sqlite3.connect(app_db) as conn:
        conn.execute("UPDATE Artist SET Name = 'renamed' WHERE ArtistId = 1")

    for how in (("-t", "Artist"), ("-t", "Artist", "--dest-table", "artist")):
        copied = bulksync("copy", str(app_db), pg_db, *how, "--mode", "upsert", "--json")
        assert copied.returncode == 0, copied.stderr
        assert json.loads(copied.stdout)["rows_updated"] in (1, 0)  # the second run finds it done
    assert bulksync("verify", str(app_db), pg_db, "-t", "Artist").returncode == 0
    assert pg(pg_db, "SELECT name FROM artist WHERE artistid = 1") == [("renamed",)]
    assert pg(pg_db, "SELECT count(*) FROM pg_tables WHERE tablename ILIKE 'artist'") == [(1,)]
    # a replace makes its table as named: migrate --keep-case now makes "Artist" beside artist
    assert bulksync("migrate", str(app_db), pg_db, "--keep-case", "--exclude", "loose", "-q").returncode == 0
    assert pg(pg_db, "SELECT tablename FROM pg_tables WHERE tablename ILIKE 'artist' ORDER BY 1") == [
        ("Artist",), ("artist",)
    ]  # fmt: skip


def test_columns_equal_in_their_first_63_bytes_are_refused_before_anything_is_created(
    tmp_path: Path, pg_db: str
) -> None:
    path = tmp_path / "long.db"
    a, b = "measurement_" + "x" * 51 + "_before", "measurement_" + "x" * 51 + "_after"
    with sqlite3.connect(path) as conn:
        conn.execute(f'CREATE TABLE ok (id integer PRIMARY KEY, "{a}" real, "{b}" real)')
    proc = bulksync("migrate", str(path), pg_db)

    assert proc.returncode == 2
    line = proc.stderr.strip().splitlines()[-1]
    assert f"table 'ok': columns {a!r} and {b!r} would have one name in the destination" in line
    assert pg(pg_db, "SELECT count(*) FROM pg_namespace WHERE nspname = 'bulksync'") == [(0,)]
    assert pg(pg_db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]


def test_names_that_differ_only_in_case_are_refused_with_the_way_out(pg_db: str, pg_db2: str) -> None:
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute('CREATE TABLE people (id int PRIMARY KEY, "Name" text, name text)')
    proc = bulksync("migrate", pg_db, pg_db2)

    assert proc.returncode == 2
    assert "columns 'Name' and 'name' would have one name" in proc.stderr
    assert "--keep-case" in proc.stderr
    assert bulksync("migrate", pg_db, pg_db2, "--keep-case", "-q").returncode == 0


def test_on_bad_value_null_loads_the_row_and_records_each_value(app_db: Path, pg_db: str) -> None:
    proc = bulksync("migrate", str(app_db), pg_db, "--on-bad-value", "null", "--json", "--quiet")

    assert proc.returncode == 3, proc.stderr
    result = json.loads(proc.stdout)
    assert result["values_nulled"] == 2 and result["failed_rows"] == 0
    assert pg(pg_db, "SELECT n, d, s, b FROM loose WHERE id = 2") == [(None, None, "fine", None)]
    assert pg(pg_db, "SELECT s FROM loose WHERE id = 6") == [(None,)]
    reasons = [r[0] for r in pg(pg_db, "SELECT reason FROM bulksync.rejects ORDER BY row_key")]
    assert len(reasons) == 2 and all(r.startswith("loaded with NULL: ") for r in reasons)


def test_on_bad_value_fail_stops_the_table_names_the_value_and_leaves_no_staging_table(
    app_db: Path, pg_db: str
) -> None:
    proc = bulksync("migrate", str(app_db), pg_db, "--on-bad-value", "fail", "--workers", "1")

    assert proc.returncode == 1
    assert "table 'loose', row 2: column 'n' holds 'abc', not a valid integer" in proc.stderr
    left = {r[0] for r in pg(pg_db, "SELECT tablename FROM pg_tables WHERE tablename LIKE '%%bulksync%%'")}
    assert "loose__bulksync_new" not in left
    assert pg(pg_db, "SELECT count(*) FROM bulksync.sync_state WHERE tbl = 'loose'") == [(0,)]


def test_a_keyless_table_is_refused_by_the_modes_that_need_a_key(app_db: Path, pg_db: str) -> None:
    proc = bulksync("copy", str(app_db), pg_db, "--table", "history", "--mode", "append")

    assert proc.returncode == 2
    assert (
        "table 'history' has no primary key: name the column(s) that identify a row with --key" in proc.stderr
    )


def test_migrate_verify_agrees_with_the_result(app_db: Path, pg_db: str) -> None:
    proc = bulksync("migrate", str(app_db), pg_db, "--verify", "--json", "--quiet")

    assert proc.returncode == 3, proc.stderr
    tables = {t["table"]: t for t in json.loads(proc.stdout)["tables"]}
    assert tables["loose"]["verified"] == "equal but for 2 rejected rows"
    assert tables["loose"]["differences"] == {"missing": 2}
    for name in ("Artist", "Album", "PlaylistTrack", "history", "user"):
        assert tables[name]["verified"] == "equal", (name, tables[name])
    # a plain verify of the keyless table, against its folded name, agrees
    check = bulksync("verify", str(app_db), pg_db, "--table", "history", "--dest-table", "history", "--json")
    assert check.returncode == 0, check.stdout + check.stderr


def test_sqlite_to_sqlite_leaves_no_bookkeeping_behind(app_db: Path, tmp_path: Path) -> None:
    dest = tmp_path / "copy.db"
    proc = bulksync("migrate", str(app_db), str(dest), "--quiet")

    assert proc.returncode == 0, proc.stderr  # SQLite keeps loose values as they are: nothing rejected
    with sqlite3.connect(dest) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert not {n for n in names if "bulksync" in n}
        assert conn.execute("SELECT n, d FROM loose WHERE id = 2").fetchone() == (
            "abc",
            "2024-02-30 10:00:00",
        )
    assert Counter(history_rows_sqlite(dest)) == history_rows_sqlite(app_db)


def test_postgresql_to_sqlite_to_postgresql_round_trip(
    app_db: Path, pg_db: str, pg_db2: str, tmp_path: Path
) -> None:
    assert bulksync("migrate", str(app_db), pg_db, "--quiet", "--exclude", "loose").returncode == 0
    middle = tmp_path / "middle.db"
    there = bulksync("migrate", pg_db, str(middle), "--quiet", "--verify")
    back = bulksync("migrate", str(middle), pg_db2, "--quiet", "--verify", "--json")

    assert there.returncode == 0, there.stderr
    assert back.returncode == 0, back.stderr
    for table in ("artist", "album", "playlisttrack", "history", "user"):
        first = sorted(map(repr, pg(pg_db, f'SELECT * FROM "{table}"')))
        assert first == sorted(map(repr, pg(pg_db2, f'SELECT * FROM "{table}"'))), table
    assert all(t["verified"] == "equal" for t in json.loads(back.stdout)["tables"])


def test_a_mariadb_database_with_a_keyless_table_migrates_into_postgresql(
    mariadb_db: str, pg_db: str, mariadb_admin: Any
) -> None:
    import pymysql

    from bulksync.connectors.mysql_url import parse_mysql_url

    u = parse_mysql_url(mariadb_db)
    conn = pymysql.connect(
        host=u.host, port=u.port, user=u.user, password=u.password, database=u.database, autocommit=True
    )
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE `Orders` (`OrderId` INT AUTO_INCREMENT PRIMARY KEY, `Total` DECIMAL(10,2))")
        cur.execute("CREATE TABLE audit_log (at DATETIME, who VARCHAR(40), what TEXT)")
        cur.executemany("INSERT INTO `Orders` (`Total`) VALUES (%s)", [(i * 1.25,) for i in range(1, 501)])
        rows = [(f"2024-03-{1 + i % 28:02d} 08:00:00", f"user{i % 7}", "login") for i in range(20_000)] + [
            (None, None, None)
        ] * 2
        cur.executemany("INSERT INTO audit_log VALUES (%s, %s, %s)", rows)
    conn.close()
    proc = bulksync("migrate", mariadb_db, pg_db, "--verify", "--json", "--quiet")

    assert proc.returncode == 0, proc.stderr
    tables = {t["table"]: t for t in json.loads(proc.stdout)["tables"]}
    assert tables["audit_log"]["rows_written"] == 20_002 and tables["audit_log"]["verified"] == "equal"
    assert tables["Orders"]["target"] == "orders" and tables["Orders"]["verified"] == "equal"
    assert pg(pg_db, "SELECT count(*), count(at) FROM audit_log") == [(20_002, 20_000)]
