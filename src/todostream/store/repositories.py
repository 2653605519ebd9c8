"""Repositories: the queries the service layer needs, scoped to one owner."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from todostream.store.database import dialect_of
from todostream.store.tables import NotificationRow, TodoRow, UserRow
from todostream.store.todo_query import (
    Cursor,
    PageRequest,
    TodoFilter,
    cursor_after,
    filtered,
    ordered_page,
)


class TodoRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def dialect(self) -> str:
        return dialect_of(self.session)

    async def get(
        self, owner_id: str, todo_id: uuid.UUID, *, for_update: bool = False
    ) -> TodoRow | None:
        """The owner's todo, or None; another owner's todo is as absent as a missing one."""
        query = select(TodoRow).where(TodoRow.id == todo_id, TodoRow.owner_id == owner_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.scalars(query)).one_or_none()

    def add(self, todo: TodoRow) -> None:
        self.session.add(todo)

    async def delete(self, todo: TodoRow) -> None:
        await self.session.delete(todo)

    async def page(
        self, owner_id: str, where: TodoFilter, page: PageRequest
    ) -> tuple[list[TodoRow], Cursor | None]:
        """One page of the owner's todos and the cursor of the next page, if there is one."""
        query = ordered_page(filtered(select(TodoRow), owner_id, where, self.dialect), page)
        rows = list((await self.session.execute(query)).all())
        if len(rows) <= page.limit:
            return [row for row, _ in rows], None
        last, sort_value = rows[page.limit - 1]
        return [row for row, _ in rows[: page.limit]], cursor_after(last, sort_value, page.sort)

    async def count(self, owner_id: str, where: TodoFilter) -> int:
        query = filtered(select(func.count()).select_from(TodoRow), owner_id, where, self.dialect)
        return int((await self.session.execute(query)).scalar_one())

    async def counts_by(self, owner_id: str, column_name: str) -> dict[str, int]:
        column = getattr(TodoRow, column_name)
        query = select(column, func.count()).where(TodoRow.owner_id == owner_id).group_by(column)
        return {
            str(value): int(count) for value, count in (await self.session.execute(query)).all()
        }

    async def with_day_deadlines(self, owner_id: str) -> Sequence[TodoRow]:
        """Todos whose deadline is a whole day, to move when the owner changes time zone."""
        query = (
            select(TodoRow)
            .where(TodoRow.owner_id == owner_id, TodoRow.deadline_day.is_not(None))
            .order_by(TodoRow.id)
        )
        return (await self.session.scalars(query.with_for_update())).all()


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: str) -> UserRow | None:
        return await self.session.get(UserRow, user_id)

    async def lock(self, user_id: str) -> UserRow | None:
        """The user's row, locked until the transaction ends, so that changes of one user's
        settings (and the todos they move) happen one at a time."""
        return await self.session.get(
            UserRow, user_id, with_for_update=True, populate_existing=True
        )

    async def get_or_create(self, user_id: str, now: datetime) -> UserRow:
        """The user's row, created with default settings the first time they appear.

        Two first requests of one user may race; the insert ignores the loser's conflict.
        """
        user = await self.get(user_id)
        if user is not None:
            return user
        insert = pg_insert if dialect_of(self.session) == "postgresql" else sqlite_insert
        statement = insert(UserRow).values(id=user_id, time_zone="UTC", created_at=now)
        await self.session.execute(statement.on_conflict_do_nothing(index_elements=["id"]))
        user = await self.get(user_id)
        assert user is not None
        return user


class NotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, notification: NotificationRow) -> None:
        self.session.add(notification)

    async def page(
        self,
        owner_id: str,
        limit: int,
        todo_id: str | None = None,
        after: tuple[datetime, uuid.UUID] | None = None,
    ) -> tuple[list[NotificationRow], tuple[datetime, uuid.UUID] | None]:
        """Newest first; `after` is the (created_at, id) of the previous page's last row."""
        query = select(NotificationRow).where(NotificationRow.owner_id == owner_id)
        if todo_id is not None:
            query = query.where(NotificationRow.todo_id == todo_id)
        if after is not None:
            moment, last_id = after
            query = query.where(
                or_(
                    NotificationRow.created_at < moment,
                    and_(NotificationRow.created_at == moment, NotificationRow.id < last_id),
                )
            )
        query = query.order_by(NotificationRow.created_at.desc(), NotificationRow.id.desc())
        rows = list((await self.session.scalars(query.limit(limit + 1))).all())
        if len(rows) <= limit:
            return rows, None
        last = rows[limit - 1]
        return rows[:limit], (last.created_at, last.id)
