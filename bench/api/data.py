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

With `Sizes.at_scale(n)` (bench/datascale), n times the clinic, and the audit trail and
chat that go with it: per appointment `audit_per_appointment` audit rows (the patient's
booking, then reads by the doctor and the patient, two days apart, never in the
future), per pair of patient and doctor who share appointments a conversation with
`messages_per_conversation` messages (spread from the pair's first booking to now,
patient and doctor in turn), and one audit row per message (its reading by the other
participant). Each doctor has the same appointments, conversations and messages at every
scale (n times the doctors, n times the patients): only the tables grow. `Sizes()`, as
bench.api uses it, generates neither audit trail nor chat.

Every user's email address is verified (booking requires it). Only the users the load
signs in get a session, through `start_session` as in
bench/common/seed.py (a real session row and access token, no password hashing).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
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
SEED_TIMEOUT = 300.0  # per 200,000 appointments (scale 1)
AUDIT_PER_APPOINTMENT = 3  # at_scale's: booked by the patient, read by the doctor and by them
MESSAGES_PER_CONVERSATION = 10


@dataclass(frozen=True)
class Sizes:
    doctors: int = 200
    patients: int = 20_000
    appointments: int = 200_000
    consultations: int = 50_000
    audit_per_appointment: int = 0  # 0: no audit trail (and none for the messages)
    messages_per_conversation: int = 0  # 0: no conversations either

    @classmethod
    def at_scale(
        cls,
        scale: int,
        audit_per_appointment: int = AUDIT_PER_APPOINTMENT,
        messages_per_conversation: int = MESSAGES_PER_CONVERSATION,
    ) -> Sizes:
        """`scale` times bench.api's clinic (1: 200 doctors, 20,000 patients, 200,000
        appointments, 50,000 consultations), with its audit trail and chat."""
        if scale < 1:
            raise ValueError("scale is 1 or more")
        base = cls()
        return cls(
            doctors=base.doctors * scale,
            patients=base.patients * scale,
            appointments=base.appointments * scale,
            consultations=base.consultations * scale,
            audit_per_appointment=audit_per_appointment,
            messages_per_conversation=messages_per_conversation,
        )

    @property
    def seed_timeout(self) -> float:
        return SEED_TIMEOUT * max(1.0, self.appointments / Sizes.appointments)


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
    # The conversation of booking pair k (patient k, doctor k), when chat was generated.
    conversation_ids: list[str] = field(default_factory=list)

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
                   profile_picture, phone_number, specialty, is_active, email_verified_at,
                   created_at, updated_at)
SELECT id, 'bench-' || lower($1::text) || '-' || n || '@bench.invalid', '!unusable',
       CASE WHEN $1::text = 'DOCTOR' THEN 'Doctor' ELSE 'Patient' END, 'No. ' || n, $1::text,
       '', NULL, NULL, CASE WHEN $1::text = 'DOCTOR' THEN 'General practice' END,
       true, $2, $2, $2
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

# The pairs of patient and doctor who share appointments, from the first booking on.
SQL_CONVERSATION_PLAN = """
CREATE TEMP TABLE bench_conversations AS
SELECT row_number() OVER (ORDER BY first_at, patient_id) - 1 AS n, gen_random_uuid() AS id,
       patient_id, doctor_id, first_at
FROM (SELECT patient_id, doctor_id, min(starts_at) - interval '7 days' AS first_at
      FROM bench_appointments GROUP BY patient_id, doctor_id) AS pairs
WHERE first_at < $1::timestamptz - interval '1 hour'
"""

