"""``deploy/``: the Prometheus config and alert rules pass ``promtool`` (syntax, and the rules'
own unit tests in alerts_test.yml: each alert fires when it should and only then), and the
Grafana dashboard is an importable dashboard whose every panel queries Prometheus."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from bulksync.connectors.http import Tally
from bulksync.engine.progress import ProgressEvent
from bulksync.jobs.store import JobStore
from bulksync.metrics.process import Metrics
from bulksync.recipes.stores_result import StoreOutcome

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.fixture(scope="module")
def promtool(require_service: Callable[[str, Exception], None]) -> str:
    found = shutil.which("promtool")
    if found is None:
        missing = FileNotFoundError("not installed (apt-get install prometheus; .ci/services does)")
        require_service("promtool", missing)
        raise AssertionError("unreachable: require_service skips or fails")
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), cwd=DEPLOY / "prometheus", capture_output=True, text=True, timeout=120, check=False
    )


def test_the_scrape_config_and_its_rules_are_valid(promtool: str) -> None:
    proc = run(promtool, "check", "config", "prometheus.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 6 rules found" in proc.stdout + proc.stderr


def test_every_alert_fires_on_its_unit_test_series_and_not_before(promtool: str) -> None:
    proc = run(promtool, "test", "rules", "alerts_test.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tested = (DEPLOY / "prometheus" / "alerts_test.yml").read_text()
    for alert in ("JobFailed", "JobStalled", "JobRunnerLost", "JobStoreDown", "StoreSyncSuccessLow"):
        assert f"alertname: Bulksync{alert}" in tested
    assert "alertname: BulksyncJackpotSlow" in tested


def test_the_grafana_dashboard_is_importable_and_every_panel_queries_prometheus() -> None:
    board = json.loads((DEPLOY / "grafana" / "bulksync.json").read_text())
    assert board["__inputs"][0]["pluginId"] == "prometheus"
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    for panel in panels:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), panel["title"]
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]


def _queried() -> set[str]:
    """Every bulksync series (jackpot's aside) the dashboard and the alert rules query."""
    text = (DEPLOY / "grafana" / "bulksync.json").read_text() + (
        DEPLOY / "prometheus" / "alerts.yml"
    ).read_text()
    return {n for n in re.findall(r"\bbulksync_[a-z_]+", text) if not n.startswith("bulksync_jackpot_")}


def _exported(metrics: Metrics) -> set[str]:
    """The series ``metrics`` exports once it has seen a batch and two stores."""
    event = ProgressEvent("bets", "copying", 0, 10, 0, 0.1, 0.0, None, 1.0, 1)
    metrics(replace(event, phase="planned"))
    metrics(replace(event, rows_done=10, batch_rows=10, batch_seconds=0.1))
    for status in ("succeeded", "failed"):
        metrics.store_done(StoreOutcome("s1", status, "", duration_ms=5), Tally(1, 0, 0, {200: 1}))
    return {s.name for family in metrics.registry.collect() for s in family.samples}


def test_every_series_the_dashboard_and_alerts_query_is_exported(tmp_path: Path) -> None:
    store = JobStore(str(tmp_path / "jobs.db"), create=True)
    try:
        served = _exported(Metrics(lambda: store))
    finally:
        store.close()
    missing = _queried() - served
    assert not missing, f"queried but exported by no bulksync serve: {sorted(missing)}"
    store_series = {n for n in _queried() if n.startswith(("bulksync_store_", "bulksync_stores_"))}
    assert {"bulksync_store_http_requests_total", "bulksync_store_http_rate_limited_total"} <= store_series
    # the fleet's workers make the store requests: they export the same series (no job counts)
    worker = _exported(Metrics(None))
    assert store_series | {"bulksync_rows_synced_total"} <= worker
    assert "bulksync_jobs" not in worker


def test_prometheus_scrapes_the_servers_and_the_workers() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {c["job_name"]: c for c in config["scrape_configs"]}
    assert set(jobs) == {"bulksync", "bulksync-workers"}
    assert all(c["metrics_path"] == "/metrics" and c["static_configs"][0]["targets"] for c in jobs.values())
