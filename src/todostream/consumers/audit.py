"""The audit trail: every event appended once to the hash-chained log."""

from __future__ import annotations

import json
import logging
from datetime import datetime

from todostream.consumers.runner import Outcome
from todostream.domain.events import AUDIT_TOPIC, CloudEvent, derived_event
from todostream.store import audit_chain
from todostream.store.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

SERVICE = "audit"


class AuditHandler:
    """A trail must hold every event, so a late (stale) one is recorded too, in arrival order."""

    name = SERVICE

    async def apply(self, uow: UnitOfWork, event: CloudEvent, now: datetime) -> None:
        """Append to the chain and route the record to `todo-audit`, in one transaction."""
        row = await audit_chain.append(uow.session, event, now)
        record = derived_event(
            event,
            source="todostream/audit",
            type="audit_recorded",
            data={
                "seq": row.seq,
                "hash": row.hash,
                "prev_hash": row.prev_hash,
                "event": json.loads(row.payload),
            },
            now=now,
        )
        uow.add_event(record, topic=AUDIT_TOPIC, key=row.todo_id or event.id, now=now)
        log.debug("audit row staged", extra={"seq": row.seq, "event_id": event.id})

    def after_commit(self, event: CloudEvent, outcome: Outcome) -> None:
        """Nothing to do after the commit; the row is the effect."""
