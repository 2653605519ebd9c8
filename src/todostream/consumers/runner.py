"""Turns broker deliveries into effects that happen once, in version order, or go to a DLQ.

Each event is applied in one transaction that also records its id (so a redelivery is a
no-op) and the todo version it brings (so order can be checked):

- version == last applied + 1, or a todo's first event: applied.
- a `todo_blocked` with version == last applied: a refused write that changed nothing;
  applied without moving the version.
- version > last + 1 (a gap: an earlier event has not been applied yet): retried with
  backoff for up to `gap_wait`, because the earlier event may still be in flight on another
  consumer; after that it is applied anyway and counted as `gap`. On a broker that keeps one
  key's messages in one partition (Kafka) nothing else can be in flight, so the wait is 0.
- version <= last (stale: a newer state is already applied, and this one arrives late, say
  reclaimed from a Redis consumer that died holding it): applied all the same, so no
  notification or audit record is lost, and counted as `stale`; the version never moves
  backwards.

A message that can never be handled (not JSON, not a CloudEvent, an unknown type, no todo)
goes straight to the dead-letter topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from todostream.domain.events import MAX_ID_LENGTH, CloudEvent, EventType
from todostream.observability.metrics import Metrics
from todostream.observability.tracing import request_id_var, traceparent_var
from todostream.pubsub.broker import Broker, Delivery, Message
from todostream.pubsub.dead_letter import dead_letter, park
from todostream.store.tables import AppliedVersionRow, ProcessedEventRow
from todostream.store.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

EVENT_TYPES = frozenset(EventType)


class Outcome(StrEnum):
    SUCCESS = "success"
    DUPLICATE = "duplicate"
    STALE = "stale"
    GAP = "gap"
    RETRY = "retry"
    DEAD_LETTERED = "dead_lettered"


class OutOfOrder(Exception):
    """An earlier version of this todo has not been applied yet."""


class PoisonMessage(Exception):
    """The message can never be processed as it is (not JSON, not a CloudEvent)."""


class EventHandler(Protocol):
    """A consumer's effect, applied inside the runner's transaction."""

    name: str

    async def apply(self, uow: UnitOfWork, event: CloudEvent, now: datetime) -> None: ...

    def after_commit(self, event: CloudEvent, outcome: Outcome) -> None: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long one delivery is tried before it is parked or handed back.

    `transient_attempts` bounds retries of infrastructure errors: None (pulling from Kafka or
    Redis) waits the outage out while holding the partition; a number (Dapr pushing over HTTP)
    gives the message back to the sidecar, which redelivers it later.
    """

    max_attempts: int = 5
    backoff_ms: int = 200
    max_backoff_ms: int = 10_000
    gap_wait_ms: int = 5_000
    transient_attempts: int | None = None

    def delay(self, attempt: int) -> float:
        ceiling = min(self.max_backoff_ms, self.backoff_ms * 2 ** min(attempt, 16)) / 1000
        return random.uniform(ceiling / 2, ceiling)


