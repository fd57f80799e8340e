"""Changes someone else must hear about, and the one seam they pass through (`announce`).

A domain service opens `atomic()`, writes its change, and calls `announce()`: the
change is recorded on the audit trail and the recipients' notification rows are written
in that same transaction; their doorbells ring after it commits (realtime.outbox). The
recipients read them through `resolvers.notifications`.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from healthcare import db, models
from healthcare.realtime import pubsub
from healthcare.realtime.outbox import Event, queue, require_transaction
from healthcare.resolvers import emails
from healthcare.resolvers.users import STAFF_NAME
from healthcare.security import audit

logger = logging.getLogger(__name__)
Kind = models.NotificationKind

# Short, and never clinical: a notification may show on a lock screen.
TEXTS: dict[Kind, tuple[str, str]] = {
    Kind.APPOINTMENT_BOOKED: ("New appointment", "{actor} booked an appointment."),
    Kind.APPOINTMENT_RESCHEDULED: (
        "Appointment moved",
        "{actor} moved an appointment to another time.",
    ),
    Kind.APPOINTMENT_CANCELLED: ("Appointment cancelled", "{actor} cancelled an appointment."),
    Kind.APPOINTMENT_COMPLETED: ("Appointment completed", "{actor} completed your visit."),
    Kind.APPOINTMENT_NO_SHOW: ("Missed appointment", "{actor} marked a visit as missed."),
    Kind.CONSULTATION_CREATED: ("Visit notes ready", "{actor} wrote up your visit."),
    Kind.CONSULTATION_UPDATED: ("Visit notes updated", "{actor} updated your visit notes."),
    Kind.CONSULTATION_SIGNED: ("Visit notes signed", "{actor} signed your visit notes."),
    Kind.CHAT_MESSAGE: ("New message", "{actor} sent you a message."),
    Kind.VIDEO_CALL_INCOMING: ("Incoming video call", "{actor} is calling you for your visit."),
    Kind.VIDEO_CALL_MISSED: ("Missed video call", "{actor} did not answer your video call."),
    Kind.APPOINTMENT_REMINDER: ("Appointment reminder", "Your visit with {actor} is coming up."),
}


@dataclass(frozen=True)
class Change:
    kind: Kind
    actor: models.User
    # Who must hear about it: the other party, never the actor.
    recipient_ids: tuple[uuid.UUID, ...]
    appointment_id: uuid.UUID | None = None
    consultation_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None
    video_call_id: uuid.UUID | None = None
    # Both parties of the appointment, whose appointment subscriptions must refresh.
    party_ids: tuple[uuid.UUID, ...] = ()
    # The patient whose health data changed, for the audit trail.
    patient_id: uuid.UUID | None = None
    fields: tuple[str, ...] = ()


def other_party(
    actor_id: uuid.UUID, patient_id: uuid.UUID, doctor_id: uuid.UUID
) -> tuple[uuid.UUID, ...]:
    """Whoever of patient and doctor did not act (both, when an admin acted)."""
    return tuple(party for party in (patient_id, doctor_id) if party != actor_id)


# What a change wrote, on the audit trail: the entity, and whether it was created.
CREATES = frozenset(
    {
        Kind.APPOINTMENT_BOOKED,
        Kind.CONSULTATION_CREATED,
        Kind.CHAT_MESSAGE,
        Kind.VIDEO_CALL_INCOMING,
    }
)


def _written(change: Change) -> tuple[models.AuditEntity, object]:
    if change.kind.value.startswith("APPOINTMENT_"):
        return models.AuditEntity.APPOINTMENT, change.appointment_id
    if change.kind.value.startswith("CONSULTATION_"):
        return models.AuditEntity.CONSULTATION, change.consultation_id
    if change.kind.value.startswith("VIDEO_CALL_"):
        return models.AuditEntity.VIDEO_CALL, change.video_call_id
    return models.AuditEntity.CHAT_MESSAGE, change.conversation_id


async def announce(change: Change) -> None:
    """Record that `change` happened: the audit row and the notification rows now, in the
    change's transaction; the doorbells after it commits. Inside `atomic()`."""
    require_transaction()
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
    entity, entity_id = _written(change)
    action = models.AuditAction.CREATE if change.kind in CREATES else models.AuditAction.UPDATE
    await audit.record_write(
        change.actor, entity, action, entity_id, change.patient_id, change.fields
    )
    await notify(change)
    if change.appointment_id is not None:
        payload = {"appointment_id": str(change.appointment_id)}
        for party in change.party_ids:
            queue(Event(pubsub.appointments_channel(party), payload))


def signed_by(actor: models.User) -> str:
    """Who a notification says acted: the doctor or patient by name; an administrator as
    the clinic, as on the appointment's history (`actorRole`)."""
    return STAFF_NAME if actor.is_admin else actor.full_name


async def notify(change: Change) -> list[models.Notification]:
    """One notification per recipient, numbered in commit order. Inside `atomic()`."""
    title, body = TEXTS[change.kind]
    written = []
    for recipient_id in change.recipient_ids:
        notification = await models.Notification.create(
            recipient_id=recipient_id,
            seq=await next_seq(recipient_id),
            kind=change.kind,
            title=title,
            body=body.format(actor=signed_by(change.actor)),
            appointment_id=change.appointment_id,
            consultation_id=change.consultation_id,
            conversation_id=change.conversation_id,
        )
        queue(Event(pubsub.notifications_channel(recipient_id), {"seq": str(notification.seq)}))
        await emails.email_if_still_unread(notification, signed_by(change.actor))
        written.append(notification)
    return written


# Numbers the recipient's next notification and locks their counter row until commit, so
# concurrent writers for one recipient number in commit order (SQLite serialises writers).
# It never goes below the notifications that exist: the first one after this table
# appeared continues from them, and so does the counter if a row was numbered some other
# way (an instance of the previous release, during a rolling deploy).
NEXT_SEQ_SQL = """
INSERT INTO "notification_counters" ("recipient_id", "last_seq")
VALUES ($1, (SELECT COALESCE(MAX("seq"), 0) + 1 FROM "notifications" WHERE "recipient_id" = $1))
ON CONFLICT ("recipient_id") DO UPDATE SET "last_seq" = CASE
    WHEN excluded."last_seq" > "notification_counters"."last_seq" THEN excluded."last_seq"
    ELSE "notification_counters"."last_seq" + 1
END
RETURNING "last_seq"
"""


async def next_seq(recipient_id: uuid.UUID) -> int:
    """The recipient's next notification number, in one statement. Inside `atomic()`."""
    row = await db.fetch_one(NEXT_SEQ_SQL, recipient_id)
    if row is None:
        raise RuntimeError("the counter upsert returned no row")
    return int(row["last_seq"])
