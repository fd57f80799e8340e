"""bench.api's data set: doctors, patients, appointments and consultations in bulk SQL.

Generated inside PostgreSQL (`INSERT ... SELECT` over `generate_series`) in a few
seconds, not row by row through the ORM, and valid under every constraint of the
migrations: appointment i goes to doctor i mod D and patient i mod P in slot i div D of
a 30-minute grid (16 slots a day, 09:00 to 17:00 UTC), so no doctor and no patient has
two appointments at once (the exclusion constraints of migration 2). The grid starts
`PAST_DAYS` before today: earlier slots are completed (some cancelled or missed), later
ones scheduled; about 1 in 20 is cancelled and 1 in 25 of the past ones missed, spread
over every doctor (a hash of slot and doctor). About every second completed appointment,
oldest first, has a consultation, up to the number asked for.

Every doctor works 08:00 to 18:00 UTC every day in 30-minute slots, so the booking phase
books real free slots: `booking_slot(k)` gives the k-th, from `BOOKING_FIRST_DAY` days
ahead, past the end of the generated appointments, on a distinct (doctor, patient) pair
for each of `booking_pairs` consecutive k: concurrent bookings never contend for one
doctor or one patient.

Only the users the load signs in get a session, through `start_session` as in
bench/common/seed.py (a real session row and access token, no password hashing).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from tortoise import Tortoise

from bench.common.seed import access_tokens
from healthcare import models
from healthcare.config import Settings, tortoise_config
from healthcare.db import asyncpg_dsn

SLOT_MINUTES = 30
SLOTS_PER_DAY = 16  # 09:00 to 17:00 in the generated appointments
FIRST_SLOT_MINUTE = 9 * 60
WORK_START_MINUTE, WORK_END_MINUTE = 8 * 60, 18 * 60  # the doctors' hours (UTC)
PAST_DAYS = 42
BOOKING_FIRST_DAY = 80  # days from today; after the last generated appointment
BOOKING_SLOTS_PER_DAY = (WORK_END_MINUTE - WORK_START_MINUTE) // SLOT_MINUTES
SEED_TIMEOUT = 300.0


@dataclass(frozen=True)
class Sizes:
    doctors: int = 200
    patients: int = 20_000
    appointments: int = 200_000
    consultations: int = 50_000


@dataclass
class Dataset:
    """What the load needs: the signed-in users, their tokens, and ids to ask for."""

    sizes: Sizes
    base_day: datetime
    doctor_ids: list[str]  # every doctor, by number
    patient_ids: list[str]  # the first `booking_pairs` patients, by number
    doctor_tokens: list[str]  # the first `signed_in_doctors` doctors
    patient_tokens: list[str]  # the first `booking_pairs` patients
    # (token index, appointment id, has a consultation) for lookups: the signed-in
    # doctors' own appointments.
    lookups: list[tuple[int, str, bool]]
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def booking_pairs(self) -> int:
        return len(self.patient_tokens)

    def booking_slot(self, k: int) -> tuple[int, str, datetime]:
        """The k-th booking: (patient number, doctor id, slot start), each one free."""
        pair = k % self.booking_pairs
        group = k // self.booking_pairs
        day, slot = divmod(group, BOOKING_SLOTS_PER_DAY)
        starts_at = self.base_day + timedelta(
            days=PAST_DAYS + BOOKING_FIRST_DAY + day,
            minutes=WORK_START_MINUTE + slot * SLOT_MINUTES,
        )
        return pair, self.doctor_ids[pair], starts_at


SQL_USERS = """
INSERT INTO users (id, email, password_hash, first_name, last_name, role, bio,
                   profile_picture, phone_number, specialty, is_active, created_at, updated_at)
SELECT id, 'bench-' || lower($1::text) || '-' || n || '@bench.invalid', '!unusable',
       CASE WHEN $1::text = 'DOCTOR' THEN 'Doctor' ELSE 'Patient' END, 'No. ' || n, $1::text,
       '', NULL, NULL, CASE WHEN $1::text = 'DOCTOR' THEN 'General practice' END,
       true, $2, $2
FROM {table}
"""

SQL_NUMBERED = """
CREATE TEMP TABLE {table} AS
SELECT n, gen_random_uuid() AS id FROM generate_series(0, $1 - 1) AS n
"""

# Slot k = i div D: day k div 16, minute 09:00 + (k mod 16) * 30.
SQL_APPOINTMENTS = """
CREATE TEMP TABLE bench_appointments AS
SELECT i, gen_random_uuid() AS id, d.id AS doctor_id, p.id AS patient_id, t.starts_at,
       t.starts_at + make_interval(mins => $5) AS ends_at,
       CASE
         WHEN ((i / $2) * 7 + i % $2) % 20 = 7 THEN 'CANCELLED'
         WHEN t.starts_at >= $4 THEN 'SCHEDULED'
         WHEN ((i / $2) * 3 + i % $2) % 25 = 3 THEN 'NO_SHOW'
         ELSE 'COMPLETED'
       END AS status,
       ((i / $2) + i % $2) % 2 = 0 AS documented
FROM generate_series(0, $1 - 1) AS i
JOIN bench_doctors d ON d.n = i % $2
JOIN bench_patients p ON p.n = i % $3
CROSS JOIN LATERAL (
  SELECT $6::timestamptz
         + make_interval(days => (i / $2) / $7)
         + make_interval(mins => $8 + ((i / $2) % $7) * $5) AS starts_at
) AS t
"""

SQL_INSERT_APPOINTMENTS = """
INSERT INTO appointments (id, starts_at, ends_at, reason, status, cancellation_reason,
                          created_at, updated_at, doctor_id, patient_id)
