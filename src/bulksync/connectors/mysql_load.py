"""MariaDB writes (a base of ``MysqlConnector``): a batch as LOAD DATA LOCAL INFILE text under a
savepoint (any warning undoes it: ``BadRowsError``), upserts through a temporary stage table
merged with ``INSERT … ON DUPLICATE KEY UPDATE``.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from typing import Any, ClassVar

import pyarrow as pa
import pymysql

from bulksync.connectors.base import Merged
from bulksync.connectors.conform import columns_schema, conform, written_columns
from bulksync.connectors.mysql_peers import require_unique
from bulksync.connectors.mysql_types import is_hex_column, tsv_payload
from bulksync.connectors.sql import MERGE_SOURCE, SqlConnector, column_list, quote
from bulksync.connectors.sql_chunks import statements
from bulksync.connectors.text_order import Folding, mysql_key_folding
from bulksync.errors import BadRowsError, ConnectionLost
from bulksync.schema import Column

_STAGE = quote("_bs_stage")
_LOAD_SAVEPOINT = "bs_load"


class MysqlLoad(SqlConnector):
    """LOAD DATA writes and stage-table upserts on the connector's PyMySQL connection."""

    _conn: pymysql.connections.Connection[Any]
    _spool: str | None

    def write_batch(
        self,
        table: str,
        batch: pa.RecordBatch,
        upsert_key: Sequence[str],
        statement_rows: int | None = None,
    ) -> Merged:
        schema = self.describe(table)
        written = written_columns(batch, schema)
        data = conform(batch, columns_schema(schema, written))
        if data.num_rows == 0:
            return Merged()
        if not upsert_key:
            for part in statements(data, statement_rows):
                self._load(quote(table), part, written, table)
            return Merged.all_new(data.num_rows)
        require_unique(schema, upsert_key)
        self._execute(f"DROP TEMPORARY TABLE IF EXISTS {_STAGE}")  # temporary DDL: no implicit commit
        self._execute(f"CREATE TEMPORARY TABLE {_STAGE} LIKE {quote(table)}")
        for part in statements(data, statement_rows):
            self._load(_STAGE, part, written, table)
        source = f"{_STAGE} AS {MERGE_SOURCE}"
        merged = self.merge(table, source, [c.name for c in written], upsert_key, rows=data.num_rows)
        self._execute(f"DROP TEMPORARY TABLE {_STAGE}")
        return merged

    def _load(self, target: str, data: pa.RecordBatch, columns: Sequence[Column], table: str) -> None:
        """LOAD DATA one batch under a savepoint; any warning undoes it and raises BadRowsError."""
        path = self._spool_path()
        with open(path, "wb") as out:
            out.write(tsv_payload(data))
        names, sets = [], []
        for i, col in enumerate(columns):
            if is_hex_column(col.type):
                names.append(f"@bs{i}")
                sets.append(f"{quote(col.name)} = UNHEX(@bs{i})")
            else:
                names.append(quote(col.name))
        sql = (
            f"LOAD DATA LOCAL INFILE %s INTO TABLE {target} CHARACTER SET utf8mb4 "
            "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
            f"({', '.join(names)})" + (f" SET {', '.join(sets)}" if sets else "")
        )
        self._execute(f"SAVEPOINT {_LOAD_SAVEPOINT}")
        try:
            with self._conn.cursor() as cur:
                loaded = cur.execute(sql, [path])
                warned = cur.warning_count
            if warned or loaded != data.num_rows:
                reason = _longer(self._first_warning(), columns) or f"{loaded} of {data.num_rows} rows loaded"
                self._execute(f"ROLLBACK TO SAVEPOINT {_LOAD_SAVEPOINT}")
                raise BadRowsError(f"write to {table!r}: {reason}")
        except pymysql.Error as exc:
            raise self.translate(exc, context=f"write to {table!r}") from exc
        except AttributeError as exc:  # PyMySQL sending the file on the socket a KILL closed
            if self._conn.open:
                raise
            closed = f"write to {table!r}: the server closed the connection mid-LOAD DATA"
            raise ConnectionLost(closed) from exc
        finally:
            os.truncate(path, 0)  # the batch's text does not linger on disk
        self._execute(f"RELEASE SAVEPOINT {_LOAD_SAVEPOINT}")

    def _first_warning(self) -> str:
        rows = self._rows("SHOW WARNINGS LIMIT 1")
        return str(rows[0]["Message"]) if rows else ""

    def _spool_path(self) -> str:
        if self._spool is None:
            self._spool = tempfile.mkdtemp(prefix="bulksync-mysql-")
        return os.path.join(self._spool, "batch.tsv")

    # -- merges ------------------------------------------------------------------------------

    def upsert_sql(self, table: str, stage: str, names: Sequence[str], key: Sequence[str]) -> str:
        cols = column_list(names)
        rest = [n for n in names if n not in key] or list(key[:1])
        sets = ", ".join(f"{quote(n)} = VALUES({quote(n)})" for n in rest)
        head = f"INSERT INTO {quote(table)} ({cols}) SELECT {cols} FROM {stage}"
        return f"{head} ON DUPLICATE KEY UPDATE {sets}"

    def key_folding(self, table: str, column: str) -> Folding | None:
        return mysql_key_folding(self._rows, table, column)

    def fold_sql(self, expr: str, folding: Folding) -> str:
        # the source of a pull may be text of another character set, which a COLLATE refuses
        return f"CONVERT({expr} USING {folding.charset}) COLLATE {folding.collate}"

    merges_on_any_unique: ClassVar[bool] = True
    as_bytes: ClassVar[str] = "BINARY {}"  # not a _bin collation: PAD SPACE ones ignore trailing spaces

    @staticmethod
    def updated_of(changed_beyond_inserts: int) -> int:
        """MariaDB counts an updated row twice (and one set to its own values not at all)."""
        return changed_beyond_inserts // 2


_TRUNCATED = re.compile(r"^Data (?:truncated|too long) for column '(.+)' at row \d+$")


def _longer(warning: str, columns: Sequence[Column]) -> str:
    """MariaDB's warning, said plainly where it is text longer than its VARCHAR(n) ("Data
    truncated for column 'code' at row 1" said neither; a PostgreSQL text key is VARCHAR(255))."""
    found = _TRUNCATED.match(warning)
    lengths = {c.name: c.length for c in columns if pa.types.is_string(c.type)}
    length = lengths.get(found[1]) if found else None
    if found is None or length is None:
        return warning
    return f"a value of column {found[1]!r} is longer than its {length} characters (VARCHAR({length}))"
