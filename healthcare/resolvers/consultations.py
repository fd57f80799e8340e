"""Consultations: who may see them, clinical input rules, and the write paths.

Clinical records are never silently overwritten: every write that changes a clinical
field adds an immutable revision, a signed consultation only takes addenda, and each
create, update and signature is announced to the patient inside its transaction.
"""

from __future__ import annotations

from datetime import UTC, date
from typing import Any

from strawberry.utils.str_converters import to_camel_case
from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet

from healthcare import models
from healthcare.failures import (
    ConsultationSignedError,
    InputError,
    InputErrors,
    InvalidTransitionError,
    NotFoundError,
    RevisionConflictError,
)
from healthcare.realtime.outbox import atomic
from healthcare.resolvers.appointments import find_visible_appointment
from healthcare.resolvers.changes import Change, announce
from healthcare.security import audit
from healthcare.security.auth import utcnow
from healthcare.validators import clean_text, parse_id

MAX_CLINICAL_TEXT_LENGTH = 20_000
MAX_PRESCRIPTIONS = 50
MAX_ADDENDUM_LENGTH = 4000
# Prescription item fields and their length caps; all but instructions are required.
PRESCRIPTION_FIELDS = {
    "medication": 200,
    "dose": 100,
    "route": 50,
    "frequency": 100,
    "duration": 100,
    "instructions": 2000,
}
OPTIONAL_PRESCRIPTION_FIELDS = frozenset({"instructions"})
TEXT_FIELDS = tuple(
    name for name in models.CLINICAL_FIELDS if name not in {"prescriptions", "review_date"}
)
# What a consultation holds before anything is written: revision 1 lists what differs.
BLANK: dict[str, Any] = {name: "" for name in TEXT_FIELDS} | {
    "prescriptions": [],
    "review_date": None,
}

# Clinical content keyed by CLINICAL_FIELDS: text as str, prescriptions as a list of
# dicts keyed by PRESCRIPTION_FIELDS, review_date as a date or None.
Content = dict[str, Any]


# ---- who may see what -----------------------------------------------------------------


def visible_consultations(viewer: models.User) -> QuerySet[models.Consultation]:
    """Every consultation `viewer` may see: the one rule for lists, lookups and nested
    fields. Admins see all (field rules hide the clinical content), doctors those they
    wrote, patients their own.
    """
    if viewer.is_admin:
        return models.Consultation.all()
    if viewer.is_doctor:
        return models.Consultation.filter(doctor_id=viewer.id)
    return models.Consultation.filter(patient_id=viewer.id)


async def find_visible_consultation(
    viewer: models.User, consultation_id: str
) -> models.Consultation | None:
    parsed = parse_id(consultation_id)
    if parsed is None:
        return None
    return await visible_consultations(viewer).filter(id=parsed).first()


async def find_own_consultation(doctor: models.User, consultation_id: str) -> models.Consultation:
    """The consultation `doctor` wrote; NotFoundError for any other, as for a wrong id."""
    found = await find_visible_consultation(doctor, consultation_id)
    if found is None or found.doctor_id != doctor.id:
        raise NotFoundError("consultation", consultation_id)
    return found


# ---- input rules ------------------------------------------------------------------------


def clean_clinical_text(value: str, field: str, max_length: int, required: bool = False) -> str:
    # Text pasted from other systems often has Windows line ends; keep one kind.
    normalised = value.replace("\r\n", "\n").replace("\r", "\n")
    return clean_text(normalised, field, max_length, required=required)


def clean_prescriptions(items: list[dict[str, str]]) -> tuple[list[dict[str, str]], dict[str, str]]:
    """Cleaned items, and the errors found, named like `prescriptions[2].dose`."""
    if len(items) > MAX_PRESCRIPTIONS:
        return [], {"prescriptions": f"Prescribe at most {MAX_PRESCRIPTIONS} items."}
    cleaned: list[dict[str, str]] = []
    errors: dict[str, str] = {}
    for index, item in enumerate(items):
        row: dict[str, str] = {}
        for name, max_length in PRESCRIPTION_FIELDS.items():
            field = f"prescriptions[{index}].{to_camel_case(name)}"
            required = name not in OPTIONAL_PRESCRIPTION_FIELDS
            try:
                row[name] = clean_clinical_text(item.get(name, ""), field, max_length, required)
            except InputError as error:
                errors[error.field] = error.message
        cleaned.append(row)
    return cleaned, errors


