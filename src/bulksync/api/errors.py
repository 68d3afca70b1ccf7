"""One place that turns every failure into a status code and a one-line JSON body.

    UnknownJobError                       404
    UsageError, unknown table/column,
    unsupported type, schema mismatch,
    request validation                    422  (the message names the field)
    ConnectError, TransientError,
    the job store unreachable             503  (a database the request needs is away)
    any other SyncError                   500  (its one redacted line)
    anything else                         500  "internal error" (the redacted line goes to the log)

Validation errors never echo the input (it may be a DSN with a password); every message passes
through ``redact``. Every 422 lists its errors (``field``, ``message``, ``type``) and names the
field in ``detail``. Messages speak the API's words (``"cursor"``, not ``--cursor``) and name
configured connections, never their addresses: a connection's address, a driver's reason for a
refused connection, the broker's or the job store's URL go to the server log only. The seed 000
endpoints also get the seed's ``success``/``message`` fields.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bulksync import errors as e
from bulksync.api.runtime import StoreUnavailable
from bulksync.jobs.addresses import AddressBook
from bulksync.jobs.preflight import SpecError
from bulksync.jobs.store import UnknownJobError

log = logging.getLogger("bulksync.api")


class FieldError(e.UsageError):
    """A request whose field ``field`` (``body.tables.0.name``) names something that is not there."""

    def __init__(self, field: str, message: str, *, kind: str = "value_error") -> None:
        super().__init__(message)
        self.field, self.kind = field, kind


_CLIENT_ERRORS = (
    e.UsageError,
    e.UnknownTableError,
    e.UnknownColumnError,
    e.UnsupportedTypeError,
    e.SchemaMismatchError,
)


def status_of(exc: e.SyncError) -> int:
    if isinstance(exc, UnknownJobError):
        return 404
    if isinstance(exc, (*_CLIENT_ERRORS, SpecError)):
        return 422
    if isinstance(exc, e.ConnectError | e.TransientError | StoreUnavailable):
        return 503
    return 500


def problem(request: Request, status: int, detail: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"detail": e.redact(detail)}
    if request.url.path.startswith("/api/sync-bets"):
        body = {"success": False, "message": body["detail"], **body}
    body.update(extra)
    return JSONResponse(body, status_code=status)


# the engine and the recipes speak the CLI's options; an API caller sends fields
_API_WORDS = (
    ("(e.g. --cursor updated_at)", '(e.g. "cursor": "updated_at")'),
    ("--cursor only applies to --mode incremental", '"cursor" only applies to "mode": "incremental"'),
    ("with --key", 'with "key"'),
    ("give --dest-table another name", 'give "dest_name" another name'),
    ("use --mode replace", 'use "mode": "replace"'),
    ("use --mode append/replace", 'use "mode": "append" or "replace"'),
)
_OPTION = re.compile(r"(?<![\w-])--([a-z][a-z-]*)")


def api_words(message: str) -> str:
    """``message`` with the CLI's options as the API's fields (``--dest-table`` → ``dest_name``)."""
    for cli, api in _API_WORDS:
        message = message.replace(cli, api)
    fields = {"dest-table": "dest_name", "max-memory-mb": "max_memory_mb", "workers": "partitions"}
    return _OPTION.sub(lambda m: fields.get(m.group(1), m.group(1).replace("-", "_")), message)


STORE_DOWN = "the job store (BULKSYNC_JOB_STORE) cannot be reached (the server log has the reason)"
BROKER_DOWN = "the job broker (BULKSYNC_BROKER_URL) cannot be reached (the server log has the reason)"


def public_message(request: Request, exc: e.SyncError) -> str:
    """What a caller is told: the API's words and connection names; addresses, hosts and the
    driver's reasons stay in the server log."""
    if isinstance(exc, e.BrokerUnavailable):
        return BROKER_DOWN
    if isinstance(exc, StoreUnavailable):
        return STORE_DOWN
    return api_words(AddressBook(request.app.state.settings).public(exc.message))


def sync_error_response(request: Request, exc: e.SyncError) -> JSONResponse:
    """The answer to a SyncError: its status, the public line; the full (redacted) one is logged."""
    status = status_of(exc)
    said = public_message(request, exc)
    if status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, exc.message)
    elif said != exc.message:
        log.info("%s %s: %s", request.method, request.url.path, exc.message)
    if status != 422:
        return problem(request, status, said)
    field = exc.field if isinstance(exc, FieldError) else ""
    kind = exc.kind if isinstance(exc, FieldError) else type(exc).__name__
    errors = [{"field": field, "message": said, "type": kind}]
    return problem(request, 422, f"{field}: {said}" if field else said, errors=errors)


