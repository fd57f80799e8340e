"""Chat between a patient and a doctor who share an appointment: conversations, messages,
read receipts, typing indicators, and live, resumable message streams.

Only the two participants see a conversation; administrators do not read chat content.
A conversation someone may not see is answered exactly like one that does not exist.
"""

import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.exceptions import StrawberryGraphQLError

from healthcare import models
from healthcare.failures import NotFoundError
from healthcare.graphql.auditing import DeniedWhenNull, audited, denied, lookup_refused
from healthcare.graphql.errors import (
    ErrorCode,
    NotFound,
    ValidationFailed,
    bad_argument,
    mutation,
)
from healthcare.graphql.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Connection
from healthcare.graphql.permissions import IsAuthenticated, allow, signed_in_user
from healthcare.realtime import pubsub
from healthcare.resolvers import chat as resolvers
from healthcare.resolvers.visibility import find_visible
from healthcare.schema.loaders import Info
from healthcare.schema.users import User, related_user

DEFAULT_HISTORY_PAGE = 20
# How far back a subscription may resume; further back, reload with `messages` first.
MAX_RESUME_GAP = 500


@strawberry.type(description="One chat message.")
@audited(models.AuditEntity.CHAT_MESSAGE, patient=lambda message: message.patient_id)
class ChatMessage:
    id: strawberry.ID
    seq: int = strawberry.field(
        description="Messages of a conversation are numbered 1, 2, 3...: pass the last one "
        "you saw as `afterSeq` to `messageAdded`, or as `upToSeq` to `markConversationRead`."
    )
    text: str
    created_at: datetime
    client_id: strawberry.ID = strawberry.field(
        description="The id the sender's client gave the message (to match its retries)."
    )
    conversation_id: strawberry.ID
    sender_id: strawberry.Private[uuid.UUID]
    # The conversation's patient: whose health data the message is.
    patient_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def sender(self, info: Info) -> User:
        return await related_user(info, self.sender_id)

    @classmethod
    def from_model(cls, row: models.ChatMessage, patient_id: uuid.UUID) -> "ChatMessage":
        return cls(
            id=strawberry.ID(str(row.id)),
            seq=row.seq,
            text=row.text,
            created_at=row.created_at,
            client_id=strawberry.ID(str(row.client_id)),
            conversation_id=strawberry.ID(str(row.conversation_id)),
            sender_id=row.sender_id,
            patient_id=patient_id,
        )


@strawberry.type(description="A page of a conversation's history, newest message first.")
class ChatMessagePage:
    messages: list[ChatMessage]
    has_more: bool = strawberry.field(description="Whether older messages exist.")

    @strawberry.field(
        description="Pass as `beforeSeq` for the next (older) page; null at the start."
    )
    def next_before_seq(self) -> int | None:
        return self.messages[-1].seq if self.has_more and self.messages else None


@strawberry.type(
    description="The chat between a patient and a doctor who share an appointment. Only "
    "those two can see it."
)
class Conversation:
    id: strawberry.ID
    created_at: datetime
    last_message_at: datetime | None = strawberry.field(description="Null before any message.")
    last_seq: int = strawberry.field(description="The newest message's `seq`; 0 before any.")
    my_last_read_seq: int = strawberry.field(
        description="You have read every message up to this `seq`."
    )
    other_last_read_seq: int = strawberry.field(
        description="Read receipt: the other participant has read every message up to this `seq`."
    )
    patient_id: strawberry.Private[uuid.UUID]
    doctor_id: strawberry.Private[uuid.UUID]
    viewer_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def patient(self, info: Info) -> User:
        return await related_user(info, self.patient_id)

    @strawberry.field
    async def doctor(self, info: Info) -> User:
        return await related_user(info, self.doctor_id)

    @strawberry.field(description="Messages from the other participant you have not read.")
    async def unread_count(self, info: Info) -> int:
        key = (uuid.UUID(self.id), self.viewer_id, self.my_last_read_seq)
        count: int = await info.context.loaders.unread_count.load(key)
        return count

    @strawberry.field(description="The newest message, for previews in a list; null before any.")
    async def last_message(self, info: Info) -> ChatMessage | None:
        if self.last_seq == 0:
            return None
        row = await info.context.loaders.message_by_seq.load((uuid.UUID(self.id), self.last_seq))
        return ChatMessage.from_model(row, self.patient_id) if row else None

    @strawberry.field(
        description="History, newest first: the `last` messages (at most 100) below "
        "`beforeSeq` (default: from the newest). Page back with `nextBeforeSeq`. For previews "
        "in a list of conversations use `lastMessage`, which is loaded in one batch."
    )
    async def messages(
        self, info: Info, last: int = DEFAULT_HISTORY_PAGE, before_seq: int | None = None
    ) -> ChatMessagePage:
        if not 1 <= last <= MAX_PAGE_SIZE:
            raise bad_argument("last", f"must be between 1 and {MAX_PAGE_SIZE}.")
        if before_seq is not None and before_seq < 1:
            raise bad_argument("beforeSeq", "must be 1 or more.")
        rows, has_more = await resolvers.history(uuid.UUID(self.id), last, before_seq)
        return ChatMessagePage(
            messages=[ChatMessage.from_model(message, self.patient_id) for message in rows],
            has_more=has_more,
        )

    @classmethod
    def from_model(cls, row: models.Conversation, viewer_id: uuid.UUID) -> "Conversation":
        mine, theirs = resolvers.read_seqs(row, viewer_id)
        return cls(
            id=strawberry.ID(str(row.id)),
            created_at=row.created_at,
            last_message_at=row.last_message_at,
            last_seq=row.last_seq,
            my_last_read_seq=mine,
            other_last_read_seq=theirs,
            patient_id=row.patient_id,
            doctor_id=row.doctor_id,
            viewer_id=viewer_id,
        )


