"""The five tables of a betting dataset (seed 001): players, matches, bets, odds, statcast.

Keys are int64 ids numbered from 1. ``bets.player_id`` and ``statcast.player_id`` point into
``players``; ``bets.match_id``, ``odds.match_id`` and ``statcast.match_id`` into ``matches``. The
references hold by construction; no foreign-key constraint is declared, so tables load in any
order and separately. Every table has ``updated_at`` (the cursor of incremental syncs).
"""

from __future__ import annotations

import pyarrow as pa

from bulksync.schema import Column, Index, TableSchema

TS = pa.timestamp("us")
MONEY = pa.decimal128(14, 2)


def _text(name: str, length: int, *, nullable: bool = False) -> Column:
    return Column(name, pa.string(), nullable, length)


def _req(name: str, dtype: pa.DataType) -> Column:
    return Column(name, dtype, nullable=False)


def _opt(name: str, dtype: pa.DataType) -> Column:
    return Column(name, dtype, nullable=True)


PLAYERS = TableSchema(
    "players",
    columns=(
        _req("id", pa.int64()),
        _text("username", 32),
        _text("email", 64),
        _text("country", 2),
        _text("channel", 2),
        _text("currency", 3),
        _req("vip_level", pa.int16()),
        _req("balance", MONEY),
        _req("is_active", pa.bool_()),
        _req("created_at", TS),
        _opt("last_login_at", TS),
        _req("updated_at", TS),
    ),
    primary_key=("id",),
    indexes=(
        Index("ux_players_username", ("username",), unique=True),
        Index("ix_players_channel_vip", ("channel", "vip_level")),
        Index("ix_players_updated_at", ("updated_at",)),
    ),
)

MATCHES = TableSchema(
    "matches",
    columns=(
        _req("id", pa.int64()),
        _text("sport", 16),
        _text("league", 48),
        _text("home_team", 48),
        _text("away_team", 48),
        _req("start_time", TS),
        _text("status", 12),
        _opt("home_score", pa.int16()),
        _opt("away_score", pa.int16()),
        _req("updated_at", TS),
    ),
    primary_key=("id",),
    indexes=(
        Index("ix_matches_start_time", ("start_time",)),
        Index("ix_matches_sport_league", ("sport", "league")),
        Index("ix_matches_updated_at", ("updated_at",)),
    ),
)

BETS = TableSchema(
    "bets",
    columns=(
        _req("id", pa.int64()),
        _req("player_id", pa.int64()),
        _req("match_id", pa.int64()),
        _text("channel", 2),
        _text("bet_type", 24),
        _text("selection", 32, nullable=True),
        _req("stake", pa.decimal128(12, 2)),
        _req("odds", pa.decimal128(8, 3)),
        _opt("potential_payout", MONEY),
        _text("status", 12),
        _req("placed_at", TS),
        _opt("settled_at", TS),
        _req("updated_at", TS),
        _req("is_live", pa.bool_()),
    ),
    primary_key=("id",),
    indexes=(
        Index("ix_bets_placed_at", ("placed_at",)),
        Index("ix_bets_player_id", ("player_id",)),
        Index("ix_bets_channel_placed_at", ("channel", "placed_at")),
        Index("ix_bets_match_id", ("match_id",)),
    ),
)

ODDS = TableSchema(
    "odds",
    columns=(
        _req("id", pa.int64()),
        _req("match_id", pa.int64()),
        _text("bookmaker", 24),
        _text("market", 24),
        _text("selection", 24),
        _opt("line", pa.decimal128(6, 2)),
        _req("price", pa.decimal128(8, 3)),
        _req("is_suspended", pa.bool_()),
        _req("recorded_at", TS),
        _req("updated_at", TS),
    ),
    primary_key=("id",),
    indexes=(
        Index("ix_odds_match_id", ("match_id",)),
        Index("ix_odds_recorded_at", ("recorded_at",)),
    ),
)

STATCAST = TableSchema(
    "statcast",
    columns=(
        _req("id", pa.int64()),
        _req("match_id", pa.int64()),
        _req("player_id", pa.int64()),
        _text("event_type", 16),
        _req("speed_kmh", pa.float64()),
        _opt("angle_deg", pa.float64()),
        _opt("spin_rpm", pa.float64()),
        _req("distance_m", pa.float64()),
        _req("expected_value", pa.float64()),
        _req("event_time", TS),
        _req("updated_at", TS),
    ),
    primary_key=("id",),
    indexes=(
        Index("ix_statcast_match_id", ("match_id",)),
        Index("ix_statcast_player_event", ("player_id", "event_time")),
    ),
)

# Load order: referenced tables first, so a partial dataset is still consistent.
TABLES: dict[str, TableSchema] = {t.name: t for t in (PLAYERS, MATCHES, BETS, ODDS, STATCAST)}
