"""Shared fixtures: real databases (a SQLite file and a PostgreSQL database per run),
a started runtime on the in-memory broker, and an HTTP client on the app."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.brokers import Tansu
from tests.helpers import make_settings
from todostream.api.app import create_app
from todostream.bootstrap import ALL_ROLES, Role, Runtime, build_runtime
from todostream.config import Settings
from todostream.store import migrate
from todostream.store.database import create_engine

POSTGRES_ADMIN_DSN = os.environ.get(
    "TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TABLES = (
    "users, todos, outbox, processed_events, applied_versions, notifications, audit_log, audit_head"
)

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test so tests never share state."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A PostgreSQL database of this test run, migrated once and dropped at the end."""
    name = f"todostream_test_{uuid.uuid4().hex[:12]}"

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_DSN.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0]
    url = f"{url}/{name}"
    asyncio.run(_migrate(url))
    yield url
    asyncio.run(admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _empty_postgres(url: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
        await connection.execute(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, $1)", "0" * 64
        )
    finally:
        await connection.close()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that asks for a database runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "todostream.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    asyncio.run(_empty_postgres(url))
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def roles() -> frozenset[Role]:
    return ALL_ROLES


@pytest.fixture
async def runtime(settings: Settings, roles: frozenset[Role]) -> AsyncIterator[Runtime]:
    runtime = build_runtime(settings, roles)
    async with runtime:
        yield runtime


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime, manage_runtime=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://todostream.test") as client:
        yield client


@pytest.fixture
def auth(runtime: Runtime) -> Callable[[str], dict[str, str]]:
    """Headers that act as the given user."""

    def headers(user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {runtime.authenticator.issue(user)}"}

    return headers


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """This run's PostgreSQL database, emptied for the test (for multi-process scenarios)."""
    asyncio.run(_empty_postgres(postgres_database))
    return postgres_database


@pytest.fixture
def tansu() -> Iterator[Tansu]:
    """A tansu broker of the test's own, for tests that stop, restart or fill it."""
    broker = Tansu().start()
    yield broker
    broker.stop()
