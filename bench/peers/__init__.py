"""Competitors, one module each: ``python -m bench.peers.NAME SOURCE DEST TABLE``.

Each module defines ``load(source, dest, table) -> rows written`` and ends with
``main(load)``; the harness times the whole process from outside.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

Loader = Callable[[str, str, str], int]


def main(load: Loader) -> None:
    """Parse ``SOURCE DEST TABLE``, run ``load``, print ``{"rows", "seconds"}`` as JSON."""
    parser = argparse.ArgumentParser(description=sys.modules[load.__module__].__doc__)
    parser.add_argument("source", help="source: a SQLite path or a PostgreSQL DSN")
    parser.add_argument("dest", help="destination: a PostgreSQL DSN or a SQLite path")
    parser.add_argument("table", help="table name, the same on both sides")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = load(args.source, args.dest, args.table)
    print(json.dumps({"rows": rows, "seconds": round(time.perf_counter() - started, 3)}))
