"""Store syncs through the API (``bulksync serve``'s embedded workers): created with
``POST /api/v1/jobs/stores``, followed over SSE to ``partial`` with the failed store named,
resumed to re-run only that store; bad requests are one 422 line and record nothing; no token
or password in any response."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from bulksync.fakestores import FakeStores, FakeStoreServer
from serving import SECRET, Server, drop_pg, fresh_pg, no_secret, server_env, wait_for, with_password
from storekit import BAD_TOKEN, assert_once_and_complete, expected_keys

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
ENDED = ("succeeded", "partial", "failed", "cancelled")


@pytest.fixture(scope="module")
def fake_api() -> Iterator[FakeStoreServer]:
    with FakeStoreServer(FakeStores(stores=6), latency_s=0.01) as srv:
        yield srv


@pytest.fixture(scope="module")
def dest(pg_admin: psycopg.Connection) -> Iterator[str]:
    name = f"bs_api_stores_{uuid.uuid4().hex[:10]}"
    yield fresh_pg(pg_admin, name)
    drop_pg(pg_admin, name)


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, fake_api: FakeStoreServer, dest: str
) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("serve-stores")
    env = server_env(
        workdir,
        BULKSYNC_CONNECTIONS__WH=with_password(dest),
        BULKSYNC_CONNECTIONS__LITE=str(workdir / "lite.db"),
        BULKSYNC_STORES_CREDENTIALS__MAIN=fake_api.catalog.token,
        BULKSYNC_STORES_CREDENTIALS__BAD=BAD_TOKEN,
    )
    srv = Server(workdir, env).start()
    yield srv
    srv.stop()
    log = srv.stderr()
    assert SECRET not in log and BAD_TOKEN not in log and fake_api.catalog.token not in log


def body(fake_api: FakeStoreServer, **extra: Any) -> dict[str, Any]:
    stores = [
        {"store_code": c, "base_url": fake_api.base_url(c), "credential": "bad" if c == "s0003" else "main"}
        for c in fake_api.catalog.codes()
    ]
    return {"kind": "users", "destination": "wh", "stores": stores, "page_size": 7, "backoff_s": 0.01,
            "concurrency": 3, **extra}  # fmt: skip


def test_create_follow_to_partial_then_resume_only_the_failed_store(
    server: Server, fake_api: FakeStoreServer, dest: str
) -> None:
    with server.client() as api:
        created = no_secret(api.post("/api/v1/jobs/stores", json=body(fake_api)))
        assert created.status_code == 201, created.text
        job = created.json()
        assert job["kind"] == "stores" and job["status"] == "queued" and job["estimated_records"] == 6
        assert job["spec"]["destination"] == {"connection": "wh"}
        events: list[tuple[str, dict[str, Any]]] = []
        with api.stream("GET", f"/api/v1/jobs/{job['job_id']}/events") as stream:
            name = ""
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    events.append((name, json.loads(line.removeprefix("data: "))))
        assert events[-1] == ("end", {"job_id": job["job_id"], "status": "partial"})
        last = [data for name, data in events if name == "job"][-1]
        assert last["status"] == "partial" and last["progress_percentage"] == 100.0
        assert "s0003" in last["error"] and "401" in last["error"]
        assert [f["code"] for f in last["result"]["failures"]] == ["s0003"]
        entry = last["tables"]["store_users"]
        assert entry["partitions"] == 6 and entry["failed_stores"][0]["code"] == "s0003"
        listed = api.get("/api/v1/jobs", params={"status": "partial"}).json()["jobs"]
        assert [j["job_id"] for j in listed] == [job["job_id"]]

        asked = Counter(fake_api.stats.as_dict()["by_store"])
        resumed = no_secret(api.post(f"/api/v1/jobs/{job['job_id']}/resume"))
        assert resumed.status_code == 200, resumed.text
        again = wait_for(api, job["job_id"], until=ENDED)
        assert again["status"] == "partial" and again["result"]["failed"] == 1  # the token is still wrong
        after = Counter(fake_api.stats.as_dict()["by_store"])
        assert {c for c in after if after[c] != asked[c]} == {"s0003"}
        metrics = _samples(api.get("/metrics").text)
    assert metrics['bulksync_store_http_requests_total{code="401"}'] == 2  # once per run of s0003
    assert metrics['bulksync_store_http_requests_total{code="200"}'] == after.total() - 2
    assert metrics['bulksync_stores_synced_total{outcome="failed"}'] == 2
    assert metrics['bulksync_stores_synced_total{outcome="succeeded"}'] == 5
    assert metrics["bulksync_store_http_rate_limited_total"] == 0
    assert metrics['bulksync_store_sync_seconds_count{outcome="succeeded"}'] == 5
    assert not any("store_code=" in k or "job_id=" in k for k in metrics), "unbounded labels"
    for text in (created.text, json.dumps(events), json.dumps(again)):
        assert BAD_TOKEN not in text and fake_api.catalog.token not in text
    good = [c for c in fake_api.catalog.codes() if c != "s0003"]
    complete = expected_keys(fake_api.catalog, "users", good)
    assert_once_and_complete(dest, "store_users", complete, expected_keys(fake_api.catalog, "users"))


def _samples(text: str) -> dict[str, float]:
    """The Prometheus text format's samples: ``name{labels}`` → value."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"destination": "nowhere"}, "body.destination", "nowhere"),
        ({"destination": "lite"}, "body.destination", "PostgreSQL"),
        ({"stores": None}, "body.stores", "stores_table"),
        ({"kind": "orders"}, "body.kind", "users"),
        ({"since": "yesterday"}, "body.since", "'yesterday' is not an ISO date or time"),  # was 0 records
    ],
)
def test_a_bad_request_is_one_422_line_and_records_nothing(
    server: Server, fake_api: FakeStoreServer, change: dict[str, Any], field: str, words: str
) -> None:
    with server.client() as api:
        before = len(api.get("/api/v1/jobs").json()["jobs"])
        answer = no_secret(api.post("/api/v1/jobs/stores", json=body(fake_api, **change)))
        assert answer.status_code == 422, answer.text
        problem = answer.json()
        assert words in problem["detail"] and "\n" not in problem["detail"]
        assert field in json.dumps(problem)
        assert len(api.get("/api/v1/jobs").json()["jobs"]) == before


def test_an_unknown_credential_is_named_at_its_field(server: Server, fake_api: FakeStoreServer) -> None:
    request = body(fake_api)
    request["stores"][1]["credential"] = "nobody"
    with server.client() as api:
        answer = api.post("/api/v1/jobs/stores", json=request)
    assert answer.status_code == 422
    assert "BULKSYNC_STORES_CREDENTIALS__NOBODY" in answer.json()["detail"]
    assert "body.stores.1.credential" in answer.text
