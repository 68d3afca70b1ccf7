"""The jackpot's settings (``BULKSYNC_JACKPOT_*``): where the ledger lives, the pool levels, limits.

The jackpot is off until ``BULKSYNC_JACKPOT_CONNECTION`` names a configured PostgreSQL connection
(``BULKSYNC_CONNECTIONS__<NAME>``). Pool levels come from ``BULKSYNC_JACKPOT_POOLS`` (JSON), by
default mini / minor / major / grand. Amounts here are decimal strings in the currency's units
(``"10.00"``); the service keeps integer minor units (cents) everywhere else.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bulksync.jackpot.money import MAX_MINOR, to_minor

POOL_NAME = r"^[a-z][a-z0-9_-]{0,31}$"
_POOL_NAME = re.compile(POOL_NAME)
PPM = 1_000_000  # contribution rates are kept in parts per million of the wager


class PoolLevel(BaseModel):
    """One pool: the share of every wager it takes, what it starts at, an optional ceiling."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=POOL_NAME)
    rate_percent: Decimal = Field(gt=0, le=100, decimal_places=4, description="% of each wager")
    seed: Decimal = Field(ge=0, decimal_places=2)
    cap: Decimal | None = Field(default=None, gt=0, decimal_places=2)
    must_hit_by: Decimal | None = Field(default=None, gt=0, decimal_places=2)

    @model_validator(mode="after")
    def _ordered(self) -> PoolLevel:
        if self.cap is not None and self.cap < self.seed:
            raise ValueError(f"pool {self.name}: cap {self.cap} is below its seed {self.seed}")
        if self.must_hit_by is not None and self.must_hit_by <= self.seed:
            raise ValueError(f"pool {self.name}: must_hit_by {self.must_hit_by} is not above its seed")
        if self.must_hit_by is not None and self.cap is not None and self.must_hit_by > self.cap:
            raise ValueError(f"pool {self.name}: must_hit_by {self.must_hit_by} is above its cap {self.cap}")
        return self

    @property
    def rate_ppm(self) -> int:
        return int(self.rate_percent * PPM / 100)

    @property
    def seed_minor(self) -> int:
        return to_minor(self.seed)

    @property
    def cap_minor(self) -> int | None:
        return None if self.cap is None else to_minor(self.cap)

    @property
    def must_hit_by_minor(self) -> int | None:
        return None if self.must_hit_by is None else to_minor(self.must_hit_by)


def default_pools() -> list[PoolLevel]:
    return [
        PoolLevel(name="mini", rate_percent=Decimal("0.5"), seed=Decimal("10.00")),
        PoolLevel(name="minor", rate_percent=Decimal("0.3"), seed=Decimal("100.00")),
        PoolLevel(name="major", rate_percent=Decimal("0.15"), seed=Decimal("1000.00")),
        PoolLevel(name="grand", rate_percent=Decimal("0.05"), seed=Decimal("10000.00")),
    ]


class JackpotSettings(BaseSettings):
    """``BULKSYNC_JACKPOT_*``: read once by ``create_app`` and the CLI, then passed down."""

    model_config = SettingsConfigDict(
        env_prefix="BULKSYNC_JACKPOT_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    # the configured connection (BULKSYNC_CONNECTIONS__<NAME>) holding the ledger; unset: off
    connection: str | None = None
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    pools: list[PoolLevel] = Field(default_factory=default_pools, min_length=1, max_length=32)
    # games allowed to contribute (empty: any game id)
    games: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_wager: Decimal = Field(default=Decimal("100000.00"), gt=0, decimal_places=2)
    # group commit: at most this many contributions in one transaction
    commit_max_rows: int = Field(default=5000, ge=1, le=100_000)
    # under load (a commit right after the last one), wait this long for more requests to join
    # it: a commit costs the server ~0.5-1 ms of CPU whatever its size, so fewer, larger commits
    # leave more of the core to the requests (0: commit whatever is waiting at once)
    commit_gather_ms: float = Field(default=2.0, ge=0, le=100)
    # contributions waiting for the writer beyond this are refused (503), not queued forever
    queue_max: int = Field(default=100_000, ge=1, le=10_000_000)
    # a request not answered by then gets 503 + Retry-After (its contributions may still land:
    # the client retries with the same ids and gets "duplicate")
    request_timeout_s: float = Field(default=5.0, gt=0, le=300)
    connect_timeout_s: int = Field(default=3, ge=1, le=60)
    # token bucket per API token: refill per minute and burst (0: no limit)
    rate_per_minute: int = Field(default=1000, ge=0, le=100_000_000)
    burst: int = Field(default=50, ge=1, le=1_000_000)
    # a pool read served from memory is fresh for this long unless this server's writer moved it
    cache_ttl_s: float = Field(default=2.0, ge=0, le=3600)
    # the seed's alerts: a warning in the log when p95 or the queue crosses these
    alert_p95_ms: float = Field(default=50.0, gt=0)
    alert_queue: int = Field(default=10_000, ge=1)
    # optional Redis (redis://…) for the token buckets and the pool cache shared by every server
    # (unset: a redis:// BULKSYNC_BROKER_URL if there is one); its keys start with redis_prefix
    redis_url: SecretStr | None = None
    redis_prefix: str = Field(default="bulksync:jackpot", pattern=r"^[A-Za-z0-9_:.-]{1,100}$")

    @field_validator("pools")
    @classmethod
    def _unique(cls, value: list[PoolLevel]) -> list[PoolLevel]:
        names = [p.name for p in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"pool names must be unique: {', '.join(dupes)}")
        return value

    @field_validator("games", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [g.strip() for g in value.split(",") if g.strip()]
        return value

    @property
    def max_wager_minor(self) -> int:
        return min(MAX_MINOR, to_minor(self.max_wager))

    def pool(self, name: str) -> PoolLevel | None:
        return next((p for p in self.pools if p.name == name), None)


def is_pool_name(name: str) -> bool:
    return bool(_POOL_NAME.match(name))
