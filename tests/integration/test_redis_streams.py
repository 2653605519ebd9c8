"""The Redis Streams broker against the real Redis server: acks, reclaiming, trimming."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis import asyncio as redis_asyncio

from tests.brokers import REDIS_HOST, free_port, redis_component, write_component
from tests.helpers import eventually
from todostream.pubsub.broker import BrokerUnavailable, Delivery, Message
from todostream.pubsub.component import Component, load_component
from todostream.pubsub.redis_streams import RedisStreamsBroker

pytestmark = pytest.mark.redis


@pytest.fixture
def component(tmp_path: Path) -> Component:
    return load_component(redis_component(tmp_path / "redis.yaml"))


@pytest.fixture
async def redis(component: Component) -> AsyncIterator[redis_asyncio.Redis]:
    host, port = REDIS_HOST.split(":")
    client = redis_asyncio.Redis(host=host, port=int(port))
    yield client
    prefix = component.get("streamPrefix")
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def messages(count: int) -> list[Message]:
    return [Message("todo-events", f"k{n % 5}", f"m{n}".encode()) for n in range(count)]


async def leave_pending(component: Component, sent: list[Message]) -> None:
    """Publish `sent` and stop a consumer that took them all without acknowledging any."""
    stalled = asyncio.Event()

    async def dies_holding(delivery: Delivery) -> None:
        stalled.set()
        await asyncio.Event().wait()

    first = RedisStreamsBroker(component)
    first.subscribe("todo-events", "group", dies_holding)
    await first.start()
    await first.publish(sent)
    await asyncio.wait_for(stalled.wait(), timeout=10)
    await first.stop()


async def test_messages_a_dead_consumer_left_pending_are_reclaimed_after_the_timeout(
    component: Component, redis: redis_asyncio.Redis
) -> None:
    finished: list[bytes] = []

    async def completes(delivery: Delivery) -> None:
        finished.append(delivery.value)

    await leave_pending(component, messages(5))
    second = RedisStreamsBroker(component)
    second.subscribe("todo-events", "group", completes)
    await second.start()
    try:

        async def all_reclaimed() -> bool:
            return len(finished) == 5

        await eventually(all_reclaimed, timeout_s=20)
        stream = component.get("streamPrefix", "") + "todo-events"
        assert sorted(finished) == sorted(f"m{n}".encode() for n in range(5))
        assert (await redis.xpending(stream, "group"))["pending"] == 0
    finally:
        await second.stop()


async def test_a_message_is_acknowledged_only_once_its_handler_returns(
    component: Component, redis: redis_asyncio.Redis
) -> None:
    attempts: list[bytes] = []

    async def fails_once(delivery: Delivery) -> None:
        attempts.append(delivery.value)
        if len(attempts) == 1:
            raise RuntimeError("database hiccup")

    broker = RedisStreamsBroker(component, redeliver_delay_ms=10)
    broker.subscribe("todo-events", "group", fails_once)
    await broker.start()
    try:
        await broker.publish(messages(2))

        async def both_handled() -> bool:
            return len(attempts) == 3

        await eventually(both_handled)
        stream = component.get("streamPrefix", "") + "todo-events"
        assert attempts == [b"m0", b"m0", b"m1"]
        assert (await redis.xpending(stream, "group"))["pending"] == 0
    finally:
        await broker.stop()


async def test_streams_are_kept_near_max_len_approx(
    tmp_path: Path, redis: redis_asyncio.Redis, component: Component
) -> None:
    metadata = {**component.metadata, "maxLenApprox": "500"}
    capped = load_component(write_component(tmp_path / "capped.yaml", "pubsub.redis", metadata))
    broker = RedisStreamsBroker(capped)
    await broker.start()
    try:
        for _ in range(10):
            await broker.publish(messages(500))
    finally:
        await broker.stop()

    length = await redis.xlen(capped.get("streamPrefix", "") + "todo-events")
    assert 500 <= length < 1000


async def test_publishing_to_an_unreachable_redis_raises_broker_unavailable(tmp_path: Path) -> None:
    closed = f"127.0.0.1:{free_port()}"
    path = write_component(tmp_path / "down.yaml", "pubsub.redis", {"redisHost": closed})
    broker = RedisStreamsBroker(load_component(path))
    await broker.start()
    try:
        with pytest.raises(BrokerUnavailable, match="Redis did not take"):
            await broker.publish(messages(1))
        assert not await broker.healthy()
    finally:
        await broker.stop()


async def test_consumer_groups_report_their_lag(component: Component) -> None:
    release = asyncio.Event()

    async def busy(delivery: Delivery) -> None:
        await release.wait()

    broker = RedisStreamsBroker(component)
    broker.subscribe("todo-events", f"lagging-{uuid.uuid4().hex[:4]}", busy)
    await broker.start()
    try:
        await broker.publish(messages(20))

        async def lag_known() -> bool:
            lag = await broker.lag()
            return bool(lag) and next(iter(lag.values())) == 20

        await eventually(lag_known)
    finally:
        release.set()
        await broker.stop()


async def test_a_consumer_that_stops_cleanly_leaves_its_group(
    component: Component, redis: redis_asyncio.Redis
) -> None:
    handled: list[bytes] = []

    async def record(delivery: Delivery) -> None:
        handled.append(delivery.value)

    broker = RedisStreamsBroker(component)
    broker.subscribe("todo-events", "group", record)
    await broker.start()
    await broker.publish(messages(3))

    async def all_handled() -> bool:
        return len(handled) == 3

    await eventually(all_handled)
    await broker.stop()

    stream = component.get("streamPrefix", "") + "todo-events"
    assert await redis.xinfo_consumers(stream, "group") == []


async def test_an_entry_from_another_producer_with_odd_fields_is_delivered_and_acknowledged(
    component: Component, redis: redis_asyncio.Redis
) -> None:
    received: list[Delivery] = []

    async def keep(delivery: Delivery) -> None:
        received.append(delivery)

    stream = component.get("streamPrefix", "") + "todo-events"
    await redis.xadd(stream, {"data": b"{}", "key": b"\xff", "headers": b"not json"})
    await redis.xadd(stream, {"data": b"{}", "headers": b"[1, 2]"})
    broker = RedisStreamsBroker(component)
    broker.subscribe("todo-events", "group", keep)
    await broker.start()
    try:

        async def both() -> bool:
            return len(received) == 2

        await eventually(both)
        assert [(d.key, d.headers) for d in received] == [("\ufffd", ()), (None, ())]
        assert (await redis.xpending(stream, "group"))["pending"] == 0
        assert await broker.healthy()
    finally:
        await broker.stop()


async def test_entries_a_dead_consumer_held_are_taken_over_mid_batch_and_handled_first(
    component: Component,
) -> None:
    finished: list[bytes] = []

    async def slowly(delivery: Delivery) -> None:
        await asyncio.sleep(0.15)
        finished.append(delivery.value)

    await leave_pending(component, messages(5))
    later = [Message("todo-events", "k", f"later{n}".encode()) for n in range(40)]
    second = RedisStreamsBroker(component)
    second.subscribe("todo-events", "group", slowly)
    await second.start()
    try:
        await second.publish(later)

        async def all_handled() -> bool:
            return len(finished) == 45

        await eventually(all_handled, timeout_s=30)
    finally:
        await second.stop()

    held = [finished.index(f"m{n}".encode()) for n in range(5)]
    assert held == sorted(held)
    assert max(held) < 40  # taken over while the 40 later entries were being handled


async def test_entries_trimmed_while_pending_are_dropped_with_a_warning(
    component: Component, redis: redis_asyncio.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    finished: list[bytes] = []

    async def completes(delivery: Delivery) -> None:
        finished.append(delivery.value)

    await leave_pending(component, messages(5))
    stream = component.get("streamPrefix", "") + "todo-events"
    await redis.xtrim(stream, maxlen=0)
    second = RedisStreamsBroker(component)
    second.subscribe("todo-events", "group", completes)
    await second.start()
    try:

        async def warned() -> bool:
            return any("trimmed" in record.getMessage() for record in caplog.records)

        await eventually(warned, timeout_s=20)
        assert finished == []
        assert (await redis.xpending(stream, "group"))["pending"] == 0
    finally:
        await second.stop()
