"""Chat: who may talk to whom, numbered idempotent sends, history, read receipts, typing,
and live message streams that resume without gap or duplicate, over both WebSocket
protocols against the live server."""

import asyncio
import base64
import itertools
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import websockets
from websockets.typing import Subprotocol

from healthcare import models
from healthcare.realtime import pubsub
from healthcare.schema import chat as chat_schema
from tests.conftest import make_appointment, make_doctor, request_statements, sign_in

TRANSPORT_WS = Subprotocol("graphql-transport-ws")
LEGACY_WS = Subprotocol("graphql-ws")
RESULT = "__typename ... on Error { code message }"
START_CONVERSATION = f"""
mutation StartConversation($withUserId: ID!) {{
  startConversation(withUserId: $withUserId) {{
    {RESULT} ... on ConversationPayload {{ conversation {{ id patient {{ id }} doctor {{ id }} }} }}
  }}
}}
"""
SEND_MESSAGE = f"""
mutation SendMessage($conversationId: ID!, $clientId: ID!, $text: String!) {{
  sendMessage(conversationId: $conversationId, clientId: $clientId, text: $text) {{
    {RESULT} ... on ValidationFailed {{ fieldErrors {{ field }} }}
    ... on MessagePayload {{ chatMessage {{ id seq text clientId sender {{ id }} }} }}
  }}
}}
"""
MARK_CONVERSATION_READ = f"""
mutation MarkConversationRead($conversationId: ID!, $upToSeq: Int!) {{
  markConversationRead(conversationId: $conversationId, upToSeq: $upToSeq) {{
    {RESULT} ... on ValidationFailed {{ fieldErrors {{ field }} }}
    ... on ConversationPayload {{ conversation {{ myLastReadSeq unreadCount }} }}
  }}
}}
"""
SET_TYPING = """
mutation SetTyping($conversationId: ID!, $typing: Boolean!) {
  setTyping(conversationId: $conversationId, typing: $typing)
}
"""
CONVERSATION = """
query Conversation($id: ID!, $last: Int! = 20, $beforeSeq: Int) {
  conversation(id: $id) {
    id lastSeq unreadCount myLastReadSeq otherLastReadSeq lastMessage { seq }
    messages(last: $last, beforeSeq: $beforeSeq) {
      hasMore nextBeforeSeq messages { seq text sender { id } }
    }
  }
}
"""
CONVERSATIONS = """
query Conversations($first: Int! = 20, $after: String) {
  conversations(first: $first, after: $after) {
    nodes { id unreadCount lastMessage { text sender { id } } patient { id } doctor { id } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
MESSAGE_ADDED = """
subscription MessageAdded($conversationId: ID!, $afterSeq: Int) {
  messageAdded(conversationId: $conversationId, afterSeq: $afterSeq) { seq text sender { id } }
}
"""
TYPING_CHANGED = """
subscription TypingChanged($conversationId: ID!) {
  typingChanged(conversationId: $conversationId) { userId typing user { id } }
}
"""


# ---- helpers ------------------------------------------------------------------------------


async def start_conversation(client, persona, other) -> dict[str, Any]:
    variables = {"withUserId": other.id}
    return (await client.execute(START_CONVERSATION, variables, as_=persona))["startConversation"]


_days = itertools.count(1)


async def conversation_between(client, patient, doctor) -> str:
    # A different day each time: a patient's appointments may not overlap.
    starts_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=next(_days))
    await make_appointment(patient.user, doctor.user, starts_at=starts_at)
    return (await start_conversation(client, patient, doctor))["conversation"]["id"]


async def send(client, persona, conversation_id, text="Hello", client_id=None) -> dict[str, Any]:
    variables = {
        "conversationId": conversation_id,
        "clientId": client_id or str(uuid.uuid4()),
        "text": text,
    }
    return (await client.execute(SEND_MESSAGE, variables, as_=persona))["sendMessage"]


async def read_conversation(client, persona, conversation_id, **variables) -> dict | None:
    result = await client.execute(CONVERSATION, {"id": conversation_id, **variables}, persona)
    return result["conversation"]


async def chat_state() -> tuple[list, list, list]:
    """Everything chat writes, to prove that a refused operation wrote nothing."""
    return (
        await models.Conversation.all().order_by("id").values(),
        await models.ChatMessage.all().order_by("id").values(),
        await models.Notification.all().order_by("id").values(),
    )


class Socket:
    """One GraphQL WebSocket connection, signed in, speaking either protocol."""

    def __init__(self, socket: Any, protocol: Subprotocol) -> None:
        self.socket = socket
        self.protocol = protocol

    @classmethod
    async def open(cls, live_server, persona, protocol: Subprotocol = TRANSPORT_WS) -> "Socket":
        socket = await websockets.connect(live_server.ws_url, subprotocols=[protocol])
        payload = {"authorization": f"Bearer {persona.access_token}"}
        await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        return cls(socket, protocol)

    async def subscribe(self, query: str, variables: dict[str, Any], id: str = "1") -> None:
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        payload = {"query": query, "variables": variables}
        await self.socket.send(json.dumps({"id": id, "type": kind, "payload": payload}))

    async def receive(self, seconds: float = 5) -> dict[str, Any]:
        """The next message about an operation (keep-alives skipped)."""
        while True:
            message = json.loads(await asyncio.wait_for(self.socket.recv(), seconds))
            if message["type"] not in {"ka", "ping", "pong"}:
                return message

    async def next_data(self) -> dict[str, Any]:
        message = await self.receive()
        assert message["type"] in {"next", "data"}, message
        assert "errors" not in message["payload"], message
        return message["payload"]["data"]

    async def nothing_within(self, seconds: float) -> bool:
        try:
            message = await self.receive(seconds)
        except TimeoutError:
            return True
        return message["type"] == "complete"

    async def close(self) -> None:
        await self.socket.close()


async def subscribed(channel: str) -> None:
    """Wait until the server listens on `channel`: live-only streams (typing, and messages
    without `afterSeq`) miss what is published before. Polls broadcaster's registry (the
    server runs in this process) rather than sleeping a guessed while."""
    for _ in range(500):
        if pubsub.current().listening(channel):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"nobody subscribed to {channel} within 5 s")


# ---- starting a conversation --------------------------------------------------------------


async def test_a_patient_and_a_doctor_who_share_an_appointment_get_one_conversation(
    client, patient, doctor
):
    # given
    await make_appointment(patient.user, doctor.user, status=models.AppointmentStatus.CANCELLED)
    # when
    started = await start_conversation(client, patient, doctor)
    again = await start_conversation(client, doctor, patient)
    # then
    assert started["__typename"] == "ConversationPayload"
    assert started["conversation"]["patient"]["id"] == patient.id
    assert started["conversation"]["doctor"]["id"] == doctor.id
    assert again["conversation"]["id"] == started["conversation"]["id"]
    assert await models.Conversation.all().count() == 1


async def test_starting_the_same_conversation_twice_at_once_creates_one(client, patient, doctor):
    # given
    await make_appointment(patient.user, doctor.user)
    # when
    results = await asyncio.gather(
        *(start_conversation(client, *pair) for pair in [(patient, doctor), (doctor, patient)] * 3)
    )
    # then
    assert len({result["conversation"]["id"] for result in results}) == 1
    assert await models.Conversation.all().count() == 1


@pytest.mark.parametrize(
    "caller, other",
    [
        ("other_patient", "doctor"),  # a stranger patient
        ("patient", "other_doctor"),  # a doctor the patient has never seen
        ("admin", "patient"),  # administrators do not chat
        ("patient", "admin"),
    ],
)
async def test_a_conversation_without_a_shared_appointment_is_not_found(
    client, patient, doctor, other_patient, other_doctor, admin, caller, other
):
    # given
    await make_appointment(patient.user, doctor.user)
    people = locals()
    # when
    result = await start_conversation(client, people[caller], people[other])
    # then
    assert result["__typename"] == "NotFound"
    assert result["code"] == "NOT_FOUND"
    assert await models.Conversation.all().count() == 0


# ---- sending ------------------------------------------------------------------------------


async def test_messages_are_trimmed_numbered_and_read_by_the_other_participant(
    client, patient, doctor
):
    # given
    conversation_id = await conversation_between(client, patient, doctor)
    # when
    first = await send(client, patient, conversation_id, "  Is the clinic open Friday?  ")
    second = await send(client, doctor, conversation_id, "Yes, until noon.")
    # then
    assert first["chatMessage"]["seq"] == 1
    assert first["chatMessage"]["text"] == "Is the clinic open Friday?"
    assert second["chatMessage"]["seq"] == 2
    seen = await read_conversation(client, doctor, conversation_id)
    assert seen is not None
    assert [(m["seq"], m["sender"]["id"]) for m in seen["messages"]["messages"]] == [
        (2, doctor.id),
        (1, patient.id),
    ]
    assert seen["lastSeq"] == 2
    assert seen["lastMessage"] == {"seq": 2}


async def test_a_retried_send_returns_the_original_message_and_creates_nothing(
    client, patient, doctor
):
    # given
    conversation_id = await conversation_between(client, patient, doctor)
    client_id = str(uuid.uuid4())
    original = await send(client, patient, conversation_id, "Hello", client_id)
    # when
    retried = await send(client, patient, conversation_id, "Hello", client_id)
    # then
    assert retried == original
    assert await models.ChatMessage.all().count() == 1
    assert await models.Notification.filter(kind="CHAT_MESSAGE").count() == 1


async def test_concurrent_retries_of_one_send_create_exactly_one_message(client, patient, doctor):
    # given
    conversation_id = await conversation_between(client, patient, doctor)
    client_id = str(uuid.uuid4())
    # when
    results = await asyncio.gather(
        *(send(client, patient, conversation_id, "Hi", client_id) for _ in range(5))
    )
    # then
    assert {result["__typename"] for result in results} == {"MessagePayload"}
    assert len({result["chatMessage"]["id"] for result in results}) == 1
    assert await models.ChatMessage.all().count() == 1
    assert (await models.Conversation.get(id=conversation_id)).last_seq == 1
    assert await models.Notification.filter(kind="CHAT_MESSAGE").count() == 1


@pytest.mark.parametrize(
    "text, client_id, field",
    [
        ("   ", None, "text"),
        ("x" * 4001, None, "text"),
        ("Hello", "not-a-uuid", "clientId"),
    ],
)
async def test_invalid_messages_are_refused_and_write_nothing(
    client, patient, doctor, text, client_id, field
):
    # given
    conversation_id = await conversation_between(client, patient, doctor)
    before = await chat_state()
    # when
    result = await send(client, patient, conversation_id, text, client_id)
    # then
    assert result["__typename"] == "ValidationFailed"
    assert result["code"] == "VALIDATION_FAILED"
    assert result["fieldErrors"] == [{"field": field}]
    assert await chat_state() == before


async def test_a_client_id_already_used_in_another_conversation_is_refused(
    client, patient, doctor, other_doctor
):
    # given
    first = await conversation_between(client, patient, doctor)
    second = await conversation_between(client, patient, other_doctor)
    client_id = str(uuid.uuid4())
    await send(client, patient, first, "Hello", client_id)
    before = await chat_state()
    # when
    result = await send(client, patient, second, "Hello", client_id)
    # then
    assert result["fieldErrors"] == [{"field": "clientId"}]
    assert await chat_state() == before


async def test_a_message_of_exactly_4000_characters_is_accepted(client, patient, doctor):
    conversation_id = await conversation_between(client, patient, doctor)
    result = await send(client, patient, conversation_id, "x" * 4000)
    assert result["__typename"] == "MessagePayload"


async def test_unknown_and_someone_elses_conversations_give_the_same_not_found(
    client, patient, doctor, other_patient
):
    # given
    theirs = await conversation_between(client, patient, doctor)
    unknown = str(uuid.uuid4())
    before = await chat_state()
    # when
    answers = [
        (
            await send(client, other_patient, conversation_id),
            await read_conversation(client, other_patient, conversation_id),
            await client.execute(
                MARK_CONVERSATION_READ,
                {"conversationId": conversation_id, "upToSeq": 1},
                as_=other_patient,
            ),
            await client.execute(
                SET_TYPING, {"conversationId": conversation_id, "typing": True}, other_patient
            ),
        )
        for conversation_id in (theirs, unknown)
    ]
    # then
    assert answers[0] == answers[1]
    sent, read, marked, typing = answers[0]
    assert sent["__typename"] == "NotFound"
    assert sent["code"] == "NOT_FOUND"
    assert read is None
    assert marked["markConversationRead"]["code"] == "NOT_FOUND"
    assert typing == {"setTyping": False}
    assert await chat_state() == before


async def test_administrators_cannot_read_or_send_chat_messages(client, patient, doctor, admin):
    # given
    conversation_id = await conversation_between(client, patient, doctor)
    await send(client, patient, conversation_id, "Private matter")
    # when
    read = await read_conversation(client, admin, conversation_id)
    listed = await client.execute(CONVERSATIONS, as_=admin)
    sent = await send(client, admin, conversation_id)
    # then
    assert read is None
    assert listed["conversations"]["nodes"] == []
    assert sent["code"] == "NOT_FOUND"


# ---- history, lists, read receipts --------------------------------------------------------


async def test_history_pages_backwards_newest_first(client, patient, doctor):
    # given
    conversation_id = await conversation_between(client, patient, doctor)
    for number in range(1, 6):
        await send(client, patient, conversation_id, f"Message {number}")
    # when
    pages, before_seq = [], None
    while True:
        page = await read_conversation(client, doctor, conversation_id, last=2, **before_seq or {})
        assert page is not None
        pages.append([m["seq"] for m in page["messages"]["messages"]])
        if not page["messages"]["hasMore"]:
            break
        before_seq = {"beforeSeq": page["messages"]["nextBeforeSeq"]}
    # then
    assert pages == [[5, 4], [3, 2], [1]]
    codes = await client.error_codes(CONVERSATION, {"id": conversation_id, "last": 101}, doctor)
    assert codes == ["BAD_USER_INPUT"]


async def test_read_receipts_and_unread_counts_follow_marks_that_never_move_back(
    client, patient, doctor
):
    # given
    conversation_id = await conversation_between(client, patient, doctor)
    for text in ("One", "Two", "Three"):
        await send(client, patient, conversation_id, text)
    as_doctor = await read_conversation(client, doctor, conversation_id)
    assert as_doctor is not None
    unread_before = as_doctor["unreadCount"]

    async def mark(up_to_seq):
        variables = {"conversationId": conversation_id, "upToSeq": up_to_seq}
        result = await client.execute(MARK_CONVERSATION_READ, variables, as_=doctor)
        return result["markConversationRead"]

    # when
    marked = [await mark(seq) for seq in (2, 1, 99)]
    refused = await mark(-1)
    # then
    assert unread_before == 3
    assert [m["conversation"] for m in marked] == [
        {"myLastReadSeq": 2, "unreadCount": 1},
        {"myLastReadSeq": 2, "unreadCount": 1},  # never backwards
        {"myLastReadSeq": 3, "unreadCount": 0},  # capped at the newest message
    ]
    assert refused["fieldErrors"] == [{"field": "upToSeq"}]
    as_patient = await read_conversation(client, patient, conversation_id)
    assert as_patient is not None
    assert as_patient["otherLastReadSeq"] == 3
    assert as_patient["unreadCount"] == 0  # their own messages are never unread


async def test_my_conversations_are_listed_newest_activity_first(
    client, patient, doctor, other_doctor
):
    # given: the older conversation gets the newest message
    older = await conversation_between(client, patient, doctor)
    newer = await conversation_between(client, patient, other_doctor)
    await send(client, doctor, older, "Your results are in.")
    # when
    first = (await client.execute(CONVERSATIONS, {"first": 1}, patient))["conversations"]
    after = first["pageInfo"]["endCursor"]
    rest = (await client.execute(CONVERSATIONS, {"after": after}, patient))["conversations"]
    # then
    assert [node["id"] for node in first["nodes"] + rest["nodes"]] == [older, newer]
    assert first["nodes"][0]["unreadCount"] == 1
    assert first["nodes"][0]["lastMessage"]["sender"]["id"] == doctor.id
    assert (first["pageInfo"]["hasNextPage"], rest["pageInfo"]["hasNextPage"]) == (True, False)


async def test_listing_conversations_costs_the_same_queries_for_2_as_for_6(
    client, live_server, patient, caplog
):
    # given
    from tests.conftest import make_doctor, sign_in

    async def add_conversations(count):
        for _ in range(count):
            doctor = await sign_in(await make_doctor(), live_server.settings)
            conversation_id = await conversation_between(client, patient, doctor)
            await send(client, doctor, conversation_id, "Hello")

    async def count_queries():
        caplog.clear()
        caplog.set_level(logging.DEBUG, logger="tortoise.db_client")
        await client.execute(CONVERSATIONS, as_=patient)
        caplog.set_level(logging.WARNING, logger="tortoise.db_client")
        return len(request_statements(caplog.records))

    # when
    await add_conversations(2)
    for_two = await count_queries()
    await add_conversations(4)
    for_six = await count_queries()
    # then
    assert 0 < for_two == for_six


async def test_a_send_writes_the_recipients_notification_without_the_text(client, patient, doctor):
    # given
    conversation_id = await conversation_between(client, patient, doctor)
    # when
    await send(client, patient, conversation_id, "My rash is spreading")
    # then
    notification = await models.Notification.get(recipient_id=doctor.user.id)
    assert notification.kind == models.NotificationKind.CHAT_MESSAGE
    assert str(notification.conversation_id) == conversation_id
    assert "rash" not in notification.title + notification.body
    assert not await models.Notification.filter(recipient_id=patient.user.id).exists()


# ---- live: messages and typing over WebSocket ---------------------------------------------


async def test_a_subscriber_receives_what_the_other_party_sends_over_http(
    client, live_server, patient, doctor
):
    # given
    conversation_id = await conversation_between(client, patient, doctor)
    socket = await Socket.open(live_server, doctor)
    await socket.subscribe(MESSAGE_ADDED, {"conversationId": conversation_id, "afterSeq": 0})
    # when
    await send(client, patient, conversation_id, "Running ten minutes late")
    # then
    received = (await socket.next_data())["messageAdded"]
    assert received == {"seq": 1, "text": "Running ten minutes late", "sender": {"id": patient.id}}
    assert await socket.nothing_within(0.3)
    await socket.close()


async def test_without_after_seq_a_subscriber_gets_only_new_messages(
    client, live_server, patient, doctor
):
    # given
    conversation_id = await conversation_between(client, patient, doctor)
    await send(client, patient, conversation_id, "Before")
    socket = await Socket.open(live_server, doctor)
    await socket.subscribe(MESSAGE_ADDED, {"conversationId": conversation_id})
    await subscribed(pubsub.conversation_channel(uuid.UUID(conversation_id)))
    # when
    await send(client, patient, conversation_id, "After")
    # then
    assert (await socket.next_data())["messageAdded"]["text"] == "After"
    await socket.close()


async def test_messages_arrive_over_legacy_graphql_ws(client, live_server, patient, doctor):
    # given
    conversation_id = await conversation_between(client, patient, doctor)
    socket = await Socket.open(live_server, patient, protocol=LEGACY_WS)
    await socket.subscribe(MESSAGE_ADDED, {"conversationId": conversation_id, "afterSeq": 0})
    # when
    await send(client, doctor, conversation_id, "See you at nine")
    # then
    message = await socket.receive()
    assert message["type"] == "data"
    assert message["payload"]["data"]["messageAdded"]["text"] == "See you at nine"
    await socket.close()


async def test_a_resumed_subscription_gets_exactly_the_missed_messages_then_live_ones(
    client, live_server, patient, doctor
):
    # given: message 1 seen live, then the doctor goes away
    conversation_id = await conversation_between(client, patient, doctor)
    variables = {"conversationId": conversation_id, "afterSeq": 0}
    socket = await Socket.open(live_server, doctor)
    await socket.subscribe(MESSAGE_ADDED, variables)
    await send(client, patient, conversation_id, "One")
    seen = (await socket.next_data())["messageAdded"]["seq"]
    await socket.close()
    # when: 2 and 3 are sent while away, and the doctor resumes after the last seen
    await send(client, patient, conversation_id, "Two")
    await send(client, patient, conversation_id, "Three")
    resumed = await Socket.open(live_server, doctor)
    await resumed.subscribe(MESSAGE_ADDED, {**variables, "afterSeq": seen})
    missed = [(await resumed.next_data())["messageAdded"]["text"] for _ in range(2)]
    await send(client, patient, conversation_id, "Four")
    live = (await resumed.next_data())["messageAdded"]
    # then
    assert seen == 1
    assert missed == ["Two", "Three"]
    assert (live["seq"], live["text"]) == (4, "Four")
    assert await resumed.nothing_within(0.3)
    await resumed.close()


async def test_resuming_too_far_back_is_refused(client, live_server, patient, doctor, monkeypatch):
    # given: a small limit, so that two messages are too many
    monkeypatch.setattr(chat_schema, "MAX_RESUME_GAP", 1)
    conversation_id = await conversation_between(client, patient, doctor)
    for text in ("One", "Two"):
        await send(client, patient, conversation_id, text)
    socket = await Socket.open(live_server, doctor)
    # when
    await socket.subscribe(MESSAGE_ADDED, {"conversationId": conversation_id, "afterSeq": 0})
    refused = await socket.receive()
    # then
    assert refused["payload"]["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    await socket.close()


@pytest.mark.parametrize("stranger", ["other_patient", "other_doctor", "admin", "unknown id"])
@pytest.mark.parametrize("subscription", [MESSAGE_ADDED, TYPING_CHANGED])
async def test_a_stranger_cannot_subscribe_and_receives_nothing(
    client, live_server, patient, doctor, other_patient, other_doctor, admin, stranger, subscription
):
    # given
    conversation_id = await conversation_between(client, patient, doctor)
    persona = {"other_doctor": other_doctor, "admin": admin}.get(stranger, other_patient)
    target = str(uuid.uuid4()) if stranger == "unknown id" else conversation_id
    socket = await Socket.open(live_server, persona)
    # when
    await socket.subscribe(subscription, {"conversationId": target})
    refused = await socket.receive()
    ended = await socket.receive()
    await send(client, patient, conversation_id, "Private")
    await client.execute(SET_TYPING, {"conversationId": conversation_id, "typing": True}, doctor)
    # then
    assert refused["payload"]["data"] is None
    assert refused["payload"]["errors"] == [
        {"message": "No conversation with that id.", "extensions": {"code": "NOT_FOUND"}}
    ]
    assert ended == {"id": "1", "type": "complete"}
    assert await socket.nothing_within(0.3)
    await socket.close()


async def test_typing_reaches_the_other_participant_only_and_is_never_stored(
    client, live_server, patient, doctor
):
    # given
    conversation_id = await conversation_between(client, patient, doctor)
    socket = await Socket.open(live_server, doctor)
    await socket.subscribe(TYPING_CHANGED, {"conversationId": conversation_id})
    await subscribed(pubsub.typing_channel(uuid.UUID(conversation_id)))
    before = await chat_state()

    async def set_typing(persona, typing):
        variables = {"conversationId": conversation_id, "typing": typing}
        return (await client.execute(SET_TYPING, variables, as_=persona))["setTyping"]

    # when: the doctor's own event comes first, and is not echoed back
    answers = [
        await set_typing(doctor, True),
        await set_typing(patient, True),
        await set_typing(patient, False),
    ]
    received = [(await socket.next_data())["typingChanged"] for _ in range(2)]
    # then
    assert answers == [True, True, True]
    assert received == [
        {"userId": patient.id, "typing": True, "user": {"id": patient.id}},
        {"userId": patient.id, "typing": False, "user": {"id": patient.id}},
    ]
    assert await socket.nothing_within(0.3)
    assert await chat_state() == before
    await socket.close()


READ_RECEIPT_CHANGED = """
subscription ReadReceiptChanged($conversationId: ID!) {
  readReceiptChanged(conversationId: $conversationId) { conversationId userId lastReadSeq }
}
"""


async def test_read_receipts_reach_the_other_participant_live_and_only_when_the_mark_moves(
    client, live_server, patient, doctor
):
    # given: two messages from the doctor, and the doctor listening for receipts
    conversation_id = await conversation_between(client, patient, doctor)
    await send(client, doctor, conversation_id, "One")
    await send(client, doctor, conversation_id, "Two")
    socket = await Socket.open(live_server, doctor)
    await socket.subscribe(READ_RECEIPT_CHANGED, {"conversationId": conversation_id})
    await subscribed(pubsub.receipts_channel(uuid.UUID(conversation_id)))

    async def mark(persona, up_to_seq):
        variables = {"conversationId": conversation_id, "upToSeq": up_to_seq}
        await client.execute(MARK_CONVERSATION_READ, variables, as_=persona)

    # when: the doctor's own mark, the patient's, the same again, and a lower one
    await mark(doctor, 2)
    await mark(patient, 1)
    await mark(patient, 2)
    await mark(patient, 2)
    await mark(patient, 1)
    received = [(await socket.next_data())["readReceiptChanged"] for _ in range(2)]
    # then
    assert received == [
        {"conversationId": conversation_id, "userId": patient.id, "lastReadSeq": seq}
        for seq in (1, 2)
    ]
    assert await socket.nothing_within(0.3)
    await socket.close()


async def test_reading_a_conversation_to_the_end_marks_its_message_notifications_read(
    client, patient, doctor
):
    # given: two messages to the patient, and one in another conversation
    conversation_id = await conversation_between(client, patient, doctor)
    other_doctor = await sign_in(await make_doctor(), client.server.settings)
    other_conversation = await conversation_between(client, patient, other_doctor)
    for text in ("One", "Two"):
        await send(client, doctor, conversation_id, text)
    await send(client, other_doctor, other_conversation, "Elsewhere")

    async def unread() -> int:
        return (await client.execute("{ unreadNotificationCount }", as_=patient))[
            "unreadNotificationCount"
        ]

    variables = {"conversationId": conversation_id}
    # when: read up to the first message only
    await client.execute(MARK_CONVERSATION_READ, {**variables, "upToSeq": 1}, as_=patient)
    # then: not to the end, so nothing is marked
    assert await unread() == 3
    # when: read to the end
    await client.execute(MARK_CONVERSATION_READ, {**variables, "upToSeq": 2}, as_=patient)
    # then: that conversation's two are read, the other conversation's is not
    assert await unread() == 1


async def test_a_forged_conversations_cursor_with_an_impossible_time_is_bad_input(client, patient):
    key = json.dumps([0, "0001-01-01T00:00:00+14:00", str(uuid.uuid4())])
    cursor = base64.urlsafe_b64encode(key.encode()).decode()
    codes = await client.error_codes(CONVERSATIONS, {"first": 5, "after": cursor}, as_=patient)
    assert codes == ["BAD_USER_INPUT"]


async def test_a_deeply_nested_conversations_cursor_is_bad_input(client, patient):
    # json.loads recurses once per bracket: this ran out of stack (an internal error)
    cursor = base64.urlsafe_b64encode(b"[" * 20_000).decode()
    codes = await client.error_codes(CONVERSATIONS, {"first": 5, "after": cursor}, as_=patient)
    assert codes == ["BAD_USER_INPUT"]
