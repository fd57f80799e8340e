"""Availability: doctors' weekly hours, time off, and the free slots that follow."""

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated

import strawberry

from healthcare import models
from healthcare.failures import InputError, NotFoundError
from healthcare.graphql.errors import NotFound, ValidationFailed, arguments_checked, mutation
from healthcare.graphql.permissions import (
    HasRole,
    IsAuthenticated,
    allow,
    signed_in_user,
)
from healthcare.resolvers import availability
from healthcare.schema.loaders import Info

Role = models.Role


@strawberry.type(description="A bookable time.")
class Slot:
    starts_at: datetime = strawberry.field(description="In UTC; pass it to bookAppointment.")
    ends_at: datetime
    local_starts_at: datetime = strawberry.field(
        description="The same instant in the doctor's time zone, with its offset."
    )


@strawberry.type(description="One block of a doctor's week, in their local time.")
class WorkingHoursBlock:
    weekday: int = strawberry.field(description="0 = Monday ... 6 = Sunday.")
    start: str = strawberry.field(description="Local wall-clock time, HH:MM.")
    end: str = strawberry.field(description="Local wall-clock time, HH:MM (24:00 = midnight).")


@strawberry.type(description="A doctor's weekly hours.")
class DoctorSchedule:
    time_zone: str = strawberry.field(description="IANA name, like Europe/London.")
    slot_minutes: int
    hours: list[WorkingHoursBlock]


@strawberry.type(description="A span when the doctor takes no appointments.")
class TimeOff:
    id: strawberry.ID
    starts_at: datetime
    ends_at: datetime
    reason: str

    @classmethod
    def from_model(cls, row: models.TimeOff) -> "TimeOff":
        return cls(
            id=strawberry.ID(str(row.id)),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            reason=row.reason,
        )


@strawberry.type
class SchedulePayload:
    schedule: DoctorSchedule


@strawberry.type
class TimeOffPayload:
    time_off: TimeOff


@strawberry.input(description="One block of hours: HH:MM local times, end after start.")
class WorkingHoursInput:
    weekday: int = strawberry.field(description="0 = Monday ... 6 = Sunday.")
    start: str
    end: str


@strawberry.input
class SetDoctorScheduleInput:
    doctor_id: strawberry.ID | None = strawberry.field(
        default=None, description="Administrators only; doctors set their own."
    )
    time_zone: str = strawberry.field(description="IANA name, like Europe/London.")
    slot_minutes: int = strawberry.field(description="10 to 120.")
    hours: list[WorkingHoursInput]


@strawberry.input
class AddTimeOffInput:
    doctor_id: strawberry.ID | None = strawberry.field(
        default=None, description="Administrators only; doctors set their own."
    )
    starts_at: datetime
    ends_at: datetime
    reason: str = ""


SetDoctorScheduleResult = Annotated[
    SchedulePayload | ValidationFailed | NotFound, strawberry.union("SetDoctorScheduleResult")
]
AddTimeOffResult = Annotated[
    TimeOffPayload | ValidationFailed | NotFound, strawberry.union("AddTimeOffResult")
]


HHMM = re.compile(r"[0-9]{1,2}:[0-9]{2}")


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_hhmm(value: str, field: str) -> int:
    if not HHMM.fullmatch(value):
        raise InputError(field, "Use HH:MM, like 09:30.")
    hours, _, minutes = value.partition(":")
    minute = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or minute > availability.MINUTES_PER_DAY:
        raise InputError(field, "Use a time between 00:00 and 24:00.")
    return minute


def to_schedule(
    schedule: models.DoctorSchedule,
    hours: Sequence[models.WorkingHours | availability.HoursBlock],
) -> DoctorSchedule:
    return DoctorSchedule(
        time_zone=schedule.time_zone,
        slot_minutes=schedule.slot_minutes,
        hours=[
            WorkingHoursBlock(weekday=h.weekday, start=hhmm(h.start_minute), end=hhmm(h.end_minute))
            for h in sorted(hours, key=lambda h: (h.weekday, h.start_minute))
        ],
    )


@strawberry.type
class Query:
    @strawberry.field(
        description="A doctor's free slots between two of their local dates (inclusive, at "
        "most 31 days): inside their hours, outside time off, not booked, in the future. "
        "None for anyone who is not an active doctor.",
        extensions=allow(IsAuthenticated()),
    )
    async def available_slots(
        self, info: Info, doctor_id: strawberry.ID, from_date: date, to_date: date
    ) -> list[Slot]:
        with arguments_checked():
            slots = await availability.free_slots(doctor_id, from_date, to_date)
        return [
            Slot(starts_at=s.starts_at, ends_at=s.ends_at, local_starts_at=s.local_starts_at)
            for s in slots
        ]

    @strawberry.field(
        description="An active doctor's weekly hours; null until they set them.",
        extensions=allow(IsAuthenticated()),
    )
    async def doctor_schedule(self, info: Info, doctor_id: strawberry.ID) -> DoctorSchedule | None:
        try:
            return to_schedule(*await availability.schedule_of(doctor_id))
        except NotFoundError:
            return None

    @strawberry.field(
        description="A doctor's time off, soonest first: the doctor's own, or any for "
        "administrators.",
        extensions=allow(HasRole(Role.DOCTOR, Role.ADMIN)),
    )
    async def time_off(self, info: Info, doctor_id: strawberry.ID | None = None) -> list[TimeOff]:
        rows = await availability.time_off_of(signed_in_user(info), doctor_id)
        return [TimeOff.from_model(row) for row in rows]


@strawberry.type
class Mutation:
    @mutation(
        description="Set a doctor's time zone, slot length and weekly hours, replacing the "
        "previous ones. Booked appointments stay.",
        extensions=allow(HasRole(Role.DOCTOR, Role.ADMIN)),
    )
    async def set_doctor_schedule(
        self, info: Info, input: SetDoctorScheduleInput
    ) -> SetDoctorScheduleResult:
        doctor = await availability.doctor_to_manage(signed_in_user(info), input.doctor_id)
        blocks = [
            availability.HoursBlock(
                weekday=block.weekday,
                start_minute=parse_hhmm(block.start, f"hours[{index}].start"),
                end_minute=parse_hhmm(block.end, f"hours[{index}].end"),
            )
            for index, block in enumerate(input.hours)
        ]
        schedule = await availability.set_schedule(
            doctor, input.time_zone, input.slot_minutes, blocks
        )
        return SchedulePayload(schedule=to_schedule(schedule, blocks))

    @mutation(
        description="Block a span of a doctor's calendar. Appointments already booked in it "
        "stay; cancel them if needed.",
        extensions=allow(HasRole(Role.DOCTOR, Role.ADMIN)),
    )
    async def add_time_off(self, info: Info, input: AddTimeOffInput) -> AddTimeOffResult:
        doctor = await availability.doctor_to_manage(signed_in_user(info), input.doctor_id)
        row = await availability.add_time_off(doctor, input.starts_at, input.ends_at, input.reason)
        return TimeOffPayload(time_off=TimeOff.from_model(row))

    @mutation(
        description="Remove one of a doctor's time-off spans.",
        extensions=allow(HasRole(Role.DOCTOR, Role.ADMIN)),
    )
    async def remove_time_off(self, info: Info, id: strawberry.ID) -> bool:
        return await availability.remove_time_off(signed_in_user(info), id)
