"""``deploy/``: the Prometheus config and alert rules pass ``promtool`` (syntax, and the rules'
own unit tests in alerts_test.yml: each alert fires when it should and only then), and the
Grafana dashboard is an importable dashboard whose every panel queries Prometheus."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

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
