"""The CLI's tables in an 80-column terminal and in a pipe: headings and names whole, no "…",
no line past the screen; a table too wide for the screen becomes one folded block per row."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from bulksync.cli import render

HEADERS = ("table", "target", "mode", "read", "written", "rejected", "batches", "seconds")
ROW = ("statcast", "statcast_vn", "replace", "1,234,567", "1,234,567", "0", "123", "12.34")
LONG = ("statcast_pitches", "statcast_pitches_vn", "replace", "1,234,567", "1,234,567", "0", "123", "12.34")


def draw(rows: list[tuple[str, ...]], *, width: int | None = 80) -> list[str]:
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=width or 1_000_000, force_terminal=width is not None, color_system=None
    )
    render.print_table(console, "bulksync: succeeded", HEADERS, rows, left=3)
    return [line.rstrip() for line in buffer.getvalue().splitlines()]


def test_a_summary_that_fits_80_columns_is_a_table_with_whole_headings() -> None:
    lines = draw([ROW])
    assert "…" not in "\n".join(lines) and max(map(len, lines)) <= 80
    assert lines[1].split() == list(HEADERS)
    assert lines[3].split() == list(ROW)


def test_a_summary_wider_than_80_columns_folds_each_row_between_fields() -> None:
    lines = draw([LONG, ROW])
    text = "\n".join(lines)
    assert "…" not in text and max(map(len, lines)) <= 80, text
    assert lines[1].startswith("  statcast_pitches: target: statcast_pitches_vn · mode: replace")
    for field in ("read: 1,234,567", "written: 1,234,567", "rejected: 0", "batches: 123", "seconds: 12.34"):
        assert text.count(field) == 2, (field, text)


@pytest.mark.parametrize("row", [ROW, LONG])
def test_in_a_pipe_the_table_is_whole_on_one_line_per_row(row: tuple[str, ...]) -> None:
    lines = draw([row], width=None)
    assert lines[1].split() == list(HEADERS) and lines[3].split() == list(row)


def test_progress_bars_at_80_columns_keep_every_figure_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    from bulksync.engine.progress import ProgressEvent

    buffer = io.StringIO()
    monkeypatch.setattr(render, "err", Console(file=buffer, width=80, force_terminal=True, color_system=None))
    view = render.ProgressView()
    for table, done in (("statcast", 300_000), ("bets", 12_345)):
        view(ProgressEvent(table, "copying", done, 300_000, 0, 1.0, 197_647.0, 7.0, 154.0, 1))
    render.err.print(view._progress.make_tasks_table(view._progress.tasks))
    lines = [line.rstrip() for line in buffer.getvalue().splitlines() if line.strip()]
    assert "…" not in "\n".join(lines) and max(map(len, lines)) <= 80, lines
    assert "300,000/300,000" in lines[0] and "197,647 rows/s" in lines[0] and "154 MB" in lines[0]
    assert "12,345/300,000" in lines[1]
