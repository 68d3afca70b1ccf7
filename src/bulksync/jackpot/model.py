"""What the writer takes and gives back: contributions, wins and their outcomes (plain values).

Outcomes of a contribution: ``applied`` (counted now), ``duplicate`` (this id was counted before,
with this very body: nothing changes) or ``conflict`` (this id was counted before with another
body: refused, nothing changes).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

Outcome = Literal["applied", "duplicate", "conflict"]
WinStatus = Literal["paid", "duplicate", "conflict", "over_amount", "unknown_pool"]


class Contribution(NamedTuple):
    """One wager's contribution (a named tuple: a batch makes a thousand of them per request)."""

    contribution_id: str
    game_id: str
    wager_minor: int
    placed_at: dt.datetime
    placed_text: str = ""  # placed_at as ISO 8601 text when the request had it so (saves formatting)

    def same_as(self, game_id: str, wager_minor: int, placed_at: dt.datetime) -> bool:
        return (self.game_id, self.wager_minor, self.placed_at) == (game_id, wager_minor, placed_at)


@dataclass(frozen=True, slots=True)
class Win:
    win_id: str
    pool: str
    user_id: str
    amount_minor: int | None = None  # None: the whole pool


@dataclass(frozen=True, slots=True)
class WinResult:
    status: WinStatus
    win_id: str
    pool: str
    user_id: str
    paid_minor: int = 0
    before_minor: int = 0
    after_minor: int = 0
    won_at: dt.datetime | None = None


POOL_COLUMNS = "name, amount_minor, seed_minor, cap_minor, rate_ppm, currency, must_hit_by_minor, version"


@dataclass(slots=True)
class PoolState:
    """A pool row as the writer holds it inside its transaction (and the cache after it)."""

    name: str
    amount_minor: int
    seed_minor: int
    cap_minor: int | None
    rate_ppm: int
    currency: str
    must_hit_by_minor: int | None = None
    version: int = 0  # how many commits have moved the pools: the newer state is the larger

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> PoolState:
        """A row of ``SELECT {POOL_COLUMNS} FROM jackpot.pools``."""
        name, amount, seed, cap, rate, currency, must_hit_by, version = row
        return cls(name, amount, seed, cap, rate, currency.strip(), must_hit_by, version)

    def add(self, minor: int) -> None:
        total = self.amount_minor + minor
        self.amount_minor = total if self.cap_minor is None else min(self.cap_minor, total)
