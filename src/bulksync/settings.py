"""Settings from the environment (and a ``.env`` file): named connections and the bet-sync recipe.

Two families, as their users know them:

- ``BULKSYNC_*`` — bulksync's own. Named connections are ``BULKSYNC_CONNECTIONS__<NAME>=<url>``
  (``BULKSYNC_CONNECTIONS__DK=mysql://sync:secret@db1/dk``); wherever a command takes a
  database URL it also takes a configured name (``dk``), so DSNs with passwords stay out of
  shell history, job records and API requests.
- ``BET_SYNC_*`` — seed 000's variables, with the seed's meanings and defaults (chunk and batch
  size, background threshold, memory warning, source connection, destination table, channels,
  progress log, job tries and timeout), plus a few bulksync needs to find the data (source table,
  date column, destination connection, time zone).

Settings are read when asked for (``get_settings()``), never at import time, and the engine never
reads them: the CLI and the API turn them into a ``SyncSpec``.
"""

from __future__ import annotations

import re
import zoneinfo
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bulksync.errors import UsageError
from bulksync.identifiers import check_identifier

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,62}$")


SCOPES = ("jobs:read", "jobs:write", "jackpot:write")


class ApiToken(BaseModel):
    """One API bearer token and what it may do (``*``: every scope)."""

    token: SecretStr
    scopes: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["jobs:read"])

    @field_validator("scopes", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            value = [s.strip() for s in value.split(",") if s.strip()]
        return value

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        # (pydantic's own min_length on a SecretStr says "at least 16 items")
        if len(value.get_secret_value()) < 16:
            raise ValueError("a token needs at least 16 characters (openssl rand -hex 32 makes one)")
        return value

    @field_validator("scopes")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        bad = [s for s in value if s != "*" and s not in SCOPES]
        if bad:
            raise ValueError(f"unknown scope(s) {', '.join(bad)}; known: *, {', '.join(SCOPES)}")
        return value

    def allows(self, scope: str) -> bool:
        return "*" in self.scopes or scope in self.scopes


class Settings(BaseSettings):
    """bulksync's own settings (``BULKSYNC_`` prefix, ``__`` nesting)."""

    model_config = SettingsConfigDict(
        env_prefix="BULKSYNC_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    connections: dict[str, SecretStr] = Field(default_factory=dict)
    # background jobs: where their records live (a SQLite path, or a postgresql:// URL shared by
    # several machines; default ~/.local/state/bulksync/jobs.db), how long a runner's lease lasts
    # without a heartbeat, and how many times a job is started before it is failed for good
    job_store: SecretStr | None = None
    job_lease_seconds: float = Field(default=30.0, ge=2.0, le=3600.0)
    job_tries: int = Field(default=3, ge=1, le=100)
    # the fleet's sweeper sends a task's message again when it was queued but not started for
    # this long (a broker that restarted without persistence lost it; a duplicate is harmless:
    # the task row hands the partition to one worker). Unset: 10 leases, at least 60 s.
    job_resend_seconds: float | None = Field(default=None, ge=1.0, le=86_400.0)
    # a running job logs each table's progress this often (logs/<job>.log, the server's log)
    job_log_seconds: float = Field(default=5.0, gt=0, le=3600.0)
    # log lines: json (one object per line), console (text), auto (json when stderr is no terminal)
    log_format: Literal["auto", "json", "console"] = "auto"
    # distributed jobs: a Dramatiq broker (redis://… or amqp://…); unset, jobs run on the embedded
    # worker threads of `bulksync serve` or on the detached runner of `--background`
    broker_url: SecretStr | None = None
    # tasks one `bulksync worker` runs at once (its --threads)
    worker_threads: int = Field(default=2, ge=0, le=64)
    # a `bulksync worker` serves its Prometheus metrics on http://0.0.0.0:<port>/metrics (its
    # --metrics-port); unset: none (the requests to store APIs are counted where they are made)
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # embedded worker threads of `bulksync serve` (its --threads; 0: the API only, jobs run
    # elsewhere). Unset: BULKSYNC_WORKER_THREADS if set (its old, shared name), else 2.
    serve_threads: int | None = Field(default=None, ge=0, le=64)
    # HTTP API: bearer tokens by name, BULKSYNC_API_TOKENS__OPS__TOKEN=… and
    # BULKSYNC_API_TOKENS__OPS__SCOPES=jobs:read,jobs:write; request bodies above the cap are 413
    api_tokens: dict[str, ApiToken] = Field(default_factory=dict)
    api_max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)

    @field_validator("connections")
    @classmethod
    def _names(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        bad = [n for n in value if not _NAME.match(n)]
        if bad:
            raise ValueError(f"connection names must be letters, digits, _ or -: {', '.join(bad)}")
        return {n.lower(): url for n, url in value.items()}

    def embedded_threads(self) -> tuple[int, str | None]:
        """The worker threads of ``bulksync serve``, and a deprecation note if they came from the
        old shared name (BULKSYNC_WORKER_THREADS, which is `bulksync worker`'s)."""
        if self.serve_threads is not None:
            return self.serve_threads, None
        if "worker_threads" in self.model_fields_set:
            return self.worker_threads, (
                "BULKSYNC_WORKER_THREADS for bulksync serve is deprecated: use BULKSYNC_SERVE_THREADS "
                "(BULKSYNC_WORKER_THREADS is bulksync worker's --threads)"
            )
        return 2, None

    def connection(self, name: str, *, role: str = "connection") -> str:
        """The URL of the configured connection ``name``; a clear error if there is none."""
        found = self.connections.get(name.lower())
        if found is None:
            known = ", ".join(sorted(self.connections)) or "none configured"
            raise UsageError(
                f"unknown {role} {name!r} (configured: {known}); set "
                f"BULKSYNC_CONNECTIONS__{name.upper()}=<database URL>"
            )
        return found.get_secret_value()

    def name_of(self, url: str) -> str | None:
        """The name of the configured connection whose URL is exactly ``url``, if any."""
        for name, found in sorted(self.connections.items()):
            if found.get_secret_value() == url:
                return name
        return None

    def resolve(self, target: str) -> str:
        """A configured connection's URL if ``target`` names one, else ``target`` itself."""
        found = self.connections.get(target.lower()) if _NAME.match(target) else None
        return found.get_secret_value() if found is not None else target


def _channels(value: object) -> object:
    if isinstance(value, str):
        return [c.strip().upper() for c in value.split(",") if c.strip()]
    return value


class BetSyncSettings(BaseSettings):
    """Seed 000's ``BET_SYNC_*`` variables, same names, meanings and defaults."""

    model_config = SettingsConfigDict(env_prefix="BET_SYNC_", env_file=".env", extra="ignore")

    # processing (seed: records per chunk read, records per database batch)
    chunk_size: int = Field(default=1000, ge=1, le=10_000_000)
    batch_size: int = Field(default=500, ge=1, le=10_000_000)
    background_threshold: int = Field(default=10_000, ge=0)
    # memory: warn (once) when the process grows past this many MB
    memory_warning: int = Field(default=256, ge=1)
    # where from and where to
    source_connection: str = "dk"
    destination_table: str = "bets"
    # bulksync additions: the seed's Laravel app knew these from its models
    destination_connection: str = "default"
    source_table: str = "bets"
    date_column: str = "placed_at"
    channel_column: str = "channel"
    timezone: str = "UTC"  # the zone whose calendar day "today" means
    # jobs (used by background runs)
    queue: str = "sync-jobs"
    job_timeout: int = Field(default=3600, ge=1)
    job_tries: int = Field(default=3, ge=1)
    status_cache_hours: int = Field(default=24, ge=1)
    # progress log (non-terminal output: one line every N records)
    enable_progress_log: bool = True
    progress_interval: int = Field(default=5000, ge=1)
    # channels
    default_channel: str | None = "VN"
    allowed_channels: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["VN", "TH", "MY", "PH"])

    _split_channels = field_validator("allowed_channels", mode="before")(_channels)

    @field_validator("default_channel", mode="before")
    @classmethod
    def _default_channel(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().upper()
            return value or None  # BET_SYNC_DEFAULT_CHANNEL= (empty): every channel
        return value

    @field_validator("source_table", "destination_table", "date_column", "channel_column")
    @classmethod
    def _identifier(cls, value: str) -> str:
        check_identifier(value, "BET_SYNC table/column setting")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (e.g. UTC, Asia/Ho_Chi_Minh)") from exc
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


@lru_cache(maxsize=1)
def get_bet_settings() -> BetSyncSettings:
    return BetSyncSettings()


class StoreSyncSettings(BaseSettings):
    """Seed 004's store syncs: its own variables (SYNC_CONCURRENCY, VIDEO_SYNC_CONCURRENCY) and
    ``BULKSYNC_STORES_*``: API credentials by reference (``BULKSYNC_STORES_CREDENTIALS__MAIN=…``
    for stores whose credential column says ``main``) and the requests/second limits."""

    model_config = SettingsConfigDict(
        env_prefix="BULKSYNC_STORES_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    sync_concurrency: int = Field(default=30, ge=1, le=1000, validation_alias="SYNC_CONCURRENCY")
    video_sync_concurrency: int = Field(default=20, ge=1, le=1000, validation_alias="VIDEO_SYNC_CONCURRENCY")
    credentials: dict[str, SecretStr] = Field(default_factory=dict)
    rate: float | None = Field(default=None, gt=0)  # requests/second for all stores together
    store_rate: float | None = Field(default=None, gt=0)  # requests/second for each store
    # redis://… where the global limit is shared by every process (BULKSYNC_STORES_RATE_LIMIT_URL);
    # unset: the broker's Redis when the broker is Redis
    rate_limit_url: SecretStr | None = None
    # a store sync resumes the job's unfinished run only if that run started less than this many
    # hours ago and fetches the same (BULKSYNC_STORES_RESUME_WITHIN_HOURS; 0: never resume)
    resume_within_hours: float = Field(default=6.0, ge=0, le=24 * 30)

    @field_validator("rate_limit_url")
    @classmethod
    def _redis(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("redis://", "rediss://")):
            raise ValueError("BULKSYNC_STORES_RATE_LIMIT_URL must be a redis:// or rediss:// URL")
        return value

    @field_validator("credentials")
    @classmethod
    def _lower(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        return {n.lower(): v for n, v in value.items()}


def get_store_settings() -> StoreSyncSettings:
    return StoreSyncSettings()
