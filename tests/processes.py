"""Whole todostream processes for end-to-end tests: started from the command line, stopped
by PID, their logs kept in files for when a test fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.brokers import free_port
from tests.helpers import TEST_SECRET


@dataclass
class ServiceProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(
            f"{self.name} not ready in {timeout_s}s:\n{self.log.read_text()[-3000:]}"
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when a pod or machine dies."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def base_env(**settings: str) -> dict[str, str]:
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "PUBSUB_", "AUTH_", "RELAY_", "CONSUMER_", "LOG_"))
    }
    return {**inherited, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO", **settings}


def start_service(name: str, args: list[str], env: dict[str, str], workdir: Path) -> ServiceProcess:
    """Start `todostream <args> --port <free>`; the caller waits for readiness."""
    port = free_port()
    log = workdir / f"{name}.log"
    command = [sys.executable, "-m", "todostream", *args, "--port", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    return ServiceProcess(name, port, process, log)


def run_cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `todostream <args>` to completion with the test secret and the given settings."""
    environment = {**base_env(AUTH_JWT_SECRET=TEST_SECRET), **env}
    command = [sys.executable, "-m", "todostream", *args]
    return subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120
    )
