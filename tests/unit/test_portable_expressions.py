"""Defaults and CHECKs as catalogs print them: which travel, and how each destination writes them."""

from __future__ import annotations

import pyarrow as pa
import pytest

from bulksync.connectors.checks import portable_check, render_check
from bulksync.connectors.ddl import quote
from bulksync.connectors.defaults import portable_default, render_default
from bulksync.schema import Check, Column


@pytest.mark.parametrize(
    ("dialect", "text", "portable"),
    [
        ("postgresql", "'new'::character varying", "'new'"),
        ("postgresql", "'-1'::integer", "-1"),
        ("postgresql", "now()", "CURRENT_TIMESTAMP"),
        ("postgresql", "CURRENT_DATE", "CURRENT_DATE"),
        ("postgresql", "true", "TRUE"),
        ("postgresql", "NULL::text", None),
        ("mysql", "'it\\'s'", "'it''s'"),
        ("mysql", "'x\\\\y'", "'x\\y'"),
        ("mysql", "current_timestamp(6)", "CURRENT_TIMESTAMP"),
        ("mysql", "curdate()", "CURRENT_DATE"),
        ("mysql", "NULL", None),
        ("sqlite", "(-5)", "-5"),
        ("sqlite", "(datetime('now'))", "CURRENT_TIMESTAMP"),
    ],
)
def test_portable_defaults(dialect: str, text: str, portable: str | None) -> None:
    assert portable_default(text, dialect=dialect) == (portable, None)


@pytest.mark.parametrize(
    ("dialect", "text"),
    [
        ("postgresql", "nextval('other_seq'::regclass)"),
        ("postgresql", "(gen_random_uuid())::text"),
        ("mysql", "uuid()"),
        ("sqlite", "X'00'"),
        ("sqlite", "(lower(hex(randomblob(4))))"),
    ],
)
def test_other_defaults_are_reported(dialect: str, text: str) -> None:
    value, why = portable_default(text, dialect=dialect)
    assert value is None and why == f"default {text} is not portable"


def test_defaults_are_written_for_the_column_type() -> None:
    assert render_default(Column("on", pa.bool_(), default="1"), dialect="postgresql") == "TRUE"
    assert render_default(Column("at", pa.timestamp("us"), default="CURRENT_TIMESTAMP"), dialect="mysql") == (
        "CURRENT_TIMESTAMP(6)"
    )
    assert render_default(Column("s", pa.string(), default="'a\\b'"), dialect="mysql") == "'a\\\\b'"
    assert render_default(Column("s", pa.string(), default="CURRENT_DATE"), dialect="postgresql") is None


@pytest.mark.parametrize(
    ("dialect", "text", "template", "columns"),
    [
        (
            "postgresql",
            "price >= 0::numeric AND price <= 100::numeric",
            "{c0} >= 0 AND {c0} <= 100",
            ("price",),
        ),
        (
            "postgresql",
            "status::text = ANY (ARRAY['a'::character varying, 'b'::character varying]::text[])",
            "{c0} IN ('a', 'b')",
            ("status",),
        ),
        (
            "mysql",
            'char_length("c") <= 10 and "c" is not null',
            "{length}({c0}) <= 10 AND {c0} IS NOT NULL",
            ("c",),
        ),
        ("mysql", "`price` between 0 and 100", "{c0} BETWEEN 0 AND 100", ("price",)),
        ("sqlite", "qty > -1 OR status <> '{x}'", "{c0} > -1 OR {c1} <> '{{x}}'", ("qty", "status")),
    ],
)
def test_portable_checks(dialect: str, text: str, template: str, columns: tuple[str, ...]) -> None:
    assert portable_check("ck", text, dialect=dialect, columns=["qty", "status", "price", "c"]) == Check(
        "ck", template, columns
    )


@pytest.mark.parametrize(
    ("dialect", "text", "why"),
    [
        ("mysql", 'json_valid("doc")', "uses 'json_valid'"),
        ("mysql", 'length("c") < 3', "MariaDB's LENGTH counts bytes"),
        ("sqlite", "qty - 1 > 0", "uses '-'"),
        ("postgresql", "lower(note) = note", "uses 'lower'"),
        ("postgresql", "other_table_col > 0", "uses 'other_table_col'"),
    ],
)
def test_other_checks_are_reported(dialect: str, text: str, why: str) -> None:
    found = portable_check("ck", text, dialect=dialect, columns=["qty", "c", "note", "doc"])
    assert isinstance(found, str) and found.startswith("check ck (") and found.endswith(why)


def test_checks_are_written_per_dialect() -> None:
    check = Check("ck", "{length}({c0}) <= 10 AND {c1} IN ('a\\b')", ("name", "kind"))
    assert (
        render_check(check, dialect="postgresql", quote=quote)
        == """length("name") <= 10 AND "kind" IN ('a\\b')"""
    )
    assert (
        render_check(check, dialect="mysql", quote=quote)
        == """CHAR_LENGTH("name") <= 10 AND "kind" IN ('a\\\\b')"""
    )
