"""Video calls between an appointment's patient and its doctor: the call's life, the
WebRTC signals the two browsers exchange through the API, and the ICE servers they use.

Only the two parties start, join, signal or end a call, or get ICE credentials;
administrators see that a call happened (`Appointment.videoCalls`), never its signals.
"""

import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.exceptions import StrawberryGraphQLError

from healthcare import models
from healthcare.failures import NotFoundError
from healthcare.graphql.auditing import DeniedWhenNull, audited, denied
from healthcare.graphql.errors import (
    CallEnded,
    CallWindowClosed,
    ErrorCode,
    InvalidStatusTransition,
    NotFound,
    ValidationFailed,
    mutation,
)
from healthcare.graphql.permissions import IsAuthenticated, allow, signed_in_user
from healthcare.realtime import pubsub
from healthcare.resolvers import calls as resolvers
from healthcare.resolvers.visibility import find_visible
from healthcare.schema.loaders import Info
from healthcare.schema.users import User, related_user
from healthcare.security.auth import utcnow

VideoCallState = models.VideoCallState
strawberry.enum(
    VideoCallState,
    description="RINGING until the other party joins (ACTIVE), declines (DECLINED) or the "
    "ring times out (MISSED); ENDED when someone hangs up or the window closes.",
)
CallSignalKind = models.CallSignalKind
strawberry.enum(
    CallSignalKind,
    description="OFFER, ANSWER and ICE_RESTART carry an `sdp`; ICE_CANDIDATE a "
    "`candidate`; HANGUP nothing (sending it ends the call).",
)


@strawberry.type(
    description="A video call of an appointment: when it rang, was answered and ended. "
    "Never its signals."
)
@audited(models.AuditEntity.VIDEO_CALL, patient=lambda call: call.patient_id)
class VideoCall:
    id: strawberry.ID
    appointment_id: strawberry.ID
    state: VideoCallState
    rung_at: datetime = strawberry.field(description="When it was started (began ringing).")
    answered_at: datetime | None = strawberry.field(description="Null until the other joins.")
    ended_at: datetime | None = strawberry.field(description="Null while it rings or is active.")
    caller_id: strawberry.Private[uuid.UUID]
    ended_by_id: strawberry.Private[uuid.UUID | None]
    patient_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="Seconds from answer to end; null if never answered or live.")
    def duration_seconds(self) -> int | None:
        if self.answered_at is None or self.ended_at is None:
            return None
        return int((self.ended_at - self.answered_at).total_seconds())

    @strawberry.field(description="Who started the call.")
    async def caller(self, info: Info) -> User:
        return await related_user(info, self.caller_id)

    @strawberry.field(
        description="Who hung up or declined; null while live, and when the service ended "
        "it (missed, or its window closed)."
    )
    async def ended_by(self, info: Info) -> User | None:
        return await related_user(info, self.ended_by_id) if self.ended_by_id else None

    @classmethod
    def from_model(cls, row: models.VideoCall) -> "VideoCall":
        return cls(
            id=strawberry.ID(str(row.id)),
            appointment_id=strawberry.ID(str(row.appointment_id)),
            state=row.state,
            rung_at=row.rung_at,
            answered_at=row.answered_at,
            ended_at=row.ended_at,
            caller_id=row.caller_id,
            ended_by_id=row.ended_by_id,
            patient_id=row.patient_id,
        )


@strawberry.type(description="When an appointment's video call may ring or be answered.")
class VideoCallWindow:
    opens_at: datetime
    closes_at: datetime
    is_open: bool = strawberry.field(description="Whether it is open now.")


@strawberry.type(description="An ICE candidate (RTCIceCandidateInit).")
class IceCandidate:
    candidate: str = strawberry.field(description='The candidate line; "" ends the candidates.')
    sdp_mid: str | None
    sdp_m_line_index: int | None = strawberry.field(name="sdpMLineIndex")
    username_fragment: str | None


@strawberry.input(description="An ICE candidate, as RTCIceCandidate.toJSON() gives it.")
class IceCandidateInput:
    candidate: str = strawberry.field(
        description='The candidate line (at most 1,024 characters); "" ends the candidates.'
    )
    sdp_mid: str | None = None
    sdp_m_line_index: int | None = strawberry.field(name="sdpMLineIndex", default=None)
    username_fragment: str | None = None


@strawberry.input(description="What a signal carries: an `sdp` or a `candidate`, by its kind.")
class CallSignalPayloadInput:
    sdp: str | None = strawberry.field(
        default=None,
        description=f"For OFFER, ANSWER, ICE_RESTART: RTCSessionDescription.sdp (at most "
        f"{resolvers.MAX_SDP_CHARS:,} characters).",
    )
    candidate: IceCandidateInput | None = None


