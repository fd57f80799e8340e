"""Every path in the schema that returns health data records the read: generated from the
schema itself, so that a field added later without an audit fails here without anyone
writing a case for it.

The types that hold health data are the ones declared `audit.audited`. From every root
field (queries, mutations, subscriptions), every path of fields that reaches one of them
(through lists, connections, result unions and nested objects, without going round a
cycle) is asked in an operation of its own, selecting the `id` of every audited object on
the way. Each audited object that comes back must have its READ row on the trail, by the
viewer: appointments, consultations and messages always; a user's profile when it is a
patient's and someone else reads it. Each path must return at least one object of its
type, so that no path passes by returning nothing.

Likewise every lookup by id that answers null (a row the viewer may not see, or none)
must record the refusal.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import websockets
from graphql import (
    GraphQLField,
    GraphQLObjectType,
    GraphQLUnionType,
    get_named_type,
    is_non_null_type,
)
from strawberry.types import get_object_definition
from websockets.typing import Subprotocol

from healthcare import models
from healthcare.graphql import auditing
from healthcare.security import audit
from healthcare.security.auth import utcnow
from tests.conftest import (
    SCHEMA,
    TEST_PASSWORD,
    GraphQLClient,
    LiveServer,
    make_patient,
    sign_in,
)
from tests.test_authorization_matrix import World, build_world, png

TRANSPORT_WS = Subprotocol("graphql-transport-ws")
AUDITED = {
    get_object_definition(cls, strict=True).name: entity
    for cls, entity in auditing.AUDITED_TYPES.items()
}
ROOTS = {"query": SCHEMA.query_type, "mutation": SCHEMA.mutation_type}
ROOTS["subscription"] = SCHEMA.subscription_type
MAX_DEPTH = 9  # below the server's MAX_QUERY_DEPTH (10)


def test_the_types_that_hold_health_data_are_declared_audited():
    assert AUDITED == {
        "Appointment": models.AuditEntity.APPOINTMENT,
        "Consultation": models.AuditEntity.CONSULTATION,
        "ChatMessage": models.AuditEntity.CHAT_MESSAGE,
        "User": models.AuditEntity.PATIENT_PROFILE,
        "VideoCall": models.AuditEntity.VIDEO_CALL,
    }


# ---- the paths, from the schema ----------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One field of a path (or, `fragment` set, one member of a result union)."""

    name: str
    type_name: str  # the named type it returns
    fragment: bool = False


@dataclass(frozen=True)
class Path:
    operation: str  # query, mutation or subscription
    root: GraphQLField
    root_name: str
    steps: tuple[Step, ...]

    @property
    def id(self) -> str:
        return ".".join([self.root_name, *(s.name for s in self.steps)])

    @property
    def target(self) -> str:
        return self.steps[-1].type_name if self.steps else get_named_type(self.root.type).name


def paths_below(
    type_: Any, steps: tuple[Step, ...], seen: frozenset[str]
) -> list[tuple[Step, ...]]:
    """Every path from `type_` down to an audited type, each type at most once on a path."""
    found: list[tuple[Step, ...]] = []
    if len(steps) > MAX_DEPTH:
        return found
    if isinstance(type_, GraphQLUnionType):
        for member in type_.types:
            found += paths_below(member, (*steps, Step(member.name, member.name, True)), seen)
        return found
    if not isinstance(type_, GraphQLObjectType):
        return found
    for name, definition in type_.fields.items():
        named = get_named_type(definition.type)
        if named.name in seen:
            continue
        path = (*steps, Step(name, named.name))
        if named.name in AUDITED:
            found.append(path)
        found += paths_below(named, path, seen | {named.name})
    return found


def all_paths() -> list[Path]:
    paths = []
    for operation, root in ROOTS.items():
        assert root is not None
        for name, definition in root.fields.items():
            named = get_named_type(definition.type)
            if named.name in AUDITED:
                paths.append(Path(operation, definition, name, ()))
            paths += [
                Path(operation, definition, name, steps)
                for steps in paths_below(named, (), frozenset({named.name}))
            ]
    return paths


PATHS = all_paths()


def selection(steps: tuple[Step, ...], type_name: str) -> str:
    """The selection below a field returning `type_name`: ids of audited objects, then
    the rest of the path."""
    own = []
    if type_name in AUDITED:
        own.append("id role" if type_name == "User" else "id")
    if isinstance(SCHEMA.get_type(type_name), GraphQLUnionType):
        own.append("__typename")
    if steps:
        step, rest = steps[0], steps[1:]
        inner = selection(rest, step.type_name)
        own.append(f"... on {step.name} {inner}" if step.fragment else f"{step.name} {inner}")
    return "{ " + " ".join(own) + " }"


