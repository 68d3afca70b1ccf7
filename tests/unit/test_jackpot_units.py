"""The jackpot's pieces that need no server: money, pool rules, and its independence from the engine."""

from __future__ import annotations

import ast
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from bulksync.jackpot.config import JackpotSettings, PoolLevel
from bulksync.jackpot.model import PoolState
from bulksync.jackpot.money import share, to_minor, to_text
from bulksync.jackpot.musthit import MustHit, add_shares

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "bulksync" / "jackpot"


def test_amounts_are_exact_cents_and_shares_round_down() -> None:
    assert to_minor(Decimal("12.34")) == 1234 and to_minor(Decimal("0.1")) == 10
    with pytest.raises(ValueError, match="more than 2 decimal places"):
        to_minor(Decimal("1.005"))
    assert [to_text(m) for m in (0, 5, 1234, -250)] == ["0.00", "0.05", "12.34", "-2.50"]
    assert share(250, 5000) == 1  # 0.5 % of 2.50 is 1.25 cents: the pool gets 1
    assert sum(share(1, 5000) for _ in range(300_000)) == 0  # no float drift, and no rounding up


def test_a_capped_pool_stops_at_its_cap_whatever_the_order() -> None:
    pool = PoolState("mini", 900, 1000, 1200, 5000, "EUR")
    for add in (150, 100, 75):
        pool.add(add)
    assert pool.amount_minor == 1200


def test_pool_rules_are_checked_when_the_settings_are_read() -> None:
    with pytest.raises(ValidationError, match=r"cap 5\.00 is below its seed 10\.00"):
        PoolLevel(name="mini", rate_percent=Decimal("1"), seed=Decimal("10.00"), cap=Decimal("5.00"))
    with pytest.raises(ValidationError, match="pool names must be unique: mini"):
        JackpotSettings(pools=[PoolLevel(name="mini", rate_percent=Decimal("1"), seed=Decimal("1"))] * 2)
    level = PoolLevel(name="grand", rate_percent=Decimal("0.0125"), seed=Decimal("10000.00"))
    assert (level.rate_ppm, level.seed_minor, level.cap_minor) == (125, 1_000_000, None)


def test_the_jackpot_package_does_not_import_the_bulk_engine() -> None:
    found = []
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            found += [
                f"{path.name}: {n}" for n in names if n.startswith(("bulksync.engine", "bulksync.connectors"))
            ]
    assert found == []


def test_must_hit_by_is_won_by_the_contribution_that_reaches_it_in_ledger_order() -> None:
    pools = {
        "hot": PoolState("hot", 900, 100, None, 100_000, "EUR", must_hit_by_minor=1000),  # 10 %
        "slow": PoolState("slow", 0, 0, None, 10_000, "EUR"),  # 1 %, no rule
    }
    rows = [(3, "c3", 100), (1, "c1", 500), (2, "c2", 800)]  # (seq, id, wager), out of order
    hits = add_shares(pools, rows)
    # c1: 950; c2: 1030 ≥ 1000 → pays 1000, 30 over stays on the seed: 130; c3: 140
    assert hits == [MustHit("must_hit_by:hot:2", "hot", "c2", 2, 1030, 1000, 130)]
    assert (pools["hot"].amount_minor, pools["slow"].amount_minor) == (140, 14)


def test_one_share_larger_than_seed_to_limit_wins_the_pool_as_often_as_it_fills_it() -> None:
    pool = PoolState("hot", 100, 100, 5000, 1_000_000, "EUR", must_hit_by_minor=300)  # 100 %, cap 50
    hits = add_shares({"hot": pool}, [(7, "big", 450)])  # 550: 300 paid → 350: 300 paid → 150
    assert [(h.win_id, h.before_minor, h.paid_minor, h.after_minor) for h in hits] == [
        ("must_hit_by:hot:7", 550, 300, 350),
        ("must_hit_by:hot:7:2", 350, 300, 150),
    ]
    assert pool.amount_minor == 150
    assert add_shares({"hot": pool}, [(8, "small", 100)]) == [] and pool.amount_minor == 250


def test_must_hit_by_must_lie_between_seed_and_cap() -> None:
    with pytest.raises(ValidationError, match=r"must_hit_by 60\.00 is above its cap 50\.00"):
        PoolLevel(name="hot", rate_percent=Decimal("1"), seed=Decimal("1"), cap=Decimal("50.00"),
                  must_hit_by=Decimal("60.00"))  # fmt: skip
