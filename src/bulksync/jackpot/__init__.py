"""The jackpot: contributions and wins streaming in, pools kept exactly, each applied once.

Independent of the bulk engine (no import of ``engine/`` or ``connectors/``):

    config.py   BULKSYNC_JACKPOT_* settings and the pool levels
    money.py    integer minor units; a pool's share of a wager
    model.py    contributions, wins, outcomes, a pool's state
    ledger.py   the tables (schema ``jackpot``) and ``init``
    writer.py   the group-commit writer: one transaction for many requests, wins first
    musthit.py  a pool won by the contribution that takes it to its must-hit-by amount
    service.py  one server's jackpot: writer, pool cache, token buckets, figures (the Python API)
    stats.py    Prometheus metrics and the rolling window of /api/jackpot/stats
    audit.py    every pool and win recomputed from the ledger
"""

from bulksync.jackpot.audit import Audit, audit
from bulksync.jackpot.config import JackpotSettings, PoolLevel
from bulksync.jackpot.model import Contribution, PoolState, Win, WinResult
from bulksync.jackpot.service import JackpotService
from bulksync.jackpot.writer import JackpotNotReady, JackpotUnavailable

__all__ = [
    "Audit",
    "Contribution",
    "JackpotNotReady",
    "JackpotService",
    "JackpotSettings",
    "JackpotUnavailable",
    "PoolLevel",
    "PoolState",
    "Win",
    "WinResult",
    "audit",
]