def document(path: Path, variables: dict[str, Any]) -> str:
    """The operation asking `path`, with the root field's arguments as variables."""
    declared = ", ".join(f"${name}: {path.root.args[name].type}" for name in variables)
    arguments = ", ".join(f"{name}: ${name}" for name in variables)
    header = f"{path.operation} AuditPath" + (f"({declared})" if declared else "")
    call = path.root_name + (f"({arguments})" if arguments else "")
    return f"{header} {{ {call} {selection(path.steps, get_named_type(path.root.type).name)} }}"


# ---- how each root field is called ---------------------------------------------------------

Arguments = Callable[[World], dict[str, Any]]


@dataclass(frozen=True)
class Call:
    persona: str  # who asks (see the matrix's personas); "anonymous" for sign-ins
    arguments: Arguments = lambda world: {}
    consultation: str = "signed"  # the world's consultation: "signed" or "draft"
    # For subscriptions: what others do once the persona has subscribed.
    then: Callable[[GraphQLClient, World], Awaitable[None]] | None = None
    viewer: str | None = None  # who the operation ends up signed in as, if not `persona`
    # What the world needs besides, for this field's paths to return something.
    prepare: Callable[[World], Awaitable[None]] | None = None


def appointment_of(name: str) -> Arguments:
    return lambda world: {"id": str(getattr(world, name).id)}


def new_user(world: World) -> dict[str, Any]:
    return {
        "email": f"new-{uuid.uuid4().hex[:8]}@example.org",
        "password": "a long enough password",
        "firstName": "New",
        "lastName": "Person",
    }


async def document_the_started_visit(world: World) -> None:
    """Completing (or missing) a visit that is documented already: its consultation,
    with a revision and an addendum, is in the answer."""
    consultation = await models.Consultation.create(
        appointment=world.started_visit,
        doctor=world.users["doctor"],
        patient=world.users["patient_a"],
        treatment_plan="Rest",
        signed_at=world.started_visit.starts_at,
    )
    author = world.users["doctor"]
    await models.ConsultationRevision.create(
        consultation=consultation, number=1, author=author, changed_fields=[], content={}
    )
    await models.ConsultationAddendum.create(consultation=consultation, author=author, text="+")


async def patient_starts_typing(client: GraphQLClient, world: World) -> None:
    await client.execute(
        "mutation T($id: ID!) { setTyping(conversationId: $id, typing: true) }",
        {"id": str(world.conversation.id)},
        as_=world.personas["patient_a"],
    )


async def doctor_declines_the_call(client: GraphQLClient, world: World) -> None:
    await client.execute(
        "mutation D($id: ID!) { declineVideoCall(callId: $id) { __typename } }",
        {"id": str(world.call.id)},
        as_=world.personas["doctor"],
    )


async def email_patient_a(
    world: World, status: models.EmailStatus = models.EmailStatus.SENT, **columns: Any
) -> None:
    """An email to a patient: its delivery row names them (`recipient`)."""
    patient = world.users["patient_a"]
    await models.EmailMessage.create(
        message_id=f"<{uuid.uuid4()}@example.org>",
        kind=models.EmailKind.VERIFY_EMAIL,
        recipient=patient,
        to_address=patient.email,
        subject="Confirm your email address",
        body="",
        status=status,
        **{"not_before": utcnow(), **columns},
    )


def the_call(world: World) -> dict[str, Any]:
    return {"callId": str(world.call.id)}


