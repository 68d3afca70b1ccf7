"""How verify sizes its source chunks: small at both ends, full chunks in between, a full chunk
being --chunk-rows or as many rows as fit in the memory budget at the width read so far."""

from __future__ import annotations

from bulksync.verification.run import FIRST_ROWS, RAMP, _limits


def sizes(
    chunk_rows: int | None, estimate: int, actual: int, *, row_bytes: int = 100, mb: float = 4.0
) -> list[int]:
    """The limits asked for while reading ``actual`` rows that were estimated at ``estimate``."""
    limits = _limits(chunk_rows, estimate, mb)
    asked, read = [next(limits)], 0
    while True:
        got = min(asked[-1], actual - read)
        read += got
        if got < asked[-1]:
            return asked
        asked.append(limits.send((got, got * row_bytes)))


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


def test_without_chunk_rows_a_full_chunk_is_the_memory_budget_at_the_width_read() -> None:
    wide = sizes(None, 2_000_000, 2_000_000, row_bytes=160)  # the bets table: ~160 B a row
    assert wide[0] == FIRST_ROWS
    assert max(wide) == 4 * 2**20 // 160  # 26,214 rows: 4 MB
    narrow = sizes(None, 2_000_000, 2_000_000, row_bytes=16)
    assert max(narrow) == 4 * 2**20 // 16  # narrow rows: ten times as many in the same memory
    assert max(sizes(None, 10**8, 10**7, row_bytes=1)) == 1_000_000  # capped both ways
    assert max(sizes(None, 10**7, 10**6, row_bytes=100_000)) == 1_000
    assert sum(sizes(None, 10, 12_345, row_bytes=50)) >= 12_345  # every row still asked for
