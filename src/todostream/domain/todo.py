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
