"""todo.txt import and export through the same use cases as the API.

Every imported line is an ordinary create (policy check, event, its own transaction), so a
bad or blocked line never stops the rest and a failure part-way keeps what came before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from todostream.domain.deadline import Deadline, parse_time_zone
from todostream.domain.errors import ConstitutionalViolation
from todostream.domain.todo import Priority, Status
from todostream.service_layer.commands import CreateTodo
from todostream.service_layer.todos import Caller, TodoService, utc_now
from todostream.service_layer.views import deadline_of
from todostream.store.repositories import TodoRepository
from todostream.store.tables import TodoRow
from todostream.store.todo_query import Cursor, PageRequest, Sort, TodoFilter
from todostream.store.unit_of_work import UnitOfWork
from todostream.todotxt import ParsedTask, SkippedLine, format_document, parse_document, to_imported

Progress = Callable[[int, int], None]
REPORTED_LINES = 1000
SHOWN_TEXT = 200


def _short(text: str) -> str:
    return text if len(text) <= SHOWN_TEXT else text[:SHOWN_TEXT] + "…"


@dataclass
class ImportReport:
    """What happened to each line: created, flagged, blocked or skipped (with why)."""

    lines: int = 0
    created: int = 0
    flagged: int = 0
    blocked: int = 0
    skipped: int = 0
    blank_lines: int = 0
    flagged_lines: list[dict[str, Any]] = field(default_factory=list)
    blocked_lines: list[dict[str, Any]] = field(default_factory=list)
    skipped_lines: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False

    def skip(self, line: int, reason: str, text: str) -> None:
        self.skipped += 1
        self.note(self.skipped_lines, {"line": line, "reason": reason, "text": _short(text)})

    def note(self, entries: list[dict[str, Any]], entry: dict[str, Any]) -> None:
        """Keep the first REPORTED_LINES entries of a list; the counts stay complete."""
        if len(entries) < REPORTED_LINES:
            entries.append(entry)
        else:
            self.truncated = True


def _validation_reason(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}"


class TodoTxtImporter:
    def __init__(
        self,
        todos: TodoService,
        uow_factory: Callable[[], UnitOfWork],
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._todos = todos
        self._uow = uow_factory
        self._clock = clock

    async def import_text(
        self, caller: Caller, text: str, progress: Progress | None = None
    ) -> ImportReport:
        """Create a todo for every task line; `progress(done, total)` follows along."""
        document = parse_document(text)
        entries = document.entries
        report = ImportReport(blank_lines=document.blank_lines)
        report.lines = len(entries) + document.blank_lines
        zone = await self._zone(caller)
        for done, entry in enumerate(entries, start=1):
            if isinstance(entry, SkippedLine):
                report.skip(entry.line_number, entry.reason, entry.text)
            else:
                await self._import_task(caller, entry, zone, report)
            if progress is not None:
                progress(done, len(entries))
        return report

    async def _zone(self, caller: Caller) -> Any:
        async with self._uow() as uow:
            user = await uow.users.get_or_create(caller.user_id, self._clock())
            await uow.commit()
        return parse_time_zone(user.time_zone)

    async def _import_task(
        self, caller: Caller, task: ParsedTask, zone: Any, report: ImportReport
    ) -> None:
        try:
            imported = to_imported(task, zone, self._clock())
            command = CreateTodo(
                title=imported.title,
                category=imported.category,
                priority=imported.priority,
                status=imported.status,
                tags=imported.tags,
                deadline=imported.deadline,
            )
        except ValidationError as exc:
            report.skip(task.line_number, _validation_reason(exc), task.raw)
            return
        except (ValueError, OverflowError) as exc:
            report.skip(task.line_number, f"cannot be read: {exc}", task.raw)
            return
        for message in imported.warnings:
            report.note(report.warnings, {"line": task.line_number, "message": message})
        await self._create(
            caller, task, command, imported.created_at, imported.completed_at, report
        )

    async def _create(
        self,
        caller: Caller,
        task: ParsedTask,
        command: CreateTodo,
        created_at: datetime | None,
        completed_at: datetime | None,
        report: ImportReport,
    ) -> None:
        try:
            todo = await self._todos.create(
                caller, command, created_at=created_at, completed_at=completed_at
            )
        except ConstitutionalViolation as violation:
            report.blocked += 1
            entry = {"line": task.line_number, "reason": violation.verdict.reason}
            report.note(report.blocked_lines, entry)
            return
        if todo.status is Status.FLAGGED:
            report.flagged += 1
            entry = {
                "line": task.line_number,
                "id": str(todo.id),
                "reason": todo.constitutional_check.reason,
            }
            report.note(report.flagged_lines, entry)
        else:
            report.created += 1


@dataclass(frozen=True, slots=True)
class _ExportRow:
    """The fields of a stored todo that a todo.txt line holds."""

    title: str
    category: str
    priority: Priority
    status: Status
    tags: list[str]
    deadline: Deadline | None
    created_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, row: TodoRow) -> _ExportRow:
        return cls(
            title=row.title,
            category=row.category,
            priority=Priority(row.priority),
            status=Status(row.status),
            tags=list(row.tags),
            deadline=deadline_of(row),
            created_at=row.created_at,
            completed_at=row.completed_at,
        )


class TodoTxtExporter:
    def __init__(self, uow_factory: Callable[[], UnitOfWork]) -> None:
        self._uow = uow_factory

    async def export_text(self, caller: Caller) -> str:
        """All the caller's todos, oldest first, one todo.txt line each."""
        async with self._uow() as uow:
            user = await uow.users.get(caller.user_id)
            zone = parse_time_zone(user.time_zone if user else "UTC")
            rows = await _all_rows(uow.todos, caller.user_id)
        return format_document([_ExportRow.of(row) for row in rows], zone)


async def _all_rows(todos: TodoRepository, owner_id: str) -> list[TodoRow]:
    rows: list[TodoRow] = []
    cursor: Cursor | None = None
    sort = Sort.parse("created_at")
    while True:
        page, cursor = await todos.page(owner_id, TodoFilter(), PageRequest(sort, 500, cursor))
        rows.extend(page)
        if cursor is None:
            return rows
