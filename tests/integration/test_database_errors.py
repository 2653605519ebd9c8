"""How the API answers database errors: retryable ones as 503, the rest as a logged 500."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request

from todostream.api.errors import _database_error
from todostream.store.database import create_engine

pytestmark = pytest.mark.postgres

LOCK = "SELECT id FROM users WHERE id = :id FOR UPDATE"


async def a_real_deadlock(url: str) -> DBAPIError:
    """Two transactions that each hold a row the other wants; PostgreSQL aborts one."""
    engine = create_engine(url)
    try:
        async with engine.begin() as setup:
            for user in ("a", "b"):
                await setup.execute(
                    text("INSERT INTO users (id, time_zone, created_at) VALUES (:id, 'UTC', :t)"),
                    {"id": user, "t": datetime.now(UTC)},
                )
        both_hold = asyncio.Barrier(2)

        async def take(connection: AsyncConnection, first: str, second: str) -> None:
            async with connection.begin():
                await connection.execute(text(LOCK), {"id": first})
                await both_hold.wait()
                await connection.execute(text(LOCK), {"id": second})

        async with engine.connect() as one, engine.connect() as two:
            outcomes = await asyncio.gather(
                take(one, "a", "b"), take(two, "b", "a"), return_exceptions=True
            )
    finally:
        await engine.dispose()
    [error] = [outcome for outcome in outcomes if isinstance(outcome, DBAPIError)]
    return error


def request() -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": []})


async def test_a_deadlock_victim_is_told_to_retry_with_503(postgres_url: str) -> None:
    error = await a_real_deadlock(postgres_url)

    response = await _database_error(request(), error)

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "retry" in json.loads(response.body)["detail"]


async def test_any_other_database_error_is_a_500_with_its_traceback_logged(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(postgres_url)
    try:
        async with engine.connect() as connection:
            with pytest.raises(DBAPIError) as raised:
                await connection.execute(text("SELECT 1 / 0"))
    finally:
        await engine.dispose()

    with caplog.at_level(logging.ERROR, logger="todostream.api.errors"):
        response = await _database_error(request(), raised.value)

    assert response.status_code == 500
    assert [record.exc_info is not None for record in caplog.records] == [True]
