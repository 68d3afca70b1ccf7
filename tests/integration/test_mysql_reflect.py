"""MariaDB's catalog read by hand (``mysql_reflect``) gives what SQLAlchemy's inspector gave.

The oracle is the inspector path the connector used before: ``catalog.reflect_with`` over
SQLAlchemy's MySQL dialect (``SHOW CREATE TABLE``), each type mapped by
``mysql_types.mysql_arrow_type``, plus ``mysql_constraints`` — on the same database. The zoo holds
every type MariaDB offers, odd names, keys, prefix and fulltext indexes and foreign keys.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pymysql
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.pool import NullPool

from bulksync.connectors.catalog import Reflected, mysql_constraints, reflect_with
from bulksync.connectors.mysql import MysqlConnector
from bulksync.connectors.mysql_names import unescaped
from bulksync.connectors.mysql_types import mysql_arrow_type
from bulksync.connectors.mysql_url import parse_mysql_url
from bulksync.errors import UnsupportedTypeError

pytestmark = pytest.mark.integration

ZOO = [
    """CREATE TABLE types (
        id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
        b1 TINYINT(1), b2 BOOLEAN NOT NULL DEFAULT 0, ti TINYINT, tiu TINYINT UNSIGNED,
        ti1u TINYINT(1) UNSIGNED, ti4 TINYINT(4), ti2 TINYINT(2), si SMALLINT, siu SMALLINT UNSIGNED,
        mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, i11 INT(11) ZEROFILL, bi BIGINT,
        biu BIGINT UNSIGNED, de DECIMAL(10,2), de0 DECIMAL(12), dd DECIMAL, de65 DECIMAL(65,30),
        de38 DECIMAL(38,10), de39 DECIMAL(39,2), nu NUMERIC(8,3), deu DECIMAL(10,2) UNSIGNED,
        fl FLOAT, fl2 FLOAT(7,3), fl30 FLOAT(30), db DOUBLE, dbp DOUBLE(10,2), re REAL,
        c1 CHAR(1), c10 CHAR(10), c0 CHAR(0), vc VARCHAR(255), tx TINYTEXT, t TEXT, t100 TEXT(100),
        t70k TEXT(70000), mt MEDIUMTEXT, lt LONGTEXT, en ENUM('a','bb','ccc'), eq ENUM('it''s', 'x,y'),
        st SET('x','yy'), bn BINARY(16), vb VARBINARY(100), tb TINYBLOB, bl BLOB, mb MEDIUMBLOB,
        lb LONGBLOB, d DATE, dt DATETIME, dt3 DATETIME(3), dt6 DATETIME(6), ts TIMESTAMP NULL,
        ts6 TIMESTAMP(6) NULL DEFAULT CURRENT_TIMESTAMP(6), tm TIME, tm6 TIME(6), yr YEAR, js JSON,
        vcb VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin, vl VARCHAR(40) CHARACTER SET latin1,
        nat NATIONAL VARCHAR(30), upd DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
        gen INT AS (i * 2) VIRTUAL, chk INT CHECK (chk > 0)
    ) DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE `Odd Names` (`we"ird` INT NOT NULL, `sp ace` VARCHAR(5), `Mixed` INT,
        `back``tick` INT, `ünï` VARCHAR(3), `order` INT, PRIMARY KEY (`Mixed`, `we"ird`),
        KEY `ix "q` (`we"ird`), UNIQUE KEY `uq back``tick` (`back``tick`, `ünï`))""",
    """CREATE TABLE indexed (id INT PRIMARY KEY, a INT, b TEXT, c VARCHAR(100), d DATE,
        UNIQUE KEY uq_c (c), KEY ix_multi (a, d), KEY ix_prefix (b(10)), FULLTEXT KEY ft_b (b),
        KEY ix_desc (d DESC, a))""",
    "CREATE TABLE keyless (a INT, b TEXT)",
    "CREATE TABLE parent (a INT, b VARCHAR(10), PRIMARY KEY (a, b), UNIQUE KEY (b))",
    """CREATE TABLE child (id INT PRIMARY KEY, pa INT, pb VARCHAR(10), p2 VARCHAR(10), self_ref INT,
        CONSTRAINT fk_pair FOREIGN KEY (pa, pb) REFERENCES parent (a, b) ON DELETE CASCADE ON UPDATE RESTRICT,
        CONSTRAINT fk_b FOREIGN KEY (p2) REFERENCES parent (b) ON DELETE SET NULL ON UPDATE CASCADE,
        CONSTRAINT fk_self FOREIGN KEY (self_ref) REFERENCES child (id) ON DELETE NO ACTION,
        CONSTRAINT `fk odd` FOREIGN KEY (pa) REFERENCES `Odd Names` (`back``tick`))""",
    "CREATE TABLE elsewhere (id INT PRIMARY KEY, other_id INT)",
]
UNSUPPORTED = {
    "bits": ("BIT(8)", "BIT"),
    "geo": ("GEOMETRY", "geometry"),
    "uuids": ("UUID", "uuid"),
    "inets": ("INET6", "inet6"),
}


@pytest.fixture
def zoo(mariadb_db: str, mariadb_db2: str) -> Iterator[str]:
    u = parse_mysql_url(mariadb_db)
    other = parse_mysql_url(mariadb_db2).database
    with pymysql.connect(
        host=u.host, port=u.port, user=u.user, password=u.password, database=u.database
    ) as db:
        with db.cursor() as cur:
            for ddl in ZOO:
                cur.execute(ddl)
            cur.execute(f"CREATE TABLE `{other}`.far (id INT PRIMARY KEY)")
            cur.execute(
                "ALTER TABLE elsewhere ADD CONSTRAINT fk_far FOREIGN KEY (other_id) "
                f"REFERENCES `{other}`.far (id)"
            )
            for table, (sql_type, _) in UNSUPPORTED.items():
                cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, x {sql_type})")
        db.commit()
        yield mariadb_db
        with db.cursor() as cur:  # the other database goes first: let go of it
            cur.execute("ALTER TABLE elsewhere DROP FOREIGN KEY fk_far")


def through_sqlalchemy(url: str, table: str) -> Reflected:
    u = parse_mysql_url(url)
    engine = sa.create_engine(
        sa.URL.create("mysql+pymysql", username=u.user, password=u.password or None, host=u.host,
                      port=u.port, database=u.database),
        poolclass=NullPool,
    )  # fmt: skip
    conn = MysqlConnector(url)
    try:
        with engine.connect() as bind, warnings.catch_warnings():
            warnings.simplefilter("ignore", sa.exc.SAWarning)
            found = reflect_with(sa.inspect(bind), table, unescaped)
        return replace(found, constraints=mysql_constraints(conn._rows, table, found.constraints))
    finally:
        conn.close()
        engine.dispose()


def comparable(found: Reflected, table: str) -> dict[str, Any]:
    columns = []
    for name, t, nullable in found.columns:
        if isinstance(t, sa.types.TypeEngine):
            length = getattr(t, "length", None)
            if isinstance(t, mysql.SET):  # SQLAlchemy gives the longest member; a value joins several
                length = sum(len(v) + 1 for v in t.values) - 1
            columns.append((name, mysql_arrow_type(t, where=f"{table}.{name}"), length, nullable))
        else:
            columns.append((name, t.arrow, t.length, nullable))
    c = found.constraints
    return {
        "columns": columns,
        "primary_key": found.primary_key,
        "indexes": sorted(found.indexes, key=lambda ix: ix.name),
        "identity": c.identity,
        "defaults": sorted(c.defaults),
        "foreign_keys": sorted(c.foreign_keys, key=lambda fk: fk.name),
        "checks": sorted(c.checks, key=lambda ck: ck.name),
        "dropped": sorted(c.dropped),
    }


@pytest.mark.parametrize(
    "table", ["types", "Odd Names", "indexed", "keyless", "parent", "child", "elsewhere"]
)
def test_the_catalog_read_by_hand_is_what_sqlalchemy_read(zoo: str, table: str) -> None:
    conn = MysqlConnector(zoo)
    try:
        by_hand = conn._reflect(table)
    finally:
        conn.close()
    assert by_hand is not None
    # an ENUM's members as a CHECK are bulksync's own (the inspector read none)
    labels = [c for c in by_hand.constraints.checks if c.name.endswith("_enum")]
    others = tuple(c for c in by_hand.constraints.checks if c not in labels)
    by_hand = replace(by_hand, constraints=replace(by_hand.constraints, checks=others))
    assert comparable(by_hand, table) == comparable(through_sqlalchemy(zoo, table), table)
    if table == "types":
        assert {c.name: c.template for c in labels}["types_eq_enum"] == "{c0} IN ('it''s', 'x,y', '')"


def test_a_missing_table_is_none(zoo: str) -> None:
    conn = MysqlConnector(zoo)
    try:
        assert conn._reflect("no_such_table") is None
        assert conn.find("no_such_table") is None
    finally:
        conn.close()


@pytest.mark.parametrize("table", sorted(UNSUPPORTED))
def test_a_type_bulksync_cannot_carry_is_refused_by_its_own_name(zoo: str, table: str) -> None:
    conn = MysqlConnector(zoo)
    try:
        with pytest.raises(UnsupportedTypeError, match=rf"{table}\.x has type {UNSUPPORTED[table][1]} which"):
            conn.describe(table)
    finally:
        conn.close()