CALLS: dict[str, Call] = {
    # queries: the doctor reads, unless only someone else may
    "appointment": Call("doctor", appointment_of("visit")),
    "appointments": Call("doctor"),
    "consultation": Call("doctor", lambda w: {"id": str(w.consultation.id)}),
    "consultations": Call("doctor"),
    "conversation": Call("doctor", lambda w: {"id": str(w.conversation.id)}),
    "conversations": Call("doctor"),
    "doctors": Call("patient_a"),
    "emailDeliveries": Call("admin", prepare=email_patient_a),
    "me": Call("doctor"),
    "user": Call("doctor", lambda w: {"id": w.id("patient_a")}),
    "users": Call("admin"),
    "videoCall": Call("doctor", lambda w: {"id": str(w.past_call.id)}),
    # mutations: each in a world of its own
    "addConsultationAddendum": Call(
        "doctor", lambda w: {"consultationId": str(w.consultation.id), "text": "Also"}
    ),
    "bookAppointment": Call(
        "patient_a",
        lambda w: {
            "input": {
                "doctorId": w.id("doctor"),
                "startsAt": w.free_slot.isoformat(),
                "reason": "A rash",
            }
        },
    ),
    "cancelAppointment": Call(
        "doctor", lambda w: {"id": str(w.upcoming.id), "reason": "Away that day"}
    ),
    "changePassword": Call(
        "patient_a",
        lambda w: {"currentPassword": TEST_PASSWORD, "newPassword": "another long password"},
    ),
    # the other doctor becomes a patient: the answer is a patient's profile
    "changeUserRole": Call("admin", lambda w: {"userId": w.id("other_doctor"), "role": "PATIENT"}),
    "completeAppointment": Call(
        "doctor", appointment_of("started_visit"), prepare=document_the_started_visit
    ),
    "createConsultation": Call(
        "doctor",
        lambda w: {"input": {"appointmentId": str(w.started_visit.id), "treatmentPlan": "Rest"}},
    ),
    "createUser": Call("admin", lambda w: {"input": {**new_user(w), "role": "PATIENT"}}),
    "login": Call(
        "anonymous",
        lambda w: {"email": w.users["patient_a"].email, "password": TEST_PASSWORD},
        viewer="patient_a",
    ),
    "markAppointmentNoShow": Call(
        "doctor", appointment_of("started_visit"), prepare=document_the_started_visit
    ),
    "markConversationRead": Call(
        "doctor", lambda w: {"conversationId": str(w.conversation.id), "upToSeq": 1}
    ),
    "refreshToken": Call(
        "anonymous",
        lambda w: {"refreshToken": w.personas["patient_a"].refresh_token},
        viewer="patient_a",
    ),
    "register": Call("anonymous", lambda w: {"input": new_user(w)}),
    "removeProfilePicture": Call("patient_a"),
    "rescheduleAppointment": Call(
        "doctor", lambda w: {"id": str(w.upcoming.id), "startsAt": w.free_slot.isoformat()}
    ),
    "sendMessage": Call(
        "doctor",
        lambda w: {
            "conversationId": str(w.conversation.id),
            "clientId": str(uuid.uuid4()),
            "text": "How are you?",
        },
    ),
    "setUserActive": Call("admin", lambda w: {"userId": w.id("patient_b"), "active": False}),
    "signConsultation": Call(
        "doctor", lambda w: {"id": str(w.consultation.id)}, consultation="draft"
    ),
    "startConversation": Call("doctor", lambda w: {"withUserId": w.id("patient_a")}),
    "updateConsultation": Call(
        "doctor",
        lambda w: {"id": str(w.consultation.id), "input": {"treatmentPlan": "Rest"}},
        consultation="draft",
    ),
    "startVideoCall": Call("doctor", lambda w: {"appointmentId": str(w.call_visit.id)}),
    "joinVideoCall": Call("doctor", the_call),
    "declineVideoCall": Call("doctor", the_call),
    "leaveVideoCall": Call("doctor", the_call),
    "sendCallSignal": Call(
        "doctor", lambda w: {**the_call(w), "kind": "OFFER", "payload": {"sdp": "v=0\r\n"}}
    ),
    "updateMyProfile": Call("patient_a", lambda w: {"input": {"bio": "Hello"}}),
    "uploadProfilePicture": Call("patient_a", lambda w: {"file": None}),
    # subscriptions: each replays what the world holds, or hears what others do
    "appointmentChanged": Call("doctor", lambda w: {"changedSince": "2000-01-01T00:00:00Z"}),
    "messageAdded": Call(
        "doctor", lambda w: {"conversationId": str(w.conversation.id), "afterSeq": 0}
    ),
    "videoCallChanged": Call("patient_a", then=doctor_declines_the_call),
    "typingChanged": Call(
        "doctor",
        lambda w: {"conversationId": str(w.conversation.id)},
        then=patient_starts_typing,
    ),
}


