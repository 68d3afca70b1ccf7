"""How verify sizes its source chunks: small at both ends, chunk_rows in between."""

from __future__ import annotations

from bulksync.verification.run import RAMP, _limits


def sizes(chunk_rows: int, estimate: int, actual: int) -> list[int]:
    """The limits asked for while reading ``actual`` rows that were estimated at ``estimate``."""
    limits = _limits(chunk_rows, estimate)
    asked, read = [next(limits)], 0
    while True:
        got = min(asked[-1], actual - read)
        read += got
        if got < asked[-1]:
            return asked
        asked.append(limits.send(got))


def test_chunks_grow_to_chunk_rows_then_shrink_over_the_last_rows() -> None:
    asked = sizes(100_000, 1_000_000, 1_000_000)
    assert asked[0] == 100_000 // RAMP
    assert max(asked) == 100_000 and asked.count(100_000) >= 5
    assert asked[:5] == sorted(asked[:5])  # doubling up to chunk_rows
    assert asked[-2] < 20_000  # the destination's last chunks are small too
    assert sum(asked[:-1]) < 1_000_000 <= sum(asked)


def test_a_wrong_estimate_costs_speed_never_rows() -> None:
    too_low = sizes(1_000, 10, 50_000)
    assert max(too_low) == 1_000 and len(too_low) < 60  # past the estimate: full chunks again
    assert sizes(1_000, 10**9, 5) == [1_000 // RAMP]
    assert sizes(2, 100, 100)[0] == 1  # the smallest chunk_rows still makes progress