ConversationConnection = Connection[Conversation]


@strawberry.type(description="Someone started or stopped typing in a conversation.")
class TypingEvent:
    conversation_id: strawberry.ID
    user_id: strawberry.ID
    typing: bool

    @strawberry.field(description="Who is typing.")
    async def user(self, info: Info) -> User:
        return await related_user(info, uuid.UUID(self.user_id))


@strawberry.type(description="The other participant has read a conversation up to a message.")
class ReadReceipt:
    conversation_id: strawberry.ID
    user_id: strawberry.ID
    last_read_seq: int = strawberry.field(
        description="They have read every message up to this `seq` (`otherLastReadSeq`)."
    )


@strawberry.type
class ConversationPayload:
    conversation: Conversation


@strawberry.type
class MessagePayload:
    # Not `message`: in a result union it would clash with `Error.message` (a String).
    chat_message: ChatMessage


StartConversationResult = Annotated[
    ConversationPayload | NotFound | ValidationFailed, strawberry.union("StartConversationResult")
]
SendMessageResult = Annotated[
    MessagePayload | ValidationFailed | NotFound, strawberry.union("SendMessageResult")
]
MarkConversationReadResult = Annotated[
    ConversationPayload | NotFound | ValidationFailed,
    strawberry.union("MarkConversationReadResult"),
]


def conversation_payload(row: models.Conversation, viewer: models.User) -> ConversationPayload:
    return ConversationPayload(conversation=Conversation.from_model(row, viewer.id))


@strawberry.type
class Query:
    @strawberry.field(
        description="Your conversations, newest activity first. Empty for administrators.",
        extensions=allow(IsAuthenticated()),
    )
    async def conversations(
        self, info: Info, first: int = DEFAULT_PAGE_SIZE, after: str | None = None
    ) -> ConversationConnection:
        user = signed_in_user(info)
        return await resolvers.conversations_page(
            user, lambda row: Conversation.from_model(row, user.id), first, after
        )

    @strawberry.field(
        description="One of your conversations; null when there is none you may see.",
        extensions=[
            *allow(IsAuthenticated()),
            DeniedWhenNull(models.AuditEntity.CONVERSATION),
        ],
    )
    async def conversation(self, info: Info, id: strawberry.ID) -> Conversation | None:
        user = signed_in_user(info)
        row = await find_visible(user, models.Conversation, id)
        return Conversation.from_model(row, user.id) if row is not None else None


@strawberry.type
class Mutation:
    @mutation(
        description="Open the conversation with the doctor (or patient) of one of your "
        "appointments, any status; created on first use. NotFound for anyone else.",
        extensions=allow(IsAuthenticated()),
    )
    async def start_conversation(
        self, info: Info, with_user_id: strawberry.ID
    ) -> StartConversationResult:
        user = signed_in_user(info)
        row = await resolvers.start(user, with_user_id)
        return conversation_payload(row, user)

    @mutation(
        description="Send a message: `text` is trimmed, 1 to 4,000 characters. `clientId` is "
        "a UUID your client makes once per message and reuses when it retries: a retry "
        "returns the message the first attempt sent, never a second copy.",
        extensions=allow(IsAuthenticated()),
    )
    async def send_message(
        self, info: Info, conversation_id: strawberry.ID, client_id: strawberry.ID, text: str
    ) -> SendMessageResult:
        sender = signed_in_user(info)
        sent = await resolvers.send(sender, conversation_id, client_id, text)
        info.context.loaders.user_by_id.prime(sender.id, sender)  # no query for `sender`
        return MessagePayload(chat_message=ChatMessage.from_model(sent.message, sent.patient_id))

    @mutation(
        description="Mark messages read up to `upToSeq` (capped at the newest message). The "
        "mark never moves back. The other participant sees it as `otherLastReadSeq`.",
        extensions=allow(IsAuthenticated()),
    )
    async def mark_conversation_read(
        self, info: Info, conversation_id: strawberry.ID, up_to_seq: int
    ) -> MarkConversationReadResult:
        user = signed_in_user(info)
        row = await resolvers.mark_read(user, conversation_id, up_to_seq)
        return conversation_payload(row, user)

    @mutation(
        description="Tell the other participant you started (true) or stopped (false) "
        "typing. Never stored. Returns false when there is no such conversation you may see.",
        extensions=allow(IsAuthenticated()),
    )
    async def set_typing(self, info: Info, conversation_id: strawberry.ID, typing: bool) -> bool:
        try:
            await resolvers.set_typing(signed_in_user(info), conversation_id, typing)
        except NotFoundError as failure:
            lookup_refused(info, failure)
            return False
        return True


