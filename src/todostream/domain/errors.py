"""Domain errors; the HTTP edge maps each to one status code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from todostream.domain.constitution import Verdict


class DomainError(Exception):
    """Base of every error the service layer raises on purpose."""


class TodoNotFound(DomainError):
    def __init__(self, todo_id: object) -> None:
        super().__init__(f"todo {todo_id} not found")
        self.todo_id = todo_id


class VersionMismatch(DomainError):
    """The caller's If-Match names a version that is no longer current."""

    def __init__(self, expected: str, current: int) -> None:
        super().__init__(f"If-Match {expected} does not match current version {current}")
        self.current = current


class ConstitutionalViolation(DomainError):
    """The content policy blocks this write; its event is stored, the todo is not."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.reason)
        self.verdict = verdict


class InvalidTransition(DomainError):
    """A status change the todo's rules do not allow (e.g. leaving review by editing)."""


class InvalidField(DomainError):
    """A field value the domain rejects; `field` names it for the 422 body."""

    def __init__(self, field: str | Sequence[str], message: str) -> None:
        super().__init__(message)
        self.loc = [field] if isinstance(field, str) else list(field)
        self.message = message
