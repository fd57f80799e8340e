"""Appointments: who may see them, booking without overlaps, and status changes."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from healthcare import db, models
from healthcare.failures import (
    EmailNotVerifiedError,
    InputError,
    InvalidTransitionError,
    NotFoundError,
    SlotUnavailableError,
)
from healthcare.realtime.outbox import atomic
from healthcare.resolvers import appointment_emails
from healthcare.resolvers.availability import LONGEST_APPOINTMENT, HoursBlock, slots_on, zone
from healthcare.resolvers.changes import Change, announce, other_party
from healthcare.security.auth import utcnow
from healthcare.validators import clean_text, parse_id

Status = models.AppointmentStatus
Kind = models.AppointmentChangeKind
MAX_REASON_LENGTH = 1000
BOOKING_HORIZON = timedelta(days=366)


def visible_appointments(viewer: models.User) -> QuerySet[models.Appointment]:
    """Every appointment `viewer` may see: the one rule for lists, lookups, nested fields
    and subscriptions. Patients see their own, doctors those assigned to them, admins all.
    """
    if viewer.is_admin:
        return models.Appointment.all()
    if viewer.is_doctor:
        return models.Appointment.filter(doctor_id=viewer.id)
    return models.Appointment.filter(patient_id=viewer.id)


async def changed_since(viewer: models.User, since: datetime) -> list[models.Appointment]:
    """The appointments the viewer may see that changed after `since`, or whose
    consultation did (it is announced on the appointment's channel), oldest first."""
    changed = Q(updated_at__gt=since) | Q(consultation__updated_at__gt=since)
    return await visible_appointments(viewer).filter(changed).order_by("updated_at")


async def find_visible_appointment(viewer: models.User, appointment_id: str) -> models.Appointment:
    parsed = parse_id(appointment_id)
    found = await visible_appointments(viewer).filter(id=parsed).first() if parsed else None
    if found is None:
        raise NotFoundError("appointment", appointment_id)
    return found


# ---- booking and rescheduling -----------------------------------------------------------


# An active doctor's schedule with its weekly hours: a row per block; one row with null
# hours when there are none yet, and with a null schedule when there is none; no row when
# $1 is not an active doctor.
SLOT_RULES_SQL = """
SELECT s.time_zone, s.slot_minutes, h.weekday, h.start_minute, h.end_minute
FROM users d
LEFT JOIN doctor_schedules s ON s.doctor_id = d.id
LEFT JOIN working_hours h ON h.schedule_id = s.id
WHERE d.id = $1 AND d.role = 'DOCTOR' AND d.is_active
"""
# What stands in the way of the slot [$2, $3) for doctor $1 and patient $4: the doctor's
# time off, and appointments of either that are not cancelled ($6), other than $5 (the
# one being moved). One round trip for the three checks. An appointment lasts one slot,
# so one that overlaps starts after $7 = $2 - LONGEST_APPOINTMENT: the (doctor_id,
# starts_at) and (patient_id, starts_at) indexes then read the slot's neighbourhood, not
# every appointment of the person's history before it.
SLOT_CONFLICTS_SQL = """
SELECT
    EXISTS (SELECT 1 FROM time_off
            WHERE doctor_id = $1 AND starts_at < $3 AND ends_at > $2) AS doctor_away,
    EXISTS (SELECT 1 FROM appointments
            WHERE doctor_id = $1 AND starts_at < $3 AND starts_at > $7 AND ends_at > $2
              AND status <> $6 AND id <> $5) AS doctor_busy,
    EXISTS (SELECT 1 FROM appointments
            WHERE patient_id = $4 AND starts_at < $3 AND starts_at > $7 AND ends_at > $2
              AND status <> $6 AND id <> $5) AS patient_busy
"""
NO_APPOINTMENT = uuid.UUID(int=0)
# What a doctor moving a visit is told of any conflict (see check_bookable).
NOT_AVAILABLE = "That time is not available."
TAKEN_MEANWHILE = "Someone booked that time a moment ago."


async def check_bookable(
    doctor_id: uuid.UUID,
    patient_id: uuid.UUID,
    starts_at: datetime,
    ignore: uuid.UUID | None = None,
    by_patient: bool = True,
) -> datetime:
    """Where a new appointment at `starts_at` would end; NotFoundError if `doctor_id` is
    not an active doctor, SlotUnavailableError if the slot may not be booked. Call inside
    the booking's transaction. A doctor moving an appointment gets one answer whichever
    calendar stands in the way: told that their own is free, they would learn that the
    patient has another visit then."""
    if starts_at.tzinfo is None:
        raise InputError("startsAt", "Give the time with a UTC offset, like 2026-12-01T09:00Z.")
    rules = await db.fetch_all(SLOT_RULES_SQL, doctor_id)
    if not rules:
        raise NotFoundError("doctor", doctor_id)
    if starts_at <= utcnow():
        raise SlotUnavailableError("That time is in the past.")
    if starts_at > utcnow() + BOOKING_HORIZON:
        raise SlotUnavailableError("Appointments can be booked up to a year ahead.")
    if rules[0]["time_zone"] is None:
        raise SlotUnavailableError("This doctor has no working hours yet.")
    tz = zone(rules[0]["time_zone"])
    blocks = [
        HoursBlock(row["weekday"], row["start_minute"], row["end_minute"])
        for row in rules
        if row["weekday"] is not None  # a schedule without hours yet
    ]
    local_day = starts_at.astimezone(tz).date()
    slot = next(
        (
            s
            for s in slots_on(local_day, blocks, rules[0]["slot_minutes"], tz)
            if s.starts_at == starts_at
        ),
        None,
    )
    if slot is None:
        raise SlotUnavailableError("That time is not the start of a slot in the doctor's hours.")
    [conflicts] = await db.fetch_all(
        SLOT_CONFLICTS_SQL,
        doctor_id,
        slot.starts_at,
        slot.ends_at,
        patient_id,
        ignore or NO_APPOINTMENT,
        Status.CANCELLED.value,
        slot.starts_at - LONGEST_APPOINTMENT,
    )
    if not by_patient and any(conflicts.values()):
        raise SlotUnavailableError(NOT_AVAILABLE)
    if conflicts["doctor_away"]:
        raise SlotUnavailableError("The doctor is away at that time.")
    if conflicts["doctor_busy"]:
        raise SlotUnavailableError("The doctor is already booked at that time.")
    if conflicts["patient_busy"]:
        raise SlotUnavailableError("You already have an appointment at that time.")
    return slot.ends_at


async def record(
    appointment: models.Appointment,
    actor: models.User,
    kind: models.AppointmentChangeKind,
    from_status: models.AppointmentStatus | None,
    previous_starts_at: datetime | None = None,
    reason: str | None = None,
) -> None:
    """History row plus the notification seam, inside the change's transaction."""
    await models.AppointmentChange.create(
        appointment_id=appointment.id,
        actor_id=actor.id,
        kind=kind,
        from_status=from_status,
        to_status=appointment.status,
        previous_starts_at=previous_starts_at,
        reason=reason,
    )
    await appointment_emails.appointment_changed(appointment, kind, actor, previous_starts_at)
    patient_id = appointment.patient_id
    doctor_id = appointment.doctor_id
    await announce(
        Change(
            kind=models.NotificationKind(f"APPOINTMENT_{kind.value}"),
            actor=actor,
            recipient_ids=other_party(actor.id, patient_id, doctor_id),
            appointment_id=appointment.id,
            party_ids=(patient_id, doctor_id),
            patient_id=patient_id,
            fields=("status", "startsAt") if kind == Kind.RESCHEDULED else ("status",),
        )
    )


async def book(
    patient: models.User,
    doctor_id: str,
    starts_at: datetime,
    reason: str,
    require_verified_email: bool = True,
) -> models.Appointment:
    if require_verified_email and patient.email_verified_at is None:
        raise EmailNotVerifiedError()
    parsed = parse_id(doctor_id)
    if parsed is None:
        raise NotFoundError("doctor", doctor_id)
    reason = clean_text(reason, "reason", MAX_REASON_LENGTH)
    try:
        async with atomic():
            ends_at = await check_bookable(parsed, patient.id, starts_at)
            appointment = await models.Appointment.create(
                patient_id=patient.id,
                doctor_id=parsed,
                starts_at=starts_at,
                ends_at=ends_at,
                reason=reason,
            )
            await record(appointment, patient, Kind.BOOKED, from_status=None)
    except IntegrityError:  # PostgreSQL's exclusion constraint: a concurrent booking won
        raise SlotUnavailableError(TAKEN_MEANWHILE) from None
    return appointment


async def reschedule(
    actor: models.User, appointment_id: str, starts_at: datetime
) -> models.Appointment:
    appointment = await find_visible_appointment(actor, appointment_id)
    require_status(appointment, Status.SCHEDULED, "be rescheduled")
    await require_undocumented(appointment, "be rescheduled")
    previous = appointment.starts_at
    by_patient = actor.id == appointment.patient_id
    try:
        async with atomic():
            try:
                ends_at = await check_bookable(
                    appointment.doctor_id,
                    appointment.patient_id,
                    starts_at,
                    ignore=appointment.id,
                    by_patient=by_patient,
                )
            except NotFoundError:  # the appointment's doctor, deactivated since
                raise SlotUnavailableError("This doctor no longer takes appointments.") from None
            # Conditional on the status: a cancel that committed meanwhile wins.
            moved = await models.Appointment.filter(
                id=appointment.id, status=Status.SCHEDULED
            ).update(starts_at=starts_at, ends_at=ends_at, updated_at=utcnow())
            if not moved:
                raise InvalidTransitionError(
                    Status.CANCELLED.value, "The appointment changed meanwhile; reload it."
                )
            await appointment.refresh_from_db()
            await record(appointment, actor, Kind.RESCHEDULED, Status.SCHEDULED, previous)
    except IntegrityError:  # either calendar: the doctor is not told which
        raise SlotUnavailableError(TAKEN_MEANWHILE if by_patient else NOT_AVAILABLE) from None
    return appointment


# ---- status changes ---------------------------------------------------------------------


def require_status(
    appointment: models.Appointment, expected: models.AppointmentStatus, action: str
) -> None:
    if appointment.status != expected:
        raise InvalidTransitionError(
            appointment.status.value,
            f"Only a {expected.value.lower()} appointment can {action}; "
            f"this one is {appointment.status.value.lower().replace('_', ' ')}.",
        )


async def require_undocumented(appointment: models.Appointment, action: str) -> None:
    """A documented visit happened: it cannot move or be called off any more."""
    if await models.Consultation.filter(appointment_id=appointment.id).exists():
        raise InvalidTransitionError(
            appointment.status.value,
            f"This appointment has a consultation, so it can no longer {action}.",
        )


def require_started(appointment: models.Appointment, action: str) -> None:
    if appointment.starts_at > utcnow():
        raise InvalidTransitionError(
            appointment.status.value, f"An appointment can {action} only once it has started."
        )


async def change_status(
    actor: models.User,
    appointment: models.Appointment,
    to_status: models.AppointmentStatus,
    kind: models.AppointmentChangeKind,
    reason: str | None = None,
) -> models.Appointment:
    async with atomic():
        # Conditional on the status we checked, so that two racing changes cannot both win.
        updated = await models.Appointment.filter(
            id=appointment.id, status=Status.SCHEDULED
        ).update(status=to_status, cancellation_reason=reason, updated_at=utcnow())
        if not updated:
            current = await models.Appointment.get(id=appointment.id)
            raise InvalidTransitionError(
                current.status.value, "The appointment changed meanwhile; reload it."
            )
        await appointment.refresh_from_db()
        await record(appointment, actor, kind, Status.SCHEDULED, reason=reason)
    return appointment


async def cancel(actor: models.User, appointment_id: str, reason: str) -> models.Appointment:
    appointment = await find_visible_appointment(actor, appointment_id)
    reason = clean_text(reason, "reason", MAX_REASON_LENGTH)
    require_status(appointment, Status.SCHEDULED, "be cancelled")
    await require_undocumented(appointment, "be cancelled")
    return await change_status(actor, appointment, Status.CANCELLED, Kind.CANCELLED, reason)


async def complete(doctor: models.User, appointment_id: str) -> models.Appointment:
    appointment = await find_visible_appointment(doctor, appointment_id)
    require_status(appointment, Status.SCHEDULED, "be completed")
    require_started(appointment, "be completed")
    return await change_status(doctor, appointment, Status.COMPLETED, Kind.COMPLETED)


async def mark_no_show(doctor: models.User, appointment_id: str) -> models.Appointment:
    appointment = await find_visible_appointment(doctor, appointment_id)
    require_status(appointment, Status.SCHEDULED, "be marked as a no-show")
    require_started(appointment, "be marked as a no-show")
    return await change_status(doctor, appointment, Status.NO_SHOW, Kind.NO_SHOW)