def is_transient(exc: BaseException) -> bool:
    """Infrastructure trouble that retrying fixes; never a reason to dead-letter."""
    if isinstance(exc, OperationalError | InterfaceError | IntegrityError | OSError | TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def decode(delivery: Delivery) -> CloudEvent:
    """The todo event a delivery carries, or PoisonMessage saying why it is none."""
    try:
        event = CloudEvent.model_validate(json.loads(delivery.value))
    except (ValueError, ValidationError, RecursionError) as exc:
        raise PoisonMessage(f"not a CloudEvent: {str(exc)[:500]}") from exc
    if event.type not in EVENT_TYPES:
        raise PoisonMessage(f"not a todo event type: {event.type[:100]!r}")
    todo_id = event.todo_id
    if not todo_id or len(todo_id) > MAX_ID_LENGTH:
        raise PoisonMessage(f"names no todo (or an id over {MAX_ID_LENGTH} characters)")
    return event


class ConsumerRunner:
    def __init__(
        self,
        service: str,
        handler: EventHandler,
        uow_factory: Callable[[], UnitOfWork],
        broker: Broker,
        metrics: Metrics,
        policy: RetryPolicy = RetryPolicy(),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.service = service
        self._handler = handler
        self._uow = uow_factory
        self._broker = broker
        self._metrics = metrics
        self._policy = policy
        self._clock = clock

    async def __call__(self, delivery: Delivery) -> None:
        """Handle one delivery; returning acknowledges it, raising leaves it for redelivery.

        While it is handled, the event's request id and trace are the context of every log line.
        """
        try:
            event = decode(delivery)
        except PoisonMessage as exc:
            await self._dead_letter(delivery, exc, attempts=1)
            return
        tokens = (request_id_var.set(event.requestid), traceparent_var.set(event.traceparent))
        try:
            outcome = await self._with_retries(event, delivery)
            self._record(event, outcome, delivery)
        finally:
            request_id_var.reset(tokens[0])
            traceparent_var.reset(tokens[1])

    async def _with_retries(self, event: CloudEvent, delivery: Delivery) -> Outcome:
        attempt, waited = 0, 0.0
        while True:
            attempt += 1
            try:
                return await self.process(event, force=waited * 1000 >= self._policy.gap_wait_ms)
            except OutOfOrder:
                delay = self._policy.delay(min(attempt, 4))
            except Exception as exc:
                if not is_transient(exc) and attempt >= self._policy.max_attempts:
                    await self._dead_letter(delivery, exc, attempts=attempt, event=event)
                    return Outcome.DEAD_LETTERED
                if is_transient(exc) and attempt >= (
                    self._policy.transient_attempts or attempt + 1
                ):
                    raise
                delay = self._policy.delay(attempt)
                self._log_retry(event, exc, attempt, delay)
            self._metrics.events_processed.labels(self.service, event.type, Outcome.RETRY).inc()
            await asyncio.sleep(delay)
            waited += delay

    async def process(self, event: CloudEvent, *, force: bool = False) -> Outcome:
        """Apply `event` once; `force` applies it even across a version gap."""
        now = self._clock()
        async with self._uow() as uow:
            if await uow.session.get(ProcessedEventRow, (self._handler.name, event.id)):
                return Outcome.DUPLICATE
            uow.session.add(
                ProcessedEventRow(consumer=self._handler.name, event_id=event.id, processed_at=now)
            )
            await uow.session.flush()
            outcome = await self._order(uow, event, force)
            await self._handler.apply(uow, event, now)
            await uow.commit()
        self._handler.after_commit(event, outcome)
        return outcome

    async def _order(self, uow: UnitOfWork, event: CloudEvent, force: bool) -> Outcome:
        """Decide how `event` stands against the last applied version (see module doc)."""
        version, todo_id = event.version, event.todo_id
        if version is None or todo_id is None or version == 0:
            return Outcome.SUCCESS
        query = select(AppliedVersionRow).where(
            AppliedVersionRow.consumer == self._handler.name, AppliedVersionRow.todo_id == todo_id
        )
        applied = (await uow.session.scalars(query.with_for_update())).one_or_none()
        last = applied.version if applied else 0
        if version == last and event.type == EventType.BLOCKED:
            return Outcome.SUCCESS
        if version <= last:
            return Outcome.STALE
        if version > last + 1 and not force:
            raise OutOfOrder(f"todo {todo_id}: got version {version}, last applied {last}")
        if applied is None:
            uow.session.add(
                AppliedVersionRow(consumer=self._handler.name, todo_id=todo_id, version=version)
            )
        else:
            applied.version = version
        return Outcome.GAP if version > last + 1 else Outcome.SUCCESS

    async def _dead_letter(
        self,
        delivery: Delivery,
        exc: BaseException,
        *,
        attempts: int,
        event: CloudEvent | None = None,
    ) -> None:
        """Park the message on `<topic>-dlq` with why it failed; raising here means retry.

        A parked event counts as processed, so a redelivery (or a replay after a restart)
        does not park it a second time.
        """
        why = {
            "error": repr(exc)[:1000],
            "original_topic": delivery.topic,
            "partition": str(delivery.partition),
            "position": delivery.position,
            "attempts": str(attempts),
            "consumer": self._handler.name,
        }
        original = Message(delivery.topic, delivery.key or "", delivery.value, delivery.headers)
        message = dead_letter(original, why)
        target = message.topic
        parked = await park(self._broker, message)
        log.error(
            "message dead-lettered"
            if parked
            else "message dropped: the dead-letter topic refused it even cut short",
            exc_info=exc,
            extra={"service": self.service, "topic": target, "attempts": attempts},
        )
        event_type = event.type if event is not None else "unknown"
        self._metrics.events_processed.labels(self.service, event_type, Outcome.DEAD_LETTERED).inc()
        if event is not None:
            await self._mark_processed(event)

    async def _mark_processed(self, event: CloudEvent) -> None:
        async with self._uow() as uow:
            if await uow.session.get(ProcessedEventRow, (self._handler.name, event.id)):
                return
            uow.session.add(
                ProcessedEventRow(
                    consumer=self._handler.name, event_id=event.id, processed_at=self._clock()
                )
            )
            with contextlib.suppress(IntegrityError):
                await uow.commit()

    def _record(self, event: CloudEvent, outcome: Outcome, delivery: Delivery) -> None:
        if outcome is not Outcome.DEAD_LETTERED:
            self._metrics.events_processed.labels(self.service, event.type, outcome).inc()
        lag = (self._clock() - event.time).total_seconds() if event.time else None
        if outcome in (Outcome.SUCCESS, Outcome.GAP) and lag is not None:
            self._metrics.processing_latency.labels(self.service).observe(max(lag, 0.0))
        level = logging.WARNING if outcome in (Outcome.GAP, Outcome.STALE) else logging.INFO
        log.log(
            level,
            "event handled",
            extra={
                "service": self.service,
                "event_id": event.id,
                "event_type": event.type,
                "todo_id": event.todo_id,
                "version": event.version,
                "outcome": outcome.value,
                "lag_ms": round(lag * 1000, 1) if lag is not None else None,
                "partition": delivery.partition,
            },
        )

    def _log_retry(self, event: CloudEvent, exc: Exception, attempt: int, delay: float) -> None:
        log.warning(
            "event handling failed; will retry",
            extra={
                "service": self.service,
                "event_id": event.id,
                "attempt": attempt,
                "retry_in_s": round(delay, 3),
                "error": repr(exc),
            },
        )
