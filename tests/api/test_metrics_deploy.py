"""Every series the alert rules and the Grafana dashboard in ``deploy/`` query is on a real
server's ``/metrics`` (with the labels they use), and the metric names follow Prometheus'
conventions: base units, ``_total`` counters, no unbounded label such as a job id."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from serving import Server, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
# Series of services a server may not run: each must be there once that service answers.
LATER = {
    "bulksync_jackpot_": "/api/jackpot/stats",  # the jackpot service's own metrics
}
# Labelled series with no sample until a store sync runs in that process (the job here is a copy);
# tests/api/test_stores_api.py checks their counts after a store sync job on serve, and
# tests/distributed/test_stores_fleet.py on a worker's /metrics.
NOT_YET = ("bulksync_stores_synced_", "bulksync_store_http_", "bulksync_store_sync_seconds")
_SELECTOR = re.compile(r"\b(bulksync_[a-z0-9_]+)\s*(\{[^}]*\})?")
_BY = re.compile(r"\bby\s*\(([^)]*)\)")


def deploy_queries() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    board = json.loads((DEPLOY / "grafana" / "bulksync.json").read_text())
    return exprs + [t["expr"] for p in board["panels"] for t in p.get("targets", [])]


def scrape(server: Server) -> dict[str, set[str]]:
    """Sample name -> the label names it carries, from the server's /metrics."""
    samples: dict[str, set[str]] = {}
    with server.client(None) as http:
        text = http.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, set()).update(sample.labels)
    return samples


@pytest.fixture(scope="module")
def metrics(server: Server) -> dict[str, set[str]]:
    """/metrics after one job ran on the server (its histograms have samples)."""
    with server.client() as api:
        body = {"source": "src", "destination": "wh", "tables": [{"name": "t", "dest_name": "t_metrics"}]}
        job_id = api.post("/api/v1/jobs", json=body).json()["job_id"]
        assert wait_for(api, job_id)["status"] == "succeeded"
    return scrape(server)


def test_every_series_of_the_rules_and_the_dashboard_is_on_metrics(
    server: Server, metrics: dict[str, set[str]]
) -> None:
    running = {prefix: _answers(server, path) for prefix, path in LATER.items()}
    checked = 0
    for expr in deploy_queries():
        for name, braces in _SELECTOR.findall(expr):
            if name.startswith(NOT_YET) or any(name.startswith(p) and not up for p, up in running.items()):
                continue
            assert name in metrics, f"{name} (in {expr!r}) is not on /metrics"
            for label in re.findall(r"([a-z_]+)\s*=~?", braces):
                assert label in metrics[name], f"{name} has no label {label!r}: {sorted(metrics[name])}"
            checked += 1
        for labels in _BY.findall(expr):
            for label in (x.strip() for x in labels.split(",")):
                users = [n for n, _ in _SELECTOR.findall(expr) if n in metrics]
                assert label in {"le", "instance"} or any(label in metrics[n] for n in users) or not users, (
                    f"no series of {expr!r} has the label {label!r}"
                )
    assert checked >= 10


def _answers(server: Server, path: str) -> bool:
    with server.client() as api:
        return api.get(path).status_code != 404


def test_metric_names_follow_the_prometheus_conventions(metrics: dict[str, set[str]]) -> None:
    ours = {name: labels for name, labels in metrics.items() if name.startswith("bulksync_")}
    assert "bulksync_rows_synced_total" in ours and "bulksync_job_stall_seconds" in ours
    for name, labels in ours.items():
        assert not re.search(r"_(ms|milliseconds|mb|kb|minutes|hours|percent)(_|$)", name), name
        assert not labels & {"job_id", "id", "job", "token", "url", "dsn"}, (name, labels)