def consultation_day(appointment: models.Appointment) -> date:
    """The day a consultation belongs to: its appointment's start, as a UTC date."""
    return appointment.starts_at.astimezone(UTC).date()


def clean_content(given: Content, day: date) -> Content:
    """A validated, normalised copy of the clinical fields given; InputErrors naming
    every bad one. Validates only: call it before the transaction."""
    cleaned: Content = {}
    errors: dict[str, str] = {}
    for name in TEXT_FIELDS:
        if name in given:
            field = to_camel_case(name)
            try:
                cleaned[name] = clean_clinical_text(given[name], field, MAX_CLINICAL_TEXT_LENGTH)
            except InputError as error:
                errors[error.field] = error.message
    if "prescriptions" in given:
        cleaned["prescriptions"], item_errors = clean_prescriptions(given["prescriptions"])
        errors.update(item_errors)
    if "review_date" in given:
        review_date = given["review_date"]
        if review_date is not None and review_date < day:
            errors["reviewDate"] = (
                f"The review date cannot be before the consultation ({day.isoformat()})."
            )
        cleaned["review_date"] = review_date
    if errors:
        raise InputErrors(errors)
    return cleaned


# ---- writing ----------------------------------------------------------------------------


def as_json(content: Content) -> Content:
    review_date = content["review_date"]
    return {name: content[name] for name in models.CLINICAL_FIELDS} | {
        "review_date": review_date.isoformat() if review_date else None
    }


async def current_content(consultation: models.Consultation) -> Content:
    items = await models.PrescriptionItem.filter(consultation_id=consultation.id).order_by(
        "position"
    )
    content = {name: getattr(consultation, name) for name in TEXT_FIELDS}
    content["review_date"] = consultation.review_date
    content["prescriptions"] = [
        {name: getattr(item, name) for name in PRESCRIPTION_FIELDS} for item in items
    ]
    return content


async def replace_prescriptions(
    consultation: models.Consultation, items: list[dict[str, str]]
) -> None:
    await models.PrescriptionItem.filter(consultation_id=consultation.id).delete()
    await models.PrescriptionItem.bulk_create(
        [
            models.PrescriptionItem(consultation_id=consultation.id, position=position, **item)
            for position, item in enumerate(items)
        ]
    )


async def newest_revision_number(consultation: models.Consultation) -> int:
    last = (
        await models.ConsultationRevision.filter(consultation_id=consultation.id)
        .order_by("-number")
        .first()
    )
    return last.number if last else 0


async def add_revision(
    consultation: models.Consultation, author: models.User, changed: list[str], content: Content
) -> None:
    """The next numbered, immutable copy. Call inside the write's transaction, with the
    consultation row locked, so that two writers cannot take the same number."""
    await models.ConsultationRevision.create(
        consultation_id=consultation.id,
        number=await newest_revision_number(consultation) + 1,
        author_id=author.id,
        changed_fields=changed,
        content=as_json(content),
    )


async def tell_patient(
    kind: models.NotificationKind, actor: models.User, consultation: models.Consultation
) -> None:
    await announce(
        Change(
            kind=kind,
            actor=actor,
            recipient_ids=(consultation.patient_id,),
            appointment_id=consultation.appointment_id,
            consultation_id=consultation.id,
            patient_id=consultation.patient_id,
        )
    )


def already_documented() -> InputErrors:
    return InputErrors(
        {"appointmentId": "This appointment is already documented; update its consultation."}
    )


async def create(doctor: models.User, appointment_id: str, given: Content) -> models.Consultation:
    """Document an appointment assigned to `doctor`: the consultation and revision 1."""
    appointment = await find_visible_appointment(doctor, appointment_id)
    if appointment.doctor_id != doctor.id:
        raise NotFoundError("appointment", appointment_id)
    if appointment.status == models.AppointmentStatus.CANCELLED:
        raise InvalidTransitionError(
            appointment.status.value, "A cancelled appointment cannot be documented."
        )
    if await models.Consultation.filter(appointment_id=appointment.id).exists():
        raise already_documented()
    content = BLANK | clean_content(given, consultation_day(appointment))
    try:
        async with atomic():
            consultation = await models.Consultation.create(
                appointment_id=appointment.id,
                doctor_id=doctor.id,
                patient_id=appointment.patient_id,
                review_date=content["review_date"],
                **{name: content[name] for name in TEXT_FIELDS},
            )
            await replace_prescriptions(consultation, content["prescriptions"])
            changed = [name for name in models.CLINICAL_FIELDS if content[name] != BLANK[name]]
            await add_revision(consultation, doctor, changed, content)
            await tell_patient(models.NotificationKind.CONSULTATION_CREATED, doctor, consultation)
    except IntegrityError:
        # The one-to-one appointment: a concurrent create won the race.
        if await models.Consultation.filter(appointment_id=appointment.id).exists():
            raise already_documented() from None
        raise
    return consultation


