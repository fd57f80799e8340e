"""Chat: who may see a conversation, numbered idempotent sends, read receipts, typing.

A conversation joins one patient and one doctor who share an appointment (any status).
Only those two see it; administrators do not read chat content. `visible_conversations`
is the one rule for every path: lists, lookups, sends, marks and subscriptions.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.functions import Count
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
from healthcare.realtime.outbox import Event, after_commit, atomic, queue
from healthcare.resolvers.changes import Change, announce, other_party
from healthcare.security.auth import utcnow
from healthcare.validators import clean_text, parse_id

MAX_MESSAGE_LENGTH = 4000
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


# ---- sending ----------------------------------------------------------------------------


def parse_client_id(client_id: str) -> uuid.UUID:
    parsed = parse_id(client_id)
    if parsed is None:
        raise InputError("clientId", "Give a UUID, made by the client once per message.")
    return parsed


async def sent_before(
    sender: models.User, client_id: uuid.UUID, conversation_id: uuid.UUID
) -> models.ChatMessage | None:
    """The message a retried send already created, if any."""
    found = await models.ChatMessage.filter(sender_id=sender.id, client_id=client_id).first()
    if found is not None and found.conversation_id != conversation_id:
        raise InputError("clientId", "This clientId belongs to another message; make a new one.")
    return found


@dataclass(frozen=True)
class Sent:
    message: models.ChatMessage
    patient_id: uuid.UUID  # the conversation's patient


async def send(sender: models.User, conversation_id: str, client_id: str, text: str) -> Sent:
    """Append a message, numbered `last_seq + 1`. Idempotent on (sender, clientId): a
    retry returns the message the first attempt created and writes nothing."""
    text = clean_text(text, "text", MAX_MESSAGE_LENGTH)
    client_uuid = parse_client_id(client_id)
    parsed_id = parse_id(conversation_id)
    if parsed_id is None:
        raise NotFoundError("conversation", conversation_id)
    try:
        async with atomic():
            return await append(sender, parsed_id, client_uuid, text)
    except IntegrityError:  # a retry: the unique (sender, clientId) refused a second copy
        existing = await sent_before(sender, client_uuid, parsed_id)
        if existing is None:
            raise
        conversation = await find_visible_conversation(sender, parsed_id)
        return Sent(existing, conversation.patient_id)


# Numbers the next message of a conversation the sender takes part in (in the role given
# by the column: see `participant_column`), and locks the conversation's row until
# commit: concurrent senders number in commit order (SQLite serialises writers instead),
# and a retry that waited here finds its twin committed.
NEXT_MESSAGE_SQL = {
    column: f"""
