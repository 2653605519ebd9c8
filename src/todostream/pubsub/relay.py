"""The outbox relay: publishes committed events in order, then marks them sent.

A crash between the broker's acknowledgement and the mark leaves the events pending, so
they are published again; consumers deduplicate by event id. Delivery is at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from todostream.observability.metrics import Metrics
from todostream.pubsub.broker import (
    Broker,
    BrokerError,
    Message,
    MessageRejected,
    cancel_and_wait,
)
from todostream.pubsub.dead_letter import dead_letter, park
from todostream.store import outbox
from todostream.store.tables import OutboxRow

log = logging.getLogger(__name__)

STOP_GRACE_S = 5.0

PRUNE_EVERY = timedelta(minutes=5)
GAUGES_EVERY = timedelta(seconds=1)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def message_of(row: OutboxRow) -> Message:
    headers = [("event_id", row.event_id), ("event_type", row.event_type)]
    traceparent = json.loads(row.payload).get("traceparent")
    if traceparent:
        headers.append(("traceparent", traceparent))
    return Message(row.topic, row.partition_key, row.payload.encode(), tuple(headers))


class OutboxRelay:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        broker: Broker,
        metrics: Metrics,
        *,
        batch_size: int = 200,
        poll_interval_ms: int = 500,
        max_backoff_ms: int = 30_000,
        retention: timedelta = timedelta(hours=24),
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._sessions = session_factory
        self._broker = broker
        self._metrics = metrics
        self._batch_size = batch_size
        self._poll_interval = poll_interval_ms / 1000
        self._max_backoff = max_backoff_ms / 1000
        self._retention = retention
        self._clock = clock
        self._wakeup = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._last_prune = datetime.min.replace(tzinfo=UTC)
        self._last_gauges = datetime.min.replace(tzinfo=UTC)

    def wake(self) -> None:
        """Ask for a pass now (called after a local commit staged events)."""
        self._wakeup.set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._stopping = False
        self._stop_requested.clear()
        self._task = asyncio.create_task(self.run(), name="outbox-relay")

    async def stop(self) -> None:
        """Stop between passes: a pass in flight may finish, so no query is cut off half-way
        (SQLite's driver thread would answer a closed loop); past STOP_GRACE_S it is
        cancelled, and events it had not marked are published again later."""
        self._stopping = True
        self._wakeup.set()
        self._stop_requested.set()
        if self._task is None:
            return
        finished, _ = await asyncio.wait([self._task], timeout=STOP_GRACE_S)
        if not finished:
            await cancel_and_wait([self._task])
        self._task = None

    async def run(self) -> None:
        """Publish until stopped, backing off while the broker or database is down."""
        failures = 0
        while not self._stopping:
            try:
                published = await self.publish_pending()
                failures = 0
            except (BrokerError, OSError, TimeoutError) as exc:
                failures += 1
                await self._note_failure(exc, failures)
                continue
            except Exception:
                failures += 1
                self._metrics.relay_failures.inc()
                log.exception("relay pass failed", extra={"failures": failures})
                await self._refresh_gauges_if_possible()
                await self._pause(self._backoff(failures))
                continue
            if published < self._batch_size:
                await self._idle()

    async def publish_pending(self) -> int:
        """One pass: publish everything pending, batch by batch; returns how many went."""
        total = 0
        while True:
            sent = await self.publish_batch()
            total += sent
            if sent < self._batch_size:
                break
        await self._maintain()
        return total

    async def publish_batch(self) -> int:
        """Claim, publish and mark one batch in one transaction; returns its size."""
        async with self._sessions() as session, session.begin():
            rows = await outbox.claim_batch(session, self._batch_size)
            if not rows:
                return 0
            try:
                await self._broker.publish([message_of(row) for row in rows])
            except MessageRejected:
                await self._publish_one_by_one(session, rows)
            await outbox.mark_published(session, [row.id for row in rows], self._clock())
        for row in rows:
            self._metrics.events_published.labels(event_type=row.event_type).inc()
        log.debug("published events", extra={"count": len(rows), "last_id": rows[-1].id})
        return len(rows)

    async def _publish_one_by_one(self, session: AsyncSession, rows: Sequence[OutboxRow]) -> None:
        """Find the events the broker refuses as such (too large, say) and park them, cut
        short, on their dead-letter topic: one event no broker takes must not hold back every
        event after it. The row keeps the whole event and says where it went."""
        for row in rows:
            message = message_of(row)
            try:
                await self._broker.publish([message])
            except MessageRejected as exc:
                why = {"error": repr(exc)[:1000], "original_topic": row.topic, "relay": "outbox"}
                parked = await park(self._broker, dead_letter(message, why))
                outcome = "parked on the dead-letter topic" if parked else "dropped"
                reason = f"refused by the broker ({exc!r}), {outcome}"
                await outbox.record_failure(session, [row.id], reason)
                self._metrics.outbox_rejected.labels(topic=row.topic).inc()
                log.error(
                    "event refused by the broker",
                    extra={"event_id": row.event_id, "topic": row.topic, "outcome": outcome},
                )

    async def _note_failure(self, exc: Exception, failures: int) -> None:
        self._metrics.relay_failures.inc()
        delay = self._backoff(failures)
        log.warning(
            "broker did not take the events; will retry",
            extra={"error": repr(exc), "failures": failures, "retry_in_s": round(delay, 2)},
        )
        with contextlib.suppress(Exception):
            await self._record_failure(repr(exc))
        await self._refresh_gauges_if_possible()
        await self._pause(delay)

    async def _pause(self, seconds: float) -> None:
        """Back off for `seconds`, or until asked to stop."""
        await _wait_at_most(self._stop_requested, seconds)

    async def _refresh_gauges_if_possible(self) -> None:
        """While publishing fails the backlog grows: the gauges must show it (the outbox alerts
        read them), as long as the database still answers."""
        with contextlib.suppress(Exception):
            await self._maintain()

    async def _record_failure(self, error: str) -> None:
        async with self._sessions() as session, session.begin():
            rows = await outbox.claim_batch(session, self._batch_size)
            await outbox.record_failure(session, [row.id for row in rows], error)

    def _backoff(self, failures: int) -> float:
        """Exponential with full jitter, from the poll interval up to the configured cap."""
        ceiling = min(self._max_backoff, self._poll_interval * 2 ** min(failures, 16))
        return random.uniform(self._poll_interval, max(self._poll_interval, ceiling))

    async def _idle(self) -> None:
        await _wait_at_most(self._wakeup, self._poll_interval)
        self._wakeup.clear()

    async def _maintain(self) -> None:
        """Refresh the backlog gauges (at most each second) and now and then prune old events."""
        now = self._clock()
        if now - self._last_gauges < GAUGES_EVERY:
            return
        self._last_gauges = now
        async with self._sessions() as session, session.begin():
            backlog = await outbox.backlog(session)
            if now - self._last_prune >= PRUNE_EVERY:
                self._last_prune = now
                await outbox.prune_published(session, now - self._retention)
        self._metrics.outbox_pending.set(backlog.pending)
        self._metrics.outbox_oldest_age.set(backlog.oldest_age(now).total_seconds())


async def _wait_at_most(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
