"""The seam for notifications: every change someone else must hear about passes here.

Resolvers call `announce()` inside the transaction of the change, after writing it. The
real-time layer hooks in here: it writes notification rows in the same transaction, then
publishes ids after commit. Changes carry ids only, never health data.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from enum import StrEnum

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


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    actor_id: uuid.UUID
    # Who must hear about it: the other party, never the actor.
    recipient_ids: tuple[uuid.UUID, ...]
    appointment_id: uuid.UUID
    consultation_id: uuid.UUID | None = None


async def announce(change: Change) -> None:
    """Record that `change` happened. Call it inside the change's transaction."""
    logger.info(
        "change",
        extra={
            "change": change.kind.value,
            "actor_id": str(change.actor_id),
            "recipient_ids": [str(r) for r in change.recipient_ids],
            "appointment_id": str(change.appointment_id),
            "consultation_id": str(change.consultation_id) if change.consultation_id else None,
        },
    )


def other_party(
    actor_id: uuid.UUID, patient_id: uuid.UUID, doctor_id: uuid.UUID
) -> tuple[uuid.UUID, ...]:
    """Whoever of patient and doctor did not act (both, when an admin acted)."""
    return tuple(party for party in (patient_id, doctor_id) if party != actor_id)
