"""The scale benchmark's people: chatting pairs (as bench.chat seeds them) and listeners,
patients who each have one visit booked with a clinic doctor and hear of it through
`notificationAdded` when the booking loop has the doctor cancel it.

Written with the ORM directly; every user gets a real session through `start_session`
(bench/common/seed.py), so the server authenticates them as it would a signed-in user.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise import Tortoise

from bench.common.seed import BATCH, access_tokens
from healthcare import models
from healthcare.config import Settings, tortoise_config

SLOT = timedelta(minutes=30)
PATIENTS_PER_DOCTOR = 100  # each clinic doctor's calendar: 100 distinct slots


@dataclass(frozen=True)
class Listener:
    """A patient listening for notifications, and the visit the loop cancels and rebooks."""

    patient_id: str
    patient_token: str
    doctor_id: str
    doctor_token: str
    appointment_id: str
    starts_at: str  # ISO 8601, UTC: a slot start in the doctor's hours


async def seed_listeners(database_url: str, count: int, settings: Settings) -> list[Listener]:
    """`count` patients (email verified, so they may book), one clinic doctor per
    PATIENTS_PER_DOCTOR of them (hours: every day, all day, UTC, 30-minute slots), and one
    scheduled visit per patient, each doctor's at distinct times from tomorrow on."""
    await Tortoise.init(config=tortoise_config(database_url))
    try:
        now = datetime.now(UTC)
        doctors = [
            _user(models.Role.DOCTOR, i, now) for i in range(-(-count // PATIENTS_PER_DOCTOR))
        ]
        patients = [_user(models.Role.PATIENT, i, now) for i in range(count)]
        await models.User.bulk_create(doctors + patients, batch_size=BATCH)
        schedules = [
            models.DoctorSchedule(id=uuid.uuid4(), doctor_id=d.id, time_zone="UTC", slot_minutes=30)
            for d in doctors
        ]
        await models.DoctorSchedule.bulk_create(schedules, batch_size=BATCH)
        hours = [
            models.WorkingHours(
                id=uuid.uuid4(), schedule_id=s.id, weekday=day, start_minute=0, end_minute=1440
            )
            for s in schedules
            for day in range(7)
        ]
        await models.WorkingHours.bulk_create(hours, batch_size=BATCH)
        first_slot = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        visits = []
        for i, patient in enumerate(patients):
            starts_at = first_slot + SLOT * (i // len(doctors))
            visits.append(
                models.Appointment(
                    id=uuid.uuid4(),
                    patient_id=patient.id,
                    doctor_id=doctors[i % len(doctors)].id,
                    starts_at=starts_at,
                    ends_at=starts_at + SLOT,
                    reason="Scale benchmark visit",
                )
            )
        await models.Appointment.bulk_create(visits, batch_size=BATCH)
        stored = await models.User.filter(id__in=[u.id for u in doctors + patients])
        tokens = await access_tokens(stored, settings)
        return [
            Listener(
                patient_id=str(visit.patient_id),
                patient_token=tokens[visit.patient_id],
                doctor_id=str(visit.doctor_id),
                doctor_token=tokens[visit.doctor_id],
                appointment_id=str(visit.id),
                starts_at=visit.starts_at.isoformat(),
            )
            for visit in visits
        ]
    finally:
        await Tortoise.close_connections()


def _user(role: models.Role, index: int, now: datetime) -> models.User:
    kind = role.value.lower()
    return models.User(
        id=uuid.uuid4(),
        email=f"scale-{kind}-{index}@bench.invalid",
        password_hash="!unusable",  # never signs in with a password  # noqa: S106
        first_name=kind.capitalize(),
        last_name=f"Listener {index}",
        role=role,
        specialty="General practice" if role == models.Role.DOCTOR else None,
        email_verified_at=now,
    )
