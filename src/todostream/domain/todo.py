"""The todo's vocabulary and its status rules."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from enum import StrEnum

TITLE_MAX = 500
DESCRIPTION_MAX = 10_000
CATEGORY_MAX = 50
TAG_MAX = 100
TAGS_MAX = 50
DEFAULT_CATEGORY = "other"


class Priority(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """Higher rank sorts first under `sort=priority`."""
        return {Priority.HIGH: 3, Priority.MEDIUM: 2, Priority.LOW: 1}[self]


class Status(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FLAGGED = "flagged"


def completed_at_for(
    old_status: Status | None, new_status: Status, old_completed_at: datetime | None, now: datetime
) -> datetime | None:
    """`completed_at` is set when a todo becomes completed and cleared when it leaves."""
    if new_status is not Status.COMPLETED:
        return None
    if old_status is Status.COMPLETED and old_completed_at is not None:
        return old_completed_at
    return now


def has_control_characters(text: str) -> bool:
    """True when `text` holds characters that break one-line display (newlines, NUL, ...)."""
    return any(unicodedata.category(char) == "Cc" for char in text)


# Characters that render as nothing or as a blank although Unicode does not call them space.
_BLANK_LOOKING = frozenset("\u2800\u3164\u115f\u1160\uffa0")
_MULTILINE_ALLOWED = frozenset("\n\r\t")


def text_problem(text: str, *, one_line: bool) -> str | None:
    """Why `text` cannot be stored, or None.

    Lone surrogates and NUL cannot be stored by PostgreSQL at all; line and paragraph
    separators and control characters would break one-line fields (titles, tags, todo.txt).
    """
    for char in text:
        category = unicodedata.category(char)
        if category == "Cs":
            return "must not contain unpaired surrogate code points"
        if category == "Cc" and (one_line or char not in _MULTILINE_ALLOWED):
            return (
                "must be one line without control characters"
                if one_line
                else ("must not contain control characters other than newlines and tabs")
            )
        if one_line and category in ("Zl", "Zp"):
            return "must be one line without control characters"
    return None


def is_blank(text: str) -> bool:
    """True when nothing in `text` would show: spaces, format characters, blank look-alikes."""
    return all(
        char.isspace() or char in _BLANK_LOOKING or unicodedata.category(char) in ("Cf", "Mn")
        for char in text
    )


def clean_tags(tags: list[str]) -> list[str]:
    """Trim tags, drop empty ones and repeats, keeping the first spelling and the order."""
    seen: set[str] = set()
    result = []
    for tag in tags:
        trimmed = tag.strip()
        key = trimmed.casefold()
        if trimmed and key not in seen:
            seen.add(key)
            result.append(trimmed)
    return result
