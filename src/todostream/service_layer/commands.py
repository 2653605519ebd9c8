"""Commands: what a caller asks the todo service to do, validated before it gets there."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from todostream.domain.deadline import DEADLINE_FORMS, Deadline, InvalidDeadline
from todostream.domain.todo import (
    CATEGORY_MAX,
    DEFAULT_CATEGORY,
    DESCRIPTION_MAX,
    TAG_MAX,
    TAGS_MAX,
    TITLE_MAX,
    Priority,
    Status,
    clean_tags,
    is_blank,
    text_problem,
)


def _parse_deadline(value: Any) -> Deadline:
    if isinstance(value, Deadline):
        return value
    if not isinstance(value, str):
        raise ValueError(f"deadline must be {DEADLINE_FORMS}")
    try:
        return Deadline.parse(value)
    except InvalidDeadline as exc:
        raise ValueError(str(exc)) from None


DeadlineField = Annotated[
    Deadline,
    PlainValidator(_parse_deadline),
    PlainSerializer(lambda deadline: deadline.to_json(), return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "description": f"Either {DEADLINE_FORMS}.",
            "examples": ["2026-01-15", "2026-01-15T17:00:00+01:00"],
        }
    ),
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX)]
Category = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=CATEGORY_MAX)
]
Description = Annotated[str, Field(max_length=DESCRIPTION_MAX)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, max_length=TAG_MAX)]
Tags = list[Tag]

REQUIRED_FIELDS = ("title", "category", "priority", "status")
CONTENT_FIELDS = ("title", "description", "category", "tags")


def _one_visible_line(value: str | None) -> str | None:
    if value is None:
        return None
    problem = text_problem(value, one_line=True)
    if problem:
        raise ValueError(problem)
    if is_blank(value):
        raise ValueError("must contain something visible")
    return value


def _storable_text(value: str | None) -> str | None:
    problem = text_problem(value, one_line=False) if value is not None else None
    if problem:
        raise ValueError(problem)
    return value


def _checked_tags(tags: list[str] | None) -> list[str]:
    """Each tag one line; repeats dropped before counting, so 51 copies of one tag are fine."""
    cleaned = clean_tags(tags or [])
    for tag in cleaned:
        problem = text_problem(tag, one_line=True)
        if problem:
            raise ValueError(f"tag {tag[:40]!r} {problem}")
    if len(cleaned) > TAGS_MAX:
        raise ValueError(f"at most {TAGS_MAX} different tags")
    return cleaned


FLAGGED_BY_POLICY_ONLY = "flagged is set by the content policy, not by clients"


def _refuse_flagged(value: Status | None) -> Status | None:
    if value is Status.FLAGGED:
        raise ValueError(FLAGGED_BY_POLICY_ONLY)
    return value


class CreateTodo(BaseModel):
    """Create a todo; fields the API does not take (id, created_at, ...) are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    title: Title
    description: Description | None = None
    category: Category = DEFAULT_CATEGORY
    priority: Priority = Priority.MEDIUM
    status: Status = Status.PENDING
    tags: Tags = Field(default_factory=list)
    deadline: DeadlineField | None = None

    _one_line = field_validator("title", "category")(_one_visible_line)
    _storable = field_validator("description")(_storable_text)
    _status_not_flagged = field_validator("status")(_refuse_flagged)

    _tags = field_validator("tags")(_checked_tags)


class UpdateTodo(BaseModel):
    """Change some fields: one left out stays as it is, an explicit null clears it.

    PUT and PATCH both take this shape, because existing clients send partial PUTs.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    title: Title | None = None
    description: Description | None = None
    category: Category | None = None
    priority: Priority | None = None
    status: Status | None = None
    tags: Tags | None = None
    deadline: DeadlineField | None = None

    _one_line = field_validator("title", "category")(_one_visible_line)
    _storable = field_validator("description")(_storable_text)

    @field_validator(*REQUIRED_FIELDS, mode="after")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null; leave the field out to keep its value")
        return value

    _tags = field_validator("tags")(_checked_tags)

    def changes(self) -> dict[str, Any]:
        """Only the fields the caller sent, with nulls as sent."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class ReviewTodo(BaseModel):
    model_config = ConfigDict(frozen=True)

    decision: Literal["approve", "block"]
    note: Annotated[str, Field(max_length=1000)] | None = None


class UpdateProfile(BaseModel):
    model_config = ConfigDict(frozen=True)

    time_zone: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