_UNION_TAG = re.compile(r"^[a-z]+(?:-[a-z]+)+$|\[")  # pydantic's names of union branches
_WRONG_TYPE = frozenset({"string_type", "model_type", "model_attributes_type", "dict_type"})


def field_errors(errors: Any, *, prefix: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Pydantic errors without their ``input`` (never echo a value back), messages redacted.

    A value that matches no branch of a union (a table: a name or an object) gets one error, the
    first branch's, at the field itself rather than one per branch under pydantic's branch names.
    """
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    # the branch the value was meant for: not one refusing the value's very type (a string
    # given to the object branch), unless every branch did
    ordered = sorted(errors, key=lambda err: str(err.get("type", "")) in _WRONG_TYPE)
    for err in ordered:
        raw = [str(p) for p in (*prefix, *err.get("loc", ()))]
        loc = [p for p in raw if not _UNION_TAG.search(p)]
        if len(loc) != len(raw):
            if ".".join(loc) in seen:
                continue
            seen.add(".".join(loc))
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if err.get("type") == "json_invalid":  # its loc is ("body", position)
            reason = err.get("ctx", {}).get("error", "")
            loc, msg = loc[:1], f"malformed JSON at character {loc[-1]}: {reason}".rstrip(": ")
        message = api_words(e.redact(msg))
        found.append({"field": ".".join(loc), "message": message, "type": err.get("type", "")})
    return found


def one_line(found: list[dict[str, Any]]) -> str:
    first = found[0] if found else {"field": "", "message": "invalid request"}
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    where = f"{first['field']}: " if first["field"] else ""
    return f"{where}{first['message']}{more}"


def _not_json(request: Request, exc: RequestValidationError) -> str | None:
    """Why a body was not read at all: sent without ``Content-Type: application/json`` (curl's
    ``-d`` sends a form), FastAPI does not parse it as JSON (a cross-site request could not
    set that header without asking first), and the whole body failed as "not a dictionary"."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json"):
        return None
    if not any(tuple(err.get("loc", ())) == ("body",) for err in exc.errors()):
        return None
    said = f"it was sent as {kind}" if kind else "it was sent without a Content-Type"
    return (
        f"the body must be JSON with the header Content-Type: application/json ({said}; "
        "with curl: -H 'Content-Type: application/json')"
    )


_UNPARSED = "There was an error parsing the body"


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        unread = _not_json(request, exc)
        if unread is not None:
            return problem(request, 415, unread)
        found = field_errors(exc.errors())
        return problem(request, 422, one_line(found), errors=found)

    @app.exception_handler(ValidationError)
    async def _invalid_spec(request: Request, exc: ValidationError) -> JSONResponse:
        found = field_errors(exc.errors(), prefix=("body",))
        return problem(request, 422, one_line(found), errors=found)

    @app.exception_handler(e.SyncError)
    async def _sync_error(request: Request, exc: e.SyncError) -> JSONResponse:
        return sync_error_response(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == _UNPARSED:  # FastAPI's, for a body json.loads
            # could not take at all (nested past Python's recursion limit, not UTF-8): malformed
            # JSON like any other, 422 as the API promises
            said = "body: malformed JSON (not UTF-8 text, or nested too deeply)"
            found = [{"field": "body", "message": said.removeprefix("body: "), "type": "json_invalid"}]
            return problem(request, 422, said, errors=found)
        response = problem(request, exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    app.add_middleware(CatchAll)


class CatchAll:
    """ASGI middleware: an unexpected exception becomes a generic 500 and one redacted log line.

    Starlette's own last-resort handler re-raises after answering, and uvicorn then logs the whole
    traceback (whose messages may hold a DSN); this one stops the exception here.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except StarletteHTTPException:
            raise  # an answer, not a bug (the body cap's 413 while a route reads the body)
        except Exception as exc:
            line = e.redact(" ".join(f"{type(exc).__name__}: {exc}".split()))[:500]
            log.error("%s %s: internal error: %s", scope.get("method"), scope.get("path"), line)
            if not started:
                body = {"detail": "internal error: the server log has the details"}
                await JSONResponse(body, status_code=500)(scope, receive, send)
