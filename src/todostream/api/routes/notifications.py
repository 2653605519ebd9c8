"""The caller's notifications, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from todostream.api.deps import CallerDep, RuntimeDep
from todostream.service_layer.views import NotificationView

router = APIRouter(prefix="/api", tags=["notifications"])


@router.get("/notifications", response_model=list[NotificationView])
async def list_notifications(
    caller: CallerDep,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    todo_id: str | None = None,
) -> list[NotificationView]:
    """Notifications the notification service sent to the caller."""
    async with runtime.uow() as uow:
        rows = await uow.notifications.recent(caller.user_id, limit, todo_id)
    return [NotificationView.of(row) for row in rows]
