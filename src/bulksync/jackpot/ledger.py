"""The ledger's tables in PostgreSQL (schema ``jackpot``) and ``init``, which creates them.

    ledger         one row: this ledger's id (its cache key in a shared Redis)
    pools          one row per level: its rules (frozen while it runs), its amount and
                   ``version``, the number of commits that moved the pools
    contributions  one row per applied contribution, keyed by the client's contribution_id;
                   ``seq`` is taken while the writer holds every pool's row lock, so it is
                   the order in which contributions reached the pools
    wins           one row per paid win, keyed by win_id: the amount before, paid and after,
                   ``last_seq``, the last contribution counted toward it, and its ``kind``:
                   ``claim`` (sent to POST /wins) or ``must_hit_by`` (see ``musthit.py``)

Only rows a statement actually inserted move a pool (``ON CONFLICT DO NOTHING``): a contribution
or a win sent twice is stored and counted once. The pool rows have no index but their key and
room on their pages (fillfactor), so the hot updates stay HOT.
"""

from __future__ import annotations

from typing import Any

from bulksync.errors import UsageError
from bulksync.jackpot.config import JackpotSettings

DDL = """
CREATE SCHEMA IF NOT EXISTS jackpot;
CREATE SEQUENCE IF NOT EXISTS jackpot.contribution_seq;
CREATE TABLE IF NOT EXISTS jackpot.pools (
    name text PRIMARY KEY,
    rate_ppm integer NOT NULL CHECK (rate_ppm > 0 AND rate_ppm <= 1000000),
    seed_minor bigint NOT NULL CHECK (seed_minor >= 0),
    cap_minor bigint CHECK (cap_minor >= seed_minor),
    must_hit_by_minor bigint,
    amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
    currency char(3) NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 50);
CREATE TABLE IF NOT EXISTS jackpot.contributions (
    contribution_id text PRIMARY KEY,
    seq bigint NOT NULL DEFAULT nextval('jackpot.contribution_seq'),
    game_id text NOT NULL,
    wager_minor bigint NOT NULL CHECK (wager_minor > 0),
    placed_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS jackpot.wins (
    win_id text PRIMARY KEY,
    id bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    pool text NOT NULL REFERENCES jackpot.pools (name),
    user_id text NOT NULL,
    requested_minor bigint,
    paid_minor bigint NOT NULL CHECK (paid_minor >= 0),
    before_minor bigint NOT NULL,
    after_minor bigint NOT NULL,
    last_seq bigint NOT NULL,
    won_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE jackpot.pools ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS jackpot.ledger (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO jackpot.ledger (created_at) SELECT now() WHERE NOT EXISTS (SELECT FROM jackpot.ledger);
ALTER TABLE jackpot.wins ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'claim'
    CHECK (kind IN ('claim', 'must_hit_by'));
"""

RULES = ("rate_ppm", "seed_minor", "cap_minor", "must_hit_by_minor", "currency")


def init(conn: Any, settings: JackpotSettings) -> list[str]:
    """Create the tables and the configured pools that are missing; what was done, one line each.

    A pool that exists keeps its amount. Its rules cannot change while it runs (the audit and
    the players rely on them): a differing configuration is refused, naming the pool and rule.
    """
    done: list[str] = []
    with conn.transaction():
        conn.execute(DDL)
        rows = conn.execute(f"SELECT name, {', '.join(RULES)} FROM jackpot.pools").fetchall()
        have = {r[0]: dict(zip(RULES, r[1:], strict=True)) for r in rows}
        for level in settings.pools:
            wanted = {
                "rate_ppm": level.rate_ppm, "seed_minor": level.seed_minor, "cap_minor": level.cap_minor,
                "must_hit_by_minor": level.must_hit_by_minor, "currency": settings.currency,
            }  # fmt: skip
            found = have.get(level.name)
            if found is None:
                conn.execute(
                    "INSERT INTO jackpot.pools (name, rate_ppm, seed_minor, cap_minor, must_hit_by_minor,"
                    " amount_minor, currency) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (level.name, level.rate_ppm, level.seed_minor, level.cap_minor,
                     level.must_hit_by_minor, level.seed_minor, settings.currency),
                )  # fmt: skip
                done.append(f"created pool {level.name} at its seed {level.seed}")
                continue
            changed = [k for k in RULES if found[k] != wanted[k]]
            if changed:
                raise UsageError(
                    f"pool {level.name!r} exists with another {changed[0]} ({found[changed[0]]}, "
                    f"configured {wanted[changed[0]]}): a running pool's rules are frozen; "
                    "configure a new pool level instead"
                )
            done.append(f"pool {level.name} exists, unchanged")
    return done
