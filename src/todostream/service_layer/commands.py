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
    has_control_characters,
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
Tags = Annotated[list[Tag], Field(max_length=TAGS_MAX)]

REQUIRED_FIELDS = ("title", "category", "priority", "status")
CONTENT_FIELDS = ("title", "description", "category", "tags")


def _refuse_control_characters(value: str | None) -> str | None:
    if value is not None and has_control_characters(value):
        raise ValueError("must be one line without control characters")
    return value


def _refuse_flagged(value: Status | None) -> Status | None:
    if value is Status.FLAGGED:
        raise ValueError("flagged is set by the content policy, not by clients")
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

    _title_one_line = field_validator("title", "category")(_refuse_control_characters)
    _status_not_flagged = field_validator("status")(_refuse_flagged)

    @field_validator("tags")
    @classmethod
    def _clean_tags(cls, tags: list[str]) -> list[str]:
        return clean_tags(tags)


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

    _title_one_line = field_validator("title", "category")(_refuse_control_characters)
    _status_not_flagged = field_validator("status")(_refuse_flagged)

    @field_validator(*REQUIRED_FIELDS, mode="after")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null; leave the field out to keep its value")
        return value

    @field_validator("tags")
    @classmethod
    def _clean_tags(cls, tags: list[str] | None) -> list[str]:
        return clean_tags(tags or [])

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
