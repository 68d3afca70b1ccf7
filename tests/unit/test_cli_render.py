"""The CLI's tables in an 80-column terminal and in a pipe: headings and names whole, no "…",
no line past the screen; a table too wide for the screen becomes one folded block per row."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from bulksync.cli import plain, render
from bulksync.engine.progress import ProgressEvent

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


# -- plain.py: what a pipe, a log file or CI gets, without Rich --


def event(table: str = "bets", phase: str = "copying", done: int = 40_000, **extra: object) -> ProgressEvent:
    fields: dict[str, Any] = {
        "table": table,
        "phase": phase,
        "rows_done": done,
        "rows_total": 100_000,
        "bytes_done": 0,
        "elapsed_s": 1.0,
        "rows_per_s": 197_647.0,
        "eta_s": 3.0,
        "rss_mb": 154.0,
        "partitions": 1,
        **extra,
    }
    return ProgressEvent(**fields)


class Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize("tty", [True, False])
@pytest.mark.parametrize(
    "environ",
    [{}, {"TTY_COMPATIBLE": "0"}, {"TTY_COMPATIBLE": "1"}, {"FORCE_COLOR": "1"}, {"FORCE_COLOR": ""},
     {"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"}, {"TTY_COMPATIBLE": "x", "FORCE_COLOR": "1"}],
)  # fmt: skip
def test_plain_output_is_chosen_exactly_where_rich_would_not_draw(
    environ: dict[str, str], tty: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TTY_COMPATIBLE", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    stream = Stream(tty)
    assert plain.is_terminal(stream) == Console(file=stream).is_terminal


def test_progress_lines_are_whole_and_throttled_while_busy(capsys: pytest.CaptureFixture[str]) -> None:
    with plain.ProgressLog(log_every_s=3600) as log:
        log(event(done=40_000, rejected=2))
        log(event(done=80_000))  # busy, within the hour: no line
        log(event(table="odds", done=5))  # another table has its own clock
        log(event(phase="indexing", done=100_000))  # not busy: every event is a line
        log(event(phase="done", done=100_000, message="took [1 s]"))
        log(event(table="players", phase="done", done=0))
    assert capsys.readouterr().err.splitlines() == [
        "bets: copying 40,000/100,000 rows (40.0%) 197,647 rows/s ETA 3s RSS 154 MB rejected 2",
        "odds: copying 5/100,000 rows (0.0%) 197,647 rows/s ETA 3s RSS 154 MB",
        "bets: indexing 100,000/100,000 rows (100.0%) 197,647 rows/s ETA 3s RSS 154 MB",
        "bets: done 100,000/100,000 rows (100.0%) 197,647 rows/s ETA 3s RSS 154 MB — took [1 s]",
        "players: already up to date: no new rows since the last run",
    ]


def test_progress_lines_every_n_rows_and_none_when_disabled(capsys: pytest.CaptureFixture[str]) -> None:
    log = plain.ProgressLog(log_every_rows=30_000)
    for done in (10_000, 30_000, 50_000, 60_000):
        log(event(done=done))
    plain.ProgressLog(enabled=False)(event(phase="done", done=100_000))
    assert [line.split()[2] for line in capsys.readouterr().err.splitlines()] == [
        "30,000/100,000",
        "60,000/100,000",
    ]


def test_in_a_pipe_the_progress_view_is_plain_lines(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    with plain.progress_view(busy_phases=("verifying",)) as view:
        assert isinstance(view, plain.ProgressLog)
        view(event(phase="verifying", done=1))
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert isinstance(plain.progress_view(), render.ProgressView)
    assert isinstance(plain.progress_view(enabled=False), plain.ProgressLog)
    assert capsys.readouterr().err.startswith("bets: verifying 1/100,000 rows")


def test_json_warnings_and_errors_in_a_pipe(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    plain.print_json({"rows": 3, "at": Path("/tmp/x")})
    plain.print_warning("--workers is deprecated here: use --partitions (the same number)")
    plain.print_error("table [bets] is not in the source")  # brackets are text, not markup
    out, err = capsys.readouterr()
    assert json.loads(out) == {"rows": 3, "at": "/tmp/x"}
    assert err.splitlines() == [
        "warning: --workers is deprecated here: use --partitions (the same number)",
        "error: table [bets] is not in the source",
    ]
