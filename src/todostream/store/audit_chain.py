"""The hash-chained audit log: each row's hash covers its content and the previous hash.

Changing, removing or reordering any row breaks the chain from that row on, and
`verify_chain` names the first row where it breaks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from todostream.domain.events import CloudEvent
from todostream.store.tables import AuditHeadRow, AuditRow

GENESIS_HASH = "0" * 64
HEAD_ID = 1


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(row: AuditRow) -> str:
    """SHA-256 over the previous hash and every recorded field of the row."""
    content = {
        "seq": row.seq,
        "event_id": row.event_id,
        "event_type": row.event_type,
        "todo_id": row.todo_id,
        "owner_id": row.owner_id,
        "event_time": row.event_time.isoformat() if row.event_time else None,
        "recorded_at": row.recorded_at.isoformat(),
        "payload": row.payload,
    }
    return hashlib.sha256(f"{row.prev_hash}\n{canonical_json(content)}".encode()).hexdigest()


async def append(session: AsyncSession, event: CloudEvent, now: datetime) -> AuditRow:
    """Add `event` at the end of the chain; the head row lock serialises writers."""
    head = await session.get(AuditHeadRow, HEAD_ID, with_for_update=True)
    if head is None:
        head = AuditHeadRow(id=HEAD_ID, seq=0, hash=GENESIS_HASH)
        session.add(head)
    row = AuditRow(
        seq=head.seq + 1,
        event_id=event.id,
        event_type=event.type,
        todo_id=event.todo_id or "",
        owner_id=event.owner_id,
        # Hashed as stored: the column keeps UTC, so an offset the event carried is not kept.
        event_time=event.time.astimezone(UTC) if event.time else None,
        recorded_at=now.astimezone(UTC),
        payload=canonical_json(event.model_dump(mode="json", exclude_none=True)),
        prev_hash=head.hash,
    )
    row.hash = row_hash(row)
    session.add(row)
    head.seq, head.hash = row.seq, row.hash
    return row


@dataclass(frozen=True, slots=True)
class ChainReport:
    rows: int
    first_bad_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


async def _rows(session: AsyncSession, chunk: int = 1000) -> AsyncIterator[AuditRow]:
    after = 0
    while True:
        query = select(AuditRow).where(AuditRow.seq > after).order_by(AuditRow.seq).limit(chunk)
        rows = (await session.scalars(query)).all()
        for row in rows:
            yield row
        if len(rows) < chunk:
            return
        after = rows[-1].seq
        session.expunge_all()


async def verify_snapshot(engine: AsyncEngine) -> ChainReport:
    """`verify_chain` over one snapshot of the log, so rows appended while it reads neither
    count nor look like rows removed from the end."""
    async with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection = await connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        async with connection.begin(), AsyncSession(bind=connection) as session:
            return await verify_chain(session)


async def verify_chain(session: AsyncSession) -> ChainReport:
    """Walk the chain from the start; report the first row that does not hold."""
    expected_seq, previous, count = 1, GENESIS_HASH, 0
    async for row in _rows(session):
        problem = _check(row, expected_seq, previous)
        if problem:
            return ChainReport(count, min(row.seq, expected_seq), problem)
        expected_seq, previous, count = row.seq + 1, row.hash, count + 1
    head = await session.get(AuditHeadRow, HEAD_ID)
    if head is not None and (head.seq, head.hash) != (expected_seq - 1, previous):
        return ChainReport(
            count,
            expected_seq,
            f"chain ends at row {expected_seq - 1} but the head records row {head.seq}:"
            " rows were removed from the end",
        )
    return ChainReport(count)


def _check(row: AuditRow, expected_seq: int, previous: str) -> str | None:
    if row.seq != expected_seq:
        return f"row {expected_seq} is missing (next row is {row.seq})"
    if row.prev_hash != previous:
        return f"row {row.seq} does not point at the hash of row {row.seq - 1}"
    if row_hash(row) != row.hash:
        return f"row {row.seq} was altered: its content no longer matches its hash"
    return None
