"""Todo use cases: every change is checked by the policy and recorded as an event."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from todostream.domain.constitution import Constitution, Decision, RuleMatch, Verdict
from todostream.domain.deadline import Deadline, parse_time_zone
from todostream.domain.errors import (
    ConstitutionalViolation,
    InvalidField,
    InvalidTransition,
    TodoNotFound,
)
from todostream.domain.events import TODO_EVENTS_TOPIC, EventType, new_todo_event
from todostream.domain.todo import Priority, Status
from todostream.service_layer.commands import (
    CONTENT_FIELDS,
    FLAGGED_BY_POLICY_ONLY,
    CreateTodo,
    ReviewTodo,
    UpdateTodo,
)
from todostream.service_layer.preconditions import check_if_match
from todostream.service_layer.todo_rows import apply_fields, draft_row, plain, snapshot
from todostream.service_layer.views import Stats, TodoView, todo_view
from todostream.store.tables import TodoRow, UserRow
from todostream.store.todo_query import Cursor, PageRequest, Sort, TodoFilter
from todostream.store.unit_of_work import UnitOfWork

OFFLOAD_CHARACTERS = 2_000


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking, and the trace their request belongs to."""

    user_id: str
    traceparent: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class ListTodos:
    """The list endpoint's query: filters, sort order and page position."""

    categories: tuple[str, ...] = ()
    statuses: tuple[Status, ...] = ()
    priorities: tuple[Priority, ...] = ()
    tags: tuple[str, ...] = ()
    search: str | None = None
    deadline_after: Deadline | None = None
    deadline_before: Deadline | None = None
    overdue: bool | None = None
    sort: str = "-created_at"
    limit: int = 100
    cursor: str | None = None

    def filter(self, zone: tzinfo, now: datetime) -> TodoFilter:
        """Day bounds are inclusive: after=D starts at D's first moment, before=D ends with D.
        A date-time bound is exact: before=T keeps deadlines due by T."""
        return TodoFilter(
            categories=self.categories,
            statuses=tuple(status.value for status in self.statuses),
            priorities=tuple(priority.value for priority in self.priorities),
            tags=self.tags,
            search=self.search,
            deadline_after=self.deadline_after.bounds(zone)[0] if self.deadline_after else None,
            deadline_starts_before=_day_end(self.deadline_before, zone),
            deadline_ends_by=self.deadline_before.instant if self.deadline_before else None,
            overdue=self.overdue,
            now=now,
        )


def _day_end(bound: Deadline | None, zone: tzinfo) -> datetime | None:
    """`before=D` (a day) keeps deadlines that begin by the end of D, whatever their kind."""
    return bound.bounds(zone)[1] if bound is not None and bound.day is not None else None


@dataclass(frozen=True, slots=True)
class Page:
    todos: list[TodoView]
    next_cursor: str | None


def parse_todo_id(text: str) -> uuid.UUID:
    """A todo id that is not a UUID names no todo, so it is a 404 like any unknown id."""
    try:
        return uuid.UUID(text)
    except (ValueError, AttributeError, TypeError):
        raise TodoNotFound(text) from None


