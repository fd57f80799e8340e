"""Availability: doctors' weekly hours, time off, and the free slots that follow."""

import re
import uuid
from datetime import date, datetime
from typing import Annotated

import strawberry

from healthcare import models
from healthcare.context import Info
from healthcare.errors import (
    ExpectedFailure,
    InputError,
    NotFound,
    ValidationFailed,
    bad_argument,
)
from healthcare.permissions import (
    HasRole,
    IsAuthenticated,
    allow,
    signed_in_user,
)
from healthcare.resolvers import availability
from healthcare.resolvers.users import parse_id

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


async def schedule_of(doctor_id: uuid.UUID) -> DoctorSchedule | None:
    schedule = await models.DoctorSchedule.filter(doctor_id=doctor_id).first()
    if schedule is None:
        return None
    hours = await models.WorkingHours.filter(schedule_id=schedule.id).order_by(
        "weekday", "start_minute"
    )
    return DoctorSchedule(
        time_zone=schedule.time_zone,
        slot_minutes=schedule.slot_minutes,
        hours=[
            WorkingHoursBlock(weekday=h.weekday, start=hhmm(h.start_minute), end=hhmm(h.end_minute))
            for h in hours
        ],
    )


async def doctor_to_manage(info: Info, doctor_id: strawberry.ID | None) -> models.User:
    """Doctors manage their own calendar; administrators anyone's."""
    viewer = signed_in_user(info)
    if viewer.is_admin:
        return await availability.find_doctor(parse_id(doctor_id) if doctor_id else None)
    if doctor_id is not None and parse_id(doctor_id) != viewer.id:
        raise InputError("doctorId", "Doctors manage only their own calendar.")
    return viewer


@strawberry.type
class Query:
    @strawberry.field(
        description="A doctor's free slots between two of their local dates (inclusive, at "
        "most 31 days): inside their hours, outside time off, not booked, in the future.",
        extensions=allow(IsAuthenticated()),
    )
    async def available_slots(
        self, info: Info, doctor_id: strawberry.ID, from_date: date, to_date: date
    ) -> list[Slot]:
        doctor = await models.User.filter(
            id=parse_id(doctor_id), role=Role.DOCTOR, is_active=True
        ).first()
        if doctor is None:
            return []
        try:
            slots = await availability.free_slots(doctor.id, from_date, to_date)
        except InputError as error:
            raise bad_argument("toDate", error.message) from None
        return [
            Slot(starts_at=s.starts_at, ends_at=s.ends_at, local_starts_at=s.local_starts_at)
            for s in slots
        ]

    @strawberry.field(
        description="A doctor's weekly hours; null until they set them.",
        extensions=allow(IsAuthenticated()),
    )
    async def doctor_schedule(self, info: Info, doctor_id: strawberry.ID) -> DoctorSchedule | None:
        doctor = await models.User.filter(id=parse_id(doctor_id), role=Role.DOCTOR).first()
        return await schedule_of(doctor.id) if doctor else None

    @strawberry.field(
        description="A doctor's time off, soonest first: the doctor's own, or any for "
        "administrators.",
        extensions=allow(HasRole(Role.DOCTOR, Role.ADMIN)),
    )
    async def time_off(self, info: Info, doctor_id: strawberry.ID | None = None) -> list[TimeOff]:
        try:
            doctor = await doctor_to_manage(info, doctor_id)
        except ExpectedFailure:
            return []
        rows = await models.TimeOff.filter(doctor_id=doctor.id).order_by("starts_at")
        return [TimeOff.from_model(row) for row in rows]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Set a doctor's time zone, slot length and weekly hours, replacing the "
        "previous ones. Booked appointments stay.",
        extensions=allow(HasRole(Role.DOCTOR, Role.ADMIN)),
    )
    async def set_doctor_schedule(
        self, info: Info, input: SetDoctorScheduleInput
    ) -> SetDoctorScheduleResult:
        try:
            doctor = await doctor_to_manage(info, input.doctor_id)
            blocks = [
                availability.HoursBlock(
                    weekday=block.weekday,
                    start_minute=parse_hhmm(block.start, f"hours[{index}].start"),
                    end_minute=parse_hhmm(block.end, f"hours[{index}].end"),
                )
                for index, block in enumerate(input.hours)
            ]
            await availability.set_schedule(doctor, input.time_zone, input.slot_minutes, blocks)
        except ExpectedFailure as failure:
            return failure.as_result()
        schedule = await schedule_of(doctor.id)
        assert schedule is not None
        return SchedulePayload(schedule=schedule)

    @strawberry.mutation(
        description="Block a span of a doctor's calendar. Appointments already booked in it "
        "stay; cancel them if needed.",
        extensions=allow(HasRole(Role.DOCTOR, Role.ADMIN)),
    )
    async def add_time_off(self, info: Info, input: AddTimeOffInput) -> AddTimeOffResult:
        try:
            doctor = await doctor_to_manage(info, input.doctor_id)
            row = await availability.add_time_off(
                doctor, input.starts_at, input.ends_at, input.reason
            )
        except ExpectedFailure as failure:
            return failure.as_result()
        return TimeOffPayload(time_off=TimeOff.from_model(row))

    @strawberry.mutation(
        description="Remove one of a doctor's time-off spans.",
        extensions=allow(HasRole(Role.DOCTOR, Role.ADMIN)),
    )
    async def remove_time_off(self, info: Info, id: strawberry.ID) -> bool:
        viewer = signed_in_user(info)
        rows = models.TimeOff.filter(id=parse_id(id))
        if not viewer.is_admin:
            rows = rows.filter(doctor_id=viewer.id)
        return bool(await rows.delete())
