"""The app side of a Dapr sidecar's subscription contract.

The sidecar reads `GET /dapr/subscribe` once, then POSTs every event of a topic to the route
named there and reads the answer: `SUCCESS` (done), `RETRY` (deliver again later) or `DROP`.
One route per topic serves every consumer of this process, because Dapr allows one
subscription per topic and app.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request

from todostream.api.deps import RuntimeDep
from todostream.domain.events import dead_letter_topic, json_object
from todostream.pubsub.broker import Delivery

log = logging.getLogger(__name__)
router = APIRouter(tags=["dapr"], include_in_schema=False)

EVENTS_ROUTE = "/dapr/events/{topic}"
# Above the API's 1 MiB: a broker's largest message arrives wrapped in the sidecar's envelope.
MAX_EVENT_BYTES = 4 * 1024 * 1024


@router.get("/dapr/subscribe")
async def subscriptions(runtime: RuntimeDep) -> list[dict[str, Any]]:
    topics = sorted({subscription.topic for subscription in runtime.broker.subscriptions})
    return [
        {
            "pubsubname": runtime.component.name,
            "topic": topic,
            "route": EVENTS_ROUTE.format(topic=topic),
            "deadLetterTopic": dead_letter_topic(topic),
        }
        for topic in topics
    ]


@router.post(EVENTS_ROUTE, max_body_size=MAX_EVENT_BYTES)
async def deliver(topic: str, request: Request, runtime: RuntimeDep) -> dict[str, str]:
    """Hand the event to this process's consumers; each stores its effect once."""
    handlers = [s.handler for s in runtime.broker.subscriptions if s.topic == topic]
    if not handlers:
        log.warning("event for a topic this app does not consume", extra={"topic": topic})
        return {"status": "DROP"}
    body = await request.body()
    delivery = Delivery(topic=topic, key=_subject(body), value=body)
    try:
        for handler in handlers:
            await handler(delivery)
    except Exception:
        log.exception("event not handled; asking the sidecar to retry", extra={"topic": topic})
        return {"status": "RETRY"}
    return {"status": "SUCCESS"}


def _subject(body: bytes) -> str | None:
    subject = (json_object(body) or {}).get("subject")
    return subject if isinstance(subject, str) else None
