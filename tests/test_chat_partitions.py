"""The chat partitioned by month on PostgreSQL (migration 11): an existing table converted
without copying a row, sends and retries across partitions, and the months kept ahead.
PostgreSQL only, as tests/test_audit_partitions.py: databases of their own on the server
that TEST_POSTGRES_URL (or a postgres:// DATABASE_URL) names, migrated and driven in
processes of their own (one process, one database backend), read with asyncpg.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from healthcare.db import asyncpg_dsn, create_throwaway_database, drop_database
from healthcare.ops import partitions
from healthcare.ops.partitions import CHAT, add_months, month_start
from tests.postgres import migrate_up_to, partition_names, run

pytestmark = pytest.mark.postgres

BEFORE = "chat_messages_before_partitioning"

# The chat's resolvers on a database, as the API calls them: `send` (one attempt, or
# several at once with the same clientId) at a given time, or a page of `history`.
DRIVE_THE_CHAT = """
import asyncio, json, sys, uuid
from datetime import datetime
from unittest import mock
from tortoise import Tortoise
from healthcare import models
from healthcare.config import Settings, tortoise_config
from healthcare.mail import outbox as mail
from healthcare.resolvers import chat
from healthcare.resolvers.chat import messages

async def send(sender_id, conversation_id, client_id, at, attempts="1"):
    sender = await models.User.get(id=sender_id)
    with mock.patch.object(messages, "utcnow", lambda: datetime.fromisoformat(at)):
        sent = await asyncio.gather(
            *(chat.send(sender, conversation_id, client_id, "Hello") for _ in range(int(attempts)))
        )
    return [str(each.message.id) for each in sent]

async def history(conversation_id, last, before=None):
    rows, more = await chat.history(
        uuid.UUID(conversation_id), int(last), int(before) if before else None
    )
    return {"seqs": [row.seq for row in rows], "has_more": more}

async def main():
    url, action, *args = sys.argv[1:]
    await Tortoise.init(config=tortoise_config(url))
    mail.install(mail.Mailroom(Settings(database_url=url), wake=lambda: None))
    try:
        print(json.dumps(await {"send": send, "history": history}[action](*args)))
    finally:
        await Tortoise.close_connections()

