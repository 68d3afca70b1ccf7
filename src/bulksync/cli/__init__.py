"""The ``bulksync`` command line (Typer); ``render.py`` draws (Rich, on a terminal only),
``plain.py`` writes lines everywhere else.

``main`` answers ``--version`` before Typer and the command modules are imported at all; every
other invocation goes to ``app.main``, which builds only the command it runs.
"""

from __future__ import annotations

import gc
import os
import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from importlib.metadata import version

        print(f"bulksync {version('bulksync')}", flush=True)
        return
    # pydantic looks for plugins in every installed distribution's entry points when the first
    # model is built (15-30 ms of every command's start); the command line has none to load. An
    # operator who wants one sets PYDANTIC_DISABLE_PLUGINS to anything else (empty included).
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    # pyarrow imports numpy, whose OpenBLAS starts a thread per core that spins after loading:
    # 0.1 CPU-seconds of every command that touches a row, taken from the database on two
    # cores. bulksync does no linear algebra; an operator can still set a count of their own.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # Importing the copy path allocates ~10^6 objects, and CPython's default (a collection per
    # 700 new objects) spends 20-30 ms walking them before the first row; the rows themselves
    # live in Arrow buffers, not in Python objects. Collections stay, only less often.
    gc.set_threshold(20_000, 20, 20)
    from bulksync.cli.app import main as run

    run()
