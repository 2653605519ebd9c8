"""Consumer lag reaches the gauge, and partitions a process stops owning leave it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest
from prometheus_client import CollectorRegistry

from todostream.observability.lag import LagWatcher
from todostream.observability.metrics import Metrics
from todostream.pubsub.broker import Broker, Message


class ReportedLag(Broker):
    """A broker whose lag report the test sets; nothing else of it is used."""

    def __init__(self) -> None:
        super().__init__()
        self.report: dict[tuple[str, str, int], int] = {}
        self.failure: Exception | None = None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, messages: Sequence[Message]) -> None:
        return None

    async def lag(self) -> dict[tuple[str, str, int], int]:
        if self.failure is not None:
            raise self.failure
        return dict(self.report)


def shown(metrics: Metrics) -> dict[str, float]:
    return {
        sample.labels["partition"]: sample.value
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name == "todo_consumer_lag_messages"
    }


async def test_reported_lag_is_set_and_partitions_given_up_are_removed() -> None:
    broker, metrics = ReportedLag(), Metrics(CollectorRegistry())
    watcher = LagWatcher(broker, metrics)

    broker.report = {("g", "todo-events", 0): 5, ("g", "todo-events", 1): 7}
    await watcher.refresh()
    first = shown(metrics)
    broker.report = {("g", "todo-events", 1): 2}
    await watcher.refresh()

    assert first == {"0": 5, "1": 7}
    assert shown(metrics) == {"1": 2}


async def test_an_outage_is_logged_once_in_one_line_and_its_end_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker, metrics = ReportedLag(), Metrics(CollectorRegistry())
    watcher = LagWatcher(broker, metrics, interval_s=0.01)
    broker.failure = TimeoutError()
    caplog.set_level(logging.INFO, logger="todostream.observability.lag")

    watcher.start()
    await asyncio.sleep(0.2)
    broker.failure = None
    await asyncio.sleep(0.1)
    await watcher.stop()

    lines = [(record.getMessage(), record.exc_info) for record in caplog.records]
    assert lines == [("consumer lag unavailable", None), ("consumer lag available again", None)]
    assert caplog.records[0].error == "TimeoutError"
