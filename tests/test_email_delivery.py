"""Email delivery through a real SMTP server (tests/smtp.py): calendar invites that update
one event, no clinical content in any email, an unread-message email skipped once read,
reminders with the clock moved forward, an SMTP server that goes away, is busy or
refuses, a worker that died holding a lease, and two instances on one PostgreSQL
database. Two tests print figures (throughput, delay from commit to delivery) and assert
only that every email arrived once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from icalendar import Calendar

from healthcare import models
from healthcare.resolvers import appointment_emails
from healthcare.resolvers.emails import when
from healthcare.security.auth import utcnow
from tests.conftest import (
    GraphQLClient,
    Persona,
    configured_database_url,
    make_appointment,
    make_patient,
    make_schedule,
    sign_in,
)
from tests.servers import LoggedServer, spawn_server, throwaway_database
from tests.smtp import Inbox, body_of, calendar_of

T = TypeVar("T")
Kind = models.EmailKind
Status = models.EmailStatus

RESULT = """
__typename
... on AppointmentPayload { appointment { id startsAt endsAt status } }
... on Error { code message }
"""
BOOK_APPOINTMENT = f"""
mutation BookAppointment($input: BookAppointmentInput!) {{
  bookAppointment(input: $input) {{ {RESULT} }}
}}
"""
RESCHEDULE_APPOINTMENT = f"""
mutation RescheduleAppointment($id: ID!, $startsAt: DateTime!) {{
  rescheduleAppointment(id: $id, startsAt: $startsAt) {{ {RESULT} }}
}}
"""
CANCEL_APPOINTMENT = f"""
mutation CancelAppointment($id: ID!, $reason: String!) {{
  cancelAppointment(id: $id, reason: $reason) {{ {RESULT} }}
}}
"""
CONSULTATION_RESULT = """
__typename
... on ConsultationPayload { consultation { id isSigned } }
... on Error { code message }
"""
CREATE_CONSULTATION = f"""
mutation CreateConsultation($input: CreateConsultationInput!) {{
  createConsultation(input: $input) {{ {CONSULTATION_RESULT} }}
}}
"""
UPDATE_CONSULTATION = f"""
mutation UpdateConsultation($id: ID!, $input: UpdateConsultationInput!) {{
  updateConsultation(id: $id, input: $input) {{ {CONSULTATION_RESULT} }}
}}
"""
SIGN_CONSULTATION = f"""
mutation SignConsultation($id: ID!) {{ signConsultation(id: $id) {{ {CONSULTATION_RESULT} }} }}
"""
ADD_CONSULTATION_ADDENDUM = f"""
mutation AddConsultationAddendum($consultationId: ID!, $text: String!) {{
  addConsultationAddendum(consultationId: $consultationId, text: $text) {{
    {CONSULTATION_RESULT}
  }}
}}
"""
START_CONVERSATION = """
mutation StartConversation($withUserId: ID!) {
  startConversation(withUserId: $withUserId) {
    __typename ... on ConversationPayload { conversation { id } } ... on Error { code message }
  }
}
"""
SEND_MESSAGE = """
mutation SendMessage($conversationId: ID!, $clientId: ID!, $text: String!) {
  sendMessage(conversationId: $conversationId, clientId: $clientId, text: $text) {
    __typename ... on MessagePayload { chatMessage { seq } } ... on Error { code message }
  }
}
"""
MARK_CONVERSATION_READ = """
mutation MarkConversationRead($conversationId: ID!, $upToSeq: Int!) {
  markConversationRead(conversationId: $conversationId, upToSeq: $upToSeq) {
    __typename ... on ConversationPayload { conversation { unreadCount } }
  }
}
"""
REQUEST_PASSWORD_RESET = """
mutation RequestPasswordReset($email: String!) {
  requestPasswordReset(email: $email) { __typename }
}
"""
MY_NOTIFICATIONS = """
query MyNotifications { myNotifications(first: 100) { nodes { kind appointmentId } } }
"""
EMAIL_DELIVERIES = """
query EmailDeliveries($status: EmailStatus) {
  emailDeliveries(first: 100, status: $status) {
    nodes { status kind toAddress attempts lastError messageId failedAt }
  }
}
"""

TIME_ZONE = "Europe/Paris"
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


# ---- helpers --------------------------------------------------------------------------------


async def eventually(
    check: Callable[[], Awaitable[T]], what: str, seconds: float = 60, every: float = 0.05
) -> T:
    """The first truthy result of `check`, polled until `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what} (last: {result!r})")
        await asyncio.sleep(every)


def on_the_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def parsed(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    assert moment.tzinfo is not None, value
    return moment


async def book(
    client: GraphQLClient,
    patient: Persona,
    doctor: Persona,
    starts_at: datetime,
    reason: str = "Check-up",
) -> dict[str, Any]:
    variables = {
        "input": {"doctorId": doctor.id, "startsAt": starts_at.isoformat(), "reason": reason}
    }
    result = (await client.execute(BOOK_APPOINTMENT, variables, as_=patient))["bookAppointment"]
    assert result["__typename"] == "AppointmentPayload", result
    return result["appointment"]


async def reschedule(
    client: GraphQLClient, persona: Persona, appointment_id: str, starts_at: datetime
) -> dict[str, Any]:
    variables = {"id": appointment_id, "startsAt": starts_at.isoformat()}
    data = await client.execute(RESCHEDULE_APPOINTMENT, variables, as_=persona)
    result = data["rescheduleAppointment"]
    assert result["__typename"] == "AppointmentPayload", result
    return result["appointment"]


async def cancel(
    client: GraphQLClient, persona: Persona, appointment_id: str, reason: str
) -> dict[str, Any]:
    variables = {"id": appointment_id, "reason": reason}
    result = (await client.execute(CANCEL_APPOINTMENT, variables, as_=persona))["cancelAppointment"]
    assert result["__typename"] == "AppointmentPayload", result
    return result["appointment"]


async def request_reset(client: GraphQLClient, address: str) -> None:
    data = await client.execute(REQUEST_PASSWORD_RESET, {"email": address})
    assert data["requestPasswordReset"]["__typename"] == "EmailSent", data


async def rows_to(address: str, kind: models.EmailKind) -> list[models.EmailMessage]:
    return await models.EmailMessage.filter(to_address=address, kind=kind).order_by("created_at")


async def reminder_kinds(client: GraphQLClient, persona: Persona) -> list[str]:
    nodes = (await client.execute(MY_NOTIFICATIONS, as_=persona))["myNotifications"]["nodes"]
    return [node["kind"] for node in nodes if node["kind"] == "APPOINTMENT_REMINDER"]


def message_ids(messages: list[EmailMessage]) -> Counter[str]:
    return Counter(str(message["Message-ID"]) for message in messages)


async def start_again(inbox: Inbox) -> None:
    """Start the stopped SMTP server again, on its port (in a thread: the live server
    shares this event loop)."""
    await asyncio.to_thread(inbox.start)


def invite_of(message: EmailMessage) -> tuple[Calendar, str | None]:
    """The parsed calendar and the `method` parameter of its text/calendar part."""
    raw = calendar_of(message)
    assert raw is not None, f"no invite in {message['Subject']}"
    part = next(p for p in message.iter_attachments() if p.get_content_type() == "text/calendar")
    method = part.get_param("method")
    return Calendar.from_ical(raw), str(method) if method is not None else None


def everything_in(message: EmailMessage) -> str:
    """All of a message, to search: its bytes, its decoded headers, each part decoded; and
    the same without any whitespace, so that a folded iCalendar line or a wrapped one
    cannot split a word out of sight."""
    texts = [message.as_bytes().decode("utf-8", "replace")]
    texts += [f"{name}: {value}" for name, value in message.items()]
    for part in message.walk():
        if part.is_multipart():
            continue
        texts += [f"{name}: {value}" for name, value in part.items()]
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            texts.append(payload.decode("utf-8", "replace"))
    text = "\n".join(texts)
    return (text + "\n" + re.sub(r"\s+", "", text)).lower()


def email_row(number: int, **values: Any) -> models.EmailMessage:
    email_id = uuid.uuid4()
    fields: dict[str, Any] = {
        "id": email_id,
        "message_id": f"<{email_id}@example.org>",
        "kind": Kind.PASSWORD_RESET,
        "to_address": f"bulk-{number}@example.org",
        "subject": f"Bulk {number}",
        "body": f"Bulk email number {number}.\n",
        "not_before": utcnow(),
    }
    fields.update(values)
    return models.EmailMessage(**fields)


# ---- calendar invites -------------------------------------------------------------------------


async def test_booking_moving_and_cancelling_an_appointment_updates_one_calendar_event_for_both(
    client: GraphQLClient, inbox: Inbox, patient: Persona, doctor: Persona
) -> None:
    # given: a doctor in Paris, and a slot ten days ahead
    await make_schedule(doctor.user, time_zone=TIME_ZONE)
    first_start = on_the_hour(utcnow() + 10 * DAY).replace(hour=9)
    moved_start = first_start + DAY + 2 * HOUR
    people = (patient.user.email, doctor.user.email)

    # when: the patient books, moves, then cancels
    booked = await book(client, patient, doctor, first_start)
    booked_emails = [await inbox.wait_for_one_to(a, "Appointment booked") for a in people]
    moved = await reschedule(client, patient, booked["id"], moved_start)
    moved_emails = [await inbox.wait_for_one_to(a, "Appointment moved") for a in people]
    cancelled = await cancel(client, patient, booked["id"], "Something came up")
    cancelled_emails = [await inbox.wait_for_one_to(a, "Appointment cancelled") for a in people]

    # then: one event (one UID), SEQUENCE 0, 1, 2, REQUEST, REQUEST, CANCEL, UTC times
    steps = [
        (booked_emails, 0, "REQUEST", "CONFIRMED", booked),
        (moved_emails, 1, "REQUEST", "CONFIRMED", moved),
        (cancelled_emails, 2, "CANCEL", "CANCELLED", cancelled),
    ]
    assert parsed(moved["startsAt"]) == moved_start
    uids = set()
    for messages, sequence, method, status, appointment in steps:
        for address, message in zip(people, messages, strict=True):
            calendar, part_method = invite_of(message)
            events = calendar.walk("VEVENT")
            assert len(events) == 1, calendar.to_ical()
            event = events[0]
            where = f"{message['Subject']} to {address}"
            assert str(calendar["METHOD"]) == method, where
            assert part_method == method, where
            assert str(calendar["X-WR-TIMEZONE"]) == TIME_ZONE, where
            assert event.decoded("SEQUENCE") == sequence, where
            assert str(event["STATUS"]) == status, where
            starts_at, ends_at = event.decoded("DTSTART"), event.decoded("DTEND")
            assert starts_at == parsed(appointment["startsAt"]), where
            assert ends_at == parsed(appointment["endsAt"]), where
            raw = (calendar_of(message) or b"").decode()
            for name in ("DTSTART", "DTEND"):  # UTC times: no TZID, a Z
                assert re.search(rf"^{name}:\d{{8}}T\d{{6}}Z\r?$", raw, re.MULTILINE), raw
            assert starts_at.utcoffset() == timedelta(0), where
            # the recipient is the one attendee: not the other party's address
            assert str(event.get("ATTENDEE")).lower() == f"mailto:{address.lower()}", where
            uids.add(str(event["UID"]))
    assert [len(inbox.to(address)) for address in people] == [3, 3]
    assert len(uids) == 1, uids
    assert uids == {f"appointment-{booked['id']}@example.org"}


# ---- no clinical content ----------------------------------------------------------------------


async def test_no_email_holds_a_visit_reason_visit_notes_a_cancellation_reason_or_chat_text(
    client: GraphQLClient, live_server: Any, inbox: Inbox, patient: Persona, doctor: Persona
) -> None:
    # given: distinctive words in every field that holds clinical content
    mark = uuid.uuid4().hex[:10]
    secret = {
        name: f"Zq{name.replace('_', '')}{mark}"
        for name in (
            "reason",
            "other_reason",
            "cancellation",
            "medical_history",
            "examination_findings",
            "investigations",
            "treatment_plan",
            "private_notes",
            "medication",
            "dose",
            "route",
            "frequency",
            "duration",
            "instructions",
            "updated_history",
            "updated_plan",
            "updated_notes",
            "addendum",
            "patient_says",
            "doctor_says",
        )
    }
    review_date = date(2031, 7, 19)
    await make_schedule(doctor.user)
    start = on_the_hour(utcnow() + 5 * DAY)
    visit = await book(client, patient, doctor, start, reason=secret["reason"])
    other = await book(client, patient, doctor, start + 3 * HOUR, reason=secret["other_reason"])

    # when: the doctor documents, changes and signs the visit, adds to it; the other
    # visit is cancelled with a reason; both write in the chat
    consultation = {
        "appointmentId": visit["id"],
        "medicalHistory": secret["medical_history"],
        "examinationFindings": secret["examination_findings"],
        "investigations": secret["investigations"],
        "treatmentPlan": secret["treatment_plan"],
        "privateNotes": secret["private_notes"],
        "reviewDate": review_date.isoformat(),
        "prescriptions": [
            {
                name: secret[name]
                for name in ("medication", "dose", "route", "frequency", "duration")
            }
            | {"instructions": secret["instructions"]}
        ],
    }
    created = await client.execute(CREATE_CONSULTATION, {"input": consultation}, as_=doctor)
    assert created["createConsultation"]["__typename"] == "ConsultationPayload", created
    consultation_id = created["createConsultation"]["consultation"]["id"]
    changes = {
        "medicalHistory": secret["updated_history"],
        "treatmentPlan": secret["updated_plan"],
        "privateNotes": secret["updated_notes"],
    }
    updated = await client.execute(
        UPDATE_CONSULTATION, {"id": consultation_id, "input": changes}, as_=doctor
    )
    assert updated["updateConsultation"]["__typename"] == "ConsultationPayload", updated
    signed = await client.execute(SIGN_CONSULTATION, {"id": consultation_id}, as_=doctor)
    assert signed["signConsultation"]["consultation"]["isSigned"], signed
    added = await client.execute(
        ADD_CONSULTATION_ADDENDUM,
        {"consultationId": consultation_id, "text": secret["addendum"]},
        as_=doctor,
    )
    assert added["addConsultationAddendum"]["__typename"] == "ConsultationPayload", added
    await cancel(client, patient, other["id"], secret["cancellation"])
    started = await client.execute(START_CONVERSATION, {"withUserId": doctor.id}, as_=patient)
    conversation_id = started["startConversation"]["conversation"]["id"]
    for persona, text in ((patient, secret["patient_says"]), (doctor, secret["doctor_says"])):
        variables = {"conversationId": conversation_id, "clientId": str(uuid.uuid4()), "text": text}
        sent = await client.execute(SEND_MESSAGE, variables, as_=persona)
        assert sent["sendMessage"]["__typename"] == "MessagePayload", sent
    # ... and nobody reads them: the unread emails come due (moved into the past)
    waiting = models.EmailMessage.filter(
        status=Status.PENDING, kind__in=[Kind.CHAT_MESSAGE, Kind.CONSULTATION_UPDATE]
    )
    assert await waiting.count() == 3, await waiting.values("kind", "to_address")
    await waiting.update(not_before=utcnow() - MINUTE)

    # then: every email arrived ...
    expected = {
        (patient.user.email, "Appointment booked"): 2,
        (doctor.user.email, "Appointment booked"): 2,
        (patient.user.email, "Appointment cancelled"): 1,
        (doctor.user.email, "Appointment cancelled"): 1,
        (patient.user.email, "Your visit notes"): 1,
        (patient.user.email, "Unread messages"): 1,
        (doctor.user.email, "Unread messages"): 1,
    }
    for (address, subject), count in expected.items():

        def matches(message: EmailMessage, address: str = address, subject: str = subject) -> bool:
            return str(message["To"]) == address and str(message["Subject"]).startswith(subject)

        await inbox.wait_for(matches, count)

    async def all_handled() -> bool:
        return not await models.EmailMessage.filter(status=Status.PENDING).exists()

    await eventually(all_handled, "every email sent")
    sent_rows = await models.EmailMessage.filter(status=Status.SENT).count()
    messages = inbox.messages
    assert len(messages) == sent_rows == sum(expected.values()), [
        (str(m["To"]), str(m["Subject"])) for m in messages
    ]
    # ... and none holds any of the words, in any part, encoded or decoded
    forbidden = [*secret.values(), review_date.isoformat(), review_date.strftime("%d %B %Y")]
    found = [
        (str(message["To"]), str(message["Subject"]), word)
        for message in messages
        for word in forbidden
        if word.lower() in everything_in(message)
    ]
    assert found == []


async def test_an_email_about_a_chat_message_read_in_the_app_meanwhile_is_skipped(
    client: GraphQLClient, inbox: Inbox, patient: Persona, doctor: Persona
) -> None:
    # given: the patient writes to the doctor, whose email about it waits its turn
    await make_appointment(patient.user, doctor.user)
    started = await client.execute(START_CONVERSATION, {"withUserId": doctor.id}, as_=patient)
    conversation_id = started["startConversation"]["conversation"]["id"]
    variables = {"conversationId": conversation_id, "clientId": str(uuid.uuid4()), "text": "Hi"}
    sent = await client.execute(SEND_MESSAGE, variables, as_=patient)
    seq = sent["sendMessage"]["chatMessage"]["seq"]
    [row] = await rows_to(doctor.user.email, Kind.CHAT_MESSAGE)
    assert row.status == Status.PENDING and row.not_before > utcnow()

    # when: the doctor reads the conversation in the app, then the email comes due
    read = await client.execute(
        MARK_CONVERSATION_READ, {"conversationId": conversation_id, "upToSeq": seq}, as_=doctor
    )
    assert read["markConversationRead"]["conversation"]["unreadCount"] == 0, read
    await models.EmailMessage.filter(id=row.id).update(not_before=utcnow() - MINUTE)

    # then: it is SKIPPED, its body erased, and nothing is sent
    async def handled() -> list[models.EmailMessage]:
        return await models.EmailMessage.filter(id=row.id).exclude(status=Status.PENDING)

    [row] = await eventually(handled, "the email handled")
    assert (row.status, row.body, row.sent_at) == (Status.SKIPPED, "", None)
    assert inbox.to(doctor.user.email) == []


# ---- reminders ----------------------------------------------------------------------------


@pytest.fixture
async def bookable(doctor: Persona) -> Persona:
    """The doctor, with hours round the clock (UTC)."""
    await make_schedule(doctor.user)
    return doctor


def reminders_to(address: str) -> Callable[[EmailMessage], bool]:
    def matches(message: EmailMessage) -> bool:
        return str(message["To"]) == address and str(message["Subject"]).startswith("Reminder")

    return matches


async def test_a_patient_is_reminded_a_day_before_and_an_hour_before_once_each(
    client: GraphQLClient, inbox: Inbox, patient: Persona, bookable: Persona
) -> None:
    # given: a visit in three days
    starts_at = on_the_hour(utcnow() + 3 * DAY)
    appointment = await book(client, patient, bookable, starts_at)

    # when: the clock is moved to a minute past the day-before reminder, twice
    first = await appointment_emails.send_due_reminders(now=starts_at - DAY + MINUTE)
    again = await appointment_emails.send_due_reminders(now=starts_at - DAY + MINUTE)

    # then: one reminder, by email and in the app, to the patient only
    assert (first, again) == (1, 0)
    [email] = await inbox.wait_for(reminders_to(patient.user.email))
    assert str(email["Subject"]) == "Reminder: your appointment tomorrow"
    assert when(starts_at, "UTC") in body_of(email)
    assert len(await rows_to(patient.user.email, Kind.APPOINTMENT_REMINDER)) == 1
    assert await rows_to(bookable.user.email, Kind.APPOINTMENT_REMINDER) == []
    assert await reminder_kinds(client, patient) == ["APPOINTMENT_REMINDER"]
    assert await reminder_kinds(client, bookable) == []

    # when: the clock is moved to 59 minutes before the visit, twice
    hour = await appointment_emails.send_due_reminders(now=starts_at - 59 * MINUTE)
    hour_again = await appointment_emails.send_due_reminders(now=starts_at - 59 * MINUTE)

    # then: the hour-before reminder, once
    assert (hour, hour_again) == (1, 0)
    emails = await inbox.wait_for(reminders_to(patient.user.email), 2)
    assert str(emails[1]["Subject"]) == "Reminder: your appointment in 1 hour"
    rows = await rows_to(patient.user.email, Kind.APPOINTMENT_REMINDER)
    assert len(rows) == 2
    assert await rows_to(bookable.user.email, Kind.APPOINTMENT_REMINDER) == []
    assert len(await reminder_kinds(client, patient)) == 2
    reminders = await models.AppointmentReminder.filter(appointment_id=appointment["id"])
    assert sorted(r.minutes_before for r in reminders if r.sent_at is not None) == [60, 1440]


async def test_moving_an_appointment_moves_its_reminders_and_arms_a_sent_one_again(
    client: GraphQLClient, inbox: Inbox, patient: Persona, bookable: Persona
) -> None:
    # given: a visit in three days whose day-before reminder went out
    starts_at = on_the_hour(utcnow() + 3 * DAY)
    appointment = await book(client, patient, bookable, starts_at)
    assert await appointment_emails.send_due_reminders(now=starts_at - DAY + MINUTE) == 1

    # when: the patient moves it a day and two hours later
    moved_to = starts_at + DAY + 2 * HOUR
    await reschedule(client, patient, appointment["id"], moved_to)

    # then: its reminders are due before the new start, not sent yet
    reminders = await models.AppointmentReminder.filter(appointment_id=appointment["id"])
    assert sorted((r.minutes_before, r.due_at, r.sent_at) for r in reminders) == [
        (60, moved_to - HOUR, None),
        (1440, moved_to - DAY, None),
    ]
    # ... nothing is due at the old times any more
    assert await appointment_emails.send_due_reminders(now=starts_at - HOUR + MINUTE) == 0
    # ... and the day-before reminder goes again, a day before the new start
    assert await appointment_emails.send_due_reminders(now=moved_to - DAY + MINUTE) == 1
    emails = await inbox.wait_for(reminders_to(patient.user.email), 2)
    assert when(moved_to, "UTC") in body_of(emails[1])
    assert len(await rows_to(patient.user.email, Kind.APPOINTMENT_REMINDER)) == 2


async def test_cancelling_an_appointment_removes_its_reminders(
    client: GraphQLClient, inbox: Inbox, patient: Persona, bookable: Persona
) -> None:
    # given: a visit in three days
    starts_at = on_the_hour(utcnow() + 3 * DAY)
    appointment = await book(client, patient, bookable, starts_at)
    assert await models.AppointmentReminder.filter(appointment_id=appointment["id"]).count() == 2

    # when: it is cancelled
    await cancel(client, bookable, appointment["id"], "The doctor is away")

    # then: no reminder is left, and none goes at either time
    assert await models.AppointmentReminder.filter(appointment_id=appointment["id"]).count() == 0
    assert await appointment_emails.send_due_reminders(now=starts_at - DAY + MINUTE) == 0
    assert await appointment_emails.send_due_reminders(now=starts_at - 59 * MINUTE) == 0
    assert await rows_to(patient.user.email, Kind.APPOINTMENT_REMINDER) == []
    assert await reminder_kinds(client, patient) == []


async def test_reminders_that_came_due_while_no_instance_ran_send_only_the_nearest(
    client: GraphQLClient, inbox: Inbox, patient: Persona, bookable: Persona
) -> None:
    # given: a visit in three days, and nothing sent for it
    starts_at = on_the_hour(utcnow() + 3 * DAY)
    appointment = await book(client, patient, bookable, starts_at)

    # when: the first sweep runs half an hour before the visit (both reminders overdue)
    late = await appointment_emails.send_due_reminders(now=starts_at - 30 * MINUTE)
    later = await appointment_emails.send_due_reminders(now=starts_at - 10 * MINUTE)

    # then: one reminder, saying the time actually left; both count as sent
    assert (late, later) == (1, 0)
    [email] = await inbox.wait_for(reminders_to(patient.user.email))
    assert str(email["Subject"]) == "Reminder: your appointment in 30 minutes"
    assert len(await rows_to(patient.user.email, Kind.APPOINTMENT_REMINDER)) == 1
    assert await reminder_kinds(client, patient) == ["APPOINTMENT_REMINDER"]
    reminders = await models.AppointmentReminder.filter(appointment_id=appointment["id"])
    assert all(r.sent_at is not None for r in reminders), reminders


async def test_a_day_before_reminder_sent_late_says_how_long_is_really_left(
    client: GraphQLClient, inbox: Inbox, patient: Persona, bookable: Persona
) -> None:
    # given: a visit in three days; the hour-before reminder is turned off
    starts_at = on_the_hour(utcnow() + 3 * DAY)
    appointment = await book(client, patient, bookable, starts_at)
    await models.AppointmentReminder.filter(
        appointment_id=appointment["id"], minutes_before=60
    ).delete()

    # when: the day-before reminder is first looked at four hours before the visit
    sent = await appointment_emails.send_due_reminders(now=starts_at - 4 * HOUR)

    # then: it says "in 4 hours", not "tomorrow"
    assert sent == 1
    [email] = await inbox.wait_for(reminders_to(patient.user.email))
    assert str(email["Subject"]) == "Reminder: your appointment in 4 hours"


async def test_a_visit_that_has_started_gets_no_late_reminder(
    client: GraphQLClient, inbox: Inbox, patient: Persona, bookable: Persona
) -> None:
    # given: a visit in three days, and nothing sent for it
    starts_at = on_the_hour(utcnow() + 3 * DAY)
    appointment = await book(client, patient, bookable, starts_at)

    # when: the first sweep runs five minutes after it started
    sent = await appointment_emails.send_due_reminders(now=starts_at + 5 * MINUTE)

    # then: nothing
    assert sent == 0
    assert await rows_to(patient.user.email, Kind.APPOINTMENT_REMINDER) == []
    assert await reminder_kinds(client, patient) == []
    reminders = await models.AppointmentReminder.filter(appointment_id=appointment["id"])
    assert [r.sent_at for r in reminders] == [None, None]


async def test_two_reminder_sweeps_at_once_send_each_reminder_once(
    client: GraphQLClient, live_server: Any, inbox: Inbox, bookable: Persona
) -> None:
    # given: four patients with a visit each, an hour apart, in three days
    first_start = on_the_hour(utcnow() + 3 * DAY)
    patients = [await sign_in(await make_patient(), live_server.settings) for _ in range(4)]
    for number, patient in enumerate(patients):
        await book(client, patient, bookable, first_start + number * HOUR)
    moment = first_start + 3 * HOUR - DAY + MINUTE  # every day-before reminder is due

    # when: two sweeps run at the same moment
    results = await asyncio.gather(
        appointment_emails.send_due_reminders(now=moment),
        appointment_emails.send_due_reminders(now=moment),
    )

    # then: four reminders in all, one to each patient
    assert sum(results) == 4, results
    for patient in patients:
        assert len(await rows_to(patient.user.email, Kind.APPOINTMENT_REMINDER)) == 1
        assert await reminder_kinds(client, patient) == ["APPOINTMENT_REMINDER"]
        await inbox.wait_for(reminders_to(patient.user.email))


# ---- an SMTP server that goes away, is busy, or refuses -------------------------------------


async def test_emails_written_while_the_smtp_server_is_down_arrive_once_each_when_it_is_back(
    client: GraphQLClient, live_server: Any, inbox: Inbox
) -> None:
    # given: five people, and the SMTP server down
    people = [await make_patient() for _ in range(5)]
    addresses = {person.email for person in people}
    await asyncio.to_thread(inbox.stop)
    try:
        # when: each asks for a password reset
        for person in people:
            await request_reset(client, person.email)

        # then: their emails wait, tried at least once, with what went wrong
        async def all_tried() -> list[models.EmailMessage]:
            rows = await models.EmailMessage.filter(to_address__in=addresses)
            tried = len(rows) == 5 and all(r.attempts >= 1 and r.last_error for r in rows)
            return rows if tried else []

        rows = await eventually(all_tried, "five emails tried and failed")
        assert {row.status for row in rows} == {Status.PENDING}
        assert all(row.body for row in rows)
    finally:
        # when: the server is back
        await start_again(inbox)
    wanted = {row.message_id for row in rows}

    # then: each arrives, and is SENT with its body erased
    await inbox.wait_for(lambda message: str(message["Message-ID"]) in wanted, 5)

    async def all_sent() -> list[models.EmailMessage]:
        rows = await models.EmailMessage.filter(to_address__in=addresses)
        return rows if all(row.status == Status.SENT for row in rows) else []

    rows = await eventually(all_sent, "five emails SENT")
    assert {(row.body, row.calendar, row.lease_id) for row in rows} == {("", None, None)}
    assert {row.message_id for row in rows} == wanted
    # ... once each
    arrived = message_ids([m for m in inbox.messages if str(m["To"]) in addresses])
    assert arrived == Counter(dict.fromkeys(wanted, 1))


async def test_an_email_the_server_is_busy_for_is_tried_again_until_it_is_accepted(
    client: GraphQLClient, inbox: Inbox
) -> None:
    # given: a person, and an SMTP server that answers 451 to every recipient
    person = await make_patient()
    inbox.busy = True

    # when: they ask for a password reset
    await request_reset(client, person.email)

    # then: it is tried again, and again refused for now (the second attempt over: its
    # lease given back; `attempts` counts an attempt when it is claimed, before it sends)
    async def retried() -> list[models.EmailMessage]:
        rows = await rows_to(person.email, Kind.PASSWORD_RESET)
        return rows if rows and rows[0].attempts >= 2 and rows[0].lease_id is None else []

    [row] = await eventually(retried, "a second attempt")
    assert row.status == Status.PENDING
    assert row.last_error is not None and row.last_error.startswith("451"), row.last_error
    assert inbox.to(person.email) == []

    # when: the server takes mail again
    inbox.busy = False

    # then: it arrives once, under its Message-ID, and is SENT
    email = await inbox.wait_for_one_to(person.email, "Choose a new password")
    assert str(email["Message-ID"]) == row.message_id

    async def sent() -> list[models.EmailMessage]:
        rows = await rows_to(person.email, Kind.PASSWORD_RESET)
        return rows if rows[0].status == Status.SENT else []

    [row] = await eventually(sent, "the email SENT")
    assert row.attempts >= 3 and row.body == ""
    assert len(inbox.to(person.email)) == 1


async def test_a_recipient_refused_for_good_fails_at_once_and_shows_among_failed_deliveries(
    client: GraphQLClient, inbox: Inbox, admin: Persona, patient: Persona
) -> None:
    # given: two people, one of whom the SMTP server does not know (550)
    unknown, known = await make_patient(), await make_patient()
    inbox.refused.add(unknown.email.lower())

    # when: both ask for a password reset
    await request_reset(client, unknown.email)
    await request_reset(client, known.email)

    # then: the known one's arrives; the unknown one's FAILED after one attempt, 550 said
    await inbox.wait_for_one_to(known.email, "Choose a new password")

    async def settled() -> list[models.EmailMessage]:
        rows = await models.EmailMessage.filter(to_address__in=[unknown.email, known.email])
        done = len(rows) == 2 and all(row.status != Status.PENDING for row in rows)
        return rows if done else []

    rows = {row.to_address: row for row in await eventually(settled, "both emails settled")}
    failed = rows[unknown.email]
    assert (failed.status, failed.attempts) == (Status.FAILED, 1)
    assert failed.last_error is not None and "550" in failed.last_error
    assert failed.failed_at is not None and failed.body == ""
    assert rows[known.email].status == Status.SENT
    assert inbox.to(unknown.email) == []

    # ... and an administrator sees it among the failed deliveries; a patient may not look
    listed = await client.execute(EMAIL_DELIVERIES, {"status": "FAILED"}, as_=admin)
    [node] = listed["emailDeliveries"]["nodes"]
    assert (node["toAddress"], node["status"], node["kind"]) == (
        unknown.email,
        "FAILED",
        "PASSWORD_RESET",
    )
    assert "550" in node["lastError"] and node["messageId"] == failed.message_id
    assert await client.error_codes(EMAIL_DELIVERIES, {"status": "FAILED"}, as_=patient) == [
        "FORBIDDEN"
    ]


async def test_a_refused_recipient_in_a_batch_does_not_hold_back_the_others(
    inbox: Inbox,
) -> None:
    # given: five emails written together, the second to an address the server refuses
    rows = [email_row(number) for number in range(5)]
    inbox.refused.add(rows[1].to_address)

    # when: they are in the outbox (one batch: they are due together)
    await models.EmailMessage.bulk_create(rows)

    # then: the four others arrive, and are SENT; the refused one FAILED
    others = {row.message_id for row in rows if row is not rows[1]}
    await inbox.wait_for(lambda m: str(m["Message-ID"]) in others, 4)

    async def settled() -> list[models.EmailMessage]:
        found = await models.EmailMessage.filter(id__in=[row.id for row in rows])
        return found if all(row.status != Status.PENDING for row in found) else []

    outcome = {row.to_address: row.status for row in await eventually(settled, "all settled")}
    assert outcome == {
        row.to_address: Status.FAILED if row is rows[1] else Status.SENT for row in rows
    }
    assert message_ids(inbox.messages) == Counter(dict.fromkeys(others, 1))


async def test_an_address_the_server_cannot_take_fails_for_good_without_holding_back_the_others(
    inbox: Inbox,
) -> None:
    # given: three emails, the second to an address that is not ASCII, which needs
    # SMTPUTF8, and a server that does not offer it
    rows = [email_row(number) for number in range(3)]
    rows[1].to_address = "josé@bücher.example"
    await asyncio.to_thread(inbox.stop)
    inbox.smtputf8 = False
    await start_again(inbox)

    try:
        # when: they are in the outbox (one batch)
        await models.EmailMessage.bulk_create(rows)
        others = {rows[0].message_id, rows[2].message_id}
        await inbox.wait_for(lambda m: str(m["Message-ID"]) in others, 2)
    finally:
        await asyncio.to_thread(inbox.stop)
        inbox.smtputf8 = True
        await start_again(inbox)

    # then: the two others arrived once each and are SENT; that one FAILED, saying why

    async def settled() -> list[models.EmailMessage]:
        found = await models.EmailMessage.filter(id__in=[row.id for row in rows])
        return found if all(row.status != Status.PENDING for row in found) else []

    found = {row.id: row for row in await eventually(settled, "all settled")}
    assert [found[row.id].status for row in rows] == [Status.SENT, Status.FAILED, Status.SENT]
    error = found[rows[1].id].last_error
    assert error is not None and "SMTPUTF8" in error, error
    assert found[rows[1].id].attempts == 1
    assert message_ids(inbox.messages) == Counter(dict.fromkeys(others, 1))


async def test_an_email_still_refused_for_now_at_its_last_attempt_fails(inbox: Inbox) -> None:
    # given: an email tried nine times already, and a server that is busy
    row = email_row(1, attempts=9)
    inbox.busy = True

    # when: its tenth attempt comes (EMAIL_MAX_ATTEMPTS)
    await models.EmailMessage.bulk_create([row])

    # then: it FAILED, with the server's answer, and its body is erased
    async def failed() -> list[models.EmailMessage]:
        return await models.EmailMessage.filter(id=row.id, status=Status.FAILED)

    [row] = await eventually(failed, "the email FAILED")
    assert row.attempts == 10
    assert row.last_error is not None and row.last_error.startswith("451"), row.last_error
    assert row.body == "" and row.failed_at is not None
    assert inbox.messages == []


# ---- leases -----------------------------------------------------------------------------------


async def test_an_email_whose_worker_died_after_claiming_it_is_sent_when_its_lease_runs_out(
    inbox: Inbox,
) -> None:
    # given: two emails claimed by workers that are gone: one's lease has run out, the
    # other's has not
    expired = email_row(1, lease_id=uuid.uuid4(), leased_until=utcnow() - MINUTE, attempts=1)
    held_lease = uuid.uuid4()
    held = email_row(2, lease_id=held_lease, leased_until=utcnow() + 10 * MINUTE, attempts=1)

    # when: both are in the outbox
    await models.EmailMessage.bulk_create([expired, held])

    # then: the expired one is sent again, under the same Message-ID, by this worker
    [email] = await inbox.wait_for(lambda m: str(m["To"]) == expired.to_address)
    assert str(email["Message-ID"]) == expired.message_id
    # ... dated when it was written, as on its first attempt
    assert parsedate_to_datetime(str(email["Date"])) == expired.created_at.replace(microsecond=0)

    async def sent() -> list[models.EmailMessage]:
        return await models.EmailMessage.filter(id=expired.id, status=Status.SENT)

    [row] = await eventually(sent, "the expired email SENT")
    assert (row.attempts, row.lease_id, row.body) == (2, None, "")
    # ... while the one still leased is left to its worker
    still = await models.EmailMessage.get(id=held.id)
    assert (still.status, still.lease_id, still.attempts) == (Status.PENDING, held_lease, 1)
    assert inbox.to(held.to_address) == []


async def test_an_instance_stopped_while_sending_finishes_its_batch_first(
    tmp_path: Path, inbox: Inbox
) -> None:
    # given: a development instance whose demo data writes a few emails at start, and an
    # SMTP server that takes half a second over each
    inbox.delay_seconds = 0.5
    server = spawn_server(tmp_path, "deploy", SMTP_URL=inbox.url, EMAIL_POLL_SECONDS="1")
    try:
        # when: it is stopped (Ctrl-C, as a deploy does) once the first has arrived
        await inbox.wait_for(lambda m: True, 1, 60)
        code, log = await asyncio.to_thread(server.stop)
    finally:
        server.stop()

    # then: it stopped cleanly after sending the rest: every email arrived once, and each
    # row is SENT, none left leased for another instance to send again
    assert code == 0, log[-3000:]
    with sqlite3.connect(tmp_path / "healthcare.sqlite3") as database:
        rows = database.execute(
            "SELECT message_id, status, lease_id FROM email_messages"
            " WHERE not_before <= created_at"  # not the emails meant for later
        ).fetchall()
    assert len(rows) > 1, rows
    assert [(status, lease) for _, status, lease in rows] == [("SENT", None)] * len(rows)
    assert message_ids(inbox.messages) == Counter(message_id for message_id, _, _ in rows)


# ---- two instances on one PostgreSQL database --------------------------------------------------


@pytest.fixture
async def instances_database() -> AsyncIterator[str]:
    """A throwaway database beside the suite's PostgreSQL one, migrated."""
    configured = configured_database_url()
    if not configured or not configured.startswith("postgres://"):
        pytest.skip("several instances share a PostgreSQL database: DATABASE_URL=postgres://")
    async with throwaway_database(configured, "healthcare_email_") as url:
        yield url


async def ready(instance: LoggedServer) -> bool:
    if not instance.alive:
        raise AssertionError(f"{instance.name} exited:\n{instance.log()[-3000:]}")
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            return (await http.get(f"{instance.base_url}/readyz")).status_code == 200
    except httpx.TransportError:
        return False


INSERT_EMAIL = """
INSERT INTO "email_messages" ("id", "message_id", "kind", "to_address", "subject", "body",
    "status", "attempts", "not_before", "created_at")
VALUES ($1, $2, 'PASSWORD_RESET', $3, $4, 'Sent by one of two instances.', 'PENDING', 0, $5, $5)
"""
# The mail worker's claim, as pg_stat_activity shows it (healthcare.mail.worker.CLAIM_SQL).
CLAIMS = """
SELECT "client_port" FROM pg_stat_activity
WHERE "datname" = current_database() AND "query" LIKE '%SET "lease_id" = $1%'
"""


@asynccontextmanager
async def two_instances(
    tmp_path: Path, inbox: Inbox, database_url: str
) -> AsyncIterator[list[LoggedServer]]:
    """Two production instances on `database_url`, polling the outbox every second,
    sending to `inbox`; their logs are printed (shown if the test fails)."""
    env = {
        "HEALTHCARE_ENV": "production",
        "DATABASE_URL": database_url,
        "JWT_SECRET": "email-instances-" + uuid.uuid4().hex * 2,
        "SMTP_URL": inbox.url,
        "EMAIL_FROM": "Test Clinic <clinic@example.org>",
        "PUBLIC_APP_URL": "https://app.test",
        "EMAIL_POLL_SECONDS": "1",
        "EMAIL_RETRY_BASE_SECONDS": "1",
    }
    instances = [spawn_server(tmp_path / name, name, **env) for name in ("a", "b")]
    try:
        for instance in instances:
            await eventually(partial(ready, instance), f"{instance.name} ready", 90, 0.2)
        yield instances
    finally:
        stopped = await asyncio.gather(*(asyncio.to_thread(i.stop) for i in instances))
        for instance, (_, log) in zip(instances, stopped, strict=True):
            print(f"---- {instance.name} ----\n{log[-4000:]}")


async def insert_emails(connection: asyncpg.Connection, count: int) -> set[str]:
    """`count` due emails, committed at once; their Message-IDs."""
    now = utcnow()
    rows = [
        (uuid.uuid4(), f"<{uuid.uuid4()}@example.org>", f"many-{n}@example.org", f"No {n}", now)
        for n in range(count)
    ]
    async with connection.transaction():
        await connection.executemany(INSERT_EMAIL, rows)
    return {row[1] for row in rows}


async def sent_once_each(inbox: Inbox, connection: asyncpg.Connection, wanted: set[str]) -> None:
    """Every email of `wanted` arrived, once, and every row is SENT after one attempt."""
    await inbox.wait_for(lambda m: str(m["Message-ID"]) in wanted, len(wanted), seconds=120)

    async def all_sent() -> list[Any]:
        rows = await connection.fetch('SELECT "status", "body", "attempts" FROM "email_messages"')
        return rows if all(row["status"] == "SENT" for row in rows) else []

    rows = await eventually(all_sent, "every row SENT", 120)
    arrived = message_ids([m for m in inbox.messages if str(m["Message-ID"]) in wanted])
    assert arrived == Counter(dict.fromkeys(wanted, 1))
    assert len(rows) == len(wanted)
    assert {(row["body"], row["attempts"]) for row in rows} == {("", 1)}


def local_ports(pid: int) -> set[int]:
    """The local TCP ports of a process's sockets (Linux: /proc)."""
    inodes = set()
    for descriptor in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(descriptor)
            if target.startswith("socket:["):
                inodes.add(target.removeprefix("socket:[").rstrip("]"))
    ports = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                columns = line.split()
                if columns[9] in inodes:
                    ports.add(int(columns[1].rsplit(":", 1)[1], 16))
    return ports


@pytest.mark.postgres
async def test_two_instances_on_one_postgresql_database_send_each_email_exactly_once(
    tmp_path: Path, inbox: Inbox, instances_database: str
) -> None:
    # given: two instances on one database
    connection = await asyncpg.connect(instances_database)
    try:
        async with two_instances(tmp_path, inbox, instances_database):
            # when: 200 emails are committed at once
            wanted = await insert_emails(connection, 200)

            # then: each arrives exactly once, and every row ends SENT
            await sent_once_each(inbox, connection, wanted)
    finally:
        await connection.close()


@pytest.mark.postgres
async def test_two_instances_claiming_the_same_rows_at_once_send_each_email_once(
    tmp_path: Path, inbox: Inbox, instances_database: str
) -> None:
    # given: 100 due emails, locked by someone else, and two instances that start then
    if sys.platform != "linux":
        pytest.skip("tells the instances' database sessions apart through Linux's /proc")
    connection = await asyncpg.connect(instances_database)
    locker = await asyncpg.connect(instances_database)
    try:
        wanted = await insert_emails(connection, 100)
        lock = locker.transaction()
        await lock.start()
        await locker.execute('SELECT "id" FROM "email_messages" FOR UPDATE')
        async with two_instances(tmp_path, inbox, instances_database) as instances:
            # ... each of which has tried to claim them (and skipped them, or waits)
            async def both_claimed() -> bool:
                ports = {row["client_port"] for row in await connection.fetch(CLAIMS)}
                return all(ports & local_ports(i.process.pid) for i in instances)

            await eventually(both_claimed, "a claim from each instance", 60)

            # when: the lock goes, so their claims meet on the same rows
            await lock.rollback()

            # then: each arrives exactly once, and every row ends SENT
            await sent_once_each(inbox, connection, wanted)
    finally:
        await locker.close()
        await connection.close()


# ---- figures (printed, not asserted) ---------------------------------------------------------


async def test_figures_one_worker_sends_500_queued_emails(live_server: Any, inbox: Inbox) -> None:
    # given: 500 emails committed at once
    rows = [email_row(n) for n in range(500)]
    wanted = {row.message_id for row in rows}
    started = time.monotonic()
    await models.EmailMessage.bulk_create(rows)
    committed = time.monotonic()
    first: float | None = None

    # when: the worker (this process's, woken by its poll) sends them
    async def all_arrived() -> bool:
        nonlocal first
        count = sum(1 for m in inbox.messages if str(m["Message-ID"]) in wanted)
        if count and first is None:
            first = time.monotonic()
        return count >= 500

    await eventually(all_arrived, "500 emails arrived", 300, 0.01)
    last = time.monotonic()

    # then: each arrived once, all SENT
    arrived = message_ids([m for m in inbox.messages if str(m["Message-ID"]) in wanted])
    assert arrived == Counter(dict.fromkeys(wanted, 1))

    async def all_sent() -> bool:
        return await models.EmailMessage.filter(status=Status.SENT).count() == 500

    await eventually(all_sent, "500 rows SENT")
    assert first is not None
    database = "PostgreSQL" if not live_server.settings.uses_sqlite else "SQLite"
    print(
        f"\nFIGURE throughput ({database}): 500 emails, insert {committed - started:.2f} s, "
        f"commit to last arrival {last - committed:.2f} s "
        f"({500 / (last - committed):.0f}/s), first to last arrival {last - first:.2f} s "
        f"({499 / max(last - first, 1e-9):.0f}/s)"
    )


async def test_figures_delay_from_commit_to_delivery(
    client: GraphQLClient, live_server: Any, inbox: Inbox, bookable: Persona
) -> None:
    # given: thirty people
    people = [await sign_in(await make_patient(), live_server.settings) for _ in range(30)]
    first_start = on_the_hour(utcnow() + 20 * DAY)
    delays: dict[str, list[float]] = {"password reset": [], "booking": []}

    async def arrival(address: str, subject: str) -> float:
        async def arrived() -> bool:
            return any(str(m["Subject"]).startswith(subject) for m in inbox.to(address))

        await eventually(arrived, f"{subject} to {address}", 60, 0.002)
        return time.monotonic()

    # when: each asks for a password reset, then books, one after the other
    for number, person in enumerate(people):
        await request_reset(client, person.user.email)
        answered = time.monotonic()
        arrived = await arrival(person.user.email, "Choose a new password")
        delays["password reset"].append(arrived - answered)
        await book(client, person, bookable, first_start + number * HOUR)
        answered = time.monotonic()
        arrived = await arrival(person.user.email, "Appointment booked")
        delays["booking"].append(arrived - answered)

    # then: every email arrived once
    for person in people:
        assert len(inbox.to(person.user.email)) == 2
    database = "PostgreSQL" if not live_server.settings.uses_sqlite else "SQLite"
    for what, values in delays.items():
        ordered = sorted(values)
        p95 = ordered[int(0.95 * (len(ordered) - 1) + 0.5)]
        print(
            f"\nFIGURE delay ({database}), {what}: response to arrival over {len(values)}: "
            f"median {statistics.median(values) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
            f"max {max(values) * 1000:.0f} ms"
        )
