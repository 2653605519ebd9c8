"""The outbox relay: order, retries while the broker is down, and a crash mid-publish."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence

import httpx
import pytest
from sqlalchemy import func, select

from tests.helpers import eventually, make_settings
from todostream.api.app import create_app
from todostream.bootstrap import ALL_ROLES, Role, Runtime, build_runtime
from todostream.consumers.runner import Outcome
from todostream.pubsub.broker import BrokerUnavailable, Delivery, Message, MessageRejected
from todostream.pubsub.memory import InMemoryBroker
from todostream.store.tables import AuditRow, NotificationRow, OutboxRow


class FaultyBroker(InMemoryBroker):
    """The real in-memory broker with two faults a test can switch on."""

    def __init__(self) -> None:
        super().__init__(redeliver_delay_ms=10)
        self.down = False
        self.crash_after_next_publish = False
        self.attempts = 0
        self.delay_s = 0.0
        self.largest_event = 1 << 30

    async def publish(self, messages: Sequence[Message]) -> None:
        self.attempts += 1
        if self.down:
            raise BrokerUnavailable("broker is down")
        for message in messages:
            if message.topic == "todo-events" and len(message.value) > self.largest_event:
                raise MessageRejected(f"{len(message.value)} bytes is over the limit")
        await asyncio.sleep(self.delay_s)
        await super().publish(messages)
        if self.crash_after_next_publish:
            self.crash_after_next_publish = False
            current = asyncio.current_task()
            assert current is not None
            current.cancel()
            await asyncio.sleep(0)


@pytest.fixture
def broker() -> FaultyBroker:
    return FaultyBroker()


@pytest.fixture
async def runtime(database_url: str, broker: FaultyBroker) -> AsyncIterator[Runtime]:
    runtime = build_runtime(make_settings(database_url), ALL_ROLES, broker=broker)
    async with runtime:
        yield runtime


class Tap:
    """A subscriber of its own group that records every delivery it sees."""

    def __init__(self, broker: InMemoryBroker, topic: str = "todo-events") -> None:
        self.deliveries: list[Delivery] = []
        broker.subscribe(topic, "test-tap", self.record)

    async def record(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)

    def event_ids(self) -> list[str]:
        return [json.loads(delivery.value)["id"] for delivery in self.deliveries]


@pytest.fixture
async def tap(broker: FaultyBroker) -> Tap:
    return Tap(broker)


async def pending(runtime: Runtime) -> int:
    """Unpublished todo events (consumers' own derived events are left out)."""
    async with runtime.sessions() as session:
        query = (
            select(func.count())
            .select_from(OutboxRow)
            .where(OutboxRow.published_at.is_(None), OutboxRow.topic == "todo-events")
        )
        return int((await session.execute(query)).scalar_one())


async def count(runtime: Runtime, table: type[AuditRow] | type[NotificationRow]) -> int:
    async with runtime.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


async def test_relay_publishes_one_todos_events_in_order(
    client: httpx.AsyncClient, runtime: Runtime, tap: Tap
) -> None:
    todo = (await client.post("/api/todos", json={"title": "v1"})).json()
    for number in range(2, 6):
        await client.patch(f"/api/todos/{todo['id']}", json={"title": f"v{number}"})

    async def all_seen() -> bool:
        return len(tap.deliveries) == 5

    await eventually(all_seen)
    versions = [json.loads(delivery.value)["data"]["version"] for delivery in tap.deliveries]
    assert versions == [1, 2, 3, 4, 5]
    assert {delivery.key for delivery in tap.deliveries} == {todo["id"]}
    assert await pending(runtime) == 0


async def test_writes_succeed_while_the_broker_is_down_and_every_event_follows(
    client: httpx.AsyncClient, runtime: Runtime, broker: FaultyBroker, tap: Tap
) -> None:
    broker.down = True
    ids = [
        (await client.post("/api/todos", json={"title": f"t{n}"})).json()["id"] for n in range(5)
    ]

    async def every_event_failed_once() -> bool:
        async with runtime.sessions() as session:
            errors = (await session.scalars(select(OutboxRow.last_error))).all()
        return len(errors) == 5 and all("broker is down" in (e or "") for e in errors)

    await eventually(every_event_failed_once)
    assert await pending(runtime) == 5

    async def gauges_show_the_backlog() -> bool:
        registry = runtime.metrics.registry
        return registry.get_sample_value("todo_outbox_pending_events") == 5

    await eventually(gauges_show_the_backlog)
    assert (
        runtime.metrics.registry.get_sample_value("todo_outbox_publish_failures_total") or 0
    ) >= 1

    broker.down = False

    async def delivered() -> bool:
        return len(tap.deliveries) == 5 and await count(runtime, AuditRow) == 5

    await eventually(delivered, timeout_s=40)
    assert sorted(json.loads(d.value)["subject"] for d in tap.deliveries) == sorted(ids)
    assert await pending(runtime) == 0


async def test_an_event_the_broker_refuses_is_parked_and_the_events_after_it_still_flow(
    client: httpx.AsyncClient, runtime: Runtime, broker: FaultyBroker, tap: Tap
) -> None:
    broker.largest_event = 4000
    big = await client.post("/api/todos", json={"title": "big", "description": "d" * 5000})
    small = await client.post("/api/todos", json={"title": "small"})

    async def small_delivered() -> bool:
        return any(json.loads(d.value)["subject"] == small.json()["id"] for d in tap.deliveries)

    await eventually(small_delivered)
    [parked] = broker.retained("todo-events-dlq")
    assert json.loads(parked.value)["subject"] == big.json()["id"]
    assert "over the limit" in dict(parked.headers)["dlq_error"]
    assert await pending(runtime) == 0
    async with runtime.sessions() as session:
        errors = (await session.scalars(select(OutboxRow.last_error))).all()
    [error] = [error for error in errors if error]
    assert error.startswith("refused by the broker (MessageRejected(")
    assert "over the limit" in error
    assert error.endswith("), parked on the dead-letter topic")
    rejected = runtime.metrics.registry.get_sample_value(
        "todo_outbox_rejected_total", {"topic": "todo-events"}
    )
    assert rejected == 1


async def test_stopping_lets_the_pass_in_flight_finish_and_mark_its_events(
    client: httpx.AsyncClient, runtime: Runtime, broker: FaultyBroker
) -> None:
    assert runtime.relay is not None
    broker.delay_s = 0.5
    attempts = broker.attempts
    await client.post("/api/todos", json={"title": "in flight at shutdown"})

    async def publishing() -> bool:
        return broker.attempts > attempts

    await eventually(publishing)
    await runtime.relay.stop()

    assert await pending(runtime) == 0
    assert not runtime.relay.running


async def test_a_relay_killed_between_publish_and_mark_redelivers_and_it_is_handled_once(
    database_url: str, broker: FaultyBroker, tap: Tap
) -> None:
    settings = make_settings(database_url)
    runtime = build_runtime(settings, ALL_ROLES, broker=broker)
    async with runtime:
        assert runtime.relay is not None
        broker.crash_after_next_publish = True
        app = create_app(runtime, manage_runtime=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await client.post("/api/todos", json={"title": "published, never marked"})

        async def relay_died() -> bool:
            return runtime.relay is not None and not runtime.relay.running

        await eventually(relay_died)
        assert len(tap.deliveries) == 1
        assert await pending(runtime) == 1

        runtime.relay.start()

        async def redelivered_and_handled() -> bool:
            duplicates = runtime.metrics.registry.get_sample_value(
                "todo_events_processed_total",
                {"service": "audit", "event_type": "todo_created", "outcome": Outcome.DUPLICATE},
            )
            return len(tap.deliveries) == 2 and duplicates == 1

        await eventually(redelivered_and_handled)
        assert tap.event_ids()[0] == tap.event_ids()[1]
        assert await pending(runtime) == 0
        assert await count(runtime, AuditRow) == 1
        assert await count(runtime, NotificationRow) == 1


async def test_events_the_in_memory_broker_held_at_shutdown_are_delivered_after_restart(
    database_url: str,
) -> None:
    """The first run relays events that no consumer takes before it stops (as a SIGTERM right
    after a burst would); the next run must deliver them, not lose them with the broker."""
    settings = make_settings(database_url)
    first = build_runtime(settings, frozenset({Role.API}))
    async with first:
        transport = httpx.ASGITransport(app=create_app(first, manage_runtime=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for number in range(5):
                await client.post("/api/todos", json={"title": f"burst {number}"})

        async def relayed() -> bool:
            return await pending(first) == 0

        await eventually(relayed)

    second = build_runtime(settings, ALL_ROLES)
    async with second:

        async def delivered() -> bool:
            return await count(second, AuditRow) == 5 and await count(second, NotificationRow) == 5

        await eventually(delivered)