@strawberry.type(
    description="A WebRTC signal from the other party of a call, in the order sent. The "
    "last one of a stream is a HANGUP when the call ends (however it ends): then the "
    "stream completes."
)
class CallSignal:
    seq: int = strawberry.field(
        description="A call's signals are numbered 1, 2, 3... across both parties (so "
        "the other's that you get may skip numbers: yours are between). Pass the last one "
        "you saw as `afterSeq` when you subscribe again (after a reconnect)."
    )
    kind: CallSignalKind
    sdp: str | None
    candidate: IceCandidate | None
    created_at: datetime
    call_state: VideoCallState = strawberry.field(
        description="The call's state when the signal was delivered: for a HANGUP, how it "
        "ended (ENDED, DECLINED, MISSED)."
    )
    sender_id: strawberry.ID | None = strawberry.field(
        description="Who sent it: the other party; null for the HANGUP of a call the "
        "service ended (missed, or its window closed)."
    )


@strawberry.type(description="A STUN or TURN server (RTCIceServer).")
class IceServer:
    urls: list[str]
    username: str | None = strawberry.field(description="TURN only: `expiry:userId`.")
    credential: str | None = strawberry.field(
        description="TURN only: valid until the call's window closes."
    )


@strawberry.type
class VideoCallPayload:
    video_call: VideoCall


@strawberry.type
class CallSignalSent:
    seq: int | None = strawberry.field(description="The signal's number; null for HANGUP.")
    video_call: VideoCall


StartVideoCallResult = Annotated[
    VideoCallPayload | NotFound | CallWindowClosed | InvalidStatusTransition,
    strawberry.union("StartVideoCallResult"),
]
JoinVideoCallResult = Annotated[
    VideoCallPayload | NotFound | CallEnded | CallWindowClosed | InvalidStatusTransition,
    strawberry.union("JoinVideoCallResult"),
]
EndVideoCallResult = Annotated[
    VideoCallPayload | NotFound | CallEnded, strawberry.union("EndVideoCallResult")
]
SendCallSignalResult = Annotated[
    CallSignalSent | NotFound | ValidationFailed | CallEnded,
    strawberry.union("SendCallSignalResult"),
]


def call_payload(row: models.VideoCall) -> VideoCallPayload:
    return VideoCallPayload(video_call=VideoCall.from_model(row))


@strawberry.type
class Query:
    @strawberry.field(
        description="A video call of one of your appointments (administrators: any); null "
        "when there is none you may see.",
        extensions=[*allow(IsAuthenticated()), DeniedWhenNull(models.AuditEntity.VIDEO_CALL)],
    )
    async def video_call(self, info: Info, id: strawberry.ID) -> VideoCall | None:
        row = await find_visible(signed_in_user(info), models.VideoCall, id)
        return VideoCall.from_model(row) if row is not None else None

    @strawberry.field(
        description="The STUN and TURN servers for a live call you take part in, for "
        "RTCPeerConnection's `iceServers`. TURN credentials expire when the call's window "
        "closes. Empty when none is configured; null when there is no such live call.",
        extensions=[
            *allow(IsAuthenticated()),
            DeniedWhenNull(models.AuditEntity.VIDEO_CALL, argument="call_id"),
        ],
    )
    async def ice_servers(self, info: Info, call_id: strawberry.ID) -> list[IceServer] | None:
        servers = await resolvers.ice_servers(signed_in_user(info), call_id, info.context.settings)
        if servers is None:
            return None
        return [
            IceServer(urls=list(s.urls), username=s.username, credential=s.credential)
            for s in servers
        ]


@strawberry.type
class Mutation:
    @mutation(
        description="Ring the other party of one of your appointments (scheduled, its "
        "window open). If a call of it is ringing or active, returns that call.",
        extensions=allow(IsAuthenticated()),
    )
    async def start_video_call(
        self, info: Info, appointment_id: strawberry.ID
    ) -> StartVideoCallResult:
        row = await resolvers.start(signed_in_user(info), appointment_id, info.context.settings)
        return call_payload(row)

    @mutation(
        description="Answer a ringing call; on an active one (another tab, a reconnect), "
        "returns it.",
        extensions=allow(IsAuthenticated()),
    )
    async def join_video_call(self, info: Info, call_id: strawberry.ID) -> JoinVideoCallResult:
        row = await resolvers.join(signed_in_user(info), call_id, info.context.settings)
        return call_payload(row)

    @mutation(
        description="Refuse a ringing call (DECLINED; the caller giving up: ENDED).",
        extensions=allow(IsAuthenticated()),
    )
    async def decline_video_call(self, info: Info, call_id: strawberry.ID) -> EndVideoCallResult:
        return call_payload(await resolvers.decline(signed_in_user(info), call_id))

    @mutation(
        description="Hang up: the call ends for both. On a call that has ended, returns it.",
        extensions=allow(IsAuthenticated()),
    )
    async def leave_video_call(self, info: Info, call_id: strawberry.ID) -> EndVideoCallResult:
        return call_payload(await resolvers.leave(signed_in_user(info), call_id))

    @mutation(
        description="Send a WebRTC signal to the other party of a live call you take part "
        "in (either may send an offer: resolve glare with perfect negotiation). HANGUP "
        "ends the call. Nothing is stored for a bad payload or an ended call.",
        extensions=allow(IsAuthenticated()),
    )
    async def send_call_signal(
        self,
        info: Info,
        call_id: strawberry.ID,
        kind: CallSignalKind,
        payload: CallSignalPayloadInput | None = None,
    ) -> SendCallSignalResult:
        candidate = None
        if payload is not None and payload.candidate is not None:
            candidate = vars(payload.candidate)
        sent = await resolvers.send_signal(
            signed_in_user(info),
            call_id,
            kind,
            payload.sdp if payload is not None else None,
            candidate,
        )
        return CallSignalSent(seq=sent.seq, video_call=VideoCall.from_model(sent.call))


