"""A conversation's messages across months. Reads look first in the months of its last
message and the one before (on PostgreSQL the chat is partitioned by month), and read
every month when those do not hold all they ask for; a message's time never goes back as
its number goes up; a send's idempotency key lasts 30 days. Against the live server, on
SQLite or PostgreSQL; the plans are PostgreSQL's only."""

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tortoise import connections

from healthcare import models
from healthcare.ops import partitions
from healthcare.ops.partitions import CHAT, add_months, month_start
from healthcare.resolvers import chat
from tests.test_chat import (
    CONVERSATIONS,
    MESSAGE_ADDED,
    Socket,
    conversation_between,
    read_conversation,
    send,
)

SEND_MESSAGE = """
mutation SendMessage($conversationId: ID!, $clientId: ID!, $text: String!) {
  sendMessage(conversationId: $conversationId, clientId: $clientId, text: $text) {
    __typename ... on MessagePayload { chatMessage { id seq createdAt } }
  }
}
"""
MARK_READ = """
mutation MarkRead($conversationId: ID!, $upToSeq: Int!) {
  markConversationRead(conversationId: $conversationId, upToSeq: $upToSeq) { __typename }
}
"""


async def dated_messages(conversation_id: str, patient, doctor, moments: list[datetime]) -> None:
    """Messages at `moments` (in order) after the conversation's last, as a send writes
    them (the doctor's are the odd ones): as if written over those months."""
    conversation = await models.Conversation.get(id=conversation_id)
    for seq, moment in enumerate(moments, conversation.last_seq + 1):
        await models.ChatMessage.create(
            conversation_id=conversation.id,
            seq=seq,
            sender_id=(doctor if seq % 2 else patient).user.id,
            client_id=uuid.uuid4(),
            text=f"Message {seq}",
            created_at=moment,
        )
    conversation.last_seq += len(moments)
    conversation.last_message_at = moments[-1]
    await conversation.save()


def every_ten_days(count: int) -> list[datetime]:
    """`count` moments ten days apart, the last an hour ago: months of a conversation."""
    newest = datetime.now(UTC) - timedelta(hours=1)
    return [newest - timedelta(days=10 * n) for n in reversed(range(count))]


async def test_history_pages_back_through_months_and_finds_every_message(
    client, patient, doctor
) -> None:
    # given 30 messages over ten months
    conversation_id = await conversation_between(client, patient, doctor)
    await dated_messages(conversation_id, patient, doctor, every_ten_days(30))

    # when
    pages, before = [], None
    while True:
        found = await read_conversation(client, patient, conversation_id, last=7, beforeSeq=before)
        assert found is not None
        pages.append(found["messages"])
        before = found["messages"]["nextBeforeSeq"]
        if before is None:
            break

    # then
    seqs = [message["seq"] for page in pages for message in page["messages"]]
    assert seqs == list(range(30, 0, -1))
    assert [page["hasMore"] for page in pages] == [True] * 4 + [False]
    assert pages[0]["messages"][0]["text"] == "Message 30"


async def test_unread_counts_and_last_messages_count_every_month(
    client, patient, doctor, other_doctor
) -> None:
    # given one conversation of ten months, unread, and one of today
    long_ago = await conversation_between(client, patient, doctor)
    await dated_messages(long_ago, patient, doctor, every_ten_days(30))
    today = await conversation_between(client, patient, other_doctor)
    await send(client, other_doctor, today, "Only today")

    # when
    before = await client.execute(CONVERSATIONS, {}, as_=patient)
    await client.execute(MARK_READ, {"conversationId": long_ago, "upToSeq": 10}, as_=patient)
    after = await read_conversation(client, patient, long_ago)

    # then: the doctor wrote the 15 odd ones, 10 of them above seq 10 (from months ago)
    nodes = {node["id"]: node for node in before["conversations"]["nodes"]}
    assert nodes[long_ago]["unreadCount"] == 15
    assert nodes[long_ago]["lastMessage"]["text"] == "Message 30"
    assert nodes[today]["unreadCount"] == 1
    assert nodes[today]["lastMessage"]["text"] == "Only today"
    assert after is not None and after["unreadCount"] == 10


async def test_a_subscription_resumed_from_months_ago_gets_every_message_then_live_ones(
    client, live_server, patient, doctor
) -> None:
    # given ten messages over three months
    conversation_id = await conversation_between(client, patient, doctor)
    await dated_messages(conversation_id, patient, doctor, every_ten_days(10))
    socket = await Socket.open(live_server, patient)

    try:
        # when
        await socket.subscribe(MESSAGE_ADDED, {"conversationId": conversation_id, "afterSeq": 0})
        missed = [(await socket.next_data())["messageAdded"]["seq"] for _ in range(10)]
        await send(client, doctor, conversation_id, "Live")
        live = (await socket.next_data())["messageAdded"]
    finally:
        await socket.close()

    # then
    assert missed == list(range(1, 11))
    assert (live["seq"], live["text"]) == (11, "Live")


