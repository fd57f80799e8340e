"""The seam for notifications: every change someone else must hear about passes here.

Write path: a resolver opens `atomic()`, writes its change, and calls `announce()`. The
announcement writes the recipients' notification rows in that same transaction and queues
doorbell events; `atomic()` publishes them only after the transaction commits. Events
carry ids and sequence numbers only, never health data: a subscriber reloads the rows
through the normal permission checks. The database is the source of truth.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tortoise.transactions import in_transaction

from healthcare import audit, models, pubsub

logger = logging.getLogger(__name__)


class ChangeKind(StrEnum):
    APPOINTMENT_BOOKED = "APPOINTMENT_BOOKED"
    APPOINTMENT_RESCHEDULED = "APPOINTMENT_RESCHEDULED"
    APPOINTMENT_CANCELLED = "APPOINTMENT_CANCELLED"
    APPOINTMENT_COMPLETED = "APPOINTMENT_COMPLETED"
    APPOINTMENT_NO_SHOW = "APPOINTMENT_NO_SHOW"
    CONSULTATION_CREATED = "CONSULTATION_CREATED"
    CONSULTATION_UPDATED = "CONSULTATION_UPDATED"
    CONSULTATION_SIGNED = "CONSULTATION_SIGNED"
    CHAT_MESSAGE = "CHAT_MESSAGE"


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    actor: models.User
    # Who must hear about it: the other party, never the actor.
    recipient_ids: tuple[uuid.UUID, ...]
    appointment_id: uuid.UUID | None = None
    consultation_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None
    # Both parties of the appointment, whose appointment subscriptions must refresh.
    party_ids: tuple[uuid.UUID, ...] = ()
    # The patient whose health data changed, for the audit trail.
    patient_id: uuid.UUID | None = None
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class Event:
    channel: str
    payload: dict[str, Any]


AUDITED = {
    kind: models.AuditEntity.APPOINTMENT
    if kind.value.startswith("APPOINTMENT_")
    else models.AuditEntity.CONSULTATION
    if kind.value.startswith("CONSULTATION_")
    else models.AuditEntity.CHAT_MESSAGE
    for kind in ChangeKind
}


@dataclass
class Outbox:
    """What a transaction leaves for after its commit."""

    events: list[Event] = field(default_factory=list)
    actions: list[Callable[[], None]] = field(default_factory=list)


_outbox: ContextVar[Outbox | None] = ContextVar("healthcare_outbox", default=None)


@asynccontextmanager
async def atomic() -> AsyncIterator[None]:
    """A transaction whose queued events are published once it has committed.

    Nested inside another `atomic()`, the outermost one publishes. On an error nothing is
    published: the rows were rolled back, so there is nothing to hear about. A nested one
    that fails rolls back to its savepoint and drops what it queued, even if the outer
    one goes on to commit.
    """
    outer = _outbox.get()
    if outer is not None:
        events, actions = len(outer.events), len(outer.actions)
        try:
            async with in_transaction():
                yield
        except BaseException:
            del outer.events[events:], outer.actions[actions:]
            raise
        return
    outbox = Outbox()
    token = _outbox.set(outbox)
    try:
        async with in_transaction():
            yield
    finally:
        _outbox.reset(token)
    for action in outbox.actions:
        action()
    for event in outbox.events:
        await pubsub.publish(event.channel, event.payload)


def _current_outbox() -> Outbox:
    outbox = _outbox.get()
    if outbox is None:
        raise RuntimeError("queue(), after_commit() and announce() belong inside atomic()")
    return outbox


def queue(event: Event) -> None:
    """Publish `event` after the current `atomic()` transaction commits."""
    _current_outbox().events.append(event)


def after_commit(action: Callable[[], None]) -> None:
    """Run `action` once the current `atomic()` transaction has committed, before its
    events are published (so that what a subscriber reads on hearing them is in place)."""
    _current_outbox().actions.append(action)


async def announce(change: Change) -> None:
    """Record that `change` happened: notification rows now, doorbells after commit."""
    from healthcare.resolvers.notifications import notify  # the seam's one consumer

    _current_outbox()
    logger.info(
        "change",
        extra={
            "change": change.kind.value,
            "actor_id": str(change.actor.id),
            "recipient_ids": [str(r) for r in change.recipient_ids],
            "appointment_id": str(change.appointment_id) if change.appointment_id else None,
            "consultation_id": str(change.consultation_id) if change.consultation_id else None,
        },
    )
    entity, action, entity_id = AUDITED[change.kind], models.AuditAction.UPDATE, None
    if change.kind in {ChangeKind.APPOINTMENT_BOOKED, ChangeKind.CONSULTATION_CREATED}:
        action = models.AuditAction.CREATE
    if entity == models.AuditEntity.APPOINTMENT:
        entity_id = change.appointment_id
    elif entity == models.AuditEntity.CONSULTATION:
        entity_id = change.consultation_id
    else:
        entity_id, action = change.conversation_id, models.AuditAction.CREATE
    await audit.record_write(
        change.actor, entity, action, entity_id, change.patient_id, change.fields
    )
    await notify(change)
    if change.appointment_id is not None:
        for party in change.party_ids:
            queue(
                Event(
                    pubsub.appointments_channel(party),
                    {"appointment_id": str(change.appointment_id)},
                )
            )


def other_party(
    actor_id: uuid.UUID, patient_id: uuid.UUID, doctor_id: uuid.UUID
) -> tuple[uuid.UUID, ...]:
    """Whoever of patient and doctor did not act (both, when an admin acted)."""
    return tuple(party for party in (patient_id, doctor_id) if party != actor_id)
