"""Domain errors mapped to HTTP in one place, in the response shapes clients already parse."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError

from todostream.api.auth import NotAuthenticated
from todostream.domain.errors import (
    ConstitutionalViolation,
    InvalidField,
    InvalidTransition,
    TodoNotFound,
    VersionMismatch,
)
from todostream.observability.logging import describe_error
from todostream.observability.tracing import request_id_var
from todostream.service_layer.preconditions import etag_for

log = logging.getLogger(__name__)


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "Todo not found"}, status_code=404)


async def _version_mismatch(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VersionMismatch)
    return JSONResponse(
        {"detail": str(exc)}, status_code=412, headers={"ETag": etag_for(exc.current)}
    )


async def _violation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConstitutionalViolation)
    check = exc.verdict.as_dict()
    detail = {
        "error": "constitutional_violation",
        "message": exc.verdict.reason,
        "decision": check["decision"],
        "rules": check["rules"],
    }
    return JSONResponse({"detail": detail}, status_code=403)


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    message = str(exc)
    if isinstance(exc, StaleDataError):
        message = "the todo changed while this request ran; read it again and retry"
    return JSONResponse({"detail": message}, status_code=409)


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidField)
    detail = [{"type": "value_error", "loc": exc.loc, "msg": exc.message}]
    return JSONResponse({"detail": detail}, status_code=422)


INPUT_ECHO_MAX = 200


def _echo(value: Any) -> Any:
    """The part of a bad input worth echoing: short, and always encodable as JSON."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")
    except (TypeError, ValueError):
        return repr(value)[:INPUT_ECHO_MAX]
    if isinstance(value, str):
        return value if len(value) <= INPUT_ECHO_MAX else value[:INPUT_ECHO_MAX] + "…"
    return value if len(text) <= INPUT_ECHO_MAX else text[:INPUT_ECHO_MAX] + "…"


async def _validation_failed(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 shape, with echoed input trimmed: some inputs (lone surrogates, NaN)
    cannot be written as JSON at all, and others are megabytes long."""
    assert isinstance(exc, RequestValidationError)
    detail = []
    for error in exc.errors():
        entry = {key: error[key] for key in ("type", "loc", "msg") if key in error}
        if "input" in error:
            entry["input"] = _echo(error["input"])
        detail.append(entry)
    return JSONResponse({"detail": detail}, status_code=422)


RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """503 when the database cannot be reached, is overloaded or chose this transaction as a
    deadlock victim (retrying helps; nothing was stored), else a logged 500."""
    if _sqlstate(exc) in RETRYABLE_SQLSTATES:
        log.warning("transaction lost to a concurrent one", extra={"error": describe_error(exc)})
        return _retry_later("a concurrent change got in the way; nothing was stored, retry")
    unavailable = isinstance(exc, OperationalError | InterfaceError | PoolTimeout) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )
    if not unavailable:
        log.error("database error", exc_info=exc)
        return await _unexpected(request, exc)
    log.error("database unavailable", extra={"error": describe_error(exc)})
    return _retry_later("the database is unavailable; retry shortly")


def _sqlstate(exc: Exception) -> str | None:
    original = getattr(exc, "orig", None)
    code = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    return code if isinstance(code, str) else None


def _retry_later(detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "5"})


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """Last resort: a JSON body naming the request; the server logs the traceback."""
    return JSONResponse(
        {"detail": "internal error", "request_id": request_id_var.get()}, status_code=500
    )


async def _unauthenticated(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TodoNotFound, _not_found)
    app.add_exception_handler(VersionMismatch, _version_mismatch)
    app.add_exception_handler(ConstitutionalViolation, _violation)
    app.add_exception_handler(InvalidTransition, _conflict)
    app.add_exception_handler(StaleDataError, _conflict)
    app.add_exception_handler(InvalidField, _invalid)
    app.add_exception_handler(NotAuthenticated, _unauthenticated)
    app.add_exception_handler(RequestValidationError, _validation_failed)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PoolTimeout, _database_error)
    app.add_exception_handler(Exception, _unexpected)


class ErrorBody(BaseModel):
    detail: str


class ViolationDetail(BaseModel):
    error: str
    message: str
    decision: str
    rules: list[dict[str, str]]


class ViolationBody(BaseModel):
    detail: ViolationDetail


def documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error codes a route can answer, with their bodies."""
    descriptions = {
        400: "The body is not valid JSON.",
        401: "The bearer token is missing (when anonymous access is off) or invalid.",
        403: "The content policy blocks this todo; only its event is stored.",
        404: "No such todo for this user (unknown ids and other users' todos alike).",
        409: "The todo is not in a state that allows this (e.g. flagged, awaiting review).",
        412: "If-Match names a version that is no longer current.",
        413: "The request body is too large.",
        415: "The body must be text/plain.",
        503: "The database is unavailable; retry shortly.",
    }
    return {
        code: {
            "description": descriptions[code],
            "model": ViolationBody if code == 403 else ErrorBody,
        }
        for code in codes
    }
