"""Who may do what: every root field of the schema, and every sensitive field of a type,
against every kind of caller, in one table (README, "Who may see what").

Read a row as: this field, asked by each persona, gives this outcome. The personas:

- anonymous: no Authorization header;
- patient A: has visits with the assigned doctor: a documented one (a consultation,
  signed unless the row needs a draft), one that started and is still scheduled, and an
  upcoming one; a conversation with the doctor, with one message; one notification;
- patient B: a patient with nothing to do with A or the doctor;
- doctor: the doctor assigned to A's appointments and author of the consultation;
- other doctor: a doctor with nothing to do with A;
- admin: an administrator;
- deactivated: a patient who signed in, then whose account was deactivated;
- demoted: the doctor, whose role was then changed to patient;
- promoted: patient A, whose role was then changed to doctor.

Outcomes: "data" (a value), "null" (null, false, 0, [] or an empty page), a top-level
error code (UNAUTHENTICATED, FORBIDDEN, NOT_FOUND), the __typename of an error in a
mutation's result union (NotFound, ValidationFailed, ...), or "4403" when the WebSocket
refuses the connection_init. Every case runs against a fresh world (the database is
emptied after each test), so mutations cannot leak into each other.
"""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import websockets
from graphql import GraphQLInterfaceType, GraphQLObjectType
from PIL import Image
from websockets.typing import Subprotocol

from healthcare import models
from healthcare.config import Settings
from healthcare.security.auth import preferences_link_token
from tests.conftest import (
    SCHEMA,
    TEST_JWT_SECRET,
    TEST_PASSWORD,
    GraphQLClient,
    LiveServer,
    Persona,
    make_admin,
    make_appointment,
    make_doctor,
    make_patient,
    make_schedule,
    sign_in,
)

TRANSPORT_WS = Subprotocol("graphql-transport-ws")

# ---- outcomes ---------------------------------------------------------------------------

D = "data"
N = "null"
U = "UNAUTHENTICATED"
F = "FORBIDDEN"
NF = "NotFound"  # the error in a mutation's result union
VF = "ValidationFailed"  # the error in a mutation's result union
AD = "AccountDeactivated"  # the error in login's result union
IRT = "InvalidRefreshToken"  # the error in refreshToken's result union
IET = "InvalidEmailToken"  # the error for a link's token that is not (or no longer) good
NFE = "NOT_FOUND"  # a top-level error code (subscriptions have no result union)
WS403 = "4403"  # the WebSocket is closed on connection_init

PERSONAS = (
    "anonymous",
    "patient_a",
    "patient_b",
    "doctor",
    "other_doctor",
    "admin",
    "deactivated",
    "demoted",
    "promoted",
)
# Role changes: the persona is a user of the world whose role an administrator changed
# before anyone signed in. What they see follows the role they have now.
ROLE_CHANGES = {
    "demoted": ("doctor", models.Role.PATIENT, None),  # the assigned doctor, now a patient
    "promoted": ("patient_a", models.Role.DOCTOR, "Neurology"),  # patient A, now a doctor
}

# ---- the policy -------------------------------------------------------------------------

