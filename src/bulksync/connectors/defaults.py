"""Column defaults from one dialect to another: read portable, written per dialect.

A default travels when it is a literal (number, string, TRUE/FALSE) or ``CURRENT_TIMESTAMP`` /
``CURRENT_DATE`` (``now()``, ``curdate()``, ``datetime('now')`` … are spelled so). Anything else
(a function call, a sequence other than the identity's) is refused with a one-line reason, which
the sync reports.
"""

from __future__ import annotations

import pyarrow as pa

from bulksync.connectors.expressions import NUMBER, NotPortable, sql_string, strip_casts, tokenize, unwrap
from bulksync.schema import Column

_NOW = {"current_timestamp", "now", "localtimestamp", "transaction_timestamp"}
_TODAY = {"current_date", "curdate"}


def portable_default(text: str | None, *, dialect: str) -> tuple[str | None, str | None]:
    """A catalog's default → (portable default, None), or (None, why it cannot travel).

    (None, None): no default (or an explicit NULL, the same thing).
    """
    if text is None or not text.strip():
        return None, None
    try:
        tokens, numeric = strip_casts(tokenize(text, dialect=dialect))
    except NotPortable:
        return None, f"default {text} is not portable"
    tokens = unwrap(tokens)
    if not tokens:
        return None, f"default {text} is not portable"
    words = [t[1].lower() for t in tokens]
    kinds = [t[0] for t in tokens]
    if kinds == ["word"] and words[0] == "null":
        return None, None
    if kinds == ["num"] or (kinds == ["op", "num"] and words[0] in "+-"):
        return _number("".join(words).lstrip("+")), None
    if kinds == ["str"]:
        value = tokens[0][1]
        if numeric and NUMBER.fullmatch(value.lstrip("-")):
            return _number(value), None
        return sql_string(value), None
    if kinds == ["word"] and words[0] in ("true", "false"):
        return words[0].upper(), None
    called = words[1:] in ([], ["(", ")"]) or (len(words) == 4 and kinds[2] == "num" and words[3] == ")")
    if (called and words[0] in _NOW) or words == ["datetime", "(", "now", ")"]:
        return "CURRENT_TIMESTAMP", None
    if (called and words[0] in _TODAY) or words == ["date", "(", "now", ")"]:
        return "CURRENT_DATE", None
    return None, f"default {text} is not portable"


def _number(text: str) -> str:
    return text[1:] if text.startswith("+") else text


def render_default(col: Column, *, dialect: str) -> str | None:
    """``col.default`` as ``dialect`` writes it for ``col``'s type; None when it cannot."""
    value, t = col.default, col.type
    if value is None:
        return None
    if value in ("CURRENT_TIMESTAMP", "CURRENT_DATE"):
        if value == "CURRENT_TIMESTAMP" and not pa.types.is_timestamp(t):
            return None
        if value == "CURRENT_DATE" and not pa.types.is_date(t):
            return None
        if dialect == "mysql":
            return "CURRENT_TIMESTAMP(6)" if value == "CURRENT_TIMESTAMP" else "(CURRENT_DATE)"
        return value
    if pa.types.is_boolean(t):
        truth = {"TRUE": "TRUE", "FALSE": "FALSE", "1": "TRUE", "0": "FALSE"}.get(value)
        return None if truth is None else truth
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return None
    if value in ("TRUE", "FALSE"):
        return "1" if value == "TRUE" else "0"
    if value.startswith("'"):
        return value.replace("\\", "\\\\") if dialect == "mysql" else value
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return sql_string(value)
    return value
