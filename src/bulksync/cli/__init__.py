"""The ``bulksync`` command line (Typer); ``render.py`` draws (Rich, on a terminal only),
``plain.py`` writes lines everywhere else.

``main`` answers ``--version`` before Typer and the command modules are imported at all; every
other invocation goes to ``app.main``, which builds only the command it runs.
"""

from __future__ import annotations

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
    from bulksync.cli.app import main as run

    run()