# fmt: off
MATRIX: dict[str, tuple[str, ...]] = {
    #                                     anon  pat A pat B doctr other admin deact demot promo
    # -- queries
    "Query.me":                          (U,    D,    D,    D,    D,    D,    U,    D,    D),
    # Query.user: A's profile
    "Query.user":                        (U,    D,    N,    D,    N,    D,    U,    N,    D),
    "Query.users":                       (U,    F,    F,    F,    F,    D,    U,    F,    F),
    "Query.doctors":                     (U,    D,    D,    D,    D,    D,    U,    D,    D),
    "Query.availableSlots":              (U,    D,    D,    D,    D,    D,    U,    N,    D),
    "Query.doctorSchedule":              (U,    D,    D,    D,    D,    D,    U,    N,    D),
    # Query.timeOff: the doctor's
    "Query.timeOff":                     (U,    F,    F,    D,    N,    D,    U,    F,    N),
    "Query.appointment":                 (U,    D,    N,    D,    N,    D,    U,    N,    N),
    "Query.appointments":                (U,    D,    N,    D,    N,    D,    U,    N,    N),
    "Query.consultation":                (U,    D,    N,    D,    N,    D,    U,    N,    N),
    "Query.consultations":               (U,    D,    N,    D,    N,    D,    U,    N,    N),
    # Query.myNotifications: A has one, about A's conversation: promoted, A sees neither
    "Query.myNotifications":             (U,    D,    N,    N,    N,    N,    U,    N,    N),
    "Query.notification":                (U,    D,    N,    N,    N,    N,    U,    N,    N),  # A's
    "Query.unreadNotificationCount":     (U,    D,    N,    N,    N,    N,    U,    N,    N),
    "Query.lastNotificationSeq":         (U,    D,    N,    N,    N,    N,    U,    N,    N),
    "Query.conversation":                (U,    D,    N,    D,    N,    N,    U,    N,    N),
    "Query.conversations":               (U,    D,    N,    D,    N,    N,    U,    N,    N),
    "Query.auditEvents":                 (U,    F,    F,    F,    F,    D,    U,    F,    F),
    # Query.myRecordAccess: doctor read
    "Query.myRecordAccess":              (U,    D,    N,    F,    F,    F,    U,    N,    F),
    # -- mutations: accounts and sessions (login/refreshToken: anonymous holds A's secrets)
    "Mutation.register":                 (D,    D,    D,    D,    D,    D,    D,    D,    D),
    "Mutation.login":                    (D,    D,    D,    D,    D,    D,    AD,   D,    D),
    "Mutation.refreshToken":             (D,    D,    D,    D,    D,    D,    IRT,  D,    D),
    "Mutation.logout":                   (U,    D,    D,    D,    D,    D,    U,    D,    D),
    "Mutation.changePassword":           (U,    D,    D,    D,    D,    D,    U,    D,    D),
    "Mutation.updateMyProfile":          (U,    D,    D,    D,    D,    D,    U,    D,    D),
    "Mutation.uploadProfilePicture":     (U,    D,    D,    D,    D,    D,    U,    D,    D),
    "Mutation.removeProfilePicture":     (U,    D,    D,    D,    D,    D,    U,    D,    D),
    "Mutation.createUser":               (U,    F,    F,    F,    F,    D,    U,    F,    F),
    # -- email: links need no sign-in (their token is the capability); a made-up one is
    # refused alike for all
    "Mutation.requestPasswordReset":     (D,    D,    D,    D,    D,    D,    D,    D,    D),
    "Mutation.resetPassword":            (IET,  IET,  IET,  IET,  IET,  IET,  IET,  IET,  IET),
    "Mutation.verifyEmail":              (IET,  IET,  IET,  IET,  IET,  IET,  IET,  IET,  IET),
    "Mutation.resendVerificationEmail":  (U,    D,    D,    D,    D,    D,    U,    D,    D),
    "Mutation.changeEmail":              (U,    D,    D,    D,    D,    D,    U,    D,    D),
    # Query/Mutation email preferences: your own signed in; patient A's with A's link
    "Query.emailPreferences":            (U,    D,    D,    D,    D,    D,    U,    D,    D),
    "Query.emailPreferences (A's link)": (D,    D,    D,    D,    D,    D,    D,    D,    D),
    "Mutation.updateEmailPreferences":   (U,    D,    D,    D,    D,    D,    U,    D,    D),
    "Mutation.updateEmailPreferences (A's link)": (D, D, D,    D,    D,    D,    D,    D,    D),
    # Query.emailDeliveries: an empty list is the administrator's answer
    "Query.emailDeliveries":             (U,    F,    F,    F,    F,    D,    U,    F,    F),
    # Mutation.setUserActive: on patient B
    "Mutation.setUserActive":            (U,    F,    F,    F,    F,    D,    U,    F,    F),
    # Mutation.changeUserRole: on patient B
    "Mutation.changeUserRole":           (U,    F,    F,    F,    F,    D,    U,    F,    F),
    # -- mutations: the doctor's calendar (the assigned doctor's, by id)
    "Mutation.setDoctorSchedule":        (U,    F,    F,    D,    VF,   D,    U,    F,    VF),
    "Mutation.addTimeOff":               (U,    F,    F,    D,    VF,   D,    U,    F,    VF),
    "Mutation.removeTimeOff":            (U,    F,    F,    D,    N,    D,    U,    F,    N),
    # -- mutations: appointments (A's)
    "Mutation.bookAppointment":          (U,    D,    D,    F,    F,    F,    U,    NF,   F),
    "Mutation.rescheduleAppointment":    (U,    D,    NF,   D,    NF,   F,    U,    NF,   NF),
    "Mutation.cancelAppointment":        (U,    D,    NF,   D,    NF,   D,    U,    NF,   NF),
    "Mutation.completeAppointment":      (U,    F,    F,    D,    NF,   F,    U,    F,    NF),
    "Mutation.markAppointmentNoShow":    (U,    F,    F,    D,    NF,   F,    U,    F,    NF),
    # -- mutations: consultations (of A's visit)
    "Mutation.createConsultation":       (U,    F,    F,    D,    NF,   F,    U,    F,    NF),
    # Mutation.updateConsultation: a draft
    "Mutation.updateConsultation":       (U,    F,    F,    D,    NF,   F,    U,    F,    NF),
    # Mutation.signConsultation: a draft
    "Mutation.signConsultation":         (U,    F,    F,    D,    NF,   F,    U,    F,    NF),
    # Mutation.addConsultationAddendum: signed
    "Mutation.addConsultationAddendum":  (U,    F,    F,    D,    NF,   F,    U,    F,    NF),
    # -- mutations: notifications (A's) and chat (A's conversation with the doctor)
    # Mutation.markNotificationsRead: count
    "Mutation.markNotificationsRead":    (U,    D,    N,    N,    N,    N,    U,    N,    N),
    # Mutation.markAllNotificationsRead: count
    "Mutation.markAllNotificationsRead": (U,    D,    N,    N,    N,    N,    U,    N,    N),
    "Mutation.startConversation":        (U,    D,    NF,   D,    NF,   NF,   U,    NF,   NF),
    "Mutation.sendMessage":              (U,    D,    NF,   D,    NF,   NF,   U,    NF,   NF),
    "Mutation.markConversationRead":     (U,    D,    NF,   D,    NF,   NF,   U,    NF,   NF),
    "Mutation.setTyping":                (U,    D,    N,    D,    N,    N,    U,    N,    N),
    # -- video calls: patient A's call with the doctor, ringing, one signal from each
    "Query.videoCall":                   (U,    D,    N,    D,    N,    D,    U,    N,    N),
    # Query.iceServers: an empty list is a party's answer when no server is configured
    "Query.iceServers":                  (U,    D,    N,    D,    N,    N,    U,    N,    N),
    "Mutation.startVideoCall":           (U,    D,    NF,   D,    NF,   NF,   U,    NF,   NF),
    "Mutation.joinVideoCall":            (U,    D,    NF,   D,    NF,   NF,   U,    NF,   NF),
    "Mutation.declineVideoCall":         (U,    D,    NF,   D,    NF,   NF,   U,    NF,   NF),
    "Mutation.leaveVideoCall":           (U,    D,    NF,   D,    NF,   NF,   U,    NF,   NF),
    "Mutation.sendCallSignal":           (U,    D,    NF,   D,    NF,   NF,   U,    NF,   NF),
    # -- subscriptions (over graphql-transport-ws)
    "Subscription.appointmentChanged":   (U,    D,    N,    D,    N,    D,    WS403,N,    N),
    "Subscription.notificationAdded":    (U,    D,    N,    N,    N,    N,    WS403,N,    N),
    "Subscription.messageAdded":         (U,    D,    NFE,  D,    NFE,  NFE,  WS403,NFE,  NFE),
    "Subscription.typingChanged":        (U,    D,    NFE,  D,    NFE,  NFE,  WS403,NFE,  NFE),
    "Subscription.readReceiptChanged":   (U,    D,    NFE,  D,    NFE,  NFE,  WS403,NFE,  NFE),
    "Subscription.callSignals":          (U,    D,    NFE,  D,    NFE,  NFE,  WS403,NFE,  NFE),
    "Subscription.videoCallChanged":     (U,    D,    N,    D,    N,    N,    WS403,N,    N),
    # -- fields of types: a public profile, and the sensitive fields
    "User.email (patient A's)":          (U,    D,    N,    N,    N,    D,    U,    N,    D),
    "User.phoneNumber (patient A's)":    (U,    D,    N,    N,    N,    D,    U,    N,    D),
    "User.isActive (patient A's)":       (U,    D,    N,    N,    N,    D,    U,    N,    D),
    "User.emailVerified (patient A's)":  (U,    D,    N,    N,    N,    D,    U,    N,    D),
    "User.fullName (patient A's)":       (U,    D,    N,    D,    N,    D,    U,    N,    D),
    "User.fullName (the doctor's)":      (U,    D,    D,    D,    D,    D,    U,    D,    D),
    "User.specialty (the doctor's)":     (U,    D,    D,    D,    D,    D,    U,    N,    D),
    "User.email (the doctor's)":         (U,    N,    N,    D,    N,    D,    U,    D,    N),
    "User.phoneNumber (the doctor's)":   (U,    N,    N,    D,    N,    D,    U,    D,    N),
    "User.isActive (the doctor's)":      (U,    N,    N,    D,    N,    D,    U,    D,    N),
    "Appointment.reason":                (U,    D,    N,    D,    N,    N,    U,    N,    N),
    "Appointment.consultation":          (U,    D,    N,    D,    N,    D,    U,    N,    N),
    "Appointment.cancellationReason":    (U,    D,    N,    D,    N,    N,    U,    N,    N),
    "AuditEvent.clientAddress (A's)":    (U,    N,    N,    F,    F,    F,    U,    N,    F),
    "AuditEvent.clientAddress (all)":    (U,    F,    F,    F,    F,    D,    U,    F,    F),
    "AuditEvent.requestId (A's)":        (U,    N,    N,    F,    F,    F,    U,    N,    F),
    "AuditEvent.requestId (all)":        (U,    F,    F,    F,    F,    D,    U,    F,    F),
    "Consultation.medicalHistory":       (U,    D,    N,    D,    N,    N,    U,    N,    N),
    "Consultation.examinationFindings":  (U,    D,    N,    D,    N,    N,    U,    N,    N),
    "Consultation.investigations":       (U,    D,    N,    D,    N,    N,    U,    N,    N),
    "Consultation.treatmentPlan":        (U,    D,    N,    D,    N,    N,    U,    N,    N),
    "Consultation.reviewDate":           (U,    D,    N,    D,    N,    N,    U,    N,    N),
    "Consultation.prescriptions":        (U,    D,    N,    D,    N,    N,    U,    N,    N),
    "Consultation.revisions":            (U,    D,    N,    D,    N,    N,    U,    N,    N),
    "Consultation.addenda":              (U,    D,    N,    D,    N,    N,    U,    N,    N),
    "Consultation.privateNotes":         (U,    N,    N,    D,    N,    N,    U,    N,    N),
    "Conversation.messages":             (U,    D,    N,    D,    N,    N,    U,    N,    N),
    "Appointment.videoCalls":            (U,    D,    N,    D,    N,    D,    U,    N,    N),
    "Appointment.activeVideoCall":       (U,    D,    N,    D,    N,    D,    U,    N,    N),
}
# fmt: on

