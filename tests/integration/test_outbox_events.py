"""Every change writes its CloudEvent to the outbox in the same transaction as the change."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from tests.helpers import make_settings
from todostream.bootstrap import Role, Runtime
from todostream.config import Settings
from todostream.service_layer.commands import CreateTodo
from todostream.service_layer.todos import Caller
from todostream.store.tables import OutboxRow, TodoRow


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, relay_enabled=False)


@pytest.fixture
def roles() -> frozenset[Role]:
    return frozenset({Role.API})


async def outbox(runtime: Runtime) -> list[dict[str, Any]]:
    async with runtime.sessions() as session:
        rows = (await session.scalars(select(OutboxRow).order_by(OutboxRow.id))).all()
    return [
        {**json.loads(row.payload), "_topic": row.topic, "_key": row.partition_key} for row in rows
    ]


async def count_todos(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(TodoRow))).scalar_one())


async def test_create_writes_one_cloudevent_keyed_by_the_todo(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    todo = (await client.post("/api/todos", json={"title": "Buy milk"})).json()

    [event] = await outbox(runtime)

    assert event["specversion"] == "1.0"
    assert event["type"] == "todo_created"
    assert event["source"] == "todostream/api"
    assert event["subject"] == todo["id"]
    assert event["datacontenttype"] == "application/json"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", event["time"])
    assert event["_topic"] == "todo-events"
    assert event["_key"] == todo["id"]
    assert event["data"]["todo"] == todo
    assert event["data"]["owner_id"] == runtime.settings.local_user_id
    assert event["data"]["version"] == 1
    assert event["data"]["constitutional_check"] == todo["constitutional_check"]


async def test_the_request_trace_reaches_the_event(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    header = f"00-{trace_id}-00f067aa0ba902b7-01"

    response = await client.post(
        "/api/todos", json={"title": "traced"}, headers={"traceparent": header}
    )

    [event] = await outbox(runtime)
    assert event["traceparent"].startswith(f"00-{trace_id}-")
    assert event["traceparent"] == response.headers["traceparent"]


async def test_update_and_delete_events_carry_versions_and_changes(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    todo = (await client.post("/api/todos", json={"title": "draft", "priority": "low"})).json()
    await client.patch(
        f"/api/todos/{todo['id']}", json={"priority": "high", "deadline": "2026-03-01"}
    )
    await client.delete(f"/api/todos/{todo['id']}")

    created, updated, deleted = await outbox(runtime)

    assert [e["type"] for e in (created, updated, deleted)] == [
        "todo_created",
        "todo_updated",
        "todo_deleted",
    ]
    assert [e["data"]["version"] for e in (created, updated, deleted)] == [1, 2, 3]
    assert updated["data"]["changes"] == {
        "priority": {"old": "low", "new": "high"},
        "deadline": {"old": None, "new": "2026-03-01"},
    }
    assert deleted["data"]["todo"]["title"] == "draft"


async def test_a_flagged_create_is_stored_under_review_with_a_flag_event(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    response = await client.post("/api/todos", json={"title": "URGENT finish my assignment"})

    assert response.status_code == 201
    assert response.json()["status"] == "flagged"
    assert response.json()["constitutional_check"]["decision"] == "flag"
    [event] = await outbox(runtime)
    assert event["type"] == "todo_flagged"


async def test_a_blocked_create_answers_403_and_stores_only_its_event(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    response = await client.post(
        "/api/todos", json={"title": "pay someone to do my homework", "category": "study"}
    )

    assert response.status_code == 403
    detail = response.json()["detail"]
    assert detail["error"] == "constitutional_violation"
    assert detail["decision"] == "block"
    assert detail["rules"][0]["id"] == "academic-outsourcing"
    assert detail["message"]
    assert await count_todos(runtime) == 0
    [event] = await outbox(runtime)
    assert event["type"] == "todo_blocked"
    assert event["data"]["version"] == 0
    assert event["data"]["todo"]["title"] == "pay someone to do my homework"
    assert event["data"]["todo"]["category"] == "study"
    assert event["data"]["constitutional_check"]["decision"] == "block"


async def test_a_blocked_update_leaves_the_todo_unchanged_and_records_the_attempt(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    todo = (await client.post("/api/todos", json={"title": "essay"})).json()

    response = await client.patch(
        f"/api/todos/{todo['id']}", json={"title": "find someone to write my essay"}
    )

    assert response.status_code == 403
    assert (await client.get(f"/api/todos/{todo['id']}")).json() == todo
    _, blocked = await outbox(runtime)
    assert blocked["type"] == "todo_blocked"
    assert blocked["subject"] == todo["id"]
    assert blocked["data"]["version"] == 1
    assert blocked["data"]["changes"] == {
        "title": {"old": "essay", "new": "find someone to write my essay"}
    }


@pytest.fixture
async def refusing_outbox(runtime: Runtime, database_url: str) -> AsyncIterator[None]:
    """A trigger that makes every outbox insert fail inside the database, removed afterwards."""
    if database_url.startswith("sqlite"):
        install = [
            "CREATE TRIGGER refuse_events BEFORE INSERT ON outbox"
            " BEGIN SELECT RAISE(ABORT, 'outbox refuses'); END"
        ]
        remove = ["DROP TRIGGER refuse_events"]
    else:
        install = [
            "CREATE FUNCTION refuse_events() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'outbox refuses'; END; $$",
            "CREATE TRIGGER refuse_events BEFORE INSERT ON outbox"
            " FOR EACH ROW EXECUTE FUNCTION refuse_events()",
        ]
        remove = ["DROP TRIGGER refuse_events ON outbox", "DROP FUNCTION refuse_events()"]
    async with runtime.engine.begin() as connection:
        for statement in install:
            await connection.execute(text(statement))
    yield
    async with runtime.engine.begin() as connection:
        for statement in remove:
            await connection.execute(text(statement))


@pytest.mark.usefixtures("refusing_outbox")
async def test_a_failing_transaction_leaves_neither_todo_nor_event(runtime: Runtime) -> None:
    with pytest.raises(DBAPIError, match="outbox refuses"):
        await runtime.todos.create(Caller(user_id="u"), CreateTodo(title="never stored"))

    assert await count_todos(runtime) == 0
    assert await outbox(runtime) == []


async def test_a_failed_validation_writes_no_event(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    todo = (await client.post("/api/todos", json={"title": "x"})).json()

    await client.post("/api/todos", json={"title": ""})
    await client.patch(f"/api/todos/{todo['id']}", json={"title": None})
    await client.patch(f"/api/todos/{todo['id']}", json={"title": "y"}, headers={"If-Match": '"9"'})

    assert [event["type"] for event in await outbox(runtime)] == ["todo_created"]
