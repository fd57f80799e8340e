"""Appointments: booking without overlaps, status changes and their history, who sees what."""

import asyncio
import base64
import json
import logging
import random
import uuid
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import pytest
from tortoise import connections

from healthcare import models
from tests.conftest import (
    make_appointment,
    make_doctor,
    make_patient,
    make_schedule,
    request_statements,
    sign_in,
)

APPOINTMENT_FIELDS = """
id startsAt endsAt status reason cancellationReason
patient { id fullName }
doctor { id fullName }
history { kind fromStatus toStatus previousStartsAt createdAt actor { id } }
"""
BOOKING_RESULT_FIELDS = f"""
__typename
... on AppointmentPayload {{ appointment {{ {APPOINTMENT_FIELDS} }} }}
... on Error {{ code message }}
... on ValidationFailed {{ fieldErrors {{ field message }} }}
"""
RESULT_FIELDS = f"{BOOKING_RESULT_FIELDS} ... on InvalidStatusTransition {{ currentStatus }}"
BOOK_APPOINTMENT = f"""
mutation BookAppointment($input: BookAppointmentInput!) {{
  bookAppointment(input: $input) {{ {BOOKING_RESULT_FIELDS} }}
}}
"""
RESCHEDULE_APPOINTMENT = f"""
mutation RescheduleAppointment($id: ID!, $startsAt: DateTime!) {{
  rescheduleAppointment(id: $id, startsAt: $startsAt) {{ {RESULT_FIELDS} }}
}}
"""
CANCEL_APPOINTMENT = f"""
mutation CancelAppointment($id: ID!, $reason: String!) {{
  cancelAppointment(id: $id, reason: $reason) {{ {RESULT_FIELDS} }}
}}
"""
COMPLETE_APPOINTMENT = f"""
mutation CompleteAppointment($id: ID!) {{ completeAppointment(id: $id) {{ {RESULT_FIELDS} }} }}
"""
MARK_APPOINTMENT_NO_SHOW = f"""
mutation MarkAppointmentNoShow($id: ID!) {{
  markAppointmentNoShow(id: $id) {{ {RESULT_FIELDS} }}
}}
"""
APPOINTMENT = f"""
query Appointment($id: ID!) {{ appointment(id: $id) {{ {APPOINTMENT_FIELDS} }} }}
"""
APPOINTMENTS = """
query Appointments(
  $first: Int!, $after: String, $status: AppointmentStatus,
  $startsFrom: DateTime, $startsBefore: DateTime
) {
  appointments(
    first: $first, after: $after, status: $status,
    startsFrom: $startsFrom, startsBefore: $startsBefore
  ) {
    edges { cursor node { id startsAt status reason patient { id } doctor { id } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
APPOINTMENTS_WITH_PEOPLE_AND_HISTORY = """
query AppointmentsWithPeopleAndHistory($first: Int!) {
  appointments(first: $first) {
    edges { node {
      patient { id fullName }
      doctor { id fullName }
      history { kind actor { id } }
    } }
  }
}
"""

Status = models.AppointmentStatus
UNKNOWN_ID = "00000000-0000-0000-0000-000000000000"


# ---- helpers ---------------------------------------------------------------------------------


def a_future_monday(weeks_ahead: int = 8) -> date:
    start = datetime.now(UTC).date() + timedelta(weeks=weeks_ahead)
    return start + timedelta(days=-start.weekday() % 7)


DAY = a_future_monday()


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hour, minute), UTC)


def parsed(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    assert moment.tzinfo is not None, f"{value} has no UTC offset"
    return moment


def now() -> datetime:
    return datetime.now(UTC)


async def book(
    client: Any, as_: Any, doctor_id: str, starts_at: datetime, reason: str = "Chest pain"
) -> dict[str, Any]:
    variables = {
        "input": {"doctorId": doctor_id, "startsAt": starts_at.isoformat(), "reason": reason}
    }
    return (await client.execute(BOOK_APPOINTMENT, variables, as_=as_))["bookAppointment"]


async def cancel(client: Any, as_: Any, appointment_id: Any, reason: str) -> dict[str, Any]:
    variables = {"id": str(appointment_id), "reason": reason}
    return (await client.execute(CANCEL_APPOINTMENT, variables, as_=as_))["cancelAppointment"]


async def reschedule(
    client: Any, as_: Any, appointment_id: Any, starts_at: datetime
) -> dict[str, Any]:
    variables = {"id": str(appointment_id), "startsAt": starts_at.isoformat()}
    data = await client.execute(RESCHEDULE_APPOINTMENT, variables, as_=as_)
    return data["rescheduleAppointment"]


async def complete(client: Any, as_: Any, appointment_id: Any) -> dict[str, Any]:
    data = await client.execute(COMPLETE_APPOINTMENT, {"id": str(appointment_id)}, as_=as_)
    return data["completeAppointment"]


async def mark_no_show(client: Any, as_: Any, appointment_id: Any) -> dict[str, Any]:
    data = await client.execute(MARK_APPOINTMENT_NO_SHOW, {"id": str(appointment_id)}, as_=as_)
    return data["markAppointmentNoShow"]


async def list_appointments(client: Any, as_: Any, **variables: Any) -> dict[str, Any]:
    variables.setdefault("first", 100)
    return (await client.execute(APPOINTMENTS, variables, as_=as_))["appointments"]


def listed_ids(page: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in page["edges"]]


async def written() -> tuple[int, int]:
    """How many appointments and history entries the database holds."""
    return await models.Appointment.all().count(), await models.AppointmentChange.all().count()


async def state_of(appointment: models.Appointment) -> tuple[Any, ...]:
    row = await models.Appointment.get(id=appointment.id)
    changes = await models.AppointmentChange.filter(appointment_id=appointment.id).count()
    return row.status, row.starts_at, row.ends_at, row.cancellation_reason, changes


def started_an_hour_ago() -> datetime:
    return now().replace(microsecond=0) - timedelta(hours=1)


def assert_recorded(
    entry: dict[str, Any], kind: str, actor: Any, before: datetime, after: datetime
) -> None:
    """The history entry says what happened, who did it and when (within the request)."""
    assert entry["kind"] == kind
    assert entry["actor"] == {"id": actor.id}
    created = parsed(entry["createdAt"])
    assert before - timedelta(seconds=1) <= created <= after + timedelta(seconds=1)


# ---- booking ---------------------------------------------------------------------------------


async def test_a_patient_books_a_free_slot_which_ends_one_slot_length_later(
    client, patient, doctor
):
    # given
    await make_schedule(doctor.user, slot_minutes=20)
    before = now()
    # when
    result = await book(client, patient, doctor.id, at(10, 20), reason="Chest pain")
    # then
    after = now()
    assert result["__typename"] == "AppointmentPayload"
    booked = result["appointment"]
    assert booked["status"] == "SCHEDULED"
    assert parsed(booked["startsAt"]) == at(10, 20)
    assert parsed(booked["endsAt"]) == at(10, 40)
    assert booked["reason"] == "Chest pain"
    assert booked["cancellationReason"] is None
    assert booked["patient"] == {"id": patient.id, "fullName": patient.user.full_name}
    assert booked["doctor"] == {"id": doctor.id, "fullName": doctor.user.full_name}
    [entry] = booked["history"]
    assert_recorded(entry, "BOOKED", patient, before, after)
    assert entry["fromStatus"] is None
    assert entry["toStatus"] == "SCHEDULED"
    assert entry["previousStartsAt"] is None
    stored = await models.Appointment.get(id=booked["id"])
    assert (stored.patient_id, stored.doctor_id) == (patient.user.id, doctor.user.id)
    assert (stored.starts_at, stored.ends_at) == (at(10, 20), at(10, 40))


async def test_booking_reads_both_people_once_and_writes_both_emails_in_one_statement(
    client, patient, doctor, caplog
):
    # given: both people get appointment emails (their roles' defaults)
    await make_schedule(doctor.user, time_zone="Europe/Paris")
    # when
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        result = await book(client, patient, doctor.id, at(10))
    statements = request_statements(caplog.records)
    # then: the people with the doctor's time zone in one read, their email preferences in
    # one, the two emails (each with its invite) in one write
    assert result["__typename"] == "AppointmentPayload"
    emails = await models.EmailMessage.filter(kind=models.EmailKind.APPOINTMENT_BOOKED)
    assert sorted(email.to_address for email in emails) == sorted(
        [patient.user.email, doctor.user.email]
    )
    assert all("(Europe/Paris)" in email.body and email.calendar for email in emails)
    people_reads = [s for s in statements if "users" in s and "doctor_schedules" in s]
    assert len(people_reads) == 2, statements  # the slot's rules, and the emails' people
    assert len([s for s in statements if "email_preferences" in s]) == 1, statements
    assert len([s for s in statements if 'INSERT INTO "email_messages"' in s]) == 1, statements


async def test_back_to_back_slots_can_both_be_booked(client, patient, other_patient, doctor):
    # given
    await make_schedule(doctor.user)
    # when: the same patient and doctor at 10:00-10:30 and 10:30-11:00, then 11:00-11:30
    first = await book(client, patient, doctor.id, at(10))
    second = await book(client, patient, doctor.id, at(10, 30))
    third = await book(client, other_patient, doctor.id, at(11))
    # then
    assert [first["__typename"], second["__typename"], third["__typename"]] == [
        "AppointmentPayload"
    ] * 3
    assert await models.Appointment.filter(doctor_id=doctor.user.id).count() == 3


async def test_a_cancelled_slot_can_be_booked_again(client, patient, other_patient, doctor):
    # given
    await make_schedule(doctor.user)
    first = await book(client, patient, doctor.id, at(10))
    await cancel(client, patient, first["appointment"]["id"], "Cannot make it")
    # when
    again = await book(client, patient, doctor.id, at(10))
    # then
    assert again["__typename"] == "AppointmentPayload"
    assert again["appointment"]["id"] != first["appointment"]["id"]
    assert await models.Appointment.filter(doctor_id=doctor.user.id).count() == 2


async def test_doctors_and_admins_cannot_book_and_anonymous_callers_must_sign_in(
    client, doctor, other_doctor, admin
):
    # given
    await make_schedule(other_doctor.user)
    variables = {
        "input": {"doctorId": other_doctor.id, "startsAt": at(10).isoformat(), "reason": "Pain"}
    }
    # when
    as_doctor = await client.error_codes(BOOK_APPOINTMENT, variables, as_=doctor)
    as_admin = await client.error_codes(BOOK_APPOINTMENT, variables, as_=admin)
    anonymous = await client.error_codes(BOOK_APPOINTMENT, variables)
    # then
    assert as_doctor == ["FORBIDDEN"]
    assert as_admin == ["FORBIDDEN"]
    assert anonymous == ["UNAUTHENTICATED"]
    assert await written() == (0, 0)


async def test_booking_a_time_in_the_past_is_refused_and_nothing_is_written(
    client, patient, doctor
):
    # given
    await make_schedule(doctor.user)
    yesterday = now().date() - timedelta(days=1)
    # when
    result = await book(client, patient, doctor.id, at(10, day=yesterday))
    # then
    assert result["__typename"] == "SlotUnavailable"
    assert result["code"] == "SLOT_UNAVAILABLE"
    assert result["message"]
    assert await written() == (0, 0)


async def test_booking_outside_the_doctors_hours_is_refused(client, patient, doctor):
    # given: Mondays 09:00-12:00
    await make_schedule(doctor.user, hours=((0, 9 * 60, 12 * 60),))
    # when
    results = [
        await book(client, patient, doctor.id, starts_at)
        for starts_at in (at(8, 30), at(12), at(10, day=DAY + timedelta(days=1)))
    ]
    # then
    assert [result["__typename"] for result in results] == ["SlotUnavailable"] * 3
    assert await written() == (0, 0)


async def test_booking_in_the_doctors_time_off_is_refused(client, patient, doctor):
    # given
    await make_schedule(doctor.user)
    await models.TimeOff.create(doctor=doctor.user, starts_at=at(9), ends_at=at(12))
    # when
    result = await book(client, patient, doctor.id, at(10))
    # then
    assert result["__typename"] == "SlotUnavailable"
    assert await written() == (0, 0)


async def test_booking_over_another_appointment_of_the_doctor_is_refused(
    client, patient, other_patient, doctor
):
    # given: an hour-long appointment from 09:30 to 10:30
    await make_schedule(doctor.user)
    await make_appointment(other_patient.user, doctor.user, starts_at=at(9, 30), minutes=60)
    # when
    same_start = await book(client, patient, doctor.id, at(9, 30))
    inside = await book(client, patient, doctor.id, at(10))
    # then
    assert same_start["__typename"] == inside["__typename"] == "SlotUnavailable"
    assert await written() == (1, 0)


async def test_the_same_instant_written_with_another_utc_offset_is_the_same_slot(
    client, patient, other_patient, doctor
):
    # given: a booking made from a client one hour east of UTC, and time off given the same way
    await make_schedule(doctor.user)
    east = timezone(timedelta(hours=1))
    first = await book(client, other_patient, doctor.id, at(9).astimezone(east))
    assert first["__typename"] == "AppointmentPayload", first
    await models.TimeOff.create(
        doctor=doctor.user, starts_at=at(11).astimezone(east), ends_at=at(12).astimezone(east)
    )
    # when: another patient asks for the same instants, written in UTC
    same_time = await book(client, patient, doctor.id, at(9))
    during_time_off = await book(client, patient, doctor.id, at(11, 30))
    # then: the doctor is busy, then away, whatever offset each time was written with
    assert same_time["__typename"] == "SlotUnavailable", same_time
    assert "already booked" in same_time["message"]
    assert during_time_off["__typename"] == "SlotUnavailable", during_time_off
    assert "away" in during_time_off["message"]
    assert await models.Appointment.filter(doctor_id=doctor.user.id).count() == 1


async def test_booking_over_the_patients_own_appointment_with_another_doctor_is_refused(
    client, patient, doctor, other_doctor
):
    # given
    await make_schedule(doctor.user)
    await make_appointment(patient.user, other_doctor.user, starts_at=at(10))
    # when
    result = await book(client, patient, doctor.id, at(10))
    # then
    assert result["__typename"] == "SlotUnavailable"
    assert await written() == (1, 0)


async def test_a_start_that_is_not_the_start_of_a_slot_is_refused(client, patient, doctor):
    # given: 30-minute slots from midnight
    await make_schedule(doctor.user)
    # when
    result = await book(client, patient, doctor.id, at(10, 15))
    # then
    assert result["__typename"] == "SlotUnavailable"
    assert await written() == (0, 0)


async def test_booking_with_someone_who_is_not_a_doctor_is_not_found(
    client, patient, other_patient, admin
):
    # when
    results = [
        await book(client, patient, user_id, at(10))
        for user_id in (other_patient.id, admin.id, patient.id, UNKNOWN_ID, "not-an-id")
    ]
    # then
    assert [result["__typename"] for result in results] == ["NotFound"] * 5
    assert {result["code"] for result in results} == {"NOT_FOUND"}
    assert await written() == (0, 0)


async def test_a_deactivated_doctor_takes_no_bookings_and_no_moved_appointments(
    client, patient, doctor
):
    # given: an appointment booked while the doctor was active
    await make_schedule(doctor.user)
    booked = (await book(client, patient, doctor.id, at(10)))["appointment"]
    await models.User.filter(id=doctor.user.id).update(is_active=False)
    # when
    new_booking = await book(client, patient, doctor.id, at(12))
    moved = await reschedule(client, patient, booked["id"], at(14))
    # then
    assert (new_booking["__typename"], new_booking["code"]) == ("NotFound", "NOT_FOUND")
    assert (moved["__typename"], moved["message"]) == (
        "SlotUnavailable",
        "This doctor no longer takes appointments.",
    )
    assert await written() == (1, 1)
    [kept] = await models.Appointment.all()
    assert kept.starts_at == at(10)


async def test_a_doctor_without_a_schedule_has_no_slots_to_book(client, patient, doctor):
    # when
    result = await book(client, patient, doctor.id, at(10))
    # then
    assert result["__typename"] == "SlotUnavailable"
    assert "no working hours" in result["message"]
    assert await written() == (0, 0)


async def test_a_reason_longer_than_1000_characters_is_refused_naming_the_field(
    client, patient, doctor
):
    # given
    await make_schedule(doctor.user)
    # when
    too_long = await book(client, patient, doctor.id, at(10), reason="x" * 1001)
    written_after_refusal = await written()
    longest = await book(client, patient, doctor.id, at(10), reason="x" * 1000)
    # then
    assert too_long["__typename"] == "ValidationFailed"
    assert [error["field"] for error in too_long["fieldErrors"]] == ["reason"]
    assert written_after_refusal == (0, 0)
    assert longest["__typename"] == "AppointmentPayload"


# ---- status changes --------------------------------------------------------------------------


async def test_the_doctor_completes_an_appointment_that_has_started(client, patient, doctor):
    # given
    appointment = await make_appointment(patient.user, doctor.user, starts_at=started_an_hour_ago())
    before = now()
    # when
    result = await complete(client, doctor, appointment.id)
    # then
    after = now()
    assert result["__typename"] == "AppointmentPayload"
    assert result["appointment"]["status"] == "COMPLETED"
    [entry] = result["appointment"]["history"]
    assert_recorded(entry, "COMPLETED", doctor, before, after)
    assert (entry["fromStatus"], entry["toStatus"]) == ("SCHEDULED", "COMPLETED")
    assert (await models.Appointment.get(id=appointment.id)).status == Status.COMPLETED


async def test_the_doctor_marks_a_patient_who_did_not_come_as_a_no_show(client, patient, doctor):
    # given
    appointment = await make_appointment(patient.user, doctor.user, starts_at=started_an_hour_ago())
    before = now()
    # when
    result = await mark_no_show(client, doctor, appointment.id)
    # then
    after = now()
    assert result["__typename"] == "AppointmentPayload"
    assert result["appointment"]["status"] == "NO_SHOW"
    [entry] = result["appointment"]["history"]
    assert_recorded(entry, "NO_SHOW", doctor, before, after)
    assert (await models.Appointment.get(id=appointment.id)).status == Status.NO_SHOW


async def test_the_patient_the_doctor_or_an_admin_cancels_saying_why(
    client, patient, doctor, admin
):
    for hour, actor in ((9, patient), (10, doctor), (11, admin)):
        # given
        appointment = await make_appointment(patient.user, doctor.user, starts_at=at(hour))
        before = now()
        # when
        result = await cancel(client, actor, appointment.id, f"Cancelled by {actor.user.role}")
        # then
        after = now()
        assert result["__typename"] == "AppointmentPayload", actor.user.role
        assert result["appointment"]["status"] == "CANCELLED"
        # the reason may speak of the patient's health: not for administrators' eyes
        shown = None if actor is admin else f"Cancelled by {actor.user.role}"
        assert result["appointment"]["cancellationReason"] == shown
        [entry] = result["appointment"]["history"]
        assert_recorded(entry, "CANCELLED", actor, before, after)
        assert (entry["fromStatus"], entry["toStatus"]) == ("SCHEDULED", "CANCELLED")
        stored = await models.Appointment.get(id=appointment.id)
        assert stored.status == Status.CANCELLED
        assert stored.cancellation_reason == f"Cancelled by {actor.user.role}"


async def test_the_patient_reschedules_keeping_the_id_and_the_old_slot_is_free_again(
    client, patient, other_patient, doctor
):
    # given
    await make_schedule(doctor.user)
    booked = (await book(client, patient, doctor.id, at(10)))["appointment"]
    before = now()
    # when
    result = await reschedule(client, patient, booked["id"], at(14, 30))
    # then
    after = now()
    assert result["__typename"] == "AppointmentPayload"
    moved = result["appointment"]
    assert moved["id"] == booked["id"]
    assert (parsed(moved["startsAt"]), parsed(moved["endsAt"])) == (at(14, 30), at(15))
    assert moved["status"] == "SCHEDULED"
    assert [entry["kind"] for entry in moved["history"]] == ["BOOKED", "RESCHEDULED"]
    entry = moved["history"][1]
    assert_recorded(entry, "RESCHEDULED", patient, before, after)
    assert parsed(entry["previousStartsAt"]) == at(10)
    assert (entry["fromStatus"], entry["toStatus"]) == ("SCHEDULED", "SCHEDULED")
    assert await models.Appointment.all().count() == 1
    assert (await book(client, other_patient, doctor.id, at(10)))["__typename"] == (
        "AppointmentPayload"
    )


async def test_the_doctor_reschedules_and_the_history_says_so(client, patient, doctor):
    # given
    await make_schedule(doctor.user)
    booked = (await book(client, patient, doctor.id, at(10)))["appointment"]
    before = now()
    # when: to the adjacent slot
    result = await reschedule(client, doctor, booked["id"], at(10, 30))
    # then
    after = now()
    assert result["__typename"] == "AppointmentPayload"
    assert result["appointment"]["id"] == booked["id"]
    assert parsed(result["appointment"]["startsAt"]) == at(10, 30)
    entry = result["appointment"]["history"][-1]
    assert_recorded(entry, "RESCHEDULED", doctor, before, after)
    assert parsed(entry["previousStartsAt"]) == at(10)


async def test_rescheduling_follows_the_booking_rules_and_changes_nothing_when_refused(
    client, patient, other_patient, doctor, other_doctor
):
    # given: Mondays 09:00-12:00; 11:00 taken by someone else; the patient busy at 09:00
    await make_schedule(doctor.user, hours=((0, 9 * 60, 12 * 60),))
    appointment = await make_appointment(patient.user, doctor.user, starts_at=at(10))
    await make_appointment(other_patient.user, doctor.user, starts_at=at(11))
    await make_appointment(patient.user, other_doctor.user, starts_at=at(9))
    await models.TimeOff.create(doctor=doctor.user, starts_at=at(11, 30), ends_at=at(12))
    kept = await state_of(appointment)
    last_week = DAY - timedelta(weeks=52)
    # when
    results = {
        "doctor busy": await reschedule(client, patient, appointment.id, at(11)),
        "patient busy": await reschedule(client, patient, appointment.id, at(9)),
        "time off": await reschedule(client, patient, appointment.id, at(11, 30)),
        "outside hours": await reschedule(client, patient, appointment.id, at(13)),
        "not a slot start": await reschedule(client, patient, appointment.id, at(10, 45)),
        "in the past": await reschedule(client, patient, appointment.id, at(10, day=last_week)),
    }
    # then
    assert {why: result["__typename"] for why, result in results.items()} == {
        why: "SlotUnavailable" for why in results
    }
    assert await state_of(appointment) == kept


async def test_only_the_assigned_doctor_completes_or_marks_a_no_show(
    client, patient, doctor, other_doctor
):
    # given
    appointment = await make_appointment(patient.user, doctor.user, starts_at=started_an_hour_ago())
    kept = await state_of(appointment)
    variables = {"id": str(appointment.id)}
    # when
    patient_completes = await client.error_codes(COMPLETE_APPOINTMENT, variables, as_=patient)
    patient_no_show = await client.error_codes(MARK_APPOINTMENT_NO_SHOW, variables, as_=patient)
    other_completes = await complete(client, other_doctor, appointment.id)
    other_no_show = await mark_no_show(client, other_doctor, appointment.id)
    # then
    assert patient_completes == ["FORBIDDEN"]
    assert patient_no_show == ["FORBIDDEN"]
    assert other_completes["__typename"] == other_no_show["__typename"] == "NotFound"
    assert await state_of(appointment) == kept


# ---- refused status changes ------------------------------------------------------------------


async def test_unknown_appointment_ids_are_not_found(client, patient, doctor):
    # given
    await make_schedule(doctor.user)
    # when
    results = [
        await cancel(client, patient, UNKNOWN_ID, "No longer needed"),
        await cancel(client, patient, "not-an-id", "No longer needed"),
        await reschedule(client, patient, UNKNOWN_ID, at(10)),
        await complete(client, doctor, UNKNOWN_ID),
        await mark_no_show(client, doctor, UNKNOWN_ID),
    ]
    # then
    assert [result["__typename"] for result in results] == ["NotFound"] * 5
    assert await written() == (0, 0)


async def test_another_patients_appointment_gets_the_same_answer_as_an_unknown_one(
    client, patient, other_patient, doctor
):
    # given
    await make_schedule(doctor.user)
    appointment = await make_appointment(patient.user, doctor.user, starts_at=at(10))
    kept = await state_of(appointment)
    # when
    unknown = await cancel(client, other_patient, UNKNOWN_ID, "Spite")
    someone_elses = await cancel(client, other_patient, appointment.id, "Spite")
    moved = await reschedule(client, other_patient, appointment.id, at(11))
    # then
    assert someone_elses == unknown
    assert someone_elses["__typename"] == moved["__typename"] == "NotFound"
    assert await state_of(appointment) == kept


async def test_another_doctor_cannot_cancel_or_reschedule_an_appointment_not_theirs(
    client, patient, doctor, other_doctor
):
    # given
    await make_schedule(doctor.user)
    appointment = await make_appointment(patient.user, doctor.user, starts_at=at(10))
    kept = await state_of(appointment)
    # when
    cancelled = await cancel(client, other_doctor, appointment.id, "Not mine")
    moved = await reschedule(client, other_doctor, appointment.id, at(11))
    # then
    assert cancelled["__typename"] == moved["__typename"] == "NotFound"
    assert await state_of(appointment) == kept


async def test_cancelling_without_a_reason_is_refused_naming_the_field(client, patient, doctor):
    # given
    appointment = await make_appointment(patient.user, doctor.user, starts_at=at(10))
    kept = await state_of(appointment)
    # when
    results = [await cancel(client, patient, appointment.id, reason) for reason in ("", "   ")]
    # then
    assert [result["__typename"] for result in results] == ["ValidationFailed"] * 2
    assert [[error["field"] for error in r["fieldErrors"]] for r in results] == [["reason"]] * 2
    assert await state_of(appointment) == kept


async def test_a_cancellation_reason_longer_than_1000_characters_is_refused(
    client, patient, doctor
):
    # given
    appointment = await make_appointment(patient.user, doctor.user, starts_at=at(10))
    kept = await state_of(appointment)
    # when
    result = await cancel(client, patient, appointment.id, "x" * 1001)
    # then
    assert result["__typename"] == "ValidationFailed"
    assert [error["field"] for error in result["fieldErrors"]] == ["reason"]
    assert await state_of(appointment) == kept


async def test_a_cancelled_appointment_cannot_be_completed_or_rescheduled(client, patient, doctor):
    # given
    await make_schedule(doctor.user)
    appointment = await make_appointment(
        patient.user,
        doctor.user,
        starts_at=started_an_hour_ago(),
        status=Status.CANCELLED,
        cancellation_reason="Ill",
    )
    kept = await state_of(appointment)
    # when
    completed = await complete(client, doctor, appointment.id)
    moved = await reschedule(client, patient, appointment.id, at(10))
    # then
    for result in (completed, moved):
        assert result["__typename"] == "InvalidStatusTransition"
        assert result["code"] == "INVALID_STATUS_TRANSITION"
        assert result["currentStatus"] == "CANCELLED"
    assert await state_of(appointment) == kept


async def test_a_completed_appointment_cannot_be_cancelled(client, patient, doctor):
    # given
    appointment = await make_appointment(
        patient.user, doctor.user, starts_at=started_an_hour_ago(), status=Status.COMPLETED
    )
    kept = await state_of(appointment)
    # when
    result = await cancel(client, patient, appointment.id, "Changed my mind")
    # then
    assert result["__typename"] == "InvalidStatusTransition"
    assert result["currentStatus"] == "COMPLETED"
    assert await state_of(appointment) == kept


async def test_an_appointment_cannot_be_completed_or_marked_a_no_show_before_it_starts(
    client, patient, doctor
):
    # given
    appointment = await make_appointment(patient.user, doctor.user, starts_at=at(10))
    kept = await state_of(appointment)
    # when
    completed = await complete(client, doctor, appointment.id)
    no_show = await mark_no_show(client, doctor, appointment.id)
    # then
    for result in (completed, no_show):
        assert result["__typename"] == "InvalidStatusTransition"
        assert result["currentStatus"] == "SCHEDULED"
    assert await state_of(appointment) == kept


# ---- who sees what ---------------------------------------------------------------------------


async def test_patients_doctors_and_admins_each_see_only_their_appointments(
    client, patient, other_patient, doctor, other_doctor, admin
):
    # given
    mine = await make_appointment(patient.user, doctor.user, starts_at=at(9))
    same_doctor = await make_appointment(other_patient.user, doctor.user, starts_at=at(10))
    elsewhere = await make_appointment(other_patient.user, other_doctor.user, starts_at=at(11))
    everything = [str(a.id) for a in (mine, same_doctor, elsewhere)]
    # when
    seen = {
        name: listed_ids(await list_appointments(client, persona))
        for name, persona in (
            ("patient", patient),
            ("other patient", other_patient),
            ("doctor", doctor),
            ("other doctor", other_doctor),
            ("admin", admin),
        )
    }
    # then
    assert seen == {
        "patient": [str(mine.id)],
        "other patient": [str(same_doctor.id), str(elsewhere.id)],
        "doctor": [str(mine.id), str(same_doctor.id)],
        "other doctor": [str(elsewhere.id)],
        "admin": everything,
    }


async def test_looking_up_an_appointment_one_may_not_see_gives_null(
    client, patient, other_patient, doctor, other_doctor, admin
):
    # given
    appointment = await make_appointment(patient.user, doctor.user, starts_at=at(10))
    variables = {"id": str(appointment.id)}
    # when
    found = {
        name: (await client.execute(APPOINTMENT, variables, as_=persona))["appointment"]
        for name, persona in (
            ("patient", patient),
            ("other patient", other_patient),
            ("doctor", doctor),
            ("other doctor", other_doctor),
            ("admin", admin),
        )
    }
    unknown = await client.execute(APPOINTMENT, {"id": UNKNOWN_ID}, as_=admin)
    anonymous = await client.error_codes(APPOINTMENT, variables)
    # then
    assert found["other patient"] is None
    assert found["other doctor"] is None
    assert {found[name]["id"] for name in ("patient", "doctor", "admin")} == {str(appointment.id)}
    assert unknown == {"appointment": None}
    assert anonymous == ["UNAUTHENTICATED"]


async def test_the_reason_is_for_the_patient_and_the_doctor_not_for_admins(
    client, patient, doctor, admin
):
    # given
    appointment = await make_appointment(
        patient.user, doctor.user, starts_at=at(10), reason="Rash on my arm"
    )
    variables = {"id": str(appointment.id)}
    # when
    reasons = {
        name: (await client.execute(APPOINTMENT, variables, as_=persona))["appointment"]["reason"]
        for name, persona in (("patient", patient), ("doctor", doctor), ("admin", admin))
    }
    listed = await list_appointments(client, admin)
    # then
    assert reasons == {"patient": "Rash on my arm", "doctor": "Rash on my arm", "admin": None}
    assert [edge["node"]["reason"] for edge in listed["edges"]] == [None]


async def test_an_appointment_names_its_patient_and_doctor_to_both_of_them(client, patient, doctor):
    # given
    appointment = await make_appointment(patient.user, doctor.user, starts_at=at(10))
    variables = {"id": str(appointment.id)}
    # when
    as_patient = (await client.execute(APPOINTMENT, variables, as_=patient))["appointment"]
    as_doctor = (await client.execute(APPOINTMENT, variables, as_=doctor))["appointment"]
    # then
    for seen in (as_patient, as_doctor):
        assert seen["patient"] == {"id": patient.id, "fullName": patient.user.full_name}
        assert seen["doctor"] == {"id": doctor.id, "fullName": doctor.user.full_name}


async def test_anonymous_callers_cannot_list_appointments(client):
    assert await client.error_codes(APPOINTMENTS, {"first": 10}) == ["UNAUTHENTICATED"]


async def test_the_appointment_list_pages_by_start_time_without_gaps_or_repeats(
    client, admin, doctor, other_doctor
):
    # given: created out of order, two of them at the same time (with different doctors)
    times = [(at(9 + hour), doctor.user) for hour in range(6)] + [(at(12), other_doctor.user)]
    random.shuffle(times)
    for starts_at, who in times:
        await make_appointment(await make_patient(), who, starts_at=starts_at)
    # when
    seen: list[dict[str, Any]] = []
    after = None
    pages = 0
    while True:
        page = await list_appointments(client, admin, first=3, after=after)
        seen += [edge["node"] for edge in page["edges"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # then
    assert pages == 3
    assert len(seen) == len({node["id"] for node in seen}) == 7
    assert [parsed(node["startsAt"]) for node in seen] == sorted(t for t, _ in times)


async def test_a_page_larger_than_100_is_refused(client, admin):
    errors = await client.errors(APPOINTMENTS, {"first": 101}, as_=admin)
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "first" in errors[0]["message"]


async def test_the_list_filters_by_status_and_start_time(client, patient, doctor):
    # given
    nine = await make_appointment(patient.user, doctor.user, starts_at=at(9))
    ten = await make_appointment(
        patient.user, doctor.user, starts_at=at(10), status=Status.CANCELLED
    )
    eleven = await make_appointment(patient.user, doctor.user, starts_at=at(11))
    # when
    scheduled = await list_appointments(client, patient, status="SCHEDULED")
    cancelled = await list_appointments(client, patient, status="CANCELLED")
    window = await list_appointments(
        client, patient, startsFrom=at(10).isoformat(), startsBefore=at(11).isoformat()
    )
    from_ten = await list_appointments(client, patient, startsFrom=at(10).isoformat())
    before_eleven = await list_appointments(client, patient, startsBefore=at(11).isoformat())
    # then
    assert listed_ids(scheduled) == [str(nine.id), str(eleven.id)]
    assert listed_ids(cancelled) == [str(ten.id)]
    assert listed_ids(window) == [str(ten.id)]
    assert listed_ids(from_ten) == [str(ten.id), str(eleven.id)]
    assert listed_ids(before_eleven) == [str(nine.id), str(ten.id)]


# ---- concurrency, query counts and the database's own guard -----------------------------


async def test_fifty_patients_racing_for_one_slot_get_exactly_one_booking_ten_times_over(
    client, live_server, doctor
):
    # given
    await make_schedule(doctor.user)
    racers = [await sign_in(await make_patient(), live_server.settings) for _ in range(50)]
    for round_number in range(10):
        starts_at = at(8 + round_number)
        variables = {
            "input": {"doctorId": doctor.id, "startsAt": starts_at.isoformat(), "reason": "Race"}
        }
        # when
        responses = await asyncio.gather(
            *(client.post(BOOK_APPOINTMENT, variables, as_=racer) for racer in racers)
        )
        # then
        assert [r.status_code for r in responses] == [200] * 50, round_number
        bodies = [response.json() for response in responses]
        assert [body.get("errors") for body in bodies] == [None] * 50, round_number
        outcomes = [body["data"]["bookAppointment"] for body in bodies]
        assert Counter(o["__typename"] for o in outcomes) == {
            "AppointmentPayload": 1,
            "SlotUnavailable": 49,
        }, round_number
        [winner] = [o["appointment"] for o in outcomes if o["__typename"] == "AppointmentPayload"]
        rows = await models.Appointment.filter(doctor_id=doctor.user.id, starts_at=starts_at)
        assert [str(row.id) for row in rows] == [winner["id"]], round_number


async def test_listing_appointments_costs_the_same_number_of_queries_for_5_as_for_50(
    client, admin, caplog
):
    # given: 50 appointments, each with its own patient and a BOOKED entry, among 5 doctors
    doctors = [await make_doctor() for _ in range(5)]
    for index in range(50):
        booked_by = await make_patient()
        appointment = await make_appointment(
            booked_by, doctors[index % 5], starts_at=at(0) + timedelta(minutes=30 * index)
        )
        await models.AppointmentChange.create(
            appointment=appointment,
            actor=booked_by,
            kind=models.AppointmentChangeKind.BOOKED,
            to_status=Status.SCHEDULED,
        )
    # when: tortoise.db_client logs one DEBUG record per statement it sends
    statements = {}
    for first in (5, 50):
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
            data = await client.execute(
                APPOINTMENTS_WITH_PEOPLE_AND_HISTORY, {"first": first}, as_=admin
            )
        statements[first] = request_statements(caplog.records)
        edges = data["appointments"]["edges"]
        assert len(edges) == first
        assert all(len(edge["node"]["history"]) == 1 for edge in edges)
    # then
    assert any('"appointments"' in statement for statement in statements[5])
    assert len(statements[5]) == len(statements[50]), statements


async def test_postgresql_itself_forbids_overlapping_appointments(live_server):
    # given
    if not live_server.settings.database_url.startswith("postgres"):
        pytest.skip("exclusion constraints are PostgreSQL only; SQLite serialises bookings")
    # when
    rows = await connections.get("default").execute_query_dict(
        """
        SELECT c.conname, pg_get_constraintdef(c.oid) AS definition
        FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
        WHERE t.relname = 'appointments' AND c.contype = 'x'
        ORDER BY c.conname
        """
    )
    # then
    assert len(rows) == 2, rows
    definitions = [row["definition"] for row in rows]
    assert sum("doctor_id" in d for d in definitions) == 1
    assert sum("patient_id" in d for d in definitions) == 1
    assert all("tstzrange" in d and "&&" in d and "CANCELLED" in d for d in definitions)


HISTORY = """
query History($id: ID!) {
  appointment(id: $id) { history { kind actorRole actor { id fullName } } }
}
"""


async def test_a_change_made_by_clinic_staff_shows_its_role_not_the_person_to_others(
    client, patient, doctor, admin
):
    # given: an administrator cancels the patient's appointment
    appointment = await make_appointment(patient.user, doctor.user, starts_at=at(9))
    await cancel(client, admin, appointment.id, "The clinic is closed that day")
    # when
    seen_by = [
        (await client.execute(HISTORY, {"id": str(appointment.id)}, as_=persona))["appointment"][
            "history"
        ]
        for persona in (patient, doctor, admin)
    ]
    # then
    for history in seen_by[:2]:
        assert history == [{"kind": "CANCELLED", "actorRole": "ADMIN", "actor": None}]
    assert seen_by[2] == [
        {
            "kind": "CANCELLED",
            "actorRole": "ADMIN",
            "actor": {"id": admin.id, "fullName": admin.user.full_name},
        }
    ]


def forged_cursor(moment: str) -> str:
    key = json.dumps([moment, str(uuid.uuid4())])
    return base64.urlsafe_b64encode(key.encode()).decode()


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-01-01T00:00:00"]
)
async def test_a_forged_cursor_with_an_impossible_time_is_bad_input(client, doctor, moment):
    # when
    codes = await client.error_codes(
        APPOINTMENTS, {"first": 5, "after": forged_cursor(moment)}, as_=doctor
    )
    # then
    assert codes == ["BAD_USER_INPUT"]


NOT_CURSORS = {
    # json.loads recurses once per bracket: this ran out of stack (an internal error)
    "deeply nested": base64.urlsafe_b64encode(b"[" * 20_000).decode(),
    "far too long": base64.urlsafe_b64encode(json.dumps(["x" * 5000, "y"]).encode()).decode(),
    "not a list": base64.urlsafe_b64encode(b'{"a": 1}').decode(),
    "not UTF-8": base64.urlsafe_b64encode(b"\xff\xfe[").decode(),
}


@pytest.mark.parametrize("cursor", NOT_CURSORS.values(), ids=NOT_CURSORS)
async def test_what_is_not_a_cursor_is_bad_input_naming_after(client, doctor, cursor):
    # when
    errors = await client.errors(APPOINTMENTS, {"first": 5, "after": cursor}, as_=doctor)
    # then
    assert [(e["extensions"]["code"], e["extensions"]["argument"]) for e in errors] == [
        ("BAD_USER_INPUT", "after")
    ]