# ---- the world each case runs in --------------------------------------------------------


@dataclass
class World:
    users: dict[str, models.User]
    personas: dict[str, Persona]
    visit: models.Appointment  # two days ago, completed, documented
    started_visit: models.Appointment  # yesterday, still scheduled, not documented
    upcoming: models.Appointment  # in two days, scheduled
    cancelled: models.Appointment  # in four days, cancelled by patient A, saying why
    consultation: models.Consultation  # of `visit`
    conversation: models.Conversation  # patient A and the doctor, one message
    notification: models.Notification  # patient A's
    time_off: models.TimeOff  # the doctor's
    free_slot: datetime  # a bookable start with the doctor
    call_visit: models.Appointment  # started five minutes ago: its call window is open
    call: models.VideoCall  # of `call_visit`, started by patient A, ringing
    past_call: models.VideoCall  # of `visit`: held by video, ended by patient A

    def token(self, persona: str) -> str | None:
        return self.personas[persona].access_token if persona in self.personas else None

    def id(self, name: str) -> str:
        return str(self.users[name].id)


async def build_world(settings: Any, persona: str, consultation: str = "signed") -> World:
    """Every persona's account, and patient A's records with the assigned doctor. Signed
    in: the persona asking, and patient A and the doctor (who act in some rows)."""
    now = datetime.now(UTC).replace(microsecond=0)
    hour = now.replace(minute=0, second=0)
    day = timedelta(days=1)
    users = {
        "patient_a": await make_patient(first_name="Alice", phone_number="+14155550123"),
        "patient_b": await make_patient(first_name="Bob", phone_number="+14155550125"),
        "doctor": await make_doctor(first_name="Assigned", phone_number="+14155550124"),
        "other_doctor": await make_doctor(first_name="Other", specialty="Dermatology"),
        "admin": await make_admin(first_name="Admin"),
        "deactivated": await make_patient(first_name="Gone"),
    }
    if persona in ROLE_CHANGES:
        who, role, specialty = ROLE_CHANGES[persona]
        await models.User.filter(id=users[who].id).update(role=role, specialty=specialty)
        users[who].role, users[who].specialty = role, specialty
        users[persona] = users[who]
    personas = {
        name: await sign_in(user, settings)
        for name, user in users.items()
        if name in {persona, "patient_a", "doctor"}
    }
    await models.User.filter(id=users["deactivated"].id).update(is_active=False)
    users["deactivated"].is_active = False

    patient, doctor = users["patient_a"], users["doctor"]
    await make_schedule(doctor)
    visit = await make_appointment(
        patient,
        doctor,
        hour - 2 * day,
        status=models.AppointmentStatus.COMPLETED,
        reason="Chest pain when climbing stairs",
    )
    started_visit = await make_appointment(patient, doctor, hour - day, reason="Follow-up")
    upcoming = await make_appointment(patient, doctor, hour + 2 * day, reason="Blood results")
    cancelled = await make_appointment(
        patient,
        doctor,
        hour + 4 * day,
        status=models.AppointmentStatus.CANCELLED,
        cancellation_reason="Panic attacks are better now",
    )
    record = await models.Consultation.create(
        appointment=visit,
        doctor=doctor,
        patient=patient,
        medical_history="Two weeks of exertional chest pain.",
        examination_findings="BP 150/95.",
        investigations="ECG normal.",
        treatment_plan="Statin, review in a month.",
        review_date=(hour - 2 * day).date() + timedelta(days=30),
        private_notes="Anxious about the family history.",
        signed_at=now if consultation == "signed" else None,
    )
    await models.PrescriptionItem.create(
        consultation=record,
        position=0,
        medication="Atorvastatin",
        dose="20 mg",
        route="oral",
        frequency="once a day",
        duration="90 days",
    )
    await models.ConsultationRevision.create(
        consultation=record,
        number=1,
        author=doctor,
        changed_fields=["medical_history", "treatment_plan", "prescriptions", "private_notes"],
        content={},
    )
    if consultation == "signed":
        await models.ConsultationAddendum.create(
            consultation=record, author=doctor, text="ECG reviewed again: normal."
        )
    conversation = await models.Conversation.create(
        patient=patient, doctor=doctor, last_seq=1, last_message_at=now
    )
    await models.ChatMessage.create(
        conversation=conversation, seq=1, sender=doctor, client_id=uuid.uuid4(), text="Hello"
    )
    notification = await models.Notification.create(
        recipient=patient,
        seq=1,
        kind=models.NotificationKind.CHAT_MESSAGE,
        title="New message",
        body="Dr Assigned sent you a message.",
        conversation=conversation,
    )
    time_off = await models.TimeOff.create(
        doctor=doctor, starts_at=hour + 10 * day, ends_at=hour + 11 * day, reason="Conference"
    )
    call_visit = await make_appointment(
        patient, doctor, now - timedelta(minutes=5), reason="Video follow-up"
    )
    call = await models.VideoCall.create(
        appointment=call_visit,
        live_appointment_id=call_visit.id,
        patient=patient,
        doctor=doctor,
        caller=patient,
        rung_at=now,
        last_signal_seq=2,
    )
    past_call = await models.VideoCall.create(
        appointment=visit,
        patient=patient,
        doctor=doctor,
        caller=patient,
        state=models.VideoCallState.ENDED,
        rung_at=visit.starts_at,
        answered_at=visit.starts_at + timedelta(seconds=20),
        ended_at=visit.starts_at + timedelta(minutes=25),
        ended_by=patient,
    )
    for seq, sender, kind in ((1, patient, "OFFER"), (2, doctor, "ANSWER")):
        await models.CallSignal.create(
            call=call, seq=seq, sender=sender, kind=kind, payload={"sdp": "v=0\r\n"}
        )
    return World(
        users=users,
        personas=personas,
        visit=visit,
        started_visit=started_visit,
        upcoming=upcoming,
        cancelled=cancelled,
        consultation=record,
        conversation=conversation,
        notification=notification,
        time_off=time_off,
        free_slot=hour + 3 * day,
        call_visit=call_visit,
        call=call,
        past_call=past_call,
    )


