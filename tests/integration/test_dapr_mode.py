"""PUBSUB_MODE=dapr against Dapr's documented HTTP contract (fixtures and a sidecar stand-in)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jsonschema
import pytest
from sqlalchemy import func, select

from tests.brokers import free_port, kafka_component
from tests.dapr_sidecar import FakeSidecar
from tests.helpers import eventually, make_settings
from tests.servers import serving
from todostream.api.app import create_app
from todostream.bootstrap import Role, Runtime, build_runtime
from todostream.config import Settings
from todostream.store.tables import AuditRow, NotificationRow, OutboxRow

FIXTURES = Path(__file__).parents[1] / "fixtures" / "dapr"
CONSUMERS = frozenset({Role.NOTIFICATION, Role.AUDIT})


@pytest.fixture
async def sidecar() -> AsyncIterator[FakeSidecar]:
    fake = FakeSidecar()
    async with serving(fake.app(), fake.port):
        yield fake
        await fake.settled()


@pytest.fixture
def dapr_settings(database_url: str, tmp_path: Path, sidecar: FakeSidecar) -> Settings:
    """Dapr mode with a Kafka component file: the app never reads its broker metadata."""
    component = kafka_component(tmp_path / "pubsub.yaml", "kafka.invalid:9092")
    return make_settings(
        database_url,
        pubsub_component=component,
        pubsub_mode="dapr",
        dapr_http_port=sidecar.port,
        consumer_max_attempts=2,
    )


@pytest.fixture
async def consumers(dapr_settings: Settings) -> AsyncIterator[Runtime]:
    runtime = build_runtime(dapr_settings, CONSUMERS)
    async with runtime:
        yield runtime


@pytest.fixture
async def consumer_app(consumers: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(consumers, manage_runtime=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        yield client


async def count(runtime: Runtime, table: type[AuditRow] | type[NotificationRow]) -> int:
    async with runtime.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


async def deliver(client: httpx.AsyncClient, body: bytes, topic: str = "todo-events") -> str:
    response = await client.post(
        f"/dapr/events/{topic}",
        content=body,
        headers={"Content-Type": "application/cloudevents+json"},
    )
    assert response.status_code == 200
    status: str = response.json()["status"]
    return status


async def test_subscribe_answers_the_documented_shape(consumer_app: httpx.AsyncClient) -> None:
    subscriptions = (await consumer_app.get("/dapr/subscribe")).json()

    schema = json.loads((FIXTURES / "subscribe-response.schema.json").read_text())
    jsonschema.validate(subscriptions, schema)
    assert subscriptions == [
        {
            "pubsubname": "pubsub",
            "topic": "todo-events",
            "route": "/dapr/events/todo-events",
            "deadLetterTopic": "todo-events-dlq",
        }
    ]


async def test_an_event_as_dapr_delivers_it_is_handled_once(
    consumer_app: httpx.AsyncClient, consumers: Runtime
) -> None:
    body = (FIXTURES / "delivered-event.json").read_bytes()

    first, again = await deliver(consumer_app, body), await deliver(consumer_app, body)

    assert (first, again) == ("SUCCESS", "SUCCESS")
    assert await count(consumers, NotificationRow) == 1
    assert await count(consumers, AuditRow) == 1


async def test_a_poison_event_is_dead_lettered_through_the_sidecar(
    consumer_app: httpx.AsyncClient, sidecar: FakeSidecar
) -> None:
    status = await deliver(consumer_app, b"{definitely not a cloudevent")

    assert status == "SUCCESS"
    parked = sidecar.on("todo-events-dlq")
    assert len(parked) == 2
    assert parked[0].body == b"{definitely not a cloudevent"
    assert parked[0].params["metadata.rawPayload"] == "true"
    assert "not a CloudEvent" in parked[0].params["metadata.dlq_error"]


async def test_a_large_deeply_nested_event_is_dead_lettered_not_refused(
    consumer_app: httpx.AsyncClient, sidecar: FakeSidecar
) -> None:
    """Larger than the API's 1 MiB limit, and too deep for Python's JSON parser."""
    body = b"[" * 800_000 + b"]" * 800_000

    assert await deliver(consumer_app, body) == "SUCCESS"
    assert [parked.body for parked in sidecar.on("todo-events-dlq")] == [body, body]


async def test_when_dead_lettering_fails_the_app_asks_dapr_to_retry(
    consumer_app: httpx.AsyncClient, sidecar: FakeSidecar
) -> None:
    sidecar.fail_topics.add("todo-events-dlq")

    assert await deliver(consumer_app, b"not json") == "RETRY"


async def test_an_event_for_a_topic_this_app_does_not_consume_is_dropped(
    consumer_app: httpx.AsyncClient,
) -> None:
    assert await deliver(consumer_app, b"{}", topic="todo-audit") == "DROP"


async def test_the_relay_publishes_our_cloudevent_with_the_partition_key(
    dapr_settings: Settings, sidecar: FakeSidecar
) -> None:
    runtime = build_runtime(dapr_settings, frozenset({Role.API}))
    async with runtime:
        transport = httpx.ASGITransport(app=create_app(runtime, manage_runtime=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            todo = (await client.post("/api/todos", json={"title": "via dapr"})).json()

        async def published() -> bool:
            return len(sidecar.on("todo-events")) == 1

        await eventually(published)
    [record] = sidecar.on("todo-events")
    event = json.loads(record.body)
    assert record.content_type == "application/cloudevents+json"
    assert record.params["metadata.partitionKey"] == todo["id"]
    assert event["type"] == "todo_created"
    assert event["data"]["todo"]["id"] == todo["id"]
    assert record.headers["traceparent"] == event["traceparent"]


async def test_writes_succeed_while_the_sidecar_is_away_and_follow_when_it_returns(
    database_url: str, tmp_path: Path
) -> None:
    sidecar = FakeSidecar()
    component = kafka_component(tmp_path / "pubsub.yaml", "kafka.invalid:9092")
    settings = make_settings(
        database_url, pubsub_component=component, pubsub_mode="dapr", dapr_http_port=sidecar.port
    )
    runtime = build_runtime(settings, frozenset({Role.API}))
    async with runtime:
        transport = httpx.ASGITransport(app=create_app(runtime, manage_runtime=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            assert (await client.post("/api/todos", json={"title": "queued"})).status_code == 201
            readiness = (await client.get("/readyz")).json()
        assert readiness["checks"]["broker"] == "unavailable"

        async def failed_attempt_recorded() -> bool:
            async with runtime.sessions() as session:
                return bool((await session.scalars(select(OutboxRow.last_error))).first())

        await eventually(failed_attempt_recorded)
        async with serving(sidecar.app(), sidecar.port):

            async def delivered() -> bool:
                return len(sidecar.on("todo-events")) == 1

            await eventually(delivered, timeout_s=40)


async def test_the_whole_pipeline_runs_through_the_sidecar(
    dapr_settings: Settings, sidecar: FakeSidecar, consumers: Runtime
) -> None:
    app_port = free_port()
    sidecar.app_url = f"http://127.0.0.1:{app_port}"
    api = build_runtime(dapr_settings, frozenset({Role.API}))
    async with serving(create_app(consumers, manage_runtime=False), app_port), api:
        transport = httpx.ASGITransport(app=create_app(api, manage_runtime=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            await client.post("/api/todos", json={"title": "plain"})
            await client.post("/api/todos", json={"title": "all-nighter for the essay"})
            await client.post("/api/todos", json={"title": "forge a doctor's note"})

        async def all_handled() -> bool:
            return (
                await count(consumers, AuditRow) == 3
                and await count(consumers, NotificationRow) == 3
            )

        await eventually(all_handled, timeout_s=30)
        await sidecar.settled()
    assert set(sidecar.answers) == {"SUCCESS"}
    assert len(sidecar.on("todo-notifications")) >= 1
