"""Internal addresses → configured connection names, for what API callers and job records see.

Connectors name where they failed by the (redacted) address: ``table 'nope' does not exist in
postgresql://loader:***@10.0.0.5/dw (tables: …)``, ``cannot connect to postgresql://…/dw: FATAL:
database "dw" does not exist``. That is right for the CLI user who typed the URL and for the
server log, but users, hosts and database names are not an API caller's business. An
``AddressBook`` rewrites such a message for the faces that face callers (API answers, job
records): a configured connection's address becomes ``connection 'wh'``, the driver's reason
for a failed connection becomes a short phrase (the full text stays in the server or job log),
and any other address becomes ``an internal address`` — except the URLs a job's own spec holds
(a CLI user's ``--background`` job keeps the URL that user gave).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from bulksync.errors import redact
from bulksync.settings import Settings

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s,;)'\"]*[^\s,;)'\".:]", re.I)  # not its trailing ':' or '.'
_CONNECTING = r"(?P<verb>cannot (?:connect to|read the catalog of|set up a session on)) "
# the driver's reason for a failed connection, as a phrase that names no host, user or database
_REASONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (('role "',), "the server refused its user or password"),  # PostgreSQL: 'role "x" does not exist'
    (("does not exist", "unknown database"), "its database does not exist"),
    (
        ("password authentication failed", "access denied", "authentication failed", "no pg_hba.conf"),
        "the server refused its user or password",
    ),
    (
        (
            "connection refused", "could not connect", "can't connect", "timeout", "timed out",
            "name or service not known", "could not translate host name", "unknown mysql server host",
            "no route to host", "network is unreachable",
        ),
        "its server cannot be reached",
    ),
)  # fmt: skip


def reason_phrase(reason: str) -> str:
    """A driver's reason for a failed connection as a phrase without names or addresses."""
    lowered = reason.lower()
    for words, phrase in _REASONS:
        if any(w in lowered for w in words):
            return phrase
    return "the server refused the connection (the log has its reason)"


class AddressBook:
    """The addresses of the configured connections, to name a connection instead of its address."""

    def __init__(self, settings: Settings, *, keep: Iterable[str] = ()) -> None:
        forms: dict[str, str] = {}
        for name, url in sorted(settings.connections.items()):
            for spelling in _spellings(url.get_secret_value()):
                # two connections that differ only in their password share their redacted
                # spelling: both are named, not the first one alone
                forms[spelling] = f"{forms[spelling]} or {name!r}" if spelling in forms else repr(name)
        # the longest spelling first: a path inside a longer path must not be replaced first
        self._forms = sorted(forms.items(), key=lambda item: -len(item[0]))
        self._keep = {s for url in keep for s in _spellings(url)}

    @classmethod
    def for_job(cls, settings: Settings, record: dict[str, Any]) -> AddressBook:
        """The book for a job's record: its spec's own URLs (a CLI user's) stay as given."""
        sides = (record.get("source") or {}, record.get("destination") or {})
        return cls(settings, keep=[side["url"] for side in sides if "url" in side])

    def public(self, message: str) -> str:
        """``message`` with configured connections named and no other internal address."""
        text = redact(message)
        for address, name in self._forms:
            if address in text:
                text = _named(text, address, name)
        return _URL.sub(lambda m: m.group(0) if m.group(0) in self._keep else "an internal address", text)


def _named(text: str, address: str, name: str) -> str:
    label = f"connection {name}"  # ``name`` quoted already: 'wh', or 'wh' or 'wh2'

    failed = re.compile(_CONNECTING + re.escape(address) + r"(?::\s*(?P<reason>.*))?$")
    match = failed.search(text)
    if match is not None:
        why = f": {reason_phrase(match.group('reason'))}" if match.group("reason") else ""
        text = text[: match.start()] + f"{match.group('verb')} {label}{why}"
    if address.startswith("'"):  # a quoted SQLite path: "SQLite file '/x.db' does not exist"
        return text.replace(address, f"of {label}")
    return text.replace(address, label)


def _spellings(url: str) -> set[str]:
    """Every way a message may write the address of ``url`` (quoted paths for SQLite files)."""
    from bulksync.connectors.registry import safe_url, scheme_of

    try:
        scheme = scheme_of(url)
    except Exception:  # a malformed setting: it fails where it is used, with its own message
        return {url, redact(url)}
    found = {url, redact(url), safe_url(url)}
    if scheme == "sqlite":
        from bulksync.connectors.sqlite import sqlite_path

        path = sqlite_path(url)
        for p in {path, path.expanduser().resolve()}:
            found |= {str(p), repr(str(p)), repr(str(p.parent))}
    return {s for s in found if len(s) > 2}
