"""Kafka through aiokafka, configured by a Dapr `pubsub.kafka` component.

Publishing waits for `acks=all`; consuming commits a partition's offset only after the handler
has stored the message's effect, so a crash or rebalance redelivers, never skips.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAlreadyExistsError,
)

from todostream.domain.events import TOPICS, dead_letter_topic
from todostream.pubsub.broker import (
    PARTITIONS,
    Broker,
    BrokerError,
    BrokerUnavailable,
    Delivery,
    Message,
    MessageRejected,
    Subscription,
    cancel_and_wait,
)
from todostream.pubsub.component import Component, ComponentError

log = logging.getLogger(__name__)

COMPRESSION = {"none": None, "gzip": "gzip", "snappy": "snappy", "lz4": "lz4", "zstd": "zstd"}
TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError)
OFFSETS = {"oldest": "earliest", "newest": "latest", "earliest": "earliest", "latest": "latest"}


class KafkaSettings:
    """The component's metadata, read once and checked, under the names Dapr gives them."""

    def __init__(self, component: Component) -> None:
        self.brokers = component.get("brokers") or ""
        if not self.brokers:
            raise ComponentError(f"{component.source}: pubsub.kafka needs metadata brokers")
        self.client_id = component.get("clientID") or f"todostream-{socket.gethostname()}"
        self.consumer_group = component.get("consumerGroup") or "todostream"
        self.auth = self._auth(component)
        self.max_message_bytes = component.get_int("maxMessageBytes", 1_048_576)
        self.initial_offset = self._initial_offset(component)
        self.compression = self._compression(component)
        self.linger_ms = component.get_int("lingerMs", 5)
        self.batch_bytes = component.get_int("batchBytes", 65_536)
        self.idempotence = component.get_bool("enableIdempotence", True)
        self.create_topics = component.get_bool("createTopics", True)
        self.partitions = component.get_int("partitions", PARTITIONS)
        self.replication_factor = component.get_int("replicationFactor", 1)
        self.session_timeout_ms = component.get_duration_ms("sessionTimeout", 10_000)
        self.heartbeat_interval_ms = component.get_duration_ms("heartbeatInterval", 3_000)
        self.request_timeout_ms = component.get_duration_ms("requestTimeout", 15_000)

    @staticmethod
    def _auth(component: Component) -> dict[str, Any]:
        auth_type = (component.get("authType") or "none").lower()
        if auth_type == "none":
            return {}
        if auth_type == "password":
            return {
                "security_protocol": "SASL_SSL"
                if component.get_bool("enableTLS", True)
                else "SASL_PLAINTEXT",
                "sasl_mechanism": component.get("saslMechanism") or "PLAIN",
                "sasl_plain_username": component.get("saslUsername"),
                "sasl_plain_password": component.get("saslPassword"),
            }
        raise ComponentError(f"{component.source}: authType {auth_type!r}: use none or password")

    @staticmethod
    def _initial_offset(component: Component) -> str:
        value = (component.get("initialOffset") or "oldest").lower()
        if value not in OFFSETS:
            raise ComponentError(f"{component.source}: initialOffset must be oldest or newest")
        return OFFSETS[value]

    @staticmethod
    def _compression(component: Component) -> str | None:
        value = (component.get("compression") or "none").lower()
        if value not in COMPRESSION:
            choices = ", ".join(COMPRESSION)
            raise ComponentError(f"{component.source}: compression must be one of {choices}")
        return COMPRESSION[value]


