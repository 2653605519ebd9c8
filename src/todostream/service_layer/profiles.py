"""User settings that shape how todos are read: for now, the time zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from todostream.domain.deadline import InvalidTimeZone, parse_time_zone
from todostream.domain.errors import InvalidField
from todostream.service_layer.todo_rows import place_deadline
from todostream.service_layer.todos import Caller, utc_now
from todostream.service_layer.views import Profile, deadline_of
from todostream.store.unit_of_work import UnitOfWork


class ProfileService:
    def __init__(
        self, uow_factory: Callable[[], UnitOfWork], clock: Callable[[], datetime] = utc_now
    ) -> None:
        self._uow = uow_factory
        self._clock = clock

    async def get(self, caller: Caller) -> Profile:
        async with self._uow() as uow:
            user = await uow.users.get_or_create(caller.user_id, self._clock())
            await uow.commit()
        return Profile(id=user.id, time_zone=user.time_zone)

    async def set_time_zone(self, caller: Caller, name: str) -> Profile:
        """Change the zone; whole-day deadlines move with it, exact instants do not."""
        try:
            zone = parse_time_zone(name)
        except InvalidTimeZone as exc:
            raise InvalidField(["body", "time_zone"], str(exc)) from None
        async with self._uow() as uow:
            await uow.users.get_or_create(caller.user_id, self._clock())
            user = await uow.users.lock(caller.user_id)
            assert user is not None
            user.time_zone = zone.key
            for row in await uow.todos.with_day_deadlines(user.id):
                place_deadline(row, deadline_of(row), zone)
            await uow.commit()
        return Profile(id=user.id, time_zone=user.time_zone)
