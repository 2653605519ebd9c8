"""The transactional outbox: events stored beside the change they record, then relayed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from todostream.domain.events import CloudEvent, to_json_bytes
from todostream.store.database import dialect_of
from todostream.store.tables import OutboxRow, ProcessedEventRow


def add_event(
    session: AsyncSession, event: CloudEvent, *, topic: str, key: str, now: datetime
) -> None:
    """Stage `event` in the caller's transaction; it is relayed only if that commits."""
    session.add(
        OutboxRow(
            event_id=event.id,
            event_type=event.type,
            topic=topic,
            partition_key=key,
            payload=to_json_bytes(event).decode(),
            created_at=now,
            attempts=0,
        )
    )


async def claim_batch(session: AsyncSession, limit: int) -> list[OutboxRow]:
    """Lock up to `limit` pending events that no other relay holds, oldest first.

    On PostgreSQL rows locked by another relay are skipped. A claimed event is left out when an
    earlier pending event with the same key is not in this batch, so one todo's events are
    never published out of order, whichever relay holds the earlier one.
    """
    query = select(OutboxRow).where(OutboxRow.published_at.is_(None)).order_by(OutboxRow.id)
    query = query.limit(limit)
    if dialect_of(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list((await session.scalars(query)).all())
    if not rows:
        return rows
    held_back = await _first_foreign_pending(session, rows)
    return [row for row in rows if row.id < held_back.get(row.partition_key, row.id + 1)]


async def _first_foreign_pending(
    session: AsyncSession, rows: Sequence[OutboxRow]
) -> dict[str, int]:
    """For each key in `rows`, the first pending event of that key that `rows` lacks."""
    query = (
        select(OutboxRow.partition_key, func.min(OutboxRow.id))
        .where(
            OutboxRow.published_at.is_(None),
            OutboxRow.partition_key.in_({row.partition_key for row in rows}),
            OutboxRow.id.not_in([row.id for row in rows]),
            OutboxRow.id < rows[-1].id,
        )
        .group_by(OutboxRow.partition_key)
    )
    return dict((await session.execute(query)).all())


async def mark_published(session: AsyncSession, ids: Sequence[int], now: datetime) -> None:
    await session.execute(update(OutboxRow).where(OutboxRow.id.in_(ids)).values(published_at=now))


async def record_failure(session: AsyncSession, ids: Sequence[int], error: str) -> None:
    await session.execute(
        update(OutboxRow)
        .where(OutboxRow.id.in_(ids))
        .values(attempts=OutboxRow.attempts + 1, last_error=error[:2000])
    )


async def prune_published(session: AsyncSession, older_than: datetime) -> int:
    """Delete events published before `older_than`; returns how many went."""
    result = await session.execute(
        delete(OutboxRow).where(
            OutboxRow.published_at.is_not(None), OutboxRow.published_at < older_than
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def unpublish_unconsumed(session: AsyncSession, topic: str, consumers: Sequence[str]) -> int:
    """Mark published events of `topic` that a consumer never processed as pending again.

    For a broker that loses its messages with the process: whatever it held undelivered is
    published anew, and the consumers skip what they had handled after all.
    """
    missing = [
        ~exists().where(
            ProcessedEventRow.consumer == consumer, ProcessedEventRow.event_id == OutboxRow.event_id
        )
        for consumer in consumers
    ]
    result = await session.execute(
        update(OutboxRow)
        .where(OutboxRow.topic == topic, OutboxRow.published_at.is_not(None), or_(*missing))
        .values(published_at=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True, slots=True)
class Backlog:
    pending: int
    oldest_created_at: datetime | None

    def oldest_age(self, now: datetime) -> timedelta:
        return now - self.oldest_created_at if self.oldest_created_at else timedelta(0)


async def backlog(session: AsyncSession) -> Backlog:
    query = select(func.count(), func.min(OutboxRow.created_at)).where(
        OutboxRow.published_at.is_(None)
    )
    count, oldest = (await session.execute(query)).one()
    return Backlog(pending=int(count), oldest_created_at=oldest)
