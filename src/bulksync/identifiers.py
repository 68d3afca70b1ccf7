"""What a table or column name given on the command line, in a spec or in settings may be.

Kept apart from ``schema`` (which needs pyarrow and SQLAlchemy) so that checking a name costs a
regular expression, not the import of the engine.
"""

from __future__ import annotations

import re

from bulksync.errors import UnknownColumnError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")


def check_identifier(name: str, what: str = "name") -> str:
    """Return ``name`` if it is a plain SQL identifier; refuse anything injection-shaped."""
    if not _IDENTIFIER.match(name):
        raise UnknownColumnError(
            f"invalid {what} {name!r}: use letters, digits and underscores only "
            "(it must also exist in the source catalog)"
        )
    return name
