"""Request ids and W3C trace context, carried in context variables through one request."""

from __future__ import annotations

import re
import secrets
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
traceparent_var: ContextVar[str | None] = ContextVar("traceparent", default=None)


@dataclass(frozen=True, slots=True)
class TraceContext:
    trace_id: str
    span_id: str
    flags: str = "01"

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


def child_of(header: str | None) -> TraceContext:
    """A new span in the caller's trace, or in a new trace when the header is absent or bad."""
    match = _TRACEPARENT.match((header or "").strip().lower())
    span_id = secrets.token_hex(8)
    if match and set(match.group(1)) != {"0"} and set(match.group(2)) != {"0"}:
        return TraceContext(match.group(1), span_id, match.group(3))
    return TraceContext(secrets.token_hex(16), span_id)


def request_id_from(header: str | None) -> str:
    """The caller's request id when it is sane, otherwise a fresh one."""
    if header and _REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex


def current_traceparent() -> str | None:
    return traceparent_var.get()
