"""Kafka under trouble, with every role in its own process: a consumer SIGKILLed mid-load, and
the broker unreachable for a while. Every acknowledged write's events must be handled exactly
once by notification and audit, in each todo's version order."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.brokers import Tansu, kafka_component
from tests.helpers import TEST_SECRET
from tests.processes import ServiceProcess, base_env, start_service
from todostream.store.audit_chain import verify_chain
from todostream.store.database import create_engine
from todostream.store.tables import AuditRow, NotificationRow, OutboxRow, ProcessedEventRow

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(os.environ.get("KAFKA_BOOTSTRAP")),
        reason="stops and kills a broker, so it needs the tansu broker these tests start",
    ),
]


@pytest.fixture
def env(postgres_url: str, tansu: Tansu, tmp_path: Path) -> dict[str, str]:
    component = kafka_component(tmp_path / "kafka.yaml", tansu.bootstrap)
    return base_env(
        DATABASE_URL=postgres_url,
        PUBSUB_COMPONENT=str(component),
        AUTH_JWT_SECRET=TEST_SECRET,
        RELAY_POLL_INTERVAL_MS="100",
        CONSUMER_GAP_WAIT_MS="3000",
    )


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(postgres_url, pool_size=2)
    yield engine
    await engine.dispose()


@dataclass
class Services:
    env: dict[str, str]
    workdir: Path
    running: list[ServiceProcess] = field(default_factory=list)

    def start(self, name: str, *args: str) -> ServiceProcess:
        service = start_service(name, list(args), self.env, self.workdir)
        self.running.append(service)
        return service

    def wait_ready(self) -> None:
        for service in self.running:
            service.wait_ready()


@pytest.fixture
def services(env: dict[str, str], tmp_path: Path) -> Iterator[Services]:
    started = Services(env, tmp_path)
    yield started
    for service in started.running:
        service.stop()


@dataclass
class Load:
    """Writes from concurrent clients; remembers every acknowledged one."""

    apis: list[ServiceProcess]
    acknowledged: dict[str, int] = field(default_factory=dict)
    writes: int = 0
    failures: list[str] = field(default_factory=list)

    async def run(self, todos: int, *, workers: int = 16, on_progress: object = None) -> None:
        counter = itertools.count()
        # Idle connections expire well before uvicorn closes them (5 s), so a request never
        # races the server closing the connection it reuses.
        limits = httpx.Limits(keepalive_expiry=1)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            await asyncio.gather(
                *(self._worker(client, counter, todos, on_progress) for _ in range(workers))
            )

    async def _worker(
        self, client: httpx.AsyncClient, counter: itertools.count[int], todos: int, hook: object
    ) -> None:
        while (number := next(counter)) < todos:
            api = self.apis[number % len(self.apis)].url
            response = await client.post(f"{api}/api/todos", json={"title": f"todo {number}"})
            if response.status_code != 201:
                self.failures.append(f"create {number}: {response.status_code}")
                continue
            self._acknowledge(response)
            if number % 7 == 0:
                await self._update_twice(client, response.json()["id"], number)
            if callable(hook):
                hook(self)

    async def _update_twice(self, client: httpx.AsyncClient, todo_id: str, number: int) -> None:
        for step in (1, 2):
            api = self.apis[(number + step) % len(self.apis)].url
            response = await client.patch(
                f"{api}/api/todos/{todo_id}", json={"title": f"todo {number} v{step + 1}"}
            )
            if response.status_code != 200:
                self.failures.append(f"update {todo_id}: {response.status_code}")
                return
            self._acknowledge(response)

    def _acknowledge(self, response: httpx.Response) -> None:
        todo = response.json()
        self.acknowledged[todo["id"]] = todo["version"]
        self.writes += 1


async def scalar(engine: AsyncEngine, query: object) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())  # type: ignore[call-overload]


async def wait_until_handled(engine: AsyncEngine, events: int, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    counts: tuple[int, int] = (0, 0)
    while time.monotonic() < deadline:
        notified = await scalar(engine, select(func.count()).select_from(NotificationRow))
        audited = await scalar(engine, select(func.count()).select_from(AuditRow))
        counts = (notified, audited)
        if counts == (events, events):
            return
        await asyncio.sleep(0.5)
    pytest.fail(f"after {timeout_s}s {counts} of {events} events notified/audited")


async def assert_exactly_once_in_order(engine: AsyncEngine, load: Load) -> None:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(OutboxRow.event_id).where(OutboxRow.topic == "todo-events")
        )
        events = {event_id for (event_id,) in rows}
        notified = [e for (e,) in await connection.execute(select(NotificationRow.event_id))]
        audited = await connection.execute(
            text(
                "SELECT event_id, todo_id, payload::json->'data'->>'version'"
                " FROM audit_log ORDER BY seq"
            )
        )
        audit_rows = list(audited)
        processed = await connection.execute(
            select(ProcessedEventRow.consumer, func.count()).group_by(ProcessedEventRow.consumer)
        )
        processed_counts = dict(processed.all())
    assert len(events) == load.writes
    assert sorted(notified) == sorted(events)
    assert sorted(row[0] for row in audit_rows) == sorted(events)
    assert processed_counts == {"notification": len(events), "audit": len(events)}
    versions: dict[str, list[int]] = defaultdict(list)
    for _, todo_id, version in audit_rows:
        versions[todo_id].append(int(version))
    assert {todo: seen[-1] for todo, seen in versions.items()} == load.acknowledged
    assert all(seen == sorted(seen) for seen in versions.values())


async def test_two_apis_and_two_notification_consumers_survive_a_sigkill(
    services: Services, engine: AsyncEngine
) -> None:
    apis = [services.start("api-1", "api"), services.start("api-2", "api")]
    notifiers = [
        services.start("notification-1", "notification"),
        services.start("notification-2", "notification"),
    ]
    services.start("audit", "audit", "serve")
    services.wait_ready()
    load = Load(apis)

    def kill_one_consumer_halfway(progress: Load) -> None:
        if progress.writes >= 1000 and notifiers[0].process.poll() is None:
            notifiers[0].kill()

    await load.run(2000, on_progress=kill_one_consumer_halfway)

    assert load.failures == []
    assert notifiers[0].process.returncode == -9
    await wait_until_handled(engine, load.writes)
    await assert_exactly_once_in_order(engine, load)
    async with engine.connect() as connection, AsyncSession(bind=connection) as session:
        assert (await verify_chain(session)).ok


async def test_writes_succeed_while_the_broker_is_away_and_every_event_follows(
    services: Services, engine: AsyncEngine, tansu: Tansu
) -> None:
    api = services.start("api", "api")
    services.start("notification", "notification")
    services.start("audit", "audit", "serve")
    services.wait_ready()
    load = Load([api])
    during: dict[str, int] = {}

    async def outage() -> None:
        await asyncio.sleep(2)
        tansu.pause()
        during["paused_at"] = load.writes
        await asyncio.sleep(4)
        async with httpx.AsyncClient(timeout=10) as client:
            during["ready_status"] = (await client.get(f"{api.url}/readyz")).status_code
        await asyncio.sleep(4)
        during["backlog"] = await scalar(engine, unpublished_events())
        during["resumed_at"] = load.writes
        tansu.resume()

    await asyncio.gather(load.run(800, workers=4), outage())

    assert load.failures == []
    assert during["ready_status"] == 503, during
    assert during["resumed_at"] - during["paused_at"] > 50, during
    assert during["backlog"] > 50, during
    await wait_until_handled(engine, load.writes)
    await assert_exactly_once_in_order(engine, load)


def unpublished_events() -> object:
    return (
        select(func.count())
        .select_from(OutboxRow)
        .where(OutboxRow.published_at.is_(None), OutboxRow.topic == "todo-events")
    )


def test_a_service_starts_while_kafka_is_unreachable_and_connects_when_it_answers(
    postgres_url: str, tmp_path: Path
) -> None:
    broker = Tansu()
    component = kafka_component(tmp_path / "kafka.yaml", broker.bootstrap)
    env = base_env(
        DATABASE_URL=postgres_url, PUBSUB_COMPONENT=str(component), AUTH_JWT_SECRET=TEST_SECRET
    )
    api = start_service("api", ["api"], env, tmp_path)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                readiness = httpx.get(f"{api.url}/readyz", timeout=5)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert readiness.status_code == 503
        assert readiness.json()["checks"]["broker"] == "unavailable"
        assert httpx.post(f"{api.url}/api/todos", json={"title": "early"}).status_code == 201
        broker.start()
        api.wait_ready(timeout_s=60)
        assert api.process.poll() is None
    finally:
        api.stop()
        broker.stop()
