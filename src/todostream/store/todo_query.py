"""Filtering, ordering and keyset pages for the todo list."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    and_,
    exists,
    false,
    func,
    or_,
    select,
)

from todostream.domain.errors import InvalidField
from todostream.domain.events import json_object
from todostream.domain.text_folding import fold
from todostream.domain.todo import text_problem
from todostream.store.tables import TodoRow


@dataclass(frozen=True, slots=True)
class SortKey:
    """A sortable field: its column, whether it can be null, how values travel in cursors."""

    column: Callable[[], SQLColumnExpression[Any]]
    nullable: bool
    decode: Callable[[Any], Any]
    reverse: bool = False


def _as_datetime(value: Any) -> datetime:
    """A cursor's moment: ISO text with a zone, within the years the service stores."""
    if not isinstance(value, str):
        raise TypeError("expected an ISO date-time")
    moment = datetime.fromisoformat(value)
    if moment.utcoffset() is None or not 1900 <= moment.year <= 9999:
        raise ValueError("cursor time out of range")
    return moment.astimezone(UTC)


def _as_rank(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise ValueError("cursor rank out of range")
    return value


def _as_text(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 1000 or text_problem(value, one_line=False):
        raise ValueError("cursor text unusable")
    return value


SORT_KEYS: dict[str, SortKey] = {
    "created_at": SortKey(lambda: TodoRow.created_at, False, _as_datetime),
    "updated_at": SortKey(lambda: TodoRow.updated_at, False, _as_datetime),
    "deadline": SortKey(lambda: TodoRow.deadline_end, True, _as_datetime),
    "completed_at": SortKey(lambda: TodoRow.completed_at, True, _as_datetime),
    "priority": SortKey(lambda: TodoRow.priority_rank, False, _as_rank, reverse=True),
    "title": SortKey(lambda: func.lower(TodoRow.title), False, _as_text),
    "status": SortKey(lambda: TodoRow.status, False, _as_text),
    "category": SortKey(lambda: func.lower(TodoRow.category), False, _as_text),
}
DEFAULT_SORT = "-created_at"


@dataclass(frozen=True, slots=True)
class Sort:
    name: str
    descending: bool

    @classmethod
    def parse(cls, text: str) -> Sort:
        name = text.strip().removeprefix("-")
        if name not in SORT_KEYS:
            choices = ", ".join(sorted(SORT_KEYS))
            raise InvalidField(
                ["query", "sort"], f"sort must be one of {choices}, optionally prefixed by -"
            )
        return cls(name=name, descending=text.strip().startswith("-"))

    @property
    def key(self) -> SortKey:
        return SORT_KEYS[self.name]

    @property
    def column_descending(self) -> bool:
        """Priority sorts high first, so its column runs the other way round."""
        return self.descending != self.key.reverse

    def __str__(self) -> str:
        return ("-" if self.descending else "") + self.name


@dataclass(frozen=True, slots=True)
class TodoFilter:
    """Each tuple matches any of its values; the fields must all match."""

    categories: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    search: str | None = None
    deadline_after: datetime | None = None
    deadline_starts_before: datetime | None = None
    deadline_ends_by: datetime | None = None
    overdue: bool | None = None
    now: datetime | None = None


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the previous page stopped: the sort value and id of its last todo."""

    sort: str
    value: Any
    id: uuid.UUID

    def encode(self) -> str:
        value = self.value.isoformat() if isinstance(self.value, datetime) else self.value
        raw = json.dumps({"s": self.sort, "v": value, "id": str(self.id)}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, sort: Sort) -> Cursor:
        """Read a cursor back, trusting nothing in it: it comes from the client."""
        raw = cursor_document(text)
        if raw.get("s") != str(sort):
            raise InvalidField(["query", "cursor"], "cursor belongs to another sort order; drop it")
        try:
            value = raw["v"]
            if value is None and not sort.key.nullable:
                raise ValueError("missing value")
            decoded = None if value is None else sort.key.decode(value)
            return cls(sort=str(sort), value=decoded, id=uuid.UUID(raw["id"]))
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
            raise _foreign_cursor() from None


def _foreign_cursor() -> InvalidField:
    return InvalidField(["query", "cursor"], "cursor is not one this service issued")


def cursor_document(text: str) -> dict[str, Any]:
    """The JSON object inside a client's cursor, with a string `id`; InvalidField for anything
    else, nesting too deep to parse included."""
    try:
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        raise _foreign_cursor() from None
    raw = json_object(decoded)
    if raw is None or not isinstance(raw.get("id"), str):
        raise _foreign_cursor()
    return raw


@dataclass(frozen=True, slots=True)
class PageRequest:
    sort: Sort = field(default_factory=lambda: Sort.parse(DEFAULT_SORT))
    limit: int = 100
    cursor: Cursor | None = None


def filtered(query: Select[Any], owner_id: str, where: TodoFilter, dialect: str) -> Select[Any]:
    """Apply the owner scope and every filter that is set."""
    conditions: list[ColumnElement[bool]] = [TodoRow.owner_id == owner_id]
    if where.categories:
        folded = {category.strip().lower() for category in where.categories}
        conditions.append(func.lower(TodoRow.category).in_(folded))
    if where.statuses:
        conditions.append(TodoRow.status.in_(where.statuses))
    if where.priorities:
        conditions.append(TodoRow.priority.in_(where.priorities))
    if where.tags:
        conditions.append(or_(*(_has_tag(tag.strip(), dialect) for tag in where.tags)))
    if where.search:
        conditions.append(TodoRow.search_text.contains(fold(where.search), autoescape=True))
    if where.deadline_after is not None:
        conditions.append(TodoRow.deadline_start >= where.deadline_after)
    if where.deadline_starts_before is not None:
        conditions.append(TodoRow.deadline_start < where.deadline_starts_before)
    if where.deadline_ends_by is not None:
        conditions.append(TodoRow.deadline_end <= where.deadline_ends_by)
    if where.overdue is not None:
        conditions.append(_overdue(where.now) if where.overdue else ~_overdue(where.now))
    return query.where(*conditions)


def _overdue(now: datetime | None) -> ColumnElement[bool]:
    """Past its deadline and not completed; a todo without a deadline is never overdue."""
    if now is None:
        raise ValueError("an overdue filter needs the current time")
    return and_(
        TodoRow.deadline_end.is_not(None),
        TodoRow.deadline_end <= now,
        TodoRow.status != "completed",
    )


def _has_tag(tag: str, dialect: str) -> ColumnElement[bool]:
    """Tags live in a JSON array: expanded with jsonb_array_elements_text or json_each."""
    if not tag:
        return false()
    if dialect == "postgresql":
        values = func.jsonb_array_elements_text(TodoRow.tags).table_valued("value")
    else:
        values = func.json_each(TodoRow.tags).table_valued("value")
    return exists(select(1).select_from(values).where(func.lower(values.c.value) == tag.lower()))


def ordered_page(query: Select[Any], page: PageRequest) -> Select[Any]:
    """Order by the sort key, then id, and start after the cursor.

    The sort value is selected as a second column so the next cursor holds exactly what the
    database compared, whatever its collation or case folding.
    """
    sort, column = page.sort, page.sort.key.column()
    query = query.add_columns(column)
    descending = sort.column_descending
    id_order = TodoRow.id.desc() if descending else TodoRow.id.asc()
    value_order = column.desc() if descending else column.asc()
    if sort.key.nullable:
        query = query.order_by(column.is_(None), value_order, id_order)
    else:
        query = query.order_by(value_order, id_order)
    if page.cursor is not None:
        query = query.where(_after(column, sort, page.cursor))
    return query.limit(page.limit + 1)


def _after(column: SQLColumnExpression[Any], sort: Sort, cursor: Cursor) -> ColumnElement[bool]:
    """Rows strictly after the cursor in (value, id) order; nulls come last either way."""
    descending = sort.column_descending
    id_after = TodoRow.id < cursor.id if descending else TodoRow.id > cursor.id
    if cursor.value is None:
        return and_(column.is_(None), id_after)
    value_after = column < cursor.value if descending else column > cursor.value
    ties = and_(column == cursor.value, id_after)
    if sort.key.nullable:
        return or_(value_after, ties, column.is_(None))
    return or_(value_after, ties)


def cursor_after(row: TodoRow, sort_value: Any, sort: Sort) -> Cursor:
    """The cursor that continues a page whose last row is `row`."""
    return Cursor(sort=str(sort), value=sort_value, id=row.id)
