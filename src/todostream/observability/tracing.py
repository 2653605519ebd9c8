"""Request ids and W3C trace context, carried in context variables through one request."""

from __future__ import annotations

import random
import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# Trace and span ids must be unique and unguessable enough to not collide, not secret; a
# seeded generator is much cheaper per request than the OS's random source.
_random = random.Random()

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
    """A new span in the caller's trace, or in a new trace when the header is absent or bad.

    Versions after 00 are read by their first four fields, as the W3C spec asks; extra
    fields are allowed only there.
    """
    span_id = f"{_random.getrandbits(64):016x}"
    if not header:
        return TraceContext(f"{_random.getrandbits(128):032x}", span_id)
    match = _TRACEPARENT.fullmatch(header.strip().lower())
    if match is None or match.group(1) == "ff" or (match.group(1) == "00" and match.group(5)):
        return TraceContext(f"{_random.getrandbits(128):032x}", span_id)
    _, trace_id, parent_id, flags, _ = match.groups()
    if set(trace_id) == {"0"} or set(parent_id) == {"0"}:
        return TraceContext(f"{_random.getrandbits(128):032x}", span_id)
    return TraceContext(trace_id, span_id, flags)


def request_id_from(header: str | None, fallback: str | None = None) -> str:
    """The caller's request id when it is sane, otherwise `fallback` (the trace id) or a fresh
    one."""
    if header and _REQUEST_ID.fullmatch(header):
        return header
    return fallback or uuid.uuid4().hex


def current_traceparent() -> str | None:
    return traceparent_var.get()
