"""The jackpot endpoints' JSON: what a client sends and what it gets back.

Amounts are sent as decimal text or JSON numbers in the currency's units, at most two decimals
(``"12.50"``, ``12.5``); they are answered both as integer minor units (``*_minor``) and as
exact decimal text. Ids are the client's: 1-128 letters, digits and ``_ . : -``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from bulksync.jackpot.config import POOL_NAME
from bulksync.jackpot.model import Contribution, Win
from bulksync.jackpot.money import to_minor

ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
MAX_BATCH = 1000
MAX_AMOUNT = Decimal("1000000000")
Amount = Annotated[Decimal, Field(gt=0, le=MAX_AMOUNT, decimal_places=2, allow_inf_nan=False)]


class ContributionIn(BaseModel):
    """One wager's contribution; ``contribution_id`` makes a retry safe."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # NaN would slip past gt/le

    contribution_id: str = Field(pattern=ID, examples=["spin-20261203-000001"])
    game_id: str = Field(pattern=ID, examples=["starburst"])
    wager_amount: Amount = Field(examples=["2.50"])
    timestamp: AwareDatetime = Field(description="when the wager was placed (ISO 8601 with a zone)")

    def to_value(self) -> Contribution:
        return Contribution(self.contribution_id, self.game_id, to_minor(self.wager_amount), self.timestamp)


class ItemOut(BaseModel):
    contribution_id: str
    status: Literal["applied", "duplicate", "rejected"]
    error: str | None = None


class ErrorOut(BaseModel):
    contribution_id: str
    error: str


class ContributionsOut(BaseModel):
    """Per item: applied (counted now), duplicate (counted before, same body) or rejected."""

    total: int
    processed: int = Field(description="applied + duplicate: durable when this answer is sent")
    applied: int
    duplicates: int
    failed: int
    results: list[ItemOut]
    errors: list[ErrorOut]


class WinIn(BaseModel):
    """A win to pay from ``pool``: its whole amount, or ``amount`` of it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # NaN would slip past gt/le

    win_id: str = Field(pattern=ID)
    pool: str = Field(pattern=POOL_NAME)
    user_id: str = Field(pattern=ID)
    amount: Amount | None = Field(default=None, description="pay this much (default: the whole pool)")

    def to_value(self) -> Win:
        return Win(
            self.win_id, self.pool, self.user_id, None if self.amount is None else to_minor(self.amount)
        )


class WinOut(BaseModel):
    win_id: str
    status: Literal["paid", "duplicate"] = Field(description="duplicate: paid before; this is that payout")
    pool: str
    user_id: str
    paid_minor: int
    paid: str
    pool_before_minor: int
    pool_after_minor: int
    won_at: str | None


class PoolOut(BaseModel):
    name: str
    amount_minor: int
    amount: str
    seed_minor: int
    cap_minor: int | None
    must_hit_by_minor: int | None = Field(description="won by the contribution that takes it to this amount")
    currency: str
    contribution_percent: str


class StatsOut(BaseModel):
    """The dashboard's figures, over the last ``window_s`` seconds of this server."""

    pools: list[dict[str, str | int | None]]
    contributions_per_s: float
    p95_ms: float | None
    error_rate: float
    queue_size: int
    cache_hit_rate: float | None
    p50_ms: float | None
    p99_ms: float | None
    window_s: float
    db_connections: dict[str, int]


BatchIn = Annotated[list[ContributionIn], Field(min_length=1, max_length=MAX_BATCH)]
