"""The embedded broker: partitioned topics and consumer groups inside one process.

It keeps Kafka's guarantees that the rest of the code relies on (per-key order within a
partition, at-least-once delivery to each group, redelivery of what a handler failed) so the
same consumers run unchanged on it. Nothing survives the process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from todostream.pubsub.broker import (
    PARTITIONS,
    Broker,
    Delivery,
    Handler,
    Message,
    Subscription,
    cancel_and_wait,
    partition_for,
)

log = logging.getLogger(__name__)

UNSUBSCRIBED_RETENTION = 10_000


@dataclass
class _Partition:
    """An append-only log whose consumed prefix is dropped to bound memory."""

    base: int = 0
    messages: list[Message] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def end(self) -> int:
        return self.base + len(self.messages)

    def trim_to(self, offset: int) -> None:
        if offset > self.base:
            del self.messages[: offset - self.base]
            self.base = offset


class InMemoryBroker(Broker):
    durable = False

    def __init__(self, *, partitions: int = PARTITIONS, redeliver_delay_ms: int = 500) -> None:
        super().__init__()
        self._partition_count = partitions
        self._redeliver_delay = redeliver_delay_ms / 1000
        self._topics: dict[str, list[_Partition]] = {}
        self._committed: dict[tuple[str, str, int], int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False

    def _partitions(self, topic: str) -> list[_Partition]:
        if topic not in self._topics:
            self._topics[topic] = [_Partition() for _ in range(self._partition_count)]
        return self._topics[topic]

    def subscribe(self, topic: str, group: str, handler: Handler) -> None:
        """Subscribe; on a running broker delivery starts at once, from the retained start."""
        super().subscribe(topic, group, handler)
        if self._running:
            self._start_consuming(self.subscriptions[-1])

    async def start(self) -> None:
        self._running = True
        for subscription in self.subscriptions:
            self._start_consuming(subscription)

    def _start_consuming(self, subscription: Subscription) -> None:
        for number in range(self._partition_count):
            position = (subscription.group, subscription.topic, number)
            self._committed.setdefault(position, self._partitions(subscription.topic)[number].base)
            self._tasks.append(asyncio.create_task(self._consume(subscription, number)))

    async def stop(self) -> None:
        self._running = False
        await cancel_and_wait(self._tasks)
        self._tasks.clear()

    async def publish(self, messages: Sequence[Message]) -> None:
        for message in messages:
            partition = self._partitions(message.topic)[partition_for(message.key)]
            partition.messages.append(message)
            partition.arrived.set()
            if not any(sub.topic == message.topic for sub in self.subscriptions):
                partition.trim_to(partition.end - UNSUBSCRIBED_RETENTION)

    def retained(self, topic: str) -> list[Message]:
        """What a topic still holds, oldest first per partition (for inspection and tests)."""
        return [message for partition in self._partitions(topic) for message in partition.messages]

    async def lag(self) -> dict[tuple[str, str, int], int]:
        return {
            (group, topic, number): self._partitions(topic)[number].end - offset
            for (group, topic, number), offset in self._committed.items()
        }

    async def _consume(self, subscription: Subscription, number: int) -> None:
        position = (subscription.group, subscription.topic, number)
        partition = self._partitions(subscription.topic)[number]
        while True:
            offset = self._committed[position]
            if offset >= partition.end:
                partition.arrived.clear()
                await partition.arrived.wait()
                continue
            message = partition.messages[offset - partition.base]
            if await self._deliver(subscription, message, number, offset):
                self._committed[position] = offset + 1
                self._trim(subscription.topic, number)

    async def _deliver(
        self, subscription: Subscription, message: Message, number: int, offset: int
    ) -> bool:
        delivery = Delivery(
            topic=message.topic,
            key=message.key,
            value=message.value,
            partition=number,
            position=str(offset),
            headers=message.headers,
        )
        try:
            await subscription.handler(delivery)
            return True
        except Exception:
            log.exception(
                "handler failed; redelivering",
                extra={"topic": message.topic, "partition": number, "offset": offset},
            )
            await asyncio.sleep(self._redeliver_delay)
            return False

    def _trim(self, topic: str, number: int) -> None:
        """Drop what every group of this topic has consumed."""
        offsets = [
            offset
            for (_, name, part), offset in self._committed.items()
            if name == topic and part == number
        ]
        self._partitions(topic)[number].trim_to(min(offsets))
