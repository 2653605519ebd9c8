"""The hash-chained audit log: appends, verification, and tampering it detects."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.helpers import make_settings
from todostream.bootstrap import ALL_ROLES, Runtime, build_runtime
from todostream.domain.events import EventType, new_todo_event
from todostream.store import audit_chain
from todostream.store.audit_chain import ChainReport, verify_chain


@pytest.fixture
async def runtime(database_url: str) -> AsyncIterator[Runtime]:
    runtime = build_runtime(make_settings(database_url, relay_enabled=False), ALL_ROLES)
    async with runtime:
        yield runtime


async def append_events(runtime: Runtime, count: int) -> None:
    for number in range(count):
        todo = {"id": str(uuid.uuid4()), "title": f"todo {number}"}
        event = new_todo_event(EventType.CREATED, todo=todo, owner_id="o", version=1, check={})
        async with runtime.uow() as uow:
            await audit_chain.append(uow.session, event, datetime.now(UTC))
            await uow.commit()


async def verify(runtime: Runtime) -> ChainReport:
    async with runtime.sessions() as session:
        return await verify_chain(session)


async def tamper(runtime: Runtime, database_url: str, statement: str) -> None:
    """Run `statement` with the append-only guard lifted, as an attacker with DB access would."""
    async with runtime.engine.begin() as connection:
        if database_url.startswith("sqlite"):
            await connection.execute(text("DROP TRIGGER audit_log_no_update"))
            await connection.execute(text("DROP TRIGGER audit_log_no_delete"))
            await connection.execute(text(statement))
        else:
            await connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
            await connection.execute(text(statement))
            await connection.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))


async def test_an_untouched_chain_verifies(runtime: Runtime) -> None:
    await append_events(runtime, 5)

    report = await verify(runtime)

    assert report.ok
    assert report.rows == 5


async def test_a_chain_growing_while_it_is_verified_verifies(runtime: Runtime) -> None:
    await append_events(runtime, 1100)
    writing = asyncio.create_task(append_events(runtime, 300))

    reports = []
    while not writing.done():
        reports.append(await audit_chain.verify_snapshot(runtime.engine))
    await writing

    assert reports
    assert all(report.ok for report in reports), [r.problem for r in reports if not r.ok]
    assert all(report.rows >= 1100 for report in reports)


async def test_events_timed_in_any_offset_keep_the_chain_verifiable(runtime: Runtime) -> None:
    todo = {"id": str(uuid.uuid4()), "title": "from Kolkata"}
    event = new_todo_event(EventType.CREATED, todo=todo, owner_id="o", version=1, check={})
    kolkata = timezone(timedelta(hours=5, minutes=30))
    late = event.model_copy(update={"time": datetime(2025, 6, 1, 12, tzinfo=kolkata)})
    async with runtime.uow() as uow:
        await audit_chain.append(uow.session, late, datetime.now(kolkata))
        await uow.commit()
    await append_events(runtime, 2)

    report = await verify(runtime)

    assert report.ok, report.problem
    assert report.rows == 3


async def test_an_empty_chain_verifies(runtime: Runtime) -> None:
    assert (await verify(runtime)).ok


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_log SET payload = 'x'", "DELETE FROM audit_log"]
)
async def test_the_database_refuses_to_rewrite_audit_rows(runtime: Runtime, statement: str) -> None:
    await append_events(runtime, 1)

    with pytest.raises(DBAPIError, match="append-only"):
        async with runtime.engine.begin() as connection:
            await connection.execute(text(statement))


async def test_an_altered_row_is_named(runtime: Runtime, database_url: str) -> None:
    await append_events(runtime, 5)

    await tamper(runtime, database_url, "UPDATE audit_log SET owner_id = 'mallory' WHERE seq = 3")

    report = await verify(runtime)
    assert report.first_bad_seq == 3
    assert "altered" in (report.problem or "")


async def test_a_removed_row_is_named(runtime: Runtime, database_url: str) -> None:
    await append_events(runtime, 5)

    await tamper(runtime, database_url, "DELETE FROM audit_log WHERE seq = 2")

    report = await verify(runtime)
    assert report.first_bad_seq == 2
    assert "missing" in (report.problem or "")


async def test_rows_cut_from_the_end_are_detected_through_the_head(
    runtime: Runtime, database_url: str
) -> None:
    await append_events(runtime, 5)

    await tamper(runtime, database_url, "DELETE FROM audit_log WHERE seq > 3")

    report = await verify(runtime)
    assert not report.ok
    assert report.first_bad_seq == 4


async def test_a_recomputed_hash_still_breaks_the_link_to_the_next_row(
    runtime: Runtime, database_url: str
) -> None:
    await append_events(runtime, 4)

    forged = "a" * 64
    await tamper(runtime, database_url, f"UPDATE audit_log SET hash = '{forged}' WHERE seq = 2")

    report = await verify(runtime)
    assert report.first_bad_seq == 2
