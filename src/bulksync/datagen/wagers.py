"""Batches of the money side: ``bets`` players place and the ``odds`` bookmakers quote."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from bulksync.datagen.calendar import fixtures, pick_fixtures, quoting_period, timeline
from bulksync.datagen.columns import (
    decimal,
    flags,
    flat_vocab,
    lognormal_units,
    pick,
    pick_within,
    text,
    timestamps,
)
from bulksync.datagen.tables import BETS, ODDS
from bulksync.datagen.world import (
    CHANNELS,
    DAY,
    HOUR,
    MATCH_LENGTH,
    MINUTE,
    NOW,
    PERIOD_START,
    Draw,
    Ints,
    match_cancelled,
    match_start,
    player_channel,
)

BET_TYPES = (
    "1x2",
    "asian_handicap",
    "over_under",
    "correct_score",
    "both_teams_score",
    "moneyline",
    "accumulator",
)
BET_TYPE_WEIGHTS = (30.0, 20.0, 18.0, 5.0, 7.0, 10.0, 10.0)
ACCUMULATOR = BET_TYPES.index("accumulator")
# Per bet type: what was backed; an accumulator has many legs, so no single selection (NULL).
BET_SELECTIONS = (
    ("home", "draw", "away"),
    ("home -0.5", "away +0.5", "home -1.5", "away +1.5", "home -0.25", "away +0.25"),
    ("over 2.5", "under 2.5", "over 3.5", "under 3.5", "over 1.5"),
    ("1-0", "2-1", "0-0", "1-1", "2-0", "0-1", "1-2", "3-1"),
    ("yes", "no"),
    ("home", "away"),
    ("-",),
)
BET_STATUSES = ("pending", "won", "lost", "void", "cashout")
PENDING, WON, LOST, VOID, CASHOUT = range(5)

MARKETS = ("1x2", "asian_handicap", "over_under", "both_teams_score")
MARKET_SELECTIONS = (("home", "draw", "away"), ("home", "away"), ("over", "under"), ("yes", "no"))
BOOKMAKERS = ("Pinnacle", "SBOBET", "188BET", "Bet365", "M88", "FB88", "W88", "Dafabet")


FLAT_BET_SELECTIONS = flat_vocab(BET_SELECTIONS)
FLAT_MARKET_SELECTIONS = flat_vocab(MARKET_SELECTIONS)


def _lead(rng: np.random.Generator, n: int) -> Ints:
    """How long before kick-off a pre-match bet or price is made: minutes to three days."""
    return np.minimum(rng.exponential(DAY, n), 3 * DAY - 2 * MINUTE).astype(np.int64) + MINUTE


def _settle(rng: np.random.Generator, d: Draw, match_id: Ints, placed: Ints, odds: Ints) -> tuple[Ints, Ints]:
    """Each bet's status and settlement time (meaningless where the status is pending)."""
    n = d.n
    start = match_start(match_id, seed=d.seed, matches=d.matches)
    end = start + MATCH_LENGTH
    settle = end + rng.exponential(20 * MINUTE, n).astype(np.int64)
    cancelled = match_cancelled(match_id, seed=d.seed)
    unsettled = (settle > NOW) | (rng.random(n) < 0.005)  # not over yet, or held for review
    cashout = rng.random(n) < 0.05
    won = rng.random(n) < 930.0 / odds  # a 7 % margin on fair odds
    status = np.select([cancelled, unsettled, cashout, won], [VOID, PENDING, CASHOUT, WON], default=LOST)
    cashed = placed + (rng.random(n) * (np.minimum(end, NOW) - placed)).astype(np.int64)
    voided = np.minimum(np.maximum(placed + MINUTE, start), NOW)
    settled = np.select([status == VOID, status == CASHOUT], [voided, cashed], default=settle)
    return status, settled


