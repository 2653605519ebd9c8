"""Helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from todostream.config import Settings

TEST_SECRET = "test-secret-that-is-long-enough-for-hs256"


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "auth_jwt_secret": SecretStr(TEST_SECRET),
        "relay_poll_interval_ms": 20,
        "consumer_retry_backoff_ms": 5,
        "consumer_gap_wait_ms": 300,
        **overrides,
    }
    return Settings(**values)


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float = 10.0, interval_s: float = 0.02
) -> None:
    """Wait until `check()` is true; fail with a clear message when it never becomes so."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"condition not met within {timeout_s}s: {check.__qualname__}")
        await asyncio.sleep(interval_s)