# ---- how each row is asked --------------------------------------------------------------

Variables = Callable[[World, str], dict[str, Any]]
RESULT = "__typename ... on Error { code }"


def no_variables(world: World, persona: str) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Probe:
    """One operation that exercises a row, and where in its result the answer is."""

    document: str
    variables: Variables = no_variables
    path: tuple[str | int, ...] = ()  # keys, and list indexes
    via: str = "http"  # or "multipart", "websocket"
    consultation: str = "signed"  # the world's consultation: "signed" or "draft"
    # What others do before the persona asks.
    before: Callable[[GraphQLClient, World], Awaitable[None]] | None = None
    # For subscriptions: what others do once the persona has subscribed.
    then: Callable[[GraphQLClient, World], Awaitable[None]] | None = None
    # An empty list is the answer itself (not "nothing for you"), which null is.
    empty_is_data: bool = False


def ids(**names: Callable[[World], Any]) -> Variables:
    """Variables computed from the world, the same for every persona."""
    return lambda world, persona: {key: str(value(world)) for key, value in names.items()}


def patient_a_id(world: World) -> str:
    return world.id("patient_a")


def patient_a_link(world: World, persona: str) -> dict[str, Any]:
    """The token of the "choose your emails" link in patient A's emails."""
    settings = Settings(jwt_secret=TEST_JWT_SECRET)
    return {"token": preferences_link_token(world.users["patient_a"].id, settings)}


def doctor_id(world: World) -> str:
    return world.id("doctor")


def persona_or_patient_a(world: World, persona: str) -> models.User:
    """Login and refresh as the persona itself; anonymous holds patient A's secrets."""
    return world.users.get(persona, world.users["patient_a"])


def login_variables(world: World, persona: str) -> dict[str, Any]:
    return {"email": persona_or_patient_a(world, persona).email, "password": TEST_PASSWORD}


def refresh_variables(world: World, persona: str) -> dict[str, Any]:
    owner = persona if persona in world.personas else "patient_a"
    return {"refreshToken": world.personas[owner].refresh_token}


def counterpart(world: World, persona: str) -> dict[str, Any]:
    """Patients start a conversation with the doctor; everyone else with patient A."""
    user = world.users.get(persona)
    is_patient = user is not None and user.role == models.Role.PATIENT
    return {"withUserId": world.id("doctor" if is_patient else "patient_a")}


def schedule_input(world: World, persona: str) -> dict[str, Any]:
    return {
        "input": {
            "doctorId": world.id("doctor"),
            "timeZone": "Europe/London",
            "slotMinutes": 30,
            "hours": [{"weekday": 0, "start": "09:00", "end": "12:00"}],
        }
    }


def time_off_input(world: World, persona: str) -> dict[str, Any]:
    starts = world.free_slot + timedelta(days=20)
    return {
        "input": {
            "doctorId": world.id("doctor"),
            "startsAt": starts.isoformat(),
            "endsAt": (starts + timedelta(hours=4)).isoformat(),
            "reason": "Training",
        }
    }


def booking_input(world: World, persona: str) -> dict[str, Any]:
    return {
        "input": {
            "doctorId": world.id("doctor"),
            "startsAt": world.free_slot.isoformat(),
            "reason": "A rash",
        }
    }


def new_user_input(world: World, persona: str) -> dict[str, Any]:
    return {
        "input": {
            "email": f"new-{uuid.uuid4().hex[:8]}@example.org",
            "password": "a long enough password",
            "firstName": "New",
            "lastName": "Person",
            "role": "PATIENT",
        }
    }


def register_input(world: World, persona: str) -> dict[str, Any]:
    registration = new_user_input(world, persona)["input"]
    del registration["role"]
    return {"input": registration}


def consultation_field(name: str, selection: str = "") -> Probe:
    return Probe(
        f"query ConsultationField($id: ID!) {{ consultation(id: $id) {{ {name} {selection} }} }}",
        ids(id=lambda w: w.consultation.id),
        path=("consultation", name),
    )


def user_field(name: str, whose: Callable[[World], str]) -> Probe:
    return Probe(
        f"query UserField($id: ID!) {{ user(id: $id) {{ {name} }} }}",
        ids(id=whose),
        path=("user", name),
    )


def trail_field(root: str, name: str) -> Probe:
    """A field of the first row of the trail, after the doctor has read A's records."""
    return Probe(
        f"query TrailField {{ {root}(first: 1) {{ nodes {{ {name} }} }} }}",
        path=(root, "nodes", 0, name),
        before=doctor_reads_the_consultation,
    )


async def doctor_reads_the_consultation(client: GraphQLClient, world: World) -> None:
    await client.execute(
        "query Read($id: ID!) { consultation(id: $id) { id treatmentPlan } }",
        {"id": str(world.consultation.id)},
        as_=world.personas["doctor"],
    )


async def both_start_typing(client: GraphQLClient, world: World) -> None:
    for persona in ("patient_a", "doctor"):
        await client.execute(
            "mutation SetTyping($id: ID!) { setTyping(conversationId: $id, typing: true) }",
            {"id": str(world.conversation.id)},
            as_=world.personas[persona],
        )


