"""The ``bulksync`` command line (Typer); ``render.py`` draws (Rich, on a terminal only),
``plain.py`` writes lines everywhere else.

``main`` answers ``--version`` before Typer and the command modules are imported at all; every
other invocation goes to ``app.main``, which builds only the command it runs.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from importlib.metadata import version

        print(f"bulksync {version('bulksync')}", flush=True)
        return
    from bulksync.cli.app import main as run

    run()
