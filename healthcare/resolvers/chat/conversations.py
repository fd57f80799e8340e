"""Chat conversations: who may see one, starting one, read receipts, typing, the list.

A conversation joins one patient and one doctor who share an appointment (any status).
Only those two see it; administrators do not read chat content. `visible_conversations`
is the one rule for every path: lists, lookups, sends, marks and subscriptions.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from healthcare import db, models
from healthcare.failures import InputError, NotFoundError
from healthcare.graphql.errors import in_calendar
from healthcare.graphql.pagination import (
    Connection,
    Edge,
    PageInfo,
    check_page_size,
    decode_key,
    encode_key,
    not_a_cursor,
)
from healthcare.realtime import pubsub
from healthcare.security.auth import utcnow
from healthcare.validators import parse_id

NodeT = TypeVar("NodeT")


def participant_column(viewer: models.User) -> str | None:
    """The conversations' column that names `viewer` in their current role: a doctor's
    conversations are those they are the doctor of, a patient's those they are the
    patient of, whatever they were before a role change. Administrators take part in
    none."""
    return {models.Role.DOCTOR: "doctor_id", models.Role.PATIENT: "patient_id"}.get(viewer.role)


def visible_conversations(viewer: models.User) -> QuerySet[models.Conversation]:
    """Every conversation `viewer` may see: those they take part in, in their current
    role. Administrators see none: chat is between the two of them."""
    column = participant_column(viewer)
    if column is None:
        return models.Conversation.filter(id__in=[])
    return models.Conversation.filter(**{column: viewer.id})


async def find_visible_conversation(
    viewer: models.User, conversation_id: str | uuid.UUID
) -> models.Conversation:
    parsed = parse_id(str(conversation_id))
    found = await visible_conversations(viewer).filter(id=parsed).first() if parsed else None
    if found is None:
        raise NotFoundError("conversation", conversation_id)
    return found


def read_seqs(conversation: models.Conversation, reader_id: uuid.UUID) -> tuple[int, int]:
    """(the reader's last read seq, the other participant's): read receipts both ways."""
    if reader_id == conversation.patient_id:
        return conversation.patient_last_read_seq, conversation.doctor_last_read_seq
    return conversation.doctor_last_read_seq, conversation.patient_last_read_seq


# ---- starting a conversation ----------------------------------------------------------


async def start(viewer: models.User, with_user_id: str) -> models.Conversation:
    """The conversation between `viewer` and the counterpart of a shared appointment,
    created on first use. Anyone else is NotFound, whether they exist or not."""
    other_id = parse_id(with_user_id)
    if viewer.is_admin or other_id is None:
        raise NotFoundError("user", with_user_id)
    patient_id, doctor_id = (other_id, viewer.id) if viewer.is_doctor else (viewer.id, other_id)
    # The other party in the counterpart role now: a doctor who became a patient (or the
    # reverse) no longer takes part in the conversations of their former role.
    other_role = models.Role.PATIENT if viewer.is_doctor else models.Role.DOCTOR
    shared = models.Appointment.filter(patient_id=patient_id, doctor_id=doctor_id)
    other = models.User.filter(id=other_id, is_active=True, role=other_role)
    if not (await shared.exists() and await other.exists()):
        raise NotFoundError("user", with_user_id)
    existing = await models.Conversation.filter(patient_id=patient_id, doctor_id=doctor_id).first()
    if existing is not None:
        return existing
    try:
        return await models.Conversation.create(patient_id=patient_id, doctor_id=doctor_id)
    except IntegrityError:  # both started it at once: the unique pair kept one
        return await models.Conversation.get(patient_id=patient_id, doctor_id=doctor_id)


# ---- marking read -------------------------------------------------------------------------


# Only while `target` is still the newest message: a message that arrived since was not
# read, and neither was its notification.
READ_MESSAGE_NOTIFICATIONS_SQL = """
UPDATE "notifications" SET "read_at" = $4
WHERE "recipient_id" = $1 AND "conversation_id" = $2 AND "kind" = 'CHAT_MESSAGE'
  AND "read_at" IS NULL
  AND (SELECT "last_seq" FROM "conversations" WHERE "id" = $2) = $3
