"""A fake store API: a real HTTP server on localhost for tests, demos and the bench (seed 004)."""

from bulksync.fakestores.data import FakeStores, Fault
from bulksync.fakestores.server import FakeStoreServer

__all__ = ["FakeStoreServer", "FakeStores", "Fault"]