async def both_read_each_others_message(client: GraphQLClient, world: World) -> None:
    conversation = {"id": str(world.conversation.id)}
    for persona in ("patient_a", "doctor"):
        await client.execute(
            "mutation Send($id: ID!, $clientId: ID!) {"
            ' sendMessage(conversationId: $id, clientId: $clientId, text: "hello") {'
            " __typename } }",
            {**conversation, "clientId": str(uuid.uuid4())},
            as_=world.personas[persona],
        )
    for persona in ("patient_a", "doctor"):
        await client.execute(
            "mutation Read($id: ID!) { markConversationRead(conversationId: $id, upToSeq: 2) {"
            " __typename } }",
            conversation,
            as_=world.personas[persona],
        )


async def the_doctor_answers(client: GraphQLClient, world: World) -> None:
    await client.execute(
        "mutation Join($id: ID!) { joinVideoCall(callId: $id) { __typename } }",
        {"id": str(world.call.id)},
        as_=world.personas["doctor"],
    )


def call_id(world: World) -> str:
    return str(world.call.id)


PROBES: dict[str, Probe] = {
    # -- queries
    "Query.me": Probe("query Me { me { id } }"),
    "Query.user": Probe("query User($id: ID!) { user(id: $id) { id } }", ids(id=patient_a_id)),
    "Query.users": Probe("query Users { users { nodes { id } } }", path=("users", "nodes")),
    "Query.doctors": Probe("query Doctors { doctors { nodes { id } } }", path=("doctors", "nodes")),
    "Query.availableSlots": Probe(
        "query AvailableSlots($doctorId: ID!, $from: Date!, $to: Date!) {"
        " availableSlots(doctorId: $doctorId, fromDate: $from, toDate: $to) { startsAt } }",
        lambda w, p: {
            "doctorId": w.id("doctor"),
            "from": w.free_slot.date().isoformat(),
            "to": w.free_slot.date().isoformat(),
        },
    ),
    "Query.doctorSchedule": Probe(
        "query DoctorSchedule($id: ID!) { doctorSchedule(doctorId: $id) { timeZone } }",
        ids(id=doctor_id),
    ),
    "Query.timeOff": Probe(
        "query TimeOff($id: ID) { timeOff(doctorId: $id) { id } }", ids(id=doctor_id)
    ),
    "Query.appointment": Probe(
        "query Appointment($id: ID!) { appointment(id: $id) { id } }",
        ids(id=lambda w: w.visit.id),
    ),
    "Query.appointments": Probe(
        "query Appointments { appointments { nodes { id } } }", path=("appointments", "nodes")
    ),
    "Query.consultation": Probe(
        "query Consultation($id: ID!) { consultation(id: $id) { id } }",
        ids(id=lambda w: w.consultation.id),
    ),
    "Query.consultations": Probe(
        "query Consultations { consultations { nodes { id } } }", path=("consultations", "nodes")
    ),
    "Query.myNotifications": Probe(
        "query MyNotifications { myNotifications { nodes { id } } }",
        path=("myNotifications", "nodes"),
    ),
    "Query.notification": Probe(
        "query Notification($id: ID!) { notification(id: $id) { id } }",
        ids(id=lambda w: w.notification.id),
    ),
    "Query.unreadNotificationCount": Probe("query Unread { unreadNotificationCount }"),
    "Query.lastNotificationSeq": Probe("query LastSeq { lastNotificationSeq }"),
    "Query.conversation": Probe(
        "query Conversation($id: ID!) { conversation(id: $id) { id } }",
        ids(id=lambda w: w.conversation.id),
    ),
    "Query.conversations": Probe(
        "query Conversations { conversations { nodes { id } } }", path=("conversations", "nodes")
    ),
    "Query.auditEvents": Probe(
        "query AuditEvents { auditEvents { nodes { id } } }",
        path=("auditEvents", "nodes"),
        before=doctor_reads_the_consultation,
    ),
    "Query.myRecordAccess": Probe(
        "query MyRecordAccess { myRecordAccess { nodes { id actorName } } }",
        path=("myRecordAccess", "nodes"),
        before=doctor_reads_the_consultation,
    ),
    # -- mutations: accounts and sessions
    "Mutation.register": Probe(
        f"mutation Register($input: RegisterInput!) {{ register(input: $input) {{ {RESULT} }} }}",
        register_input,
    ),
    "Mutation.login": Probe(
        "mutation Login($email: String!, $password: String!) {"
        f" login(email: $email, password: $password) {{ {RESULT} }} }}",
        login_variables,
    ),
    "Mutation.refreshToken": Probe(
        "mutation Refresh($refreshToken: String!) {"
        f" refreshToken(refreshToken: $refreshToken) {{ {RESULT} }} }}",
        refresh_variables,
    ),
    "Mutation.logout": Probe("mutation Logout { logout }"),
    "Mutation.requestPasswordReset": Probe(
        "mutation Forgot($email: String!) {"
        f" requestPasswordReset(email: $email) {{ {RESULT} }} }}",
        lambda w, p: {"email": persona_or_patient_a(w, p).email},
    ),
    "Mutation.resetPassword": Probe(
        "mutation Reset($token: String!) {"
        f' resetPassword(token: $token, newPassword: "another long password") {{ {RESULT} }} }}',
        lambda w, p: {"token": secrets.token_urlsafe(32)},
    ),
    "Mutation.verifyEmail": Probe(
        f"mutation Verify($token: String!) {{ verifyEmail(token: $token) {{ {RESULT} }} }}",
        lambda w, p: {"token": secrets.token_urlsafe(32)},
    ),
    "Mutation.resendVerificationEmail": Probe(
        "mutation Resend { resendVerificationEmail { message } }"
    ),
    "Mutation.changeEmail": Probe(
        "mutation ChangeEmail($email: String!, $current: String!) {"
        f" changeEmail(newEmail: $email, currentPassword: $current) {{ {RESULT} }} }}",
        lambda w, p: {"email": f"new-{uuid.uuid4().hex[:8]}@example.org", "current": TEST_PASSWORD},
    ),
    "Query.emailPreferences": Probe(
        "query Preferences {"
        f" emailPreferences {{ {RESULT} ... on EmailPreferences {{ reminders }} }} }}"
    ),
    "Query.emailPreferences (A's link)": Probe(
        "query Preferences($token: String!) {"
        f" emailPreferences(token: $token) {{ {RESULT}"
        " ... on EmailPreferences { reminders } } }",
        patient_a_link,
    ),
    "Mutation.updateEmailPreferences": Probe(
        "mutation UpdatePreferences {"
        f" updateEmailPreferences(input: {{reminders: true}}) {{ {RESULT} }} }}"
    ),
    "Mutation.updateEmailPreferences (A's link)": Probe(
        "mutation UpdatePreferences($token: String!) {"
        f" updateEmailPreferences(input: {{reminders: true}}, token: $token) {{ {RESULT} }} }}",
        patient_a_link,
    ),
    "Query.emailDeliveries": Probe(
        "query Deliveries { emailDeliveries { nodes { id } } }",
        path=("emailDeliveries", "nodes"),
        empty_is_data=True,
    ),
    "Mutation.changePassword": Probe(
        "mutation ChangePassword($current: String!) {"
        ' changePassword(currentPassword: $current, newPassword: "another long password") {'
        f" {RESULT} }} }}",
        lambda w, p: {"current": TEST_PASSWORD},
    ),
    "Mutation.updateMyProfile": Probe(
        f'mutation UpdateMyProfile {{ updateMyProfile(input: {{bio: "Hi"}}) {{ {RESULT} }} }}'
    ),
    "Mutation.uploadProfilePicture": Probe(
        f"mutation Upload($file: Upload!) {{ uploadProfilePicture(file: $file) {{ {RESULT} }} }}",
        via="multipart",
    ),
    "Mutation.removeProfilePicture": Probe(
        "mutation RemoveProfilePicture { removeProfilePicture { user { id } } }"
    ),
    "Mutation.createUser": Probe(
        "mutation CreateUser($input: CreateUserInput!) {"
        f" createUser(input: $input) {{ {RESULT} }} }}",
        new_user_input,
    ),
    "Mutation.setUserActive": Probe(
        "mutation SetUserActive($id: ID!) {"
        f" setUserActive(userId: $id, active: false) {{ {RESULT} }} }}",
        ids(id=lambda w: w.id("patient_b")),
    ),
    "Mutation.changeUserRole": Probe(
        "mutation ChangeUserRole($id: ID!) {"
        f' changeUserRole(userId: $id, role: DOCTOR, specialty: "Surgery") {{ {RESULT} }} }}',
        ids(id=lambda w: w.id("patient_b")),
    ),
    # -- mutations: the doctor's calendar
    "Mutation.setDoctorSchedule": Probe(
        "mutation SetDoctorSchedule($input: SetDoctorScheduleInput!) {"
        f" setDoctorSchedule(input: $input) {{ {RESULT} }} }}",
        schedule_input,
    ),
    "Mutation.addTimeOff": Probe(
        "mutation AddTimeOff($input: AddTimeOffInput!) {"
        f" addTimeOff(input: $input) {{ {RESULT} }} }}",
        time_off_input,
    ),
    "Mutation.removeTimeOff": Probe(
        "mutation RemoveTimeOff($id: ID!) { removeTimeOff(id: $id) }",
        ids(id=lambda w: w.time_off.id),
    ),
    # -- mutations: appointments
    "Mutation.bookAppointment": Probe(
        "mutation Book($input: BookAppointmentInput!) {"
        f" bookAppointment(input: $input) {{ {RESULT} }} }}",
        booking_input,
    ),
    "Mutation.rescheduleAppointment": Probe(
        "mutation Reschedule($id: ID!, $startsAt: DateTime!) {"
        f" rescheduleAppointment(id: $id, startsAt: $startsAt) {{ {RESULT} }} }}",
        lambda w, p: {"id": str(w.upcoming.id), "startsAt": w.free_slot.isoformat()},
    ),
    "Mutation.cancelAppointment": Probe(
        "mutation Cancel($id: ID!) {"
        f' cancelAppointment(id: $id, reason: "Feeling better") {{ {RESULT} }} }}',
        ids(id=lambda w: w.upcoming.id),
    ),
    "Mutation.completeAppointment": Probe(
        f"mutation Complete($id: ID!) {{ completeAppointment(id: $id) {{ {RESULT} }} }}",
        ids(id=lambda w: w.started_visit.id),
    ),
    "Mutation.markAppointmentNoShow": Probe(
        f"mutation NoShow($id: ID!) {{ markAppointmentNoShow(id: $id) {{ {RESULT} }} }}",
        ids(id=lambda w: w.started_visit.id),
    ),
    # -- mutations: consultations
    "Mutation.createConsultation": Probe(
        "mutation CreateConsultation($id: ID!) {"
        ' createConsultation(input: {appointmentId: $id, treatmentPlan: "Rest"}) {'
        f" {RESULT} }} }}",
        ids(id=lambda w: w.started_visit.id),
    ),
    "Mutation.updateConsultation": Probe(
        "mutation UpdateConsultation($id: ID!) {"
        f' updateConsultation(id: $id, input: {{treatmentPlan: "Rest"}}) {{ {RESULT} }} }}',
        ids(id=lambda w: w.consultation.id),
        consultation="draft",
    ),
    "Mutation.signConsultation": Probe(
        f"mutation Sign($id: ID!) {{ signConsultation(id: $id) {{ {RESULT} }} }}",
        ids(id=lambda w: w.consultation.id),
        consultation="draft",
    ),
    "Mutation.addConsultationAddendum": Probe(
        "mutation Addendum($id: ID!) {"
        f' addConsultationAddendum(consultationId: $id, text: "Also") {{ {RESULT} }} }}',
        ids(id=lambda w: w.consultation.id),
    ),
    # -- mutations: notifications and chat
    "Mutation.markNotificationsRead": Probe(
        "mutation MarkRead($id: ID!) { markNotificationsRead(ids: [$id]) { count } }",
        ids(id=lambda w: w.notification.id),
        path=("markNotificationsRead", "count"),
    ),
    "Mutation.markAllNotificationsRead": Probe(
        "mutation MarkAllRead { markAllNotificationsRead { count } }",
        path=("markAllNotificationsRead", "count"),
    ),
    "Mutation.startConversation": Probe(
        "mutation Start($withUserId: ID!) {"
        f" startConversation(withUserId: $withUserId) {{ {RESULT} }} }}",
        counterpart,
    ),
    "Mutation.sendMessage": Probe(
        "mutation Send($id: ID!, $clientId: ID!) {"
        f' sendMessage(conversationId: $id, clientId: $clientId, text: "Hi") {{ {RESULT} }} }}',
        lambda w, p: {"id": str(w.conversation.id), "clientId": str(uuid.uuid4())},
    ),
    "Mutation.markConversationRead": Probe(
        "mutation MarkConversationRead($id: ID!) {"
        f" markConversationRead(conversationId: $id, upToSeq: 1) {{ {RESULT} }} }}",
        ids(id=lambda w: w.conversation.id),
    ),
    "Mutation.setTyping": Probe(
        "mutation SetTyping($id: ID!) { setTyping(conversationId: $id, typing: true) }",
        ids(id=lambda w: w.conversation.id),
    ),
    # -- video calls
    "Query.videoCall": Probe(
        "query VideoCall($id: ID!) { videoCall(id: $id) { id state } }", ids(id=call_id)
    ),
    "Query.iceServers": Probe(
        "query IceServers($id: ID!) { iceServers(callId: $id) { urls username credential } }",
        ids(id=call_id),
        empty_is_data=True,
    ),
    "Mutation.startVideoCall": Probe(
        f"mutation Start($id: ID!) {{ startVideoCall(appointmentId: $id) {{ {RESULT} }} }}",
        ids(id=lambda w: w.call_visit.id),
    ),
    "Mutation.joinVideoCall": Probe(
        f"mutation Join($id: ID!) {{ joinVideoCall(callId: $id) {{ {RESULT} }} }}",
        ids(id=call_id),
    ),
    "Mutation.declineVideoCall": Probe(
        f"mutation Decline($id: ID!) {{ declineVideoCall(callId: $id) {{ {RESULT} }} }}",
        ids(id=call_id),
    ),
    "Mutation.leaveVideoCall": Probe(
        f"mutation Leave($id: ID!) {{ leaveVideoCall(callId: $id) {{ {RESULT} }} }}",
        ids(id=call_id),
    ),
    "Mutation.sendCallSignal": Probe(
        "mutation Signal($id: ID!) { sendCallSignal(callId: $id, kind: ICE_CANDIDATE, payload:"
        ' {candidate: {candidate: "", sdpMid: "0"}}) {'
        f" {RESULT} }} }}",
        ids(id=call_id),
    ),
    # -- subscriptions
    "Subscription.callSignals": Probe(
        "subscription CallSignals($id: ID!) { callSignals(callId: $id) { seq kind } }",
        ids(id=call_id),
        via="websocket",
    ),
    "Subscription.videoCallChanged": Probe(
        "subscription VideoCallChanged { videoCallChanged { id state } }",
        via="websocket",
        then=the_doctor_answers,
    ),
    "Subscription.appointmentChanged": Probe(
        "subscription AppointmentChanged($since: DateTime) {"
        " appointmentChanged(changedSince: $since) { id } }",
        lambda w, p: {"since": "2000-01-01T00:00:00+00:00"},
        via="websocket",
    ),
    "Subscription.notificationAdded": Probe(
        "subscription NotificationAdded { notificationAdded(afterSeq: 0) { id } }",
        via="websocket",
    ),
    "Subscription.messageAdded": Probe(
        "subscription MessageAdded($id: ID!) {"
        " messageAdded(conversationId: $id, afterSeq: 0) { seq } }",
        ids(id=lambda w: w.conversation.id),
        via="websocket",
    ),
    "Subscription.typingChanged": Probe(
        "subscription TypingChanged($id: ID!) { typingChanged(conversationId: $id) { typing } }",
        ids(id=lambda w: w.conversation.id),
        via="websocket",
        then=both_start_typing,
    ),
    "Subscription.readReceiptChanged": Probe(
        "subscription Receipts($id: ID!) { readReceiptChanged(conversationId: $id) {"
        " lastReadSeq } }",
        ids(id=lambda w: w.conversation.id),
        via="websocket",
        then=both_read_each_others_message,
    ),
    # -- fields of types: a public profile, and the sensitive fields
    "User.email (patient A's)": user_field("email", patient_a_id),
    "User.phoneNumber (patient A's)": user_field("phoneNumber", patient_a_id),
    "User.isActive (patient A's)": user_field("isActive", patient_a_id),
    "User.emailVerified (patient A's)": user_field("emailVerified", patient_a_id),
    "User.fullName (patient A's)": user_field("fullName", patient_a_id),
    "User.fullName (the doctor's)": user_field("fullName", doctor_id),
    "User.specialty (the doctor's)": user_field("specialty", doctor_id),
    "User.email (the doctor's)": user_field("email", doctor_id),
    "User.phoneNumber (the doctor's)": user_field("phoneNumber", doctor_id),
    "User.isActive (the doctor's)": user_field("isActive", doctor_id),
    "Appointment.reason": Probe(
        "query Reason($id: ID!) { appointment(id: $id) { reason } }",
        ids(id=lambda w: w.visit.id),
        path=("appointment", "reason"),
    ),
    "Appointment.cancellationReason": Probe(
        "query CancellationReason($id: ID!) { appointment(id: $id) { cancellationReason } }",
        ids(id=lambda w: w.cancelled.id),
        path=("appointment", "cancellationReason"),
    ),
    "AuditEvent.clientAddress (A's)": trail_field("myRecordAccess", "clientAddress"),
    "AuditEvent.clientAddress (all)": trail_field("auditEvents", "clientAddress"),
    "AuditEvent.requestId (A's)": trail_field("myRecordAccess", "requestId"),
    "AuditEvent.requestId (all)": trail_field("auditEvents", "requestId"),
    "Appointment.consultation": Probe(
        "query Nested($id: ID!) { appointment(id: $id) { consultation { id } } }",
        ids(id=lambda w: w.visit.id),
        path=("appointment", "consultation"),
    ),
    "Consultation.medicalHistory": consultation_field("medicalHistory"),
    "Consultation.examinationFindings": consultation_field("examinationFindings"),
    "Consultation.investigations": consultation_field("investigations"),
    "Consultation.treatmentPlan": consultation_field("treatmentPlan"),
    "Consultation.reviewDate": consultation_field("reviewDate"),
    "Consultation.prescriptions": consultation_field("prescriptions", "{ medication dose }"),
    "Consultation.revisions": consultation_field("revisions", "{ number changedFields }"),
    "Consultation.addenda": consultation_field("addenda", "{ text }"),
    "Consultation.privateNotes": consultation_field("privateNotes"),
    "Appointment.videoCalls": Probe(
        "query VideoCalls($id: ID!) { appointment(id: $id) { videoCalls { id rungAt } } }",
        ids(id=lambda w: w.call_visit.id),
        path=("appointment", "videoCalls"),
    ),
    "Appointment.activeVideoCall": Probe(
        "query ActiveCall($id: ID!) { appointment(id: $id) { activeVideoCall { id } } }",
        ids(id=lambda w: w.call_visit.id),
        path=("appointment", "activeVideoCall"),
    ),
    "Conversation.messages": Probe(
        "query Messages($id: ID!) { conversation(id: $id) { messages { messages { text } } } }",
        ids(id=lambda w: w.conversation.id),
        path=("conversation", "messages", "messages"),
    ),
}