"""


async def mark_read(
    reader: models.User, conversation_id: str, up_to_seq: int
) -> models.Conversation:
    """Move the reader's receipt to `up_to_seq` (capped at the newest message); never back."""
    if up_to_seq < 0:
        raise InputError("upToSeq", "Give 0 or the seq of a message.")
    conversation = await find_visible_conversation(reader, conversation_id)
    column = (
        "patient_last_read_seq" if reader.id == conversation.patient_id else "doctor_last_read_seq"
    )
    target = min(up_to_seq, conversation.last_seq)
    # Conditional, so that a late, lower mark from another tab cannot move it back.
    moved = await models.Conversation.filter(
        id=conversation.id, **{f"{column}__lt": target}
    ).update(**{column: target})
    if moved:
        await pubsub.publish(
            pubsub.receipts_channel(conversation.id),
            {"user_id": str(reader.id), "last_read_seq": target},
        )
    if target == conversation.last_seq:  # read to the end: its message notifications too
        await db.fetch_one(
            READ_MESSAGE_NOTIFICATIONS_SQL, reader.id, conversation.id, target, utcnow()
        )
    await conversation.refresh_from_db()
    return conversation


# ---- typing ---------------------------------------------------------------------------------


async def set_typing(viewer: models.User, conversation_id: str, typing: bool) -> bool:
    """Tell the other participant; stored nowhere. NotFoundError when the conversation is
    not one `viewer` may see (the same answer for one that does not exist)."""
    conversation = await find_visible_conversation(viewer, conversation_id)
    await pubsub.publish(
        pubsub.typing_channel(conversation.id), {"user_id": str(viewer.id), "typing": typing}
    )
    return True


# ---- the list of conversations, newest activity first ------------------------------------


def _activity(row: models.Conversation) -> tuple[int, datetime]:
    """Sort key: conversations with messages (segment 0, by last message) before those
    without (segment 1, by creation), each newest first."""
    if row.last_message_at is not None:
        return 0, row.last_message_at
    return 1, row.created_at


def _cursor(row: models.Conversation) -> str:
    segment, at = _activity(row)
    return encode_key([segment, at.isoformat(), str(row.id)])


def _decode(cursor: str) -> tuple[int, datetime, uuid.UUID]:
    segment, at, row_id = decode_key(cursor, 3)
    try:
        moment = datetime.fromisoformat(at)
        if segment not in (0, 1) or not in_calendar(moment):
            raise ValueError(segment)
        return segment, moment, uuid.UUID(row_id)
    except (ValueError, TypeError, AttributeError):
        raise not_a_cursor() from None


def _before(field: str, at: datetime, row_id: uuid.UUID) -> Q:
    earlier: dict[str, Any] = {f"{field}__lt": at}
    same_but_lower_id: dict[str, Any] = {field: at, "id__lt": row_id}
    return Q(**earlier) | Q(**same_but_lower_id)


async def conversations_page(
    viewer: models.User,
    to_node: Callable[[models.Conversation], NodeT],
    first: int,
    after: str | None,
) -> Connection[NodeT]:
    """One page of the viewer's conversations, newest activity first (keyset cursors;
    a conversation that gets a message while you page moves to the front)."""
    check_page_size(first)
    segment, at, row_id = _decode(after) if after else (0, None, None)
    mine = visible_conversations(viewer)
    rows: list[models.Conversation] = []
    if segment == 0:
        active = mine.filter(last_message_at__isnull=False)
        if at is not None and row_id is not None:
            active = active.filter(_before("last_message_at", at, row_id))
        rows = await active.order_by("-last_message_at", "-id").limit(first + 1)
    if len(rows) <= first:
        quiet = mine.filter(last_message_at__isnull=True)
        if segment == 1 and at is not None and row_id is not None:
            quiet = quiet.filter(_before("created_at", at, row_id))
        rows += await quiet.order_by("-created_at", "-id").limit(first + 1 - len(rows))
    page = rows[:first]
    edges = [Edge(cursor=_cursor(row), node=to_node(row)) for row in page]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > first, end_cursor=edges[-1].cursor if edges else None
        ),
    )
