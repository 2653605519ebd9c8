"""Meaning for parsed todo.txt lines: priority, category, tags, deadline and dates.

Anything that cannot be carried over exactly is kept where possible and named in `warnings`,
so an import never loses information silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo

from todostream.domain.deadline import Deadline, day_start
from todostream.domain.todo import (
    CATEGORY_MAX,
    DEFAULT_CATEGORY,
    TAG_MAX,
    TAGS_MAX,
    Priority,
    Status,
    clean_tags,
)
from todostream.todotxt.parse import ParsedTask, parse_date

_LETTER_PRIORITIES = {"A": Priority.HIGH, "B": Priority.MEDIUM}


@dataclass(frozen=True, slots=True)
class ImportedTodo:
    """The fields of a new todo taken from one line, plus what could not be carried over."""

    title: str
    category: str
    priority: Priority
    status: Status
    tags: list[str]
    deadline: Deadline | None
    created_at: datetime | None
    completed_at: datetime | None
    warnings: list[str]


def priority_for_letter(letter: str | None) -> Priority:
    """A is high, B medium, any other letter low; no letter at all is medium."""
    if letter is None:
        return Priority.MEDIUM
    return _LETTER_PRIORITIES.get(letter, Priority.LOW)


def saved_priority_letter(tag: str) -> str | None:
    """The letter of a `pri:X` tag (the spec's way to keep a priority), else None."""
    key, _, value = tag.partition(":")
    if key == "pri" and len(value) == 1 and "A" <= value <= "Z":
        return value
    return None


def to_imported(task: ParsedTask, zone: tzinfo, now: datetime) -> ImportedTodo:
    """Convert one parsed line; `zone` gives dates their midnight, `now` fills a missing one."""
    if now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    warnings: list[str] = []
    letter = _priority_letter(task)
    category, project_tags = _category_and_project_tags(task.projects, warnings)
    deadline, key_tags = _deadline_and_key_tags(task.key_values, warnings)
    priority_tags = [f"pri:{letter}"] if letter is not None else []
    tags = _limit_tags([*project_tags, *task.contexts, *key_tags, *priority_tags], warnings)
    created_at, completed_at = _dates(task, zone, now, warnings)
    return ImportedTodo(
        title=task.title,
        category=category,
        priority=priority_for_letter(letter),
        status=Status.COMPLETED if task.completed else Status.PENDING,
        tags=tags,
        deadline=deadline,
        created_at=created_at,
        completed_at=completed_at,
        warnings=warnings,
    )


def _priority_letter(task: ParsedTask) -> str | None:
    """The `(A)` field, else a saved `pri:A` tag (how completed lines keep their priority)."""
    if task.priority_letter is not None:
        return task.priority_letter
    saved = (saved_priority_letter(f"{key}:{value}") for key, value in task.key_values)
    return next((letter for letter in saved if letter is not None), None)


def _category_and_project_tags(
    projects: tuple[str, ...], warnings: list[str]
) -> tuple[str, list[str]]:
    """The first project names the category when it fits; the others become `+name` tags."""
    names = clean_tags(list(projects))
    if not names:
        return DEFAULT_CATEGORY, []
    if len(names[0]) > CATEGORY_MAX:
        warnings.append(
            f"project +{names[0]} is longer than {CATEGORY_MAX} characters, "
            f"so it is kept as a tag and the category is {DEFAULT_CATEGORY!r}"
        )
        return DEFAULT_CATEGORY, [f"+{name}" for name in names]
    return names[0], [f"+{name}" for name in names[1:]]


def _deadline_and_key_tags(
    key_values: tuple[tuple[str, str], ...], warnings: list[str]
) -> tuple[Deadline | None, list[str]]:
    """The first valid `due:YYYY-MM-DD` is the deadline; every other pair stays a tag."""
    deadline: Deadline | None = None
    tags: list[str] = []
    for key, value in key_values:
        day = parse_date(value) if key == "due" else None
        if day is not None and deadline is None:
            deadline = Deadline(day=day)
            continue
        if key == "due":
            warnings.append(_due_warning(value, day))
        tags.append(f"{key}:{value}")
    return deadline, tags


def _due_warning(value: str, day: date | None) -> str:
    if day is None:
        return f"due:{value} is not a date written YYYY-MM-DD, so it is kept as a tag"
    return f"due:{value} is a second due date, so it is kept as a tag"


def _limit_tags(tags: list[str], warnings: list[str]) -> list[str]:
    """Drop repeats, tags longer than TAG_MAX and any tag beyond the first TAGS_MAX."""
    kept = []
    for tag in clean_tags(tags):
        if len(tag) > TAG_MAX:
            warnings.append(f"tag {tag[:20]}... is over {TAG_MAX} characters long; dropped")
        else:
            kept.append(tag)
    if len(kept) > TAGS_MAX:
        dropped = kept[TAGS_MAX:]
        warnings.append(f"more than {TAGS_MAX} tags; dropped {', '.join(dropped)}")
    return kept[:TAGS_MAX]


def _dates(
    task: ParsedTask, zone: tzinfo, now: datetime, warnings: list[str]
) -> tuple[datetime | None, datetime | None]:
    """Creation and completion dates as midnight in `zone`, expressed in UTC."""
    created = day_start(task.creation_date, zone) if task.creation_date is not None else None
    if not task.completed:
        return created, None
    if task.completion_date is None:
        warnings.append("completed without a completion date, so the import time is used")
        return created, now.astimezone(UTC)
    if task.creation_date is not None and task.creation_date > task.completion_date:
        warnings.append(
            f"creation date {task.creation_date} is after "
            f"completion date {task.completion_date}; both are kept"
        )
    return created, day_start(task.completion_date, zone)
