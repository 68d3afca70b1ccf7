"""What the API refuses and how: tokens and scopes, the body cap, malformed and invalid requests,
raw DSNs, unknown connections and tables (nothing recorded), health, metrics, the OpenAPI schema."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from serving import OPS, SECRET, VIEWER, Server, no_secret, server_env

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

JOB = {"source": "src", "destination": "wh", "tables": [{"name": "t", "dest_name": "t_refused"}]}


@pytest.mark.parametrize(
    ("token", "status", "detail"),
    [
        (None, 401, "missing bearer token"),
        ("not-a-configured-token-at-all", 401, "unknown bearer token"),
        (VIEWER, 200, None),
        (OPS, 200, None),
    ],
)
def test_reading_jobs_needs_a_known_token(
    server: Server, token: str | None, status: int, detail: str
) -> None:
    with server.client(token) as api:
        got = api.get("/api/v1/jobs")
    assert got.status_code == status, got.text
    if status == 401:
        assert got.headers["www-authenticate"] == "Bearer"
        assert detail in got.json()["detail"]
    else:
        assert got.json()["limit"] == 50


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/jobs"),
        ("POST", "/api/v1/jobs/job_x/cancel"),
        ("POST", "/api/v1/jobs/job_x/resume"),
        ("POST", "/api/sync-bets"),
        ("POST", "/api/sync-bets/date-range"),
        ("POST", "/api/sync-bets/background"),
    ],
)
def test_changing_jobs_needs_the_write_scope(server: Server, method: str, path: str) -> None:
    with server.client(VIEWER) as api:
        got = api.request(method, path, json=JOB if path == "/api/v1/jobs" else None)
    assert got.status_code == 403, got.text
    assert got.json()["detail"].startswith("token 'viewer' lacks the jobs:write scope")
    with server.client(None) as anonymous:
        assert anonymous.request(method, path).status_code == 401


def test_every_read_endpoint_needs_a_token(server: Server) -> None:
    with server.client(None) as anonymous:
        for path in ("/api/v1/jobs/job_x", "/api/v1/jobs/job_x/events", "/api/sync-bets/status/sync_bets_x"):
            assert anonymous.get(path).status_code == 401, path
    with server.client(VIEWER) as api:
        missing = api.get("/api/v1/jobs/job_nope")
        assert missing.status_code == 404 and "no job 'job_nope'" in missing.json()["detail"]
        assert api.get("/api/v1/jobs/job_nope/events").status_code == 404


def test_without_configured_tokens_the_job_endpoints_are_closed(tmp_path: Path) -> None:
    env = server_env(tmp_path)
    env = {k: v for k, v in env.items() if "API_TOKENS" not in k}
    srv = Server(tmp_path, env).start()
    try:
        with srv.client(OPS) as api:
            refused = api.get("/api/v1/jobs")
            assert refused.status_code == 401
            assert "no tokens configured" in refused.json()["detail"]
            assert "BULKSYNC_API_TOKENS__<NAME>__TOKEN" in refused.json()["detail"]
            assert api.get("/healthz").status_code == 200  # operations endpoints stay open
    finally:
        assert srv.stop() == 0
    assert "no tokens configured" in srv.stderr()


def test_a_body_over_the_cap_is_413_before_parsing(server: Server) -> None:
    huge = b'{"source": "' + b"a" * 2_000_000 + b'"}'
    with server.client() as api:
        declared = api.post("/api/v1/jobs", content=huge, headers={"content-type": "application/json"})
        assert declared.status_code == 413
        assert (
            declared.json()["detail"]
            == "request body larger than 1,048,576 bytes (BULKSYNC_API_MAX_BODY_BYTES)"
        )

        def chunks() -> httpx.SyncByteStream:  # no Content-Length: counted as it streams in
            yield from (huge[i : i + 65536] for i in range(0, len(huge), 65536))  # type: ignore[misc]

        streamed = api.post("/api/v1/jobs", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413, streamed.text
        assert "BULKSYNC_API_MAX_BODY_BYTES" in streamed.json()["detail"]
        # unauthenticated: refused just the same, without reading it
        anonymous = httpx.post(server.url + "/api/v1/jobs", content=huge)
        assert anonymous.status_code == 413


def test_malformed_json_is_422(server: Server) -> None:
    json_type = {"content-type": "application/json"}
    with server.client() as api:
        got = api.post("/api/v1/jobs", content=b'{"source": ', headers=json_type)
        # json.loads fails other than by a JSONDecodeError: FastAPI answered 400 "There was an
        # error parsing the body"
        deep = api.post("/api/v1/jobs", content=b"[" * 100_000 + b"]" * 100_000, headers=json_type)
        latin = api.post(
            "/api/v1/jobs", content='{"source": "caf\u00e9"}'.encode("latin-1"), headers=json_type
        )
    assert got.status_code == 422
    assert got.json()["detail"].startswith("body: malformed JSON at character")
    for answer in (deep, latin):
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"].startswith("body: malformed JSON")


@pytest.mark.parametrize(
    "content_type", [None, "application/x-www-form-urlencoded", "text/plain; charset=utf-8"]
)
def test_a_json_body_sent_without_its_content_type_is_415_and_says_so(
    server: Server, content_type: str | None
) -> None:
    """curl's ``-d`` sends a form: FastAPI then reads no JSON (a cross-site guard) and the answer
    was 422 "body: Input should be a valid dictionary or object to extract fields from"."""
    headers = {"content-type": content_type} if content_type else {}
    with server.client() as api:
        got = api.post("/api/v1/jobs", content=json.dumps(JOB).encode(), headers=headers)
        listed = api.get("/api/v1/jobs").json()["jobs"]
    assert got.status_code == 415, got.text
    said = f"sent as {content_type.split(';')[0]}" if content_type else "sent without a Content-Type"
    assert got.json()["detail"] == (
        f"the body must be JSON with the header Content-Type: application/json (it was {said}; "
        "with curl: -H 'Content-Type: application/json')"
    )
    assert listed == []  # nothing was queued


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({**JOB, "tables": []}, "body.tables", "at least 1 item"),
        ({**JOB, "partitions": 0}, "body.partitions", "greater than or equal to 1"),
        ({**JOB, "workers": 0}, "body.workers", "greater than or equal to 1"),
        ({**JOB, "mode": "merge"}, "body.mode", "'append', 'replace', 'upsert' or 'incremental'"),
        ({**JOB, "tables": ["t; drop table x"]}, "body.tables.0", ""),
        ({**JOB, "surprise": 1}, "body.surprise", "Extra inputs are not permitted"),
        ({"destination": "wh", "tables": ["t"]}, "body.source", "Field required"),
        ({**JOB, "mode": "incremental"}, "body.tables.0.cursor", "incremental mode needs a cursor column"),
    ],
)
def test_validation_errors_name_the_field(
    server: Server, body: dict[str, object], field: str, message: str
) -> None:
    with server.client() as api:
        got = api.post("/api/v1/jobs", json=body)
    assert got.status_code == 422, got.text
    detail = got.json()["detail"]
    assert detail.startswith(f"{field}") and message in detail, detail
    assert all("input" not in e for e in got.json()["errors"])  # a value is never echoed back


@pytest.mark.parametrize(
    ("side", "value"),
    [
        ("source", f"postgresql://postgres:{SECRET}@127.0.0.1/postgres"),
        ("destination", "/tmp/some/file.db"),
        ("source", "mysql://root@localhost/dk"),
        ("destination", "./x.db"),
    ],
)
def test_a_raw_dsn_or_path_is_refused_naming_the_field(server: Server, side: str, value: str) -> None:
    with server.client() as api:
        got = no_secret(api.post("/api/v1/jobs", json={**JOB, side: value}))
        assert got.status_code == 422
        assert got.json()["detail"].startswith(f"body.{side}: must be the name of a configured connection")
        assert api.get("/api/v1/jobs").json()["jobs"] == []


def test_unknown_connection_and_unknown_table_create_nothing(server: Server) -> None:
    with server.client() as api:
        unknown = no_secret(api.post("/api/v1/jobs", json={**JOB, "destination": "warehouse"}))
        assert unknown.status_code == 422
        assert unknown.json()["detail"] == (
            "body.destination: unknown destination connection 'warehouse' (configured: gone, src, wh); "
            "set BULKSYNC_CONNECTIONS__WAREHOUSE=<database URL>"
        )
        assert [e["field"] for e in unknown.json()["errors"]] == ["body.destination"]
        column = api.post("/api/v1/jobs", json={**JOB, "tables": [{"name": "t", "key": ["nope"]}]})
        assert column.status_code == 422 and "nope" in column.json()["detail"]
        assert api.get("/api/v1/jobs").json()["jobs"] == []


@pytest.mark.parametrize(
    ("tables", "field", "message"),
    [
        (["nope"], "body.tables.0", "table 'nope' does not exist in connection 'src' (tables: t)"),
        (
            [{"name": "t"}, {"name": "nope"}],
            "body.tables.1.name",
            "table 'nope' does not exist in connection",
        ),
        ([{"name": "t", "key": ["id", "nope"]}], "body.tables.0.key.1", "table 't' has no column 'nope'"),
        ([{"name": "t", "order_by": "nope"}], "body.tables.0.order_by", "has no column 'nope'"),
        (
            [{"name": "t", "filters": [{"column": "nope", "op": "eq", "value": 1}]}],
            "body.tables.0.filters.0.column",
            "has no column 'nope'",
        ),
    ],
)
def test_a_name_the_source_lacks_is_a_422_at_its_field_naming_the_connection_not_its_address(
    server: Server, source_db: tuple[Path, object], tables: list[object], field: str, message: str
) -> None:
    with server.client() as api:
        got = no_secret(api.post("/api/v1/jobs", json={**JOB, "tables": tables}))
        assert got.status_code == 422, got.text
        body = got.json()
        assert body["detail"].startswith(f"{field}: ") and message in body["detail"], body["detail"]
        assert body["errors"] == [{"field": field, "message": body["detail"][len(field) + 2 :],
                                   "type": body["errors"][0]["type"]}]  # fmt: skip
        assert str(source_db[0]) not in got.text and str(source_db[0].parent) not in got.text
        assert api.get("/api/v1/jobs").json()["jobs"] == []


def test_an_unreachable_destination_is_a_503_naming_the_connection_and_records_nothing(
    server: Server,
) -> None:
    """The ``gone`` connection's database does not exist: the caller is told which connection and
    why in a phrase; the database's name, host and user are in the server log only."""
    with server.client() as api:
        got = no_secret(api.post("/api/v1/jobs", json={**JOB, "destination": "gone"}))
        assert got.status_code == 503, got.text
        assert got.json()["detail"] == "cannot connect to connection 'gone': its database does not exist"
        assert api.get("/api/v1/jobs").json()["jobs"] == []
    assert "bs_gone_" in server.stderr()  # the server log has the whole (redacted) line


