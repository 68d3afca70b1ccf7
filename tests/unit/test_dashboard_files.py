"""The dashboard's static files ship in the wheel (pyproject's package data names them all), and
the page refers only to files that are there."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from bulksync.dashboard.routes import STATIC

ROOT = Path(__file__).resolve().parents[2]


def test_every_static_file_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["bulksync.dashboard"]
    shipped = {p for g in globs for p in (STATIC.parent).glob(g)}
    assert sorted(p.name for p in STATIC.iterdir() if p not in shipped) == []


def test_the_page_and_its_modules_refer_only_to_files_that_exist() -> None:
    page = (STATIC / "index.html").read_text()
    cited = re.findall(r'(?:src|href)="/dashboard/([^"]+)"', page)
    for script in STATIC.glob("*.js"):
        cited += re.findall(r"from '\./([^']+)'", script.read_text())
    assert set(cited) >= {"dashboard.js", "dashboard.css", "api.js"}
    assert [c for c in cited if not (STATIC / c).exists()] == []
