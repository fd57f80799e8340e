"""Appointments: booking, status changes and their history, and who may see them."""

import asyncio
import uuid
from collections.abc import AsyncGenerator, Sequence
from datetime import datetime, timedelta
from typing import Annotated

import strawberry
from tortoise.queryset import QuerySet

from healthcare import models
from healthcare.graphql.auditing import DeniedWhenNull, audited, selected_fields
from healthcare.graphql.errors import (
    EmailNotVerified,
    InvalidStatusTransition,
    NotFound,
    SlotUnavailable,
    ValidationFailed,
    mutation,
    within_calendar,
)
from healthcare.graphql.execution import raw_info
from healthcare.graphql.pagination import DEFAULT_PAGE_SIZE, Connection, paginate
from healthcare.graphql.permissions import (
    HasRole,
    IsAppointmentParty,
    IsAuthenticated,
    allow,
    signed_in_user,
)
from healthcare.realtime import pubsub
from healthcare.resolvers import appointments as resolvers
from healthcare.resolvers.calls import call_window_of
from healthcare.resolvers.visibility import find_visible, visible
from healthcare.schema.calls import VideoCall, VideoCallWindow
from healthcare.schema.consultations import Consultation
from healthcare.schema.loaders import Info
from healthcare.schema.users import User, related_user, staff_identity_hidden
from healthcare.security.auth import utcnow
from healthcare.validators import parse_id

# How far the clocks of the instances that stamp changes may disagree.
CLOCK_MARGIN = timedelta(seconds=5)

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

    @strawberry.field(
        description="Who made the change. Null when it was clinic staff (an administrator) "
        "and you are not one: `actorRole` is ADMIN then."
    )
    async def actor(self, info: Info) -> User | None:
        user = await info.context.loaders.user_by_id.load(self.actor_id)
        if user is None or staff_identity_hidden(user.is_admin, info.context.viewer.user):
            return None
        return User.from_model(user)

    @strawberry.field(description="What the person who made the change is to the clinic.")
    async def actor_role(self, info: Info) -> Role:
        user = await info.context.loaders.user_by_id.load(self.actor_id)
        return user.role if user is not None else Role.ADMIN


@strawberry.type(description="A patient's booked time with a doctor.")
@audited(models.AuditEntity.APPOINTMENT, patient=lambda row: row.patient_id)
class Appointment:
    id: strawberry.ID
    starts_at: datetime
    ends_at: datetime
    status: AppointmentStatus
    cancellation_reason: str | None = strawberry.field(
        description="Why it was cancelled. Null for administrators (like `reason`, it may "
        "say something of the patient's health), and until it is cancelled.",
        extensions=allow(IsAppointmentParty(), silent=True),
    )
    created_at: datetime
    updated_at: datetime = strawberry.field(
        description="When it last changed: pass the newest you saw as `changedSince` to "
        "`appointmentChanged` to resume."
    )
    key: strawberry.Private[uuid.UUID]  # the id, as the loaders key it
    patient_id: strawberry.Private[uuid.UUID]
    doctor_id: strawberry.Private[uuid.UUID]

    reason: str | None = strawberry.field(
        description="Why the patient booked. Null for administrators: it is the patient's "
        "own account of their health, for the patient and the assigned doctor.",
        extensions=allow(IsAppointmentParty(), silent=True),
    )

    @strawberry.field
    async def patient(self, info: Info) -> User:
        return await related_user(info, self.patient_id)

    @strawberry.field
    async def doctor(self, info: Info) -> User:
        return await related_user(info, self.doctor_id)

    @strawberry.field(description="Every change since booking, oldest first.")
    async def history(self, info: Info) -> list[AppointmentHistoryEntry]:
        rows = await info.context.loaders.changes_by_appointment.load(self.key)
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
    async def consultation(self, info: Info) -> Consultation | None:
        row = await info.context.loaders.consultation_by_appointment.load(self.key)
        return Consultation.from_model(row) if row is not None else None

    @strawberry.field(
        description="Its video calls, oldest first (administrators too: when "
        "and how long, never their signals)."
    )
    async def video_calls(self, info: Info) -> list[VideoCall]:
        rows = await info.context.loaders.video_calls_by_appointment.load(self.key)
        return [VideoCall.from_model(row) for row in rows]

    @strawberry.field(description="The call ringing or active now; null when there is none.")
    async def active_video_call(self, info: Info) -> VideoCall | None:
        rows = await info.context.loaders.video_calls_by_appointment.load(self.key)
        return next((VideoCall.from_model(row) for row in rows if row.is_live), None)

    @strawberry.field(
        description="When a video call may ring or be answered (for a scheduled "
        'appointment): show "Join video visit" while `isOpen`.'
    )
    def video_call_window(self, info: Info) -> VideoCallWindow:
        window = call_window_of(self.starts_at, self.ends_at, info.context.settings)
        is_open = self.status == AppointmentStatus.SCHEDULED and window.is_open(utcnow())
        return VideoCallWindow(
            opens_at=window.opens_at, closes_at=window.closes_at, is_open=is_open
        )

    @classmethod
    def from_model(cls, row: models.Appointment) -> "Appointment":
        return cls(
            id=strawberry.ID(str(row.id)),
            key=row.id,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            status=row.status,
            cancellation_reason=row.cancellation_reason,
            created_at=row.created_at,
            updated_at=row.updated_at,
            patient_id=row.patient_id,
            doctor_id=row.doctor_id,
            reason=row.reason,
        )


