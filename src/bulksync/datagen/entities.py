"""Batches of the sports side: who plays (``players``) and what is played (``matches``,
``statcast``)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bulksync.datagen.calendar import TRAILING, during_play
from bulksync.datagen.columns import (
    decimal,
    flags,
    flat_vocab,
    floats,
    integers,
    labels,
    lognormal_units,
    pick,
    pick_within,
    text,
    timestamps,
)
from bulksync.datagen.tables import MATCHES, PLAYERS, STATCAST
from bulksync.datagen.world import (
    CHANNELS,
    CURRENCIES,
    DAY,
    MATCH_LENGTH,
    MINUTE,
    NOW,
    PERIOD_START,
    SPORTS,
    Draw,
    Ints,
    match_cancelled,
    match_sport,
    match_start,
    player_channel,
)

COUNTRIES = (*CHANNELS, "SG", "ID", "KH", "LA")
SIGNUP_SPAN = 4 * 365 * DAY  # every player signed up in the four years before the first bet

# Per sport (in ``SPORTS`` order): leagues, typical points per side, statcast event types.
LEAGUES = (
    (
        "V.League 1",
        "Thai League 1",
        "Malaysia Super League",
        "Premier League",
        "La Liga",
        "Serie A",
        "Bundesliga",
        "UEFA Champions League",
    ),
    ("NBA", "PBA Philippine Cup", "ABL", "EuroLeague"),
    ("ATP Tour", "WTA Tour", "ITF Men", "Grand Slam"),
    ("MLB", "NPB", "KBO League"),
    ("LoL VCS", "Dota 2 Pro Circuit", "Mobile Legends MPL", "Valorant Champions"),
    ("FIVB Nations League", "Thai Volleyball League"),
)
POINTS = np.array([1.4, 104.0, 2.0, 4.5, 1.6, 2.4])
EVENTS = (
    ("shot", "pass", "sprint"),
    ("shot", "rebound", "sprint"),
    ("serve", "rally_shot"),
    ("pitch", "batted_ball"),
    ("kill", "objective"),
    ("spike", "serve"),
)
# Which event types measure a launch angle and a spin (flat, in ``EVENTS`` order).
HAS_ANGLE = np.array([1, 0, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 1, 1], dtype=bool)
HAS_SPIN = np.array([1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 1], dtype=bool)
CITIES = (
    "Hanoi",
    "Saigon",
    "Da Nang",
    "Bangkok",
    "Chiang Mai",
    "Kuala Lumpur",
    "Penang",
    "Johor",
    "Manila",
    "Cebu",
    "Davao",
    "Singapore",
    "Jakarta",
    "Phnom Penh",
    "Vientiane",
    "Haiphong",
)
MASCOTS = ("Dragons", "Tigers", "Eagles", "Warriors", "Sharks", "Phoenix", "Buffaloes", "Stars")


FLAT_LEAGUES = flat_vocab(LEAGUES)
FLAT_EVENTS = flat_vocab(EVENTS)


def build_players(d: Draw) -> pa.RecordBatch:
    """Players signed up in id order before the period; most logged in recently."""
    rng, n = d.rng, d.n
    channel = player_channel(d.ids, seed=d.seed)
    abroad = rng.random(n) < 0.05
    country = np.where(abroad, pick(rng, n, (1, 1, 1, 1, 3, 3, 1, 1)), channel)
    vip = pick(rng, n, (55, 22, 12, 6, 3, 2))
    balance = lognormal_units(rng, n, median=40.0, sigma=1.6, low=0, high=5e6, scale=2)
    balance = np.where(rng.random(n) < 0.08, 0, balance * (1 + vip))
    created = PERIOD_START - SIGNUP_SPAN + (d.ids - 1) * (SIGNUP_SPAN // max(d.players, 1))
    created = created + rng.integers(0, DAY, n)
    never = rng.random(n) < 0.03
    login = np.maximum(NOW - rng.exponential(20 * DAY, n).astype(np.int64), created + MINUTE)
    updated = np.where(never, created, np.maximum(login, created))
    columns = [
        pa.array(d.ids),
        labels("player_", d.ids),
        labels("player_", d.ids, suffix="@mail.example.com"),
        text(COUNTRIES, country),
        text(CHANNELS, channel),
        text(CURRENCIES, channel),
        integers(vip, pa.int16()),
        decimal(balance, PLAYERS.column("balance").type),
        flags(~never & (login > NOW - 90 * DAY) & (rng.random(n) < 0.97)),
        timestamps(created),
        timestamps(login, never),
        timestamps(updated),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=PLAYERS.arrow_schema())


def _team_names(home: Ints, mascot: Ints) -> pa.Array:
    return pc.binary_join_element_wise(text(CITIES, home), text(MASCOTS, mascot), " ")


def build_matches(d: Draw) -> pa.RecordBatch:
    """Fixtures in kick-off order; the last week is still to be played."""
    rng, n = d.rng, d.n
    sport = match_sport(d.ids, seed=d.seed)
    start = match_start(d.ids, seed=d.seed, matches=d.matches)
    status = np.select(
        [match_cancelled(d.ids, seed=d.seed), start > NOW, start + MATCH_LENGTH > NOW],
        [3, 0, 1],
        default=2,
    )  # index into STATUSES below
    home = rng.integers(0, len(CITIES), n)
    away = (home + rng.integers(1, len(CITIES), n)) % len(CITIES)
    share = np.where(status == 1, 0.5, 1.0)
    no_score = (status == 0) | (status == 3)
    done = start + MATCH_LENGTH + rng.exponential(10 * MINUTE, n).astype(np.int64)
    recent = rng.integers(0, 2 * DAY, n)
    called_off = np.minimum(start, NOW) - recent
    updated = np.select(
        [status == 2, status == 1, status == 3],
        [np.minimum(done, NOW), np.maximum(start, NOW - recent // 100), called_off],
        default=NOW - recent,
    )  # finished: after the whistle; live: minutes ago; called off: before kick-off
    leagues, offsets, counts = FLAT_LEAGUES
    columns = [
        pa.array(d.ids),
        text(SPORTS, sport),
        text(leagues, pick_within(rng, sport, offsets, counts)),
        _team_names(home, rng.integers(0, len(MASCOTS), n)),
        _team_names(away, rng.integers(0, len(MASCOTS), n)),
        timestamps(start),
        text(("scheduled", "live", "finished", "cancelled"), status),
        integers(rng.poisson(POINTS[sport] * share * 1.1), pa.int16(), no_score),
        integers(rng.poisson(POINTS[sport] * share), pa.int16(), no_score),
        timestamps(updated),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=MATCHES.arrow_schema())


def build_statcast(d: Draw) -> pa.RecordBatch:
    """Tracking events of played matches, logged in time order: speeds, angles, spins,
    distances, expected value."""
    rng, n = d.rng, d.n
    match_id, at = during_play(rng, d.ids, d.rows, seed=d.seed, matches=d.matches)
    sport = match_sport(match_id, seed=d.seed)
    events, offsets, counts = FLAT_EVENTS
    event = pick_within(rng, sport, offsets, counts)
    lag = np.minimum(rng.exponential(2 * MINUTE, n), TRAILING).astype(np.int64)
    columns = [
        pa.array(d.ids),
        pa.array(match_id),
        pa.array(rng.integers(1, d.players + 1, n)),
        text(events, event),
        floats(np.abs(rng.normal(85.0, 30.0, n))),
        floats(rng.normal(18.0, 14.0, n), ~HAS_ANGLE[event]),
        floats(np.abs(rng.normal(2200.0, 450.0, n)), ~HAS_SPIN[event], digits=0),
        floats(rng.gamma(2.0, 9.0, n)),
        floats(rng.beta(0.7, 6.0, n), digits=4),
        timestamps(at),
        timestamps(at + lag),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=STATCAST.arrow_schema())
