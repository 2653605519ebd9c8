"""The Kafka broker against a real Kafka-protocol broker (tansu): odd records, lag, recovery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import func, select

from tests.brokers import Tansu, kafka_component, write_component
from tests.helpers import eventually, make_settings
from tests.processes import run_cli
from todostream.api.app import create_app
from todostream.bootstrap import Role, Runtime, build_runtime
from todostream.pubsub import kafka
from todostream.pubsub.broker import Delivery, Message
from todostream.pubsub.component import load_component
from todostream.pubsub.kafka import KafkaBroker
from todostream.store import outbox
from todostream.store.tables import AuditRow, NotificationRow

pytestmark = pytest.mark.kafka


@pytest.fixture
async def broker(tansu: Tansu, tmp_path: Path) -> AsyncIterator[KafkaBroker]:
    """A broker with a consumer group of its own, stopped after the test."""
    component = load_component(kafka_component(tmp_path / "kafka.yaml", tansu.bootstrap))
    broker = KafkaBroker(component, redeliver_delay_ms=100)
    yield broker
    await broker.stop()


async def test_a_record_with_an_undecodable_key_and_empty_headers_is_delivered(
    broker: KafkaBroker, tansu: Tansu
) -> None:
    received: list[Delivery] = []

    async def keep(delivery: Delivery) -> None:
        received.append(delivery)

    broker.subscribe("todo-events", broker.settings.consumer_group, keep)
    await broker.start()
    producer = AIOKafkaProducer(bootstrap_servers=tansu.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            "todo-events", b"{}", key=b"\xff\xfe", headers=[("traceparent", None)], partition=0
        )
    finally:
        await producer.stop()

    async def delivered() -> bool:
        return len(received) == 1

    await eventually(delivered, timeout_s=30)
    assert received[0].key == "\ufffd\ufffd"
    assert received[0].headers == (("traceparent", ""),)


async def test_lag_counts_what_the_group_has_not_committed(broker: KafkaBroker) -> None:
    handled: list[bytes] = []
    release = asyncio.Event()

    async def three_then_hold(delivery: Delivery) -> None:
        if len(handled) == 3:
            await release.wait()
        handled.append(delivery.value)

    broker.subscribe("todo-events", broker.settings.consumer_group, three_then_hold)
    await broker.start()
    await broker.publish([Message("todo-events", "same-key", f"m{n}".encode()) for n in range(5)])

    async def two_behind() -> bool:
        return sum((await broker.lag()).values()) == 2

    await eventually(two_behind, timeout_s=30)
    release.set()

    async def caught_up() -> bool:
        return len(handled) == 5 and sum((await broker.lag()).values()) == 0

    await eventually(caught_up, timeout_s=30)


async def test_lag_counts_a_partition_the_group_never_committed(broker: KafkaBroker) -> None:
    release = asyncio.Event()

    async def hold(delivery: Delivery) -> None:
        await release.wait()

    broker.subscribe("todo-events", broker.settings.consumer_group, hold)
    await broker.start()
    await broker.publish([Message("todo-events", "same-key", f"m{n}".encode()) for n in range(5)])

    async def all_behind() -> bool:
        return sum((await broker.lag()).values()) == 5

    try:
        await eventually(all_behind, timeout_s=30)
    finally:
        release.set()


async def test_topics_get_our_partition_count_even_when_a_consumer_connects_first(
    broker: KafkaBroker, tansu: Tansu
) -> None:
    handled: list[Delivery] = []

    async def keep(delivery: Delivery) -> None:
        handled.append(delivery)

    broker.subscribe("todo-events", broker.settings.consumer_group, keep)
    await broker.start()
    await broker.publish([Message("todo-events", "k", b"proof the consumer has joined")])

    async def consumed() -> bool:
        return bool(handled)

    await eventually(consumed, timeout_s=30)
    admin = AIOKafkaAdminClient(bootstrap_servers=tansu.bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(["todo-events", "todo-events-dlq"])
    finally:
        await admin.close()
    assert {topic["topic"]: len(topic["partitions"]) for topic in described} == {
        "todo-events": 3,
        "todo-events-dlq": 3,
    }


async def test_a_consumer_recovers_from_an_unexpected_error_and_redelivers(
    broker: KafkaBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    handled: list[bytes] = []
    build = kafka._delivery
    failures = iter([RuntimeError("unexpected")])

    def fails_once(record: object) -> Delivery:
        for error in failures:
            raise error
        return build(record)  # type: ignore[arg-type]

    async def keep(delivery: Delivery) -> None:
        handled.append(delivery.value)

    monkeypatch.setattr(kafka, "_delivery", fails_once)
    broker.subscribe("todo-events", broker.settings.consumer_group, keep)
    await broker.start()
    await broker.publish([Message("todo-events", "k", b"only")])

    async def handled_once() -> bool:
        return handled == [b"only"]

    await eventually(handled_once, timeout_s=40)
    assert await broker.healthy()


async def test_a_poison_message_too_large_for_the_dead_letter_topic_is_parked_cut_short(
    tansu: Tansu, tmp_path: Path, postgres_url: str
) -> None:
    """The error headers push a message over the broker's limit; holding it would stop its
    partition for good, so a copy cut to 64 KiB is parked and says how long it was."""
    path = kafka_component(tmp_path / "kafka.yaml", tansu.bootstrap)
    metadata = {**load_component(path).metadata, "maxMessageBytes": "100000"}
    component = load_component(write_component(path, "pubsub.kafka", metadata))
    broker = KafkaBroker(component, redeliver_delay_ms=100)
    parked: list[Delivery] = []

    async def park(delivery: Delivery) -> None:
        parked.append(delivery)

    broker.subscribe("todo-events-dlq", "dlq-reader", park)
    settings = make_settings(postgres_url, relay_enabled=False)
    async with build_runtime(settings, frozenset({Role.AUDIT}), broker=broker) as runtime:
        await runtime.consumers["audit"](Delivery("todo-events", "k", b"x" * 99_900))

        async def parked_once() -> bool:
            return len(parked) == 1

        await eventually(parked_once, timeout_s=30)
    headers = dict(parked[0].headers)
    assert headers["dlq_truncated"] == "99900"
    assert parked[0].value == b"x" * 65_536
    assert headers["dlq_original_topic"] == "todo-events"


async def test_events_a_restarted_broker_lost_are_replayed_from_the_outbox(
    tansu: Tansu, tmp_path: Path, postgres_url: str
) -> None:
    """tansu keeps its messages in memory: published but never consumed, they are gone after
    a restart until `todostream outbox replay` hands them to the relay again."""
    component = kafka_component(tmp_path / "kafka.yaml", tansu.bootstrap)
    settings = make_settings(postgres_url, pubsub_component=component)
    async with build_runtime(settings, frozenset({Role.API})) as api:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(api, manage_runtime=False)),
            base_url="http://todostream.test",
        )
        async with client:
            for title in ("Essay", "Lab report", "Revise"):
                assert (await client.post("/api/todos", json={"title": title})).status_code == 201

        async def all_published() -> bool:
            return await api_backlog(api) == 0

        await eventually(all_published, timeout_s=30)
    tansu.stop()
    tansu.start()

    status = run_cli("outbox", "status", cwd=tmp_path, DATABASE_URL=postgres_url)
    replay = run_cli("outbox", "replay", cwd=tmp_path, DATABASE_URL=postgres_url)

    assert status.stdout.startswith("0 events pending"), status.stderr
    assert "3 events marked for publishing again" in replay.stdout, replay.stderr
    roles = frozenset({Role.NOTIFICATION, Role.AUDIT})
    async with build_runtime(settings, roles) as consumers:

        async def all_handled() -> bool:
            async with consumers.sessions() as session:
                notices = await session.scalar(select(func.count()).select_from(NotificationRow))
                audits = await session.scalar(select(func.count()).select_from(AuditRow))
            return notices == 3 and audits == 3

        await eventually(all_handled, timeout_s=60)


async def api_backlog(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        return (await outbox.backlog(session)).pending
