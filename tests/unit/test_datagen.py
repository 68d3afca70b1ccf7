"""The betting dataset generator: determinism, relationships, invariants, scales and SQLite output."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from bulksync.connectors.registry import open_connector
from bulksync.datagen import SCALES, TABLES, generate, iter_batches, make_plan
from bulksync.datagen import plan as plan_module
from bulksync.datagen.write import load, prepare
from bulksync.errors import UsageError

SMALL = {"players": 400, "matches": 900, "bets": 12_000, "odds": 3_000, "statcast": 3_000}
NOW = dt.datetime(2026, 11, 1)


def table(name: str, *, seed: int = 42, rows: dict[str, int] | None = None) -> pa.Table:
    plan = make_plan("small", seed=seed, rows_override=rows or SMALL)
    return pa.Table.from_batches(list(iter_batches(plan, name, batch_rows=5_000)))


@pytest.fixture(scope="module")
def data() -> dict[str, pa.Table]:
    return {name: table(name) for name in TABLES}


def test_the_same_seed_gives_the_same_rows() -> None:
    for name in TABLES:
        assert table(name).equals(table(name)), name


def test_another_seed_gives_other_rows() -> None:
    for name in TABLES:
        assert not table(name).equals(table(name, seed=7)), name


def test_a_table_generated_alone_equals_the_same_table_in_a_full_dataset() -> None:
    alone = make_plan("small", tables=["bets"])
    full = make_plan("small")
    got = [b for _, b in zip(range(2), iter_batches(alone, "bets", batch_rows=5_000), strict=False)]
    want = [b for _, b in zip(range(2), iter_batches(full, "bets", batch_rows=5_000), strict=False)]
    assert len(got) == 2 and all(a.equals(b) for a, b in zip(got, want, strict=True))
    assert alone.players == 10_000 and alone.matches == 50_000


def test_event_rows_are_numbered_in_time_order(data: dict[str, pa.Table]) -> None:
    """As auto-increment ids of a live system are (and the time indexes build from sorted input)."""
    for name, column in (("bets", "placed_at"), ("odds", "recorded_at"), ("statcast", "event_time")):
        instants = data[name][column].cast(pa.int64()).to_numpy()
        assert (instants[1:] >= instants[:-1]).all(), name
        first, last = pc.min(data[name][column]).as_py(), pc.max(data[name][column]).as_py()
        assert last - first > dt.timedelta(days=300), name


def test_bets_and_prices_are_made_before_kick_off_or_during_play(data: dict[str, pa.Table]) -> None:
    bets, odds = data["bets"], data["odds"]
    created = lookup(data, "players", "created_at", bets["player_id"])
    starts = lookup(data, "matches", "start_time", bets["match_id"])
    live = bets["is_live"].to_pylist()
    assert 0 < sum(live) < len(live) * 0.3  # 900 fixtures in a year: often none is being played
    dense = make_plan("small", tables=["bets"], rows_override={"bets": 5_000})  # 50,000 fixtures
    (spread,) = iter_batches(dense, "bets", batch_rows=5_000)
    assert 0.25 < pc.mean(spread["is_live"].cast(pa.int8())).as_py() < 0.32
    placed = bets["placed_at"].to_pylist()
    for at, start, in_play, signed_up in zip(placed, starts, live, created, strict=True):
        assert signed_up <= at, (at, signed_up)
        assert start <= at < start + dt.timedelta(hours=2) if in_play else at < start, (at, start, in_play)
    starts = lookup(data, "matches", "start_time", odds["match_id"])
    for at, start in zip(odds["recorded_at"].to_pylist(), starts, strict=True):
        assert at < start + dt.timedelta(hours=2), (at, start)


def test_batches_match_the_declared_schema_and_required_columns_have_no_nulls(
    data: dict[str, pa.Table],
) -> None:
    for name, schema in TABLES.items():
        got = data[name]
        assert got.schema.equals(schema.arrow_schema()), name
        assert got.num_rows == SMALL[name]
        assert got["id"].to_pylist() == list(range(1, SMALL[name] + 1))
        for col in schema.columns:
            if not col.nullable:
                assert got[col.name].null_count == 0, f"{name}.{col.name}"
        assert "updated_at" in schema.names


def test_the_bets_table_has_the_fourteen_agreed_columns() -> None:
    assert TABLES["bets"].names == [
        "id",
        "player_id",
        "match_id",
        "channel",
        "bet_type",
        "selection",
        "stake",
        "odds",
        "potential_payout",
        "status",
        "placed_at",
        "settled_at",
        "updated_at",
        "is_live",
    ]
    assert TABLES["bets"].primary_key == ("id",)


def in_range(values: pa.ChunkedArray, high: int) -> bool:
    return bool(pc.min(values).as_py() >= 1 and pc.max(values).as_py() <= high)


def test_references_point_at_existing_rows(data: dict[str, pa.Table]) -> None:
    assert in_range(data["bets"]["player_id"], SMALL["players"])
    assert in_range(data["bets"]["match_id"], SMALL["matches"])
    assert in_range(data["odds"]["match_id"], SMALL["matches"])
    assert in_range(data["statcast"]["match_id"], SMALL["matches"])
    assert in_range(data["statcast"]["player_id"], SMALL["players"])


def lookup(data: dict[str, pa.Table], ref: str, column: str, ids: pa.ChunkedArray) -> list[object]:
    values: list[object] = data[ref][column].take(pc.subtract(ids, 1)).to_pylist()
    return values


def test_bets_agree_with_their_player_and_match(data: dict[str, pa.Table]) -> None:
    bets = data["bets"]
    assert bets["channel"].to_pylist() == lookup(data, "players", "channel", bets["player_id"])
    match_status = lookup(data, "matches", "status", bets["match_id"])
    void = [s == "void" for s in bets["status"].to_pylist()]
    assert void == [s == "cancelled" for s in match_status]
    assert set(bets["channel"].to_pylist()) == {"VN", "TH", "MY", "PH"}


def test_bet_lifecycle_invariants(data: dict[str, pa.Table]) -> None:
    rows = data["bets"].to_pylist()
    statuses = {r["status"] for r in rows}
    assert statuses == {"pending", "won", "lost", "void", "cashout"}
    for r in rows:
        assert (r["settled_at"] is None) == (r["status"] == "pending"), r
        assert r["updated_at"] >= r["placed_at"], r
        assert r["settled_at"] is None or r["updated_at"] >= r["settled_at"] >= r["placed_at"], r
        assert NOW - dt.timedelta(days=365) <= r["placed_at"] <= NOW, r
        assert r["updated_at"] <= NOW, r
        assert (r["potential_payout"] is None) == (r["status"] == "void"), r
        assert (r["selection"] is None) == (r["bet_type"] == "accumulator"), r
        assert r["stake"] > 0 and r["odds"] > 1, r


def test_statcast_only_records_played_matches(data: dict[str, pa.Table]) -> None:
    stats = data["statcast"]
    assert set(lookup(data, "matches", "status", stats["match_id"])) == {"finished"}
    starts = lookup(data, "matches", "start_time", stats["match_id"])
    for start, at in zip(starts, stats["event_time"].to_pylist(), strict=True):
        assert start <= at <= NOW


def test_every_updated_at_is_in_the_past_and_after_creation(data: dict[str, pa.Table]) -> None:
    for name in TABLES:
        assert pc.max(data[name]["updated_at"]).as_py() <= NOW, name
    players = data["players"]
    assert pc.all(pc.greater_equal(players["updated_at"], players["created_at"])).as_py()
    assert len(set(players["username"].to_pylist())) == players.num_rows
    assert players["username"][122].as_py() == "player_000123"


@pytest.mark.parametrize(
    ("scale", "total"),
    [("small", 560_000), ("medium", 2_560_000), ("large", 12_800_000), ("xlarge", 55_000_000)],
)
def test_scales_hit_the_seed_totals_with_bets_the_biggest(scale: str, total: int) -> None:
    plan = make_plan(scale)
    assert plan.total == total
    assert max(plan.rows, key=lambda name: plan.rows[name]) == "bets"


def test_overrides_and_selection_set_row_counts() -> None:
    plan = make_plan("medium", tables=["bets"], rows_override={"bets": 1_000_000})
    assert plan.rows == {"bets": 1_000_000}
    assert (plan.players, plan.matches) == (SCALES["medium"]["players"], SCALES["medium"]["matches"])


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"scale": "huge"}, "unknown scale 'huge' (valid: small, medium, large, xlarge)"),
        ({"tables": ["wagers"]}, "unknown table 'wagers' (valid: players, matches, bets"),
        ({"rows_override": {"bet": 5}}, "unknown table 'bet'"),
        ({"rows_override": {"bets": -1}}, "must not be negative"),
        ({"seed": -3}, "non-negative"),
    ],
)
def test_bad_requests_are_usage_errors(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(UsageError, match=words.replace("(", r"\(").replace(")", r"\)")):
        make_plan(**kwargs)  # type: ignore[arg-type]


def test_generate_writes_tables_and_indexes_into_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "bets.db"
    seen: list[tuple[str, int, int]] = []
    rows = generate(str(path), rows_override=SMALL, batch_rows=5_000, on_progress=lambda *a: seen.append(a))
    assert rows == SMALL
    with sqlite3.connect(path) as db:
        for name, count in SMALL.items():
            assert db.execute(f"SELECT COUNT(*) FROM {name}").fetchone() == (count,)
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        stake = db.execute("SELECT SUM(stake) FROM bets").fetchone()[0]
        pending = db.execute(
            "SELECT COUNT(*) FROM bets WHERE (settled_at IS NULL) <> (status = 'pending')"
        ).fetchone()
        intact = db.execute("PRAGMA integrity_check").fetchone()
    assert {ix.name for t in TABLES.values() for ix in t.indexes} <= indexes
    assert stake == pytest.approx(float(pc.sum(table("bets")["stake"]).as_py()))
    assert pending == (0,)
    assert intact == ("ok",)
    assert ("bets", 5_000, 12_000) in seen and ("bets", 12_000, 12_000) in seen
    assert seen[-1] == ("statcast", 3_000, 3_000)


def test_generate_replaces_or_refuses_existing_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    assert generate(url, tables=["players"], rows_override={"players": 50}) == {"players": 50}
    assert generate(url, tables=["players"], rows_override={"players": 70}) == {"players": 70}
    with pytest.raises(UsageError, match="table 'players' already exists"):
        generate(url, tables=["players"], replace=False)


def test_a_generator_failure_reaches_the_caller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_: object) -> pa.RecordBatch:
        raise RuntimeError("generator broke")

    monkeypatch.setitem(plan_module.BUILDERS, "odds", (4, broken))
    with pytest.raises(RuntimeError, match="generator broke"):
        generate(str(tmp_path / "x.db"), rows_override=SMALL)
    assert list(tmp_path.iterdir()) == []  # no half-filled file, no scratch file


def test_a_new_sqlite_file_holds_what_the_sqlite_connector_would_have_written(tmp_path: Path) -> None:
    """The fast path (scratch file, storage conversion on the generator thread) changes no row,
    no stored type and no DDL."""
    rows = {"players": 300, "matches": 700, "bets": 9_000, "odds": 2_000, "statcast": 2_000}
    fast, slow = tmp_path / "fast.db", tmp_path / "slow.db"
    generate(str(fast), rows_override=rows, batch_rows=4_000)
    plan = make_plan("small", rows_override=rows)
    conn = open_connector(str(slow), create=True)
    try:
        prepare(conn, plan, replace=True)

        def write(name: str, batch: pa.RecordBatch) -> None:
            with conn.transaction() as tx:
                tx.write(name, batch)

        load(plan, write=write, index=lambda name: conn.create_indexes(TABLES[name]),
             batch_rows=4_000, on_progress=None)  # fmt: skip
    finally:
        conn.close()
    assert stored(fast) == stored(slow)
    with sqlite3.connect(fast) as db:
        settings = [db.execute(f"PRAGMA {p}").fetchone()[0] for p in ("journal_mode", "page_size")]
    assert settings == ["wal", 16384]
    assert not [p.name for p in tmp_path.iterdir() if ".partial" in p.name]


def stored(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row with each value's storage class, and the DDL, of a SQLite file."""
    with sqlite3.connect(path) as db:
        found = {"ddl": db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()}
        for name, schema in TABLES.items():
            cols = ", ".join(f"{c}, typeof({c})" for c in schema.names)
            found[name] = db.execute(f"SELECT {cols} FROM {name} ORDER BY id").fetchall()
    return found


