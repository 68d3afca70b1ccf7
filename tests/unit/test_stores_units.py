"""Pure pieces of the store syncs: Retry-After, records to Arrow, store lists (no sockets)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest
from pydantic import SecretStr

from bulksync.connectors.http_batch import records_to_batch
from bulksync.connectors.http_errors import BadPage, retry_after_seconds
from bulksync.errors import UsageError
from bulksync.recipes.store_list import Store, load_stores, token_for
from bulksync.recipes.store_tables import LogRow, records_table


def test_retry_after_in_seconds_or_an_http_date() -> None:
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds("Wed, 21 Oct 2026 07:28:00 GMT", now=1_792_567_670.0) == 10.0
    assert retry_after_seconds("Wed, 21 Oct 2026 07:28:00 GMT", now=1_792_567_690.0) == 0.0  # past
    assert retry_after_seconds("") is None and retry_after_seconds("later") is None


def test_records_become_a_batch_nested_values_as_json_duplicates_once() -> None:
    schema = records_table("users", "u")
    records = [
        {
            "id": 1,
            "username": "a",
            "profile": {"bio": "ü", "verified": True},
            "updated_at": "2026-11-01T10:00:00Z",
        },
        {"id": 2, "username": "b", "profile": None, "updated_at": "2026-11-01T12:00:00+02:00", "extra": 1},
        {"id": 1, "username": "a2", "profile": {"bio": ""}, "updated_at": "2026-11-02T00:00:00Z"},
    ]
    got = records_to_batch(records, schema, fixed={"store_code": "s1"}, label="store s1")
    batch, rows = got.batch, got.batch.to_pylist()
    assert got.rejects == []
    assert [(r["store_code"], r["id"], r["username"]) for r in rows] == [("s1", 1, "a2"), ("s1", 2, "b")]
    assert json.loads(rows[0]["profile"]) == {"bio": ""} and rows[1]["profile"] is None
    assert rows[1]["updated_at"] == dt.datetime(2026, 11, 1, 10, 0, tzinfo=dt.UTC)
    assert batch.schema == schema.arrow_schema()


def test_a_record_without_id_fails_the_page() -> None:
    schema = records_table("videos", "v")
    with pytest.raises(BadPage, match="has no 'id'"):
        records_to_batch([{"title": "x"}, {"id": 2}], schema, fixed={"store_code": "s1"}, label="store s1")


def test_each_record_with_a_value_its_field_cannot_hold_is_set_aside_with_the_one_line_reason() -> None:
    schema = records_table("videos", "v")
    records: list[dict[str, object]] = [
        {"id": i, "views": i * 10, "updated_at": "2026-11-01T00:00:00Z"} for i in range(1, 7)
    ]
    records[1]["views"] = "many"
    records[2]["id"] = 2**70
    records[3]["updated_at"] = 1700000000
    records[4]["views"] = 1.5
    got = records_to_batch(records, schema, fixed={"store_code": "s1"}, label="s1")
    assert got.batch.column("id").to_pylist() == [1, 6] and got.batch.schema == schema.arrow_schema()
    reasons = {r.key: r.reason for r in got.rejects}
    assert reasons == {
        ("s1", 2): "s1: record id 2: field 'views' holds \"many\", not an integer",
        ("s1", 2**70): f"s1: record id {2**70}: field 'id' holds {2**70}, beyond the 64-bit integer range",
        ("s1", 4): "s1: record id 4: field 'updated_at' holds 1700000000, a bare number, not a time "
        "(send ISO-8601 text, e.g. 2026-11-02T00:00:00Z)",
        ("s1", 5): "s1: record id 5: field 'views' holds 1.5, not an integer (a fraction is never cut off)",
    }
    assert next(r.row for r in got.rejects if r.key == ("s1", 2)) == {**records[1], "store_code": "s1"}


def test_store_lists_from_csv_and_json(tmp_path: Path) -> None:
    csv_file = tmp_path / "s.csv"
    csv_file.write_text("store_code,base_url,credential\ns1,https://api.example/s1/,main\n")
    assert load_stores(csv_file) == [Store("s1", "https://api.example/s1", "main")]
    json_file = tmp_path / "s.json"
    json_file.write_text(json.dumps([{"code": "s2", "base_url": "http://x/s2"}]))
    assert load_stores(json_file) == [Store("s2", "http://x/s2", "")]


def test_a_store_list_saved_by_a_spreadsheet_is_read_and_one_in_another_encoding_is_refused(
    tmp_path: Path,
) -> None:
    """Excel writes "CSV UTF-8" with a byte order mark: the first column was read as
    '\ufeffstore_code' and every entry "needs store_code". A Latin-1 file was a traceback."""
    csv_file = tmp_path / "s.csv"
    csv_file.write_bytes("\ufeffstore_code,base_url\r\ns1,https://api.example/s1\r\n".encode())
    assert load_stores(csv_file) == [Store("s1", "https://api.example/s1", "")]
    json_file = tmp_path / "s.json"
    json_file.write_bytes(b"\xef\xbb\xbf" + json.dumps([{"code": "s2", "base_url": "http://x/s2"}]).encode())
    assert load_stores(json_file) == [Store("s2", "http://x/s2", "")]
    latin = tmp_path / "latin.csv"
    latin.write_bytes("store_code,base_url,note\ns1,http://x,café\n".encode("latin-1"))
    with pytest.raises(UsageError, match=r"is not UTF-8 text \(byte 0xe9 at offset 40\): save it as UTF-8"):
        load_stores(latin)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("store_code,base_url\ns1,ftp://x\n", "http"),
        ("store_code,base_url\ns1,http://x\ns1,http://y\n", "repeated: s1"),
        ("store_code,base_url\n'; drop,http://x\n", "store_code"),
        ("store_code,base_url\n", "has no stores"),  # was "succeeded: 0/0 stores", exit 0
    ],
)
def test_bad_store_lists_are_refused(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "s.csv"
    path.write_text(text)
    with pytest.raises(UsageError, match=reason):
        load_stores(path)


def test_credentials_are_references_and_never_shown() -> None:
    store = Store("s1", "http://x", "Main")
    assert token_for(store, {"main": SecretStr("t0ken")}) == SecretStr("t0ken")
    with pytest.raises(UsageError, match="BULKSYNC_STORES_CREDENTIALS__OTHER") as caught:
        token_for(Store("s1", "http://x", "other"), {"main": SecretStr("t0ken")})
    assert "t0ken" not in str(caught.value)


def test_sync_log_rows_are_keyed_by_run_and_store() -> None:
    at = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)
    store = LogRow("sync_users_daily", "r1", "s1", "succeeded", "", 5, at).batch().to_pylist()[0]
    summary = LogRow("sync_users_daily", "r1", None, "partial", "1/2", 9, at).batch().to_pylist()[0]
    assert (store["id"], summary["id"], summary["store_code"]) == ("r1/s1", "r1/", None)
    assert isinstance(pa.scalar(store["run_time"]), pa.TimestampScalar)


def test_a_token_echoed_in_a_next_link_is_never_checkpointed() -> None:
    from bulksync.connectors.http import Endpoint, Pagination, _next, _request

    ep = Endpoint(
        url="https://api.x/v", label="store s1", token=SecretStr("t0ken"), pagination=Pagination.LINK
    )
    cursor = _next(ep, {}, None, "https://api.x/v?after=9&access_token=t0ken", True)
    assert cursor is not None and "t0ken" not in cursor
    assert _request(ep, cursor) == ("https://api.x/v?after=9&access_token=t0ken", {})


@pytest.mark.parametrize("since", ["yesterday", "x'; DROP TABLE users; --", "2026-13-01"])
def test_a_since_that_is_no_iso_time_is_bad_usage_before_any_request(tmp_path: Path, since: str) -> None:
    """``--since yesterday`` went to every store as it was: no record matched, and the sync
    "succeeded" with nothing."""
    from helpers import run_cli

    stores = tmp_path / "s.csv"
    stores.write_text("store_code,base_url\ns1,http://127.0.0.1:9/s1\n")  # never asked
    done = run_cli(
        "stores", "sync", "users", "--stores", str(stores), "--to", str(tmp_path / "d.db"), "--since", since
    )
    assert done.returncode == 2
    assert f"Invalid value for '--since': {since!r} is not an ISO date or time" in done.stderr
    assert not (tmp_path / "d.db").exists()


@pytest.mark.parametrize("since", ["2026-11-16", "2026-11-16T00:00:00Z", "2026-11-16 08:30:00+02:00"])
def test_an_iso_since_is_taken_as_given(since: str) -> None:
    from bulksync.connectors.http_options import since_value

    assert since_value(f" {since} ") == since
