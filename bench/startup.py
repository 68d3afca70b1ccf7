"""What a command costs before it does anything: wall time and peak RSS of whole processes.

    python bench/startup.py [--runs 5] [--source bets.db] [--pg postgresql://postgres@127.0.0.1/test]

Prints one table: each command's median and best wall time and its peak RSS, beside its
target, and — with a
SQLite source and a PostgreSQL database — ``copy``'s time from the process start to its first
committed batch, as the copy reports it (``first_batch_from_process_start_s`` of ``--json``;
``first_batch_s`` counts from the sync's start, after the imports). The machine is noisy:
read the medians, and run it on a quiet machine before quoting a figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # `python bench/startup.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.context import bulksync_command

# command (after `bulksync`), target wall seconds, target peak RSS MB
TARGETS: list[tuple[list[str], float, float]] = [
    (["--version"], 0.15, 60),
    (["--help"], 0.15, 60),
    (["copy", "--help"], 0.4, 60),
    (["jobs"], 0.4, 60),
    (["jobs", "--status", "queued"], 0.4, 60),
]


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB and stdout of one run of ``command``.

    The RSS comes from GNU time (``/usr/bin/time -f %M``) when it is there: a child's own
    ``ru_maxrss`` would count this harness's pages copied at fork."""
    gnu_time = Path("/usr/bin/time")
    wrapped = [str(gnu_time), "-f", "RSS_KB %M", *command] if gnu_time.exists() else command
    began = time.perf_counter()
    done = subprocess.run(wrapped, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited with {done.returncode}: {done.stderr[-500:]}")
    kb = [line for line in done.stderr.splitlines() if line.startswith("RSS_KB ")]
    return wall, (int(kb[-1].split()[1]) / 1024 if kb else float("nan")), done.stdout


Row = tuple[str, str, str, str, str, str]
HEADERS = ("command", "median s", "best s", "peak RSS MB", "target", "met")


def measure(runs: int, source: Path | None, pg: str) -> list[Row]:
    """One row per command of ``TARGETS``, and copy's time to its first batch with ``source``."""
    cli = bulksync_command()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "BULKSYNC_JOB_STORE": str(Path(tmp) / "jobs.db")}
        subprocess.run([*cli, "copy", "--help"], capture_output=True, check=True, env=env)  # warm caches
        make_store = "import sys; from bulksync.jobs.store import JobStore; JobStore(sys.argv[1]).close()"
        # `jobs` reads an (empty) store and never makes one; made in a child, this harness stays small
        subprocess.run([sys.executable, "-c", make_store, env["BULKSYNC_JOB_STORE"]], check=True, env=env)
        for args_, wall_target, rss_target in TARGETS:
            timings = [timed([*cli, *args_], env) for _ in range(runs)]
            walls = [w for w, _, _ in timings]
            rss = max(r for _, r, _ in timings)
            ok = statistics.median(walls) <= wall_target and rss <= rss_target
            rows.append(
                (
                    "bulksync " + " ".join(args_),
                    f"{statistics.median(walls):.3f}",
                    f"{min(walls):.3f}",
                    f"{rss:.0f}",
                    f"< {wall_target} s, < {rss_target} MB",
                    "yes" if ok else "NO",
                )
            )
        if source is not None:
            firsts, in_sync = [], []
            for _ in range(max(1, runs // 2)):
                command = [*cli, "copy", str(source), pg, "--table", "bets", "--mode", "replace"]
                _, rss, out = timed([*command, "--json"], env)
                done = json.loads(out)
                firsts.append(float(done["first_batch_from_process_start_s"]))
                in_sync.append(float(done["first_batch_s"]))
            for what, values in (("process start", firsts), ("sync start", in_sync)):
                median = statistics.median(values)
                rows.append(
                    (
                        f"copy: {what} → first committed batch",
                        f"{median:.3f}",
                        f"{min(values):.3f}",
                        f"{rss:.0f}",
                        "≤ 0.5 s" if what == "process start" else "-",
                        ("yes" if median <= 0.5 else "NO") if what == "process start" else "-",
                    )
                )
    return rows


def markdown(rows: list[Row]) -> str:
    """The rows as a Markdown table (``run.py``'s report)."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|---|---:|---:|---:|---|---|"]
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)]) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--source", type=Path, help="a SQLite file with a bets table (time to first batch)")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1/test")
    args = parser.parse_args(argv)
    rows = measure(args.runs, args.source, args.pg)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADERS)]
    for line in (HEADERS, tuple("-" * w for w in widths), *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)))


if __name__ == "__main__":
    main()
