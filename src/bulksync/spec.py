"""What to sync: a validated description that the engine turns into a plan."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bulksync.identifiers import check_name
from bulksync.modes import DEFAULT_BATCH_MB
from bulksync.modes import BadValue as BadValue
from bulksync.modes import Mode as Mode


class Filter(BaseModel):
    """One structured row filter, compiled to a bound parameter by the source."""

    model_config = ConfigDict(frozen=True)

    column: str
    op: Literal["eq", "ge", "lt"]
    value: str | int | float

    @model_validator(mode="after")
    def _plain_column(self) -> Filter:
        check_name(self.column, "filter column")
        return self

    def describe(self) -> str:
        sign = {"eq": "=", "ge": ">=", "lt": "<"}[self.op]
        return f"{self.column} {sign} {self.value!r}"


class TableSpec(BaseModel):
    """One table to move."""

    model_config = ConfigDict(frozen=True)

    name: str
    dest_name: str | None = None
    key: tuple[str, ...] = ()  # empty: the source's primary key
    cursor: str | None = None  # incremental mode: e.g. updated_at
    # Read in (order_by, key) order instead of key order: when the filters select a range of an
    # indexed column (a day of bets), the source walks that index instead of the whole key range.
    order_by: str | None = None
    filters: tuple[Filter, ...] = ()

    @model_validator(mode="after")
    def _plain_names(self) -> TableSpec:
        check_name(self.name, "table name")
        if self.dest_name is not None:
            check_name(self.dest_name, "destination table name")
        for col in self.key:
            check_name(col, "key column")
        if self.cursor is not None:
            check_name(self.cursor, "cursor column")
        if self.order_by is not None:
            check_name(self.order_by, "order column")
            if self.cursor is not None:
                raise ValueError("order_by and cursor both set the read order: give one")
        return self

    @property
    def target(self) -> str:
        return self.dest_name or self.name


class SyncSpec(BaseModel):
    """A whole sync: where from, where to, which tables, how, and within which limits."""

    model_config = ConfigDict(frozen=True)

    source: str
    destination: str
    tables: tuple[TableSpec, ...] = Field(min_length=1)
    mode: Mode = Mode.APPEND
    workers: int = Field(default=2, ge=1, le=64)
    max_memory_mb: int = Field(default=512, ge=64)
    batch_mb: float = Field(default=DEFAULT_BATCH_MB, gt=0, le=256)
    # Fixed sizes instead of adaptive bytes: rows per keyset read (= per committed transaction,
    # with its checkpoint) and rows per write statement inside that transaction.
    chunk_rows: int | None = Field(default=None, ge=1, le=10_000_000)
    batch_rows: int | None = Field(default=None, ge=1, le=10_000_000)
    # Rows fetched from the source at a time inside one read, for sources that stream a read
    # (MariaDB): bounds what a read holds before it becomes a batch; reads and commits keep
    # their own size (``chunk_rows``, or adaptive).
    fetch_rows: int | None = Field(default=None, ge=1, le=10_000_000)
    queue_depth: int = Field(default=1, ge=1, le=16)
    target_batch_seconds: float = Field(default=0.5, gt=0)
    statement_timeout_s: float = Field(default=120.0, gt=0)
    retries: int = Field(default=5, ge=0)
    lag_seconds: float = Field(default=0.0, ge=0)
    restart: bool = False
    # names as the destination stores them: folded to lower case (a migration into PostgreSQL)
    lower_names: bool = False
    on_bad_value: BadValue = BadValue.REJECT
    verify: bool = False  # compare every table with its source once it is loaded
    partition_min_rows: int = Field(default=200_000, ge=1)
    # create the source's foreign keys between the tables of this sync (and to tables already
    # in the destination) once every table is loaded (``engine/constraints.py``)
    foreign_keys: bool = True

    @field_validator("tables", mode="before")
    @classmethod
    def _names_are_tables(cls, value: object) -> object:
        """``tables=["bets", "players"]`` means those tables with every default."""
        if isinstance(value, list | tuple):
            return tuple({"name": t} if isinstance(t, str) else t for t in value)
        return value

    @model_validator(mode="after")
    def _mode_needs(self) -> SyncSpec:
        for table in self.tables:
            if self.mode is Mode.INCREMENTAL and table.cursor is None:
                raise ValueError(
                    f"incremental mode needs a cursor column for table {table.name!r} "
                    "(e.g. --cursor updated_at)"
                )
            if self.mode is not Mode.INCREMENTAL and table.cursor is not None:
                raise ValueError("--cursor only applies to --mode incremental")
        targets = [t.target for t in self.tables]
        if len(set(targets)) != len(targets):
            twice = sorted({t for t in targets if targets.count(t) > 1})
            clashing = [t for t in self.tables if t.target in twice]
            folded = all(t.target == t.name.lower() for t in clashing)
            raise ValueError(
                "two tables would be written to the same destination table: "
                f"{' and '.join(repr(t.name) for t in clashing)} → {', '.join(repr(t) for t in twice)}"
                + (
                    " (folded to lower case: --keep-case keeps them apart, or --exclude one)"
                    if folded
                    else ""
                )
            )
        return self
