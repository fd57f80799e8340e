"""Doctors' weekly hours and time off, and the free slots that follow from them."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from healthcare import models
from tests.conftest import make_appointment, make_schedule

SET_DOCTOR_SCHEDULE = """
mutation SetDoctorSchedule($input: SetDoctorScheduleInput!) {
  setDoctorSchedule(input: $input) {
    __typename
    ... on SchedulePayload { schedule { timeZone slotMinutes hours { weekday start end } } }
    ... on Error { code message }
    ... on ValidationFailed { fieldErrors { field message } }
  }
}
"""
DOCTOR_SCHEDULE = """
query DoctorSchedule($doctorId: ID!) {
  doctorSchedule(doctorId: $doctorId) { timeZone slotMinutes hours { weekday start end } }
}
"""
AVAILABLE_SLOTS = """
query AvailableSlots($doctorId: ID!, $fromDate: Date!, $toDate: Date!) {
  availableSlots(doctorId: $doctorId, fromDate: $fromDate, toDate: $toDate) {
    startsAt endsAt localStartsAt
  }
}
"""
ADD_TIME_OFF = """
mutation AddTimeOff($input: AddTimeOffInput!) {
  addTimeOff(input: $input) {
    __typename
    ... on TimeOffPayload { timeOff { id startsAt endsAt reason } }
    ... on Error { code message }
    ... on ValidationFailed { fieldErrors { field message } }
  }
}
"""
REMOVE_TIME_OFF = "mutation RemoveTimeOff($id: ID!) { removeTimeOff(id: $id) }"
TIME_OFF = """
query TimeOff($doctorId: ID) { timeOff(doctorId: $doctorId) { id startsAt endsAt reason } }
"""

MONDAY, SUNDAY = 0, 6
WORKING_DAY = {"weekday": MONDAY, "start": "09:00", "end": "11:00"}


# ---- helpers ---------------------------------------------------------------------------------


def future_weekday(weekday: int, weeks_ahead: int = 8) -> date:
    """A date with that weekday (0 = Monday) some weeks ahead: in the future in every zone."""
    start = datetime.now(UTC).date() + timedelta(weeks=weeks_ahead)
    return start + timedelta(days=(weekday - start.weekday()) % 7)


def next_offset_change(zone: str, forward: bool) -> date:
    """The next local date on which `zone` moves its clocks forward (or back)."""
    tz = ZoneInfo(zone)

    def offset(day: date) -> timedelta:
        return datetime.combine(day, time(12), tz).utcoffset() or timedelta()

    day = datetime.now(UTC).date() + timedelta(days=2)
    while True:
        change = offset(day) - offset(day - timedelta(days=1))
        if (change > timedelta()) if forward else (change < timedelta()):
            return day
        day += timedelta(days=1)


def utc(hour_day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(hour_day, time(hour, minute), UTC)


def parsed(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    assert moment.tzinfo is not None, f"{value} has no UTC offset"
    return moment


async def set_schedule(
    client: Any,
    as_: Any,
    hours: list[dict[str, Any]],
    time_zone: str = "UTC",
    slot_minutes: int = 30,
    doctor_id: str | None = None,
) -> dict[str, Any]:
    schedule_input = {"timeZone": time_zone, "slotMinutes": slot_minutes, "hours": hours}
    if doctor_id is not None:
        schedule_input["doctorId"] = doctor_id
    data = await client.execute(SET_DOCTOR_SCHEDULE, {"input": schedule_input}, as_=as_)
    return data["setDoctorSchedule"]


async def free_slots(
    client: Any, as_: Any, doctor_id: str, first: date, last: date | None = None
) -> list[dict[str, Any]]:
    variables = {
        "doctorId": doctor_id,
        "fromDate": first.isoformat(),
        "toDate": (last or first).isoformat(),
    }
    return (await client.execute(AVAILABLE_SLOTS, variables, as_=as_))["availableSlots"]


def starts(slots: list[dict[str, Any]]) -> list[datetime]:
    return [parsed(slot["startsAt"]) for slot in slots]


async def stored_schedule(doctor: models.User) -> tuple[Any, ...] | None:
    """What the database holds for the doctor's schedule, to check nothing was written."""
    schedule = await models.DoctorSchedule.filter(doctor_id=doctor.id).first()
    if schedule is None:
        return None
    hours = await models.WorkingHours.filter(schedule_id=schedule.id).order_by(
        "weekday", "start_minute"
    )
    return (
        schedule.time_zone,
        schedule.slot_minutes,
        [(h.weekday, h.start_minute, h.end_minute) for h in hours],
    )


