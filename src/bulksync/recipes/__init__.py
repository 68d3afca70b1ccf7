"""Recipes: ready-made syncs for the seeds' jobs (seed 000's bet sync)."""
