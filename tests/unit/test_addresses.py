"""What API callers and job records see of a message: configured connection names, not addresses."""

from __future__ import annotations

from pathlib import Path

from bulksync.jobs.addresses import AddressBook
from bulksync.settings import Settings


def book(tmp_path: Path, *, keep: tuple[str, ...] = ()) -> AddressBook:
    settings = Settings(
        connections={
            "wh": "postgresql://loader:s3cret@10.0.0.5:5432/dw",
            "dk": "mysql://sync:pw@db1.internal/dk",
            "src": str(tmp_path / "state" / "source.db"),
        }
    )
    return AddressBook(settings, keep=keep)


def test_a_configured_address_becomes_the_connection_name(tmp_path: Path) -> None:
    said = book(tmp_path).public(
        "table 'nope' does not exist in postgresql://loader:***@10.0.0.5:5432/dw (tables: a, b)"
    )
    assert said == "table 'nope' does not exist in connection 'wh' (tables: a, b)"


def test_a_refused_connection_says_why_in_a_phrase_without_names(tmp_path: Path) -> None:
    pg = 'cannot connect to postgresql://loader:***@10.0.0.5:5432/dw: FATAL: database "dw" does not exist'
    assert book(tmp_path).public(pg) == "cannot connect to connection 'wh': its database does not exist"
    role = 'cannot connect to postgresql://loader:***@10.0.0.5:5432/dw: FATAL: role "loader" does not exist'
    said = book(tmp_path).public(role)  # was "its database does not exist"
    assert said == "cannot connect to connection 'wh': the server refused its user or password"
    users = pg.replace('"dw"', '"users"')  # a database named like a user is still a database
    assert book(tmp_path).public(users) == "cannot connect to connection 'wh': its database does not exist"
    my = (
        "reading dk: cannot connect to mysql://sync:***@db1.internal/dk: (2003, \"Can't connect to "
        "MySQL server on 'db1.internal' ([Errno 111] Connection refused)\")"
    )
    assert (
        book(tmp_path).public(my)
        == "reading dk: cannot connect to connection 'dk': its server cannot be reached"
    )


def test_a_sqlite_file_is_named_by_its_connection(tmp_path: Path) -> None:
    path = tmp_path / "state" / "source.db"
    said = book(tmp_path).public(f"SQLite file {str(path)!r} does not exist (check the path)")
    assert said == "SQLite file of connection 'src' does not exist (check the path)"
    assert str(tmp_path) not in book(tmp_path).public(
        f"folder {str(path.parent)!r} for SQLite file does not exist"
    )


def test_other_addresses_are_hidden_unless_the_spec_gave_them(tmp_path: Path) -> None:
    text = "cannot connect to postgresql://postgres@127.0.0.1/other: refused"
    assert "127.0.0.1" not in book(tmp_path).public(text)
    kept = book(tmp_path, keep=("postgresql://postgres@127.0.0.1/other",)).public(text)
    assert "postgresql://postgres@127.0.0.1/other" in kept


def test_connections_that_differ_only_in_their_password_are_both_named() -> None:
    """Their redacted addresses are one: the message named whichever came first ('pct' for a
    request about 'sp')."""
    settings = Settings(
        connections={
            "sp": "postgresql://postgres:one@10.0.0.5/dw",
            "pct": "postgresql://postgres:two@10.0.0.5/dw",
        }
    )
    said = AddressBook(settings).public("cannot connect to postgresql://postgres:***@10.0.0.5/dw: timeout")
    assert said == "cannot connect to connection 'pct' or 'sp': its server cannot be reached"
