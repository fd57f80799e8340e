from __future__ import annotations

import uuid
from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from healthcare.models.appointment import Appointment
    from healthcare.models.chat import Conversation
    from healthcare.models.consultation import Consultation
    from healthcare.models.user import User


class NotificationKind(StrEnum):
    APPOINTMENT_BOOKED = "APPOINTMENT_BOOKED"
    APPOINTMENT_RESCHEDULED = "APPOINTMENT_RESCHEDULED"
    APPOINTMENT_CANCELLED = "APPOINTMENT_CANCELLED"
    APPOINTMENT_COMPLETED = "APPOINTMENT_COMPLETED"
    APPOINTMENT_NO_SHOW = "APPOINTMENT_NO_SHOW"
    CONSULTATION_CREATED = "CONSULTATION_CREATED"
    CONSULTATION_UPDATED = "CONSULTATION_UPDATED"
    CONSULTATION_SIGNED = "CONSULTATION_SIGNED"
    CHAT_MESSAGE = "CHAT_MESSAGE"
    VIDEO_CALL_INCOMING = "VIDEO_CALL_INCOMING"
    VIDEO_CALL_MISSED = "VIDEO_CALL_MISSED"
    APPOINTMENT_REMINDER = "APPOINTMENT_REMINDER"


class Notification(Model):
    """Something a user must hear about. Title and body never hold clinical details.

    `seq` numbers a recipient's notifications 1, 2, 3... in commit order (the writer locks
    the recipient's NotificationCounter row; see resolvers.changes): a client resumes a
    subscription after the last `seq` it saw, missing nothing and with no duplicate (a
    viewer sees gaps only where a notification is hidden from them: resolvers.notifications).
    """

    id = fields.UUIDField(primary_key=True)
    recipient: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="notifications", on_delete=fields.CASCADE
    )
    recipient_id: uuid.UUID
    seq = fields.BigIntField()
    kind = fields.CharEnumField(NotificationKind, max_length=32)
    title = fields.CharField(max_length=120)
    body = fields.CharField(max_length=300)
    appointment: fields.ForeignKeyNullableRelation[Appointment] = fields.ForeignKeyField(
        "models.Appointment", related_name="notifications", null=True, on_delete=fields.CASCADE
    )
    appointment_id: uuid.UUID | None
    consultation: fields.ForeignKeyNullableRelation[Consultation] = fields.ForeignKeyField(
        "models.Consultation", related_name="notifications", null=True, on_delete=fields.CASCADE
    )
    consultation_id: uuid.UUID | None
    conversation: fields.ForeignKeyNullableRelation[Conversation] = fields.ForeignKeyField(
        "models.Conversation", related_name="notifications", null=True, on_delete=fields.CASCADE
    )
    conversation_id: uuid.UUID | None
    created_at = fields.DatetimeField(auto_now_add=True)
    read_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notifications"
        unique_together = (("recipient_id", "seq"),)


class NotificationCounter(Model):
    """The last notification number given to each recipient.

    One upsert both numbers a notification and orders concurrent writers for that
    recipient (the row stays locked until the transaction ends). It never falls below the
    recipient's existing notifications, so a database that predates this table needs no
    backfill."""

    recipient: fields.OneToOneRelation[User] = fields.OneToOneField(
        "models.User", related_name=False, on_delete=fields.CASCADE, primary_key=True
    )
    recipient_id: uuid.UUID
    last_seq = fields.BigIntField()

    class Meta:
        table = "notification_counters"
