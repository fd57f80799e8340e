from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class AuditAction(StrEnum):
    READ = "READ"
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DENIED = "DENIED"


class AuditEntity(StrEnum):
    APPOINTMENT = "APPOINTMENT"
    CONSULTATION = "CONSULTATION"
    CHAT_MESSAGE = "CHAT_MESSAGE"
    PATIENT_PROFILE = "PATIENT_PROFILE"
    # A consultation's private notes, the author's own: never shown to the patient.
    PRIVATE_NOTES = "PRIVATE_NOTES"
    # A video call: when it rang, was answered and ended (never its signalling).
    VIDEO_CALL = "VIDEO_CALL"
    # Refused lookups by id (a conversation, a user, a notification); and for USER, an
    # administrator creating an account or changing its role or whether it is active.
    CONVERSATION = "CONVERSATION"
    USER = "USER"
    NOTIFICATION = "NOTIFICATION"
    OPERATION = "OPERATION"  # a refused operation, before any row was reached


class AuditEvent(Model):
    """Who touched which health data, when, from where, and whether it was allowed.

    Append-only: the API has no way to change or delete a row, and on PostgreSQL a
    trigger (migration 5) makes the database refuse UPDATE and DELETE as well.
    """

    id = fields.UUIDField(primary_key=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    actor_id: uuid.UUID | None = fields.UUIDField(null=True)  # null: anonymous
    actor_role = fields.CharField(max_length=16, null=True)
    patient_id: uuid.UUID | None = fields.UUIDField(null=True, db_index=True)
    entity = fields.CharEnumField(AuditEntity, max_length=32)
    entity_id = fields.CharField(max_length=64, null=True)
    action = fields.CharEnumField(AuditAction, max_length=16)
    fields_accessed: Any = fields.JSONField(default=list)
    allowed = fields.BooleanField()
    client_address = fields.CharField(max_length=64, null=True)
    request_id = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "audit_events"
