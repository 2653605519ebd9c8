"""Flagged todos wait for review; updates are checked by the policy again."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.helpers import make_settings
from todostream.bootstrap import Role, Runtime
from todostream.config import Settings
from todostream.store.tables import OutboxRow

FLAGGED_TITLE = "last minute homework for maths"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, relay_enabled=False)


@pytest.fixture
def roles() -> frozenset[Role]:
    return frozenset({Role.API})


async def event_types(runtime: Runtime) -> list[str]:
    async with runtime.sessions() as session:
        rows = (await session.scalars(select(OutboxRow).order_by(OutboxRow.id))).all()
    return [json.loads(row.payload)["type"] for row in rows]


async def flagged(client: httpx.AsyncClient) -> dict[str, Any]:
    todo: dict[str, Any] = (await client.post("/api/todos", json={"title": FLAGGED_TITLE})).json()
    assert todo["status"] == "flagged"
    return todo


async def test_approving_moves_a_flagged_todo_to_pending(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    todo = await flagged(client)

    response = await client.post(
        f"/api/todos/{todo['id']}/review", json={"decision": "approve", "note": "help is fine"}
    )

    assert response.status_code == 200
    reviewed = response.json()
    assert reviewed["status"] == "pending"
    assert reviewed["version"] == 2
    assert reviewed["constitutional_check"]["decision"] == "allow"
    assert reviewed["constitutional_check"]["passed"] is True
    assert reviewed["constitutional_check"]["reason"] == "Approved on review: help is fine"
    assert reviewed["constitutional_check"]["rules"][0]["id"] == "last-minute-pressure"
    assert await event_types(runtime) == ["todo_flagged", "todo_updated"]


async def test_an_approved_todo_is_not_flagged_again_by_an_unrelated_edit(
    client: httpx.AsyncClient,
) -> None:
    todo = await flagged(client)
    await client.post(f"/api/todos/{todo['id']}/review", json={"decision": "approve"})

    response = await client.patch(f"/api/todos/{todo['id']}", json={"priority": "high"})

    assert response.json()["status"] == "pending"


async def test_blocking_on_review_removes_the_todo_with_a_blocked_event(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    todo = await flagged(client)

    response = await client.post(f"/api/todos/{todo['id']}/review", json={"decision": "block"})

    assert response.status_code == 200
    assert response.json() == {"deleted": True, "id": todo["id"], "decision": "block"}
    assert (await client.get(f"/api/todos/{todo['id']}")).status_code == 404
    assert await event_types(runtime) == ["todo_flagged", "todo_blocked"]


async def test_reviewing_a_todo_that_is_not_flagged_is_409(client: httpx.AsyncClient) -> None:
    todo = (await client.post("/api/todos", json={"title": "plain"})).json()

    response = await client.post(f"/api/todos/{todo['id']}/review", json={"decision": "approve"})

    assert response.status_code == 409
    assert "not waiting for review" in response.json()["detail"]


async def test_an_unknown_review_decision_is_422(client: httpx.AsyncClient) -> None:
    todo = await flagged(client)

    response = await client.post(f"/api/todos/{todo['id']}/review", json={"decision": "maybe"})

    assert response.status_code == 422


async def test_a_flagged_todo_cannot_leave_review_by_a_status_update(
    client: httpx.AsyncClient,
) -> None:
    todo = await flagged(client)

    response = await client.patch(f"/api/todos/{todo['id']}", json={"status": "completed"})

    assert response.status_code == 409
    assert (await client.get(f"/api/todos/{todo['id']}")).json()["status"] == "flagged"


async def test_a_flagged_todo_sent_back_whole_with_one_change_stays_under_review(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    todo = await flagged(client)

    response = await client.put(f"/api/todos/{todo['id']}", json={**todo, "priority": "high"})

    assert response.status_code == 200
    assert response.json()["status"] == "flagged"
    assert response.json()["priority"] == "high"
    assert await event_types(runtime) == ["todo_flagged", "todo_updated"]


async def test_a_client_cannot_put_a_todo_under_review_itself(client: httpx.AsyncClient) -> None:
    todo = (await client.post("/api/todos", json={"title": "water the plants"})).json()

    response = await client.patch(f"/api/todos/{todo['id']}", json={"status": "flagged"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "status"]
    assert (await client.get(f"/api/todos/{todo['id']}")).json()["status"] == "pending"


async def test_editing_flagged_content_until_no_rule_matches_ends_the_review(
    client: httpx.AsyncClient,
) -> None:
    todo = await flagged(client)

    response = await client.patch(f"/api/todos/{todo['id']}", json={"title": "maths homework"})

    assert response.json()["status"] == "pending"
    assert response.json()["constitutional_check"]["decision"] == "allow"


async def test_an_update_that_becomes_flagged_goes_to_review_with_a_flag_event(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    todo = (
        await client.post("/api/todos", json={"title": "essay", "status": "in_progress"})
    ).json()

    response = await client.patch(
        f"/api/todos/{todo['id']}", json={"description": "must finish it before midnight"}
    )

    assert response.json()["status"] == "flagged"
    assert await event_types(runtime) == ["todo_created", "todo_flagged"]


async def test_review_honours_if_match(client: httpx.AsyncClient) -> None:
    todo = await flagged(client)

    response = await client.post(
        f"/api/todos/{todo['id']}/review", json={"decision": "block"}, headers={"If-Match": '"5"'}
    )

    assert response.status_code == 412
    assert (await client.get(f"/api/todos/{todo['id']}")).status_code == 200
