"""The suite's own layout. pytest imports each test file under its basename (the default
``prepend`` import mode, the test directories being no packages), so two files of one name in two
directories stop the whole collection: that happened once (``tests/faults/test_mariadb.py``
beside ``tests/integration/test_mariadb.py``) and CI ran nothing."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_module_and_helper_has_a_name_of_its_own() -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("*.py"):
        if path.name not in ("conftest.py", "__init__.py") and "__pycache__" not in path.parts:
            where[path.name].append(str(path.relative_to(TESTS)))
    clashes = {name: sorted(paths) for name, paths in where.items() if len(paths) > 1}
    assert not clashes, f"rename one of each: {clashes}"
    assert len(where) > 50  # the walk found the suite
