"""What every broker offers: publish with acknowledgement, and group consumption."""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

PARTITIONS = 3


class BrokerError(Exception):
    """A broker operation failed; `retriable` says whether trying again can help."""

    retriable = False


class BrokerUnavailable(BrokerError):
    """The broker cannot be reached or did not acknowledge in time; retry later."""

    retriable = True


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
    """A pub/sub backend named by a component file. Subscribe before `start()`."""

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