async def test_a_message_is_never_dated_before_the_one_before_it(client, patient, doctor) -> None:
    # given a last message an hour ahead (sent by an instance whose clock runs ahead)
    conversation_id = await conversation_between(client, patient, doctor)
    ahead = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    await dated_messages(conversation_id, patient, doctor, [ahead])

    # when
    variables = {"conversationId": conversation_id, "clientId": str(uuid.uuid4()), "text": "Hi"}
    sent = (await client.execute(SEND_MESSAGE, variables, as_=patient))["sendMessage"]

    # then: dated with the one before, not before it
    message = sent["chatMessage"]
    assert message["seq"] == 2
    assert datetime.fromisoformat(message["createdAt"]) == ahead
    conversation = await models.Conversation.get(id=conversation_id)
    assert conversation.last_message_at == ahead


async def test_idempotency_keys_last_30_days_then_a_retry_stores_a_second_copy(
    client, patient, doctor
) -> None:
    # given two messages, one sent 31 days ago and one 29 days ago
    conversation_id = await conversation_between(client, patient, doctor)
    old, young = str(uuid.uuid4()), str(uuid.uuid4())
    sent = {
        key: await send(client, patient, conversation_id, client_id=key) for key in (old, young)
    }
    for client_id, days in ((old, 31), (young, 29)):
        moment = datetime.now(UTC) - timedelta(days=days)
        await models.ChatMessageKey.filter(client_id=client_id).update(created_at=moment)
        await models.ChatMessage.filter(client_id=client_id).update(created_at=moment)

    # when
    pruned = await partitions.prune_message_keys()
    kept = await models.ChatMessageKey.all().values_list("client_id", flat=True)
    retried = {key: await send(client, patient, conversation_id, client_id=key) for key in sent}

    # then
    assert pruned == 1
    assert [str(key) for key in kept] == [young]
    assert retried[young]["chatMessage"] == sent[young]["chatMessage"]
    assert retried[old]["chatMessage"]["seq"] == 3  # past the window: a second copy
    assert await models.ChatMessage.filter(client_id=old).count() == 2


# ---- PostgreSQL: which partitions each read reads ------------------------------------------


async def partitions_read(
    caplog: pytest.LogCaptureFixture, read: Callable[[], Awaitable[Any]]
) -> list[set[str]]:
    """The partitions of the chat that each statement `read` sends to the chat reads, as
    PostgreSQL plans it with the same values."""
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        caplog.clear()
        await read()
        sent = [
            record.args
            for record in caplog.records
            if record.name == "tortoise.db_client"
            and isinstance(record.args, tuple)
            and 'FROM "chat_messages"' in str(record.args[0])
        ]
    plans = []
    for sql, values in sent:
        _, rows = await connections.get("default").execute_query(f"EXPLAIN {sql}", values)
        plan = "\n".join(row["QUERY PLAN"] for row in rows)
        plans.append(set(re.findall(r" on (chat_messages_\w+)", plan)))
    return plans


async def test_the_hot_reads_read_only_the_months_of_the_last_message_and_the_one_before(
    client, live_server, patient, doctor, caplog
) -> None:
    if live_server.settings.uses_sqlite:
        pytest.skip("SQLite has no partitions")
    # given two messages a month in each of the next three months' partitions
    conversation_id = await conversation_between(client, patient, doctor)
    first = add_months(month_start(datetime.now(UTC)), 1)
    moments = [add_months(first, n) + timedelta(days=day) for n in range(3) for day in (2, 9)]
    await dated_messages(conversation_id, patient, doctor, moments)
    conversation = await models.Conversation.get(id=conversation_id)
    recent = {CHAT.partition_name(add_months(first, n)) for n in (1, 2)}

    # when
    newest_page = await partitions_read(caplog, lambda: chat.history(conversation.id, 3, None))
    unread = await partitions_read(
        caplog, lambda: chat.count_unread([(conversation.id, patient.user.id, 2)])
    )
    last = await partitions_read(caplog, lambda: chat.messages_by_seq([(conversation.id, 6)]))
    resumed = await partitions_read(caplog, lambda: chat.messages_after(conversation, 2))
    older_page = await partitions_read(caplog, lambda: chat.history(conversation.id, 5, None))

    # then: one statement each, on the two months; resuming also looks at any later one
    assert newest_page == unread == last == [recent]
    assert resumed == [recent | {"chat_messages_default"}]
    # a page that reaches further back reads the recent months, then every month
    assert len(older_page) == 2 and older_page[0] == recent
    assert older_page[1] >= {"chat_messages_before_partitioning", *recent}