def test_generating_into_an_existing_file_keeps_its_other_tables(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    generate(str(path), tables=["players"], rows_override={"players": 40})
    generate(str(path), tables=["bets"], rows_override={"bets": 500})
    with sqlite3.connect(path) as db:
        counts = [db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("players", "bets")]
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    assert counts == [40, 500]
    assert mode == "wal"


def test_an_empty_table_is_still_created_with_its_indexes(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    assert generate(str(path), tables=["odds"], rows_override={"odds": 0}) == {"odds": 0}
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM odds").fetchone() == (0,)
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert names >= {"ix_odds_match_id", "ix_odds_recorded_at"}


def test_until_moves_the_whole_year_to_end_that_day_keeping_weekends() -> None:
    """``until``: the year of bets ends that day (as `bulksync generate` does with today); the
    default keeps the fixed year, so a seed alone gives the same rows on any day."""
    until = dt.date(2027, 3, 14)
    moved = make_plan("small", tables=["bets"], rows_override={"bets": 20_000}, until=until)
    fixed = make_plan("small", tables=["bets"], rows_override={"bets": 20_000})
    placed = pa.concat_arrays([b["placed_at"] for b in iter_batches(moved, "bets")])
    before = pa.concat_arrays([b["placed_at"] for b in iter_batches(fixed, "bets")])
    assert pc.max(placed).as_py().date() == until and moved.until == until
    assert pc.min(placed).as_py().date() >= until - dt.timedelta(days=366)
    assert pc.max(before).as_py().date() == fixed.until == dt.date(2026, 10, 31)
    weekdays = pc.day_of_week(placed).to_pylist()  # 5, 6: Saturday, Sunday, where they fall now
    weekend = sum(d >= 5 for d in weekdays) / 2
    assert weekend > 1.15 * sum(d < 5 for d in weekdays) / 5