# ---- asking, and reading the answer -----------------------------------------------------

ERROR_INTERFACE = SCHEMA.get_type("Error")
assert isinstance(ERROR_INTERFACE, GraphQLInterfaceType)
# The typed errors of result unions: an outcome is their name, like "NotFound".
ERROR_TYPES = frozenset(member.name for member in SCHEMA.get_possible_types(ERROR_INTERFACE))


def root_field(document: str) -> str:
    """The first root field of a one-field operation, as the default result path."""
    selection = document[document.index("{") + 1 :].strip()
    return selection.split("(")[0].split("{")[0].split()[0]


def classify(body: dict[str, Any], path: tuple[str | int, ...], empty_is_data: bool = False) -> str:
    errors = body.get("errors")
    if errors:
        codes = {error.get("extensions", {}).get("code") for error in errors}
        assert len(codes) == 1, f"mixed error codes: {errors}"
        return str(codes.pop())
    value: Any = body.get("data")
    for key in path:
        if value is None:
            break
        short = isinstance(key, int) and len(value) <= key  # a list with no such item
        value = None if short else value[key]
    if isinstance(value, dict) and value.get("__typename") in ERROR_TYPES:
        return str(value["__typename"])
    if value == [] and empty_is_data:
        return D
    if value is None or value is False or value == 0 or value == []:
        return N
    return D


