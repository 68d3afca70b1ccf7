"""Throwaway databases for tests (a module, not conftest.py: several conftest.py files share that
module name, so tests import what they share from here)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

MARIADB_ADMIN = os.environ.get("BULKSYNC_TEST_MARIADB", "mysql://root@127.0.0.1:3306/test")


def mariadb_url(dbname: str) -> str:
    return MARIADB_ADMIN.rsplit("/", 1)[0] + "/" + dbname


@contextmanager
def fresh_mariadb(admin: Any) -> Iterator[str]:
    """Create an empty MariaDB database (utf8mb4), yield its URL, drop it afterwards."""
    name = f"bs_test_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield mariadb_url(name)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
