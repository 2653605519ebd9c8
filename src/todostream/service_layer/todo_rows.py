"""Turning validated fields into todo rows, keeping derived columns in step."""

from __future__ import annotations

import uuid
from datetime import datetime, tzinfo
from typing import Any

from todostream.domain.constitution import Decision, Verdict
from todostream.domain.deadline import Deadline
from todostream.domain.text_folding import fold
from todostream.domain.todo import Priority, Status, completed_at_for
from todostream.service_layer.commands import CreateTodo
from todostream.service_layer.views import deadline_of
from todostream.store.tables import TodoRow

EDITABLE_FIELDS = ("title", "description", "category", "priority", "status", "tags", "deadline")


def snapshot(row: TodoRow) -> dict[str, Any]:
    """The editable fields of `row` as domain values, for merging and comparing."""
    return {
        "title": row.title,
        "description": row.description,
        "category": row.category,
        "priority": Priority(row.priority),
        "status": Status(row.status),
        "tags": list(row.tags),
        "deadline": deadline_of(row),
    }


def draft_row(
    command: CreateTodo,
    owner_id: str,
    zone: tzinfo,
    verdict: Verdict,
    now: datetime,
    created_at: datetime | None = None,
    completed_at: datetime | None = None,
) -> TodoRow:
    """A new todo row; a flag puts it under review whatever status was asked for."""
    status = Status.FLAGGED if verdict.decision is Decision.FLAG else command.status
    row = TodoRow(
        id=uuid.uuid4(),
        owner_id=owner_id,
        created_at=created_at or now,
        updated_at=now,
        version=1,
        tags=[],
        check=verdict.as_dict(),
    )
    fields = {**command.model_dump(exclude={"status"}), "deadline": command.deadline}
    _assign(row, {**fields, "status": status}, zone, now)
    if status is Status.COMPLETED and completed_at is not None:
        row.completed_at = completed_at
    return row


def apply_fields(
    row: TodoRow, proposed: dict[str, Any], verdict: Verdict | None, zone: tzinfo, now: datetime
) -> dict[str, Any]:
    """Write `proposed` into `row` and return what changed as {field: {old, new}}."""
    before = snapshot(row)
    changes = {
        name: {"old": plain(before[name]), "new": plain(proposed[name])}
        for name in EDITABLE_FIELDS
        if before[name] != proposed[name]
    }
    if verdict is not None and verdict.as_dict() != row.check:
        changes["constitutional_check"] = {"old": row.check, "new": verdict.as_dict()}
        row.check = verdict.as_dict()
    if changes:
        _assign(row, proposed, zone, now)
    return changes


def _assign(row: TodoRow, fields: dict[str, Any], zone: tzinfo, now: datetime) -> None:
    old_status = Status(row.status) if row.status else None
    priority, status = Priority(fields["priority"]), Status(fields["status"])
    row.title, row.description, row.category = (
        fields["title"],
        fields["description"],
        fields["category"],
    )
    row.priority, row.priority_rank = priority.value, priority.rank
    row.status = status.value
    row.completed_at = completed_at_for(old_status, status, row.completed_at, now)
    row.tags = list(fields["tags"])
    row.search_text = fold(f"{row.title}\n{row.description or ''}")
    place_deadline(row, fields["deadline"], zone)


def place_deadline(row: TodoRow, deadline: Deadline | None, zone: tzinfo) -> None:
    """Store the deadline and the UTC interval it covers in the owner's time zone."""
    row.deadline_day = deadline.day if deadline else None
    row.deadline_instant = deadline.instant if deadline else None
    row.deadline_start, row.deadline_end = deadline.bounds(zone) if deadline else (None, None)


def plain(value: Any) -> Any:
    """A field value as it appears in JSON."""
    if isinstance(value, Deadline):
        return value.to_json()
    if isinstance(value, Priority | Status):
        return value.value
    return value
