"""Scheduling: doctors' hours and time off, free slots, appointments and their history."""

import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from healthcare import models
from healthcare.context import Info
from healthcare.errors import (
    ExpectedFailure,
    InputError,
    InvalidStatusTransition,
    NotFound,
    SlotUnavailable,
    ValidationFailed,
    bad_argument,
)
from healthcare.pagination import DEFAULT_PAGE_SIZE, Connection, paginate
from healthcare.permissions import (
    HasRole,
    IsAppointmentParty,
    IsAuthenticated,
    allow,
    signed_in_user,
)
from healthcare.resolvers import appointments as resolvers
from healthcare.resolvers import availability
from healthcare.resolvers.users import parse_id
from healthcare.schema.users import User, load_user

if TYPE_CHECKING:
    from healthcare.schema.consultations import Consultation

Role = models.Role
AppointmentStatus = models.AppointmentStatus
strawberry.enum(AppointmentStatus, description="Where an appointment stands.")
AppointmentChangeKind = models.AppointmentChangeKind
strawberry.enum(AppointmentChangeKind, description="What happened to an appointment.")


@strawberry.type(description="A change in an appointment's life: who, when, what.")
class AppointmentHistoryEntry:
    kind: AppointmentChangeKind
    from_status: AppointmentStatus | None
    to_status: AppointmentStatus
    previous_starts_at: datetime | None = strawberry.field(
        description="For a reschedule: the start before the change."
    )
    created_at: datetime
    actor_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="Who made the change.")
    async def actor(self, info: Info) -> User | None:
        user = await info.context.loaders.user_by_id.load(self.actor_id)
        return User.from_model(user) if user else None


@strawberry.type(description="A patient's booked time with a doctor.")
class Appointment:
    id: strawberry.ID
    starts_at: datetime
    ends_at: datetime
    status: AppointmentStatus
    cancellation_reason: str | None
    created_at: datetime
    patient_id: strawberry.Private[uuid.UUID]
    doctor_id: strawberry.Private[uuid.UUID]

    reason: str | None = strawberry.field(
        description="Why the patient booked. Null for administrators: it is the patient's "
        "own account of their health, for the patient and the assigned doctor.",
        extensions=allow(IsAppointmentParty(), silent=True),
    )

    @strawberry.field
    async def patient(self, info: Info) -> User:
        return await load_user(info, self.patient_id)

    @strawberry.field
    async def doctor(self, info: Info) -> User:
        return await load_user(info, self.doctor_id)

    @strawberry.field(description="Every change since booking, oldest first.")
    async def history(self, info: Info) -> list[AppointmentHistoryEntry]:
        rows = await info.context.loaders.changes_by_appointment.load(uuid.UUID(self.id))
        return [
            AppointmentHistoryEntry(
                kind=row.kind,
                from_status=row.from_status,
                to_status=row.to_status,
                previous_starts_at=row.previous_starts_at,
                created_at=row.created_at,
                actor_id=row.actor_id,
            )
            for row in rows
        ]

    @strawberry.field(description="What the doctor documented, once they have.")
    async def consultation(
        self, info: Info
    ) -> Annotated["Consultation", strawberry.lazy("healthcare.schema.consultations")] | None:
        from healthcare.schema.consultations import Consultation

        row = await info.context.loaders.consultation_by_appointment.load(uuid.UUID(self.id))
        return Consultation.from_model(row) if row else None

    @classmethod
    def from_model(cls, row: models.Appointment) -> "Appointment":
        return cls(
            id=strawberry.ID(str(row.id)),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            status=row.status,
            cancellation_reason=row.cancellation_reason,
            created_at=row.created_at,
            patient_id=row.patient_id,
            doctor_id=row.doctor_id,
            reason=row.reason,
        )


AppointmentConnection = Connection[Appointment]


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
class AppointmentPayload:
    appointment: Appointment


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


@strawberry.input
class BookAppointmentInput:
    doctor_id: strawberry.ID
    starts_at: datetime = strawberry.field(description="A slot's `startsAt`.")
    reason: str = strawberry.field(description="Why you are coming; at most 1,000 characters.")


