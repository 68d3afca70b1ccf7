"""What a table or column name given on the command line, in a spec or in settings may be.

Kept apart from ``schema`` (which needs pyarrow and SQLAlchemy) so that checking a name costs a
regular expression, not the import of the engine.

Table and column names of a sync may be anything a database can hold ("Order Lines",
``weird"quote``, ``semi;colon``, ``2024_sales``): the safety against injection comes from
quoting every identifier by its dialect's rules wherever SQL is built, and from checking every
name against the source catalog before anything is written (``engine/plan.check_table``). So a
name is only refused here when no database could hold it: empty, with a NUL or a control
character, or absurdly long. ``check_identifier`` keeps the old, plain rule for the few
settings that are not looked up in a catalog (the bet recipe's columns, a schema name).
"""

from __future__ import annotations

import re

from bulksync.errors import UnknownColumnError, UsageError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
_UNHOLDABLE = re.compile(r"[\x00-\x1f\x7f]")
LONGEST_NAME = 255  # characters; each destination's own limit is checked when planning


def check_identifier(name: str, what: str = "name") -> str:
    """Return ``name`` if it is a plain SQL identifier; refuse anything injection-shaped."""
    if not _IDENTIFIER.match(name):
        raise UnknownColumnError(
            f"invalid {what} {name!r}: use letters, digits and underscores only "
            "(it must also exist in the source catalog)"
        )
    return name


def check_name(name: str, what: str = "name") -> str:
    """Return ``name`` if some database could hold it; whether it exists is the catalog's say."""
    if not name or _UNHOLDABLE.search(name) or len(name) > LONGEST_NAME:
        raise UsageError(
            f"invalid {what} {name!r}: a name must be 1 to {LONGEST_NAME} characters without a NUL, "
            "a line break or another control character"
        )
    return name
