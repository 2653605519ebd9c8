"""Domain errors mapped to HTTP in one place, in the response shapes clients already parse."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm.exc import StaleDataError

from todostream.api.auth import NotAuthenticated
from todostream.domain.errors import (
    ConstitutionalViolation,
    InvalidField,
    InvalidTransition,
    TodoNotFound,
    VersionMismatch,
)
from todostream.service_layer.preconditions import etag_for


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
