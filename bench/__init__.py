"""Benchmark harness: bulksync against the tools people would otherwise use (see README.md)."""
