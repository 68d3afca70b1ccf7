"""What the fake stores hold: users and videos, deterministic from a seed, and their faults.

Store ``s0001`` … ``sNNNN`` each have a few users and more videos; record ids are 1..n per store,
so (store_code, id) is the key. Nothing is random at request time: the same seed answers the
same pages, which is what lets a test compare the destination against the source.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

KINDS = ("users", "videos")
_EPOCH = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Fault:
    """Something wrong with one store's API.

    ``kind``: ``status`` (answer ``status`` to the first ``times`` requests, 429/503 with a
    Retry-After), ``drop`` (close the connection without an answer ``times`` times), ``malformed``
    (page ``page`` is not JSON), ``huge`` (page ``page`` is ``huge_bytes`` long), ``repeat`` (the
    cursor after page ``page`` points back to it), ``missing`` (page ``page`` has no records
    field), ``slow`` (each page takes ``seconds`` more), ``cap`` (no page holds more than
    ``cap`` records, whatever size was asked: many APIs cap their pages), ``value`` (every record
    of page ``page`` has ``field`` set to ``value``; with ``record``, only the record of that id
    has it, on whichever page holds it), ``endless`` (a next cursor or link after every page,
    empty ones too, as APIs with a ``has_more`` flag do).
    """

    kind: str
    status: int = 500
    times: int = 1_000_000
    page: int = 2
    huge_bytes: int = 2_000_000
    seconds: float = 0.0
    cap: int = 0
    field: str = ""
    value: Any = None
    record: int = 0  # ``value``: only this record id (0: every record of page ``page``)

    def changes(self, record: dict[str, Any], page: int) -> bool:
        """Whether this ``value`` fault sets ``field`` of ``record``, served on page ``page``."""
        if self.kind != "value":
            return False
        return record["id"] == self.record if self.record else page == self.page


@dataclass
class FakeStores:
    """The catalog: how many stores, how many records each, the faults, the shared token."""

    stores: int = 10
    seed: int = 4
    users: tuple[int, int] = (20, 60)  # records per store, inclusive range
    videos: tuple[int, int] = (60, 200)
    token: str = "fake-api-key"
    faults: dict[str, Fault] = field(default_factory=dict)
    overlap: set[str] = field(default_factory=set)  # stores whose pages repeat a record

    def codes(self) -> list[str]:
        return [code_of(i) for i in range(1, self.stores + 1)]

    def count(self, code: str, kind: str) -> int:
        low, high = self.users if kind == "users" else self.videos
        return random.Random(f"{self.seed}:{code}:{kind}").randint(low, high)

    def records(self, code: str, kind: str) -> list[dict[str, Any]]:
        """Every record of one store, in id order."""
        make = _user if kind == "users" else _video
        rng = random.Random(f"{self.seed}:{code}:{kind}:rows")
        return [make(code, i, rng) for i in range(1, self.count(code, kind) + 1)]

    def total(self, kind: str) -> int:
        return sum(self.count(c, kind) for c in self.codes())


def code_of(i: int) -> str:
    return f"s{i:04d}"


def _stamp(rng: random.Random) -> str:
    return (_EPOCH + dt.timedelta(seconds=rng.randint(0, 30 * 86_400))).isoformat().replace("+00:00", "Z")


def _user(code: str, i: int, rng: random.Random) -> dict[str, Any]:
    return {
        "id": i,
        "username": f"{code}_user{i}",
        "display_name": rng.choice(["Ana", "Bo", "Chén", "Dée 🎥", "Eve 'Q'"]) + f" {i}",
        "follower_count": rng.randint(0, 2_000_000),
        "profile": {"bio": rng.choice(["", "hi", "ünï"]), "verified": rng.random() < 0.1},
        "updated_at": _stamp(rng),
    }


def _video(code: str, i: int, rng: random.Random) -> dict[str, Any]:
    return {
        "id": i,
        "user_id": rng.randint(1, 60),
        "title": f"{code} video {i}" + rng.choice(["", " ✨", ' "quoted"']),
        "views": rng.randint(0, 10_000_000),
        "likes": rng.randint(0, 500_000),
        "duration_s": round(rng.uniform(3, 180), 2),
        "tags": rng.sample(["food", "dance", "tech", "pets", "news"], k=rng.randint(0, 3)),
        "updated_at": _stamp(rng),
    }