# Paths that cannot return their type, whatever the world: they still run, and whatever
# health data they do return must be on the trail.
CANNOT_RETURN = {
    "bookAppointment.AppointmentPayload.appointment.consultation": "a new booking",
    "rescheduleAppointment.AppointmentPayload.appointment.consultation": "only undocumented move",
    "cancelAppointment.AppointmentPayload.appointment.consultation": "only undocumented cancel",
    "createConsultation.ConsultationPayload.consultation.addenda": "addenda follow signing",
    "updateConsultation.ConsultationPayload.consultation.addenda": "only drafts change",
    "signConsultation.ConsultationPayload.consultation.addenda": "signed this very moment",
    # Video calls: a live call has not ended; a visit whose window has closed has no live
    # call; a call rings only inside its window, so a new or upcoming visit has none.
    "appointment.activeVideoCall": "the visit was two days ago",
    "appointmentChanged.activeVideoCall": "the first appointment pushed is the oldest change",
    "startVideoCall.VideoCallPayload.videoCall.endedBy": "a live call has not ended",
    "joinVideoCall.VideoCallPayload.videoCall.endedBy": "a live call has not ended",
    "sendCallSignal.CallSignalSent.videoCall.endedBy": "a live call has not ended",
    "appointments.edges.node.activeVideoCall.endedBy": "a live call has not ended",
    "appointments.nodes.activeVideoCall.endedBy": "a live call has not ended",
    "bookAppointment.AppointmentPayload.appointment.videoCalls": "a new booking",
    "bookAppointment.AppointmentPayload.appointment.activeVideoCall": "a new booking",
    "rescheduleAppointment.AppointmentPayload.appointment.videoCalls": "its window is ahead",
    "rescheduleAppointment.AppointmentPayload.appointment.activeVideoCall": "its window is ahead",
    "cancelAppointment.AppointmentPayload.appointment.videoCalls": "its window is ahead",
    "cancelAppointment.AppointmentPayload.appointment.activeVideoCall": "its window is ahead",
    "completeAppointment.AppointmentPayload.appointment.activeVideoCall": "completed: none live",
    "markAppointmentNoShow.AppointmentPayload.appointment.activeVideoCall": "none live",
}


def cannot_return(path: Path) -> bool:
    return any(path.id.startswith(prefix) for prefix in CANNOT_RETURN)


def test_every_root_field_that_reaches_health_data_has_a_call():
    reaching = {path.root_name for path in PATHS}
    assert sorted(reaching - set(CALLS)) == []


def test_every_path_said_to_return_nothing_exists():
    assert [p for p in CANNOT_RETURN if not any(x.id.startswith(p) for x in PATHS)] == []


# ---- asking ------------------------------------------------------------------------------


async def world_for(live_server: LiveServer, call: Call) -> World:
    """The matrix's world, with what some paths need besides: the patient's own message
    in the conversation and history entries made by the patient."""
    world = await build_world(live_server.settings, call.persona, call.consultation)
    if call.prepare is not None:
        await call.prepare(world)
    await reply_and_history(world)
    return world


async def reply_and_history(world: World) -> None:
    """The patient's reply in the conversation, history entries by both, and yesterday's
    visit held by video too."""
    patient, doctor = world.users["patient_a"], world.users["doctor"]
    await models.ChatMessage.create(
        conversation=world.conversation, seq=2, sender=patient, client_id=uuid.uuid4(), text="Hi"
    )
    await models.Conversation.filter(id=world.conversation.id).update(last_seq=2)
    for appointment in (world.visit, world.upcoming):
        await models.AppointmentChange.create(
            appointment=appointment,
            actor=patient,
            kind=models.AppointmentChangeKind.BOOKED,
            to_status=models.AppointmentStatus.SCHEDULED,
        )
    # yesterday's visit was held by video too, ended by the doctor
    await models.VideoCall.create(
        appointment=world.started_visit,
        patient=patient,
        doctor=doctor,
        caller=doctor,
        state=models.VideoCallState.ENDED,
        rung_at=world.started_visit.starts_at,
        answered_at=world.started_visit.starts_at,
        ended_at=world.started_visit.ends_at,
        ended_by=patient,
    )
    await models.AppointmentChange.create(
        appointment=world.visit,
        actor=doctor,
        kind=models.AppointmentChangeKind.COMPLETED,
        from_status=models.AppointmentStatus.SCHEDULED,
        to_status=models.AppointmentStatus.COMPLETED,
    )


async def over_http(client: GraphQLClient, text: str, variables: dict, token: str | None) -> Any:
    response = await client.post(text, variables, as_=token)
    assert response.status_code == 200, response.text
    return response.json()


async def over_multipart(client: GraphQLClient, text: str, token: str | None) -> Any:
    headers = {"apollo-require-preflight": "true", "authorization": f"Bearer {token}"}
    response = await client.http.post(
        "/graphql",
        data={
            "operations": json.dumps({"query": text, "variables": {"file": None}}),
            "map": json.dumps({"0": ["variables.file"]}),
        },
        files={"0": ("me.png", png(), "image/png")},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def over_websocket(
    client: GraphQLClient, server: LiveServer, world: World, call: Call, text: str, variables: dict
) -> Any:
    token = world.token(call.persona)
    async with websockets.connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as socket:
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        await socket.send(json.dumps(init))
        assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "connection_ack"
        payload = {"query": text, "variables": variables}
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        if call.then is not None:
            await asyncio.sleep(0.3)  # let the server subscribe before the others act
            await call.then(client, world)
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), 10))
            if message["type"] == "next":
                return message["payload"]
            assert message["type"] in {"ping", "pong"}, message


