"""Schema migrations with Alembic, run on an engine the caller already has."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to `revision`, in one transaction where the database allows it."""
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))


async def pending_revisions(engine: AsyncEngine) -> list[str]:
    """Revisions not yet applied; empty when the schema is current."""

    def _pending(sync: Connection) -> list[str]:
        current = set(MigrationContext.configure(sync).get_current_heads())
        script = ScriptDirectory.from_config(alembic_config())
        heads = script.get_revisions("heads")
        pending = []
        for head in heads:
            for revision in script.iterate_revisions(head.revision, None):
                if revision.revision in current:
                    break
                pending.append(revision.revision)
        return pending

    async with engine.connect() as connection:
        return await connection.run_sync(_pending)
