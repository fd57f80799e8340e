from __future__ import annotations

import uuid
from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from healthcare.models.user import User


class AppointmentStatus(StrEnum):
    SCHEDULED = "SCHEDULED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    NO_SHOW = "NO_SHOW"


class AppointmentChangeKind(StrEnum):
    BOOKED = "BOOKED"
    RESCHEDULED = "RESCHEDULED"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"
    NO_SHOW = "NO_SHOW"


class Appointment(Model):
    """A patient's booked time with a doctor.

    On PostgreSQL two exclusion constraints (migration 1) forbid overlapping
    non-cancelled appointments of one doctor, and of one patient.
    """

    id = fields.UUIDField(primary_key=True)
    patient: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="appointments_as_patient", on_delete=fields.RESTRICT
    )
    patient_id: uuid.UUID
    doctor: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="appointments_as_doctor", on_delete=fields.RESTRICT
    )
    doctor_id: uuid.UUID
    starts_at = fields.DatetimeField(db_index=True)
    ends_at = fields.DatetimeField()
    reason = fields.TextField()
    status = fields.CharEnumField(
        AppointmentStatus, max_length=16, default=AppointmentStatus.SCHEDULED
    )
    cancellation_reason = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "appointments"
        indexes = (("doctor_id", "starts_at"), ("patient_id", "starts_at"))


class AppointmentChange(Model):
    """One entry of an appointment's history: who changed what, and when."""

    id = fields.UUIDField(primary_key=True)
    appointment: fields.ForeignKeyRelation[Appointment] = fields.ForeignKeyField(
        "models.Appointment", related_name="changes", on_delete=fields.CASCADE, db_index=True
    )
    appointment_id: uuid.UUID
    actor: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="appointment_changes", on_delete=fields.RESTRICT
    )
    actor_id: uuid.UUID
    kind = fields.CharEnumField(AppointmentChangeKind, max_length=16)
    from_status = fields.CharEnumField(AppointmentStatus, max_length=16, null=True)
    to_status = fields.CharEnumField(AppointmentStatus, max_length=16)
    previous_starts_at = fields.DatetimeField(null=True)
    reason = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "appointment_changes"