def test_errors_speak_the_apis_fields_not_the_clis_options(server: Server) -> None:
    with server.client() as api:
        got = api.post("/api/v1/jobs", json={**JOB, "mode": "incremental"})
    assert got.status_code == 422
    assert got.json()["detail"] == (
        "body.tables.0.cursor: incremental mode needs a cursor column for table 't' "
        '(e.g. "cursor": "updated_at")'
    )
    assert "--" not in got.text


def test_healthz_and_metrics_need_no_token(server: Server) -> None:
    health = httpx.get(server.url + "/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "job_store": "ok", "broker": "not configured", "detail": None}
    metrics = httpx.get(server.url + "/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    for line in ('bulksync_jobs{status="queued"}', "bulksync_job_store_up 1.0", "bulksync_memory_rss_bytes"):
        assert line in metrics.text


def test_openapi_describes_the_bearer_scheme_and_the_seed_endpoints(server: Server) -> None:
    schema = httpx.get(server.url + "/openapi.json").json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path in (
        "/api/v1/jobs", "/api/v1/jobs/{job_id}/events", "/api/sync-bets", "/api/sync-bets/date-range",
        "/api/sync-bets/background", "/api/sync-bets/status/{jobId}", "/healthz", "/metrics",
    ):  # fmt: skip
        assert path in schema["paths"], path
    assert httpx.get(server.url + "/docs").status_code == 200


def test_an_injection_shaped_table_name_is_one_error_at_the_field(server: Server) -> None:
    """A table is a name or an object: a bad name is reported once, at ``body.tables.0``, not
    once per union branch under pydantic's internal branch names."""
    with server.client() as api:
        refused = no_secret(api.post("/api/v1/jobs", json={
            "source": "src", "destination": "wh", "tables": ["bets; DROP TABLE x"]}))  # fmt: skip
    assert refused.status_code == 422
    (error,) = refused.json()["errors"]
    assert error["field"] == "body.tables.0", error
    assert refused.json()["detail"].startswith("body.tables.0: ")


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity"])
def test_a_number_that_is_not_finite_is_named_as_such(server: Server, number: bytes) -> None:
    """Python's JSON takes NaN; it slipped past every bound, and ``"batch_mb": NaN`` was
    answered "should be less than or equal to 256"."""
    body = json.dumps(JOB).encode()[:-1] + b', "batch_mb": ' + number + b"}"
    with server.client() as api:
        got = api.post("/api/v1/jobs", content=body, headers={"content-type": "application/json"})
    assert got.status_code == 422, got.text
    assert got.json()["detail"] == "body.batch_mb: Input should be a finite number"


@pytest.mark.parametrize(
    ("entry", "field"), [("t", "body.tables.0"), ({"name": "t", "dest_name": "t"}, "body.tables.0.dest_name")]
)
def test_a_table_copied_onto_itself_is_a_422_at_its_destination_name(
    server: Server, source_db: tuple[Path, object], entry: object, field: str
) -> None:
    """Source and destination one database, the same table name: the 422 had an empty ``field``
    and told an API caller to pass ``--dest-table``."""
    with server.client() as api:
        got = api.post("/api/v1/jobs", json={**JOB, "destination": "src", "tables": [entry]})
        assert got.status_code == 422, got.text
        assert got.json()["errors"][0]["field"] == field
        assert "same table 't'" in got.json()["detail"] and "dest_name" in got.json()["detail"]
        assert api.get("/api/v1/jobs").json()["jobs"] == []
