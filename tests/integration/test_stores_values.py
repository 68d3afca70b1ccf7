"""Values a store API sends that a field's type cannot hold unchanged: each such record is set
aside in the reject table with the record, the field and the value, and the store's other records
land — never a value changed in silence (1.9 followers stored as 1, epoch seconds read as
microseconds, ids 1.5 and 1 colliding). Real PostgreSQL, the fake store API."""

from __future__ import annotations

import json

from bulksync.fakestores import FakeStores, FakeStoreServer, Fault
from bulksync.recipes.stores import sync_stores
from storekit import assert_exactly_once, expected_keys, job_for, rows

BAD = {
    "s0002": (Fault("value", page=2, field="follower_count", value=1.9), "field 'follower_count' holds 1.9"),
    "s0003": (
        Fault("value", page=2, field="updated_at", value=1700000000),
        "holds 1700000000, a bare number",
    ),
    "s0004": (Fault("value", page=2, field="id", value=1.5), "field 'id' holds 1.5, not an integer"),
    "s0005": (Fault("value", page=2, field="id", value=2**70), "beyond the 64-bit integer range"),
}


def test_values_a_field_cannot_hold_reject_their_records_with_the_value(pg_db: str) -> None:
    faults = {code: fault for code, (fault, _) in BAD.items()}
    faults["s0006"] = Fault("value", page=2, field="follower_count", value=2.0)  # integral: it is 2
    catalog = FakeStores(stores=6, faults=faults)
    with FakeStoreServer(catalog) as srv:
        result = sync_stores(job_for(srv, pg_db, page_size=10))
    assert result.status == "succeeded" and result.failed == 0
    # page 2 (ids 11-20) of each store: ten records, or one where the fault gave each the same id
    page2 = {c: {(c, i) for i in range(11, 21)} for c in ("s0002", "s0003")}
    assert {o.code: o.rejected for o in result.rejected_stores} == {
        "s0002": 10,
        "s0003": 10,
        "s0004": 1,
        "s0005": 1,
    }
    assert result.records_rejected == 22
    rejects = rows(pg_db, "SELECT row_key, reason FROM bulksync.rejects")
    assert len(rejects) == 22
    for code, (_, said) in BAD.items():
        reasons = [r["reason"] for r in rejects if json.loads(r["row_key"])[0] == code]
        assert reasons and all(said in r and r.startswith(f"{code}: record id") for r in reasons), reasons
        assert all("\n" not in r and "OverflowError" not in r for r in reasons)
    assert {tuple(json.loads(r["row_key"])) for r in rejects} >= page2["s0002"] | page2["s0003"]
    landed = expected_keys(catalog, "users") - page2["s0002"] - page2["s0003"]
    landed -= {(c, i) for c in ("s0004", "s0005") for i in range(11, 21)}
    assert_exactly_once(pg_db, "store_users", landed)
    assert not rows(pg_db, "SELECT 1 FROM store_users WHERE updated_at < '2000-01-01'")
    page2_s0006 = rows(
        pg_db, "SELECT follower_count FROM store_users WHERE store_code = 's0006' AND id BETWEEN 11 AND 20"
    )
    assert [r["follower_count"] for r in page2_s0006] == [2] * 10
    first_pages = rows(
        pg_db, "SELECT store_code, id, follower_count FROM store_users WHERE store_code = 's0002'"
    )
    want = {r["id"]: r["follower_count"] for r in catalog.records("s0002", "users")}
    assert all(want[r["id"]] == r["follower_count"] for r in first_pages)
    logged = rows(pg_db, "SELECT store_code, message FROM sync_logs WHERE store_code IS NOT NULL")
    messages = {r["store_code"]: r["message"] for r in logged}
    assert messages["s0002"].startswith(
        "10 records rejected, in bulksync.rejects (first: s0002: record id 11:"
    )
    assert messages["s0001"] == messages["s0006"] == ""


def test_api_fields_with_a_column_of_their_own_in_the_table_are_kept(pg_db: str) -> None:
    """A table made beforehand with columns beyond the fixed ones: an API field of that name
    fills its column; a page without the field leaves the column alone (its default stays)."""
    import psycopg

    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE store_users (store_code text NOT NULL, id bigint NOT NULL, username text, "
            "display_name text, follower_count bigint, profile jsonb, updated_at timestamptz, "
            "country text, synced_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (store_code, id))"
        )
    catalog = FakeStores(stores=3, faults={"s0001": Fault("value", page=1, field="country", value="VN")})
    with FakeStoreServer(catalog) as srv:
        result = sync_stores(job_for(srv, pg_db, page_size=10))
        again = sync_stores(job_for(srv, pg_db, page_size=10))
    assert result.status == again.status == "succeeded"
    got = rows(pg_db, "SELECT store_code, id, country, synced_at FROM store_users ORDER BY store_code, id")
    countries = {(r["store_code"], r["id"]): r["country"] for r in got}
    assert {k for k, v in countries.items() if v == "VN"} == {("s0001", i) for i in range(1, 11)}
    assert set(countries.values()) == {"VN", None}
    assert all(r["synced_at"] is not None for r in got)
    assert len(got) == catalog.total("users")
