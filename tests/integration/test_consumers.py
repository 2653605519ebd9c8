"""Notification and audit consumers: effects once, in version order, poison to the DLQ."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.helpers import eventually, make_settings
from todostream.bootstrap import ALL_ROLES, Runtime, build_runtime
from todostream.consumers.runner import Outcome
from todostream.domain.events import EventType, new_todo_event, to_json_bytes
from todostream.pubsub.broker import Delivery, Message
from todostream.pubsub.memory import InMemoryBroker
from todostream.store.tables import AppliedVersionRow, AuditRow, NotificationRow


@pytest.fixture
def broker() -> InMemoryBroker:
    return InMemoryBroker(redeliver_delay_ms=10)


@pytest.fixture
async def runtime(database_url: str, broker: InMemoryBroker) -> AsyncIterator[Runtime]:
    settings = make_settings(database_url, relay_enabled=False, consumer_max_attempts=3)
    runtime = build_runtime(settings, ALL_ROLES, broker=broker)
    async with runtime:
        yield runtime


def event(
    event_type: EventType, todo_id: str, version: int, title: str = "Essay", owner: str = "amy"
) -> Message:
    cloud_event = new_todo_event(
        event_type,
        todo={"id": todo_id, "title": title},
        owner_id=owner,
        version=version,
        check={"passed": True, "decision": "allow", "reason": "ok", "rules": []},
    )
    return Message("todo-events", todo_id, to_json_bytes(cloud_event))


async def rows(runtime: Runtime, table: Any) -> list[Any]:
    async with runtime.sessions() as session:
        return list((await session.scalars(select(table))).all())


def processed(runtime: Runtime, service: str, event_type: str, outcome: Outcome) -> float:
    value = runtime.metrics.registry.get_sample_value(
        "todo_events_processed_total",
        {"service": service, "event_type": event_type, "outcome": outcome.value},
    )
    return value or 0.0


async def test_every_event_type_becomes_one_notification_and_one_audit_row(
    client: httpx.AsyncClient, runtime: Runtime, database_url: str
) -> None:
    settings = make_settings(database_url)
    relay_runtime = build_runtime(settings, ALL_ROLES, broker=runtime.broker)
    assert relay_runtime.relay is not None
    relay_runtime.relay.start()
    try:
        todo = (await client.post("/api/todos", json={"title": "Lab report"})).json()
        await client.patch(f"/api/todos/{todo['id']}", json={"title": "Lab report v2"})
        flagged = (await client.post("/api/todos", json={"title": "last minute homework"})).json()
        await client.post("/api/todos", json={"title": "hack into the school server"})
        await client.delete(f"/api/todos/{todo['id']}")

        async def all_handled() -> bool:
            audited = len(await rows(runtime, AuditRow))
            return audited == len(await rows(runtime, NotificationRow)) == 5

        await eventually(all_handled)
    finally:
        await relay_runtime.stop()

    notifications = {n.event_type: n for n in await rows(runtime, NotificationRow)}
    assert set(notifications) == {t.value for t in EventType}
    assert notifications["todo_flagged"].todo_id == flagged["id"]
    assert "Last-minute pressure" in (notifications["todo_flagged"].reason or "")
    assert "Planning illegal activity" in (notifications["todo_blocked"].reason or "")
    assert notifications["todo_created"].reason is None
    assert notifications["todo_updated"].message == "Todo updated: Lab report v2 (changed: title)"
    listed = (await client.get("/api/notifications")).json()
    assert len(listed) == 5


async def test_notifications_are_only_visible_to_their_owner(
    client: httpx.AsyncClient, runtime: Runtime, broker: InMemoryBroker
) -> None:
    await broker.publish([event(EventType.CREATED, str(uuid.uuid4()), 1, owner="amy")])

    async def stored() -> bool:
        return len(await rows(runtime, NotificationRow)) == 1

    await eventually(stored)
    amy = {"Authorization": f"Bearer {runtime.authenticator.issue('amy')}"}
    ben = {"Authorization": f"Bearer {runtime.authenticator.issue('ben')}"}
    assert len((await client.get("/api/notifications", headers=amy)).json()) == 1
    assert (await client.get("/api/notifications", headers=ben)).json() == []


async def test_one_structured_log_line_per_notification(
    runtime: Runtime, broker: InMemoryBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="todostream.consumers.notification")
    message = event(EventType.FLAGGED, str(uuid.uuid4()), 1, title="urgent essay")

    await broker.publish([message])

    async def logged() -> bool:
        return any(r.getMessage() == "notification sent" for r in caplog.records)

    await eventually(logged)
    [record] = [r for r in caplog.records if r.getMessage() == "notification sent"]
    fields = vars(record)
    assert fields["event_type"] == "todo_flagged"
    assert fields["todo_id"] == message.key
    assert fields["title"] == "urgent essay"


async def test_a_duplicate_delivery_has_its_effect_once(
    runtime: Runtime, broker: InMemoryBroker
) -> None:
    message = event(EventType.CREATED, str(uuid.uuid4()), 1)

    await broker.publish([message, message])

    async def both_seen() -> bool:
        return processed(runtime, "audit", "todo_created", Outcome.DUPLICATE) == 1 and (
            processed(runtime, "notification", "todo_created", Outcome.DUPLICATE) == 1
        )

    await eventually(both_seen)
    assert len(await rows(runtime, AuditRow)) == 1
    assert len(await rows(runtime, NotificationRow)) == 1


async def test_a_poison_message_goes_to_the_dead_letter_topic_and_the_next_one_is_handled(
    runtime: Runtime, broker: InMemoryBroker
) -> None:
    parked: list[Delivery] = []

    async def park(delivery: Delivery) -> None:
        parked.append(delivery)

    broker.subscribe("todo-events-dlq", "test-dlq", park)
    todo_id = str(uuid.uuid4())
    good = event(EventType.CREATED, todo_id, 1)

    await broker.publish([Message("todo-events", todo_id, b"{not json"), good])

    async def good_one_handled() -> bool:
        return len(parked) == 2 and len(await rows(runtime, AuditRow)) == 1

    await eventually(good_one_handled)
    headers = dict(parked[0].headers)
    assert parked[0].value == b"{not json"
    assert "not a CloudEvent" in headers["dlq_error"]
    assert headers["dlq_original_topic"] == "todo-events"
    assert {dict(d.headers)["dlq_consumer"] for d in parked} == {"notification", "audit"}


def reshaped(change: Callable[[dict[str, Any]], object]) -> bytes:
    body = json.loads(event(EventType.CREATED, str(uuid.uuid4()), 1).value)
    change(body)
    return json.dumps(body).encode()


POISON = {
    "naive time": reshaped(lambda body: body.update(time="2026-12-04T10:00:00")),
    "time before year 1 in UTC": reshaped(
        lambda body: body.update(time="0001-01-01T00:30:00+05:30")
    ),
    "time after year 9999 in UTC": reshaped(
        lambda body: body.update(time="9999-12-31T23:00:00-05:00")
    ),
    "unknown type": reshaped(lambda body: body.update(type="todo_exploded")),
    "id over 64 characters": reshaped(lambda body: body.update(id="x" * 65)),
    "no todo": reshaped(lambda body: body.update(subject=None, data={"version": 1})),
    "todo id over 64 characters": reshaped(lambda body: body["data"]["todo"].update(id="t" * 65)),
    "nested 100000 deep": b"[" * 100_000 + b"]" * 100_000,
    "a JSON list": b"[1, 2]",
    "not UTF-8": b"\xff\xfe{}",
}


@pytest.mark.parametrize("value", POISON.values(), ids=POISON.keys())
async def test_an_event_no_consumer_can_handle_is_dead_lettered_at_once(
    runtime: Runtime, broker: InMemoryBroker, value: bytes
) -> None:
    parked: list[Delivery] = []

    async def park(delivery: Delivery) -> None:
        parked.append(delivery)

    broker.subscribe("todo-events-dlq", "test-dlq", park)
    await runtime.consumers["audit"](Delivery("todo-events", "k", value))

    async def parked_once() -> bool:
        return len(parked) == 1

    await eventually(parked_once)
    assert dict(parked[0].headers)["dlq_attempts"] == "1"
    assert parked[0].value == value
    assert await rows(runtime, AuditRow) == []


async def test_a_handler_that_keeps_failing_is_retried_then_dead_lettered(
    runtime: Runtime, broker: InMemoryBroker
) -> None:
    """A `todo` that is not an object breaks the notification handler on every attempt."""
    parked: list[Delivery] = []

    async def park(delivery: Delivery) -> None:
        parked.append(delivery)

    broker.subscribe("todo-events-dlq", "test-dlq", park)
    body = json.loads(event(EventType.CREATED, "t-1", 1).value)
    body["data"]["todo"] = "not an object"

    await broker.publish([Message("todo-events", "t-1", json.dumps(body).encode())])

    async def parked_once() -> bool:
        return len(parked) == 1

    await eventually(parked_once)
    headers = dict(parked[0].headers)
    assert headers["dlq_consumer"] == "notification"
    assert headers["dlq_attempts"] == "3"
    assert processed(runtime, "notification", "todo_created", Outcome.RETRY) == 2
    assert len(await rows(runtime, AuditRow)) == 1


async def test_a_gap_is_waited_for_and_filled_by_the_earlier_event(runtime: Runtime) -> None:
    """Two consumers of one group (as on Redis) may take v2 before v1 is applied."""
    runner = runtime.consumers["audit"]
    todo_id = str(uuid.uuid4())
    first, second = event(EventType.CREATED, todo_id, 1), event(EventType.UPDATED, todo_id, 2)

    async def late_first() -> None:
        await asyncio.sleep(0.05)
        await runner(Delivery("todo-events", todo_id, first.value))

    await asyncio.gather(runner(Delivery("todo-events", todo_id, second.value)), late_first())

    audit = sorted(await rows(runtime, AuditRow), key=lambda row: row.seq)
    assert [row.event_type for row in audit] == ["todo_created", "todo_updated"]
    assert processed(runtime, "audit", "todo_updated", Outcome.SUCCESS) == 1
    assert processed(runtime, "audit", "todo_updated", Outcome.GAP) == 0


async def test_a_gap_is_applied_after_the_wait_and_the_late_event_is_still_handled(
    runtime: Runtime,
) -> None:
    """As when a Redis consumer dies holding v2 and the group reclaims it long after v3."""
    notification, audit = runtime.consumers["notification"], runtime.consumers["audit"]
    todo_id = str(uuid.uuid4())
    first, third = event(EventType.CREATED, todo_id, 1), event(EventType.UPDATED, todo_id, 3)
    old = event(EventType.UPDATED, todo_id, 2)

    for runner in (notification, audit):
        for message in (first, third, old):
            await runner(Delivery("todo-events", todo_id, message.value))

    for service in ("audit", "notification"):
        assert processed(runtime, service, "todo_updated", Outcome.GAP) == 1
        assert processed(runtime, service, "todo_updated", Outcome.STALE) == 1
    audit_rows = sorted(await rows(runtime, AuditRow), key=lambda row: row.seq)
    assert [json.loads(row.payload)["data"]["version"] for row in audit_rows] == [1, 3, 2]
    sent = await rows(runtime, NotificationRow)
    assert sorted(n.event_id for n in sent) == sorted(
        json.loads(m.value)["id"] for m in (first, third, old)
    )
    applied = {row.consumer: row.version for row in await rows(runtime, AppliedVersionRow)}
    assert applied == {"notification": 3, "audit": 3}


class TestOnABrokerOrderedPerKey:
    """As on Kafka: one todo's events sit in one partition, read in order by one member."""

    @pytest.fixture
    def broker(self) -> InMemoryBroker:
        ordered = InMemoryBroker(redeliver_delay_ms=10)
        ordered.ordered_per_key = True
        return ordered

    async def test_a_gap_is_applied_at_once_since_waiting_could_not_fill_it(
        self, runtime: Runtime
    ) -> None:
        audit = runtime.consumers["audit"]
        todo_id = str(uuid.uuid4())
        first, third = event(EventType.CREATED, todo_id, 1), event(EventType.UPDATED, todo_id, 3)

        for message in (first, third):
            await audit(Delivery("todo-events", todo_id, message.value))

        assert processed(runtime, "audit", "todo_updated", Outcome.GAP) == 1
        assert processed(runtime, "audit", "todo_updated", Outcome.RETRY) == 0


