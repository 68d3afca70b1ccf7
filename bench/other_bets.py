"""The second bets file: the generated rows with other value distributions, same columns and types.

Derived deterministically from the generated file of the same size (one pass, seeded), so the
lead measured on the generated data can be checked on data no code path was tuned for:

- ``id``, ``player_id``, ``match_id``: a bijection of the generated values onto [0, 2**63), so
  keys are sparse 63-bit numbers, distinct, and written in an order unrelated to theirs;
- ``selection``, ``potential_payout``, ``settled_at``: ~30 % NULL each, independently;
- ``selection``: exactly 32 characters (the declared ``VARCHAR(32)``), mixing 1- to 4-byte UTF-8;
- ``stake`` / ``potential_payout``: drawn independently, half of them with all 12 / 14 digits of
  ``NUMERIC(12,2)`` / ``NUMERIC(14,2)``, the rest log-uniform from 0.01 (as REAL, like the
  generator's); ``odds`` log-uniform over ``NUMERIC(8,3)`` from 1.001 to 99,999.999;
- ``placed_at`` / ``settled_at`` / ``updated_at``: microseconds, spread over 1950 to 2049;
- ``is_live``: true for ~3 % of the rows (29 % in the generated file).
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.bets import COLUMNS, TABLE

SEED = 42
NULL_SHARE = 0.3
LIVE_SHARE = 0.03
SELECTION_CHARS = 32  # the generator's VARCHAR(32)
SELECTION_POOL = 4096  # distinct selections, like a real market's outcomes
STAKE_CENTS_MAX = 10**12 - 1  # NUMERIC(12,2): 9,999,999,999.99
PAYOUT_CENTS_MAX = 10**14 - 1  # NUMERIC(14,2): 999,999,999,999.99
ODDS_MILLIS_MAX = 10**8 - 1  # NUMERIC(8,3): 99,999.999
EPOCH = dt.datetime(1950, 1, 1)
SPAN_US = (dt.datetime(2050, 1, 1) - EPOCH) // dt.timedelta(microseconds=1)
SETTLE_MAX_US = 10 * 365 * 86_400 * 10**6  # settled up to ten years after being placed
UPDATE_MAX_US = 86_400 * 10**6

_MASK63 = (1 << 63) - 1
_SALTS = {"id": 0x2545F4914F6CDD1D, "player_id": 0x1B873593A3C1E5, "match_id": 0x6C8E9CF570932BD5}

# Words of 1-, 2-, 3- and 4-byte UTF-8 characters, all precomposed (one code point each), so a
# selection's length in characters is the same for SQLite, PostgreSQL and MariaDB.
_WORDS = (
    "Ünïon", "Bérlin", "München", "São Paulo", "København", "Zürich", "Kraków", "Łódź", "İstanbul",
    "Москва", "Αθήνα", "東京", "서울", "القاهرة", "ירושלים", "Hà Nội", "Ørsted", "Þór", "Ñandú",
    "over", "under", "1x2", "⚽", "🏆", "🥅", "𝄞", "🇩🇰", "½", "+0.25", "€", "—",
)  # fmt: skip


def mix63(value: int, salt: int) -> int:
    """A bijection of [0, 2**63) (xor, odd multiplications, xor-shifts): distinct in, distinct out."""
    x = (value ^ salt) & _MASK63
    x = (x * 0xBF58476D1CE4E5B9) & _MASK63
    x ^= x >> 31
    x = (x * 0x94D049BB133111EB) & _MASK63
    return x ^ (x >> 29)


def selections(rng: random.Random, count: int = SELECTION_POOL) -> list[str]:
    """``count`` selections of exactly ``SELECTION_CHARS`` characters, words joined by spaces."""
    pool = []
    for _ in range(count):
        text = ""
        while len(text) < SELECTION_CHARS:
            text += rng.choice(_WORDS) + " "
        pool.append(text[:SELECTION_CHARS])
    return pool


def _cents(rng: random.Random, maximum: int) -> int:
    """Half at full length (every digit used), half log-uniform from 1."""
    if rng.random() < 0.5:
        return rng.randrange(maximum // 10 + 1, maximum + 1)
    return min(int(10 ** rng.uniform(0, len(str(maximum)))), maximum)


def _stamp(value: dt.datetime) -> str:
    return value.isoformat(sep=" ", timespec="microseconds")


def derive_row(row: tuple[Any, ...], rng: random.Random, pool: list[str]) -> tuple[object, ...]:
    """One generated row with the other distributions (channel, bet_type, status kept)."""
    bet_id, player_id, match_id, channel, bet_type, _, _, _, _, status, *_ = row
    stake = _cents(rng, STAKE_CENTS_MAX)
    odds = max(1001, min(int(10 ** rng.uniform(3, 8)), ODDS_MILLIS_MAX))
    payout = _cents(rng, PAYOUT_CENTS_MAX)  # not stake * odds: that overflows NUMERIC(14,2)
    placed = EPOCH + dt.timedelta(microseconds=rng.randrange(SPAN_US))
    settled = None
    if rng.random() >= NULL_SHARE:
        settled = placed + dt.timedelta(microseconds=rng.randrange(1, SETTLE_MAX_US))
    updated = (settled or placed) + dt.timedelta(microseconds=rng.randrange(UPDATE_MAX_US))
    return (
        mix63(bet_id, _SALTS["id"]),
        mix63(player_id, _SALTS["player_id"]),
        mix63(match_id, _SALTS["match_id"]),
        channel,
        bet_type,
        None if rng.random() < NULL_SHARE else rng.choice(pool),
        stake / 100,  # REAL, as the generator stores decimals (whole values become INTEGER)
        odds / 1000,
        None if rng.random() < NULL_SHARE else payout / 100,
        status,
        _stamp(placed),
        None if settled is None else _stamp(settled),
        _stamp(updated),
        int(rng.random() < LIVE_SHARE),
    )


def derive(source: Path, target: Path, *, table: str = TABLE) -> None:
    """Write ``target`` from ``source``: the same schema (table and indexes), page size and
    journal mode, the rows derived.

    Rows are read in the source's id order and written under their new ids, so the table's
    b-tree is filled in random key order (its pages end up fragmented, unlike the generator's).
    """
    columns = ", ".join(c.name for c in COLUMNS)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dest = sqlite3.connect(target, isolation_level=None)
    try:
        schema = src.execute(
            "SELECT type, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL", (table,)
        ).fetchall()
        ((page_size,),) = src.execute("PRAGMA page_size").fetchall()
        ((journal_mode,),) = src.execute("PRAGMA journal_mode").fetchall()
        dest.execute(f"PRAGMA page_size = {int(page_size)}")  # before the first table: the same file shape
        dest.execute("PRAGMA journal_mode = OFF")
        dest.execute("PRAGMA synchronous = OFF")
        dest.execute("PRAGMA cache_size = -1048576")  # 1 GiB: random-order inserts touch every page
        dest.executescript(";".join(sql for kind, sql in schema if kind == "table"))
        dest.execute("BEGIN")
        rows = src.execute(f"SELECT {columns} FROM {table} ORDER BY id")
        marks = ", ".join("?" * len(COLUMNS))
        dest.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", _derived(rows))
        dest.execute("COMMIT")
        dest.executescript(";".join(sql for kind, sql in schema if kind == "index"))
        dest.execute(f"PRAGMA journal_mode = {journal_mode}")  # WAL, as the generator leaves it
    finally:
        dest.close()
        src.close()


def _derived(rows: sqlite3.Cursor) -> Iterator[tuple[object, ...]]:
    rng = random.Random(SEED)
    pool = selections(rng)
    for row in rows:
        yield derive_row(row, rng, pool)