def field_names(result: dict[str, Any]) -> list[str]:
    return [error["field"] for error in result["fieldErrors"]]


# ---- weekly hours and slots --------------------------------------------------------------


async def test_a_doctor_sets_weekly_hours_and_patients_see_those_slots_on_that_weekday(
    client, doctor, patient
):
    # given
    monday = future_weekday(MONDAY)
    # when
    result = await set_schedule(client, doctor, [WORKING_DAY])
    slots = await free_slots(client, patient, doctor.id, monday, monday + timedelta(days=6))
    # then
    assert result["__typename"] == "SchedulePayload"
    assert result["schedule"] == {
        "timeZone": "UTC",
        "slotMinutes": 30,
        "hours": [{"weekday": 0, "start": "09:00", "end": "11:00"}],
    }
    assert starts(slots) == [
        utc(monday, 9),
        utc(monday, 9, 30),
        utc(monday, 10),
        utc(monday, 10, 30),
    ]
    assert [parsed(s["endsAt"]) - parsed(s["startsAt"]) for s in slots] == [
        timedelta(minutes=30)
    ] * 4


async def test_an_admin_sets_a_doctors_hours_through_doctor_id(client, admin, doctor, patient):
    # given
    sunday = future_weekday(SUNDAY)
    hours = [{"weekday": SUNDAY, "start": "14:00", "end": "15:00"}]
    # when
    result = await set_schedule(client, admin, hours, slot_minutes=20, doctor_id=doctor.id)
    schedule = (await client.execute(DOCTOR_SCHEDULE, {"doctorId": doctor.id}, as_=patient))[
        "doctorSchedule"
    ]
    slots = await free_slots(client, patient, doctor.id, sunday)
    # then
    assert result["__typename"] == "SchedulePayload"
    assert schedule == {"timeZone": "UTC", "slotMinutes": 20, "hours": hours}
    assert starts(slots) == [utc(sunday, 14), utc(sunday, 14, 20), utc(sunday, 14, 40)]
    assert await stored_schedule(admin.user) is None


async def test_setting_hours_again_replaces_the_previous_ones(client, doctor, patient):
    # given
    monday = future_weekday(MONDAY)
    await set_schedule(client, doctor, [WORKING_DAY])
    # when
    await set_schedule(
        client, doctor, [{"weekday": MONDAY, "start": "16:00", "end": "17:00"}], slot_minutes=60
    )
    # then
    assert starts(await free_slots(client, patient, doctor.id, monday)) == [utc(monday, 16)]
    assert await stored_schedule(doctor.user) == ("UTC", 60, [(0, 16 * 60, 17 * 60)])


async def test_only_doctors_and_admins_set_hours_and_a_doctor_only_their_own(
    client, patient, doctor, other_doctor
):
    # given
    schedule_input = {"timeZone": "UTC", "slotMinutes": 30, "hours": [WORKING_DAY]}
    # when
    as_patient = await client.error_codes(SET_DOCTOR_SCHEDULE, {"input": schedule_input}, patient)
    anonymous = await client.error_codes(SET_DOCTOR_SCHEDULE, {"input": schedule_input})
    for_another_doctor = await set_schedule(
        client, doctor, [WORKING_DAY], doctor_id=other_doctor.id
    )
    # then
    assert as_patient == ["FORBIDDEN"]
    assert anonymous == ["UNAUTHENTICATED"]
    assert for_another_doctor["__typename"] == "ValidationFailed"
    assert field_names(for_another_doctor) == ["doctorId"]
    assert await stored_schedule(other_doctor.user) is None
    assert await stored_schedule(doctor.user) is None


async def test_slots_follow_the_doctors_local_dates_and_carry_their_offset(client, doctor, patient):
    # given: 20:00 on a Monday in Los Angeles is already Tuesday in UTC
    tz = ZoneInfo("America/Los_Angeles")
    monday = future_weekday(MONDAY)
    await set_schedule(
        client,
        doctor,
        [{"weekday": MONDAY, "start": "20:00", "end": "21:00"}],
        time_zone="America/Los_Angeles",
    )
    # when
    slots = await free_slots(client, patient, doctor.id, monday)
    # then
    expected_local = [
        datetime.combine(monday, time(20), tz),
        datetime.combine(monday, time(20, 30), tz),
    ]
    assert starts(slots) == [moment.astimezone(UTC) for moment in expected_local]
    assert all(moment.date() == monday + timedelta(days=1) for moment in starts(slots))
    assert all(parsed(s["startsAt"]).utcoffset() == timedelta() for s in slots)
    local = [parsed(s["localStartsAt"]) for s in slots]
    assert [(moment.date(), moment.time()) for moment in local] == [
        (monday, time(20)),
        (monday, time(20, 30)),
    ]
    assert [moment.utcoffset() for moment in local] == [m.utcoffset() for m in expected_local]


