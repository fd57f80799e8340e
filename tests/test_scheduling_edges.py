"""Edges found in review: what a doctor may learn, documented visits, far-off dates,
odd text, and slots after a daylight-saving gap."""

import base64
import json
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from healthcare import models
from healthcare.resolvers.availability import HoursBlock, slots_on
from tests.conftest import make_appointment, make_doctor, make_patient, make_schedule

RESCHEDULE = """
mutation Reschedule($id: ID!, $startsAt: DateTime!) {
  rescheduleAppointment(id: $id, startsAt: $startsAt) {
    __typename ... on Error { code message }
  }
}
"""
CANCEL = """
mutation Cancel($id: ID!, $reason: String!) {
  cancelAppointment(id: $id, reason: $reason) {
    __typename ... on Error { code message }
  }
}
"""
BOOK = """
mutation Book($input: BookAppointmentInput!) {
  bookAppointment(input: $input) {
    __typename ... on Error { code message } ... on ValidationFailed { fieldErrors { field } }
  }
}
"""
SLOTS = """
query Slots($doctorId: ID!, $fromDate: Date!, $toDate: Date!) {
  availableSlots(doctorId: $doctorId, fromDate: $fromDate, toDate: $toDate) { startsAt }
}
"""
SET_SCHEDULE = """
mutation SetSchedule($input: SetDoctorScheduleInput!) {
  setDoctorSchedule(input: $input) {
    __typename ... on ValidationFailed { fieldErrors { field } }
  }
}
"""
ADD_TIME_OFF = """
mutation AddTimeOff($input: AddTimeOffInput!) {
  addTimeOff(input: $input) { __typename ... on ValidationFailed { fieldErrors { field } } }
}
"""
APPOINTMENTS = """
query Appointments($after: String) { appointments(first: 5, after: $after) { nodes { id } } }
"""


def at(days: int, hour: int) -> datetime:
    day = datetime.now(UTC).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


async def test_a_doctor_moving_a_visit_does_not_learn_of_the_patients_other_visits(
    client, patient, doctor
):
    # given: the patient sees a psychiatrist at 10:00
    psychiatrist = await make_doctor(specialty="Psychiatry")
    await make_appointment(patient.user, psychiatrist, at(2, 10))
    await make_schedule(doctor.user)
    mine = await make_appointment(patient.user, doctor.user, at(2, 14))
    # when: the doctor tries to move their visit onto that time
    result = (
        await client.execute(
            RESCHEDULE, {"id": str(mine.id), "startsAt": at(2, 10).isoformat()}, as_=doctor
        )
    )["rescheduleAppointment"]
    # then
    assert result["code"] == "SLOT_UNAVAILABLE"
    assert result["message"] == "That time is not available."


@pytest.mark.parametrize("in_the_way", ["the patient's visit", "the doctor's visit", "time off"])
async def test_a_doctor_moving_a_visit_gets_one_answer_whichever_calendar_is_busy(
    client, patient, doctor, in_the_way
):
    # given: something at 10:00 in one calendar or the other
    await make_schedule(doctor.user)
    if in_the_way == "the patient's visit":
        await make_appointment(patient.user, await make_doctor(), at(2, 10))
    elif in_the_way == "the doctor's visit":
        await make_appointment(await make_patient(), doctor.user, at(2, 10))
    else:
        await models.TimeOff.create(
            doctor=doctor.user, starts_at=at(2, 10), ends_at=at(2, 11), reason="Away"
        )
    mine = await make_appointment(patient.user, doctor.user, at(2, 14))
    # when
    result = (
        await client.execute(
            RESCHEDULE, {"id": str(mine.id), "startsAt": at(2, 10).isoformat()}, as_=doctor
        )
    )["rescheduleAppointment"]
    # then: the same words, so the answer says nothing of the patient's calendar
    assert (result["code"], result["message"]) == (
        "SLOT_UNAVAILABLE",
        "That time is not available.",
    )


