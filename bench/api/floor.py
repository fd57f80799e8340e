"""The floors for bench.api, under the same uvicorn settings as `healthcare serve`.

F1 (`--mode f1`): a bare Starlette + asyncpg server doing the same job as the API with
the least machinery: it verifies the same JWT (PyJWT), looks up the session and user in
one query, runs equivalent SQL on one pooled connection per request, writes the same
audit rows with the API's writer settings (buffered, and written every 0.25 s or sooner
when 5,000 wait, each batch one COPY: `healthcare.security.audit.AuditWriter`'s
defaults and its `insert`, each list of fields encoded once as its `fields_json`
encodes it) and returns the same JSON. No GraphQL, no ORM. It answers the
operations of bench/api/operations.py on POST /graphql, choosing by `operationName`:

- DoctorAppointments: page of the doctor's appointments (keyset order), their patients
  in one query, their consultations in one query;
- AppointmentById: the appointment (the doctor's own), both users in one query, its
  consultation;
- AdminAppointments: an administrator's page of every appointment (keyset order), their
  patients and doctors in one query;
- Me: the session's user;
- BookAppointment: the API's booking statements (the SQL_ constants below), in one
  transaction, including the slot check against the doctor's hours, and the same rows
  for its emails and reminders (two reminders, an email with its calendar invite to each
  person who wants appointment emails), written in one statement each. The API's mail
  worker then sends the API's emails in the background; F1 has no worker and sends none
  (its emails are due in the year 9000, so that the API's worker leaves them alone).

F2 (`--mode f2`): F1 with the doctor's list answered in one statement, as the peer
answers it: the statement selects the page, its patients and consultations, builds the
edges' JSON in PostgreSQL (cursors included; the peer builds its JSON in Node) and
returns beside it the ids the audit rows need; the same authentication and audit rows
as F1, every other operation F1's. What a server in Python could reach on the list by
compiling a known document into one statement, as a floor beside the peer (bench.api
runs it for the list only).

F0 (`--mode f0`): a Starlette endpoint returning a constant body per operation (the
API's own answer, captured by bench.api), after reading and parsing the request: the
most this stack can serve on this machine.

    python -m bench.api.floor --mode f1 --port 8101 --database-url postgres://...
    python -m bench.api.floor --mode f2 --port 8103 --database-url postgres://...
    python -m bench.api.floor --mode f0 --port 8102 --bodies bodies.json
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import inspect
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.api import operations as ops
from bench.common.tokens import bearer_claims
from healthcare.config import Settings
from healthcare.mail import calendar
from healthcare.resolvers import appointments, availability
from healthcare.security import audit

POOL_MIN, POOL_MAX = 1, 5  # Tortoise's default pool, as the API runs with
STATEMENT_TIMEOUT_MS = "5000"  # the API's default STATEMENT_TIMEOUT_MS
# The API's audit writer settings (its defaults, as the app creates it): a round every
# `interval` s, or sooner when `batch_size` rows wait; each batch one COPY.
_WRITER_DEFAULTS = inspect.signature(audit.AuditWriter).parameters
AUDIT_INTERVAL: float = _WRITER_DEFAULTS["interval"].default
AUDIT_BATCH: int = _WRITER_DEFAULTS["batch_size"].default
AUDIT_TABLE = "audit_events"
AUDIT_COLUMNS = ("id", *audit.COLUMNS)
WS_MAX_FRAME_BYTES = 256 * 1024
JSON = "application/json"

SQL_VIEWER = """
SELECT u.id, u.email, u.first_name, u.last_name, u.role, u.is_active
FROM auth_sessions s JOIN users u ON u.id = s.user_id
WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND s.expires_at > $3
"""
SQL_PAGE = """
SELECT id, starts_at, ends_at, status, reason, patient_id, doctor_id FROM appointments
WHERE doctor_id = $1 ORDER BY starts_at, id LIMIT $2
"""
SQL_PAGE_ALL = """
SELECT id, starts_at, ends_at, status, reason, patient_id, doctor_id FROM appointments
ORDER BY starts_at, id LIMIT $1
"""
SQL_ONE = """
SELECT id, starts_at, ends_at, status, reason, patient_id, doctor_id FROM appointments
WHERE doctor_id = $1 AND id = $2
"""
SQL_USERS = "SELECT id, first_name, last_name FROM users WHERE id = ANY($1::uuid[])"
SQL_CONSULTATIONS = """
SELECT id, appointment_id, patient_id, created_at, signed_at, treatment_plan
FROM consultations WHERE appointment_id = ANY($1::uuid[])
"""
# F2's doctor's list: the page (one row more, for hasNextPage), each row's edge as JSON
# in the API's names and formats, in order, and the ids of what was read. A cursor is
# the API's: base64url of `["<start>", "<id>"]`, the start as Python's isoformat() writes
# an instant in UTC (microseconds only when there are some); PostgreSQL's base64 breaks
# lines, which the translation to the URL alphabet takes out. Instants in the JSON are
# PostgreSQL's (the session in UTC): the same text as the API's for whole seconds, which
# is all the generated data has; bench.api compares F2's answers with F1's before timing.
SQL_LIST_JSON = """
WITH page AS (
  SELECT id, starts_at, ends_at, status, reason, patient_id FROM appointments
  WHERE doctor_id = $1 ORDER BY starts_at, id LIMIT $2 + 1
), shown AS (SELECT * FROM page ORDER BY starts_at, id LIMIT $2)
SELECT
  (SELECT count(*) FROM page) > $2 AS has_next,
  coalesce(json_agg(json_build_object(
    'cursor', translate(encode(convert_to(
      '["' || to_char(s.starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
      || CASE WHEN date_trunc('second', s.starts_at) = s.starts_at THEN ''
         ELSE to_char(s.starts_at AT TIME ZONE 'UTC', '.US') END
      || '+00:00", "' || s.id::text || '"]', 'UTF8'), 'base64'), E'+/\\n', '-_'),
    'node', json_build_object(
      'id', s.id, 'startsAt', s.starts_at, 'endsAt', s.ends_at, 'status', s.status,
      'reason', s.reason,
      'patient', json_build_object('id', u.id, 'firstName', u.first_name, 'lastName', u.last_name),
      'consultation', CASE WHEN c.id IS NULL THEN NULL ELSE json_build_object(
        'id', c.id, 'createdAt', c.created_at, 'signedAt', c.signed_at,
        'treatmentPlan', c.treatment_plan) END))
    ORDER BY s.starts_at, s.id), '[]')::text AS edges,
  array_agg(s.id ORDER BY s.starts_at, s.id) AS ids,
  array_agg(s.patient_id ORDER BY s.starts_at, s.id) AS patients,
  array_agg(c.id) FILTER (WHERE c.id IS NOT NULL) AS consultations,
  array_agg(c.patient_id) FILTER (WHERE c.id IS NOT NULL) AS consultation_patients,
  (array_agg(s.starts_at ORDER BY s.starts_at DESC, s.id DESC))[1] AS last_starts_at,
  (array_agg(s.id ORDER BY s.starts_at DESC, s.id DESC))[1] AS last_id
FROM shown s JOIN users u ON u.id = s.patient_id
LEFT JOIN consultations c ON c.appointment_id = s.id
"""
# The booking, statement for statement as the API runs it (bench.api lists both).
SQL_SLOT_RULES = appointments.SLOT_RULES_SQL  # the active doctor's schedule and hours
SQL_SLOT_CONFLICTS = appointments.SLOT_CONFLICTS_SQL  # time off, doctor busy, patient busy
SQL_INSERT_APPOINTMENT = """
INSERT INTO appointments (id, starts_at, ends_at, reason, status, cancellation_reason,
                          created_at, updated_at, doctor_id, patient_id)
VALUES ($1, $2, $3, $4, 'SCHEDULED', NULL, $5, $5, $6, $7)
"""
SQL_INSERT_CHANGE = """
INSERT INTO appointment_changes (id, kind, from_status, to_status, previous_starts_at,
                                 reason, created_at, actor_id, appointment_id)
VALUES ($1, 'BOOKED', NULL, 'SCHEDULED', NULL, NULL, $2, $3, $4)
"""
SQL_AUDIT_WRITE = """
INSERT INTO audit_events (id, created_at, actor_id, actor_role, patient_id, entity,
                          entity_id, action, fields_accessed, allowed, client_address,
                          request_id)
VALUES ($1, $2, $3, $4, $5, 'APPOINTMENT', $6, 'CREATE', '["status"]', true, $7, $8)
"""
# The recipient's next notification number: with migration 6's counter table, one upsert
# (as the API does then); without it, the API's earlier lock and look-up.
SQL_NEXT_SEQ = """
INSERT INTO notification_counters (recipient_id, last_seq)
VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM notifications WHERE recipient_id = $1))
ON CONFLICT (recipient_id) DO UPDATE SET last_seq = notification_counters.last_seq + 1
RETURNING last_seq
"""
SQL_HAS_COUNTERS = "SELECT to_regclass('notification_counters') IS NOT NULL"
SQL_LOCK_RECIPIENT = "SELECT id FROM users WHERE id = $1 FOR UPDATE"
SQL_LAST_SEQ = "SELECT seq FROM notifications WHERE recipient_id = $1 ORDER BY seq DESC LIMIT 1"
SQL_INSERT_NOTIFICATION = """
INSERT INTO notifications (id, seq, kind, title, body, created_at, read_at, appointment_id,
                           consultation_id, conversation_id, recipient_id)
