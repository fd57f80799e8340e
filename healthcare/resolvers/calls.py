"""Video calls: who may call whom and when, the call's life, its signals, ICE servers.

A call belongs to an appointment. Only its patient and its doctor (in their current
role) start, join, signal or end it, and only while the appointment is scheduled and its
window is open (from `video_call_opens_minutes_before` its start until
`video_call_closes_minutes_after` its end). Administrators see that a call happened,
never its signals. One live call per appointment: starting again returns it.

Signals are the WebRTC offers, answers and candidates the two browsers exchange. They
are kept while the call lives (a client that reconnects resumes after the last `seq` it
saw), deleted when it ends, and never logged; pub/sub carries their numbers only.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from healthcare import db, models
from healthcare.config import Settings
from healthcare.failures import (
    CallEndedError,
    CallWindowClosedError,
    InputError,
    InvalidTransitionError,
    NotFoundError,
)
from healthcare.realtime import pubsub
from healthcare.realtime.outbox import Event, atomic, queue
from healthcare.resolvers.changes import Change, announce, notify
from healthcare.resolvers.chat import participant_column
from healthcare.security import audit
from healthcare.security.auth import utcnow
from healthcare.validators import parse_id

logger = logging.getLogger(__name__)

State = models.VideoCallState
Kind = models.CallSignalKind

# An SDP of a browser with audio, video and a data channel is 3-10 KB; an ICE restart
# offer is as large. A candidate line is under 300 characters.
MAX_SDP_CHARS = 32 * 1024
MAX_CANDIDATE_CHARS = 1024
MAX_SDP_MID_CHARS = 64
MAX_USERNAME_FRAGMENT_CHARS = 256
MAX_SDP_M_LINE_INDEX = 63
SDP_KINDS = frozenset({Kind.OFFER, Kind.ANSWER, Kind.ICE_RESTART})
# How often each instance ends the calls nobody answered and those whose window closed.
SWEEP_SECONDS = 1.0


def visible_video_calls(viewer: models.User) -> QuerySet[models.VideoCall]:
    """Every call `viewer` may see: those of the appointments they are the patient or the
    doctor of, in their current role; administrators see all (when and how long, never
    the signals: those need `find_party_call`)."""
    if viewer.is_admin:
        return models.VideoCall.all()
    return party_calls(viewer)


def party_calls(viewer: models.User) -> QuerySet[models.VideoCall]:
    """The calls `viewer` takes part in, in their current role: the only ones they may
    join, signal, end or get ICE credentials for. Administrators take part in none."""
    column = participant_column(viewer)
    if column is None:
        return models.VideoCall.filter(id__in=[])
    return models.VideoCall.filter(**{column: viewer.id})


async def party_call(viewer: models.User, call_id: str | uuid.UUID) -> models.VideoCall | None:
    """The call with that id if `viewer` takes part in it."""
    parsed = parse_id(str(call_id))
    return await party_calls(viewer).filter(id=parsed).first() if parsed else None


async def find_party_call(viewer: models.User, call_id: str | uuid.UUID) -> models.VideoCall:
    found = await party_call(viewer, call_id)
    if found is None:
        raise NotFoundError("video call", call_id)
    return found


# ---- the window -------------------------------------------------------------------------


@dataclass(frozen=True)
class CallWindow:
    opens_at: datetime
    closes_at: datetime

    def is_open(self, now: datetime) -> bool:
        return self.opens_at <= now <= self.closes_at


def call_window_of(starts_at: datetime, ends_at: datetime, settings: Settings) -> CallWindow:
    return CallWindow(
        opens_at=starts_at - timedelta(minutes=settings.video_call_opens_minutes_before),
        closes_at=ends_at + timedelta(minutes=settings.video_call_closes_minutes_after),
    )


def call_window(appointment: models.Appointment, settings: Settings) -> CallWindow:
    return call_window_of(appointment.starts_at, appointment.ends_at, settings)


def check_callable(appointment: models.Appointment, settings: Settings, now: datetime) -> None:
    """A call may ring or be answered: the appointment is scheduled, its window open."""
    if appointment.status != models.AppointmentStatus.SCHEDULED:
        raise InvalidTransitionError(
            appointment.status.value,
            f"Video calls are for scheduled appointments; this one is {appointment.status.value}.",
        )
    window = call_window(appointment, settings)
    if not window.is_open(now):
        raise CallWindowClosedError(window.opens_at, window.closes_at)


# ---- the call's life --------------------------------------------------------------------


def calls_channel_events(call: models.VideoCall) -> None:
    """Both parties hear that the call changed (`videoCallChanged`), and its signal
    stream re-reads it (an ended call ends the stream)."""
    for party in (call.patient_id, call.doctor_id):
        queue(Event(pubsub.video_calls_channel(party), {"call_id": str(call.id)}))
    queue(Event(pubsub.call_signals_channel(call.id), {"state": call.state.value}))


async def start(viewer: models.User, appointment_id: str, settings: Settings) -> models.VideoCall:
    """Ring the other party of one of `viewer`'s appointments; the live call if there is
    one already (whoever started it)."""
    column = participant_column(viewer)
    parsed = parse_id(appointment_id)
    if column is None or parsed is None:
        raise NotFoundError("appointment", appointment_id)
    appointment = await models.Appointment.filter(id=parsed, **{column: viewer.id}).first()
    if appointment is None:
        raise NotFoundError("appointment", appointment_id)
    live = await models.VideoCall.filter(live_appointment_id=appointment.id).first()
    if live is not None:
        return live
    now = utcnow()
    check_callable(appointment, settings, now)
    try:
        async with atomic():
            call = await models.VideoCall.create(
                appointment_id=appointment.id,
                live_appointment_id=appointment.id,
                patient_id=appointment.patient_id,
                doctor_id=appointment.doctor_id,
                caller_id=viewer.id,
                state=State.RINGING,
                rung_at=now,
            )
            await announce(
                Change(
                    kind=models.NotificationKind.VIDEO_CALL_INCOMING,
                    actor=viewer,
                    recipient_ids=(call.callee_id(),),
                    appointment_id=appointment.id,
                    video_call_id=call.id,
                    patient_id=appointment.patient_id,
                    fields=("state", "rung_at"),
                )
            )
            calls_channel_events(call)
    except IntegrityError:  # both started at once: the unique live appointment kept one
        live = await models.VideoCall.filter(live_appointment_id=appointment.id).first()
        if live is None:
            raise
        return live
    return call


async def join(viewer: models.User, call_id: str, settings: Settings) -> models.VideoCall:
    """Answer a ringing call. Joining one's own call, or an active one again (another
    tab, a reconnect), returns it as it is."""
    call = await find_party_call(viewer, call_id)
    if not call.is_live:
        raise CallEndedError(call.state.value)
    if call.state == State.ACTIVE or call.caller_id == viewer.id:
        return call
    appointment = await models.Appointment.get(id=call.appointment_id)
    now = utcnow()
    check_callable(appointment, settings, now)
    async with atomic():
        answered = await models.VideoCall.filter(id=call.id, state=State.RINGING).update(
            state=State.ACTIVE, answered_at=now
        )
        await call.refresh_from_db()
        if not answered:  # it ended or was answered (another tab) meanwhile
            if not call.is_live:
                raise CallEndedError(call.state.value)
            return call
        await audit.record_write(
            viewer,
            models.AuditEntity.VIDEO_CALL,
            models.AuditAction.UPDATE,
            call.id,
            call.patient_id,
            ("state", "answered_at"),
        )
        calls_channel_events(call)
    return call


async def leave(viewer: models.User, call_id: str) -> models.VideoCall:
    """Hang up: the call ends for both (a call has two parties). While it rings, the
    caller gives up (ENDED) and the other party declines (DECLINED). Leaving a call that
    has ended returns it as it is."""
    return await hang_up(viewer, await find_party_call(viewer, call_id))


async def hang_up(viewer: models.User, call: models.VideoCall) -> models.VideoCall:
    """`leave`, for a call `find_party_call` has shown `viewer`."""
    if not call.is_live:
        return call
    declined = call.state == State.RINGING and viewer.id != call.caller_id
    return await end(call, State.DECLINED if declined else State.ENDED, viewer)


async def decline(viewer: models.User, call_id: str) -> models.VideoCall:
    """Refuse a ringing call (the caller's own: gives it up)."""
    call = await find_party_call(viewer, call_id)
    if not call.is_live:
        raise CallEndedError(call.state.value)
    if call.state == State.ACTIVE:
        raise CallEndedError(
            call.state.value, "This call was answered: leave it with leaveVideoCall."
        )
    return await hang_up(viewer, call)


async def end(
    call: models.VideoCall, state: models.VideoCallState, by: models.User | None
) -> models.VideoCall:
    """End a live call as `state`, by `by` (None: the service, when it timed out or its
    window closed): its signals are deleted, both parties hear of it. A call that ended
    meanwhile is returned as it ended."""
    now = utcnow()
    async with atomic():
        ended = await models.VideoCall.filter(id=call.id, live_appointment_id__isnull=False).update(
            state=state,
            ended_at=now,
            ended_by_id=by.id if by is not None else None,
            live_appointment_id=None,
        )
        await call.refresh_from_db()
        if not ended:
            return call
        await models.CallSignal.filter(call_id=call.id).delete()
        await audit.record_write(
            by,
            models.AuditEntity.VIDEO_CALL,
            models.AuditAction.UPDATE,
            call.id,
            call.patient_id,
            ("state", "ended_at"),
        )
        if state == State.MISSED:
            callee = await models.User.get(id=call.callee_id())
            await notify(
                Change(
                    kind=models.NotificationKind.VIDEO_CALL_MISSED,
                    actor=callee,
                    recipient_ids=(call.caller_id,),
                    appointment_id=call.appointment_id,
                    video_call_id=call.id,
                    patient_id=call.patient_id,
                )
            )
        calls_channel_events(call)
    return call


async def end_overdue_calls(settings: Settings) -> int:
    """End the calls nobody answered within `video_call_ring_seconds` (MISSED), and the
    live ones whose appointment's window has closed or that is no longer scheduled
    (ENDED). Safe on several instances at once: each call ends once (`end`)."""
    now = utcnow()
    rang_out_before = now - timedelta(seconds=settings.video_call_ring_seconds)
    unanswered = Q(state=State.RINGING, rung_at__lt=rang_out_before)
    window_closed = Q(
        appointment__ends_at__lt=now - timedelta(minutes=settings.video_call_closes_minutes_after)
    )
    not_scheduled = ~Q(appointment__status=models.AppointmentStatus.SCHEDULED)
    overdue = await models.VideoCall.filter(
        Q(unanswered, window_closed, not_scheduled, join_type="OR"),
        live_appointment_id__isnull=False,
    )
    for call in overdue:
        missed = call.state == State.RINGING and call.rung_at < rang_out_before
        await end(call, State.MISSED if missed else State.ENDED, None)
    return len(overdue)


async def keep_ending_overdue_calls(settings: Settings) -> None:
    """Every `SWEEP_SECONDS`, for as long as the app runs (its lifespan's task)."""
    while True:
        await asyncio.sleep(SWEEP_SECONDS)
        try:
            await end_overdue_calls(settings)
        except Exception as error:  # the database is away: the next round tries again
            logger.warning("could not end overdue video calls (%s)", type(error).__name__)


# ---- signals ----------------------------------------------------------------------------


def signal_payload(
    kind: models.CallSignalKind, sdp: str | None, candidate: Mapping[str, Any] | None
) -> dict[str, Any]:
    """What a signal of `kind` keeps, checked: an SDP for offers, answers and ICE
    restarts; a candidate for ICE_CANDIDATE; nothing for HANGUP."""
    if kind in SDP_KINDS:
        if candidate is not None:
            raise InputError("candidate", f"A {kind.value} carries an sdp, not a candidate.")
        return {"sdp": checked_sdp(sdp)}
    if kind == Kind.ICE_CANDIDATE:
        if sdp is not None:
            raise InputError("sdp", "An ICE_CANDIDATE carries a candidate, not an sdp.")
        if candidate is None:
            raise InputError("candidate", "An ICE_CANDIDATE needs its candidate.")
        return {"candidate": checked_candidate(candidate)}
    if sdp is not None or candidate is not None:
        raise InputError("sdp" if sdp is not None else "candidate", "A HANGUP carries nothing.")
    return {}


def checked_sdp(sdp: str | None) -> str:
    if sdp is None or not sdp.strip():
        raise InputError("sdp", "Give the session description (RTCSessionDescription.sdp).")
    if len(sdp) > MAX_SDP_CHARS:
        raise InputError("sdp", f"Too long: at most {MAX_SDP_CHARS} characters.")
    if not sdp.startswith("v=0"):
        raise InputError("sdp", "Not a session description: it must start with v=0.")
    if "\x00" in sdp:
        raise InputError("sdp", "Not a session description: it holds a NUL character.")
    return sdp


def checked_candidate(candidate: Mapping[str, Any]) -> dict[str, Any]:
    """An RTCIceCandidateInit: `candidate` ("" at the end of candidates, else a line that
    starts with `candidate:`), `sdpMid`, `sdpMLineIndex`, `usernameFragment`."""
    line = candidate.get("candidate")
    if not isinstance(line, str) or len(line) > MAX_CANDIDATE_CHARS:
        raise InputError(
            "candidate", f"candidate must be text of at most {MAX_CANDIDATE_CHARS} characters."
        )
    if (line and not line.startswith("candidate:")) or any(c in line for c in "\r\n\x00"):
        raise InputError("candidate", "Not an ICE candidate: it must start with candidate:.")
    mid = candidate.get("sdp_mid")
    index = candidate.get("sdp_m_line_index")
    fragment = candidate.get("username_fragment")
    if mid is None and index is None:
        raise InputError("candidate", "Give sdpMid or sdpMLineIndex.")
    if mid is not None and (len(mid) > MAX_SDP_MID_CHARS or not mid.isprintable()):
        raise InputError("candidate", f"sdpMid must be at most {MAX_SDP_MID_CHARS} characters.")
    if index is not None and not 0 <= index <= MAX_SDP_M_LINE_INDEX:
        raise InputError("candidate", f"sdpMLineIndex must be 0 to {MAX_SDP_M_LINE_INDEX}.")
    if fragment is not None and (
        len(fragment) > MAX_USERNAME_FRAGMENT_CHARS or not fragment.isprintable()
    ):
        raise InputError(
            "candidate",
            f"usernameFragment must be at most {MAX_USERNAME_FRAGMENT_CHARS} characters.",
        )
    return {"candidate": line, "sdpMid": mid, "sdpMLineIndex": index, "usernameFragment": fragment}


# Numbers the next signal of a live call the sender takes part in (in the role given by
# the column), and locks the call's row until commit: signals number in commit order,
# and none is stored once the call has ended.
NEXT_SIGNAL_SQL = {
    column: f"""
UPDATE "video_calls" SET "last_signal_seq" = "last_signal_seq" + 1
WHERE "id" = $1 AND "{column}" = $2 AND "live_appointment_id" IS NOT NULL
RETURNING "last_signal_seq"
"""  # noqa: S608 (the column is one of two names written here)
    for column in ("patient_id", "doctor_id")
}


@dataclass(frozen=True)
class SignalSent:
    call: models.VideoCall
    seq: int | None  # None for HANGUP, which ends the call and is not stored


async def send_signal(
    sender: models.User,
    call_id: str,
    kind: models.CallSignalKind,
    sdp: str | None,
    candidate: Mapping[str, Any] | None,
) -> SignalSent:
    """Store one signal for the other party, numbered; HANGUP ends the call instead."""
    payload = signal_payload(kind, sdp, candidate)
    column = participant_column(sender)
    parsed = parse_id(call_id)
    if column is None or parsed is None:
        raise NotFoundError("video call", call_id)
    if kind == Kind.HANGUP:
        call = await find_party_call(sender, parsed)
        if not call.is_live:
            raise CallEndedError(call.state.value)
        return SignalSent(await hang_up(sender, call), None)
    async with atomic():
        numbered = await db.fetch_one(NEXT_SIGNAL_SQL[column], parsed, sender.id)
        if numbered is None:
            call = await find_party_call(sender, parsed)  # NotFound, or it has ended:
            raise CallEndedError(call.state.value)
        seq = int(numbered["last_signal_seq"])
        await models.CallSignal.create(
            call_id=parsed, seq=seq, sender_id=sender.id, kind=kind, payload=payload
        )
        queue(Event(pubsub.call_signals_channel(parsed), {"seq": str(seq)}))
    return SignalSent(await models.VideoCall.get(id=parsed), seq)


@dataclass(frozen=True)
class SignalsRead:
    """The other party's signals after a seq, and the call as it is now: once it has
    ended, no signal is left and the stream ends."""

    call: models.VideoCall | None  # None: gone (its appointment was deleted)
    signals: list[models.CallSignal]


async def signals_after(call_id: uuid.UUID, reader_id: uuid.UUID, seq: int) -> SignalsRead:
    """For a subscriber shown the call by `find_party_call`: the signals the other party
    sent after `seq`, oldest first."""
    call = await models.VideoCall.filter(id=call_id).first()
    if call is None or not call.is_live:
        return SignalsRead(call, [])
    rows = (
        await models.CallSignal.filter(call_id=call_id, seq__gt=seq)
        .exclude(sender_id=reader_id)
        .order_by("seq")
    )
    return SignalsRead(call, rows)


# ---- ICE servers ------------------------------------------------------------------------


@dataclass(frozen=True)
class IceServer:
    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None


def turn_credential(secret: str, username: str) -> str:
    """The TURN REST API convention that coturn's `use-auth-secret` checks: the password
    is base64(HMAC-SHA1(secret, username))."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


async def ice_servers(
    viewer: models.User, call_id: str, settings: Settings
) -> list[IceServer] | None:
    """STUN and TURN servers for a live call `viewer` takes part in; TURN credentials
    expire when the call's window closes. None when there is no such call."""
    try:
        call = await find_party_call(viewer, call_id)
    except NotFoundError:
        return None
    if not call.is_live:
        return None
    appointment = await models.Appointment.get(id=call.appointment_id)
    servers = [IceServer(urls=settings.stun_urls)] if settings.stun_urls else []
    if settings.turn_urls:
        expiry = int(call_window(appointment, settings).closes_at.timestamp())
        username = f"{expiry}:{viewer.id}"
        servers.append(
            IceServer(
                urls=settings.turn_urls,
                username=username,
                credential=turn_credential(settings.turn_secret, username),
            )
        )
    return servers
