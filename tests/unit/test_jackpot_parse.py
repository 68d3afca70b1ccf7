"""The contributions parser's quick path takes only what the documented models take, and turns
it into the very same values; everything else goes to the models, whose errors are the answer."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from bulksync.api.jackpot_parse import _quick, parse
from bulksync.jackpot.bodies import BatchIn
from bulksync.jackpot.config import JackpotSettings

BASE = {"contribution_id": "c-1", "game_id": "g", "wager_amount": "2.50", "timestamp": "2026-12-03T12:00:00Z"}
SAME = [  # each valid: the quick path must give what the models give
    {}, {"wager_amount": "12"}, {"wager_amount": "12.5"}, {"wager_amount": 7}, {"wager_amount": 0.25},
    {"wager_amount": "1000000000.00"}, {"wager_amount": "0007.10"},
    {"timestamp": "2026-12-03T12:00:00.123456+05:30"}, {"timestamp": "2026-12-03T12:00:00-00:00"},
]  # fmt: skip
SLOW = [  # each the models decide (valid or not): the quick path stands aside
    {"wager_amount": "+5"}, {"wager_amount": ".5"}, {"wager_amount": "5."}, {"wager_amount": "1.005"},
    {"wager_amount": "0.00"}, {"wager_amount": "1000000000.01"}, {"wager_amount": "NaN"},
    {"wager_amount": "1e3"}, {"wager_amount": "١٢"}, {"wager_amount": 1 / 3}, {"timestamp": 1764763200},
    {"timestamp": "2026-02-30T12:00:00Z"}, {"timestamp": "2026-12-03T12:00:00"}, {"extra": 1},
]  # fmt: skip


def _body(change: dict[str, Any]) -> bytes:
    return json.dumps([{**BASE, **change}]).encode()


@pytest.mark.parametrize("change", SAME, ids=[json.dumps(c) for c in SAME])
def test_the_quick_path_gives_what_the_models_give(change: dict[str, Any]) -> None:
    quick = _quick(_body(change), True)
    full = [item.to_value() for item in TypeAdapter(BatchIn).validate_json(_body(change))]
    assert quick is not None
    assert [q[:4] for q in quick] == [f[:4] for f in full]
    assert dt.datetime.fromisoformat(quick[0].placed_text) == full[0].placed_at


@pytest.mark.parametrize("change", SLOW, ids=[json.dumps(c) for c in SLOW])
def test_anything_else_is_left_to_the_models_and_their_answer_stands(change: dict[str, Any]) -> None:
    assert _quick(_body(change), True) is None
    values, _, found = parse(_body(change), JackpotSettings())
    try:
        expected = [item.to_value() for item in TypeAdapter(BatchIn).validate_json(_body(change))]
    except ValidationError:
        assert values == [] and found and found[0]["field"].startswith("body.0")
    else:
        assert values == expected and found == []