asyncio.run(main())
"""


def drive(url: str, action: str, *args: object) -> Any:
    return json.loads(run(["-c", DRIVE_THE_CHAT, url, action, *map(str, args)], url))


@dataclass
class Message:
    id: uuid.UUID
    seq: int
    client_id: uuid.UUID
    sender_id: uuid.UUID
    created_at: datetime


@dataclass
class Chat:
    conversation_id: uuid.UUID
    patient_id: uuid.UUID
    doctor_id: uuid.UUID
    messages: list[Message]


async def insert_chat(connection: asyncpg.Connection, moments: list[datetime]) -> Chat:
    """A patient, a doctor and their conversation, with a message at each of `moments`
    (in order), written as the API writes them; keys only for those the API's window
    still keeps."""
    patient, doctor, conversation = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for user, role in ((patient, "PATIENT"), (doctor, "DOCTOR")):
        await connection.execute(
            "INSERT INTO users (id, email, password_hash, first_name, last_name, role, "
            "is_active, created_at, updated_at, bio) "
            "VALUES ($1, $2, 'unusable', 'Test', 'User', $3, true, now(), now(), '')",
            user,
            f"{user}@example.org",
            role,
        )
    await connection.execute(
        "INSERT INTO conversations (id, last_seq, patient_last_read_seq, doctor_last_read_seq, "
        "created_at, last_message_at, patient_id, doctor_id) VALUES ($1, $2, 0, 0, $3, $4, $5, $6)",
        conversation,
        len(moments),
        moments[0] - timedelta(days=1),
        moments[-1],
        patient,
        doctor,
    )
    messages = [
        Message(uuid.uuid4(), seq, uuid.uuid4(), (patient, doctor)[seq % 2], moment)
        for seq, moment in enumerate(moments, 1)
    ]
    await connection.executemany(
        "INSERT INTO chat_messages (id, seq, client_id, text, created_at, conversation_id, "
        "sender_id) VALUES ($1, $2, $3, 'Hello', $4, $5, $6)",
        [(m.id, m.seq, m.client_id, m.created_at, conversation, m.sender_id) for m in messages],
    )
    return Chat(conversation, patient, doctor, messages)


async def insert_keys(connection: asyncpg.Connection, messages: list[Message]) -> None:
    await connection.executemany(
        "INSERT INTO chat_message_keys (message_id, sender_id, client_id, created_at) "
        "VALUES ($1, $2, $3, $4)",
        [(m.id, m.sender_id, m.client_id, m.created_at) for m in messages],
    )


async def where(connection: asyncpg.Connection, *ids: uuid.UUID | str) -> list[str]:
    """The partition of each message, in the order asked."""
    rows = await connection.fetch(
        "SELECT id, tableoid::regclass::text AS partition FROM chat_messages "
        "WHERE id = ANY($1::uuid[])",
        [str(each) for each in ids],
    )
    found = {str(row["id"]): row["partition"] for row in rows}
    return [found.get(str(each), "(none)") for each in ids]


def next_month() -> datetime:
    return add_months(month_start(datetime.now(UTC)), 1)


@dataclass
class OldChat:
    url: str
    chat: Chat
    ctids: dict[uuid.UUID, str]  # each message's place in the table before the migration


@pytest.fixture(scope="module")
def old_chat(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OldChat]:
    """A database at the migration before the chat's partitioning, with a conversation of
    40 messages over 20 months (the newest an hour ago), then migrated to the end."""
    url = asyncio.run(create_throwaway_database(server_url, "healthcare_chat_partitions_"))
    try:
        migrate_up_to(url, "11_*.py", tmp_path_factory.mktemp("migrations"))
        chat, ctids = asyncio.run(fill_old_chat(url))
        run(["-m", "healthcare.cli", "migrate"], url)
        yield OldChat(url, chat, ctids)
    finally:
        asyncio.run(drop_database(url, server_url))


async def fill_old_chat(url: str) -> tuple[Chat, dict[uuid.UUID, str]]:
    newest = datetime.now(UTC) - timedelta(hours=1)
    moments = [newest - timedelta(days=15 * n) for n in reversed(range(40))]
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        chat = await insert_chat(connection, moments)
        rows = await connection.fetch("SELECT id, ctid::text AS ctid FROM chat_messages")
    finally:
        await connection.close()
    return chat, {row["id"]: row["ctid"] for row in rows}


async def test_the_migration_makes_the_old_table_the_first_partition_without_copying_a_row(
    old_chat: OldChat,
) -> None:
    # given the rows written before the migration (the fixture)
    connection = await asyncpg.connect(asyncpg_dsn(old_chat.url))
    try:
        # when
        rows = await connection.fetch(
            "SELECT id, ctid::text AS ctid, tableoid::regclass::text AS partition "
            "FROM chat_messages WHERE id = ANY($1::uuid[])",
            list(old_chat.ctids),
        )
        names = await partition_names(connection, CHAT)
        keys = await connection.fetch(
            "SELECT pg_get_partkeydef('chat_messages'::regclass) AS partition_key, "
            "pg_get_constraintdef(k.oid) AS definition FROM pg_constraint k "
            "WHERE k.conrelid = 'chat_messages'::regclass AND k.contype IN ('p', 'u')"
        )
        references = await connection.fetchval(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND confrelid IN "
            "(SELECT oid FROM pg_class WHERE relname LIKE 'chat_messages%')"
        )
        idempotency_keys = await connection.fetch("SELECT message_id FROM chat_message_keys")
    finally:
        await connection.close()

    # then: every row where it was, in the partition before the cut
    assert {row["id"]: row["ctid"] for row in rows} == old_chat.ctids
    assert len(old_chat.ctids) == 40
    assert {row["partition"] for row in rows} == {BEFORE}
    months = [CHAT.partition_name(add_months(next_month(), n)) for n in range(3)]
    assert names == [BEFORE, *months, "chat_messages_default"]
    assert {row["partition_key"] for row in keys} == {"RANGE (created_at)"}
    assert {row["definition"] for row in keys} == {
        "PRIMARY KEY (id, created_at)",
        "UNIQUE (conversation_id, seq, created_at)",
    }
    assert references == 0  # nothing references a message by foreign key
    # the keys of the messages of the last 30 days (an hour and 15 days ago), not older
    recent = {m.id for m in old_chat.chat.messages[-2:]}
    assert {row["message_id"] for row in idempotency_keys} == recent


async def test_after_the_migration_old_messages_read_and_sends_and_retries_work(
    old_chat: OldChat,
) -> None:
    # given
    chat, url = old_chat.chat, old_chat.url
    newest = chat.messages[-1]
    now = datetime.now(UTC).isoformat()
    client_id = uuid.uuid4()

    # when
    first_page = drive(url, "history", chat.conversation_id, 20)
    older_page = drive(url, "history", chat.conversation_id, 20, 21)
    sent = drive(url, "send", chat.doctor_id, chat.conversation_id, client_id, now)
    retried = drive(url, "send", chat.doctor_id, chat.conversation_id, client_id, now)
    # a retry of the newest message, sent before the migration: its key was carried over
    old_retry = drive(url, "send", newest.sender_id, chat.conversation_id, newest.client_id, now)

    # then
    assert first_page == {"seqs": list(range(40, 20, -1)), "has_more": True}
    assert older_page == {"seqs": list(range(20, 0, -1)), "has_more": False}
    assert retried == sent
    assert old_retry == [str(newest.id)]
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        seqs = await connection.fetch(
            "SELECT seq FROM chat_messages WHERE conversation_id = $1 ORDER BY seq",
            chat.conversation_id,
        )
        placed = await where(connection, *sent)
    finally:
        await connection.close()
    assert [row["seq"] for row in seqs] == list(range(1, 42))
    assert placed == [BEFORE]  # this month is before the cut


async def test_a_message_lands_in_its_months_partition_and_retries_find_it_there(
    migrated: str, connection: asyncpg.Connection
) -> None:
    # given a conversation, a month from now, and ten years from now
    chat = await insert_chat(connection, [datetime.now(UTC) - timedelta(days=1)])
    in_a_month = next_month() + timedelta(days=3, hours=5)
    far_ahead = add_months(next_month(), 120)
    first, second = uuid.uuid4(), uuid.uuid4()

    def send(client_id: uuid.UUID, at: datetime, attempts: int = 1) -> Any:
        arguments = (chat.patient_id, chat.conversation_id, client_id, at.isoformat(), attempts)
        return drive(migrated, "send", *arguments)

    # when
    sent = send(first, in_a_month)
    retried = send(first, in_a_month + timedelta(minutes=1))
    far = send(second, far_ahead)
    far_retried = send(second, far_ahead)

    # then
    assert retried == sent and far_retried == far
    assert await where(connection, *sent, *far) == [
        CHAT.partition_name(next_month()),
        "chat_messages_default",
    ]
    assert await connection.fetchval("SELECT count(*) FROM chat_messages") == 3
    assert await connection.fetchval("SELECT count(*) FROM chat_message_keys") == 2


async def test_two_attempts_of_one_send_at_once_store_one_message(
    migrated: str, connection: asyncpg.Connection
) -> None:
    # given
    chat = await insert_chat(connection, [datetime.now(UTC) - timedelta(days=1)])
    at = (next_month() + timedelta(days=1)).isoformat()
    client_id = uuid.uuid4()

    # when: both attempts wait for the conversation's lock; one numbers, one finds it
    arguments = (chat.doctor_id, chat.conversation_id, client_id, at, 2)
    attempts = drive(migrated, "send", *arguments)

    # then
    assert isinstance(attempts, list) and len(attempts) == 2
    assert attempts[0] == attempts[1]
    rows = await connection.fetch(
        "SELECT seq FROM chat_messages WHERE client_id = $1 UNION ALL "
        "SELECT 0 FROM chat_message_keys WHERE client_id = $1",
        client_id,
    )
    assert sorted(row["seq"] for row in rows) == [0, 2]  # one message (seq 2), one key
    last_seq = await connection.fetchval(
        "SELECT last_seq FROM conversations WHERE id = $1", chat.conversation_id
    )
    assert last_seq == 2  # the attempt that found the first numbered nothing


async def test_ensure_partitions_keeps_the_chats_months_ahead(
    connection: asyncpg.Connection,
) -> None:
    # given the three months the migration made
    this_month = month_start(datetime.now(UTC))

    # when
    created = await partitions.ensure_partitions(5, tables=[CHAT], connection=connection)
    again = await partitions.ensure_partitions(5, tables=[CHAT], connection=connection)

    # then
    assert created == [CHAT.partition_name(add_months(this_month, n)) for n in (4, 5)]
    assert again == []
    names = await partition_names(connection, CHAT)
    assert names[1:-1] == [CHAT.partition_name(add_months(this_month, n)) for n in range(1, 6)]


async def test_messages_in_the_default_partition_move_into_their_months_new_partition(
    connection: asyncpg.Connection,
) -> None:
    # given a message of a month without a partition yet, and its key
    month = add_months(month_start(datetime.now(UTC)), 5)
    chat = await insert_chat(connection, [month + timedelta(days=9)])
    message = chat.messages[0]
    await insert_keys(connection, [message])
    assert await where(connection, message.id) == ["chat_messages_default"]

    # when
    created = await partitions.ensure_partitions(5, tables=[CHAT], connection=connection)

    # then: moved, and its key's (id, created_at) finds it in its month
    assert CHAT.partition_name(month) in created
    found = await connection.fetchval(
        "SELECT tableoid::regclass::text FROM chat_messages "
        "WHERE (id, created_at) = (SELECT message_id, created_at FROM chat_message_keys "
        "WHERE sender_id = $1 AND client_id = $2)",
        message.sender_id,
        message.client_id,
    )
    assert found == CHAT.partition_name(month)
    assert await connection.fetchval("SELECT count(*) FROM chat_messages_default") == 0
