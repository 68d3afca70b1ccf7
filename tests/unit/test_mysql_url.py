"""MySQL URLs a user types wrong get a line that says what to change, never the password."""

from __future__ import annotations

import pytest

from bulksync.connectors.mysql_url import parse_mysql_url
from bulksync.errors import UsageError


def test_a_slash_in_the_password_is_named_and_the_password_not_shown() -> None:
    with pytest.raises(UsageError, match=r"has a '/' before its host: .* as %2F") as caught:
        parse_mysql_url("mysql://root:se/cret9@127.0.0.1:3306/shop")
    assert "se/cret9" not in str(caught.value) and "cret9" not in str(caught.value)


def test_the_slash_written_as_2f_is_the_password() -> None:
    u = parse_mysql_url("mysql://root:se%2Fcret9@127.0.0.1:3306/shop")
    assert (u.password, u.database, u.port) == ("se/cret9", "shop", 3306)


def test_a_url_without_a_database_still_says_so() -> None:
    with pytest.raises(UsageError, match="names no database"):
        parse_mysql_url("mysql://root@127.0.0.1:3306/")
