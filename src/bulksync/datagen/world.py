"""The simulated world every table agrees on: its clock, vocabularies and per-id attributes.

Attributes that several tables must agree on (a player's channel, a match's kick-off) are pure
functions of ``(seed, id)`` computed by a vectorised hash, so ``bets`` can be generated without
generating ``players`` or ``matches`` first and still be consistent with them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

SECOND = 1_000_000  # timestamps are int64 microseconds since the epoch
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# The simulated world's clock. A dataset ``until`` another day is this one moved there by whole
# days (plan.py): every timestamp shifts, the weekly rhythm follows the real calendar.
NOW = int(dt.datetime(2026, 11, 1, tzinfo=dt.UTC).timestamp()) * SECOND
DATASET_END = dt.date(2026, 10, 31)  # the last day with bets at NOW
PERIOD_START = NOW - 365 * DAY  # bets are placed over the year ending at NOW
SCHEDULE_START = PERIOD_START + 3 * DAY  # the first kick-off leaves room for pre-match bets
SCHEDULE_END = NOW + 7 * DAY  # the last week of fixtures has not been played yet
SCHEDULE_JITTER = 6 * HOUR
MATCH_LENGTH = 2 * HOUR

CHANNELS = ("VN", "TH", "MY", "PH")
CHANNEL_WEIGHTS = (0.40, 0.25, 0.20, 0.15)
CURRENCIES = ("VND", "THB", "MYR", "PHP")
SPORTS = ("football", "basketball", "tennis", "baseball", "esports", "volleyball")
SPORT_WEIGHTS = (0.45, 0.18, 0.12, 0.10, 0.10, 0.05)

_MASK = (1 << 64) - 1

# Purposes of the per-id hash: one stream per attribute, so attributes are independent.
_CHANNEL, _KICKOFF, _CANCELLED, _SPORT = 1, 2, 3, 4


def unit_hash(ids: Ints, *, seed: int, purpose: int) -> Floats:
    """Uniform [0, 1) values that depend only on ``(seed, purpose, id)`` (splitmix64)."""
    key = np.uint64((seed * 0x2545F4914F6CDD1D + purpose * 0x9E3779B97F4A7C15) & _MASK)
    x = ids.astype(np.uint64) * np.uint64(0xBF58476D1CE4E5B9) + key
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def weighted_index(u: Floats, weights: tuple[float, ...]) -> Ints:
    """Map uniform draws to category indexes with the given weights."""
    edges = np.cumsum(np.asarray(weights, dtype=np.float64))
    idx = np.searchsorted(edges / edges[-1], u, side="right")
    return np.minimum(idx, len(weights) - 1).astype(np.int64)


def player_channel(player_ids: Ints, *, seed: int) -> Ints:
    """The market (index into ``CHANNELS``) a player signed up in; bets inherit it."""
    return weighted_index(unit_hash(player_ids, seed=seed, purpose=_CHANNEL), CHANNEL_WEIGHTS)


def match_sport(match_ids: Ints, *, seed: int) -> Ints:
    """The sport (index into ``SPORTS``) a match is played in."""
    return weighted_index(unit_hash(match_ids, seed=seed, purpose=_SPORT), SPORT_WEIGHTS)


def match_start(match_ids: Ints, *, seed: int, matches: int) -> Ints:
    """Kick-off time: fixtures are scheduled in id order over the period, with jitter."""
    span = SCHEDULE_END - SCHEDULE_START - SCHEDULE_JITTER
    base = SCHEDULE_START + ((match_ids - 1) * (span / max(matches, 1))).astype(np.int64)
    jitter = unit_hash(match_ids, seed=seed, purpose=_KICKOFF) * SCHEDULE_JITTER
    return base + jitter.astype(np.int64)


def match_cancelled(match_ids: Ints, *, seed: int) -> Mask:
    """About one fixture in fifty is called off; its bets are void."""
    return unit_hash(match_ids, seed=seed, purpose=_CANCELLED) < 0.02


@dataclass(frozen=True)
class Draw:
    """What one batch is generated from: its ids (of ``1..rows``), its random stream, the sizes
    of the tables it refers to."""

    ids: Ints
    rng: np.random.Generator
    seed: int
    players: int
    matches: int
    rows: int  # of the whole table: event tables spread them over the period
    shift_days: int = 0  # the rows will be moved this many days (plan.py): weekdays follow them

    @property
    def n(self) -> int:
        return len(self.ids)
