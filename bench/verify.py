"""``bulksync verify`` on the 1 M-row bets table: rows/s per side, CPU time and peak RSS.

    python -m bench.verify [--rows 1000000] [--pg postgresql://postgres@127.0.0.1/bench]
                           [--repeat N] [--quiet-wait S] [--reuse-copies]

Builds (once) the generated SQLite source, then a SQLite copy and a PostgreSQL copy with
``bulksync copy`` (again on every run unless ``--reuse-copies`` finds them complete), then times
``bulksync verify --json`` for SQLite ↔ SQLite, SQLite ↔ PostgreSQL and PostgreSQL ↔
PostgreSQL. The machine has 2 cores and is shared: CPU time (user + sys of the verify process,
and of each side's thread) is printed next to the wall time, with ``verify s`` (the verify
itself, without the process's start-up and imports) and the CPU use of the whole machine just
before the run (``busy %``: other processes, since none of ours is running yet).
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
from pathlib import Path

import psutil
import psycopg

if __package__ in (None, ""):  # run as `python bench/verify.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bets import TABLE
from bench.context import REPO_ROOT, bulksync_command
from bench.dataset import generate_source
from bench.measure import child_env, measure, wait_for_quiet
from bench.postgres import ensure_database

TARGET = 500_000  # rows/s per side (issue 3)


COPY_TABLE = "bets_verify"  # its own table: another bench's ``bets`` may hold other rows


def _copy(source: str, dest: str, *extra: str) -> None:
    command = [*bulksync_command(), "copy", source, dest, "--table", TABLE, "--quiet", *extra]
    subprocess.run(command, check=True, env=child_env(REPO_ROOT))


def _count(url: str, table: str) -> int:
    """Rows of ``table`` (0 if it does not exist) in a SQLite file or a PostgreSQL database."""
    try:
        if url.startswith("postgresql://"):
            with psycopg.connect(url) as conn:
                row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
                return int(row[0]) if row else 0
        if not Path(url).exists():
            return 0
        with sqlite3.connect(f"file:{url}?mode=ro", uri=True) as conn:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except (psycopg.Error, sqlite3.Error):
        return 0


def prepare(rows: int, data_dir: Path, pg: str, *, reuse: bool = False) -> tuple[str, str]:
    """The generated source, and SQLite and PostgreSQL copies of it (``bets_verify``): fresh,
    or with ``reuse`` the ones already there when they hold ``rows`` rows."""
    source = generate_source(rows=rows, data_dir=data_dir)
    copy = data_dir / f"bets-{rows}-verify-copy.db"
    if not (reuse and _count(str(copy), TABLE) == rows):
        for leftover in data_dir.glob(copy.name + "*"):
            leftover.unlink()
        _copy(str(source), str(copy))
    ensure_database(pg)
    if not (reuse and _count(pg, COPY_TABLE) == rows):
        _copy(str(source), pg, "--dest-table", COPY_TABLE, "--mode", "replace")
    return str(source), str(copy)


def run(
    name: str, source: str, dest: str, rows: int, *extra: str, quiet_wait: float = 0.0
) -> dict[str, object]:
    """Time one ``bulksync verify``; ``extra`` names the tables (``--table``, ``--dest-table``)."""
    busy = wait_for_quiet(quiet_wait) if quiet_wait > 0 else psutil.cpu_percent(interval=1.0)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = [*bulksync_command(), "verify", source, dest, "--json", "--quiet", *extra]
    done = measure([command], env=child_env(REPO_ROOT))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncodes[0] not in (0, 1):
        raise SystemExit(f"{name}: verify failed: {done.stderr.strip()}")
    result = json.loads(done.stdout)
    (table,) = result["tables"]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "pair": name,
        "rows": table["source_rows"],
        "equal": result["equal"],
        "wall_s": round(done.seconds, 2),
        "cpu_s": round(cpu, 2),
        "rows_per_s_per_side": round(rows / done.seconds),
        "verify_s": result["duration_s"],
        "busy_pct": round(busy),
        "source_cpu_s": table["source_cpu_s"],
        "dest_cpu_s": table["dest_cpu_s"],
        "peak_rss_mb": round(done.peak_rss_mb),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1/bench")
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / "bench/out/data")
    parser.add_argument("--repeat", type=int, default=1, help="runs per pair, best kept")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        help="wait up to S seconds for a quiet machine before each run",
    )
    parser.add_argument(
        "--reuse-copies", action="store_true", help="keep the SQLite and PostgreSQL copies when complete"
    )
    args = parser.parse_args()
    source, copy = prepare(args.rows, args.data_dir, args.pg, reuse=args.reuse_copies)
    pairs: list[tuple[str, str, str, tuple[str, ...]]] = [
        ("sqlite<->sqlite", source, copy, ("--table", TABLE)),
        ("sqlite<->postgres", source, args.pg, ("--table", TABLE, "--dest-table", COPY_TABLE)),
        ("postgres<->postgres", args.pg, args.pg, ("--table", COPY_TABLE)),  # two connections
    ]
    print(
        f"{'pair':22} {'rows':>10} {'wall s':>7} {'cpu s':>7} {'rows/s/side':>12} {'verify s':>9} "
        f"{'src cpu':>8} {'dst cpu':>8} {'RSS MB':>7} {'busy %':>7}  equal"
    )
    for name, src, dst, extra in pairs:
        runs = [
            run(name, src, dst, args.rows, *extra, quiet_wait=args.quiet_wait) for _ in range(args.repeat)
        ]
        best = min(runs, key=lambda r: float(str(r["wall_s"])))
        print(
            f"{name:22} {best['rows']:>10,} {best['wall_s']:>7} {best['cpu_s']:>7} "
            f"{best['rows_per_s_per_side']:>12,} {best['verify_s']:>9} {best['source_cpu_s']:>8} "
            f"{best['dest_cpu_s']:>8} {best['peak_rss_mb']:>7} {best['busy_pct']:>7}  {best['equal']}"
        )
    print(f"target: {TARGET:,} rows/s per side")


if __name__ == "__main__":
    main()