async def test_a_refused_update_does_not_move_the_applied_version(runtime: Runtime) -> None:
    """A blocked update carries the unchanged todo's version: applied, but not a step."""
    audit = runtime.consumers["audit"]
    todo_id = str(uuid.uuid4())
    created, refused = event(EventType.CREATED, todo_id, 1), event(EventType.BLOCKED, todo_id, 1)
    updated = event(EventType.UPDATED, todo_id, 2)

    for message in (created, refused, updated):
        await audit(Delivery("todo-events", todo_id, message.value))

    assert processed(runtime, "audit", "todo_blocked", Outcome.SUCCESS) == 1
    assert processed(runtime, "audit", "todo_updated", Outcome.SUCCESS) == 1
    assert len(await rows(runtime, AuditRow)) == 3


async def test_processing_latency_is_measured_from_the_event_time(runtime: Runtime) -> None:
    audit = runtime.consumers["audit"]
    message = event(EventType.CREATED, str(uuid.uuid4()), 1)

    await audit(Delivery("todo-events", message.key, message.value))

    count = runtime.metrics.registry.get_sample_value(
        "todo_event_processing_seconds_count", {"service": "audit"}
    )
    assert count == 1
    assert datetime.now(UTC) >= datetime.fromisoformat(json.loads(message.value)["time"])


async def test_notifications_come_in_pages_newest_first(
    client: httpx.AsyncClient, runtime: Runtime, broker: InMemoryBroker
) -> None:
    await broker.publish(
        [event(EventType.CREATED, str(uuid.uuid4()), 1, owner="local") for _ in range(5)]
    )

    async def stored() -> bool:
        return len(await rows(runtime, NotificationRow)) == 5

    await eventually(stored)
    seen: list[str] = []
    url: str | None = "/api/notifications?limit=2"
    while url:
        response = await client.get(url)
        seen += [n["id"] for n in response.json()]
        link = response.headers.get("link")
        url = link.split(">")[0].lstrip("<") if link else None
    assert len(seen) == len(set(seen)) == 5
    everything = (await client.get("/api/notifications")).json()
    assert [n["id"] for n in everything] == seen
