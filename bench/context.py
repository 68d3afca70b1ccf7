"""What every scenario needs to know: where things are and how to spell each command."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.measure import child_env
from bench.postgres import psql_command

REPO_ROOT = Path(__file__).resolve().parent.parent


def bulksync_command() -> list[str]:
    """The bulksync CLI of this interpreter's environment (console script, else ``-m``)."""
    script = Path(sys.executable).parent / "bulksync"
    if script.exists():
        return [str(script)]
    found = shutil.which("bulksync")
    return [found] if found else [sys.executable, "-m", "bulksync"]


@dataclass
class Bench:
    """One harness run's settings, shared by every scenario."""

    rows: int
    source_db: Path
    pg: str
    out_dir: Path
    data: str = "generated"  # the data set (``--data``), or "source-db"
    mariadb: str = "mysql://root@127.0.0.1:3306/bench"  # the MariaDB source's database
    repeat: int = 1
    only: frozenset[str] = frozenset()
    big_rows: int | None = None
    quiet_wait_s: float = 60.0
    timeout_s: float | None = None  # per attempt; a tool still running then is killed, FAILED
    env: dict[str, str] = field(default_factory=lambda: child_env(REPO_ROOT))

    @property
    def data_dir(self) -> Path:
        return self.out_dir / "data"

    @property
    def work_dir(self) -> Path:
        return self.out_dir / "work"

    def wants(self, tool: str) -> bool:
        return not self.only or tool in self.only

    def peer(self, module: str, source: object, dest: object, table: str) -> list[str]:
        """Command line of a competitor script in ``bench/peers/``."""
        return [sys.executable, "-m", f"bench.peers.{module}", str(source), str(dest), table]

    def bulksync(self, *args: object) -> list[str]:
        return [*bulksync_command(), *map(str, args)]

    def psql(self, meta: str) -> list[str]:
        return psql_command(self.pg, meta)
