"""The ASGI application of one process: the routes its roles need, behind the middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from todostream import __version__
from todostream.api.body_limit import JsonTooLarge
from todostream.api.errors import install_error_handlers
from todostream.api.etag import ETagMiddleware
from todostream.api.routes import dapr, health, notifications, profile, todos, transfer
from todostream.bootstrap import Role, Runtime
from todostream.config import PubSubMode
from todostream.observability.middleware import ObservabilityMiddleware

MAX_JSON_BODY_BYTES = 1024 * 1024  # a todo is at most ~30 kB; the import route allows more
TOO_LARGE = (
    f"the request body is too large: JSON bodies are limited to {MAX_JSON_BODY_BYTES} bytes,"
    f" todo.txt imports to {transfer.MAX_IMPORT_BYTES} bytes"
)

DESCRIPTION = """A todo service in which every change is an event.

Send `Authorization: Bearer <token>`; in the embedded default, requests without a token act as
the local user. Writes accept `If-Match` with the ETag of the version they expect.
"""


class TodoApp(FastAPI):
    """FastAPI whose answer to an oversized body is JSON like every other error's."""

    def build_middleware_stack(self) -> ASGIApp:
        return JsonTooLarge(super().build_middleware_stack(), TOO_LARGE)


def create_app(runtime: Runtime, *, manage_runtime: bool = True) -> FastAPI:
    """Build the app; with `manage_runtime` its lifespan starts and stops the runtime."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_runtime:
            async with runtime:
                yield
        else:
            yield

    app = TodoApp(
        title="todostream",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        max_body_size=MAX_JSON_BODY_BYTES,
    )
    app.state.runtime = runtime
    app.include_router(health.router)
    if Role.API in runtime.roles:
        app.include_router(todos.router)
        app.include_router(transfer.router)
        app.include_router(notifications.router)
        app.include_router(profile.router)
    if runtime.consumers and runtime.settings.pubsub_mode is PubSubMode.DAPR:
        app.include_router(dapr.router)
    install_error_handlers(app)
    app.add_middleware(ETagMiddleware)
    origins = [o.strip() for o in runtime.settings.cors_allow_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "If-None-Match"],
            expose_headers=["ETag", "Link", "Location", "X-Request-ID", "traceparent"],
        )
    app.add_middleware(ObservabilityMiddleware, metrics=runtime.metrics)
    return app
