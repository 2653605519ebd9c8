"""What every broker offers: publish with acknowledgement, and group consumption."""

from __future__ import annotations

import asyncio
import logging
import zlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

PARTITIONS = 3
STOP_TIMEOUT_S = 10.0

log = logging.getLogger(__name__)


class BrokerError(Exception):
    """A broker operation failed; `retriable` says whether trying again can help."""

    retriable = False


class BrokerUnavailable(BrokerError):
    """The broker cannot be reached or did not acknowledge in time; retry later."""

    retriable = True


class MessageRejected(BrokerError):
    """The broker refuses this message itself (too large, say); it never takes it as it is."""


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    key: str
    value: bytes
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Delivery:
    """A received message; `position` is the offset or stream id, for logs."""

    topic: str
    key: str | None
    value: bytes
    partition: int = 0
    position: str = ""
    headers: tuple[tuple[str, str], ...] = ()


Handler = Callable[[Delivery], Awaitable[None]]
"""Returning acknowledges the message; raising leaves it to be delivered again."""


@dataclass(frozen=True, slots=True)
class Subscription:
    topic: str
    group: str
    handler: Handler = field(compare=False)


def partition_for(key: str, partitions: int = PARTITIONS) -> int:
    """A stable partition for `key`, so one todo's events share one ordered partition."""
    return zlib.crc32(key.encode()) % partitions


class Broker(ABC):
    """A pub/sub backend named by a component file. Subscribe before `start()`.

    `durable` is False for a broker that forgets what it holds when the process ends.
    `ordered_per_key` is True for a broker that hands one key's messages, in order, to one
    member of a group at a time: a version gap there is never filled by waiting, since the
    missing event could only come later in the same partition.
    """

    durable = True
    ordered_per_key = False

    def __init__(self) -> None:
        self.subscriptions: list[Subscription] = []

    def subscribe(self, topic: str, group: str, handler: Handler) -> None:
        self.subscriptions.append(Subscription(topic, group, handler))

    @abstractmethod
    async def start(self) -> None:
        """Connect, create missing topics, and begin delivering to subscribers."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop delivering and disconnect; unacknowledged messages are delivered again later."""

    @abstractmethod
    async def publish(self, messages: Sequence[Message]) -> None:
        """Return once every message is acknowledged; raise BrokerError otherwise."""

    async def healthy(self) -> bool:
        return True

    async def lag(self) -> dict[tuple[str, str, int], int]:
        """Messages not yet consumed per (group, topic, partition), where the broker tells."""
        return {}


async def cancel_and_wait(
    tasks: Iterable[asyncio.Task[Any]], timeout_s: float = STOP_TIMEOUT_S
) -> None:
    """Cancel background tasks and wait, for a bounded time, until they have finished.

    The bound matters: a client library that swallows a cancellation inside a blocking read
    would otherwise hold shutdown forever (seen with redis-py under test).
    """
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    if not pending:
        return
    _, stuck = await asyncio.wait(pending, timeout=timeout_s)
    for task in stuck:
        log.warning("background task did not stop in time", extra={"task": task.get_name()})
