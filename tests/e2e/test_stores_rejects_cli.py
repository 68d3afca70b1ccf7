"""``bulksync stores sync`` with one record an integer field cannot hold, as a user runs it: every
store succeeds, the summary and ``--json`` count the record rejected and name its reason, and the
exit code is 3, as ``copy``'s for rejected rows; the same command again (JSON, then plain) says
the same and leaves one reject and every other record once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bulksync.fakestores import FakeStores, FakeStoreServer, Fault
from storekit import assert_exactly_once, expected_keys, rows

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

REASON = "s0002: record id 15: field 'views' holds \"lots\", not an integer"


def bulksync(*args: str, token: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BULKSYNC_")}
    src = str(Path(__file__).resolve().parents[2] / "src")
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [src, environ.get("PYTHONPATH")]))
    environ["BULKSYNC_STORES_CREDENTIALS__FAKE"] = token
    return subprocess.run(
        [sys.executable, "-m", "bulksync", *args],
        capture_output=True, text=True, timeout=120, check=False, env=environ,
    )  # fmt: skip


def test_one_bad_value_exits_3_with_the_record_rejected_and_the_rest_synced(
    pg_db: str, tmp_path: Path
) -> None:
    catalog = FakeStores(stores=3, faults={"s0002": Fault("value", record=15, field="views", value="lots")})
    with FakeStoreServer(catalog) as srv:
        listing = tmp_path / "stores.csv"
        srv.write_store_list(str(listing))
        command = ["stores", "sync", "videos", "--stores", str(listing), "--to", pg_db, "--page-size", "10"]
        first = bulksync(*command, "--json", token=catalog.token)
        again = bulksync(*command, token=catalog.token)
    assert first.returncode == 3, first.stderr[-2000:]
    result = json.loads(first.stdout)
    assert result["status"] == "succeeded" and result["failed"] == 0 and result["records_rejected"] == 1
    assert result["records_written"] == catalog.total("videos") - 1
    [store] = result["rejected_stores"]
    assert store["code"] == "s0002" and store["rejected"] == 1 and REASON in store["message"]
    assert again.returncode == 3, again.stderr[-2000:]
    assert "3/3 stores succeeded" in again.stdout and "1 rejected" in again.stdout
    assert f"s0002: 1 record rejected, in bulksync.rejects (first: {REASON})" in again.stdout
    assert_exactly_once(pg_db, "store_videos", expected_keys(catalog, "videos") - {("s0002", 15)})
    rejects = rows(pg_db, "SELECT tbl, row_key, reason FROM bulksync.rejects")
    assert rejects == [{"tbl": "store_videos", "row_key": '["s0002", 15]', "reason": REASON}]
    summaries = rows(pg_db, "SELECT status, message FROM sync_logs WHERE store_code IS NULL")
    assert [r["status"] for r in summaries] == ["succeeded", "succeeded"]
    assert all("1 rejected" in r["message"] for r in summaries)
    stores = rows(pg_db, "SELECT status, message, records_written FROM sync_logs WHERE store_code = 's0002'")
    assert [r["status"] for r in stores] == ["succeeded", "succeeded"]
    assert all(r["message"] == f"1 record rejected, in bulksync.rejects (first: {REASON})" for r in stores)
    assert [r["records_written"] for r in stores] == [catalog.count("s0002", "videos") - 1] * 2