SELECT id, starts_at, ends_at,
       (ARRAY['Check-up', 'Follow-up visit', 'Persistent cough',
              'Back pain', 'Blood test results', 'Vaccination'])[1 + i % 6],
       status, CASE WHEN status = 'CANCELLED' THEN 'Patient asked to cancel' END,
       starts_at - interval '7 days', starts_at - interval '7 days', doctor_id, patient_id
FROM bench_appointments ORDER BY i
"""

SQL_CONSULTATIONS = """
INSERT INTO consultations (id, medical_history, examination_findings, investigations,
                           treatment_plan, review_date, private_notes, signed_at,
                           created_at, updated_at, doctor_id, patient_id, appointment_id)
SELECT gen_random_uuid(), 'No relevant history.', 'Unremarkable examination.', '',
       'Rest, fluids; come back if it persists.', NULL, 'Seen ' || i,
       CASE WHEN i % 3 = 0 THEN NULL ELSE ends_at + interval '2 hours' END,
       ends_at, ends_at, doctor_id, patient_id, id
FROM bench_appointments
WHERE status = 'COMPLETED' AND documented
ORDER BY i
LIMIT $1
"""

SQL_SCHEDULES = """
INSERT INTO doctor_schedules (id, time_zone, slot_minutes, updated_at, doctor_id)
SELECT gen_random_uuid(), 'UTC', $1, now(), id FROM bench_doctors
"""

SQL_HOURS = """
INSERT INTO working_hours (id, weekday, start_minute, end_minute, schedule_id)
SELECT gen_random_uuid(), w, $1, $2, s.id
FROM doctor_schedules s CROSS JOIN generate_series(0, 6) AS w
"""


async def _generate(connection: asyncpg.Connection, sizes: Sizes, base_day: datetime) -> dict:
    seconds: dict[str, float] = {}

    async def step(name: str, sql: str, *args: Any) -> None:
        started = time.perf_counter()
        await connection.execute(sql, *args)
        seconds[name] = round(time.perf_counter() - started, 2)

    now = datetime.now(UTC)
    await step("numbering", SQL_NUMBERED.format(table="bench_doctors"), sizes.doctors)
    await step("numbering", SQL_NUMBERED.format(table="bench_patients"), sizes.patients)
    await step("doctors", SQL_USERS.format(table="bench_doctors"), "DOCTOR", now)
    await step("patients", SQL_USERS.format(table="bench_patients"), "PATIENT", now)
    await step(
        "appointment plan",
        SQL_APPOINTMENTS,
        sizes.appointments,
        sizes.doctors,
        sizes.patients,
        now,
        SLOT_MINUTES,
        base_day,
        SLOTS_PER_DAY,
        FIRST_SLOT_MINUTE,
    )
    await step("appointments", SQL_INSERT_APPOINTMENTS)
    await step("consultations", SQL_CONSULTATIONS, sizes.consultations)
    await step("schedules", SQL_SCHEDULES, SLOT_MINUTES)
    await step("working hours", SQL_HOURS, WORK_START_MINUTE, WORK_END_MINUTE)
    await step("analyze", "ANALYZE")
    return seconds


async def seed(
    database_url: str,
    settings: Settings,
    sizes: Sizes,
    signed_in_doctors: int,
    booking_pairs: int,
    lookups_per_doctor: int = 50,
) -> Dataset:
    if booking_pairs > min(sizes.doctors, sizes.patients):
        raise ValueError("booking pairs need as many doctors and patients")
    base_day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=PAST_DAYS
    )
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        async with connection.transaction():
            seconds = await asyncio.wait_for(_generate(connection, sizes, base_day), SEED_TIMEOUT)
        counts = {
            table: await connection.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608
            for table in ("users", "appointments", "consultations", "working_hours")
        }
        doctor_ids = [
            str(r["id"])
            for r in await connection.fetch(
                "SELECT id FROM users WHERE role = 'DOCTOR' "
                "ORDER BY (split_part(last_name, ' ', 2))::int"
            )
        ]
        by_email = {
            r["email"]: str(r["id"])
            for r in await connection.fetch(
                "SELECT id, email FROM users WHERE email = ANY($1::text[])",
                [f"bench-patient-{n}@bench.invalid" for n in range(booking_pairs)],
            )
        }
        patient_ids = [by_email[f"bench-patient-{n}@bench.invalid"] for n in range(booking_pairs)]
        lookups = []
        for index, doctor_id in enumerate(doctor_ids[:signed_in_doctors]):
            rows = await connection.fetch(
                "SELECT a.id, c.id IS NOT NULL AS documented FROM appointments a "
                "LEFT JOIN consultations c ON c.appointment_id = a.id "
                "WHERE a.doctor_id = $1 ORDER BY a.starts_at LIMIT $2",
                uuid.UUID(doctor_id),
                lookups_per_doctor,
            )
            lookups += [(index, str(r["id"]), r["documented"]) for r in rows]
    finally:
        await connection.close()

    started = time.perf_counter()
    await Tortoise.init(config=tortoise_config(database_url))
    try:
        wanted = [uuid.UUID(i) for i in doctor_ids[:signed_in_doctors] + patient_ids]
        users = await models.User.filter(id__in=wanted)
        tokens = {str(k): v for k, v in (await access_tokens(users, settings)).items()}
    finally:
        await Tortoise.close_connections()
    seconds["sessions"] = round(time.perf_counter() - started, 2)
    return Dataset(
        sizes=sizes,
        base_day=base_day,
        doctor_ids=doctor_ids,
        patient_ids=patient_ids,
        doctor_tokens=[tokens[i] for i in doctor_ids[:signed_in_doctors]],
        patient_tokens=[tokens[i] for i in patient_ids],
        lookups=lookups,
        counts=counts,
        seconds=seconds,
    )