async def test_a_london_doctors_nine_oclock_moves_an_hour_earlier_in_utc_when_bst_starts(
    client, doctor, patient
):
    # given: Sunday 09:00-10:00 in London; BST starts at 01:00 UTC on `spring` (2027-03-28)
    spring = next_offset_change("Europe/London", forward=True)
    week_before = spring - timedelta(days=7)
    await make_schedule(doctor.user, "Europe/London", 30, ((SUNDAY, 9 * 60, 10 * 60),))
    # when
    on_the_day = await free_slots(client, patient, doctor.id, spring)
    before = await free_slots(client, patient, doctor.id, week_before)
    # then
    assert spring.weekday() == SUNDAY
    assert starts(on_the_day) == [utc(spring, 8), utc(spring, 8, 30)]
    assert starts(before) == [utc(week_before, 9), utc(week_before, 9, 30)]
    assert [s["localStartsAt"] for s in on_the_day] == [
        f"{spring}T09:00:00+01:00",
        f"{spring}T09:30:00+01:00",
    ]
    assert [parsed(s["localStartsAt"]).utcoffset() for s in before] == [timedelta()] * 2


async def test_a_london_doctors_nine_oclock_is_back_at_nine_utc_when_bst_ends(
    client, doctor, patient
):
    # given: BST ends on `autumn` (2027-10-31: the 2026-10-25 change is already past)
    autumn = next_offset_change("Europe/London", forward=False)
    week_before = autumn - timedelta(days=7)
    await make_schedule(doctor.user, "Europe/London", 30, ((SUNDAY, 9 * 60, 10 * 60),))
    # when
    on_the_day = await free_slots(client, patient, doctor.id, autumn)
    before = await free_slots(client, patient, doctor.id, week_before)
    # then
    assert autumn.weekday() == SUNDAY
    assert starts(on_the_day) == [utc(autumn, 9), utc(autumn, 9, 30)]
    assert starts(before) == [utc(week_before, 8), utc(week_before, 8, 30)]
    assert [s["localStartsAt"] for s in on_the_day] == [
        f"{autumn}T09:00:00+00:00",
        f"{autumn}T09:30:00+00:00",
    ]


async def test_a_new_york_doctors_nine_oclock_follows_american_daylight_saving(
    client, doctor, patient
):
    # given: Sunday 09:00-10:00 in New York; EDT starts in March, ends in November
    spring = next_offset_change("America/New_York", forward=True)
    autumn = next_offset_change("America/New_York", forward=False)
    await make_schedule(doctor.user, "America/New_York", 30, ((SUNDAY, 9 * 60, 10 * 60),))
    # when
    found = {
        day: await free_slots(client, patient, doctor.id, day)
        for day in (spring - timedelta(days=7), spring, autumn - timedelta(days=7), autumn)
    }
    # then
    assert {day.weekday() for day in found} == {SUNDAY}
    assert starts(found[spring - timedelta(days=7)])[0] == utc(spring - timedelta(days=7), 14)
    assert starts(found[spring])[0] == utc(spring, 13)
    assert starts(found[autumn - timedelta(days=7)])[0] == utc(autumn - timedelta(days=7), 13)
    assert starts(found[autumn])[0] == utc(autumn, 14)
    assert found[spring][0]["localStartsAt"] == f"{spring}T09:00:00-04:00"
    assert found[autumn][0]["localStartsAt"] == f"{autumn}T09:00:00-05:00"


