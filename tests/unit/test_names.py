"""Names bulksync derives from a table's name, and MariaDB's backtick quoting of any name."""

from __future__ import annotations

import pytest

from bulksync.connectors.mysql_names import tick, ticked, unescaped
from bulksync.naming import DERIVED_LIMIT, fitted_name

LONG = "a_very_long_table_name_that_is_close_to_the_postgres_limit_abcd"  # 63 bytes


def test_a_short_derived_name_is_the_name_and_its_suffix() -> None:
    assert fitted_name("Order Lines", "__bulksync_new") == "Order Lines__bulksync_new"


@pytest.mark.parametrize("base", [LONG, "Ünïcode_" * 10, 'weird"quote;' * 8])
def test_a_long_derived_name_fits_keeps_its_suffix_and_is_not_the_table(base: str) -> None:
    staging = fitted_name(base, "__bulksync_new")
    assert len(staging.encode()) <= DERIVED_LIMIT
    assert staging.endswith("__bulksync_new")
    assert staging != base and staging[:20] == base[:20]
    staging.encode().decode()  # never cut inside a UTF-8 sequence


def test_two_long_names_alike_in_their_first_63_bytes_stay_two() -> None:
    one, two = fitted_name(LONG + "_2023", "_idx"), fitted_name(LONG + "_2024", "_idx")
    assert one != two
    assert fitted_name(LONG + "_2023", "_idx") == one  # the same every run: a resume finds it


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (' WHERE "id" > %s', " WHERE `id` > %s"),
        (' WHERE "a""b" > %s', ' WHERE `a"b` > %s'),
        (' WHERE "c`d" > %s AND "x y" <= %s', " WHERE `c``d` > %s AND `x y` <= %s"),
    ],
)
def test_double_quoted_identifiers_become_backticked_by_backtick_rules(where: str, expected: str) -> None:
    assert ticked(where) == expected


def test_a_reflected_backtick_is_undoubled_and_tick_doubles_it() -> None:
    assert unescaped("c``d") == "c`d"
    assert tick("c`d") == "`c``d`"
