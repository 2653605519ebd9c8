"""Pure ASGI middleware: request metrics, access log, request id and trace context.

Pure ASGI (not BaseHTTPMiddleware) so streaming responses pass through untouched, context
variables set here reach the endpoint, and the cost per request stays small.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from typing import Any

from starlette.responses import JSONResponse
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from todostream.observability.metrics import Metrics
from todostream.observability.tracing import (
    child_of,
    request_id_from,
    request_id_var,
    traceparent_var,
)

log = logging.getLogger("todostream.access")

UNMATCHED = "<unmatched>"
EXCLUDED_PATHS = frozenset({"/metrics"})
PROBES = frozenset({"/healthz", "/readyz"})  # polled every few seconds; logged at debug only
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def route_template(scope: Scope) -> str:
    """The matched route's path template; every unmatched request shares one value.

    Some requests are answered before routing leaves a route in the scope: the framework's
    own pages (OpenAPI, docs) and CORS preflights. Their path is matched against the app's
    routes here, so they are labelled by the route they were for.
    """
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str) and path:
        return path
    for pattern, template in _templates(scope.get("app")):
        if pattern.match(scope["path"]):
            return template
    return UNMATCHED


@functools.cache
def _templates(app: Any) -> tuple[tuple[re.Pattern[str], str], ...]:
    """Every path template the app serves: its own top-level routes and its API's paths."""
    paths = [getattr(route, "path", "") for route in getattr(app, "routes", ())]
    openapi = getattr(app, "openapi", None)
    if callable(openapi):
        paths.extend(openapi().get("paths", {}))
    return tuple((compile_path(path)[0], path) for path in dict.fromkeys(paths) if path)


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # Label children cached: labels() locks and builds tuples on every call. The key space
        # is bounded by route templates, known methods and status codes.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    def _count(self, method: str, endpoint: str, status: int) -> Any:
        key = (method, endpoint, status)
        if key not in self._counters:
            self._counters[key] = self.metrics.http_requests.labels(method, endpoint, str(status))
        return self._counters[key]

    def _timer(self, method: str, endpoint: str) -> Any:
        key = (method, endpoint)
        if key not in self._timers:
            self._timers[key] = self.metrics.http_duration.labels(method, endpoint)
        return self._timers[key]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace = child_of(_header(scope, b"traceparent"))
        request_id = request_id_from(_header(scope, b"x-request-id"), trace.trace_id)
        tokens = (request_id_var.set(request_id), traceparent_var.set(trace.traceparent))
        status = [0]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.append((b"traceparent", trace.traceparent.encode()))
                message["headers"] = headers
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if not status[0]:
                # Answered here, while the request id is known; the error goes on to be logged.
                await JSONResponse(
                    {"detail": "internal error", "request_id": request_id}, status_code=500
                )(scope, receive, send_with_headers)
            raise
        finally:
            self._observe(scope, status[0] or 500, time.perf_counter() - started, request_id)
            request_id_var.reset(tokens[0])
            traceparent_var.reset(tokens[1])

    def _observe(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        if scope["path"] in EXCLUDED_PATHS:
            return
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
        endpoint = route_template(scope)
        self._count(method, endpoint, status).inc()
        self._timer(method, endpoint).observe(seconds)
        level = logging.DEBUG if endpoint in PROBES else logging.INFO
        if not log.isEnabledFor(level):
            return
        log.log(
            level,
            "request",
            extra={
                "method": method,
                "route": endpoint,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "request_id": request_id,
            },
        )
