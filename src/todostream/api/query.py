"""Query-string helpers shared by the list endpoints."""

from __future__ import annotations

from starlette.requests import Request

from todostream.domain.errors import InvalidField
from todostream.domain.todo import text_problem


def checked_text(name: str, value: str | None) -> str | None:
    """A query value that is safe to compare in the database (no NUL, no lone surrogates)."""
    if value is not None:
        problem = text_problem(value, one_line=True)
        if problem:
            raise InvalidField(["query", name], f"{name} {problem}")
    return value


def checked_texts(name: str, values: list[str] | None) -> tuple[str, ...]:
    return tuple(checked_text(name, value) or "" for value in values or ())


def next_page(request: Request, cursor: str) -> str:
    """The next page as a path and query, never trusting the request's Host header."""
    query = request.url.include_query_params(cursor=cursor).query
    return f"{request.url.path}?{query}"
