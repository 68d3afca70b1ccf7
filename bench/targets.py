"""The numbers bulksync promises, each checked against this run's measurements."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from bench.runner import Result

Results = dict[str, dict[str, Result]]  # scenario → tool → best result
Verdict = tuple[str, str]  # PASS / FAIL / NOT MEASURED, and the numbers behind it
SEED_BETS_SYNC = 250 * 397  # rows/s: 250x what seed 000 publishes for its bet sync


class Target(NamedTuple):
    scenario: str
    text: str
    check: Callable[[Results], Verdict]


def _subject(results: Results, scenario: str, tool: str) -> Result | Verdict:
    """The tool's result, or the verdict when there is none: a failed subject fails the target."""
    result = results.get(scenario, {}).get(tool)
    if result is None:
        return "NOT MEASURED", f"{tool} not measured"
    if not result.ok:
        return "FAIL", f"{tool} FAILED ({result.error})"
    return result


def at_least(scenario: str, subject: str, baselines: list[str], factor: float) -> Target:
    """``subject`` rows/s ≥ ``factor`` x the fastest of ``baselines``."""
    names = baselines[0] if len(baselines) == 1 else f"max({', '.join(baselines)})"

    def check(results: Results) -> Verdict:
        rates = {}
        for name in baselines:
            found = _subject(results, scenario, name)
            if isinstance(found, Result) and found.rows_per_s:
                rates[name] = found.rows_per_s
        if not rates:
            return "NOT MEASURED", f"no result for {names}"
        mine = _subject(results, scenario, subject)
        if not isinstance(mine, Result):
            return mine
        best = max(rates, key=rates.__getitem__)
        rate, need = mine.rows_per_s or 0.0, factor * rates[best]
        detail = (
            f"{rate:,.0f} rows/s vs {factor:g} x {rates[best]:,.0f} ({best}) = {need:,.0f}"
            f" → {rate / rates[best]:.2f}x"
        )
        return ("PASS" if rate >= need else "FAIL"), detail

    return Target(scenario, f"{scenario}: {subject} ≥ {factor:g}x {names}", check)


def rate_at_least(scenario: str, subject: str, rows_per_s: float, why: str) -> Target:
    """``subject`` moves at least ``rows_per_s`` rows per second (``why``: where the number comes from)."""

    def check(results: Results) -> Verdict:
        mine = _subject(results, scenario, subject)
        if not isinstance(mine, Result):
            return mine
        rate = mine.rows_per_s or 0.0
        return (
            "PASS" if rate >= rows_per_s else "FAIL"
        ), f"{rate:,.0f} rows/s ({rate / rows_per_s:.2f}x the target)"

    return Target(scenario, f"{scenario}: {subject} ≥ {rows_per_s:,.0f} rows/s ({why})", check)


def rss_below(scenario: str, subject: str, limit_mb: float) -> Target:
    """``subject``'s peak RSS stays under ``limit_mb``."""

    def check(results: Results) -> Verdict:
        mine = _subject(results, scenario, subject)
        if not isinstance(mine, Result):
            return mine
        rss = mine.peak_rss_mb or 0.0
        return ("PASS" if rss < limit_mb else "FAIL"), f"{rss:.0f} MB"

    return Target(scenario, f"{scenario}: {subject} peak RSS < {limit_mb:g} MB", check)


def rss_flat(small: tuple[str, str], big: tuple[str, str], tolerance: float) -> Target:
    """The peak RSS of the ``big`` (scenario, tool) run is at most ``tolerance`` above the ``small``
    one: memory does not grow with the rows (less at 10 M rows than at 1 M is flat too)."""

    def check(results: Results) -> Verdict:
        lo, hi = _subject(results, *small), _subject(results, *big)
        if not isinstance(lo, Result):
            return lo
        if not isinstance(hi, Result):
            return hi
        lo_mb, hi_mb = lo.peak_rss_mb or 0.0, hi.peak_rss_mb or 0.0
        change = (hi_mb - lo_mb) / lo_mb if lo_mb else float("inf")
        detail = f"{hi_mb:.0f} MB at {hi.rows:,} rows vs {lo_mb:.0f} MB at {lo.rows:,} ({change:+.0%})"
        return ("PASS" if change <= tolerance else "FAIL"), detail

    text = f"{big[0]}: peak RSS of {big[1]} at most {tolerance:.0%} above {small[0]}'s {small[1]}"
    return Target(big[0], text, check)


# issue 15's targets: every tool a whole process, all measured in one run
TARGETS: list[Target] = [
    at_least("sqlite-pg", "bulksync", ["duckdb"], 0.9),
    at_least("sqlite-pg", "bulksync", ["seeds"], 10),
    rss_below("sqlite-pg", "bulksync", 200),
    at_least("big", "bulksync", ["duckdb"], 1.1),
    at_least("big", "bulksync", ["ceiling"], 0.9),
    rss_flat(("sqlite-pg", "bulksync"), ("big", "bulksync"), 0.10),
    at_least("pg-pg", "bulksync", ["copy_psql_pipe"], 0.9),
    at_least("pg-pg", "bulksync_2db", ["copy_psql_pipe_2db"], 0.9),
    rss_below("pg-pg", "bulksync", 200),
    at_least("sqlite-sqlite", "bulksync", ["executemany_25k"], 1.5),
    at_least("upsert", "bulksync_upsert", ["bulksync"], 0.5),
    at_least("mariadb-pg", "bulksync", ["connectorx_adbc"], 1.0),
    rss_below("mariadb-pg", "bulksync", 200),
    rate_at_least("mariadb-pg", "bets_sync", SEED_BETS_SYNC, "250x the seed's 397 rows/s"),
    rate_at_least("mariadb-pg", "bets_sync_rerun", SEED_BETS_SYNC, "250x the seed's 397 rows/s"),
]