BookAppointmentResult = Annotated[
    AppointmentPayload | SlotUnavailable | ValidationFailed | NotFound,
    strawberry.union("BookAppointmentResult"),
]
RescheduleAppointmentResult = Annotated[
    AppointmentPayload | SlotUnavailable | ValidationFailed | NotFound | InvalidStatusTransition,
    strawberry.union("RescheduleAppointmentResult"),
]
AppointmentStatusResult = Annotated[
    AppointmentPayload | ValidationFailed | NotFound | InvalidStatusTransition,
    strawberry.union("AppointmentStatusResult"),
]
SetDoctorScheduleResult = Annotated[
    SchedulePayload | ValidationFailed | NotFound, strawberry.union("SetDoctorScheduleResult")
]
AddTimeOffResult = Annotated[
    TimeOffPayload | ValidationFailed | NotFound, strawberry.union("AddTimeOffResult")
]


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_hhmm(value: str, field: str) -> int:
    hours, _, minutes = value.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise InputError(field, "Use HH:MM, like 09:30.")
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
        description="An appointment by id; null when there is none you may see.",
        extensions=allow(IsAuthenticated()),
    )
    async def appointment(self, info: Info, id: strawberry.ID) -> Appointment | None:
        try:
            found = await resolvers.find_visible_appointment(signed_in_user(info), id)
        except ExpectedFailure:
            return None
        return Appointment.from_model(found)

    @strawberry.field(
        description="Your appointments (a doctor's: those assigned to them; an "
        "administrator's: all), by start time.",
        extensions=allow(IsAuthenticated()),
    )
    async def appointments(
        self,
        info: Info,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        status: AppointmentStatus | None = None,
        starts_from: datetime | None = None,
        starts_before: datetime | None = None,
        doctor_id: strawberry.ID | None = None,
        patient_id: strawberry.ID | None = None,
    ) -> AppointmentConnection:
        queryset = resolvers.visible_appointments(signed_in_user(info))
        if status is not None:
            queryset = queryset.filter(status=status)
        if starts_from is not None:
            queryset = queryset.filter(starts_at__gte=starts_from)
        if starts_before is not None:
            queryset = queryset.filter(starts_at__lt=starts_before)
        if doctor_id is not None:
            queryset = queryset.filter(doctor_id=parse_id(doctor_id))
        if patient_id is not None:
            queryset = queryset.filter(patient_id=parse_id(patient_id))
        return await paginate(queryset, Appointment.from_model, first, after, "starts_at")

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


def appointment_payload(row: models.Appointment) -> AppointmentPayload:
    return AppointmentPayload(appointment=Appointment.from_model(row))


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

    @strawberry.mutation(
        description="Book a slot with a doctor. Patients only.",
        extensions=allow(HasRole(Role.PATIENT)),
    )
    async def book_appointment(
        self, info: Info, input: BookAppointmentInput
    ) -> BookAppointmentResult:
        try:
            row = await resolvers.book(
                signed_in_user(info), input.doctor_id, input.starts_at, input.reason
            )
        except ExpectedFailure as failure:
            return failure.as_result()
        return appointment_payload(row)

    @strawberry.mutation(
        description="Move a scheduled appointment to another free slot of the same doctor. "
        "It keeps its id. The patient or the doctor.",
        extensions=allow(HasRole(Role.PATIENT, Role.DOCTOR)),
    )
    async def reschedule_appointment(
        self, info: Info, id: strawberry.ID, starts_at: datetime
    ) -> RescheduleAppointmentResult:
        try:
            row = await resolvers.reschedule(signed_in_user(info), id, starts_at)
        except ExpectedFailure as failure:
            return failure.as_result()
        return appointment_payload(row)

    @strawberry.mutation(
        description="Cancel a scheduled appointment, saying why. The patient, the doctor "
        "or an administrator.",
        extensions=allow(IsAuthenticated()),
    )
    async def cancel_appointment(
        self, info: Info, id: strawberry.ID, reason: str
    ) -> AppointmentStatusResult:
        try:
            row = await resolvers.cancel(signed_in_user(info), id, reason)
        except ExpectedFailure as failure:
            return failure.as_result()
        return appointment_payload(row)

    @strawberry.mutation(
        description="Mark an appointment that has started as completed. Its doctor only.",
        extensions=allow(HasRole(Role.DOCTOR)),
    )
    async def complete_appointment(self, info: Info, id: strawberry.ID) -> AppointmentStatusResult:
        try:
            row = await resolvers.complete(signed_in_user(info), id)
        except ExpectedFailure as failure:
            return failure.as_result()
        return appointment_payload(row)

    @strawberry.mutation(
        description="Mark that the patient did not come. Its doctor only, after the start.",
        extensions=allow(HasRole(Role.DOCTOR)),
    )
    async def mark_appointment_no_show(
        self, info: Info, id: strawberry.ID
    ) -> AppointmentStatusResult:
        try:
            row = await resolvers.mark_no_show(signed_in_user(info), id)
        except ExpectedFailure as failure:
            return failure.as_result()
        return appointment_payload(row)
