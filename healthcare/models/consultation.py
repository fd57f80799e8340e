from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from healthcare.models.appointment import Appointment
    from healthcare.models.user import User

# The clinical fields a revision tracks, in the order the API lists them.
CLINICAL_FIELDS = (
    "medical_history",
    "examination_findings",
    "investigations",
    "treatment_plan",
    "prescriptions",
    "review_date",
    "private_notes",
)


class Consultation(Model):
    """What the assigned doctor documented for one appointment."""

    id = fields.UUIDField(primary_key=True)
    appointment: fields.OneToOneRelation[Appointment] = fields.OneToOneField(
        "models.Appointment", related_name="consultation", on_delete=fields.RESTRICT
    )
    appointment_id: uuid.UUID
    # Copied from the appointment, so that visibility is one indexed filter.
    doctor: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="consultations_authored", on_delete=fields.RESTRICT
    )
    doctor_id: uuid.UUID
    patient: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="consultations_received", on_delete=fields.RESTRICT
    )
    patient_id: uuid.UUID
    medical_history = fields.TextField(default="")
    examination_findings = fields.TextField(default="")
    investigations = fields.TextField(default="")
    treatment_plan = fields.TextField(default="")
    review_date = fields.DateField(null=True)
    private_notes = fields.TextField(default="")
    signed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "consultations"
        indexes = (("doctor_id", "created_at"), ("patient_id", "created_at"))


class PrescriptionItem(Model):
    """One medication prescribed in a consultation."""

    id = fields.UUIDField(primary_key=True)
    consultation: fields.ForeignKeyRelation[Consultation] = fields.ForeignKeyField(
        "models.Consultation", related_name="prescriptions", on_delete=fields.CASCADE, db_index=True
    )
    consultation_id: uuid.UUID
    position = fields.SmallIntField()  # order within the consultation, from 0
    medication = fields.CharField(max_length=200)
    dose = fields.CharField(max_length=100)
    route = fields.CharField(max_length=50)
    frequency = fields.CharField(max_length=100)
    duration = fields.CharField(max_length=100)
    instructions = fields.TextField(default="")

    class Meta:
        table = "prescription_items"


class ConsultationRevision(Model):
    """An immutable copy of a consultation's clinical fields after each write."""

    id = fields.UUIDField(primary_key=True)
    consultation: fields.ForeignKeyRelation[Consultation] = fields.ForeignKeyField(
        "models.Consultation", related_name="revisions", on_delete=fields.RESTRICT, db_index=True
    )
    consultation_id: uuid.UUID
    number = fields.IntField()
    author: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="consultation_revisions", on_delete=fields.RESTRICT
    )
    author_id: uuid.UUID
    changed_fields: Any = fields.JSONField()  # names from CLINICAL_FIELDS
    content: Any = fields.JSONField()  # every clinical field as written, prescriptions too
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "consultation_revisions"
        unique_together = (("consultation_id", "number"),)


class ConsultationAddendum(Model):
    """Text appended to a signed consultation."""

    id = fields.UUIDField(primary_key=True)
    consultation: fields.ForeignKeyRelation[Consultation] = fields.ForeignKeyField(
        "models.Consultation", related_name="addenda", on_delete=fields.RESTRICT, db_index=True
    )
    consultation_id: uuid.UUID
    author: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="consultation_addenda", on_delete=fields.RESTRICT
    )
    author_id: uuid.UUID
    text = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "consultation_addenda"