# ---- what came back, and what the trail must say ------------------------------------------


@dataclass
class Returned:
    """The audited objects an answer holds: (type, id, role)."""

    objects: list[tuple[str, str, str | None]] = field(default_factory=list)
    reached: bool = False  # an object of the path's own type came back


def collect(value: Any, steps: tuple[Step, ...], type_name: str, found: Returned) -> None:
    if value is None:
        return
    if isinstance(value, list):
        for item in value:
            collect(item, steps, type_name, found)
        return
    if type_name in AUDITED:
        found.objects.append((type_name, value["id"], value.get("role")))
        if not steps:
            found.reached = True
    if not steps:
        return
    step, rest = steps[0], steps[1:]
    if step.fragment:
        if value.get("__typename") == step.name:
            collect(value, rest, step.type_name, found)
    else:
        collect(value.get(step.name), rest, step.type_name, found)


def is_health_data(type_name: str, object_id: str, role: str | None, viewer_id: str) -> bool:
    if type_name == "User":
        return role == "PATIENT" and object_id != viewer_id
    return True


@pytest.mark.parametrize("path", PATHS, ids=[path.id for path in PATHS])
async def test_every_path_to_health_data_records_the_read(
    client: GraphQLClient, live_server: LiveServer, path: Path
) -> None:
    # given
    call = CALLS[path.root_name]
    world = await world_for(live_server, call)
    variables = call.arguments(world)
    text = document(path, variables)
    # when
    if path.operation == "subscription":
        body = await over_websocket(client, live_server, world, call, text, variables)
    elif "file" in variables:
        body = await over_multipart(client, text, world.token(call.persona))
    else:
        body = await over_http(client, text, variables, world.token(call.persona))
    # then: the path returned objects of its type
    assert "errors" not in body, body
    found = Returned()
    collect(body["data"][path.root_name], path.steps, get_named_type(path.root.type).name, found)
    assert found.reached or cannot_return(path), f"{path.id} returned no {path.target}: {body}"
    # and every audited object in the answer is on the trail, read by the viewer
    viewer = world.users[call.viewer or call.persona]
    await audit.written()
    rows = await models.AuditEvent.filter(
        action=models.AuditAction.READ, actor_id=viewer.id
    ).values_list("entity", "entity_id")
    recorded = {(str(entity), entity_id) for entity, entity_id in rows}
    expected = {
        (str(AUDITED[type_name]), object_id)
        for type_name, object_id, role in found.objects
        if is_health_data(type_name, object_id, role, str(viewer.id))
    }
    assert expected - recorded == set(), f"{path.id}: reads missing from the trail"


# ---- refused lookups -----------------------------------------------------------------------


def lookups_by_id() -> list[str]:
    """Root query fields that take an `id` and answer null when there is none to see."""
    query = SCHEMA.query_type
    assert query is not None
    return sorted(
        name
        for name, definition in query.fields.items()
        if "id" in definition.args and not is_non_null_type(definition.type)
    )


def test_the_lookups_by_id_are_found():
    assert lookups_by_id() == [
        "appointment",
        "consultation",
        "conversation",
        "notification",
        "user",
        "videoCall",
    ]


@pytest.mark.parametrize("lookup", lookups_by_id())
async def test_every_lookup_that_finds_nothing_to_see_records_the_refusal(
    client: GraphQLClient, live_server: LiveServer, lookup: str
) -> None:
    # given: a patient asking for an id that is not theirs to see
    patient = await sign_in(await make_patient(), live_server.settings)
    asked = str(uuid.uuid4())
    # when
    data = await client.execute(
        f"query Lookup($id: ID!) {{ {lookup}(id: $id) {{ __typename }} }}",
        {"id": asked},
        as_=patient,
    )
    # then
    assert data[lookup] is None
    await audit.written()
    refusal = await models.AuditEvent.get(entity_id=asked)
    assert (refusal.action, refusal.allowed, refusal.actor_id) == (
        models.AuditAction.DENIED,
        False,
        patient.user.id,
    )


def test_this_module_walks_every_root_kind():
    kinds = {path.operation for path in PATHS}
    assert kinds == {"query", "mutation", "subscription"}
    assert len(PATHS) > 100
