"""MariaDB identifiers outside the ``ANSI_QUOTES`` session: in backticks for connectorx (which
reads on its own connection), and as SQLAlchemy's reflection leaves them.

A name may hold either quote ("Order Lines", ``weird"quote``, ``back`tick``): each is quoted by
the rules of the quote around it, never by swapping one quote character for the other.
"""

from __future__ import annotations

import re

_DOUBLE_QUOTED = re.compile(r'"((?:[^"]|"")*)"')


def tick(name: str) -> str:
    """``name`` in backticks, a backtick inside doubled."""
    return "`" + name.replace("`", "``") + "`"


def ticked(sql: str) -> str:
    """``sql`` with each double-quoted identifier in backticks instead.

    Only for fragments that hold identifiers and ``%s`` markers, no string values."""
    return _DOUBLE_QUOTED.sub(lambda m: tick(m.group(1).replace('""', '"')), sql)


def unescaped(name: str) -> str:
    """A name SQLAlchemy read from ``SHOW CREATE TABLE``: it leaves a backtick in a name doubled
    (column ``c`d`` reflects as ``c``d``), which no statement then finds."""
    return name.replace("``", "`")
