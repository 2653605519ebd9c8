"""Builds the broker a component file names; nothing else in the code names a broker."""

from __future__ import annotations

from todostream.config import PubSubMode, Settings
from todostream.pubsub.broker import Broker
from todostream.pubsub.component import Component, ComponentError, load_component
from todostream.pubsub.memory import InMemoryBroker


def create_broker(settings: Settings, component: Component | None = None) -> Broker:
    component = component or load_component(settings.pubsub_component)
    if settings.pubsub_mode is PubSubMode.DAPR:
        raise ComponentError("PUBSUB_MODE=dapr is not available yet")
    if component.type == "pubsub.in-memory":
        return InMemoryBroker()
    raise ComponentError(f"{component.source}: no broker for {component.type}")


def consumer_group(component: Component, service: str) -> str:
    """Each consumer service reads every event, so each gets its own group.

    The component's `consumerGroup` (Kafka) or `consumerID` (Redis) is the shared prefix:
    `todo-app` becomes `todo-app-notification` and `todo-app-audit`.
    """
    base = component.get("consumerGroup") or component.get("consumerID") or "todostream"
    return f"{base}-{service}"
