"""Demo accounts for a development database. DEVELOPMENT ONLY: the passwords are public."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from healthcare import models
from healthcare.resolvers import appointments, availability, consultations
from healthcare.resolvers.auth import create_user
from healthcare.security.auth import utcnow

# Public on purpose (they are in the README). `seed-demo` refuses to run in production.
DEMO_PASSWORD = "demo-password-1"  # noqa: S105


@dataclass(frozen=True)
class DemoAccount:
    email: str
    first_name: str
    last_name: str
    role: models.Role
    specialty: str | None = None


DEMO_ACCOUNTS = (
    DemoAccount("admin@demo.clinic", "Ada", "Admin", models.Role.ADMIN),
    DemoAccount("dr.house@demo.clinic", "Gregory", "House", models.Role.DOCTOR, "Diagnostics"),
    DemoAccount("dr.grey@demo.clinic", "Meredith", "Grey", models.Role.DOCTOR, "General Surgery"),
    DemoAccount("alice@demo.clinic", "Alice", "Patient", models.Role.PATIENT),
    DemoAccount("bob@demo.clinic", "Bob", "Patient", models.Role.PATIENT),
)


WEEKDAYS = range(5)  # Monday to Friday
DEMO_SCHEDULES = {
    # email: (time zone, slot minutes, [(start minute, end minute), ...] on weekdays)
    "dr.house@demo.clinic": ("Europe/London", 30, [(9 * 60, 12 * 60), (13 * 60, 17 * 60)]),
    "dr.grey@demo.clinic": ("America/New_York", 20, [(8 * 60, 14 * 60)]),
}


async def seed_demo_accounts() -> list[DemoAccount]:
    """Create the demo accounts that do not exist yet; returns those created."""
    created = []
    for account in DEMO_ACCOUNTS:
        if await models.User.filter(email=account.email).exists():
            continue
        await create_user(
            email=account.email,
            password=DEMO_PASSWORD,
            first_name=account.first_name,
            last_name=account.last_name,
            role=account.role,
            specialty=account.specialty,
            email_verified_at=utcnow(),  # demo addresses cannot receive a link
        )
        created.append(account)
    return created


def demo_accounts_table() -> str:
    lines = ["Demo accounts (DEVELOPMENT ONLY), password for all: " + DEMO_PASSWORD]
    for account in DEMO_ACCOUNTS:
        lines.append(f"  {account.role.value:<8} {account.email}")
    return "\n".join(lines)


async def seed_demo_data() -> list[DemoAccount]:
    """Accounts, the demo doctors' hours, and a few appointments and a consultation, so that
    a newcomer sees real data at once. Only into an empty database; returns the accounts."""
    if await models.User.exists():
        return []
    created = await seed_demo_accounts()
    users = {user.email: user for user in await models.User.all()}
    for email, (time_zone, slot_minutes, blocks) in DEMO_SCHEDULES.items():
        await availability.set_schedule(
            users[email],
            time_zone,
            slot_minutes,
            [availability.HoursBlock(day, start, end) for day in WEEKDAYS for start, end in blocks],
        )
    alice, bob = users["alice@demo.clinic"], users["bob@demo.clinic"]
    house, grey = users["dr.house@demo.clinic"], users["dr.grey@demo.clinic"]
    await _past_visit_with_consultation(alice, house)
    await _book_next_free_slot(alice, house, "Follow-up on blood pressure")
    await _book_next_free_slot(bob, grey, "Persistent cough for two weeks")
    return created


async def _book_next_free_slot(patient: models.User, doctor: models.User, reason: str) -> None:
    today = utcnow().date()
    slots = await availability.free_slots(doctor.id, today, today + timedelta(days=14))
    if slots:
        await appointments.book(patient, str(doctor.id), slots[0].starts_at, reason)


async def _past_visit_with_consultation(patient: models.User, doctor: models.User) -> None:
    starts_at = datetime.combine(utcnow().date() - timedelta(days=7), datetime.min.time(), UTC)
    starts_at += timedelta(hours=10)
    visit = await models.Appointment.create(
        patient=patient,
        doctor=doctor,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=30),
        reason="Headaches in the morning",
        status=models.AppointmentStatus.COMPLETED,
    )
    for kind, from_status, actor in (
        (models.AppointmentChangeKind.BOOKED, None, patient),
        (models.AppointmentChangeKind.COMPLETED, models.AppointmentStatus.SCHEDULED, doctor),
    ):
        await models.AppointmentChange.create(
            appointment=visit,
            actor=actor,
            kind=kind,
            from_status=from_status,
            to_status=models.AppointmentStatus.SCHEDULED
            if kind == models.AppointmentChangeKind.BOOKED
            else models.AppointmentStatus.COMPLETED,
        )
    await consultations.create(
        doctor,
        str(visit.id),
        {
            "medical_history": "No known allergies. Father had hypertension.",
            "examination_findings": "Blood pressure 150/95 mmHg, otherwise normal.",
            "investigations": "Home blood-pressure log for two weeks.",
            "treatment_plan": "Reduce salt; start a low dose of amlodipine; review in a month.",
            "prescriptions": [
                {
                    "medication": "Amlodipine",
                    "dose": "5 mg",
                    "route": "oral",
                    "frequency": "once daily",
                    "duration": "30 days",
                    "instructions": "Take in the morning.",
                }
            ],
            "review_date": (starts_at + timedelta(days=30)).date(),
            "private_notes": "Demo data: fictional patient.",
        },
    )
