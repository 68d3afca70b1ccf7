"""The README and docs/ say what the product is and does, in words its readers share: the layout
as it is, no file that is not there, every dependency, one status vocabulary, no project-history
labels ("seed 000", "session 4"), estimates called estimates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bulksync.jobs.model import STATUSES

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
DOCS = {p.name: p.read_text() for p in (ROOT / "docs").glob("*.md")}


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n#", start + len(heading))
    return text[start : end if end > 0 else None]


def test_the_layout_in_how_it_works_is_the_packages_layout() -> None:
    tree = _section(README, "## How it works").split("```")[1]
    package = ROOT / "src" / "bulksync"
    names = [p.name + "/" for p in package.iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    names += [p.name for p in package.glob("*.py") if not p.name.startswith("__")]
    assert [n for n in sorted(names) if n not in tree] == []


@pytest.mark.parametrize("name", ["README.md", *sorted(DOCS)])
def test_every_file_a_document_cites_is_in_the_repository(name: str) -> None:
    text = README if name == "README.md" else DOCS[name]
    here = ROOT if name == "README.md" else ROOT / "docs"
    cited = set(re.findall(r"\]\(([^)#]+)\)", text)) | set(re.findall(r"\b([A-Z][A-Za-z]*\.md)\b", text))
    assert [c for c in sorted(cited) if not (here / c).exists() and not (ROOT / c).exists()] == []


def test_the_dependency_list_names_what_bulksync_runs_on() -> None:
    deps = _section(README, "### Dependencies")
    wanted = ("pyarrow", "ADBC", "psycopg", "pgpq", "connectorx", "PyMySQL", "SQLAlchemy", "pydantic",
              "Typer", "Rich", "tenacity", "psutil", "FastAPI", "uvicorn", "Dramatiq",
              "prometheus-client")  # fmt: skip
    assert [w for w in wanted if w not in deps] == []


def test_sources_and_destinations_are_described_as_they_are() -> None:
    said = README[README.index("`SOURCE`/`DEST` are") :][:400]
    assert "MySQL/MariaDB" in said and "configured connections" in said


@pytest.mark.parametrize("name", ["README.md", *sorted(DOCS)])
def test_no_project_history_labels(name: str) -> None:
    text = README if name == "README.md" else DOCS[name]
    found = re.findall(r"seed 0\d\d|seeds'|the seed's|[Ss]ession \d|DESIGN\.md", text)
    assert found == []


def test_the_job_statuses_are_one_vocabulary_in_every_document() -> None:
    for text in (README, DOCS["api.md"]):
        assert [s for s in STATUSES if f"`{s}`" not in text] == []


def test_estimated_records_are_called_an_estimate() -> None:
    assert "`estimated_records` the source's count" not in DOCS["api.md"]
    assert "catalog's estimate" in DOCS["api.md"]
