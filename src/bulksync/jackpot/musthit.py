"""Must-hit-by: a pool that reaches its must-hit-by amount is won by the contribution that took it there.

The casino's rule: a must-hit-by pool never shows more than its must-hit-by amount. The
contribution whose share takes the pool to or over it wins the pool at that moment: the win
pays exactly the must-hit-by amount, the pool restarts at its seed, and the part of the share
above the must-hit-by amount (the overflow) stays in the reset pool. The win is recorded in
the ledger like any other (``kind = 'must_hit_by'``, ``user_id`` = the triggering
contribution's id, which the casino maps to the player's spin) in the same transaction as the
contribution, so it happens exactly once, with it or not at all.

Contributions are walked in ledger order (``seq``), so which contribution wins is defined even
inside one group commit. A pool that would not reach its amount with the whole commit's shares
is moved in one step, as every pool without the rule is.
"""

from __future__ import annotations

from dataclasses import dataclass

from bulksync.jackpot.model import PoolState
from bulksync.jackpot.money import share

KIND = "must_hit_by"


@dataclass(frozen=True, slots=True)
class MustHit:
    """One pool won by a contribution reaching its must-hit-by amount."""

    win_id: str
    pool: str
    contribution_id: str
    seq: int  # the triggering contribution's ledger order: every share up to it counts toward the win
    before_minor: int
    paid_minor: int
    after_minor: int


def add_shares(pools: dict[str, PoolState], rows: list[tuple[int, str, int]]) -> list[MustHit]:
    """Add every ``(seq, contribution_id, wager_minor)`` row's share to every pool; the wins it set off."""
    hits: list[MustHit] = []
    ordered: list[tuple[int, str, int]] | None = None
    for pool in pools.values():
        total = sum(share(w, pool.rate_ppm) for *_, w in rows)
        limit = pool.must_hit_by_minor
        if limit is None or _capped(pool, pool.amount_minor + total) < limit:
            pool.add(total)
            continue
        ordered = ordered or sorted(rows)
        for seq, contribution_id, wager in ordered:
            pool.add(share(wager, pool.rate_ppm))
            hits += _settle(pool, limit, seq, contribution_id)
    return sorted(hits, key=lambda h: (h.seq, h.pool))


def _capped(pool: PoolState, amount: int) -> int:
    return amount if pool.cap_minor is None else min(pool.cap_minor, amount)


def _settle(pool: PoolState, limit: int, seq: int, contribution_id: str) -> list[MustHit]:
    """Pay ``pool`` out while it is at or over ``limit`` (more than once only for a share larger
    than the distance from seed to limit)."""
    hits: list[MustHit] = []
    while pool.amount_minor >= limit:
        before = pool.amount_minor
        pool.amount_minor = pool.seed_minor + before - limit  # limit > seed: this ends
        suffix = f":{len(hits) + 1}" if hits else ""
        hits.append(
            MustHit(f"{KIND}:{pool.name}:{seq}{suffix}", pool.name, contribution_id, seq, before, limit,
                    pool.amount_minor)
        )  # fmt: skip
    return hits