async def over_http(
    client: GraphQLClient, server: LiveServer, world: World, probe: Probe, persona: str
) -> tuple[str, Any]:
    response = await client.post(
        probe.document, probe.variables(world, persona), as_=world.token(persona)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    path = probe.path or (root_field(probe.document),)
    return classify(body, path, probe.empty_is_data), body


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 120, 200)).save(out, format="PNG")
    return out.getvalue()


async def over_multipart(
    client: GraphQLClient, server: LiveServer, world: World, probe: Probe, persona: str
) -> tuple[str, Any]:
    headers = {"apollo-require-preflight": "true"}
    token = world.token(persona)
    if token:
        headers["authorization"] = f"Bearer {token}"
    operations = {"query": probe.document, "variables": {"file": None}}
    response = await client.http.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.file"]})},
        files={"0": ("me.png", png(), "image/png")},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return classify(body, probe.path or (root_field(probe.document),)), body


async def over_websocket(
    client: GraphQLClient, server: LiveServer, world: World, probe: Probe, persona: str
) -> tuple[str, Any]:
    """Subscribe with graphql-transport-ws; the first thing the server sends decides."""
    token = world.token(persona)
    payload = {"authorization": f"Bearer {token}"} if token else {}
    async with websockets.connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        try:
            ack = json.loads(await asyncio.wait_for(socket.recv(), 5))
        except websockets.ConnectionClosed:
            return str(socket.close_code), None
        assert ack["type"] == "connection_ack", ack
        subscribe = {"query": probe.document, "variables": probe.variables(world, persona)}
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
        if probe.then is not None:
            await asyncio.sleep(0.3)  # let the server subscribe before the others act
            await probe.then(client, world)
        while True:
            try:
                message = json.loads(await asyncio.wait_for(socket.recv(), 1.5))
            except TimeoutError:
                return N, None  # subscribed, and nothing for this persona
            except websockets.ConnectionClosed:
                return str(socket.close_code), None
            if message["type"] == "error":
                return classify({"errors": message["payload"]}, ()), message
            if message["type"] == "next":
                return classify(message["payload"], (root_field(probe.document),)), message
            if message["type"] == "complete":
                return N, message
            assert message["type"] in {"ping", "pong"}, message


