"""Engine and session factory for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SQLITE_BUSY_TIMEOUT_MS = 30_000


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_path(url: str) -> Path | None:
    """The file a SQLite URL names (None for PostgreSQL or an in-memory SQLite)."""
    database = make_url(url).database
    if not is_sqlite(url) or not database or database == ":memory:":
        return None
    return Path(database)


def create_engine(
    url: str, *, pool_size: int = 20, application_name: str = "todostream"
) -> AsyncEngine:
    """Build the engine; SQLite gets WAL, foreign keys and immediate write transactions."""
    if is_sqlite(url):
        # One connection per process: writers queue on the pool, which awaits, instead of in
        # SQLite's busy handler, which sleeps in growing steps and stalls the driver's thread.
        engine = create_async_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=1,
            max_overflow=0,
            pool_timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
        )
        _configure_sqlite(engine)
        return engine
    # No overflow: a burst waits for a pooled connection instead of opening (and, on return,
    # closing) extra ones, which cost more than the wait (measured: 3x slower under 16 clients).
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=30,
        pool_recycle=1800,
        connect_args={"server_settings": {"application_name": application_name}},
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    """Take the write lock at BEGIN so two writers queue instead of failing with 'locked'."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        # SQLite's own lower() folds ASCII only; filters and sorts must fold "École" as
        # PostgreSQL does.
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def dialect_of(session: AsyncSession) -> str:
    """The session's database dialect name: "sqlite" or "postgresql"."""
    return session.get_bind().dialect.name


async def ping(engine: AsyncEngine) -> None:
    """Raise if the database cannot answer a trivial query."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
