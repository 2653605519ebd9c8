"""Redis Streams through redis-py, configured by a Dapr `pubsub.redis` component.

Each topic is a stream; each consumer service is a consumer group on it. A message is
acknowledged (XACK) only after its effect is stored. Messages left pending by a consumer that
died are claimed by another after `processingTimeout` (XAUTOCLAIM), so nothing is lost; a
stream's length is capped near `maxLenApprox`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from typing import Any

from redis import asyncio as redis_asyncio
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError, ResponseError

from todostream.domain.events import json_object
from todostream.pubsub.broker import (
    Broker,
    BrokerUnavailable,
    Delivery,
    Message,
    Subscription,
    cancel_and_wait,
)
from todostream.pubsub.component import Component, ComponentError

log = logging.getLogger(__name__)

Entry = tuple[bytes, dict[bytes, bytes]]


class RedisSettings:
    def __init__(self, component: Component) -> None:
        host = component.get("redisHost") or ""
        if not host:
            raise ComponentError(f"{component.source}: pubsub.redis needs metadata redisHost")
        self.host, _, port = host.rpartition(":") if ":" in host else (host, "", "6379")
        self.port = int(port or 6379)
        self.username = component.get("redisUsername") or None
        self.password = component.get("redisPassword") or None
        self.db = component.get_int("redisDB", 0)
        self.tls = component.get_bool("enableTLS", False)
        self.processing_timeout_ms = component.get_duration_ms("processingTimeout", 60_000)
        self.redeliver_interval_ms = component.get_duration_ms("redeliverInterval", 60_000)
        self.max_len_approx = component.get_int("maxLenApprox", 0)
        self.queue_depth = component.get_int("queueDepth", 100)
        self.block_ms = component.get_duration_ms("blockTime", 1_000)
        self.prefix = component.get("streamPrefix") or ""

    def stream(self, topic: str) -> str:
        return f"{self.prefix}{topic}"


class RedisStreamsBroker(Broker):
    def __init__(self, component: Component, *, redeliver_delay_ms: int = 1000) -> None:
        super().__init__()
        self.settings = RedisSettings(component)
        self._redeliver_delay = redeliver_delay_ms / 1000
        self._client: redis_asyncio.Redis | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.consumer_name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.stopping = False

    def _connect(self) -> redis_asyncio.Redis:
        return redis_asyncio.Redis(
            host=self.settings.host,
            port=self.settings.port,
            db=self.settings.db,
            username=self.settings.username,
            password=self.settings.password,
            ssl=self.settings.tls,
            socket_timeout=max(5.0, self.settings.block_ms / 1000 + 5),
            socket_connect_timeout=5.0,
            health_check_interval=30,
            # One quick retry: the relay and the readers have their own backoff, so waiting
            # longer inside redis-py would only hold a batch (and its row locks) longer.
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=1),
        )

    async def start(self) -> None:
        self.stopping = False
        self._client = self._connect()
        for subscription in self.subscriptions:
            reader = _GroupReader(self, subscription)
            self._tasks.append(
                asyncio.create_task(reader.run(), name=f"redis-{subscription.group}")
            )

    async def stop(self) -> None:
        # redis-py may turn a cancellation inside a blocking read into its own TimeoutError;
        # the flag makes the readers leave even then.
        self.stopping = True
        await cancel_and_wait(self._tasks)
        self._tasks.clear()
        if self._client is not None:
            await self._leave_groups(self._client)
            await self._client.aclose()
            self._client = None

    async def _leave_groups(self, client: redis_asyncio.Redis) -> None:
        """Remove this consumer's name from its groups when it holds nothing, so names of
        stopped processes do not pile up; one still holding entries stays for XAUTOCLAIM."""
        for subscription in self.subscriptions:
            stream = self.settings.stream(subscription.topic)
            with contextlib.suppress(RedisError):
                held = await client.xpending_range(
                    stream, subscription.group, "-", "+", 1, consumername=self.consumer_name
                )
                if not held:
                    await client.xgroup_delconsumer(stream, subscription.group, self.consumer_name)

    async def publish(self, messages: Sequence[Message]) -> None:
        """XADD every message in one pipeline; returns once Redis has taken them all."""
        if self._client is None:
            raise BrokerUnavailable("the Redis client is not started")
        trim = self.settings.max_len_approx or None
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for message in messages:
                    fields = {
                        "data": message.value,
                        "key": message.key,
                        "headers": json.dumps(dict(message.headers)),
                    }
                    pipe.xadd(
                        self.settings.stream(message.topic),
                        fields,  # type: ignore[arg-type]
                        maxlen=trim,
                        approximate=True,
                    )
                await pipe.execute()
        except RedisError as exc:
            raise BrokerUnavailable(f"Redis did not take the messages: {exc!r}") from exc

    async def healthy(self) -> bool:
        """Redis answers and every reader is still running."""
        if self._client is None or any(task.done() for task in self._tasks):
            return False
        try:
            return bool(await self._client.ping())
        except RedisError:
            return False

    async def lag(self) -> dict[tuple[str, str, int], int]:
        """Entries each group has not finished: never delivered (`lag`) plus delivered but not
        yet acknowledged (`pending`), from XINFO GROUPS (Redis 7)."""
        if self._client is None:
            return {}
        result: dict[tuple[str, str, int], int] = {}
        for subscription in self.subscriptions:
            with contextlib.suppress(RedisError):
                groups = await self._client.xinfo_groups(self.settings.stream(subscription.topic))
                for group in groups:
                    name = _text(group.get("name"))
                    if name == subscription.group and group.get("lag") is not None:
                        unfinished = int(group["lag"]) + int(group.get("pending") or 0)
                        result[(name, subscription.topic, 0)] = unfinished
        return result


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _headers(raw: bytes | None) -> tuple[tuple[str, str], ...]:
    """The headers field as pairs; an entry written by another producer may hold anything."""
    decoded = json_object(raw) or {}
    return tuple(
        (name, value if isinstance(value, str) else json.dumps(value))
        for name, value in decoded.items()
    )


def _delivery(topic: str, entry_id: bytes, fields: dict[bytes, bytes]) -> Delivery:
    return Delivery(
        topic=topic,
        key=_text(fields.get(b"key", b"")) or None,
        value=fields.get(b"data", b""),
        position=_text(entry_id),
        headers=_headers(fields.get(b"headers")),
    )


class _GroupReader:
    """One consumer of a group: new entries in order, then what others left pending."""

    def __init__(self, broker: RedisStreamsBroker, subscription: Subscription) -> None:
        self.broker = broker
        self.settings = broker.settings
        self.subscription = subscription
        self.stream = broker.settings.stream(subscription.topic)
        self._next_reclaim = 0.0

    @property
    def client(self) -> redis_asyncio.Redis:
        assert self.broker._client is not None
        return self.broker._client

    async def run(self) -> None:
        """Read until stopped; Redis outages, and anything else, are waited out and retried."""
        while not self.broker.stopping:
            try:
                await self._ensure_group()
                await self._read_forever()
            except RedisError as exc:
                if self.broker.stopping:
                    return
                log.warning(
                    "Redis consumer lost its server; reconnecting",
                    extra={"group": self.subscription.group, "error": repr(exc)},
                )
                await asyncio.sleep(self.broker._redeliver_delay)
            except Exception:
                log.exception(
                    "Redis consumer failed; starting over",
                    extra={"group": self.subscription.group},
                )
                await asyncio.sleep(self.broker._redeliver_delay)

    async def _ensure_group(self) -> None:
        try:
            await self.client.xgroup_create(
                self.stream, self.subscription.group, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _read_forever(self) -> None:
        """Own pending entries first (they failed or were claimed), then new ones.

        Retrying what this consumer already holds before reading further keeps one stream's
        entries in order through a handler failure. Reclaiming is checked between entries, not
        only between batches: entries a dead consumer held are older than the batch in hand,
        and the consumers wait for them (version gaps) before applying what came later.
        """
        self._next_reclaim = 0.0
        while not self.broker.stopping:
            if self._reclaim_due():
                await self._reclaim()
            pending = await self._read("0")
            await self._handle(pending or await self._read(">"))

    def _reclaim_due(self) -> bool:
        now = asyncio.get_running_loop().time()
        return bool(self.settings.redeliver_interval_ms) and now >= self._next_reclaim

    async def _read(self, start: str) -> list[Entry]:
        response: Any = await self.client.xreadgroup(
            self.subscription.group,
            self.broker.consumer_name,
            {self.stream: start},
            count=self.settings.queue_depth,
            block=self.settings.block_ms if start == ">" else None,
        )
        entries: list[Entry] = []
        for _, stream_entries in response or []:
            entries += [entry for entry in stream_entries if entry[1]]
            trimmed = [entry[0] for entry in stream_entries if not entry[1]]
            if trimmed:
                # Entries trimmed by MAXLEN while pending carry no fields; drop them from the PEL.
                await self.client.xack(self.stream, self.subscription.group, *trimmed)
                self._report_trimmed(len(trimmed))
        return entries

    def _report_trimmed(self, count: int) -> None:
        log.warning(
            "pending messages were trimmed from the stream before they were handled; "
            "raise maxLenApprox",
            extra={"stream": self.stream, "group": self.subscription.group, "count": count},
        )

    async def _reclaim(self) -> None:
        """Take over entries another consumer has held longer than `processingTimeout`.

        Claimed entries join this consumer's pending list and are handled from there.
        """
        interval = self.settings.redeliver_interval_ms / 1000
        self._next_reclaim = asyncio.get_running_loop().time() + interval
        response: Any = await self.client.xautoclaim(
            self.stream,
            self.subscription.group,
            self.broker.consumer_name,
            min_idle_time=self.settings.processing_timeout_ms,
            start_id="0-0",
            count=self.settings.queue_depth,
        )
        claimed = [entry for entry in response[1] if entry[1]]
        deleted = response[2] if len(response) > 2 else []
        if deleted:
            self._report_trimmed(len(deleted))
        if claimed:
            log.info(
                "reclaimed pending messages", extra={"count": len(claimed), "stream": self.stream}
            )

    async def _handle(self, entries: list[Entry]) -> None:
        """Handle in order until one fails or reclaiming is due; the rest stay pending here
        and are read again, after any reclaimed entries older than them."""
        for index, (entry_id, fields) in enumerate(entries):
            if index and self._reclaim_due():
                return
            delivery = _delivery(self.subscription.topic, entry_id, fields)
            try:
                await self.subscription.handler(delivery)
            except Exception:
                log.exception(
                    "handler failed; the message stays pending for redelivery",
                    extra={"stream": self.stream, "id": delivery.position},
                )
                await asyncio.sleep(self.broker._redeliver_delay)
                return
            await self.client.xack(self.stream, self.subscription.group, entry_id)
