"""Todos to todo.txt lines that `parse_document` and `to_imported` read back the same."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from datetime import date, datetime, tzinfo
from typing import Protocol

from todostream.domain.deadline import Deadline
from todostream.domain.todo import DEFAULT_CATEGORY, Priority, Status
from todostream.todotxt.convert import priority_for_letter, saved_priority_letter
from todostream.todotxt.parse import is_key_value

_DEFAULT_LETTERS = {Priority.HIGH: "A", Priority.LOW: "C"}
# Characters that would end the line for some reader: control characters and Unicode separators.
_LINE_BREAKING = frozenset({"Cc", "Zl", "Zp"})


class ExportableTodo(Protocol):
    """What `format_line` reads from a todo; the service's todo rows already fit."""

    @property
    def title(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def priority(self) -> Priority: ...
    @property
    def status(self) -> Status: ...
    @property
    def tags(self) -> Sequence[str]: ...
    @property
    def deadline(self) -> Deadline | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def completed_at(self) -> datetime | None: ...


def format_document(todos: Iterable[ExportableTodo], zone: tzinfo) -> str:
    """One line per todo, LF line endings and a final newline."""
    return "".join(f"{format_line(todo, zone)}\n" for todo in todos)


def format_line(todo: ExportableTodo, zone: tzinfo) -> str:
    """Fixed fields, title, then +category, +projects, @tags, key:value tags and due:."""
    letter = _letter_for(todo)
    words = [
        *_leading_fields(todo, letter, zone),
        _one_line(todo.title).strip(),
        *_category_token(todo.category),
        *_tag_tokens(todo.tags, letter),
        *_trailing_tokens(todo, letter, zone),
    ]
    return " ".join(word for word in words if word)


def _letter_for(todo: ExportableTodo) -> str | None:
    """A saved `pri:X` letter that still means the todo's priority, else A for high and C for
    low. A medium todo without one gets no letter: a line without a priority reads back as
    medium, so nothing is added on the way back in."""
    for tag in todo.tags:
        letter = saved_priority_letter(tag)
        if letter is not None and priority_for_letter(letter) == todo.priority:
            return letter
    return _DEFAULT_LETTERS.get(todo.priority)


def _leading_fields(todo: ExportableTodo, letter: str | None, zone: tzinfo) -> list[str]:
    created = _day(todo.created_at, zone)
    if todo.status != Status.COMPLETED:
        return [f"({letter})" if letter else "", created]
    # todo.txt cannot write a creation date without a completion date before it.
    completed = _day(todo.completed_at, zone) if todo.completed_at is not None else created
    if created > completed:
        # Created after it was done: an import of a line that had no creation date.
        return ["x", completed]
    return ["x", completed, created]


def _category_token(category: str) -> list[str]:
    if category == DEFAULT_CATEGORY:
        return []
    return [f"+{_name(category)}"]


def _tag_tokens(tags: Sequence[str], letter: str | None) -> list[str]:
    """`+project` tags first, then plain tags as `@contexts`, then key:value tags.

    The saved letter in use is written as the priority instead. A key:value tag that would
    read back as something else (`due:` as the deadline, another `pri:` as the priority) is
    written as a context, which reads back as the same tag.
    """
    projects: list[str] = []
    plain: list[str] = []
    key_values: list[str] = []
    letter_tag = f"pri:{letter}" if letter else None
    for tag in tags:
        token = _name(tag)
        if len(token) > 1 and token.startswith("+"):
            projects.append(token)
        elif token == letter_tag:
            letter_tag = None
        elif is_key_value(token) and not _read_as_markup(token):
            key_values.append(token)
        elif token:
            plain.append(f"@{token}")
    return [*projects, *plain, *key_values]


def _read_as_markup(token: str) -> bool:
    return saved_priority_letter(token) is not None or token.startswith("due:")


def _trailing_tokens(todo: ExportableTodo, letter: str | None, zone: tzinfo) -> list[str]:
    """The kept priority of a completed todo, then the deadline's day."""
    tokens = [f"pri:{letter}"] if letter and todo.status == Status.COMPLETED else []
    if todo.deadline is not None:
        tokens.append(f"due:{_deadline_day(todo.deadline, zone).isoformat()}")
    return tokens


def _deadline_day(deadline: Deadline, zone: tzinfo) -> date:
    if deadline.day is not None:
        return deadline.day
    assert deadline.instant is not None
    return deadline.instant.astimezone(zone).date()


def _day(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).date().isoformat()


def _name(text: str) -> str:
    """A tag or category as one token: spaces (and line breaks) become underscores."""
    return _one_line(text).strip().replace(" ", "_")


def _one_line(text: str) -> str:
    """Replace anything that could end a line, so one todo is always exactly one line."""
    if not any(unicodedata.category(char) in _LINE_BREAKING for char in text):
        return text
    return "".join(" " if unicodedata.category(char) in _LINE_BREAKING else char for char in text)
