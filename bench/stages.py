"""Where a SQLite → PostgreSQL copy spends its CPU: seconds per stage, and PostgreSQL's share.

    python bench/stages.py SOURCE.db postgresql://postgres@127.0.0.1/bench [--table bets]

Runs ``bulksync copy`` in this process with a CPU clock (``time.thread_time``) around each
stage of the hot path — read (the ADBC SQLite driver), convert (the reader's ``conform_read``
and the writer's ``conform``), encode (pgpq's COPY binary), send (the rest of ``write_batch``:
psycopg's COPY), commit (the checkpoint and COMMIT) — and prints one JSON line: those seconds,
the process's CPU (the rest is start-up, planning and the threads' bookkeeping), the wall time,
and the CPU of the PostgreSQL backends serving the destination database (sampled from /proc,
so a busy server shared with other work is not counted). Empty the destination table first
(``bench/run.py`` does it before each attempt). On two cores the sum of the process's and the
backends' CPU, halved, is the wall time a perfectly overlapped copy could reach.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

if __package__ in (None, ""):  # `python bench/stages.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SPENT: Counter[str] = Counter()
_LOCK = threading.Lock()
_TICK = os.sysconf("SC_CLK_TCK")


def clocked(stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        began = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            with _LOCK:
                SPENT[stage] += time.thread_time() - began

    return run


class ClockedEncoder:
    """pgpq's encoder (a Rust object, its methods cannot be replaced) with its batches clocked."""

    def __init__(self, encoder: Any) -> None:
        self._encoder = encoder
        self.write_header = encoder.write_header
        self.finish = encoder.finish
        self.write_batch = clocked("encode", encoder.write_batch)


def instrument() -> None:
    import bulksync.connectors.postgres as pg
    import bulksync.connectors.sql as sql
    import bulksync.connectors.sqlite as sqlite
    import bulksync.engine.move as move

    sqlite.SqliteConnector._query = clocked("read", sqlite.SqliteConnector._query)  # type: ignore[method-assign]
    sql.SqlConnector.conform_read = clocked("convert_read", sql.SqlConnector.conform_read)  # type: ignore[method-assign]
    pg.conform = clocked("convert_write", pg.conform)
    encoder = pg._encoder
    pg._encoder = lambda schema: ClockedEncoder(encoder(schema))  # type: ignore[assignment,return-value]
    pg.PostgresConnector.write_batch = clocked("write_batch", pg.PostgresConnector.write_batch)  # type: ignore[method-assign]
    move.commit_batch = clocked("commit_batch", move.commit_batch)


def backends_cpu(database: str, seen: dict[int, float], stop: threading.Event) -> None:
    """Keep the highest CPU seconds seen of each backend connected to ``database`` (they exit
    with the copy, so they are sampled while it runs)."""
    while not stop.is_set():
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
                if cmd.startswith("postgres: ") and f" {database} " in cmd:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    seen[int(pid)] = max(seen.get(int(pid), 0.0), (int(fields[11]) + int(fields[12])) / _TICK)
            except OSError:
                continue
        stop.wait(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("pg")
    parser.add_argument("--table", default="bets")
    args, extra = parser.parse_known_args()
    began = time.perf_counter()
    database = urlsplit(args.pg).path.lstrip("/")
    before = set(filter(str.isdigit, os.listdir("/proc")))
    seen: dict[int, float] = {}
    stop = threading.Event()
    sampler = threading.Thread(target=backends_cpu, args=(database, seen, stop), daemon=True)
    sampler.start()
    instrument()
    import bulksync.cli.app as cli

    cli._leave = lambda code: None  # keep the process: its totals are read after the copy
    sys.argv = ["bulksync", "copy", args.source, args.pg, "--table", args.table, "--quiet", *extra]
    cli.main()
    wall = time.perf_counter() - began
    stop.set()
    sampler.join()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out = {k: round(v, 3) for k, v in sorted(SPENT.items())}
    out["send"] = round(SPENT["write_batch"] - SPENT["convert_write"] - SPENT["encode"], 3)
    out["commit"] = round(SPENT["commit_batch"] - SPENT["write_batch"], 3)
    out["process_cpu"] = round(usage.ru_utime + usage.ru_stime, 3)
    out["pg_backends_cpu"] = round(sum(v for pid, v in seen.items() if str(pid) not in before), 3)
    out["wall"] = round(wall, 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