async def test_no_slot_is_offered_in_the_hour_skipped_when_clocks_go_forward(
    client, doctor, patient
):
    # given: 01:00-03:00 in London; on `spring` the clocks jump from 01:00 to 02:00
    spring = next_offset_change("Europe/London", forward=True)
    await make_schedule(doctor.user, "Europe/London", 30, ((SUNDAY, 1 * 60, 3 * 60),))
    # when
    slots = await free_slots(client, patient, doctor.id, spring)
    # then: 02:00 and 02:30 BST are 01:00Z and 01:30Z; 01:00 and 01:30 local never happen
    assert [s["localStartsAt"] for s in slots] == [
        f"{spring}T02:00:00+01:00",
        f"{spring}T02:30:00+01:00",
    ]
    assert starts(slots) == [utc(spring, 1), utc(spring, 1, 30)]
    assert [parsed(s["endsAt"]) for s in slots] == [utc(spring, 1, 30), utc(spring, 2)]


async def test_a_range_of_31_days_is_served_and_a_longer_one_is_refused(client, doctor, patient):
    # given
    await make_schedule(doctor.user, hours=((MONDAY, 9 * 60, 10 * 60),))
    first = future_weekday(MONDAY)
    variables = {"doctorId": doctor.id, "fromDate": first.isoformat()}
    # when
    month = await client.execute(
        AVAILABLE_SLOTS, {**variables, "toDate": (first + timedelta(days=30)).isoformat()}, patient
    )
    too_long = await client.error_codes(
        AVAILABLE_SLOTS, {**variables, "toDate": (first + timedelta(days=31)).isoformat()}, patient
    )
    # then
    assert len(month["availableSlots"]) == 5 * 2  # five Mondays, two slots each
    assert too_long == ["BAD_USER_INPUT"]


async def test_booked_appointments_are_not_offered_but_cancelled_ones_are(
    client, doctor, other_doctor, patient, other_patient
):
    # given
    monday = future_weekday(MONDAY)
    await make_schedule(doctor.user, hours=((MONDAY, 9 * 60, 11 * 60),))
    await make_appointment(patient.user, doctor.user, starts_at=utc(monday, 9))
    await make_appointment(
        other_patient.user,
        doctor.user,
        starts_at=utc(monday, 10),
        status=models.AppointmentStatus.CANCELLED,
        cancellation_reason="Feeling better",
    )
    await make_appointment(other_patient.user, other_doctor.user, starts_at=utc(monday, 10, 30))
    # when
    slots = await free_slots(client, patient, doctor.id, monday)
    # then
    assert starts(slots) == [utc(monday, 9, 30), utc(monday, 10), utc(monday, 10, 30)]


async def test_time_off_hides_every_slot_it_touches_until_it_is_removed(client, doctor, patient):
    # given
    monday = future_weekday(MONDAY)
    await set_schedule(client, doctor, [WORKING_DAY])
    # when
    added = (
        await client.execute(
            ADD_TIME_OFF,
            {
                "input": {
                    "startsAt": utc(monday, 9, 15).isoformat(),
                    "endsAt": utc(monday, 9, 45).isoformat(),
                    "reason": "Training",
                }
            },
            as_=doctor,
        )
    )["addTimeOff"]
    during = await free_slots(client, patient, doctor.id, monday)
    listed = (await client.execute(TIME_OFF, {}, as_=doctor))["timeOff"]
    removed = await client.execute(REMOVE_TIME_OFF, {"id": added["timeOff"]["id"]}, as_=doctor)
    after = await free_slots(client, patient, doctor.id, monday)
    # then
    assert added["__typename"] == "TimeOffPayload"
    assert starts(during) == [utc(monday, 10), utc(monday, 10, 30)]
    assert [entry["id"] for entry in listed] == [added["timeOff"]["id"]]
    assert removed == {"removeTimeOff": True}
    assert len(after) == 4


async def test_an_admin_adds_time_off_for_a_doctor(client, admin, doctor, patient):
    # given
    monday = future_weekday(MONDAY)
    await make_schedule(doctor.user, hours=((MONDAY, 9 * 60, 11 * 60),))
    # when
    added = (
        await client.execute(
            ADD_TIME_OFF,
            {
                "input": {
                    "doctorId": doctor.id,
                    "startsAt": utc(monday, 0).isoformat(),
                    "endsAt": utc(monday + timedelta(days=1), 0).isoformat(),
                }
            },
            as_=admin,
        )
    )["addTimeOff"]
    # then
    assert added["__typename"] == "TimeOffPayload"
    assert await free_slots(client, patient, doctor.id, monday) == []
    assert await models.TimeOff.filter(doctor_id=doctor.user.id).count() == 1