RUNNERS = {"http": over_http, "multipart": over_multipart, "websocket": over_websocket}

CASES = [
    pytest.param(row, persona, expected, id=f"{row}-{persona}")
    for row, outcomes in MATRIX.items()
    for persona, expected in zip(PERSONAS, outcomes, strict=True)
]


@pytest.mark.parametrize(("row", "persona", "expected"), CASES)
async def test_each_persona_gets_what_the_policy_allows(
    client: GraphQLClient, live_server: LiveServer, row: str, persona: str, expected: str
) -> None:
    # given
    probe = PROBES[row]
    world = await build_world(live_server.settings, persona, probe.consultation)
    if probe.before is not None:
        await probe.before(client, world)
    # when
    outcome, answer = await RUNNERS[probe.via](client, live_server, world, probe, persona)
    # then
    assert outcome == expected, f"{row} as {persona}: expected {expected}, got {outcome}: {answer}"


# ---- the table covers the schema ---------------------------------------------------------


def root_fields_in_schema() -> set[str]:
    graphql_schema = SCHEMA
    roots = {
        "Query": graphql_schema.query_type,
        "Mutation": graphql_schema.mutation_type,
        "Subscription": graphql_schema.subscription_type,
    }
    return {
        f"{kind}.{name}" for kind, root in roots.items() if root is not None for name in root.fields
    }


def restricted_type_fields_in_schema() -> set[str]:
    """Type fields whose description says who gets null or nothing: those need rows."""
    restricted = set()
    for type_name, graphql_type in SCHEMA.type_map.items():
        if type_name in {"Query", "Mutation", "Subscription"} or type_name.startswith("__"):
            continue
        for name, definition in getattr(graphql_type, "fields", {}).items():
            description = getattr(definition, "description", None) or ""
            if any(phrase in description for phrase in ("Null unless", "Null for", "Empty for")):
                restricted.add(f"{type_name}.{name}")
    return restricted


def row_field(row: str) -> str:
    return row.split(" ")[0]


def test_every_root_field_of_the_schema_has_a_row_in_the_matrix() -> None:
    rows = {
        row_field(row)
        for row in MATRIX
        if row.split(".")[0] in {"Query", "Mutation", "Subscription"}
    }
    in_schema = root_fields_in_schema()
    without_a_row = sorted(in_schema - rows)
    stale = sorted(rows - in_schema)
    assert without_a_row == [], f"root fields without a row in MATRIX: {without_a_row}"
    assert stale == [], f"rows for root fields the schema no longer has: {stale}"


def test_every_field_documented_as_restricted_has_a_row_in_the_matrix() -> None:
    rows = {row_field(row) for row in MATRIX}
    assert sorted(restricted_type_fields_in_schema() - rows) == []


def test_every_row_has_a_probe_and_names_a_field_of_the_schema() -> None:
    assert set(MATRIX) == set(PROBES)
    for row in MATRIX:
        type_name, field_name = row_field(row).split(".")
        graphql_type = SCHEMA.get_type(type_name)
        assert isinstance(graphql_type, GraphQLObjectType | GraphQLInterfaceType), row
        assert field_name in graphql_type.fields, row
