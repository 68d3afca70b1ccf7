"""Tables a destination creates, each with one row that fits it: every Arrow type the engine maps
to SQL, odd names (``%`` in names too), defaults and CHECKs holding ``%`` and quotes, identity
columns (a nullable one too), composite keys, indexes and foreign keys (to an earlier case, and to
itself).

A case's foreign keys refer only to cases before it, so creating (and filling) them in order works.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from bulksync.schema import UNBOUNDED_NUMERIC, Check, Column, ForeignKey, Index, TableSchema

UTC = dt.UTC


@dataclass(frozen=True)
class DdlCase:
    """A table to create and a row to write into it."""

    schema: TableSchema
    row: dict[str, Any]

    @property
    def name(self) -> str:
        return self.schema.name

    def batch(self) -> pa.RecordBatch:
        return pa.RecordBatch.from_pylist([self.row], schema=self.schema.arrow_schema())


EVERY_TYPE: list[tuple[Column, Any]] = [
    (Column("id", pa.int64(), nullable=False), 1),
    (Column("flag", pa.bool_()), True),
    (Column("tiny", pa.int8()), -8),
    (Column("small", pa.int16()), -300),
    (Column("ubyte", pa.uint8()), 255),
    (Column("int", pa.int32()), -2_000_000_000),
    (Column("ushort", pa.uint16()), 65_535),
    (Column("big", pa.int64()), -(2**62)),
    (Column("uint", pa.uint32()), 2**32 - 1),
    (Column("ubig", pa.uint64()), 2**64 - 1),
    (Column("real", pa.float32()), 1.5),
    (Column("double", pa.float64()), 1 / 3),
    (Column("day", pa.date32()), dt.date(2024, 2, 29)),
    (Column("clock", pa.time64("us")), dt.time(23, 59, 59, 999_999)),
    (Column("clock_ns", pa.time64("ns")), dt.time(1, 2, 3, 4)),
    (Column("blob", pa.binary()), b"\x00\xff%'"),
    (Column("big_blob", pa.large_binary()), b"\x01" * 3),
    (Column("any_number", UNBOUNDED_NUMERIC), decimal.Decimal("12345678901234567890123.123456789")),
    (Column("money", pa.decimal128(12, 2)), decimal.Decimal("-1234567890.12")),
    (Column("whole", pa.decimal128(38, 0)), decimal.Decimal("9" * 38)),
    (Column("doc", pa.json_()), '{"a": [1, "50%"], "b": null}'),
    (Column("at", pa.timestamp("us")), dt.datetime(2024, 1, 2, 3, 4, 5, 6)),
    (Column("at_utc", pa.timestamp("us", tz="UTC")), dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    (Column("at_paris", pa.timestamp("ms", tz="Europe/Paris")), dt.datetime(2024, 6, 1, 12, tzinfo=UTC)),
    (Column("at_s", pa.timestamp("s")), dt.datetime(1999, 12, 31, 23, 59, 59)),
    (Column("text", pa.string()), "any 'text' 50%"),
    (Column("code", pa.string(), length=8), "ABCDEFGH"),
    (Column("long_text", pa.large_string()), "x" * 1000),
    (Column("required", pa.string(), nullable=False), "here"),
    (Column("required_num", pa.decimal128(5, 1), nullable=False), decimal.Decimal("1234.5")),
]

ODD_NAME = 'Odd "Table" ü'
ODD_COLUMNS = ["select", "Mixed Case", 'say "hi"', "ünï", "a.b", "trailing ", "user"]

CASES: list[DdlCase] = [
    DdlCase(
        TableSchema("every_type", tuple(c for c, _ in EVERY_TYPE), ("id",)),
        {c.name: v for c, v in EVERY_TYPE},
    ),
    DdlCase(
        TableSchema(
            ODD_NAME,
            tuple(Column(n, pa.int32() if i == 0 else pa.string()) for i, n in enumerate(ODD_COLUMNS)),
            ("select",),
            indexes=(Index('ix "odd" ü', ("Mixed Case", "ünï")), Index("UQ user", ("user",), unique=True)),
            checks=(Check('ck "odd" %', "{c0} <> {c1}", ('say "hi"', "a.b")),),
        ),
        {n: (1 if i == 0 else f"v{i}") for i, n in enumerate(ODD_COLUMNS)},
    ),
    DdlCase(  # bulksync refuses such a table before it creates anything (engine/plan.py)
        TableSchema(
            "50% off",
            (Column("50%", pa.int32(), nullable=False), Column("%s", pa.string(), default="'%s'")),
            ("50%",),
            indexes=(Index("50% off %s", ("%s",)),),
            checks=(Check("50%_check", "{c0} <> '%%'", ("%s",)),),
        ),
        {"50%": 1, "%s": "%"},
    ),
    DdlCase(
        TableSchema(
            "defaults",
            (
                Column("id", pa.int32(), nullable=False),
                Column("pct", pa.string(), default="'50% off'"),
                Column("quoted", pa.string(), length=20, default="'it''s \"quoted\"'"),
                Column("slash", pa.string(), default="'C:\\dir\\'"),
                Column("brace", pa.string(), default="'{c0} %s %%'"),
                Column("n", pa.int64(), nullable=False, default="42"),
                Column("neg", pa.float64(), default="-1.5"),
                Column("price", pa.decimal128(10, 3), default="0.125"),
                Column("yes", pa.bool_(), default="TRUE"),
                Column("no", pa.bool_(), default="0"),
                Column("made_at", pa.timestamp("us", tz="UTC"), default="CURRENT_TIMESTAMP"),
                Column("made_on", pa.date32(), default="CURRENT_DATE"),
                Column("stamp", pa.timestamp("us"), default="CURRENT_TIMESTAMP"),
                Column("doc", pa.json_(), default='\'{"k": "50%"}\''),
                Column("raw", pa.binary(), default="'x'"),  # no PostgreSQL form: left out
                Column("day", pa.date32(), default="CURRENT_TIMESTAMP"),  # not a date's: left out
            ),
            ("id",),
        ),
        {"id": 1, "pct": "given", "n": 7},
    ),
    DdlCase(
        TableSchema(
            "checks",
            (
                Column("id", pa.int64(), nullable=False),
                Column("status", pa.string(), length=10),
                Column("qty", pa.int32()),
                Column("lo", pa.float64()),
                Column("hi", pa.float64()),
                Column("note", pa.string()),
            ),
            ("id",),
            checks=(
                Check("checks_status_check", "{c0} IN ('active', '50%', 'it''s')", ("status",)),
                Check("checks_qty_check", "{c0} BETWEEN -1 AND 1000 OR {c0} IS NULL", ("qty",)),
                Check("checks_range_check", "NOT ({c0} > {c1})", ("lo", "hi")),
                Check("checks_note_check", "{length}({c0}) <= 20 AND {c0} <> '%%'", ("note",)),
            ),
        ),
        {"id": 1, "status": "50%", "qty": -1, "lo": 1.0, "hi": 2.0, "note": "short"},
    ),
    DdlCase(
        TableSchema(
            "identities",
            (
                Column("id", pa.int64(), identity=True),  # nullable, but it leads the key
                Column("seq", pa.int32(), nullable=False, identity=True),
                Column("maybe", pa.int16(), identity=True),  # nullable: PostgreSQL's are NOT NULL
                Column("text_id", pa.string(), identity=True),  # not an integer: a plain column
                Column("unsigned", pa.uint32(), identity=True),  # not signed: a plain column
            ),
            ("id",),
        ),
        {"id": 10, "seq": 20, "maybe": 30, "text_id": "t", "unsigned": 40},
    ),
    DdlCase(
        TableSchema(
            "Composite Parent",
            (
                Column("region", pa.string(), length=2, nullable=False),
                Column("Number", pa.int32(), nullable=False),
                Column("at", pa.timestamp("us"), nullable=False),
                Column("label", pa.string()),
            ),
            ("region", "Number", "at"),
            indexes=(Index("composite_parent_label", ("label", "region")),),
        ),
        {"region": "EU", "Number": 1, "at": dt.datetime(2024, 1, 1), "label": "first"},
    ),
    DdlCase(
        TableSchema(
            "child",
            (
                Column("id", pa.int64(), nullable=False, identity=True),
                Column("parent_region", pa.string(), length=2),
                Column("parent_number", pa.int32()),
                Column("parent_at", pa.timestamp("us")),
                Column("typed", pa.int64()),
                Column("boss", pa.int64()),
            ),
            ("id",),
            foreign_keys=(
                ForeignKey(
                    "child_parent_fkey",
                    ("parent_region", "parent_number", "parent_at"),
                    "Composite Parent",
                    ("region", "Number", "at"),
                    on_delete="CASCADE",
                    on_update="SET NULL",
                ),
                ForeignKey('child "typed" fk', ("typed",), "every_type", ("id",), on_delete="RESTRICT"),
                ForeignKey("child_boss_fkey", ("boss",), "child", ("id",), on_delete="SET NULL"),
            ),
        ),
        {
            "id": 1,
            "parent_region": "EU",
            "parent_number": 1,
            "parent_at": dt.datetime(2024, 1, 1),
            "typed": 1,
            "boss": 1,
        },
    ),
]
