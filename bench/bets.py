"""The benchmarked table: 14 columns of a betting ledger, typed once for every destination."""

from __future__ import annotations

from typing import NamedTuple

TABLE = "bets"


class Column(NamedTuple):
    name: str
    pg_type: str
    nullable: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("id", "bigint"),
    Column("player_id", "bigint"),
    Column("match_id", "bigint"),
    Column("channel", "text"),
    Column("bet_type", "text"),
    Column("selection", "text", nullable=True),
    Column("stake", "numeric(12,2)"),
    Column("odds", "numeric(8,3)"),
    Column("potential_payout", "numeric(14,2)", nullable=True),
    Column("status", "text"),
    Column("placed_at", "timestamp"),
    Column("settled_at", "timestamp", nullable=True),
    Column("updated_at", "timestamp"),
    Column("is_live", "boolean"),
)

# SQLite keeps decimals as REAL and timestamps as TEXT; the declared types say what they mean.
_SQLITE_TYPES = {
    "bigint": "INTEGER",
    "text": "TEXT",
    "timestamp": "TIMESTAMP",
    "boolean": "BOOLEAN",
}


def _column_sql(column: Column, type_sql: str) -> str:
    null = "" if column.nullable else " NOT NULL"
    key = " PRIMARY KEY" if column.name == "id" else ""
    return f"{column.name} {type_sql}{null}{key}"


def pg_ddl(table: str = TABLE) -> str:
    """``CREATE TABLE`` for PostgreSQL: typed, PRIMARY KEY on id."""
    cols = ", ".join(_column_sql(c, c.pg_type) for c in COLUMNS)
    return f"CREATE TABLE {table} ({cols})"


def sqlite_ddl(table: str = TABLE) -> str:
    """``CREATE TABLE`` for SQLite, the same shape the generator writes (id is the rowid)."""
    cols = ", ".join(_column_sql(c, _SQLITE_TYPES.get(c.pg_type, c.pg_type.upper())) for c in COLUMNS)
    return f"CREATE TABLE {table} ({cols})"


def column_list() -> str:
    """The column names, comma-separated, in table order."""
    return ", ".join(c.name for c in COLUMNS)


# MariaDB: the lengths the generator declares for its text columns (VARCHAR in the SQLite file).
_MARIADB_TEXT = {"channel": 2, "bet_type": 24, "selection": 32, "status": 12}
_MARIADB_TYPES = {"bigint": "BIGINT", "timestamp": "DATETIME(6)", "boolean": "TINYINT(1)"}


def _mariadb_type(column: Column) -> str:
    if column.pg_type == "text":
        return f"VARCHAR({_MARIADB_TEXT.get(column.name, 255)})"
    if column.pg_type.startswith("numeric("):
        return "DECIMAL" + column.pg_type[len("numeric") :]
    return _MARIADB_TYPES[column.pg_type]


def mariadb_ddl(table: str = TABLE) -> str:
    """``CREATE TABLE`` for MariaDB: InnoDB, utf8mb4, PRIMARY KEY on id (what bulksync creates)."""
    cols = ", ".join(_column_sql(c, _mariadb_type(c)) for c in COLUMNS)
    return f"CREATE TABLE {table} ({cols}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin"