def build_bets(d: Draw) -> pa.RecordBatch:
    """Bets in the order they were placed, before kick-off or in play: settled ones, and pending
    ones on matches not yet over."""
    rng, n = d.rng, d.n
    every = fixtures(d.seed, d.matches)
    # from a day into the period: every player has signed up by then (see ``build_players``)
    lo, hi = quoting_period(every, earliest=PERIOD_START + DAY, lead=3 * DAY)
    placed = timeline(rng, d.ids, d.rows, lo=lo, hi=hi, shift_days=d.shift_days)
    match_id, live = pick_fixtures(rng, every, placed, seed=d.seed, in_play=0.3, lead=_lead(rng, n))
    player_id = (d.players * rng.random(n) ** 2).astype(np.int64) + 1  # old accounts bet more
    bet_type = pick(rng, n, BET_TYPE_WEIGHTS)
    accumulator = bet_type == ACCUMULATOR
    stake = lognormal_units(rng, n, median=12.0, sigma=1.3, low=1.0, high=100_000.0, scale=2)
    single = lognormal_units(rng, n, median=1.95, sigma=0.35, low=1.01, high=50.0, scale=3)
    multi = lognormal_units(rng, n, median=6.0, sigma=0.8, low=1.5, high=50.0, scale=3)
    odds = np.where(accumulator, multi, single)
    status, settled = _settle(rng, d, match_id, placed, odds)
    pending = status == PENDING
    edited = np.where(rng.random(n) < 0.05, rng.integers(0, 2 * DAY, n), 0)
    updated = np.minimum(np.where(pending, placed, settled) + edited, NOW)
    choices, offsets, counts = FLAT_BET_SELECTIONS
    columns = [
        pa.array(d.ids),
        pa.array(player_id),
        pa.array(match_id),
        text(CHANNELS, player_channel(player_id, seed=d.seed)),
        text(BET_TYPES, bet_type),
        text(choices, pick_within(rng, bet_type, offsets, counts), accumulator),
        decimal(stake, BETS.column("stake").type),
        decimal(odds, BETS.column("odds").type),
        decimal((stake * odds + 500) // 1000, BETS.column("potential_payout").type, status == VOID),
        text(BET_STATUSES, status),
        timestamps(placed),
        timestamps(settled, pending),
        timestamps(updated),
        flags(live),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=BETS.arrow_schema())


def build_odds(d: Draw) -> pa.RecordBatch:
    """Bookmaker prices per match and market in the order they were recorded, before kick-off
    or in play."""
    rng, n = d.rng, d.n
    every = fixtures(d.seed, d.matches)
    lo, hi = quoting_period(every, earliest=PERIOD_START, lead=3 * DAY)
    recorded = timeline(rng, d.ids, d.rows, lo=lo, hi=hi, shift_days=d.shift_days)
    match_id, _ = pick_fixtures(rng, every, recorded, seed=d.seed, in_play=0.25, lead=_lead(rng, n))
    market = pick(rng, n, (40.0, 25.0, 25.0, 10.0))
    handicap = rng.integers(-10, 11, n) * 25  # -2.50 … +2.50 in quarter goals
    total = rng.integers(1, 12, n) * 50  # 0.50 … 5.50
    line = np.where(market == 1, handicap, total)
    price = lognormal_units(rng, n, median=2.1, sigma=0.45, low=1.01, high=30.0, scale=3)
    edited = np.where(rng.random(n) < 0.1, rng.integers(0, HOUR, n), 0)
    choices, offsets, counts = FLAT_MARKET_SELECTIONS
    columns = [
        pa.array(d.ids),
        pa.array(match_id),
        text(BOOKMAKERS, pick(rng, n, (3, 3, 2, 2, 1, 1, 1, 1))),
        text(MARKETS, market),
        text(choices, pick_within(rng, market, offsets, counts)),
        decimal(line, ODDS.column("line").type, (market != 1) & (market != 2)),
        decimal(price, ODDS.column("price").type),
        flags(rng.random(n) < 0.03),
        timestamps(recorded),
        timestamps(np.minimum(recorded + edited, NOW)),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=ODDS.arrow_schema())