class TodoService:
    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        constitution: Constitution,
        clock: Callable[[], datetime] = utc_now,
        observe: Callable[[str], None] = lambda operation: None,
    ) -> None:
        self._uow = uow_factory
        self._constitution = constitution
        self._clock = clock
        self._observe = observe

    def check(self, fields: dict[str, Any]) -> Verdict:
        return self._constitution.check(
            title=fields["title"],
            description=fields.get("description"),
            category=fields.get("category"),
            tags=fields.get("tags") or (),
        )

    async def _checked(self, fields: dict[str, Any]) -> Verdict:
        """Long text is checked in a worker thread: tens of milliseconds of regular expressions
        would otherwise stall every other request, health probes included."""
        size = len(fields["title"]) + len(fields.get("description") or "")
        size += sum(len(tag) for tag in fields.get("tags") or ())
        if size < OFFLOAD_CHARACTERS:
            return self.check(fields)
        return await asyncio.to_thread(self.check, fields)

    async def create(
        self,
        caller: Caller,
        command: CreateTodo,
        *,
        created_at: datetime | None = None,
        completed_at: datetime | None = None,
    ) -> TodoView:
        """Store a new todo with its event, or only a `todo_blocked` event if policy blocks it."""
        now = self._clock()
        verdict = await self._checked(command.model_dump())
        async with self._uow() as uow:
            user = await uow.users.get_or_create(caller.user_id, now)
            zone = parse_time_zone(user.time_zone)
            row = draft_row(command, user.id, zone, verdict, now, created_at, completed_at)
            if verdict.decision is Decision.BLOCK:
                row.version = 0
                await self._commit_event(uow, EventType.BLOCKED, row, caller, now)
                raise ConstitutionalViolation(verdict)
            uow.todos.add(row)
            flagged = verdict.decision is Decision.FLAG
            event_type = EventType.FLAGGED if flagged else EventType.CREATED
            await self._commit_event(uow, event_type, row, caller, now)
        self._observe("create")
        return todo_view(row)

    async def update(
        self, caller: Caller, todo_id: str, command: UpdateTodo, if_match: str | None = None
    ) -> TodoView:
        """Apply the fields the caller sent; changed content is checked by the policy again."""
        now = self._clock()
        async with self._uow() as uow:
            user, row = await self._load(uow, caller, todo_id, if_match, now)
            _refuse_leaving_review(row, command)
            proposed = {**snapshot(row), **command.changes()}
            verdict = await self._verdict_for(row, proposed)
            if verdict is not None and verdict.decision is Decision.BLOCK:
                await self._reject_update(uow, row, user, proposed, verdict, caller, now)
            proposed["status"] = _status_after(row, proposed, verdict)
            zone = parse_time_zone(user.time_zone)
            changes = apply_fields(row, proposed, verdict, zone, now)
            if changes:
                row.version, row.updated_at = row.version + 1, now
                flagged = changes.get("status", {}).get("new") == Status.FLAGGED.value
                event_type = EventType.FLAGGED if flagged else EventType.UPDATED
                await self._commit_event(uow, event_type, row, caller, now, changes)
        self._observe("update")
        return todo_view(row)

    async def delete(self, caller: Caller, todo_id: str, if_match: str | None = None) -> uuid.UUID:
        now = self._clock()
        async with self._uow() as uow:
            _, row = await self._load(uow, caller, todo_id, if_match, now)
            await self._remove(uow, row, EventType.DELETED, caller, now)
        self._observe("delete")
        return row.id

    async def review(
        self, caller: Caller, todo_id: str, command: ReviewTodo, if_match: str | None = None
    ) -> TodoView | None:
        """Approve a flagged todo (back to pending) or block it (removed); both are events."""
        now = self._clock()
        async with self._uow() as uow:
            user, row = await self._load(uow, caller, todo_id, if_match, now)
            if row.status != Status.FLAGGED.value:
                raise InvalidTransition(f"todo {row.id} is {row.status}, not waiting for review")
            if command.decision == "block":
                row.check = _reviewed(row, Decision.BLOCK, command.note).as_dict()
                await self._remove(uow, row, EventType.BLOCKED, caller, now)
                self._observe("delete")
                return None
            verdict = _reviewed(row, Decision.ALLOW, command.note)
            proposed = {**snapshot(row), "status": Status.PENDING}
            changes = apply_fields(row, proposed, verdict, parse_time_zone(user.time_zone), now)
            row.version, row.updated_at = row.version + 1, now
            await self._commit_event(uow, EventType.UPDATED, row, caller, now, changes)
        self._observe("update")
        return todo_view(row)

    async def get(self, caller: Caller, todo_id: str) -> TodoView:
        async with self._uow() as uow:
            row = await uow.todos.get(caller.user_id, parse_todo_id(todo_id))
        if row is None:
            raise TodoNotFound(todo_id)
        self._observe("read")
        return todo_view(row)

    async def page(self, caller: Caller, query: ListTodos) -> Page:
        """One page of the caller's todos; date bounds are days in the caller's time zone."""
        sort = Sort.parse(query.sort)
        cursor = Cursor.decode(query.cursor, sort) if query.cursor else None
        async with self._uow() as uow:
            user = await uow.users.get(caller.user_id)
            where = query.filter(parse_time_zone(user.time_zone if user else "UTC"), self._clock())
            request = PageRequest(sort=sort, limit=query.limit, cursor=cursor)
            rows, cursor = await uow.todos.page(caller.user_id, where, request)
        self._observe("list")
        return Page([todo_view(row) for row in rows], cursor.encode() if cursor else None)

    async def stats(self, caller: Caller) -> Stats:
        owner = caller.user_id
        async with self._uow() as uow:
            by_status = await uow.todos.counts_by(owner, "status")
            by_priority = await uow.todos.counts_by(owner, "priority")
            by_category = await uow.todos.counts_by(owner, "category")
            overdue = await uow.todos.count(owner, TodoFilter(overdue=True, now=self._clock()))
        total = sum(by_status.values())
        completed = by_status.get(Status.COMPLETED.value, 0)
        return Stats(
            total=total,
            by_status={status.value: by_status.get(status.value, 0) for status in Status},
            by_category=by_category,
            by_priority={
                priority.value: by_priority.get(priority.value, 0) for priority in Priority
            },
            completion_rate=round(100 * completed / total, 2) if total else 0.0,
            overdue=overdue,
        )

    async def _load(
        self, uow: UnitOfWork, caller: Caller, todo_id: str, if_match: str | None, now: datetime
    ) -> tuple[UserRow, TodoRow]:
        """The caller's todo, locked for this transaction, after checking If-Match."""
        todo_uuid = parse_todo_id(todo_id)
        user = await uow.users.get_or_create(caller.user_id, now)
        row = await uow.todos.get(user.id, todo_uuid, for_update=True)
        if row is None:
            raise TodoNotFound(todo_id)
        check_if_match(if_match, row.version)
        return user, row

    async def _verdict_for(self, row: TodoRow, proposed: dict[str, Any]) -> Verdict | None:
        """A fresh verdict when content changed; None keeps the standing one."""
        before = snapshot(row)
        if all(before[name] == proposed[name] for name in CONTENT_FIELDS):
            return None
        return await self._checked(proposed)

    async def _reject_update(
        self,
        uow: UnitOfWork,
        row: TodoRow,
        user: UserRow,
        proposed: dict[str, Any],
        verdict: Verdict,
        caller: Caller,
        now: datetime,
    ) -> None:
        """Record the refused update as a `todo_blocked` event; the todo stays as it was."""
        status = Status.PENDING if row.status == Status.FLAGGED.value else Status(row.status)
        command = CreateTodo.model_validate({**proposed, "status": status})
        attempt = draft_row(command, user.id, parse_time_zone(user.time_zone), verdict, now)
        attempt.id, attempt.version, attempt.created_at = row.id, row.version, row.created_at
        before = snapshot(row)
        changes = {
            name: {"old": plain(before[name]), "new": plain(proposed[name])}
            for name in CONTENT_FIELDS
            if before[name] != proposed[name]
        }
        await self._commit_event(uow, EventType.BLOCKED, attempt, caller, now, changes)
        raise ConstitutionalViolation(verdict)

    async def _remove(
        self, uow: UnitOfWork, row: TodoRow, event_type: EventType, caller: Caller, now: datetime
    ) -> None:
        await uow.todos.delete(row)
        row.version += 1
        await self._commit_event(uow, event_type, row, caller, now)

    async def _commit_event(
        self,
        uow: UnitOfWork,
        event_type: EventType,
        row: TodoRow,
        caller: Caller,
        now: datetime,
        changes: dict[str, Any] | None = None,
    ) -> None:
        """Stage the event of this change beside it and commit both together."""
        event = new_todo_event(
            event_type,
            todo=todo_view(row).event_payload(),
            owner_id=row.owner_id,
            version=row.version,
            check=row.check,
            changes=changes,
            traceparent=caller.traceparent,
            request_id=caller.request_id,
            now=now,
        )
        uow.add_event(event, topic=TODO_EVENTS_TOPIC, key=str(row.id), now=now)
        await uow.commit()


