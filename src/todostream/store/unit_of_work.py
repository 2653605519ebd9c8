"""The unit of work: one transaction in which a change and its events commit together."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from todostream.domain.events import CloudEvent
from todostream.store.outbox import add_event
from todostream.store.repositories import NotificationRepository, TodoRepository, UserRepository


class UnitOfWork:
    """Nothing is kept unless `commit()` is called; leaving the block discards the rest.

    Closing (rather than rolling back) keeps loaded rows readable after the block, so a
    read-only use case can build its views once the connection is back in the pool.

    `on_events_committed` runs after a commit that staged events, so an in-process relay can
    publish at once instead of waiting for its next poll.
    """

    session: AsyncSession
    todos: TodoRepository
    users: UserRepository
    notifications: NotificationRepository

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        on_events_committed: Callable[[], None] | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._on_events_committed = on_events_committed
        self._staged_events = 0

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._session_factory()
        self.todos = TodoRepository(self.session)
        self.users = UserRepository(self.session)
        self.notifications = NotificationRepository(self.session)
        self._staged_events = 0
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.session.close()

    def add_event(self, event: CloudEvent, *, topic: str, key: str, now: datetime) -> None:
        add_event(self.session, event, topic=topic, key=key, now=now)
        self._staged_events += 1

    async def commit(self) -> None:
        await self.session.commit()
        if self._staged_events and self._on_events_committed is not None:
            self._on_events_committed()
        self._staged_events = 0


UnitOfWorkFactory = Callable[[], UnitOfWork]
