"""Pub/sub through a Dapr sidecar, over Dapr's documented HTTP API.

Publishing is `POST /v1.0/publish/<pubsub>/<topic>` with our CloudEvent as
`application/cloudevents+json` (so Dapr forwards it instead of wrapping it) and the todo id as
`metadata.partitionKey`. Consuming is inverted: the sidecar asks `GET /dapr/subscribe` and
POSTs each event to the route given there (see `todostream.api.routes.dapr`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import httpx

from todostream.domain.events import json_object
from todostream.pubsub.broker import Broker, BrokerError, BrokerUnavailable, Message
from todostream.pubsub.component import Component

log = logging.getLogger(__name__)

CLOUDEVENTS_JSON = "application/cloudevents+json"


def is_cloudevent(value: bytes) -> bool:
    document = json_object(value)
    return document is not None and "specversion" in document and "id" in document


class DaprSidecarBroker(Broker):
    """The sidecar is the broker; subscriptions are served by the app's HTTP routes."""

    def __init__(self, component: Component, *, http_port: int, timeout_s: float = 10.0) -> None:
        super().__init__()
        self.pubsub_name = component.name
        self._base_url = f"http://127.0.0.1:{http_port}"
        self._timeout = timeout_s
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(base_url=self._base_url, timeout=self._timeout)

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def publish(self, messages: Sequence[Message]) -> None:
        """Publish one by one, in order, so one todo's events keep their order."""
        for message in messages:
            await self._publish_one(message)

    async def _publish_one(self, message: Message) -> None:
        if self._client is None:
            raise BrokerUnavailable("the Dapr client is not started")
        params = {"metadata.partitionKey": message.key}
        params.update({f"metadata.{name}": value for name, value in message.headers})
        headers = dict(message.headers)
        trace = {"traceparent": headers["traceparent"]} if "traceparent" in headers else {}
        content_type = CLOUDEVENTS_JSON
        if not is_cloudevent(message.value):
            params["metadata.rawPayload"] = "true"
            content_type = "application/octet-stream"
        path = f"/v1.0/publish/{self.pubsub_name}/{message.topic}"
        try:
            response = await self._client.post(
                path,
                content=message.value,
                params=params,
                headers={"Content-Type": content_type, **trace},
            )
        except httpx.HTTPError as exc:
            raise BrokerUnavailable(
                f"Dapr sidecar at {self._base_url} unreachable: {exc!r}"
            ) from exc
        if response.status_code == 204 or response.status_code == 200:
            return
        detail = f"Dapr answered {response.status_code} to {path}: {response.text[:300]}"
        if response.status_code >= 500:
            raise BrokerUnavailable(detail)
        raise BrokerError(detail)

    async def healthy(self) -> bool:
        """The sidecar's outbound health: components loaded and ready to publish."""
        if self._client is None:
            return False
        try:
            response = await self._client.get("/v1.0/healthz/outbound")
        except httpx.HTTPError:
            return False
        return response.status_code == 204 or response.status_code == 200