# Message seq (1..M) of a conversation at first booking + (now - first booking) * seq/(M+1):
# the patient writes the odd ones, the doctor the even ones.
SQL_MESSAGE_PLAN = """
CREATE TEMP TABLE bench_messages AS
SELECT c.n, s AS seq, gen_random_uuid() AS id, c.id AS conversation_id, c.patient_id,
       CASE WHEN s % 2 = 1 THEN c.patient_id ELSE c.doctor_id END AS sender_id,
       CASE WHEN s % 2 = 1 THEN c.doctor_id ELSE c.patient_id END AS reader_id,
       CASE WHEN s % 2 = 1 THEN 'DOCTOR' ELSE 'PATIENT' END AS reader_role,
       c.first_at + ($2::timestamptz - c.first_at) * (s::float8 / ($1 + 1)) AS created_at
FROM bench_conversations c CROSS JOIN generate_series(1, $1) AS s
"""

SQL_CONVERSATIONS = """
INSERT INTO conversations (id, last_seq, patient_last_read_seq, doctor_last_read_seq,
                           created_at, last_message_at, doctor_id, patient_id)
SELECT id, $1, $1, $1 - n % 2, first_at,
       first_at + ($2::timestamptz - first_at) * ($1::float8 / ($1 + 1)), doctor_id, patient_id
FROM bench_conversations ORDER BY n
"""

SQL_MESSAGES = """
INSERT INTO chat_messages (id, seq, client_id, text, created_at, conversation_id, sender_id)
SELECT id, seq, gen_random_uuid(),
       (ARRAY['Hello, is the appointment still on?', 'Yes, see you then.',
              'The results came back normal.', 'Thank you, doctor.',
              'Please bring your previous prescriptions.', 'Will do.'])[1 + (n + seq) % 6],
       created_at, conversation_id, sender_id
FROM bench_messages ORDER BY created_at
"""

# The idempotency keys the API still keeps: those of the messages of the last
# MESSAGE_KEY_DAYS days (older ones are pruned daily).
SQL_MESSAGE_KEYS = """
INSERT INTO chat_message_keys (message_id, sender_id, client_id, created_at)
SELECT id, sender_id, client_id, created_at FROM chat_messages
WHERE created_at >= $1::timestamptz - make_interval(days => $2)
"""

# The audit trail, in time order as the audit writer appends it, none in the future:
# per appointment, its booking by the patient (k = 0), then reads by the doctor (odd k)
# and the patient (even k) two days apart; with chat, each message read by the other one.
SQL_AUDIT = """
INSERT INTO audit_events (id, created_at, actor_id, actor_role, patient_id, entity, entity_id,
                          action, fields_accessed, allowed, client_address, request_id)
SELECT gen_random_uuid(), at, actor_id, actor_role, patient_id, entity, entity_id, action,
       fields::jsonb, true, client_address, request_id
FROM (
  SELECT b.starts_at - interval '7 days'
           + make_interval(days => 2 * k, secs => (b.i * 7 + k * 3571) % 43200) AS at,
         CASE WHEN k % 2 = 1 THEN b.doctor_id ELSE b.patient_id END AS actor_id,
         CASE WHEN k % 2 = 1 THEN 'DOCTOR' ELSE 'PATIENT' END AS actor_role,
         b.patient_id, 'APPOINTMENT' AS entity, b.id::text AS entity_id,
         CASE WHEN k = 0 THEN 'CREATE' ELSE 'READ' END AS action,
         CASE WHEN k = 0 THEN '["doctorId", "startsAt", "reason"]'
              ELSE '["id", "startsAt", "endsAt", "status", "reason", "patient", "consultation"]'
         END AS fields,
         '10.0.' || (b.i % 250) || '.' || (1 + k) AS client_address,
         to_hex(b.i * 16 + k) AS request_id
  FROM bench_appointments b CROSS JOIN generate_series(0, $1 - 1) AS k
  {messages}
) AS e
WHERE at <= $2
ORDER BY at
"""

