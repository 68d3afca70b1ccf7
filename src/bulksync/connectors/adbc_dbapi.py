"""ADBC's DB-API modules, imported without ``pyarrow.dataset``.

``adbc_driver_manager.dbapi`` imports ``pyarrow.dataset`` when it is imported, for one
``isinstance`` test in ``adbc_ingest`` that only data neither an Arrow C array nor an Arrow C
stream reaches (ours always is one). That import brings pyarrow's datasets, its S3, GCS, HDFS
and Azure filesystems, Parquet and ``ssl``: 0.05-0.1 s and ~30 MB of RSS of every command that
opens SQLite (measured 2026-12-04: ``import adbc_driver_sqlite.dbapi`` after pyarrow, 115 →
84 MB). A stand-in module takes its place until something reads an attribute of it; then the
real module is imported and answers, here and for every later ``import pyarrow.dataset``.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
from typing import TYPE_CHECKING, Any

import pyarrow

if TYPE_CHECKING:
    from types import ModuleType

_NAME = "pyarrow.dataset"
_lock = threading.Lock()


class _StandIn(types.ModuleType):
    """``pyarrow.dataset`` until first used: then the real one, put where the stand-in was."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_real(), name)


def _real() -> ModuleType:
    with _lock:
        if isinstance(sys.modules.get(_NAME), _StandIn):
            del sys.modules[_NAME]
        real = importlib.import_module(_NAME)
        pyarrow.dataset = real
        return real


def _stand_in() -> None:
    if _NAME not in sys.modules:
        stand_in = _StandIn(_NAME)
        sys.modules[_NAME] = stand_in
        pyarrow.dataset = stand_in


_stand_in()

import adbc_driver_sqlite.dbapi as sqlite  # noqa: E402 (after the stand-in, on purpose)


def postgres() -> ModuleType:
    """``adbc_driver_postgresql.dbapi`` (only a PostgreSQL source reads through it)."""
    return importlib.import_module("adbc_driver_postgresql.dbapi")


__all__ = ["postgres", "sqlite"]
