"""Money as integer minor units (cents): parsing decimal amounts, and each pool's share of a wager.

Never floating point: amounts arrive as decimal text or JSON numbers parsed into ``Decimal`` and
leave as integers of minor units plus the same amount as exact decimal text. A share is the
wager times the pool's rate in parts per million, rounded down to the cent; the ledger and the
audit use this one rule, so a recomputation is exact.
"""

from __future__ import annotations

from decimal import Decimal

MINOR_PER_UNIT = 100  # two decimal places
MAX_MINOR = 10**15  # far below bigint's limit, and below what a wager times a rate could overflow


def to_minor(amount: Decimal) -> int:
    """``Decimal("12.34")`` → 1234; an amount with more than two decimals is a ``ValueError``."""
    scaled = amount * MINOR_PER_UNIT
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more than 2 decimal places")
    return int(scaled)


def to_text(minor: int) -> str:
    """1234 → ``"12.34"`` (exact, for people and JSON clients that want a decimal)."""
    sign = "-" if minor < 0 else ""
    units, cents = divmod(abs(minor), MINOR_PER_UNIT)
    return f"{sign}{units}.{cents:02d}"


def share(wager_minor: int, rate_ppm: int) -> int:
    """The part of a wager that goes to a pool, rounded down to the minor unit."""
    return wager_minor * rate_ppm // 1_000_000
