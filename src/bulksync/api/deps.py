"""Dependencies of the routes: the settings, the job store, and bearer-token auth with scopes.

Tokens come from the settings (``BULKSYNC_API_TOKENS__<NAME>__TOKEN`` and ``…__SCOPES``). A
request's token is compared in constant time with **every** configured token (no early exit that
would time which one matched). With no token configured, the job endpoints are closed: secure by
default, and the 401 says which variables open them.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bulksync.api.runtime import Runtime
from bulksync.jobs.store import JobStore
from bulksync.settings import BetSyncSettings, Settings

_bearer = HTTPBearer(auto_error=False, description="a token of BULKSYNC_API_TOKENS__<NAME>__TOKEN")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
NO_TOKENS = (
    "the API has no tokens configured, so every job endpoint is closed: set "
    "BULKSYNC_API_TOKENS__<NAME>__TOKEN=<16+ characters> and BULKSYNC_API_TOKENS__<NAME>__SCOPES="
    "jobs:read,jobs:write, then restart bulksync serve"
)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_bet_settings(request: Request) -> BetSyncSettings:
    bets: BetSyncSettings = request.app.state.bet_settings
    return bets


def get_store(request: Request) -> JobStore:
    """The job store; a 503 (``StoreUnavailable``) when it cannot be reached."""
    runtime: Runtime = request.app.state.runtime
    return runtime.store()


SettingsDep = Annotated[Settings, Depends(get_settings)]
BetSettingsDep = Annotated[BetSyncSettings, Depends(get_bet_settings)]
StoreDep = Annotated[JobStore, Depends(get_store)]


def token_name(settings: Settings, presented: str) -> str | None:
    """The name of the configured token equal to ``presented`` (constant time over all tokens)."""
    given = presented.encode()
    found = None
    for name, token in settings.api_tokens.items():
        if hmac.compare_digest(given, token.token.get_secret_value().encode()):
            found = name
    return found


def require(scope: str) -> Callable[..., str]:
    """A dependency that lets a request through only with a token holding ``scope``."""

    def check(
        settings: SettingsDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> str:
        if not settings.api_tokens:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, NO_TOKENS, headers=_CHALLENGE)
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing bearer token: send Authorization: Bearer <token>",
                headers=_CHALLENGE,
            )
        name = token_name(settings, credentials.credentials)
        if name is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown bearer token", headers=_CHALLENGE)
        if not settings.api_tokens[name].allows(scope):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"token {name!r} lacks the {scope} scope this endpoint needs"
            )
        return name

    return check


Reader = Annotated[str, Depends(require("jobs:read"))]
Writer = Annotated[str, Depends(require("jobs:write"))]
