"""The cost of running a copy as a background job instead of the direct CLI (target: < 5 % slower).

python bench/background.py [--rows 1000000] [--pg postgresql://postgres@127.0.0.1/bench] [--repeat 3]

Both copy the generated ``bets`` table from SQLite into the same freshly emptied PostgreSQL table:

- direct:      ``bulksync copy SRC PG --table bets --quiet``, timed from start to exit;
- background:  ``bulksync copy SRC PG --table bets --background``, timed from start until the job
               store (a temporary SQLite file) records the job's final status; the job itself runs
               in the detached runner, recording progress and heart-beating as it goes.

Runs alternate (direct, background, direct, …) and the best of each is compared; every job must
end ``succeeded`` with every row in the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/background.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bets import TABLE
from bench.context import REPO_ROOT, bulksync_command
from bench.dataset import generate_source
from bench.measure import QUIET_BELOW_PCT, wait_for_quiet
from bench.postgres import count_rows, ensure_database, reset_table
from bulksync.jobs.store import FINAL, JobStore

TARGET_PCT = 5.0
POLL_S = 0.02  # how often the waiting side looks at the store (adds at most this to a run)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in bets (1,000,000)")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1/bench", help="PostgreSQL DSN")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, best kept (3)")
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / "bench/out/data")
    parser.add_argument(
        "--quiet-wait", type=float, default=60.0,
        help=f"before each run, wait up to this many seconds for CPU use < {QUIET_BELOW_PCT:g}%% (0: never)",
    )  # fmt: skip
    return parser.parse_args(argv)


def copy_args(source: Path, pg: str) -> list[str]:
    return [*bulksync_command(), "copy", str(source), pg, "--table", TABLE]


@dataclass(frozen=True)
class Run:
    """Wall seconds from start to the end (exit, or the final status in the store), the part
    before rows start to move (process start-up, submitting), and the sync itself."""

    wall: float
    sync: float

    @property
    def before(self) -> float:
        return self.wall - self.sync


def run_direct(source: Path, pg: str, env: dict[str, str]) -> Run:
    started = time.perf_counter()
    done = subprocess.run([*copy_args(source, pg), "--json"], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"direct copy failed: {done.stderr.strip().splitlines()[-1:]}")
    return Run(seconds, float(json.loads(done.stdout)["duration_s"]))


def run_background(source: Path, pg: str, env: dict[str, str], store_path: Path) -> Run:
    """Until the store says the job ended; the sync is the job's own started→finished span."""
    started = time.perf_counter()
    done = subprocess.run([*copy_args(source, pg), "--background"], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"background copy failed: {done.stderr.strip().splitlines()[-1:]}")
    job_id = done.stdout.strip()
    store = JobStore(str(store_path))
    try:
        while (job := store.get(job_id)).status not in FINAL:
            time.sleep(POLL_S)
    finally:
        store.close()
    seconds = time.perf_counter() - started
    if job.status != "succeeded":
        raise SystemExit(f"job {job_id} ended {job.status}: {job.error}")
    assert job.started_at is not None and job.finished_at is not None
    return Run(seconds, (job.finished_at - job.started_at).total_seconds())


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    source = generate_source(rows=args.rows, data_dir=args.data_dir.resolve())
    ensure_database(args.pg)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BULKSYNC_")}
    runs: dict[str, list[Run]] = {"direct": [], "background": []}
    with tempfile.TemporaryDirectory(prefix="bulksync-bench-bg-") as tmp:
        store_path = Path(tmp) / "jobs.db"
        env["BULKSYNC_JOB_STORE"] = str(store_path)
        for attempt in range(1, max(1, args.repeat) + 1):
            for kind in ("direct", "background"):
                reset_table(args.pg, TABLE)
                if args.quiet_wait:
                    wait_for_quiet(args.quiet_wait)
                run = (
                    run_direct(source, args.pg, env)
                    if kind == "direct"
                    else run_background(source, args.pg, env, store_path)
                )
                runs[kind].append(run)
                rows = count_rows(args.pg, TABLE)
                if rows != args.rows:
                    raise SystemExit(f"{kind} run left {rows:,} rows in {TABLE}, not {args.rows:,}")
                print(f"  {kind} #{attempt}: {run.wall:.2f} s", file=sys.stderr, flush=True)
    best = {kind: min(found, key=lambda r: r.wall) for kind, found in runs.items()}
    print(report(args.rows, best["direct"], best["background"]))


def report(rows: int, direct: Run, background: Run) -> str:
    total = 100 * (background.wall / direct.wall - 1)
    per_row = 100 * (background.sync / direct.sync - 1)
    verdict = "meets" if total < TARGET_PCT else "misses"
    lines = [
        f"1 copy of {rows:,} rows, SQLite → PostgreSQL (bets), best of each by wall time:",
        "",
        "| run | wall s | rows/s (wall) | before rows move s | sync s | wall vs direct |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, run in (
        ("direct CLI (`bulksync copy`)", direct),
        ("background job (`--background`)", background),
    ):
        lines.append(
            f"| {name} | {run.wall:.2f} | {rows / run.wall:,.0f} | {run.before:.2f} | {run.sync:.2f} "
            f"| {run.wall / direct.wall:.2f}x |"
        )
    lines += [
        "",
        f"overhead {total:+.1f} % in wall time ({verdict} the < {TARGET_PCT:g} % target); "
        f"the sync itself {per_row:+.1f} %, the rest is the fixed start "
        f"({background.before - direct.before:+.2f} s: submitting the job, forking its runner, claiming it)",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
