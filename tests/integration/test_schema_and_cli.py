"""Schema states (behind, current, newer), concurrent migrations, and what the CLI says."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from tests.conftest import POSTGRES_ADMIN_DSN
from tests.helpers import make_settings
from tests.processes import run_cli as cli
from todostream.bootstrap import ALL_ROLES, build_runtime
from todostream.store import migrate
from todostream.store.database import create_engine


def test_commands_that_need_a_database_say_so_when_there_is_none(tmp_path: Path) -> None:
    result = cli("audit", "verify", cwd=tmp_path)

    assert result.returncode == 2
    assert "there is no database at todostream.db; run `todostream migrate`" in result.stderr
    assert not (tmp_path / "todostream.db").exists()


def test_migrate_refuses_a_database_a_newer_version_migrated_in_one_line(tmp_path: Path) -> None:
    assert cli("migrate", cwd=tmp_path).returncode == 0
    url = f"sqlite+aiosqlite:///{tmp_path / 'todostream.db'}"

    async def pretend_newer() -> None:
        engine = create_engine(url)
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = '0999'"))
        await engine.dispose()

    asyncio.run(pretend_newer())
    result = cli("migrate", cwd=tmp_path)

    assert result.returncode == 2
    assert "revision 0999, which this version of todostream does not know" in result.stderr
    assert "Traceback" not in result.stderr


async def test_readiness_refuses_a_schema_behind_and_accepts_one_that_is_newer(
    database_url: str,
) -> None:
    runtime = build_runtime(make_settings(database_url, relay_enabled=False), ALL_ROLES)
    async with runtime:
        assert (await runtime.readiness())["schema"] == "ok"
        async with runtime.engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = '0999'"))
        newer = await runtime.readiness()
        async with runtime.engine.begin() as connection:
            await connection.execute(text("DELETE FROM alembic_version"))
        behind = await runtime.readiness()
        async with runtime.engine.begin() as connection:
            await connection.execute(text("INSERT INTO alembic_version VALUES ('0001')"))

    assert newer["schema"] == "ok"
    assert behind["schema"] == "behind by 1 migration"


@pytest.fixture
async def empty_postgres() -> AsyncIterator[str]:
    name = f"todostream_migrate_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_DSN.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


@pytest.mark.postgres
async def test_several_processes_may_migrate_one_database_at_the_same_time(
    empty_postgres: str,
) -> None:
    engines = [create_engine(empty_postgres) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(migrate.upgrade(engine) for engine in engines))
        state = await migrate.schema_state(engines[0])
    finally:
        for engine in engines:
            await engine.dispose()

    script = ScriptDirectory.from_config(migrate.alembic_config())
    every_revision = [revision.revision for revision in reversed(list(script.walk_revisions()))]
    assert sorted(applied, key=len) == [[], [], every_revision]
    assert state.pending == ()
    assert state.unknown == ()
