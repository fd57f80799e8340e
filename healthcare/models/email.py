from __future__ import annotations

import uuid
from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from healthcare.models.appointment import Appointment
    from healthcare.models.notification import Notification
    from healthcare.models.user import User


class EmailKind(StrEnum):
    PASSWORD_RESET = "PASSWORD_RESET"  # noqa: S105 (a kind of email, not a secret)
    PASSWORD_CHANGED = "PASSWORD_CHANGED"  # noqa: S105 (a kind of email, not a secret)
    VERIFY_EMAIL = "VERIFY_EMAIL"
    # Someone signed up with an address that already has an account: its owner hears.
    SIGN_UP_ATTEMPT = "SIGN_UP_ATTEMPT"
    EMAIL_CHANGE_VERIFY = "EMAIL_CHANGE_VERIFY"  # to the new address
    EMAIL_CHANGE_NOTICE = "EMAIL_CHANGE_NOTICE"  # to the old one
    APPOINTMENT_BOOKED = "APPOINTMENT_BOOKED"
    APPOINTMENT_RESCHEDULED = "APPOINTMENT_RESCHEDULED"
    APPOINTMENT_CANCELLED = "APPOINTMENT_CANCELLED"
    APPOINTMENT_REMINDER = "APPOINTMENT_REMINDER"
    CHAT_MESSAGE = "CHAT_MESSAGE"
    CONSULTATION_UPDATE = "CONSULTATION_UPDATE"


class EmailStatus(StrEnum):
    PENDING = "PENDING"  # waiting for its turn, or for a retry after a temporary failure
    SENT = "SENT"  # the SMTP server accepted it
    FAILED = "FAILED"  # refused for good, or still failing after EMAIL_MAX_ATTEMPTS
    SKIPPED = "SKIPPED"  # no longer needed when its turn came (a chat message read since)


TERMINAL_EMAIL_STATES = (EmailStatus.SENT, EmailStatus.FAILED, EmailStatus.SKIPPED)


class EmailMessage(Model):
    """One email in the outbox: written in the transaction of the change that causes it,
    sent after commit by the mail worker (healthcare.mail.worker).

    `message_id` is its Message-ID header, the same on every attempt, so a retry after a
    crash between "accepted" and "marked sent" is recognisable as the same message. A
    worker owns a row while `lease_id` is its own and `leased_until` has not passed. The
    body and the calendar attachment (which can hold a one-time link) are erased once the
    message is sent or has failed for good: what stays is who, what kind and when."""

    id = fields.UUIDField(primary_key=True)
    message_id = fields.CharField(max_length=255, unique=True)
    kind = fields.CharEnumField(EmailKind, max_length=32)
    recipient: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="emails", null=True, on_delete=fields.SET_NULL
    )
    recipient_id: uuid.UUID | None
    to_address = fields.CharField(max_length=254)
    subject = fields.CharField(max_length=200)
    body = fields.TextField()
    calendar = fields.TextField(null=True)  # text/calendar (RFC 5545), attached as invite.ics
    # A chat message's email is skipped if its notification was read meanwhile.
    notification: fields.ForeignKeyNullableRelation[Notification] = fields.ForeignKeyField(
        "models.Notification", related_name="emails", null=True, on_delete=fields.SET_NULL
    )
    notification_id: uuid.UUID | None
    status = fields.CharEnumField(EmailStatus, max_length=16, default=EmailStatus.PENDING)
    attempts = fields.IntField(default=0)
    not_before = fields.DatetimeField()
    lease_id = fields.UUIDField(null=True)
    leased_until = fields.DatetimeField(null=True)
    last_error = fields.CharField(max_length=300, null=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    sent_at = fields.DatetimeField(null=True)
    failed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "email_messages"
        indexes = (("status", "not_before"),)


class EmailTokenPurpose(StrEnum):
    PASSWORD_RESET = "PASSWORD_RESET"  # noqa: S105 (a purpose, not a secret)
    VERIFY_EMAIL = "VERIFY_EMAIL"
    CHANGE_EMAIL = "CHANGE_EMAIL"


class EmailToken(Model):
    """A one-time link sent by email. Only a SHA-256 hash of the token is stored; `email`
    is the address the link was sent to (for CHANGE_EMAIL, the new address)."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="email_tokens", on_delete=fields.CASCADE, db_index=True
    )
    user_id: uuid.UUID
    purpose = fields.CharEnumField(EmailTokenPurpose, max_length=16)
    token_hash = fields.CharField(max_length=64, unique=True)
    email = fields.CharField(max_length=254)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "email_tokens"


class EmailPreferences(Model):
    """Which emails a user wants, per kind. No row: the defaults for their role
    (resolvers.emails.DEFAULT_PREFERENCES). Account emails (password, address) are always
    sent."""

    user: fields.OneToOneRelation[User] = fields.OneToOneField(
        "models.User", related_name=False, on_delete=fields.CASCADE, primary_key=True
    )
    user_id: uuid.UUID
    appointment_changes = fields.BooleanField()
    reminders = fields.BooleanField()
    chat_messages = fields.BooleanField()
    consultation_updates = fields.BooleanField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "email_preferences"


class AppointmentReminder(Model):
    """A reminder due `minutes_before` an appointment starts: an in-app notification and,
    per preference, an email. Moving the appointment moves it (and arms it again);
    cancelling deletes it. `sent_at` is set by the one instance that sends it."""

    id = fields.UUIDField(primary_key=True)
    appointment: fields.ForeignKeyRelation[Appointment] = fields.ForeignKeyField(
        "models.Appointment", related_name="reminders", on_delete=fields.CASCADE
    )
    appointment_id: uuid.UUID
    minutes_before = fields.IntField()
    due_at = fields.DatetimeField(db_index=True)
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "appointment_reminders"
        unique_together = (("appointment_id", "minutes_before"),)
