from __future__ import annotations

import uuid
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from healthcare.models.appointment import Appointment
    from healthcare.models.user import User


class VideoCallState(StrEnum):
    RINGING = "RINGING"  # started; the other party has not answered yet
    ACTIVE = "ACTIVE"  # the other party joined
    ENDED = "ENDED"  # someone left or hung up (while ringing: the caller gave up)
    DECLINED = "DECLINED"  # the other party refused it
    MISSED = "MISSED"  # nobody answered before the ring timed out


LIVE_CALL_STATES = (VideoCallState.RINGING, VideoCallState.ACTIVE)


class CallSignalKind(StrEnum):
    OFFER = "OFFER"
    ANSWER = "ANSWER"
    ICE_CANDIDATE = "ICE_CANDIDATE"
    ICE_RESTART = "ICE_RESTART"
    HANGUP = "HANGUP"


class VideoCall(Model):
    """A video call between an appointment's patient and its doctor.

    `live_appointment_id` is the appointment's id while the call rings or is active and
    null once it has ended: its unique constraint allows one live call per appointment
    (both databases allow many nulls). `last_signal_seq` numbers the call's signals;
    sending one locks this row, so signals are numbered in commit order.
    """

    id = fields.UUIDField(primary_key=True)
    appointment: fields.ForeignKeyRelation[Appointment] = fields.ForeignKeyField(
        "models.Appointment", related_name="video_calls", on_delete=fields.CASCADE
    )
    appointment_id: uuid.UUID
    live_appointment_id = fields.UUIDField(null=True, unique=True)
    patient: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="video_calls_as_patient", on_delete=fields.CASCADE
    )
    patient_id: uuid.UUID
    doctor: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="video_calls_as_doctor", on_delete=fields.CASCADE
    )
    doctor_id: uuid.UUID
    caller: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="video_calls_made", on_delete=fields.CASCADE
    )
    caller_id: uuid.UUID
    state = fields.CharEnumField(VideoCallState, max_length=16, default=VideoCallState.RINGING)
    rung_at = fields.DatetimeField()
    answered_at = fields.DatetimeField(null=True)
    ended_at = fields.DatetimeField(null=True)
    ended_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="video_calls_ended", null=True, on_delete=fields.SET_NULL
    )
    ended_by_id: uuid.UUID | None
    last_signal_seq = fields.BigIntField(default=0)

    class Meta:
        table = "video_calls"
        indexes = (("state", "rung_at"),)

    @property
    def is_live(self) -> bool:
        return self.state in LIVE_CALL_STATES

    def callee_id(self) -> uuid.UUID:
        return self.doctor_id if self.caller_id == self.patient_id else self.patient_id


class CallSignal(Model):
    """One WebRTC signal of a live call (an SDP or an ICE candidate), numbered 1, 2, 3...
    per call. Ephemeral: the call's signals are deleted when it ends, and never logged."""

    id = fields.UUIDField(primary_key=True)
    call: fields.ForeignKeyRelation[VideoCall] = fields.ForeignKeyField(
        "models.VideoCall", related_name="signals", on_delete=fields.CASCADE
    )
    call_id: uuid.UUID
    seq = fields.BigIntField()
    sender: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="call_signals", on_delete=fields.CASCADE
    )
    sender_id: uuid.UUID
    kind = fields.CharEnumField(CallSignalKind, max_length=16)
    payload: Any = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "call_signals"
        unique_together = (("call_id", "seq"),)
