"""A mutation or subscription that asks for a row by id, and finds none the viewer may see,
leaves a refused attempt on the trail, as a lookup by id does (tests/test_audit_paths.py).

The cases are checked against the schema: every mutation whose result can be `NotFound`,
and every operation that takes a `conversationId` without such a union (setTyping, the
conversation's subscriptions), has one, so that a new one fails here until it has a case.
Doctors and their schedules are a public directory: a doctor id that matches no doctor
refuses nothing, and leaves no row.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from graphql import GraphQLUnionType, get_named_type

from healthcare import models
from healthcare.security import audit
from tests.conftest import (
    SCHEMA,
    GraphQLClient,
    LiveServer,
    make_admin,
    make_appointment,
    make_doctor,
    make_patient,
    sign_in,
)
from tests.wsclient import Subscriber

Entity = models.AuditEntity
LATER = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0).isoformat()
LATER_STILL = (datetime.now(UTC) + timedelta(days=4)).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Case:
    role: models.Role  # who asks: one who may call the field
    text: str
    variables: Callable[[str], dict[str, Any]]  # given the id asked for
    entity: Entity | None  # on the trail; None: a directory lookup, which refuses nothing
    via: str = "http"


RESULT = "{ __typename }"
PATIENT, DOCTOR, ADMIN = models.Role.PATIENT, models.Role.DOCTOR, models.Role.ADMIN


def by_id(role: models.Role, field: str, arguments: str, entity: Entity) -> Case:
    """A mutation whose one variable is the id asked for, `$id`."""
    text = f"mutation M($id: ID!) {{ {field}({arguments}) {RESULT} }}"
    return Case(role, text, lambda asked: {"id": asked}, entity)


def conversation_subscription(field: str, selected: str) -> Case:
    """A patient's subscription to the events of the conversation asked for."""
    text = f"subscription S($id: ID!) {{ {field}(conversationId: $id) {{ {selected} }} }}"
    return Case(PATIENT, text, lambda asked: {"id": asked}, Entity.CONVERSATION, via="websocket")


CASES: dict[str, Case] = {
    "addConsultationAddendum": by_id(
        DOCTOR, "addConsultationAddendum", 'consultationId: $id, text: "x"', Entity.CONSULTATION
    ),
    "addTimeOff": Case(
        ADMIN,
        f"mutation M($input: AddTimeOffInput!) {{ addTimeOff(input: $input) {RESULT} }}",
        lambda asked: {"input": {"doctorId": asked, "startsAt": LATER, "endsAt": LATER_STILL}},
        None,
    ),
    "bookAppointment": Case(
        PATIENT,
        f"mutation M($input: BookAppointmentInput!) {{ bookAppointment(input: $input) {RESULT} }}",
        lambda asked: {"input": {"doctorId": asked, "startsAt": LATER, "reason": "Check-up"}},
        None,
    ),
    "cancelAppointment": by_id(
        PATIENT, "cancelAppointment", 'id: $id, reason: "No"', Entity.APPOINTMENT
    ),
    "changeUserRole": by_id(ADMIN, "changeUserRole", "userId: $id, role: PATIENT", Entity.USER),
    "completeAppointment": by_id(DOCTOR, "completeAppointment", "id: $id", Entity.APPOINTMENT),
    "createConsultation": Case(
        DOCTOR,
        "mutation M($input: CreateConsultationInput!) "
        f"{{ createConsultation(input: $input) {RESULT} }}",
        lambda asked: {"input": {"appointmentId": asked}},
        Entity.APPOINTMENT,
    ),
    "markAppointmentNoShow": by_id(DOCTOR, "markAppointmentNoShow", "id: $id", Entity.APPOINTMENT),
    "markConversationRead": by_id(
        PATIENT, "markConversationRead", "conversationId: $id, upToSeq: 1", Entity.CONVERSATION
    ),
    "rescheduleAppointment": Case(
        PATIENT,
        "mutation M($id: ID!, $at: DateTime!) "
        f"{{ rescheduleAppointment(id: $id, startsAt: $at) {RESULT} }}",
        lambda asked: {"id": asked, "at": LATER},
        Entity.APPOINTMENT,
    ),
    "sendMessage": Case(
        PATIENT,
        "mutation M($id: ID!, $clientId: ID!) "
        f'{{ sendMessage(conversationId: $id, clientId: $clientId, text: "Hi") {RESULT} }}',
        lambda asked: {"id": asked, "clientId": str(uuid.uuid4())},
        Entity.CONVERSATION,
    ),
    "setDoctorSchedule": Case(
        ADMIN,
        "mutation M($input: SetDoctorScheduleInput!) "
        f"{{ setDoctorSchedule(input: $input) {RESULT} }}",
        lambda asked: {
            "input": {
                "doctorId": asked,
                "timeZone": "Europe/London",
                "slotMinutes": 30,
                "hours": [{"weekday": 1, "start": "09:00", "end": "12:00"}],
            }
        },
        None,
    ),
    "setUserActive": by_id(ADMIN, "setUserActive", "userId: $id, active: false", Entity.USER),
    "signConsultation": by_id(DOCTOR, "signConsultation", "id: $id", Entity.CONSULTATION),
    "startConversation": by_id(PATIENT, "startConversation", "withUserId: $id", Entity.USER),
    "updateConsultation": by_id(
        DOCTOR,
        "updateConsultation",
        'id: $id, input: { treatmentPlan: "Rest" }',
        Entity.CONSULTATION,
    ),
    # Without a result union: false, or a NOT_FOUND error on the subscription.
    "setTyping": Case(
        PATIENT,
        "mutation M($id: ID!) { setTyping(conversationId: $id, typing: true) }",
        lambda asked: {"id": asked},
        Entity.CONVERSATION,
    ),
    "messageAdded": conversation_subscription("messageAdded", "seq"),
    "typingChanged": conversation_subscription("typingChanged", "typing"),
    "readReceiptChanged": conversation_subscription("readReceiptChanged", "conversationId"),
}


