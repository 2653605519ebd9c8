"""A stand-in for the Dapr sidecar, built from Dapr's documented pub/sub HTTP contract.

There is no daprd binary on the test machines. This server takes publishes on
`/v1.0/publish/<pubsub>/<topic>`, reads the app's `GET /dapr/subscribe`, POSTs each event to
the subscribed route as `application/cloudevents+json` with the attributes Dapr adds, and
follows the app's answer: SUCCESS (or an empty 200) ends delivery, DROP and 404 drop the
message, RETRY or any other status retries, and a message that keeps failing goes to the
subscription's dead-letter topic.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.brokers import free_port


@dataclass
class Published:
    topic: str
    body: bytes
    content_type: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeSidecar:
    pubsub_name: str = "pubsub"
    app_url: str | None = None
    max_deliveries: int = 3
    fail_topics: set[str] = field(default_factory=set)
    published: list[Published] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    _deliveries: set[asyncio.Task[None]] = field(default_factory=set)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1.0/publish/{pubsub}/{topic}", self._publish, methods=["POST"]),
                Route("/v1.0/healthz/outbound", self._healthz, methods=["GET"]),
            ]
        )

    async def _healthz(self, request: Request) -> Response:
        return Response(status_code=204)

    async def _publish(self, request: Request) -> Response:
        if request.path_params["pubsub"] != self.pubsub_name:
            return Response("pubsub not found", status_code=404)
        topic = request.path_params["topic"]
        if topic in self.fail_topics:
            return Response("delivery failed", status_code=500)
        record = Published(
            topic=topic,
            body=await request.body(),
            content_type=request.headers.get("content-type", ""),
            params=dict(request.query_params),
            headers=dict(request.headers),
        )
        self.published.append(record)
        task = asyncio.create_task(self._deliver(record))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)
        return Response(status_code=204)

    async def _subscriptions(self, client: httpx.AsyncClient) -> list[dict[str, Any]]:
        subscriptions: list[dict[str, Any]] = (await client.get("/dapr/subscribe")).json()
        return subscriptions

    async def _deliver(self, record: Published) -> None:
        if self.app_url is None:
            return
        async with httpx.AsyncClient(base_url=self.app_url, timeout=30) as client:
            for subscription in await self._subscriptions(client):
                if subscription["topic"] == record.topic:
                    await self._deliver_to(client, subscription, record)

    async def _deliver_to(
        self, client: httpx.AsyncClient, subscription: dict[str, Any], record: Published
    ) -> None:
        event = self._as_delivered(record)
        for _ in range(self.max_deliveries):
            response = await client.post(
                subscription["route"],
                content=json.dumps(event),
                headers={"Content-Type": "application/cloudevents+json"},
            )
            status = self._status_of(response)
            self.answers.append(status)
            if status in ("SUCCESS", "DROP"):
                return
            await asyncio.sleep(0.05)
        if subscription.get("deadLetterTopic"):
            dead = Published(
                subscription["deadLetterTopic"], record.body, record.content_type, {}, {}
            )
            self.published.append(dead)

    def _as_delivered(self, record: Published) -> dict[str, Any]:
        """The publisher's CloudEvent plus what Dapr adds on the way (see fixtures/dapr)."""
        event: dict[str, Any] = json.loads(record.body)
        trace = record.headers.get("traceparent", "00-" + "1" * 32 + "-" + "2" * 16 + "-01")
        event.update(
            topic=record.topic,
            pubsubname=self.pubsub_name,
            traceid=trace,
            traceparent=trace,
            tracestate="",
        )
        return event

    @staticmethod
    def _status_of(response: httpx.Response) -> str:
        if response.status_code == 404:
            return "DROP"
        if response.status_code != 200:
            return "RETRY"
        if not response.content:
            return "SUCCESS"
        return str(response.json().get("status", "SUCCESS")).upper()

    def on(self, topic: str) -> list[Published]:
        return [record for record in self.published if record.topic == topic]

    async def settled(self) -> None:
        """Wait for deliveries in flight."""
        while self._deliveries:
            await asyncio.gather(*self._deliveries, return_exceptions=True)
