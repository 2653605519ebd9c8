"""Four versions of one small endpoint, for measuring what request metrics cost.

`bare` has no metrics; `pure_asgi` has todostream's middleware; `library` has
prometheus-fastapi-instrumentator set up to record the same names and labels; `base_http`
records them in Starlette's BaseHTTPMiddleware (the pattern STYLE.md warns against).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry
from starlette.middleware.base import BaseHTTPMiddleware

from todostream.observability.metrics import Metrics
from todostream.observability.middleware import ObservabilityMiddleware, route_template


def bare() -> FastAPI:
    app = FastAPI()

    @app.get("/api/todos/{id}")
    async def one(id: str) -> dict[str, Any]:
        return {"id": id, "title": "benchmark", "status": "pending", "tags": ["a", "b"]}

    return app


def pure_asgi() -> FastAPI:
    app = bare()
    app.add_middleware(ObservabilityMiddleware, metrics=Metrics(CollectorRegistry()))
    return app


def library() -> FastAPI:
    from prometheus_fastapi_instrumentator import Instrumentator

    app = bare()
    metrics = Metrics(CollectorRegistry())

    def record(info: Any) -> None:
        endpoint = info.modified_handler
        metrics.http_requests.labels(info.method, endpoint, str(info.response.status_code)).inc()
        metrics.http_duration.labels(info.method, endpoint).observe(info.modified_duration)

    instrumentator = Instrumentator(
        should_group_status_codes=False,
        excluded_handlers=["/metrics"],
        registry=metrics.registry,
    )
    instrumentator.add(record).instrument(app)
    return app


def base_http() -> FastAPI:
    app = bare()
    metrics = Metrics(CollectorRegistry())

    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        endpoint = route_template(request.scope)
        metrics.http_requests.labels(request.method, endpoint, str(response.status_code)).inc()
        metrics.http_duration.labels(request.method, endpoint).observe(
            time.perf_counter() - started
        )
        return response

    app.add_middleware(BaseHTTPMiddleware, dispatch=measure)
    return app
