"""Prometheus metrics of one ``bulksync serve`` or ``bulksync worker`` process (no web framework:
a worker serves them on ``--metrics-port`` without loading the API).

process.py    Metrics: rows, batches, jobs by status, memory; the registry a process exposes
stores.py     StoreMetrics: store syncs' requests by status code, retries, 429s, seconds per store
"""