UPDATE "conversations" SET "last_seq" = "last_seq" + 1, "last_message_at" = $3
WHERE "id" = $1 AND "{column}" = $2
RETURNING "last_seq", "patient_id", "doctor_id"
"""  # noqa: S608 (the column is one of two names written here)
    for column in ("patient_id", "doctor_id")
}


async def append(
    sender: models.User, conversation_id: uuid.UUID, client_id: uuid.UUID, text: str
) -> Sent:
    """Inside `atomic()`: number, store and announce one message.

    The first send of a message costs no look-up for an earlier copy: a retry fails the
    insert on the unique (sender, clientId), the transaction rolls back, and `send`
    returns the copy that exists."""
    column = participant_column(sender)
    if column is None:  # administrators take part in no conversation
        raise NotFoundError("conversation", conversation_id)
    now = utcnow()
    numbered = await db.fetch_one(NEXT_MESSAGE_SQL[column], conversation_id, sender.id, now)
    if numbered is None:
        raise NotFoundError("conversation", conversation_id)
    patient_id, doctor_id = (uuid.UUID(str(numbered[k])) for k in ("patient_id", "doctor_id"))
    message = await models.ChatMessage.create(
        conversation_id=conversation_id,
        seq=int(numbered["last_seq"]),
        sender_id=sender.id,
        client_id=client_id,
        text=text,
        created_at=now,
    )
    await announce(
        Change(
            kind=models.NotificationKind.CHAT_MESSAGE,
            actor=sender,
            recipient_ids=other_party(sender.id, patient_id, doctor_id),
            conversation_id=conversation_id,
            patient_id=patient_id,
        )
    )
    message.sender = sender
    after_commit(lambda: recent_messages.keep([message]))
    queue(Event(pubsub.conversation_channel(conversation_id), {"seq": str(message.seq)}))
    return Sent(message, patient_id)


# ---- reading ----------------------------------------------------------------------------


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


async def history(
    conversation_id: uuid.UUID, last: int, before_seq: int | None
) -> tuple[list[models.ChatMessage], bool]:
    """Up to `last` messages below `before_seq`, newest first, and whether older ones exist.
    Only for a conversation reached through `visible_conversations`."""
    rows = models.ChatMessage.filter(conversation_id=conversation_id)
    if before_seq is not None:
        rows = rows.filter(seq__lt=before_seq)
    page = await rows.order_by("-seq").limit(last + 1)
    return page[:last], len(page) > last


class RecentMessages:
    """The messages this instance wrote or read last, by (conversation, seq).

    Messages are never edited or deleted, so a copy is as good as the row: when both
    participants listen on the instance that stored a message, neither delivery reads
    the database. Bounded; the oldest entries go first."""

    def __init__(self, size: int = 2000) -> None:
        self.size = size
        self._rows: OrderedDict[tuple[uuid.UUID, int], models.ChatMessage] = OrderedDict()

    def keep(self, rows: Sequence[models.ChatMessage]) -> None:
        for row in rows:
            self._rows[(row.conversation_id, row.seq)] = row
        while len(self._rows) > self.size:
            self._rows.popitem(last=False)

    def between(
        self, conversation_id: uuid.UUID, after: int, up_to: int
    ) -> list[models.ChatMessage] | None:
        """Messages after+1 .. up_to, if every one of them is at hand."""
        found = []
        for seq in range(after + 1, up_to + 1):
            row = self._rows.get((conversation_id, seq))
            if row is None:
                return None
            found.append(row)
        return found


recent_messages = RecentMessages()


async def messages_after(
    conversation: models.Conversation, seq: int, announced: int | None = None
) -> list[models.ChatMessage]:
    """Messages of `conversation` above `seq`, oldest first, with their senders; at least
    up to `announced` when a doorbell said so (from `recent_messages` when they are all
    there). For a subscriber who was shown `conversation` by `find_visible_conversation`:
    its participants never change, and a participant who loses access (deactivated,
    signed out) has the socket closed by the connection guard."""
    if announced is not None:
        cached = recent_messages.between(conversation.id, seq, announced)
        if cached is not None:
            return cached
    rows = (
        await models.ChatMessage.filter(conversation_id=conversation.id, seq__gt=seq)
        .select_related("sender")
        .order_by("seq")
    )
    recent_messages.keep(rows)
    return rows


async def set_typing(viewer: models.User, conversation_id: str, typing: bool) -> bool:
    """Tell the other participant; stored nowhere. NotFoundError when the conversation is
    not one `viewer` may see (the same answer for one that does not exist)."""
    conversation = await find_visible_conversation(viewer, conversation_id)
    await pubsub.publish(
        pubsub.typing_channel(conversation.id), {"user_id": str(viewer.id), "typing": typing}
    )
    return True


# ---- batch loads (one query per batch; keys come from visible conversations) ------------

UnreadKey = tuple[uuid.UUID, uuid.UUID, int]  # conversation, reader, reader's last read seq


async def count_unread(keys: Sequence[UnreadKey]) -> list[int]:
    """Per key: messages from the other participant above the reader's last read seq."""
    if len({conversation for conversation, _, _ in keys}) < len(keys):
        # One conversation at two read positions in one batch (aliased mutations): rare.
        return [(await count_unread([key]))[0] for key in keys]
    unread = Q(
        *(Q(conversation_id=c, seq__gt=s) & ~Q(sender_id=r) for c, r, s in keys),
        join_type="OR",
    )
    rows = (
        await models.ChatMessage.filter(unread)
        .annotate(count=Count("id"))
        .group_by("conversation_id")
        .values("conversation_id", "count")
    )
    counts = {str(row["conversation_id"]): int(row["count"]) for row in rows}
    return [counts.get(str(conversation), 0) for conversation, _, _ in keys]


async def messages_by_seq(
    keys: Sequence[tuple[uuid.UUID, int]],
) -> list[models.ChatMessage | None]:
    """Per (conversation id, seq): that message, if any (a conversation's newest one)."""
    wanted = Q(*(Q(conversation_id=c, seq=s) for c, s in keys), join_type="OR")
    found = {(str(m.conversation_id), m.seq): m for m in await models.ChatMessage.filter(wanted)}
    return [found.get((str(c), s)) for c, s in keys]


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