async def test_a_documented_visit_can_be_neither_cancelled_nor_moved(client, patient, doctor):
    # given
    await make_schedule(doctor.user)
    visit = await make_appointment(patient.user, doctor.user, at(1, 9))
    await models.Consultation.create(
        appointment=visit, doctor=doctor.user, patient=patient.user, treatment_plan="Rest"
    )
    # when
    cancelled = await client.execute(CANCEL, {"id": str(visit.id), "reason": "x"}, patient)
    moved = await client.execute(
        RESCHEDULE, {"id": str(visit.id), "startsAt": at(3, 9).isoformat()}, patient
    )
    # then
    assert cancelled["cancelAppointment"]["code"] == "INVALID_STATUS_TRANSITION"
    assert moved["rescheduleAppointment"]["code"] == "INVALID_STATUS_TRANSITION"
    stored = await models.Appointment.get(id=visit.id)
    assert (stored.status, stored.starts_at) == (models.AppointmentStatus.SCHEDULED, at(1, 9))


async def test_booking_more_than_a_year_ahead_is_refused(client, patient, doctor):
    await make_schedule(doctor.user)
    variables = {
        "input": {"doctorId": doctor.id, "startsAt": at(400, 9).isoformat(), "reason": "Far"}
    }
    result = (await client.execute(BOOK, variables, as_=patient))["bookAppointment"]
    assert result["code"] == "SLOT_UNAVAILABLE"
    assert not await models.Appointment.exists()


async def test_slots_for_absurd_dates_are_a_bad_argument_not_a_crash(client, patient, doctor):
    await make_schedule(doctor.user)
    variables = {"doctorId": doctor.id, "fromDate": "9999-12-30", "toDate": "9999-12-31"}
    errors = await client.errors(SLOTS, variables, as_=patient)
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_time_off_in_year_one_is_refused_naming_the_field(client, doctor):
    variables = {
        "input": {"startsAt": "0001-01-01T00:00:00+05:00", "endsAt": "2027-01-01T00:00:00Z"}
    }
    result = (await client.execute(ADD_TIME_OFF, variables, as_=doctor))["addTimeOff"]
    assert result["fieldErrors"] == [{"field": "startsAt"}]


async def test_hours_in_unicode_digits_are_refused(client, doctor):
    variables = {
        "input": {
            "timeZone": "UTC",
            "slotMinutes": 30,
            "hours": [{"weekday": 0, "start": "²:00", "end": "10:00"}],
        }
    }
    result = (await client.execute(SET_SCHEDULE, variables, as_=doctor))["setDoctorSchedule"]
    assert result["fieldErrors"] == [{"field": "hours[0].start"}]


async def test_text_that_is_not_valid_unicode_is_refused(client, patient, doctor):
    await make_schedule(doctor.user)
    variables = {
        "input": {"doctorId": doctor.id, "startsAt": at(1, 9).isoformat(), "reason": "a\ud800b"}
    }
    # sent as JSON with an escaped lone surrogate, which any client can send
    response = await client.http.post(
        "/graphql",
        content=json.dumps({"query": BOOK, "variables": variables}),
        headers={
            "content-type": "application/json",
            "authorization": f"Bearer {patient.access_token}",
        },
    )
    result = response.json()["data"]["bookAppointment"]
    assert result["fieldErrors"] == [{"field": "reason"}]


async def test_a_cursor_with_a_number_for_an_id_is_a_bad_argument(client, patient):
    forged = base64.urlsafe_b64encode(json.dumps(["2027-01-01T00:00:00", 5]).encode()).decode()
    errors = await client.errors(APPOINTMENTS, {"after": forged}, as_=patient)
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_slots_after_a_spring_forward_gap_never_overlap():
    # given: London, 45-minute slots from midnight, on the night the clocks go forward
    day = date(2030, 3, 31)
    hours = [HoursBlock(day.weekday(), 0, 4 * 60)]
    # when
    slots = slots_on(day, hours, 45, ZoneInfo("Europe/London"))
    # then
    assert slots
    for earlier, later in pairwise(slots):
        assert later.starts_at >= earlier.ends_at
