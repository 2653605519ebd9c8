"""Schema migrations with Alembic, run on an engine the caller already has."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
LOCK_KEY = 0x746F646F  # "todo": the advisory lock every migrating process takes


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


class UnknownRevision(Exception):
    """The database was migrated by a newer todostream than this one."""


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Where the database stands against this code's migrations.

    `pending` are migrations to apply (the schema is behind: this code cannot run on it);
    `unknown` are revisions this code has never heard of (a newer version migrated the
    database, as during a rolling upgrade: older code keeps running on the expanded schema).
    """

    pending: tuple[str, ...]
    unknown: tuple[str, ...]

    @property
    def behind(self) -> bool:
        return bool(self.pending) and not self.unknown

    def describe(self) -> str:
        if self.unknown:
            return f"newer than this version (revision {', '.join(self.unknown)})"
        if self.pending:
            count = len(self.pending)
            return f"behind by {count} migration{'s' if count != 1 else ''}"
        return "ok"


async def upgrade(engine: AsyncEngine, revision: str = "head") -> list[str]:
    """Bring the schema to `revision`, in one transaction where the database allows it;
    returns the revisions this call applied, oldest first.

    On PostgreSQL a transaction-scoped advisory lock lets several processes run this at once
    (each replica's start-up, a Job): the first migrates, the others then find nothing to do.
    """
    state = await schema_state(engine)
    if state.unknown:
        raise UnknownRevision(
            f"the database is at revision {', '.join(state.unknown)}, which this version of"
            " todostream does not know: a newer version migrated it; run that version's migrate"
        )
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        return await connection.run_sync(lambda sync: _apply(sync, revision))


def _apply(sync: Connection, revision: str) -> list[str]:
    before = _state(sync).pending
    command.upgrade(alembic_config(sync), revision)
    after = set(_state(sync).pending)
    return [applied for applied in reversed(before) if applied not in after]


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))


async def schema_state(engine: AsyncEngine) -> SchemaState:
    async with engine.connect() as connection:
        return await connection.run_sync(_state)


def _state(sync: Connection) -> SchemaState:
    current = set(MigrationContext.configure(sync).get_current_heads())
    script = ScriptDirectory.from_config(alembic_config())
    known = {revision.revision for revision in script.walk_revisions()}
    pending = []
    for head in script.get_revisions("heads"):
        for revision in script.iterate_revisions(head.revision, None):
            if revision.revision in current:
                break
            pending.append(revision.revision)
    return SchemaState(tuple(pending), tuple(sorted(current - known)))


async def pending_revisions(engine: AsyncEngine) -> list[str]:
    """Revisions not yet applied; empty when the schema is current (or newer)."""
    state = await schema_state(engine)
    return [] if state.unknown else list(state.pending)
