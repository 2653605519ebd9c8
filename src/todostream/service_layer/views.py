"""Read models: a todo as clients and events see it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from todostream.domain.constitution import Decision
from todostream.domain.deadline import Deadline
from todostream.domain.todo import Priority, Status
from todostream.store.tables import NotificationRow, TodoRow


class RuleRef(BaseModel):
    id: str
    reason: str


class ConstitutionalCheck(BaseModel):
    passed: bool
    decision: Decision
    reason: str
    rules: list[RuleRef] = Field(default_factory=list)


class TodoView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    title: str
    description: str | None
    category: str
    priority: Priority
    status: Status
    tags: list[str]
    deadline: str | None = Field(
        description="A date (the whole day in the owner's time zone) or a UTC date-time."
    )
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    version: int
    constitutional_check: ConstitutionalCheck

    def event_payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def deadline_of(row: TodoRow) -> Deadline | None:
    if row.deadline_day is not None:
        return Deadline(day=row.deadline_day)
    if row.deadline_instant is not None:
        return Deadline(instant=row.deadline_instant)
    return None


def check_view(check: dict[str, Any]) -> ConstitutionalCheck:
    return ConstitutionalCheck.model_construct(
        passed=check["passed"],
        decision=Decision(check["decision"]),
        reason=check["reason"],
        rules=[
            RuleRef.model_construct(id=rule["id"], reason=rule["reason"]) for rule in check["rules"]
        ],
    )


def todo_view(row: TodoRow) -> TodoView:
    """The view of a stored row; built without re-validating what the database holds."""
    deadline = deadline_of(row)
    return TodoView.model_construct(
        id=row.id,
        title=row.title,
        description=row.description,
        category=row.category,
        priority=Priority(row.priority),
        status=Status(row.status),
        tags=list(row.tags),
        deadline=deadline.to_json() if deadline else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
        completed_at=row.completed_at,
        version=row.version,
        constitutional_check=check_view(row.check),
    )


class Stats(BaseModel):
    total: int
    by_status: dict[str, int]
    by_category: dict[str, int]
    by_priority: dict[str, int]
    completion_rate: float = Field(description="Completed todos as a percentage of all, 0-100.")
    overdue: int


class NotificationView(BaseModel):
    id: uuid.UUID
    event_id: str
    event_type: str
    todo_id: str
    title: str
    message: str
    reason: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: NotificationRow) -> NotificationView:
        return cls.model_validate(row, from_attributes=True)


class Profile(BaseModel):
    id: str
    time_zone: str
