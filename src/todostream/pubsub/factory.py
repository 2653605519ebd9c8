"""Builds the broker a component file names; nothing else in the code names a broker."""

from __future__ import annotations

import os
from collections.abc import Mapping

from todostream.config import PubSubMode, Settings
from todostream.pubsub.broker import Broker
from todostream.pubsub.component import Component, ComponentError, load_component
from todostream.pubsub.dapr import DaprSidecarBroker
from todostream.pubsub.kafka import KafkaBroker
from todostream.pubsub.memory import InMemoryBroker
from todostream.pubsub.redis_streams import RedisStreamsBroker


def create_broker(settings: Settings, component: Component | None = None) -> Broker:
    component = component or load_component(settings.pubsub_component)
    if settings.pubsub_mode is PubSubMode.DAPR:
        return DaprSidecarBroker(component, http_port=settings.dapr_http_port)
    if component.type == "pubsub.in-memory":
        return InMemoryBroker()
    if component.type == "pubsub.kafka":
        return KafkaBroker(component)
    if component.type == "pubsub.redis":
        return RedisStreamsBroker(component)
    raise ComponentError(f"{component.source}: no broker for {component.type}")


def consumer_group(
    component: Component, service: str, environ: Mapping[str, str] | None = None
) -> str:
    """Each consumer service reads every event, so each gets its own group.

    The component's `consumerGroup` (Kafka) or `consumerID` (Redis) is the shared prefix:
    `todo-app` becomes `todo-app-notification` and `todo-app-audit`. Dapr's templates are
    filled in as a sidecar would (`{appID}` is `todostream-<service>`, `{namespace}` and
    `{podName}` come from NAMESPACE and HOSTNAME); a name made from `{appID}` is already
    per service and is used as it is.
    """
    env = os.environ if environ is None else environ
    base = component.get("consumerGroup") or component.get("consumerID") or "todostream"
    filled = (
        base.replace("{appID}", f"todostream-{service}")
        .replace("{namespace}", env.get("NAMESPACE", "default"))
        .replace("{podName}", env.get("HOSTNAME", "local"))
    )
    return filled if "{appID}" in base else f"{filled}-{service}"
