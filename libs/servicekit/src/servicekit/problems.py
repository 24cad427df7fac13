"""RFC 9457 problem+json errors for every service."""

from __future__ import annotations

import logging
from typing import Any, ClassVar
from urllib.parse import quote

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://billstream.dev/problems/"

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """Base of every domain error; subclasses know their HTTP status and problem type."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self, detail: str, *, headers: dict[str, str] | None = None, **extensions: Any
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions


class NotFoundError(ServiceError):
    status = 404
    slug = "not-found"
    title = "Not found"


class ConflictError(ServiceError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class FieldInvalid(ServiceError):
    """A request field breaks a rule; the pointer names the field."""

    status = 422
    slug = "invalid-field"
    title = "Invalid field"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail, errors=[{"pointer": f"#/{field}", "detail": detail}])
        self.field = field


class ParameterInvalid(ServiceError):
    """A query (or path, or header) parameter breaks a rule that spans parameters or needs
    the database; the error names the parameter and where it was, as FastAPI's own do."""

    status = 422
    slug = "invalid-parameter"
    title = "Invalid parameter"

    def __init__(self, parameter: str, detail: str, *, where: str = "query") -> None:
        super().__init__(
            f"{where} parameter {parameter}: {detail}",
            errors=[{"parameter": parameter, "in": where, "detail": detail}],
        )
        self.parameter = parameter


class UnauthorizedError(ServiceError):
    status = 401
    slug = "unauthorized"
    title = "Unauthorized"


class ForbiddenError(ServiceError):
    status = 403
    slug = "forbidden"
    title = "Forbidden"


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + slug if slug else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _pointer(loc: tuple[Any, ...]) -> str:
    """JSON Pointer (RFC 6901, URI fragment form) to the offending field; 'body' is the root."""
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    # Keys come from the client (extra fields): escape them so each stays one reference token.
    tokens = [quote(p.replace("~", "~0").replace("/", "~1"), safe="!$&'()*+,;=:@") for p in parts]
    return "#" + "".join("/" + t for t in tokens)


_PARAMETER_SOURCES = ("path", "query", "header", "cookie")


def _error_item(error: dict[str, Any]) -> dict[str, str]:
    """RFC 9457 style: `pointer` into the JSON body, or `parameter` for path/query/headers."""
    loc = tuple(error.get("loc", ()))
    detail = str(error.get("msg", "invalid"))
    if error.get("type") == "json_invalid":
        # The body is not JSON at all; pydantic's loc holds a character position, not a field.
        return {"pointer": "#", "detail": detail}
    if loc and loc[0] in _PARAMETER_SOURCES:
        return {"parameter": ".".join(str(p) for p in loc[1:]), "in": str(loc[0]), "detail": detail}
    return {"pointer": _pointer(loc), "detail": detail}


def validation_problem(errors: list[dict[str, Any]], instance: str | None = None) -> JSONResponse:
    items = [_error_item(e) for e in errors]
    first = items[0] if items else {"pointer": "#", "detail": "invalid request"}
    where = first.get("pointer") or f"{first['in']} parameter {first['parameter']}"
    return problem_response(
        422,
        "Invalid request",
        f"{where}: {first['detail']}",
        slug="validation",
        instance=instance,
        errors=items,
    )


async def _on_service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return problem_response(
        exc.status,
        exc.title,
        exc.detail,
        slug=exc.slug,
        instance=request.url.path,
        headers=exc.headers,
        **exc.extensions,
    )


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_problem(list(exc.errors()), instance=request.url.path)


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem_response(
        exc.status_code,
        _reason(exc.status_code),
        str(exc.detail),
        instance=request.url.path,
        headers=dict(exc.headers or {}),
    )


async def _on_unstorable(request: Request, exc: Exception) -> JSONResponse:
    # Input that passed validation but Postgres cannot store (a NUL character, a number or
    # date beyond its range): the client's fault, and nothing was written.
    log.info("unstorable input on %s %s: %r", request.method, request.url.path, exc)
    return problem_response(
        422,
        "Unstorable value",
        f"a value cannot be stored: {getattr(exc, 'message', None) or exc}",
        slug="unstorable-value",
        instance=request.url.path,
    )


# The database (or a peer) cannot be reached now: the request was fine and may be sent again.
# OSError covers refused connections and TimeoutError (a pool with no free connection).
UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
)


async def _on_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("unavailable on %s %s: %r", request.method, request.url.path, exc)
    return problem_response(
        503,
        "Service unavailable",
        "A service this request needs cannot be reached now; try again shortly.",
        slug="unavailable",
        instance=request.url.path,
        headers={"Retry-After": "1"},
    )


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        500, "Internal error", "The request could not be completed.", instance=request.url.path
    )


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _on_service_error)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(asyncpg.exceptions.DataError, _on_unstorable)
    for unavailable in UNAVAILABLE:
        app.add_exception_handler(unavailable, _on_unavailable)
    app.add_exception_handler(Exception, _on_unexpected)
