"""URL scheme → connector class. Unknown schemes are refused with the list of known ones."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from bulksync.errors import UsageError

if TYPE_CHECKING:  # the connectors themselves load when one is opened
    from bulksync.connectors.base import Connector

Opener = Callable[..., "Connector"]


def _sqlite(url: str, **kw: object) -> Connector:
    from bulksync.connectors.sqlite import SqliteConnector

    return SqliteConnector(url, **kw)  # type: ignore[arg-type]


def _postgres(url: str, **kw: object) -> Connector:
    from bulksync.connectors.postgres import PostgresConnector

    return PostgresConnector(url, **kw)  # type: ignore[arg-type]


def _mysql(url: str, **kw: object) -> Connector:
    from bulksync.connectors.mysql import MysqlConnector

    return MysqlConnector(url, **kw)  # type: ignore[arg-type]


def _memory(url: str, **kw: object) -> Connector:
    from bulksync.connectors.memory import MemoryConnector

    return MemoryConnector(url, **kw)  # type: ignore[arg-type]


OPENERS: dict[str, Opener] = {
    "sqlite": _sqlite,
    "postgresql": _postgres,
    "postgres": _postgres,
    "mysql": _mysql,
    "mariadb": _mysql,
    "memory": _memory,
}

_SCHEME = re.compile(r"^([a-z][a-z0-9.-]*)(\+[a-z0-9]+)?://", re.I)
# libpq's keyword form, ``host=db user=app password=… dbname=shop``: not a file name
_KEYWORDS = re.compile(
    r"^\s*(host|hostaddr|port|dbname|user|password|passfile|service|sslmode|options|connect_timeout)"
    r"\s*=\s*\S*(\s+\w+\s*=\s*\S*)*\s*$",
    re.I,
)


def scheme_of(url: str) -> str:
    """The connector scheme of a URL; a plain path (``data.db``) is SQLite."""
    match = _SCHEME.match(url)
    if match is None:
        if _KEYWORDS.match(url):  # (the string itself is never repeated: it may hold a password)
            raise UsageError(
                "a key=value connection string (libpq's keyword form) is not supported: write it as "
                "a URL, postgresql://user@host:5432/dbname (a password goes after the user and a colon)"
            )
        return "sqlite"
    scheme = match.group(1).lower()
    if scheme not in OPENERS:
        known = ", ".join(sorted({"sqlite", "postgresql", "mysql", "mariadb", "memory"}))
        raise UsageError(f"unknown database scheme {scheme!r} in URL (known: {known})")
    if scheme in _SERVERS:
        _check_address(scheme, url)
    return scheme


_SERVERS = ("postgresql", "postgres", "mysql", "mariadb")


def _check_address(scheme: str, url: str) -> None:
    """A server URL whose host or port Python's URL parser cannot read (an unclosed ``[``, a
    port that is not a number) is refused in one line, not a traceback. The URL itself is not
    repeated: it may hold a password."""
    from urllib.parse import urlsplit

    try:
        _ = urlsplit(url).port  # reads the host in brackets and the port, or raises
    except ValueError as exc:
        port = 5432 if scheme.startswith("postgres") else 3306
        raise UsageError(
            f"malformed {scheme} URL: {exc} (an IPv6 host goes in brackets, "
            f"{scheme}://user@[::1]:{port}/dbname; the port is a number)"
        ) from None


def open_connector(url: str, *, create: bool = False, statement_timeout_s: float = 120.0) -> Connector:
    """Open one connection to ``url``; ``create`` allows a new SQLite file."""
    return OPENERS[scheme_of(url)](url, create=create, statement_timeout_s=statement_timeout_s)


def same_sqlite_file(a: str, b: str) -> bool:
    """True when both URLs name one SQLite file (known before either is opened for writing)."""
    if scheme_of(a) != "sqlite" or scheme_of(b) != "sqlite":
        return False
    from bulksync.connectors.sqlite import same_file, sqlite_path

    return same_file(sqlite_path(a), sqlite_path(b))


def safe_url(url: str) -> str:
    """``url`` without its password, for messages and job records."""
    scheme = scheme_of(url)
    if scheme in ("mysql", "mariadb"):
        from bulksync.connectors.mysql_url import safe_mysql_url

        return safe_mysql_url(url)
    if scheme not in ("postgresql", "postgres"):
        return url  # a path has no password (and SQLite alone never loads psycopg)
    from bulksync.connectors.postgres import safe_pg_url

    return safe_pg_url(url)