SQL_AUDIT_MESSAGES = """
  UNION ALL
  SELECT m.created_at + make_interval(secs => 60 + (m.n * 7 + m.seq * 131) % 3600),
         m.reader_id, m.reader_role, m.patient_id, 'CHAT_MESSAGE', m.id::text, 'READ',
         '["id", "seq", "text", "createdAt", "sender"]',
         '10.1.' || (m.n % 250) || '.' || (m.seq % 250), to_hex(m.n * 64 + m.seq)
  FROM bench_messages m
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


Progress = Callable[[str], None]


async def _generate(
    connection: asyncpg.Connection, sizes: Sizes, base_day: datetime, progress: Progress | None
) -> dict:
    seconds: dict[str, float] = {}

    async def step(name: str, sql: str, *args: Any) -> None:
        started = time.perf_counter()
        await connection.execute(sql, *args)
        took = time.perf_counter() - started
        seconds[name] = round(seconds.get(name, 0.0) + took, 2)
        if progress is not None:
            progress(f"  {name}: {took:.1f} s")

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
    if sizes.audit_per_appointment > 0 or sizes.messages_per_conversation > 0:
        # Sorting millions of rows by time: in memory rather than in temporary files.
        await connection.execute("SET LOCAL work_mem = '256MB'")
        await _audit_and_chat(step, sizes, now)
    await step("analyze", "ANALYZE")
    return seconds


async def _audit_and_chat(step: Callable[..., Any], sizes: Sizes, now: datetime) -> None:
    """The conversations, their messages and the audit trail (each when asked for)."""
    messages = sizes.messages_per_conversation
    if messages > 0:
        await step("conversation plan", SQL_CONVERSATION_PLAN, now)
        await step("message plan", SQL_MESSAGE_PLAN, messages, now)
        await step("conversations", SQL_CONVERSATIONS, messages, now)
        await step("chat messages", SQL_MESSAGES)
        await step("chat message keys", SQL_MESSAGE_KEYS, now, models.MESSAGE_KEY_DAYS)
    if sizes.audit_per_appointment > 0:
        sql = SQL_AUDIT.format(messages=SQL_AUDIT_MESSAGES if messages > 0 else "")
        await step("audit events", sql, sizes.audit_per_appointment, now)


async def seed(
    database_url: str,
    settings: Settings,
    sizes: Sizes,
    signed_in_doctors: int,
    booking_pairs: int,
    lookups_per_doctor: int = 50,
    progress: Progress | None = None,
) -> Dataset:
    """Fill the migrated database at `database_url` (in one transaction) and sign in the
    users the load needs. `progress`, when given, hears each step's time as it ends."""
    if booking_pairs > min(sizes.doctors, sizes.patients):
        raise ValueError("booking pairs need as many doctors and patients")
    base_day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=PAST_DAYS
    )
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        async with connection.transaction():
            seconds = await asyncio.wait_for(
                _generate(connection, sizes, base_day, progress), sizes.seed_timeout
            )
        tables = ["users", "appointments", "consultations", "working_hours"]
        if sizes.messages_per_conversation > 0:
            tables += ["conversations", "chat_messages"]
        if sizes.audit_per_appointment > 0:
            tables.append("audit_events")
        counts = {
            table: await connection.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608
            for table in tables
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
        conversation_ids = []
        if sizes.messages_per_conversation > 0:
            conversation_ids = await _pair_conversations(
                connection, patient_ids, doctor_ids[:booking_pairs]
            )
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
        conversation_ids=conversation_ids,
    )


async def _pair_conversations(
    connection: asyncpg.Connection, patient_ids: list[str], doctor_ids: list[str]
) -> list[str]:
    """The conversation of each booking pair (patient k and doctor k share appointment k)."""
    rows = await connection.fetch(
        "SELECT c.id, c.patient_id, c.doctor_id FROM conversations c "
        "JOIN unnest($1::uuid[], $2::uuid[]) AS p(patient_id, doctor_id) "
        "ON c.patient_id = p.patient_id AND c.doctor_id = p.doctor_id",
        [uuid.UUID(i) for i in patient_ids],
        [uuid.UUID(i) for i in doctor_ids],
    )
    by_pair = {(str(r["patient_id"]), str(r["doctor_id"])): str(r["id"]) for r in rows}
    return [by_pair[pair] for pair in zip(patient_ids, doctor_ids, strict=True)]
