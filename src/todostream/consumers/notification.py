"""Notifications: one per todo event, stored for its owner and logged as one line."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from todostream.consumers.runner import Outcome
from todostream.domain.events import NOTIFICATIONS_TOPIC, CloudEvent, EventType, derived_event
from todostream.observability.metrics import Metrics
from todostream.store.tables import NotificationRow
from todostream.store.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

SERVICE = "notification"
_TEMPLATES = {
    EventType.CREATED: "New todo: {title}",
    EventType.UPDATED: "Todo updated: {title}",
    EventType.DELETED: "Todo deleted: {title}",
    EventType.FLAGGED: "Todo flagged for review: {title}",
    EventType.BLOCKED: "Todo blocked: {title}",
}


def compose(event: CloudEvent) -> NotificationRow:
    """The notification an event deserves; the reason is given for flags and blocks."""
    todo = event.data.get("todo") or {}
    title = str(todo.get("title") or "(untitled)")[:500]
    try:
        event_type = EventType(event.type)
        message = _TEMPLATES[event_type].format(title=title)
    except ValueError:
        event_type, message = None, f"{event.type}: {title}"
    reason = None
    if event_type in (EventType.FLAGGED, EventType.BLOCKED):
        reason = (event.data.get("constitutional_check") or {}).get("reason")
    changed = sorted(set(event.data.get("changes") or {}) - {"constitutional_check"})
    if event_type is EventType.UPDATED and changed:
        message += f" (changed: {', '.join(changed)})"
    return NotificationRow(
        id=uuid.uuid4(),
        event_id=event.id,
        owner_id=event.owner_id or "",
        todo_id=event.todo_id or "",
        event_type=event.type,
        title=title,
        message=message if reason is None else f"{message}: {reason}",
        reason=reason,
    )


class NotificationHandler:
    """Sends (stores and logs) a notification for every event, a late one included: a late
    notice tells its owner more than none."""

    name = SERVICE

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def apply(self, uow: UnitOfWork, event: CloudEvent, now: datetime) -> None:
        """Store the notification and route it to `todo-notifications`, in one transaction."""
        notification = compose(event)
        notification.created_at = now
        uow.notifications.add(notification)
        routed = derived_event(
            event,
            source="todostream/notification",
            type="notification_sent",
            data={
                "notification_id": str(notification.id),
                "owner_id": notification.owner_id,
                "title": notification.title,
                "message": notification.message,
                "reason": notification.reason,
            },
            now=now,
        )
        uow.add_event(
            routed, topic=NOTIFICATIONS_TOPIC, key=notification.todo_id or event.id, now=now
        )

    def after_commit(self, event: CloudEvent, outcome: Outcome) -> None:
        """Log and count only what was stored, once the transaction has committed."""
        if outcome is Outcome.DUPLICATE:
            return
        notification = compose(event)
        self._metrics.notifications_sent.labels(event_type=event.type).inc()
        log.info(
            "notification sent",
            extra={
                "event_type": event.type,
                "event_id": event.id,
                "todo_id": notification.todo_id,
                "owner_id": notification.owner_id,
                "title": notification.title,
                "reason": notification.reason,
            },
        )