class KafkaBroker(Broker):
    ordered_per_key = True

    def __init__(self, component: Component, *, redeliver_delay_ms: int = 1000) -> None:
        super().__init__()
        self.settings = KafkaSettings(component)
        self._redeliver_delay = redeliver_delay_ms / 1000
        self._producer: AIOKafkaProducer | None = None
        self._consumers: list[_GroupConsumer] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._topics_ready = False

    async def start(self) -> None:
        """Begin consuming, and connect the producer if Kafka answers.

        An unreachable Kafka does not stop the process: consumers keep reconnecting, publishing
        connects on first use (the outbox holds the events meanwhile), and /readyz says so.
        """
        try:
            await self._connect()
        except BrokerUnavailable as exc:
            log.warning(
                "Kafka unreachable at start; will connect when it answers",
                extra={"brokers": self.settings.brokers, "error": str(exc)},
            )
        for subscription in self.subscriptions:
            consumer = _GroupConsumer(
                self.settings, subscription, self._redeliver_delay, self._prepare_topics
            )
            self._consumers.append(consumer)
            self._tasks.append(
                asyncio.create_task(consumer.run(), name=f"kafka-{subscription.group}")
            )

    async def _prepare_topics(self, recheck: bool = False) -> None:
        """Make our topics before anyone publishes or subscribes, once, and again after the
        broker failed us: one that creates topics on first use (tansu) would give them its own
        partition count, and one that lost its state has none."""
        if recheck:
            self._topics_ready = False
        if self.settings.create_topics and not self._topics_ready:
            await self.ensure_topics()
            self._topics_ready = True

    async def _connect(self) -> None:
        await self._prepare_topics()
        producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.brokers,
            client_id=self.settings.client_id,
            acks="all",
            enable_idempotence=self.settings.idempotence,
            compression_type=self.settings.compression,
            linger_ms=self.settings.linger_ms,
            max_batch_size=self.settings.batch_bytes,
            max_request_size=self.settings.max_message_bytes,
            request_timeout_ms=self.settings.request_timeout_ms,
            **self.settings.auth,
        )
        try:
            await producer.start()
        except KafkaError as exc:
            await producer.stop()
            raise BrokerUnavailable(
                f"cannot reach Kafka at {self.settings.brokers}: {exc!r}"
            ) from exc
        self._producer = producer

    async def stop(self) -> None:
        for consumer in self._consumers:
            consumer.stopping = True
        await cancel_and_wait(self._tasks)
        self._tasks.clear()
        self._consumers.clear()
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def ensure_topics(self, topics: Sequence[str] = TOPICS) -> None:
        """Create missing topics (and their dead-letter topics) with the configured partitions."""
        names = [*topics, *(dead_letter_topic(topic) for topic in topics)]
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.settings.brokers,
            client_id=self.settings.client_id,
            request_timeout_ms=self.settings.request_timeout_ms,
            **self.settings.auth,
        )
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            wanted = [
                NewTopic(name, self.settings.partitions, self.settings.replication_factor)
                for name in names
                if name not in existing
            ]
            if wanted:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(wanted)
                log.info("created topics", extra={"topics": ",".join(t.name for t in wanted)})
        except KafkaError as exc:
            raise BrokerUnavailable(f"cannot create topics: {exc}") from exc
        finally:
            await admin.close()

    async def publish(self, messages: Sequence[Message]) -> None:
        """Send and wait for every acknowledgement.

        After a failure the topics are checked again first: a broker that lost its state (as an
        in-memory one does on restart) would otherwise auto-create them with its own defaults.
        """
        if self._producer is None:
            await self._connect()
        else:
            await self._prepare_topics()
        assert self._producer is not None
        try:
            pending = [
                await self._producer.send(
                    message.topic,
                    value=message.value,
                    key=message.key.encode(),
                    headers=[(name, value.encode()) for name, value in message.headers],
                )
                for message in messages
            ]
            await asyncio.gather(*pending)
        except TOO_LARGE as exc:
            raise MessageRejected(f"Kafka refused a message as too large: {exc!r}") from exc
        except KafkaError as exc:
            self._topics_ready = False
            error = BrokerUnavailable if getattr(exc, "retriable", True) else BrokerError
            raise error(f"Kafka did not acknowledge: {exc!r}") from exc

    async def healthy(self) -> bool:
        """Connected, and the cluster answers a metadata request within two seconds."""
        if self._producer is None or any(task.done() for task in self._tasks):
            return False
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout=2)
        except (KafkaError, TimeoutError, OSError):
            return False
        return True

    async def lag(self) -> dict[tuple[str, str, int], int]:
        result: dict[tuple[str, str, int], int] = {}
        for consumer in self._consumers:
            try:
                result.update(await consumer.lag())
            except (KafkaError, OSError) as exc:
                log.debug("lag unavailable", extra={"error": repr(exc)})
        return result


