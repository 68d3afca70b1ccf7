"""Store-sync test kit: jobs against a running fake store API, and what PostgreSQL then holds.

The checks read PostgreSQL with psycopg directly (not through bulksync) and compare it with the
fake API's own records.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import psycopg
from pydantic import SecretStr

from bulksync.connectors.http import Pagination, RetryPolicy
from bulksync.fakestores import FakeStores, FakeStoreServer
from bulksync.recipes.store_list import Store
from bulksync.recipes.stores import StoreJob

BAD_TOKEN = "not-the-token-s3cr3t"
FAST = RetryPolicy(attempts=4, backoff_s=0.01, max_backoff_s=0.05)


def job_for(
    server: FakeStoreServer,
    url: str,
    *,
    kind: str = "users",
    style: str = "cursor",
    bad_token_for: tuple[str, ...] = (),
    **kw: Any,
) -> StoreJob:
    """A job over every store of the server; ``bad_token_for`` stores use a wrong credential."""
    codes = server.catalog.codes()
    stores = [Store(c, server.base_url(c, style), "bad" if c in bad_token_for else "main") for c in codes]
    creds = {"main": SecretStr(server.catalog.token), "bad": SecretStr(BAD_TOKEN)}
    kw.setdefault("policy", FAST)
    kw.setdefault("page_size", 10)
    kw.setdefault("concurrency", 4)
    return StoreJob(kind, stores, url, creds, pagination=Pagination(style), **kw)


def expected_keys(catalog: FakeStores, kind: str, codes: list[str] | None = None) -> set[tuple[str, int]]:
    return {(c, r["id"]) for c in codes or catalog.codes() for r in catalog.records(c, kind)}


def key_counts(url: str, table: str) -> Counter[tuple[str, int]]:
    with psycopg.connect(url) as conn:
        return Counter(conn.execute(f"SELECT store_code, id FROM {table}").fetchall())


def rows(url: str, sql: str) -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(sql).fetchall()


def assert_exactly_once(url: str, table: str, want: set[tuple[str, int]]) -> None:
    got = key_counts(url, table)
    doubled = [k for k, n in got.items() if n > 1]
    assert not doubled, f"records doubled: {doubled[:5]}"
    assert set(got) == want, f"lost {len(want - set(got))}, unexpected {len(set(got) - want)}"


def assert_once_and_complete(
    url: str, table: str, complete: set[tuple[str, int]], known: set[tuple[str, int]]
) -> None:
    """Nothing doubled, every key of ``complete`` there, nothing outside ``known`` (failed stores
    keep the pages they committed before failing)."""
    got = key_counts(url, table)
    doubled = [k for k, n in got.items() if n > 1]
    assert not doubled, f"records doubled: {doubled[:5]}"
    assert complete <= set(got) <= known, (
        f"lost {len(complete - set(got))}, unexpected {len(set(got) - known)}"
    )
