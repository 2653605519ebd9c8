"""Generated requests against a running service, from its own OpenAPI document (schemathesis's
runner): no input may cause a server error, and every answer must match the status codes,
content types and schemas the document promises."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import TEST_SECRET
from tests.processes import ServiceProcess, base_env, start_service

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    )
)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ServiceProcess]:
    env = base_env(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}",
        AUTH_JWT_SECRET=TEST_SECRET,
        AUTH_ANONYMOUS="false",
        LOG_LEVEL="WARNING",
    )
    process = start_service("dev", ["dev"], env, tmp_path)
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def token() -> str:
    result = subprocess.run(
        [sys.executable, "-m", "todostream", "token", "--user", "fuzzer"],
        env=base_env(AUTH_JWT_SECRET=TEST_SECRET),
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_no_generated_request_breaks_the_api_or_its_documented_contract(
    service: ServiceProcess, tmp_path: Path
) -> None:
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{service.url}/openapi.json",
        "--max-examples=25",
        "--seed=20261204",
        "--phases=examples,coverage,fuzzing",
        f"--checks={CHECKS}",
        f"--header=Authorization: Bearer {token()}",
        f"--report-dir={tmp_path / 'report'}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)

    assert result.returncode == 0, result.stdout[-6000:]
    assert "Traceback" not in service.log.read_text()