def _refuse_leaving_review(row: TodoRow, command: UpdateTodo) -> None:
    """Review is entered and left by the policy and reviewers only; a client may still send a
    flagged todo back as it read it."""
    wanted = command.changes().get("status")
    if wanted is Status.FLAGGED and row.status != Status.FLAGGED.value:
        raise InvalidField(["body", "status"], FLAGGED_BY_POLICY_ONLY)
    if row.status == Status.FLAGGED.value and wanted not in (None, Status.FLAGGED):
        raise InvalidTransition(
            f"todo {row.id} is flagged; it leaves review through POST /api/todos/{row.id}/review"
        )


def _status_after(row: TodoRow, proposed: dict[str, Any], verdict: Verdict | None) -> Status:
    """A flag puts the todo under review; content that no longer matches takes it out."""
    if verdict is None:
        return Status(proposed["status"])
    if verdict.decision is Decision.FLAG:
        return Status.FLAGGED
    if Status(proposed["status"]) is Status.FLAGGED:
        return Status.PENDING
    return Status(proposed["status"])


def _reviewed(row: TodoRow, decision: Decision, note: str | None) -> Verdict:
    """The reviewer's verdict, keeping the rules that caused the flag."""
    verb = "Approved" if decision is Decision.ALLOW else "Blocked"
    reason = f"{verb} on review: {note}" if note else f"{verb} on review."
    rules = tuple(RuleMatch(rule["id"], rule["reason"]) for rule in row.check.get("rules", []))
    return Verdict(decision=decision, reason=reason, rules=rules)
