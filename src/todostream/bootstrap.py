"""Wiring: builds one process's parts from settings and starts and stops them together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from types import TracebackType
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from todostream.api.auth import Authenticator, resolve_secret
from todostream.config import PubSubMode, Settings
from todostream.consumers.audit import AuditHandler
from todostream.consumers.notification import NotificationHandler
from todostream.consumers.runner import ConsumerRunner, EventHandler, RetryPolicy
from todostream.domain.constitution import Constitution
from todostream.domain.events import TODO_EVENTS_TOPIC
from todostream.observability.lag import LagWatcher
from todostream.observability.metrics import Metrics
from todostream.pubsub.broker import Broker
from todostream.pubsub.component import Component, load_component
from todostream.pubsub.factory import consumer_group, create_broker
from todostream.pubsub.relay import OutboxRelay
from todostream.service_layer.todos import TodoService
from todostream.store import migrate, outbox
from todostream.store.database import create_engine, create_session_factory, ping
from todostream.store.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


class Role(StrEnum):
    API = "api"
    NOTIFICATION = "notification"
    AUDIT = "audit"


ALL_ROLES = frozenset(Role)


@dataclass
class Runtime:
    """Everything one process runs; `async with runtime:` starts and stops it."""

    settings: Settings
    roles: frozenset[Role]
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    metrics: Metrics
    component: Component
    broker: Broker
    constitution: Constitution
    authenticator: Authenticator
    relay: OutboxRelay | None = None
    consumers: dict[str, ConsumerRunner] = field(default_factory=dict)
    lag: LagWatcher | None = None
    todos: TodoService = field(init=False)
    started: bool = False

    def __post_init__(self) -> None:
        self.todos = TodoService(self.uow, self.constitution, observe=self._count_operation)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, self.relay.wake if self.relay else None)

    def _count_operation(self, operation: str) -> None:
        self.metrics.crud_operations.labels(operation=operation).inc()

    async def start(self) -> None:
        if self.consumers and not self.broker.durable:
            await self._replay_undelivered()
        for name, runner in self.consumers.items():
            self.broker.subscribe(TODO_EVENTS_TOPIC, consumer_group(self.component, name), runner)
        await self.broker.start()
        if self.relay is not None:
            self.relay.start()
        if self.consumers:
            self.lag = LagWatcher(self.broker, self.metrics)
            self.lag.start()
        self.started = True
        log.info(
            "runtime started",
            extra={"roles": ",".join(sorted(self.roles)), "broker": self.component.type},
        )

    async def _replay_undelivered(self) -> None:
        """The in-memory broker lost what it held when the last process stopped; publish again
        every event one of this process's consumers has not processed."""
        async with self.sessions() as session, session.begin():
            count = await outbox.unpublish_unconsumed(
                session, TODO_EVENTS_TOPIC, sorted(self.consumers)
            )
        if count:
            log.info("republishing events the last run did not deliver", extra={"count": count})

    async def stop(self) -> None:
        if self.lag is not None:
            await self.lag.stop()
        if self.relay is not None:
            await self.relay.stop()
        await self.broker.stop()
        await self.engine.dispose()
        self.started = False
        log.info("runtime stopped", extra={"roles": ",".join(sorted(self.roles))})

    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def readiness(self) -> dict[str, Any]:
        """What `/readyz` reports: each dependency and whether it is usable."""
        checks: dict[str, Any] = {}
        try:
            await asyncio.wait_for(ping(self.engine), timeout=2)
            checks["database"] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready; reported, not raised
            checks["database"] = f"unavailable: {exc.__class__.__name__}"
        if self.relay is not None:
            checks["relay"] = "ok" if self.relay.running else "stopped"
        if checks["database"] == "ok":
            checks["schema"] = await self._schema_state()
        checks["broker"] = "ok" if await self.broker.healthy() else "unavailable"
        return checks

    async def _schema_state(self) -> str:
        """Behind is not ready; newer (a rolling upgrade has migrated) is fine for old code."""
        state = await migrate.schema_state(self.engine)
        return state.describe() if state.behind else "ok"


def build_runtime(
    settings: Settings,
    roles: frozenset[Role] = ALL_ROLES,
    *,
    registry: CollectorRegistry | None = None,
    broker: Broker | None = None,
) -> Runtime:
    """Build (not start) the parts `roles` need; `broker` lets tests share one in-memory broker."""
    engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
    sessions = create_session_factory(engine)
    metrics = Metrics(registry if registry is not None else CollectorRegistry())
    component = load_component(settings.pubsub_component)
    broker = broker or create_broker(settings, component)
    runtime = Runtime(
        settings=settings,
        roles=roles,
        engine=engine,
        sessions=sessions,
        metrics=metrics,
        component=component,
        broker=broker,
        constitution=Constitution.from_file(settings.constitution_file),
        authenticator=Authenticator(
            resolve_secret(settings),
            allow_anonymous=settings.auth_anonymous,
            local_user_id=settings.local_user_id,
        ),
    )
    if settings.relay_enabled:
        runtime.relay = _relay(settings, sessions, broker, metrics)
    runtime.consumers = _consumers(settings, roles, runtime.uow, broker, metrics)
    return runtime


def _relay(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    broker: Broker,
    metrics: Metrics,
) -> OutboxRelay:
    return OutboxRelay(
        sessions,
        broker,
        metrics,
        batch_size=settings.relay_batch_size,
        poll_interval_ms=settings.relay_poll_interval_ms,
        max_backoff_ms=settings.relay_max_backoff_ms,
        retention=timedelta(hours=settings.outbox_retention_hours),
    )


def _consumers(
    settings: Settings,
    roles: frozenset[Role],
    uow: Callable[[], UnitOfWork],
    broker: Broker,
    metrics: Metrics,
) -> dict[str, ConsumerRunner]:
    pushed = settings.pubsub_mode is PubSubMode.DAPR
    policy = RetryPolicy(
        max_attempts=settings.consumer_max_attempts,
        backoff_ms=settings.consumer_retry_backoff_ms,
        gap_wait_ms=0 if broker.ordered_per_key else settings.consumer_gap_wait_ms,
        transient_attempts=settings.consumer_max_attempts if pushed else None,
    )
    handlers: dict[Role, EventHandler] = {
        Role.NOTIFICATION: NotificationHandler(metrics),
        Role.AUDIT: AuditHandler(),
    }
    return {
        role.value: ConsumerRunner(role.value, handler, uow, broker, metrics, policy)
        for role, handler in handlers.items()
        if role in roles
    }
