"""The HTTP client every HTTP source shares: one aiohttp session, its connection pool and TLS.

aiohttp rather than httpx (the first choice): its HTTP parser is C (llhttp), httpx's is pure
Python (h11) behind a connection pool scanned on every request. Against the fake store API, the
client's CPU per page measured 1.3 ms with httpx and 0.26 ms with aiohttp (README, "Sync
hundreds of store APIs"); the store syncs are bound by that CPU on a small machine.

The session sends no cookies back (one store's cookie must not reach another), follows no
redirects (``connectors/http.py`` asks per request), verifies TLS against certifi's roots, and
takes proxies from ``HTTP(S)_PROXY`` / ``NO_PROXY`` as httpx did — looked up once per host
(``proxy_for``): aiohttp's own ``trust_env`` looks them and ``~/.netrc`` up on a worker thread for
every request (two thread hand-offs a page, ~0.3 ms of CPU measured) and would send netrc
passwords to APIs we give no token.
"""

from __future__ import annotations

import ssl
import urllib.request
from functools import lru_cache

import aiohttp
import certifi

_HEADER_BYTES = 64 * 1024


def tls_context() -> ssl.SSLContext:
    """Certifi's roots; one context for every connection (building one costs ~40 ms)."""
    return ssl.create_default_context(cafile=certifi.where())


def open_session(*, connections: int = 100, tls: ssl.SSLContext | None = None) -> aiohttp.ClientSession:
    """A session holding at most ``connections`` connections; use it as ``async with``.

    Call it inside the event loop that will use it."""
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=0, ssl=tls or tls_context())
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,  # proxies: ``proxy_for``
        timeout=aiohttp.ClientTimeout(total=None),  # each request gives its own (``request_timeout``)
        # next links carry cursors: aiohttp refuses a header line above 8 KB, httpx (h11) took 16 KB
        max_line_size=_HEADER_BYTES,
        max_field_size=_HEADER_BYTES,
    )


@lru_cache(maxsize=16)
def request_timeout(seconds: float) -> aiohttp.ClientTimeout:
    """The whole request, body included, within ``seconds``: one object per value, not per request."""
    return aiohttp.ClientTimeout(total=seconds)


@lru_cache(maxsize=4096)
def proxy_for(scheme: str, host: str) -> str | None:
    """The proxy ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` names for ``host``, unless
    ``NO_PROXY`` exempts it; read once per host (a process lives for one job)."""
    if not host or urllib.request.proxy_bypass(host):
        return None
    found = urllib.request.getproxies()
    return found.get(scheme) or found.get("all")