async def test_slots_that_have_already_started_are_not_offered(client, doctor, patient):
    # given: round the clock, every 30 minutes
    await make_schedule(doctor.user)
    today = datetime.now(UTC).date()
    before = datetime.now(UTC)
    # when
    slots = await free_slots(
        client, patient, doctor.id, today - timedelta(days=1), today + timedelta(days=1)
    )
    # then
    after = datetime.now(UTC)
    first = min(starts(slots))
    assert first > before
    assert first <= after + timedelta(minutes=30)
    assert len(slots) == len(set(starts(slots)))


# ---- bad hours and time off ------------------------------------------------------------------


async def test_an_unknown_time_zone_is_refused_naming_the_field_and_nothing_is_written(
    client, doctor
):
    # when
    result = await set_schedule(client, doctor, [WORKING_DAY], time_zone="Mars/Olympus_Mons")
    # then
    assert result["__typename"] == "ValidationFailed"
    assert result["code"] == "VALIDATION_FAILED"
    assert field_names(result) == ["timeZone"]
    assert await stored_schedule(doctor.user) is None


async def test_hours_that_end_before_they_start_are_refused_and_the_old_hours_stay(client, doctor):
    # given
    await make_schedule(doctor.user, hours=((MONDAY, 9 * 60, 17 * 60),))
    kept = await stored_schedule(doctor.user)
    # when
    result = await set_schedule(
        client,
        doctor,
        [{"weekday": MONDAY, "start": "17:00", "end": "09:00"}],
        time_zone="Europe/Paris",
    )
    # then
    assert result["__typename"] == "ValidationFailed"
    assert len(field_names(result)) == 1
    assert field_names(result)[0].startswith("hours")
    assert await stored_schedule(doctor.user) == kept


async def test_a_slot_length_outside_10_to_120_minutes_is_refused_naming_the_field(
    client, doctor, other_doctor
):
    # given
    hours = [{"weekday": MONDAY, "start": "08:00", "end": "18:00"}]
    # when
    too_short = await set_schedule(client, doctor, hours, slot_minutes=9)
    too_long = await set_schedule(client, doctor, hours, slot_minutes=121)
    written_before_the_valid_ones = await stored_schedule(doctor.user)
    shortest = await set_schedule(client, doctor, hours, slot_minutes=10)
    longest = await set_schedule(client, other_doctor, hours, slot_minutes=120)
    # then
    assert too_short["__typename"] == too_long["__typename"] == "ValidationFailed"
    assert field_names(too_short) == field_names(too_long) == ["slotMinutes"]
    assert written_before_the_valid_ones is None
    assert shortest["__typename"] == longest["__typename"] == "SchedulePayload"


async def test_overlapping_blocks_on_one_day_are_refused_and_the_old_hours_stay(client, doctor):
    # given
    await make_schedule(doctor.user, hours=((MONDAY, 9 * 60, 12 * 60),))
    kept = await stored_schedule(doctor.user)
    hours = [
        {"weekday": MONDAY, "start": "09:00", "end": "12:00"},
        {"weekday": MONDAY, "start": "11:30", "end": "14:00"},
    ]
    # when
    result = await set_schedule(client, doctor, hours)
    # then
    assert result["__typename"] == "ValidationFailed"
    assert field_names(result) == ["hours"]
    assert await stored_schedule(doctor.user) == kept


async def test_the_same_block_on_different_days_is_not_an_overlap(client, doctor):
    result = await set_schedule(
        client,
        doctor,
        [
            {"weekday": MONDAY, "start": "09:00", "end": "12:00"},
            {"weekday": MONDAY + 1, "start": "09:00", "end": "12:00"},
            {"weekday": MONDAY, "start": "12:00", "end": "13:00"},
        ],
    )
    assert result["__typename"] == "SchedulePayload"
    assert len(result["schedule"]["hours"]) == 3


async def test_time_off_that_ends_before_it_starts_is_refused_and_nothing_is_written(
    client, doctor
):
    # given
    monday = future_weekday(MONDAY)
    # when
    result = (
        await client.execute(
            ADD_TIME_OFF,
            {
                "input": {
                    "startsAt": utc(monday, 12).isoformat(),
                    "endsAt": utc(monday, 9).isoformat(),
                }
            },
            as_=doctor,
        )
    )["addTimeOff"]
    # then
    assert result["__typename"] == "ValidationFailed"
    assert field_names(result) == ["endsAt"]
    assert not await models.TimeOff.filter(doctor_id=doctor.user.id).exists()
