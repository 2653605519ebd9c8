"""The todo resource: the paths, fields and status codes existing clients rely on."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, TypeAdapter

from todostream.api.deps import CallerDep, IfMatch, TodoServiceDep
from todostream.api.errors import documented
from todostream.api.query import checked_text, checked_texts, next_page
from todostream.domain.deadline import Deadline, InvalidDeadline
from todostream.domain.errors import InvalidField
from todostream.domain.todo import Priority, Status
from todostream.service_layer.commands import CreateTodo, ReviewTodo, UpdateTodo
from todostream.service_layer.preconditions import etag_for
from todostream.service_layer.todos import ListTodos, parse_todo_id
from todostream.service_layer.views import Stats, TodoView

router = APIRouter(
    prefix="/api", tags=["todos"], responses=documented(400, 401, 403, 404, 409, 412, 413, 503)
)

JSON = "application/json"

TodoId = Annotated[str, Path(alias="id", description="The todo's UUID")]


class Deleted(BaseModel):
    deleted: bool
    id: str
    decision: str | None = None


_TODO_LIST = TypeAdapter(list[TodoView])


def _todo_response(todo: TodoView, status_code: int = 200, **headers: str) -> Response:
    """The todo as JSON with its version's ETag.

    Routes return ready-made responses: FastAPI would otherwise validate the view a second
    time before serialising it (the list endpoint spent most of its time there).
    """
    tagged = {"ETag": etag_for(todo.version), **headers}
    body = todo.model_dump_json()
    return Response(body, status_code=status_code, media_type=JSON, headers=tagged)


def _deadline_bound(name: str, value: str | None) -> Deadline | None:
    if value is None:
        return None
    try:
        return Deadline.parse(checked_text(name, value) or "")
    except InvalidDeadline as exc:
        hint = " (in a URL, write + as %2B)" if " " in value.strip() else ""
        raise InvalidField(["query", name], f"{exc}{hint}") from None


@router.post("/todos", status_code=201, response_model=TodoView)
async def create_todo(command: CreateTodo, caller: CallerDep, service: TodoServiceDep) -> Response:
    """Create a todo; blocked content answers 403, flagged content is stored for review."""
    todo = await service.create(caller, command)
    return _todo_response(todo, 201, Location=f"/api/todos/{todo.id}")


MAX_FILTER_VALUES = 50  # as many as a todo may have tags; more is a query no client sends
Repeatable = Query(
    description=f"Repeat to match any of several values (at most {MAX_FILTER_VALUES})",
    max_length=MAX_FILTER_VALUES,
)
DateBound = Query(description="A date (that whole day counts) or a date-time with a zone")


@router.get("/todos", response_model=list[TodoView])
async def list_todos(
    request: Request,
    caller: CallerDep,
    service: TodoServiceDep,
    category: Annotated[list[str] | None, Repeatable] = None,
    status: Annotated[list[Status] | None, Repeatable] = None,
    priority: Annotated[list[Priority] | None, Repeatable] = None,
    tag: Annotated[list[str] | None, Repeatable] = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
    deadline_before: Annotated[str | None, DateBound] = None,
    deadline_after: Annotated[str | None, DateBound] = None,
    overdue: bool | None = None,
    sort: Annotated[str, Query(description="deadline, -created_at, priority, title, ...")] = (
        "-created_at"
    ),
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: str | None = None,
) -> Response:
    """The caller's todos, newest first by default; the next page is in the Link header."""
    query = ListTodos(
        categories=checked_texts("category", category),
        statuses=tuple(status or ()),
        priorities=tuple(priority or ()),
        tags=checked_texts("tag", tag),
        search=checked_text("search", search),
        deadline_after=_deadline_bound("deadline_after", deadline_after),
        deadline_before=_deadline_bound("deadline_before", deadline_before),
        overdue=overdue,
        sort=sort,
        limit=limit,
        cursor=checked_text("cursor", cursor),
    )
    page = await service.page(caller, query)
    headers = {}
    if page.next_cursor:
        headers["Link"] = f'<{next_page(request, page.next_cursor)}>; rel="next"'
    return Response(_TODO_LIST.dump_json(page.todos), media_type=JSON, headers=headers)


@router.get("/todos/{id}", response_model=TodoView)
async def get_todo(todo_id: TodoId, caller: CallerDep, service: TodoServiceDep) -> Response:
    """One todo; unknown ids and other users' todos are both 404."""
    return _todo_response(await service.get(caller, todo_id))


@router.put("/todos/{id}", response_model=TodoView)
@router.patch("/todos/{id}", response_model=TodoView)
async def update_todo(
    todo_id: TodoId,
    command: UpdateTodo,
    caller: CallerDep,
    service: TodoServiceDep,
    if_match: IfMatch = None,
) -> Response:
    """Change the fields sent (PUT and PATCH alike); null clears, absent keeps."""
    return _todo_response(await service.update(caller, todo_id, command, if_match))


@router.delete("/todos/{id}", response_model=Deleted, response_model_exclude_none=True)
async def delete_todo(
    todo_id: TodoId, caller: CallerDep, service: TodoServiceDep, if_match: IfMatch = None
) -> Deleted:
    """Delete a todo."""
    deleted_id = await service.delete(caller, todo_id, if_match)
    return Deleted(deleted=True, id=str(deleted_id))


@router.post("/todos/{id}/review", response_model=TodoView | Deleted)
async def review_todo(
    todo_id: TodoId,
    command: ReviewTodo,
    caller: CallerDep,
    service: TodoServiceDep,
    if_match: IfMatch = None,
) -> Response | Deleted:
    """Decide on a flagged todo: approve moves it to pending, block removes it."""
    todo = await service.review(caller, todo_id, command, if_match)
    if todo is None:
        return Deleted(deleted=True, id=str(parse_todo_id(todo_id)), decision="block")
    return _todo_response(todo)


@router.get("/stats", response_model=Stats)
async def get_stats(caller: CallerDep, service: TodoServiceDep) -> Stats:
    """Counts by status, category and priority, and the share completed."""
    return await service.stats(caller)
