"""MySQL/MariaDB URLs: ``mysql://user:password@host:3306/database`` (also ``mariadb://``,
``mysql+pymysql://``; ``?unix_socket=/path`` for a socket). No driver import here: the registry
uses ``safe_mysql_url`` for messages without loading a driver.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from bulksync.errors import UsageError


@dataclass(frozen=True)
class MysqlUrl:
    """Where and as whom to connect."""

    host: str | None
    port: int
    user: str
    password: str
    database: str
    unix_socket: str | None = None


def parse_mysql_url(url: str) -> MysqlUrl:
    """Split ``url``; a missing database or a bad port is a usage error (password never shown)."""
    safe = safe_mysql_url(url)
    parts = urlsplit(url)
    if parts.netloc.count("@") > 1:
        raise UsageError(
            f"the MySQL URL {safe} has more than one '@': write an '@' inside the user name or "
            "password as %40"
        )
    if "@" in parts.path and "@" not in parts.netloc:  # mysql://root:pa/ss@host/db
        raise UsageError(
            f"the MySQL URL {safe} has a '/' before its host: write a '/' inside the user name or "
            "password as %2F"
        )
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise UsageError(f"the MySQL URL {safe} names no database: use mysql://user@host:3306/DATABASE")
    try:
        port = parts.port or 3306
    except ValueError as exc:
        raise UsageError(f"the MySQL URL {safe} has a bad port") from exc
    socket = parse_qs(parts.query).get("unix_socket", [None])[0]
    return MysqlUrl(
        host=parts.hostname or (None if socket else "127.0.0.1"),
        port=port,
        user=unquote(parts.username or "root"),
        password=unquote(parts.password or ""),
        database=database,
        unix_socket=socket,
    )


def safe_mysql_url(url: str) -> str:
    """The URL with its password replaced by ``***``."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    if ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
