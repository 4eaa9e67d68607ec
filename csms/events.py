"""Business events other parts of the product may react to (webhooks today): a session started or ended, a charge
point went offline or came back, an alarm opened, an invoice was issued or paid, a tag was blocked.

Domain services call ``publish()`` inside their transaction; listeners hear the event only after that transaction
commits (a rolled-back change is never announced). The domain apps do not import their listeners: a listener
registers itself with ``register_listener()`` from its app's ``ready()``.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

SESSION_STARTED = "session.started"
SESSION_ENDED = "session.ended"
CHARGE_POINT_OFFLINE = "chargepoint.offline"
CHARGE_POINT_ONLINE = "chargepoint.online"
ALARM_OPENED = "alarm.opened"
INVOICE_ISSUED = "invoice.issued"
INVOICE_PAID = "invoice.paid"
TAG_BLOCKED = "tag.blocked"

EVENT_TYPES = (SESSION_STARTED, SESSION_ENDED, CHARGE_POINT_OFFLINE, CHARGE_POINT_ONLINE, ALARM_OPENED,
               INVOICE_ISSUED, INVOICE_PAID, TAG_BLOCKED)


@dataclass(frozen=True)
class Event:
    """What happened (``type``), to whose data (``organization_id``), and a JSON-ready description (``data``)."""

    type: str
    organization_id: int
    data: dict
    occurred_at: datetime = field(default_factory=timezone.now)


Listener = Callable[[list[Event]], None]
_listeners: list[Listener] = []


def register_listener(listener: Listener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def event(event_type: str, *, organization_id: int, data: dict, at: datetime | None = None) -> Event:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"Unknown event type {event_type!r}")
    return Event(event_type, organization_id, data, at or timezone.now())


def publish(event_type: str, *, organization_id: int | None, data: dict, at: datetime | None = None) -> None:
    """Announce an event once the surrounding transaction commits (at once outside a transaction)."""
    if organization_id is None:
        return
    publish_many([event(event_type, organization_id=organization_id, data=data, at=at)])


def publish_many(batch: list[Event]) -> None:
    """Announce several events with one call to each listener after commit (a batch job's rows)."""
    if batch and _listeners:
        transaction.on_commit(lambda: _deliver(list(batch)))


def _deliver(events: list[Event]) -> None:
    for listener in list(_listeners):
        try:
            listener(events)
        except Exception:  # one broken listener must not undo what was committed, nor starve the others
            logger.exception("Event listener %r failed for %s", listener, [e.type for e in events])
