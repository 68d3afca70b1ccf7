"""What the command line sets up for its own process before any library loads.

pyarrow imports numpy, and numpy's OpenBLAS starts a thread per core that spins after loading
(~0.1 CPU-s of every command that moves a row, on two cores shared with the database); the CLI
asks for one BLAS thread. Imports run with fewer garbage collections (20-30 ms before the first
row). An operator's own settings win."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import gc, os, sys
import bulksync.cli.app
bulksync.cli.app.main = lambda: None  # the set-up only: no command runs (nor ends the process)
from bulksync.cli import main
main()
import numpy  # what pyarrow imports, with OpenBLAS (pyarrow itself adds a thread of its own)
threads = len(os.listdir("/proc/self/task"))
print(os.environ["OPENBLAS_NUM_THREADS"], gc.get_threshold()[0], threads, file=sys.stderr)
"""


def probe(**env: str) -> list[str]:
    environ = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"} | env
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=environ, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stderr.strip().splitlines()[-1].split()


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="threads are counted in /proc (Linux)")
def test_the_cli_starts_no_blas_threads_and_collects_less_often() -> None:
    blas, threshold, threads = probe()
    assert blas == "1" and int(threshold) >= 10_000
    assert threads == "1", "importing numpy started BLAS threads"


def test_an_operators_blas_thread_count_is_kept() -> None:
    assert probe(OPENBLAS_NUM_THREADS="2")[0] == "2"
