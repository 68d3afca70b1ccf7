"""Nested store fields land in ``jsonb``: queryable with ``->>``, left alone by a re-run, and read
back by every reader (a PostgreSQL source, reflection, verify)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulksync import SyncSpec, TableSpec, VerifySpec, sync, verify
from bulksync.fakestores import FakeStores, FakeStoreServer
from bulksync.recipes.stores import sync_stores
from storekit import job_for, rows

pytestmark = pytest.mark.integration


def _types(url: str, table: str) -> dict[str, str]:
    got = rows(
        url, f"SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '{table}'"
    )
    return {r["column_name"]: r["data_type"] for r in got}


def test_nested_objects_land_in_jsonb_and_a_rerun_rewrites_nothing(pg_db: str) -> None:
    catalog = FakeStores(stores=3)
    with FakeStoreServer(catalog) as srv:
        assert sync_stores(job_for(srv, pg_db)).status == "succeeded"
        assert sync_stores(job_for(srv, pg_db, kind="videos")).status == "succeeded"
        versions = "SELECT store_code, id, xmin::text AS v FROM store_users ORDER BY 1, 2"
        before = rows(pg_db, versions)
        again = sync_stores(job_for(srv, pg_db))

    assert _types(pg_db, "store_users")["profile"] == "jsonb"
    assert _types(pg_db, "store_videos")["tags"] == "jsonb"
    got = rows(
        pg_db,
        "SELECT id, profile->>'bio' AS bio, (profile->>'verified')::bool AS v FROM store_users"
        " WHERE store_code = 's0001' ORDER BY id",
    )
    want = catalog.records("s0001", "users")
    assert [(r["bio"], r["v"]) for r in got] == [
        (w["profile"]["bio"], w["profile"]["verified"]) for w in want
    ]
    tagged = rows(pg_db, "SELECT tags FROM store_videos WHERE store_code = 's0002' ORDER BY id")
    assert [r["tags"] for r in tagged] == [w["tags"] for w in catalog.records("s0002", "videos")]
    assert again.status == "succeeded"
    assert rows(pg_db, versions) == before  # not one row rewritten: equal documents compare equal


@pytest.mark.parametrize("to", ["pg", "sqlite"])
def test_a_jsonb_table_is_read_copied_and_verified(
    pg_db: str, tmp_path: Path, to: str, request: pytest.FixtureRequest
) -> None:
    catalog = FakeStores(stores=2)
    with FakeStoreServer(catalog) as srv:
        assert sync_stores(job_for(srv, pg_db)).status == "succeeded"
    dest = request.getfixturevalue("pg_db2") if to == "pg" else str(tmp_path / "copy.db")
    spec = SyncSpec(source=pg_db, destination=dest, tables=(TableSpec(name="store_users"),))

    sync(spec)
    result = verify(VerifySpec(source=pg_db, destination=dest, tables=(TableSpec(name="store_users"),)))

    assert result.equal, result.to_dict()
    assert result.tables[0].source_rows == catalog.total("users")
    if to == "pg":
        assert _types(dest, "store_users")["profile"] == "jsonb"
        assert rows(dest, "SELECT count(*) AS n FROM store_users WHERE profile ? 'bio'")[0][
            "n"
        ] == catalog.total("users")
