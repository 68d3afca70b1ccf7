"""What a migration does not copy: views, triggers, routines, materialized views.

``migrate`` moves tables (rows, keys, indexes, constraints); the rest of a schema is code that a
DBA ports by hand. Each such object is named in one line so that nothing is dropped silently.
"""

from __future__ import annotations

from bulksync.connectors.base import Connector

_QUERIES = {
    "sqlite": (
        "SELECT type AS kind, CASE type WHEN 'trigger' THEN name || ' on ' || tbl_name ELSE name END "
        "AS name FROM sqlite_master WHERE type IN ('view', 'trigger') ORDER BY 1, 2"
    ),
    "postgresql": (
        "SELECT 'view' AS kind, viewname AS name FROM pg_views WHERE schemaname = current_schema() "
        "UNION ALL SELECT 'materialized view', matviewname FROM pg_matviews "
        "WHERE schemaname = current_schema() "
        "UNION ALL SELECT 'trigger', t.tgname || ' on ' || c.relname FROM pg_trigger t "
        "JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace "
        "UNION ALL SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END, p.proname "
        "FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace "
        "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') "
        "ORDER BY 1, 2"
    ),
    "mysql": (
        "SELECT 'view' AS kind, table_name AS name FROM information_schema.views "
        "WHERE table_schema = DATABASE() "
        "UNION ALL SELECT 'trigger', CONCAT(trigger_name, ' on ', event_object_table) "
        "FROM information_schema.triggers WHERE trigger_schema = DATABASE() "
        "UNION ALL SELECT LOWER(routine_type), routine_name FROM information_schema.routines "
        "WHERE routine_schema = DATABASE() ORDER BY 1, 2"
    ),
}


def not_carried(conn: Connector) -> list[str]:
    """One line per object of the source that ``migrate`` leaves behind, e.g. ``view top_sellers``."""
    sql = _QUERIES.get(getattr(conn, "dialect", ""))
    if sql is None:
        return []
    rows = conn._rows(sql)  # type: ignore[attr-defined]
    return [f"{r['kind']} {r['name']} (only tables are migrated: recreate it by hand)" for r in rows]