class _GroupConsumer:
    """One member of a consumer group: partitions in parallel, messages in order within each."""

    def __init__(
        self,
        settings: KafkaSettings,
        subscription: Subscription,
        delay: float,
        prepare: Callable[[bool], Awaitable[None]],
    ) -> None:
        self.settings = settings
        self.subscription = subscription
        self.delay = delay
        self.prepare = prepare
        self.lost_broker = False
        self.consumer: AIOKafkaConsumer | None = None
        self.stopping = False

    async def run(self) -> None:
        """Consume until stopped; a broken connection, or anything else, is rebuilt after a pause.

        Nothing a message or the broker does may end this loop: a dead consumer would leave its
        partitions assigned to a member that never reads them.
        """
        while not self.stopping:
            try:
                await self._consume()
            except (KafkaError, BrokerError) as exc:
                self.lost_broker = True
                log.warning(
                    "Kafka consumer lost its broker; reconnecting",
                    extra={"group": self.subscription.group, "error": repr(exc)},
                )
                await asyncio.sleep(self.delay)
            except Exception:
                log.exception(
                    "Kafka consumer failed; reconnecting",
                    extra={"group": self.subscription.group},
                )
                await asyncio.sleep(self.delay)
            finally:
                await self._close()

    async def _consume(self) -> None:
        await self.prepare(self.lost_broker)
        self.lost_broker = False
        self.consumer = AIOKafkaConsumer(
            self.subscription.topic,
            bootstrap_servers=self.settings.brokers,
            client_id=self.settings.client_id,
            group_id=self.subscription.group,
            enable_auto_commit=False,
            auto_offset_reset=self.settings.initial_offset,
            session_timeout_ms=self.settings.session_timeout_ms,
            heartbeat_interval_ms=self.settings.heartbeat_interval_ms,
            request_timeout_ms=max(
                self.settings.request_timeout_ms, self.settings.session_timeout_ms + 5000
            ),
            **self.settings.auth,
        )
        await self.consumer.start()
        while not self.stopping:
            batch = await self.consumer.getmany(timeout_ms=1000, max_records=500)
            await asyncio.gather(*(self._partition(tp, records) for tp, records in batch.items()))

    async def _partition(self, tp: TopicPartition, records: list[ConsumerRecord[Any, Any]]) -> None:
        """Handle one partition's records in order, committing after each stored effect."""
        assert self.consumer is not None
        for record in records:
            try:
                await self.subscription.handler(_delivery(record))
            except Exception:
                log.exception(
                    "handler failed; the message will be delivered again",
                    extra={"partition": tp.partition, "offset": record.offset},
                )
                self.consumer.seek(tp, record.offset)
                await asyncio.sleep(self.delay)
                return
            await self.consumer.commit({tp: record.offset + 1})

    async def lag(self) -> dict[tuple[str, str, int], int]:
        """Messages behind the fetch high-water mark, for the partitions this member owns.

        The group's committed offset is asked of the broker: after a rebalance another member
        may have moved it, and a local note of our own last commit would be stale.
        """
        consumer = self.consumer
        if consumer is None:
            return {}
        result = {}
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            committed = await consumer.committed(tp)
            position = committed if committed is not None else await self._start_of(tp, highwater)
            result[(self.subscription.group, tp.topic, tp.partition)] = max(highwater - position, 0)
        return result

    async def _start_of(self, tp: TopicPartition, highwater: int) -> int:
        """Where a group that never committed on `tp` begins: the log's start when it reads
        from the oldest message (all of it is behind), else the end."""
        assert self.consumer is not None
        if self.settings.initial_offset != "earliest":
            return highwater
        return int((await self.consumer.beginning_offsets([tp]))[tp])

    async def _close(self) -> None:
        if self.consumer is not None:
            with contextlib.suppress(KafkaError):
                await self.consumer.stop()
            self.consumer = None


def _delivery(record: ConsumerRecord[Any, Any]) -> Delivery:
    """The broker-neutral view of a record; undecodable keys and headers arrive replaced."""
    return Delivery(
        topic=record.topic,
        key=record.key.decode(errors="replace") if record.key else None,
        value=record.value or b"",
        partition=record.partition,
        position=str(record.offset),
        headers=tuple(
            (name, (value or b"").decode(errors="replace")) for name, value in record.headers or ()
        ),
    )
