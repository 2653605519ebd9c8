"""The README's first example, run for real: `todostream dev`, then `todostream import` of every
sample file, a notification log line and an audit row per event, and `audit verify`."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

SAMPLES = sorted((Path(__file__).parents[1] / "data" / "todotxt").glob("*.txt"))
REPORT = re.compile(r"(\d+) created, (\d+) flagged, (\d+) blocked, (\d+) skipped")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Service:
    url: str
    cwd: Path
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "todostream", *args]
        return subprocess.run(
            command, cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=300
        )

    def log_records(self) -> list[dict[str, object]]:
        records = []
        for line in self.log.read_text(encoding="utf-8").splitlines():
            if line.startswith("{"):
                records.append(json.loads(line))
        return records


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "PUBSUB_"))},
        "LOG_FORMAT": "json",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'todostream.db'}",
    }
    log = tmp_path / "service.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "todostream", "dev", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    service = Service(f"http://127.0.0.1:{port}", tmp_path, env, log, process)
    try:
        wait_until_ready(service)
        yield service
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_ready(service: Service, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            pytest.fail(f"service exited early:\n{service.log.read_text()}")
        try:
            if httpx.get(f"{service.url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"service not ready within {timeout_s}s:\n{service.log.read_text()}")


def wait_for(condition: object, timeout_s: float = 60) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not reached within {timeout_s}s: {condition.__name__}")
        time.sleep(0.2)


def test_importing_every_sample_gives_a_notification_and_an_audit_row_per_event(
    service: Service,
) -> None:
    events = 0
    for sample in SAMPLES:
        result = service.cli("import", str(sample))
        assert result.returncode == 0, result.stderr
        created, flagged, blocked, _ = map(int, REPORT.findall(result.stdout)[0])
        assert created + flagged + blocked > 0, result.stdout
        events += created + flagged + blocked

    def every_event_notified() -> bool:
        sent = [r for r in service.log_records() if r.get("message") == "notification sent"]
        return len(sent) == events

    wait_for(every_event_notified)
    sent = [r for r in service.log_records() if r.get("message") == "notification sent"]
    assert all(r["todo_id"] and r["event_type"] and "title" in r for r in sent)

    def every_event_audited() -> bool:
        verify = service.cli("audit", "verify")
        return verify.returncode == 0 and f"{events} rows verified" in verify.stdout

    wait_for(every_event_audited)


def test_import_over_http_streams_progress_and_reports(service: Service) -> None:
    token = service.cli("token").stdout.strip()
    sample = next(path for path in SAMPLES if path.name.startswith("01-"))

    result = service.cli("import", str(sample), "--url", service.url, "--token", token)

    assert result.returncode == 0, result.stderr
    assert "239 created, 0 flagged, 0 blocked, 36 skipped" in result.stdout
    todos = httpx.get(f"{service.url}/api/todos?limit=500", timeout=10).json()
    assert len(todos) == 239


def test_the_service_stops_cleanly_on_sigterm(service: Service) -> None:
    service.process.send_signal(signal.SIGTERM)

    # uvicorn shuts down gracefully, then re-raises the signal so the exit status tells why.
    assert service.process.wait(timeout=20) in (0, -signal.SIGTERM)
    messages = [record.get("message") for record in service.log_records()]
    assert "runtime stopped" in messages
    assert "Traceback" not in service.log.read_text()
