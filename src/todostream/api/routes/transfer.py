"""todo.txt in and out: POST /api/import takes a file as text/plain, GET /api/export gives one."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel

from todostream.api.deps import CallerDep, RuntimeDep
from todostream.api.errors import documented
from todostream.domain.errors import InvalidField
from todostream.service_layer.importer import TodoTxtExporter, TodoTxtImporter
from todostream.service_layer.todos import Caller

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["todo.txt"], responses=documented(401, 413, 415, 503))

MAX_IMPORT_BYTES = 5 * 1024 * 1024
NDJSON = "application/x-ndjson"


class ImportReportView(BaseModel):
    lines: int
    created: int
    flagged: int
    blocked: int
    skipped: int
    blank_lines: int
    flagged_lines: list[dict[str, Any]]
    blocked_lines: list[dict[str, Any]]
    skipped_lines: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    truncated: bool


async def _read_text(request: Request) -> str:
    """The body as UTF-8 text, refusing what is too large or not text."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "text/plain":
        raise HTTPException(
            415,
            "send the todo.txt file itself as text/plain, e.g. curl --data-binary @todo.txt"
            " -H 'Content-Type: text/plain'",
        )
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_IMPORT_BYTES:
            raise HTTPException(413, f"a todo.txt import is limited to {MAX_IMPORT_BYTES} bytes")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidField(
            ["body"], f"the body must be UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None


@router.post(
    "/import",
    response_model=ImportReportView,
    max_body_size=MAX_IMPORT_BYTES + 1,
    openapi_extra={
        "requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}, "required": True}
    },
)
async def import_todotxt(request: Request, caller: CallerDep, runtime: RuntimeDep) -> Any:
    """Import a todo.txt file; each line is created like a POST /api/todos.

    With `Accept: application/x-ndjson` the answer streams `{"done": n, "total": m}` lines
    while it works and ends with `{"report": {...}}`.
    """
    text = await _read_text(request)
    importer = TodoTxtImporter(runtime.todos, runtime.uow)
    if NDJSON in request.headers.get("accept", ""):
        return StreamingResponse(_progress_stream(importer, caller, text), media_type=NDJSON)
    report = await importer.import_text(caller, text)
    return JSONResponse(asdict(report))


async def _progress_stream(
    importer: TodoTxtImporter, caller: Caller, text: str
) -> AsyncIterator[bytes]:
    """Progress lines (about one per percent) while the import runs, then its report."""
    updates: asyncio.Queue[tuple[int, int] | None] = asyncio.Queue()
    task = asyncio.create_task(
        importer.import_text(caller, text, lambda done, total: updates.put_nowait((done, total)))
    )
    task.add_done_callback(lambda _: updates.put_nowait(None))
    try:
        while (update := await updates.get()) is not None:
            done, total = update
            if done == total or done % -(-total // 100) == 0:
                yield _line({"done": done, "total": total})
        try:
            yield _line({"report": asdict(task.result())})
        except Exception as exc:
            log.exception("import failed part-way", extra={"user_id": caller.user_id})
            yield _line({"error": f"import stopped: {exc.__class__.__name__}: {exc}"})
    finally:
        task.cancel()


def _line(value: dict[str, Any]) -> bytes:
    return (json.dumps(value) + "\n").encode()


@router.get(
    "/export",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def export_todotxt(
    caller: CallerDep,
    runtime: RuntimeDep,
    format: Annotated[Literal["todotxt"], Query(description="Only todotxt for now")] = "todotxt",
) -> PlainTextResponse:
    """The caller's todos as a todo.txt file, oldest first."""
    text = await TodoTxtExporter(runtime.uow).export_text(caller)
    return PlainTextResponse(
        text, headers={"Content-Disposition": 'attachment; filename="todo.txt"'}
    )
