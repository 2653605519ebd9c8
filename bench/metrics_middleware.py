"""Throughput of one endpoint with no metrics, our pure ASGI middleware, the instrumentator
library set up for the same metrics, and BaseHTTPMiddleware; wrk drives each in turn.

Needs `wrk` (Debian package) and the bench extra (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import shutil
import socket
import statistics
import sys

VARIANTS = ("bare", "pure_asgi", "library", "base_http")
WRK = ("-t2", "-c16", "-d5s")
ROUNDS = 3


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _requests_per_second(variant: str) -> float:
    port = _free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn", f"bench.metrics_apps:{variant}", "--factory",
        "--port", str(port), "--log-level", "warning",
    )  # fmt: skip
    try:
        await asyncio.sleep(2)
        url = f"http://127.0.0.1:{port}/api/todos/0b9f3c3e-7a4e-4c3e-9d0c-2f5c2f9f8a11"
        await _wrk(url, "-d1s")  # warm-up
        output = await _wrk(url, *WRK[2:])
    finally:
        server.terminate()
        await server.wait()
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if match is None:
        raise RuntimeError(f"wrk gave no rate:\n{output}")
    return float(match.group(1))


async def _wrk(url: str, *duration: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "wrk", *WRK[:2], *duration, url, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    return out.decode()


async def main() -> None:
    if shutil.which("wrk") is None:
        print("metrics middleware: not measured, wrk is not installed (apt-get install wrk)")
        return
    if importlib.util.find_spec("prometheus_fastapi_instrumentator") is None:
        print(
            "metrics middleware: not measured, install the bench extra: pip install -e '.[bench]'"
        )
        return
    samples: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for _ in range(ROUNDS):  # interleaved, so drift in machine load hits every variant alike
        for variant in VARIANTS:
            samples[variant].append(await _requests_per_second(variant))
    rates = {variant: statistics.median(values) for variant, values in samples.items()}
    print(f"request metrics, one small endpoint, wrk -t2 -c16 -d5s, median of {ROUNDS} rounds")
    for variant, rate in rates.items():
        print(f"  {variant:<10} {rate:8.0f} req/s   {rate / rates['bare']:6.1%} of bare")
