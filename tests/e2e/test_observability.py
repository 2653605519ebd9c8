"""A real Prometheus scrapes the api, notification and audit processes every second; the
numbers it reports must be the traffic the test drove."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.brokers import free_port, redis_component, wait_for_port
from tests.helpers import TEST_SECRET
from tests.processes import ServiceProcess, base_env, start_service

RULES = Path(__file__).parents[2] / "deploy" / "prometheus" / "rules.yml"
JOBS = {
    "api": "todostream-backend",
    "notification": "todostream-notification",
    "audit": "todostream-audit",
}


@pytest.fixture
def services(postgres_url: str, tmp_path: Path) -> Iterator[dict[str, ServiceProcess]]:
    env = base_env(
        DATABASE_URL=postgres_url,
        PUBSUB_COMPONENT=str(redis_component(tmp_path / "redis.yaml")),
        AUTH_JWT_SECRET=TEST_SECRET,
        RELAY_POLL_INTERVAL_MS="100",
    )
    started = {
        "api": start_service("api", ["api"], env, tmp_path),
        "notification": start_service("notification", ["notification"], env, tmp_path),
        "audit": start_service("audit", ["audit", "serve"], env, tmp_path),
    }
    try:
        for service in started.values():
            service.wait_ready()
        yield started
    finally:
        for service in started.values():
            service.stop()


@pytest.fixture
def prometheus(services: dict[str, ServiceProcess], tmp_path: Path) -> Iterator[str]:
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {"job_name": JOBS[name], "static_configs": [{"targets": [f"127.0.0.1:{service.port}"]}]}
            for name, service in services.items()
        ],
    }
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config_file}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def query(prometheus: str, promql: str) -> float | None:
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=5)
    result = response.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def wait_for_value(prometheus: str, promql: str, expected: float, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    value = None
    while time.monotonic() < deadline:
        value = query(prometheus, promql)
        if value == expected:
            return
        time.sleep(0.5)
    pytest.fail(f"{promql} is {value}, expected {expected} within {timeout_s}s")


def test_prometheus_reports_exactly_the_traffic_that_was_driven(
    services: dict[str, ServiceProcess], prometheus: str
) -> None:
    wait_for_value(prometheus, "sum(up)", 3)
    api = services["api"].url
    ids = [httpx.post(f"{api}/api/todos", json={"title": f"t{n}"}).json()["id"] for n in range(25)]
    for todo_id in ids[:10]:
        httpx.get(f"{api}/api/todos/{todo_id}")
    for _ in range(5):
        httpx.get(f"{api}/api/todos/00000000-0000-0000-0000-000000000000")
    assert httpx.post(f"{api}/api/todos", json={"title": "harass my classmate"}).status_code == 403

    wait_for_value(
        prometheus,
        'sum(http_requests_total{endpoint="/api/todos",method="POST",status_code="201"})',
        25,
    )
    wait_for_value(
        prometheus, 'sum(http_requests_total{endpoint="/api/todos/{id}",status_code="200"})', 10
    )
    wait_for_value(
        prometheus, 'sum(http_requests_total{endpoint="/api/todos/{id}",status_code="404"})', 5
    )
    wait_for_value(prometheus, 'sum(todo_crud_operations_total{operation="create"})', 25)
    wait_for_value(prometheus, 'sum(todo_events_published_total{event_type=~"todo_.*"})', 26)
    wait_for_value(prometheus, "sum(todo_notifications_sent_total)", 26)
    wait_for_value(
        prometheus, 'sum(todo_events_processed_total{service="audit",outcome="success"})', 26
    )
    wait_for_value(
        prometheus,
        'sum(todo_event_processing_seconds_count{job="todostream-notification"})',
        26,
    )


def test_every_metrics_endpoint_passes_promtool_and_the_alert_rules_load(
    services: dict[str, ServiceProcess], prometheus: str
) -> None:
    for service in services.values():
        exposition = httpx.get(f"{service.url}/metrics").content
        result = subprocess.run(
            ["promtool", "check", "metrics"], input=exposition, capture_output=True, timeout=30
        )
        assert result.returncode == 0, (service.name, result.stdout, result.stderr)

    groups = httpx.get(f"{prometheus}/api/v1/rules").json()["data"]["groups"]
    assert groups
    assert all(rule["health"] in ("ok", "unknown") for g in groups for rule in g["rules"])


def json_lines(service: ServiceProcess) -> list[dict[str, object]]:
    lines = service.log.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_one_request_can_be_followed_through_every_service_by_its_ids(
    services: dict[str, ServiceProcess],
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {
        "X-Request-ID": "req-follow-me-1",
        "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01",
    }

    response = httpx.post(
        f"{services['api'].url}/api/todos", json={"title": "follow"}, headers=headers
    )
    todo_id = response.json()["id"]

    def handled_everywhere() -> bool:
        return all(
            any(
                r.get("message") == "event handled" and r.get("todo_id") == todo_id
                for r in json_lines(s)
            )
            for s in (services["notification"], services["audit"])
        )

    deadline = time.monotonic() + 20
    while not handled_everywhere():
        assert time.monotonic() < deadline, "the event was not handled by both consumers"
        time.sleep(0.2)
    [access] = [
        r
        for r in json_lines(services["api"])
        if r.get("route") == "/api/todos" and r.get("method") == "POST"
    ]
    assert access["request_id"] == "req-follow-me-1"
    assert {"status", "duration_ms", "route", "method"} <= set(access)
    for name in ("notification", "audit"):
        handled = [
            r
            for r in json_lines(services[name])
            if r.get("todo_id") == todo_id and r.get("message") == "event handled"
        ]
        assert handled[0]["request_id"] == "req-follow-me-1", name
        assert str(handled[0]["traceparent"]).startswith(f"00-{trace_id}-"), name
        assert {"event_type", "event_id", "outcome", "lag_ms"} <= set(handled[0]), name
    sent = [
        r
        for r in json_lines(services["notification"])
        if r.get("message") == "notification sent" and r.get("todo_id") == todo_id
    ]
    assert sent[0]["request_id"] == "req-follow-me-1"