def call_error(code: ErrorCode, message: str) -> StrawberryGraphQLError:
    """For subscriptions, which have no result union."""
    return StrawberryGraphQLError(message, extensions={"code": code.value})


async def signalling_call(info: Info, call_id: strawberry.ID) -> models.VideoCall:
    """The live call a subscriber takes part in: NOT_FOUND for any other (recorded as a
    refusal), CALL_ENDED when it has ended."""
    try:
        call = await resolvers.find_party_call(signed_in_user(info), call_id)
    except NotFoundError:
        denied(info, models.AuditEntity.VIDEO_CALL, call_id)
        raise call_error(ErrorCode.NOT_FOUND, "No video call with that id.") from None
    if not call.is_live:
        raise call_error(ErrorCode.CALL_ENDED, "This video call has ended; start a new one.")
    return call


@dataclass(frozen=True)
class CallOver:
    """What a signal stream reads once the call has ended: its last event."""

    call: models.VideoCall | None


@dataclass(frozen=True)
class Delivered:
    signal: models.CallSignal
    call_state: models.VideoCallState


def signal_from_model(row: models.CallSignal, call_state: models.VideoCallState) -> CallSignal:
    payload: dict[str, Any] = row.payload or {}
    candidate = payload.get("candidate")
    return CallSignal(
        seq=row.seq,
        kind=row.kind,
        sdp=payload.get("sdp"),
        candidate=IceCandidate(
            candidate=candidate["candidate"],
            sdp_mid=candidate.get("sdpMid"),
            sdp_m_line_index=candidate.get("sdpMLineIndex"),
            username_fragment=candidate.get("usernameFragment"),
        )
        if candidate is not None
        else None,
        created_at=row.created_at,
        call_state=call_state,
        sender_id=strawberry.ID(str(row.sender_id)),
    )


def hangup(call: models.VideoCall | None) -> CallSignal:
    """The last event of a signal stream: the call has ended (its row is gone only when
    its appointment was deleted)."""
    ended_by = call.ended_by_id if call is not None else None
    return CallSignal(
        seq=call.last_signal_seq + 1 if call is not None else 0,
        kind=CallSignalKind.HANGUP,
        sdp=None,
        candidate=None,
        created_at=call.ended_at if call is not None and call.ended_at else utcnow(),
        call_state=call.state if call is not None else VideoCallState.ENDED,
        sender_id=strawberry.ID(str(ended_by)) if ended_by is not None else None,
    )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The other party's signals of a live call you take part in, in order: "
        "first those after `afterSeq` (default 0: every one kept), then live ones. When the "
        "call ends you get a HANGUP and the stream completes. Errors: NOT_FOUND (no such "
        "call you take part in), CALL_ENDED (it has ended).",
        extensions=allow(IsAuthenticated()),
    )
    async def call_signals(
        self, info: Info, call_id: strawberry.ID, after_seq: int = 0
    ) -> AsyncGenerator[CallSignal, None]:
        if after_seq < 0:
            raise call_error(ErrorCode.VALIDATION_FAILED, "afterSeq must be 0 or more.")
        call = await signalling_call(info, call_id)
        me = signed_in_user(info).id

        async def fetch_after(seq: int, announced: int | None) -> list[Delivered | CallOver]:
            read = await resolvers.signals_after(call.id, me, seq)
            if read.call is None or not read.call.is_live:
                return [CallOver(read.call)]
            return [Delivered(signal, read.call.state) for signal in read.signals]

        def seq_of(item: Delivered | CallOver) -> int:
            return item.signal.seq if isinstance(item, Delivered) else 0

        async for item in pubsub.stream(
            pubsub.call_signals_channel(call.id), after_seq, fetch_after, seq_of
        ):
            if isinstance(item, CallOver):
                yield hangup(item.call)
                return
            yield signal_from_model(item.signal, item.call_state)

    @strawberry.subscription(
        description="Your video calls as they change: a call ringing for you (RINGING, "
        "`caller` is the other party), answered, declined, missed or ended. Live only: on "
        "reconnecting, read `Appointment.activeVideoCall`. Nothing for administrators.",
        extensions=allow(IsAuthenticated()),
    )
    async def video_call_changed(self, info: Info) -> AsyncGenerator[VideoCall, None]:
        viewer = signed_in_user(info)
        async for event in pubsub.doorbells(pubsub.video_calls_channel(viewer.id)):
            row = await resolvers.party_call(viewer, str(event.get("call_id")))
            if row is not None:
                yield VideoCall.from_model(row)
