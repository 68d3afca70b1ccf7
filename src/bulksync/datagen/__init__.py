"""Realistic, deterministic betting datasets (seed 001): players, matches, bets, odds, statcast.

``generate(url, scale="small", seed=42)`` writes one into any destination; ``make_plan`` and
``iter_batches`` yield the same rows as Arrow batches without a database.
"""

from bulksync.datagen.plan import BATCH_ROWS, SCALES, Plan, iter_batches, make_plan
from bulksync.datagen.tables import TABLES
from bulksync.datagen.write import generate

__all__ = ["BATCH_ROWS", "SCALES", "TABLES", "Plan", "generate", "iter_batches", "make_plan"]
