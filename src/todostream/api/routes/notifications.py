"""The caller's notifications, newest first, in pages."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import TypeAdapter

from todostream.api.deps import CallerDep, RuntimeDep
from todostream.api.errors import documented
from todostream.api.query import checked_text, next_page
from todostream.domain.errors import InvalidField
from todostream.service_layer.views import NotificationView
from todostream.store.todo_query import cursor_document

router = APIRouter(prefix="/api", tags=["notifications"], responses=documented(401, 503))
_NOTIFICATIONS = TypeAdapter(list[NotificationView])


def _encode(position: tuple[datetime, uuid.UUID]) -> str:
    raw = json.dumps({"t": position[0].isoformat(), "id": str(position[1])})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    raw = cursor_document(cursor)
    try:
        moment = datetime.fromisoformat(raw["t"])
        if moment.utcoffset() is None:
            raise ValueError("no zone")
        return moment.astimezone(UTC), uuid.UUID(raw["id"])
    except (ValueError, KeyError, TypeError, OverflowError):
        raise InvalidField(["query", "cursor"], "cursor is not one this service issued") from None


@router.get("/notifications", response_model=list[NotificationView])
async def list_notifications(
    request: Request,
    caller: CallerDep,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    todo_id: str | None = None,
    cursor: str | None = None,
) -> Response:
    """Notifications the notification service sent to the caller; older pages via Link."""
    checked = checked_text("cursor", cursor)
    after = _decode(checked) if checked else None
    async with runtime.uow() as uow:
        rows, last = await uow.notifications.page(
            caller.user_id, limit, checked_text("todo_id", todo_id), after
        )
    headers = {}
    if last is not None:
        headers["Link"] = f'<{next_page(request, _encode(last))}>; rel="next"'
    body = _NOTIFICATIONS.dump_json([NotificationView.of(row) for row in rows])
    return Response(body, media_type="application/json", headers=headers)
