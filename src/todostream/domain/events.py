"""Todo events in the CloudEvents 1.0 structured-JSON envelope that Dapr also produces."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

EVENT_SOURCE = "todostream/api"
TODO_EVENTS_TOPIC = "todo-events"
NOTIFICATIONS_TOPIC = "todo-notifications"
AUDIT_TOPIC = "todo-audit"
TOPICS = (TODO_EVENTS_TOPIC, NOTIFICATIONS_TOPIC, AUDIT_TOPIC)
MAX_ID_LENGTH = 64


def json_object(value: bytes | str | None) -> dict[str, Any] | None:
    """`value` parsed, if it is a JSON object; None for anything else, too deep included."""
    try:
        document = json.loads(value or b"null")
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def dead_letter_topic(topic: str) -> str:
    return f"{topic}-dlq"


class EventType(StrEnum):
    CREATED = "todo_created"
    UPDATED = "todo_updated"
    DELETED = "todo_deleted"
    FLAGGED = "todo_flagged"
    BLOCKED = "todo_blocked"


class CloudEvent(BaseModel):
    """The envelope every consumer accepts, whether the relay or a Dapr sidecar delivered it.

    Unknown attributes (Dapr adds `topic`, `pubsubname`, `traceid`, ...) are kept, not refused.
    Ids and types fit the columns they are stored in; a time must carry its offset.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: str = "1.0"
    id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    subject: str | None = None
    time: AwareDatetime | None = None
    datacontenttype: str = "application/json"
    traceparent: str | None = None
    requestid: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("time")
    @classmethod
    def _representable_in_utc(cls, value: datetime | None) -> datetime | None:
        """Times are stored in UTC; one that falls outside years 1-9999 there cannot be."""
        if value is not None:
            try:
                value.astimezone(UTC)
            except OverflowError:
                raise ValueError("time is out of range once converted to UTC") from None
        return value

    @property
    def todo_id(self) -> str | None:
        todo = self.data.get("todo")
        if isinstance(todo, dict) and todo.get("id"):
            return str(todo["id"])
        return self.subject

    @property
    def owner_id(self) -> str | None:
        owner = self.data.get("owner_id")
        return str(owner) if owner is not None else None

    @property
    def version(self) -> int | None:
        version = self.data.get("version")
        return version if isinstance(version, int) else None


def new_todo_event(
    event_type: EventType,
    *,
    todo: dict[str, Any],
    owner_id: str,
    version: int,
    check: dict[str, Any],
    changes: dict[str, Any] | None = None,
    traceparent: str | None = None,
    request_id: str | None = None,
    now: datetime | None = None,
) -> CloudEvent:
    """Build the envelope of one todo change; `todo` is the todo as the API shows it.

    `traceparent` (W3C) and the `requestid` extension let one request be followed through the
    consumers' logs.
    """
    return CloudEvent(
        id=str(uuid.uuid4()),
        source=EVENT_SOURCE,
        type=event_type.value,
        subject=str(todo["id"]),
        time=(now or datetime.now(UTC)),
        traceparent=traceparent,
        requestid=request_id,
        data={
            "todo": todo,
            "owner_id": owner_id,
            "version": version,
            "constitutional_check": check,
            "changes": changes or {},
        },
    )


def derived_event(
    source_event: CloudEvent, *, source: str, type: str, data: dict[str, Any], now: datetime
) -> CloudEvent:
    """An event a consumer emits about one it handled, keeping its subject and trace."""
    return CloudEvent(
        id=str(uuid.uuid4()),
        source=source,
        type=type,
        subject=source_event.todo_id,
        time=now,
        traceparent=source_event.traceparent,
        requestid=source_event.requestid,
        data={**data, "event_id": source_event.id, "event_type": source_event.type},
    )


def to_json_bytes(event: CloudEvent) -> bytes:
    """Serialise without unset optional attributes, times in RFC 3339 UTC."""
    return event.model_dump_json(exclude_none=True).encode()
