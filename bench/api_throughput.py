"""Requests per second of the all-in-one service on SQLite: creates, then list pages.

Starts `todostream dev` on a free port in a scratch directory, drives it from this process with
a fixed number of concurrent clients for a fixed time, and prints the rates and latencies.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

CONCURRENCY = 16
SECONDS = 5.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_ready(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready")


async def hammer(
    name: str, request: Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]
) -> None:
    latencies: list[float] = []
    deadline = time.perf_counter() + SECONDS
    limits = httpx.Limits(max_connections=CONCURRENCY)

    async def worker(client: httpx.AsyncClient, number: int) -> None:
        count = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await request(client, number * 1_000_000 + count)
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)
            count += 1

    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client, n) for n in range(CONCURRENCY)))
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"{name:<28} {len(latencies) / SECONDS:8.0f} req/s   "
        f"median {statistics.median(latencies) * 1000:6.1f} ms   p99 {p99 * 1000:6.1f} ms"
    )


async def main() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as scratch:
        env = {
            **os.environ,
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": f"sqlite+aiosqlite:///{Path(scratch) / 'bench.db'}",
        }
        command = [sys.executable, "-m", "todostream", "dev", "--port", str(port)]
        process = await asyncio.create_subprocess_exec(
            *command, cwd=scratch, env=env, stdout=asyncio.subprocess.DEVNULL
        )
        try:
            await wait_ready(url)
            print(
                f"todostream dev on SQLite, {CONCURRENCY} concurrent clients, {SECONDS:.0f} s each"
            )
            await hammer(
                "POST /api/todos",
                lambda client, n: client.post(f"{url}/api/todos", json={"title": f"bench {n}"}),
            )
            await hammer(
                "GET /api/todos?limit=50",
                lambda client, n: client.get(f"{url}/api/todos?limit=50"),
            )
            await hammer("GET /healthz", lambda client, n: client.get(f"{url}/healthz"))
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), timeout=30)
