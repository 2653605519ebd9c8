"""Consumer lag as a gauge: how far each consumer group is behind, per partition."""

from __future__ import annotations

import asyncio
import logging

from todostream.observability.logging import describe_error
from todostream.observability.metrics import Metrics
from todostream.pubsub.broker import Broker, BrokerError, cancel_and_wait

log = logging.getLogger(__name__)


class LagWatcher:
    """Copies the broker's view of consumer lag into `todo_consumer_lag_messages` every few
    seconds; a broker that cannot say (Dapr) leaves the gauge empty."""

    def __init__(self, broker: Broker, metrics: Metrics, interval_s: float = 5.0) -> None:
        self._broker = broker
        self._gauge = metrics.consumer_lag
        self._interval = interval_s
        self._task: asyncio.Task[None] | None = None
        self._shown: set[tuple[str, str, str]] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="consumer-lag")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None

    async def refresh(self) -> None:
        """Set the reported partitions; drop those this process no longer owns (after a
        rebalance), whose last value would otherwise linger and overstate the lag."""
        reported = {
            (group, topic, str(partition)): behind
            for (group, topic, partition), behind in (await self._broker.lag()).items()
        }
        for labels in self._shown - reported.keys():
            self._gauge.remove(*labels)
        for labels, behind in reported.items():
            self._gauge.labels(*labels).set(behind)
        self._shown = set(reported)

    async def _run(self) -> None:
        """Refresh forever; an outage is logged once when it starts and once when it ends, not
        every few seconds, and an expected one (broker down, timeout) without a traceback."""
        failing = False
        while True:
            try:
                await asyncio.wait_for(self.refresh(), timeout=self._interval)
            except (BrokerError, OSError, TimeoutError) as exc:
                if not failing:
                    log.warning("consumer lag unavailable", extra={"error": describe_error(exc)})
                failing = True
            except Exception:
                if not failing:
                    log.exception("consumer lag unavailable: unexpected error")
                failing = True
            else:
                if failing:
                    log.info("consumer lag available again")
                failing = False
            await asyncio.sleep(self._interval)
