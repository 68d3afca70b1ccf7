"""SQLite column declarations → Arrow, by the rules SQLAlchemy's sqlite dialect applies.

Reflection used to resolve each declared type through SQLAlchemy (``_resolve_type_affinity``,
then ``schema.arrow_type``); importing it cost a SQLite → PostgreSQL copy up to 0.45 s before
its first row. These are the same rules, written out, with the same results — including their
quirks, so a table reads as it did before (``tests/unit/test_sqlite_types.py`` compares the two
over thousands of declarations):

- the type name is the leading run of word characters and spaces, upper-cased; a name SQLite
  itself does not know falls to SQLite's affinity rules (INT → integer, CHAR/CLOB/TEXT → text,
  BLOB or nothing → untyped, REAL/FLOA/DOUB → float, else NUMERIC);
- the digits inside the first ``(…)`` are the type's positional arguments (a VARCHAR's length,
  a NUMERIC's precision and scale, a DATETIME's or TIME's *time zone flag*); more arguments
  than the type takes are all ignored;
- JSON is text, and a NUMERIC that only the affinity rules gave (``uuid``, ``money``) is text:
  such columns hold whatever they were given.
"""

from __future__ import annotations

import re

import pyarrow as pa

from bulksync.connectors.catalog import Declared
from bulksync.errors import UnsupportedTypeError

# SQLAlchemy's sqlite ``ischema_names``: name → (kind, positional arguments the type takes)
_NAMES: dict[str, tuple[str, int]] = {
    "BIGINT": ("bigint", 0),
    "BLOB": ("blob", 1),
    "BOOL": ("bool", 4),
    "BOOLEAN": ("bool", 4),
    "CHAR": ("string", 3),
    "DATE": ("date", 0),
    "DATE_CHAR": ("date", 0),
    "DATETIME": ("datetime", 1),
    "DATETIME_CHAR": ("datetime", 1),
    "DOUBLE": ("float", 3),
    "DECIMAL": ("decimal", 4),
    "FLOAT": ("float", 3),
    "INT": ("integer", 0),
    "INTEGER": ("integer", 0),
    "JSON": ("json", 1),
    "JSONB": ("json", 1),
    "NUMERIC": ("numeric", 4),
    "REAL": ("float", 3),
    "SMALLINT": ("smallint", 0),
    "TEXT": ("string", 3),
    "TIME": ("time", 1),
    "TIME_CHAR": ("time", 1),
    "TIMESTAMP": ("datetime", 1),
    "VARCHAR": ("string", 3),
    "NVARCHAR": ("string", 3),
    "NCHAR": ("string", 3),
}
_TEXT_WORDS = ("CHAR", "CLOB", "TEXT")


def _resolved(declared: str | None) -> tuple[str, tuple[int, ...]]:
    """The kind of type ``declared`` means and the arguments it keeps (see the module's rules)."""
    text = (declared or "").upper().strip()
    found = re.match(r"([\w ]+)(\(.*?\))?", text)
    name, args = (found.group(1), found.group(2)) if found else ("", "")
    if name in _NAMES:
        kind, takes = _NAMES[name]
    elif "INT" in name:
        kind, takes = "integer", 0
    elif any(word in name for word in _TEXT_WORDS):
        kind, takes = "string", 3
    elif "BLOB" in name or not name:
        kind, takes = "untyped", 0
    elif "REAL" in name or "FLOA" in name or "DOUB" in name:
        kind, takes = "float", 3
    else:
        kind, takes = "numeric", 4
    numbers = tuple(int(a) for a in re.findall(r"(\d+)", args or ""))
    if len(numbers) > takes:
        numbers = ()
    base = text.split("(")[0].strip()
    if kind == "json" or (kind in ("numeric", "decimal") and base not in _NAMES):
        return "string", ()
    return kind, numbers


def declared_arrow(declared: str | None, *, where: str) -> Declared:
    """The Arrow type (and VARCHAR length) a column declared ``declared`` is read as.

    ``where`` (``table.column``) names the column in an ``UnsupportedTypeError``.
    """
    kind, args = _resolved(declared)
    first = args[0] if args else None
    if kind in ("string", "blob"):
        return Declared(pa.string() if kind == "string" else pa.binary(), first)
    if kind in ("numeric", "decimal"):
        if first is None:
            return Declared(pa.float64())
        if not 0 < first <= 76:  # Arrow's decimal256 holds 76 digits
            shown = f"{kind.upper()}({', '.join(str(a) for a in args[:2])})"
            raise UnsupportedTypeError(
                f"{where} has type {shown}: more than 76 digits, which bulksync cannot carry yet"
            )
        decimal = pa.decimal256 if first > 38 else pa.decimal128
        return Declared(decimal(first, args[1] if len(args) > 1 else 0))
    if kind == "time" and first:  # SQLAlchemy took the argument for its time zone flag
        raise UnsupportedTypeError(f"{where} has type TIME WITH TIME ZONE which bulksync cannot carry yet")
    simple = {
        "bigint": pa.int64(),
        "integer": pa.int64(),
        "smallint": pa.int16(),
        "bool": pa.bool_(),
        "float": pa.float64(),
        "date": pa.date32(),
        "time": pa.time64("us"),
        "datetime": pa.timestamp("us", tz="UTC" if first else None),
        "untyped": pa.string(),  # no declared type: SQLite keeps whatever it got
    }
    return Declared(simple[kind])


def numbers_in_text(declared: str | None) -> bool:
    """A column read as text whose SQLite affinity is not TEXT: it may hold numbers as numbers."""
    kind, _ = _resolved(declared)
    upper = (declared or "").upper()
    return kind in ("string", "untyped") and not any(word in upper for word in _TEXT_WORDS)
