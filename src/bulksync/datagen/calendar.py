"""When things happen: the fixture list in kick-off order and the rhythm of a betting day.

Event tables (``bets``, ``odds``, ``statcast``) are numbered in time order, as auto-increment ids
of a live system are: row ``k`` of ``n`` gets an instant in the ``k``-th of ``n`` equal slices of
the period's activity (``timeline``), so each batch is drawn on its own and ids still ascend with
time. The event then picks a fixture that fits that instant: one kicking off later (pre-match) or
one being played (in-play). Rows in time order also make the time indexes cheap to build.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from bulksync.datagen.world import (
    HOUR,
    MATCH_LENGTH,
    MINUTE,
    NOW,
    SECOND,
    Floats,
    Ints,
    Mask,
    match_cancelled,
    match_start,
)

# Share of a day's bets in each local hour (UTC+7): quiet before dawn, busiest at night.
HOURLY = (4, 3, 2, 1, 1, 1, 1, 2, 3, 4, 4, 5, 6, 5, 5, 5, 6, 7, 9, 11, 13, 14, 12, 8)
WEEKEND = 1.3  # Saturdays and Sundays are busier
LOCAL = 7 * HOUR
IN_PLAY = MATCH_LENGTH - 20 * MINUTE  # in-play markets close twenty minutes before the end
TRAILING = 30 * MINUTE  # a tracking event is logged at most this long after it happened


@dataclass(frozen=True)
class Fixtures:
    """Kick-off times (whole seconds, as stored) ascending, and the match id of each."""

    starts: Ints
    ids: Ints


def _frozen(ids: Ints, starts: Ints) -> Fixtures:
    order = np.argsort(starts, kind="stable")
    ids, starts = ids[order], starts[order]
    ids.setflags(write=False)
    starts.setflags(write=False)
    return Fixtures(starts, ids)


@lru_cache(maxsize=4)
def fixtures(seed: int, matches: int) -> Fixtures:
    """Every match in kick-off order (computed once per dataset: 32 MB for 2 M matches)."""
    ids = np.arange(1, matches + 1, dtype=np.int64)
    start = match_start(ids, seed=seed, matches=matches)
    return _frozen(ids, start - start % SECOND)


@lru_cache(maxsize=4)
def played(seed: int, matches: int) -> Fixtures:
    """Matches that took place and were over ``TRAILING`` before ``NOW`` (statcast's)."""
    every = fixtures(seed, matches)
    keep = ~match_cancelled(every.ids, seed=seed) & (every.starts + MATCH_LENGTH + TRAILING < NOW)
    if not keep.any():  # a degenerate dataset (one or two fixtures): use the first one
        keep[0] = True
    return _frozen(every.ids[keep], every.starts[keep])


@lru_cache(maxsize=8)
def _activity(lo: int, hi: int, shift_days: int) -> tuple[Floats, Floats]:
    """Hour edges over ``[lo, hi)`` and the cumulative share of activity at each edge (weekends
    are those of the days the rows are moved to, ``shift_days`` later)."""
    edges = np.append(np.arange(lo, hi, HOUR, dtype=np.int64), hi)
    starts = edges[:-1] + LOCAL
    hour = (starts // HOUR) % 24
    weekday = (starts // (24 * HOUR) + 3 + shift_days) % 7  # 1970-01-01 was a Thursday (0 = Monday)
    weight = np.asarray(HOURLY, dtype=np.float64)[hour] * np.where(weekday >= 5, WEEKEND, 1.0)
    cumulative = np.concatenate(([0.0], np.cumsum(weight * np.diff(edges))))
    return edges.astype(np.float64), cumulative / cumulative[-1]


def timeline(
    rng: np.random.Generator, ids: Ints, rows: int, *, lo: int, hi: int, shift_days: int = 0
) -> Ints:
    """Instants (whole seconds) in ``[lo, hi)`` for rows ``ids`` of ``1..rows``, ascending with id.

    Row ``k`` falls at a random point of the ``k``-th of ``rows`` equal shares of the activity.
    """
    share = (ids - 1 + rng.random(len(ids))) / max(rows, 1)
    edges, cumulative = _activity(lo, max(hi, lo + SECOND), shift_days)
    at = np.interp(share, cumulative, edges).astype(np.int64)
    at = np.clip(at - at % SECOND, lo, max(hi - SECOND, lo))
    return np.asarray(at, dtype=np.int64)


@lru_cache(maxsize=4)
def _played_spans(seed: int, matches: int) -> tuple[Ints, Ints, Ints]:
    """The stretches of time when a played match was on: their starts, ends and cumulative
    lengths (fixtures last equally long, so the latest end so far is the previous one's)."""
    starts = played(seed, matches).starts
    ends = starts + MATCH_LENGTH
    first = np.flatnonzero(np.concatenate(([True], starts[1:] > ends[:-1])))
    last = np.append(first[1:] - 1, len(starts) - 1)
    lo, hi = starts[first], ends[last]
    return lo, hi, np.concatenate(([0], np.cumsum(hi - lo)))


def during_play(
    rng: np.random.Generator, ids: Ints, rows: int, *, seed: int, matches: int
) -> tuple[Ints, Ints]:
    """Match ids and instants of tracking events ``ids`` of ``1..rows``: ascending in time,
    spread evenly over the time played matches were on, each during one of those matches."""
    lo, hi, cumulative = _played_spans(seed, matches)
    offset = (ids - 1 + rng.random(len(ids))) / max(rows, 1) * float(cumulative[-1])
    span = np.searchsorted(cumulative, offset, side="right") - 1
    span = np.clip(span, 0, len(lo) - 1)
    at = np.minimum(lo[span] + (offset - cumulative[span]).astype(np.int64), hi[span] - SECOND)
    at = at - at % SECOND
    on = played(seed, matches)
    position, _ = being_played(rng, on, at, window=MATCH_LENGTH)
    return on.ids[position], at


def quoting_period(every: Fixtures, *, earliest: int, lead: int) -> tuple[int, int]:
    """When fixtures can be bet on or priced: from ``lead`` before the first kick-off (not before
    ``earliest``) up to ``NOW`` or the last kick-off, whichever comes first."""
    lo = max(earliest, int(every.starts[0]) - lead)
    return lo, max(lo + SECOND, min(NOW, int(every.starts[-1])))


def next_kickoff(every: Fixtures, after: Ints) -> Ints:
    """The position of the first fixture kicking off strictly after each instant (or the last)."""
    at = np.searchsorted(every.starts, after, side="right")
    return np.minimum(at, len(every.starts) - 1)


def being_played(rng: np.random.Generator, every: Fixtures, at: Ints, *, window: int) -> tuple[Ints, Mask]:
    """For each instant, a random fixture that kicked off in ``(at - window, at]``, and whether
    there was one (where not, the position is meaningless)."""
    first = np.searchsorted(every.starts, at - window, side="right")
    count = np.searchsorted(every.starts, at, side="right") - first
    position = first + (rng.random(len(at)) * count).astype(np.int64)
    return np.minimum(position, len(every.starts) - 1), count > 0


def pick_fixtures(
    rng: np.random.Generator, every: Fixtures, at: Ints, *, seed: int, in_play: float, lead: Ints
) -> tuple[Ints, Mask]:
    """The match of each quote or bet made at ``at``, and whether it was made in play.

    A share ``in_play`` are on a match being played at that moment (not a called-off one); the
    rest on the first fixture kicking off at least ``lead`` later.
    """
    live_pos, on = being_played(rng, every, at, window=IN_PLAY)
    live = (rng.random(len(at)) < in_play) & on
    live &= ~match_cancelled(every.ids[live_pos], seed=seed)
    ahead = next_kickoff(every, at + lead)
    late = every.starts[ahead] <= at  # nothing kicks off ``lead`` later: take the next one
    ahead[late] = next_kickoff(every, at[late])
    return every.ids[np.where(live, live_pos, ahead)], live
