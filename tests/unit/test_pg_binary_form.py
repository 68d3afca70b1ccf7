"""``same_binary_form``: which PostgreSQL column pairs the raw binary COPY may join (pure)."""

from __future__ import annotations

import pytest

from bulksync.connectors.pg_peers import same_binary_form


@pytest.mark.parametrize(
    ("source", "dest", "enum_length"),
    [
        ("mood", "mood", 9),  # an enum into its own type
        ("mood", "text", 9),  # an enum's binary form is its label
        ("mood", "character varying(9)", 9),
        ("mood", "character varying", 9),
        ("mood", "citext", 9),
        ("character varying(12)", "text", None),
        ("citext", "text", None),
        ("text", "citext", None),
        ("name", "text", None),
        ("numeric(12,2)", "numeric(14,2)", None),
        ("numeric(12,2)", "numeric", None),
        ("time(3) without time zone", "time without time zone", None),
        ("timestamp(0) without time zone", "timestamp(3) without time zone", None),
        ("timestamp(2) with time zone", "timestamp with time zone", None),
    ],
)
def test_the_same_value_in_the_same_binary_form(source: str, dest: str, enum_length: int | None) -> None:
    assert same_binary_form(source, dest, enum_length=enum_length)


@pytest.mark.parametrize(
    ("source", "dest", "enum_length"),
    [
        ("mood", "character varying(5)", 9),  # its longest label would not fit
        ("mood", "other_mood", 9),  # within one database no cast joins two enums
        ("text", "mood", None),  # a text need not be one of the labels
        ("mood", "character(9)", 9),  # padded
        ("name", "character varying(20)", None),  # a name has 63 bytes
        ("text", "name", None),  # a name has 63 bytes
        ("numeric", "numeric(38,10)", None),
        ("numeric(12,2)", "numeric(14,3)", None),
        ("timestamp without time zone", "timestamp(3) without time zone", None),  # rounded
        ("timestamp without time zone", "timestamp with time zone", None),  # another zone
        ("time without time zone", "timestamp without time zone", None),
        ("character(3)", "character varying(3)", None),
        ("json", "jsonb", None),
        ('"char"', "text", None),
    ],
)
def test_another_value_or_another_binary_form(source: str, dest: str, enum_length: int | None) -> None:
    assert not same_binary_form(source, dest, enum_length=enum_length)
