"""Chat messages: numbered idempotent sends, where a conversation's messages are, reads.

Every function here is for a conversation reached through `visible_conversations`
(chat.conversations): a send finds it so, the reads are given it.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.functions import Count

from healthcare import db, models
from healthcare.failures import InputError, NotFoundError
from healthcare.ops.partitions import add_months, month_start
from healthcare.realtime import pubsub
from healthcare.realtime.outbox import Event, after_commit, atomic, queue
from healthcare.resolvers.changes import Change, announce, other_party
from healthcare.resolvers.chat.conversations import find_visible_conversation, participant_column
from healthcare.security.auth import utcnow
from healthcare.validators import clean_text, parse_id

MAX_MESSAGE_LENGTH = 4000


# ---- sending ----------------------------------------------------------------------------


def parse_client_id(client_id: str) -> uuid.UUID:
    parsed = parse_id(client_id)
    if parsed is None:
        raise InputError("clientId", "Give a UUID, made by the client once per message.")
    return parsed


async def sent_before(
    sender: models.User, client_id: uuid.UUID, conversation_id: uuid.UUID
) -> models.ChatMessage | None:
    """The message a retried send already created, if any: its key gives its id and
    time, which find it in one partition."""
    key = await models.ChatMessageKey.filter(sender_id=sender.id, client_id=client_id).first()
    if key is None:
        return None
    found = await models.ChatMessage.filter(id=key.message_id, created_at=key.created_at).first()
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
    except IntegrityError:  # a retry: the key's unique (sender, clientId) refused a second copy
        existing = await sent_before(sender, client_uuid, parsed_id)
        if existing is None:
            raise
        conversation = await find_visible_conversation(sender, parsed_id)
        return Sent(existing, conversation.patient_id)


# Numbers and dates the next message of a conversation the sender takes part in (in the
# role given by the column: see `participant_column`), and locks the conversation's row
# until commit: concurrent senders number in commit order (SQLite serialises writers
# instead), and a retry that waited here finds its twin committed. The message's time is
# $3 (now), or the conversation's last message's if that is later (a sender that waited
# for the lock, or a clock behind another instance's): times never go back as numbers go
# up, and `last_message_at` is the newest message's time, which reads rely on (below).
NEXT_MESSAGE_SQL = {
    column: f"""
UPDATE "conversations" SET "last_seq" = "last_seq" + 1,
  "last_message_at" = CASE WHEN coalesce("last_message_at", "created_at") > $3
                      THEN coalesce("last_message_at", "created_at") ELSE $3 END
