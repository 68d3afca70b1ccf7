"""SQLite declarations → Arrow without SQLAlchemy give what the SQLAlchemy-based mapping gave.

The oracle is the code reflection ran before ``connectors/sqlite_types.py``: SQLAlchemy's sqlite
dialect resolving the declaration (``declared_type``), then ``schema.arrow_type``.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from bulksync.connectors.catalog import Declared
from bulksync.connectors.sqlite_types import declared_arrow, numbers_in_text
from bulksync.errors import UnsupportedTypeError
from bulksync.schema import arrow_type

_DIALECT: Any = sqlite.dialect()


class OldCrashed(Exception):
    """SQLAlchemy itself failed on the declaration (``BOOLEAN(1,2,3,4)``: a 4th argument)."""


def old_declared_type(declared: str | None) -> sa.types.TypeEngine[Any]:
    text = (declared or "").upper().strip()
    with warnings.catch_warnings():  # "Could not instantiate type … with reflected arguments"
        warnings.simplefilter("ignore", sa.exc.SAWarning)
        try:
            resolved = _DIALECT._resolve_type_affinity(text)
        except AttributeError as exc:
            raise OldCrashed(text) from exc
    base = text.split("(")[0].strip()
    if isinstance(resolved, sa.JSON) or (
        isinstance(resolved, sa.Numeric) and base not in _DIALECT.ischema_names
    ):
        return sa.Text()
    return resolved  # type: ignore[no-any-return]


def old_mapping(declared: str | None) -> Declared | str:
    """What reflection made of ``declared`` with SQLAlchemy: a Declared, or the error's text."""
    satype = old_declared_type(declared)
    try:
        arrow = arrow_type(satype, dialect="sqlite", where="t.c")
    except UnsupportedTypeError as exc:
        return exc.message
    return Declared(arrow, getattr(satype, "length", None))


def old_numbers_in_text(declared: str | None) -> bool:
    satype = old_declared_type(declared)
    upper = (declared or "").upper()
    is_text = isinstance(satype, sa.String | sa.types.NullType)
    return is_text and not any(word in upper for word in ("CHAR", "CLOB", "TEXT"))


def new_mapping(declared: str | None) -> Declared | str:
    try:
        return declared_arrow(declared, where="t.c")
    except UnsupportedTypeError as exc:
        return exc.message


NAMES = [
    *_DIALECT.ischema_names,
    *(
        "INT2 INT8 TINYINT MEDIUMINT UNSIGNED BIG INT, DOUBLE PRECISION, FLOAT8, CLOB, NATIVE CHARACTER, "
        "VARYING CHARACTER, CHARACTER, LONGBLOB, BLOBS, MONEY, UUID, BOOLEANS, DATETIME2, DATE TIME, "
        "TIMESTAMPTZ, TIMESTAMP WITH TIME ZONE, TIME WITH TIME ZONE, REALLY, FLOATING, DOUBLES, "
        "POINT, STRING, JSONTEXT, DEC, NUM, BIT, YEAR, ENUM, SET, INTERVAL, BYTEA, Ü, INTÉGER"
    ).split(", "),
]
ARGS = [
    "",
    "(1)",
    "(0)",
    "(20)",
    "(38)",
    "(39)",
    "(10,2)",
    "(10, 2)",
    "( 5 , 3 )",
    "(40,2)",
    "(0,0)",
    "(1,2,3)",
    "(1,2,3,4)",
    "(1,2,3,4,5)",
    "(-3)",
    "(2.5)",
    "()",
    "(x)",
    "(6)",
]
SPACING = ["{n}{a}", "{n} {a}", "  {n}{a}  ", "{n}  {a}", "{n}{a}[]", "{n}{a} NOT"]


def declarations() -> list[str | None]:
    found: list[str | None] = [None, "", " ", "(", ")", "(10)", "[]", "?", "_", "123", "ÄÖÜ(3)"]
    for name, args, shape in itertools.product(NAMES, ARGS, SPACING):
        text = shape.format(n=name, a=args)
        found += [text, text.lower(), text.title()]
    return found


def resolvable() -> list[str | None]:
    """The declarations SQLAlchemy resolved without crashing."""
    found = []
    for declared in declarations():
        try:
            old_declared_type(declared)
        except OldCrashed:
            assert "BOOL" in str(declared).upper()
            continue
        found.append(declared)
    return found


def test_declarations_map_to_what_sqlalchemy_resolved() -> None:
    cases = resolvable()
    assert len(cases) > 5000
    wrong = [(d, old_mapping(d), new_mapping(d)) for d in cases if old_mapping(d) != new_mapping(d)]
    assert not wrong, wrong[:20]


def test_numbers_in_text_as_before() -> None:
    wrong = [d for d in resolvable() if old_numbers_in_text(d) != numbers_in_text(d)]
    assert not wrong, wrong[:20]


def test_a_boolean_with_four_arguments_is_a_boolean() -> None:  # SQLAlchemy crashed on it
    assert declared_arrow("BOOLEAN(1,2,3,4)", where="t.c") == Declared(pa.bool_())


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("varchar(20)", Declared(pa.string(), 20)),
        ("datetime", Declared(pa.timestamp("us"))),
        ("DECIMAL(10, 2)", Declared(pa.decimal128(10, 2))),
        ("uuid", Declared(pa.string())),
        (None, Declared(pa.string())),
        ("BIGINT", Declared(pa.int64())),
        ("REAL", Declared(pa.float64())),
    ],
)
def test_common_declarations(declared: str | None, expected: Declared) -> None:
    assert declared_arrow(declared, where="t.c") == expected
