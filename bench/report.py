"""Markdown out of the results: the machine, one table per scenario, the targets."""

from __future__ import annotations

import datetime as dt
import os
import platform
from typing import Any

import psutil

from bench.measure import GNU_TIME, QUIET_BELOW_PCT
from bench.runner import Result
from bench.scenarios import SCENARIOS
from bench.targets import TARGETS, Results

HEADER = "| tool | rows | seconds | rows/s | peak RSS MB | ratio vs bulksync |"
RULE = "|---|---:|---:|---:|---:|---:|"


def machine_info(pg_version: str) -> dict[str, Any]:
    """Date, CPUs (as ``nproc`` counts them), memory, OS and PostgreSQL version."""
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": len(os.sched_getaffinity(0)),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
        "postgresql": pg_version,
        "rss_method": f"{GNU_TIME} -v + psutil tree polling"
        if GNU_TIME.exists()
        else "psutil tree polling (no /usr/bin/time)",
    }


def render(machine: dict[str, Any], setup: dict[str, Any], results: Results) -> str:
    """The whole report as Markdown."""
    lines = [
        f"# bulksync benchmark, {machine['date']}",
        "",
        f"- machine: nproc {machine['nproc']}, {machine['memory_gib']} GiB RAM, {machine['os']}",
        "- load average (1/5/15 min) when the report was written: "
        + " / ".join(f"{x:.2f}" for x in machine["load_average"]),
        f"- {machine['postgresql']}",
        *([f"- {machine['mariadb']}"] if machine.get("mariadb") else []),
        f"- data: {setup['data']}, source `{setup['source_db']}` ({setup['rows']:,} rows), "
        f"best of {setup['repeat']}, "
        f"peak RSS by {machine['rss_method']}",
        "- seconds: wall time of the whole process (start-up and imports included)",
    ]
    for name, by_tool in results.items():
        lines += ["", *_table(name, by_tool, setup["data"])]
    lines += ["", "## Targets", "", *(_targets(results) or ["- none set for these scenarios"])]
    return "\n".join(lines) + "\n"


def _table(scenario: str, by_tool: dict[str, Result], data: str) -> list[str]:
    spec = SCENARIOS[scenario]
    subject = by_tool.get(spec.subject)
    subject_rate = subject.rows_per_s if subject else None
    lines = [f"## {spec.title}, data: {data}", "", HEADER, RULE]
    notes = []
    for result in by_tool.values():
        lines.append(_row(result, subject_rate))
        if result.error:
            notes.append(f"- {result.tool} FAILED: {result.error}")
        elif result.busy_pct is not None and result.busy_pct >= QUIET_BELOW_PCT:
            notes.append(
                f"- {result.tool}: other processes used {result.busy_pct:.0f}% CPU "
                "just before its run (noisy number)"
            )
    lines += [
        "",
        f"ratio vs bulksync = {spec.subject} rows/s ÷ the tool's rows/s (above 1: {spec.subject} is faster)",
        *notes,
    ]
    return lines


def _row(result: Result, subject_rate: float | None) -> str:
    rate = result.rows_per_s
    if rate is None or result.seconds is None:
        cells = ["—", "FAILED", _mb(result.peak_rss_mb), "—"]
    else:
        ratio = f"{subject_rate / rate:.2f}x" if subject_rate else "—"
        cells = [f"{result.seconds:.2f}", f"{rate:,.0f}", _mb(result.peak_rss_mb), ratio]
    return "| " + " | ".join([result.tool, f"{result.rows:,}", *cells]) + " |"


def _mb(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def _targets(results: Results) -> list[str]:
    lines = []
    for target in TARGETS:
        if target.scenario not in results:
            continue
        verdict, detail = target.check(results)
        lines.append(f"- **{verdict}** {target.text}: {detail}")
    return lines