AppointmentConnection = Connection[Appointment]


async def load_ahead(info: Info, appointments: Sequence[Appointment]) -> None:
    """Load the people and consultations the operation asks of these appointments now, in
    one query each, as their loaders would batch them: each row's `patient`, `doctor` and
    `consultation` then find their values loaded already."""
    asked = selected_fields(raw_info(info))
    loaders = info.context.loaders
    people = [a.patient_id for a in appointments] if "patient" in asked else []
    if "doctor" in asked:
        people += [a.doctor_id for a in appointments]
    if "consultation" not in asked:  # one load: no task to run it beside another
        await loaders.user_by_id.load_ahead(people)
        return
    await asyncio.gather(
        loaders.user_by_id.load_ahead(people),
        loaders.consultation_by_appointment.load_ahead(a.key for a in appointments),
    )


@strawberry.type
class AppointmentPayload:
    appointment: Appointment


@strawberry.input
class BookAppointmentInput:
    doctor_id: strawberry.ID
    starts_at: datetime = strawberry.field(description="A slot's `startsAt`.")
    reason: str = strawberry.field(description="Why you are coming; at most 1,000 characters.")


BookAppointmentResult = Annotated[
    AppointmentPayload | SlotUnavailable | ValidationFailed | NotFound | EmailNotVerified,
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


@strawberry.type
class Query:
    @strawberry.field(
        description="An appointment by id; null when there is none you may see.",
        extensions=[
            *allow(IsAuthenticated()),
            DeniedWhenNull(models.AuditEntity.APPOINTMENT),
        ],
    )
    async def appointment(self, info: Info, id: strawberry.ID) -> Appointment | None:
        found = await find_visible(signed_in_user(info), models.Appointment, id)
        if found is None:
            return None
        appointment = Appointment.from_model(found)
        await load_ahead(info, [appointment])
        return appointment

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
        queryset = appointment_rows(
            signed_in_user(info), status, starts_from, starts_before, doctor_id, patient_id
        )
        page = await paginate(queryset, Appointment.from_model, first, after, "starts_at")
        await load_ahead(info, page.nodes())
        return page


def appointment_rows(
    viewer: models.User,
    status: AppointmentStatus | None = None,
    starts_from: datetime | None = None,
    starts_before: datetime | None = None,
    doctor_id: strawberry.ID | None = None,
    patient_id: strawberry.ID | None = None,
) -> QuerySet[models.Appointment]:
    """The appointments `Query.appointments` pages (the compiled path too: schema.sql)."""
    queryset = visible(viewer, models.Appointment)
    if status is not None:
        queryset = queryset.filter(status=status)
    if starts_from is not None:
        queryset = queryset.filter(starts_at__gte=within_calendar(starts_from, "startsFrom"))
    if starts_before is not None:
        queryset = queryset.filter(starts_at__lt=within_calendar(starts_before, "startsBefore"))
    if doctor_id is not None:
        queryset = queryset.filter(doctor_id=parse_id(doctor_id))
    if patient_id is not None:
        queryset = queryset.filter(patient_id=parse_id(patient_id))
    return queryset


def appointment_payload(row: models.Appointment) -> AppointmentPayload:
    return AppointmentPayload(appointment=Appointment.from_model(row))


@strawberry.type
class Mutation:
    @mutation(
        description="Book a slot with a doctor. Patients only, with a confirmed email address "
        "(unless REQUIRE_VERIFIED_EMAIL_TO_BOOK is off): otherwise EmailNotVerified.",
        extensions=allow(HasRole(Role.PATIENT)),
    )
    async def book_appointment(
        self, info: Info, input: BookAppointmentInput
    ) -> BookAppointmentResult:
        row = await resolvers.book(
            signed_in_user(info),
            input.doctor_id,
            input.starts_at,
            input.reason,
            require_verified_email=info.context.settings.require_verified_email_to_book,
        )
        return appointment_payload(row)

    @mutation(
        description="Move a scheduled appointment to another free slot of the same doctor. "
        "It keeps its id. The patient or the doctor.",
        extensions=allow(HasRole(Role.PATIENT, Role.DOCTOR)),
    )
    async def reschedule_appointment(
        self, info: Info, id: strawberry.ID, starts_at: datetime
    ) -> RescheduleAppointmentResult:
        row = await resolvers.reschedule(signed_in_user(info), id, starts_at)
        return appointment_payload(row)

    @mutation(
        description="Cancel a scheduled appointment, saying why. The patient, the doctor "
        "or an administrator.",
        extensions=allow(IsAuthenticated()),
    )
    async def cancel_appointment(
        self, info: Info, id: strawberry.ID, reason: str
    ) -> AppointmentStatusResult:
        row = await resolvers.cancel(signed_in_user(info), id, reason)
        return appointment_payload(row)

    @mutation(
        description="Mark an appointment that has started as completed. Its doctor only.",
        extensions=allow(HasRole(Role.DOCTOR)),
    )
    async def complete_appointment(self, info: Info, id: strawberry.ID) -> AppointmentStatusResult:
        row = await resolvers.complete(signed_in_user(info), id)
        return appointment_payload(row)

    @mutation(
        description="Mark that the patient did not come. Its doctor only, after the start.",
        extensions=allow(HasRole(Role.DOCTOR)),
    )
    async def mark_appointment_no_show(
        self, info: Info, id: strawberry.ID
    ) -> AppointmentStatusResult:
        row = await resolvers.mark_no_show(signed_in_user(info), id)
        return appointment_payload(row)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Your appointments as they change: booked, moved, cancelled, completed, "
        "missed. Pass `changedSince` (the time of the last change you saw) to first get "
        "what changed while you were away. Each event is the appointment as it is now.",
        extensions=allow(IsAuthenticated()),
    )
    async def appointment_changed(
        self, info: Info, changed_since: datetime | None = None
    ) -> AsyncGenerator[Appointment, None]:
        user = signed_in_user(info)
        if changed_since is not None:
            within_calendar(changed_since, "changedSince")
        # After a `Resync`, what changed since events may have gone unheard is read again:
        # an appointment may come twice, as it is now, never not at all. The margin
        # covers the clocks of other instances, which stamp the changes they make.
        async with pubsub.current().subscribe(pubsub.appointments_channel(user.id)) as events:
            if changed_since is not None:
                for row in await resolvers.changed_since(user, changed_since):
                    yield Appointment.from_model(row)
            async for event in events:
                if isinstance(event, pubsub.Resync):
                    since = (event.since or utcnow()) - CLOCK_MARGIN
                    for row in await resolvers.changed_since(user, since):
                        yield Appointment.from_model(row)
                    continue
                # The rule is applied again to every row sent: who sees it may change.
                changed = await find_visible(user, models.Appointment, event["appointment_id"])
                if changed is not None:
                    yield Appointment.from_model(changed)
