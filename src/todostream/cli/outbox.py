"""`todostream outbox`: look at the relay's backlog, and replay what a broker lost."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from todostream.config import Settings


async def backlog(settings: Settings) -> tuple[int, timedelta]:
    """Events waiting for the relay, and the age of the oldest."""
    from todostream.store import outbox
    from todostream.store.database import create_engine, create_session_factory

    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            found = await outbox.backlog(session)
    finally:
        await engine.dispose()
    return found.pending, found.oldest_age(datetime.now(UTC))


async def replay_unconsumed(settings: Settings, consumers: Sequence[str]) -> int:
    """Mark todo events that any of `consumers` never processed as unpublished again."""
    from todostream.domain.events import TODO_EVENTS_TOPIC
    from todostream.store import outbox
    from todostream.store.database import create_engine, create_session_factory

    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            return await outbox.unpublish_unconsumed(session, TODO_EVENTS_TOPIC, consumers)
    finally:
        await engine.dispose()
