"""One end-to-end suite, run once per component type: in-memory, Redis Streams, Kafka.

Only the component file differs between the runs. For Redis and Kafka the api, notification
and audit roles run as three separate runtimes (as three processes would), each with its own
broker client built from the file; the in-memory broker cannot cross runtimes, so there the
roles share one, as `todostream dev` does.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from redis import asyncio as redis_asyncio
from sqlalchemy import func, select

from tests.brokers import REDIS_HOST, Tansu, in_memory_component, kafka_component, redis_component
from tests.helpers import eventually, make_settings
from todostream.api.app import create_app
from todostream.bootstrap import ALL_ROLES, Role, Runtime, build_runtime
from todostream.config import Settings
from todostream.domain.events import EventType, new_todo_event, to_json_bytes
from todostream.pubsub.broker import Broker, Delivery, Message
from todostream.pubsub.factory import create_broker
from todostream.store.audit_chain import verify_chain
from todostream.store.tables import AppliedVersionRow, AuditRow, NotificationRow

OBSERVED = ("todo-notifications", "todo-audit", "todo-events-dlq")


@dataclass
class Pipeline:
    kind: str
    runtimes: list[Runtime]
    client: httpx.AsyncClient
    observer: Broker
    seen: dict[str, list[Delivery]] = field(default_factory=dict)

    @property
    def api(self) -> Runtime:
        return self.runtimes[0]

    async def count(self, table: Any) -> int:
        async with self.api.sessions() as session:
            return int(
                (await session.execute(select(func.count()).select_from(table))).scalar_one()
            )

    async def rows(self, table: Any) -> list[Any]:
        async with self.api.sessions() as session:
            return list((await session.scalars(select(table))).all())

    async def publish_raw(self, key: str, value: bytes) -> None:
        await self.observer.publish([Message("todo-events", key, value)])


async def start_observer(broker: Broker, seen: dict[str, list[Delivery]]) -> None:
    """A test subscriber, in groups of its own, on the topics the consumers write to."""
    group = f"observer-{uuid.uuid4().hex[:8]}"
    for topic in OBSERVED:
        seen[topic] = []

        async def record(delivery: Delivery, topic: str = topic) -> None:
            seen[topic].append(delivery)

        broker.subscribe(topic, group, record)


def component_for(kind: str, tmp_path: Path, tansu: Tansu | None) -> Path:
    path = tmp_path / f"{kind}.yaml"
    if kind == "kafka":
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP") or (tansu.bootstrap if tansu else "")
        return kafka_component(path, bootstrap)
    if kind == "redis":
        return redis_component(path)
    return in_memory_component(path)


def runtimes_for(kind: str, settings: Settings) -> list[Runtime]:
    if kind == "in-memory":
        return [build_runtime(settings, ALL_ROLES)]
    roles = (Role.API, Role.NOTIFICATION, Role.AUDIT)
    return [build_runtime(settings, frozenset({role})) for role in roles]


@pytest.fixture(params=["in-memory", "redis", "kafka"])
async def pipeline(
    request: pytest.FixtureRequest, postgres_url: str, tmp_path: Path
) -> AsyncIterator[Pipeline]:
    kind: str = request.param
    tansu = Tansu().start() if kind == "kafka" and not os.environ.get("KAFKA_BOOTSTRAP") else None
    settings = make_settings(
        postgres_url,
        pubsub_component=component_for(kind, tmp_path, tansu),
        consumer_gap_wait_ms=2000,
    )
    runtimes = runtimes_for(kind, settings)
    observer = runtimes[0].broker if kind == "in-memory" else create_broker(settings)
    seen: dict[str, list[Delivery]] = {}
    await start_observer(observer, seen)
    try:
        for runtime in runtimes:
            await runtime.start()
        if observer is not runtimes[0].broker:
            await observer.start()
        transport = httpx.ASGITransport(app=create_app(runtimes[0], manage_runtime=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield Pipeline(kind, runtimes, client, observer, seen)
    finally:
        if observer is not runtimes[0].broker:
            await observer.stop()
        for runtime in runtimes:
            await runtime.stop()
        if tansu is not None:
            tansu.stop()
        if kind == "redis":
            await delete_streams(settings)


async def delete_streams(settings: Settings) -> None:
    prefix = yaml_metadata(settings.pubsub_component)["streamPrefix"]
    host, port = REDIS_HOST.split(":")
    client = redis_asyncio.Redis(host=host, port=int(port))
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def yaml_metadata(path: Path) -> dict[str, str]:
    document = yaml.safe_load(path.read_text())
    return {item["name"]: item["value"] for item in document["spec"]["metadata"]}


async def test_every_kind_of_change_is_notified_audited_and_routed(pipeline: Pipeline) -> None:
    client = pipeline.client
    todo = (await client.post("/api/todos", json={"title": "Lab report"})).json()
    await client.patch(f"/api/todos/{todo['id']}", json={"priority": "high"})
    await client.post("/api/todos", json={"title": "urgent: finish the assignment"})
    assert (
        await client.post("/api/todos", json={"title": "harass my neighbour"})
    ).status_code == 403
    await client.delete(f"/api/todos/{todo['id']}")

    async def all_effects() -> bool:
        return await pipeline.count(AuditRow) == 5 and await pipeline.count(NotificationRow) == 5

    await eventually(all_effects, timeout_s=60)
    notifications = await pipeline.rows(NotificationRow)
    assert {n.event_type for n in notifications} == {t.value for t in EventType}

    async def routed() -> bool:
        return (
            len(pipeline.seen["todo-notifications"]) == 5 and len(pipeline.seen["todo-audit"]) == 5
        )

    await eventually(routed, timeout_s=60)
    record = json.loads(pipeline.seen["todo-audit"][0].value)
    assert record["type"] == "audit_recorded"
    assert record["data"]["event"]["type"] in {t.value for t in EventType}
    async with pipeline.api.sessions() as session:
        assert (await verify_chain(session)).ok


async def test_one_todos_events_are_applied_in_version_order(pipeline: Pipeline) -> None:
    client = pipeline.client
    todo = (await client.post("/api/todos", json={"title": "v1"})).json()
    for version in range(2, 17):
        response = await client.patch(f"/api/todos/{todo['id']}", json={"title": f"v{version}"})
        assert response.status_code == 200

    async def all_audited() -> bool:
        return await pipeline.count(AuditRow) == 16 and await pipeline.count(NotificationRow) == 16

    await eventually(all_audited, timeout_s=60)
    audit = sorted(await pipeline.rows(AuditRow), key=lambda row: row.seq)
    versions = [json.loads(row.payload)["data"]["version"] for row in audit]
    assert versions == list(range(1, 17))
    applied = {row.consumer: row.version for row in await pipeline.rows(AppliedVersionRow)}
    assert applied == {"notification": 16, "audit": 16}


async def test_a_poison_message_is_dead_lettered_and_processing_goes_on(pipeline: Pipeline) -> None:
    await pipeline.publish_raw("poison", b"\x00 not an event")
    todo = (await pipeline.client.post("/api/todos", json={"title": "after the poison"})).json()

    async def parked_and_processed() -> bool:
        parked = len(pipeline.seen["todo-events-dlq"]) == 2
        return parked and await pipeline.count(AuditRow) == 1

    await eventually(parked_and_processed, timeout_s=60)
    parked = pipeline.seen["todo-events-dlq"]
    assert {dict(d.headers)["dlq_consumer"] for d in parked} == {"notification", "audit"}
    assert all("not a CloudEvent" in dict(d.headers)["dlq_error"] for d in parked)
    assert parked[0].value == b"\x00 not an event"
    [row] = await pipeline.rows(AuditRow)
    assert row.todo_id == todo["id"]


async def test_a_duplicate_delivery_has_its_effect_once(pipeline: Pipeline) -> None:
    todo_id = str(uuid.uuid4())
    event = new_todo_event(
        EventType.CREATED,
        todo={"id": todo_id, "title": "sent twice"},
        owner_id="local",
        version=1,
        check={"passed": True, "decision": "allow", "reason": "ok", "rules": []},
    )

    await pipeline.publish_raw(todo_id, to_json_bytes(event))
    await pipeline.publish_raw(todo_id, to_json_bytes(event))

    async def both_deliveries_seen() -> bool:
        registries = [runtime.metrics.registry for runtime in pipeline.runtimes]
        duplicates = sum(
            registry.get_sample_value(
                "todo_events_processed_total",
                {"service": service, "event_type": "todo_created", "outcome": "duplicate"},
            )
            or 0
            for registry in registries
            for service in ("notification", "audit")
        )
        return duplicates == 2

    await eventually(both_deliveries_seen, timeout_s=60)
    assert await pipeline.count(AuditRow) == 1
    assert await pipeline.count(NotificationRow) == 1
