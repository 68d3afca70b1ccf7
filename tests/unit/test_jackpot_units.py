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
