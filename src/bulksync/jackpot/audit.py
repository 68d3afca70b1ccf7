"""``audit``: every pool recomputed from the ledger, and every win checked against it.

A pool's amount must be ``min(cap, after + Σ shares)``: ``after`` is what its last win left (its
seed if it never paid), the shares those of every contribution counted since (``seq`` above the
win's ``last_seq``). Capping is safe to recompute in one step because shares are never negative.
Each win's ``before`` is checked the same way against the win before it, and what it left: a
claim leaves ``max(seed, before - paid)``; a must-hit-by win pays exactly the must-hit-by amount
and leaves ``seed + before - paid`` (the overflow stays in the pool). Drift is 0 or a bug.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_POOLS = """
WITH last AS (
    SELECT DISTINCT ON (pool) pool, after_minor, last_seq FROM jackpot.wins ORDER BY pool, id DESC
)
SELECT p.name, p.amount_minor, p.seed_minor, p.cap_minor,
       COALESCE(l.after_minor, p.seed_minor),
       COALESCE((SELECT sum(c.wager_minor * p.rate_ppm / 1000000) FROM jackpot.contributions c
                 WHERE c.seq > COALESCE(l.last_seq, 0)), 0),
       (SELECT count(*) FROM jackpot.wins w WHERE w.pool = p.name)
FROM jackpot.pools p LEFT JOIN last l ON l.pool = p.name
ORDER BY p.name
"""

_WINS = """
WITH w AS (
    SELECT w.pool, w.win_id, w.id, w.before_minor, w.paid_minor, w.after_minor, w.last_seq,
           COALESCE(lag(w.after_minor) OVER pw, p.seed_minor) AS prev_after,
           COALESCE(lag(w.last_seq) OVER pw, 0) AS prev_seq, p.rate_ppm, p.cap_minor, p.seed_minor,
           w.kind, p.must_hit_by_minor
    FROM jackpot.wins w JOIN jackpot.pools p ON p.name = w.pool
    WINDOW pw AS (PARTITION BY w.pool ORDER BY w.id)
)
SELECT w.win_id, w.before_minor, w.paid_minor, w.after_minor, w.seed_minor, w.cap_minor, w.prev_after,
       COALESCE(sum(c.wager_minor * w.rate_ppm / 1000000), 0), w.kind, w.must_hit_by_minor
FROM w LEFT JOIN jackpot.contributions c ON c.seq > w.prev_seq AND c.seq <= w.last_seq
GROUP BY w.win_id, w.id, w.before_minor, w.paid_minor, w.after_minor, w.seed_minor, w.cap_minor,
         w.prev_after, w.kind, w.must_hit_by_minor
ORDER BY w.id
"""


@dataclass(frozen=True)
class PoolAudit:
    """One pool: what it holds, what the ledger says it should, and the difference."""

    name: str
    amount_minor: int
    expected_minor: int
    wins: int

    @property
    def drift_minor(self) -> int:
        return self.amount_minor - self.expected_minor


@dataclass(frozen=True)
class Audit:
    pools: list[PoolAudit]
    bad_wins: list[str]  # one line per win whose amounts the ledger does not explain
    contributions: int

    @property
    def clean(self) -> bool:
        return not self.bad_wins and all(p.drift_minor == 0 for p in self.pools)

    def to_dict(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "contributions": self.contributions,
            "pools": [
                {"name": p.name, "amount_minor": p.amount_minor, "expected_minor": p.expected_minor,
                 "drift_minor": p.drift_minor, "wins": p.wins}
                for p in self.pools
            ],
            "bad_wins": self.bad_wins,
        }  # fmt: skip


def _capped(value: int, cap: int | None) -> int:
    return value if cap is None else min(cap, value)


def audit(conn: Any) -> Audit:
    """Recompute every pool and win from the ledger in one snapshot (``conn``: psycopg, sync)."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        pools = [
            PoolAudit(name, int(amount), _capped(int(base) + int(added), cap), int(wins))
            for name, amount, _seed, cap, base, added, wins in conn.execute(_POOLS).fetchall()
        ]
        bad: list[str] = []
        for row in conn.execute(_WINS).fetchall():
            win_id, before, paid, after, seed, cap, prev_after, added, kind, must_hit_by = row
            expected = _capped(int(prev_after) + int(added), cap)
            if kind == "must_hit_by":
                left, ok = seed + before - paid, paid == must_hit_by and before >= paid
            else:
                left, ok = max(seed, before - paid), paid <= before
            if before != expected or not ok or after != left:
                bad.append(f"win {win_id}: before {before} (ledger: {expected}), paid {paid}, after {after}")
        (count,) = conn.execute("SELECT count(*) FROM jackpot.contributions").fetchone()
    return Audit(pools, bad, int(count))