async def update(
    doctor: models.User,
    consultation_id: str,
    given: Content,
    expected_revision: int | None = None,
) -> models.Consultation:
    """Change the clinical fields given (the rest stay); a revision when anything changed.
    With `expected_revision`, refuse (RevisionConflictError) if the newest revision is
    another: someone saved since the edit started, and theirs must not be overwritten."""
    consultation = await find_own_consultation(doctor, consultation_id)
    if consultation.signed_at is not None:
        raise ConsultationSignedError()
    appointment = await models.Appointment.get(id=consultation.appointment_id)
    cleaned = clean_content(given, consultation_day(appointment))
    async with atomic():
        # The lock orders concurrent writers (and a signature) on PostgreSQL; SQLite
        # serialises writers anyway. Re-read: the row may have changed since the check.
        locked = await models.Consultation.filter(id=consultation.id).select_for_update().get()
        if locked.signed_at is not None:
            raise ConsultationSignedError()
        if expected_revision is not None:
            newest = await newest_revision_number(locked)
            if newest != expected_revision:
                raise RevisionConflictError(newest)
        previous = await current_content(locked)
        content = previous | cleaned
        changed = [name for name in models.CLINICAL_FIELDS if content[name] != previous[name]]
        if not changed:
            return locked
        scalars = [name for name in changed if name != "prescriptions"]
        locked.update_from_dict({name: content[name] for name in scalars})
        # An edit of the private notes alone is the author's own: the patient must see no
        # trace of it (no `updatedAt` moved, no notification, nothing in myRecordAccess,
        # no revision among theirs).
        notes_only = changed == ["private_notes"]
        await locked.save(update_fields=scalars if notes_only else [*scalars, "updated_at"])
        if "prescriptions" in changed:
            await replace_prescriptions(locked, content["prescriptions"])
        await add_revision(locked, doctor, changed, content)
        if notes_only:
            await audit.record_write(
                doctor,
                models.AuditEntity.PRIVATE_NOTES,
                models.AuditAction.UPDATE,
                locked.id,
                locked.patient_id,
                ["privateNotes"],
            )
        else:
            await tell_patient(models.NotificationKind.CONSULTATION_UPDATED, doctor, locked)
    return locked


async def sign(doctor: models.User, consultation_id: str) -> models.Consultation:
    """Make the consultation read-only; from now on only addenda may be added."""
    consultation = await find_own_consultation(doctor, consultation_id)
    if consultation.signed_at is not None:
        raise ConsultationSignedError()
    async with atomic():
        now = utcnow()
        # Conditional, so that of two racing signatures only one wins.
        signed = await models.Consultation.filter(
            id=consultation.id, signed_at__isnull=True
        ).update(signed_at=now, updated_at=now)
        if not signed:
            raise ConsultationSignedError()
        await consultation.refresh_from_db()
        await tell_patient(models.NotificationKind.CONSULTATION_SIGNED, doctor, consultation)
    return consultation


async def add_addendum(doctor: models.User, consultation_id: str, text: str) -> models.Consultation:
    """Append text to a signed consultation; a draft is updated instead."""
    consultation = await find_own_consultation(doctor, consultation_id)
    errors: dict[str, str] = {}
    try:
        text = clean_clinical_text(text, "text", MAX_ADDENDUM_LENGTH, required=True)
    except InputError as error:
        errors[error.field] = error.message
    if consultation.signed_at is None:
        errors["consultationId"] = (
            "This consultation is not signed yet: update it instead of adding an addendum."
        )
    if errors:
        raise InputErrors(errors)
    async with atomic():
        await models.ConsultationAddendum.create(
            consultation_id=consultation.id, author_id=doctor.id, text=text
        )
        await tell_patient(models.NotificationKind.CONSULTATION_UPDATED, doctor, consultation)
    return consultation