def conversation_not_found() -> StrawberryGraphQLError:
    """For subscriptions, which have no result union: the same top-level error for a
    conversation that does not exist and for one you may not see."""
    return StrawberryGraphQLError(
        "No conversation with that id.", extensions={"code": ErrorCode.NOT_FOUND.value}
    )


async def subscribable(info: Info, conversation_id: strawberry.ID) -> models.Conversation:
    found = await find_visible(signed_in_user(info), models.Conversation, conversation_id)
    if found is None:
        denied(info, models.AuditEntity.CONVERSATION, conversation_id)
        raise conversation_not_found()
    return found


async def from_the_other(
    info: Info, conversation_id: strawberry.ID, channel_of: Callable[[uuid.UUID], str]
) -> AsyncIterator[tuple[strawberry.ID, dict[str, Any]]]:
    """A conversation's live-only events (typing, read receipts: never stored, never
    replayed) from the other participant, with the conversation's id; your own are not
    sent back. Typing and receipts stay two subscriptions, each typed, because clients
    already listen to each; this is what they share."""
    conversation = await subscribable(info, conversation_id)
    me = str(signed_in_user(info).id)
    async for event in pubsub.doorbells(channel_of(conversation.id)):
        if event.get("user_id") != me:
            yield strawberry.ID(str(conversation.id)), event


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="New messages of a conversation as they are sent, oldest first. Pass "
        f"`afterSeq` (the last `seq` you saw, at most {MAX_RESUME_GAP} behind) to first get "
        "what you missed, then live ones: no gap, no duplicate. Without it, only new messages. An "
        "error with code NOT_FOUND when there is no such conversation you may see.",
        extensions=allow(IsAuthenticated()),
    )
    async def message_added(
        self, info: Info, conversation_id: strawberry.ID, after_seq: int | None = None
    ) -> AsyncGenerator[ChatMessage, None]:
        conversation = await subscribable(info, conversation_id)
        start = conversation.last_seq if after_seq is None else after_seq
        if start < 0:
            raise bad_argument("afterSeq", "must be 0 or more.")
        if conversation.last_seq - start > MAX_RESUME_GAP:
            raise bad_argument(
                "afterSeq", f"more than {MAX_RESUME_GAP} messages behind: reload `messages`."
            )

        async def fetch_after(seq: int, announced: int | None) -> list[models.ChatMessage]:
            return await resolvers.messages_after(conversation, seq, announced)

        async for row in pubsub.stream(
            pubsub.conversation_channel(conversation.id), start, fetch_after, lambda r: r.seq
        ):
            info.context.loaders.user_by_id.prime(row.sender_id, row.sender)
            yield ChatMessage.from_model(row, conversation.patient_id)

    @strawberry.subscription(
        description="The other participant starting and stopping typing (your own events "
        "are not sent back). An error with code NOT_FOUND when there is no such "
        "conversation you may see.",
        extensions=allow(IsAuthenticated()),
    )
    async def typing_changed(
        self, info: Info, conversation_id: strawberry.ID
    ) -> AsyncGenerator[TypingEvent, None]:
        async for conversation, event in from_the_other(
            info, conversation_id, pubsub.typing_channel
        ):
            yield TypingEvent(
                conversation_id=conversation,
                user_id=strawberry.ID(str(event["user_id"])),
                typing=bool(event.get("typing")),
            )

    @strawberry.subscription(
        description="Read receipts: the other participant's `otherLastReadSeq` as it moves "
        "(your own marks are not sent back). Live only: read `otherLastReadSeq` of "
        "`conversation` when you (re)connect. An error with code NOT_FOUND when there is no "
        "such conversation you may see.",
        extensions=allow(IsAuthenticated()),
    )
    async def read_receipt_changed(
        self, info: Info, conversation_id: strawberry.ID
    ) -> AsyncGenerator[ReadReceipt, None]:
        async for conversation, event in from_the_other(
            info, conversation_id, pubsub.receipts_channel
        ):
            yield ReadReceipt(
                conversation_id=conversation,
                user_id=strawberry.ID(str(event["user_id"])),
                last_read_seq=int(event["last_read_seq"]),
            )
