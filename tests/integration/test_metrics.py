"""The exact metrics DESIGN.md names, recorded by the pure ASGI middleware."""

from __future__ import annotations

import asyncio
import time
import uuid
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from tests.brokers import free_port
from tests.helpers import make_settings
from tests.servers import serving
from todostream.api.app import create_app
from todostream.bootstrap import Runtime
from todostream.config import Settings
from todostream.observability.metrics import HTTP_BUCKETS, Metrics
from todostream.observability.middleware import ObservabilityMiddleware
from todostream.service_layer.profiles import ProfileService


def sample(runtime: Runtime, name: str, **labels: str) -> float:
    return runtime.metrics.registry.get_sample_value(name, labels) or 0.0


def series(runtime: Runtime, name: str) -> list[dict[str, str]]:
    return [
        dict(s.labels)
        for family in runtime.metrics.registry.collect()
        for s in family.samples
        if s.name == name
    ]


async def test_requests_are_counted_by_method_route_template_and_status(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    for _ in range(3):
        await client.post("/api/todos", json={"title": "count me"})
    todo = (await client.post("/api/todos", json={"title": "read me"})).json()
    await client.get(f"/api/todos/{todo['id']}")
    await client.get(f"/api/todos/{uuid.uuid4()}")
    await client.get("/metrics")

    assert (
        sample(
            runtime, "http_requests_total", method="POST", endpoint="/api/todos", status_code="201"
        )
        == 4
    )
    assert (
        sample(
            runtime,
            "http_requests_total",
            method="GET",
            endpoint="/api/todos/{id}",
            status_code="200",
        )
        == 1
    )
    assert (
        sample(
            runtime,
            "http_requests_total",
            method="GET",
            endpoint="/api/todos/{id}",
            status_code="404",
        )
        == 1
    )
    assert not any(s["endpoint"] == "/metrics" for s in series(runtime, "http_requests_total"))
    assert not any(todo["id"] in s["endpoint"] for s in series(runtime, "http_requests_total"))


async def test_request_durations_use_the_agreed_buckets(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await client.get("/api/todos")

    buckets = {
        float(labels["le"])
        for labels in series(runtime, "http_request_duration_seconds_bucket")
        if labels["endpoint"] == "/api/todos"
    }
    assert buckets == {*HTTP_BUCKETS, float("inf")}
    assert (
        sample(runtime, "http_request_duration_seconds_count", method="GET", endpoint="/api/todos")
        == 1
    )


async def test_crud_operations_and_published_events_are_counted(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    todo = (await client.post("/api/todos", json={"title": "crud"})).json()
    await client.get(f"/api/todos/{todo['id']}")
    await client.get("/api/todos")
    await client.patch(f"/api/todos/{todo['id']}", json={"title": "crud 2"})
    await client.delete(f"/api/todos/{todo['id']}")

    for operation in ("create", "read", "list", "update", "delete"):
        assert sample(runtime, "todo_crud_operations_total", operation=operation) == 1, operation

    async def published() -> bool:
        return sample(runtime, "todo_events_published_total", event_type="todo_deleted") == 1

    for _ in range(200):
        if await published():
            break
        await asyncio.sleep(0.02)
    assert sample(runtime, "todo_events_published_total", event_type="todo_created") == 1
    assert sample(runtime, "todo_events_published_total", event_type="todo_updated") == 1


async def test_a_scan_of_unknown_paths_adds_one_label_value_not_one_per_path(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await client.get("/api/todos")
    before = series(runtime, "http_requests_total")

    for _ in range(1000):
        await client.get(f"/{uuid.uuid4().hex}/{uuid.uuid4().hex[:6]}.php")

    after = series(runtime, "http_requests_total")
    added = [labels for labels in after if labels not in before]
    assert added == [{"method": "GET", "endpoint": "<unmatched>", "status_code": "404"}]
    assert (
        sample(
            runtime, "http_requests_total", method="GET", endpoint="<unmatched>", status_code="404"
        )
        == 1000
    )


class TestCorsPreflights:
    @pytest.fixture
    def settings(self, database_url: str) -> Settings:
        return make_settings(database_url, cors_allow_origins="http://app.test")

    async def test_a_preflight_is_answered_and_labelled_by_the_route_it_asks_about(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        response = await client.options(
            f"/api/todos/{uuid.uuid4()}",
            headers={"Origin": "http://app.test", "Access-Control-Request-Method": "PATCH"},
        )

        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "http://app.test"
        assert "PATCH" in response.headers["access-control-allow-methods"]
        assert series(runtime, "http_requests_total") == [
            {"method": "OPTIONS", "endpoint": "/api/todos/{id}", "status_code": "200"}
        ]

    async def test_an_origin_not_allowed_gets_no_cors_headers(
        self, client: httpx.AsyncClient
    ) -> None:
        preflight = await client.options(
            "/api/todos",
            headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"},
        )
        simple = await client.get("/api/todos", headers={"Origin": "http://evil.test"})

        assert preflight.status_code == 400
        assert "access-control-allow-origin" not in preflight.headers
        assert simple.status_code == 200
        assert "access-control-allow-origin" not in simple.headers


async def test_odd_methods_share_one_label_value(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    for method in ("FOO", "BAR", "PROPFIND"):
        await client.request(method, "/api/todos")

    methods = {labels["method"] for labels in series(runtime, "http_requests_total")}
    assert methods == {"OTHER"}


async def test_metrics_output_passes_promtool(client: httpx.AsyncClient) -> None:
    await client.post("/api/todos", json={"title": "for promtool"})
    await client.get("/no/such/path")

    exposition = (await client.get("/metrics")).content
    promtool = await asyncio.create_subprocess_exec(
        "promtool", "check", "metrics", stdin=PIPE, stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(promtool.communicate(exposition), timeout=30)

    assert promtool.returncode == 0, err.decode() + out.decode()


@pytest.fixture
def streaming_app() -> tuple[ObservabilityMiddleware, Metrics]:
    async def slow_events(request: Request) -> StreamingResponse:
        async def events() -> AsyncIterator[bytes]:
            for number in range(3):
                yield f"data: {number}\n\n".encode()
                await asyncio.sleep(0.2)

        return StreamingResponse(events(), media_type="text/event-stream")

    metrics = Metrics(CollectorRegistry())
    app = Starlette(routes=[Route("/events", slow_events)])
    return ObservabilityMiddleware(app, metrics), metrics


async def test_a_stream_passes_through_at_once_and_is_timed_to_its_end(
    streaming_app: tuple[ObservabilityMiddleware, Metrics],
) -> None:
    app, metrics = streaming_app
    port = free_port()
    async with serving(app, port), httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        started = time.perf_counter()
        async with client.stream("GET", "/events") as response:
            chunks = response.aiter_bytes()
            first = await anext(chunks)
            first_after = time.perf_counter() - started
            rest = [chunk async for chunk in chunks]

    assert first == b"data: 0\n\n"
    assert len(rest) >= 1
    assert first_after < 0.2
    total = metrics.registry.get_sample_value(
        "http_request_duration_seconds_sum", {"method": "GET", "endpoint": "/events"}
    )
    assert total is not None
    assert total >= 0.6


async def test_an_unexpected_error_is_a_json_500_carrying_the_request_id(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(ProfileService, "get", broken)
    app = create_app(runtime, manage_runtime=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/api/me", headers={"X-Request-ID": "req-abc"})

    assert response.status_code == 500
    assert response.json() == {"detail": "internal error", "request_id": "req-abc"}
    assert response.headers["x-request-id"] == "req-abc"
    assert response.headers["traceparent"]
    labels = {"method": "GET", "endpoint": "/api/me", "status_code": "500"}
    assert sample(runtime, "http_requests_total", **labels) == 1
