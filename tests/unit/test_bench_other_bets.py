"""The bench's second bets file (``bench/other_bets.py``): same table, other value distributions.

Derived from a 1,000-row stand-in for the generated file (the generator's schema, its kinds of
values): the columns and declared types stay, every row arrives once under a distinct new id,
and the NULL share, the text lengths and the decimals stay within what the types declare.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import sys
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: `bench`

from bench.other_bets import derive, mix63

ROWS = 1_000
SCHEMA = """
CREATE TABLE bets (
    id INTEGER NOT NULL, player_id INTEGER NOT NULL, match_id INTEGER NOT NULL,
    channel VARCHAR(2) NOT NULL, bet_type VARCHAR(24) NOT NULL, selection VARCHAR(32),
    stake NUMERIC(12, 2) NOT NULL, odds NUMERIC(8, 3) NOT NULL, potential_payout NUMERIC(14, 2),
    status VARCHAR(12) NOT NULL, placed_at DATETIME NOT NULL, settled_at DATETIME,
    updated_at DATETIME NOT NULL, is_live BOOLEAN NOT NULL, PRIMARY KEY (id)
);
CREATE INDEX ix_bets_placed_at ON bets (placed_at);
"""
DECLARED = {"selection": (32, 0), "stake": (12, 2), "odds": (8, 3), "potential_payout": (14, 2)}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("bets")
    source, target = folder / "bets.db", folder / "bets-other.db"
    with sqlite3.connect(source) as conn:
        conn.execute("PRAGMA page_size = 16384")  # what the generator leaves
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(SCHEMA)
        conn.executemany(
            "INSERT INTO bets VALUES (?, ?, ?, 'MY', 'over_under', ?, 19.73, 1.393, ?, 'won', "
            "'2025-12-06 00:00:15', ?, '2025-12-08 02:44:30', ?)",
            [
                (i, i % 97, i % 13, "over 1.5" if i % 9 else None, 27.48, "2025-12-08 02:44:30", i % 3 == 0)
                for i in range(1, ROWS + 1)
            ],
        )
    conn.close()
    derive(source, target)
    return source, target


def _rows(path: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        found = conn.execute(query).fetchall()
    conn.close()
    return found


def test_same_table_and_indexes_every_row_once(files: tuple[Path, Path]) -> None:
    source, target = files
    schema = "SELECT type, name, sql FROM sqlite_master ORDER BY name"
    assert _rows(target, schema) == _rows(source, schema)
    for pragma in ("page_size", "journal_mode"):
        assert _rows(target, f"PRAGMA {pragma}") == _rows(source, f"PRAGMA {pragma}") != [(4096,)]
    assert _rows(target, "SELECT count(*), count(DISTINCT id) FROM bets") == [(ROWS, ROWS)]
    ids = [row[0] for row in _rows(source, "SELECT id FROM bets ORDER BY id")]
    new_ids = [mix63(i, 0x2545F4914F6CDD1D) for i in ids]
    assert sorted(new_ids) == [row[0] for row in _rows(target, "SELECT id FROM bets ORDER BY id")]
    assert new_ids != sorted(new_ids)  # written in an order unrelated to the keys
    assert max(new_ids) > 2**62 and min(new_ids) >= 0


def test_nulls_near_thirty_percent_in_each_nullable_column(files: tuple[Path, Path]) -> None:
    _, target = files
    for column in ("selection", "potential_payout", "settled_at"):
        ((nulls,),) = _rows(target, f"SELECT count(*) FROM bets WHERE {column} IS NULL")
        assert 0.25 * ROWS < nulls < 0.35 * ROWS, column
    ((live,),) = _rows(target, "SELECT sum(is_live) FROM bets")
    assert 0 < live < 0.06 * ROWS


def test_values_fill_but_never_exceed_the_declared_types(files: tuple[Path, Path]) -> None:
    _, target = files
    selections = _rows(target, "SELECT selection FROM bets WHERE selection IS NOT NULL")
    assert {len(str(s)) for (s,) in selections} == {DECLARED["selection"][0]}
    assert {len(c.encode()) for (s,) in selections for c in str(s)} == {1, 2, 3, 4}  # UTF-8 bytes
    for column in ("stake", "odds", "potential_payout"):
        precision, scale = DECLARED[column]
        values = [Decimal(repr(v)) for (v,) in _rows(target, f"SELECT {column} FROM bets") if v is not None]
        digits = [len(v.as_tuple().digits) for v in values]
        assert all(-v.as_tuple().exponent <= scale for v in values if v.as_tuple().exponent < 0), column
        assert all(v < Decimal(10) ** (precision - scale) for v in values), column
        assert max(digits) == precision, column  # some use every digit
    stamps = [dt.datetime.fromisoformat(str(s)) for (s,) in _rows(target, "SELECT placed_at FROM bets")]
    assert sum(bool(s.microsecond) for s in stamps) > 0.99 * ROWS
    assert min(stamps).year < 1970 and max(stamps).year > 2030
    assert _rows(target, "SELECT count(*) FROM bets WHERE updated_at < coalesce(settled_at, placed_at)") == [
        (0,)
    ]
