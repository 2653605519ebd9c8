"""Prometheus metrics under the exact names dashboards and alerts depend on.

Every process builds one `Metrics` on a registry it is given, so tests use a fresh registry
each and several apps can live in one process (the all-in-one mode).
"""

from __future__ import annotations

import os

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client import multiprocess as prometheus_multiprocess

# `*_created` timestamps double the series of every counter and histogram; no dashboard or
# alert here reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

HTTP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
PIPELINE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.http_requests = Counter(
            "http_requests_total",
            "HTTP requests by method, route template and status code.",
            ["method", "endpoint", "status_code"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "http_request_duration_seconds",
            "Time from request start to the last byte of the response.",
            ["method", "endpoint"],
            buckets=HTTP_BUCKETS,
            registry=registry,
        )
        self.events_published = Counter(
            "todo_events_published_total",
            "Events the outbox relay published and the broker acknowledged.",
            ["event_type"],
            registry=registry,
        )
        self.crud_operations = Counter(
            "todo_crud_operations_total",
            "Todo operations served successfully.",
            ["operation"],
            registry=registry,
        )
        self._relay_metrics(registry)
        self._consumer_metrics(registry)

    def _relay_metrics(self, registry: CollectorRegistry) -> None:
        self.outbox_pending = Gauge(
            "todo_outbox_pending_events",
            "Events written to the outbox and not yet published.",
            registry=registry,
            multiprocess_mode="max",
        )
        self.outbox_oldest_age = Gauge(
            "todo_outbox_oldest_pending_age_seconds",
            "Age of the oldest unpublished outbox event (0 when none).",
            registry=registry,
            multiprocess_mode="max",
        )
        self.relay_failures = Counter(
            "todo_outbox_publish_failures_total",
            "Relay batches the broker did not acknowledge.",
            registry=registry,
        )
        self.outbox_rejected = Counter(
            "todo_outbox_rejected_total",
            "Events the broker refused as such (too large, say), parked on a dead-letter topic.",
            ["topic"],
            registry=registry,
        )

    def _consumer_metrics(self, registry: CollectorRegistry) -> None:
        self.notifications_sent = Counter(
            "todo_notifications_sent_total",
            "Notifications sent, by the event that caused them.",
            ["event_type"],
            registry=registry,
        )
        self.events_processed = Counter(
            "todo_events_processed_total",
            "Events handled by a consumer service, by outcome.",
            ["service", "event_type", "outcome"],
            registry=registry,
        )
        self.processing_latency = Histogram(
            "todo_event_processing_seconds",
            "Time from an event's `time` to its effect being stored.",
            ["service"],
            buckets=PIPELINE_BUCKETS,
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "todo_consumer_lag_messages",
            "Messages not yet consumed, per group, topic and partition.",
            ["group", "topic", "partition"],
            registry=registry,
            multiprocess_mode="max",
        )


def collecting_registry() -> CollectorRegistry:
    """The registry `/metrics` reads: merged across workers in multiprocess mode."""
    registry = CollectorRegistry()
    if multiprocess_dir():
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry
