"""The source SQLite file: made by ``bulksync generate`` (``--data generated``), derived from that
with other value distributions (``--data other``, ``other_bets.py``), or a copy of ``--source-db``."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from bench.bets import TABLE
from bench.context import bulksync_command
from bench.other_bets import derive

SEED = 42
DATA_SETS = ("generated", "other")


def count_sqlite_rows(path: Path, table: str = TABLE) -> int:
    """``count(*)`` of ``table`` in the SQLite file at ``path`` (opened read-only)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def copy_source(source_db: Path, *, rows: int, data_dir: Path) -> Path:
    """Copy ``source_db`` into ``data_dir`` (the original is never opened for writing)."""
    if not source_db.is_file():
        raise SystemExit(f"--source-db {source_db}: no such file")
    target = data_dir / f"source-{source_db.name}"
    if not target.exists() or _identity(target) != _identity(source_db):
        data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source_db, target)
    return _checked(target, rows)


def generated_path(rows: int, data_dir: Path) -> Path:
    """Where ``generate_source`` keeps the file of ``rows`` rows."""
    return data_dir / f"bets-{rows}-seed{SEED}.db"


def generate_source(*, rows: int, data_dir: Path) -> Path:
    """``bulksync generate`` a ``bets`` file of ``rows`` rows once, then reuse it."""
    target = generated_path(rows, data_dir)
    if target.exists():
        return _checked(target, rows)
    data_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial.db")
    partial.unlink(missing_ok=True)
    command = [*bulksync_command(), "generate", str(partial), "--table", TABLE]
    command += ["--rows", str(rows), "--seed", str(SEED)]
    print(f"generating {rows:,} rows: {' '.join(command)}", file=sys.stderr)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        first = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[0]
        raise SystemExit(
            f"`bulksync generate` failed (exit {done.returncode}): {first}\n"
            "Pass --source-db PATH to benchmark an existing SQLite file instead."
        )
    partial.rename(target)
    return _checked(target, rows)


def source_path(data: str, rows: int, data_dir: Path) -> Path:
    """Where ``ensure_source`` keeps the ``data`` file of ``rows`` rows."""
    generated = generated_path(rows, data_dir)
    return generated if data == "generated" else generated.with_name(f"{generated.stem}-{data}.db")


def ensure_source(data: str, *, rows: int, data_dir: Path) -> Path:
    """The ``data`` file of ``rows`` rows, made once (the other one from the generated one)."""
    generated = generate_source(rows=rows, data_dir=data_dir)
    if data == "generated":
        return generated
    target = source_path(data, rows, data_dir)
    if not target.exists() or target.stat().st_mtime < generated.stat().st_mtime:
        partial = target.with_suffix(".partial.db")
        partial.unlink(missing_ok=True)
        print(f"deriving {target.name} from {generated.name}", file=sys.stderr, flush=True)
        derive(generated, partial)
        partial.rename(target)
    return _checked(target, rows)


def _identity(path: Path) -> tuple[int, int]:
    stat = path.stat()  # copy2 keeps the mtime, so size + mtime say "same file"
    return stat.st_size, stat.st_mtime_ns


def _checked(path: Path, rows: int) -> Path:
    found = count_sqlite_rows(path)
    if found != rows:
        raise SystemExit(f"{path} holds {found:,} rows in {TABLE}, but --rows is {rows:,}")
    return path
