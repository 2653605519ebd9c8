"""`todostream api --workers 2`: requests served by either worker are all counted once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.brokers import redis_component
from tests.helpers import TEST_SECRET
from tests.processes import ServiceProcess, base_env, start_service


@pytest.fixture
def api(postgres_url: str, tmp_path: Path) -> Iterator[tuple[ServiceProcess, Path]]:
    multiprocess_dir = tmp_path / "prometheus-multiproc"
    env = base_env(
        DATABASE_URL=postgres_url,
        PUBSUB_COMPONENT=str(redis_component(tmp_path / "redis.yaml")),
        AUTH_JWT_SECRET=TEST_SECRET,
        PROMETHEUS_MULTIPROC_DIR=str(multiprocess_dir),
    )
    service = start_service("api", ["api", "--workers", "2"], env, tmp_path)
    try:
        service.wait_ready()
        yield service, multiprocess_dir
    finally:
        service.stop()


def counted(exposition: str, endpoint: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "http_requests_total" and sample.labels.get("endpoint") == endpoint
    )


async def test_requests_served_by_any_worker_are_counted_once(
    api: tuple[ServiceProcess, Path],
) -> None:
    service, multiprocess_dir = api
    fresh_connections = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=service.url, limits=fresh_connections) as client:

        async def burst(count: int) -> None:
            for _ in range(count):
                assert (await client.get("/healthz")).status_code == 200

        await asyncio.gather(*(burst(25) for _ in range(8)))
        readings = [counted((await client.get("/metrics")).text, "/healthz") for _ in range(8)]

    assert set(readings) == {200}
    served_by = {path.name for path in multiprocess_dir.glob("counter_*.db")}
    assert len(served_by) == 2, served_by