def call_subscription(field: str, selected: str) -> Case:
    """A patient's subscription to the signals of the video call asked for."""
    text = f"subscription S($id: ID!) {{ {field}(callId: $id) {{ {selected} }} }}"
    return Case(PATIENT, text, lambda asked: {"id": asked}, Entity.VIDEO_CALL, via="websocket")


CASES.update(
    {
        "startVideoCall": by_id(
            PATIENT, "startVideoCall", "appointmentId: $id", Entity.APPOINTMENT
        ),
        "joinVideoCall": by_id(DOCTOR, "joinVideoCall", "callId: $id", Entity.VIDEO_CALL),
        "declineVideoCall": by_id(DOCTOR, "declineVideoCall", "callId: $id", Entity.VIDEO_CALL),
        "leaveVideoCall": by_id(PATIENT, "leaveVideoCall", "callId: $id", Entity.VIDEO_CALL),
        "sendCallSignal": by_id(
            PATIENT, "sendCallSignal", "callId: $id, kind: HANGUP", Entity.VIDEO_CALL
        ),
        "callSignals": call_subscription("callSignals", "seq"),
    }
)


def fields_that_may_not_find() -> set[str]:
    """Every mutation whose result can be NotFound; every field taking a conversationId
    or a callId."""
    found = set()
    for root in (SCHEMA.mutation_type, SCHEMA.subscription_type):
        assert root is not None
        for name, definition in root.fields.items():
            result = get_named_type(definition.type)
            may_not_find = isinstance(result, GraphQLUnionType) and any(
                member.name == "NotFound" for member in result.types
            )
            if may_not_find or {"conversationId", "callId"} & set(definition.args):
                found.add(name)
    return found


def test_every_field_that_may_not_find_a_row_has_a_case():
    assert fields_that_may_not_find() == set(CASES)


MAKERS = {PATIENT: make_patient, DOCTOR: make_doctor, ADMIN: make_admin}


async def refused_over_websocket(live_server: LiveServer, token: str, case: Case, asked: str):
    subscriber = await Subscriber.open(live_server, token)
    try:
        payload = {"query": case.text, "variables": case.variables(asked)}
        await subscriber.socket.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": payload})
        )
        message = json.loads(await subscriber.socket.recv())
    finally:
        await subscriber.close()
    assert message["type"] in {"error", "next"}, message
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    return [error["extensions"]["code"] for error in errors]


async def someone_elses(entity: Entity) -> str:
    """The id of a row of `entity` that exists, between a patient and a doctor who have
    nothing to do with the one asking."""
    patient, doctor = await make_patient(), await make_doctor()
    if entity == Entity.USER:
        return str(doctor.id)  # a doctor the patient shares no appointment with
    appointment = await make_appointment(patient, doctor)
    if entity == Entity.APPOINTMENT:
        return str(appointment.id)
    if entity == Entity.CONSULTATION:
        row: Any = await models.Consultation.create(
            appointment=appointment, doctor=doctor, patient=patient
        )
        return str(row.id)
    row = await models.Conversation.create(patient=patient, doctor=doctor)
    return str(row.id)


# Each case asks for an id nobody has, and, unless the one asking may reach any row
# (administrators) or it is a directory lookup, for someone else's row: the same answer
# and the same refusal on the trail, whether the row exists or not.
ASKED = [(name, "unknown") for name in sorted(CASES)] + [
    (name, "someone else's")
    for name, case in sorted(CASES.items())
    if case.entity is not None and case.role != ADMIN
]


@pytest.mark.parametrize(("name", "whose"), ASKED)
async def test_a_row_asked_for_and_not_found_is_a_refused_attempt_on_the_trail(
    client: GraphQLClient, live_server: LiveServer, name: str, whose: str
) -> None:
    # given: someone who may call the field, asking for an id that is nothing of theirs
    case = CASES[name]
    persona = await sign_in(await MAKERS[case.role](), live_server.settings)
    if whose == "unknown" or case.entity is None:
        asked = str(uuid.uuid4())
    else:
        asked = await someone_elses(case.entity)
    # when
    if case.via == "websocket":
        answer: Any = await refused_over_websocket(live_server, persona.access_token, case, asked)
        expected: Any = ["NOT_FOUND"]
    else:
        data = await client.execute(case.text, case.variables(asked), as_=persona)
        answer = data[name] if name == "setTyping" else data[name]["__typename"]
        expected = False if name == "setTyping" else "NotFound"
    # then
    assert answer == expected
    await audit.written()
    rows = await models.AuditEvent.filter(entity_id=asked).values_list(
        "entity", "action", "allowed", "actor_id", "fields_accessed"
    )
    if case.entity is None:
        assert rows == []
    else:
        assert rows == [(case.entity, models.AuditAction.DENIED, False, persona.user.id, [name])]