VALUES ($1, $2, 'APPOINTMENT_BOOKED', 'New appointment', $3, $4, NULL, $5, NULL, NULL, $6)
"""
# Booking's emails and reminders (the API's since issue 18): both people with whether
# they want appointment emails, in one statement; the reminders, and the two emails with
# their calendar invites, one statement each (the API reads and writes them one by one).
SQL_BOOKING_PEOPLE = """
SELECT u.id, u.email, u.first_name, u.last_name,
       COALESCE(p.appointment_changes, TRUE) AS wants
FROM users u LEFT JOIN email_preferences p ON p.user_id = u.id
WHERE u.id = ANY($1::uuid[])
"""
SQL_INSERT_REMINDERS = """
INSERT INTO appointment_reminders (id, minutes_before, due_at, sent_at, appointment_id)
SELECT r.id, r.minutes, r.due, NULL, $4
FROM unnest($1::uuid[], $2::int[], $3::timestamptz[]) AS r(id, minutes, due)
"""
SQL_INSERT_EMAILS = """
INSERT INTO email_messages (id, message_id, kind, to_address, subject, body, calendar, status,
                            attempts, not_before, lease_id, leased_until, last_error,
                            created_at, sent_at, failed_at, notification_id, recipient_id)
SELECT e.id, e.message_id, 'APPOINTMENT_BOOKED', e.address, e.subject, e.body, e.calendar,
       'PENDING', 0, $9, NULL, NULL, NULL, $7, NULL, NULL, NULL, e.recipient
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $8::uuid[]) AS e(id, message_id, address, subject, body, calendar, recipient)
"""
# F1's emails are due (`not_before`) at this instant, so that the API's mail worker, on
# the same database, leaves them alone: F1 writes what the API writes and sends nothing.
# Due now, they were sent by the API's worker, during F1's booking run (CPU taken from
# F1) and after it (CPU taken from whichever run came next, the API's included).
F1_EMAILS_DUE = datetime(9000, 1, 1, tzinfo=UTC)
REMINDER_MINUTES = Settings().reminder_minutes_before
CLINIC = calendar.Attendee(name="Clinic", email="no-reply@clinic.example")


def booking_emails(
    appointment_id: uuid.UUID, starts_at: datetime, ends_at: datetime, zone: str, people: list[Any]
) -> list[tuple[Any, ...]]:
    """The booking's emails as the API writes them: a greeting, what happened, a link,
    the preferences footer, and the calendar invite of each person who wants them."""
    names = {row["id"]: f"{row['first_name']} {row['last_name']}" for row in people}
    local = starts_at.astimezone(ZoneInfo(zone))
    when = f"{local:%A} {local.day} {local:%B %Y, %H:%M} ({zone})"
    link = f"https://app.clinic.example/#/appointments/{appointment_id}"
    emails = []
    for row in people:
        if not row["wants"]:
            continue
        other = next(name for key, name in names.items() if key != row["id"])
        body = "\n\n".join(
            [
                f"Hello {row['first_name']},",
                f"Your appointment with {other} is booked for {when}.",
                "The attached invite updates your calendar.",
                f"See the appointment: {link}",
                "-- \nYou get this email because you have an account with the clinic. "
                f"Choose which emails you get: https://app.clinic.example/#/email-preferences/"
                f"{uuid.uuid4().hex}{uuid.uuid4().hex}",
            ]
        )
        invite = calendar.render(
            calendar.Invite(
                uid=f"appointment-{appointment_id}@clinic.example",
                sequence=0,
                cancelled=False,
                starts_at=starts_at,
                ends_at=ends_at,
                time_zone=zone,
                summary=f"Appointment: {' with '.join(names.values())}",
                description=f"{when}. Details and changes: {link}",
                url=link,
                organizer=CLINIC,
                attendees=(calendar.Attendee(names[row["id"]], row["email"]),),
                stamp=datetime.now(UTC),
            )
        )
        email_id = uuid.uuid4()
        subject = f"Appointment booked: {when.rsplit(' (', 1)[0]}"
        emails.append(
            (
                email_id,
                f"<{email_id}@clinic.example>",
                row["email"],
                subject,
                body + "\n",
                invite,
                row["id"],
            )
        )
    return emails


class Unauthenticated(Exception):
    pass


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _cursor(starts_at: datetime, row_id: uuid.UUID) -> str:
    key = [starts_at.isoformat(), str(row_id)]
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


async def _keep_session(connection: asyncpg.Connection) -> None:
    """No `RESET ALL; UNLISTEN *; ...` round trip when a connection goes back to the pool:
    nothing here changes session state (the API's pool skips it too)."""


def reads_of(
    appointments: list[tuple[Any, Any]],
    consultations: list[tuple[Any, Any]],
    appointment_fields: list[str],
) -> list[tuple[uuid.UUID, str, Any, list[str]]]:
    """The API's audit rows for these (appointment id, patient id) and (consultation id,
    patient id): the appointment, the patient's profile (a doctor reading it), the
    consultation."""
    reads = [(p, "APPOINTMENT", a, appointment_fields) for a, p in appointments]
    reads += [(p, "PATIENT_PROFILE", p, ops.PATIENT_FIELDS) for _, p in appointments]
    reads += [(p, "CONSULTATION", c, ops.CONSULTATION_FIELDS) for c, p in consultations]
    return reads


def _answer(data: dict[str, Any]) -> Response:
    return Response(json.dumps({"data": data}, separators=(",", ":")), media_type=JSON)


class AuditBuffer:
    """Audit rows, written as the API's AuditWriter writes them: every AUDIT_INTERVAL s,
    or sooner when AUDIT_BATCH rows wait; each batch one COPY, each row a new random id.
    The rows are in the order of AUDIT_COLUMNS, but for the id."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.rows: list[tuple[Any, ...]] = []
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def add(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows += rows
        if len(self.rows) >= AUDIT_BATCH:
            self.wake.set()

    async def write(self) -> None:
        while self.rows:
            batch, self.rows = self.rows[:AUDIT_BATCH], self.rows[AUDIT_BATCH:]
            ids = audit.new_ids(len(batch))
            records = [(row_id, *row) for row_id, row in zip(ids, batch, strict=True)]
            async with self.pool.acquire() as connection:
                await connection.copy_records_to_table(
                    AUDIT_TABLE, records=records, columns=AUDIT_COLUMNS
                )

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(AUDIT_INTERVAL):
                    await self.wake.wait()
            self.wake.clear()
            await self.write()


class FloorF1:
    def __init__(self, database_url: str, secret: str) -> None:
        self.database_url = database_url
        self.secret = secret
        self.pool: asyncpg.Pool | None = None
        self.audit: AuditBuffer | None = None
        self.counters = False
        self.handlers: dict[str, Callable[..., Awaitable[Response]]] = {
            ops.LIST: self.appointments,
            ops.LOOKUP: self.appointment,
            ops.ME: self.me,
            ops.BOOK: self.book,
            ops.ADMIN_LIST: self.admin_appointments,
        }

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.pool = await asyncpg.create_pool(
            self.database_url,
            min_size=POOL_MIN,
            max_size=POOL_MAX,
            server_settings={"statement_timeout": STATEMENT_TIMEOUT_MS, "TimeZone": "UTC"},
            reset=_keep_session,
        )
        self.counters = bool(await self.pool.fetchval(SQL_HAS_COUNTERS))
        self.audit = AuditBuffer(self.pool)
        self.audit.task = asyncio.create_task(self.audit.run())
        try:
            yield
        finally:
            self.audit.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.audit.task
            await self.audit.write()
            await self.pool.close()

    async def graphql(self, request: Request) -> Response:
        payload = json.loads(await request.body())
        handler = self.handlers[payload["operationName"]]
        assert self.pool is not None
        async with self.pool.acquire() as connection:
            try:
                viewer = await self.viewer(connection, request.headers.get("authorization"))
            except Unauthenticated:
                return JSONResponse({"errors": [{"message": "unauthenticated"}]}, 401)
            return await handler(connection, request, viewer, payload.get("variables") or {})

    async def viewer(self, connection: asyncpg.Connection, authorization: str | None) -> Any:
        claims = bearer_claims(authorization, self.secret)
        if claims is None:
            raise Unauthenticated
        user = await connection.fetchrow(
            SQL_VIEWER, claims["sid"], claims["sub"], datetime.now(UTC)
        )
        if user is None or not user["is_active"]:
            raise Unauthenticated
        return user

    def audit_reads(
        self, request: Request, viewer: Any, reads: list[tuple[uuid.UUID, str, Any, list[str]]]
    ) -> None:
        """Buffer one READ row per (patient id, entity, entity id, fields)."""
        assert self.audit is not None
        now = datetime.now(UTC)
        address = request.client.host if request.client else None
        request_id = uuid.uuid4().hex
        self.audit.add(
            [
                (now, viewer["id"], viewer["role"], patient_id, entity, str(entity_id), "READ",
                 audit.fields_json(tuple(fields)), True, address, request_id)
                for patient_id, entity, entity_id, fields in reads
            ]
        )  # fmt: skip

    async def nested(
        self, connection: asyncpg.Connection, rows: list[Any], with_doctor: bool
    ) -> tuple[dict[Any, Any], dict[Any, Any]]:
        user_ids = {row["patient_id"] for row in rows}
        if with_doctor:
            user_ids |= {row["doctor_id"] for row in rows}
        users = {u["id"]: u for u in await connection.fetch(SQL_USERS, list(user_ids))}
        consultations = {
            c["appointment_id"]: c
            for c in await connection.fetch(SQL_CONSULTATIONS, [row["id"] for row in rows])
        }
        return users, consultations

    @staticmethod
    def node(row: Any, users: dict[Any, Any], consultations: dict[Any, Any], doctor: bool) -> dict:
        patient = users[row["patient_id"]]
        node: dict[str, Any] = {
            "id": str(row["id"]),
            "startsAt": row["starts_at"].isoformat(),
            "endsAt": row["ends_at"].isoformat(),
            "status": row["status"],
            "reason": row["reason"],
            "patient": {
                "id": str(patient["id"]),
                "firstName": patient["first_name"],
                "lastName": patient["last_name"],
            },
        }
        if doctor:
            user = users[row["doctor_id"]]
            node["doctor"] = {
                "id": str(user["id"]),
                "firstName": user["first_name"],
                "lastName": user["last_name"],
            }
        consultation = consultations.get(row["id"])
        node["consultation"] = (
            None
            if consultation is None
            else {
                "id": str(consultation["id"]),
                "createdAt": consultation["created_at"].isoformat(),
                "signedAt": _iso(consultation["signed_at"]),
                "treatmentPlan": consultation["treatment_plan"],
            }
        )
        return node

    def reads(
        self, rows: list[Any], consultations: dict[Any, Any], appointment_fields: list[str]
    ) -> list[tuple[uuid.UUID, str, Any, list[str]]]:
        """The API's audit rows for these appointment rows and their consultations."""
        found = (consultations.get(r["id"]) for r in rows)
        return reads_of(
            [(r["id"], r["patient_id"]) for r in rows],
            [(c["id"], c["patient_id"]) for c in found if c is not None],
            appointment_fields,
        )

    async def appointments(
        self, connection: asyncpg.Connection, request: Request, viewer: Any, variables: dict
    ) -> Response:
        first = int(variables["first"])
        rows = await connection.fetch(SQL_PAGE, viewer["id"], first + 1)
        page = rows[:first]
        users, consultations = await self.nested(connection, page, with_doctor=False)
        self.audit_reads(
            request, viewer, self.reads(page, consultations, ops.APPOINTMENT_LIST_FIELDS)
        )
        edges = [
            {
                "cursor": _cursor(row["starts_at"], row["id"]),
                "node": self.node(row, users, consultations, doctor=False),
            }
            for row in page
        ]
        page_info = {
            "hasNextPage": len(rows) > first,
            "endCursor": edges[-1]["cursor"] if edges else None,
        }
        return _answer({"appointments": {"edges": edges, "pageInfo": page_info}})

    async def admin_appointments(
        self, connection: asyncpg.Connection, request: Request, viewer: Any, variables: dict
    ) -> Response:
        """Every appointment, for an administrator: without `reason` and the consultation
        (the API withholds them from administrators; the operation does not ask)."""
        if viewer["role"] != "ADMIN":
            return JSONResponse({"errors": [{"message": "administrators only"}]}, 403)
        first = int(variables["first"])
        rows = await connection.fetch(SQL_PAGE_ALL, first + 1)
        page = rows[:first]
        ids = list({row["patient_id"] for row in page} | {row["doctor_id"] for row in page})
        users = {u["id"]: u for u in await connection.fetch(SQL_USERS, ids)}
        appointments = [(r["id"], r["patient_id"]) for r in page]
        reads = reads_of(appointments, [], ops.ADMIN_APPOINTMENT_FIELDS)
        self.audit_reads(request, viewer, reads)

        def person(user_id: Any) -> dict[str, str]:
            user = users[user_id]
            return {
                "id": str(user["id"]),
                "firstName": user["first_name"],
                "lastName": user["last_name"],
            }

        edges = [
            {
                "cursor": _cursor(row["starts_at"], row["id"]),
                "node": {
                    "id": str(row["id"]),
                    "startsAt": row["starts_at"].isoformat(),
                    "endsAt": row["ends_at"].isoformat(),
                    "status": row["status"],
                    "patient": person(row["patient_id"]),
                    "doctor": person(row["doctor_id"]),
                },
            }
            for row in page
        ]
        page_info = {
            "hasNextPage": len(rows) > first,
            "endCursor": edges[-1]["cursor"] if edges else None,
        }
        return _answer({"appointments": {"edges": edges, "pageInfo": page_info}})

    async def appointment(
        self, connection: asyncpg.Connection, request: Request, viewer: Any, variables: dict
    ) -> Response:
        try:
            appointment_id = uuid.UUID(str(variables["id"]))
        except ValueError:
            return _answer({"appointment": None})
        row = await connection.fetchrow(SQL_ONE, viewer["id"], appointment_id)
        if row is None:
            return _answer({"appointment": None})
        users, consultations = await self.nested(connection, [row], with_doctor=True)
        self.audit_reads(
            request, viewer, self.reads([row], consultations, ops.APPOINTMENT_LOOKUP_FIELDS)
        )
        return _answer({"appointment": self.node(row, users, consultations, doctor=True)})

    async def me(
        self, connection: asyncpg.Connection, request: Request, viewer: Any, variables: dict
    ) -> Response:
        return _answer(
            {
                "me": {
                    "id": str(viewer["id"]),
                    "email": viewer["email"],
                    "firstName": viewer["first_name"],
                    "lastName": viewer["last_name"],
                    "role": viewer["role"],
                }
            }
        )

    async def book(
        self, connection: asyncpg.Connection, request: Request, viewer: Any, variables: dict
    ) -> Response:
        data = variables["input"]
        doctor_id = uuid.UUID(data["doctorId"])
        starts_at = datetime.fromisoformat(data["startsAt"])
        now = datetime.now(UTC)
        async with connection.transaction():
            rules = await connection.fetch(SQL_SLOT_RULES, doctor_id)
            if not rules:
                return _failure("NotFound", "NOT_FOUND", "No such doctor.")
            ends_at = _slot_end(starts_at, rules, rules[0]["slot_minutes"])
            if ends_at is None or starts_at <= now:
                return _failure("SlotUnavailable", "SLOT_UNAVAILABLE", "Not a slot.")
            conflicts = await connection.fetchrow(
                SQL_SLOT_CONFLICTS, doctor_id, starts_at, ends_at, viewer["id"],
                appointments.NO_APPOINTMENT, "CANCELLED",
                starts_at - availability.LONGEST_APPOINTMENT,
            )  # fmt: skip
            if any(conflicts.values()):
                return _failure("SlotUnavailable", "SLOT_UNAVAILABLE", "Taken.")
            appointment_id = uuid.uuid4()
            await connection.execute(
                SQL_INSERT_APPOINTMENT, appointment_id, starts_at, ends_at, data["reason"], now,
                doctor_id, viewer["id"],
            )  # fmt: skip
            await connection.execute(
                SQL_INSERT_CHANGE, uuid.uuid4(), now, viewer["id"], appointment_id
            )
            address = request.client.host if request.client else None
            await connection.execute(
                SQL_AUDIT_WRITE, uuid.uuid4(), now, viewer["id"], viewer["role"], viewer["id"],
                str(appointment_id), address, uuid.uuid4().hex,
            )  # fmt: skip
            if self.counters:
                seq = await connection.fetchval(SQL_NEXT_SEQ, doctor_id)
            else:
                await connection.fetchval(SQL_LOCK_RECIPIENT, doctor_id)
                seq = (await connection.fetchval(SQL_LAST_SEQ, doctor_id) or 0) + 1
            await connection.execute(
                SQL_INSERT_NOTIFICATION, uuid.uuid4(), seq,
                f"{viewer['first_name']} {viewer['last_name']} booked an appointment.", now,
                appointment_id, doctor_id,
            )  # fmt: skip
            dues = [
                (uuid.uuid4(), minutes, due)
                for minutes in REMINDER_MINUTES
                if (due := starts_at - timedelta(minutes=minutes)) > now
            ]
            await connection.execute(
                SQL_INSERT_REMINDERS, [d[0] for d in dues], [d[1] for d in dues],
                [d[2] for d in dues], appointment_id,
            )  # fmt: skip
            people = await connection.fetch(SQL_BOOKING_PEOPLE, [viewer["id"], doctor_id])
            zone = rules[0]["time_zone"] or "UTC"
            emails = booking_emails(appointment_id, starts_at, ends_at, zone, list(people))
            if emails:
                columns = list(zip(*emails, strict=True))
                await connection.execute(
                    SQL_INSERT_EMAILS, *columns[:6], now, columns[6], F1_EMAILS_DUE
                )
        appointment = {
            "id": str(appointment_id),
            "startsAt": starts_at.isoformat(),
            "endsAt": ends_at.isoformat(),
            "status": "SCHEDULED",
        }
        return _answer(
            {"bookAppointment": {"__typename": "AppointmentPayload", "appointment": appointment}}
        )


def _slot_end(starts_at: datetime, hours: list[Any], slot_minutes: int) -> datetime | None:
    """Where the slot starting at `starts_at` ends, if it is one of the doctor's (UTC)."""
    local = starts_at.astimezone(UTC)
    minute = local.hour * 60 + local.minute
    for block in hours:
        if (
            block["weekday"] == local.weekday()
            and block["start_minute"] <= minute
            and minute + slot_minutes <= block["end_minute"]
            and (minute - block["start_minute"]) % slot_minutes == 0
            and local.second == 0
        ):
            return starts_at + timedelta(minutes=slot_minutes)
    return None


def _failure(typename: str, code: str, message: str) -> Response:
    return _answer({"bookAppointment": {"__typename": typename, "code": code, "message": message}})


class FloorF2(FloorF1):
    """F1, but the doctor's list from SQL_LIST_JSON: its edges are PostgreSQL's text."""

    def __init__(self, database_url: str, secret: str) -> None:
        super().__init__(database_url, secret)
        self.handlers[ops.LIST] = self.appointments_as_json

    async def appointments_as_json(
        self, connection: asyncpg.Connection, request: Request, viewer: Any, variables: dict
    ) -> Response:
        first = int(variables["first"])
        row = await connection.fetchrow(SQL_LIST_JSON, viewer["id"], first)
        ids = row["ids"] or []
        reads = reads_of(
            list(zip(ids, row["patients"] or [], strict=True)),
            list(zip(row["consultations"] or [], row["consultation_patients"] or [], strict=True)),
            ops.APPOINTMENT_LIST_FIELDS,
        )
        self.audit_reads(request, viewer, reads)
        end_cursor = None
        if ids:
            end_cursor = _cursor(row["last_starts_at"], row["last_id"])
        page_info = json.dumps({"hasNextPage": row["has_next"], "endCursor": end_cursor})
        body = f'{{"data":{{"appointments":{{"edges":{row["edges"]},"pageInfo":{page_info}}}}}}}'
        return Response(body, media_type=JSON)


def create_floor(database_url: str, secret: str, floor_class: type[FloorF1]) -> Starlette:
    floor = floor_class(database_url, secret)
    return Starlette(
        routes=[
            Route("/healthz", _healthz, methods=["GET"]),
            Route("/graphql", floor.graphql, methods=["POST"]),
        ],
        lifespan=floor.lifespan,
    )


def create_f0(bodies: dict[str, str]) -> Starlette:
    encoded = {name: body.encode() for name, body in bodies.items()}

    async def graphql(request: Request) -> Response:
        payload = json.loads(await request.body())
        return Response(encoded[payload["operationName"]], media_type=JSON)

    return Starlette(
        routes=[
            Route("/healthz", _healthz, methods=["GET"]),
            Route("/graphql", graphql, methods=["POST"]),
        ]
    )


async def _healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api.floor", description=__doc__)
    parser.add_argument("--mode", choices=["f0", "f1", "f2"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", help="f1, f2: asyncpg DSN")
    parser.add_argument("--bodies", type=Path, help="f0: JSON object, operation -> body")
    args = parser.parse_args(argv)
    if args.mode in ("f1", "f2"):
        floor_class = FloorF2 if args.mode == "f2" else FloorF1
        app = create_floor(args.database_url, os.environ["JWT_SECRET"], floor_class)
    else:
        app = create_f0(json.loads(args.bodies.read_text()))
    # The same uvicorn settings as `healthcare serve`, so the servers differ only in the app.
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_config=None,
        ws_max_size=WS_MAX_FRAME_BYTES,
        proxy_headers=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
