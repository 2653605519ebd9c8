"""Parking messages on a dead-letter topic, cut short when the broker refuses them whole.

Both the consumers (a message that cannot be handled) and the relay (an event the broker
refuses as such, too large say) park what they cannot deliver, so that one message never
stops a partition or the outbox for good.
"""

from __future__ import annotations

import logging

from todostream.domain.events import MAX_ID_LENGTH, dead_letter_topic
from todostream.pubsub.broker import Broker, BrokerError, Message, MessageRejected

log = logging.getLogger(__name__)

DLQ_VALUE_LIMIT = 64 * 1024


def dead_letter(message: Message, why: dict[str, str]) -> Message:
    """`message` addressed to its topic's dead-letter topic, with `why` as `dlq_*` headers."""
    headers = (*message.headers, *((f"dlq_{name}", value) for name, value in why.items()))
    return Message(dead_letter_topic(message.topic), message.key, message.value, headers)


def cut_short(message: Message) -> Message:
    """A copy small enough for any broker: the value cut to DLQ_VALUE_LIMIT bytes, only the
    `dlq_*` headers kept, and the original size in `dlq_truncated`."""
    return Message(
        message.topic,
        message.key[: MAX_ID_LENGTH * 4],
        message.value[:DLQ_VALUE_LIMIT],
        (
            *((name, value) for name, value in message.headers if name.startswith("dlq_")),
            ("dlq_truncated", str(len(message.value))),
        ),
    )


async def park(broker: Broker, message: Message) -> bool:
    """Publish an addressed dead letter; False if the broker refuses even the cut copy.

    A broker error (unreachable, say) raises, so the caller retries later; a refused message
    is sent again cut short, and one refused even then is given up.
    """
    try:
        await broker.publish([message])
        return True
    except MessageRejected as exc:
        log.warning(
            "dead-letter topic refused the message; sending it cut short",
            extra={"error": repr(exc), "size": len(message.value)},
        )
    except BrokerError:
        log.warning("dead-letter topic unavailable; will retry")
        raise
    try:
        await broker.publish([cut_short(message)])
    except MessageRejected:
        return False
    return True
