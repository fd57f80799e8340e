"""Video calls (issue 17): the call's life, its window, its signals and their checks,
ICE servers and TURN credentials, over the real app (HTTP and both WebSocket protocols).

Real WebRTC peers connecting through these mutations and subscriptions:
tests/test_video_calls_webrtc.py. Who may do what: tests/test_authorization_matrix.py.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from graphql import GraphQLObjectType
from websockets.typing import Subprotocol

from healthcare import models
from healthcare.realtime import pubsub
from healthcare.resolvers import calls
from healthcare.security import audit
from tests.conftest import SCHEMA, GraphQLClient, LiveServer, Persona, make_appointment
from tests.wsclient import Subscriber

CALL = "id state rungAt answeredAt endedAt durationSeconds caller { id } endedBy { id }"
WINDOW = " ... on CallWindowClosed { opensAt closesAt }"
STATUS = " ... on InvalidStatusTransition { currentStatus }"
ENDED = " ... on CallEnded { state }"


def result(*fragments: str) -> str:
    return (
        f"__typename ... on VideoCallPayload {{ videoCall {{ {CALL} }} }}"
        " ... on Error { code message }" + "".join(fragments)
    )


START = (
    "mutation Start($id: ID!) { startVideoCall(appointmentId: $id) {"
    f" {result(WINDOW, STATUS)} }} }}"
)
JOIN = (
    "mutation Join($id: ID!) { joinVideoCall(callId: $id) {"
    f" {result(WINDOW, STATUS, ENDED)} }} }}"
)
DECLINE = f"mutation Decline($id: ID!) {{ declineVideoCall(callId: $id) {{ {result(ENDED)} }} }}"
LEAVE = f"mutation Leave($id: ID!) {{ leaveVideoCall(callId: $id) {{ {result(ENDED)} }} }}"
SEND = """
mutation Send($id: ID!, $kind: CallSignalKind!, $payload: CallSignalPayloadInput) {
  sendCallSignal(callId: $id, kind: $kind, payload: $payload) {
    __typename
    ... on CallSignalSent { seq videoCall { state } }
    ... on ValidationFailed { fieldErrors { field message } }
    ... on Error { code message }
  }
}
"""
SIGNALS = """
subscription Signals($id: ID!, $after: Int) {
  callSignals(callId: $id, afterSeq: $after) {
    seq kind sdp candidate { candidate sdpMid sdpMLineIndex usernameFragment } callState senderId
  }
}
"""
ICE = "query Ice($id: ID!) { iceServers(callId: $id) { urls username credential } }"
SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


async def appointment_now(
    patient: Persona, doctor: Persona, **overrides: Any
) -> models.Appointment:
    """An appointment that started five minutes ago: its call window is open."""
    starts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    return await make_appointment(patient.user, doctor.user, starts, **overrides)


async def start(
    client: GraphQLClient, who: Persona, appointment: models.Appointment
) -> dict[str, Any]:
    data = await client.execute(START, {"id": str(appointment.id)}, as_=who)
    return data["startVideoCall"]


async def call_action(
    client: GraphQLClient, document: str, who: Persona, call_id: str
) -> dict[str, Any]:
    data = await client.execute(document, {"id": call_id}, as_=who)
    return next(iter(data.values()))


async def send(
    client: GraphQLClient, who: Persona, call_id: str, kind: str, payload: Any = None
) -> dict[str, Any]:
    data = await client.execute(SEND, {"id": call_id, "kind": kind, "payload": payload}, as_=who)
    return data["sendCallSignal"]


async def test_a_call_rings_is_answered_carries_signals_both_ways_and_ends_for_both(
    client: GraphQLClient, live_server: LiveServer, patient: Persona, doctor: Persona
) -> None:
    appointment = await appointment_now(patient, doctor)
    started = await start(client, patient, appointment)
    assert started["__typename"] == "VideoCallPayload", started
    call = started["videoCall"]
    assert call["state"] == "RINGING" and call["caller"]["id"] == patient.id
    # the caller's offer waits for the doctor, who has not joined yet
    sent = await send(client, patient, call["id"], "OFFER", {"sdp": SDP})
    assert sent["seq"] == 1
    joined = await call_action(client, JOIN, doctor, call["id"])
    assert joined["videoCall"]["state"] == "ACTIVE" and joined["videoCall"]["answeredAt"]
    doctor_socket = await Subscriber.open(live_server, doctor)
    patient_socket = await Subscriber.open(live_server, patient)
    try:
        await doctor_socket.subscribe(SIGNALS, {"id": call["id"]})
        await patient_socket.subscribe(SIGNALS, {"id": call["id"]})
        offer = (await doctor_socket.next())["callSignals"]
        assert (offer["seq"], offer["kind"], offer["sdp"]) == (1, "OFFER", SDP)
        assert offer["senderId"] == patient.id
        await send(client, doctor, call["id"], "ANSWER", {"sdp": SDP})
        candidate = {
            "candidate": "candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host",
            "sdpMid": "0",
            "sdpMLineIndex": 0,
            "usernameFragment": "abcd",
        }
        await send(client, doctor, call["id"], "ICE_CANDIDATE", {"candidate": candidate})
        answer = (await patient_socket.next())["callSignals"]
        assert (answer["seq"], answer["kind"]) == (2, "ANSWER")
        got = (await patient_socket.next())["callSignals"]
        assert got["kind"] == "ICE_CANDIDATE" and got["candidate"] == candidate
        # a party's own signals are not sent back to them
        assert await doctor_socket.nothing_within(0.5)
        left = await call_action(client, LEAVE, doctor, call["id"])
        assert (
            left["videoCall"]["state"] == "ENDED"
            and left["videoCall"]["endedBy"]["id"] == doctor.id
        )
        for socket in (patient_socket, doctor_socket):
            hangup = (await socket.next())["callSignals"]
            assert (hangup["kind"], hangup["callState"], hangup["senderId"]) == (
                "HANGUP",
                "ENDED",
                doctor.id,
            )
    finally:
        await doctor_socket.close()
        await patient_socket.close()
    assert await models.CallSignal.filter(call_id=call["id"]).count() == 0


CANDIDATE: dict[str, Any] = {
    "candidate": "candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host",
    "sdpMid": "0",
    "sdpMLineIndex": 0,
    "usernameFragment": "abcd",
}


async def ringing_call(client: GraphQLClient, patient: Persona, doctor: Persona) -> str:
    appointment = await appointment_now(patient, doctor)
    started = await start(client, patient, appointment)
    assert started["__typename"] == "VideoCallPayload", started
    return str(started["videoCall"]["id"])


async def until(predicate: Any, deadline: float = 20.0) -> None:
    """Wait for a state (polled), with a generous deadline: the sweeper runs every second."""
    give_up = time.monotonic() + deadline
    while not await predicate():
        assert time.monotonic() < give_up, "the state was not reached in time"
        await asyncio.sleep(0.1)


# ---- one live call per appointment --------------------------------------------------------


async def test_starting_again_while_a_call_rings_or_is_active_returns_that_call(
    client: GraphQLClient, patient: Persona, doctor: Persona
) -> None:
    appointment = await appointment_now(patient, doctor)
    first = (await start(client, patient, appointment))["videoCall"]
    again = (await start(client, doctor, appointment))["videoCall"]
    assert again["id"] == first["id"] and again["caller"]["id"] == patient.id
    await call_action(client, JOIN, doctor, first["id"])
    assert (await start(client, patient, appointment))["videoCall"]["id"] == first["id"]
    await call_action(client, LEAVE, patient, first["id"])
    # once it has ended, starting rings a new call
    new = (await start(client, doctor, appointment))["videoCall"]
    assert new["id"] != first["id"] and new["state"] == "RINGING"


async def test_both_parties_starting_at_once_make_one_call(
    client: GraphQLClient, patient: Persona, doctor: Persona
) -> None:
    appointment = await appointment_now(patient, doctor)
    for _ in range(5):
        answers = await asyncio.gather(
            start(client, patient, appointment), start(client, doctor, appointment)
        )
        assert len({answer["videoCall"]["id"] for answer in answers}) == 1, answers
        await call_action(client, LEAVE, patient, answers[0]["videoCall"]["id"])
    assert await models.VideoCall.filter(appointment_id=appointment.id).count() == 5


# ---- when a call may ring -------------------------------------------------------------------


async def test_a_call_rings_only_in_the_window_around_the_appointment(
    client: GraphQLClient, live_server: LiveServer, patient: Persona, doctor: Persona
) -> None:
    settings = live_server.settings
    now = datetime.now(UTC).replace(microsecond=0)
    before = settings.video_call_opens_minutes_before
    after = settings.video_call_closes_minutes_after
    # (apart from each other: PostgreSQL refuses overlapping visits)
    too_early = await make_appointment(
        patient.user, doctor.user, now + timedelta(minutes=before + 30)
    )
    just_open = await make_appointment(
        patient.user, doctor.user, now + timedelta(minutes=before - 2), minutes=20
    )
    too_late = await make_appointment(
        patient.user, doctor.user, now - timedelta(minutes=after + 35), minutes=30
    )
    refused = await start(client, patient, too_early)
    assert refused["__typename"] == "CallWindowClosed" and refused["code"] == "CALL_WINDOW_CLOSED"
    opens = datetime.fromisoformat(refused["opensAt"])
    assert opens == too_early.starts_at - timedelta(minutes=before)
    assert (await start(client, doctor, too_late))["__typename"] == "CallWindowClosed"
    assert (await start(client, patient, just_open))["__typename"] == "VideoCallPayload"
    # the window the app shows is the one the server applies
    window = await client.execute(
        "query W($id: ID!) { appointment(id: $id) {"
        " videoCallWindow { opensAt closesAt isOpen } } }",
        {"id": str(too_early.id)},
        as_=patient,
    )
    shown = window["appointment"]["videoCallWindow"]
    assert datetime.fromisoformat(shown["opensAt"]) == opens and shown["isOpen"] is False
    assert (
        await models.VideoCall.filter(appointment_id__in=[too_early.id, too_late.id]).count() == 0
    )


@pytest.mark.parametrize(
    "status", [models.AppointmentStatus.CANCELLED, models.AppointmentStatus.COMPLETED]
)
async def test_a_cancelled_or_completed_appointment_has_no_call(
    client: GraphQLClient, patient: Persona, doctor: Persona, status: models.AppointmentStatus
) -> None:
    appointment = await appointment_now(patient, doctor, status=status)
    refused = await start(client, patient, appointment)
    assert refused["__typename"] == "InvalidStatusTransition"
    assert refused["currentStatus"] == status.value
    assert await models.VideoCall.filter(appointment_id=appointment.id).count() == 0


async def test_cancelling_the_appointment_ends_its_live_call(
    client: GraphQLClient, live_server: LiveServer, patient: Persona, doctor: Persona
) -> None:
    call_id = await ringing_call(client, patient, doctor)
    call = await models.VideoCall.get(id=call_id)
    await models.Appointment.filter(id=call.appointment_id).update(
        status=models.AppointmentStatus.CANCELLED
    )

    async def ended() -> bool:
        return (await models.VideoCall.get(id=call_id)).state == models.VideoCallState.ENDED

    await until(ended)


# ---- ringing, declining, missing ------------------------------------------------------------

CHANGED = "subscription { videoCallChanged { id state caller { id } endedBy { id } } }"


async def test_the_other_party_hears_the_ring_and_a_notification_says_who_calls(
    client: GraphQLClient, live_server: LiveServer, patient: Persona, doctor: Persona
) -> None:
    doctor_socket = await Subscriber.open(live_server, doctor)
    try:
        await doctor_socket.subscribe(CHANGED)
        call_id = await ringing_call(client, patient, doctor)
        ring = (await doctor_socket.next())["videoCallChanged"]
        assert (ring["id"], ring["state"], ring["caller"]["id"]) == (call_id, "RINGING", patient.id)
        declined = await call_action(client, DECLINE, doctor, call_id)
        assert declined["videoCall"]["state"] == "DECLINED"
        assert declined["videoCall"]["endedBy"]["id"] == doctor.id
        after = (await doctor_socket.next())["videoCallChanged"]
        assert after["state"] == "DECLINED"
    finally:
        await doctor_socket.close()
    notes = await models.Notification.filter(recipient_id=doctor.user.id)
    assert [(n.kind, n.title) for n in notes] == [
        (models.NotificationKind.VIDEO_CALL_INCOMING, "Incoming video call")
    ]
    assert notes[0].appointment_id is not None


async def test_declining_an_answered_call_is_refused(
    client: GraphQLClient, patient: Persona, doctor: Persona
) -> None:
    call_id = await ringing_call(client, patient, doctor)
    await call_action(client, JOIN, doctor, call_id)
    refused = await call_action(client, DECLINE, doctor, call_id)
    assert (refused["__typename"], refused["state"]) == ("CallEnded", "ACTIVE")
    assert (await models.VideoCall.get(id=call_id)).state == models.VideoCallState.ACTIVE


async def test_an_unanswered_call_ends_as_missed_and_the_caller_is_told(
    client: GraphQLClient, live_server: LiveServer, patient: Persona, doctor: Persona
) -> None:
    call_id = await ringing_call(client, patient, doctor)
    await send(client, patient, call_id, "OFFER", {"sdp": SDP})
    patient_socket = await Subscriber.open(live_server, patient)
    try:
        await patient_socket.subscribe(SIGNALS, {"id": call_id})
        # the ring began longer ago than it lasts
        ring = timedelta(seconds=live_server.settings.video_call_ring_seconds + 1)
        await models.VideoCall.filter(id=call_id).update(rung_at=datetime.now(UTC) - ring)
        hangup = (await asyncio.wait_for(patient_socket.next(), 20))["callSignals"]
        assert (hangup["kind"], hangup["callState"], hangup["senderId"]) == (
            "HANGUP",
            "MISSED",
            None,
        )
    finally:
        await patient_socket.close()
    call = await models.VideoCall.get(id=call_id)
    assert call.state == models.VideoCallState.MISSED and call.ended_by_id is None
    assert await models.CallSignal.filter(call_id=call_id).count() == 0
    missed = await models.Notification.filter(
        recipient_id=patient.user.id, kind=models.NotificationKind.VIDEO_CALL_MISSED
    )
    assert len(missed) == 1 and "did not answer" in missed[0].body


async def test_a_call_still_live_when_its_window_closes_is_ended(
    client: GraphQLClient, patient: Persona, doctor: Persona
) -> None:
    call_id = await ringing_call(client, patient, doctor)
    await call_action(client, JOIN, doctor, call_id)
    call = await models.VideoCall.get(id=call_id)
    long_ago = datetime.now(UTC) - timedelta(hours=3)
    await models.Appointment.filter(id=call.appointment_id).update(
        starts_at=long_ago, ends_at=long_ago + timedelta(minutes=30)
    )

    async def ended() -> bool:
        row = await models.VideoCall.get(id=call_id)
        return row.state == models.VideoCallState.ENDED and row.ended_by_id is None

    await until(ended)


# ---- the call's life on the audit trail -------------------------------------------------------


async def test_the_calls_life_is_on_the_audit_trail(
    client: GraphQLClient, patient: Persona, doctor: Persona
) -> None:
    call_id = await ringing_call(client, patient, doctor)
    await call_action(client, JOIN, doctor, call_id)
    await send(client, patient, call_id, "OFFER", {"sdp": SDP})
    await call_action(client, LEAVE, patient, call_id)
    await audit.written()
    writes = await models.AuditEvent.filter(
        entity=models.AuditEntity.VIDEO_CALL,
        entity_id=call_id,
        action__in=[models.AuditAction.CREATE, models.AuditAction.UPDATE],
    ).order_by("created_at")
    assert [(str(w.actor_id), w.action, w.fields_accessed) for w in writes] == [
        (patient.id, models.AuditAction.CREATE, ["state", "rung_at"]),
        (doctor.id, models.AuditAction.UPDATE, ["state", "answered_at"]),
        (patient.id, models.AuditAction.UPDATE, ["state", "ended_at"]),
    ]
    assert {str(w.patient_id) for w in writes} == {patient.id}


async def test_administrators_see_when_and_how_long_but_never_the_signals(
    client: GraphQLClient, patient: Persona, doctor: Persona, admin: Persona
) -> None:
    call_id = await ringing_call(client, patient, doctor)
    await call_action(client, JOIN, doctor, call_id)
    await call_action(client, LEAVE, doctor, call_id)
    call = await models.VideoCall.get(id=call_id)
    seen = await client.execute(
        "query A($id: ID!) { appointment(id: $id) { videoCalls { id state durationSeconds"
        " answeredAt endedAt } } }",
        {"id": str(call.appointment_id)},
        as_=admin,
    )
    (row,) = seen["appointment"]["videoCalls"]
    assert (row["id"], row["state"], row["durationSeconds"]) == (call_id, "ENDED", 0)
    # and no field of the schema leads from a call to its signals
    video_call = SCHEMA.get_type("VideoCall")
    assert isinstance(video_call, GraphQLObjectType)
    assert "CallSignal" not in str([f.type for f in video_call.fields.values()])


# ---- signals: ephemeral, ordered, resumable, on both protocols -----------------------------


async def test_a_reconnecting_client_resumes_after_the_last_signal_it_saw_on_legacy_graphql_ws(
    client: GraphQLClient, live_server: LiveServer, patient: Persona, doctor: Persona
) -> None:
    call_id = await ringing_call(client, patient, doctor)
    await call_action(client, JOIN, doctor, call_id)
    for _ in range(3):
        await send(client, patient, call_id, "ICE_CANDIDATE", {"candidate": CANDIDATE})
    legacy = await Subscriber.open(live_server, doctor, Subprotocol("graphql-ws"))
    try:
        await legacy.subscribe(SIGNALS, {"id": call_id, "after": 1})
        seqs = [(await legacy.next())["callSignals"]["seq"] for _ in range(2)]
        assert seqs == [2, 3]
        await send(client, patient, call_id, "ICE_RESTART", {"sdp": SDP})
        restart = (await legacy.next())["callSignals"]
        assert (restart["seq"], restart["kind"]) == (4, "ICE_RESTART")
    finally:
        await legacy.close()


async def test_after_the_call_ends_its_signals_are_gone_and_none_can_be_sent_or_read(
    client: GraphQLClient, live_server: LiveServer, patient: Persona, doctor: Persona
) -> None:
    call_id = await ringing_call(client, patient, doctor)
    await send(client, patient, call_id, "OFFER", {"sdp": SDP})
    hung_up = await send(client, doctor, call_id, "HANGUP")
    assert (hung_up["__typename"], hung_up["seq"]) == ("CallSignalSent", None)
    assert hung_up["videoCall"]["state"] == "DECLINED"  # the doctor had not answered
    assert await models.CallSignal.filter(call_id=call_id).count() == 0
    late = await send(client, patient, call_id, "ICE_CANDIDATE", {"candidate": CANDIDATE})
    assert (late["__typename"], late["code"]) == ("CallEnded", "CALL_ENDED")
    assert (await send(client, patient, call_id, "HANGUP"))["__typename"] == "CallEnded"
    assert await models.CallSignal.filter(call_id=call_id).count() == 0
    socket = await Subscriber.open(live_server, patient)
    try:
        await socket.subscribe(SIGNALS, {"id": call_id})
        message = json.loads(await asyncio.wait_for(socket.socket.recv(), 10))
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "CALL_ENDED"
    finally:
        await socket.close()
    joined_late = await call_action(client, JOIN, doctor, call_id)
    assert joined_late["__typename"] == "CallEnded"


BAD_PAYLOADS: dict[str, tuple[str, Any, str]] = {
    "an oversized sdp": ("OFFER", {"sdp": "v=0\r\n" + "a" * calls.MAX_SDP_CHARS}, "sdp"),
    "an sdp that is not one": ("ANSWER", {"sdp": "<script>"}, "sdp"),
    "an offer without its sdp": ("OFFER", None, "sdp"),
    "an offer carrying a candidate": ("OFFER", {"candidate": CANDIDATE}, "candidate"),
    "a candidate that is not one": (
        "ICE_CANDIDATE",
        {"candidate": {**CANDIDATE, "candidate": "rm -rf /"}},
        "candidate",
    ),
    "a candidate with two lines": (
        "ICE_CANDIDATE",
        {"candidate": {**CANDIDATE, "candidate": CANDIDATE["candidate"] + "\r\na=x"}},
        "candidate",
    ),
    "a candidate with neither sdpMid nor sdpMLineIndex": (
        "ICE_CANDIDATE",
        {"candidate": {"candidate": CANDIDATE["candidate"]}},
        "candidate",
    ),
    "a candidate with an impossible sdpMLineIndex": (
        "ICE_CANDIDATE",
        {"candidate": {**CANDIDATE, "sdpMLineIndex": 9999}},
        "candidate",
    ),
    "an oversized candidate": (
        "ICE_CANDIDATE",
        {"candidate": {**CANDIDATE, "candidate": "candidate:" + "1" * 2000}},
        "candidate",
    ),
    "a candidate signal with an sdp": ("ICE_CANDIDATE", {"sdp": SDP}, "sdp"),
    "a hangup carrying something": ("HANGUP", {"sdp": SDP}, "sdp"),
}


@pytest.mark.parametrize("case", BAD_PAYLOADS, ids=list(BAD_PAYLOADS))
async def test_a_bad_signal_is_refused_by_name_and_nothing_is_stored(
    client: GraphQLClient, patient: Persona, doctor: Persona, case: str
) -> None:
    kind, payload, field = BAD_PAYLOADS[case]
    call_id = await ringing_call(client, patient, doctor)
    refused = await send(client, patient, call_id, kind, payload)
    assert refused["__typename"] == "ValidationFailed", refused
    assert [error["field"] for error in refused["fieldErrors"]] == [field]
    assert "a" * 100 not in json.dumps(refused) and "rm -rf" not in json.dumps(refused)
    call = await models.VideoCall.get(id=call_id)
    assert (call.last_signal_seq, call.state) == (0, models.VideoCallState.RINGING)
    assert await models.CallSignal.filter(call_id=call_id).count() == 0


async def test_signals_for_a_call_one_is_not_in_are_not_found_and_not_stored(
    client: GraphQLClient, patient: Persona, doctor: Persona, other_doctor: Persona, admin: Persona
) -> None:
    call_id = await ringing_call(client, patient, doctor)
    for stranger in (other_doctor, admin):
        refused = await send(client, stranger, call_id, "OFFER", {"sdp": SDP})
        assert refused["__typename"] == "NotFound"
        assert (await send(client, stranger, call_id, "HANGUP"))["__typename"] == "NotFound"
    assert await models.CallSignal.filter(call_id=call_id).count() == 0
    assert (await models.VideoCall.get(id=call_id)).is_live


async def test_signals_never_reach_the_logs_or_pub_sub(
    client: GraphQLClient,
    live_server: LiveServer,
    patient: Persona,
    doctor: Persona,
    caplog: pytest.LogCaptureFixture,
) -> None:
    marker = "a=x-marker-7f3a9c"
    sdp = SDP + marker + "\r\n"
    call_id = await ringing_call(client, patient, doctor)
    heard: list[Any] = []
    async with pubsub.current().subscribe(
        pubsub.call_signals_channel(uuid.UUID(call_id))
    ) as events:
        with caplog.at_level(logging.DEBUG):
            await send(client, patient, call_id, "OFFER", {"sdp": sdp})
            await send(client, doctor, call_id, "ICE_CANDIDATE", {"candidate": CANDIDATE})
            await call_action(client, JOIN, doctor, call_id)
            iterator = events.__aiter__()
            for _ in range(3):
                heard.append(await asyncio.wait_for(iterator.__anext__(), 10))
    logged = "\n".join(record.getMessage() + repr(record.__dict__) for record in caplog.records)
    assert marker not in logged and CANDIDATE["candidate"] not in logged
    assert all(set(event) <= {"seq", "state"} for event in heard if isinstance(event, dict)), heard
    assert marker not in repr(heard)


# ---- ICE servers --------------------------------------------------------------------------------


async def test_ice_servers_are_empty_by_default_and_null_for_a_call_one_is_not_in(
    client: GraphQLClient, patient: Persona, doctor: Persona, other_doctor: Persona
) -> None:
    call_id = await ringing_call(client, patient, doctor)
    mine = await client.execute(ICE, {"id": call_id}, as_=doctor)
    assert mine["iceServers"] == []
    theirs = await client.execute(ICE, {"id": call_id}, as_=other_doctor)
    assert theirs["iceServers"] is None
    await audit.written()
    refusals = await models.AuditEvent.filter(
        actor_id=other_doctor.user.id, action=models.AuditAction.DENIED, entity_id=call_id
    ).count()
    assert refusals == 1


async def test_turn_credentials_follow_the_turn_rest_api_and_expire_with_the_window(
    client: GraphQLClient, live_server: LiveServer, patient: Persona, doctor: Persona
) -> None:
    call_id = await ringing_call(client, patient, doctor)
    secret = "a-shared-secret-for-coturn-0123456789"
    settings = dataclasses.replace(
        live_server.settings,
        stun_urls=("stun:stun.example.org:3478",),
        turn_urls=("turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"),
        turn_secret=secret,
    )
    servers = await calls.ice_servers(doctor.user, call_id, settings)
    assert servers is not None
    stun, turn = servers
    assert stun.urls == ("stun:stun.example.org:3478",) and stun.username is None
    expiry, user_id = (turn.username or "").split(":")
    assert user_id == doctor.id
    call = await models.VideoCall.get(id=call_id)
    appointment = await models.Appointment.get(id=call.appointment_id)
    closes = appointment.ends_at + timedelta(minutes=settings.video_call_closes_minutes_after)
    assert int(expiry) == int(closes.timestamp())
    # what coturn's use-auth-secret computes: base64(HMAC-SHA1(secret, username))
    expected = base64.b64encode(
        hmac.new(secret.encode(), (turn.username or "").encode(), hashlib.sha1).digest()
    ).decode()
    assert turn.credential == expected
    assert await calls.ice_servers(patient.user, call_id, settings) != servers  # per user
