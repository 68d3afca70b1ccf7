"""MariaDB → MariaDB (a base of ``MysqlConnector``): tell whether two connections reach the same
server, and on one server let it move the rows itself (``INSERT … SELECT``, no Arrow between).
"""

from __future__ import annotations

import abc
import secrets
from collections.abc import Sequence

from bulksync.connectors.base import ChunkQuery, Pulled
from bulksync.connectors.sql import SqlConnector, quote
from bulksync.errors import SchemaMismatchError, SyncError
from bulksync.schema import TableSchema


class MysqlPeers(SqlConnector):
    """Same-server detection and the server-side pull between two databases of one server."""

    _timeout_s: float

    @abc.abstractmethod
    def open_peer(self, url: str) -> MysqlPeers:
        """Another connection of this kind, with this one's statement timeout."""

    def same_database(self, other: object) -> bool:
        if other is self:
            return True
        if not isinstance(other, MysqlPeers):
            return False
        theirs = self._server_peer(other)
        return theirs is not None and theirs == self._rows("SELECT DATABASE() AS db")[0]["db"]

    def _server_peer(self, other: MysqlPeers) -> str | None:
        """``other``'s database when ``other`` is connected to this very server, else None.

        ``other`` takes a named lock with a random name; only a session of the same server sees
        it held by ``other``'s connection id.
        """
        name = f"bulksync-{secrets.token_hex(16)}"
        try:
            theirs = other._rows(
                "SELECT CONNECTION_ID() AS id, DATABASE() AS db, GET_LOCK(%s, 0) AS got", [name]
            )[0]
            try:
                holder = self._rows("SELECT IS_USED_LOCK(%s) AS holder", [name])[0]["holder"]
            finally:
                other._rows("SELECT RELEASE_LOCK(%s) AS released", [name])
        except SyncError:
            return None
        return str(theirs["db"]) if theirs["got"] and holder == theirs["id"] else None

    # -- MySQL → MySQL on one server: the server moves the rows (INSERT … SELECT) --------------

    def can_pull_from(self, source_url: str) -> bool:
        """True when ``source_url`` is a database of this very server (other servers: Arrow)."""
        from bulksync.connectors.registry import scheme_of

        if scheme_of(source_url) not in ("mysql", "mariadb"):
            return False
        try:
            source = self.open_peer(source_url)
        except SyncError:
            return False
        try:
            return self._server_peer(source) is not None
        finally:
            source.close()

    def attach_source(self, source_url: str) -> None:
        self._source_url = source_url
        self._pull_src: MysqlPeers | None = None
        self._local_names: dict[tuple[str, str], str | None] = {}

    def _puller_source(self) -> MysqlPeers:
        if self._pull_src is None:
            self._pull_src = self.open_peer(self._source_url)
        return self._pull_src

    def pull_chunk(self, query: ChunkQuery, target: str, upsert_key: Sequence[str]) -> Pulled:
        """Move one keyset chunk into ``target`` (in the open transaction).

        On one server (any two of its databases) one ``INSERT … SELECT`` moves it, when every
        column has the same type on both sides; otherwise it goes through Arrow, as between
        servers.
        """
        src = self._puller_source()
        local = self._local_name(src, query.table.name, target)
        if local is None:
            return self.pull_through_arrow(src, query, target, upsert_key)
        if upsert_key:
            require_unique(self.describe(target), upsert_key)
        return self.pull_local_chunk(local, query, target, upsert_key)

    def _local_name(self, src: MysqlPeers, table: str, target: str) -> str | None:
        """``db.table`` of the source when this connection can read it with the same column types."""
        if (table, target) not in self._local_names:
            found = None
            database = self._server_peer(src)
            if database is not None:
                theirs = self._column_types(database, table)
                ours = self._column_types(None, target)
                name = f"{quote(database)}.{quote(table)}"
                if theirs and all(ours.get(n) == t for n, t in theirs.items()) and self._readable(name):
                    found = name
            self._local_names[(table, target)] = found
        return self._local_names[(table, target)]

    def _column_types(self, database: str | None, table: str) -> dict[str, str]:
        rows = self._rows(
            "SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = COALESCE(%s, DATABASE()) AND TABLE_NAME = %s",
            [database, table],
        )
        return {str(r["name"]): str(r["type"]) for r in rows}

    def _readable(self, name: str) -> bool:
        try:
            self._rows(f"SELECT 1 AS one FROM {name} LIMIT 0")
        except SyncError:
            return False
        return True


def require_unique(schema: TableSchema, key: Sequence[str]) -> None:
    """ON DUPLICATE KEY UPDATE needs a unique key on exactly ``key``; without one it would insert
    every row again (PostgreSQL's ON CONFLICT refuses instead): refuse the same way.
    """
    if not schema.is_unique(key):
        raise SchemaMismatchError(
            f"table {schema.name!r} has no primary key or unique index on ({', '.join(key)}): "
            "upsert would add every row again; add the key, or use --mode append/replace"
        )
