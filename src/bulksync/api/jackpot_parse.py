"""A contributions request body → the writer's values, or the errors naming each bad item.

A batch of 1,000 is parsed on every request at millions a minute, and pydantic's constrained
``Decimal`` (bounds, two decimal places) costs ~10 µs per item, more than the rest of the
request. So a body is first parsed by a **quick** schema — the same ids (patterns), amounts as
plain decimal text (or a JSON number), timestamps as plain ISO 8601 text with a zone, no unknown
fields, into dicts rather than models — and the amounts are checked while they are turned into
cents (string splits and two ints, no ``Decimal``); the timestamp's text goes to
PostgreSQL as it came (formatting an aware datetime costs ~2.5 µs). Anything the quick path does
not accept outright (a bad amount, NaN, a missing field, malformed JSON, a JSON number for a
timestamp, …) is parsed again by the documented models (``bodies.ContributionIn``), whose errors
are the answer: a valid body is applied the same, an invalid one is refused with the same
messages, whichever path saw it. The quick path accepts a subset of what the models accept.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from bulksync.api.errors import field_errors
from bulksync.jackpot.bodies import ID, MAX_AMOUNT, MAX_BATCH, BatchIn, ContributionIn
from bulksync.jackpot.config import JackpotSettings
from bulksync.jackpot.model import Contribution
from bulksync.jackpot.money import MINOR_PER_UNIT

_ONE, _MANY = TypeAdapter(ContributionIn), TypeAdapter(BatchIn)


_ISO = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$"
_MAX_MINOR = int(MAX_AMOUNT) * MINOR_PER_UNIT


class _Quick(TypedDict):
    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    contribution_id: Annotated[str, Field(pattern=ID)]
    game_id: Annotated[str, Field(pattern=ID)]
    wager_amount: str | Decimal
    timestamp: Annotated[str, Field(pattern=_ISO)]


_QUICK_ONE = TypeAdapter(_Quick)
_QUICK_MANY = TypeAdapter(Annotated[list[_Quick], Field(min_length=1, max_length=MAX_BATCH)])


def parse(raw: bytes, settings: JackpotSettings) -> tuple[list[Contribution], bool, list[dict[str, Any]]]:
    """The contributions, whether the body was one object, and the errors (empty when valid)."""
    many = raw.lstrip()[:1] == b"["
    values = _quick(raw, many)
    if values is None:
        try:
            items = _MANY.validate_json(raw) if many else [_ONE.validate_json(raw)]
        except ValidationError as exc:
            return [], many, errors_of(exc)
        values = [item.to_value() for item in items]
    return values, many, _check(values, settings, many)


def _quick(raw: bytes, many: bool) -> list[Contribution] | None:
    """The contributions if the quick schema takes the body and every amount is a valid one."""
    try:
        items = _QUICK_MANY.validate_json(raw) if many else [_QUICK_ONE.validate_json(raw)]
    except ValidationError:
        return None
    values: list[Contribution] = []
    for item in items:
        minor = _cents(item["wager_amount"])
        if minor is None:
            return None
        text = item["timestamp"]
        try:
            placed = dt.datetime.fromisoformat(text)
        except ValueError:  # the pattern's shape, but no such day (Feb 30): the full schema says so
            return None
        values.append(Contribution(item["contribution_id"], item["game_id"], minor, placed, text))
    return values


def _cents(amount: str | Decimal) -> int | None:
    """``amount`` in cents if it is one ``bodies.Amount`` accepts (> 0, ≤ the maximum, two decimals)."""
    if isinstance(amount, str):  # "12", "12.5", "12.50": ASCII digits, at most two decimals
        units, dot, cents = amount.partition(".")
        if not (units.isascii() and units.isdecimal() and len(units) <= 10):
            return None
        if dot and not (cents.isascii() and cents.isdecimal() and len(cents) <= 2):
            return None
        minor = int(units) * MINOR_PER_UNIT + (int(cents) * (10 if len(cents) == 1 else 1) if cents else 0)
        return minor if 0 < minor <= _MAX_MINOR else None
    try:
        if not 0 < amount <= MAX_AMOUNT:
            return None
        scaled = amount * MINOR_PER_UNIT
        return int(scaled) if scaled == scaled.to_integral_value() else None
    except InvalidOperation:  # NaN
        return None


def errors_of(exc: ValidationError) -> list[dict[str, Any]]:
    """A body's validation errors as the API reports them (malformed JSON said as such)."""
    errors = exc.errors()
    if errors and errors[0]["type"] == "json_invalid":
        reason = str(errors[0].get("ctx", {}).get("error", "invalid JSON"))
        return [{"field": "body", "message": f"malformed JSON: {reason}", "type": "json_invalid"}]
    return field_errors(errors, prefix=("body",))


def _check(items: list[Contribution], settings: JackpotSettings, many: bool) -> list[dict[str, Any]]:
    """What the schema cannot know: the configured games and largest wager, ids twice in a batch."""
    found: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    games = set(settings.games)
    largest = settings.max_wager_minor
    for i, item in enumerate(items):
        at = f"body.{i}" if many else "body"
        first = seen.setdefault(item.contribution_id, i)
        if first != i:
            message = f"{item.contribution_id!r} appears twice in this batch (first at item {first})"
            found.append({"field": f"{at}.contribution_id", "message": message, "type": "duplicate_id"})
        if games and item.game_id not in games:
            message = f"unknown game {item.game_id!r} (BULKSYNC_JACKPOT_GAMES lists {len(games)})"
            found.append({"field": f"{at}.game_id", "message": message, "type": "unknown_game"})
        if item.wager_minor > largest:
            message = (
                f"more than the largest wager accepted ({settings.max_wager}, BULKSYNC_JACKPOT_MAX_WAGER)"
            )
            found.append({"field": f"{at}.wager_amount", "message": message, "type": "too_large"})
    return found