WHERE "id" = $1 AND "{column}" = $2
RETURNING "last_seq", "last_message_at", "patient_id", "doctor_id"
"""  # noqa: S608 (the column is one of two names written here)
    for column in ("patient_id", "doctor_id")
}


async def append(
    sender: models.User, conversation_id: uuid.UUID, client_id: uuid.UUID, text: str
) -> Sent:
    """Inside `atomic()`: number, store and announce one message.

    The first send of a message costs no look-up for an earlier copy: a retry fails the
    insert of its key on the unique (sender, clientId), the transaction rolls back, and
    `send` returns the copy that exists. (The key has a table of its own: on PostgreSQL
    `chat_messages` is partitioned by month and can hold no unique constraint without
    `created_at`.)"""
    column = participant_column(sender)
    if column is None:  # administrators take part in no conversation
        raise NotFoundError("conversation", conversation_id)
    numbered = await db.fetch_one(NEXT_MESSAGE_SQL[column], conversation_id, sender.id, utcnow())
    if numbered is None:
        raise NotFoundError("conversation", conversation_id)
    patient_id, doctor_id = (uuid.UUID(str(numbered[k])) for k in ("patient_id", "doctor_id"))
    created_at, message_id = db.as_datetime(numbered["last_message_at"]), uuid.uuid4()
    await models.ChatMessageKey.create(
        message_id=message_id, sender_id=sender.id, client_id=client_id, created_at=created_at
    )
    message = await models.ChatMessage.create(
        id=message_id,
        conversation_id=conversation_id,
        seq=int(numbered["last_seq"]),
        sender_id=sender.id,
        client_id=client_id,
        text=text,
        created_at=created_at,
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


# ---- where a conversation's messages are --------------------------------------------------
#
# On PostgreSQL `chat_messages` is partitioned by month of `created_at` (migration 11),
# and reads name a conversation, not a time: unbounded, each would read an index of every
# month the clinic has kept, twelve more a year. So a read first looks in `recent(...)`,
# the months of the conversation's last message and the one before, which hold its
# newest messages (a message's time is never earlier than the one before it: see
# NEXT_MESSAGE_SQL). A conversation's messages are numbered 1, 2, 3... without gaps, so
# the numbers a read finds tell whether it found all it asked for; when not (an older
# page, months of silence, a month archived), it reads again without bounds: slower, and
# never wrong, whatever the times say. On SQLite the bounds are mere filters.

RECENT_MONTHS = 2


@dataclass(frozen=True)
class Months:
    """Messages dated from `since` up to `until` (both included; None: any later)."""

    since: datetime
    until: datetime | None

    @classmethod
    def recent(cls, last: datetime, open_ended: bool = False) -> Months:
        """The month of `last` and the one before; to `last`, or on if `open_ended`."""
        return cls(add_months(month_start(last), 1 - RECENT_MONTHS), None if open_ended else last)

    def filters(self) -> dict[str, Any]:
        if self.until is None:
            return {"created_at__gte": self.since}
        return {"created_at__gte": self.since, "created_at__lte": self.until}


EVERY_MONTH: dict[str, Any] = {}  # no bounds: the read that cannot miss


def recent(conversation: models.Conversation, open_ended: bool = False) -> Months:
    """The months of the conversation's last message (or of its start) and the one
    before; `open_ended` for messages that may have come since `conversation` was read."""
    return Months.recent(conversation.last_message_at or conversation.created_at, open_ended)


async def latest(conversation_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, models.Conversation]:
    """The conversations as they are now: their last seq and its time, for the reads below."""
    rows = await models.Conversation.filter(id__in=list(conversation_ids)).only(
        "id", "last_seq", "last_message_at", "created_at"
    )
    return {row.id: row for row in rows}


# ---- reading ------------------------------------------------------------------------------


async def history(
    conversation_id: uuid.UUID, last: int, before_seq: int | None
) -> tuple[list[models.ChatMessage], bool]:
    """Up to `last` messages below `before_seq`, newest first, and whether older ones exist.
    Only for a conversation reached through `visible_conversations`."""
    conversation = (await latest([conversation_id])).get(conversation_id)
    if conversation is None:
        return [], False
    top = (
        conversation.last_seq if before_seq is None else min(conversation.last_seq, before_seq - 1)
    )
    numbers = list(range(top, max(top - last - 1, 0), -1))  # the page and one more, down to 1
    if not numbers:
        return [], False
    below = models.ChatMessage.filter(conversation_id=conversation_id, seq__lte=top)
    page = await below.filter(**recent(conversation).filters()).order_by("-seq").limit(last + 1)
    if [message.seq for message in page] != numbers:  # not all in the recent months
        page = await below.order_by("-seq").limit(last + 1)
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
    after = (
        models.ChatMessage.filter(conversation_id=conversation.id, seq__gt=seq)
        .select_related("sender")
        .order_by("seq")
    )
    # Open-ended: messages sent since `conversation` was read are later than its last one.
    rows = await after.filter(**recent(conversation, open_ended=True).filters())
    seqs, known = [message.seq for message in rows], max(conversation.last_seq, announced or 0)
    if seqs != list(range(seq + 1, seq + 1 + len(seqs))) or seq + len(seqs) < known:
        rows = await after  # not all in the recent months
    recent_messages.keep(rows)
    return rows


# ---- batch loads (one query per batch; keys come from visible conversations) ------------

UnreadKey = tuple[uuid.UUID, uuid.UUID, int]  # conversation, reader, reader's last read seq


async def count_unread(keys: Sequence[UnreadKey]) -> list[int]:
    """Per key: messages from the other participant above the reader's last read seq."""
    if len({conversation for conversation, _, _ in keys}) < len(keys):
        # One conversation at two read positions in one batch (aliased mutations): rare.
        return [(await count_unread([key]))[0] for key in keys]
    current = await latest([conversation for conversation, _, _ in keys])
    # Only conversations with messages above the read seq; their recent months first.
    wanted = {c: (r, s) for c, r, s in keys if c in current and current[c].last_seq > s}
    counted = await _count_above(wanted, current, bounded=True)
    counts = {
        conversation: unread
        for conversation, (unread, every) in counted.items()
        if every == current[conversation].last_seq - wanted[conversation][1]  # none missing
    }
    rest = {c: key for c, key in wanted.items() if c not in counts}
    if rest:
        counted = await _count_above(rest, current, bounded=False)
        counts |= {conversation: unread for conversation, (unread, _) in counted.items()}
    return [counts.get(conversation, 0) for conversation, _, _ in keys]


async def _count_above(
    wanted: dict[uuid.UUID, tuple[uuid.UUID, int]],
    current: dict[uuid.UUID, models.Conversation],
    bounded: bool,
) -> dict[uuid.UUID, tuple[int, int]]:
    """Per conversation (reader, read seq): its messages numbered above the read seq, as
    (from the other participant, all); only in its recent months when `bounded`."""
    if not wanted:
        return {}
    arms = [
        Q(
            conversation_id=c,
            seq__gt=seq,
            seq__lte=current[c].last_seq,
            **(recent(current[c]).filters() if bounded else EVERY_MONTH),
        )
        for c, (_, seq) in wanted.items()
    ]
    rows = (
        await models.ChatMessage.filter(Q(*arms, join_type="OR"))
        .annotate(count=Count("id"))
        .group_by("conversation_id", "sender_id")
        .values("conversation_id", "sender_id", "count")
    )
    counted: dict[uuid.UUID, tuple[int, int]] = {}
    for row in rows:
        conversation, count = uuid.UUID(str(row["conversation_id"])), int(row["count"])
        unread, every = counted.get(conversation, (0, 0))
        from_other = str(row["sender_id"]) != str(wanted[conversation][0])
        counted[conversation] = (unread + (count if from_other else 0), every + count)
    return counted


async def messages_by_seq(
    keys: Sequence[tuple[uuid.UUID, int]],
) -> list[models.ChatMessage | None]:
    """Per (conversation id, seq): that message, if any (a conversation's newest one)."""
    current = await latest([conversation for conversation, _ in keys])
    missing = [(c, s) for c, s in keys if c in current and 1 <= s <= current[c].last_seq]
    found: dict[tuple[str, int], models.ChatMessage] = {}
    for bounded in (True, False):  # their recent months first, then every month
        if not missing:
            break
        arms = [
            Q(
                conversation_id=c,
                seq=s,
                **(recent(current[c]).filters() if bounded else EVERY_MONTH),
            )
            for c, s in missing
        ]
        for message in await models.ChatMessage.filter(Q(*arms, join_type="OR")):
            found[(str(message.conversation_id), message.seq)] = message
        missing = [(c, s) for c, s in missing if (str(c), s) not in found]
    return [found.get((str(c), s)) for c, s in keys]
